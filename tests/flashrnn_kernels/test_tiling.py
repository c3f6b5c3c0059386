"""flashrnn_kernels.tiling: kernel configurations solved from the .cint models (no GPU needed).

* every configuration, for every bundled GPU, satisfies every constraint of
  ``csrc/fused/README.md`` re-checked here in plain Python (an implementation independent of the
  model's text);
* the objective does what it says (one block per head when it fits, heads spread otherwise);
* infeasible problems raise InfeasibleConfigError naming the resource and what would work;
* JSON round trip, in-process and disk cache, the command line (in a subprocess);
* fidelity: a handful of configurations compiled with nvcc (skipped without it): ptxas reports no
  spills, registers within the model's limit, and the kernel requests exactly the shared memory
  the model predicts.

Solve times are not tested here (see docs/kernel-configs.md for the measurement).
"""
from __future__ import annotations

import ctypes
import dataclasses
import json
import os
import re
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import hwmodels
from flashrnn_kernels.cells import get_cell
from flashrnn_kernels.errors import FlashRNNError, InputError, UnsupportedError
from flashrnn_kernels.tiling import (
    InfeasibleConfigError,
    KernelConfig,
    Problem,
    clear_cache,
    kernel_config,
    render_model,
)

REPO = Path(__file__).resolve().parents[2]
FUSED_SRC = REPO / "flashrnn_kernels" / "csrc" / "fused" / "fused_rnn.cu"


@pytest.fixture(autouse=True)
def _own_cache(tmp_path, monkeypatch):
    """Every test gets an empty cache directory and an empty in-process memo."""
    monkeypatch.setenv("FLASHRNN_CACHE_DIR", str(tmp_path / "cache"))
    clear_cache()
    yield
    clear_cache()


