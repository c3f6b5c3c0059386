"""Speed of the RNN backends on one GPU: forward and forward+backward, CUDA events, median.

    python benchmarks/rnn_speed.py [--out docs/benchmarks] [--quick] [--timing per-call|back-to-back|both]

Compares the fused and alternating backends (the latter with its time loops replayed as CUDA
graphs, ``alternating_graphs``, the default, and run step by step, ``alternating``:
``FLASHRNN_GRAPHS=0``), the PyTorch reference (small points only) and
torch.nn.LSTM / torch.nn.GRU (cuDNN) in float16 and bfloat16, over sweeps like the FlashRNN paper
(B=16, T=1024, hidden 768 split as 1x768, 3x256, 12x64, 24x32; batch 2..256; T 256..4096) and
large single heads (``large``: LSTM 1xD, D = 1024, 1280, 1536, 2048, 2560 and 4096). Every sweep has the replayed
alternating rows (``--no-alternating`` drops them); the heads and large sweeps have cuDNN in both
dtypes.
Writes rnn_speed.csv and PNG plots to --out, prints a table with ratios to cuDNN float16, and
measures the first-call latency (config + compile in a fresh process) and the cached one.
A run of some sweeps only (--sweeps) keeps the rows of the other sweeps already in the CSV.
``--timing`` chooses the method (``timing.py``): per call (the default: events around each call,
host time included) and/or back to back (GPU time only); the CSV has a column pair for each.
"""
from __future__ import annotations

import argparse
import contextlib
import csv
import gc
import math
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import torch
from timing import back_to_back, inputs, per_call

from flashrnn_kernels.reference import reference_forward

ROOT = Path(__file__).resolve().parent.parent
NAN = float("nan")


def timed(f, fb, methods, slow=False):
    """(fwd, fwd+bwd) per call and back to back, in ms; NaN for a method not asked for."""
    reps = dict(reps=3, warm=1) if slow else {}
    out = []
    for fn, r in ((f, 7), (fb, 5)):
        out.append(per_call(fn, **(reps or {"reps": r})) if "per-call" in methods else NAN)
    for fn in (f, fb):
        out.append(back_to_back(fn, n=3 if slow else 20) if "back-to-back" in methods else NAN)
    return out


def time_backend(backend, cell, B, T, N, D, dtype, methods):
    from flashrnn_kernels import flashrnn

    xs = inputs(cell, B, T, N, D, dtype)
    xg = inputs(cell, B, T, N, D, dtype, grad=True)

    def f():
        with torch.no_grad():
            flashrnn(*xs, cell=cell, backend=backend)

    def fb():
        st, la = flashrnn(*xg, cell=cell, backend=backend)
        st[0].float().sum().backward()
    return timed(f, fb, methods)


def time_reference(cell, B, T, N, D, dtype, methods):
    xs = inputs(cell, B, T, N, D, dtype)
    xg = inputs(cell, B, T, N, D, dtype, grad=True)

    def f():
        with torch.no_grad():
            reference_forward(*xs, cell=cell)

    def fb():
        st, la = reference_forward(*xg, cell=cell)
        st[0].float().sum().backward()
    return timed(f, fb, methods, slow=True)


def time_cudnn(cell, B, T, H, dtype, methods):
    mod = {"lstm": torch.nn.LSTM, "gru": torch.nn.GRU}[cell](H, H, batch_first=True)
    mod = mod.cuda().to(dtype)
    x = torch.randn(B, T, H, device="cuda", dtype=dtype)
    xg = x.clone().requires_grad_(True)

    def f():
        with torch.no_grad():
            mod(x)

    def fb():
        out, _ = mod(xg)
        out.float().sum().backward()
    return timed(f, fb, methods)


