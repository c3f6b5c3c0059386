"""The ``alternating`` backend: per time step one batched GEMM (cuBLAS through torch) for the
recurrent pre-activations of all heads, then one fused pointwise CUDA kernel for the cell.

Forward, for t = 0 .. T-1::

    rh_all[t] = h_{t-1} @ Rp                      # torch.bmm over heads: [N, B, D] x [N, D, G*D]
    states[:, :, t], h_t = pointwise(Wx[:, t], rh_all[t], b, states[:, :, t-1])   # our kernel

Backward, for t = T-1 .. 0 (the forward's pointwise part is recomputed from ``rh_all``)::

    dWx[:, t], dG[:, t], carry = pointwise_backward(..., grad_states[:, :, t] + carry + dh_rec)
    dh_rec = dG[:, t] @ Rp^T                       # torch.bmm

then ``dR`` is one GEMM over all steps and batch rows (``dG^T @ H_prev`` per head) and ``db`` a
sum of ``dWx`` (and of ``dG`` for the GRU's recurrent bias). The carried state gradient stays in
float32 whatever the storage dtype. ``aux`` (saved for the backward) is ``[rh_all]``,
``[T, N, B, G*D]`` in the input dtype.

Where it can (float16/bfloat16 on compute capability 8.0+, D a multiple of 32 up to
:data:`FUSED_MAX_HEAD`, B up to :data:`FUSED_MAX_BATCH`; ``FLASHRNN_FUSED_STEP=0`` turns it
off), each step is one launch instead of two: the fused forward step computes its slice of
``rh_all[t]`` on tensor cores from ``R`` and the states of step t-1, writes it (the backward
reads it) and applies the cell; the fused backward step computes its slice of
``dh_rec = dG[:, t+1] @ Rp^T`` before the cell's backward (step 0's product, for ``dstates0``,
stays one GEMM after the loop). See ``docs/design/alternating-fused-step.md``.

The pointwise kernels (``csrc/alternating.cu``) are built by the compiler
:func:`flashrnn_kernels.compilers.compiler_choice` picks: by nvcc (:func:`flashrnn_kernels.jit.load_library`)
and called through their C launchers, or by NVRTC (:func:`flashrnn_kernels.nvrtc.load_cubin`) and
launched through the CUDA driver (:class:`DriverLaunchers`, the same interface); either way
:class:`CudaSteps` runs them with the block size the tiling model ``tiling/alternating.cint``
chooses for the problem. The same algorithm runs with the pointwise
steps written in torch (:class:`TorchSteps`) for CPU tensors and float64: tests use that to check
the algorithm on machines without a GPU. The backend itself only accepts CUDA tensors in float32,
float16 or bfloat16.
"""
from __future__ import annotations

import ctypes
import functools
import logging
from collections.abc import Callable
from typing import Any, Protocol

import torch
from torch import Tensor

from .. import devices
from ..cells import CELLS, Cell
from ..graphs import GraphCache
from ..reference import TORCH_OPS, split_bias
from . import Backend, Call, register_backend

log = logging.getLogger(__name__)

SOURCES = ("alternating.cu",)
CUDA_DTYPES = (torch.float32, torch.float16, torch.bfloat16)
_BY_ID = {c.cuda_id: c for c in CELLS.values()}
_DTYPE_CODES = {torch.float32: 0, torch.float16: 1, torch.bfloat16: 2}  # alternating.h DType


def _empty(like: Tensor, *shape: int) -> Tensor:
    return like.new_empty(shape)


#: A forward step (``t``) or a backward step (``t``, the recurrent gradient of step t+1 or None).
ForwardStep = Callable[[int], None]
BackwardStep = Callable[[int, "Tensor | None"], None]


class Steps(Protocol):
    """The pointwise steps of one call: :class:`CudaSteps` (the kernels) or :class:`TorchSteps`.

    ``forward`` and ``backward`` bind the call's operands once and return the per-step function.
    ``forward`` given ``R`` returns a fused step, which computes ``rh_all[t]`` itself from ``R``
    and the states of step t-1 (``h_next`` may then be None); ``backward`` given ``RT`` (R with
    its last two dimensions swapped, dense) one that computes its ``dh_rec`` from ``dG[:, t+1]``
    (and ignores the argument); ``fuses`` says whether they can.
    """

    def fuses(self, Wx: Tensor, R: Tensor, s0: Tensor) -> bool: ...

    def forward(self, cell: Cell, Wx: Tensor, rh_all: Tensor, bias: Tensor, s0: Tensor,
                states: Tensor, h_next: Tensor | None, R: Tensor | None = None) -> ForwardStep: ...

    def backward(self, cell: Cell, Wx: Tensor, rh_all: Tensor, bias: Tensor, s0: Tensor,
                 states: Tensor, grad_states: Tensor, carry: Tensor, dWx: Tensor,
                 dG: Tensor, RT: Tensor | None = None) -> BackwardStep: ...


class _View(ctypes.Structure):
    """``alternating.h`` View: a pointer and four strides in elements."""

    _fields_ = [("ptr", ctypes.c_void_p), ("st", ctypes.c_int64 * 4)]


class _ForwardArgs(ctypes.Structure):
    _fields_ = [("B", ctypes.c_int), ("N", ctypes.c_int), ("D", ctypes.c_int), ("wx", _View),
                ("rh", _View), ("bias", _View), ("s_prev", _View), ("s_out", _View), ("h_next", _View),
                ("r", _View), ("I", ctypes.c_int), ("x", _View), ("w_ih", _View), ("b_ih", _View),
                ("b_hh", _View)]


