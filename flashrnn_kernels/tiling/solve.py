"""``kernel_config(problem, gpu)``: fill a model's inputs, solve it, cache the result.

Results are kept in memory and on disk (JSON, one file per key) under the JIT cache directory
(``FLASHRNN_CACHE_DIR`` overrides it, see :mod:`flashrnn_kernels.env`) in ``tiling/``. The key
hashes the problem, the GPU's name and every GPU fact the model reads, the model text and the
version of this module, so a changed model or GPU file never reuses an old answer. Infeasible
problems are cached too (their message).
"""
from __future__ import annotations

import contextlib
import logging
import os
import threading
import time
from collections import OrderedDict
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, Union

import hwmodels

from ..errors import InputError
from .config import KernelConfig, forget_binds
from .diagnose import diagnose
from .models import (
    SPECS,
    TILING_VERSION,
    ModelSpec,
    cache_dir,
    cache_key,
    cache_path,
    model_inputs,
    read_json,
    write_json,
)
from .problem import InfeasibleConfigError, Problem

if TYPE_CHECKING:
    import constrint as ci

log = logging.getLogger(__name__)
log.addHandler(logging.NullHandler())

GPULike = Union["hwmodels.GPU", str]

_MEMO: OrderedDict[str, Any] = OrderedDict()
_MEMO_SIZE = 4096
_LOCK = threading.Lock()


# ====================================================================== GPU


def resolve_gpu(gpu: GPULike) -> hwmodels.GPU:
    """A :class:`hwmodels.GPU` from a GPU, a bundled name or alias, or a ``.toml`` model file."""
    if isinstance(gpu, hwmodels.GPU):
        return gpu
    if isinstance(gpu, (str, os.PathLike)):
        name = os.fspath(gpu)
        try:
            if name.lower().endswith(".toml") or (os.sep in name and Path(name).is_file()):
                return hwmodels.load(name)
            return hwmodels.get(name)
        except hwmodels.HwModelsError as exc:
            raise InputError(str(exc)) from None
    raise InputError(f"gpu must be a hwmodels.GPU, a GPU name or a model file, got {type(gpu).__name__}")


# ====================================================================== solving


def _key(spec: ModelSpec, problem: Problem, gpu: hwmodels.GPU, inputs: dict[str, int], sha: str,
         fixed: dict[str, int]) -> str:
    payload = {"version": TILING_VERSION, "model": spec.file, "sha256": sha, "problem": problem.to_dict(),
               "gpu": gpu.name, "inputs": sorted(inputs.items())}
    if fixed:  # a solve with fixed decisions is another question
        payload["fixed"] = sorted(fixed.items())
    return cache_key(payload)


def _read_disk(key: str) -> Any:
    path = cache_path(key)
    data = None if path is None else read_json(path)
    if data is None:
        return None
    try:
        if "config" in data:
            return KernelConfig.from_dict(data["config"])
        if "infeasible" in data:
            d = data["infeasible"]
            return InfeasibleConfigError(d["message"], Problem.from_dict(d["problem"]), d["gpu"],
                                         tuple(d["binding"]), tuple(d["suggestions"]),
                                         tuple((str(k), int(v)) for k, v in d.get("fixed", {}).items()))
    except (ValueError, KeyError, TypeError) as exc:
        log.debug("ignoring unreadable tiling cache entry %s: %s", path, exc)
    return None


def _write_disk(key: str, result: Any) -> None:
    path = cache_path(key)
    if path is None:
        return
    write_json(path, {"config": result.to_dict()} if isinstance(result, KernelConfig)
               else {"infeasible": result.to_dict()})


def _remember(key: str, result: Any) -> None:
    with _LOCK:
        _MEMO[key] = result
        _MEMO.move_to_end(key)
        while len(_MEMO) > _MEMO_SIZE:
            _MEMO.popitem(last=False)


def clear_cache(disk: bool = False) -> None:
    """Forget the in-process results (and, with ``disk=True``, the files of the disk cache, the
    parsed models' included)."""
    with _LOCK:
        _MEMO.clear()
    forget_binds()
    if disk:
        root = cache_dir()
        if root is not None and root.is_dir():
            for p in [*root.glob("*.json"), *root.glob("models/*.pickle")]:
                with contextlib.suppress(OSError):
                    p.unlink()


