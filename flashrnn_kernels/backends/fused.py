"""Backend "fused": one persistent CUDA kernel launch for all T steps, R kept on chip.

The kernels live in ``csrc/fused/`` (nvcc alone builds them; its README lists the layout and the
``-D`` interface). This module

* solves the tiling of a call with the model ``tiling/fused.cint``
  (:func:`flashrnn_kernels.tiling.kernel_config`) for the hardware model of the tensors' GPU
  (:func:`flashrnn_kernels.devices.gpu_model`); a batch with no tiling runs in chunks that have one
  (:func:`batch_plan`);
* builds the kernels with the solved configuration's defines (:class:`FusedKernels`,
  :func:`kernels`) with the compiler :func:`flashrnn_kernels.compilers.compiler_choice` picks: nvcc
  (:func:`flashrnn_kernels.jit.load_library`, the launchers of ``launch.cuh`` through ctypes) or
  NVRTC (:func:`flashrnn_kernels.nvrtc.load_cubin`, the same launch logic in Python through the
  CUDA driver: :mod:`flashrnn_kernels.backends.fused_launch`);
* runs the forward and backward kernels and finishes the backward with two reductions in torch
  (``dR`` as one batched GEMM over all steps, ``db`` as a sum).

Layouts are the package's: ``Wx [B, T, G, N, D]``, ``R [G, N, D, D]``, ``b [Gb, N, D]``,
``states0 [S, B, 1, N, D]`` -> ``(states [S, B, T, N, D], last [S, B, 1, N, D])``.

:func:`kernels` is also the build hook for other tilings and kernel variants: a configuration
solved with some decisions pinned (``kernel_config(problem, gpu, fixed=...)``) and extra defines
(the kernel's variant switches) give a :class:`FusedKernels` that :func:`fused_forward` and
:func:`fused_backward` accept.
"""
from __future__ import annotations

import ctypes
import functools
import logging
import threading
from collections.abc import Callable, Mapping
from typing import Any

from .. import devices
from ..cells import Cell, get_cell
from ..env import raw_values
from ..errors import UnsupportedError

log = logging.getLogger(__name__)
log.addHandler(logging.NullHandler())

SOURCES = ("fused/fused_rnn.cu",)
DTYPES = ("bfloat16", "float16", "float32")
_PASSES = {"f": "forward", "b": "backward", "fb": "both", "bf": "both"}


