"""Host time of one ``flashrnn()`` call: from the call until it returns (the kernels still running),
with and without gradients, the host time of ``backward()``, what a call costs per call against
back to back, and a CPU profile of the call.

    python benchmarks/call_overhead.py [--backend fused] [--cell lstm] [--batch 16] [--heads 1]
                                       [--head-dim 768] [--steps 1024] [--profile 14]

Milliseconds, median (and best) of 30 calls, each after a synchronisation; bfloat16. "Per call"
and "back to back" are the two timing methods of ``timing.py`` (the forward, and a forward with
``backward()``); their difference is the time the host adds to a call that waits for its result.
The profile gives each function's own time per call in microseconds.
"""
from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import statistics
import sys
import time

import torch
from timing import back_to_back, inputs, per_call

from flashrnn_kernels import flashrnn


def host_ms(fn, n: int = 30, sync=None) -> tuple[float, float]:
    """Median and best host time of ``fn()`` in ms over ``n`` calls, each after ``sync()``
    (default: ``torch.cuda.synchronize``)."""
    sync = sync or torch.cuda.synchronize
    ts = []
    for _ in range(n):
        sync()
        t0 = time.perf_counter()
        fn()
        ts.append((time.perf_counter() - t0) * 1e3)
    sync()
    return statistics.median(ts), min(ts)


def profile_calls(fn, n: int = 30, sync=None) -> cProfile.Profile:
    """A CPU profile of ``n`` calls of ``fn()``, each after ``sync()`` (outside the profile)."""
    sync = sync or torch.cuda.synchronize
    pr = cProfile.Profile()
    for _ in range(n):
        sync()
        pr.enable()
        fn()
        pr.disable()
    sync()
    return pr


def own_time_rows(pr: cProfile.Profile, calls: int, rows: int) -> list[str]:
    """The ``rows`` functions of most own time in a profile of ``calls`` calls: own and cumulative
    microseconds per call, calls per call, and the function."""
    stats = pstats.Stats(pr).stats
    top = sorted(stats.items(), key=lambda kv: kv[1][2], reverse=True)[:rows]
    out = [f"{'own us':>8s} {'cum us':>8s} {'n/call':>6s}  function"]
    for (path, line, func), (_cc, nc, tt, ct, _callers) in top:
        where = func if path == "~" else f"{os.path.basename(path)}:{line}({func})"  # "~": built-ins
        out.append(f"{tt / calls * 1e6:8.1f} {ct / calls * 1e6:8.1f} {nc / calls:6.1f}  {where}")
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--backend", default="fused")
    ap.add_argument("--cell", default="lstm")
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--heads", type=int, default=1)
    ap.add_argument("--head-dim", type=int, default=768)
    ap.add_argument("--steps", type=int, default=1024, help="T")
    ap.add_argument("--profile", type=int, default=14, help="rows of the CPU profile to print (0: none)")
    a = ap.parse_args(argv)
    if not torch.cuda.is_available():
        print("call_overhead.py needs a CUDA GPU", file=sys.stderr)
        return 2
    cell, B, N, D, T = a.cell, a.batch, a.heads, a.head_dim, a.steps
    xs = inputs(cell, B, T, N, D, torch.bfloat16)
    xg = inputs(cell, B, T, N, D, torch.bfloat16, grad=True)

    def fwd_nograd():
        with torch.no_grad():
            flashrnn(*xs, cell=cell, backend=a.backend)

    def fwd_grad():
        flashrnn(*xg, cell=cell, backend=a.backend)

    def loss():
        st, _ = flashrnn(*xg, cell=cell, backend=a.backend)
        return st[0].float().sum()

    def backward_call() -> float:
        value = loss()
        torch.cuda.synchronize()
        t0 = time.perf_counter()
        value.backward()
        return (time.perf_counter() - t0) * 1e3

    def fwd_bwd():
        loss().backward()

    label = f"{a.backend} {cell} B{B} T{T} {N}x{D}"
    for name, fn in (("forward, no grad", fwd_nograd), ("forward, grad", fwd_grad)):
        fn()
        med, best = host_ms(fn)
        print(f"{label} {name:18s} host {med:7.3f} ms (best {best:.3f})")
    bs = [backward_call() for _ in range(15)]
    print(f"{label} {'backward() call':18s} host {statistics.median(bs):7.3f} ms (best {min(bs):.3f})")
    for name, fn in (("forward, no grad", fwd_nograd), ("forward+backward", fwd_bwd)):
        pc, bb = per_call(fn, reps=25, budget_s=20), back_to_back(fn, reps=5, n=20)
        print(f"{label} {name:18s} per call {pc:7.3f} ms, back to back {bb:7.3f} ms, difference {pc - bb:6.3f} ms")
    if a.profile:
        for name, fn in (("forward, no grad", fwd_nograd), ("forward, grad", fwd_grad)):
            print(f"\nCPU profile of one call, {name} (30 calls), by own time:")
            print("\n".join(own_time_rows(profile_calls(fn, 30), 30, a.profile)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