@contextlib.contextmanager
def _env(**values: str):
    """Environment variables set for the duration of a block (read by the package on every call)."""
    saved = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def first_call_latency(cache_dir: str) -> float:
    """Seconds for import + config + compile + first run of the fused LSTM, new process."""
    code = (
        "import time; t=time.time(); import torch; from flashrnn_kernels import flashrnn; "
        "x=torch.randn(16,64,4,1,768,device='cuda',dtype=torch.bfloat16); "
        "R=torch.randn(4,1,768,768,device='cuda',dtype=torch.bfloat16)/28; "
        "t1=time.time(); flashrnn(x,R,cell='lstm',backend='fused'); torch.cuda.synchronize(); "
        "print(time.time()-t1)"
    )
    path = os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH")) if p)
    env = dict(os.environ, FLASHRNN_CACHE_DIR=cache_dir, PYTHONPATH=path)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    if out.returncode != 0:
        print(out.stderr[-2000:])
        return float("nan")
    return float(out.stdout.strip().splitlines()[-1])


SWEEPS = ("heads", "batch", "T", "large")
FIELDS = ["sweep", "impl", "cell", "dtype", "B", "T", "heads", "head_dim", "fwd_ms", "fwdbwd_ms",
          "fwd_b2b_ms", "fwdbwd_b2b_ms"]
TIMES = ("fwd_ms", "fwdbwd_ms", "fwd_b2b_ms", "fwdbwd_b2b_ms")


