"""State tracking: a multi-head LSTM and sLSTM learn the running parity of a bit sequence.

The input is a random sequence of bits; the target at every position is the number of ones so
far modulo ``--modulus`` (2: parity). Solving it needs a state that is updated at every step, and
that is where recurrent cells with nonlinear state transitions (LSTM, sLSTM) differ from
Transformers and from linear-recurrent models (diagonal state-space models, linear attention):
those are known to fit parity at the training length and to fail on longer sequences (Deletang et
al., "Neural Networks and the Chomsky Hierarchy", ICLR 2023; Grazzi et al., "Unlocking
State-Tracking in Linear RNNs Through Negative Eigenvalues", 2024; Beck et al., "xLSTM", 2024,
formal-language experiments).

The models are trained on sequences of ``--length`` bits and tested on the training length and on
sequences four times longer. Tiny sizes by default, so that the run takes well under a minute on
two CPU cores with the pure-PyTorch reference backend:

    python examples/state_tracking.py                                  # CPU, backend "reference"
    python examples/state_tracking.py --device cuda --backend fused    # GPU, one kernel per sequence
    python examples/state_tracking.py --modulus 3 --cells lstm         # counting modulo 3

Seeds are fixed (``--seed``): the same command prints the same table on the same machine and
PyTorch build. Accuracy is that of the prediction after the last bit (the whole sequence's
count modulo m; chance is 1/m), and, in the last columns, over every position.
"""
from __future__ import annotations

import argparse
import sys
import time

import torch
from torch import nn

import flashrnn_kernels as frk

RNN_MODULES = {"lstm": frk.LSTM, "slstm": frk.SLSTM, "gru": frk.GRU, "elman": frk.RNN}
DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16,
          "float64": torch.float64}


class Tracker(nn.Module):
    """Bit embedding -> multi-head recurrent cell of ``flashrnn_kernels`` -> per-step classifier."""

    def __init__(self, cell: str, modulus: int, hidden: int, heads: int, backend: str) -> None:
        super().__init__()
        self.embed = nn.Embedding(2, hidden)
        self.rnn = RNN_MODULES[cell](hidden, hidden, num_heads=heads, batch_first=True, backend=backend)
        self.readout = nn.Linear(hidden, modulus)

    def forward(self, bits: torch.Tensor) -> torch.Tensor:
        out, _ = self.rnn(self.embed(bits))  # [B, T, H]
        return self.readout(out)  # [B, T, modulus]


def make_batch(batch: int, length: int, modulus: int, generator: torch.Generator):
    """Random bits ``[batch, length]`` and their running count of ones modulo ``modulus``."""
    bits = torch.randint(0, 2, (batch, length), generator=generator)
    return bits, torch.cumsum(bits, dim=1) % modulus


@torch.no_grad()
def accuracy(model: Tracker, bits: torch.Tensor, labels: torch.Tensor, chunk: int = 512):
    """(accuracy of the last position, accuracy over all positions)."""
    device = next(model.parameters()).device
    last = every = 0.0
    for i in range(0, bits.shape[0], chunk):
        b, y = bits[i:i + chunk].to(device), labels[i:i + chunk].to(device)
        pred = model(b).argmax(-1)
        last += (pred[:, -1] == y[:, -1]).sum().item()
        every += (pred == y).float().mean(1).sum().item()
    return last / bits.shape[0], every / bits.shape[0]


