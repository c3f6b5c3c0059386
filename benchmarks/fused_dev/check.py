"""Dev harness for the fused kernels on a GPU: build in parallel, check against float64, time.

python benchmarks/fused_dev/check.py [--quick] [--time]
Prints one line per case: relative errors (fused vs float64, reference-in-dtype vs float64) of
the forward states and each gradient, then a timing table.
"""
import argparse
import os
import sys
import time
from concurrent.futures import ThreadPoolExecutor

import torch

from flashrnn_kernels.backends import fused
from flashrnn_kernels.cells import get_cell
from flashrnn_kernels.reference import reference_forward

DT = {"bfloat16": torch.bfloat16, "float16": torch.float16, "float32": torch.float32}


def make_inputs(cell, B, T, N, D, dtype, dev, seed):
    g = torch.Generator(device="cpu").manual_seed(seed)
    c = get_cell(cell)
    G, S = c.num_gates, c.num_states
    Wx = torch.randn(B, T, G, N, D, generator=g) * 0.5
    R = torch.randn(G, N, D, D, generator=g) / D**0.5
    b = torch.randn(c.num_bias, N, D, generator=g) * 0.1
    s0 = torch.randn(S, B, 1, N, D, generator=g) * 0.5
    if c.name == "slstm":
        s0[2] = s0[2].abs() + 0.5  # normaliser > 0
    xs = [t.to(dtype).to(dev) for t in (Wx, R, b, s0)]
    return xs


def rel(a, b):
    a, b = a.double(), b.double()
    if not torch.isfinite(a).all():
        return float("nan")
    return ((a - b).norm() / b.norm().clamp_min(1e-30)).item()


def run_case(cell, dtname, B, T, N, D, seed=0):
    dev = "cuda"
    dtype = DT[dtname]
    xs = make_inputs(cell, B, T, N, D, dtype, dev, seed)
    g = torch.Generator(device="cpu").manual_seed(seed + 1)
    S = get_cell(cell).num_states
    dst = (torch.randn(S, B, T, N, D, generator=g) * 0.1).to(dtype).to(dev)
    dla = (torch.randn(S, B, 1, N, D, generator=g) * 0.1).to(dtype).to(dev)

    def grads(fn, inputs):
        ins = [t.detach().clone().requires_grad_(True) for t in inputs]
        st, la = fn(*ins)
        (st.double() * dst.double()).sum().add_((la.double() * dla.double()).sum()).backward()
        return [st, la] + [t.grad for t in ins]

    ref64 = grads(lambda *a: reference_forward(*a, cell=cell), [t.double() for t in xs])
    if dtname == "float32":  # the kernel's products are tf32: reference with tf32-rounded operands
        sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "tests", "flashrnn_kernels"))
        from test_fused import _tf32_reference
        refdt = grads(lambda *a: _tf32_reference(*a, cell=cell), xs)
    else:
        refdt = grads(lambda *a: reference_forward(*a, cell=cell), xs)
    fused.POISON_OUTPUTS = True
    out = grads(lambda *a: fused.flashrnn_fused(*a, cell=cell), xs)
    torch.cuda.synchronize()
    names = ["states", "last", "dWx", "dR", "db", "ds0"]
    res = []
    worst = 0.0
    for nm, o, r, r64 in zip(names, out, refdt, ref64):
        e_f, e_r = rel(o, r64), rel(r, r64)
        ratio = e_f / max(e_r, 1e-7)
        worst = max(worst, ratio if e_f == e_f else float("inf"))
        res.append(f"{nm}={e_f:.1e}/{e_r:.1e}")
    return worst, " ".join(res)


def time_fn(fn, reps=20, warm=3):
    for _ in range(warm):
        fn()
    torch.cuda.synchronize()
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


