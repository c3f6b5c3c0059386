"""GPU memory of the fused LSTM at a large batch: peak per stage, and on failure the largest live
allocations with the Python lines that made them; then the same point through
benchmarks/rnn_speed.py's timing function.

python benchmarks/fused_dev/memprobe.py [B] [T]
"""
import sys
from pathlib import Path

import torch

from flashrnn_kernels import flashrnn


def gib(x):
    return f"{x / 2**30:.2f} GiB"


def largest_live(n=12):
    snap = torch.cuda.memory._snapshot()
    blocks = []
    for seg in snap["segments"]:
        for blk in seg["blocks"]:
            if blk["state"] == "active_allocated":
                frames = [f"{f['filename'].split('/')[-1]}:{f['line']} {f['name']}"
                          for f in blk.get("frames", [])
                          if any(k in f["filename"] for k in ("flashrnn", "bench", "rnn_speed"))]
                blocks.append((blk["size"], frames[:4]))
    blocks.sort(key=lambda x: -x[0])
    for size, frames in blocks[:n]:
        print(f"  {gib(size)}  {' <- '.join(frames)}")


def main():
    B = int(sys.argv[1]) if len(sys.argv) > 1 else 256
    T = int(sys.argv[2]) if len(sys.argv) > 2 else 1024
    torch.cuda.memory._record_memory_history(max_entries=200000)
    mk = lambda: [torch.randn(B, T, 4, 1, 768, device="cuda", dtype=torch.bfloat16) * 0.5,
                  torch.randn(4, 1, 768, 768, device="cuda", dtype=torch.bfloat16) / 28]
    try:
        Wx, R = mk()
        torch.cuda.reset_peak_memory_stats()
        with torch.no_grad():
            st, la = flashrnn(Wx, R, cell="lstm", backend="fused")
        torch.cuda.synchronize()
        print(f"B={B} T={T} no-grad forward: peak {gib(torch.cuda.max_memory_allocated())}, "
              f"held {gib(torch.cuda.memory_allocated())}", flush=True)
        del st, la
        Wx.requires_grad_(True)
        R.requires_grad_(True)
        torch.cuda.reset_peak_memory_stats()
        st, la = flashrnn(Wx, R, cell="lstm", backend="fused")
        torch.cuda.synchronize()
        print(f"forward with grad: peak {gib(torch.cuda.max_memory_allocated())}", flush=True)
        st[0].float().sum().backward()
        torch.cuda.synchronize()
        print(f"backward: peak {gib(torch.cuda.max_memory_allocated())}, "
              f"held {gib(torch.cuda.memory_allocated())}", flush=True)
    except torch.OutOfMemoryError as e:
        print("OOM:", str(e)[:160])
        largest_live()
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    import rnn_speed
    Wx = R = st = la = None  # noqa: F841 - free the first part's tensors
    torch.cuda.empty_cache()
    try:
        f, fb = rnn_speed.time_backend("fused", "lstm", B, T, 1, 768, torch.bfloat16)
        print(f"rnn_speed.time_backend: fwd {f:.3f} ms, fwd+bwd {fb:.3f} ms, "
              f"held {gib(torch.cuda.memory_allocated())}")
    except torch.OutOfMemoryError as e:
        print("rnn_speed.time_backend OOM:", str(e)[:300])
        largest_live()


if __name__ == "__main__":
    main()
