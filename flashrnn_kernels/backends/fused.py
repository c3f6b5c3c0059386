"""Backend "fused": one persistent CUDA kernel launch for all T steps, R kept on chip.

The kernels live in ``csrc/fused/fused_rnn.cu`` (nvcc alone builds them; README.md beside it
lists every ``-D`` define and its constraints). This module

* chooses the tiling defines with a small Python model (:func:`choose_config`) that predicts the
  shared memory of both kernels exactly and the register cost of the on-chip slice of ``R``;
* builds the kernel for the native architecture into a content-addressed cache directory as a
  shared library (no torch headers: it exports C launchers, called here through ``ctypes``);
* runs the forward and backward kernels and finishes the backward with two reductions in torch
  (``dR`` as one batched GEMM over all steps, ``db`` as a sum).

Layouts are the package's: ``Wx [B, T, G, N, D]``, ``R [G, N, D, D]``, ``b [Gb, N, D]``,
``states0 [S, B, 1, N, D]`` -> ``(states [S, B, T, N, D], last [S, B, 1, N, D])``.
"""
from __future__ import annotations

import ctypes
import dataclasses
import functools
import hashlib
import logging
import os
import shutil
import subprocess
import threading
from pathlib import Path
from typing import Any

from ..cells import Cell, get_cell
from ..errors import BuildError, UnsupportedError

log = logging.getLogger(__name__)
log.addHandler(logging.NullHandler())

LIBRARY_NAME = "fused_rnn.so"  # in each build directory

CSRC = Path(__file__).resolve().parent.parent / "csrc"
KERNEL_SOURCE = CSRC / "fused" / "fused_rnn.cu"
KERNEL_DEPS = (CSRC / "cells_generated.cuh", CSRC / "pointwise_math.cuh")

DTYPE_CODES = {"bfloat16": 0, "float16": 1, "float32": 2}
ELEM_SIZE = {0: 2, 1: 2, 2: 4}

# register budget (32-bit registers per thread) for the on-chip slice of R, per kernel; the rest of
# the 255 a thread may hold goes to accumulators, pointwise state and prefetched inputs
A_REG_BUDGET = 112
NWARPS = 8
WX_STAGES = 4  # fused_rnn.cu FRNN_WX_STAGES: steps held by the forward's input-gate ring


