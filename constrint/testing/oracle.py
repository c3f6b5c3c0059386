"""A brute-force oracle for small models: enumerate the Cartesian product and evaluate.

It uses nothing of the solver but :meth:`Constraint.holds` (each node evaluating itself, custom
constraints through their ``evaluate``), so it is the reference the solver is tested against.
"""
from __future__ import annotations

import itertools
import math
from typing import Any

from ..errors import ModelError
from ..expr import Undefined

#: Models with a larger Cartesian product are refused by the oracle.
ORACLE_LIMIT = 2_000_000


def cartesian_size(model: Any) -> int:
    """Product of the declared domain sizes."""
    return math.prod(model.domain(v).size for v in model.variables)


def brute_force_solutions(model: Any, limit: int = ORACLE_LIMIT) -> list[dict[str, int]]:
    """Every solution of a small model, in lexicographic order of the variables."""
    size = cartesian_size(model)
    if size > limit:
        raise ModelError(f"model too large for brute force ({size} > {limit} assignments)")
    names = [v.name for v in model.variables]
    doms = [list(model.domain(v)) for v in model.variables]
    cons = model.constraints
    out = []
    for combo in itertools.product(*doms):
        a = dict(zip(names, combo))
        if all(c.holds(a) for c in cons):
            out.append(a)
    return out


def brute_force_count(model: Any, limit: int = ORACLE_LIMIT) -> int:
    """Number of solutions of a small model, by brute force."""
    return len(brute_force_solutions(model, limit))


def brute_force_optimum(model: Any, limit: int = ORACLE_LIMIT) -> Any:
    """The optimal objective value (tuple if lexicographic) by brute force, or None if infeasible.

    Solutions at which the objective is undefined (a division by zero) are skipped.
    """
    obj = model.objective
    if obj is None:
        raise ModelError("the model has no objective")
    exprs, sense = obj
    best = None
    for s in brute_force_solutions(model, limit):
        try:
            k = tuple(e.evaluate(s) for e in exprs)
        except Undefined:
            continue
        if best is None or (k < best if sense == "minimize" else k > best):
            best = k
    if best is None:
        return None
    return best[0] if len(best) == 1 else best