def cdiv(a: int, b: int) -> int:
    return -(-a // b)


# --------------------------------------------------------------------- README constraints


def readme_check(cfg: KernelConfig, gpu: hwmodels.GPU) -> list[str]:
    """The tiling constraints the fused kernels check (csrc/fused/traits.cuh), in Python."""
    p = cfg.problem
    cell = get_cell(p.cell)
    d = cfg.defines()
    G, D = cell.num_gates, p.head_dim
    U, NS, BT = d["FLASHRNN_FUSED_UNITS"], d["FLASHRNN_FUSED_NSLICE"], d["FLASHRNN_FUSED_BT"]
    fwm, fwk, bwm, bwk = (d[f"FLASHRNN_FUSED_{k}"] for k in ("FWD_WM", "FWD_WK", "BWD_WM", "BWD_WK"))
    e = 4 if p.dtype == "float32" else 2
    kw = 8 if p.dtype == "float32" else 16
    w = 2 * e
    nt = 32 * fwm * fwk
    bad = []

    def need(cond: bool, what: str) -> None:
        if not cond:
            bad.append(what)

    need(d["FLASHRNN_CELL"] == cell.cuda_id and d["FLASHRNN_HEAD_DIM"] == D, "problem defines")
    need(d["FLASHRNN_DTYPE"] == {"bfloat16": 0, "float16": 1, "float32": 2}[p.dtype], "dtype define")
    need(fwm * fwk == bwm * bwk, "one block size")
    need(BT % 8 == 0, "BT % 8")
    need(U * NS >= D and U * (NS - 1) < D, "units cover D, no empty block")
    need(nt <= gpu.architecture.max_threads_per_block, "threads per block")
    smem_max = gpu.architecture.shared_memory_per_block_optin
    for kernel, on in (("f", p.forward), ("b", p.backward)):
        if not on:
            continue
        m, k, wm, wk = (G * U, D, fwm, fwk) if kernel == "f" else (U, G * D, bwm, bwk)
        mt, ks = cdiv(m, 16), cdiv(k, kw)
        mtw, ksw = cdiv(mt, wm), cdiv(ks, wk)
        # R in tiers: the first KSR K steps of a warp in at most 112 registers, the others in
        # shared memory, 16 bytes per thread and fragment
        pre = "FWD" if kernel == "f" else "BWD"
        ksr = d[f"FRNN_{pre}_KSR"]
        need(0 <= ksr <= ksw and 4 * mtw * ksr <= 112, f"{kernel}: A_regs <= 112")
        need(d[f"FRNN_SMEM_{pre}_R"] == nt * 16 * mtw * (ksw - ksr), f"{kernel}: R's shared memory")
        # the layout of each region is the kernel's to check (static_assert in csrc/fused/traits.cuh,
        # compiled below and in test_fused.py); here: the request fits and passes to the build
        smem = cfg[f"SMEM_{kernel.upper()}"]
        need(smem <= smem_max, f"{kernel}: shared memory")
        need(d[f"FRNN_SMEM_{'FWD' if kernel == 'f' else 'BWD'}"] == smem, f"{kernel}: shared memory define")
    if NS > 1:
        need(NS * p.num_heads * cdiv(p.batch_size, BT) <= gpu.sm_count, "all blocks resident")
        need(D % (16 // w) == 0, "exchange rows in 16-byte chunks")
        need(bwm == 1 or bwk < 16, "named barriers")
    return bad


GRID = [  # (batch, heads, head_dim, dtype, pass)
    (16, 1, 768, "bfloat16", "forward"), (16, 1, 768, "float16", "backward"),
    (16, 12, 64, "float32", "forward"), (3, 2, 64, "bfloat16", "both"), (33, 1, 200, "bfloat16", "backward"),
    (64, 4, 256, "float16", "forward"), (8, 1, 1024, "bfloat16", "backward"), (64, 24, 32, "float32", "both"),
]


@pytest.mark.parametrize("gpu_name", [g.name for g in hwmodels.list_gpus()])
def test_configs_satisfy_readme_constraints_on_every_gpu(gpu_name):
    gpu = hwmodels.get(gpu_name)
    solved = 0
    for cell in ("lstm", "gru", "slstm", "elman"):
        for b, n, d, dtype, ps in GRID:
            try:
                cfg = kernel_config(Problem(cell, b, n, d, dtype, ps), gpu)
            except InfeasibleConfigError as exc:
                assert exc.binding, str(exc)
                continue
            solved += 1
            assert readme_check(cfg, gpu) == [], (cfg.problem, cfg.defines())
            assert cfg["REGS_F" if cfg.problem.forward else "REGS_B"] <= cfg["REG_BUDGET"] <= cfg["REG_LIMIT"]
    assert solved >= 16


def test_alternating_configs():
    for gpu in hwmodels.list_gpus():
        for b, n, d in ((16, 1, 768), (64, 1, 2048), (1, 1, 32), (256, 8, 1024)):
            cfg = kernel_config(Problem("lstm", b, n, d, backend="alternating"), gpu)
            t = cfg["THREADS"]
            assert t % 32 == 0 and t <= gpu.architecture.max_threads_per_block
            assert cfg["BLOCKS"] == cdiv(b * n * d, t)
    # a small step spreads over every SM (smaller blocks), a large one uses large blocks
    small = kernel_config(Problem("lstm", 16, 1, 768, backend="alternating"), "h100")
    assert small["BLOCKS"] >= 132
    big = kernel_config(Problem("lstm", 256, 8, 1024, backend="alternating"), "h100")
    assert big["THREADS"] >= small["THREADS"]


# --------------------------------------------------------------------- objective


def test_heads_that_fit_one_block_need_no_exchange():
    cfg = kernel_config(Problem("lstm", 16, 12, 64, "bfloat16", "forward"), "h100")
    assert cfg["NSLICE"] == 1 and cfg["EXCHANGE"] == 0 and cfg["WAVES"] == 1
    assert cfg["BLOCKS"] <= 132
    explained = cfg.explain()
    assert "synchronises only inside the block" in explained


def test_a_large_head_spreads_over_blocks():
    for ps in ("forward", "backward"):
        cfg = kernel_config(Problem("lstm", 16, 1, 768, "bfloat16", ps), "h100")
        assert cfg["NSLICE"] > 1 and cfg["EXCHANGE"] == 1
        assert cfg["BLOCKS"] <= 132  # cooperative: every block resident
        assert cfg["A_F" if ps == "forward" else "A_B"] <= 112


def test_the_answer_is_the_optimum_of_the_model_text():
    """Brute force over the decisions with the model's own statements (no reduction, no solver):
    the configuration is feasible and no feasible one has a smaller objective."""
    import itertools

    import constrint
    from constrint.expr import Compare, Var
    from flashrnn_kernels.tiling import FUSED
    from flashrnn_kernels.tiling.models import model_inputs

    p = Problem("gru", 8, 24, 32, "bfloat16", "both")
    cfg = kernel_config(p, "h100")
    m = constrint.load(FUSED.path)
    inputs = model_inputs(FUSED, p, hwmodels.constants(hwmodels.get("h100")))
    # the statements 'X == expression' give every other variable its value; find an order once
    eqs = [(c.a.name, c.b) for c in m.constraints if type(c) is Compare and c.op == "==" and type(c.a) is Var]
    order, known = [], set(inputs) | set(FUSED.decisions)
    while True:
        step = [(x, e) for x, e in eqs if x not in known and set(e.variables()) <= known]
        if not step:
            break
        for x, e in step:
            if x not in known:
                order.append((x, e))
                known.add(x)
    assert known == {v.name for v in m.variables}
    warps = m.domain("FWD_WM").values
    best, count = None, 0
    for ns, bt, fwm, fwk, bwm, bwk in itertools.product(range(1, 40), (8, 16), *[warps] * 4):
        if fwm * fwk != bwm * bwk:  # (a statement of the model; skipped early for speed)
            continue
        env = {**inputs, **dict(NSLICE=ns, BT=bt, FWD_WM=fwm, FWD_WK=fwk, BWD_WM=bwm, BWD_WK=bwk)}
        try:
            for x, e in order:
                env[x] = e.evaluate(env)
        except constrint.Undefined:
            continue
        if not m.check(env):
            continue
        count += 1
        key = tuple(e.evaluate(env) for e in m.objective[0])
        if best is None or key < best[0]:
            best = (key, {k: env[k] for k in FUSED.decisions})
    assert count > 100
    assert best[0] == cfg.objective
    assert all(cfg[k] == v for k, v in best[1].items())


def test_spare_sms_split_the_batch():
    cfg = kernel_config(Problem("lstm", 64, 1, 64, "bfloat16", "forward"), "h100")
    assert cfg["NSLICE"] == 1 and cfg["BT"] == 8 and cfg["BLOCKS"] == 8


def test_more_sms_never_make_it_worse():
    p = Problem("gru", 32, 2, 512, "bfloat16", "forward")
    h100 = hwmodels.get("h100")
    small = kernel_config(p, dataclasses.replace(h100, name="H100 with 66 SMs", sm_count=66))
    big = kernel_config(p, h100)
    assert big.objective <= small.objective


# --------------------------------------------------------------------- infeasible problems


def test_infeasible_message_names_the_resource_and_what_works():
    with pytest.raises(InfeasibleConfigError) as info:
        kernel_config(Problem("lstm", 16, 1, 4096, "bfloat16", "forward"), "h100")
    exc = info.value
    assert isinstance(exc, UnsupportedError) and isinstance(exc, FlashRNNError) and isinstance(exc, ValueError)
    msg = str(exc)
    assert "no tiling" in msg and "H100 SXM" in msg
    assert "134.2 MB" in msg and "65.4 MB" in msg  # R of the head vs. all on-chip storage
    assert "registers" in exc.binding and "registers" in msg
    assert "alternating backend" in msg
    assert any("heads of" in s for s in exc.suggestions)


def test_infeasible_batch_suggests_chunks():
    with pytest.raises(InfeasibleConfigError) as info:
        kernel_config(Problem("gru", 256, 4, 512, "bfloat16", "forward"), "h100")
    assert "SMs" in info.value.binding
    assert any(s.startswith("batch chunks of") for s in info.value.suggestions)


def test_missing_tensor_core_shape_is_a_requirement():
    h100 = hwmodels.get("h100")
    arch = dataclasses.replace(h100.architecture,
                               tensor_cores=tuple(s for s in h100.architecture.tensor_cores if s.dtype != "bf16"))
    gpu = dataclasses.replace(h100, name="H100 without bf16", architecture=arch)
    with pytest.raises(InfeasibleConfigError) as info:
        kernel_config(Problem("lstm", 16, 1, 64, "bfloat16", "forward"), gpu)
    assert info.value.binding == ("requirement",)
    assert "MMA_M == 16" in str(info.value)


def test_bad_input():
    with pytest.raises(InputError):
        Problem("lstmx", 16, 1, 64)
    with pytest.raises(InputError):
        Problem("lstm", 0, 1, 64)
    with pytest.raises(InputError):
        Problem("lstm", 16, 1, 64, dtype="int8")
    with pytest.raises(InputError):
        Problem("lstm", 16, 1, 64, pass_="sideways")
    with pytest.raises(InputError):
        kernel_config(Problem("lstm", 16, 1, 64), "h999")
    with pytest.raises(InputError):
        kernel_config(("lstm", 16, 1, 64), "h100")


# --------------------------------------------------------------------- JSON and caches


def test_json_round_trip():
    cfg = kernel_config(Problem("slstm", 33, 3, 200, "float16", "both"), "a100")
    back = KernelConfig.from_json(cfg.to_json())
    assert back == cfg
    assert back.defines() == cfg.defines()
    assert json.loads(cfg.to_json())["defines"] == cfg.defines()
    with pytest.raises(InputError):
        KernelConfig.from_json("{}")
    with pytest.raises(InputError):
        KernelConfig.from_json("not json")


def test_cache_in_process_and_on_disk(tmp_path, monkeypatch):
    from flashrnn_kernels.tiling import FUSED, models

    p = Problem("lstm", 16, 1, 512, "bfloat16", "forward")
    first = kernel_config(p, "h100")
    assert kernel_config(p, "h100") is first  # in-process memo
    files = list((tmp_path / "cache" / "tiling").glob("*.json"))
    assert len(files) == 1
    clear_cache()  # memo gone, disk kept: no solve may happen now

    def no_solve(*a, **k):
        raise AssertionError("solved although the disk cache holds the answer")

    monkeypatch.setattr(models.ModelSpec, "reduce", no_solve)
    again = kernel_config(p, "h100")
    assert again == first and again is not first
    with pytest.raises(AssertionError):
        kernel_config(p, "h100", cache=False)
    # another GPU (other facts) is another key
    with pytest.raises(AssertionError):
        kernel_config(p, "a100")
    monkeypatch.undo()
    # infeasible answers are cached too
    bad = Problem("lstm", 16, 1, 4096, "bfloat16", "forward")
    with pytest.raises(InfeasibleConfigError) as one:
        kernel_config(bad, "h100")
    clear_cache()
    monkeypatch.setattr(models.ModelSpec, "reduce", no_solve)
    with pytest.raises(InfeasibleConfigError) as two:
        kernel_config(bad, "h100")
    assert str(one.value) == str(two.value)
    assert FUSED.sha256() in json.dumps(json.loads(files[0].read_text()))


def test_binding_answers_are_cached(tmp_path, monkeypatch):
    """Whether each resource binds costs one relaxed solve per kind the first time; the answer is
    kept in memory and in the tiling cache, so a later process explains without solving, and
    ``cache=False`` or a damaged entry solves again."""
    from flashrnn_kernels.tiling import binding_resources, models

    cfg = kernel_config(Problem("lstm", 16, 1, 768), "h100")
    other = kernel_config(Problem("lstm", 64, 1, 768), "h100", cache=False)
    first = binding_resources(cfg)
    assert set(first) == {kind for kind, _ in models.FUSED.relaxations}
    assert first["registers"] is True  # the 768-unit head is register-bound
    (entry,) = (tmp_path / "cache" / "tiling").glob("binds-*.json")
    clear_cache()  # memory gone, disk kept

    def no_solve(*a, **k):
        raise AssertionError("solved although the cache holds the answer")

    monkeypatch.setattr(models.ModelSpec, "solve", no_solve)
    assert binding_resources(cfg) == first
    assert "binds" in cfg.explain() and cfg.resources(binding=True)[0].binds is not None
    with pytest.raises(AssertionError):
        binding_resources(cfg, cache=False)
    # other inputs (here: another batch) are another question
    with pytest.raises(AssertionError):
        binding_resources(other)
    entry.write_text('{"binds": {"registers": "yes"}}')
    clear_cache()
    with pytest.raises(AssertionError):
        binding_resources(cfg)
    monkeypatch.undo()
    assert binding_resources(cfg) == first


def _solve_in_a_new_process(cache: Path, problem: str, cache_results: bool, module: str) -> list[str]:
    """In a new process with the cache directory ``cache``: the NSLICE of ``problem`` (Python
    source of a Problem) on the H100 and whether ``module`` was imported, as printed words."""
    code = ("import sys\n"
            "from flashrnn_kernels.tiling import Problem, kernel_config\n"
            f"cfg = kernel_config({problem}, 'h100', cache={cache_results})\n"
            f"print(cfg['NSLICE'], {module!r} in sys.modules)\n")
    env = {**os.environ, "FLASHRNN_CACHE_DIR": str(cache)}
    return subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                          check=True).stdout.split()


def test_parsed_models_are_cached_on_disk(tmp_path):
    """The tiling models' parse is kept under ``<cache>/tiling/models`` (even when results are
    not cached): a later process solves without the parser; clear_cache(disk=True) removes it."""
    nslice, parsed = _solve_in_a_new_process(tmp_path, "Problem('lstm', 16, 1, 704)", False, "lark")
    assert parsed == "True"
    assert len(list((tmp_path / "tiling" / "models").glob("*.pickle"))) == 1
    assert not list((tmp_path / "tiling").glob("*.json"))  # no result stored
    assert _solve_in_a_new_process(tmp_path, "Problem('lstm', 16, 1, 704)", False, "lark") == [nslice, "False"]
    clear_code = ("from flashrnn_kernels.tiling import clear_cache\nclear_cache(disk=True)\n")
    subprocess.run([sys.executable, "-c", clear_code], env={**os.environ, "FLASHRNN_CACHE_DIR": str(tmp_path)},
                   check=True)
    assert not list((tmp_path / "tiling" / "models").glob("*.pickle"))


def test_a_cached_configuration_needs_no_solver(tmp_path):
    """A configuration read back from the cache in a new process does not import constrint (the
    first call of a cached configuration pays only for what it uses); solving imports it."""
    nslice, solved = _solve_in_a_new_process(tmp_path, "Problem('gru', 8, 2, 64)", True, "constrint")
    assert solved == "True"
    assert _solve_in_a_new_process(tmp_path, "Problem('gru', 8, 2, 64)", True, "constrint") == [nslice, "False"]


def test_cached_failure_keeps_no_caller_alive():
    """A cached infeasible answer is raised as a fresh exception each time: re-raising one stored
    object would chain every raise's frames onto its traceback and keep the callers' locals
    (on a GPU: gigabytes of tensors per call) alive for good."""
    import gc
    import weakref

    class Payload:
        pass

    bad = Problem("lstm", 16, 1, 4096, "bfloat16", "forward")
    refs = []

    def caller():
        payload = Payload()
        refs.append(weakref.ref(payload))
        try:
            kernel_config(bad, "h100")
        except InfeasibleConfigError as exc:
            return str(exc)
        raise AssertionError("expected InfeasibleConfigError")

    messages = {caller() for _ in range(3)}
    gc.collect()
    assert len(messages) == 1
    assert all(r() is None for r in refs), "a caller's frame outlived its call"


def test_corrupt_cache_entry_is_ignored(tmp_path):
    p = Problem("elman", 8, 1, 32, "bfloat16", "forward")
    cfg = kernel_config(p, "h100")
    (f,) = (tmp_path / "cache" / "tiling").glob("*.json")
    f.write_text("{broken")
    clear_cache()
    assert kernel_config(p, "h100") == cfg


def test_table_generator(tmp_path, monkeypatch):
    from flashrnn_kernels.tiling import table

    monkeypatch.setattr(table, "CELLS", ("lstm",))
    monkeypatch.setattr(table, "HEAD_DIMS", (64, 4096))
    monkeypatch.setattr(table, "BATCHES", (8,))
    doc = tmp_path / "doc.md"
    doc.write_text(f"intro\n{table.BEGIN}\nold\n{table.END}\nend\n")
    assert table.main(["--gpu", "h100", "--update", str(doc)]) == 0
    text = doc.read_text()
    assert text.startswith("intro\n") and text.endswith("end\n") and "old" not in text
    assert "| lstm | 64 | 1×64 b8" in text and "| lstm | 4096 | ✗ registers" in text
    (tmp_path / "bad.md").write_text("no markers")
    assert table.main(["--gpu", "h100", "--update", str(tmp_path / "bad.md")]) == 2


@pytest.mark.parametrize("gpu_name", ["h100", "a100"])
def test_the_documented_table_is_what_the_model_chooses(gpu_name):
    """docs/kernel-configs.md's table, for the H100 and the A100: every configuration shown is the
    model's choice today, and every problem shown without one has none (solved without the
    diagnosis, which the generator adds)."""
    from flashrnn_kernels.tiling import FUSED, table
    from flashrnn_kernels.tiling.models import model_inputs

    gpu = hwmodels.get(gpu_name)
    doc = (REPO / "docs" / "kernel-configs.md").read_text(encoding="utf-8")
    part = doc.split(f"### {gpu.name} (")[1].split("\n### ")[0].split(table.END)[0]
    rows = [r.split("|")[1:-1] for r in part.splitlines() if r.startswith("| ") and "---" not in r][1:]
    assert len(rows) == len(table.CELLS) * len(table.HEAD_DIMS)
    consts = hwmodels.constants(gpu)
    for cell, d, *texts in rows:
        cells = [(b, ps) for b in table.BATCHES for ps in ("forward", "backward")]
        for (b, ps), shown in zip(cells, texts, strict=True):
            p = Problem(cell.strip(), b, 1, int(d), "bfloat16", ps)
            if shown.strip().startswith("✗"):
                assert FUSED.solve(model_inputs(FUSED, p, consts))[1] is None, (p, shown)
            else:
                assert table.short(kernel_config(p, gpu)) == shown.strip(), p


def test_rendered_model_solves_to_the_same_config():
    import constrint

    p = Problem("elman", 16, 4, 64, "bfloat16", "forward")
    cfg = kernel_config(p, "h100")
    model = constrint.loads(render_model(p, "h100"))
    res = model.solve(time_limit=120)
    assert res.ok
    assert {k: res[k] for k in ("NSLICE", "BT", "FWD_WM", "FWD_WK")} == \
        {k: cfg[k] for k in ("NSLICE", "BT", "FWD_WM", "FWD_WK")}


def test_explain_lists_resources_with_slack_and_binding():
    cfg = kernel_config(Problem("lstm", 16, 1, 768, "bfloat16", "forward"), "h100")
    uses = {(u.label, u.kernel): u for u in cfg.resources(binding=True)}
    a = uses[("registers holding R", "forward")]
    assert a.used == cfg["A_F"] and a.limit == 112 and a.slack == 112 - cfg["A_F"]
    assert a.binds is True  # more registers for R would let fewer blocks hold a head
    assert uses[("threads per block", "")].binds is False
    text = cfg.explain()
    for word in ("registers holding R", "shared memory", "blocks of the grid", "threads per block", "slack",
                 "binds", "FLASHRNN_FUSED_NSLICE="):
        assert word in text


# --------------------------------------------------------------------- no torch, command line


def test_importable_and_usable_without_torch():
    code = textwrap.dedent("""
        import sys
        sys.modules["torch"] = None          # any 'import torch' now raises ImportError
        from flashrnn_kernels.tiling import Problem, kernel_config
        import flashrnn_kernels.cli
        cfg = kernel_config(Problem("lstm", 16, 12, 64), "h100", cache=False)
        print(cfg.defines()["FLASHRNN_FUSED_NSLICE"])
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "1"


CLI = textwrap.dedent("""
    import argparse, sys
    from flashrnn_kernels.cli import register
    parser = argparse.ArgumentParser(prog="constrint")
    register(parser.add_subparsers())
    args = parser.parse_args(sys.argv[1:])
    sys.exit(args.func(args))
""")


def run_cli(*argv: str, env_cache: Path) -> subprocess.CompletedProcess:
    env = dict(os.environ, FLASHRNN_CACHE_DIR=str(env_cache))
    return subprocess.run([sys.executable, "-c", CLI, "kernel-config", *argv], capture_output=True, text=True,
                          cwd=REPO, env=env)


def test_cli(tmp_path):
    base = ["--gpu", "h100", "--cell", "lstm", "--num-heads", "1", "--batch-size", "16", "--dtype", "bfloat16"]
    ok = run_cli(*base, "--hidden-size", "768", "--pass", "forward", env_cache=tmp_path)
    assert ok.returncode == 0, ok.stderr
    header = next(line for line in ok.stdout.splitlines() if line.strip().startswith("resource "))
    assert "FLASHRNN_FUSED_NSLICE=" in ok.stdout and "slack" in header and "binds" not in header
    assert "--binds" in ok.stdout  # says how to ask
    # --binds: the column, and the register budget binds a 768-unit head
    why = run_cli(*base, "--hidden-size", "768", "--pass", "forward", "--binds", env_cache=tmp_path)
    assert why.returncode == 0, why.stderr
    header = next(line for line in why.stdout.splitlines() if line.strip().startswith("resource "))
    assert header.split() == ["resource", "kernel", "used", "limit", "slack", "binds", "unit"]
    regs = next(line for line in why.stdout.splitlines() if line.strip().startswith("registers holding R"))
    assert " yes " in regs
    for extra, binds in (([], {None}), (["--binds"], {True, False})):
        js = run_cli(*base, "--hidden-size", "768", "--pass", "backward", "--json", *extra, env_cache=tmp_path)
        assert js.returncode == 0, js.stderr
        data = json.loads(js.stdout)
        assert data["problem"]["pass"] == "backward" and data["defines"]["FLASHRNN_FUSED_NSLICE"] > 1
        assert {r["kind"] for r in data["resources"]} >= {"registers", "shared memory", "SMs", "threads"}
        assert {r["binds"] for r in data["resources"]} == binds, extra
    bad = run_cli(*base, "--hidden-size", "4096", env_cache=tmp_path)
    assert bad.returncode == 1 and "no tiling" in bad.stderr and "Traceback" not in bad.stderr
    for argv in (["--gpu", "h999", "--cell", "lstm", "--hidden-size", "64", "--batch-size", "8"],
                 ["--gpu", "h100", "--cell", "lstm", "--hidden-size", "100", "--num-heads", "3", "--batch-size", "8"],
                 ["--gpu", "h100", "--cell", "nope", "--hidden-size", "64", "--batch-size", "8"],
                 ["--gpu-file", str(tmp_path / "missing.toml"), "--cell", "lstm", "--hidden-size", "64",
                  "--batch-size", "8"]):
        r = run_cli(*argv, env_cache=tmp_path)
        assert r.returncode == 2, (argv, r.stdout, r.stderr)
        assert "Traceback" not in r.stderr and "error" in r.stderr
    custom = run_cli("--gpu-file", str(REPO / "examples" / "my_gpu.toml"), "--cell", "gru", "--hidden-size", "512",
                     "--num-heads", "4", "--batch-size", "8", "--json", env_cache=tmp_path)
    assert custom.returncode == 0, custom.stderr
    assert json.loads(custom.stdout)["gpu"] == "H100 NVL"


def test_cli_through_constrint_entry_point(tmp_path):
    from importlib.metadata import entry_points

    if not any(ep.name == "kernel-config" for ep in entry_points(group="constrint.commands")):
        pytest.skip("the constrint.commands entry points are not installed (pip install -e . --no-deps)")
    env = dict(os.environ, FLASHRNN_CACHE_DIR=str(tmp_path))
    r = subprocess.run([sys.executable, "-c", "import sys; from constrint.cli import main; sys.exit(main())",
                        "kernel-config", "--gpu", "a100", "--cell", "elman", "--head-dim", "256", "--batch-size", "8"],
                       capture_output=True, text=True, cwd=REPO, env=env)
    assert r.returncode == 0, r.stderr
    assert "A100" in r.stdout


# --------------------------------------------------------------------- fidelity (nvcc, no GPU)

NVCC = shutil.which("nvcc") or ("/usr/local/cuda/bin/nvcc" if os.path.exists("/usr/local/cuda/bin/nvcc") else None)
FIDELITY = [  # (gpu, arch, problem): a handful of compiles; each builds both kernels
    ("h100", "90a", Problem("lstm", 16, 1, 768, "bfloat16", "forward")),
    ("h100", "90a", Problem("gru", 33, 1, 200, "bfloat16", "both")),
    ("a100", "80", Problem("slstm", 64, 3, 256, "float16", "backward")),
    ("a100", "80", Problem("elman", 16, 12, 64, "float32", "both")),
]


def _ptxas(stderr: str, kernel: str) -> tuple[int, int, int]:
    block = stderr.split(f"Compiling entry function '{kernel}'")[1].split("Compiling entry")[0]
    regs = int(re.search(r"Used (\d+) registers", block).group(1))
    spills = int(re.search(r"(\d+) bytes spill stores", block).group(1))
    stack = int(re.search(r"(\d+) bytes stack frame", block).group(1))
    return regs, spills, stack


@pytest.mark.skipif(NVCC is None, reason="nvcc not found (CUDA toolkit not installed)")
@pytest.mark.parametrize("gpu,arch,problem", FIDELITY, ids=lambda x: x if isinstance(x, str) else
                         f"{x.cell}-{x.head_dim}-{x.pass_}")
def test_fidelity_against_the_compiler(gpu, arch, problem, tmp_path):
    """Build the kernel library with the chosen defines (one nvcc call: the kernels' static_asserts
    check the shared-memory layout the model gives them, ptxas -v reports registers and spills)."""
    cfg = kernel_config(problem, gpu)
    out = tmp_path / "fused.so"
    cmd = [NVCC, "-O3", "-std=c++17", "-shared", "-Xcompiler", "-fPIC", "-Xptxas", "-v",
           f"-gencode=arch=compute_{arch},code=sm_{arch}",
           *(f"-D{k}={v}" for k, v in cfg.defines().items()), "-o", str(out), str(FUSED_SRC)]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-4000:]
    lib = ctypes.CDLL(str(out))
    assert lib.frnn_nthreads() == cfg["NT"]
    for kernel, name, on in (("F", "frnn_fwd", problem.forward), ("B", "frnn_bwd", problem.backward)):
        if not on:
            continue
        regs, spills, stack = _ptxas(proc.stderr, name)
        assert spills == 0 and stack == 0, f"{name}: {spills} bytes spilled (model estimate {cfg[f'REGS_{kernel}']})"
        assert regs <= cfg["REG_LIMIT"], f"{name}: {regs} registers > the model's limit {cfg['REG_LIMIT']}"


def test_fused_backend_uses_the_model():
    torch = pytest.importorskip("torch")  # noqa: F841 - the backends package imports torch
    from flashrnn_kernels.backends import fused

    fc = fused.choose_config("lstm", "bfloat16", 16, 1, 768, "h100", kernel="f")
    cfg = kernel_config(Problem("lstm", 16, 1, 768, "bfloat16", "forward"), "h100")
    assert fc == cfg
    chunk, plan = fused.batch_plan("lstm", "bfloat16", 256, 1, 768, "f", "h100")
    assert chunk < 256 and plan.problem.batch_size == chunk
    with pytest.raises(UnsupportedError, match="no tiling"):
        fused.choose_config("lstm", "float32", 16, 1, 4096, "h100")


def test_cached_config_in_a_new_process_does_not_import_sympy(tmp_path):
    """sympy's import is most of constrint's (~0.3 s, seconds without compiled bytecode): a new
    process whose tiling is on disk reads it without importing sympy."""
    code = (
        "import sys\n"
        "from flashrnn_kernels.tiling import Problem, kernel_config\n"
        "cfg = kernel_config(Problem('lstm', 16, 1, 768, 'bfloat16', 'forward'), 'h100')\n"
        "print(cfg.defines()['FLASHRNN_FUSED_UNITS'], 'sympy' in sys.modules)\n"
    )
    env = dict(os.environ, FLASHRNN_CACHE_DIR=str(tmp_path))
    runs = [subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True,
                           env=env, cwd=REPO).stdout.split() for _ in range(2)]
    # solved (the tiling numbers are small enough to be factorised without sympy), then read
    assert runs[0] == [runs[0][0], "False"], runs
    assert runs[1] == [runs[0][0], "False"], runs  # read from disk


# --------------------------------------------------------------------- fixed decisions


def test_fixed_decisions_keep_the_rest_optimal():
    """``fixed=`` pins decisions (the (units, batch tile) of a development build, say); the solver
    still picks the rest by the objective, every constraint holds, and the cache keeps the
    pinned answer apart from the model's own."""
    p = Problem("lstm", 16, 1, 768, "bfloat16", "forward")
    gpu = hwmodels.get("h100")
    free = kernel_config(p, gpu)
    pinned = kernel_config(p, gpu, fixed={"BT": 16, "NSLICE": 48})
    assert (pinned["NSLICE"], pinned["BT"], pinned["U"]) == (48, 16, 16)
    assert pinned.fixed == (("NSLICE", 48), ("BT", 16)) and free.fixed == ()
    assert readme_check(pinned, gpu) == []
    assert pinned.objective > free.objective  # the model prefers its own choice
    assert (free["NSLICE"], free["BT"]) != (48, 16)
    # the warps are the best ones for this (NSLICE, BT): no other split of the same pins is better
    for wk in (1, 2, 4, 8, 16):
        try:
            other = kernel_config(p, gpu, fixed={"NSLICE": 48, "BT": 16, "FWD_WM": 8 // wk, "FWD_WK": wk})
        except InfeasibleConfigError:
            continue
        assert other.objective >= pinned.objective
    # separate cache entries, in memory and on disk, and a JSON round trip that keeps the pins
    assert kernel_config(p, gpu) is free and kernel_config(p, gpu, fixed={"NSLICE": 48, "BT": 16}) is pinned
    back = KernelConfig.from_json(pinned.to_json())
    assert back == pinned and back.fixed == pinned.fixed
    clear_cache()
    assert kernel_config(p, gpu, fixed={"NSLICE": 48, "BT": 16}) == pinned
    assert kernel_config(p, gpu) == free
    assert "fixed       NSLICE=48 BT=16" in pinned.explain(binding=False)


def test_fixed_decisions_that_do_not_fit():
    p = Problem("lstm", 16, 1, 768, "bfloat16", "forward")
    with pytest.raises(InfeasibleConfigError) as info:  # 768 units in one block: R needs too many registers
        kernel_config(p, "h100", fixed={"NSLICE": 1})
    exc = info.value
    assert "with NSLICE = 1" in str(exc) and "registers" in exc.binding
    assert exc.fixed == (("NSLICE", 1),)
    assert any("model's own choice" in s for s in exc.suggestions)
    with pytest.raises(InfeasibleConfigError) as info:  # not a value the model allows
        kernel_config(p, "h100", fixed={"BT": 12})
    assert info.value.binding == ("requirement",) and "BT in [8, 16, 24" in str(info.value)
    with pytest.raises(InputError, match="'U' is not a decision"):
        kernel_config(p, "h100", fixed={"U": 32})
    with pytest.raises(InputError, match="must be an integer"):
        kernel_config(p, "h100", fixed={"NSLICE": "2"})
