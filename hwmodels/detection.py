"""Reading the live GPU: :func:`detect`.

PyTorch (``torch.cuda.get_device_properties``) is imported only inside :func:`detect`. Facts
PyTorch does not expose (opt-in shared memory, registers per block, resident blocks per SM, the
reserved shared memory, cluster support, ...) come from the CUDA driver's
``cuDeviceGetAttribute``: through ``cuda-python`` (``cuda.bindings.driver``) when installed, else
through ``ctypes`` on ``libcuda``. Nothing is compiled.
"""
from __future__ import annotations

import dataclasses
import logging
import sys
import warnings
from collections.abc import Callable, Mapping
from typing import Any

from .errors import DetectionError, HardwareMismatchWarning, UnknownGPUError
from .loader import get_architecture
from .model import GPU, PeakTflops

logger = logging.getLogger(__name__)
logger.addHandler(logging.NullHandler())

#: Live fact -> (CUdevice_attribute name, its value in cuda.h).
DRIVER_ATTRIBUTES: dict[str, tuple[str, int]] = {
    "max_threads_per_block": ("CU_DEVICE_ATTRIBUTE_MAX_THREADS_PER_BLOCK", 1),
    "shared_memory_per_block": ("CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_BLOCK", 8),
    "warp_size": ("CU_DEVICE_ATTRIBUTE_WARP_SIZE", 10),
    "registers_per_block": ("CU_DEVICE_ATTRIBUTE_MAX_REGISTERS_PER_BLOCK", 12),
    "clock_rate_khz": ("CU_DEVICE_ATTRIBUTE_CLOCK_RATE", 13),
    "sm_count": ("CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT", 16),
    "memory_clock_rate_khz": ("CU_DEVICE_ATTRIBUTE_MEMORY_CLOCK_RATE", 36),
    "memory_bus_width": ("CU_DEVICE_ATTRIBUTE_GLOBAL_MEMORY_BUS_WIDTH", 37),
    "l2_cache_bytes": ("CU_DEVICE_ATTRIBUTE_L2_CACHE_SIZE", 38),
    "max_threads_per_sm": ("CU_DEVICE_ATTRIBUTE_MAX_THREADS_PER_MULTIPROCESSOR", 39),
    "cc_major": ("CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR", 75),
    "cc_minor": ("CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR", 76),
    "shared_memory_per_sm": ("CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_MULTIPROCESSOR", 81),
    "registers_per_sm": ("CU_DEVICE_ATTRIBUTE_MAX_REGISTERS_PER_MULTIPROCESSOR", 82),
    "shared_memory_per_block_optin": ("CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_BLOCK_OPTIN", 97),
    "max_blocks_per_sm": ("CU_DEVICE_ATTRIBUTE_MAX_BLOCKS_PER_MULTIPROCESSOR", 106),
    "reserved_shared_memory_per_block": ("CU_DEVICE_ATTRIBUTE_RESERVED_SHARED_MEMORY_PER_BLOCK", 111),
    "cluster_launch": ("CU_DEVICE_ATTRIBUTE_CLUSTER_LAUNCH", 120),
}

#: Live fact -> attribute of ``torch.cuda.get_device_properties(...)`` (read when present).
TORCH_PROPERTIES: dict[str, str] = {
    "name": "name",
    "cc_major": "major",
    "cc_minor": "minor",
    "sm_count": "multi_processor_count",
    "memory_bytes": "total_memory",
    "l2_cache_bytes": "L2_cache_size",
    "max_threads_per_sm": "max_threads_per_multi_processor",
    "max_threads_per_block": "max_threads_per_block",
    "warp_size": "warp_size",
    "shared_memory_per_block": "shared_memory_per_block",
    "shared_memory_per_sm": "shared_memory_per_multiprocessor",
    "shared_memory_per_block_optin": "shared_memory_per_block_optin",
    "registers_per_sm": "regs_per_multiprocessor",
    "clock_rate_khz": "clock_rate",
    "memory_clock_rate_khz": "memory_clock_rate",
    "memory_bus_width": "memory_bus_width",
}

