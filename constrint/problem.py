"""A model compiled for search: constraints normalised for propagation, the propagation fixpoint,
propagation at the root, independent parts, and the final check of every solution.

Every solution handed to a caller is checked against every constraint of the model first
(:func:`check_solution`); a violation raises :class:`InternalSolverError` (it would be a
propagator bug).
"""
from __future__ import annotations

import time
from collections import deque
from collections.abc import Iterable
from typing import Any

from .domain import Domain
from .errors import InternalSolverError
from .expr import And, BoolConst, Compare, Const, Constraint, Divides, Mod, NotDivides, Or, Sum, Var
from .propagators import ENTAILED, FAILED, Store, quick_compare, revise, revise_by_evaluation
from .transform import definedness, fold, linear_compare, linear_form


class Timeout(Exception):
    """Internal: the time limit passed."""


class Opaque(Constraint):
    """Wrapper for a constraint reasoned about only by evaluation (true division, custom, not)."""

    __slots__ = ("c", "children", "idx", "names")

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

    def revise(self, store: Store) -> int:
        return revise_by_evaluation(self.c, self.idx, self.names, store)


class Scan:
    """What a constraint tree holds, node by node (each node's variable indices, whether every
    node below it is integral, whether an ``or`` is below it), computed once per node for all the
    constraints scanned through one ``Scan``: the constraints of a model share subexpressions
    (substituted definitions), so walking each constraint apart repeats them."""

    __slots__ = ("_memo",)

    def __init__(self) -> None:
        self._memo: dict[int, tuple[Any, frozenset[int], bool, bool]] = {}

    def __call__(self, node: Any) -> tuple[frozenset[int], bool, bool]:
        """``(variable indices, all integral, has an or)`` of ``node``'s tree."""
        if not node.children:  # a leaf: a variable or a constant
            own = frozenset((node.index,)) if isinstance(node, Var) else frozenset()
            return own, getattr(node, "integral", True), False
        memo = self._memo
        hit = memo.get(id(node))
        if hit is None:
            stack = [(node, False)]
            while stack:  # children first, without recursion; leaves are read by their parent
                n, expanded = stack.pop()
                if id(n) in memo:
                    continue
                kids = n.children
                if not expanded:
                    stack.append((n, True))
                    stack.extend((c, False) for c in kids if c.children and id(c) not in memo)
                    continue
                idx = {c.index for c in kids if not c.children and isinstance(c, Var)}
                integral = getattr(n, "integral", True)
                has_or = type(n) is Or
                for c in kids:
                    if c.children:
                        _, cidx, cint, cor = memo[id(c)]
                        idx.update(cidx)
                        integral = integral and cint
                        has_or = has_or or cor
                    elif integral and not getattr(c, "integral", True):
                        integral = False
                memo[id(n)] = (n, frozenset(idx), integral, has_or)
            hit = memo[id(node)]
        return hit[1], hit[2], hit[3]


def rewrite(c: Constraint, names: dict[int, str], variables: list[Var] | None = None,
            scan: Scan | None = None) -> Constraint:
    """Normalise a constraint tree for propagation (divisibility patterns, opaque parts, linear
    comparisons with repeated variables merged to one term per variable). ``scan``: shared by
    the constraints of one model (see :class:`Scan`)."""
    if scan is None:
        scan = Scan()
    t = type(c)
    if callable(getattr(c, "revise", None)):
        return c  # e.g. user-defined constraints: revised by their own rule
    if t is Compare and variables is not None and c.a.integral and c.b.integral:
        merged = _merged_linear(c, variables)
        if merged is not None:
            return merged
    if t is Compare and c.op in ("==", "!=") and c.a.integral and c.b.integral:
        mod, zero = (c.a, c.b) if type(c.a) is Mod else (c.b, c.a)
        if type(mod) is Mod and type(zero) is Const and zero.value == 0:
            return (Divides if c.op == "==" else NotDivides)(mod.b, mod.a)
    if t in (And, Or):
        return t([rewrite(p, names, variables, scan) for p in c.children])
    found, integral, _ = scan(c)
    if t in (Compare, Divides, NotDivides, BoolConst) and integral:
        return c
    idx = tuple(sorted(found))
    return Opaque(c, idx, tuple(names[i] for i in idx))


