"""Just-in-time builds of the CUDA sources in ``csrc/``, behind a content-addressed cache.

One build directory per key under the cache root (``FLASHRNN_CACHE_DIR``, else the platformdirs
user cache dir); the key hashes the sources' and headers' *contents*, the ``-D`` defines, the
target architecture, the compiler flags and the torch / CUDA / nvcc / Python versions, so a
changed input never reuses a stale binary and an unchanged one is never rebuilt.

A build runs under a file lock (``<dir>.lock``, :mod:`filelock`): two processes asking for the
same build at once build it once, the second waits (``FLASHRNN_BUILD_TIMEOUT``) and then loads
it. A build directory counts only once its marker file ``BUILD_OK.json`` exists (written last,
atomically); a directory without it was left by an interrupted build and is wiped and rebuilt.
The OS releases the lock of a killed process; a lock left by a dead process on a file system
without ``flock`` (its owner pid recorded in ``<dir>.owner``) is removed after the timeout.

Two front ends:

* :func:`load` builds a PyTorch extension (kernel ``.cu`` files + one binding ``.cpp``) with
  ``torch.utils.cpp_extension.load`` and returns the Python module;
* :func:`load_library` builds ``.cu`` files into a plain shared library with nvcc alone and
  returns a :class:`ctypes.CDLL` (for launchers with a C interface).

Nothing is compiled at import. Native code for the detected GPU only (``-gencode
arch=compute_90a,code=sm_90a`` on Hopper, ``sm_80`` on an A100, ...; ``FLASHRNN_CUDA_ARCH``
overrides).
"""
from __future__ import annotations

import contextlib
import ctypes
import functools
import hashlib
import importlib.util
import json
import logging
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping, Sequence

from .env import settings
from .errors import BuildError, BuildLockTimeout, InputError

log = logging.getLogger(__name__)

#: Directory of the CUDA / C++ sources (also the default include directory).
CSRC = Path(__file__).resolve().parent / "csrc"
HEADER_SUFFIXES = (".h", ".cuh", ".hpp", ".inc")
MARKER = "BUILD_OK.json"
CACHE_FORMAT = 1

_memo: dict[str, Any] = {}
_memo_lock = threading.Lock()


# ------------------------------------------------------------------------------ architecture

def normalize_arch(arch: str) -> str:
    """``"sm_90a"``, ``"compute_90a"``, ``"9.0a"`` or ``"90a"`` -> ``"90a"``.

    >>> normalize_arch("sm_90a"), normalize_arch("8.6"), normalize_arch("compute_100a")
    ('90a', '86', '100a')
    """
    a = arch.strip().lower()
    for prefix in ("sm_", "compute_"):
        if a.startswith(prefix):
            a = a[len(prefix):]
    a = a.replace(".", "")
    digits = a.rstrip("af")
    if not digits.isdigit() or len(a) - len(digits) > 1 or len(digits) < 2:
        raise InputError(f"CUDA architecture {arch!r} not understood (expected e.g. 80, 90a, sm_89)")
    return a


def arch_for_capability(major: int, minor: int) -> str:
    """Native target of a compute capability: arch-specific (``a``) features from Hopper on.

    >>> arch_for_capability(9, 0), arch_for_capability(8, 0)
    ('90a', '80')
    """
    return f"{major}{minor}" + ("a" if major >= 9 else "")


def target_arch(device: Any = None) -> str:
    """The architecture to build for: ``FLASHRNN_CUDA_ARCH``, else the (current) GPU's.

    Without a GPU and without the variable it raises :class:`~flashrnn_kernels.BuildError`.

    >>> import os
    >>> from unittest import mock
    >>> with mock.patch.dict(os.environ, {"FLASHRNN_CUDA_ARCH": "sm_89"}):
    ...     target_arch()
    '89'
    """
    override = settings().cuda_arch
    if override:
        return normalize_arch(override)
    import torch

    if not torch.cuda.is_available():
        raise BuildError("no CUDA GPU visible and FLASHRNN_CUDA_ARCH not set: cannot choose a target")
    major, minor = torch.cuda.get_device_capability(device)
    return arch_for_capability(major, minor)


def arch_flags(arch: str) -> list[str]:
    """nvcc flags that produce native code for ``arch`` only (e.g. ``90a``).

    >>> arch_flags("sm_90a")
    ['-gencode=arch=compute_90a,code=sm_90a']
    """
    a = normalize_arch(arch)
    return [f"-gencode=arch=compute_{a},code=sm_{a}"]


