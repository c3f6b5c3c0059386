"""Search: compilation of a model, the propagation fixpoint, depth-first search, counting,
enumeration and branch and bound.

Every solution handed to a caller is checked against every constraint of the model first; a
violation raises :class:`InternalSolverError` (it would be a propagator bug).
"""
from __future__ import annotations

import itertools
import time
from collections import deque
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

import networkx as nx

from .domain import Domain
from .errors import InternalSolverError, LimitReached, ModelError
from .expr import (
    And,
    BoolConst,
    Compare,
    Const,
    Constraint,
    Divides,
    Mod,
    Neg,
    NotDivides,
    Or,
    Var,
    check_integer,
    walk,
)
from .propagators import ENTAILED, FAILED, OPEN, Store, register_revise, revise

#: Opaque constraints are filtered by enumeration when their open variables span at most this
#: many combinations.
ENUM_LIMIT = 512
#: Domains with at most this many values are branched on value by value (else bisected).
BRANCH_VALUES = 64


class Timeout(Exception):
    """Internal: the time limit passed."""


# ====================================================================== compiled form


class Opaque(Constraint):
    """Wrapper for a constraint reasoned about only by evaluation (true division, custom, not)."""

    __slots__ = ("c", "idx", "names", "children")

    def __init__(self, c: Constraint, idx: tuple[int, ...], names: tuple[str, ...]):
        self.c = c
        self.idx = idx
        self.names = names
        self.children = (c,)

    def ev(self, a):
        return self.c.ev(a)

    def negate(self):
        return Opaque(self.c.negate(), self.idx, self.names)

    def fmt(self):
        return self.c.fmt()


def generic_revise(c: Opaque, store: Store) -> int:
    """Evaluation-based revision: exact (all supports) when few combinations remain open."""
    doms = store.doms
    open_idx = [i for i in c.idx if not doms[i].is_fixed]
    base = {n: doms[i].lo for i, n in zip(c.idx, c.names) if doms[i].is_fixed}
    if not open_idx:
        return ENTAILED if c.c.holds(base) else FAILED
    total = 1
    for i in open_idx:
        total *= doms[i].size
        if total > ENUM_LIMIT:
            return OPEN
    names = [c.names[c.idx.index(i)] for i in open_idx]
    keep: list[set[int]] = [set() for _ in open_idx]
    all_hold = True
    for combo in itertools.product(*(list(doms[i]) for i in open_idx)):
        a = dict(base)
        a.update(zip(names, combo))
        if c.c.holds(a):
            for k, v in zip(keep, combo):
                k.add(v)
        else:
            all_hold = False
    for i, k in zip(open_idx, keep):
        nd = Domain.from_values(k)
        if nd is None:
            return FAILED
        if nd != doms[i]:
            doms[i] = nd
            store.changed.add(i)
    return ENTAILED if all_hold else OPEN


register_revise(Opaque, lambda c, store, memo: generic_revise(c, store))


def _rewrite(c: Constraint, names: dict[int, str]) -> Constraint:
    """Normalise a constraint tree for propagation (divisibility patterns, opaque parts)."""
    t = type(c)
    if getattr(c, "has_own_revise", False):
        return c  # e.g. user-defined constraints: revised by their registered rule
    if t is Compare and c.op in ("==", "!=") and c.a.integral and c.b.integral:
        mod, zero = (c.a, c.b) if type(c.a) is Mod else (c.b, c.a)
        if type(mod) is Mod and type(zero) is Const and zero.value == 0:
            return (Divides if c.op == "==" else NotDivides)(mod.b, mod.a)
    if t in (And, Or):
        return t([_rewrite(p, names) for p in c.children])
    integral = all(getattr(n, "integral", True) for n in walk(c))
    if t in (Compare, Divides, NotDivides, BoolConst) and integral:
        return c
    idx = tuple(sorted({n.index for n in walk(c) if isinstance(n, Var)}))
    return Opaque(c, idx, tuple(names[i] for i in idx))


def _definedness(c: Any) -> list[Constraint]:
    """Constraints saying every partial operation in ``c`` is defined (each holds in every solution).

    Under constrint's semantics a constraint containing an undefined division is false as a
    whole, also when the division sits in one part of an ``or``. Posting these separately lets
    the ``or`` itself be reasoned about with ordinary two-valued logic. A node whose operands are
    evaluated only in some cases (a conditional expression) states its own conditions
    (``conditional_definedness``).
    """
    out: list[Constraint] = []
    stack = [c]
    while stack:
        n = stack.pop()
        own = getattr(n, "definedness", None)
        if own is not None:
            out.extend(own())
        lazy = getattr(n, "conditional_definedness", None)
        if lazy is not None:
            out.extend(lazy(_definedness))
        else:
            stack.extend(n.children)
    return out


