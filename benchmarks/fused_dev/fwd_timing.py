"""Where a forward step goes: builds the forward with -DFRNN_FWD_TIMING=1 (plus extra defines from
the command line) and runs it once at T1024; lane 0 of each warp of blocks 0, 1, 16, 17, ... prints
the mean SM cycles per step of each part (barrier, poll and its load rounds, GEMM, barrier,
pointwise, publish, stores).

python benchmarks/fused_dev/fwd_timing.py [cell B N D] [U=12 BT=16] [FRNN_POLL_GROUP=4 ...]
"""
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from check import make_inputs  # noqa: E402
from variants import build  # noqa: E402

from flashrnn_kernels.backends import fused  # noqa: E402


def main():
    args = sys.argv[1:]
    cell, B, N, D, T = "lstm", 16, 1, 768, 1024
    if len(args) >= 4 and "=" not in args[0]:
        cell, B, N, D = args[0], int(args[1]), int(args[2]), int(args[3])
        args = args[4:]
    tiling = {k: int(a.split("=")[1]) for a in args for k in ("U", "BT") if a.startswith(k + "=")}
    extra = tuple(["FRNN_FWD_TIMING=1", *(a for a in args if a.split("=")[0] not in tiling)])
    _, cfg, path, err = build((cell, B, N, D, "f", tiling.get("U"), tiling.get("BT"), extra))
    if path is None:
        raise SystemExit(err)
    Wx, R, b, s0 = make_inputs(cell, B, T, N, D, torch.bfloat16, "cuda", 0)
    lib = fused.open_library(path)
    fused.load_library = lambda config, arch=None: lib
    print(f"== {cell} B{B} {N}x{D}", cfg, " ".join(extra), flush=True)
    fused.fused_forward(Wx, R, b, s0, cell, False, cfg)
    torch.cuda.synchronize()


if __name__ == "__main__":
    main()