class _BackwardArgs(ctypes.Structure):
    _fields_ = [("B", ctypes.c_int), ("N", ctypes.c_int), ("D", ctypes.c_int), ("wx", _View),
                ("rh", _View), ("bias", _View), ("s_prev", _View), ("grad_s", _View), ("carry", _View),
                ("dh_rec", _View), ("dwx", _View), ("dg", _View), ("rt", _View), ("dg_next", _View)]


#: The element types of the kernels' template instances, by ``DType`` code (``alternating.h``).
_DTYPE_TYPES = {0: "float", 1: "__half", 2: "__nv_bfloat16"}


def kernel_expression(direction: str, cell_id: int, dtype_code: int) -> str:
    """The C++ name of one kernel instance (an NVRTC name expression).

    >>> kernel_expression("forward", 0, 2)
    'flashrnn::alternating::forward_kernel<0, __nv_bfloat16>'
    """
    return f"flashrnn::alternating::{direction}_kernel<{cell_id}, {_DTYPE_TYPES[dtype_code]}>"


#: The dtype codes of the fused steps' instances (tensor-core products: 16-bit types).
FUSED_DTYPE_CODES = (_DTYPE_CODES[torch.float16], _DTYPE_CODES[torch.bfloat16])
_FUSED_DTYPES = tuple(dt for dt, code in _DTYPE_CODES.items() if code in FUSED_DTYPE_CODES)


def kernel_expressions() -> list[str]:
    """Every kernel instance the backend launches: both directions of the pointwise steps for
    every cell and dtype, and both fused steps and the step with its own input product
    (:func:`input_step`) for every cell in float16 and bfloat16."""
    pointwise = [kernel_expression(d, c.cuda_id, code) for d in ("forward", "backward") for c in CELLS.values()
                 for code in _DTYPE_TYPES]
    return pointwise + [kernel_expression(d, c.cuda_id, code)
                        for d in ("fused_forward", "fused_backward", "input_forward")
                        for c in CELLS.values() for code in FUSED_DTYPE_CODES]


class DriverLaunchers:
    """The launchers ``frnn_alt_forward`` / ``frnn_alt_backward`` of ``alternating.cu`` for an
    NVRTC build, through the CUDA driver: same arguments (the step's argument struct by
    reference, the block size, the stream) and results (0, or 1 for a block size the kernels do
    not take). The ctypes mirrors :class:`_ForwardArgs`, :class:`_BackwardArgs` are checked
    against the layouts the cubin exports when it is loaded."""

    def __init__(self, cubin: Any):
        from .. import driver

        driver.check_mirror(_View, cubin.table("frnn_alt_view"))
        driver.check_mirror(_ForwardArgs, cubin.table("frnn_alt_forward_args"))
        driver.check_mirror(_BackwardArgs, cubin.table("frnn_alt_backward_args"))
        self.facts = driver.facts(cubin.table("frnn_alt_facts"))
        self.max_threads = self.facts["max_threads"]
        self.cubin = cubin
        self._driver = driver  # imported once, not on every launch
        self._functions: dict[tuple[int, str, int, int], Any] = {}

    def _function(self, index: int, direction: str, cell: int, dtype: int) -> Any:
        key = (index, direction, cell, dtype)
        fn = self._functions.get(key)
        if fn is None:
            module = self._driver.module(str(self.cubin.path), self.cubin.image, index)
            name = self.cubin.lowered[kernel_expression(direction, cell, dtype)]
            if direction == "input_forward":  # its staged weights: dynamic shared memory
                module.set_max_dynamic_smem(name, self._input_smem(cell))
            fn = self._functions[key] = module.function(name)
        return fn

    def _input_smem(self, cell: int) -> int:
        """The dynamic shared memory of the step with its own input product, as the nvcc
        build's launcher gives it: ``input_stage_bytes`` per gate."""
        return self.facts["input_stage_bytes"] * _BY_ID[cell].num_gates

    def _launch(self, direction: str, cell: int, dtype: int, threads: int, args_ref: Any, stream: int) -> int:
        if not (32 <= threads <= self.max_threads and threads % 32 == 0) or dtype not in _DTYPE_TYPES:
            return 1  # cudaErrorInvalidValue, as the nvcc build's launchers
        args = args_ref._obj  # the structure byref() points at
        total = args.B * args.N * args.D
        if total == 0:
            return 0
        index = torch.cuda.current_device()
        fn = self._function(index, direction, cell, dtype)
        self._driver.launch(fn, -(-total // threads), threads, 0, stream or 0, ctypes.addressof(args), device=index)
        return 0

    def frnn_alt_forward(self, cell: int, dtype: int, threads: int, args_ref: Any, stream: int) -> int:
        return self._launch("forward", cell, dtype, threads, args_ref, stream)

    def _launch_fused(self, direction: str, cell: int, dtype: int, overlap: int, args: Any, weights: Any,
                      stream: int, smem: int = 0) -> int:
        if args.D % self.facts["fused_k"] or not weights.ptr or dtype not in FUSED_DTYPE_CODES:
            return 1  # cudaErrorInvalidValue, as the nvcc build's launchers
        if args.B * args.N * args.D == 0:
            return 0
        index = torch.cuda.current_device()
        fn = self._function(index, direction, cell, dtype)
        self._driver.launch(fn, args.N * args.D // self.facts["fused_cols"], self.facts["fused_threads"], smem,
                            stream or 0, ctypes.addressof(args), device=index, programmatic=bool(overlap))
        return 0

    def frnn_alt_fused_forward(self, cell: int, dtype: int, overlap: int, args_ref: Any, stream: int) -> int:
        args = args_ref._obj
        if not args.x.ptr:
            return self._launch_fused("fused_forward", cell, dtype, overlap, args, args.r, stream)
        if args.I <= 0 or args.I % 8 or not args.w_ih.ptr:
            return 1  # cudaErrorInvalidValue, as the nvcc build's launcher
        return self._launch_fused("input_forward", cell, dtype, overlap, args, args.r, stream,
                                  self._input_smem(cell))

    def frnn_alt_fused_backward(self, cell: int, dtype: int, overlap: int, args_ref: Any, stream: int) -> int:
        args = args_ref._obj
        return self._launch_fused("fused_backward", cell, dtype, overlap, args, args.rt, stream)

    def frnn_alt_fact(self, name: bytes) -> int:
        return self.facts.get(name.decode(), -1)

    def frnn_alt_backward(self, cell: int, dtype: int, threads: int, args_ref: Any, stream: int) -> int:
        return self._launch("backward", cell, dtype, threads, args_ref, stream)


@functools.cache
def _library(compiler: str, arch: str) -> Any:
    from .. import jit

    if compiler == "nvrtc":
        from .. import nvrtc

        return DriverLaunchers(nvrtc.load_cubin("flashrnn_alternating", SOURCES[0], arch=arch,
                                                name_expressions=kernel_expressions()))
    lib = jit.load_library("flashrnn_alternating", SOURCES, arch=arch)
    for fn, args in ((lib.frnn_alt_forward, _ForwardArgs), (lib.frnn_alt_backward, _BackwardArgs)):
        fn.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int, ctypes.POINTER(args), ctypes.c_void_p]
        fn.restype = ctypes.c_int
    for fn, args in ((lib.frnn_alt_fused_forward, _ForwardArgs), (lib.frnn_alt_fused_backward, _BackwardArgs)):
        fn.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int, ctypes.POINTER(args), ctypes.c_void_p]
        fn.restype = ctypes.c_int
    lib.frnn_alt_fact.argtypes = [ctypes.c_char_p]
    lib.frnn_alt_fact.restype = ctypes.c_longlong
    return lib


