"""Depth-first search over a compiled problem: branching, leaves, the solutions of one part."""
from __future__ import annotations

from collections.abc import Iterator

from .domain import Domain
from .problem import Context, Problem, fixpoint
from .propagators import Store

#: Domains with at most this many values are branched on value by value (else bisected).
BRANCH_VALUES = 64


def _candidates(P: Problem, doms: list[Domain], active: set[int]) -> list[int]:
    seen: set[int] = set()
    out = []
    for ci in active:
        for v in P.cvars[ci]:
            if v not in seen:
                seen.add(v)
                if not doms[v].is_fixed:
                    out.append(v)
    return out


def _choose(P: Problem, doms, active, cands: list[int], order: list[int] | None) -> int:
    if order:
        cs = set(cands)
        for v in order:
            if v in cs:
                return v
    best, key = cands[0], None
    for v in cands:
        k = (doms[v].size, -len(P.var_cons[v]), v)
        if key is None or k < key:
            best, key = v, k
    return best


def _branches(d: Domain, descending: bool) -> list[Domain]:
    if d.values is not None or d.size <= BRANCH_VALUES:
        vals = list(d.descending()) if descending else list(d)
        return [Domain.const(v) for v in vals]
    a, b = d.split()
    return [b, a] if descending else [a, b]


class ValuePolicy:
    """The order in which a branch tries a variable's values.

    ``descending`` is the default direction, ``per_var`` overrides it for some variables (by
    index) and ``hints`` names a value to try first (by index; ignored where it is no longer in
    the domain). The branches always partition the domain.
    """

    __slots__ = ("descending", "hints", "per_var")

    def __init__(
        self,
        descending: bool = False,
        per_var: dict[int, bool] | None = None,
        hints: dict[int, int] | None = None,
    ):
        self.descending = descending
        self.per_var = per_var or {}
        self.hints = hints or {}

    def branches(self, v: int, d: Domain) -> list[Domain]:
        out = _branches(d, self.per_var.get(v, self.descending))
        h = self.hints.get(v)
        if h is None or h not in d:
            return out
        rest: list[Domain] = []
        for part in out:
            if h not in part:
                rest.append(part)
            elif part.values is not None:
                left = part.remove(h)
                if left is not None:
                    rest.append(left)
            else:
                for piece in (part.clip(None, h - 1), part.clip(h + 1, None)):
                    if piece is not None:
                        rest.append(piece)
        return [Domain.const(h), *rest]


def dfs(
    P: Problem,
    doms: list[Domain],
    active: set[int],
    ctx: Context,
    order: list[int] | None = None,
    descending: bool | ValuePolicy = False,
) -> Iterator[tuple[list[Domain], set[int]]]:
    """Yield leaves: every variable of an active constraint is fixed, or nothing is active.

    ``descending`` is the value direction, or a :class:`ValuePolicy`.
    """
    stack: list[Iterator[tuple[list[Domain], set[int]]]] = []
    policy = descending if isinstance(descending, ValuePolicy) else ValuePolicy(descending)

    def expand(doms, active):
        ctx.tick()
        cands = _candidates(P, doms, active)
        if not cands:
            return None
        v = _choose(P, doms, active, cands, order)
        return _children(P, doms, active, v, policy)

    it = expand(doms, active)
    if it is None:
        yield doms, active
        return
    stack.append(it)
    while stack:
        try:
            cd, ca = next(stack[-1])
        except StopIteration:
            stack.pop()
            continue
        sub = expand(cd, ca)
        if sub is None:
            yield cd, ca
        else:
            stack.append(sub)


def _children(P, doms, active, v, policy: ValuePolicy):
    queue_base = P.var_cons[v]
    for child in policy.branches(v, doms[v]):
        nd = list(doms)
        nd[v] = child
        st = Store(nd)
        act = set(active)
        # the objective's bounds first: they are cheap, and most children of a branch and bound
        # fail on them, before the costlier constraints of the variable need revising
        q = list(P.sticky)
        q.extend(queue_base)
        if fixpoint(P, st, act, q):
            yield st.doms, act


def leaf_holds(P: Problem, doms: list[Domain], active: set[int]) -> bool:
    """Whether the active constraints of a leaf from :func:`dfs` hold."""
    for ci in active:
        idx = P.cvars[ci]
        if any(not doms[i].is_fixed for i in idx):
            continue  # cannot happen for leaves from dfs unless the constraint is entailed
        if not P.cons[ci].holds(P.assignment(doms, idx)):
            return False
    return True


def component_solutions(P: Problem, doms: list[Domain], vars_: list[int], cons: set[int],
                        ctx: Context | None = None) -> Iterator[dict[str, int]]:
    """The solutions of one independent part, as dicts over its variables."""
    ctx = Context(None) if ctx is None else ctx
    for leaf, act in dfs(P, doms, set(cons), ctx):
        if act and not leaf_holds(P, leaf, act):
            continue
        open_vars = [v for v in vars_ if not leaf[v].is_fixed]
        fixed = {P.names[v]: leaf[v].lo for v in vars_ if leaf[v].is_fixed}
        if not open_vars:
            yield fixed
            continue
        for i, combo in enumerate(lazy_product([leaf[v] for v in open_vars])):
            if (i & 255) == 255:
                ctx.check()
            s = dict(fixed)
            s.update(zip((P.names[v] for v in open_vars), combo))
            yield s


def lazy_product(domains: list[Domain]) -> Iterator[tuple[int, ...]]:
    """Cartesian product of re-iterable domains without materialising any of them (the last
    varies fastest; an odometer, so any number of domains)."""
    its = [iter(d) for d in domains]
    cur = [next(it) for it in its]
    while True:
        yield tuple(cur)
        i = len(its) - 1
        while i >= 0:
            nxt = next(its[i], _END)
            if nxt is not _END:
                cur[i] = nxt
                break
            its[i] = iter(domains[i])
            cur[i] = next(its[i])
            i -= 1
        if i < 0:
            return


_END = object()


__all__ = ["dfs", "ValuePolicy", "leaf_holds", "component_solutions", "lazy_product", "BRANCH_VALUES"]
