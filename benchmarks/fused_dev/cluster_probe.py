"""How many thread-block clusters of NSLICE blocks the GPU holds at once for the forward kernel
(frnn_fwd_cluster), for LSTM bf16 tilings of 16 units per block (D = 16 * NSLICE, BT 8).

python benchmarks/fused_dev/cluster_probe.py
"""
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from flashrnn_kernels.backends import fused
from flashrnn_kernels.cells import get_cell

SLICES = (2, 3, 4, 6, 8, 10, 11, 12, 13, 16)


def build(ns):
    cfg = fused._make(get_cell("lstm"), 0, 16 * ns, 16, 8)
    out = Path("/tmp/frnn_probe") / f"ns{ns}.so"
    out.parent.mkdir(exist_ok=True, parents=True)
    r = subprocess.run(fused.nvcc_command(cfg, fused._native_arch(), str(out)), capture_output=True,
                       text=True)
    return ns, cfg, (out if r.returncode == 0 else r.stderr[-800:])


def main():
    with ThreadPoolExecutor(16) as ex:
        built = list(ex.map(build, SLICES))
    print("NSLICE  smem(B)  clusters held at once (batch 8, heads N: the most N with a cluster launch)")
    for ns, cfg, out in built:
        if not isinstance(out, Path):
            print(ns, "BUILD FAILED", out)
            continue
        lib = fused.open_library(out)
        most = max((n for n in range(1, 133) if lib.frnn_fwd_cluster(8, n) == ns), default=0)
        print(f"{ns:6d}  {lib.frnn_smem_fwd():7d}  {most}")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
