"""Whole-stack speed of ``flashrnn_kernels.LSTM`` as a drop-in for ``torch.nn.LSTM``.

    python benchmarks/rnn_stack_speed.py [--out DIR] [--layers 2] [--hidden 768] [--B 16] [--T 1024]

One module of each kind with the same parameters (2 bidirectional layers of 768 by default,
input size = hidden size, B=16, T=1024): ``flashrnn_kernels.LSTM`` on the fused backend in
bfloat16 and float16, and ``torch.nn.LSTM`` (cuDNN) in float16, the point of comparison, and in
bfloat16; in both input layouts (time-major, torch's default, and ``batch_first=True``).
For each: forward without gradients, and forward + backward (loss: the sum of the output; the
input requires a gradient), each timed two ways (ms per call, median of ``--reps``):

* per call: CUDA events around one call, synchronised after each;
* back to back: CUDA events around ``--burst`` calls issued without synchronising, divided.

It also times the copies the reversed direction makes (its input and its output reversed in
time: the fused kernel does not read the input backwards) for one forward of the stack.
Prints a table with ratios to cuDNN float16 in the same layout (> 1: faster than cuDNN) and
writes ``rnn_stack_speed.csv`` to ``--out``. Timing: ``timing.py`` beside this file. Without a
GPU, ``--backend reference --dtypes float32 --torch-dtypes float32`` with small sizes runs the
same code on the CPU (a check of the script, not a measurement).
"""
from __future__ import annotations

import argparse
import csv
import sys
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # this checkout's flashrnn_kernels, also for timing.py

from timing import back_to_back, per_call  # noqa: E402

import flashrnn_kernels as frk  # noqa: E402

FIELDS = ["impl", "dtype", "layout", "layers", "bidirectional", "B", "T", "input_size", "hidden",
          "fwd_per_call_ms", "fwd_back_to_back_ms", "fwdbwd_per_call_ms", "fwdbwd_back_to_back_ms"]


def make_modules(args, dtype: torch.dtype, batch_first: bool, device: torch.device):
    """(flashrnn_kernels.LSTM, torch.nn.LSTM) with the same parameters, in ``dtype``."""
    config = dict(num_layers=args.layers, bidirectional=not args.unidirectional, batch_first=batch_first)
    torch.manual_seed(0)
    theirs = torch.nn.LSTM(args.hidden, args.hidden, **config).to(device=device, dtype=dtype)
    ours = frk.LSTM(args.hidden, args.hidden, device=device, dtype=dtype, backend=args.backend, **config)
    ours.load_state_dict(theirs.state_dict())
    return ours, theirs


def timings(fn, args) -> tuple[float, float]:
    return per_call(fn, reps=args.reps), back_to_back(fn, reps=args.reps, n=args.burst)


def time_module(module, x: torch.Tensor, args) -> tuple[float, float, float, float]:
    def forward():
        with torch.no_grad():
            module(x)

    xg = x.detach().clone().requires_grad_(True)

    def forward_backward():
        out, _ = module(xg)
        out.float().sum().backward()

    f = timings(forward, args)
    fb = timings(forward_backward, args)
    return (*f, *fb)


def reverse_copies(args, dtype, device) -> tuple[float, float]:
    """(per call, back to back) ms of the time reversals of one forward of the stack: per layer,
    the reversed direction's input and output (batch-first tensors, as the module makes them)."""
    B, T, Hd = args.B, args.T, args.hidden
    dirs = 1 if args.unidirectional else 2
    if dirs == 1:
        return 0.0, 0.0
    shapes = []
    for layer in range(args.layers):
        shapes += [(B, T, Hd if layer == 0 else dirs * Hd), (B, T, Hd)]
    ts = [torch.randn(s, device=device, dtype=dtype) for s in shapes]
    return timings(lambda: [t.flip(1) for t in ts], args)