# ------------------------------------------------------------------------------ toolchain

@functools.cache
def nvcc_path() -> str | None:
    """The nvcc that torch's extension builder uses (``CUDA_HOME/bin/nvcc``), else the one on PATH.

    ``None`` when there is none; the result is cached for the process.

    ```python
    jit.nvcc_path()        # e.g. '/usr/local/cuda/bin/nvcc'
    ```
    """
    try:
        from torch.utils.cpp_extension import CUDA_HOME
    except Exception:  # noqa: BLE001 - torch missing or broken: fall back to PATH
        CUDA_HOME = None
    if CUDA_HOME:
        candidate = Path(CUDA_HOME) / "bin" / "nvcc"
        if candidate.exists():
            return str(candidate)
    return shutil.which("nvcc")


@functools.cache
def nvcc_version() -> str | None:
    """The last line of ``nvcc --version`` (e.g. ``Build cuda_13.0.r13.0/compiler.36424714_0``).

    ``None`` without nvcc. It enters every build key, so a new toolkit gets new builds.

    ```python
    jit.nvcc_version()     # e.g. 'Build cuda_13.0.r13.0/compiler.36424714_0'
    ```
    """
    nvcc = nvcc_path()
    if nvcc is None:
        return None
    try:
        out = subprocess.run([nvcc, "--version"], capture_output=True, text=True, timeout=60, check=True)
    except (OSError, subprocess.SubprocessError) as exc:
        log.warning("nvcc --version failed: %s", exc)
        return None
    lines = [line for line in out.stdout.splitlines() if line.strip()]
    return lines[-1] if lines else "unknown"


@functools.cache
def toolchain_problem() -> str | None:
    """None if CUDA extensions can be built here, else why not (used by backends' ``supports``).

    Checked once per process (finding ninja runs ``ninja --version``, ~2.5 ms, which every
    ``backend="auto"`` call would otherwise pay); ``toolchain_problem.cache_clear()`` re-checks.

    ```python
    jit.toolchain_problem()
    # None, or e.g. 'this PyTorch build has no CUDA',
    # 'no CUDA compiler: nvcc not found (set CUDA_HOME or put nvcc on PATH)',
    # 'ninja not found (pip install ninja)'
    ```
    """
    try:
        import torch
    except ImportError:
        return "PyTorch is not installed"
    if torch.version.cuda is None:
        return "this PyTorch build has no CUDA"
    if nvcc_path() is None:
        return "no CUDA compiler: nvcc not found (set CUDA_HOME or put nvcc on PATH)"
    try:
        from torch.utils.cpp_extension import is_ninja_available
    except ImportError:  # pragma: no cover
        return "torch.utils.cpp_extension unavailable"
    if not is_ninja_available():
        return "ninja not found (pip install ninja)"
    return None


def toolchain_id() -> dict[str, Any]:
    """The versions that enter every build key.

    >>> {"python", "nvcc", "torch"} <= set(toolchain_id())
    True
    """
    info: dict[str, Any] = {"python": f"{sys.version_info[0]}.{sys.version_info[1]}", "nvcc": nvcc_version()}
    try:
        import torch

        info["torch"] = torch.__version__
        info["torch_cuda"] = torch.version.cuda
        info["cxx11_abi"] = bool(torch.compiled_with_cxx11_abi())
    except ImportError:  # load_library works without torch
        info["torch"] = None
    return info


