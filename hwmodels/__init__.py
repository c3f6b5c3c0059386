"""GPU hardware models: the facts a kernel configuration is solved from.

Per-architecture facts (:class:`Architecture`, one per compute capability) are kept apart from
per-product facts (:class:`GPU`). Bundled models cover A100 40/80 GB, A10, RTX 3090, L4, L40S,
RTX 4090, H100 SXM/PCIe, H200 and B200; users add their own with :func:`load`, so kernel
configurations can be generated for a GPU that is not present.

>>> import hwmodels
>>> gpu = hwmodels.get("h100")
>>> gpu.sm_count, gpu.architecture.shared_memory_per_block_optin
(132, 232448)
>>> hwmodels.occupancy(gpu, threads_per_block=256, registers_per_thread=32).occupancy
1.0
>>> hwmodels.constants(gpu)["REGS_PER_SM"]
65536

PyTorch is imported only inside :func:`detect`. This package never imports the kernels package
layered above it.
"""
from __future__ import annotations

from .detection import detect
from .errors import (
    DetectionError,
    HardwareMismatchWarning,
    HwModelsError,
    InvalidArgumentError,
    ModelError,
    ModelFileError,
    Problem,
    UnknownArchitectureError,
    UnknownGPUError,
)
from .loader import get_architecture, list_architectures, load, parse_compute_capability
from .model import DTYPES, GPU, INSTRUCTIONS, Architecture, MmaShape, PeakTflops
from .occupancy import Occupancy, occupancy
from .registry import constants, get, list_gpus

__all__ = [
    "DTYPES",
    "GPU",
    "INSTRUCTIONS",
    "Architecture",
    "DetectionError",
    "HardwareMismatchWarning",
    "HwModelsError",
    "InvalidArgumentError",
    "MmaShape",
    "ModelError",
    "ModelFileError",
    "Occupancy",
    "PeakTflops",
    "Problem",
    "UnknownArchitectureError",
    "UnknownGPUError",
    "constants",
    "detect",
    "get",
    "get_architecture",
    "list_architectures",
    "list_gpus",
    "load",
    "occupancy",
    "parse_compute_capability",
]
