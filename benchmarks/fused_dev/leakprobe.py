"""Held GPU memory after repeated forward+backward calls of the fused LSTM (registry and
autograd.Function paths); then the live CUDA tensors over 256 MiB and what refers to them."""
import gc

import torch

from flashrnn_kernels import flashrnn
from flashrnn_kernels.backends import fused


def gib(): return f"{torch.cuda.memory_allocated()/2**30:.2f}"
for B in (16, 256):
    for path in ("registry", "function"):
        Wx = (torch.randn(B, 1024, 4, 1, 768, device="cuda", dtype=torch.bfloat16) * 0.5).requires_grad_(True)
        R = (torch.randn(4, 1, 768, 768, device="cuda", dtype=torch.bfloat16) / 28).requires_grad_(True)
        b = torch.zeros(4, 1, 768, device="cuda", dtype=torch.bfloat16).requires_grad_(True)
        s0 = torch.zeros(2, B, 1, 1, 768, device="cuda", dtype=torch.bfloat16).requires_grad_(True)
        out = []
        for i in range(4):
            if path == "registry":
                st, la = flashrnn(Wx, R, b, s0, cell="lstm", backend="fused")
            else:
                st, la = fused.flashrnn_fused(Wx, R, b, s0, cell="lstm")
            st[0].float().sum().backward()
            del st, la
            gc.collect()
            out.append(gib())
        print(f"B={B} {path}: held after each fb call (GiB): {out}", flush=True)
        del Wx, R, b, s0
        gc.collect(); torch.cuda.empty_cache()
        print(f"   after freeing inputs: {gib()}", flush=True)
big = [o for o in gc.get_objects() if isinstance(o, torch.Tensor) and o.is_cuda and o.numel() * o.element_size() > 2**28]
print("live CUDA tensors > 256 MiB:", len(big))
for t in big[:6]:
    refs = [type(r).__name__ + (":" + ",".join(list(r.keys())[:8]) if isinstance(r, dict) else "") for r in gc.get_referrers(t) if r is not big]
    print(" ", tuple(t.shape), t.dtype, "referrers:", refs[:6])
    for r in gc.get_referrers(t):
        if isinstance(r, (list, tuple)) and r is not big:
            print("    container len", len(r), "held by", [type(x).__name__ for x in gc.get_referrers(r)][:5])
