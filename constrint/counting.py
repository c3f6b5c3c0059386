"""Counting without listing: a search that splits, caches and counts linear constraints directly.

:func:`count_by_search` counts the solutions of one independent part of a compiled problem. At
every node the open constraints fall into independent parts (variables shared only through fixed
ones), which are counted apart and multiplied. Each part's count is cached under its *residual*:
the domains of its open variables and, per constraint, what is left of it once the fixed
variables have values (for a linear comparison: its relation, constant and open terms; for any
other constraint: which one and the values of its fixed variables). Sub-problems reached along
different branches are then counted once, which makes a sum over many variables a dynamic
program over its partial sums. A part that is one linear comparison is counted by
:func:`count_linear` outright.

The search runs on an explicit stack (no recursion per variable) and checks the time limit of
its :class:`~constrint.problem.Context` at every node.
"""
from __future__ import annotations

import time
from collections.abc import Generator
from typing import Any

from .domain import Domain
from .expr import Compare
from .problem import Context, Problem, UnionFind, fixpoint
from .propagators import Store
from .search import _branches
from .transform import linear_form, substitute

#: Most partial sums :func:`count_linear` keeps, and most values per variable it lists.
LINEAR_STATES = 1 << 18
LINEAR_VALUES = 1 << 12


class OverBudget(Exception):
    """Internal: a counting search spent the time it was given."""


def count_linear(op: str, const: int, terms: tuple[tuple[int, int], ...], doms: list[Domain]) -> int | None:
    """Assignments of the variables of ``terms`` (``(index, coefficient)`` pairs) within ``doms``
    with ``sum(k * x) + const OP 0``, by dynamic programming over the partial sums; None where
    the partial sums or a domain's values are too many to list.

    >>> from constrint import Domain
    >>> doms = [Domain.interval(0, 1)] * 30
    >>> count_linear("==", -3, tuple((i, 1) for i in range(30)), doms)   # comb(30, 3)
    4060
    """
    sizes = [doms[v].size for v, _ in terms]
    if any(s > LINEAR_VALUES for s in sizes):
        return None
    if op == "!=":
        eq = count_linear("==", const, terms, doms)
        if eq is None:
            return None
        total = 1
        for s in sizes:
            total *= s
        return total - eq
    sign = 1
    if op in (">", ">="):  # s > 0  <=>  -s < 0
        sign, op = -1, "<" if op == ">" else "<="
    const *= sign
    if op == "<":  # s < 0  <=>  s + 1 <= 0
        const, op = const + 1, "<="
    steps = [[sign * k * x for x in doms[v]] for v, k in terms]
    n = len(steps)
    lo_rest = [0] * (n + 1)
    hi_rest = [0] * (n + 1)
    rest_count = [1] * (n + 1)
    for i in range(n - 1, -1, -1):
        lo_rest[i] = lo_rest[i + 1] + min(steps[i])
        hi_rest[i] = hi_rest[i + 1] + max(steps[i])
        rest_count[i] = rest_count[i + 1] * len(steps[i])
    done = 0
    dist = {const: 1}
    for i, values in enumerate(steps):
        new: dict[int, int] = {}
        for s, w in dist.items():
            if s + lo_rest[i] > 0 or (op == "==" and s + hi_rest[i] < 0):
                continue  # no completion satisfies it
            if op == "<=" and s + hi_rest[i] <= 0:
                done += w * rest_count[i]  # every completion satisfies it
                continue
            for x in values:
                t = s + x
                new[t] = new.get(t, 0) + w
        if len(new) > LINEAR_STATES:
            return None
        dist = new
    return done + sum(w for s, w in dist.items() if (s == 0 if op == "==" else s <= 0))


def count_by_search(P: Problem, doms: list[Domain], vars_: list[int], cons: set[int], ctx: Context,
                    budget_s: float | None = None) -> int:
    """Number of solutions over ``vars_`` of the constraints ``cons`` (one independent part).

    Raises :class:`~constrint.problem.Timeout` at the context's time limit and
    :class:`OverBudget` after ``budget_s`` seconds.
    """
    state = _Counting(P, ctx, budget_s, cons)
    active = set(cons)
    opened = set()
    for ci in active:
        opened.update(v for v in P.cvars[ci] if not doms[v].is_fixed)
    n = _run(_count(state, list(doms), active))
    for v in vars_:  # variables no constraint reads are free
        if v not in opened and not doms[v].is_fixed:
            n *= doms[v].size
    return n