def kernel_config(problem: Problem, gpu: GPULike = "h100", *, cache: bool = True,
                  fixed: Mapping[str, int] | None = None) -> KernelConfig:
    """The best configuration of ``problem``'s kernel on ``gpu`` (solved, or from the cache).

    ``gpu`` is a :class:`hwmodels.GPU`, a bundled name or alias (``"h100"``), or the path of a
    ``.toml`` model file. ``fixed`` gives some decisions of the model values (for the fused
    kernel ``NSLICE``, ``BT``, ``FWD_WM``, ``FWD_WK``, ``BWD_WM``, ``BWD_WK``): the others are
    still chosen by the objective, and every constraint still holds. Raises
    :class:`InfeasibleConfigError` when no configuration fits (the message names the resource
    and what would work), :class:`InputError` on bad input. ``cache=False`` solves afresh and
    stores no result (the parsed model is cached regardless: keyed by its text, never stale).

    >>> from flashrnn_kernels.tiling import Problem
    >>> cfg = kernel_config(Problem("lstm", 16, 1, 768), "h100", fixed={"NSLICE": 48, "BT": 16})
    >>> cfg["NSLICE"], cfg["BT"], cfg["U"], cfg["FWD_WM"], cfg["FWD_WK"]
    (48, 16, 16, 4, 2)
    """
    if not isinstance(problem, Problem):
        raise InputError(f"problem must be a flashrnn_kernels.tiling.Problem, got {type(problem).__name__}")
    g = resolve_gpu(gpu)
    spec = SPECS[problem.backend]
    pins = _check_fixed(spec, fixed)
    inputs = model_inputs(spec, problem, hwmodels.constants(g))
    key = _key(spec, problem, g, inputs, spec.sha256(), pins)
    if cache:
        hit = _MEMO.get(key)
        if hit is None:
            hit = _read_disk(key)
            if hit is not None:
                _remember(key, hit)
        if hit is not None:
            if isinstance(hit, InfeasibleConfigError):
                raise hit.fresh()
            return hit
    start = time.perf_counter()
    reduced, res = spec.solve(inputs, fixed=pins)
    if res is None:
        result: Any = diagnose(spec, problem, g, inputs, reduced, pins)
    else:
        result = _config(spec, problem, g, reduced, res, pins, (time.perf_counter() - start) * 1e3)
    if cache:
        _remember(key, result)
        _write_disk(key, result)
    if isinstance(result, InfeasibleConfigError):
        raise result.fresh() if cache else result
    return result


def _check_fixed(spec: ModelSpec, fixed: Mapping[str, int] | None) -> dict[str, int]:
    """``fixed`` checked: decisions of ``spec``'s model, integer values (InputError otherwise)."""
    if fixed is None:
        return {}
    if not isinstance(fixed, Mapping):
        raise InputError(f"fixed must be a dict of decision names to ints, got {type(fixed).__name__}")
    out = {}
    for name, value in fixed.items():
        if name not in spec.decisions:
            raise InputError(f"{spec.file}: {name!r} is not a decision of the model; the decisions are "
                             f"{', '.join(spec.decisions)}")
        if isinstance(value, bool) or not isinstance(value, int):
            raise InputError(f"{spec.file}: the value fixed for {name} must be an integer, got {value!r}")
        out[name] = value
    return dict(sorted(out.items(), key=lambda kv: spec.decisions.index(kv[0])))


def _config(spec: ModelSpec, problem: Problem, gpu: hwmodels.GPU, reduced: ci.Reduction, res: ci.Result,
            fixed: dict[str, int], ms: float) -> KernelConfig:
    full = res.values
    model = spec.model()
    values = tuple((n, int(full[n])) for n in (*spec.decisions, *reduced.definitions))
    exprs = model.objective[0] if model.objective else ()
    names = tuple(str(e) for e in exprs)
    objective = tuple(int(e.evaluate(full)) for e in exprs)
    inputs = tuple((v.name, int(full[v.name])) for v in model.variables
                   if v.name in reduced.values and v.name not in fixed)
    return KernelConfig(problem, gpu.name, values, inputs, objective, names, spec.file, spec.sha256(), ms,
                        tuple(fixed.items()))


__all__ = ["kernel_config", "InfeasibleConfigError", "clear_cache", "resolve_gpu", "cache_path"]