def library(compiler: str | None = None, device: Any = None) -> Any:
    """The compiled kernels' launchers for ``device`` (default: the current CUDA device), built
    on first use by ``compiler`` (``"nvcc"`` or ``"nvrtc"``; default:
    :func:`flashrnn_kernels.compilers.compiler_choice`'s) for the device's architecture
    (:func:`flashrnn_kernels.devices.build_arch`) and kept for the process: GPUs of different
    architectures in one process get a build each."""
    from .. import compilers

    index = None if device is None else torch.device(device).index
    if index is None:
        index = torch.cuda.current_device()
    return _library(compiler or compilers.chosen_compiler(), devices.build_arch(index))


def _set_view(v: _View, t: Tensor, dims: tuple[int, ...], offset: int = 0) -> None:
    """Point ``v`` at element ``offset`` of ``t``, its strides those of dimensions ``dims``."""
    v.ptr = t.data_ptr() + offset * t.element_size()
    for i, d in enumerate(dims):
        v.st[i] = t.stride(d)


@functools.cache
def block_size(cell: str, dtype: str, B: int, N: int, D: int, gpu: Any) -> int:
    """Threads per block of the pointwise kernels for this problem (``tiling/alternating.cint``)."""
    from ..tiling import Problem, kernel_config

    cfg = kernel_config(Problem(cell, B, N, D, dtype, backend="alternating"), gpu)
    return cfg["THREADS"]


class _PrevState:
    """The ``s_prev`` view of step t: the initial states at t = 0, else states[:, :, t - 1]."""

    def __init__(self, view: _View, s0: Tensor, states: Tensor, base: int, step_bytes: int):
        self.view, self.s0, self.states, self.base, self.step_bytes = view, s0, states, base, step_bytes
        self.on_states: bool | None = None

    def at(self, t: int) -> None:
        if t == 0:
            _set_view(self.view, self.s0, (0, 1, 3, 4))
            self.on_states = False
            return
        if not self.on_states:
            _set_view(self.view, self.states, (0, 1, 3, 4))
            self.on_states = True
        self.view.ptr = self.base + (t - 1) * self.step_bytes

    def first(self, t: int) -> bool:
        """Whether step ``t`` needs :meth:`at` (the view switches tensors there); other steps only
        move the pointer (``view.ptr = base + (t - 1) * step_bytes``)."""
        return t == 0 or not self.on_states


#: The largest batch the fused steps take: they read R once per 16 batch rows, so past a few
#: tiles a GEMM that reads it once does better (docs/design/alternating-fused-step.md).
FUSED_MAX_BATCH = 64
#: The fused steps' reduction chunk (``kFusedK`` in ``csrc/alternating.cu``, exported by the
#: builds as the fact ``fused_k``): D must be a multiple of it. Known here before any build, so
#: that a step it cannot take does not build the kernels.
FUSED_K = 32
#: The largest head the fused steps take: at 2048 units the forward measured slower than a cuBLAS
#: product and the pointwise kernel (docs/design/alternating-fused-step.md).
FUSED_MAX_HEAD = 1024


def _aligned(t: Tensor, elements: int) -> bool:
    """Unit stride last, and each row (index of the last dimension 0) 16-byte aligned, given rows
    whose other strides are multiples of ``elements``."""
    strides = t.stride()
    if strides[-1] != 1 or t.data_ptr() % 16:
        return False
    shape = t.shape
    for k in range(len(strides) - 1):  # noqa: SIM110 (all() over a generator: 1 us more a launch)
        if strides[k] % elements and shape[k] > 1:
            return False
    return True


