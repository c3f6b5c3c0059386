"""Where a backward step goes: builds the backward with -DFRNN_BWD_TIMING=1 (plus extra defines
from the command line) and runs it once for LSTM 1x768 B16 T1024; the kernel prints, from every
16th block, the mean SM cycles per step spent waiting for the step flags, for the operand copy,
and computing.

python benchmarks/fused_dev/bwd_timing.py [FRNN_CLUSTER=8 ...]
"""
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from check import make_inputs  # noqa: E402
from variants import build  # noqa: E402

from flashrnn_kernels.backends import fused  # noqa: E402


def main():
    extra = tuple(["FRNN_BWD_TIMING=1", *sys.argv[1:]])
    cell, B, N, D, T = "lstm", 16, 1, 768, 1024
    _, cfg, path, err = build((cell, B, N, D, "b", None, None, extra))
    if path is None:
        raise SystemExit(err)
    Wx, R, b, s0 = make_inputs(cell, B, T, N, D, torch.bfloat16, "cuda", 0)
    states, _, cache = fused.fused_forward(Wx, R, b, s0, cell, True)
    lib = fused.open_library(path)
    fused.load_library = lambda config, arch=None: lib
    ds = torch.randn_like(states)
    print(" ".join(extra), "cluster", lib.frnn_bwd_cluster(B, N), flush=True)
    fused.fused_backward(R, b, s0, states, cache, ds, None, cell, (B, cfg))
    torch.cuda.synchronize()


if __name__ == "__main__":
    main()
