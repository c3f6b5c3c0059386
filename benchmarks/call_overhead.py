"""Host time of one ``flashrnn()`` call: from the call until it returns (the kernels still running),
with and without gradients, the host time of ``backward()``, and a CPU profile of the call.

    python benchmarks/call_overhead.py [--backend fused] [--cell lstm] [--batch 16] [--heads 1] [--head-dim 768]

Milliseconds, median (and best) of 30 calls, each after a synchronisation; T = 1024, bfloat16.
"""
from __future__ import annotations

import argparse
import cProfile
import pstats
import statistics
import sys
import time

import torch
from timing import inputs

from flashrnn_kernels import flashrnn


def host_ms(fn, n: int = 30) -> tuple[float, float]:
    ts = []
    for _ in range(n):
        torch.cuda.synchronize()
        t0 = time.perf_counter()
        fn()
        ts.append((time.perf_counter() - t0) * 1e3)
    torch.cuda.synchronize()
    return statistics.median(ts), min(ts)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--backend", default="fused")
    ap.add_argument("--cell", default="lstm")
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--heads", type=int, default=1)
    ap.add_argument("--head-dim", type=int, default=768)
    ap.add_argument("--profile", type=int, default=14, help="rows of the CPU profile to print (0: none)")
    a = ap.parse_args(argv)
    if not torch.cuda.is_available():
        print("call_overhead.py needs a CUDA GPU", file=sys.stderr)
        return 2
    cell, B, N, D = a.cell, a.batch, a.heads, a.head_dim
    xs = inputs(cell, B, 1024, N, D, torch.bfloat16)
    xg = inputs(cell, B, 1024, N, D, torch.bfloat16, grad=True)

    def fwd_nograd():
        with torch.no_grad():
            flashrnn(*xs, cell=cell, backend=a.backend)

    def fwd_grad():
        flashrnn(*xg, cell=cell, backend=a.backend)

    def backward_call() -> float:
        st, _ = flashrnn(*xg, cell=cell, backend=a.backend)
        loss = st[0].float().sum()
        torch.cuda.synchronize()
        t0 = time.perf_counter()
        loss.backward()
        return (time.perf_counter() - t0) * 1e3

    label = f"{a.backend} {cell} B{B} {N}x{D}"
    for name, fn in (("forward, no grad", fwd_nograd), ("forward, grad", fwd_grad)):
        fn()
        med, best = host_ms(fn)
        print(f"{label} {name:18s} host {med:7.3f} ms (best {best:.3f})")
    bs = [backward_call() for _ in range(15)]
    print(f"{label} {'backward() call':18s} host {statistics.median(bs):7.3f} ms (best {min(bs):.3f})")
    if a.profile:
        for name, fn in (("forward, no grad", fwd_nograd), ("forward, grad", fwd_grad)):
            pr = cProfile.Profile()
            for _ in range(30):
                torch.cuda.synchronize()
                pr.enable()
                fn()
                pr.disable()
            torch.cuda.synchronize()
            print(f"\nCPU profile of 30 calls, {name}, by own time:")
            pstats.Stats(pr).sort_stats("tottime").print_stats(a.profile)
    return 0


if __name__ == "__main__":
    sys.exit(main())