def _overlap(device: Any) -> int:
    """1 where the fused steps on ``device`` (a ``torch.device`` or an index) launch as
    programmatic dependents of the step before them (``FLASHRNN_OVERLAP_STEPS``, on by default,
    and compute capability 9.0 or later): a step's grid starts, and loads its first chunks of R,
    while the previous step still runs (docs/design/alternating-fused-step.md)."""
    from ..env import overlap_steps_enabled

    return int(overlap_steps_enabled() and torch.cuda.get_device_capability(device)[0] >= 9)


class CudaSteps:
    """The pointwise steps of ``alternating.cu`` for one call: the operands' views are bound once,
    and each step moves their pointers to step ``t`` and launches on the current stream."""

    def __init__(self, threads: int, compiler: str | None = None):
        self.threads = threads
        self.lib = library(compiler)

    def fuses(self, Wx: Tensor, R: Tensor, s0: Tensor) -> bool:
        """Whether the fused steps take this call: ``FLASHRNN_FUSED_STEP`` on, float16 or
        bfloat16, a GPU of compute capability 8.0 or later, D a multiple of the kernels'
        reduction chunk (32) and at most :data:`FUSED_MAX_HEAD`, B at most
        :data:`FUSED_MAX_BATCH`, and R and the initial states with unit-stride, 16-byte aligned
        rows."""
        from ..env import fused_step_enabled

        if not fused_step_enabled() or _DTYPE_CODES.get(Wx.dtype) not in FUSED_DTYPE_CODES:
            return False
        B, T, G, N, D = Wx.shape
        fact = self.lib.frnn_alt_fact
        major, minor = torch.cuda.get_device_capability(Wx.device)
        per16 = 16 // Wx.element_size()
        return (B <= FUSED_MAX_BATCH and D <= FUSED_MAX_HEAD and D % fact(b"fused_k") == 0
                and 10 * major + minor >= fact(b"fused_min_arch")
                and _aligned(R, per16) and _aligned(s0, per16))

    @staticmethod
    def _common(a: ctypes.Structure, Wx: Tensor, rh_all: Tensor, bias: Tensor) -> None:
        B, T, G, N, D = Wx.shape
        a.B, a.N, a.D = B, N, D
        if rh_all.dim() != 4 or rh_all.shape[3] != G * D or rh_all.stride(3) != 1:
            raise RuntimeError("alternating backend: rh_all must be [T, N, B, G*D] with a unit last stride")
        _set_view(a.wx, Wx, (0, 2, 3, 4))
        _set_view(a.rh, rh_all, (1, 2, 3, 3))
        a.rh.st[2] = D  # gate g starts at column g*D of the [.., G*D] row
        _set_view(a.bias, bias, (0, 1, 2, 2))
        a.bias.st[3] = 0

    @staticmethod
    def _fail(what: str, rc: int) -> None:
        raise RuntimeError(f"alternating {what}: CUDA error {rc}")

    def forward(self, cell, Wx, rh_all, bias, s0, states, h_next, R=None):
        a = _ForwardArgs()
        self._common(a, Wx, rh_all, bias)
        if h_next is not None:
            _set_view(a.h_next, h_next, (0, 1, 2, 2))
            a.h_next.st[3] = 0
        if R is not None:
            _set_view(a.r, R, (0, 1, 2, 3))
        _set_view(a.s_out, states, (0, 1, 3, 4))
        esize = Wx.element_size()
        wx_v, rh_v, out_v, prev_v = a.wx, a.rh, a.s_out, a.s_prev  # views into a, fetched once
        wx0, rh0, st0 = wx_v.ptr, rh_v.ptr, out_v.ptr
        wx_t, rh_t, st_t = Wx.stride(1) * esize, rh_all.stride(0) * esize, states.stride(2) * esize
        prev = _PrevState(prev_v, s0, states, st0, st_t)
        ref, stream = ctypes.byref(a), torch.cuda.current_stream(Wx.device).cuda_stream
        cid, code, threads = cell.cuda_id, _DTYPE_CODES[Wx.dtype], self.threads
        if R is None:
            fn, what = functools.partial(self.lib.frnn_alt_forward, cid, code, threads, ref, stream), "forward step"
        else:
            fn = functools.partial(self.lib.frnn_alt_fused_forward, cid, code, _overlap(Wx.device), ref, stream)
            what = "fused forward step"

        def step(t: int) -> None:
            wx_v.ptr = wx0 + t * wx_t
            rh_v.ptr = rh0 + t * rh_t
            out_v.ptr = st0 + t * st_t
            if prev.first(t):
                prev.at(t)
            else:
                prev_v.ptr = st0 + (t - 1) * st_t
            rc = fn()
            if rc:
                self._fail(what, rc)

        return step

    def backward(self, cell, Wx, rh_all, bias, s0, states, grad_states, carry, dWx, dG, RT=None):
        if carry.dtype != torch.float32:
            raise RuntimeError("alternating backend: carry must be float32")
        a = _BackwardArgs()
        self._common(a, Wx, rh_all, bias)
        _set_view(a.carry, carry, (0, 1, 2, 3))
        _set_view(a.grad_s, grad_states, (0, 1, 3, 4))
        _set_view(a.dwx, dWx, (0, 2, 3, 4))
        if dG.dim() != 4 or dG.stride(3) != 1:
            raise RuntimeError("alternating backend: dG must be [N, T, B, G*D]")
        _set_view(a.dg, dG, (0, 2, 3, 3))
        a.dg.st[2] = a.D
        if RT is not None:
            _set_view(a.rt, RT, (0, 1, 2, 3))
            _set_view(a.dg_next, dG, (0, 2, 3, 3))
            a.dg_next.st[2] = a.D
        esize = Wx.element_size()
        base = {k: getattr(a, k).ptr for k in ("wx", "rh", "grad_s", "dwx", "dg")}
        inc = {"wx": Wx.stride(1), "rh": rh_all.stride(0), "grad_s": grad_states.stride(2),
               "dwx": dWx.stride(1), "dg": dG.stride(1)}
        inc = {k: v * esize for k, v in inc.items()}
        st0, st_t = states.data_ptr(), states.stride(2) * esize
        (wx_v, wx0, wx_t), (rh_v, rh0, rh_t), (gs_v, gs0, gs_t), (dwx_v, dwx0, dwx_t), (dg_v, dg0, dg_t) = (
            (getattr(a, k), base[k], inc[k]) for k in base)
        prev_v, dh_v = a.s_prev, a.dh_rec
        prev = _PrevState(prev_v, s0, states, st0, st_t)
        ref, stream = ctypes.byref(a), torch.cuda.current_stream(Wx.device).cuda_stream
        cid, code, threads = cell.cuda_id, _DTYPE_CODES[Wx.dtype], self.threads
        bound: list[Tensor | None] = [None]  # the tensor dh_v shows (the caller passes one buffer)
        if RT is not None:
            fn = functools.partial(self.lib.frnn_alt_fused_backward, cid, code, _overlap(Wx.device), ref, stream)
            what, next_v, last = "fused backward step", a.dg_next, Wx.shape[1] - 1
        else:
            fn, what = functools.partial(self.lib.frnn_alt_backward, cid, code, threads, ref, stream), "backward step"

        def step(t: int, dh_rec: Tensor | None) -> None:
            wx_v.ptr = wx0 + t * wx_t
            rh_v.ptr = rh0 + t * rh_t
            gs_v.ptr = gs0 + t * gs_t
            dwx_v.ptr = dwx0 + t * dwx_t
            dg_v.ptr = dg0 + t * dg_t
            if prev.first(t):
                prev.at(t)
            else:
                prev_v.ptr = st0 + (t - 1) * st_t
            if RT is not None:  # the fused step reads dg of step t+1 itself
                next_v.ptr = None if t == last else dg0 + (t + 1) * dg_t
            elif dh_rec is not bound[0]:
                bound[0] = dh_rec
                if dh_rec is None:
                    dh_v.ptr = None
                else:
                    _set_view(dh_v, dh_rec, (0, 1, 2, 2))
                    dh_v.st[3] = 0
            rc = fn()
            if rc:
                self._fail(what, rc)

        return step


