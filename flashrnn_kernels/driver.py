"""Launches of NVRTC-built kernels (:mod:`flashrnn_kernels.nvrtc`) through the CUDA driver API.

The binding is NVIDIA's ``cuda-bindings`` (``cuda.bindings.driver``): the driver API one to one,
versioned with the CUDA releases, the layer ``cuda-core`` itself is built on (``cuda-core``'s own
API is younger and still changing; the few calls needed here are stable in the driver API).

* **Context.** Kernels run in the device's *primary* context, the one PyTorch's runtime uses, so
  that they share its memory and streams: retained once per device, made current before a load or
  a launch where it is not.
* **Modules.** A cubin is loaded once per device (:class:`Module`); functions are looked up once;
  the maximum dynamic shared memory and non-portable cluster sizes are set once per function.
* **Launches.** :func:`launch`: ``cuLaunchKernelEx`` with the cooperative and cluster attributes
  where asked, on the stream given (PyTorch's current stream of the tensors' device), with the
  kernel's argument struct packed by :class:`Layout` from the layout the cubin exports.
* **Occupancy.** :meth:`Module.max_active_clusters` (``cuOccupancyMaxActiveClusters``) answers
  the launch decisions' questions; callers ask once per configuration and device.

Nothing here runs at import; nothing needs a GPU until a module is loaded (:class:`Layout` is
plain Python).
"""
from __future__ import annotations

import ctypes
import functools
import struct
import threading
from collections.abc import Mapping, Sequence
from typing import Any

from .errors import BuildError

_lock = threading.Lock()


class DriverError(RuntimeError):
    """A CUDA driver call failed; the message names the call and the driver's error."""


# ------------------------------------------------------------------------------ argument structs

#: struct format codes of the field sizes an argument struct may have: pointers, 32-bit integers
_CODES = {8: "Q", 4: "i"}


class Layout:
    """The byte layout of a kernel's argument struct, from an exported table
    (:func:`flashrnn_kernels.nvrtc.exported_table`: each field's ``(name, size, alignment)`` in
    order, then ``("", sizeof, alignof)``): fields placed by the C rule, each at the next multiple
    of its alignment, checked against the struct's size.

    Fields of 8 bytes are packed as 64-bit unsigned integers (pointers; None is the null
    pointer), of 4 bytes as 32-bit signed integers.

    >>> lay = Layout([("p", 8, 8), ("n", 4, 4), ("", 16, 8)])
    >>> lay.offsets
    {'p': 0, 'n': 8}
    >>> lay.pack(p=0x1000, n=-3).hex()
    '0010000000000000fdffffff00000000'
    """

    def __init__(self, table: Sequence[tuple[str, int, int]]):
        if not table or table[-1][0]:
            raise BuildError("an exported layout must end with the struct's entry ('', sizeof, alignof)")
        *fields, (_, size, align) = table
        offsets: dict[str, int] = {}
        fmt, pos = "<", 0
        for name, fsize, falign in fields:
            if name in offsets:
                raise BuildError(f"exported layout names field {name!r} twice")
            if fsize not in _CODES or falign <= 0 or falign & (falign - 1):
                raise BuildError(f"exported layout: field {name!r} of {fsize} bytes, alignment {falign}, "
                                 "is neither a pointer nor a 32-bit integer")
            pad = -pos % falign
            fmt += f"{pad}x" if pad else ""
            pos += pad
            offsets[name] = pos
            fmt += _CODES[fsize]
            pos += fsize
        tail = -pos % align
        if pos + tail != size:
            raise BuildError(f"exported layout: fields placed by the C rule end at {pos + tail} bytes, "
                             f"the struct has {size}")
        self.offsets = offsets
        self.size = size
        self._struct = struct.Struct(fmt + (f"{tail}x" if tail else ""))
        self._names = tuple(offsets)

    @property
    def names(self) -> tuple[str, ...]:
        """The fields, in order."""
        return self._names

    def pack(self, **values: int | None) -> bytes:
        """The struct's bytes with every field given by name (None: a null pointer)."""
        missing = [n for n in self._names if n not in values]
        extra = [n for n in values if n not in self.offsets]
        if missing or extra:
            raise BuildError(f"argument struct: missing fields {missing}, unknown fields {extra}")
        return self._struct.pack(*((values[n] or 0) for n in self._names))


