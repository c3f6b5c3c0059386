"""Host-side cost of one fused call: per-call wall time at T=1 (the kernel is negligible there)
through flashrnn(), the inference op and fused_forward, and a cProfile of the flashrnn() path.

python benchmarks/fused_dev/overhead.py
"""
import cProfile
import pstats
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from check import make_inputs  # noqa: E402

from flashrnn_kernels import flashrnn  # noqa: E402
from flashrnn_kernels.backends import fused  # noqa: E402


def per_call_us(fn, n=300):
    for _ in range(20):
        fn()
    torch.cuda.synchronize()
    t = time.perf_counter()
    for _ in range(n):
        fn()
    torch.cuda.synchronize()
    return (time.perf_counter() - t) / n * 1e6


def main():
    for N, D in ((12, 64), (1, 768)):
        Wx, R, b, s0 = make_inputs("lstm", 16, 1, N, D, torch.bfloat16, "cuda", 0)
        with torch.no_grad():
            rows = {
                "flashrnn(backend='fused')": lambda: flashrnn(Wx, R, b, s0, cell="lstm", backend="fused"),
                "fused_forward (no cache)": lambda: fused.fused_forward(Wx, R, b, s0, "lstm", False),
                "torch.empty x3 (baseline)": lambda: [torch.empty_like(Wx) for _ in range(3)],
            }
            for name, fn in rows.items():
                print(f"lstm B16 T1 {N}x{D} {name:30s} {per_call_us(fn):8.1f} us/call", flush=True)
    Wx, R, b, s0 = make_inputs("lstm", 16, 1, 12, 64, torch.bfloat16, "cuda", 0)
    with torch.no_grad():
        pr = cProfile.Profile()
        pr.enable()
        for _ in range(300):
            flashrnn(Wx, R, b, s0, cell="lstm", backend="fused")
        torch.cuda.synchronize()
        pr.disable()
    pstats.Stats(pr).sort_stats("tottime").print_stats(18)


if __name__ == "__main__":
    main()
