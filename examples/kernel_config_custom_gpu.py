"""Kernel configurations for a GPU you do not have: a model file, and a variant built in code.

    python examples/kernel_config_custom_gpu.py

Needs neither torch nor a GPU. The same is available from the command line:

    constrint kernel-config --gpu-file examples/my_gpu.toml --cell lstm --hidden-size 768 \\
        --batch-size 16 --pass forward
"""
from __future__ import annotations

import dataclasses
from pathlib import Path

import hwmodels
from flashrnn_kernels.tiling import InfeasibleConfigError, Problem, kernel_config

HERE = Path(__file__).resolve().parent

# 1. a GPU described by a model file (an H100 NVL: 132 SMs, sm_90)
nvl = hwmodels.load(HERE / "my_gpu.toml")

# 2. the same product with half of its SMs and less shared memory per block (e.g. to see how a
#    MIG slice or a smaller part of the family would be tiled): replace the facts in code
arch = dataclasses.replace(nvl.architecture, shared_memory_per_block_optin=100 * 1024)
half = dataclasses.replace(nvl, name="H100 NVL, half the SMs", sm_count=66, architecture=arch)

problems = [
    Problem("lstm", batch_size=16, num_heads=1, head_dim=768, dtype="bfloat16", pass_="forward"),
    Problem("lstm", batch_size=16, num_heads=1, head_dim=768, dtype="bfloat16", pass_="backward"),
    Problem("gru", batch_size=64, num_heads=12, head_dim=64, dtype="float16", pass_="both"),
]

for gpu in (nvl, half):
    print(f"=== {gpu.name}: {gpu.sm_count} SMs, "
          f"{gpu.architecture.shared_memory_per_block_optin:,} B shared memory per block")
    for problem in problems:
        try:
            cfg = kernel_config(problem, gpu)
        except InfeasibleConfigError as exc:
            print(f"{problem.describe()}:\n  no configuration: {exc}\n")
            continue
        print(cfg.explain())
        print("  nvcc " + " ".join(f"-D{k}={v}" for k, v in cfg.defines().items()))
        print()

# 3. what does not fit says why, and what would
try:
    kernel_config(Problem("lstm", 16, 1, 2048, "bfloat16", "backward"), half)
except InfeasibleConfigError as exc:
    print("binding:", ", ".join(exc.binding))
    print("what would work:", "; ".join(exc.suggestions))
