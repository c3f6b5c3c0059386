"""Builds of the CUDA sources with NVRTC, the CUDA runtime compiler, into cubins: no ``nvcc``, no
host compiler, no CUDA toolkit; only the pip packages ``cuda-bindings`` (its ``nvrtc`` module),
``nvidia-cuda-nvrtc`` (the compiler library) and ``nvidia-cuda-runtime`` (the CUDA headers, found
with ``cuda-pathfinder``).

:func:`load_cubin` is this path's side of the one build seam (:mod:`flashrnn_kernels.jit` holds the
other, nvcc): ``(name, source, defines, arch)`` -> a :class:`Cubin` (the image and the lowered names
of templated kernels), cached with the same discipline as every build (:func:`jit.cached_build`):

* **Key.** The build's name, the contents of its source and of every header below ``csrc/``, the
  defines, the target, the name expressions, and the compiler's identity (:func:`toolchain_id`:
  NVRTC's version, the versions of the NVRTC and CUDA-header packages).
* **Cache, lock, atomic write.** One directory per key, ``<cache>/<name>-nvrtc-<key[:20]>``, built
  under the file lock of :func:`jit.cached_build`; the cubin is written under a temporary name and
  renamed, and the directory counts only once its marker is written last, so a killed compile
  leaves nothing that a later process would load.

Only the kernels go through NVRTC: a source's host code (``extern "C"`` launchers, occupancy
queries) sits behind ``#ifndef __CUDACC_RTC__``, and :mod:`flashrnn_kernels.driver` launches the
kernels from Python. What a launch needs from a build (its argument struct's layout, the build's
facts) is read from tables the cubin exports (:func:`exported_table`), from the ELF image itself,
so that it can be read, and tested, without a GPU.

```python
from flashrnn_kernels import nvrtc

nvrtc.toolchain_problem()      # None, or why NVRTC cannot build here
cub = nvrtc.load_cubin("flashrnn_alternating", "alternating.cu", arch="90a",
                       name_expressions=["flashrnn::alternating::forward_kernel<0, float>"])
cub.kernel_names()             # the entry points in the image
```
"""
from __future__ import annotations

import functools
import json
import logging
import os
import struct
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import BuildError

log = logging.getLogger(__name__)

CUBIN = "kernels.cubin"
NAMES = "lowered_names.json"

_memo: dict[str, Cubin] = {}
_memo_lock = threading.Lock()


# ------------------------------------------------------------------------------ the compiler

@functools.cache
def _nvrtc_module() -> Any:
    from cuda.bindings import nvrtc

    return nvrtc


def _package_version(name: str) -> str | None:
    from importlib import metadata

    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


@functools.cache
def _problem() -> str | None:
    try:
        nvrtc = _nvrtc_module()
    except ImportError as exc:
        return (f"no NVRTC: the package cuda-bindings is not installed ({exc}); "
                "pip install 'constrint[kernels]' or pip install cuda-bindings nvidia-cuda-nvrtc nvidia-cuda-runtime")
    try:
        err, *_ = nvrtc.nvrtcVersion()
    except Exception as exc:  # the bindings raise RuntimeError or OSError kinds for a missing library
        return (f"no NVRTC: libnvrtc could not be loaded ({exc}); pip install nvidia-cuda-nvrtc "
                "matching the installed cuda-bindings")
    if err != nvrtc.nvrtcResult.NVRTC_SUCCESS:
        return f"no NVRTC: nvrtcVersion failed ({err})"
    try:
        cuda_include_dir()
    except BuildError as exc:
        return str(exc)
    return None


def toolchain_problem() -> str | None:
    """None when NVRTC can build the kernels here, else why not (what is missing, how to get it).

    ```python
    nvrtc.toolchain_problem()
    # None, or e.g. 'no NVRTC: the package cuda-bindings is not installed (...); pip install ...'
    ```
    """
    return _problem()


@functools.cache
def cuda_include_dir() -> Path:
    """The directory of the CUDA headers the kernels include (``cuda_fp16.h``, ``cuda_bf16.h``,
    ``cuda_runtime.h``), from the ``nvidia-cuda-runtime`` package (or a toolkit), found by
    ``cuda-pathfinder``; a :class:`~flashrnn_kernels.BuildError` when there is none."""
    try:
        from cuda import pathfinder
    except ImportError as exc:
        raise BuildError(f"no CUDA headers for NVRTC: cuda-pathfinder is not installed ({exc}); "
                         "pip install cuda-pathfinder nvidia-cuda-runtime") from None
    found = pathfinder.find_nvidia_header_directory("cudart")
    if not found or not (Path(found) / "cuda_fp16.h").is_file():
        raise BuildError("no CUDA headers for NVRTC: cuda_runtime.h and cuda_fp16.h not found; "
                         "pip install nvidia-cuda-runtime (or set CUDA_HOME to a toolkit)")
    return Path(found)