def _acc_dtype(dtype: torch.dtype) -> torch.dtype:
    return torch.float64 if dtype == torch.float64 else torch.float32


def _as_tensors(values: list, like: Tensor) -> Tensor:
    return torch.stack([v if isinstance(v, Tensor) else torch.full_like(like, float(v)) for v in values])


class TorchSteps:
    """The pointwise steps of ``alternating.cu`` written with torch ops (any device and dtype).

    Same operands and layouts as :class:`CudaSteps`; used for CPU/float64 runs and tests.
    ``fused``: :meth:`fuses` says yes, so that the fused forward's loop runs too.
    """

    def __init__(self, fused: bool = False):
        self.fused = fused

    def fuses(self, Wx: Tensor, R: Tensor, s0: Tensor) -> bool:
        return self.fused

    @staticmethod
    def _gates(cell: Cell, t: int, Wx: Tensor, rh_all: Tensor, bias: Tensor, s0: Tensor, states: Tensor):
        acc = _acc_dtype(Wx.dtype)
        B, T, G, N, D = Wx.shape
        xb, rb = split_bias(bias.to(acc), cell)
        xg = Wx[:, t].to(acc) + xb  # [B, G, N, D]
        rg = rh_all[t].view(N, B, G, D).permute(1, 2, 0, 3).to(acc)
        if rb is not None:
            rg = rg + rb
        s_prev = (s0[:, :, 0] if t == 0 else states[:, :, t - 1]).to(acc)  # [S, B, N, D]
        return list(xg.unbind(1)), list(rg.unbind(1)), list(s_prev.unbind(0))

    def forward(self, cell, Wx, rh_all, bias, s0, states, h_next, R=None):
        Rp = None if R is None else _stacked_R(R)

        def step(t: int) -> None:
            if Rp is not None:  # the fused step: rh_all[t] from the states of step t-1
                h_prev = (s0[0, :, 0] if t == 0 else states[0, :, t - 1]).permute(1, 0, 2)  # [N, B, D]
                torch.bmm(h_prev, Rp, out=rh_all[t])
            xg, rg, s = self._gates(cell, t, Wx, rh_all, bias, s0, states)
            new = cell.forward(TORCH_OPS, xg, rg, s)
            states[:, :, t] = _as_tensors(new, xg[0]).to(states.dtype)
            if h_next is not None:
                h_next.copy_(new[0].permute(1, 0, 2))

        return step

    def backward(self, cell, Wx, rh_all, bias, s0, states, grad_states, carry, dWx, dG, RT=None):
        B, T, G, N, D = Wx.shape
        RpT = None if RT is None else RT.permute(1, 0, 3, 2).reshape(N, G * D, D)  # [n, g*D + o, i]

        def step(t: int, dh_rec: Tensor | None) -> None:
            if RpT is not None:  # the fused step: dh_rec from dG of step t+1
                dh_rec = None if t == T - 1 else torch.bmm(dG[:, t + 1], RpT)
            xg, rg, s = self._gates(cell, t, Wx, rh_all, bias, s0, states)
            acc = xg[0].dtype
            ds = grad_states[:, :, t].to(acc) + carry.permute(0, 2, 1, 3).to(acc)  # [S, B, N, D]
            if dh_rec is not None:
                ds[0] += dh_rec.permute(1, 0, 2).to(acc)
            dxg, drg, ds_prev = cell.backward(TORCH_OPS, xg, rg, s, list(ds.unbind(0)))
            dWx[:, t] = _as_tensors(dxg, xg[0]).permute(1, 0, 2, 3).to(dWx.dtype)
            dG[:, t] = _as_tensors(drg, xg[0]).permute(2, 1, 0, 3).reshape(N, B, G * D).to(dG.dtype)
            carry.copy_(_as_tensors(ds_prev, xg[0]).permute(0, 2, 1, 3))

        return step