class _Counting:
    """What one counting search shares: the problem, the limits, the cache of part counts."""

    def __init__(self, P: Problem, ctx: Context, budget_s: float | None, cons: set[int]):
        self.P = P
        self.ctx = ctx
        self.budget_end = None if budget_s is None else time.monotonic() + budget_s
        self.cache: dict[Any, int] = {}
        self.linear: dict[int, tuple[str, int, dict[int, int]]] = {}
        # comparisons that are not linear, but may become linear once some variables have values
        self.compare: set[int] = set()
        for ci in cons:
            c = P.cons[ci]
            lin = linear_form(c)
            if lin is not None:
                self.linear[ci] = lin
            elif type(c) is Compare and c.a.integral and c.b.integral:
                self.compare.add(ci)
        self.residual_of: dict[tuple, tuple[str, int, dict[int, int]] | None] = {}

    def linear_at(self, ci: int, doms: list[Domain]) -> tuple[str, int, tuple[tuple[int, int], ...]] | None:
        """Constraint ``ci`` with its fixed variables' values put in, as ``(OP, const, terms)``
        over its open variables, where that is linear; else None."""
        P = self.P
        lin = self.linear.get(ci)
        if lin is None:
            if ci not in self.compare:
                return None
            fixed = tuple((v, doms[v].lo) for v in P.cvars[ci] if doms[v].is_fixed)
            if not fixed:
                return None
            key = (ci, fixed)
            if key not in self.residual_of:
                rest = substitute(P.cons[ci], {P.names[v]: x for v, x in fixed})
                self.residual_of[key] = linear_form(rest)
            lin = self.residual_of[key]
            if lin is None:
                return None
        op, const, coefs = lin
        terms = []
        for v, k in coefs.items():
            if doms[v].is_fixed:
                const += k * doms[v].lo
            else:
                terms.append((v, k))
        return op, const, tuple(sorted(terms))


def _run(gen: Generator) -> Any:
    """Drive generators that yield sub-generators and receive their results (no recursion)."""
    stack = [gen]
    value: Any = None
    while stack:
        try:
            sub = stack[-1].send(value)
        except StopIteration as stop:
            stack.pop()
            value = stop.value
            continue
        stack.append(sub)
        value = None
    return value


def _count(S: _Counting, doms: list[Domain], active: set[int]) -> Generator[Any, int, int]:
    """Assignments of the open variables of ``active`` that satisfy it."""
    P = S.P
    S.ctx.check()
    if S.budget_end is not None and time.monotonic() > S.budget_end:
        raise OverBudget
    groups = UnionFind()
    open_of: dict[int, list[int]] = {}
    for ci in list(active):
        open_vars = [v for v in P.cvars[ci] if not doms[v].is_fixed]
        if not open_vars:
            if not P.cons[ci].holds(P.assignment(doms, P.cvars[ci])):
                return 0
            active.discard(ci)
            continue
        open_of[ci] = open_vars
        groups.union(*open_vars)
    parts: dict[Any, list[int]] = {}
    for ci, open_vars in open_of.items():
        parts.setdefault(groups[open_vars[0]], []).append(ci)
    total = 1
    for part in parts.values():
        key = _residual(S, doms, part, open_of)
        n = S.cache.get(key)
        if n is None and len(part) == 1 and key[1][0][0] == 0:
            op, const, terms = key[1][0][1:]
            n = count_linear(op, const, terms, doms)
            if n is not None:  # open variables whose coefficients cancel are free
                inside = {v for v, _ in terms}
                for v in open_of[part[0]]:
                    if v not in inside:
                        n *= doms[v].size
        if n is None:
            n = yield _branch(S, doms, part, open_of)
        S.cache[key] = n
        if n == 0:
            return 0
        total *= n
    return total


def _branch(S: _Counting, doms: list[Domain], part: list[int], open_of: dict[int, list[int]]
            ) -> Generator[Any, int, int]:
    """Count one part by branching on its smallest open variable."""
    P = S.P
    degree: dict[int, int] = {}
    for ci in part:
        for u in open_of[ci]:
            degree[u] = degree.get(u, 0) + 1
    cands = sorted(degree)
    # the variable shared by most of the part's constraints first: fixing it splits the part
    v = min(cands, key=lambda u: (-degree[u], doms[u].size, u))
    total = 0
    for child in _branches(doms[v], False):
        nd = list(doms)
        nd[v] = child
        st = Store(nd)
        act = set(part)
        if not fixpoint(P, st, act, P.var_cons[v]):
            continue
        inner: set[int] = set()
        for ci in act:
            inner.update(u for u in P.cvars[ci] if not st.doms[u].is_fixed)
        free = 1  # the part's open variables that no constraint reads any more
        for u in cands:
            if u not in inner and not st.doms[u].is_fixed:
                free *= st.doms[u].size
        n = yield _count(S, st.doms, act)
        total += n * free
    return total


def _residual(S: _Counting, doms: list[Domain], part: list[int], open_of: dict[int, list[int]]) -> Any:
    """What the count of a part depends on: the domains of its open variables and what is left
    of each constraint once its fixed variables have values."""
    P = S.P
    opened = sorted({v for ci in part for v in open_of[ci]})
    rest = []
    for ci in part:
        lin = S.linear_at(ci, doms)
        if lin is not None:
            rest.append((0, *lin))
        else:
            fixed = tuple(doms[v].lo for v in P.cvars[ci] if doms[v].is_fixed)
            rest.append((1, ci, fixed))
    rest.sort()
    return tuple((v, doms[v]) for v in opened), tuple(rest)


__all__ = ["count_by_search", "count_linear", "OverBudget", "LINEAR_STATES", "LINEAR_VALUES"]
