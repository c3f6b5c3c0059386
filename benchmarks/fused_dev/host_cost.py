"""Host time of one flashrnn() forward call (until it returns, kernels still running), with and
without gradients, and a cProfile of the gradient path (LSTM 1x768 B16 T1024 bf16 by default).

python benchmarks/fused_dev/host_cost.py [cell B N D]
"""
import cProfile
import pstats
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from rnn_speed import inputs  # noqa: E402

from flashrnn_kernels import flashrnn  # noqa: E402


def host_ms(fn, n=30):
    ts = []
    for _ in range(n):
        torch.cuda.synchronize()
        t0 = time.perf_counter()
        fn()
        ts.append((time.perf_counter() - t0) * 1e3)
    torch.cuda.synchronize()
    ts.sort()
    return ts[len(ts) // 2], ts[0]


def main():
    cell = sys.argv[1] if len(sys.argv) > 1 else "lstm"
    B, N, D = (int(a) for a in sys.argv[2:5]) if len(sys.argv) > 4 else (16, 1, 768)
    xs = inputs(cell, B, 1024, N, D, torch.bfloat16)
    xg = inputs(cell, B, 1024, N, D, torch.bfloat16, grad=True)
    out = {}

    def fwd_nograd():
        with torch.no_grad():
            flashrnn(*xs, cell=cell, backend="fused")

    def fwd_grad():
        out["st"] = flashrnn(*xg, cell=cell, backend="fused")

    def bwd():
        st, la = flashrnn(*xg, cell=cell, backend="fused")
        loss = st[0].float().sum()
        torch.cuda.synchronize()
        t0 = time.perf_counter()
        loss.backward()
        return (time.perf_counter() - t0) * 1e3

    for name, fn in (("forward, no grad", fwd_nograd), ("forward, grad", fwd_grad)):
        med, best = host_ms(fn)
        print(f"{cell} B{B} {N}x{D} {name:18s} host {med:6.3f} ms (best {best:.3f})")
    bs = sorted(bwd() for _ in range(15))
    print(f"{cell} B{B} {N}x{D} {'backward() call':18s} host {bs[len(bs) // 2]:6.3f} ms (best {bs[0]:.3f})")
    pr = cProfile.Profile()
    for _ in range(30):
        torch.cuda.synchronize()
        pr.enable()
        fwd_grad()
        pr.disable()
    torch.cuda.synchronize()
    pstats.Stats(pr).sort_stats("tottime").print_stats(14)
    pstats.Stats(pr).sort_stats("cumulative").print_stats(22)


if __name__ == "__main__":
    main()