#: The variables the one-launch step depends on besides its operands (the compiler, the build's
#: arch, whether fused steps run and overlap): a device's plan is kept per their values.
_STEP_VARIABLES = ("FLASHRNN_COMPILER", "FLASHRNN_CUDA_ARCH", "FLASHRNN_FUSED_STEP", "FLASHRNN_OVERLAP_STEPS")
#: _step_plan's answers by (device index, the values of _STEP_VARIABLES).
_STEP_PLANS: dict[tuple, tuple[Callable[..., int] | None, int]] = {}


def _step_plan(index: int) -> tuple[Callable[..., int] | None, int]:
    """For device ``index``: the launcher of the fused forward step (None where fused steps do
    not run there: ``FLASHRNN_FUSED_STEP=0`` or a compute capability below the kernels'
    ``fused_min_arch``) and whether steps overlap (:func:`_overlap`). Found by one lookup after
    the first call."""
    from ..env import fused_step_enabled, raw_values

    key = (index, *raw_values(_STEP_VARIABLES))
    plan = _STEP_PLANS.get(key)
    if plan is None:
        launcher = None
        if fused_step_enabled():
            lib = library(device=torch.device("cuda", index))
            major, minor = torch.cuda.get_device_capability(index)
            if 10 * major + minor >= lib.frnn_alt_fact(b"fused_min_arch"):
                launcher = lib.frnn_alt_fused_forward
        plan = _STEP_PLANS[key] = (launcher, _overlap(index))
    return plan


def input_step_fits(x: Tensor, w_ih: Tensor, b_ih: Tensor | None, w_hh: Tensor, b_hh: Tensor | None,
                    s_prev: list[Tensor] | None, N: int, D: int) -> bool:
    """Whether :func:`input_step` takes this step: what :meth:`CudaSteps.fuses` asks of a fused
    step (``FLASHRNN_FUSED_STEP`` on, float16 or bfloat16, the kernels' ``fused_min_arch``
    (compute capability 8.0), D a multiple of :data:`FUSED_K` and at most
    :data:`FUSED_MAX_HEAD`, B at most :data:`FUSED_MAX_BATCH`), all operands of one dtype on one
    device, an input size that is a multiple of 8, contiguous
    weights, unit-stride 16-byte aligned rows of ``x``, ``W_ih``, ``W_hh`` and ``h_prev``, and
    the previous states ``s_prev`` (``[B, N * D]`` each, or ``[1, B, N * D]``) alike in shape and
    strides, so that one view with a stride between them reads them all. ``x`` is ``[B, I]`` or
    ``[B, 1, I]`` (a module's one step). ``s_prev`` None: zeros the caller makes (nothing to
    check). The kernels are built at the first call that passes the other checks."""
    dtype, shape = x.dtype, x.shape
    if not x.is_cuda or dtype not in _FUSED_DTYPES or not (len(shape) == 2 or (len(shape) == 3 and shape[1] == 1)):
        return False
    B, width = shape[0], shape[-1]
    if not (0 < B <= FUSED_MAX_BATCH and D <= FUSED_MAX_HEAD and D % FUSED_K == 0 and width % 8 == 0):
        return False
    device, esize = x.device, x.element_size()
    per16 = 16 // esize
    for t in (w_ih, w_hh, b_ih, b_hh):
        if t is not None and (t.dtype != dtype or t.device != device):
            return False
    # contiguous, rows of width and D inputs (multiples of 8): each row aligned where the first is
    if not (w_ih.is_contiguous() and w_hh.is_contiguous() and w_ih.data_ptr() % 16 == 0
            and w_hh.data_ptr() % 16 == 0):
        return False
    if s_prev is not None:
        first = s_prev[0]
        shape, strides, base = first.shape, first.stride(), first.data_ptr()
        if not (shape == (B, N * D) or shape == (1, B, N * D)):
            return False
        for s in s_prev:
            if (s.dtype != dtype or s.device != device or s.shape != shape or s.stride() != strides
                    or (s.data_ptr() - base) % esize):
                return False
        if not _aligned(first, per16):
            return False
    if not _aligned(x, per16):
        return False
    return _step_plan(device.index)[0] is not None


