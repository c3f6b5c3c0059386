"""A brute-force oracle for small models: enumerate the Cartesian product and evaluate."""
from __future__ import annotations

import itertools
import math
from typing import Any

from ..errors import ModelError

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


def brute_force_optimum(model: Any) -> Any:
    """The optimal objective value (tuple if lexicographic) by brute force, or None if infeasible."""
    obj = model.objective
    if obj is None:
        raise ModelError("the model has no objective")
    exprs, sense = obj
    best = None
    for s in brute_force_solutions(model):
        k = tuple(e.evaluate(s) for e in exprs)
        if best is None or (k < best if sense == "minimize" else k > best):
            best = k
    if best is None:
        return None
    return best[0] if len(best) == 1 else best
