"""Which compiler builds the CUDA kernels: nvcc (:func:`flashrnn_kernels.jit.load_library`) or NVRTC
(:func:`flashrnn_kernels.nvrtc.load_cubin`), by ``FLASHRNN_COMPILER`` (``auto``, ``nvrtc``, ``nvcc``),
and why; what the backends say when neither can build.

```python
from flashrnn_kernels import compilers

print(compilers.compiler_choice())   # e.g. nvcc (FLASHRNN_COMPILER=auto: nvcc found)
compilers.toolchain_problem()        # None, or why the kernels cannot be built here
```
"""
from __future__ import annotations

import functools
import os
from dataclasses import dataclass

from . import jit, nvrtc
from .env import compiler_setting
from .errors import BuildError

#: The compilers ``FLASHRNN_COMPILER=auto`` tries, in order: nvcc where it is installed (its C
#: launchers cost less host time per call than launches through the CUDA driver from Python), else
#: NVRTC from the pip packages (no toolkit, no host compiler; its first build is about 10x faster).
AUTO_ORDER = ("nvcc", "nvrtc")


@dataclass(frozen=True)
class CompilerChoice:
    """Which compiler builds the CUDA kernels (``"nvcc"``, ``"nvrtc"``, or None when none can)
    and why: :func:`compiler_choice`."""

    compiler: str | None
    reason: str

    def __str__(self) -> str:
        return f"{self.compiler or 'none'} ({self.reason})"


def _problem_of(compiler: str) -> str | None:
    return jit.nvcc_problem() if compiler == "nvcc" else nvrtc.toolchain_problem()


def compiler_choice() -> CompilerChoice:
    """The compiler of the next build, by ``FLASHRNN_COMPILER``: ``nvcc`` or ``nvrtc`` when named
    (None if it cannot build here, with its reason); for ``auto`` the first of :data:`AUTO_ORDER`
    that can build. Decided once per value of the variables it depends on.

    ```python
    str(compilers.compiler_choice())
    # 'nvcc (FLASHRNN_COMPILER=auto: nvcc found)', or 'nvrtc (FLASHRNN_COMPILER=nvrtc)'
    ```
    """
    get = os.environ.get  # the raw values key the decision; compiler_setting() checks them once
    return _choice(get("FLASHRNN_COMPILER"), get("FLASHRNN_NVCC"), get("CUDA_HOME"), get("CUDA_PATH"),
                   get("PATH"), get("NVCC_PREPEND_FLAGS"), get("NVCC_APPEND_FLAGS"))


@functools.lru_cache(maxsize=16)
def _choice(_compiler: str | None, *_environment: str | None) -> CompilerChoice:
    setting = compiler_setting()
    if setting != "auto":
        problem = _problem_of(setting)
        if problem:
            return CompilerChoice(None, f"FLASHRNN_COMPILER={setting}: {problem}")
        return CompilerChoice(setting, f"FLASHRNN_COMPILER={setting}")
    problems: list[str] = []
    for compiler in AUTO_ORDER:
        problem = _problem_of(compiler)
        if problem is None:
            found = {"nvcc": "nvcc found", "nvrtc": "NVRTC from the pip packages"}[compiler]
            return CompilerChoice(compiler, "FLASHRNN_COMPILER=auto: " + "; ".join([*problems, found]))
        problems.append(f"{compiler} unavailable: {problem}")
    hint = "" if "nvrtc" in AUTO_ORDER else (
        " (FLASHRNN_COMPILER=nvrtc builds with NVRTC from the pip packages instead)")
    return CompilerChoice(None, "no CUDA compiler: " + "; ".join(problems) + hint)


def chosen_compiler() -> str:
    """:func:`compiler_choice`'s compiler; :class:`~flashrnn_kernels.BuildError` with the reason
    when none can build."""
    choice = compiler_choice()
    if choice.compiler is None:
        raise BuildError(choice.reason)
    return choice.compiler


def toolchain_problem() -> str | None:
    """None if the CUDA kernels can be built here by the compiler :func:`compiler_choice` picks,
    else why not (what backends' ``supports`` say).

    ```python
    compilers.toolchain_problem()
    # None, or e.g. 'no CUDA compiler: nvcc unavailable: no CUDA compiler: nvcc not found (...);
    # nvrtc unavailable: no NVRTC: the package cuda-bindings is not installed (...)'
    ```
    """
    choice = compiler_choice()
    return None if choice.compiler else choice.reason
