"""Where the cached first call of a new process goes: builds the fused LSTM 1x768 forward into a
fresh cache in one process, then profiles the same first call in a second process.

python benchmarks/fused_dev/cached_call.py
"""
import os
import subprocess
import sys
import tempfile

CODE = """
import cProfile, pstats, time, sys
import torch
from flashrnn_kernels import flashrnn
x = torch.randn(16, 64, 4, 1, 768, device='cuda', dtype=torch.bfloat16)
R = torch.randn(4, 1, 768, 768, device='cuda', dtype=torch.bfloat16) / 28
pr = cProfile.Profile()
t1 = time.time()
pr.enable()
flashrnn(x, R, cell='lstm', backend='fused')
torch.cuda.synchronize()
pr.disable()
print(f"first call {time.time() - t1:.3f} s", flush=True)
if sys.argv[1] == "profile":
    pstats.Stats(pr).sort_stats("cumulative").print_stats(25)
"""

with tempfile.TemporaryDirectory() as cache:
    env = dict(os.environ, FLASHRNN_CACHE_DIR=cache)
    for mode in ("build", "profile"):
        out = subprocess.run([sys.executable, "-c", CODE, mode], capture_output=True, text=True, env=env)
        print(out.stdout[-6000:], out.stderr[-2000:] if out.returncode else "")