#: Architecture fields checked against the live device.
_ARCH_LIVE_FIELDS = ("shared_memory_per_sm", "shared_memory_per_block", "shared_memory_per_block_optin",
                     "reserved_shared_memory_per_block", "registers_per_sm", "registers_per_block",
                     "max_threads_per_block", "max_threads_per_sm", "max_blocks_per_sm", "warp_size")

#: Relative tolerance for the memory size (drivers report less than the nominal capacity).
MEMORY_TOLERANCE = 0.10
#: Relative tolerance for the boost clock.
CLOCK_TOLERANCE = 0.05

AttributeReader = Callable[[str, int], "int | None"]


# --------------------------------------------------------------------------------------------
# CUDA driver access
# --------------------------------------------------------------------------------------------

def _cuda_python_reader(index: int) -> AttributeReader | None:
    try:
        from cuda.bindings import driver as cu  # cuda-python >= 12.6
    except ImportError:
        try:
            from cuda import cuda as cu  # type: ignore[no-redef]  # older cuda-python
        except ImportError:
            return None
    try:
        (err,) = cu.cuInit(0)
        if err != cu.CUresult.CUDA_SUCCESS:
            return None
        err, dev = cu.cuDeviceGet(index)
        if err != cu.CUresult.CUDA_SUCCESS:
            return None
    except Exception as exc:
        logger.debug("cuda-python unusable: %s", exc)
        return None

    def read(name: str, code: int) -> int | None:
        attribute = getattr(cu.CUdevice_attribute, name, None)
        if attribute is None:
            return None
        err, value = cu.cuDeviceGetAttribute(attribute, dev)
        return int(value) if err == cu.CUresult.CUDA_SUCCESS else None

    return read


def _ctypes_reader(index: int) -> AttributeReader | None:
    import ctypes  # here, not at import: only detection on a machine with a GPU needs it
    import ctypes.util

    candidates = ["nvcuda.dll"] if sys.platform == "win32" else ["libcuda.so.1", "libcuda.so"]
    found = ctypes.util.find_library("cuda")
    if found:
        candidates.append(found)
    lib = None
    for candidate in candidates:
        try:
            lib = ctypes.CDLL(candidate)
            break
        except OSError:
            continue
    if lib is None:
        return None
    if lib.cuInit(0) != 0:
        return None
    dev = ctypes.c_int()
    if lib.cuDeviceGet(ctypes.byref(dev), ctypes.c_int(index)) != 0:
        return None

    def read(name: str, code: int) -> int | None:
        value = ctypes.c_int()
        return value.value if lib.cuDeviceGetAttribute(ctypes.byref(value), ctypes.c_int(code), dev) == 0 else None

    return read


def driver_attribute_reader(index: int) -> AttributeReader | None:
    """A function reading CUDA driver attributes of device ``index``, or ``None`` if no driver
    binding is usable (cuda-python first, then ctypes on libcuda).

    ```python
    read = driver_attribute_reader(0)     # None on a machine without the CUDA driver
    ```
    """
    return _cuda_python_reader(index) or _ctypes_reader(index)


# --------------------------------------------------------------------------------------------
# Reading the live device
# --------------------------------------------------------------------------------------------

def _device_index(torch: Any, device: Any) -> int:
    if device is None:
        return int(torch.cuda.current_device())
    if isinstance(device, int) and not isinstance(device, bool):
        return device
    dev = torch.device(device)
    if dev.type != "cuda":
        raise DetectionError(f"detect() needs a CUDA device, got {device!r}")
    return int(dev.index) if dev.index is not None else int(torch.cuda.current_device())