def _cdiv(a: int, b: int) -> int:
    return -(-a // b)


@dataclasses.dataclass(frozen=True)
class FusedConfig:
    """The tiling of one fused kernel build; every field but the derived ones is a ``-D`` define."""

    cell: int  # FLASHRNN_CELL
    dtype: int  # FLASHRNN_DTYPE: 0 bf16, 1 fp16, 2 fp32 (tf32)
    head_dim: int  # FLASHRNN_HEAD_DIM
    units: int  # FLASHRNN_FUSED_UNITS: hidden units per block
    nslice: int  # FLASHRNN_FUSED_NSLICE: blocks per (head, batch tile)
    bt: int  # FLASHRNN_FUSED_BT: batch tile
    fwd_wm: int  # FLASHRNN_FUSED_FWD_WM
    fwd_wk: int  # FLASHRNN_FUSED_FWD_WK
    bwd_wm: int  # FLASHRNN_FUSED_BWD_WM
    bwd_wk: int  # FLASHRNN_FUSED_BWD_WK
    num_gates: int  # from the cell (not a define of this kernel)

    def defines(self) -> dict[str, int]:
        return {
            "FLASHRNN_CELL": self.cell,
            "FLASHRNN_DTYPE": self.dtype,
            "FLASHRNN_HEAD_DIM": self.head_dim,
            "FLASHRNN_FUSED_UNITS": self.units,
            "FLASHRNN_FUSED_NSLICE": self.nslice,
            "FLASHRNN_FUSED_BT": self.bt,
            "FLASHRNN_FUSED_FWD_WM": self.fwd_wm,
            "FLASHRNN_FUSED_FWD_WK": self.fwd_wk,
            "FLASHRNN_FUSED_BWD_WM": self.bwd_wm,
            "FLASHRNN_FUSED_BWD_WK": self.bwd_wk,
        }

    # ---- derived quantities, the same formulas as fused_rnn.cu
    @property
    def nthreads(self) -> int:
        return 32 * self.fwd_wm * self.fwd_wk

    @property
    def kw(self) -> int:
        return 8 if self.dtype == 2 else 16

    @property
    def esize(self) -> int:
        return ELEM_SIZE[self.dtype]

    @property
    def word_bytes(self) -> int:
        """Bytes of one tagged exchange word (value + step tag)."""
        return 2 * self.esize

    def _gemm(self, which: str) -> tuple[int, int, int, int]:
        """(MTW, KSW, grows, srow) of the forward ('f') or backward ('b') GEMM."""
        G, D, U, kw = self.num_gates, self.head_dim, self.units, self.kw
        if which == "f":
            m, k, wm, wk = G * U, D, self.fwd_wm, self.fwd_wk
        else:
            m, k, wm, wk = U, G * D, self.bwd_wm, self.bwd_wk
        mt, ks = _cdiv(m, 16), _cdiv(k, kw)
        mtw, ksw = _cdiv(mt, wm), _cdiv(ks, wk)
        return mtw, ksw, mtw * wm * 16, ks * kw + 32 // self.word_bytes

    def a_regs(self, which: str) -> int:
        """32-bit registers per thread holding the slice of R (A fragments)."""
        mtw, ksw, _, _ = self._gemm(which)
        return mtw * ksw * 4

    def smem(self, which: str) -> int:
        """Dynamic shared memory in bytes (exactly what the kernel requests).

        Forward: operand tile of tagged words ``BT * SROW * w``, and with one block per head and
        head rows of whole 16-byte chunks the input-gate ring ``WX_STAGES * BT * G * U * e``;
        backward: operand tile of plain elements ``BT * (KS*KW*e + 16)``; both: gate partial sums
        ``WK * GROWS * (BT+1) * 4``, twice (by step parity) in a forward with ``NSLICE > 1``.
        """
        mtw, ksw, grows, srow = self._gemm(which)
        if which == "f":
            ring = WX_STAGES * self.bt * self.num_gates * self.units * self.esize if self.wx_ring else 0
            sums = (2 if self.nslice > 1 else 1) * self.fwd_wk * grows * (self.bt + 1) * 4
            return self.bt * srow * self.word_bytes + sums + ring
        kpad = _cdiv(self.num_gates * self.head_dim, self.kw) * self.kw
        return self.bt * (kpad * self.esize + 16) + self.bwd_wk * grows * (self.bt + 1) * 4

    @property
    def wx_ring(self) -> bool:
        """Whether the forward stages its input gates in a shared-memory ring (FRNN_WX_RING)."""
        return self.nslice == 1 and self.head_dim * self.esize % 16 == 0

    def blocks(self, batch: int, heads: int) -> int:
        return self.nslice * heads * _cdiv(batch, self.bt)


def _warp_split(m: int, k: int, kw: int, nwarps: int) -> tuple[int, int]:
    """(WM, WK) with WM * WK = nwarps minimising the A registers, then the MMA chain length."""
    mt, ks = _cdiv(m, 16), _cdiv(k, kw)
    best = None
    wm = 1
    while wm <= nwarps:
        wk = nwarps // wm
        regs = _cdiv(mt, wm) * _cdiv(ks, wk) * 4
        chain = _cdiv(ks, wk)
        key = (regs, chain, wm)
        if best is None or key < best[0]:
            best = (key, (wm, wk))
        wm *= 2
    return best[1]


def _make(cell: Cell, dtype: int, D: int, U: int, bt: int) -> FusedConfig:
    """A config with a forced (U, BT) and an even warp split (for development timings)."""
    kw = 8 if dtype == 2 else 16
    G = cell.num_gates
    fwm, fwk = _warp_split(G * U, D, kw, NWARPS)
    bwm, bwk = _warp_split(U, G * D, kw, NWARPS)
    return FusedConfig(cell.cuda_id, dtype, D, U, _cdiv(D, U), bt, fwm, fwk, bwm, bwk, G)


@functools.lru_cache(maxsize=4096)
def choose_config(cell: str | Cell, dtype: str, batch: int, heads: int, head_dim: int,
                  sms: int = 132, smem_max: int = 232448, kernel: str = "fb") -> FusedConfig:
    """The best tiling by the constraint model ``tiling/fused.cint``, or UnsupportedError saying why
    none fits (:class:`flashrnn_kernels.tiling.InfeasibleConfigError`: which resource, what works).

    ``kernel`` says which kernels must fit: "f" (forward), "b" (backward) or "fb" (both). The
    GPU is the one with ``sms`` SMs and ``smem_max`` bytes of opt-in shared memory per block
    (:func:`flashrnn_kernels.tiling.gpu_for_facts`); the model is solved by
    :func:`flashrnn_kernels.tiling.kernel_config` (cached on disk).
    """
    from ..tiling import Problem, gpu_for_facts, kernel_config

    cell = get_cell(cell)
    if dtype not in DTYPE_CODES:
        raise UnsupportedError(f"fused: dtype {dtype} not supported (bfloat16, float16, float32)")
    passes = {"f": "forward", "b": "backward", "fb": "both", "bf": "both"}
    if kernel not in passes:
        raise UnsupportedError(f"fused: kernel must be 'f', 'b' or 'fb', got {kernel!r}")
    cfg = kernel_config(Problem(cell.name, batch, heads, head_dim, dtype, passes[kernel]),
                        gpu_for_facts(sms, smem_max))
    d = cfg.defines()
    return FusedConfig(cell.cuda_id, DTYPE_CODES[dtype], head_dim, d["FLASHRNN_FUSED_UNITS"],
                       d["FLASHRNN_FUSED_NSLICE"], d["FLASHRNN_FUSED_BT"], d["FLASHRNN_FUSED_FWD_WM"],
                       d["FLASHRNN_FUSED_FWD_WK"], d["FLASHRNN_FUSED_BWD_WM"], d["FLASHRNN_FUSED_BWD_WK"],
                       cell.num_gates)


# ------------------------------------------------------------------------------------------ build
_LIBS: dict[str, Any] = {}
_LOCK = threading.Lock()


def _arch_flag(capability: tuple[int, int]) -> tuple[str, str]:
    major, minor = capability
    arch = f"{major}{minor}"
    if (major, minor) == (9, 0):
        arch = "90a"
    return arch, f"-gencode=arch=compute_{arch},code=sm_{arch}"


def _nvcc() -> str:
    path = shutil.which("nvcc")
    if path is None:
        for cand in ("/usr/local/cuda/bin/nvcc",):
            if os.path.exists(cand):
                return cand
        raise BuildError("fused: nvcc not found on PATH (needed to build the fused kernels)")
    return path


def nvcc_command(config: FusedConfig, arch: str, out: str, extra: tuple[str, ...] = ()) -> list[str]:
    """The nvcc command line that builds the shared library for ``config``."""
    defs = [f"-D{k}={v}" for k, v in config.defines().items()]
    if arch == "90a":
        defs.append("-DFRNN_SM90A=1")  # bulk copies and cluster multicast in the backward
    return [_nvcc(), "-O3", "-std=c++17", "-shared", "-Xcompiler", "-fPIC",
            f"-gencode=arch=compute_{arch},code=sm_{arch}", *defs, *extra,
            "-o", out, str(KERNEL_SOURCE)]


def _cache_root() -> Path:
    from ..env import settings
    return settings().cache_dir / "fused"


@functools.lru_cache(maxsize=None)
def _nvcc_version() -> str:
    try:
        return subprocess.run([_nvcc(), "--version"], capture_output=True, text=True).stdout
    except OSError:
        return ""


@functools.lru_cache(maxsize=4096)
def _build_key(config: FusedConfig, arch: str) -> str:
    h = hashlib.sha256()
    for p in (KERNEL_SOURCE, *KERNEL_DEPS):
        h.update(p.read_bytes())
    h.update(repr(sorted(config.defines().items())).encode())
    h.update(arch.encode())
    h.update(_nvcc_version().encode())
    return h.hexdigest()[:24]


@functools.lru_cache(maxsize=None)
def _native_arch() -> str:
    import torch
    return _arch_flag(torch.cuda.get_device_capability())[0]


@functools.lru_cache(maxsize=4096)
def ensure_built(config: FusedConfig, arch: str | None = None) -> Path:
    """Build the kernel library for ``config`` unless the cache has it; returns its path.

    The build runs once across threads and processes (:func:`flashrnn_kernels.jit.cached_build`:
    a file lock per build, ``FLASHRNN_BUILD_TIMEOUT``, interrupted builds wiped and redone) in
    ``<cache>/fused/<key>/``, named by what it depends on (sources, defines, architecture, nvcc).
    """
    from ..jit import cached_build

    arch = arch or _native_arch()

    def build(directory: Path) -> None:
        tmp = directory / "fused_rnn.partial.so"
        cmd = nvcc_command(config, arch, str(tmp))
        log.info("building fused kernel: %s", " ".join(cmd))
        res = subprocess.run(cmd, capture_output=True, text=True)
        if res.returncode != 0:
            raise BuildError("fused: nvcc failed\n" + " ".join(cmd) + "\n" + res.stderr)
        os.replace(tmp, directory / LIBRARY_NAME)

    parts = {"defines": repr(sorted(config.defines().items())), "arch": arch}
    built = cached_build(_build_key(config, arch), parts, build, cache_dir=_cache_root())
    return built.directory / LIBRARY_NAME


def open_library(path: str | Path) -> Any:
    """Open a built kernel library with :mod:`ctypes` and declare its C launchers."""
    lib = ctypes.CDLL(str(path))
    vp, ci = ctypes.c_void_p, ctypes.c_int
    lib.frnn_fwd_launch.argtypes = [vp] * 8 + [ci, ci, ci, vp]
    lib.frnn_fwd_launch.restype = ci
    lib.frnn_bwd_launch.argtypes = [vp] * 9 + [ci, ci, ci, vp]
    lib.frnn_bwd_launch.restype = ci
    for name in ("frnn_smem_fwd", "frnn_smem_bwd", "frnn_nthreads"):
        getattr(lib, name).restype = ci
    lib.frnn_xch_bytes.argtypes = [ci, ci, ci]
    lib.frnn_xch_bytes.restype = ctypes.c_long
    for name in ("frnn_fwd_cluster", "frnn_bwd_cluster", "frnn_bwd_dsm_used"):
        if hasattr(lib, name):  # (builds of older sources lack some)
            getattr(lib, name).argtypes = [ci, ci]
            getattr(lib, name).restype = ci
    return lib


def load_library(config: FusedConfig, arch: str | None = None) -> Any:
    """Build (once, cached on disk) and load the kernel library for ``config``."""
    arch = arch or _native_arch()
    lib = _LIBS.get((config, arch))
    if lib is not None:
        return lib
    lib_path = ensure_built(config, arch)
    key = (config, arch)
    with _LOCK:
        if key in _LIBS:
            return _LIBS[key]
        lib = open_library(lib_path)
        if lib.frnn_smem_fwd() != config.smem("f") or lib.frnn_smem_bwd() != config.smem("b"):
            raise BuildError(
                f"fused: shared memory model out of date: kernel {lib.frnn_smem_fwd()}/"
                f"{lib.frnn_smem_bwd()} B, model {config.smem('f')}/{config.smem('b')} B")
        _LIBS[key] = lib
        return lib


# ------------------------------------------------------------------------------------------ run
# tests set this to fill every output with NaN before a launch (so unwritten elements show)
POISON_OUTPUTS = False


def _new(shape, like):
    import torch
    t = torch.empty(shape, dtype=like.dtype, device=like.device)
    if POISON_OUTPUTS:
        t.fill_(float("nan"))
    return t

def _dtype_name(t) -> str:
    return str(t.dtype).replace("torch.", "")


@functools.lru_cache(maxsize=None)
def _device_facts(index: int) -> tuple[int, int, tuple[int, int]]:
    import torch
    p = torch.cuda.get_device_properties(index)
    smem = getattr(p, "shared_memory_per_block_optin", 232448)
    return p.multi_processor_count, smem, (p.major, p.minor)


def _device_arch(device) -> str:
    """Build target of the GPU holding the tensors (not of the current device)."""
    return _arch_flag(_device_facts(device.index or 0)[2])[0]


def config_for(cell: Cell, Wx, kernel: str = "fb") -> FusedConfig:
    B, T, G, N, D = Wx.shape
    sms, smem, _ = _device_facts(Wx.device.index or 0)
    return choose_config(cell, _dtype_name(Wx), B, N, D, sms=sms, smem_max=smem, kernel=kernel)


def batch_plan(cell: Cell, dtype: str, B: int, N: int, D: int, kernel: str, sms: int = 132,
               smem_max: int = 232448) -> tuple[int, FusedConfig]:
    """(chunk, config): the whole batch if a config fits, else the largest chunk (a multiple of
    8) that fits, run one chunk after the other."""
    try:
        return B, choose_config(cell, dtype, B, N, D, sms=sms, smem_max=smem_max, kernel=kernel)
    except UnsupportedError:
        if B <= 8:
            raise
    chunk = (B // 2 + 7) // 8 * 8
    while True:
        try:
            return chunk, choose_config(cell, dtype, chunk, N, D, sms=sms, smem_max=smem_max,
                                        kernel=kernel)
        except UnsupportedError:
            if chunk <= 8:
                raise
            chunk = max(8, (chunk // 2 + 7) // 8 * 8)


def _exchange(lib, B: int, N: int, backward: bool, device):
    """Zeroed exchange buffer for a head split over several blocks (its size from the kernel
    library: forward tagged words, backward plain elements + step flags)."""
    import torch
    nbytes = lib.frnn_xch_bytes(B, N, int(backward))
    if nbytes <= 0:
        return torch.empty(1, dtype=torch.int64, device=device)
    return torch.zeros(_cdiv(nbytes, 16) * 4, dtype=torch.int32, device=device)


def _check(rc: int, what: str) -> None:
    if rc != 0:
        raise RuntimeError(f"fused: {what} launch failed with CUDA error {rc}")


def fused_forward(Wx, R, b, states0, cell: str | Cell, need_cache: bool,
                  config: FusedConfig | None = None):
    """Run the forward kernel; returns (states, last, cache or None)."""
    import torch
    cell = get_cell(cell)
    B, T, G, N, D = Wx.shape
    S = cell.num_states
    config = config or config_for(cell, Wx, "f")
    lib = load_library(config, _device_arch(Wx.device))
    Wx, R = Wx.contiguous(), R.contiguous()
    if Wx.data_ptr() % 16:  # the input-gate ring copies 16-byte chunks (an offset view: copy)
        Wx = Wx.clone()
    b = (b if b is not None else Wx.new_zeros(cell.num_bias, N, D)).contiguous()
    s0 = (states0 if states0 is not None else Wx.new_zeros(S, B, 1, N, D)).contiguous()
    states = _new((S, B, T, N, D), Wx)
    last = _new((S, B, 1, N, D), Wx)
    gc = 2 * G if cell.separate_gates else G
    cache = _new((B, T, gc, N, D), Wx) if need_cache else None
    stream = torch.cuda.current_stream(Wx.device).cuda_stream
    # the runtime launches on the *current* device: make it the tensors' device (a stream of
    # another device, or the legacy default stream 0, would fail or run on the wrong GPU); the
    # exchange buffer's size depends on the device too (none when a head runs as one cluster)
    with torch.cuda.device(Wx.device):
        counters = _exchange(lib, B, N, False, Wx.device)
        rc = lib.frnn_fwd_launch(Wx.data_ptr(), R.data_ptr(), b.data_ptr(), s0.data_ptr(),
                                 states.data_ptr(), last.data_ptr(),
                                 cache.data_ptr() if cache is not None else None,
                                 counters.data_ptr(), B, T, N, stream)
    _check(rc, "forward")
    return states, last, cache


def forward_chunked(Wx, R, b, states0, cell: Cell, need_cache: bool):
    """:func:`fused_forward` over batch chunks when the whole batch has no tiling."""
    import torch
    B, T, G, N, D = Wx.shape
    sms, smem, _ = _device_facts(Wx.device.index or 0)
    chunk, config = batch_plan(cell, _dtype_name(Wx), B, N, D, "f", sms, smem)
    if chunk >= B:
        return fused_forward(Wx, R, b, states0, cell, need_cache, config)
    outs = []
    for c0 in range(0, B, chunk):
        c1 = min(B, c0 + chunk)
        s0c = None if states0 is None else states0[:, c0:c1]
        cfg = config if c1 - c0 == chunk else None
        outs.append(fused_forward(Wx[c0:c1], R, b, s0c, cell, need_cache, cfg))
    states = torch.cat([o[0] for o in outs], dim=1)
    last = torch.cat([o[1] for o in outs], dim=1)
    cache = torch.cat([o[2] for o in outs], dim=0) if need_cache else None
    return states, last, cache


def fused_backward(R, b, states0, states, cache, dstates, dlast, cell: str | Cell,
                   plan: tuple[int, FusedConfig] | None = None):
    """Gradients (dWx, dR, db, dstates0) from the forward's outputs and cache."""
    import torch
    cell = get_cell(cell)
    S, B, T, N, D = states.shape
    G = cell.num_gates
    if plan is None:
        sms, smem, _ = _device_facts(states.device.index or 0)
        plan = batch_plan(cell, _dtype_name(states), B, N, D, "b", sms, smem)
    chunk, config = plan
    lib = load_library(config, _device_arch(states.device))
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
    dgr = _new((B, T, G, N, D), states)
    dwx = _new((B, T, G, N, D), states) if cell.separate_gates else dgr
    ds0 = _new((S, B, 1, N, D), states)
    stream = torch.cuda.current_stream(states.device).cuda_stream
    for c0 in range(0, B, chunk):
        c1 = min(B, c0 + chunk)
        whole = c0 == 0 and c1 == B
        part = (lambda t: t) if whole else (lambda t: t[:, c0:c1].contiguous())
        s0c, stc, dsc = part(s0), part(states), part(ds)
        ds0c = ds0 if whole else _new((S, c1 - c0, 1, N, D), states)
        counters = _exchange(lib, c1 - c0, N, True, states.device)
        with torch.cuda.device(states.device):  # launch on the tensors' device (see forward)
            rc = lib.frnn_bwd_launch(R.data_ptr(), s0c.data_ptr(), stc.data_ptr(),
                                     cache[c0:c1].data_ptr(), dsc.data_ptr(),
                                     dgr[c0:c1].data_ptr(),
                                     dwx[c0:c1].data_ptr() if cell.separate_gates else None,
                                     ds0c.data_ptr(), counters.data_ptr(), c1 - c0, T, N, stream)
        _check(rc, "backward")
        if not whole:
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
    db = torch.stack([(sx if side == "x" else sr)[gate] for side, gate in cell.bias_rows])
    return dwx, dR, db.to(states.dtype), ds0


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
            ctx.cell, ctx.plan = cell, None
            ctx.has_b, ctx.has_s0 = b is not None, states0 is not None
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


@functools.lru_cache(maxsize=None)
def _function():
    return _make_function()


def flashrnn_fused(Wx, R, b=None, states0=None, cell: str | Cell = "lstm"):
    """Fused forward (and backward through autograd): ``(states, last)``."""
    cell = get_cell(cell)
    return _function().apply(Wx, R, b, states0, cell.name)


def supports(cell: str | Cell, Wx, R, b=None, states0=None) -> str | None:
    """None if the fused backend can run this call, else the reason it cannot."""
    try:
        import torch
    except ImportError:  # pragma: no cover
        return "torch is not installed"
    if not Wx.is_cuda:
        return "fused: needs CUDA tensors"
    if Wx.dtype not in (torch.bfloat16, torch.float16, torch.float32):
        return f"fused: dtype {Wx.dtype} not supported"
    cap = torch.cuda.get_device_capability(Wx.device)
    if cap < (8, 0):
        return f"fused: needs compute capability 8.0 or newer (mma.sync bf16), got {cap}"
    B, T, G, N, D = Wx.shape
    sms, smem, _ = _device_facts(Wx.device.index or 0)
    try:
        batch_plan(get_cell(cell), _dtype_name(Wx), B, N, D, "f", sms, smem)
        batch_plan(get_cell(cell), _dtype_name(Wx), B, N, D, "b", sms, smem)
    except UnsupportedError as e:
        return str(e)
    return None


# ------------------------------------------------------------------------------------ registry
def _forward_no_cache(Wx, R, b, states0, cell: Cell):
    """``(states, last)`` of the forward without the backward cache (no gradient can flow)."""
    states, last, _ = forward_chunked(Wx, R, b, states0, cell, False)
    return states, last


@functools.lru_cache(maxsize=None)
def _nvcc_available() -> bool:
    try:
        _nvcc()
    except BuildError:
        return False
    return True


@functools.lru_cache(maxsize=None)
def _inference_op():
    """``flashrnn::fused_inference(Wx, R, b, states0, cell) -> (states, last)``: the forward
    without the backward cache, for calls through which no gradient flows."""
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
        from . import Backend, Call, register_backend
    except ImportError:  # pragma: no cover - registry not importable (torch missing)
        return
    import torch

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
            idx = call.device.index if call.device.index is not None else torch.cuda.current_device()
            sms, smem, cap = _device_facts(idx)
            if cap < (8, 0):
                return f"needs compute capability 8.0 or newer (mma.sync bf16), got {cap}"
            if not _nvcc_available():
                return "nvcc not found (needed to build the fused kernels)"
            try:
                batch_plan(call.cell_def, _DTYPES[call.dtype], call.B, call.N, call.D, "f", sms, smem)
                if call.requires_grad:
                    batch_plan(call.cell_def, _DTYPES[call.dtype], call.B, call.N, call.D, "b", sms,
                               smem)
            except UnsupportedError as e:
                return str(e).removeprefix("fused: ")
            return None

        def prepare(self) -> None:
            super().prepare()
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