def read_rows(path: Path) -> list[dict]:
    """The rows of an existing rnn_speed.csv (numbers parsed), or none."""
    if not path.exists():
        return []
    with open(path, newline="") as fh:
        rows = list(csv.DictReader(fh))
    for r in rows:
        for k in ("B", "T", "heads", "head_dim"):
            r[k] = int(r[k])
        for k in TIMES:  # a column an older file lacks, or a point not measured, is NaN
            r[k] = float(r.get(k) or "nan")
    return rows


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=str(ROOT / "docs" / "benchmarks"))
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--no-alternating", action="store_true")
    ap.add_argument("--sweeps", default="heads,batch,T,large",
                    help="comma-separated subset of: heads, batch, T, large (the CSV keeps the rows "
                         "of the others)")
    ap.add_argument("--timing", default="per-call", choices=("per-call", "back-to-back", "both"),
                    help="timing method (benchmarks/timing.py); default per call")
    ap.add_argument("--no-latency", action="store_true", help="skip the first-call latency runs")
    a = ap.parse_args()
    methods = {"per-call", "back-to-back"} if a.timing == "both" else {a.timing}
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    bf16, fp16 = torch.bfloat16, torch.float16
    sweeps = set(a.sweeps.split(","))
    unknown = sweeps - set(SWEEPS)
    if unknown:
        ap.error(f"unknown sweeps {sorted(unknown)}; choose from {', '.join(SWEEPS)}")
    kept = [r for r in read_rows(out / "rnn_speed.csv") if r["sweep"] not in sweeps]
    rows = []

    def write_csv():
        with open(out / "rnn_speed.csv", "w", newline="") as fh:
            w = csv.DictWriter(fh, fieldnames=FIELDS)
            w.writeheader()
            w.writerows(kept + rows)

    def add(sweep, impl, cell, dtype, B, T, N, D, times):
        rows.append(dict(sweep=sweep, impl=impl, cell=cell, dtype=str(dtype).replace("torch.", ""),
                         B=B, T=T, heads=N, head_dim=D, **dict(zip(TIMES, times))))
        write_csv()  # after every point, so that an interrupted run keeps what it measured
        shown = "  ".join(f"{k.removesuffix('_ms')} {v:8.3f}" for k, v in zip(TIMES, times) if not math.isnan(v))
        print(f"{sweep:6s} {impl:12s} {cell:5s} {rows[-1]['dtype']:8s} B={B:<3d} T={T:<4d} "
              f"{N}x{D:<4d} {shown or 'not run'} ms  "
              f"(GPU memory held after: {torch.cuda.memory_allocated() / 2**30:.2f} GiB)", flush=True)

    def run(sweep, impl, cell, dtype, B, T, N, D):
        try:
            if impl == "fused":
                times = time_backend(impl, cell, B, T, N, D, dtype, methods)
            elif impl == "alternating":  # the eager loop, step by step from Python
                with _env(FLASHRNN_GRAPHS="0"):
                    times = time_backend("alternating", cell, B, T, N, D, dtype, methods)
            elif impl == "alternating_graphs":  # the default
                with _env(FLASHRNN_GRAPHS="1"):
                    times = time_backend("alternating", cell, B, T, N, D, dtype, methods)
            elif impl == "reference":
                times = time_reference(cell, B, T, N, D, dtype, methods)
            else:
                times = time_cudnn(cell, B, T, N * D, dtype, methods)
        except Exception as e:  # a point that cannot run is recorded as missing
            print(f"{sweep} {impl} {cell} B={B} T={T} {N}x{D}: {type(e).__name__}: {str(e)[:200]}")
            times = [NAN] * len(TIMES)
        gc.collect()  # tensors kept alive by reference cycles (exception tracebacks, closures)
        torch.cuda.empty_cache()
        add(sweep, impl, cell, dtype, B, T, N, D, times)

    impls = ["fused"] + ([] if a.no_alternating else ["alternating"])
    graphs = [] if a.no_alternating else ["alternating_graphs"]
    heads = [(1, 768), (3, 256), (12, 64), (24, 32)]
    # 1) heads sweep, B=16, T=1024, all cells
    for cell in ("lstm", "gru", "slstm", "elman") if "heads" in sweeps else ():
        for N, D in heads if not a.quick else heads[:1] + heads[2:3]:
            for impl in impls + graphs:
                run("heads", impl, cell, bf16, 16, 1024, N, D)
        if cell in ("lstm", "gru"):
            run("heads", "cudnn_fp16", cell, fp16, 16, 1024, 1, 768)
            run("heads", "cudnn_bf16", cell, bf16, 16, 1024, 1, 768)
        run("heads", "reference", cell, bf16, 16, 1024 if cell == "lstm" else 256, 1, 768)
    # 2) batch sweep, LSTM 1x768, T=1024
    for B in ((2, 16, 64, 256) if not a.quick else (64,)) if "batch" in sweeps else ():
        for impl in ["fused", *graphs, "cudnn_fp16"]:
            run("batch", impl, "lstm", fp16 if impl == "cudnn_fp16" else bf16, B, 1024, 1, 768)
    # 3) sequence-length sweep, LSTM 1x768, B=16
    for T in ((256, 4096) if not a.quick else ()) if "T" in sweeps else ():
        for impl in ["fused", *graphs, "cudnn_fp16"]:
            run("T", impl, "lstm", fp16 if impl == "cudnn_fp16" else bf16, 16, T, 1, 768)

    # 4) large single heads, LSTM B=16, T=1024: fused where a tiling fits, else the alternating path
    for D in ((1024, 1280, 1536, 2048, 2560, 4096) if not a.quick else (1024, 2048)) if "large" in sweeps else ():
        for impl in impls + graphs + ["cudnn_fp16", "cudnn_bf16"]:
            run("large", impl, "lstm", fp16 if impl == "cudnn_fp16" else bf16, 16, 1024, 1, D)

    write_csv()

    # latency of the first call (fresh cache, new process) and of a cached one
    lat1 = lat2 = NAN
    if not a.no_latency:
        cache = tempfile.mkdtemp(prefix="frnn_cache_")
        lat1 = first_call_latency(cache)
        lat2 = first_call_latency(cache)
        with open(out / "first_call_latency.csv", "w") as fh:
            fh.write(f"case,seconds\nfirst_call_new_cache,{lat1:.3f}\ncached_new_process,{lat2:.3f}\n")

    try:
        plot(kept + rows, out)
    except Exception as e:  # matplotlib missing or headless trouble: the CSV is what matters
        print("plot failed:", e)

    # table with ratios to cuDNN float16 (same sweep point with heads 1x768)
    print("\n== summary (ms; ratio = cuDNN fp16 / impl in the same method and hidden size, >1 is faster "
          "than cuDNN) ==")
    def point(r):  # cuDNN runs one head of the whole hidden size
        return r["sweep"], r["cell"], r["B"], r["T"], r["heads"] * r["head_dim"]

    cud = {point(r): r for r in rows if r["impl"] == "cudnn_fp16"}
    cols = [k for k in TIMES if any(not math.isnan(r[k]) for r in rows)]
    print(f"{'sweep':6s} {'impl':12s} {'cell':5s} {'B':>4s} {'T':>5s} {'NxD':>7s} "
          + " ".join(f"{k.removesuffix('_ms'):>13s}" for k in cols)
          + " " + " ".join(f"{'x ' + k.removesuffix('_ms'):>15s}" for k in cols))
    for r in rows:
        c = cud.get(point(r))
        ratios = [c[k] / r[k] if c else NAN for k in cols]
        print(f"{r['sweep']:6s} {r['impl']:12s} {r['cell']:5s} {r['B']:4d} {r['T']:5d} "
              f"{r['heads']:>3d}x{r['head_dim']:<4d}" + " ".join(f"{r[k]:13.3f}" for k in cols)
              + " " + " ".join(f"{x:15.2f}" for x in ratios))
    print(f"first call (config + compile, new process): {lat1:.2f} s; cached, new process: {lat2:.2f} s")