class Problem:
    """A model compiled for search (internal)."""

    def __init__(self, model: Any, extra: Iterable[Constraint] = ()):
        self.model = model
        self.names = [v.name for v in model._vars]
        self.root = list(model._domains)
        self.originals = list(model._constraints) + list(extra)
        names = dict(enumerate(self.names))
        cons: list[Constraint] = []
        for c in self.originals:
            if any(type(n) is Or for n in walk(c)):
                cons.extend(_rewrite(d, names) for d in _definedness(c))
            c = _rewrite(c, names)
            if isinstance(c, And):
                cons.extend(c.children)
            else:
                cons.append(c)
        self.cons = cons
        self.cvars: list[tuple[int, ...]] = []
        self.var_cons: list[list[int]] = [[] for _ in self.names]
        for ci, c in enumerate(cons):
            self._index(ci, c)
        self.sticky: set[int] = set()

    def _index(self, ci: int, c: Constraint) -> None:
        idx = tuple(sorted({n.index for n in walk(c) if isinstance(n, Var)}))
        if ci < len(self.cvars):
            self.cvars[ci] = idx
        else:
            self.cvars.append(idx)
        for v in idx:
            if ci not in self.var_cons[v]:
                self.var_cons[v].append(ci)

    def add_sticky(self, c: Constraint) -> int:
        """Add a constraint that is never dropped as entailed (an objective bound)."""
        ci = len(self.cons)
        self.cons.append(c)
        self._index(ci, c)
        self.sticky.add(ci)
        return ci

    def replace(self, ci: int, c: Constraint) -> None:
        self.cons[ci] = c

    def assignment(self, doms: list[Domain], idx: Iterable[int]) -> dict[str, int]:
        return {self.names[i]: doms[i].lo for i in idx}


class Context:
    """Limits and statistics of one search."""

    def __init__(self, time_limit: float | None):
        self.start = time.monotonic()
        self.deadline = None if time_limit is None else self.start + time_limit
        self.nodes = 0

    def tick(self) -> None:
        self.nodes += 1
        if self.deadline is not None and (self.nodes & 15) == 0 and time.monotonic() > self.deadline:
            raise Timeout

    @property
    def seconds(self) -> float:
        return time.monotonic() - self.start


def fixpoint(P: Problem, store: Store, active: set[int], queue: Iterable[int]) -> bool:
    """Revise constraints until nothing changes (or a revision budget is spent); False on failure."""
    pending = deque(ci for ci in queue if ci in active)
    inq = set(pending)
    budget = 64 * len(P.cons) + 256
    cons, var_cons, sticky = P.cons, P.var_cons, P.sticky
    while pending:
        ci = pending.popleft()
        inq.discard(ci)
        if ci not in active:
            continue
        store.changed = set()
        t = revise(cons[ci], store)
        if t == FAILED:
            return False
        if t == ENTAILED and ci not in sticky:
            active.discard(ci)
        budget -= 1
        if budget <= 0:
            break
        for v in store.changed:
            for cj in var_cons[v]:
                if cj not in inq and cj in active:
                    pending.append(cj)
                    inq.add(cj)
    return True


def root(P: Problem, ctx: Context | None = None) -> tuple[list[Domain], set[int]] | None:
    """Propagate at the root; returns (domains, active constraints) or None if infeasible."""
    store = Store(list(P.root))
    active = set(range(len(P.cons)))
    if not fixpoint(P, store, active, range(len(P.cons))):
        return None
    return store.doms, active


# ====================================================================== search


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
        q = list(queue_base)
        q.extend(P.sticky)
        if fixpoint(P, st, act, q):
            yield st.doms, act


def _leaf_holds(P: Problem, doms: list[Domain], active: set[int]) -> bool:
    for ci in active:
        idx = P.cvars[ci]
        if any(not doms[i].is_fixed for i in idx):
            continue  # cannot happen for leaves from dfs unless the constraint is entailed
        if not P.cons[ci].holds(P.assignment(doms, idx)):
            return False
    return True


