"""GPU time per kernel of one forward+backward through flashrnn() (torch.profiler), summed by name.

python benchmarks/fused_dev/breakdown.py [cell B N D]
"""
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from rnn_speed import inputs  # noqa: E402

from flashrnn_kernels import flashrnn  # noqa: E402


def main():
    cell = sys.argv[1] if len(sys.argv) > 1 else "lstm"
    B, N, D = (int(a) for a in sys.argv[2:5]) if len(sys.argv) > 4 else (16, 1, 768)
    xg = inputs(cell, B, 1024, N, D, torch.bfloat16, grad=True)

    def fb():
        st, la = flashrnn(*xg, cell=cell, backend="fused")
        st[0].float().sum().backward()
    for _ in range(3):
        fb()
    torch.cuda.synchronize()
    with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CUDA]) as prof:
        for _ in range(5):
            fb()
        torch.cuda.synchronize()
    rows = [(e.key, e.device_time_total / 5 / 1000, e.count // 5) for e in prof.key_averages()
            if e.device_time_total > 0]
    rows.sort(key=lambda r: -r[1])
    print(f"== {cell} B{B} {N}x{D} fwd+bwd, ms per iteration by kernel")
    for k, ms, n in rows[:14]:
        print(f"{ms:8.3f}  x{n:<3d} {k[:90]}")
    print(f"{sum(r[1] for r in rows):8.3f}  total")


if __name__ == "__main__":
    main()
