"""Print the chosen fused config and ptxas's resource report for a list of problems (no GPU)."""
import re
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

from flashrnn_kernels.backends import fused

PROBLEMS = [(c, dt, B, N, D) for c in ("lstm", "gru", "slstm", "elman")
            for dt in ("bfloat16", "float16", "float32")
            for (B, N, D) in ((16, 1, 768), (16, 12, 64), (16, 3, 256), (16, 24, 32), (33, 1, 200),
                              (3, 2, 64), (64, 1, 768), (1, 1, 32))]
if len(sys.argv) > 1:
    PROBLEMS = [p for p in PROBLEMS if p[0] in sys.argv[1:]]


def report(p):
    c, dt, B, N, D = p
    try:
        cfg = fused.choose_config(c, dt, B, N, D)
    except Exception as e:
        return f"{p}: {e}"
    cmd = fused.nvcc_command(cfg, "90a", "/tmp/x.cubin")
    cmd = [a for a in cmd if a not in ("-shared", "-Xcompiler", "-fPIC")]
    cmd[cmd.index("-o"):cmd.index("-o")] = ["-cubin", "-Xptxas", "-v"]
    cmd[cmd.index("-o") + 1] = f"/tmp/x_{c}_{dt}_{B}_{N}_{D}.cubin"
    r = subprocess.run(cmd, capture_output=True, text=True)
    regs = re.findall(r"Used (\d+) registers", r.stderr)
    spill = re.findall(r"(\d+) bytes spill stores", r.stderr)
    return (f"{c:5s} {dt:8s} B{B:<3d} {N}x{D:<4d} U={cfg.units:<3d} ns={cfg.nslice:<3d} bt={cfg.bt:<2d} "
            f"f={cfg.fwd_wm}x{cfg.fwd_wk} b={cfg.bwd_wm}x{cfg.bwd_wk} areg={cfg.a_regs('f')}/{cfg.a_regs('b')} "
            f"smem={cfg.smem('f')}/{cfg.smem('b')} regs(bwd,fwd)={regs} spill={spill} {r.returncode}")


with ThreadPoolExecutor(16) as ex:
    for line in ex.map(report, PROBLEMS):
        print(line, flush=True)
