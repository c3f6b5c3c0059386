"""Run one fused forward (or backward) a few times, for Nsight Compute to profile.

ncu -k regex:frnn_fwd -s 2 -c 1 --section WarpStateStats --section SourceCounters \
    python benchmarks/fused_dev/ncu_case.py lstm 16 12 64 f
Arguments: cell B N D f|b [T] [DEFINE=VALUE ...]; bfloat16, the chooser's tiling; extra
defines build a separate library (as benchmarks/fused_dev/variants.py does).
"""
import subprocess
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from check import make_inputs  # noqa: E402

from flashrnn_kernels.backends import fused  # noqa: E402


def main():
    cell, B, N, D, which = sys.argv[1], *map(int, sys.argv[2:5]), sys.argv[5]
    T = int(sys.argv[6]) if len(sys.argv) > 6 else 1024
    extra = tuple(f"-D{d}" for d in sys.argv[7:])
    Wx, R, b, s0 = make_inputs(cell, B, T, N, D, torch.bfloat16, "cuda", 0)
    if extra:
        from flashrnn_kernels.cells import get_cell
        cfg = fused.batch_plan(get_cell(cell), "bfloat16", B, N, D, which)[1]
        out = "/tmp/ncu_case_" + "_".join(d[2:] for d in extra) + ".so"
        subprocess.run(fused.nvcc_command(cfg, fused._native_arch(), out, extra), check=True)
        lib = fused.open_library(out)
        fused.load_library = lambda config, arch=None: lib
    if which == "f":
        with torch.no_grad():
            for _ in range(3):
                fused.fused_forward(Wx, R, b, s0, cell, False)
    else:
        states, last, cache = fused.fused_forward(Wx, R, b, s0, cell, True)
        ds = torch.randn_like(states)
        for _ in range(3):
            fused.fused_backward(R, b, s0, states, cache, ds, None, cell)
    torch.cuda.synchronize()


if __name__ == "__main__":
    main()