def check_mirror(cls: type[ctypes.Structure], table: Sequence[tuple[str, int, int]]) -> None:
    """Raise :class:`~flashrnn_kernels.BuildError` unless the ctypes structure ``cls`` has the
    fields, sizes and offsets of the exported layout ``table`` (fields placed by the C rule)."""
    *fields, (_, size, _align) = table
    want, pos = [], 0
    for name, fsize, falign in fields:
        pos += -pos % falign
        want.append((name, pos, fsize))
        pos += fsize
    got = [(name, getattr(cls, name).offset, getattr(cls, name).size) for name, *_ in cls._fields_]
    if got != want or ctypes.sizeof(cls) != size:
        raise BuildError(f"{cls.__name__} does not match the layout the kernels export: "
                         f"ctypes {got} ({ctypes.sizeof(cls)} bytes), exported {want} ({size} bytes)")


# ------------------------------------------------------------------------------ the driver

def _bindings() -> Any:
    """``cuda.bindings.driver`` (its types need no driver: launch configurations are built, and
    tested, without a GPU)."""
    from cuda.bindings import driver

    return driver


@functools.cache
def _driver() -> Any:
    """``cuda.bindings.driver`` after ``cuInit`` (once per process)."""
    driver = _bindings()
    (err,) = driver.cuInit(0)
    _check(driver, err, "cuInit")
    return driver


def _check(drv: Any, err: Any, what: str) -> None:
    if err != drv.CUresult.CUDA_SUCCESS:
        _, name = drv.cuGetErrorName(err)
        raise DriverError(f"{what} failed: {name.decode() if isinstance(name, bytes) else name}")


def call(what: str, fn_name: str, *args: Any) -> Any:
    """``cuda.bindings.driver.<fn_name>(*args)``: its results after the status, a
    :class:`DriverError` naming ``what`` when the status is not success."""
    drv = _driver()
    err, *rest = getattr(drv, fn_name)(*args)
    _check(drv, err, what)
    return rest[0] if len(rest) == 1 else tuple(rest)


@functools.cache
def primary_context(index: int) -> Any:
    """The primary context of CUDA device ``index`` (retained for the process: PyTorch's)."""
    device = call(f"cuDeviceGet({index})", "cuDeviceGet", index)
    return call(f"cuDevicePrimaryCtxRetain({index})", "cuDevicePrimaryCtxRetain", device)


def make_current(index: int) -> None:
    """Make device ``index``'s primary context current on this thread (if it is not)."""
    ctx = primary_context(index)
    if int(call("cuCtxGetCurrent", "cuCtxGetCurrent")) != int(ctx):
        call("cuCtxSetCurrent", "cuCtxSetCurrent", ctx)


class Module:
    """A cubin loaded into one device's primary context, with its functions looked up once."""

    def __init__(self, image: bytes, index: int):
        self.index = index
        make_current(index)
        self._image = image  # kept alive while the module lives
        self.handle = call("cuModuleLoadData", "cuModuleLoadData", image)
        self._functions: dict[str, Any] = {}
        self._smem: dict[str, int] = {}
        self._nonportable: set[str] = set()

    def function(self, name: str) -> Any:
        """The kernel ``name`` (a lowered name for templates)."""
        fn = self._functions.get(name)
        if fn is None:
            fn = call(f"cuModuleGetFunction({name})", "cuModuleGetFunction", self.handle, name.encode())
            self._functions[name] = fn
        return fn

    def set_max_dynamic_smem(self, name: str, nbytes: int) -> None:
        """Allow ``nbytes`` of dynamic shared memory (above 48 KB needs this), once per value."""
        if self._smem.get(name) == nbytes:
            return
        drv = _driver()
        attr = drv.CUfunction_attribute.CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES
        call(f"cuFuncSetAttribute({name}, max dynamic shared memory {nbytes})", "cuFuncSetAttribute",
             self.function(name), attr, nbytes)
        self._smem[name] = nbytes

    def allow_nonportable_clusters(self, name: str) -> bool:
        """Allow clusters of more than 8 blocks; False where the device refuses."""
        if name in self._nonportable:
            return True
        drv = _driver()
        attr = drv.CUfunction_attribute.CU_FUNC_ATTRIBUTE_NON_PORTABLE_CLUSTER_SIZE_ALLOWED
        (err,) = drv.cuFuncSetAttribute(self.function(name), attr, 1)
        if err != drv.CUresult.CUDA_SUCCESS:
            return False
        self._nonportable.add(name)
        return True

    def max_active_clusters(self, name: str, blocks: int, threads: int, smem: int, cluster: int) -> int:
        """How many clusters of ``cluster`` blocks of ``name`` the device holds at once (a grid of
        ``blocks``, ``smem`` bytes of dynamic shared memory each); 0 when the query fails (as the
        runtime's ``cudaOccupancyMaxActiveClusters`` in the nvcc builds' host code)."""
        drv = _driver()
        cfg = launch_config(blocks, threads, smem, 0, cooperative=False, cluster=cluster)
        err, n = drv.cuOccupancyMaxActiveClusters(self.function(name), cfg)
        return int(n) if err == drv.CUresult.CUDA_SUCCESS else 0

    def launch(self, name: str, blocks: int, threads: int, smem: int, stream: int, params: bytes, *,
               cooperative: bool = False, cluster: int = 1) -> None:
        """:func:`launch` of the kernel ``name`` of this module."""
        launch(self.function(name), blocks, threads, smem, stream, params, cooperative=cooperative,
               cluster=cluster, device=self.index)