def nvrtc_version() -> str:
    """NVRTC's version as ``"major.minor"`` (e.g. ``"13.0"``)."""
    nvrtc = _nvrtc_module()
    err, major, minor = nvrtc.nvrtcVersion()
    _check(err, "nvrtcVersion")
    return f"{major}.{minor}"


@functools.cache
def toolchain_id() -> dict[str, Any]:
    """The compiler's identity that enters every NVRTC build key: NVRTC's version, the versions of
    the compiler-library and header packages (a new wheel gets new builds) and the header dir.

    ```python
    nvrtc.toolchain_id()
    # {'nvrtc': '13.0', 'nvidia-cuda-nvrtc': '13.0.88', 'nvidia-cuda-runtime': '13.0.96',
    #  'cuda-bindings': '13.0.3', 'include': '.../nvidia/cu13/include'}
    ```
    """
    return {
        "nvrtc": nvrtc_version(),
        **{pkg: _package_version(pkg) for pkg in ("nvidia-cuda-nvrtc", "nvidia-cuda-runtime", "cuda-bindings")},
        "include": str(cuda_include_dir()),
    }


def supported_archs() -> list[str]:
    """The real architectures this NVRTC builds for, e.g. ``['75', '80', ..., '90', '100', ...]``."""
    nvrtc = _nvrtc_module()
    err, archs = nvrtc.nvrtcGetSupportedArchs()
    _check(err, "nvrtcGetSupportedArchs")
    return [str(a) for a in archs]


def _check(err: Any, what: str) -> None:
    nvrtc = _nvrtc_module()
    if err != nvrtc.nvrtcResult.NVRTC_SUCCESS:
        _, text = nvrtc.nvrtcGetErrorString(err)
        raise BuildError(f"{what} failed: {text.decode() if isinstance(text, bytes) else text}")


def options(arch: str, defines: Mapping[str, Any] | None = None,
            include_dirs: Sequence[Path] = ()) -> list[str]:
    """NVRTC's options of a build: the real target ``sm_<arch>`` (a cubin, no PTX), C++17, line
    info, a parallel compile (:data:`SPLIT_COMPILE`), the include directories (``csrc/``, then
    ``include_dirs``, then the CUDA headers) and the defines, as nvcc's command line has them
    (:func:`jit.nvcc_command`).

    >>> options("90a", {"X": 1}, include_dirs=[])[:4]
    ['-arch=sm_90a', '-std=c++17', '-lineinfo', '-split-compile=0']
    """
    from . import jit

    a = jit.normalize_arch(arch)
    incs = [jit.CSRC, *include_dirs, cuda_include_dir()]
    return [f"-arch=sm_{a}", "-std=c++17", "-lineinfo", SPLIT_COMPILE, *(f"-I{i}" for i in incs),
            *jit.define_flags(defines)]


#: NVRTC runs its optimiser and code generation on as many threads as the machine has, one part of
#: the program per thread: the same kernels' machine code, built in 0.77-0.90x the time on
#: two cores (docs/design/nvrtc.md). An NVRTC that does not know the option builds without it.
SPLIT_COMPILE = "-split-compile=0"


@dataclass(frozen=True)
class Compiled:
    """What one NVRTC compile gives: the cubin, the lowered (mangled) name of each name expression,
    and the compiler's log (warnings)."""

    cubin: bytes
    lowered: dict[str, str]
    log: str


