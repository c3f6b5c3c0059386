"""Time fused-kernel variants (explicit tilings and extra -D defines) on a GPU, one table.

python benchmarks/fused_dev/variants.py
VARIANT_ROWS='[("lstm", 16, 1, 768, "f", None, None, ())]' python benchmarks/fused_dev/variants.py
Each row: a problem, a tiling (U, BT, or fields of the chosen config) forced instead of the
chooser's, extra defines; the forward (no cache) and the backward kernel + torch reductions timed
apart (CUDA events, median). VARIANT_DTYPE=float16 (or float32) times that type instead of bfloat16.
"""
import ast
import dataclasses
import os
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from check import make_inputs, time_fn  # noqa: E402

from flashrnn_kernels.backends import fused  # noqa: E402
from flashrnn_kernels.cells import get_cell  # noqa: E402


# (cell, B, N, D, which 'f'/'b', U or None or {field: value} overriding the chooser's config,
#  bt or None, extra defines)
ROWS = [
    ("lstm", 16, 4, 192, "f", None, None, ()),
    ("lstm", 16, 4, 192, "f", None, None, ("FRNN_FWD_DSM=0",)),
    ("lstm", 16, 4, 192, "f", {"units": 12, "nslice": 16, "bt": 8, "fwd_wm": 4, "fwd_wk": 2, "bwd_wm": 1, "bwd_wk": 8}, None, ()),
    ("lstm", 64, 3, 256, "f", None, None, ()),
    ("lstm", 64, 3, 256, "f", None, None, ("FRNN_FWD_DSM=0",)),
    ("lstm", 64, 3, 256, "f", {"units": 24, "nslice": 11, "bt": 16, "fwd_wm": 2, "fwd_wk": 4, "bwd_wm": 1, "bwd_wk": 8}, None, ()),
    ("lstm", 64, 3, 256, "f", {"units": 52, "nslice": 5, "bt": 8, "fwd_wm": 1, "fwd_wk": 8, "bwd_wm": 1, "bwd_wk": 8}, None, ()),
    ("gru", 64, 3, 256, "f", None, None, ()),
    ("gru", 64, 3, 256, "f", None, None, ("FRNN_FWD_DSM=0",)),
    ("gru", 64, 3, 256, "f", {"units": 20, "nslice": 13, "bt": 24, "fwd_wm": 4, "fwd_wk": 4, "bwd_wm": 1, "bwd_wk": 16}, None, ()),
    ("gru", 64, 4, 192, "f", None, None, ()),
    ("gru", 64, 4, 192, "f", None, None, ("FRNN_FWD_DSM=0",)),
    ("gru", 64, 4, 192, "f", {"units": 20, "nslice": 10, "bt": 24, "fwd_wm": 4, "fwd_wk": 4, "bwd_wm": 1, "bwd_wk": 16}, None, ()),
    ("elman", 16, 1, 768, "f", None, None, ()),
    ("elman", 16, 1, 768, "f", None, None, ("FRNN_FWD_DSM=0",)),
    ("elman", 16, 1, 768, "f", {"units": 12, "nslice": 64, "bt": 8, "fwd_wm": 1, "fwd_wk": 8, "bwd_wm": 1, "bwd_wk": 8}, None, ()),
    ("elman", 16, 1, 768, "f", {"units": 48, "nslice": 16, "bt": 8, "fwd_wm": 1, "fwd_wk": 8, "bwd_wm": 1, "bwd_wk": 8}, None, ()),
    ("slstm", 64, 4, 192, "f", None, None, ()),
    ("slstm", 64, 4, 192, "f", None, None, ("FRNN_FWD_DSM=0",)),
    ("lstm", 32, 2, 256, "f", None, None, ()),
    ("lstm", 32, 2, 256, "f", None, None, ("FRNN_FWD_DSM=0",)),
    ("gru", 16, 4, 192, "f", None, None, ()),
    ("gru", 16, 4, 192, "f", None, None, ("FRNN_FWD_DSM=0",)),
    ("gru", 16, 4, 192, "f", {"units": 12, "nslice": 16, "bt": 8, "fwd_wm": 4, "fwd_wk": 2, "bwd_wm": 1, "bwd_wk": 8}, None, ()),
]
if os.environ.get("VARIANT_ROWS"):  # rows as a Python literal, instead of the list above
    ROWS = ast.literal_eval(os.environ["VARIANT_ROWS"])
DTYPE_NAME = os.environ.get("VARIANT_DTYPE", "bfloat16")
DTYPE = getattr(torch, DTYPE_NAME)
# an extra "PREV" builds the previous kernel source (fused_rnn_prev.cu beside the kernel, if there)
PREV_SOURCE = fused.KERNEL_SOURCE.with_name("fused_rnn_prev.cu")


def config_of(row):
    cell, B, N, D, which, U, bt, extra = row
    c = get_cell(cell)
    if U is None or isinstance(U, dict):
        cfg = fused.batch_plan(c, DTYPE_NAME, B, N, D, which)[1]
        return dataclasses.replace(cfg, **U) if U else cfg
    return fused._make(c, fused.DTYPE_CODES[DTYPE_NAME], D, U, bt)


