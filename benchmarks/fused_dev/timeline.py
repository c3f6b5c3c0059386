"""Where the wall time of one forward+backward goes: GPU kernels against idle GPU.

For the fused backend and torch.nn.LSTM/GRU (cuDNN), each iteration as rnn_speed.py times it
(CUDA events around the call): the event time, the GPU-busy time (union of kernel intervals in a
torch.profiler trace), the time from the iteration's start to its first kernel, and the largest
idle gaps between kernels with their neighbours.

python benchmarks/fused_dev/timeline.py [cell B N D]
"""
import json
import sys
import tempfile
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from rnn_speed import bench, inputs  # noqa: E402

from flashrnn_kernels import flashrnn  # noqa: E402


def trace(fn, iters=5):
    """Kernels [(start_us, end_us, name)] and iteration marks [(start_us, end_us)] of iters calls."""
    for _ in range(3):
        fn()
    torch.cuda.synchronize()
    acts = [torch.profiler.ProfilerActivity.CPU, torch.profiler.ProfilerActivity.CUDA]
    with torch.profiler.profile(activities=acts) as prof:
        for _ in range(iters):
            with torch.profiler.record_function("iteration"):
                fn()
            torch.cuda.synchronize()
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "trace.json"
        prof.export_chrome_trace(str(path))
        events = json.loads(path.read_text())["traceEvents"]
    kernels, marks = [], []
    for e in events:
        if e.get("ph") != "X":
            continue
        if e.get("cat") in ("kernel", "gpu_memcpy", "gpu_memset"):
            kernels.append((e["ts"], e["ts"] + e["dur"], e["name"]))
        elif e.get("name") == "iteration" and e.get("cat") == "user_annotation":
            marks.append((e["ts"], e["ts"] + e["dur"]))
    kernels.sort()
    marks.sort()
    return kernels, marks


def summarise(label, kernels, marks):
    busy_all, lead_all, gaps_all = [], [], []
    for i, (m0, _) in enumerate(marks):
        m_end = marks[i + 1][0] if i + 1 < len(marks) else float("inf")
        ks = [k for k in kernels if m0 <= k[0] < m_end]
        if not ks:
            continue
        busy, cur0, cur1, gaps = 0.0, ks[0][0], ks[0][1], []
        prev = ks[0]
        for k in ks[1:]:
            if k[0] > cur1:
                busy += cur1 - cur0
                gaps.append((k[0] - cur1, prev[2][:40], k[2][:40]))
                cur0, cur1 = k[0], k[1]
            else:
                cur1 = max(cur1, k[1])
            prev = k
        busy += cur1 - cur0
        busy_all.append(busy / 1000)
        lead_all.append((ks[0][0] - m0) / 1000)
        gaps_all.append(sorted(gaps, reverse=True))
    med = lambda xs: sorted(xs)[len(xs) // 2]  # noqa: E731
    print(f"{label:28s} gpu busy {med(busy_all):6.3f} ms  first kernel after {med(lead_all):6.3f} ms  "
          f"kernels/iter {len(kernels) // max(len(marks), 1)}")
    for g, a, b in gaps_all[len(gaps_all) // 2][:4]:
        print(f"    gap {g / 1000:6.3f} ms  after {a!r} before {b!r}")


def main():
    cell = sys.argv[1] if len(sys.argv) > 1 else "lstm"
    B, N, D = (int(a) for a in sys.argv[2:5]) if len(sys.argv) > 4 else (16, 1, 768)
    T, H = 1024, N * D
    xg = inputs(cell, B, T, N, D, torch.bfloat16, grad=True)

    def ours():
        st, la = flashrnn(*xg, cell=cell, backend="fused")
        st[0].float().sum().backward()

    def ours_no_accumulate():
        for t in xg:
            t.grad = None
        ours()

    mod = {"lstm": torch.nn.LSTM, "gru": torch.nn.GRU}[cell](H, H, batch_first=True)
    mod = mod.cuda().half()
    x = torch.randn(B, T, H, device="cuda", dtype=torch.half, requires_grad=True)

    def cudnn():
        out, _ = mod(x)
        out.float().sum().backward()

    def cudnn_no_accumulate():
        x.grad = None
        mod.zero_grad(set_to_none=True)
        cudnn()

    xs = inputs(cell, B, T, N, D, torch.bfloat16)

    def ours_forward():
        with torch.no_grad():
            flashrnn(*xs, cell=cell, backend="fused")

    def cudnn_forward():
        with torch.no_grad():
            mod(x)

    rows = [("fused bf16 forward", ours_forward), ("cudnn fp16 forward", cudnn_forward),
            ("fused bf16", ours), ("fused bf16, grads None", ours_no_accumulate),
            ("cudnn fp16", cudnn), ("cudnn fp16, grads None", cudnn_no_accumulate)]
    print(f"== {cell} B{B} {N}x{D} T{T} (forward+backward unless named)")
    for label, fn in rows:
        print(f"{label:28s} event time {bench(fn, reps=7):6.3f} ms")
    for label, fn in rows:
        summarise(label, *trace(fn))


if __name__ == "__main__":
    main()
