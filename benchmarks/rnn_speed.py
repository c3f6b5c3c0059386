"""Speed of the RNN backends on one GPU: forward and forward+backward, CUDA events, median.

    python benchmarks/rnn_speed.py [--out docs/benchmarks] [--quick]

Compares the fused and alternating backends, the PyTorch reference (small points only) and
torch.nn.LSTM / torch.nn.GRU (cuDNN) in float16 and bfloat16, over sweeps like the FlashRNN paper
(B=16, T=1024, hidden 768 split as 1x768, 3x256, 12x64, 24x32; batch 2..256; T 256..4096).
Writes rnn_speed.csv and PNG plots to --out, prints a table with ratios to cuDNN float16, and
measures the first-call latency (config + compile in a fresh process) and the cached one.
A run of some sweeps only (--sweeps) keeps the rows of the other sweeps already in the CSV.
"""
from __future__ import annotations

import argparse
import csv
import gc
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from flashrnn_kernels.cells import get_cell  # noqa: E402
from flashrnn_kernels.reference import reference_forward  # noqa: E402


def bench(fn, reps=7, warm=2, budget_s=6.0):
    """Median time in ms of fn() with CUDA events (reps reduced if one call is slow)."""
    t0 = time.time()
    for _ in range(warm):
        fn()
    torch.cuda.synchronize()
    one = (time.time() - t0) / max(warm, 1)
    reps = max(3, min(reps, int(budget_s / max(one, 1e-4))))
    ts = []
    for _ in range(reps):
        a, b = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        a.record()
        fn()
        b.record()
        torch.cuda.synchronize()
        ts.append(a.elapsed_time(b))
    ts.sort()
    return ts[len(ts) // 2]


def inputs(cell, B, T, N, D, dtype, grad=False):
    c = get_cell(cell)
    Wx = torch.randn(B, T, c.num_gates, N, D, device="cuda", dtype=dtype) * 0.5
    R = torch.randn(c.num_gates, N, D, D, device="cuda", dtype=dtype) / D**0.5
    b = torch.randn(c.num_bias, N, D, device="cuda", dtype=dtype) * 0.1
    s0 = torch.zeros(c.num_states, B, 1, N, D, device="cuda", dtype=dtype)
    xs = [Wx, R, b, s0]
    if grad:
        xs = [t.requires_grad_(True) for t in xs]
    return xs


def time_backend(backend, cell, B, T, N, D, dtype):
    from flashrnn_kernels import flashrnn

    xs = inputs(cell, B, T, N, D, dtype)
    with torch.no_grad():
        f = bench(lambda: flashrnn(*xs, cell=cell, backend=backend))
    xg = inputs(cell, B, T, N, D, dtype, grad=True)

    def fb():
        st, la = flashrnn(*xg, cell=cell, backend=backend)
        st[0].float().sum().backward()
    fbt = bench(fb, reps=5)
    return f, fbt


def time_reference(cell, B, T, N, D, dtype):
    xs = inputs(cell, B, T, N, D, dtype)
    with torch.no_grad():
        f = bench(lambda: reference_forward(*xs, cell=cell), reps=3, warm=1)
    xg = inputs(cell, B, T, N, D, dtype, grad=True)

    def fb():
        st, la = reference_forward(*xg, cell=cell)
        st[0].float().sum().backward()
    return f, bench(fb, reps=3, warm=1)


def time_cudnn(cell, B, T, H, dtype):
    mod = {"lstm": torch.nn.LSTM, "gru": torch.nn.GRU}[cell](H, H, batch_first=True)
    mod = mod.cuda().to(dtype)
    x = torch.randn(B, T, H, device="cuda", dtype=dtype)
    with torch.no_grad():
        f = bench(lambda: mod(x), reps=5)
    xg = x.clone().requires_grad_(True)

    def fb():
        out, _ = mod(xg)
        out.float().sum().backward()
    return f, bench(fb, reps=5)


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


SWEEPS = ("heads", "batch", "T")
FIELDS = ["sweep", "impl", "cell", "dtype", "B", "T", "heads", "head_dim", "fwd_ms", "fwdbwd_ms"]


def read_rows(path: Path) -> list[dict]:
    """The rows of an existing rnn_speed.csv (numbers parsed), or none."""
    if not path.exists():
        return []
    with open(path, newline="") as fh:
        rows = list(csv.DictReader(fh))
    for r in rows:
        for k in ("B", "T", "heads", "head_dim"):
            r[k] = int(r[k])
        for k in ("fwd_ms", "fwdbwd_ms"):
            r[k] = float(r[k])
    return rows


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=str(ROOT / "docs" / "benchmarks"))
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--no-alternating", action="store_true")
    ap.add_argument("--sweeps", default="heads,batch,T",
                    help="comma-separated subset of: heads, batch, T (the CSV keeps the rows of "
                         "the others)")
    a = ap.parse_args()
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

    def add(sweep, impl, cell, dtype, B, T, N, D, f, fb):
        rows.append(dict(sweep=sweep, impl=impl, cell=cell, dtype=str(dtype).replace("torch.", ""),
                         B=B, T=T, heads=N, head_dim=D, fwd_ms=f, fwdbwd_ms=fb))
        write_csv()  # after every point, so that an interrupted run keeps what it measured
        print(f"{sweep:6s} {impl:12s} {cell:5s} {rows[-1]['dtype']:8s} B={B:<3d} T={T:<4d} "
              f"{N}x{D:<4d} fwd {f:8.3f} ms  fwd+bwd {fb:8.3f} ms  "
              f"(GPU memory held after: {torch.cuda.memory_allocated() / 2**30:.2f} GiB)", flush=True)

    def run(sweep, impl, cell, dtype, B, T, N, D):
        try:
            if impl in ("fused", "alternating"):
                f, fb = time_backend(impl, cell, B, T, N, D, dtype)
            elif impl == "reference":
                f, fb = time_reference(cell, B, T, N, D, dtype)
            else:
                f, fb = time_cudnn(cell, B, T, N * D, dtype)
        except Exception as e:  # a point that cannot run is recorded as missing
            print(f"{sweep} {impl} {cell} B={B} T={T} {N}x{D}: {type(e).__name__}: {str(e)[:200]}")
            f = fb = float("nan")
        gc.collect()  # tensors kept alive by reference cycles (exception tracebacks, closures)
        torch.cuda.empty_cache()
        add(sweep, impl, cell, dtype, B, T, N, D, f, fb)

    impls = ["fused"] + ([] if a.no_alternating else ["alternating"])
    heads = [(1, 768), (3, 256), (12, 64), (24, 32)]
    # 1) heads sweep, B=16, T=1024, all cells
    for cell in ("lstm", "gru", "slstm", "elman") if "heads" in sweeps else ():
        for N, D in heads if not a.quick else heads[:1] + heads[2:3]:
            for impl in impls:
                run("heads", impl, cell, bf16, 16, 1024, N, D)
        if cell in ("lstm", "gru"):
            run("heads", "cudnn_fp16", cell, fp16, 16, 1024, 1, 768)
            run("heads", "cudnn_bf16", cell, bf16, 16, 1024, 1, 768)
        run("heads", "reference", cell, bf16, 16, 1024 if cell == "lstm" else 256, 1, 768)
    # 2) batch sweep, LSTM 1x768, T=1024
    for B in ((2, 16, 64, 256) if not a.quick else (64,)) if "batch" in sweeps else ():
        for impl in ["fused", "cudnn_fp16"]:
            run("batch", impl, "lstm", fp16 if impl == "cudnn_fp16" else bf16, B, 1024, 1, 768)
    # 3) sequence-length sweep, LSTM 1x768, B=16
    for T in ((256, 4096) if not a.quick else ()) if "T" in sweeps else ():
        for impl in ["fused", "cudnn_fp16"]:
            run("T", impl, "lstm", fp16 if impl == "cudnn_fp16" else bf16, 16, T, 1, 768)

    write_csv()

    # latency of the first call (fresh cache, new process) and of a cached one
    cache = tempfile.mkdtemp(prefix="frnn_cache_")
    lat1 = first_call_latency(cache)
    lat2 = first_call_latency(cache)
    with open(out / "first_call_latency.csv", "w") as fh:
        fh.write("case,seconds\nfirst_call_new_cache,%.3f\ncached_new_process,%.3f\n" % (lat1, lat2))

    try:
        plot(kept + rows, out)
    except Exception as e:  # matplotlib missing or headless trouble: the CSV is what matters
        print("plot failed:", e)

    # table with ratios to cuDNN float16 (same sweep point with heads 1x768)
    print("\n== summary (ms; ratio = cuDNN fp16 / impl, >1 is faster than cuDNN) ==")
    cud = {(r["sweep"], r["cell"], r["B"], r["T"]): r for r in rows if r["impl"] == "cudnn_fp16"}
    print(f"{'sweep':6s} {'impl':12s} {'cell':5s} {'B':>4s} {'T':>5s} {'NxD':>7s} {'fwd':>9s} "
          f"{'fwd+bwd':>9s} {'x cuDNN f':>9s} {'x cuDNN fb':>10s}")
    for r in rows:
        c = cud.get((r["sweep"], r["cell"], r["B"], r["T"]))
        rf = c["fwd_ms"] / r["fwd_ms"] if c else float("nan")
        rfb = c["fwdbwd_ms"] / r["fwdbwd_ms"] if c else float("nan")
        print(f"{r['sweep']:6s} {r['impl']:12s} {r['cell']:5s} {r['B']:4d} {r['T']:5d} "
              f"{r['heads']:>3d}x{r['head_dim']:<4d}{r['fwd_ms']:9.3f} {r['fwdbwd_ms']:9.3f} "
              f"{rf:9.2f} {rfb:10.2f}")
    print(f"first call (config + compile, new process): {lat1:.2f} s; cached, new process: {lat2:.2f} s")


