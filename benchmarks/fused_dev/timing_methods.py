"""One problem timed by two methods, fused against cuDNN, to see how much the method moves it.

Methods (ms per call, median of 7 measurements):
  per call      CUDA events around one call, synchronised after each (as rnn_speed.py times);
  back to back  events around 20 calls issued without a synchronisation (host time hidden
                wherever the host issues faster than the GPU runs).
Forward+backward twice: with the input gradient (as rnn_speed.py) and with the weights' only
(cuDNN: x without requires_grad; fused: the same call twice, since Wx keeps its gradient, the gate
gradient that cuDNN computes internally for its weight gradient).

python benchmarks/fused_dev/timing_methods.py [cell B N D]
"""
import statistics
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from check import time_fn  # noqa: E402
from rnn_speed import inputs  # noqa: E402

from flashrnn_kernels import flashrnn  # noqa: E402


def per_call(fn, reps=7):
    return time_fn(fn, reps=reps, warm=0)


def back_to_back(fn, reps=7, n=20):
    ts = []
    for _ in range(reps):
        torch.cuda.synchronize()
        a, b = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        a.record()
        for _ in range(n):
            fn()
        b.record()
        torch.cuda.synchronize()
        ts.append(a.elapsed_time(b) / n)
    return statistics.median(ts)


def cases(cell, B, N, D, T=1024):
    xs = inputs(cell, B, T, N, D, torch.bfloat16)
    xg = inputs(cell, B, T, N, D, torch.bfloat16, grad=True)

    def fused_f():
        with torch.no_grad():
            flashrnn(*xs, cell=cell, backend="fused")

    def fused_fb():
        st, _ = flashrnn(*xg, cell=cell, backend="fused")
        st[0].float().sum().backward()

    yield "fused bf16", fused_f, fused_fb, fused_fb
    if cell not in ("lstm", "gru") or N != 1:
        return
    H = D
    mod = {"lstm": torch.nn.LSTM, "gru": torch.nn.GRU}[cell](H, H, batch_first=True)
    mod = mod.cuda().half()
    x = torch.randn(B, T, H, device="cuda", dtype=torch.float16)
    xr = x.clone().requires_grad_(True)

    def cudnn_f():
        with torch.no_grad():
            mod(x)

    def cudnn_fb(inp):
        def run():
            out, _ = mod(inp)
            out.float().sum().backward()
        return run

    yield "cuDNN fp16", cudnn_f, cudnn_fb(xr), cudnn_fb(x)


def main():
    cell = sys.argv[1] if len(sys.argv) > 1 else "lstm"
    B, N, D = (int(a) for a in sys.argv[2:5]) if len(sys.argv) > 4 else (16, 1, 768)
    rows = []
    for name, f, fb, fb_weights in cases(cell, B, N, D):
        for fn in (f, fb, fb_weights):
            for _ in range(3):
                fn()
        torch.cuda.synchronize()
        rows.append((name, "forward", per_call(f), back_to_back(f)))
        rows.append((name, "fwd+bwd, input grad", per_call(fb), back_to_back(fb)))
        rows.append((name, "fwd+bwd, weights only", per_call(fb_weights), back_to_back(fb_weights)))
    print(f"{cell} B{B} {N}x{D} T1024 (ms per call)")
    print(f"{'impl':12s} {'what':24s} {'per call':>9s} {'back to back':>13s}")
    for name, what, pc, bb in rows:
        print(f"{name:12s} {what:24s} {pc:9.3f} {bb:13.3f}")


if __name__ == "__main__":
    main()