def build(row):
    cfg = config_of(row)
    tag = f"{DTYPE_NAME}_{cfg.units}_{cfg.nslice}_{cfg.bt}_{cfg.fwd_wm}x{cfg.fwd_wk}"
    out = Path("/tmp/frnn_var") / ("_".join(map(str, row[:5])) + f"_{tag}_" + "_".join(row[7]) + ".so")
    out.parent.mkdir(exist_ok=True, parents=True)
    cmd = fused.nvcc_command(cfg, fused._native_arch(), str(out),
                             tuple(f"-D{e}" for e in row[7] if e != "PREV"))
    if "PREV" in row[7]:
        cmd[-1] = str(PREV_SOURCE)
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode:
        return row, cfg, None, r.stderr[-1500:]
    return row, cfg, out, ""


_REF = {}


def fwd_error(row, cfg):
    """Relative error of the variant's forward states vs float64 (and of the reference in the
    timed type)."""
    from flashrnn_kernels.reference import reference_forward
    cell, B, N, D = row[:4]
    Wx, R, b, s0 = make_inputs(cell, B, 256, N, D, DTYPE, "cuda", 7)
    key = (cell, B, N, D)
    if key not in _REF:
        r64 = reference_forward(Wx.double(), R.double(), b.double(), s0.double(), cell=cell)[0]
        rbf = reference_forward(Wx, R, b, s0, cell=cell)[0]
        _REF[key] = (r64, ((rbf.double() - r64).norm() / r64.norm()).item())
    r64, e_ref = _REF[key]
    fused.POISON_OUTPUTS = True
    try:
        with torch.no_grad():
            st = fused.fused_forward(Wx, R, b, s0, cell, False, cfg)[0]
    finally:
        fused.POISON_OUTPUTS = False
    if not torch.isfinite(st).all():
        return float("nan"), e_ref
    return ((st.double() - r64).norm() / r64.norm()).item(), e_ref


def bwd_error(row, cfg, lib, orig):
    """Relative error of the variant's dWx vs float64 autograd (and of the reference in the timed
    type); the forward runs on the default library `orig`, the backward on the variant's `lib`."""
    from flashrnn_kernels.reference import reference_forward
    cell, B, N, D = row[:4]
    Wx, R, b, s0 = make_inputs(cell, B, 64, N, D, DTYPE, "cuda", 7)
    fused.load_library = orig
    states, last, cache = fused.fused_forward(Wx, R, b, s0, cell, True)
    fused.load_library = lambda config, arch=None, _l=lib: _l
    g = torch.Generator(device="cpu").manual_seed(3)
    ds = (torch.randn(states.shape, generator=g) * 0.1).to(states)
    dwx = fused.fused_backward(R, b, s0, states, cache, ds, None, cell, (B, cfg))[0]
    errs = []
    for dt in (torch.float64, DTYPE):
        x = Wx.to(dt).requires_grad_(True)
        st = reference_forward(x, R.to(dt), b.to(dt), s0.to(dt), cell=cell)[0]
        (st.double() * ds.double()).sum().backward()
        errs.append(x.grad)
    r64 = errs[0]
    rel = lambda a: ((a.double() - r64).norm() / r64.norm()).item()
    return rel(dwx) if torch.isfinite(dwx).all() else float("nan"), rel(errs[1])


def main():
    t0 = time.time()
    with ThreadPoolExecutor(16) as ex:
        built = list(ex.map(build, ROWS))
    print(f"built {len(built)} variants in {time.time() - t0:.1f}s", flush=True)
    lines = []
    for row, cfg, path, err in built:
        cell, B, N, D, which, U, bt, extra = row
        name = f"{cell} B{B} {N}x{D} {which} U={cfg.units} bt={cfg.bt} ns={cfg.nslice} {' '.join(extra)}"
        if path is None:
            lines.append(f"{name}: BUILD FAILED {err}")
            continue
        lib = fused.open_library(path)
        if which == "b" and hasattr(lib, "frnn_bwd_cluster"):
            name += f" C={lib.frnn_bwd_cluster(B, N)}"
        elif which == "f" and hasattr(lib, "frnn_fwd_cluster"):
            name += f" C={lib.frnn_fwd_cluster(B, N)}"
        orig = fused.load_library
        fused.load_library = lambda config, arch=None, _l=lib: _l
        try:
            Wx, R, b, s0 = make_inputs(cell, B, 1024, N, D, DTYPE, "cuda", 0)
            if which == "f":
                e, e_ref = fwd_error(row, cfg)
                flag = "OK" if e <= 2 * e_ref + 1e-3 else "BAD"
                name += f" [{flag} err {e:.1e} ref {e_ref:.1e}]"
                with torch.no_grad():
                    ms = time_fn(lambda: fused.fused_forward(Wx, R, b, s0, cell, False, cfg))
            else:
                e, e_ref = bwd_error(row, cfg, lib, orig)
                flag = "OK" if e <= 2 * e_ref + 1e-3 else "BAD"
                name += f" [{flag} dWx err {e:.1e} ref {e_ref:.1e}]"
                fused.load_library = orig
                states, last, cache = fused.fused_forward(Wx, R, b, s0, cell, True)
                fused.load_library = lambda config, arch=None, _l=lib: _l
                ds = torch.randn_like(states)
                ms = time_fn(lambda: fused.fused_backward(R, b, s0, states, cache, ds, None, cell,
                                                          (B, cfg)), reps=10)
            torch.cuda.synchronize()
            lines.append(f"{name}: {ms:.3f} ms")
        except Exception as e:
            lines.append(f"{name}: ERROR {type(e).__name__}: {str(e)[:200]}")
        finally:
            fused.load_library = orig
        print(lines[-1], flush=True)
    print(f"\n== variants (T=1024, {DTYPE_NAME}) ==")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
