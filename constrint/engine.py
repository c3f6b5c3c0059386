"""The solver's operations on a model: root propagation, counting, enumeration, and search for a
(best) solution by depth-first search and branch and bound.

Every solution handed to a caller is checked against every constraint of the model first
(:func:`constrint.problem.check_solution`).
"""
from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

import numpy as np

from .domain import Domain
from .errors import LimitReached, ModelError
from .expr import Neg, Var, check_integer
from .optimize import objective_order, solve_objective, value_directions
from .problem import Context, Problem, Timeout, check_solution, prepare, root
from .results import Result, Status
from .search import ValuePolicy, component_solutions, dfs, leaf_holds
from .vectorized import array_of, count_component_vectorized, solve_vectorized


def root_domains(model: Any) -> dict[str, Domain] | None:
    """Domains after root propagation, by variable name."""
    P = Problem(model)
    r = root(P)
    if r is None:
        return None
    return dict(zip(P.names, r[0]))


def count(model: Any, time_limit: float | None = None) -> int:
    """Exact number of solutions (see :meth:`constrint.Model.count`)."""
    prep = prepare(model)
    if prep is None:
        return 0
    P, doms, comps, free = prep
    ctx = Context(time_limit)
    total = 1
    for v in free:
        total *= doms[v].size
    for vars_, cons in comps:
        n = count_component(P, doms, vars_, cons, ctx)
        if n == 0:
            return 0
        total *= n
    return total


def count_component(P: Problem, doms: list[Domain], vars_: list[int], cons: set[int], ctx: Context) -> int:
    """Number of solutions of one independent part."""
    n = count_component_vectorized(P, doms, vars_, cons)
    if n is not None:
        return n
    total = 0
    try:
        for leaf, act in dfs(P, doms, set(cons), ctx):
            if act and not leaf_holds(P, leaf, act):
                continue
            k = 1
            for v in vars_:
                k *= leaf[v].size
            total += k
    except Timeout:
        raise LimitReached(f"count stopped by the time limit after {ctx.nodes} nodes") from None
    return total


class _Replayable:
    """Re-iterable view of a generator factory, caching the first ``cap`` items."""

    def __init__(self, factory, cap: int = 200_000):
        self.factory = factory
        self.cap = cap
        self.cache: list | None = None

    def __iter__(self):
        if self.cache is not None:
            return iter(self.cache)
        return self._first()

    def _first(self):
        items = []
        complete = True
        for x in self.factory():
            if items is not None:
                items.append(x)
                if len(items) > self.cap:
                    items = None
                    complete = False
            yield x
        if complete and items is not None:
            self.cache = items


def iter_solutions(model: Any, limit: int | None = None) -> Iterator[dict[str, int]]:
    """Lazy iterator over all solutions (see :meth:`constrint.Model.solutions`)."""
    if limit is not None and limit <= 0:
        return
    prep = prepare(model)
    if prep is None:
        return
    P, doms, comps, free = prep
    fixed_names = {}
    parts: list[_Replayable] = []
    for vars_, cons in comps:
        parts.append(_Replayable(lambda vars_=vars_, cons=cons: component_solutions(P, doms, vars_, cons)))
    for v in free:
        if doms[v].is_fixed:
            fixed_names[P.names[v]] = doms[v].lo
        else:
            name, d = P.names[v], doms[v]
            parts.append(_Replayable(lambda name=name, d=d: ({name: x} for x in d), cap=0))
    produced = 0
    for sol in _product(parts, 0, dict(fixed_names)):
        yield check_solution(P, sol)
        produced += 1
        if limit is not None and produced >= limit:
            return


def _product(parts, i, partial):
    if i == len(parts):
        yield dict(partial)
        return
    for piece in parts[i]:
        partial.update(piece)
        yield from _product(parts, i + 1, partial)


def _order_indices(P: Problem, var_order) -> list[int] | None:
    if var_order is None:
        return None
    out = []
    for v in var_order:
        name = v.name if isinstance(v, Var) else v
        if name not in P.names:
            raise ModelError(f"var_order names unknown variable {name!r}")
        out.append(P.names.index(name))
    return out