def compile_source(source: Path, arch: str, *, defines: Mapping[str, Any] | None = None,
                   include_dirs: Sequence[Path] = (), name_expressions: Sequence[str] = ()) -> Compiled:
    """Compile one translation unit with NVRTC for ``arch`` (no cache: :func:`load_cubin` caches).

    A failed compile raises :class:`~flashrnn_kernels.BuildError` with NVRTC's log. An
    architecture this NVRTC does not know is named in the error with the ones it knows.
    """
    problem = toolchain_problem()
    if problem:
        raise BuildError(problem)
    from . import jit

    nvrtc = _nvrtc_module()
    a = jit.normalize_arch(arch)
    if a.rstrip("af") not in supported_archs():
        raise BuildError(f"NVRTC {nvrtc_version()} cannot build for sm_{a} "
                         f"(it builds for sm_{', sm_'.join(supported_archs())}); install a newer nvidia-cuda-nvrtc")
    # NVRTC gets the text, not the file: its own directory first, as nvcc searches it for "..."
    opts = [o.encode() for o in options(a, defines, [Path(source).resolve().parent, *include_dirs])]
    prog, result = _compile(Path(source), opts, name_expressions)
    if result == nvrtc.nvrtcResult.NVRTC_ERROR_INVALID_OPTION and SPLIT_COMPILE.encode() in opts:
        nvrtc.nvrtcDestroyProgram(prog)  # an NVRTC from before the option: build on one thread
        opts.remove(SPLIT_COMPILE.encode())
        prog, result = _compile(Path(source), opts, name_expressions)
    try:
        err, size = nvrtc.nvrtcGetProgramLogSize(prog)
        _check(err, "nvrtcGetProgramLogSize")
        buf = bytearray(size)  # written by NVRTC (never a bytes object: those are immutable, shared)
        _check(nvrtc.nvrtcGetProgramLog(prog, buf)[0], "nvrtcGetProgramLog")
        text = bytes(buf).rstrip(b"\0 ").decode(errors="replace")
        if result != nvrtc.nvrtcResult.NVRTC_SUCCESS:
            raise BuildError(f"NVRTC failed for {source} (sm_{a}):\n{' '.join(o.decode() for o in opts)}\n"
                             f"{text[-8000:]}")
        err, size = nvrtc.nvrtcGetCUBINSize(prog)
        _check(err, "nvrtcGetCUBINSize")
        image = bytearray(size)
        _check(nvrtc.nvrtcGetCUBIN(prog, image)[0], "nvrtcGetCUBIN")
        lowered = {}
        for expr in name_expressions:
            err, name = nvrtc.nvrtcGetLoweredName(prog, expr.encode())
            _check(err, f"nvrtcGetLoweredName({expr})")
            lowered[expr] = name.decode() if isinstance(name, bytes) else str(name)
        return Compiled(bytes(image), lowered, text)
    finally:
        nvrtc.nvrtcDestroyProgram(prog)


def _compile(source: Path, opts: list[bytes], name_expressions: Sequence[str]) -> tuple[Any, Any]:
    """``(program, result)`` of one NVRTC compile of ``source`` with ``opts``; the caller
    destroys the program."""
    nvrtc = _nvrtc_module()
    err, prog = nvrtc.nvrtcCreateProgram(source.read_bytes(), source.name.encode(), 0, [], [])
    _check(err, "nvrtcCreateProgram")
    try:
        for expr in name_expressions:
            _check(nvrtc.nvrtcAddNameExpression(prog, expr.encode())[0], f"nvrtcAddNameExpression({expr})")
        (result,) = nvrtc.nvrtcCompileProgram(prog, len(opts), opts)
    except BaseException:
        nvrtc.nvrtcDestroyProgram(prog)
        raise
    return prog, result


# ------------------------------------------------------------------------------ cached builds

@dataclass(frozen=True)
class Cubin:
    """A cubin built by :func:`load_cubin`: where it lies, its image, and the lowered name of each
    name expression it was built with (templated kernels)."""

    path: Path
    image: bytes = field(repr=False)
    lowered: Mapping[str, str] = field(default_factory=dict)

    def kernel_names(self) -> list[str]:
        """The entry points (global functions) in the image."""
        return sorted(name for name, sym in elf_symbols(self.image).items() if sym.is_entry)

    def table(self, name: str) -> list[tuple[str, int, int]]:
        """An exported table of the image (:func:`exported_table`)."""
        return exported_table(self.image, name)


def cubin_key(name: str, source: str | Path, *, defines: Mapping[str, Any] | None = None,
              arch: str, name_expressions: Sequence[str] = ()) -> tuple[str, dict[str, Any]]:
    """``(key, parts)`` of a :func:`load_cubin` build (what its cache directory is named by)."""
    from . import jit

    (src,) = jit.resolve_sources([source])
    parts = {
        "name": name,
        "compiler": "nvrtc",
        "sources": {src.name: jit.file_digest(src)},
        "headers": jit.header_digests([jit.CSRC]),
        "arch": jit.normalize_arch(arch),
        "defines": jit.define_flags(defines),
        "name_expressions": list(name_expressions),
        "toolchain": toolchain_id(),
    }
    return jit.build_key(parts), parts


def load_cubin(name: str, source: str | Path, *, defines: Mapping[str, Any] | None = None,
               arch: str, name_expressions: Sequence[str] = ()) -> Cubin:
    """Build ``source`` (a path relative to ``csrc/`` or absolute) with NVRTC for ``arch`` unless the
    cache has it; memoised per process by key.

    ```python
    cub = nvrtc.load_cubin("fused_rnn", "fused/fused_rnn.cu", defines=defines, arch="90a")
    cub.kernel_names()         # ['frnn_bwd', 'frnn_bwd_dsm', 'frnn_fwd', 'frnn_fwd_dsm']
    ```
    """
    from . import jit

    problem = toolchain_problem()
    if problem:
        raise BuildError(f"cannot build {name}: {problem}")
    key, parts = cubin_key(name, source, defines=defines, arch=arch, name_expressions=name_expressions)
    with _memo_lock:
        if key in _memo:
            return _memo[key]
    (src,) = jit.resolve_sources([source])

    def build(directory: Path) -> None:
        t0 = time.monotonic()
        out = compile_source(src, arch, defines=defines, name_expressions=name_expressions)
        log.info("NVRTC compiled %s for sm_%s in %.1f s", name, parts["arch"], time.monotonic() - t0)
        if out.log.strip():
            (directory / "nvrtc.log").write_text(out.log)
        _write_atomic(directory / NAMES, json.dumps(out.lowered, indent=1, sort_keys=True).encode())
        _write_atomic(directory / CUBIN, out.cubin)

    result = jit.cached_build(f"{name}-nvrtc-{key[:20]}", parts, build)
    directory = result.directory
    cub = Cubin(directory / CUBIN, (directory / CUBIN).read_bytes(),
                json.loads((directory / NAMES).read_text()))
    with _memo_lock:
        return _memo.setdefault(key, cub)