def read_live(device: Any = None) -> tuple[dict[str, Any], dict[str, str]]:
    """Raw facts of the live device and where each came from (``"torch"`` or ``"driver"``).

    :func:`detect` is ``gpu_from_live(*read_live(device))``:

    ```python
    live, origin = read_live("cuda:0")    # DetectionError without PyTorch or a visible GPU
    gpu = gpu_from_live(live, origin)
    ```
    """
    try:
        import torch
    except ImportError:
        raise DetectionError("hwmodels.detect() needs PyTorch with CUDA (not installed); use a bundled model "
                             "with hwmodels.get(name) or your own with hwmodels.load(path)") from None
    if not torch.cuda.is_available():
        raise DetectionError("no CUDA device visible to PyTorch (torch.cuda.is_available() is False); use a "
                             "bundled model with hwmodels.get(name) or your own with hwmodels.load(path)")
    index = _device_index(torch, device)
    try:
        props = torch.cuda.get_device_properties(index)
    except Exception as exc:
        raise DetectionError(f"cannot read the properties of CUDA device {index}: {exc}") from None
    live: dict[str, Any] = {"device_index": index}
    origin: dict[str, str] = {}
    for key, attr in TORCH_PROPERTIES.items():
        value = getattr(props, attr, None)
        if value is not None:
            live[key] = value
            origin[key] = "torch"
    missing = [k for k in DRIVER_ATTRIBUTES if k not in live]
    if missing:
        reader = driver_attribute_reader(index)
        if reader is None:
            logger.debug("no CUDA driver binding usable; not read: %s", ", ".join(missing))
        else:
            for key in missing:
                name, code = DRIVER_ATTRIBUTES[key]
                value = reader(name, code)
                if value is not None:
                    live[key] = value
                    origin[key] = "driver"
    return live, origin


# --------------------------------------------------------------------------------------------
# Matching and cross-checking
# --------------------------------------------------------------------------------------------

def _origin_text(origin: str) -> str:
    return {"torch": "live device (torch.cuda.get_device_properties)",
            "driver": "live device (CUDA driver cuDeviceGetAttribute)"}.get(origin, "live device")


def _warn(what: str, name: str, live: Any, model: Any, model_source: str) -> None:
    warnings.warn(f"hwmodels.detect: {what} of {name}: the live device reports {live}, the bundled model says "
                  f"{model} ({model_source or 'bundled data'}); using the live value",
                  HardwareMismatchWarning, stacklevel=3)


def _differs(live: float, model: float, tolerance: float) -> bool:
    return abs(live - model) > tolerance * max(abs(model), 1)