def plot(rows, out: Path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(16, 4.5))
    # heads sweep, LSTM
    ax = axes[0]
    hs = [r for r in rows if r["sweep"] == "heads" and r["cell"] == "lstm"]
    splits = sorted({(r["heads"], r["head_dim"]) for r in hs if r["impl"] in ("fused", "alternating")})
    labels = [f"{n}x{d}" for n, d in splits]  # by number of heads
    for impl in ("fused", "alternating"):
        ys = [next((r["fwd_ms"] for r in hs if r["impl"] == impl and (r["heads"], r["head_dim"]) == sp),
                   float("nan")) for sp in splits]
        ax.plot(labels, ys, "o-", label=f"{impl} bf16")
    for impl in ("cudnn_fp16", "cudnn_bf16"):
        v = next((r["fwd_ms"] for r in hs if r["impl"] == impl), None)
        if v is not None:
            ax.axhline(v, ls="--", label=f"{impl} (1x768)", color="gray" if impl == "cudnn_fp16" else "k")
    ax.set_yscale("log"); ax.set_title("LSTM forward, B=16, T=1024, hidden 768"); ax.set_ylabel("ms")
    ax.set_xlabel("heads x head dim"); ax.legend(fontsize=8)
    for ax, sweep, key, title in ((axes[1], "batch", "B", "LSTM 1x768, T=1024: batch"),
                                  (axes[2], "T", "T", "LSTM 1x768, B=16: sequence length")):
        rs = [r for r in rows if r["sweep"] == sweep]
        for impl in sorted({r["impl"] for r in rs}):
            pts = sorted((r[key], r["fwd_ms"], r["fwdbwd_ms"]) for r in rs if r["impl"] == impl)
            ax.plot([p[0] for p in pts], [p[1] for p in pts], "o-", label=f"{impl} fwd")
            ax.plot([p[0] for p in pts], [p[2] for p in pts], "s--", label=f"{impl} fwd+bwd")
        ax.set_xscale("log", base=2); ax.set_yscale("log"); ax.set_title(title); ax.set_ylabel("ms")
        ax.set_xlabel(key); ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out / "rnn_speed.png", dpi=110)


if __name__ == "__main__":
    main()