def _cdiv(a: int, b: int) -> int:
    return -(-a // b)


# ------------------------------------------------------------------------------------------ tiling
def choose_config(cell: str | Cell, dtype: str, batch: int, heads: int, head_dim: int, gpu: Any,
                  kernel: str = "fb"):
    """The best tiling by the constraint model ``tiling/fused.cint`` for ``gpu`` (a
    :class:`hwmodels.GPU` or a bundled name), a :class:`~flashrnn_kernels.tiling.KernelConfig`;
    or an :class:`~flashrnn_kernels.tiling.InfeasibleConfigError` saying why none fits.

    ``kernel`` says which kernels must fit: "f" (forward), "b" (backward) or "fb" (both).
    """
    from ..tiling import Problem, kernel_config

    cell = get_cell(cell)
    if dtype not in DTYPES:
        raise UnsupportedError(f"fused: dtype {dtype} not supported ({', '.join(DTYPES)})")
    if kernel not in _PASSES:
        raise UnsupportedError(f"fused: kernel must be 'f', 'b' or 'fb', got {kernel!r}")
    return kernel_config(Problem(cell.name, batch, heads, head_dim, dtype, _PASSES[kernel]), gpu)


def batch_plan(cell: str | Cell, dtype: str, B: int, N: int, D: int, kernel: str, gpu: Any):
    """``(chunk, config)``: the whole batch if a tiling fits, else the largest chunk (a multiple of
    8) that has one, run one chunk after the other."""
    try:
        return B, choose_config(cell, dtype, B, N, D, gpu, kernel)
    except UnsupportedError:
        if B <= 8:
            raise
    chunk = (B // 2 + 7) // 8 * 8
    while True:
        try:
            return chunk, choose_config(cell, dtype, chunk, N, D, gpu, kernel)
        except UnsupportedError:
            if chunk <= 8:
                raise
            chunk = max(8, (chunk // 2 + 7) // 8 * 8)


@functools.lru_cache(maxsize=4096)
def _device_plan(cell: str, dtype: str, B: int, N: int, D: int, kernel: str, index: int):
    return batch_plan(cell, dtype, B, N, D, kernel, devices.gpu_model(index))


def device_plan(cell: Cell, dtype: str, B: int, N: int, D: int, kernel: str, device: Any):
    """:func:`batch_plan` for the GPU holding the tensors (solved once per problem and device)."""
    return _device_plan(cell.name, dtype, B, N, D, kernel, devices.device_index(device))


# ------------------------------------------------------------------------------------------ build
def build_defines(config: Any, arch: str, defines: Mapping[str, int] | None = None) -> dict[str, int]:
    """Every ``-D`` define of the kernel build of ``config`` for ``arch``: the configuration's own,
    the target's features, then ``defines`` (which override)."""
    from .. import jit

    return {**config.defines(), "FRNN_SM90A": int(jit.normalize_arch(arch) == "90a"), **(defines or {})}


def _build(defines: Mapping[str, int], arch: str, compiler: str) -> Any:
    """The kernels of one build (built, or found in the cache): NVRTC's cubin, or nvcc's library."""
    from .. import jit

    if compiler == "nvrtc":
        from .. import nvrtc

        return nvrtc.load_cubin("fused_rnn", SOURCES[0], defines=defines, arch=arch)
    if compiler == "nvcc":
        return jit.load_library("fused_rnn", SOURCES, defines=defines, arch=arch)
    raise UnsupportedError(f"fused: compiler must be 'nvcc' or 'nvrtc', got {compiler!r}")


class FusedKernels:
    """The fused kernels of one tiling, built for one target (:func:`kernels` makes and caches them).

    ``config`` is the solved :class:`~flashrnn_kernels.tiling.KernelConfig`; ``defines`` are extra
    ``-D`` defines that override or add to its own (the kernel's variant switches, see
    ``csrc/fused/README.md``); ``compiler`` is ``"nvcc"`` or ``"nvrtc"`` (default: the one
    :func:`flashrnn_kernels.compilers.compiler_choice` picks). ``lib`` holds the launchers of
    ``launch.cuh`` (nvcc: the library's, through ctypes; NVRTC:
    :class:`~flashrnn_kernels.backends.fused_launch.DriverLaunchers`). The launchers run on the
    tensors' device and its current stream.
    """

    def __init__(self, config: Any, arch: str, defines: Mapping[str, int] | None = None,
                 compiler: str | None = None):
        from .. import compilers, jit

        self.config = config
        self.arch = jit.normalize_arch(arch)
        self.cell = get_cell(config.problem.cell)
        self.defines = build_defines(config, self.arch, defines)
        self.compiler = compiler or compilers.chosen_compiler()
        built = _build(self.defines, self.arch, self.compiler)
        if self.compiler == "nvrtc":
            from .fused_launch import DriverLaunchers

            self.lib = DriverLaunchers(built)
        else:
            self.lib = _declare(built)
        #: the exchange buffers of this build's launches and their tag bases
        self.exchanges = Exchanges(self.lib.frnn_xch_bytes)

    def __repr__(self) -> str:
        extra = {k: v for k, v in self.defines.items() if k not in self.config.defines()}
        return f"FusedKernels({self.config}, arch={self.arch!r}, extra={extra}, compiler={self.compiler!r})"

    def forward_cluster(self, B: int, N: int) -> int:
        """Blocks per cluster of the forward launch (1: the exchange goes through L2)."""
        return int(self.lib.frnn_fwd_cluster(B, N))

    def backward_cluster(self, B: int, N: int) -> int:
        """Blocks per cluster of the backward launch (1: none; -1: its shared memory was refused)."""
        return int(self.lib.frnn_bwd_cluster(B, N))

    def backward_in_cluster(self, B: int, N: int) -> bool:
        """Whether the backward exchanges its gate gradients within one cluster per head."""
        return bool(self.lib.frnn_bwd_dsm_used(B, N))


class Exchanges:
    """The exchange buffers of one build's launches and their tag bases.

    ``size_of(B, N, backward)`` is the build's ``frnn_xch_bytes``. :attr:`lock` is held from
    taking a launch's base until the launch is queued, so that launches of one key, from any
    thread, queue in the order of their bases.
    """

    def __init__(self, size_of: Callable[[int, int, int], int]):
        self.size_of = size_of
        self.lock = threading.Lock()
        #: the largest tag base + T before a kept buffer is zeroed again (the forward's tags are
        #: the high halves of 32-bit words for 16-bit types; the backward's flags 32-bit words,
        #: kept below 2^31 as the NVRTC launchers pack the base as a signed int)
        self.fwd_tag_max, self.bwd_tag_max = FWD_TAG_MAX, BWD_TAG_MAX
        self._bytes: dict[tuple, int] = {}
        self._kept: dict[tuple, list] = {}  # (B, N, backward, device, stream): [buffer, next base]

    def take(self, B: int, N: int, backward: bool, device: Any, T: int, stream: int = 0):
        """``(buffer, base)``: the exchange buffer of a launch of T steps on ``stream`` (a head
        split over several blocks) and the tag base it passes (``xbase``), or, when it needs none,
        a placeholder it does not read (one per device, kept) and 0. Its size is asked of the
        build once per batch, heads, pass and device (``device`` must be current).

        The buffer is kept per (batch, heads, pass, device, stream) and zeroed only when it is
        made: each launch's tags continue after the last launch's (``tagged_exchange.cuh``,
        ``flag_exchange.cuh``), so that no word a launch leaves behind passes a later launch's
        poll. Before the tags would pass :attr:`fwd_tag_max` (:attr:`bwd_tag_max`) it is zeroed
        again (on the stream, after the launches before) and the base restarts at 0. A launch
        being captured into a CUDA graph gets a fresh buffer, zeroed in the graph, and base 0 (a
        replay repeats the captured base).
        """
        import torch

        key = (B, N, backward, device)
        nbytes = self._bytes.get(key)
        if nbytes is None:
            nbytes = self._bytes[key] = int(self.size_of(B, N, int(backward)))
        if nbytes <= 0:
            found = _PLACEHOLDERS.get(device)
            if found is None:
                found = _PLACEHOLDERS[device] = torch.empty(1, dtype=torch.int64, device=device)
            return found, 0
        words = _cdiv(nbytes, 16) * 4
        if device.type == "cuda" and torch.cuda.is_current_stream_capturing():
            return torch.zeros(words, dtype=torch.int32, device=device), 0
        kept = self._kept.get((*key, stream))
        if kept is None:
            if len(self._kept) >= _EXCHANGES_KEPT:  # the oldest goes (its stream orders its reuse)
                self._kept.pop(next(iter(self._kept)))
            kept = self._kept[(*key, stream)] = [torch.zeros(words, dtype=torch.int32, device=device), 0]
        buffer, base = kept
        if base + T > (self.bwd_tag_max if backward else self.fwd_tag_max):
            buffer.zero_()
            base = 0
        kept[1] = base + T
        return buffer, base


#: The largest tag base + T before a kept exchange buffer is zeroed again (:class:`Exchanges`).
FWD_TAG_MAX = (1 << 16) - 1
BWD_TAG_MAX = (1 << 31) - 1
#: Exchange buffers one build keeps (per batch, heads, pass, device and stream).
_EXCHANGES_KEPT = 16

#: Per device, the exchange pointer of launches that need no exchange (never read).
_PLACEHOLDERS: dict[Any, Any] = {}


def _declare(lib: Any) -> Any:
    """Declare the C signatures of the kernel library's launchers."""
    vp, ci, cu = ctypes.c_void_p, ctypes.c_int, ctypes.c_uint
    lib.frnn_fwd_launch.argtypes = [vp] * 8 + [ci, ci, ci, cu, vp]
    lib.frnn_fwd_launch.restype = ci
    lib.frnn_bwd_launch.argtypes = [vp] * 9 + [ci, ci, ci, cu, vp]
    lib.frnn_bwd_launch.restype = ci
    lib.frnn_xch_bytes.argtypes = [ci, ci, ci]
    lib.frnn_xch_bytes.restype = ctypes.c_long
    for name in ("frnn_fwd_cluster", "frnn_bwd_cluster", "frnn_bwd_dsm_used"):
        getattr(lib, name).argtypes = [ci, ci]
        getattr(lib, name).restype = ci
    return lib


@functools.lru_cache(maxsize=256)
def _kernels(config: Any, arch: str, defines: tuple[tuple[str, int], ...], compiler: str) -> FusedKernels:
    return FusedKernels(config, arch, dict(defines), compiler)


def kernels(config: Any, arch: str | None = None, defines: Mapping[str, int] | None = None,
            compiler: str | None = None) -> FusedKernels:
    """The :class:`FusedKernels` of ``config`` for ``arch`` (default: the current GPU's, see
    :func:`flashrnn_kernels.devices.build_arch`) with extra ``defines``, built by ``compiler``
    (default: :func:`flashrnn_kernels.compilers.compiler_choice`'s); built once (cached on disk) and kept
    for the process.

    ```python
    from flashrnn_kernels.backends import fused
    from flashrnn_kernels.tiling import Problem, kernel_config

    cfg = kernel_config(Problem("lstm", 16, 1, 768, "bfloat16", "forward"), "h100", fixed={"BT": 16})
    k = fused.kernels(cfg, defines={"FRNN_FWD_XCH": 0})   # a variant of that tiling
    states, last, cache = fused.fused_forward(Wx, R, b, s0, "lstm", False, kernels=k)
    k_rtc = fused.kernels(cfg, compiler="nvrtc")           # the same tiling built by NVRTC
    ```
    """
    from .. import compilers

    if arch is None:
        import torch

        arch = devices.build_arch(torch.cuda.current_device())
    return _kernels(config, arch, tuple(sorted((defines or {}).items())), compiler or compilers.chosen_compiler())


def call_plan(cell: Cell, dtype: str, B: int, N: int, D: int, kernel: str, device: Any) -> tuple[int, FusedKernels]:
    """:func:`batch_plan` with the kernels built for the tensors' GPU (cached per problem, device
    and compiler).

    A repeated call looks its plan up by the problem, the device and ``FLASHRNN_COMPILER``'s value;
    the other variables the compiler choice reads (the toolkit's) count when a problem is first
    planned."""
    index = devices.device_index(device)
    key = (cell.name, dtype, B, N, D, kernel, index, *raw_values(_PLAN_VARIABLES))
    plan = _PLANS.get(key)
    if plan is None:
        from .. import compilers

        if len(_PLANS) >= _PLANS_KEPT:
            _PLANS.clear()
        chunk, config = _device_plan(cell.name, dtype, B, N, D, kernel, index)
        plan = _PLANS[key] = (chunk, _kernels(config, devices.build_arch(index), (), compilers.chosen_compiler()))
    return plan


#: The variable a repeated call's plan is looked up by (the others the compiler choice reads count
#: when a problem is first planned).
_PLAN_VARIABLES = ("FLASHRNN_COMPILER",)
#: call_plan's answers by (cell, dtype, B, N, D, pass, device index, FLASHRNN_COMPILER).
_PLANS: dict[tuple, tuple[int, FusedKernels]] = {}
_PLANS_KEPT = 4096


def prebuild(config: Any, arch: str, compiler: str | None = None) -> threading.Thread:
    """Build the kernels of ``config`` for ``arch`` in a background thread and return the started
    thread. Only the compile runs there (the disk cache and the compiler's in-process memo get
    the build; nothing touches the GPU), so that a later :func:`kernels` call of the same
    tiling finds it built, or waits on the build lock for the rest of it. The compilers release
    the GIL while they run, so this overlaps the calling thread's own work and builds. A failed
    build is logged and left to that later call, which builds again and raises.

    ```python
    cfg = kernel_config(Problem("lstm", 16, 1, 768, "bfloat16", "backward"), "h100")
    fused.prebuild(cfg, "90a").join()     # the backward's kernels, built (or found) on disk
    ```
    """
    from .. import compilers, jit

    chosen = compiler or compilers.chosen_compiler()
    thread = threading.Thread(target=_build_only, args=(config, jit.normalize_arch(arch), chosen),
                              name="flashrnn-prebuild", daemon=True)
    thread.start()
    return thread


def _build_only(config: Any, arch: str, compiler: str) -> None:
    try:
        _build(build_defines(config, arch), arch, compiler)
    except Exception as exc:  # the call that needs these kernels builds them again and raises
        log.info("background build of the fused kernels of %s (sm_%s, %s) failed: %s", config, arch, compiler, exc)


#: The problems whose backward kernels a forward with gradients has started to build
#: (_start_backward_build), by (cell, dtype, B, N, D, device).
_BACKWARD_BUILDS: set[tuple] = set()
_BACKWARD_BUILDS_KEPT = 4096


def _start_backward_build(cell: Cell, Wx) -> None:
    """The first forward with gradients of a problem starts its backward's build (:func:`prebuild`)
    before building and running its own kernels: on an empty cache the two compiles overlap
    instead of the backward's waiting for ``backward()``."""
    B, _T, _G, N, D = Wx.shape
    key = (cell.name, Wx.dtype, B, N, D, Wx.device)
    if key in _BACKWARD_BUILDS:
        return
    if len(_BACKWARD_BUILDS) >= _BACKWARD_BUILDS_KEPT:
        _BACKWARD_BUILDS.clear()
    _BACKWARD_BUILDS.add(key)
    index = devices.device_index(Wx.device)
    try:
        _chunk, config = _device_plan(cell.name, _dtype_name(Wx), B, N, D, "b", index)
    except UnsupportedError:
        return  # no backward tiling: backward() says so itself
    prebuild(config, devices.build_arch(index))


# ------------------------------------------------------------------------------------------ run
_DTYPE_NAMES: dict[Any, str] = {}


def _dtype_name(t) -> str:
    name = _DTYPE_NAMES.get(t.dtype)
    if name is None:
        name = _DTYPE_NAMES[t.dtype] = str(t.dtype).replace("torch.", "")
    return name


def _check(rc: int, what: str) -> None:
    if rc != 0:
        raise RuntimeError(f"fused: {what} launch failed with CUDA error {rc}")


def fused_forward(Wx, R, b, states0, cell: str | Cell, need_cache: bool, kernels: FusedKernels | None = None):
    """Run the forward kernel on the whole batch; returns ``(states, last, cache or None)``.

    ``kernels`` defaults to the solved tiling of this call on the tensors' GPU.
    """
    cell = get_cell(cell)
    B, T, G, N, D = Wx.shape
    S = cell.num_states
    if kernels is None:
        chunk, kernels = call_plan(cell, _dtype_name(Wx), B, N, D, "f", Wx.device)
        if chunk < B:
            raise UnsupportedError(f"fused: no forward tiling for the whole batch of {B} (use forward_chunked)")
    Wx, R = Wx.contiguous(), R.contiguous()
    if Wx.data_ptr() % 16:  # the input-gate ring copies 16-byte chunks (an offset view: copy)
        Wx = Wx.clone()
    b = (b if b is not None else Wx.new_zeros(cell.num_bias, N, D)).contiguous()
    s0 = (states0 if states0 is not None else Wx.new_zeros(S, B, 1, N, D)).contiguous()
    states = Wx.new_empty(S, B, T, N, D)
    last = Wx.new_empty(S, B, 1, N, D)
    gc = 2 * G if cell.separate_gates else G
    cache = Wx.new_empty(B, T, gc, N, D) if need_cache else None
    device = Wx.device
    stream = devices.stream_handle(device.index)

    def launch() -> int:
        with kernels.exchanges.lock:
            xch, base = kernels.exchanges.take(B, N, False, device, T, stream)
            return kernels.lib.frnn_fwd_launch(Wx.data_ptr(), R.data_ptr(), b.data_ptr(), s0.data_ptr(),
                                               states.data_ptr(), last.data_ptr(),
                                               cache.data_ptr() if cache is not None else None,
                                               xch.data_ptr(), B, T, N, base, stream)

    # on the tensors' device, where the exchange buffer's size is asked too (none when a head runs
    # as one cluster)
    _check(devices.on_device(device.index, launch), "forward")
    return states, last, cache


def forward_chunked(Wx, R, b, states0, cell: Cell, need_cache: bool):
    """:func:`fused_forward` over batch chunks when the whole batch has no tiling."""
    import torch

    B, T, G, N, D = Wx.shape
    if need_cache:
        _start_backward_build(cell, Wx)
    chunk, k = call_plan(cell, _dtype_name(Wx), B, N, D, "f", Wx.device)
    if chunk >= B:
        return fused_forward(Wx, R, b, states0, cell, need_cache, k)
    outs = []
    for c0 in range(0, B, chunk):
        c1 = min(B, c0 + chunk)
        s0c = None if states0 is None else states0[:, c0:c1]
        if c1 - c0 == chunk:
            outs.append(fused_forward(Wx[c0:c1], R, b, s0c, cell, need_cache, k))
        else:  # the last, smaller chunk gets a tiling of its own
            outs.append(forward_chunked(Wx[c0:c1], R, b, s0c, cell, need_cache))
    states = torch.cat([o[0] for o in outs], dim=1)
    last = torch.cat([o[1] for o in outs], dim=1)
    cache = torch.cat([o[2] for o in outs], dim=0) if need_cache else None
    return states, last, cache


def fused_backward(R, b, states0, states, cache, dstates, dlast, cell: str | Cell,
                   plan: tuple[int, FusedKernels] | None = None):
    """Gradients ``(dWx, dR, db, dstates0)`` from the forward's outputs and cache.

    ``plan`` is ``(chunk, kernels)``: the batch runs in chunks of ``chunk`` rows through
    ``kernels`` (default: the solved plan of this call on the tensors' GPU).
    """
    import torch

    cell = get_cell(cell)
    S, B, T, N, D = states.shape
    G = cell.num_gates
    if plan is None:
        plan = call_plan(cell, _dtype_name(states), B, N, D, "b", states.device)
    chunk, k = plan
    if dstates is None:
        ds = torch.zeros_like(states)
    elif dlast is None:
        ds = dstates.contiguous()  # read only
    else:
        ds = dstates.contiguous().clone()
    if dlast is not None:
        ds[:, :, T - 1] += dlast[:, :, 0]
    R = R.contiguous()
    s0 = (states0 if states0 is not None else states.new_zeros(S, B, 1, N, D)).contiguous()
    dgr = states.new_empty(B, T, G, N, D)
    dwx = states.new_empty(B, T, G, N, D) if cell.separate_gates else dgr
    ds0 = states.new_empty(S, B, 1, N, D)
    device = states.device
    stream = devices.stream_handle(device.index)

    def launch(bc: int, s0c, stc, cc, dsc, dgrc, dwxc, ds0c) -> int:
        with k.exchanges.lock:
            xch, base = k.exchanges.take(bc, N, True, device, T, stream)
            return k.lib.frnn_bwd_launch(R.data_ptr(), s0c.data_ptr(), stc.data_ptr(), cc.data_ptr(),
                                         dsc.data_ptr(), dgrc.data_ptr(),
                                         dwxc.data_ptr() if cell.separate_gates else None,
                                         ds0c.data_ptr(), xch.data_ptr(), bc, T, N, base, stream)

    if chunk >= B:  # one launch over the whole tensors
        _check(devices.on_device(device.index, launch, B, s0, states, cache, ds, dgr, dwx, ds0), "backward")
    else:
        for c0 in range(0, B, chunk):
            c1 = min(B, c0 + chunk)
            s0c, stc, dsc = (t[:, c0:c1].contiguous() for t in (s0, states, ds))
            ds0c = states.new_empty(S, c1 - c0, 1, N, D)
            _check(devices.on_device(device.index, launch, c1 - c0, s0c, stc, cache[c0:c1], dsc, dgr[c0:c1],
                              dwx[c0:c1], ds0c), "backward")
            ds0[:, c0:c1] = ds0c
    # dR[g, n, o, i] = sum_{b, t} dgr[b, t, g, n, o] h_{t-1}[b, n, i]: one batched GEMM
    if N == 1:
        dR = _recurrent_grad_one_head(dgr.view(B, T, G * D), states[0].view(B, T, D),
                                      s0[0].view(B, D)).view(G, 1, D, D)
    else:
        hprev = torch.cat([s0[0], states[0, :, : T - 1]], dim=1)  # [B, T, N, D]
        a = dgr.permute(3, 2, 4, 0, 1).reshape(N, G * D, B * T)
        h = hprev.permute(2, 0, 1, 3).reshape(N, B * T, D)
        dR = torch.bmm(a, h).reshape(N, G, D, D).permute(1, 0, 2, 3).contiguous()
    # db[j] = sum over (b, t) of the gradient of the side/gate that bias row j feeds
    sx = dwx.sum(dim=(0, 1), dtype=torch.float32)  # [G, N, D], no float32 copy of dwx
    sr = dgr.sum(dim=(0, 1), dtype=torch.float32) if cell.separate_gates else sx
    parts = [(sx if side == "x" else sr)[g0:g1] for side, g0, g1 in _bias_runs(cell)]
    db = parts[0] if len(parts) == 1 else torch.cat(parts)
    return dwx, dR, db.to(states.dtype), ds0


@functools.lru_cache(maxsize=64)
def _bias_runs(cell: Cell) -> tuple[tuple[str, int, int], ...]:
    """``cell.bias_rows`` as runs of consecutive gates of one side, ``(side, first, end)``: the
    bias gradient is the concatenation of those slices of the gate-gradient sums (for the LSTM
    one run, all of the input side's sums: no copy).

    >>> _bias_runs(get_cell("gru"))
    (('x', 0, 3), ('r', 2, 3))
    """
    runs: list[list] = []
    for side, gate in cell.bias_rows:
        if runs and runs[-1][0] == side and runs[-1][2] == gate:
            runs[-1][2] += 1
        else:
            runs.append([side, gate, gate + 1])
    return tuple(tuple(r) for r in runs)


def _recurrent_grad_one_head(dg, h, h0):
    """``sum_{b,t} dg[b,t]^T h_{t-1}[b]`` for one head (dg [B, T, K], h [B, T, D], h0 [B, D]).

    Over the flattened rows i = b*T + t, row i - 1 of ``h`` is h_{t-1} except at t = 0, where it is
    the previous batch row's last state instead of h0[b]: one GEMM over the offset views (no copy
    of the shifted states) plus a correction of B rank-1 terms, computed in float32 and added by
    the GEMM itself.
    """
    import torch
    B, T, K = dg.shape
    D = h.shape[-1]
    flat_dg, flat_h = dg.reshape(B * T, K), h.reshape(B * T, D)
    dg0 = dg[:, 0].float()  # [B, K]
    corr = dg0.t() @ h0.float()
    if B > 1:
        corr -= dg0[1:].t() @ h[:-1, T - 1].float()
    return torch.addmm(corr.to(dg.dtype), flat_dg[1:].t(), flat_h[:-1])


def _make_function():
    import torch

    class FusedRNNFunction(torch.autograd.Function):
        @staticmethod
        def forward(ctx, Wx, R, b, states0, cell_name):
            cell = get_cell(cell_name)
            need = any(t is not None and t.requires_grad for t in (Wx, R, b, states0))
            states, last, cache = forward_chunked(Wx, R, b, states0, cell, need)
            ctx.cell = cell
            ctx.has_b, ctx.has_s0 = b is not None, states0 is not None
            # an output that no gradient reaches comes as None, not as zeros (fused_backward
            # takes None: no zero-filled tensor, no copy of dstates to add dlast to)
            ctx.set_materialize_grads(False)
            ctx.save_for_backward(R, b, states0, states, cache)
            return states, last

        @staticmethod
        def backward(ctx, dstates, dlast):
            R, b, states0, states, cache = ctx.saved_tensors
            if cache is None:
                raise RuntimeError("fused: forward ran without the gradient cache")
            dwx, dR, db, ds0 = fused_backward(R, b, states0, states, cache, dstates, dlast,
                                              ctx.cell)
            return dwx, dR, (db if ctx.has_b else None), (ds0 if ctx.has_s0 else None), None

    return FusedRNNFunction


@functools.cache
def _function():
    return _make_function()


def flashrnn_fused(Wx, R, b=None, states0=None, cell: str | Cell = "lstm"):
    """Fused forward (and backward through autograd): ``(states, last)``."""
    cell = get_cell(cell)
    return _function().apply(Wx, R, b, states0, cell.name)


# ------------------------------------------------------------------------------------ registry
def _forward_no_cache(Wx, R, b, states0, cell: Cell):
    """``(states, last)`` of the forward without the backward cache (no gradient can flow)."""
    states, last, _ = forward_chunked(Wx, R, b, states0, cell, False)
    return states, last


def _inference_op():
    """``flashrnn::fused_inference(Wx, R, b, states0, cell) -> (states, last)``: the forward
    without the backward cache, for calls through which no gradient flows (made once; kept in a
    plain list rather than behind ``functools.cache``, which ``torch.compile`` traces through
    with a warning)."""
    if not _INFERENCE_OP:
        with _INFERENCE_OP_LOCK:
            if not _INFERENCE_OP:
                _INFERENCE_OP.append(_make_inference_op())
    return _INFERENCE_OP[0]


_INFERENCE_OP: list = []
_INFERENCE_OP_LOCK = threading.Lock()


def _make_inference_op():
    import torch

    def impl(Wx, R, b, states0, cell):
        return _forward_no_cache(Wx, R, b, states0, get_cell(cell))

    def fake(Wx, R, b, states0, cell):
        c = get_cell(cell)
        B, T, _, N, D = Wx.shape
        return (Wx.new_empty(c.num_states, B, T, N, D), Wx.new_empty(c.num_states, B, 1, N, D))

    op = torch.library.custom_op(
        "flashrnn::fused_inference", impl, mutates_args=(),
        schema="(Tensor Wx, Tensor R, Tensor b, Tensor states0, str cell) -> (Tensor, Tensor)")
    op.register_fake(fake)
    return op


def _register() -> None:
    try:
        from . import Backend, Call, compiler_loaded, register_backend
    except ImportError:  # pragma: no cover - registry not importable (torch missing)
        return
    import torch

    from .. import compilers

    _DTYPES = {torch.bfloat16: "bfloat16", torch.float16: "float16", torch.float32: "float32"}

    class FusedBackend(Backend):
        """One persistent kernel launch per sequence with R on chip (forward and backward)."""

        name = "fused"
        priority = 20

        def supports(self, call: Call) -> str | None:
            if call.device.type != "cuda":
                return f"needs CUDA tensors (got device {call.device})"
            if call.dtype not in _DTYPES:
                return f"dtype {call.dtype} not supported (bfloat16, float16, float32)"
            if not torch.cuda.is_available():
                return "CUDA is not available"
            problem = devices.model_problem(call.device)
            if problem:
                return problem
            cap = devices.gpu_model(call.device).compute_capability
            if cap < (8, 0):
                return f"needs compute capability 8.0 or newer (mma.sync bf16), got {cap}"
            problem = compilers.toolchain_problem()
            if problem:
                return problem
            try:
                device_plan(call.cell_def, _DTYPES[call.dtype], call.B, call.N, call.D, "f", call.device)
                if call.requires_grad:
                    device_plan(call.cell_def, _DTYPES[call.dtype], call.B, call.N, call.D, "b", call.device)
            except UnsupportedError as e:
                return str(e).removeprefix("fused: ")
            return None

        def prepare(self) -> None:
            super().prepare()
            if compiler_loaded():  # eager calls go straight to the kernels (run)
                _inference_op()

        def run(self, Wx, R, b, states0, cell):
            grad = torch.is_grad_enabled() and any(
                t is not None and t.requires_grad for t in (Wx, R, b, states0))
            if not torch.compiler.is_compiling():
                # eager: straight to the kernels (a custom op's Python dispatch costs ~0.1 ms a
                # call on the H100 host, a tenth of a 12x64 forward); graphs keep the ops
                if grad:
                    return _function().apply(Wx, R, b, states0, cell.name)
                return _forward_no_cache(Wx, R, b, states0, cell)
            if grad:
                return super().run(Wx, R, b, states0, cell)
            # no gradient can flow: the inference op skips the backward cache (B*T*G*N*D
            # elements written per call, ~100 MB at B=16, T=1024, 1x768)
            return _inference_op()(Wx, R, b, states0, cell.name)

        def forward(self, Wx, R, b, states0, cell):
            states, last, cache = forward_chunked(Wx.contiguous(), R, b, states0, cell, True)
            return states, last, [cache]

        def backward(self, grad_states, grad_last, Wx, R, b, states0, states, aux, cell):
            (cache,) = aux
            dwx, dR, db, ds0 = fused_backward(R, b, states0, states, cache, grad_states, grad_last,
                                              cell)
            return dwx, dR.to(R.dtype), db.to(b.dtype), ds0

        def fake_aux(self, Wx, R, b, states0, cell):
            B, T, G, N, D = Wx.shape
            gc = 2 * G if cell.separate_gates else G
            return [Wx.new_empty(B, T, gc, N, D)]

    register_backend(FusedBackend(), replace=True)


_register()
