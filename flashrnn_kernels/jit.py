"""Just-in-time builds of the CUDA sources in ``csrc/``: one build path for every CUDA backend.

``(name, sources, defines, arch)`` -> a loaded module, cached on disk by content, with one of two
compilers behind it, picked by :func:`flashrnn_kernels.compilers.compiler_choice`
(``FLASHRNN_COMPILER``):

* nvcc: :func:`load_library` builds a shared library of C launchers, opened with :mod:`ctypes`;
* NVRTC: :func:`flashrnn_kernels.nvrtc.load_cubin` builds a cubin from pip packages (no toolkit),
  whose kernels :mod:`flashrnn_kernels.driver` launches.

Both CUDA backends build through these; nothing else in the package runs a compiler. This module
holds what both share: the target, the key, the cache and its lock.

* **Target.** :func:`target_arch`: ``FLASHRNN_CUDA_ARCH``, else the GPU's compute capability, with
  the arch-specific suffix where the kernels use arch-specific features (``90a`` on Hopper, whose
  fused kernels use clusters, bulk copies and ``st.async``; plain ``80``, ``89``, ``100``, ...
  elsewhere). Native code for that target only.
* **Key.** :func:`build_key` of the build's name, the *contents* of its sources and of every
  header below the include directories, the defines, the target, the flags and the compiler's
  version: a changed input never reuses a stale binary, an unchanged one is never rebuilt.
* **Cache.** One directory per key, ``<cache>/<name>-<key[:20]>``, under ``FLASHRNN_CACHE_DIR``
  (else the platformdirs user cache dir). A directory counts once its marker ``BUILD_OK.json`` is
  written (last, atomically); one without it was left by an interrupted build and is wiped.
* **Lock.** A build runs under ``<dir>.lock`` (:mod:`filelock`): processes asking for the same
  build at once build it once, the others wait at most ``FLASHRNN_BUILD_TIMEOUT`` seconds and then
  load it. A lock left by a dead process on a file system without ``flock`` (owner pid in
  ``<dir>.owner``) is removed after the timeout.

Nothing is compiled at import.
"""
from __future__ import annotations

import contextlib
import ctypes
import functools
import hashlib
import json
import logging
import os
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .env import cuda_arch_setting, nvcc_setting, settings
from .errors import BuildError, BuildLockTimeout, InputError

log = logging.getLogger(__name__)

#: Directory of the CUDA sources (also the default include directory).
CSRC = Path(__file__).resolve().parent / "csrc"
HEADER_SUFFIXES = (".h", ".cuh", ".hpp", ".inc")
MARKER = "BUILD_OK.json"
CACHE_FORMAT = 2

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


#: Compute capabilities whose builds use the arch-specific target (``a`` suffix): the kernels use
#: features of exactly these chips (Hopper's clusters, bulk copies and ``st.async``).
ARCH_SPECIFIC = frozenset({(9, 0)})


def arch_for_capability(major: int, minor: int) -> str:
    """The build target of a compute capability: arch-specific (``a``) where the kernels use
    such features (:data:`ARCH_SPECIFIC`), else the plain target.

    >>> arch_for_capability(9, 0), arch_for_capability(8, 0), arch_for_capability(10, 0)
    ('90a', '80', '100')
    """
    return f"{major}{minor}" + ("a" if (major, minor) in ARCH_SPECIFIC else "")


def target_arch(device: Any = None) -> str:
    """The architecture to build for: ``FLASHRNN_CUDA_ARCH``, else that of ``device`` (default:
    the current GPU).

    Without a GPU and without the variable it raises :class:`~flashrnn_kernels.BuildError`.

    >>> import os
    >>> from unittest import mock
    >>> with mock.patch.dict(os.environ, {"FLASHRNN_CUDA_ARCH": "sm_89"}):
    ...     target_arch()
    '89'
    """
    override = cuda_arch_setting()
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

def nvcc_path() -> str | None:
    """The CUDA compiler: ``FLASHRNN_NVCC``, else ``$CUDA_HOME/bin/nvcc`` (or ``$CUDA_PATH``), else
    the ``nvcc`` on ``PATH``, else ``/usr/local/cuda/bin/nvcc``; ``None`` when there is none.

    ```python
    jit.nvcc_path()        # e.g. '/usr/local/cuda/bin/nvcc'
    ```
    """
    chosen = nvcc_setting()
    if chosen:
        return chosen if Path(chosen).is_file() else shutil.which(chosen)
    return _default_nvcc(os.environ.get("CUDA_HOME") or os.environ.get("CUDA_PATH"))


@functools.lru_cache(maxsize=8)
def _default_nvcc(cuda_home: str | None) -> str | None:
    if cuda_home:
        candidate = Path(cuda_home) / "bin" / "nvcc"
        if candidate.is_file():
            return str(candidate)
    found = shutil.which("nvcc")
    if found:
        return found
    fallback = Path("/usr/local/cuda/bin/nvcc")
    return str(fallback) if fallback.is_file() else None


def nvcc_version() -> str | None:
    """The last line of ``nvcc --version`` (e.g. ``Build cuda_13.0.r13.0/compiler.36424714_0``).

    ``None`` without nvcc. It enters every build key, so a new toolkit gets new builds.

    ```python
    jit.nvcc_version()     # e.g. 'Build cuda_13.0.r13.0/compiler.36424714_0'
    ```
    """
    nvcc = nvcc_path()
    return None if nvcc is None else _version_of(nvcc)


