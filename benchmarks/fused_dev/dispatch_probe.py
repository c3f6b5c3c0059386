"""Host cost of each piece of a flashrnn() call on the fused backend (us per call, T=1).

python benchmarks/fused_dev/dispatch_probe.py
"""
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from check import make_inputs  # noqa: E402
from overhead import per_call_us  # noqa: E402

from flashrnn_kernels import api, flashrnn  # noqa: E402
from flashrnn_kernels.backends import fused, get_backend, select_backend  # noqa: E402
from flashrnn_kernels.cells import get_cell  # noqa: E402


def main():
    Wx, R, b, s0 = make_inputs("lstm", 16, 1, 12, 64, torch.bfloat16, "cuda", 0)
    cell = get_cell("lstm")
    be = get_backend("fused")
    with torch.no_grad():
        _, call = api.validate(Wx, R, b, s0, "lstm")
        cfg = fused.config_for(cell, Wx, "f")
        lib = fused.load_library(cfg, fused._device_arch(Wx.device))
        rows = {
            "flashrnn(backend='fused')": lambda: flashrnn(Wx, R, b, s0, cell="lstm", backend="fused"),
            "flashrnn(backend='auto')": lambda: flashrnn(Wx, R, b, s0, cell="lstm"),
            "validate": lambda: api.validate(Wx, R, b, s0, "lstm"),
            "_dispatch": lambda: api._dispatch(Wx, R, b, s0, "lstm", "fused"),
            "select_backend(fused)": lambda: select_backend(call, "fused"),
            "fused supports": lambda: be.supports(call),
            "backend.run": lambda: be.run(Wx, R, b, s0, cell),
            "forward_chunked": lambda: fused.forward_chunked(Wx, R, b, s0, cell, False),
            "fused_forward(config)": lambda: fused.fused_forward(Wx, R, b, s0, cell, False, cfg),
            "torch.cuda.is_available": torch.cuda.is_available,
            "current_stream": lambda: torch.cuda.current_stream(Wx.device).cuda_stream,
            "with torch.cuda.device": lambda: torch.cuda.device(Wx.device).__enter__(),
            "_exchange": lambda: fused._exchange(lib, 16, 12, False, Wx.device),
            "torch.empty": lambda: torch.empty((2, 16, 1, 12, 64), dtype=Wx.dtype, device=Wx.device),
            "lib.frnn_xch_bytes": lambda: lib.frnn_xch_bytes(16, 12, 0),
        }
        for name, fn in rows.items():
            print(f"{name:28s} {per_call_us(fn, 2000):8.1f} us/call", flush=True)


if __name__ == "__main__":
    main()
