"""The hardware model of each CUDA device the kernels run on, read once per device.

The CUDA backends solve their tiling models (:mod:`flashrnn_kernels.tiling`) for the GPU that
holds the tensors. Its facts come from :func:`hwmodels.detect`, read once per device index
and kept for the process: the bundled product of the same name with the live values checked
against it, or, for a product without a bundled model, the live facts on the architecture
table of its compute capability. A GPU whose architecture has no table is an error that says
what is missing and how to supply it; it is never taken for another GPU.

``FLASHRNN_GPU_MODEL`` (a bundled name such as ``h100``, or the path of a ``.toml`` model file,
see :func:`hwmodels.load`) replaces detection for every device.

```python
from flashrnn_kernels import devices

devices.gpu_model(0).name          # e.g. 'H100 SXM'
devices.build_arch(0)              # '90a'
devices.model_problem(0)           # None, or why this device has no model
```
"""
from __future__ import annotations

import functools
import os
from typing import Any

import hwmodels

from .env import cuda_arch_setting, gpu_model_setting
from .errors import UnsupportedError

__all__ = ["gpu_model", "build_arch", "model_problem", "device_index", "forget", "stream_handle", "on_device"]

class NoGPUModelError(UnsupportedError):
    """The device's facts cannot be read into a hardware model (the message says why and what to
    do: a model file through ``FLASHRNN_GPU_MODEL``)."""


def stream_handle(index: int) -> int:
    """The raw ``cudaStream_t`` of device ``index``'s current stream: what
    ``torch.cuda.current_stream(index).cuda_stream`` gives, without building a ``Stream`` object
    (a tenth of a fused launch's host time)."""
    return _stream_handle_fn()(index)


@functools.cache
def _stream_handle_fn():
    import torch

    raw = getattr(torch._C, "_cuda_getCurrentRawStream", None)  # CUDA builds of torch
    if raw is not None:
        return raw
    return lambda index: torch.cuda.current_stream(index).cuda_stream


def on_device(index: int, fn, *args):
    """``fn(*args)`` with CUDA device ``index`` current, switching only when another one is: the
    runtime launches on the *current* device (a stream of another device, or the legacy default
    stream 0, would fail or run on the wrong GPU)."""
    import torch

    if torch.cuda.current_device() == index:
        return fn(*args)
    with torch.cuda.device(index):
        return fn(*args)


def device_index(device: Any) -> int:
    """The CUDA device index of a ``torch.device`` (or an index); the current device for ``cuda``."""
    if isinstance(device, int) and not isinstance(device, bool):
        return device
    index = getattr(device, "index", None)
    if index is not None:
        return int(index)
    import torch

    return int(torch.cuda.current_device())


@functools.cache
def _model(index: int, chosen: str | None) -> hwmodels.GPU | NoGPUModelError:
    if chosen:
        try:
            if chosen.lower().endswith(".toml") or os.sep in chosen:
                return hwmodels.load(chosen)
            return hwmodels.get(chosen)
        except (hwmodels.HwModelsError, OSError) as exc:
            return NoGPUModelError(f"FLASHRNN_GPU_MODEL={chosen!r} is not a usable GPU model: {exc}")
    try:
        return hwmodels.detect(index)
    except hwmodels.HwModelsError as exc:
        return NoGPUModelError(
            f"no hardware model for CUDA device {index}: {exc}. Set FLASHRNN_GPU_MODEL to the path of a "
            "model file describing it (hwmodels.load), or to a bundled GPU name")


def gpu_model(device: Any) -> hwmodels.GPU:
    """The :class:`hwmodels.GPU` of a CUDA device (a ``torch.device`` or an index), detected once.

    Raises :class:`NoGPUModelError` (an :class:`~flashrnn_kernels.UnsupportedError`) when the
    device cannot be described.
    """
    found = _model(device_index(device), gpu_model_setting())
    if isinstance(found, NoGPUModelError):
        raise NoGPUModelError(str(found))
    return found


def model_problem(device: Any) -> str | None:
    """None when :func:`gpu_model` can describe the device, else why not."""
    try:
        gpu_model(device)
    except NoGPUModelError as exc:
        return str(exc)
    return None


def build_arch(device: Any) -> str:
    """The target kernels for ``device`` are built for: ``FLASHRNN_CUDA_ARCH``, else the arch of
    its compute capability (:func:`flashrnn_kernels.jit.arch_for_capability`)."""
    from . import jit

    override = cuda_arch_setting()
    if override:
        return jit.normalize_arch(override)
    major, minor = gpu_model(device).compute_capability
    return jit.arch_for_capability(major, minor)


def forget() -> None:
    """Drop the models read so far (the next call detects again)."""
    _model.cache_clear()
