"""Time fused-kernel variants against the default build, on one GPU, in one process.

A variant is a tiling with some decisions pinned (``kernel_config(..., fixed=...)``) and/or extra
``-D`` defines (the kernel's variant switches, ``flashrnn_kernels/csrc/fused/README.md``), built
through the public hook ``flashrnn_kernels.backends.fused.kernels``. Each row is checked against
the float64 reference before it is timed (the forward states, or dWx for the backward), so a
variant that computes something else is reported, not timed.

    python benchmarks/kernel_variants.py                          # the rows below
    python benchmarks/kernel_variants.py --dtype float16
    python benchmarks/kernel_variants.py --row 'lstm 16 1 768 f FRNN_FWD_XCH=0'
    python benchmarks/kernel_variants.py --row 'gru 16 4 192 b NSLICE=16 BT=8'

A row is ``cell B N D pass [NAME=VALUE ...]``: ``pass`` is ``f`` (the forward kernel, no cache) or
``b`` (the backward kernel and its reductions); upper-case names that are decisions of the tiling
model (``NSLICE``, ``BT``, ``FWD_WM``, ...) are pinned, the rest are defines. T = 1024.
"""
from __future__ import annotations

import argparse
import sys

import torch
from timing import inputs, per_call

from flashrnn_kernels import devices
from flashrnn_kernels.backends import fused
from flashrnn_kernels.reference import reference_forward
from flashrnn_kernels.tiling import FUSED, Problem, kernel_config

ROWS = [
    "lstm 16 1 768 f",
    "lstm 16 1 768 f FRNN_FWD_XCH=0",
    "lstm 16 4 192 f",
    "lstm 16 4 192 f FRNN_FWD_DSM=0",
    "lstm 16 1 768 b",
    "lstm 16 1 768 b FRNN_BWD_BULK=0",
    "gru 16 4 192 b",
    "gru 16 4 192 b FRNN_BWD_DSM=0",
    "elman 16 1 768 f NSLICE=16 BT=8",
]
T = 1024


def parse(row: str):
    cell, B, N, D, which, *rest = row.split()
    fixed, defines = {}, {}
    for item in rest:
        name, _, value = item.partition("=")
        (fixed if name in FUSED.decisions else defines)[name] = int(value)
    return cell, int(B), int(N), int(D), which, fixed, defines


def rel(a, ref) -> float:
    a = a.double()
    return ((a - ref).norm() / ref.norm()).item() if torch.isfinite(a).all() else float("nan")


def measure(row: str, dtname: str, gpu) -> str:
    cell, B, N, D, which, fixed, defines = parse(row)
    dtype = getattr(torch, dtname)
    passes = {"f": "forward", "b": "both"}[which]
    cfg = kernel_config(Problem(cell, B, N, D, dtname, passes), gpu, fixed=fixed)
    k = fused.kernels(cfg, defines=defines)
    pre, k_ = ("FWD", "F") if which == "f" else ("BWD", "B")
    tiling = (f"U={cfg['U']} BT={cfg['BT']} NSLICE={cfg['NSLICE']} warps {cfg[pre + '_WM']}x{cfg[pre + '_WK']}"
              f" R in smem {cfg[f'SMEM_{k_}_R'] // 1024}K")
    Wx, R, b, s0 = inputs(cell, B, 64, N, D, dtype, seed=1)
    r64 = reference_forward(Wx.double(), R.double(), b.double(), s0.double(), cell=cell)[0]
    rdt = reference_forward(Wx, R, b, s0, cell=cell)[0]
    if which == "f":
        cluster = k.forward_cluster(B, N)
        with torch.no_grad():
            st = fused.fused_forward(Wx, R, b, s0, cell, False, kernels=k)[0]
        err, ref_err = rel(st, r64), rel(rdt, r64)
        Wx, R, b, s0 = inputs(cell, B, T, N, D, dtype)
        with torch.no_grad():
            ms = per_call(lambda: fused.fused_forward(Wx, R, b, s0, cell, False, kernels=k))
    else:
        cluster = k.backward_cluster(B, N)
        states, _, cache = fused.fused_forward(Wx, R, b, s0, cell, True, kernels=k)
        ds = torch.randn_like(states) * 0.1
        dwx = fused.fused_backward(R, b, s0, states, cache, ds, None, cell, (B, k))[0]
        grads = []
        for dt in (torch.float64, dtype):
            x = Wx.to(dt).requires_grad_(True)
            st = reference_forward(x, R.to(dt), b.to(dt), s0.to(dt), cell=cell)[0]
            (st.double() * ds.double()).sum().backward()
            grads.append(x.grad.double())
        err, ref_err = rel(dwx, grads[0]), rel(grads[1], grads[0])
        Wx, R, b, s0 = inputs(cell, B, T, N, D, dtype)
        states, _, cache = fused.fused_forward(Wx, R, b, s0, cell, True, kernels=k)
        ds = torch.randn_like(states) * 0.1
        ms = per_call(lambda: fused.fused_backward(R, b, s0, states, cache, ds, None, cell, (B, k)))
    ok = err <= 2 * ref_err + 1e-3
    timed = f"{ms:8.3f}" if ok else "  (wrong)"
    return f"{row:40s} {tiling:32s} C={cluster:<3d} err {err:.1e} (ref {ref_err:.1e}) {timed}"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--row", action="append", help="a row 'cell B N D f|b [NAME=VALUE ...]' (repeatable)")
    ap.add_argument("--dtype", default="bfloat16", choices=fused.DTYPES)
    a = ap.parse_args(argv)
    if not torch.cuda.is_available():
        print("kernel_variants.py needs a CUDA GPU", file=sys.stderr)
        return 2
    gpu = devices.gpu_model(torch.cuda.current_device())
    print(f"{gpu.name}, {a.dtype}, T={T}; ms per call (the forward kernel, or the backward kernel + reductions)")
    for row in a.row or ROWS:
        try:
            print(measure(row, a.dtype, gpu), flush=True)
        except Exception as exc:  # one failing row does not stop the others; its error is shown
            print(f"{row:40s} {type(exc).__name__}: {str(exc)[:300]}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
