"""Cells: derivatives against autograd, generated CUDA header up to date, torch-free import."""
import subprocess
import sys

import pytest
import torch

from flashrnn_kernels import codegen
from flashrnn_kernels.cells import CELLS, get_cell
from flashrnn_kernels.errors import InputError
from flashrnn_kernels.reference import TORCH_OPS


def _inputs(cell, n, seed):
    g = torch.Generator().manual_seed(seed)
    mk = lambda: torch.randn(n, generator=g, dtype=torch.float64)  # noqa: E731
    xg = [mk() for _ in range(cell.num_gates)]
    rg = [mk() for _ in range(cell.num_gates)]
    s = [mk() for _ in range(cell.num_states)]
    if cell.name == "slstm":
        s[2] = s[2].abs() + 0.5  # normaliser n > 0
    return xg, rg, s


@pytest.mark.parametrize("name", sorted(CELLS))
def test_backward_matches_autograd_of_forward(name):
    cell = CELLS[name]
    xg, rg, s = _inputs(cell, 200, seed=cell.cuda_id)
    leaves = [t.clone().requires_grad_() for t in xg + rg + s]
    G = cell.num_gates
    out = cell.forward(TORCH_OPS, leaves[:G], leaves[G : 2 * G], leaves[2 * G :])
    assert len(out) == cell.num_states
    ds = [torch.randn_like(o) for o in out]
    expected = torch.autograd.grad(out, leaves, ds, allow_unused=True, materialize_grads=True)
    dxg, drg, ds_prev = cell.backward(TORCH_OPS, xg, rg, s, ds)
    got = [*dxg, *drg, *(d if torch.is_tensor(d) else torch.zeros_like(s[0]) for d in ds_prev)]
    for e, g in zip(expected, got):
        torch.testing.assert_close(g, e, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("name", sorted(CELLS))
def test_separate_gates_declared(name):
    """dxg and drg differ exactly on the gates the cell declares as separate."""
    cell = CELLS[name]
    xg, rg, s = _inputs(cell, 50, seed=7)
    ds = [torch.randn(50, dtype=torch.float64) for _ in range(cell.num_states)]
    dxg, drg, _ = cell.backward(TORCH_OPS, xg, rg, s, ds)
    differ = tuple(g for g in range(cell.num_gates) if not torch.equal(dxg[g], drg[g]))
    assert differ == cell.separate_gates
    assert all(side == "x" for side, g in cell.bias_rows if g not in cell.separate_gates)


def test_sizes_and_defines():
    assert [(c.num_gates, c.num_states, c.num_bias) for c in CELLS.values()] == [
        (4, 2, 4), (3, 1, 4), (4, 4, 4), (1, 1, 1), (1, 1, 1)
    ]
    assert get_cell("LSTM").cuda_defines() == {
        "FLASHRNN_CELL": 0, "FLASHRNN_NUM_GATES": 4, "FLASHRNN_NUM_STATES": 2, "FLASHRNN_NUM_BIAS": 4
    }
    assert len({c.cuda_id for c in CELLS.values()}) == len(CELLS)
    with pytest.raises(InputError, match="unknown cell"):
        get_cell("lstmx")


def test_generated_header_is_up_to_date():
    assert codegen.HEADER_PATH.read_text() == codegen.generate_header(), (
        "csrc/cells_generated.cuh is stale: run python -m flashrnn_kernels.codegen"
    )
    assert codegen.main(["--check"]) == 0


def test_symbolic_values_refuse_truthiness():
    tracer = codegen._Tracer()
    with pytest.raises(TypeError, match="truth value"):
        bool(codegen.Sym(tracer, "x"))


def test_cells_and_codegen_import_without_torch():
    code = (
        "import sys; sys.modules['torch'] = None\n"
        "import flashrnn_kernels, flashrnn_kernels.cells, flashrnn_kernels.codegen, flashrnn_kernels.env\n"
        "assert flashrnn_kernels.codegen.generate_header()\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
