"""Streaming inference: an RNN fed one time step per call, its state carried between calls.

    python examples/streaming.py                      # CPU, float64
    python examples/streaming.py --device cuda --dtype bfloat16

A 2-layer LSTM reads frames as they arrive (here: a noisy sine per stream, 4 streams side by
side). Three ways to run it on the same frames give the same outputs:

1. the whole sequence at once, ``rnn(x)``: what training sees;
2. ``rnn.step(x_t, state)``: one call per frame, the state passed back in each time;
3. ``rnn.streamer(batch_size)``: the states stay inside the streamer; on a GPU each call replays
   one captured CUDA graph of the whole step (one copy in, one graph launch, one copy out).

Then a stream continues from a state handed over by a full-sequence call (``reset(hx)``), and,
on a GPU, what a call of ``step`` and of the streamer costs (median of 200 calls).
"""
from __future__ import annotations

import argparse
import statistics
import time

import torch

import flashrnn_kernels as frk


def frames(T: int, B: int, features: int, dtype, device) -> torch.Tensor:
    """``[T, B, features]``: a sine of a different frequency per stream, plus noise."""
    g = torch.Generator().manual_seed(0)
    t = torch.arange(T, dtype=torch.float64)[:, None, None]
    freq = torch.linspace(0.05, 0.2, B, dtype=torch.float64)[None, :, None]
    x = torch.sin(2 * torch.pi * freq * t) + 0.1 * torch.randn(T, B, features, generator=g, dtype=torch.float64)
    return x.to(device=device, dtype=dtype)


def per_call_us(fn, calls: int = 200) -> float:
    times = []
    for _ in range(calls):
        torch.cuda.synchronize()
        t0 = time.perf_counter()
        fn()
        torch.cuda.synchronize()
        times.append((time.perf_counter() - t0) * 1e6)
    return statistics.median(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--dtype", default="float64", choices=("float64", "float32", "bfloat16", "float16"))
    ap.add_argument("--hidden", type=int, default=64)
    a = ap.parse_args()
    device, dtype = torch.device(a.device), getattr(torch, a.dtype)
    T, B, features = 50, 4, 8
    torch.manual_seed(0)
    rnn = frk.LSTM(features, a.hidden, num_layers=2).to(device=device, dtype=dtype).eval()
    x = frames(T, B, features, dtype, device)
    # on the CPU all three run the reference backend: they agree to rounding; on a GPU the whole
    # sequence and a step may take different kernels (bfloat16 or tf32 products), so the script
    # prints the differences there without a bound
    cpu_tol = {torch.float64: 1e-10, torch.float32: 1e-4}.get(dtype, 5e-2)  # 16-bit: its rounding
    tol = cpu_tol if device.type == "cpu" else float("inf")

    with torch.no_grad():
        whole, (h_n, c_n) = rnn(x)                        # [T, B, hidden]

        state, outs = None, []
        for t in range(T):                                # one frame per call
            y, state = rnn.step(x[t], state)
            outs.append(y)
        by_step = torch.stack(outs)

        stream = rnn.streamer(batch_size=B)               # graph replays on a GPU
        by_streamer = torch.stack([stream(x[t]) for t in range(T)])
        h_s, c_s = stream.state

        def diff(a_, b_):
            return (a_.double() - b_.double()).abs().max().item()

        print(f"LSTM({features}, {a.hidden}, num_layers=2), {B} streams of {T} frames, {dtype} on {device}"
              f" ({stream!r})")
        print(f"step by step against the whole sequence: largest difference {diff(by_step, whole):.2e}")
        print(f"streamer against the whole sequence:     largest difference {diff(by_streamer, whole):.2e}")
        print(f"streamer's final state against h_n, c_n: {max(diff(h_s, h_n), diff(c_s, c_n)):.2e}")
        assert max(diff(by_step, whole), diff(by_streamer, whole), diff(h_s, h_n), diff(c_s, c_n)) <= tol

        # hand over: the first 30 frames as one call, the rest streamed from its final state
        _, hx = rnn(x[:30])
        stream.reset(hx)
        rest = torch.stack([stream(x[t]) for t in range(30, T)])
        print(f"streamed from a handed-over state (frames 30..{T - 1}): largest difference "
              f"{diff(rest, whole[30:]):.2e}")
        assert diff(rest, whole[30:]) <= tol
        stream.reset()                                    # a new sequence from zeros

        if device.type == "cuda":
            x_t = x[0].clone()
            step_us = per_call_us(lambda: rnn.step(x_t, state))
            stream_us = per_call_us(lambda: stream(x_t))
            print(f"per call (median of 200): rnn.step {step_us:.0f} us, streamer {stream_us:.0f} us")


if __name__ == "__main__":
    main()
