"""Every environment variable that flashrnn_kernels reads, in one place, typed.

Values are read when :func:`settings` is called (never cached at import), so tests and
long-running programs see changes. Nothing else in the package reads ``os.environ``, except the
JIT builder for the variables nvcc itself reads (``CUDA_HOME``, ``CUDA_PATH``,
``NVCC_PREPEND_FLAGS``, ``NVCC_APPEND_FLAGS``), to find it and to tell whether a host compiler
was chosen, and the raw values of those and of ``FLASHRNN_COMPILER``, ``FLASHRNN_NVCC`` and
``PATH`` as the key under which it remembers its choice of compiler (the values are parsed here).
Caches keyed by variables take their raw values from :func:`raw_values`.

| variable | type | meaning |
| --- | --- | --- |
| ``FLASHRNN_CACHE_DIR`` | path | root of the JIT build cache (default: the user cache dir from platformdirs, else ``$XDG_CACHE_HOME/flashrnn_kernels`` or ``~/.cache/flashrnn_kernels``) |
| ``FLASHRNN_BUILD_TIMEOUT`` | float, s | how long to wait for another process's build lock before giving up (default 1800) |
| ``FLASHRNN_CUDA_ARCH`` | str | build target instead of the detected GPU, e.g. ``90a``, ``80``, ``sm_89`` |
| ``FLASHRNN_BUILD_VERBOSE`` | bool | show compiler command lines and output (``1``/``0``, ``true``/``false``, ``yes``/``no``, ``on``/``off``) |
| ``FLASHRNN_GPU_MODEL`` | str | hardware model of the GPUs the kernels run on instead of detecting it: a bundled name (``h100``) or a ``.toml`` model file (see :mod:`flashrnn_kernels.devices`) |
| ``FLASHRNN_COMPILER`` | str | which compiler builds the CUDA kernels: ``auto`` (default: nvcc, see :func:`flashrnn_kernels.compilers.compiler_choice`), ``nvrtc`` (NVRTC from the pip packages, launched through the CUDA driver), ``nvcc`` |
| ``FLASHRNN_NVCC`` | path | the nvcc to build with (default: ``$CUDA_HOME/bin/nvcc``, else ``nvcc`` on ``PATH``) |
| ``FLASHRNN_BACKEND`` | str | backend used when a call says ``"auto"`` (default: ``auto``, the fastest that supports it) |
| ``FLASHRNN_GRAPHS`` | bool | replay the alternating backend's time loops as CUDA graphs (default on; ``0`` runs them step by step; see :mod:`flashrnn_kernels.graphs`) |
| ``FLASHRNN_FUSED_STEP`` | bool | the alternating backend's forward computes each step's ``R h`` and the cell in one kernel where it can (default on; ``0`` keeps a cuBLAS product and a pointwise kernel per step; see :mod:`flashrnn_kernels.backends.alternating`) |
| ``FLASHRNN_INPUT_STEP`` | bool | a module's step without gradients runs as one launch per layer that computes the input product too, where it can (default on; ``0`` makes it a T = 1 call of the chosen backend; see ``docs/rnn.md``, streaming) |
| ``FLASHRNN_OVERLAP_STEPS`` | bool | the alternating backend's fused steps launch as programmatic dependents of the step before them on GPUs of compute capability 9.0 and later, so that a step's start overlaps the previous step's end (default on; ``0`` launches them plainly) |
| ``FLASHRNN_GRAPH_MEMORY`` | float, MiB | device memory the captured graphs of one GPU may hold (default: a sixteenth of the GPU's memory, at least 2048; see :func:`flashrnn_kernels.graphs.default_budget`) |
| ``XDG_CACHE_HOME`` | path | used for the fallback cache dir only |

>>> import os
>>> from unittest import mock
>>> from flashrnn_kernels.env import settings
>>> with mock.patch.dict(os.environ, {"FLASHRNN_BUILD_TIMEOUT": "60", "FLASHRNN_BACKEND": "Reference"}):
...     s = settings()
>>> s.build_timeout_s, s.backend
(60.0, 'reference')
"""
from __future__ import annotations