#: A linear comparison with more than this many terms per variable it reads is propagated in
#: its merged form (one term per variable).
MERGE_RATIO = 2


def _merged_linear(c: Compare, variables: list[Var]) -> Constraint | None:
    """``c`` with one term per variable, where it is linear and repeats variables a lot."""
    if type(c.a) is not Sum and type(c.b) is not Sum:
        return None
    terms = len(c.a.children) if type(c.a) is Sum else 1
    terms += len(c.b.children) if type(c.b) is Sum else 1
    if terms <= 8:
        return None
    lin = linear_form(c)
    if lin is None or terms <= MERGE_RATIO * (len(lin[2]) + 1):
        return None
    return linear_compare(*lin, variables)


class Problem:
    """A model compiled for search (internal)."""

    def __init__(self, model: Any, extra: Iterable[Constraint] = ()):
        self.model = model
        self.names = [v.name for v in model._vars]
        self.root = list(model._domains)
        self.originals = list(model._constraints) + list(extra)
        names = dict(enumerate(self.names))
        cons: list[Constraint] = []
        memo: dict = {}
        scan = Scan()
        for c in self.originals:
            c = fold(c, memo)
            if scan(c)[2]:
                # the rule for undefined operations, posted beside the disjunction so that the
                # disjunction itself is reasoned about with two-valued logic
                cons.extend(rewrite(g, names, model._vars, scan) for g in definedness(c))
            c = rewrite(c, names, model._vars, scan)
            if isinstance(c, And):
                cons.extend(c.children)
            else:
                cons.append(c)
        self.cons = cons
        self.cvars: list[tuple[int, ...]] = []
        self.var_cons: list[list[int]] = [[] for _ in self.names]
        for ci, c in enumerate(cons):
            self.index(ci, c, scan)
        self.sticky: set[int] = set()
        #: images of binary operations over value lists, shared by every fixpoint over this
        #: problem (:func:`constrint.propagators._pairs`)
        self.images: dict = {}

    def index(self, ci: int, c: Constraint, scan: Scan | None = None) -> None:
        """Record which variables constraint number ``ci`` reads (``scan``: the model's, when
        compiling it)."""
        idx = tuple(sorted((scan or Scan())(c)[0]))
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
        self.index(ci, c)
        self.sticky.add(ci)
        return ci

    def replace(self, ci: int, c: Constraint) -> None:
        self.cons[ci] = c
        self.index(ci, c)

    def assignment(self, doms: list[Domain], idx: Iterable[int]) -> dict[str, int]:
        return {self.names[i]: doms[i].lo for i in idx}


class Context:
    """Limits and statistics of one search."""

    def __init__(self, time_limit: float | None):
        self.start = time.monotonic()
        self.deadline = None if time_limit is None else self.start + time_limit
        self.nodes = 0

    def tick(self) -> None:
        """Count a node; :class:`Timeout` past the time limit (looked at every 16 nodes)."""
        self.nodes += 1
        if self.deadline is not None and (self.nodes & 15) == 0 and time.monotonic() > self.deadline:
            raise Timeout

    def check(self) -> None:
        """:class:`Timeout` past the time limit (for steps that each take a while)."""
        if self.deadline is not None and time.monotonic() > self.deadline:
            raise Timeout

    @property
    def seconds(self) -> float:
        return time.monotonic() - self.start


def fixpoint(P: Problem, store: Store, active: set[int], queue: Iterable[int], ctx: Context | None = None
             ) -> bool:
    """Revise constraints until nothing changes (or a revision budget is spent); False on failure.
    ``ctx``: a :class:`Context` whose time limit is looked at after every revision. Where the
    store keeps a trail, a constraint dropped from ``active`` as entailed is recorded on it, and
    comparisons of kept sums are first decided from their bounds (:func:`quick_compare`)."""
    if store.images is None:
        store.images = P.images
    pending = deque(ci for ci in queue if ci in active)
    inq = set(pending)
    budget = 64 * len(P.cons) + 256
    cons, var_cons, sticky = P.cons, P.var_cons, P.sticky
    sums, trail = store.sums, store.trail
    memo: dict = {}  # forward domains on the store as it is: shared until a domain changes
    while pending:
        ci = pending.popleft()
        inq.discard(ci)
        if ci not in active:
            continue
        store.changed = set()
        t = None if sums is None else quick_compare(cons[ci], sums)
        if t is None:
            t = revise(cons[ci], store, memo)
        if store.changed:
            memo = {}
        if t == FAILED:
            return False
        if t == ENTAILED and ci not in sticky:
            active.discard(ci)
            if trail is not None:
                trail.append((ci, None))
        budget -= 1
        if budget <= 0:
            break
        if ctx is not None:
            ctx.check()
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
    if not fixpoint(P, store, active, range(len(P.cons)), ctx):
        return None
    return store.doms, active


