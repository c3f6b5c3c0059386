"""Moving a model from ``torch.nn.LSTM`` to ``flashrnn_kernels.LSTM``: one changed line.

A small sequence classifier written for ``torch.nn.LSTM`` (2 bidirectional layers, dropout
between them, variable-length sequences as a ``PackedSequence``) is built twice, once with
each class. The torch model's checkpoint loads into the other one unchanged, both give the same
outputs and gradients, one training step later the checkpoint goes back into torch, and a
``num_heads=4`` variant (block-diagonal recurrence, the layout of the fused kernels) trains too.

    python examples/from_torch_lstm.py                          # CPU, float64, reference backend
    python examples/from_torch_lstm.py --device cuda --dtype bfloat16 --backend fused

On the CPU the outputs agree to about 1e-16 (float64); in bfloat16 on a GPU to the dtype's
rounding.
"""
from __future__ import annotations

import argparse
import functools

import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence

import flashrnn_kernels as frk


class Classifier(nn.Module):
    """Embedding -> 2-layer bidirectional LSTM over packed sequences -> linear on the last states."""

    def __init__(self, lstm_class, vocab: int = 50, hidden: int = 32, classes: int = 3, **lstm_options):
        super().__init__()
        self.embed = nn.Embedding(vocab, hidden)
        # the only line that differs: lstm_class is torch.nn.LSTM or flashrnn_kernels.LSTM
        self.lstm = lstm_class(hidden, hidden, num_layers=2, dropout=0.1, bidirectional=True, **lstm_options)
        self.head = nn.Linear(2 * hidden, classes)

    def forward(self, tokens: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        packed = pack_padded_sequence(self.embed(tokens), lengths, enforce_sorted=False)  # [T, B, H]
        _, (h_n, _) = self.lstm(packed)            # h_n [num_layers * 2, B, H]
        return self.head(torch.cat([h_n[-2], h_n[-1]], dim=-1))  # last layer, both directions


def batch(B: int, T: int, vocab: int, device, g: torch.Generator):
    tokens = torch.randint(0, vocab, (T, B), generator=g).to(device)
    lengths = torch.randint(1, T + 1, (B,), generator=g)
    labels = (tokens.sum(0) % 3).to(device)
    return tokens, lengths, labels


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--device", default="cpu")
    p.add_argument("--dtype", default="float64", choices=["float64", "float32", "bfloat16", "float16"])
    p.add_argument("--backend", default="reference")
    args = p.parse_args()
    device, dtype = torch.device(args.device), getattr(torch, args.dtype)

    torch.manual_seed(0)
    theirs = Classifier(nn.LSTM).to(device, torch.float64).eval()
    ours = Classifier(functools.partial(frk.LSTM, backend=args.backend)).to(device, dtype).eval()
    ours.load_state_dict(theirs.state_dict())       # the torch checkpoint, as it is
    print("parameters:", ", ".join(n for n, _ in ours.lstm.named_parameters()))

    g = torch.Generator().manual_seed(1)
    tokens, lengths, labels = batch(8, 12, 50, device, g)
    ref = theirs(tokens, lengths)
    got = ours(tokens, lengths)
    print(f"logits, largest difference to torch.nn.LSTM: {(got.double() - ref).abs().max().item():.2e}")
    nn.functional.cross_entropy(ref, labels).backward()
    nn.functional.cross_entropy(got.double(), labels).backward()
    worst = max((a.grad.double() - b.grad).abs().max().item()
                for a, b in zip(ours.lstm.parameters(), theirs.lstm.parameters()))
    print(f"gradients, largest difference: {worst:.2e}")
    if dtype == torch.float64 and max(worst, (got - ref).abs().max().item()) > 1e-10:
        raise SystemExit("float64 results differ from torch.nn.LSTM's by more than 1e-10")

    # a training step with our module, then the checkpoint goes back into a torch.nn.LSTM model
    ours.train()
    opt = torch.optim.SGD(ours.parameters(), lr=0.5)
    opt.step()
    back = Classifier(nn.LSTM).to(device, dtype).eval()
    back.load_state_dict(ours.state_dict())
    ours.eval()
    diff = (back(tokens, lengths).double() - ours(tokens, lengths).double()).abs().max().item()
    print(f"after one step, torch.nn.LSTM with our checkpoint, largest difference: {diff:.2e}")

    # four heads: a block-diagonal recurrent matrix (weight_hh_l0 holds the blocks: [4 * 32, 8])
    heads = Classifier(functools.partial(frk.LSTM, num_heads=4, backend=args.backend)).to(device, dtype)
    print("num_heads=4, weight_hh_l0:", tuple(heads.lstm.weight_hh_l0.shape))
    opt = torch.optim.Adam(heads.parameters(), lr=1e-2)
    losses = []
    for _ in range(20):
        loss = nn.functional.cross_entropy(heads(tokens, lengths).float(), labels)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    print(f"num_heads=4, 20 steps on one batch: loss {losses[0]:.3f} -> {losses[-1]:.3f}")


if __name__ == "__main__":
    main()