@functools.lru_cache(maxsize=8)
def _version_of(nvcc: str) -> str | None:
    try:
        out = subprocess.run([nvcc, "--version"], capture_output=True, text=True, timeout=60, check=True)
    except (OSError, subprocess.SubprocessError) as exc:
        log.warning("%s --version failed: %s", nvcc, exc)
        return None
    lines = [line for line in out.stdout.splitlines() if line.strip()]
    return lines[-1] if lines else "unknown"


def nvcc_problem() -> str | None:
    """None if nvcc can build the kernels here, else why not.

    ```python
    jit.nvcc_problem()
    # None, or e.g. 'no CUDA compiler: nvcc not found (set CUDA_HOME or put nvcc on PATH)',
    # 'no host C++ compiler for nvcc (g++ not found on PATH)'
    ```
    """
    nvcc = nvcc_path()
    if nvcc is None:
        return "no CUDA compiler: nvcc not found (set CUDA_HOME or put nvcc on PATH)"
    return _host_compiler_problem(os.environ.get("NVCC_PREPEND_FLAGS", "") + os.environ.get("NVCC_APPEND_FLAGS", ""))


@functools.lru_cache(maxsize=8)
def _host_compiler_problem(nvcc_flags: str) -> str | None:
    if "-ccbin" in nvcc_flags or "--compiler-bindir" in nvcc_flags:
        return None  # the user chose the host compiler
    if shutil.which("g++") is None:
        return "no host C++ compiler for nvcc (g++ not found on PATH; or set NVCC_PREPEND_FLAGS='-ccbin ...')"
    return None


def toolchain_id() -> dict[str, Any]:
    """The versions that enter every build key.

    >>> {"nvcc", "format"} <= set(toolchain_id())
    True
    """
    return {"nvcc": nvcc_version(), "format": CACHE_FORMAT}


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

def resolve_sources(sources: Sequence[str | Path]) -> list[Path]:
    out = []
    for s in sources:
        p = Path(s)
        if not p.is_absolute():
            p = CSRC / p
        if not p.is_file():
            raise BuildError(f"source file {p} not found")
        out.append(p)
    return out


def define_flags(defines: Mapping[str, Any] | None) -> list[str]:
    flags = []
    for name, value in sorted((defines or {}).items()):
        if not str(name).isidentifier():
            raise InputError(f"define name {name!r} is not an identifier")
        flags.append(f"-D{name}={value}")
    return flags


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
    """The nvcc command line of :func:`load_library` (``mode="-shared"``), also used by the CI
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
    cmd += [f"-I{CSRC}", *(f"-I{i}" for i in include_dirs), *define_flags(defines), *extra_flags]
    cmd += [*(str(s) for s in sources), "-o", str(output)]
    return cmd


def library_key(
    name: str,
    sources: Sequence[str | Path],
    *,
    defines: Mapping[str, Any] | None = None,
    extra_flags: Sequence[str] = (),
    include_dirs: Sequence[str | Path] = (),
    arch: str,
) -> tuple[str, dict[str, Any]]:
    """``(key, parts)`` of a :func:`load_library` build: what its cache directory is named by."""
    srcs = resolve_sources(sources)
    incs = [CSRC, *(Path(i) for i in include_dirs)]
    parts = {
        "name": name,
        "sources": {p.name: file_digest(p) for p in srcs},
        "headers": header_digests(incs),
        "arch": normalize_arch(arch),
        "defines": define_flags(defines),
        "flags": list(extra_flags),
        "toolchain": toolchain_id(),
    }
    return build_key(parts), parts


def load_library(
    name: str,
    sources: Sequence[str | Path],
    *,
    defines: Mapping[str, Any] | None = None,
    extra_flags: Sequence[str] = (),
    include_dirs: Sequence[str | Path] = (),
    arch: str | None = None,
) -> ctypes.CDLL:
    """Build ``sources`` (paths relative to ``csrc/`` or absolute) with ``-D`` ``defines`` for
    ``arch`` (default :func:`target_arch`) into ``lib<name>.so``, unless the cache has it, and
    return it opened with :mod:`ctypes`. Memoised per process by key.

    The sources compile with nvcc alone (no torch headers) and export ``extern "C"`` launchers
    that take device pointers and a ``cudaStream_t``.

    ```python
    lib = jit.load_library("my_kernels", ["my_kernels.cu"], defines={"TILE": 64})
    lib.my_launch.restype = ctypes.c_int        # declare the launchers' C signatures
    ```
    """
    arch = normalize_arch(arch) if arch else target_arch()
    problem = nvcc_problem()
    if problem:
        raise BuildError(f"cannot build {name}: {problem}")
    key, parts = library_key(name, sources, defines=defines, extra_flags=extra_flags,
                             include_dirs=include_dirs, arch=arch)
    with _memo_lock:
        if key in _memo:
            return _memo[key]
    srcs = resolve_sources(sources)
    libname = f"lib{name}.so"

    def build(directory: Path) -> None:
        partial = directory / f".{libname}.partial"
        cmd = nvcc_command(srcs, partial, arch=arch, defines=defines,
                           include_dirs=[Path(i) for i in include_dirs], extra_flags=extra_flags)
        log.info("compiling: %s", " ".join(cmd))
        proc = subprocess.run(cmd, capture_output=True, text=True)
        if settings().build_verbose and (proc.stdout or proc.stderr):
            log.info("%s%s", proc.stdout, proc.stderr)
        if proc.returncode != 0:
            raise BuildError(f"nvcc failed for {name} ({directory}):\n{' '.join(cmd)}\n{proc.stderr[-8000:]}")
        os.replace(partial, directory / libname)

    result = cached_build(f"{name}-{key[:20]}", parts, build)
    lib = ctypes.CDLL(str(result.directory / libname))
    with _memo_lock:
        _memo.setdefault(key, lib)
        return _memo[key]