def _pick_leaf(leaf: list[Domain], vars_: list[int], hint_of: dict[int, int], descending: bool) -> list[int]:
    """Values of a leaf's variables (an unfixed one takes its hint, or its first value)."""
    out = []
    for v in vars_:
        d = leaf[v]
        h = hint_of.get(v)
        out.append(h if h is not None and h in d else (d.hi if descending else d.lo))
    return out


def _hint_indices(P: Problem, hints) -> dict[int, int]:
    if hints is None:
        return {}
    if not isinstance(hints, Mapping):
        raise ModelError(f"hints must map variables (or names) to values, got {type(hints).__name__}")
    out = {}
    for k, v in hints.items():
        name = k.name if isinstance(k, Var) else k
        if name not in P.names:
            raise ModelError(f"hints name unknown variable {name!r}")
        out[P.names.index(name)] = check_integer(v, f"the hint for {name!r}")
    return out


def solve(model: Any, time_limit: float | None, var_order, value_order: str, hints=None, callback=None):
    """Find a (best) solution (see :meth:`constrint.Model.solve`)."""
    if value_order not in ("ascending", "descending"):
        raise ModelError(f"value_order must be 'ascending' or 'descending', got {value_order!r}")
    if callback is not None and not callable(callback):
        raise ModelError(f"callback must be callable, got {type(callback).__name__}")
    descending = value_order == "descending"
    ctx = Context(time_limit)
    prep = prepare(model)
    if prep is None:
        P0 = Problem(model)
        _order_indices(P0, var_order)  # still report a bad var_order or hint
        _hint_indices(P0, hints)
        return Result(Status.INFEASIBLE, nodes=ctx.nodes, seconds=ctx.seconds)
    P, doms, comps, free = prep
    order = _order_indices(P, var_order)
    hint_of = _hint_indices(P, hints)
    objective = model._objective
    if objective is not None and not hint_of:
        fast = solve_vectorized(model, prep, ctx)
        if fast is not None:
            if fast.ok and callback is not None:
                callback(dict(fast.values))
            return fast
    active: set[int] = set()
    for _, cons in comps:
        active |= cons

    def pick(doms):
        out = {}
        for i, (n, d) in enumerate(zip(P.names, doms)):
            h = hint_of.get(i)
            out[n] = h if h is not None and h in d else (d.hi if descending else d.lo)
        return out

    if objective is None:
        sol = pick(doms)
        policy = ValuePolicy(descending, hints=hint_of)
        try:
            for vars_, cons in comps:
                found = None
                for leaf, act in dfs(P, doms, set(cons), ctx, order, policy):
                    if act and not leaf_holds(P, leaf, act):
                        continue
                    found = leaf
                    break
                if found is None:
                    return Result(Status.INFEASIBLE, nodes=ctx.nodes, seconds=ctx.seconds)
                sol.update(zip((P.names[v] for v in vars_), _pick_leaf(found, vars_, hint_of, descending)))
        except Timeout:
            return Result(Status.UNKNOWN, nodes=ctx.nodes, seconds=ctx.seconds)
        sol = check_solution(P, sol)
        if callback is not None:
            callback(dict(sol))
        return Result(Status.FEASIBLE, sol, nodes=ctx.nodes, seconds=ctx.seconds)

    keys = tuple(e if model._sense > 0 else Neg(e) for e in objective)
    policy = ValuePolicy(descending, value_directions(keys, doms), hint_of)
    if order is None:
        order = objective_order(keys)
    best, proven = solve_objective(P, doms, active, keys, ctx, order, policy, pick, callback)
    if best is None:
        return Result(
            Status.INFEASIBLE if proven else Status.UNKNOWN, nodes=ctx.nodes, seconds=ctx.seconds
        )
    status = Status.OPTIMAL if proven else Status.FEASIBLE
    obj = tuple(e.evaluate(best) for e in objective)
    return Result(status, best, obj[0] if len(obj) == 1 else obj, nodes=ctx.nodes, seconds=ctx.seconds)


def solutions_array(model: Any, dtype: Any = None, max_rows: int = 1 << 31) -> np.ndarray:
    """All solutions as a 2-D array (rows = solutions, columns = variables in creation order).

    Peak memory is about the output plus the components' own solutions (never more than the
    output again) plus the join's working chunks: blocks are written straight into the output.
    """
    return array_of(prepare(model), len(model._vars), dtype, max_rows)


__all__ = ["root_domains", "count", "iter_solutions", "solve", "solutions_array"]