def gpu_from_live(live: Mapping[str, Any], origin: Mapping[str, str] | None = None) -> GPU:
    """Build the :class:`GPU` of a live device from raw facts (as :func:`read_live` returns).

    Matches the architecture table by compute capability (:class:`UnknownArchitectureError` if
    there is none), cross-checks the bundled product of the same name and warns
    (:class:`HardwareMismatchWarning`, naming both values) where they differ. Live values win.

    ```python
    live, origin = read_live()
    gpu = gpu_from_live(live, origin)     # the same as hwmodels.detect()
    ```
    """
    origin = dict(origin or {})
    name = str(live.get("name") or "unknown CUDA device")
    cc = (int(live["cc_major"]), int(live["cc_minor"]))
    arch = get_architecture(cc)

    product: GPU | None
    try:
        from .registry import get

        product = get(name)
    except UnknownGPUError:
        product = None
    if product is not None and product.compute_capability != cc:
        warnings.warn(f"hwmodels.detect: {name} reports compute capability {cc[0]}.{cc[1]}, the bundled "
                      f"{product.name} is {product.architecture.name}; ignoring the bundled product",
                      HardwareMismatchWarning, stacklevel=3)
        product = None
    label = product.name if product is not None else name

    # architecture: live values replace table values, with a warning when they differ
    changes: dict[str, Any] = {}
    sources = dict(arch.sources)
    for key in _ARCH_LIVE_FIELDS:
        if key not in live:
            continue
        value = int(live[key])
        if value != getattr(arch, key):
            _warn(key, label, value, getattr(arch, key), arch.source_of(key))
            changes[key] = value
            sources[key] = _origin_text(origin.get(key, ""))
    if "cluster_launch" in live and bool(live["cluster_launch"]) != arch.cluster_launch:
        _warn("cluster_launch", label, bool(live["cluster_launch"]), arch.cluster_launch,
              arch.source_of("cluster_launch"))
        changes["cluster_launch"] = bool(live["cluster_launch"])
        if not changes["cluster_launch"]:
            changes["max_cluster_size"] = changes["max_cluster_size_nonportable"] = 1
    if "max_threads_per_sm" in changes or "warp_size" in changes:
        threads = changes.get("max_threads_per_sm", arch.max_threads_per_sm)
        changes["max_warps_per_sm"] = threads // changes.get("warp_size", arch.warp_size)
    if changes:
        arch = dataclasses.replace(arch, **changes, sources=sources)

    # product facts
    def checked(key: str, model_value: Any, tolerance: float = 0.0) -> Any:
        if key not in live:
            return model_value
        value = live[key]
        if model_value is not None and _differs(value, model_value, tolerance):
            _warn(key, label, value, model_value, product.source_of(key) if product else "")
        return value

    if product is not None:
        sm_count = checked("sm_count", product.sm_count)
        l2 = checked("l2_cache_bytes", product.l2_cache_bytes)
        memory = checked("memory_bytes", product.memory_bytes, MEMORY_TOLERANCE)
        clock = product.boost_clock_mhz
        if live.get("clock_rate_khz"):
            live_clock = round(int(live["clock_rate_khz"]) / 1000)
            if clock is not None and _differs(live_clock, clock, CLOCK_TOLERANCE):
                _warn("boost_clock_mhz", label, live_clock, clock, product.source_of("boost_clock_mhz"))
                clock = live_clock
        gpu_sources = dict(product.sources)
        for key in ("sm_count", "l2_cache_bytes", "memory_bytes"):
            if key in live:
                gpu_sources[key] = _origin_text(origin.get(key, ""))
        return dataclasses.replace(product, architecture=arch, sm_count=int(sm_count), l2_cache_bytes=int(l2),
                                   memory_bytes=int(memory), boost_clock_mhz=clock, sources=gpu_sources)

    missing = [k for k in ("sm_count", "l2_cache_bytes", "memory_bytes") if k not in live]
    if missing:
        raise DetectionError(f"the live device {name} did not report {', '.join(missing)}")
    bandwidth = None
    gpu_sources = {k: _origin_text(origin.get(k, "")) for k in ("sm_count", "l2_cache_bytes", "memory_bytes")}
    if live.get("memory_clock_rate_khz") and live.get("memory_bus_width"):
        # double data rate x bus width, as CUDA's deviceQuery sample computes it
        bandwidth = round(2 * int(live["memory_clock_rate_khz"]) * 1e3 * int(live["memory_bus_width"]) / 8 / 1e9, 1)
        gpu_sources["memory_bandwidth_gbps"] = "estimated from the live memory clock and bus width (2 x clock x width)"
    clock = round(int(live["clock_rate_khz"]) / 1000) if live.get("clock_rate_khz") else None
    if clock is not None:
        gpu_sources["boost_clock_mhz"] = _origin_text(origin.get("clock_rate_khz", ""))
    return GPU(name=name, architecture=arch, sm_count=int(live["sm_count"]),
               l2_cache_bytes=int(live["l2_cache_bytes"]), memory_bytes=int(live["memory_bytes"]),
               memory_bandwidth_gbps=bandwidth, boost_clock_mhz=clock, peak_tflops=PeakTflops(),
               source="live device (no bundled product of this name; peak throughput unknown)",
               sources=gpu_sources)


def detect(device: Any = None) -> GPU:
    """The :class:`GPU` model of a live CUDA device (default: the current one).

    Reads ``torch.cuda.get_device_properties`` and, for facts PyTorch lacks, the CUDA driver;
    matches the architecture table by compute capability (an unknown one raises
    :class:`UnknownArchitectureError`); cross-checks the bundled product of the same name and
    warns (:class:`HardwareMismatchWarning`) naming both values where they differ. Raises
    :class:`DetectionError` without PyTorch or without a visible GPU.

    >>> gpu = hwmodels.detect()  # doctest: +SKIP
    >>> gpu.name, gpu.sm_count  # doctest: +SKIP
    ('H100 SXM', 132)
    """
    live, origin = read_live(device)
    return gpu_from_live(live, origin)