def components(P: Problem, doms: list[Domain], active: set[int]) -> tuple[list[tuple[list[int], set[int]]], list[int]]:
    """Independent parts: [(variables, constraints)] and the variables in no open constraint."""
    g = nx.Graph()
    constrained: set[int] = set()
    for ci in active:
        open_vars = [v for v in P.cvars[ci] if not doms[v].is_fixed]
        if not open_vars:
            continue
        g.add_nodes_from(open_vars)
        constrained.update(open_vars)
        for a, b in zip(open_vars, open_vars[1:]):
            g.add_edge(a, b)
        g.nodes[open_vars[0]].setdefault("cons", set()).add(ci)
    comps = []
    for nodes in nx.connected_components(g):
        cons: set[int] = set()
        for n in nodes:
            cons |= g.nodes[n].get("cons", set())
        comps.append((sorted(nodes), cons))
    comps.sort(key=lambda c: c[0][0])
    free = [v for v in range(len(doms)) if v not in constrained]
    return comps, free


def _closed_ok(P: Problem, doms: list[Domain], active: set[int]) -> bool:
    """Check the active constraints whose variables are all fixed at the root."""
    for ci in list(active):
        if all(doms[v].is_fixed for v in P.cvars[ci]):
            if not P.cons[ci].holds(P.assignment(doms, P.cvars[ci])):
                return False
            active.discard(ci)
    return True


def prepare(model: Any) -> tuple[Problem, list[Domain], list[tuple[list[int], set[int]]], list[int]] | None:
    """Compile, propagate at the root and decompose; None when infeasible at the root."""
    P = Problem(model)
    r = root(P)
    if r is None:
        return None
    doms, active = r
    if not _closed_ok(P, doms, active):
        return None
    comps, free = components(P, doms, active)
    return P, doms, comps, free


# ====================================================================== public operations


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
    from .vectorized import count_component_vectorized

    n = count_component_vectorized(P, doms, vars_, cons)
    if n is not None:
        return n
    total = 0
    try:
        for leaf, act in dfs(P, doms, set(cons), ctx):
            if act and not _leaf_holds(P, leaf, act):
                continue
            k = 1
            for v in vars_:
                k *= leaf[v].size
            total += k
    except Timeout:
        raise LimitReached(f"count stopped by the time limit after {ctx.nodes} nodes") from None
    return total


def _check(P: Problem, sol: dict[str, int]) -> dict[str, int]:
    for c in P.originals:
        if not c.holds(sol):
            raise InternalSolverError(f"solver produced {sol} violating {c}")
    for name, d in zip(P.names, P.root):
        if sol[name] not in d:
            raise InternalSolverError(f"solver produced {name}={sol[name]} outside its domain {d}")
    return sol


def _component_solutions(P: Problem, doms: list[Domain], vars_: list[int], cons: set[int]) -> Iterator[dict[str, int]]:
    ctx = Context(None)
    for leaf, act in dfs(P, doms, set(cons), ctx):
        if act and not _leaf_holds(P, leaf, act):
            continue
        open_vars = [v for v in vars_ if not leaf[v].is_fixed]
        fixed = {P.names[v]: leaf[v].lo for v in vars_ if leaf[v].is_fixed}
        if not open_vars:
            yield fixed
            continue
        for combo in lazy_product([leaf[v] for v in open_vars]):
            s = dict(fixed)
            s.update(zip((P.names[v] for v in open_vars), combo))
            yield s


def lazy_product(domains: list[Domain]) -> Iterator[tuple[int, ...]]:
    """Cartesian product of re-iterable domains without materialising any of them."""
    if not domains:
        yield ()
        return
    head, rest = domains[0], domains[1:]
    for v in head:
        for tail in lazy_product(rest):
            yield (v, *tail)


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
        parts.append(_Replayable(lambda vars_=vars_, cons=cons: _component_solutions(P, doms, vars_, cons)))
    for v in free:
        if doms[v].is_fixed:
            fixed_names[P.names[v]] = doms[v].lo
        else:
            name, d = P.names[v], doms[v]
            parts.append(_Replayable(lambda name=name, d=d: ({name: x} for x in d), cap=0))
    produced = 0
    for sol in _product(parts, 0, dict(fixed_names)):
        yield _check(P, sol)
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
    from .model import Result, Status

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
        from .vectorized import solve_vectorized

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
                    if act and not _leaf_holds(P, leaf, act):
                        continue
                    found = leaf
                    break
                if found is None:
                    return Result(Status.INFEASIBLE, nodes=ctx.nodes, seconds=ctx.seconds)
                sol.update((P.names[v], val) for v, val in zip(vars_, _pick_leaf(found, vars_, hint_of, descending)))
        except Timeout:
            return Result(Status.UNKNOWN, nodes=ctx.nodes, seconds=ctx.seconds)
        sol = _check(P, sol)
        if callback is not None:
            callback(dict(sol))
        return Result(Status.FEASIBLE, sol, nodes=ctx.nodes, seconds=ctx.seconds)

    from .optimize import objective_order, solve_objective, value_directions

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



