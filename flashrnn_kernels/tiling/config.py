"""The result of a solve: :class:`KernelConfig` (frozen; JSON round trip; explains itself)."""
from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import InputError
from .models import (
    SPECS,
    TILING_VERSION,
    ModelSpec,
    Resource,
    cache_key,
    cache_path,
    problem_defines,
    read_json,
    relaxed,
    write_json,
)
from .problem import Problem

log = logging.getLogger(__name__)


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
    def resources(self, binding: bool = False, cache: bool = True) -> list[ResourceUse]:
        """The budgets of the kernels that must fit, with their use and slack.

        ``binding=True`` also says, per resource, whether it binds: whether lifting that budget
        alone (re-solving the model with it relaxed) gives a configuration the objective
        prefers. That costs one solve per kind of resource, the first time: the answer is kept
        in the tiling cache (``cache=False``: neither read nor written), see
        :func:`binding_resources`.
        """
        binds: dict[str, bool] = {}
        if binding:
            binds = binding_resources(self, cache=cache)
        out = []
        for r in self.spec.resources:
            if r.kernel == "forward" and not self.problem.forward:
                continue
            if r.kernel == "backward" and not self.problem.backward:
                continue
            out.append(_use(self, r, binds.get(r.kind)))
        return out

    def explain(self, binding: bool = True, cache: bool = True) -> str:
        """A readable account: defines, grid, where R lives, resources and their slack, and which
        of them bind (see :meth:`resources`), and the objective."""
        return _explain(self, binding, cache)

    def __str__(self) -> str:
        return " ".join(f"{k}={v}" for k, v in self.defines().items())


def _use(cfg: KernelConfig, r: Resource, binds: bool | None) -> ResourceUse:
    return ResourceUse(r.label, r.kind, r.kernel, cfg[r.used], cfg[r.limit], r.unit, binds)


# ---------------------------------------------------------------- the readable account

def mb(n: float) -> str:
    """Bytes as MB (10^6) with one decimal, or kB below 1 MB."""
    return f"{n / 1e6:.1f} MB" if n >= 1e6 else f"{n / 1e3:.1f} kB"


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def _explain(cfg: KernelConfig, binding: bool = True, cache: bool = True) -> str:
    p = cfg.problem
    lines = [f"{p.backend} kernel for {p.describe()} on the {cfg.gpu}"]
    defines = cfg.defines()
    if defines:
        lines.append("  defines     " + " ".join(f"{k}={v}" for k, v in defines.items()))
    if cfg.fixed:
        lines.append("  fixed       " + " ".join(f"{k}={v}" for k, v in cfg.fixed)
                     + "  (given by the caller; the solver chose the rest)")
    if p.backend == "fused":
        lines += _fused(cfg)
    else:
        lines += _alternating(cfg)
    uses = cfg.resources(binding=binding, cache=cache)
    binds_column = ("binds",) if binding else ()
    rows = [("resource", "kernel", "used", "limit", "slack", *binds_column, "unit")]
    for u in uses:
        says = ("?" if u.binds is None else ("yes" if u.binds else "no"),) if binding else ()
        rows.append((u.label, u.kernel or "-", f"{u.used:,}", f"{u.limit:,}", f"{u.slack:,}", *says, u.unit))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    right = {2, 3, 4}
    lines.append("  resources")
    for r in rows:
        cells = [c.rjust(w) if i in right else c.ljust(w) for i, (c, w) in enumerate(zip(r, widths))]
        lines.append("    " + "  ".join(cells).rstrip())
    if binding:
        lines.append("    (binds: lifting that budget alone lets the model find a better configuration)")
    else:
        lines.append("    (which of them bind: explain(binding=True), on the command line --binds; one more "
                     "solve per kind of resource)")
    lines.append("  objective   " + ", ".join(f"{n}={v}" for n, v in zip(cfg.objective_names, cfg.objective))
                 + "  (minimised in this order)")
    lines.append(f"  model       flashrnn_kernels/tiling/{cfg.model} (sha256 {cfg.model_sha256[:12]})")
    return "\n".join(lines)