def prebuild(cases):
    cfgs = {}
    for cell, dt, B, T, N, D in cases:
        try:
            for k in "fb":
                cfgs[fused.batch_plan(get_cell(cell), dt, B, N, D, k)[1]] = 1
        except Exception as e:
            print("no config", cell, dt, B, N, D, e)
    t0 = time.time()
    with ThreadPoolExecutor(16) as ex:
        list(ex.map(fused.ensure_built, cfgs))
    print(f"built {len(cfgs)} configs in {time.time() - t0:.1f}s", flush=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--time", action="store_true")
    ap.add_argument("--cells", default="lstm,gru,slstm,elman")
    ap.add_argument("--prebuild-only", action="store_true",
                    help="only build (in parallel) the configs of tests/flashrnn_kernels/test_fused.py "
                         "and benchmarks/rnn_speed.py into the cache, then exit")
    a = ap.parse_args()
    if a.prebuild_only:
        sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "tests", "flashrnn_kernels"))
        from test_fused import CELLS, DT as TDT, SHAPES
        cases = [(c, dt, B, T, N, D) for c in CELLS for dt in TDT for (B, T, N, D) in SHAPES]
        cases += [("lstm", "bfloat16", 4, 9, 2, 64), ("lstm", "bfloat16", 3, 8192, 2, 64)]
        for c in CELLS:
            for N, D in ((1, 768), (3, 256), (12, 64), (24, 32)):
                cases.append((c, "bfloat16", 16, 1024, N, D))
        for B in (2, 16, 64, 256):
            cases.append(("lstm", "bfloat16", B, 1024, 1, 768))
        prebuild(cases)
        return
    cells = a.cells.split(",")
    cases = []
    for cell in cells:
        for dt in ("bfloat16", "float16", "float32"):
            shapes = [(3, 7, 2, 64), (16, 33, 1, 768), (33, 7, 1, 200), (1, 5, 1, 32), (16, 40, 12, 64)]
            if a.quick:
                shapes = shapes[:3]
            for B, T, N, D in shapes:
                cases.append((cell, dt, B, T, N, D))
    timing = [("lstm", "bfloat16", 16, 1024, 1, 768), ("lstm", "bfloat16", 16, 1024, 12, 64),
              ("lstm", "bfloat16", 64, 1024, 1, 768), ("gru", "bfloat16", 16, 1024, 1, 768),
              ("slstm", "bfloat16", 16, 1024, 1, 768), ("elman", "bfloat16", 16, 1024, 1, 768),
              ("lstm", "bfloat16", 16, 1024, 3, 256), ("lstm", "bfloat16", 16, 1024, 24, 32)]
    prebuild(cases + (timing if a.time else []))
    for case in cases:
        try:
            worst, msg = run_case(*case)
            flag = "OK " if worst <= 2.0 else "BAD"
        except Exception as e:  # keep going
            worst, msg, flag = float("inf"), f"ERROR {type(e).__name__}: {str(e)[:300]}", "ERR"
        print(f"{flag} {case[0]:5s} {case[1]:8s} B{case[2]} T{case[3]} {case[4]}x{case[5]} "
              f"worst={worst:.2f} {msg}", flush=True)
    if a.time:
        print("\ntiming (ms, median)")
        for cell, dt, B, T, N, D in timing:
            xs = make_inputs(cell, B, T, N, D, DT[dt], "cuda", 0)
            fused.POISON_OUTPUTS = False
            try:
                cfg = fused.batch_plan(get_cell(cell), dt, B, N, D, "f")[1]
                with torch.no_grad():
                    tf = time_fn(lambda: fused.flashrnn_fused(*xs, cell=cell))
                ins = [t.detach().clone().requires_grad_(True) for t in xs]

                def fb():
                    st, la = fused.flashrnn_fused(*ins, cell=cell)
                    st.sum().backward()
                tfb = time_fn(fb, reps=10)
                print(f"{cell:5s} {dt} B{B} T{T} {N}x{D}: fwd {tf:.3f} fwd+bwd {tfb:.3f} "
                      f"(U={cfg.units} ns={cfg.nslice} bt={cfg.bt})", flush=True)
            except Exception as e:
                print(f"{cell} {N}x{D} B{B}: ERROR {e}", flush=True)


if __name__ == "__main__":
    main()