class UnionFind:
    """Disjoint sets of hashable items, joined by :meth:`union`, with path halving.

    (networkx has one too; importing networkx took a third of the start-up of a solve from the
    shell, and the solver needs nothing else of it.)

    >>> u = UnionFind(); u.union(1, 2, 3); u.union(7, 8)
    >>> u[1] == u[3], u[1] == u[7], u[9] == 9
    (True, False, True)
    """

    __slots__ = ("parent",)

    def __init__(self) -> None:
        self.parent: dict[Any, Any] = {}

    def __getitem__(self, x: Any) -> Any:
        parent = self.parent
        root = parent.setdefault(x, x)
        while parent[root] != root:
            parent[root] = parent[parent[root]]
            root = parent[root]
        return root

    def union(self, *items: Any) -> None:
        if not items:
            return
        first = self[items[0]]
        for x in items[1:]:
            r = self[x]
            if r != first:
                self.parent[r] = first


def components(P: Problem, doms: list[Domain], active: set[int]) -> tuple[list[tuple[list[int], set[int]]], list[int]]:
    """Independent parts: [(variables, constraints)] and the variables in no open constraint."""
    groups = UnionFind()
    first_of: dict[int, int] = {}
    for ci in active:
        open_vars = [v for v in P.cvars[ci] if not doms[v].is_fixed]
        if open_vars:
            groups.union(*open_vars)
            first_of[ci] = open_vars[0]
    parts: dict[int, tuple[set[int], set[int]]] = {}
    for v in list(groups.parent):
        parts.setdefault(groups[v], (set(), set()))[0].add(v)
    for ci, v in first_of.items():
        parts[groups[v]][1].add(ci)
    comps = [(sorted(vs), cons) for vs, cons in parts.values()]
    comps.sort(key=lambda c: c[0][0])
    free = [v for v in range(len(doms)) if v not in groups.parent]
    return comps, free


def _closed_ok(P: Problem, doms: list[Domain], active: set[int]) -> bool:
    """Check the active constraints whose variables are all fixed at the root."""
    for ci in list(active):
        if all(doms[v].is_fixed for v in P.cvars[ci]):
            if not P.cons[ci].holds(P.assignment(doms, P.cvars[ci])):
                return False
            active.discard(ci)
    return True


Prepared = tuple[Problem, list[Domain], list[tuple[list[int], set[int]]], list[int]]


def prepare(model: Any, ctx: Context | None = None) -> Prepared | None:
    """Compile, propagate at the root and decompose; None when infeasible at the root.
    ``ctx``: a :class:`Context` whose time limit root propagation keeps (:class:`Timeout`)."""
    P = Problem(model)
    r = root(P, ctx)
    if r is None:
        return None
    doms, active = r
    if not _closed_ok(P, doms, active):
        return None
    comps, free = components(P, doms, active)
    return P, doms, comps, free


def check_solution(P: Problem, sol: dict[str, int]) -> dict[str, int]:
    """``sol`` after checking it against every constraint and domain of the model."""
    for c in P.originals:
        if not c.holds(sol):
            raise InternalSolverError(f"solver produced {sol} violating {c}")
    for name, d in zip(P.names, P.root):
        if sol[name] not in d:
            raise InternalSolverError(f"solver produced {name}={sol[name]} outside its domain {d}")
    return sol


__all__ = ["Problem", "Opaque", "Context", "Timeout", "UnionFind", "prepare", "root", "fixpoint", "components",
           "check_solution", "rewrite"]
