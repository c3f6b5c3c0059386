"""Timing and inputs shared by the GPU benchmarks in this folder.

Two methods (ms per call, median):

* **per call**: CUDA events around one call, synchronised after each; the host time before the
  first kernel counts (what a caller waiting for each result sees).
* **back to back**: events around ``n`` calls issued without synchronising; the host runs ahead
  wherever it issues faster than the GPU runs, so only GPU time counts.
"""
from __future__ import annotations

import statistics
import time

import torch

from flashrnn_kernels.cells import get_cell


def per_call(fn, reps: int = 7, warm: int = 2, budget_s: float = 6.0) -> float:
    """Median ms of ``fn()`` timed one call at a time (fewer reps if one call is slow)."""
    t0 = time.time()
    for _ in range(warm):
        fn()
    torch.cuda.synchronize()
    one = (time.time() - t0) / max(warm, 1)
    reps = max(3, min(reps, int(budget_s / max(one, 1e-4))))
    ts = []
    for _ in range(reps):
        a, b = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        a.record()
        fn()
        b.record()
        torch.cuda.synchronize()
        ts.append(a.elapsed_time(b))
    return statistics.median(ts)


def back_to_back(fn, reps: int = 5, n: int = 20, warm: int = 2) -> float:
    """Median over ``reps`` of the mean ms of ``n`` calls issued without a synchronisation."""
    for _ in range(warm):
        fn()
    torch.cuda.synchronize()
    ts = []
    for _ in range(reps):
        a, b = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        a.record()
        for _ in range(n):
            fn()
        b.record()
        torch.cuda.synchronize()
        ts.append(a.elapsed_time(b) / n)
    return statistics.median(ts)


def inputs(cell: str, B: int, T: int, N: int, D: int, dtype, grad: bool = False, seed: int = 0):
    """Random ``[Wx, R, b, states0]`` of the package's layouts on the GPU (zero initial states)."""
    c = get_cell(cell)
    g = torch.Generator(device="cuda").manual_seed(seed)
    Wx = torch.randn(B, T, c.num_gates, N, D, device="cuda", generator=g).to(dtype) * 0.5
    R = (torch.randn(c.num_gates, N, D, D, device="cuda", generator=g) / D**0.5).to(dtype)
    b = torch.randn(c.num_bias, N, D, device="cuda", generator=g).to(dtype) * 0.1
    s0 = torch.zeros(c.num_states, B, 1, N, D, device="cuda", dtype=dtype)
    xs = [Wx, R, b, s0]
    if grad:
        xs = [t.requires_grad_(True) for t in xs]
    return xs
