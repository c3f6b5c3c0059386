"""Kernel configurations solved from constraint models (no torch, no GPU needed).

Each CUDA kernel that takes tiling constants has a model in the ``.cint`` language beside this
module: ``fused.cint`` (the fused persistent forward and backward kernels) and
``alternating.cint`` (the alternating backend's pointwise kernels). The Python side fills a
model's inputs with a GPU's facts (:func:`hwmodels.constants`) and the problem's sizes, solves
it with ``constrint`` for the best configuration and returns it as a :class:`KernelConfig`,
whose :meth:`~KernelConfig.defines` are the ``-D`` defines of the build.

>>> from flashrnn_kernels.tiling import Problem, kernel_config
>>> cfg = kernel_config(Problem("lstm", batch_size=16, num_heads=12, head_dim=64), "h100")
>>> cfg["NSLICE"], cfg["EXCHANGE"]          # one block per head: no exchange between blocks
(1, 0)

See ``docs/kernel-configs.md`` for the models, the objective and a table of configurations.
"""
from __future__ import annotations

from .config import KernelConfig, ResourceUse, binding_resources
from .models import ALTERNATING, FUSED, SPECS, TILING_VERSION, ModelSpec, TilingModelError
from .problem import BACKENDS, DTYPES, PASSES, Problem
from .solve import (
    InfeasibleConfigError,
    cache_path,
    clear_cache,
    kernel_config,
    resolve_gpu,
)


def model_path(backend: str = "fused"):
    """Path of the ``.cint`` model of ``backend`` (``"fused"`` or ``"alternating"``)."""
    return SPECS[backend].path


def render_model(problem: Problem, gpu="h100") -> str:
    """``problem``'s model as self-contained ``.cint`` text, its inputs set for ``gpu``.

    ``constrint solve`` on the text finds the same configuration as :func:`kernel_config`
    (more slowly: the definitions are solved as variables there).
    """
    import hwmodels

    from .models import model_inputs

    spec = SPECS[problem.backend]
    return spec.render(model_inputs(spec, problem, hwmodels.constants(resolve_gpu(gpu))))


__all__ = [
    "Problem", "KernelConfig", "ResourceUse", "kernel_config", "InfeasibleConfigError", "clear_cache",
    "resolve_gpu", "binding_resources", "cache_path", "model_path", "render_model",
    "TilingModelError", "ModelSpec", "SPECS", "FUSED", "ALTERNATING", "TILING_VERSION",
    "BACKENDS", "DTYPES", "PASSES",
]