def _fused(cfg: KernelConfig) -> list[str]:
    p = cfg.problem
    ns, u, bt, tiles, nt = cfg["NSLICE"], cfg["U"], cfg["BT"], cfg["TILES"], cfg["NT"]
    out = [f"  grid        {_plural(cfg['BLOCKS'], 'block')} of {nt} threads: {ns} per head "
           f"({u} units each) x {_plural(p.num_heads, 'head')} x {_plural(tiles, 'batch tile')} of {bt}"
           + (f", {cfg['WAVES']} waves" if cfg["WAVES"] > 1 else "")]
    if ns > 1 and cfg["DSM_F"]:
        out.append(f"              every step the {ns} blocks of a head, one thread-block cluster, write h into "
                   "each other's shared memory (sm_90a; through L2 where the GPU cannot hold every cluster)")
    elif ns > 1:
        out.append(f"              every step the {ns} blocks of a head exchange their part of the operand "
                   "through L2 (cooperative launch, one block per SM)")
    else:
        out.append("              one block per head and batch tile: a step synchronises only inside the block")
    for k, name, pre in (("F", "forward", "FWD"), ("B", "backward", "BWD")):
        if (k == "F" and not p.forward) or (k == "B" and not p.backward):
            continue
        wm, wk = cfg[f"{pre}_WM"], cfg[f"{pre}_WK"]
        ksr, ksw = cfg[f"KSR_{k}"], cfg[f"KSW_{k}"]
        where = (f"{cfg[f'AR_{k}']} registers hold R" if ksr == ksw else
                 f"R: {ksr} K steps in {cfg[f'AR_{k}']} registers, {ksw - ksr} in "
                 f"{cfg[f'SMEM_{k}_R']:,} B of shared memory")
        out.append(f"  {name:<11} warps {wm} x {wk} (rows x split-K): {cfg[f'MTW_{k}']} row tiles x "
                   f"{ksw} K steps per warp, {cfg[f'NCH_{k}']} accumulator chain(s); "
                   f"{where}, about {cfg[f'REGS_{k}']} registers in all; "
                   f"{cfg[f'SMEM_{k}']:,} B shared memory")
    if cfg["R_SMEM_BYTES"] == 0:
        where = f"all of it in registers ({mb(cfg['R_REG_BYTES'])} of registers over its blocks"
    else:
        where = ("in registers and, for what exceeds them, in shared memory read back every step "
                 f"({mb(cfg['R_REG_BYTES'])} of registers and {mb(cfg['R_SMEM_BYTES'])} of shared memory "
                 "over its blocks")
    out.append(f"  R           {mb(cfg['R_BYTES'])} per head, {where}, padding included)")
    return out


def _alternating(cfg: KernelConfig) -> list[str]:
    return [f"  launch      blocks of {cfg['THREADS']} threads (the launchers' block size; no defines: one build "
            "serves every problem)",
            f"  grid        {_plural(cfg['BLOCKS'], 'block')} of {cfg['THREADS']} threads per step "
            f"({cfg['ELEMS']:,} elements), {cfg['BLOCKS_PER_SM']} resident per SM, "
            f"{_plural(cfg['WAVES'], 'wave')}, {_plural(cfg['IDLE_SMS'], 'idle SM')}"]


def binding_resources(cfg: KernelConfig, cache: bool = True) -> dict[str, bool]:
    """Per kind of resource: whether lifting its budget alone gives a better objective.

    The answer depends only on the model's text, the inputs, the fixed decisions and the
    objective reached, so it is kept under that key, in memory and in the tiling cache
    (``binds-<key>.json``), and later calls for the same configuration skip the solves.
    ``cache=False`` neither reads nor writes it.
    """
    if not cache:
        return _solve_binds(cfg)
    key = _binds_key(cfg)
    hit = _BINDS.get(key)
    if hit is None:
        path = cache_path(f"binds-{key}")
        hit = None if path is None else _read_binds(path, cfg.spec)
        if hit is None:
            hit = _solve_binds(cfg)
            if path is not None:
                write_json(path, {"binds": hit})
        _BINDS[key] = hit
    return dict(hit)


def _solve_binds(cfg: KernelConfig) -> dict[str, bool]:
    """One relaxed solve per kind of resource: does lifting that budget alone improve on
    ``cfg``'s objective?"""
    spec = cfg.spec
    inputs = dict(cfg.inputs)
    out: dict[str, bool] = {}
    for kind, _ in spec.relaxations:
        _, res = spec.solve(inputs, relaxed(spec, kind, inputs), dict(cfg.fixed))
        out[kind] = res is not None and spec.objective_of(res) < cfg.objective
    return out


#: binding_resources' answers in this process, by _binds_key
_BINDS: dict[str, dict[str, bool]] = {}


def forget_binds() -> None:
    """Forget binding_resources' answers kept in this process (the tiling cache's clear_cache)."""
    _BINDS.clear()


def _binds_key(cfg: KernelConfig) -> str:
    payload = {"version": TILING_VERSION, "model": cfg.model, "sha256": cfg.spec.sha256(),
               "inputs": sorted(cfg.inputs), "fixed": sorted(cfg.fixed), "objective": list(cfg.objective)}
    return cache_key(payload)


def _read_binds(path: Path, spec: ModelSpec) -> dict[str, bool] | None:
    data = read_json(path)
    if data is None:
        return None
    binds = data.get("binds") if isinstance(data, dict) else None
    kinds = [kind for kind, _ in spec.relaxations]
    if not isinstance(binds, dict) or sorted(binds) != sorted(kinds) or not all(
            isinstance(v, bool) for v in binds.values()):
        log.debug("ignoring tiling cache entry %s: not an answer for this model", path)
        return None
    return binds


__all__ = ["KernelConfig", "ResourceUse", "binding_resources"]
