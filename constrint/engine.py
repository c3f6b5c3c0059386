"""The solver's operations on a model: root propagation, counting, enumeration, and search for a
(best) solution by depth-first search and branch and bound.

Every solution handed to a caller is checked against every constraint of the model first
(:func:`constrint.problem.check_solution`).
"""
from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any

from .counting import OverBudget, count_by_search
from .domain import Domain
from .errors import LimitReached, ModelError
from .expr import Neg, Var, check_integer
from .optimize import objective_order, solve_objective, value_directions
from .problem import Context, Problem, Timeout, check_solution, prepare, root
from .results import Result, Status
from .search import ValuePolicy, component_solutions, dfs, leaf_holds

if TYPE_CHECKING:
    import numpy as np

# numpy (and the vectorised join, which needs it) is imported where it is used: it is a third of
# the time 'import constrint' would take, and a model that only propagates never needs it


def root_domains(model: Any) -> dict[str, Domain] | None:
    """Domains after root propagation, by variable name."""
    P = Problem(model)
    r = root(P)
    if r is None:
        return None
    return dict(zip(P.names, r[0]))


#: A constraint whose open variables (all but its largest domain) span more combinations than
#: this makes the numpy join expensive for counting: the counting search is tried first.
WIDE_COMBINATIONS = 1 << 20
#: A lower bound on the join's time per combination it materialises (seconds): with the widest
#: span, how long the counting search may try before the join takes over.
JOIN_ROW_S = 1e-7


def _stopped(what: str, ctx: Context) -> LimitReached:
    return LimitReached(f"{what} stopped by the time limit after {ctx.seconds:.2f} s")


def count(model: Any, time_limit: float | None = None) -> int:
    """Exact number of solutions (see :meth:`constrint.Model.count`)."""
    ctx = Context(time_limit)
    try:
        prep = prepare(model, ctx)
        if prep is None:
            return 0
        P, doms, comps, free = prep
        total = 1
        for v in free:
            total *= doms[v].size
        for vars_, cons in comps:
            n = count_component(P, doms, vars_, cons, ctx)
            if n == 0:
                return 0
            total *= n
        return total
    except Timeout:
        raise _stopped("count", ctx) from None


def count_component(P: Problem, doms: list[Domain], vars_: list[int], cons: set[int], ctx: Context) -> int:
    """Number of solutions of one independent part.

    The numpy join lists every solution; the counting search (:func:`count_by_search`) caches
    the counts of sub-problems and lists nothing. The join is used where it suits and no
    constraint spans so many combinations that it would materialise them all; otherwise the
    search goes first, for about the time the join would need for the widest constraint's
    combinations, and the join takes over where the search has not finished by then.
    """
    from .vectorized import component_suits, count_component_vectorized

    span = _widest(P, doms, cons)
    if span > WIDE_COMBINATIONS:
        try:
            return count_by_search(P, doms, vars_, cons, ctx, budget_s=span * JOIN_ROW_S)
        except OverBudget:
            if not component_suits(P, doms, vars_, cons):
                return count_by_search(P, doms, vars_, cons, ctx)
    elif not component_suits(P, doms, vars_, cons):
        return count_by_search(P, doms, vars_, cons, ctx)
    n = count_component_vectorized(P, doms, vars_, cons, ctx)
    assert n is not None
    return n


def _widest(P: Problem, doms: list[Domain], cons: set[int]) -> int:
    """The most combinations the open variables of one constraint, all but its largest, span:
    the numpy join materialises at least that many rows."""
    widest = 1
    for ci in cons:
        sizes = sorted(doms[v].size for v in P.cvars[ci] if not doms[v].is_fixed)
        span = 1
        for s in sizes[:-1]:
            span *= s
            if span > widest and span > WIDE_COMBINATIONS:
                break
        widest = max(widest, span)
    return widest


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


def iter_solutions(model: Any, limit: int | None = None, time_limit: float | None = None
                   ) -> Iterator[dict[str, int]]:
    """Lazy iterator over all solutions (see :meth:`constrint.Model.solutions`)."""
    ctx = Context(time_limit)
    if limit is not None and limit <= 0:
        return
    try:
        yield from _solutions(model, limit, ctx)
    except Timeout:
        raise _stopped("solutions", ctx) from None


def _solutions(model: Any, limit: int | None, ctx: Context) -> Iterator[dict[str, int]]:
    prep = prepare(model, ctx)
    if prep is None:
        return
    P, doms, comps, free = prep
    fixed_names = {}
    parts: list[_Replayable] = []
    for vars_, cons in comps:
        parts.append(_Replayable(
            lambda vars_=vars_, cons=cons: component_solutions(P, doms, vars_, cons, ctx)))
    for v in free:
        if doms[v].is_fixed:
            fixed_names[P.names[v]] = doms[v].lo
        else:
            name, d = P.names[v], doms[v]
            parts.append(_Replayable(lambda name=name, d=d: ({name: x} for x in d), cap=0))
    for produced, sol in enumerate(_product(parts, dict(fixed_names)), start=1):
        if (produced & 255) == 0:
            ctx.check()
        yield check_solution(P, sol)
        if limit is not None and produced >= limit:
            return


def _product(parts, partial):
    """Every combination of one piece from each part, merged into ``partial`` (an odometer over
    the parts: any number of them)."""
    if not parts:
        yield dict(partial)
        return
    its = [iter(p) for p in parts]
    k = 0
    while k >= 0:
        piece = next(its[k], None)
        if piece is None:  # this part is exhausted: back to the previous one
            k -= 1
            continue
        partial.update(piece)
        if k == len(parts) - 1:
            yield dict(partial)
        else:
            k += 1
            its[k] = iter(parts[k])


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
    try:
        prep = prepare(model, ctx)
    except Timeout:
        return Result(Status.UNKNOWN, nodes=ctx.nodes, seconds=ctx.seconds)
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
        from .vectorized import solve_vectorized

        try:
            fast = solve_vectorized(model, prep, ctx)
        except Timeout:
            return Result(Status.UNKNOWN, nodes=ctx.nodes, seconds=ctx.seconds)
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
                    found = _pick_leaf(leaf, vars_, hint_of, descending)  # before the search undoes it
                    break
                if found is None:
                    return Result(Status.INFEASIBLE, nodes=ctx.nodes, seconds=ctx.seconds)
                sol.update(zip((P.names[v] for v in vars_), found))
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


def solutions_array(model: Any, dtype: Any = None, max_rows: int = 1 << 31, time_limit: float | None = None
                    ) -> np.ndarray:
    """All solutions as a 2-D array (rows = solutions, columns = variables in creation order).

    Peak memory is about the output plus the components' own solutions (never more than the
    output again) plus the join's working chunks: blocks are written straight into the output.
    """
    from .vectorized import array_of

    ctx = Context(time_limit)
    try:
        return array_of(prepare(model, ctx), len(model._vars), dtype, max_rows, ctx)
    except Timeout:
        raise _stopped("solutions_array", ctx) from None


__all__ = ["root_domains", "count", "iter_solutions", "solve", "solutions_array"]