import functools
import os
from dataclasses import dataclass
from pathlib import Path

from .errors import InputError

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}
#: Names encoded as CPython's ``os.environ`` keeps them (see :func:`_getenv`).
_ENCODED: dict[str, object] = {}


def _getenv(name: str) -> str | None:
    """``os.environ.get(name)``, read straight from the mapping CPython's ``os.environ`` keeps its
    encoded variables in (one dict lookup, about 0.05 us against 0.8 for ``os.environ.get``, which
    encodes the name and decodes the value on every call: the variables are read on every kernel
    call, some several times). Changes through ``os.environ`` (``mock.patch.dict`` included) go
    to that mapping; where there is none (another implementation), ``os.environ.get``."""
    environ = os.environ
    data = getattr(environ, "_data", None)
    if type(data) is not dict:
        return environ.get(name)
    key = _ENCODED.get(name)
    if key is None:
        key = _ENCODED[name] = environ.encodekey(name)
    raw = data.get(key)
    return None if raw is None else environ.decodevalue(raw)


def _get_bool(name: str, default: bool) -> bool:
    raw = _getenv(name)
    if raw is None:
        return default
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise InputError(f"environment variable {name}={raw!r} is not a boolean (use 1/0, true/false)")


def _get_float(name: str, default: float) -> float:
    raw = _getenv(name)
    if raw is None or not raw.strip():
        return default
    try:
        value = float(raw)
    except ValueError:
        raise InputError(f"environment variable {name}={raw!r} is not a number") from None
    if not value > 0:
        raise InputError(f"environment variable {name}={raw!r} must be positive")
    return value


def _get_str(name: str) -> str | None:
    raw = _getenv(name)
    if raw is None or not raw.strip():
        return None
    return raw.strip()


def _default_cache_dir() -> Path:
    return _default_cache_dir_for(_get_str("XDG_CACHE_HOME"), _get_str("HOME"))


@functools.lru_cache(maxsize=8)
def _default_cache_dir_for(xdg_cache_home: str | None, home: str | None) -> Path:
    """The default cache dir for these values of the variables it depends on (computed once)."""
    try:
        import platformdirs
    except ImportError:  # optional: fall back to the XDG convention
        root = Path(xdg_cache_home) if xdg_cache_home else Path.home() / ".cache"
        return root / "flashrnn_kernels"
    return Path(platformdirs.user_cache_dir("flashrnn_kernels", appauthor=False))


@dataclass(frozen=True)
class Settings:
    """A snapshot of the environment variables above (what :func:`settings` returns).

    >>> sorted(vars(settings()))
    ['backend', 'build_timeout_s', 'build_verbose', 'cache_dir', 'compiler', 'cuda_arch', 'fused_step', 'gpu_model', 'graph_memory_bytes', 'graphs', 'input_step', 'nvcc', 'overlap_steps']
    """

    cache_dir: Path
    build_timeout_s: float
    cuda_arch: str | None
    build_verbose: bool
    backend: str
    gpu_model: str | None
    nvcc: str | None
    compiler: str
    graphs: bool
    graph_memory_bytes: int | None
    fused_step: bool
    overlap_steps: bool
    input_step: bool


def backend_setting() -> str:
    """``FLASHRNN_BACKEND`` alone (lower case, default ``auto``): what every ``backend="auto"``
    call reads, without parsing the other variables."""
    return (_get_str("FLASHRNN_BACKEND") or "auto").lower()


def gpu_model_setting() -> str | None:
    """``FLASHRNN_GPU_MODEL`` alone (read on every call that needs a device's model)."""
    return _get_str("FLASHRNN_GPU_MODEL")


def nvcc_setting() -> str | None:
    """``FLASHRNN_NVCC`` alone."""
    return _get_str("FLASHRNN_NVCC")


#: The values ``FLASHRNN_COMPILER`` takes.
COMPILERS = ("auto", "nvrtc", "nvcc")