def plot(rows, out: Path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 4, figsize=(21, 4.5))
    # heads sweep, LSTM
    ax = axes[0]
    hs = [r for r in rows if r["sweep"] == "heads" and r["cell"] == "lstm"]
    ours = ("fused", "alternating", "alternating_graphs")
    splits = sorted({(r["heads"], r["head_dim"]) for r in hs if r["impl"] in ours})
    labels = [f"{n}x{d}" for n, d in splits]  # by number of heads
    for impl in ours:
        ys = [next((r["fwd_ms"] for r in hs if r["impl"] == impl and (r["heads"], r["head_dim"]) == sp),
                   float("nan")) for sp in splits]
        ax.plot(labels, ys, "o-", label=f"{impl} bf16")
    for impl in ("cudnn_fp16", "cudnn_bf16"):
        v = next((r["fwd_ms"] for r in hs if r["impl"] == impl), None)
        if v is not None:
            ax.axhline(v, ls="--", label=f"{impl} (1x768)", color="gray" if impl == "cudnn_fp16" else "k")
    ax.set_yscale("log")
    ax.set_title("LSTM forward, B=16, T=1024, hidden 768")
    ax.set_ylabel("ms")
    ax.set_xlabel("heads x head dim")
    ax.legend(fontsize=8)
    for ax, sweep, key, title in ((axes[1], "batch", "B", "LSTM 1x768, T=1024: batch"),
                                  (axes[2], "T", "T", "LSTM 1x768, B=16: sequence length"),
                                  (axes[3], "large", "head_dim", "LSTM 1 head, B=16, T=1024: head size")):
        rs = [r for r in rows if r["sweep"] == sweep]
        for impl in sorted({r["impl"] for r in rs}):
            pts = sorted((r[key], r["fwd_ms"], r["fwdbwd_ms"]) for r in rs if r["impl"] == impl)
            ax.plot([p[0] for p in pts], [p[1] for p in pts], "o-", label=f"{impl} fwd")
            ax.plot([p[0] for p in pts], [p[2] for p in pts], "s--", label=f"{impl} fwd+bwd")
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        ax.set_title(title)
        ax.set_ylabel("ms")
        ax.set_xlabel(key)
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out / "rnn_speed.png", dpi=110)


if __name__ == "__main__":
    main()