def launch_config(blocks: int, threads: int, smem: int, stream: int, *, cooperative: bool, cluster: int,
                  programmatic: bool = False) -> Any:
    """A ``CUlaunchConfig`` of a 1-D grid, cooperative and in clusters of ``cluster`` blocks where
    asked (no attribute for ``cluster == 1``); ``programmatic``: a programmatic dependent of the
    work before it on the stream (sm_90+: it may start before that finishes; the kernel waits
    where it needs its results)."""
    drv = _bindings()
    cfg = drv.CUlaunchConfig()
    cfg.gridDimX, cfg.gridDimY, cfg.gridDimZ = blocks, 1, 1
    cfg.blockDimX, cfg.blockDimY, cfg.blockDimZ = threads, 1, 1
    cfg.sharedMemBytes = smem
    cfg.hStream = drv.CUstream(stream)
    attrs = []
    if cooperative:
        a = drv.CUlaunchAttribute()
        a.id = drv.CUlaunchAttributeID.CU_LAUNCH_ATTRIBUTE_COOPERATIVE
        a.value.cooperative = 1
        attrs.append(a)
    if cluster > 1:
        a = drv.CUlaunchAttribute()
        a.id = drv.CUlaunchAttributeID.CU_LAUNCH_ATTRIBUTE_CLUSTER_DIMENSION
        a.value.clusterDim.x, a.value.clusterDim.y, a.value.clusterDim.z = cluster, 1, 1
        attrs.append(a)
    if programmatic:
        a = drv.CUlaunchAttribute()
        a.id = drv.CUlaunchAttributeID.CU_LAUNCH_ATTRIBUTE_PROGRAMMATIC_STREAM_SERIALIZATION
        a.value.programmaticStreamSerializationAllowed = 1
        attrs.append(a)
    cfg.attrs = attrs
    cfg.numAttrs = len(attrs)
    return cfg


def launch(function: Any, blocks: int, threads: int, smem: int, stream: int, params: bytes | int, *,
           cooperative: bool = False, cluster: int = 1, device: int | None = None,
           programmatic: bool = False) -> None:
    """Launch ``function`` with its one argument, a struct by value: ``params`` is its bytes, or the
    address of them (a ctypes structure's). ``stream`` is a ``cudaStream_t`` as an integer
    (``torch.cuda.current_stream().cuda_stream``); ``device`` makes its primary context current."""
    if device is not None:
        make_current(device)
    if isinstance(params, int):
        holder = None
        address = params
    else:
        holder = ctypes.create_string_buffer(params, len(params))
        address = ctypes.addressof(holder)
    args = (ctypes.c_void_p * 1)(address)
    cfg = launch_config(blocks, threads, smem, stream, cooperative=cooperative, cluster=cluster,
                        programmatic=programmatic)
    drv = _driver()
    (err,) = drv.cuLaunchKernelEx(cfg, function, ctypes.addressof(args), 0)
    del holder
    _check(drv, err, f"cuLaunchKernelEx ({blocks} blocks of {threads}, {smem} B shared, "
                     f"cooperative={cooperative}, cluster={cluster})")


_modules: dict[tuple[str, int], Module] = {}


def module(key: str, image: bytes, index: int) -> Module:
    """The :class:`Module` of ``image`` (named by ``key``, e.g. its cubin's path) on device
    ``index``, loaded once per process."""
    with _lock:
        found = _modules.get((key, index))
        if found is None:
            found = _modules[(key, index)] = Module(image, index)
        return found


def facts(table: Sequence[tuple[str, int, int]]) -> Mapping[str, int]:
    """An exported facts table as ``{name: value}`` (the closing entry dropped).

    >>> facts([("threads", 256, 0), ("", 0, 0)])
    {'threads': 256}
    """
    return {name: a for name, a, _ in table if name}