def train(cell: str, args: argparse.Namespace, device: torch.device, dtype: torch.dtype) -> dict:
    torch.manual_seed(args.seed)
    model = Tracker(cell, args.modulus, args.hidden, args.heads, args.backend).to(device, dtype)
    params = sum(p.numel() for p in model.parameters())
    opt = torch.optim.Adam(model.parameters(), lr=args.lr)
    data = torch.Generator().manual_seed(args.seed + 1)
    val_bits, val_labels = make_batch(256, args.length, args.modulus,
                                      torch.Generator().manual_seed(args.seed + 2))
    loss_fn = nn.CrossEntropyLoss()
    t0 = time.perf_counter()
    solved = 0
    step = 0
    for step in range(1, args.steps + 1):
        bits, labels = make_batch(args.batch, args.length, args.modulus, data)
        logits = model(bits.to(device))
        loss = loss_fn(logits.float().flatten(0, 1), labels.to(device).flatten())
        opt.zero_grad(set_to_none=True)
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        if step % args.check_every == 0:
            _, every = accuracy(model, val_bits, val_labels)
            if args.verbose:
                print(f"  {cell} step {step:4d} loss {loss.item():.4f} val per-step acc {every:.3f}")
            solved = solved + 1 if every == 1.0 else 0
            if solved == 2:  # solved at two checks in a row: stop early
                break
    seconds = time.perf_counter() - t0

    test = torch.Generator().manual_seed(args.seed + 3)
    row = {"cell": cell, "params": params, "steps": step, "seconds": seconds}
    for factor in (1, 4):
        bits, labels = make_batch(args.test_size, factor * args.length, args.modulus, test)
        row[factor] = accuracy(model, bits, labels)
    return row


def print_table(rows: list[dict], args: argparse.Namespace) -> None:
    L = args.length
    head = (f"{'cell':6s} {'params':>6s} {'steps':>5s} {'train s':>7s} {'last@' + str(L):>8s} "
            f"{'last@' + str(4 * L):>8s} {'all@' + str(L):>7s} {'all@' + str(4 * L):>7s}")
    print(head)
    print("-" * len(head))
    for r in rows:
        print(f"{r['cell']:6s} {r['params']:6d} {r['steps']:5d} {r['seconds']:7.1f} "
              f"{r[1][0]:8.3f} {r[4][0]:8.3f} {r[1][1]:7.3f} {r[4][1]:7.3f}")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--cells", default="lstm,slstm", help="comma-separated: lstm, slstm, gru, elman")
    p.add_argument("--backend", default="reference", help="reference, alternating, fused or auto")
    p.add_argument("--device", default="cpu", help="cpu or cuda")
    p.add_argument("--dtype", default="float32", choices=sorted(DTYPES),
                   help="dtype of the model (the fused backend takes float32, bfloat16, float16)")
    p.add_argument("--modulus", type=int, default=2, help="count ones modulo this (2: parity)")
    p.add_argument("--length", type=int, default=16, help="training sequence length")
    p.add_argument("--hidden", type=int, default=32, help="hidden size (all heads together)")
    p.add_argument("--heads", type=int, default=4, help="heads of the recurrent cell")
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--steps", type=int, default=400, help="most training steps")
    p.add_argument("--lr", type=float, default=1e-2)
    p.add_argument("--check-every", type=int, default=25, help="steps between validation checks")
    p.add_argument("--test-size", type=int, default=1024, help="test sequences per length")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=1,
                   help="CPU threads of torch (the tensors are tiny: more threads only add waiting)")
    p.add_argument("--verbose", action="store_true", help="print the loss at every check")
    args = p.parse_args(argv)
    unknown = [c for c in args.cells.split(",") if c not in RNN_MODULES]
    if unknown:
        p.error(f"unknown cell(s) {unknown}; choose from {sorted(RNN_MODULES)}")
    if args.modulus < 2:
        p.error("--modulus must be at least 2")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        print("error: --device cuda, but no CUDA GPU is visible", file=sys.stderr)
        return 2
    dtype = DTYPES[args.dtype]
    torch.set_num_threads(args.threads)
    print(f"task: running count of ones modulo {args.modulus}; train length {args.length}, "
          f"test lengths {args.length} and {4 * args.length}")
    print(f"model: {args.hidden} hidden units in {args.heads} heads, backend {args.backend!r}, "
          f"{device.type}, {args.dtype}")
    rows = []
    for cell in args.cells.split(","):
        try:
            rows.append(train(cell, args, device, dtype))
        except frk.UnsupportedError as exc:  # names each backend and why it cannot run the call
            print(f"error: {cell}: {exc}", file=sys.stderr)
            return 2
    print()
    print_table(rows, args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
