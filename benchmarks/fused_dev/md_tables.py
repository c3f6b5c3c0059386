"""Markdown tables for docs/benchmarks.md from an rnn_speed.py CSV.

python benchmarks/fused_dev/md_tables.py [docs/benchmarks/rnn_speed.csv]
"""
import csv
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CELLS = {"lstm": "LSTM", "gru": "GRU", "slstm": "sLSTM", "elman": "Elman"}


def num(x: str) -> str:
    """A time in ms with three significant digits ('' when not measured)."""
    return "" if x in ("", None) else f"{float(x):.3g}"


def main():
    path = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "docs" / "benchmarks" / "rnn_speed.csv"
    rows = list(csv.DictReader(path.open()))
    get = {(r["sweep"], r["impl"], r["cell"], r["B"], r["T"], r["heads"], r["head_dim"]): r for r in rows}

    print("| cell | heads x head dim | fused fwd | fused fwd+bwd | alternating fwd | cuDNN fp16 fwd "
          "| cuDNN fp16 fwd+bwd | cuDNN bf16 fwd |")
    print("|---|---|--:|--:|--:|--:|--:|--:|")
    for cell in CELLS:
        for N, D in ((1, 768), (3, 256), (12, 64), (24, 32)):
            key = lambda impl: ("heads", impl, cell, "16", "1024", str(N), str(D))
            f, a = get.get(key("fused"), {}), get.get(key("alternating"), {})
            c16, cbf = get.get(key("cudnn_fp16"), {}), get.get(key("cudnn_bf16"), {})
            print(f"| {CELLS[cell]} | {N} x {D} | {num(f.get('fwd_ms'))} | {num(f.get('fwdbwd_ms'))} | "
                  f"{num(a.get('fwd_ms'))} | {num(c16.get('fwd_ms'))} | {num(c16.get('fwdbwd_ms'))} | "
                  f"{num(cbf.get('fwd_ms'))} |")
    print()
    print("| B | T | fused fwd | cuDNN fp16 fwd | ratio | fused fwd+bwd | cuDNN fp16 fwd+bwd | ratio |")
    print("|--:|--:|--:|--:|--:|--:|--:|--:|")
    for sweep in ("batch", "T"):
        for r in rows:
            if r["sweep"] != sweep or r["impl"] != "fused":
                continue
            c = get.get((sweep, "cudnn_fp16", r["cell"], r["B"], r["T"], r["heads"], r["head_dim"]))
            if c is None:
                continue
            ratio = lambda k: f"{float(c[k]) / float(r[k]):.2f}"
            print(f"| {r['B']} | {r['T']} | {num(r['fwd_ms'])} | {num(c['fwd_ms'])} | {ratio('fwd_ms')} | "
                  f"{num(r['fwdbwd_ms'])} | {num(c['fwdbwd_ms'])} | {ratio('fwdbwd_ms')} |")


if __name__ == "__main__":
    main()