def main(argv=None) -> list[dict]:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=str(ROOT / "docs" / "benchmarks"))
    ap.add_argument("--layers", type=int, default=2)
    ap.add_argument("--hidden", type=int, default=768)
    ap.add_argument("--B", type=int, default=16)
    ap.add_argument("--T", type=int, default=1024)
    ap.add_argument("--unidirectional", action="store_true")
    ap.add_argument("--backend", default="fused", help="flashrnn_kernels backend (default: fused)")
    ap.add_argument("--dtypes", default="bfloat16,float16", help="dtypes of flashrnn_kernels.LSTM")
    ap.add_argument("--torch-dtypes", default="float16,bfloat16",
                    help="dtypes of torch.nn.LSTM; the first is the point of comparison")
    ap.add_argument("--reps", type=int, default=7)
    ap.add_argument("--burst", type=int, default=10, help="calls per back-to-back measurement")
    args = ap.parse_args(argv)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device.type == "cpu":
        print("no GPU: running on the CPU, timed by the host clock (a check of the script, not a measurement)")
    dtypes = [getattr(torch, d) for d in args.dtypes.split(",")]
    torch_dtypes = [getattr(torch, d) for d in args.torch_dtypes.split(",")]
    reference = torch_dtypes[0]
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    rows = []
    for batch_first in (False, True):
        layout = "batch_first" if batch_first else "time_major"
        shape = (args.B, args.T, args.hidden) if batch_first else (args.T, args.B, args.hidden)
        cases = [(f"flashrnn {args.backend}", d) for d in dtypes] + [("torch.nn.LSTM", d) for d in torch_dtypes]
        for impl, dtype in cases:
            ours, theirs = make_modules(args, dtype, batch_first, device)
            module = ours if impl.startswith("flashrnn") else theirs
            x = torch.randn(*shape, device=device, dtype=dtype)
            try:
                times = time_module(module, x, args)
                if module is ours:  # the same parameters: the outputs agree to the dtype's rounding
                    with torch.no_grad():
                        diff = (ours(x)[0].float() - theirs(x)[0].float()).abs().max().item()
                    print(f"  {impl} {layout} {dtype}: max |output - torch.nn.LSTM's| = {diff:.3g}")
            except Exception as e:  # a case that cannot run is recorded as missing
                print(f"{impl} {dtype} {layout}: {type(e).__name__}: {str(e)[:300]}")
                times = (float("nan"),) * 4
            rows.append(dict(zip(FIELDS, (impl, str(dtype).replace("torch.", ""), layout, args.layers,
                                          not args.unidirectional, args.B, args.T, args.hidden,
                                          args.hidden, *times))))
            del ours, theirs, module, x
            if device.type == "cuda":
                torch.cuda.empty_cache()
    copies = {d: reverse_copies(args, d, device) for d in dtypes}
    with open(out / "rnn_stack_speed.csv", "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=FIELDS)
        w.writeheader()
        w.writerows(rows)

    dirs = "bidirectional" if not args.unidirectional else "unidirectional"
    print(f"\n== LSTM, {args.layers} layers, {dirs}, hidden {args.hidden}, B={args.B}, T={args.T}, "
          f"{device} (ms; x ref = {reference} torch.nn.LSTM time / this time, > 1 is faster) ==")
    print(f"{'impl':18s} {'dtype':9s} {'layout':12s} {'fwd call':>9s} {'fwd b2b':>9s} "
          f"{'f+b call':>9s} {'f+b b2b':>9s} {'x ref fwd':>9s} {'x ref f+b':>9s}")
    ref = {r["layout"]: r for r in rows if r["impl"] == "torch.nn.LSTM" and r["dtype"] == str(reference)[6:]}
    for r in rows:
        c = ref.get(r["layout"])
        rf = c["fwd_per_call_ms"] / r["fwd_per_call_ms"] if c else float("nan")
        rfb = c["fwdbwd_per_call_ms"] / r["fwdbwd_per_call_ms"] if c else float("nan")
        print(f"{r['impl']:18s} {r['dtype']:9s} {r['layout']:12s} {r['fwd_per_call_ms']:9.3f} "
              f"{r['fwd_back_to_back_ms']:9.3f} {r['fwdbwd_per_call_ms']:9.3f} "
              f"{r['fwdbwd_back_to_back_ms']:9.3f} {rf:9.2f} {rfb:9.2f}")
    for d, (pc, b2b) in copies.items():
        print(f"reverse-direction copies, one forward, {str(d)[6:]}: {pc:.3f} ms per call, "
              f"{b2b:.3f} ms back to back")
    return rows


if __name__ == "__main__":
    main()