def compiler_setting() -> str:
    """``FLASHRNN_COMPILER`` alone (lower case, default ``auto``); another value raises InputError.

    >>> import os
    >>> from unittest import mock
    >>> with mock.patch.dict(os.environ, {"FLASHRNN_COMPILER": "NVRTC"}):
    ...     compiler_setting()
    'nvrtc'
    """
    raw = _get_str("FLASHRNN_COMPILER")
    value = (raw or "auto").lower()
    if value not in COMPILERS:
        raise InputError(f"environment variable FLASHRNN_COMPILER={raw!r} is not one of {', '.join(COMPILERS)}")
    return value


def cuda_arch_setting() -> str | None:
    """``FLASHRNN_CUDA_ARCH`` alone."""
    return _get_str("FLASHRNN_CUDA_ARCH")


def graphs_enabled() -> bool:
    """``FLASHRNN_GRAPHS`` alone (default on)."""
    return _get_bool("FLASHRNN_GRAPHS", True)


def fused_step_enabled() -> bool:
    """``FLASHRNN_FUSED_STEP`` alone (default on)."""
    return _get_bool("FLASHRNN_FUSED_STEP", True)


def overlap_steps_enabled() -> bool:
    """``FLASHRNN_OVERLAP_STEPS`` alone (default on)."""
    return _get_bool("FLASHRNN_OVERLAP_STEPS", True)


def input_step_enabled() -> bool:
    """``FLASHRNN_INPUT_STEP`` alone (default on)."""
    return _get_bool("FLASHRNN_INPUT_STEP", True)


def raw_values(names: tuple[str, ...]) -> tuple[str | None, ...]:
    """The variables' values as they are set (None where unset), unparsed: the key of a cache
    of what depends on them, looked up on every call (parsing waits for a miss).

    >>> import os
    >>> from unittest import mock
    >>> with mock.patch.dict(os.environ, {"FLASHRNN_COMPILER": "nvrtc"}, clear=True):
    ...     raw_values(("FLASHRNN_COMPILER", "FLASHRNN_CUDA_ARCH"))
    ('nvrtc', None)
    """
    return tuple([_getenv(name) for name in names])


def graph_memory_bytes() -> int | None:
    """``FLASHRNN_GRAPH_MEMORY`` alone, in bytes (the variable is in MiB), or None where it is
    unset: the graph cache then gives each GPU :func:`flashrnn_kernels.graphs.default_budget`."""
    mib = _get_float("FLASHRNN_GRAPH_MEMORY", 0.0)  # a set value must be positive
    return int(mib * 2**20) if mib else None


def settings() -> Settings:
    """Read every variable now and return them typed; a malformed value raises InputError.

    >>> import os
    >>> from unittest import mock
    >>> with mock.patch.dict(os.environ, {"FLASHRNN_CACHE_DIR": "/tmp/frnn-cache"}):
    ...     settings().cache_dir
    PosixPath('/tmp/frnn-cache')
    >>> try:
    ...     with mock.patch.dict(os.environ, {"FLASHRNN_BUILD_VERBOSE": "maybe"}):
    ...         settings()
    ... except ValueError as exc:             # flashrnn_kernels.InputError
    ...     print(exc)
    environment variable FLASHRNN_BUILD_VERBOSE='maybe' is not a boolean (use 1/0, true/false)
    """
    cache = _get_str("FLASHRNN_CACHE_DIR")
    return Settings(
        cache_dir=Path(cache).expanduser() if cache else _default_cache_dir(),
        build_timeout_s=_get_float("FLASHRNN_BUILD_TIMEOUT", 1800.0),
        cuda_arch=cuda_arch_setting(),
        build_verbose=_get_bool("FLASHRNN_BUILD_VERBOSE", False),
        backend=backend_setting(),
        gpu_model=gpu_model_setting(),
        nvcc=nvcc_setting(),
        compiler=compiler_setting(),
        graphs=graphs_enabled(),
        graph_memory_bytes=graph_memory_bytes(),
        fused_step=fused_step_enabled(),
        overlap_steps=overlap_steps_enabled(),
        input_step=input_step_enabled(),
    )
