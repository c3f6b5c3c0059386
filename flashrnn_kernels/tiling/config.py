"""The result of a solve: :class:`KernelConfig` (frozen; JSON round trip; explains itself)."""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from ..errors import InputError
from .models import SPECS, TILING_VERSION, ModelSpec, Resource, problem_defines
from .problem import Problem


@dataclass(frozen=True)
class ResourceUse:
    """How much of one budget a configuration uses; ``binds`` says whether lifting the budget
    would give a better configuration (``None``: not analysed)."""

    label: str
    kind: str
    kernel: str
    used: int
    limit: int
    unit: str
    binds: bool | None = None

    @property
    def slack(self) -> int:
        return self.limit - self.used

    def to_dict(self) -> dict[str, Any]:
        return {"label": self.label, "kind": self.kind, "kernel": self.kernel, "used": self.used,
                "limit": self.limit, "slack": self.slack, "unit": self.unit, "binds": self.binds}


@dataclass(frozen=True)
class KernelConfig:
    """A solved tiling: the defines of one kernel build and every quantity of its model.

    ``values`` holds the decisions and every definition of the model (name -> int), ``inputs``
    the model's inputs (GPU facts and problem sizes), ``objective`` the objective's value (one
    int per level, names in ``objective_names``), ``fixed`` the decisions the caller fixed
    (``kernel_config(..., fixed=...)``; empty when the solver chose every one).
    ``cfg["SMEM_F"]`` reads any model quantity.
    """

    problem: Problem
    gpu: str
    values: tuple[tuple[str, int], ...]
    inputs: tuple[tuple[str, int], ...]
    objective: tuple[int, ...]
    objective_names: tuple[str, ...]
    model: str
    model_sha256: str
    solve_ms: float = field(default=0.0, compare=False)
    fixed: tuple[tuple[str, int], ...] = ()

    # ------------------------------------------------------------------ access
    @property
    def backend(self) -> str:
        return self.problem.backend

    @property
    def spec(self) -> ModelSpec:
        return SPECS[self.problem.backend]

    def __getitem__(self, name: str) -> int:
        for k, v in self.values:
            if k == name:
                return v
        for k, v in self.inputs:
            if k == name:
                return v
        raise KeyError(f"{name!r} is not a quantity of {self.model}")

    def get(self, name: str, default: Any = None) -> Any:
        try:
            return self[name]
        except KeyError:
            return default

    def as_dict(self) -> dict[str, int]:
        """Every model quantity: inputs, decisions and definitions."""
        return {**dict(self.inputs), **dict(self.values)}

    def defines(self) -> dict[str, int]:
        """``-D`` defines of the kernel build (name -> int)."""
        out = problem_defines(self.spec, self.problem)
        out.update({d: self[q] for d, q in self.spec.defines})
        return out

    # ------------------------------------------------------------------ JSON
    def to_dict(self) -> dict[str, Any]:
        out = {
            "version": TILING_VERSION,
            "problem": self.problem.to_dict(),
            "gpu": self.gpu,
            "defines": self.defines(),
            "objective": dict(zip(self.objective_names, self.objective)),
            "values": dict(self.values),
            "inputs": dict(self.inputs),
            "model": self.model,
            "model_sha256": self.model_sha256,
        }
        if self.fixed:
            out["fixed"] = dict(self.fixed)
        return out

    def to_json(self, indent: int | None = 2) -> str:
        """The configuration as JSON (:meth:`from_json` reads it back)."""
        return json.dumps(self.to_dict(), indent=indent)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> KernelConfig:
        try:
            if d.get("version") != TILING_VERSION:
                raise InputError(f"kernel config of version {d.get('version')!r}, expected {TILING_VERSION}")
            obj = d["objective"]
            return cls(problem=Problem.from_dict(d["problem"]), gpu=str(d["gpu"]),
                       values=tuple((str(k), int(v)) for k, v in d["values"].items()),
                       inputs=tuple((str(k), int(v)) for k, v in d["inputs"].items()),
                       objective=tuple(int(v) for v in obj.values()),
                       objective_names=tuple(str(k) for k in obj), model=str(d["model"]),
                       model_sha256=str(d["model_sha256"]),
                       fixed=tuple((str(k), int(v)) for k, v in d.get("fixed", {}).items()))
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            if isinstance(exc, InputError):
                raise
            raise InputError(f"not a kernel config: {exc!r}") from None

    @classmethod
    def from_json(cls, text: str) -> KernelConfig:
        try:
            d = json.loads(text)
        except json.JSONDecodeError as exc:
            raise InputError(f"not a kernel config (bad JSON: {exc})") from None
        if not isinstance(d, dict):
            raise InputError("not a kernel config (expected a JSON object)")
        return cls.from_dict(d)

    # ------------------------------------------------------------------ explanation
    def resources(self, binding: bool = False) -> list[ResourceUse]:
        """The budgets of the kernels that must fit, with their use and slack.

        ``binding=True`` also says, per resource, whether it binds: whether lifting that budget
        alone (re-solving the model with it relaxed) gives a configuration the objective
        prefers. That costs one solve per kind of resource.
        """
        binds: dict[str, bool] = {}
        if binding:
            from .solve import binding_resources

            binds = binding_resources(self)
        out = []
        for r in self.spec.resources:
            if r.kernel == "forward" and not self.problem.forward:
                continue
            if r.kernel == "backward" and not self.problem.backward:
                continue
            out.append(_use(self, r, binds.get(r.kind)))
        return out

    def explain(self, binding: bool = True) -> str:
        """A readable account: defines, grid, where R lives, resources and their slack, and which
        of them bind (see :meth:`resources`), and the objective."""
        from .explain import explain

        return explain(self, binding)

    def __str__(self) -> str:
        return " ".join(f"{k}={v}" for k, v in self.defines().items())


def _use(cfg: KernelConfig, r: Resource, binds: bool | None) -> ResourceUse:
    return ResourceUse(r.label, r.kind, r.kernel, cfg[r.used], cfg[r.limit], r.unit, binds)


__all__ = ["KernelConfig", "ResourceUse"]
