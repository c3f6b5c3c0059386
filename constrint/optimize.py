"""Optimisation: lexicographic branch and bound, one objective at a time, guided by the objective.

A lexicographic objective ``[k0, k1, ...]`` is optimised in stages: the best ``k0`` first, then
the best ``k1`` among the solutions with that ``k0``, and so on (each stage starts from the
incumbent of the one before, which is feasible for it). Inside a stage the incumbent's value is
a plain bound ``k < best`` that propagation pushes through the objective's expression (products,
quotients, sums) into the variables, so branches that cannot improve are cut at once.

The search tries first the values that favour the objective: where an objective is monotone in
a variable over its domain (a product or sum of non-negative terms, say), the variable's values
are tried from the best end. For tiling models, whose objectives are products of tile sizes,
the first solutions found are then near the optimum and the bound prunes early.
"""
from __future__ import annotations

import math
from typing import Any

from .domain import Domain
from .expr import Abs, And, Compare, Const, Constraint, Expr, FloorDiv, Max, Min, Mul, Neg, Pow, Product, Sum, Var
from .problem import Timeout, check_solution, fixpoint
from .propagators import OPEN, Store, forward
from .search import dfs, leaf_holds

#: Direction signs: a key is non-decreasing (+1) or non-increasing (-1) in a variable, or
#: neither is known (0).
UP, DOWN, UNKNOWN = 1, -1, 0


def _merge(a: dict[int, int], b: dict[int, int]) -> dict[int, int]:
    out = dict(a)
    for v, s in b.items():
        out[v] = s if out.get(v, s) == s else UNKNOWN
    return out


def _flip(a: dict[int, int]) -> dict[int, int]:
    return {v: -s for v, s in a.items()}


def _unknown(e: Expr) -> dict[int, int]:
    return {v.index: UNKNOWN for v in e.variables().values()}


def _sign(d: Domain | None) -> int:
    """+1 if every value is >= 0, -1 if every value is <= 0, else 0."""
    if d is None:
        return 0
    if d.lo >= 0:
        return 1
    if d.hi <= 0:
        return -1
    return 0


def monotonicity(e: Expr, store: Store, memo: dict) -> dict[int, int]:
    """For each variable of ``e`` (by index), whether ``e`` is monotone in it over the domains."""
    t = type(e)
    if isinstance(e, Var):
        return {e.index: UP}
    if t is Const:
        return {}
    if t is Sum:
        out: dict[int, int] = {}
        for x, s in zip(e.children, e.signs):
            for v, d in monotonicity(x, store, memo).items():
                d *= s
                out[v] = d if out.get(v, d) == d else UNKNOWN
        return out
    if t is Neg:
        return _flip(monotonicity(e.a, store, memo))
    if t in (Min, Max):
        return _merge(monotonicity(e.a, store, memo), monotonicity(e.b, store, memo))
    if t is Mul:
        sa, sb = (_sign(forward(x, store, memo)[0]) for x in (e.a, e.b))
        ma, mb = monotonicity(e.a, store, memo), monotonicity(e.b, store, memo)
        # a * b grows with a where b >= 0 (and the other way round)
        left = {v: s * sb if sb else UNKNOWN for v, s in ma.items()}
        right = {v: s * sa if sa else UNKNOWN for v, s in mb.items()}
        return _merge(left, right)
    if t is Product:
        signs = [_sign(forward(x, store, memo)[0]) for x in e.children]
        out: dict[int, int] = {}
        for i, x in enumerate(e.children):
            others = math.prod(signs[:i]) * math.prod(signs[i + 1:])  # 0 where one is unknown
            for v, d in monotonicity(x, store, memo).items():
                d = d * others if others else UNKNOWN
                out[v] = d if out.get(v, d) == d else UNKNOWN
        return out
    if t is FloorDiv:
        sa = _sign(forward(e.a, store, memo)[0])
        sb = _sign(forward(e.b, store, memo)[0])
        B, _ = forward(e.b, store, memo)
        ma, mb = monotonicity(e.a, store, memo), monotonicity(e.b, store, memo)
        if B is None or 0 in B or not sb:
            return _merge(_unknown(e.a), _unknown(e.b))
        left = {v: s * sb for v, s in ma.items()}
        # a // b falls as b grows where a >= 0 and b > 0
        right = {v: (-s * sa * sb if sa else UNKNOWN) for v, s in mb.items()}
        return _merge(left, right)
    if t is Pow:
        ma = monotonicity(e.a, store, memo)
        if e.p == 0:
            return {}
        sa = _sign(forward(e.a, store, memo)[0])
        if e.p % 2 == 1:
            return ma
        return {v: s * sa if sa else UNKNOWN for v, s in ma.items()}
    if t is Abs:
        sa = _sign(forward(e.a, store, memo)[0])
        return {v: s * sa if sa else UNKNOWN for v, s in monotonicity(e.a, store, memo).items()}
    return _unknown(e)


