"""Depth-first search over a compiled problem: branching, leaves, the solutions of one part."""
from __future__ import annotations

import heapq
from collections.abc import Iterator

from .domain import Domain
from .expr import Compare, Sum
from .problem import Context, Problem, fixpoint
from .propagators import KEPT_SUM_TERMS, Store, SumBounds

#: Domains with at most this many values are branched on value by value (else bisected).
BRANCH_VALUES = 64
#: Searches over at most this many variables scan them for the branching variable at each node
#: (more keep them in a heap).
SCAN_VARS = 64


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

    ``descending`` is the value direction, or a :class:`ValuePolicy`. The branching variable is
    the first of ``order`` still open in an active constraint, else the open one with the
    fewest values (ties: more constraints, then the lower index).

    The search works in place: a leaf is ``doms`` and ``active`` themselves, valid until the
    generator is resumed. Each child's changes are recorded on a trail and undone when the
    search leaves it, so both are as given again once the search ends or is closed.
    """
    policy = descending if isinstance(descending, ValuePolicy) else ValuePolicy(descending)
    search = _Search(P, doms, active, order)
    trail = search.trail
    sticky = P.sticky
    var_cons = P.var_cons
    # one frame per open node: [variable, its branches, trail length before the current child,
    # where in ``order`` its variable was found]
    stack: list[list] = []
    try:
        ctx.tick()
        v, pos = search.choose(0)
        if v is None:
            yield doms, active
            return
        stack.append([v, iter(policy.branches(v, doms[v])), len(trail), pos])
        while stack:
            frame = stack[-1]
            if len(trail) > frame[2]:
                search.undo(frame[2])
            child = next(frame[1], None)
            if child is None:
                stack.pop()
                continue
            v = frame[0]
            search.store.set(v, child)
            # the objective's bounds first: they are cheap, and most children of a branch and
            # bound fail on them, before the costlier constraints of the variable need revising
            q = list(sticky)
            q.extend(var_cons[v])
            if not fixpoint(P, search.store, active, q):
                search.undo(frame[2], entered=False)
                continue
            search.entered(frame[2])
            ctx.tick()
            u, pos = search.choose(frame[3])
            if u is None:
                yield doms, active
            else:
                stack.append([u, iter(policy.branches(u, doms[u])), len(trail), pos])
    finally:
        search.undo(0, entered=False)  # the heap and counts are of no use any more


class _Search:
    """The state of one :func:`dfs`: the store with its trail, and the branching candidates.

    A candidate is an open variable of an active constraint. Instead of listing them at every
    node, a heap keeps one entry ``(size, -number of constraints, index)`` for every candidate
    (an entry whose key no longer matches its variable is dropped when it reaches the top):
    an entry is pushed whenever a variable's domain narrows or is restored, and whenever a
    restored constraint makes a variable a candidate again. With at most :data:`SCAN_VARS`
    variables in the search's constraints they are scanned at each node instead (cheaper than
    keeping a heap at that size). ``order`` is scanned from where the parent node found its
    variable: the variables before it were fixed or in no active constraint there, and stay so
    below it.
    """

    __slots__ = ("P", "active", "count", "doms", "heap", "order", "store", "trail")

    def __init__(self, P: Problem, doms: list[Domain], active: set[int], order: list[int] | None):
        self.P = P
        self.doms = doms
        self.active = active
        self.order = order or []
        self.store = store = Store(doms, P.images)
        self.trail = store.trail = []
        # how many active constraints read each variable (those read by none are no candidates)
        count: dict[int, int] = {}
        cvars = P.cvars
        for ci in active:
            for u in cvars[ci]:
                count[u] = count.get(u, 0) + 1
        self.count = count
        self.heap: list[tuple[int, int, int]] | None = None
        if len(count) > SCAN_VARS:
            self.rebuild()
        _keep_sums(P, store, active)

    def rebuild(self) -> None:
        doms, var_cons = self.doms, self.P.var_cons
        self.heap = [(doms[u].size, -len(var_cons[u]), u) for u, n in self.count.items()
                     if n and not doms[u].is_fixed]
        heapq.heapify(self.heap)

    def push(self, u: int) -> None:
        d = self.doms[u]
        if not d.is_fixed and self.count.get(u):
            heapq.heappush(self.heap, (d.size, -len(self.P.var_cons[u]), u))

    def entered(self, mark: int) -> None:
        """Account for a child whose changes are the trail's entries from ``mark`` on: push the
        variables it narrowed, and count the constraints it dropped out of their variables."""
        trail, count, cvars, doms = self.trail, self.count, self.P.cvars, self.doms
        heap, var_cons = self.heap, self.P.var_cons
        for k in range(mark, len(trail)):
            i, old = trail[k]
            if old is not None:
                if heap is None:
                    continue
                d = doms[i]
                if d.lo != d.hi and count.get(i):
                    heapq.heappush(heap, (d.size, -len(var_cons[i]), i))
            else:
                for u in cvars[i]:
                    count[u] -= 1
        if heap is not None and len(heap) > 4 * len(count) + 64:
            self.rebuild()  # stale and repeated entries: in proportion to the pushes since the last

    def undo(self, mark: int, entered: bool = True) -> None:
        """Undo the changes recorded since the trail had ``mark`` entries (``entered``: of a
        child passed to :meth:`entered`; a failed child's changes never reached the heap)."""
        trail, doms, count, heap = self.trail, self.doms, self.count, self.heap
        watch, var_cons = self.store.watch, self.P.var_cons
        push = entered and heap is not None
        while len(trail) > mark:
            i, old = trail.pop()
            if old is None:  # a constraint dropped as entailed
                self.active.add(i)
                if entered:
                    for u in self.P.cvars[i]:
                        n = count[u]
                        count[u] = n + 1
                        if push and not n:
                            self.push(u)
                continue
            if watch is not None:
                cur = doms[i]
                for sb, k, bare in watch.get(i, ()):
                    sb.move(k, bare, cur, old)
            doms[i] = old
            if push and old.lo != old.hi and count.get(i):
                heapq.heappush(heap, (old.size, -len(var_cons[i]), i))

    def choose(self, pos: int) -> tuple[int | None, int]:
        """The branching variable (None at a leaf) and where in ``order`` the scan stopped."""
        order, doms, count = self.order, self.doms, self.count
        while pos < len(order):
            u = order[pos]
            if count.get(u) and not doms[u].is_fixed:
                return u, pos
            pos += 1
        heap, var_cons = self.heap, self.P.var_cons
        if heap is None:
            best, key = None, None
            for u, n in count.items():
                d = doms[u]
                if n and d.lo != d.hi:
                    k = (d.size, -len(var_cons[u]), u)
                    if key is None or k < key:
                        best, key = u, k
            return best, pos
        while heap:
            size, deg, u = heap[0]
            d = doms[u]
            if not d.is_fixed and count.get(u) and d.size == size:
                if -len(var_cons[u]) == deg:
                    return u, pos
                # a constraint replaced during the search reads other variables
                heapq.heapreplace(heap, (size, -len(var_cons[u]), u))
                continue
            heapq.heappop(heap)
        return None, pos


def _keep_sums(P: Problem, store: Store, active: set[int]) -> None:
    """Keep the bounds of the long linear sums compared by active constraints (see
    :class:`~constrint.propagators.SumBounds`)."""
    sums: dict[int, SumBounds] = {}
    watch: dict[int, list[tuple[SumBounds, int, bool]]] = {}
    for ci in active:
        c = P.cons[ci]
        if type(c) is not Compare:
            continue
        for side in (c.a, c.b):
            if type(side) is not Sum or len(side.children) < KEPT_SUM_TERMS or id(side) in sums:
                continue
            terms = SumBounds.terms(side)
            if terms is None:
                continue
            sb = SumBounds(side)
            sb.start(store.doms, terms)
            sums[id(side)] = sb
            for u, k, bare in terms:
                watch.setdefault(u, []).append((sb, k, bare))
    if sums:
        store.sums, store.watch = sums, watch


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