def input_step(cell: Cell, x: Tensor, w_ih: Tensor, b_ih: Tensor | None, w_hh: Tensor, b_hh: Tensor | None,
               s_prev: list[Tensor], N: int, D: int, out: Tensor | None = None,
               s_out: Tensor | None = None) -> tuple[Tensor, Tensor]:
    """One inference step of one layer in one launch, input product included: from ``x [B, I]``
    and the previous states ``s_prev`` (``S`` tensors ``[B, H]``, ``H = N * D``; the weights
    as a module holds them: ``w_ih [G * H, I]``, ``w_hh [G * H, D]``, biases ``[G * H]`` or
    None), the fused forward step computes ``W_ih x + b_ih`` (rounded to the dtype, as a GEMM
    writes it), ``R h + b_hh`` and the cell. Returns ``(out [B, H], s_out [S, B, H])``, new
    tensors unless given (``s_out`` in any strides): ``out`` is the new h, apart from the states.
    ``x`` may be ``[B, 1, I]``, the states ``[1, B, H]`` and ``s_out`` ``[S, 1, B, H]`` (a
    one-layer module's one step, without views to take first). Launches on the current stream of
    the tensors' device; no gradient. The caller checks :func:`input_step_fits` first."""
    B, width = x.shape[0], x.shape[-1]
    S, H = cell.num_states, N * D
    if out is None:
        out = x.new_empty(B, H)
    if s_out is None:
        s_out = x.new_empty(S, B, H)
    esize = x.element_size()
    a = _ForwardArgs()
    a.B, a.N, a.D, a.I = B, N, D, width
    h = s_prev[0]
    sp, so, hn, r, xv, wv = a.s_prev, a.s_out, a.h_next, a.r, a.x, a.w_ih
    sp.ptr = base = h.data_ptr()
    *_, row, col = h.stride()
    sp.st[:] = ((s_prev[1].data_ptr() - base) // esize if S > 1 else 0, row, D * col, col)
    so.ptr = s_out.data_ptr()
    k, *_, row, col = s_out.stride()
    so.st[:] = (k, row, D * col, col)
    hn.ptr = out.data_ptr()
    row, col = out.stride()
    hn.st[:] = (D * col, row, col, 0)
    r.ptr = w_hh.data_ptr()
    r.st[:] = (H * D, D * D, D, 1)
    xv.ptr = x.data_ptr()
    xv.st[:] = (x.stride(0), 1, 0, 0)
    wv.ptr = w_ih.data_ptr()
    wv.st[:] = (H * width, D * width, width, 1)
    for view, bias in ((a.b_ih, b_ih), (a.b_hh, b_hh)):
        if bias is not None:
            view.ptr = bias.data_ptr()
            st = bias.stride(0)
            view.st[:] = (H * st, D * st, st, 0)
    index = x.device.index
    launcher, overlap = _step_plan(index)
    rc = devices.on_device(index, launcher, cell.cuda_id, _DTYPE_CODES[x.dtype], overlap, ctypes.byref(a),
                           devices.stream_handle(index))
    if rc:
        raise RuntimeError(f"alternating one-step forward: CUDA error {rc}")
    return out, s_out


def _stacked_R(R: Tensor) -> Tensor:
    """``Rp[n, i, g*D + o] = R[g, n, o, i]``: the gates side by side, ``[N, D, G*D]``."""
    G, N, D, _ = R.shape
    return R.permute(1, 3, 0, 2).reshape(N, D, G * D)


def alternating_forward(steps: Steps, Wx: Tensor, R: Tensor, b: Tensor, states0: Tensor,
                        cell: Cell) -> tuple[Tensor, Tensor, list[Tensor]]:
    """Forward of the alternating scheme; returns ``(states, last, [rh_all])``. Where ``steps``
    fuses the product into the step (:meth:`Steps.fuses`), one launch per step does both."""
    Wx = Wx.contiguous()
    B, T, G, N, D = Wx.shape
    S = cell.num_states
    states = _empty(Wx, S, B, T, N, D)
    rh_all = _empty(Wx, T, N, B, G * D)
    if steps.fuses(Wx, R, states0):
        step = steps.forward(cell, Wx, rh_all, b, states0, states, None, R=R)
        for t in range(T):
            step(t)
    else:
        Rp = _stacked_R(R)
        h = _empty(Wx, N, B, D)  # written by every step: must never be a view of states0
        h.copy_(states0[0, :, 0].permute(1, 0, 2))
        step = steps.forward(cell, Wx, rh_all, b, states0, states, h)
        for t in range(T):
            torch.bmm(h, Rp, out=rh_all[t])
            step(t)
    last = states[:, :, T - 1 : T].clone(memory_format=torch.contiguous_format)  # never a view
    return states, last, [rh_all]


def alternating_backward(steps: Steps, grad_states: Tensor, grad_last: Tensor, Wx: Tensor, R: Tensor,
                         b: Tensor, states0: Tensor, states: Tensor, rh_all: Tensor,
                         cell: Cell) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """Backward of the alternating scheme: ``(dWx, dR, db, dstates0)``."""
    Wx = Wx.contiguous()
    B, T, G, N, D = Wx.shape
    acc = _acc_dtype(Wx.dtype)
    grad_states = grad_states.to(Wx.dtype).contiguous()
    carry = torch.empty(cell.num_states, N, B, D, dtype=acc, device=Wx.device)  # [S, N, B, D], fresh
    carry.copy_(grad_last[:, :, 0].permute(0, 2, 1, 3))
    RpT = R.permute(1, 0, 2, 3).reshape(N, G * D, D)  # RpT[n, g*D + o, i] = R[g, n, o, i]
    dWx = _empty(Wx, *Wx.shape)
    dG = _empty(Wx, N, T, B, G * D)
    dh_rec: Tensor | None = None
    dh_buf = _empty(Wx, N, B, D)
    if steps.fuses(Wx, R, states0):  # each step computes its dh_rec = dG[t+1] R^T itself
        RT = R.transpose(2, 3).contiguous()  # [G, N, i, o]
        step = steps.backward(cell, Wx, rh_all, b, states0, states, grad_states, carry, dWx, dG, RT=RT)
        for t in range(T - 1, -1, -1):
            step(t, None)
        dh_rec = torch.bmm(dG[:, 0], RpT, out=dh_buf)
    else:
        step = steps.backward(cell, Wx, rh_all, b, states0, states, grad_states, carry, dWx, dG)
        for t in range(T - 1, -1, -1):
            step(t, dh_rec)
            torch.bmm(dG[:, t], RpT, out=dh_buf)
            dh_rec = dh_buf
    assert dh_rec is not None
    carry[0] += dh_rec.to(acc)
    dstates0 = torch.empty_like(states0, memory_format=torch.contiguous_format)
    dstates0.copy_(carry.permute(0, 2, 1, 3).unsqueeze(2))

    # dR: one GEMM per head over all (t, b) rows: dRp[n] = dG[n]^T @ H_prev[n]
    h_prev = torch.cat([states0[0], states[0, :, : T - 1]], dim=1)  # [B, T, N, D]
    Hp = h_prev.permute(2, 1, 0, 3).reshape(N, T * B, D)
    dRp = torch.bmm(dG.view(N, T * B, G * D).transpose(1, 2), Hp)  # [N, G*D, D_in]
    dR = dRp.view(N, G, D, D).permute(1, 0, 2, 3).contiguous()

    # db: sums of dWx (input side) and dG (recurrent side) over batch and time
    sum_x = dWx.sum(dim=(0, 1), dtype=acc)  # [G, N, D]
    sum_r = None
    rows = []
    for side, gate in cell.bias_rows:
        if side == "x":
            rows.append(sum_x[gate])
        else:
            if sum_r is None:
                sum_r = dG.view(N, T * B, G, D).sum(dim=1, dtype=acc).permute(1, 0, 2)  # [G, N, D]
            rows.append(sum_r[gate])
    db = torch.stack(rows).to(b.dtype)
    return dWx, dR, db, dstates0


#: The captured time loops of this backend (:mod:`flashrnn_kernels.graphs`): ``GRAPHS.info()``
#: says what is held, ``GRAPHS.clear()`` frees it.
GRAPHS = GraphCache()


def _build_of(steps: Steps) -> tuple:
    """What a captured loop depends on besides its inputs: the block size, the kernels' build (a
    graph replays the launches of the library it was captured with), whether the loops may fuse
    their steps (``FLASHRNN_FUSED_STEP``; the rest of that choice follows from the inputs) and
    whether fused steps overlap (``FLASHRNN_OVERLAP_STEPS``: a graph keeps its launches'
    attributes)."""
    from ..env import fused_step_enabled, overlap_steps_enabled

    return (getattr(steps, "threads", None), id(getattr(steps, "lib", None)), fused_step_enabled(),
            overlap_steps_enabled())


def _dense(*tensors: Tensor) -> tuple[Tensor, ...]:
    """The operands in the dense layout a captured loop is keyed by (views of parameters, such as
    a module's ``R``, are copied once per call; the loop copies them anyway)."""
    return tuple(t.contiguous() for t in tensors)


def _on_device(t: Tensor) -> Any:
    """The tensors' device as the current one while the kernels launch (a no-op on the CPU)."""
    import contextlib

    return torch.cuda.device(t.device) if t.is_cuda else contextlib.nullcontext()


class AlternatingBackend(Backend):
    """GEMM + pointwise kernel per step; every cell, float32 / float16 / bfloat16, any head size."""

    name = "alternating"
    priority = 10

    def supports(self, call: Call) -> str | None:
        if call.device.type != "cuda":
            return f"needs CUDA tensors (got device {call.device})"
        if call.dtype not in CUDA_DTYPES:
            return f"dtype {call.dtype} not compiled (float32, float16 and bfloat16 are)"
        if call.cell not in CELLS:
            return f"cell {call.cell!r} not compiled"
        from .. import compilers

        return devices.model_problem(call.device) or compilers.toolchain_problem()

    def steps_for(self, Wx: Tensor, cell: Cell) -> Steps:
        if not Wx.is_cuda:
            return TorchSteps()
        B, T, G, N, D = Wx.shape
        dtype = str(Wx.dtype).removeprefix("torch.")
        return CudaSteps(block_size(cell.name, dtype, B, N, D, devices.gpu_model(Wx.device)))

    def forward(self, Wx, R, b, states0, cell):
        with _on_device(Wx):
            steps = self.steps_for(Wx, cell)

            def loop(Wx, R, b, states0):
                states, last, (rh_all,) = alternating_forward(steps, Wx, R, b, states0, cell)
                return states, last, rh_all

            key = ("alternating forward", cell.name, _build_of(steps))
            states, last, rh_all = GRAPHS.run(key, loop, _dense(Wx, R, b, states0))
            return states, last, [rh_all]

    def backward(self, grad_states, grad_last, Wx, R, b, states0, states, aux, cell):
        (rh_all,) = aux
        with _on_device(Wx):
            steps = self.steps_for(Wx, cell)

            def loop(grad_states, grad_last, Wx, R, b, states0, states, rh_all):
                return alternating_backward(steps, grad_states, grad_last, Wx, R, b, states0, states, rh_all,
                                            cell)

            key = ("alternating backward", cell.name, _build_of(steps))
            inputs = _dense(grad_states.to(Wx.dtype), grad_last, Wx, R, b, states0, states, rh_all)
            return tuple(GRAPHS.run(key, loop, inputs))

    def fake_aux(self, Wx, R, b, states0, cell):
        B, T, G, N, D = Wx.shape
        return [Wx.new_empty(T, N, B, G * D)]


register_backend(AlternatingBackend())
