"""Streaming inference on a GPU: one time step per call with the state carried over.

    python benchmarks/streaming.py [--hidden 768] [--cell lstm] [--backend auto] [--steps 64]

For B = 1 and B = 16, a one-layer module of ``--hidden`` units in bfloat16 against
``torch.nn.LSTM`` (or ``GRU``) in float16 (cuDNN's fastest) and bfloat16, on the same inputs:

* ``step``: ``module.step(x_t, state)`` without gradients, the state the call returns fed to the
  next one, timed per call and back to back (``timing.py``'s two methods; ms, median); the last
  lines say whether such a step runs in one launch (docs/rnn.md, streaming) or as a T = 1 call;
* ``graph``: ``--steps`` such steps captured once in one CUDA graph (``torch.cuda.CUDAGraph``) and
  replayed; microseconds per step (the replay's time divided by the steps), median of 20 replays.
* ``streamer``: ``module.streamer(B)``, which keeps the state and replays a graph of one step
  per call (:class:`flashrnn_kernels.streaming.Streamer`), per call and back to back;
* with ``--profile N``: the host time of one ``module.step`` (until it returns, the GPU idle
  before it) and the N functions of most own time in a CPU profile of it (``call_overhead.py``'s
  table), for B = 1 and 16.

The ratio column is ours over ``torch.nn`` float16 on the same row.
"""
from __future__ import annotations

import argparse
import statistics
import sys

import torch
from timing import back_to_back, per_call

import flashrnn_kernels as frk
from flashrnn_kernels.backends import Call, select_backend


def _graph_us_per_step(step, x, state, steps: int, reps: int = 20) -> float:
    """Captures ``steps`` calls of ``step(x, state) -> state`` in one graph; us per step of a replay."""
    side = torch.cuda.Stream()
    side.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(side):  # warm-up outside the capture: builds, plans, workspaces
        s = state
        for _ in range(3):
            s = step(x, s)
    torch.cuda.current_stream().wait_stream(side)
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        s = state
        for _ in range(steps):
            s = step(x, s)
    graph.replay()
    torch.cuda.synchronize()
    a, b = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    ts = []
    for _ in range(reps):
        a.record()
        graph.replay()
        b.record()
        torch.cuda.synchronize()
        ts.append(a.elapsed_time(b) * 1e3 / steps)
    return statistics.median(ts)


def _profile_steps(step, H: int, dev: torch.device, rows: int, calls: int = 30) -> None:
    """The host time of ``step(x, state)`` (median of ``calls``, each after a synchronisation)
    and a CPU profile of ``calls`` of them, for B = 1 and 16."""
    from call_overhead import host_ms, own_time_rows, profile_calls

    sync = torch.cuda.synchronize if dev.type == "cuda" else (lambda: None)
    with torch.no_grad():
        for B in (1, 16):
            x = torch.randn(B, H, device=dev, dtype=torch.bfloat16)
            state = [step(x, None)]

            def call(x=x, state=state):
                state[0] = step(x, state[0])

            med, best = host_ms(call, calls, sync)
            print(f"\nB={B}: host time of one module.step {med * 1e3:.1f} us "
                  f"(median of {calls}; best {best * 1e3:.1f})")
            print(f"CPU profile of one module.step, B={B} ({calls} calls), by own time:")
            print("\n".join(own_time_rows(profile_calls(call, calls, sync), calls, rows)))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--hidden", type=int, default=768)
    ap.add_argument("--cell", default="lstm", choices=("lstm", "gru"))
    ap.add_argument("--backend", default="auto")
    ap.add_argument("--steps", type=int, default=64, help="steps captured in one graph")
    ap.add_argument("--profile", type=int, default=0, help="rows of a CPU profile of one module.step (0: none)")
    a = ap.parse_args(argv)
    if not torch.cuda.is_available():
        print("streaming.py measures on a CUDA GPU; none is visible", file=sys.stderr)
        return 2
    H, dev = a.hidden, torch.device("cuda")
    ours_cls = frk.LSTM if a.cell == "lstm" else frk.GRU
    ref_cls = torch.nn.LSTM if a.cell == "lstm" else torch.nn.GRU
    torch.manual_seed(0)
    ours = ours_cls(H, H, batch_first=True, backend=a.backend, device=dev, dtype=torch.bfloat16)
    refs = {dt: ref_cls(H, H, batch_first=True, device=dev, dtype=dt) for dt in (torch.float16, torch.bfloat16)}
    for m in refs.values():  # made with device=, their weights are apart: cuDNN would copy them on every call
        m.flatten_parameters()

    def ours_step(x, s):
        return ours.step(x, s)[1]

    def ref_step(m):
        def f(x, s):
            return m(x.unsqueeze(1), s)[1]
        return f

    print(f"{torch.cuda.get_device_name()}, {a.cell.upper()} hidden {H}, one layer, T = 1 per call, "
          f"ours bfloat16 (backend={a.backend!r})")
    print(f"{'B':>3} {'implementation':28s} {'step per call':>14s} {'step b2b':>10s} "
          f"{'graph us/step':>14s} {'ratio (per call, b2b, graph)':>30s}")
    with torch.no_grad():
        for B in (1, 16):
            rows = []
            impls = [(f"flashrnn_kernels {a.cell.upper()} bf16", ours_step, torch.bfloat16)]
            impls += [(f"torch.nn.{ref_cls.__name__} {name}", ref_step(refs[dt]), dt)
                      for name, dt in (("fp16", torch.float16), ("bf16", torch.bfloat16))]
            for label, fn, dt in impls:
                x = torch.randn(B, H, device=dev, dtype=dt)
                state = [fn(x, None)]

                def call(fn=fn, x=x, state=state):
                    state[0] = fn(x, state[0])

                pc, bb = per_call(call, reps=50), back_to_back(call, n=100)
                rows.append((label, pc, bb, _graph_us_per_step(fn, x, state[0], a.steps)))
            stream = ours.streamer(B)  # each call replays its own graph of one step
            x = torch.randn(B, H, device=dev, dtype=torch.bfloat16)
            stream(x)

            def streamed(stream=stream, x=x):
                stream(x)

            rows.insert(1, (f"{a.cell.upper()} streamer ({stream.backend})", per_call(streamed, reps=50),
                            back_to_back(streamed, n=100), None))
            ref = rows[2]
            for label, pc, bb, gr in rows:
                graph = "-" if gr is None else f"{gr:.1f}"
                ratio = f"{pc / ref[1]:.2f}, {bb / ref[2]:.2f}, " + ("-" if gr is None else f"{gr / ref[3]:.2f}")
                print(f"{B:3d} {label:28s} {pc:11.3f} ms {bb:7.3f} ms {graph:>11s} us {ratio:>30s}")
    if a.profile:
        _profile_steps(ours_step, H, dev, a.profile)
    if a.backend in ("auto", "alternating"):
        from flashrnn_kernels.backends.alternating import input_step_fits

        for B in (1, 16):
            x = torch.zeros(B, H, device=dev, dtype=torch.bfloat16)
            one = input_step_fits(x, ours.weight_ih_l0, ours.bias_ih_l0, ours.weight_hh_l0, ours.bias_hh_l0, None,
                                  1, H)
            call = Call(a.cell, torch.bfloat16, dev, B, 1, 1, H, False)
            print(f"B={B}: a step without gradients runs "
                  + ("in one launch (the alternating backend's step with the input product)" if one else
                     f"as a T = 1 call of {select_backend(call, a.backend).name!r}"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