def _write_atomic(path: Path, data: bytes) -> None:
    """Write ``data`` under a temporary name beside ``path``, then rename it (readers see all or
    nothing)."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.partial")
    tmp.write_bytes(data)
    os.replace(tmp, path)


# ------------------------------------------------------------------------------ the ELF image

@dataclass(frozen=True)
class Symbol:
    """A symbol of an ELF image: its section, value (offset in the section), size, type and
    ``st_other`` flags."""

    section: int
    value: int
    size: int
    kind: int  # STT_*: 1 object, 2 function
    other: int  # st_other: CUDA marks kernels' entry points with STO_CUDA_ENTRY (0x10)

    @property
    def is_entry(self) -> bool:
        """A kernel's entry point (not a device function or a compiler-internal helper)."""
        return self.kind == 2 and bool(self.other & 0x10)


def _sections(image: bytes) -> list[tuple[int, int, int, int, int]]:
    """``(type, offset, size, link, entsize)`` of each section of a little-endian ELF64 image."""
    if image[:4] != b"\x7fELF" or image[4] != 2 or image[5] != 1:
        raise BuildError("not a little-endian 64-bit ELF image (a cubin was expected)")
    shoff, = struct.unpack_from("<Q", image, 0x28)
    shentsize, shnum = struct.unpack_from("<HH", image, 0x3A)
    out = []
    for i in range(shnum):
        _name, stype, _flags, _addr, off, size, link, _info, _align, entsize = struct.unpack_from(
            "<IIQQQQIIQQ", image, shoff + i * shentsize)
        out.append((stype, off, size, link, entsize))
    return out


def elf_symbols(image: bytes) -> dict[str, Symbol]:
    """Every named symbol of an ELF64 image (a cubin), by name."""
    sections = _sections(image)
    out: dict[str, Symbol] = {}
    for stype, off, size, link, entsize in sections:
        if stype != 2:  # SHT_SYMTAB
            continue
        str_off = sections[link][1]
        for j in range(size // (entsize or 24)):
            st_name, st_info, other, shndx, value, sym_size = struct.unpack_from("<IBBHQQ", image, off + j * 24)
            if not st_name:
                continue
            end = image.index(b"\0", str_off + st_name)
            name = image[str_off + st_name:end].decode()
            out[name] = Symbol(shndx, value, sym_size, st_info & 0xF, other)
    return out


def symbol_bytes(image: bytes, name: str) -> bytes:
    """The initial bytes of a data symbol of the image (e.g. an exported ``__device__ const``
    table); :class:`~flashrnn_kernels.BuildError` when the image has no such symbol."""
    sym = elf_symbols(image).get(name)
    if sym is None or sym.kind != 1:
        raise BuildError(f"the cubin exports no table {name!r} (a build of an older source?)")
    stype, off, size, _link, _entsize = _sections(image)[sym.section]
    if stype == 8:  # SHT_NOBITS: zero-initialised
        return bytes(sym.size)
    return image[off + sym.value: off + sym.value + sym.size]


#: One entry of an exported table (``csrc/fused/exports.cuh``: ``struct Export``): a 24-byte name
#: and two 64-bit integers.
EXPORT_ENTRY = struct.Struct("<24sqq")


def exported_table(image: bytes, name: str) -> list[tuple[str, int, int]]:
    """The entries ``(name, a, b)`` of a table the image exports (``exports.cuh``), up to and
    including the closing entry, whose name is empty."""
    data = symbol_bytes(image, name)
    if len(data) % EXPORT_ENTRY.size:
        raise BuildError(f"exported table {name!r} is {len(data)} bytes, not whole entries of {EXPORT_ENTRY.size}")
    out = []
    for raw, a, b in EXPORT_ENTRY.iter_unpack(data):
        out.append((raw.split(b"\0", 1)[0].decode(), a, b))
        if not out[-1][0]:
            return out
    raise BuildError(f"exported table {name!r} has no closing entry")