def value_directions(keys: tuple[Expr, ...], doms: list[Domain]) -> dict[int, bool]:
    """For variables in which a key to *minimise* is monotone: try values descending (True)
    where the key falls as the variable grows. The first key that decides a variable wins."""
    store, memo = Store(list(doms)), {}
    out: dict[int, bool] = {}
    for k in keys:
        for v, s in monotonicity(k, store, memo).items():
            if v not in out and s != UNKNOWN:
                out[v] = s == DOWN
    return out


def objective_order(keys: tuple[Expr, ...]) -> list[int]:
    """The objective's variables, key by key, in order of first appearance."""
    seen: dict[int, None] = {}
    for k in keys:
        for v in k.variables().values():
            seen.setdefault(v.index, None)
    return list(seen)


class Proven(Constraint):
    """A constraint shown to hold on the whole root box, and so on every box of the search below
    it: its variables are the constraint's as for any other (the search branches on them until
    they are fixed), but revising it is a no-op."""

    __slots__ = ("c", "children")

    def __init__(self, c: Constraint):
        self.c = c
        self.children = (c,)

    def ev(self, a):
        return self.c.ev(a)

    def negate(self):
        return self.c.negate()

    def fmt(self):
        return self.c.fmt()

    def revise(self, store: Store) -> int:
        return OPEN


def keys_defined(keys: tuple[Expr, ...], doms: list[Domain]) -> bool:
    """Whether every key is defined on every assignment of the box ``doms`` (forward
    propagation over-approximates where an expression may be undefined, so True is a proof)."""
    store, memo = Store(list(doms)), {}
    for k in keys:
        d, undefined = forward(k, store, memo)
        if d is None or undefined:
            return False
    return True


def solve_objective(P: Any, doms: list[Domain], active: set[int], keys: tuple[Expr, ...],
                    ctx: Any, order: list[int] | None, policy: Any, pick,
                    callback: Any = None) -> tuple[Any, bool]:
    """Minimise ``keys`` lexicographically; returns (best solution or None, proven optimal).

    ``pick(leaf_domains)`` turns a leaf into a solution (checked here); ``callback(values)`` is
    called with each better solution and stops the search by returning ``False``.
    """

    # Solutions where a key is undefined are not solutions of the optimisation. Where the keys
    # are defined on the whole root box, the constraint says nothing new: it only keeps the
    # objective's variables open for branching, without being revised at every node.
    defined: Constraint = And([Compare("==", k, k) for k in keys])
    always = keys_defined(keys, doms)
    if always:
        defined = Proven(defined)
    active = set(active) | {P.add_sticky(defined)}
    incumbent: dict[str, int] | None = None
    inc_key: tuple | None = None
    try:
        for i, key in enumerate(keys):
            queue: list[int] = []
            if i > 0:
                if inc_key is None:
                    break  # no solution at all
                ci = P.add_sticky(Compare("==", keys[i - 1], Const(inc_key[i - 1])))
                active.add(ci)
                queue.append(ci)
            # the bound on this key: none yet (a tautology) or better than the incumbent
            if inc_key is not None:
                first: Constraint = Compare("<", key, Const(inc_key[i]))
            else:
                first = Proven(Compare("==", key, key)) if always else Compare("==", key, key)
            bound = P.add_sticky(first)
            active.add(bound)
            queue.append(bound)
            st = Store(list(doms))
            stage_active = set(active)
            if not fixpoint(P, st, stage_active, queue):
                active.discard(bound)
                continue  # nothing better than the incumbent for this key
            for leaf, act in dfs(P, st.doms, stage_active, ctx, order, policy):
                if act and not leaf_holds(P, leaf, act):
                    continue
                sol = check_solution(P, pick(leaf))
                new_key = tuple(k.evaluate(sol) for k in keys)
                if inc_key is not None and new_key >= inc_key:
                    continue  # better in this key, worse earlier: cannot happen under the bounds
                incumbent, inc_key = sol, new_key
                if callback is not None and callback(dict(sol)) is False:
                    return incumbent, False
                new = Compare("<", key, Const(inc_key[i]))
                P.replace(bound, new)
            active.discard(bound)  # the next stage fixes this key instead
    except Timeout:
        return incumbent, False
    return incumbent, True


__all__ = ["monotonicity", "value_directions", "objective_order", "solve_objective"]
