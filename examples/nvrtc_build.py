"""Build the fused kernels of one tiling with NVRTC (no CUDA toolkit: only pip packages) and look
inside the cubin: its entry points, the facts its launches read and the layout of the forward
kernel's arguments. On a GPU the same kernels then run through the CUDA driver and are compared
with the reference backend.

    python examples/nvrtc_build.py

Which compiler the CUDA backends use is FLASHRNN_COMPILER's choice (auto: nvcc where there is
one, else NVRTC); this script builds with NVRTC whatever it says.
"""
# requires: cuda.bindings
import sys

import torch

import flashrnn_kernels as frk
from flashrnn_kernels import compilers, devices, driver, nvrtc
from flashrnn_kernels.backends import fused
from flashrnn_kernels.backends.fused_launch import Facts
from flashrnn_kernels.tiling import Problem, kernel_config

problem = nvrtc.toolchain_problem()
if problem:
    sys.exit(f"NVRTC cannot build here: {problem}")
print("compiler the backends would use:", compilers.compiler_choice())

# a tiling solved for the H100 model and built for its target, sm_90a (no GPU needed for this part)
cfg = kernel_config(Problem("lstm", 16, 2, 256, "bfloat16", "both"), "h100")
cubin = nvrtc.load_cubin("fused_rnn", fused.SOURCES[0], defines=fused.build_defines(cfg, "90a"), arch="90a")
print("cubin:", cubin.path)
print("entry points:", ", ".join(cubin.kernel_names()))
facts = Facts.from_table(cubin.table("frnn_facts"))
print(f"threads {facts.threads}, blocks per head {facts.nslice}, batch tile {facts.bt}, "
      f"shared memory forward {facts.fwd_smem} B, backward {facts.bwd_smem} B")
layout = driver.Layout(cubin.table("frnn_fwd_params"))
print("forward arguments:", ", ".join(f"{n}@{o}" for n, o in layout.offsets.items()), f"({layout.size} bytes)")

if torch.cuda.is_available():
    g = torch.Generator(device="cuda").manual_seed(0)
    B, T, N, D = 16, 64, 2, 256
    Wx = torch.randn(B, T, 4, N, D, device="cuda", generator=g).bfloat16()
    R = (torch.randn(4, N, D, D, device="cuda", generator=g) / D**0.5).bfloat16()
    k = fused.kernels(kernel_config(Problem("lstm", B, N, D, "bfloat16", "both"), devices.gpu_model(0)),
                      compiler="nvrtc")
    states, last, _ = fused.fused_forward(Wx, R, None, None, "lstm", False, kernels=k)
    ref = frk.flashrnn(Wx.double(), R.double(), cell="lstm", backend="reference")[0]
    err = ((states.double() - ref).norm() / ref.norm()).item()
    print(f"NVRTC build on {torch.cuda.get_device_name()}: relative error against float64 {err:.2e}")
else:
    print("no GPU here: built and inspected only")