def default_max_jobs() -> int:
    """Parallel compile jobs: the CPUs we may use, at most one per 2 GiB of memory.

    ``MAX_JOBS`` overrides it for a build.

    >>> default_max_jobs() >= 1
    True
    """
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        cpus = os.cpu_count() or 1
    try:
        mem_gib = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    except (ValueError, OSError, AttributeError):  # pragma: no cover
        mem_gib = 2.0 * cpus
    return max(1, min(cpus, int(mem_gib // 2)))


@contextlib.contextmanager
def _max_jobs_env():
    """Set ``MAX_JOBS`` (read by torch's builder) for the duration of one build."""
    jobs = settings().max_jobs or default_max_jobs()
    old = os.environ.get("MAX_JOBS")
    os.environ["MAX_JOBS"] = str(jobs)
    try:
        yield jobs
    finally:
        if old is None:
            os.environ.pop("MAX_JOBS", None)
        else:
            os.environ["MAX_JOBS"] = old


# ------------------------------------------------------------------------------ cache + lock

def file_digest(path: Path) -> str:
    """SHA-256 (hex) of a file's contents.

    >>> len(file_digest(CSRC / "alternating.cu"))
    64
    """
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def header_digests(include_dirs: Iterable[Path]) -> dict[str, str]:
    """Digest of every header below the include directories (their contents enter the key).

    >>> "csrc/pointwise_math.cuh" in header_digests([CSRC])
    True
    """
    out: dict[str, str] = {}
    for root in include_dirs:
        root = Path(root)
        for p in sorted(root.rglob("*")):
            if p.is_file() and p.suffix in HEADER_SUFFIXES:
                out[f"{root.name}/{p.relative_to(root).as_posix()}"] = file_digest(p)
    return out


def build_key(parts: Mapping[str, Any]) -> str:
    """SHA-256 of the canonical JSON of ``parts`` (plus the cache format version).

    The order of keys does not matter; any changed value gives a new key:

    >>> build_key({"a": 1, "b": [2]}) == build_key({"b": [2], "a": 1})
    True
    >>> build_key({"a": 1}) == build_key({"a": 2})
    False
    """
    blob = json.dumps({"format": CACHE_FORMAT, **parts}, sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()


@dataclass(frozen=True)
class Built:
    """Result of :func:`cached_build`: the build directory, the builder's return value when this
    call ran it (None when the build came from the cache), and whether it ran.

    >>> import tempfile
    >>> res = cached_build("demo", {"v": 1}, lambda d: "made", cache_dir=tempfile.mkdtemp())
    >>> res.directory.name, res.value, res.built
    ('demo', 'made', True)
    """

    directory: Path
    value: Any
    built: bool


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _read_owner(owner_file: Path) -> dict[str, Any] | None:
    try:
        return json.loads(owner_file.read_text())
    except (OSError, ValueError):
        return None


def _write_json_atomic(path: Path, data: Mapping[str, Any]) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(data, indent=1, sort_keys=True, default=str))
    os.replace(tmp, path)


def cached_build(
    dir_name: str,
    key_parts: Mapping[str, Any],
    build: Callable[[Path], Any],
    *,
    cache_dir: Path | None = None,
    timeout: float | None = None,
) -> Built:
    """Run ``build(directory)`` at most once for ``<cache>/<dir_name>`` across processes.

    ``dir_name`` should contain (part of) :func:`build_key` of ``key_parts``; ``key_parts`` is
    recorded in the marker file. If the directory is complete (marker present) nothing runs.
    Otherwise the lock is taken (waiting at most ``timeout`` seconds, default
    ``FLASHRNN_BUILD_TIMEOUT``), a leftover incomplete directory is wiped, ``build`` runs in a
    fresh directory and the marker is written. A failing ``build`` leaves no marker.

    >>> import tempfile
    >>> cache = tempfile.mkdtemp()
    >>> def build(directory):
    ...     (directory / "out.txt").write_text("result")
    ...     return "built now"
    >>> parts = {"source": "v1"}
    >>> name = f"demo-{build_key(parts)[:20]}"
    >>> first = cached_build(name, parts, build, cache_dir=cache)
    >>> again = cached_build(name, parts, build, cache_dir=cache)   # found: build does not run
    >>> first.built, first.value, again.built, again.value
    (True, 'built now', False, None)
    >>> (again.directory / "out.txt").read_text()
    'result'
    """
    from filelock import FileLock, Timeout

    cfg = settings()
    root = Path(cache_dir) if cache_dir is not None else cfg.cache_dir
    timeout = cfg.build_timeout_s if timeout is None else timeout
    directory = root / dir_name
    marker = directory / MARKER
    if marker.exists():
        return Built(directory, None, False)
    root.mkdir(parents=True, exist_ok=True)
    lock_path = root / f"{dir_name}.lock"
    owner_file = root / f"{dir_name}.owner"

    for attempt in range(2):
        lock = FileLock(str(lock_path), timeout=timeout)
        try:
            lock.acquire()
        except Timeout:
            owner = _read_owner(owner_file)
            stale = (
                owner is not None
                and owner.get("host") == socket.gethostname()
                and isinstance(owner.get("pid"), int)
                and not _pid_alive(owner["pid"])
            )
            if stale and attempt == 0:
                log.warning("removing stale build lock %s of dead process %s", lock_path, owner["pid"])
                with contextlib.suppress(OSError):
                    lock_path.unlink()
                with contextlib.suppress(OSError):
                    owner_file.unlink()
                continue
            raise BuildLockTimeout(
                f"waited {timeout:.0f} s for the build lock {lock_path}, held by "
                f"{owner or 'an unknown process'}; raise FLASHRNN_BUILD_TIMEOUT, or delete the lock "
                f"file if no build is running"
            ) from None
        try:
            if marker.exists():  # built by another process while we waited
                return Built(directory, None, False)
            _write_json_atomic(owner_file, {"pid": os.getpid(), "host": socket.gethostname(), "started": time.time()})
            if directory.exists():
                log.warning("removing incomplete build directory %s (an earlier build was interrupted)", directory)
                shutil.rmtree(directory)
            directory.mkdir(parents=True)
            log.info("building %s", directory)
            t0 = time.monotonic()
            value = build(directory)
            elapsed = time.monotonic() - t0
            _write_json_atomic(marker, {"key_parts": dict(key_parts), "seconds": round(elapsed, 3)})
            log.info("built %s in %.1f s", directory, elapsed)
            return Built(directory, value, True)
        finally:
            with contextlib.suppress(OSError):
                owner_file.unlink()
            lock.release()
    raise AssertionError("unreachable")  # pragma: no cover


# ------------------------------------------------------------------------------ front ends

def _resolve_sources(sources: Sequence[str | Path]) -> list[Path]:
    out = []
    for s in sources:
        p = Path(s)
        if not p.is_absolute():
            p = CSRC / p
        if not p.is_file():
            raise BuildError(f"source file {p} not found")
        out.append(p)
    return out


def _define_flags(defines: Mapping[str, Any] | None) -> list[str]:
    flags = []
    for name, value in sorted((defines or {}).items()):
        if not str(name).isidentifier():
            raise InputError(f"define name {name!r} is not an identifier")
        flags.append(f"-D{name}={value}")
    return flags


def _import_extension(module_name: str, directory: Path) -> Any:
    candidates = sorted(directory.glob(f"{module_name}*.so")) + sorted(directory.glob(f"{module_name}*.pyd"))
    if not candidates:
        raise BuildError(f"build directory {directory} has no library for {module_name}")
    spec = importlib.util.spec_from_file_location(module_name, candidates[0])
    if spec is None or spec.loader is None:  # pragma: no cover
        raise BuildError(f"cannot import {candidates[0]}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    sys.modules[module_name] = module
    return module


def load(
    name: str,
    sources: Sequence[str | Path],
    *,
    defines: Mapping[str, Any] | None = None,
    extra_cflags: Sequence[str] = (),
    extra_cuda_cflags: Sequence[str] = (),
    include_dirs: Sequence[str | Path] = (),
    arch: str | None = None,
) -> Any:
    """Build (or fetch from the cache) a PyTorch extension and return its Python module.

    ``sources`` are paths relative to ``csrc/`` (or absolute): kernel ``.cu`` files and one
    binding ``.cpp`` that defines ``PYBIND11_MODULE(TORCH_EXTENSION_NAME, m)``. ``defines`` become
    ``-D`` flags of both compilers. ``csrc/`` and ``include_dirs`` are include paths, and every
    header below them enters the key. ``arch`` defaults to :func:`target_arch`.

    ```python
    from flashrnn_kernels import jit

    mod = jit.load("flashrnn_alternating", ["alternating.cu", "alternating_binding.cpp"],
                   defines={"FLASHRNN_ALT_THREADS": 256})
    mod.forward_step(...)
    ```
    """
    problem = toolchain_problem()
    if problem:
        raise BuildError(f"cannot build {name}: {problem}")
    arch = normalize_arch(arch) if arch else target_arch()
    srcs = _resolve_sources(sources)
    incs = [CSRC, *(Path(i) for i in include_dirs)]
    dflags = _define_flags(defines)
    # no -std flag: torch's builder picks the standard its headers need (C++17 or C++20)
    cflags = ["-O3", *dflags, *extra_cflags]
    cuda_cflags = ["-O3", "-lineinfo", *arch_flags(arch), *dflags, *extra_cuda_cflags]
    parts = {
        "kind": "torch_extension",
        "name": name,
        "sources": {p.name: file_digest(p) for p in srcs},
        "headers": header_digests(incs),
        "arch": arch,
        "cflags": cflags,
        "cuda_cflags": cuda_cflags,
        "toolchain": toolchain_id(),
    }
    key = build_key(parts)
    with _memo_lock:
        if key in _memo:
            return _memo[key]
    module_name = f"{name}_{key[:20]}"
    verbose = settings().build_verbose

    def build(directory: Path) -> Any:
        from torch.utils.cpp_extension import load as torch_load

        with _max_jobs_env() as jobs:
            log.info("compiling %s for sm_%s with %d jobs", name, arch, jobs)
            try:
                return torch_load(
                    name=module_name,
                    sources=[str(p) for p in srcs],
                    extra_cflags=cflags,
                    extra_cuda_cflags=cuda_cflags,
                    extra_include_paths=[str(i) for i in incs],
                    build_directory=str(directory),
                    verbose=verbose,
                    with_cuda=True,
                )
            except Exception as exc:  # noqa: BLE001 - torch raises RuntimeError/CalledProcessError
                raise BuildError(f"building {name} ({directory}) failed: {exc}") from exc

    result = cached_build(f"{name}-{key[:20]}", parts, build)
    module = result.value if result.built else _import_extension(module_name, result.directory)
    with _memo_lock:
        _memo.setdefault(key, module)
        return _memo[key]


def nvcc_command(
    sources: Sequence[Path],
    output: Path,
    *,
    arch: str,
    defines: Mapping[str, Any] | None = None,
    include_dirs: Sequence[Path] = (),
    mode: str = "-shared",
    extra_flags: Sequence[str] = (),
) -> list[str]:
    """The nvcc command line used by :func:`load_library` (``mode="-shared"``) and by the CI
    compile checks (``mode="-cubin"``).

    ```python
    cmd = jit.nvcc_command([jit.CSRC / "alternating.cu"], Path("alt.cubin"), arch="90a",
                           mode="-cubin", extra_flags=["-Xptxas", "-v"])
    # [nvcc, '-cubin', '-O3', '-std=c++17', '-lineinfo',
    #  '-gencode=arch=compute_90a,code=sm_90a', '-I.../csrc', ..., '-o', 'alt.cubin']
    ```
    """
    nvcc = nvcc_path()
    if nvcc is None:
        raise BuildError("no CUDA compiler: nvcc not found (set CUDA_HOME or put nvcc on PATH)")
    cmd = [nvcc, mode, "-O3", "-std=c++17", "-lineinfo", *arch_flags(arch)]
    if mode == "-shared":
        cmd += ["-Xcompiler", "-fPIC"]
    cmd += [f"-I{CSRC}", *(f"-I{i}" for i in include_dirs), *_define_flags(defines), *extra_flags]
    cmd += [*(str(s) for s in sources), "-o", str(output)]
    return cmd


def load_library(
    name: str,
    sources: Sequence[str | Path],
    *,
    defines: Mapping[str, Any] | None = None,
    extra_flags: Sequence[str] = (),
    include_dirs: Sequence[str | Path] = (),
    arch: str | None = None,
) -> ctypes.CDLL:
    """Build ``.cu`` sources with nvcc alone into ``lib<name>.so`` (cached like :func:`load`)
    and return it opened with :mod:`ctypes`.

    ```python
    lib = jit.load_library("my_kernels", ["my_kernels.cu"], defines={"TILE": 64})
    lib.my_launch.restype = ctypes.c_int        # launchers with a C interface
    ```
    """
    arch = normalize_arch(arch) if arch else target_arch()
    srcs = _resolve_sources(sources)
    incs = [CSRC, *(Path(i) for i in include_dirs)]
    parts = {
        "kind": "shared_library",
        "name": name,
        "sources": {p.name: file_digest(p) for p in srcs},
        "headers": header_digests(incs),
        "arch": arch,
        "defines": _define_flags(defines),
        "flags": list(extra_flags),
        "toolchain": toolchain_id(),
    }
    key = build_key(parts)
    with _memo_lock:
        if key in _memo:
            return _memo[key]
    libname = f"lib{name}.so"

    def build(directory: Path) -> None:
        cmd = nvcc_command(srcs, directory / libname, arch=arch, defines=defines,
                           include_dirs=incs[1:], extra_flags=extra_flags)
        log.info("compiling: %s", " ".join(cmd))
        proc = subprocess.run(cmd, capture_output=True, text=True)
        if settings().build_verbose and (proc.stdout or proc.stderr):
            log.info("%s%s", proc.stdout, proc.stderr)
        if proc.returncode != 0:
            raise BuildError(f"nvcc failed for {name} ({directory}):\n{' '.join(cmd)}\n{proc.stderr[-8000:]}")

    result = cached_build(f"{name}-{key[:20]}", parts, build)
    lib = ctypes.CDLL(str(result.directory / libname))
    with _memo_lock:
        _memo.setdefault(key, lib)
        return _memo[key]
