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


def _sync() -> None:
    if torch.cuda.is_available():
        torch.cuda.synchronize()


def _interval_ms(fn, n: int) -> float:
    """Mean ms of ``n`` calls of ``fn`` issued without a synchronisation, by CUDA events; on a
    machine without a GPU (where a script can be checked, not measured) by the host clock."""
    if not torch.cuda.is_available():
        t0 = time.perf_counter()
        for _ in range(n):
            fn()
        return (time.perf_counter() - t0) * 1e3 / n
    a, b = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    a.record()
    for _ in range(n):
        fn()
    b.record()
    torch.cuda.synchronize()
    return a.elapsed_time(b) / n


def per_call(fn, reps: int = 7, warm: int = 2, budget_s: float = 6.0) -> float:
    """Median ms of ``fn()`` timed one call at a time (fewer reps if one call is slow)."""
    t0 = time.time()
    for _ in range(warm):
        fn()
    _sync()
    one = (time.time() - t0) / max(warm, 1)
    reps = max(3, min(reps, int(budget_s / max(one, 1e-4))))
    return statistics.median(_interval_ms(fn, 1) for _ in range(reps))


def back_to_back(fn, reps: int = 5, n: int = 20, warm: int = 2) -> float:
    """Median over ``reps`` of the mean ms of ``n`` calls issued without a synchronisation."""
    for _ in range(warm):
        fn()
    _sync()
    return statistics.median(_interval_ms(fn, n) for _ in range(reps))


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
