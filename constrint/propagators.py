"""Propagation: one forward rule and one backward (narrowing) rule per node kind.

Forward rules compute, from the domains of a node's children, a domain holding every value the
node can take where it is defined, plus a flag saying whether it may be undefined (a division by
zero, an inexact exact division). Backward rules take a domain the node's value must lie in and
narrow the children accordingly. Constraint rules combine both (the HC4 scheme) and report
whether the constraint is now certainly true (ENTAILED), certainly false (FAILED) or open.

Every rule over-approximates: it never removes a value that belongs to a solution. The rules
are proven sound by reasoning in each function's comments and tested against brute force.
"""
from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import Any

from .domain import Domain
from .expr import (
    Abs,
    And,
    BoolConst,
    Compare,
    Const,
    Divides,
    ExactDiv,
    FloorDiv,
    Max,
    Min,
    Mod,
    Mul,
    Neg,
    Not,
    NotDivides,
    Or,
    Pow,
    Product,
    Sum,
    Trunc,
    Undefined,
    Var,
    walk,
)
from .intmath import ceil_div, count_divisors, divisors, iroot_ceil, iroot_floor, root_factor

#: Explicit pairwise reasoning for a binary node when |A| * |B| is at most this.
PAIR_LIMIT = 1024
#: The image cache of one search (:func:`_pairs`) is emptied when it holds this many images.
IMAGE_CACHE = 2048
#: Divisors of a fixed dividend are listed when there are at most this many.
DIVISOR_LIMIT = 20000
#: Constraints revised by evaluation are filtered when their open variables span at most this
#: many combinations.
ENUM_LIMIT = 512

ENTAILED, FAILED, OPEN = 1, 0, 2


class Store:
    """The current domains (a list indexed by variable), the indices that changed, and
    optionally the image cache of the problem being searched (see :func:`_pairs`).

    Inside a search (:func:`constrint.search.dfs`) the store also keeps a ``trail``: every
    change made through :meth:`set` appends ``(index, old domain)``, and a constraint dropped
    as entailed appends ``(constraint number, None)``, so that the search undoes a child's
    changes instead of copying the domains for it. ``sums`` then holds the kept bounds of the
    long linear sums (:class:`SumBounds`, by ``id`` of the sum) and ``watch`` which of them each
    variable takes part in; :meth:`set` keeps them up to date. Elsewhere all three are None.
    """

    __slots__ = ("changed", "doms", "images", "sums", "trail", "watch")

    def __init__(self, doms: list[Domain], images: dict | None = None):
        self.doms = doms
        self.changed: set[int] = set()
        self.images = images
        self.trail: list[tuple[int, Domain | None]] | None = None
        self.sums: dict[int, SumBounds] | None = None
        self.watch: dict[int, list[tuple[SumBounds, int, bool]]] | None = None

    def set(self, i: int, d: Domain) -> None:
        """Make ``d`` the domain of variable ``i`` (recorded on the trail where there is one)."""
        trail = self.trail
        if trail is not None:
            old = self.doms[i]
            trail.append((i, old))
            if self.watch is not None:
                for sb, k, bare in self.watch.get(i, ()):
                    sb.move(k, bare, old, d)
        self.doms[i] = d
        self.changed.add(i)


#: A linear sum with at least this many terms keeps its bounds during a search
#: (:class:`SumBounds`).
KEPT_SUM_TERMS = 16


class SumBounds:
    """The bounds of a sum of terms ``k * x`` and constants, kept up to date by the search
    (:meth:`Store.set` moves them by the change of one variable's bounds, the search's undo
    moves them back), so that :func:`quick_compare` decides in constant time that revising a
    comparison of the sum would change nothing.

    ``lo`` and ``hi`` are exactly the bounds :func:`_f_sum` computes; ``units`` counts the bare
    variable terms whose domain has factor 1 (with two of them, every gcd :func:`_f_sum` and
    :func:`_b_sum` take is 1); ``width`` is the widest term's ``hi - lo`` when the search
    started, at least the width of every term below it, since domains only narrow.
    """

    __slots__ = ("hi", "lo", "node", "units", "width")

    def __init__(self, node: Sum):
        self.node = node
        self.lo = self.hi = self.units = self.width = 0

    @staticmethod
    def terms(node: Sum) -> list[tuple[int, int, bool]] | None:
        """``(variable, coefficient, bare)`` per variable term, or None where a term is neither a
        variable, nor a constant times one, nor a constant."""
        out = []
        for t, s in zip(node.children, node.signs):
            tt = type(t)
            if tt is Var:
                out.append((t.index, s, True))
            elif tt is Const:
                if type(t.value) is not int:
                    return None
            elif tt is Mul and type(t.a) is Const and type(t.b) is Var and type(t.a.value) is int:
                out.append((t.b.index, s * t.a.value, False))
            elif tt is Mul and type(t.b) is Const and type(t.a) is Var and type(t.b.value) is int:
                out.append((t.a.index, s * t.b.value, False))
            else:
                return None
        return out

    def start(self, doms: list[Domain], terms: list[tuple[int, int, bool]]) -> None:
        lo = hi = units = width = 0
        for t, s in zip(self.node.children, self.node.signs):
            if type(t) is Const:
                lo += s * t.value
                hi += s * t.value
        for v, k, bare in terms:
            d = doms[v]
            a, b = (k * d.lo, k * d.hi) if k >= 0 else (k * d.hi, k * d.lo)
            lo += a
            hi += b
            width = max(width, b - a)
            units += bare and d.factor == 1
        self.lo, self.hi, self.units, self.width = lo, hi, units, width

    def move(self, k: int, bare: bool, old: Domain, new: Domain) -> None:
        """A term ``k * x`` whose ``x`` went from ``old`` to ``new``."""
        if k >= 0:
            self.lo += k * (new.lo - old.lo)
            self.hi += k * (new.hi - old.hi)
        else:
            self.lo += k * (new.hi - old.hi)
            self.hi += k * (new.lo - old.lo)
        if bare:
            self.units += (new.factor == 1) - (old.factor == 1)


def _kept_side(e, sums: dict[int, SumBounds]) -> tuple[int, int, int] | None:
    """(lo, hi, widest term) of a constant or a kept sum with two unit terms, else None."""
    if type(e) is Const:
        v = e.value
        return (v, v, 0) if type(v) is int else None
    sb = sums.get(id(e))
    if sb is None or sb.units < 2:
        return None
    return sb.lo, sb.hi, sb.width


def quick_compare(c, sums: dict[int, SumBounds]) -> int | None:
    """What revising ``c`` (:func:`revise`) returns, where that is known without revising it:
    ENTAILED or FAILED from the bounds, or OPEN where no term of either side could narrow;
    None where a full revision must decide (or ``c`` is not a comparison of kept sums and
    constants).

    It follows :func:`_r_compare` and :func:`_b_sum` step by step: a sum's forward domain is the
    interval ``[lo, hi]`` (factor 1, as some term has factor 1); ``_b_sum`` narrowing a sum to
    ``[l, h]`` leaves a term of width ``w`` alone where ``w <= hi - l`` and ``w <= h - lo`` (its
    required factor is 1, as some other term has factor 1); and a constant side is narrowed to
    a domain holding its value whenever the comparison is not failed.
    """
    if type(c) is not Compare or c.op == "!=":
        return None
    a = _kept_side(c.a, sums)
    if a is None:
        return None
    b = _kept_side(c.b, sums)
    if b is None:
        return None
    op = c.op
    t = _bounds_truth(op, a[0], a[1], b[0], b[1], False)
    if t != OPEN:
        return t
    if op == "==":
        lo, hi = max(a[0], b[0]), min(a[1], b[1])
        ok = a[2] <= min(a[1] - lo, hi - a[0]) and b[2] <= min(b[1] - lo, hi - b[0])
    else:
        if op in (">", ">="):
            a, b = b, a
        strict = 1 if op in ("<", ">") else 0
        # a is narrowed to at most b.hi - strict, then b to at least a.lo + strict
        ok = a[2] <= b[1] - strict - a[0] and b[2] <= b[1] - a[0] - strict
    return OPEN if ok else None


class _Fail(Exception):
    """Internal: a domain became empty."""


# ====================================================================== forward rules
# Each returns (domain or None, may_be_undefined). None means no defined value exists.

Fwd = tuple[Any, bool]


def forward(node, store: Store, memo: dict) -> Fwd:
    """Domain of an integer expression node under the store (memoised per node)."""
    t = type(node)
    if t is Var:
        return store.doms[node.index], False
    key = id(node)
    r = memo.get(key)
    if r is None:
        rule = _FORWARD.get(t)
        # kinds beyond the arithmetic here carry their own rule (constrint.booleans, .intops, ...)
        r = rule(node, store, memo) if rule is not None else node.forward(store, memo)
        memo[key] = r
    return r


def _pairs(fn: Callable[[int, int], int], A: Domain, B: Domain, images: dict | None = None
           ) -> Domain | bool | None:
    """Explicit image of a binary function over small explicit domains (False if too big).

    ``images``: a cache of images by (function, values, values), shared by the revisions of one
    search (``Store.images``), where the same products and quotients of the same value lists
    come back again and again: an image is a function of its two value lists, and domains are
    immutable, so a cached one is the one that would be computed. It is emptied when it holds
    :data:`IMAGE_CACHE` images.
    """
    if A.values is None or B.values is None or len(A.values) * len(B.values) > PAIR_LIMIT:
        return False
    if images is None:
        return _image(fn, A, B)
    key = (fn, A.values, B.values)
    d = images.get(key, False)
    if d is False:
        if len(images) >= IMAGE_CACHE:
            images.clear()
        d = images[key] = _image(fn, A, B)
    return d


def _image(fn: Callable[[int, int], int], A: Domain, B: Domain) -> Domain | None:
    try:  # the common case: every pair defined (one comprehension, no per-pair handler)
        return Domain.from_values({fn(a, b) for a in A.values for b in B.values})
    except (Undefined, ZeroDivisionError):
        pass
    out = set()
    for a in A.values:
        for b in B.values:
            try:
                out.add(fn(a, b))
            except (Undefined, ZeroDivisionError):
                continue  # an undefined pair contributes no value
    return Domain.from_values(out)


def _f_const(n: Const, store, memo) -> Fwd:
    return Domain.const(n.value), False


def _f_neg(n: Neg, store, memo) -> Fwd:
    A, u = forward(n.a, store, memo)
    if A is None:
        return None, u
    return _neg_dom(A), u


def _neg_dom(A: Domain) -> Domain:
    if A.values is not None:
        return Domain.from_values(-v for v in A.values)  # type: ignore[return-value]
    return Domain.interval(-A.hi, -A.lo, A.factor, A.primes)  # type: ignore[return-value]


def _f_abs(n: Abs, store, memo) -> Fwd:
    A, u = forward(n.a, store, memo)
    if A is None:
        return None, u
    if A.values is not None:
        return Domain.from_values(abs(v) for v in A.values), u
    if A.lo >= 0:
        return A, u
    if A.hi <= 0:
        return _neg_dom(A), u
    return Domain.interval(0, max(-A.lo, A.hi), A.factor, None), u


def _f_trunc(n: Trunc, store, memo) -> Fwd:
    # Only integral children reach here (non-integral trees are handled opaquely): int(x) == x.
    return forward(n.a, store, memo)


def _f_sum(n: Sum, store, memo) -> Fwd:
    kids, signs = n.children, n.signs
    if len(kids) == 2:
        (A, ua), (B, ub) = forward(kids[0], store, memo), forward(kids[1], store, memo)
        if A is None or B is None:
            return None, True
        d = _pairs(int.__add__ if signs[1] > 0 else int.__sub__, A, B, store.images)
        if d is not False:
            return d, ua or ub
    lo = hi = g = 0
    undefined = False
    for t, s in zip(kids, signs):
        D, u = forward(t, store, memo)
        if D is None:
            return None, True
        undefined = undefined or u
        if s > 0:
            lo, hi = lo + D.lo, hi + D.hi
        else:
            lo, hi = lo - D.hi, hi - D.lo
        g = math.gcd(g, D.factor)  # a sum of multiples of g is one
    return Domain.interval(lo, hi, g or 1), undefined


def _mul_dom(A: Domain, B: Domain, images: dict | None = None) -> Domain | None:
    d = _pairs(int.__mul__, A, B, images)
    if d is not False:
        return d  # type: ignore[return-value]
    c = (A.lo * B.lo, A.lo * B.hi, A.hi * B.lo, A.hi * B.hi)
    pa, pb = A.prime_support(), B.prime_support()
    ps = pa | pb if pa is not None and pb is not None else None
    return Domain.interval(min(c), max(c), A.factor * B.factor, ps)


def _f_mul(n: Mul, store, memo) -> Fwd:
    (A, ua), (B, ub) = forward(n.a, store, memo), forward(n.b, store, memo)
    if A is None or B is None:
        return None, True
    return _mul_dom(A, B, store.images), ua or ub


def _f_product(n: Product, store, memo) -> Fwd:
    out = None
    undefined = False
    for f in n.children:
        D, u = forward(f, store, memo)
        if D is None:
            return None, True
        undefined = undefined or u
        out = D if out is None else _mul_dom(out, D, store.images)
    return out, undefined


def _f_pow(n: Pow, store, memo) -> Fwd:
    A, u = forward(n.a, store, memo)
    if A is None:
        return None, u
    p = n.p
    if p == 0:
        return Domain.const(1), u
    if A.values is not None and len(A.values) <= PAIR_LIMIT:
        return Domain.from_values(v**p for v in A.values), u
    lo, hi = A.lo, A.hi
    if p % 2 == 1 or lo >= 0:
        blo, bhi = lo**p, hi**p
    elif hi <= 0:
        blo, bhi = hi**p, lo**p
    else:
        blo, bhi = 0, max(lo**p, hi**p)
    return Domain.interval(blo, bhi, A.factor**p, A.prime_support()), u


def _pos_part(B: Domain) -> tuple[int, int] | None:
    """(smallest positive value bound, largest value) of B's positive part, if any."""
    if B.hi < 1:
        return None
    if B.values is not None:
        for v in B.values:
            if v >= 1:
                return v, B.hi
    return max(B.lo, B.factor), B.hi


def _neg_part(B: Domain) -> tuple[int, int] | None:
    """(smallest value, largest negative value bound) of B's negative part, if any."""
    if B.lo > -1:
        return None
    if B.values is not None:
        for v in reversed(B.values):
            if v <= -1:
                return B.lo, v
    return B.lo, min(B.hi, -B.factor)


def _divisor_parts(B: Domain) -> list[tuple[int, int]]:
    return [p for p in (_neg_part(B), _pos_part(B)) if p is not None]


def _floordiv_hull(A: Domain, B: Domain) -> tuple[int, int] | None:
    # floor is monotone, and over a box whose divisor part excludes 0 the real quotient a/b is
    # extremal at corners; so the floor quotient is bounded by the floors at the corners.
    lo = hi = None
    for c, d in _divisor_parts(B):
        qs = (A.lo // c, A.lo // d, A.hi // c, A.hi // d)
        lo = min(qs) if lo is None else min(lo, *qs)
        hi = max(qs) if hi is None else max(hi, *qs)
    if lo is None:
        return None
    return lo, hi


def _f_floordiv(n: FloorDiv, store, memo) -> Fwd:
    (A, ua), (B, ub) = forward(n.a, store, memo), forward(n.b, store, memo)
    if A is None or B is None:
        return None, True
    u = ua or ub or (0 in B)
    d = _pairs(int.__floordiv__, A, B, store.images)
    if d is not False:
        return d, u
    h = _floordiv_hull(A, B)
    if h is None:
        return None, True
    f = 1
    if B.is_fixed and B.lo != 0 and A.factor % B.lo == 0:
        f = A.factor // abs(B.lo)
    return Domain.interval(h[0], h[1], f), u


def _f_exactdiv(n: ExactDiv, store, memo) -> Fwd:
    (A, ua), (B, ub) = forward(n.a, store, memo), forward(n.b, store, memo)
    if A is None or B is None:
        return None, True
    exact = B.is_fixed and B.lo != 0 and A.factor % B.lo == 0
    u = ua or ub or not exact
    d = _pairs(_exact_div, A, B, store.images)
    if d is not False:
        return d, u
    h = _floordiv_hull(A, B)
    if h is None:
        return None, True
    f = A.factor // abs(B.lo) if exact else 1
    return Domain.interval(h[0], h[1], f), u


def _exact_div(a: int, b: int) -> int:
    if b == 0 or a % b:
        raise Undefined("inexact")
    return a // b


def _f_mod(n: Mod, store, memo) -> Fwd:
    (A, ua), (B, ub) = forward(n.a, store, memo), forward(n.b, store, memo)
    if A is None or B is None:
        return None, True
    u = ua or ub or (0 in B)
    d = _pairs(int.__mod__, A, B, store.images)
    if d is not False:
        return d, u
    lo = hi = None
    pos, neg = _pos_part(B), _neg_part(B)
    if pos is not None:
        c, dmax = pos
        if A.lo >= 0 and A.hi < c:  # a % b == a for 0 <= a < b
            plo, phi = A.lo, A.hi
        else:
            plo, phi = 0, dmax - 1
            if A.lo >= 0:
                phi = min(phi, A.hi)
        lo, hi = plo, phi
    if neg is not None:
        dmin, c = neg
        if A.hi <= 0 and A.lo > c:  # a % b == a for b < a <= 0
            nlo, nhi = A.lo, A.hi
        else:
            nlo, nhi = dmin + 1, 0
            if A.hi <= 0:
                nlo = max(nlo, A.lo)
        lo = nlo if lo is None else min(lo, nlo)
        hi = nhi if hi is None else max(hi, nhi)
    if lo is None:
        return None, True
    # r = a - b*floor(a/b): a common factor of a and b divides r
    return Domain.interval(lo, hi, math.gcd(A.factor, B.factor)), u


def _f_min(n: Min, store, memo) -> Fwd:
    (A, ua), (B, ub) = forward(n.a, store, memo), forward(n.b, store, memo)
    if A is None or B is None:
        return None, True
    d = _pairs(min, A, B, store.images)
    if d is not False:
        return d, ua or ub
    return Domain.interval(min(A.lo, B.lo), min(A.hi, B.hi), math.gcd(A.factor, B.factor)), ua or ub


def _f_max(n: Max, store, memo) -> Fwd:
    (A, ua), (B, ub) = forward(n.a, store, memo), forward(n.b, store, memo)
    if A is None or B is None:
        return None, True
    d = _pairs(max, A, B, store.images)
    if d is not False:
        return d, ua or ub
    return Domain.interval(max(A.lo, B.lo), max(A.hi, B.hi), math.gcd(A.factor, B.factor)), ua or ub


_FORWARD: Mapping[type, Callable[..., Fwd]] = MappingProxyType({
    Const: _f_const,
    Neg: _f_neg,
    Abs: _f_abs,
    Trunc: _f_trunc,
    Sum: _f_sum,
    Mul: _f_mul,
    Product: _f_product,
    Pow: _f_pow,
    FloorDiv: _f_floordiv,
    ExactDiv: _f_exactdiv,
    Mod: _f_mod,
    Min: _f_min,
    Max: _f_max,
})


# ====================================================================== backward rules


def narrow(node, req: Domain | None, store: Store, memo: dict) -> None:
    """Restrict ``node``'s value to ``req``; narrows variables in the store or raises _Fail."""
    if req is None:
        raise _Fail
    cur, _ = forward(node, store, memo)
    if cur is None:
        raise _Fail
    new = cur.intersect(req)
    if new is None:
        raise _Fail
    if new == cur:
        return
    if type(node) is Var:
        store.set(node.index, new)
        return
    memo[id(node)] = (new, memo[id(node)][1]) if id(node) in memo else (new, False)
    rule = _BACKWARD.get(type(node))
    if rule is not None:
        rule(node, new, store, memo)
    else:
        own = getattr(node, "backward", None)
        if own is not None:
            own(new, store, memo)


def _support(node, fn, new: Domain, store: Store, memo: dict) -> bool:
    """Pairwise support filtering for small explicit children; True if it was applicable."""
    A, _ = forward(node.a, store, memo)
    B, _ = forward(node.b, store, memo)
    if A is None or B is None:
        raise _Fail
    if A.values is None or B.values is None or len(A.values) * len(B.values) > PAIR_LIMIT:
        return False
    ka, kb = set(), set()
    member = frozenset(new.values).__contains__ if new.values is not None else new.__contains__
    nb = len(B.values)
    for a in A.values:
        for b in B.values:
            if b in kb and a in ka:
                continue  # both already supported: nothing to learn from this pair
            try:
                v = fn(a, b)
            except (Undefined, ZeroDivisionError):
                continue
            if member(v):
                ka.add(a)
                kb.add(b)
        if len(kb) == nb and len(ka) == len(A.values):
            break  # every value of both sides is supported
    narrow(node.a, Domain.from_values(ka), store, memo)
    narrow(node.b, Domain.from_values(kb), store, memo)
    return True


def _b_neg(n: Neg, new: Domain, store, memo):
    narrow(n.a, _neg_dom(new), store, memo)


def _b_abs(n: Abs, new: Domain, store, memo):
    A, _ = forward(n.a, store, memo)
    if A is None:
        raise _Fail
    if A.values is not None:
        narrow(n.a, A.filter(lambda v: abs(v) in new), store, memo)
        return
    if A.lo >= 0:
        req = Domain.interval(new.lo, new.hi, new.factor, new.primes)
    elif A.hi <= 0:
        req = Domain.interval(-new.hi, -new.lo, new.factor, new.primes)
    else:
        req = Domain.interval(-new.hi, new.hi, new.factor, new.primes)
    narrow(n.a, req, store, memo)


def _b_trunc(n: Trunc, new: Domain, store, memo):
    narrow(n.a, new, store, memo)


def forwards(items, store: Store, memo: dict) -> list[Domain]:
    """The domains of several expressions (:func:`forward`); fails where one has no value."""
    out = []
    for e in items:
        d, _ = forward(e, store, memo)
        if d is None:
            raise _Fail
        out.append(d)
    return out


def _b_sum(n: Sum, new: Domain, store, memo):
    kids, signs = n.children, n.signs
    if len(kids) == 2 and _support(n, int.__add__ if signs[1] > 0 else int.__sub__, new, store, memo):
        return
    doms = forwards(kids, store, memo)
    # s_i * t_i = z - sum of the other signed terms: bounds from the others' bounds
    part = [(D.lo, D.hi) if s > 0 else (-D.hi, -D.lo) for D, s in zip(doms, signs)]
    total_lo = sum(p[0] for p in part)
    total_hi = sum(p[1] for p in part)
    # gcd of the factors of all terms but one: prefix and suffix gcds
    k = len(kids)
    before = [0] * (k + 1)
    after = [0] * (k + 1)
    for i in range(k):
        before[i + 1] = math.gcd(before[i], doms[i].factor)
        after[k - 1 - i] = math.gcd(after[k - i], doms[k - 1 - i].factor)
    for i, (t, s) in enumerate(zip(kids, signs)):
        plo, phi = part[i]
        lo, hi = new.lo - (total_hi - phi), new.hi - (total_lo - plo)
        if s < 0:
            lo, hi = -hi, -lo
        D = doms[i]
        others = math.gcd(before[i], after[i + 1])
        # if z and every other term are multiples of f, so is this term
        f = new.factor if new.factor > 1 and others and others % new.factor == 0 else 1
        if lo <= D.lo and hi >= D.hi and (f == 1 or D.factor % f == 0):
            continue
        narrow(t, Domain.interval(lo, hi, f), store, memo)
        D2, _ = forward(t, store, memo)
        q = (D2.lo, D2.hi) if s > 0 else (-D2.hi, -D2.lo)
        total_lo += q[0] - plo
        total_hi += q[1] - phi
        part[i] = q


def _quotient_hull(Z: Domain, Y: Domain) -> tuple[int, int] | None:
    """Integer hull of {z / y real : z in Z, y in Y, y != 0} (None if Y has no non-zero part)."""
    lo = hi = None
    for c, d in _divisor_parts(Y):
        cands = []
        for z in (Z.lo, Z.hi):
            for y in (c, d):
                cands.append((z, y))
        qlo = min(ceil_div(z, y) for z, y in cands)
        qhi = max(z // y for z, y in cands)
        lo = qlo if lo is None else min(lo, qlo)
        hi = qhi if hi is None else max(hi, qhi)
    if lo is None:
        return None
    return lo, hi


def _signed_divisors(c: int, within: Domain) -> Domain | bool | None:
    if count_divisors(c) > DIVISOR_LIMIT:
        return False
    ds = divisors(c)
    vals = [d for d in ds if d in within] + [-d for d in ds if -d in within]
    return Domain.from_values(vals)


def _b_mul(n: Mul, new: Domain, store, memo):
    if _support(n, int.__mul__, new, store, memo):
        return
    for this, other in ((n.a, n.b), (n.b, n.a)):
        X, _ = forward(this, store, memo)
        Y, _ = forward(other, store, memo)
        if X is None or Y is None:
            raise _Fail
        _narrow_factor(this, X, Y, new, store, memo)


def _b_product(n: Product, new: Domain, store, memo):
    # each factor against the product of the others (prefix and suffix products)
    doms = forwards(n.children, store, memo)
    k = len(doms)
    before: list[Domain | None] = [None] * (k + 1)
    after: list[Domain | None] = [None] * (k + 1)
    for i in range(k):
        before[i + 1] = doms[i] if before[i] is None else _mul_dom(before[i], doms[i], store.images)
        j = k - 1 - i
        after[j] = doms[j] if after[j + 1] is None else _mul_dom(doms[j], after[j + 1], store.images)
    for i, f in enumerate(n.children):
        left, right = before[i], after[i + 1]
        Y = left if right is None else right if left is None else _mul_dom(left, right, store.images)
        if Y is None:
            raise _Fail
        _narrow_factor(f, doms[i], Y, new, store, memo)


def _within_quotients(req: Domain, Z: Domain, Y: Domain) -> Domain:
    """``req`` clipped to the hull of ``z / y`` (z in ``Z``, y in ``Y``, y != 0); fails if empty."""
    h = _quotient_hull(Z, Y)
    if h is None:
        raise _Fail
    out = req.clip(h[0], h[1])
    if out is None:
        raise _Fail
    return out


def _narrow_factor(this, X: Domain, Y: Domain, new: Domain, store, memo) -> None:
    """Narrow the factor ``this`` (domain ``X``) of ``this * other == z`` with ``z`` in ``new``
    and ``other`` in ``Y``."""
    req = X
    if 0 not in new:
        # z != 0 forces x != 0; and x = z / y with y != 0
        req = req.remove(0)
        if req is None:
            raise _Fail
        req = _within_quotients(req, new, Y)
        if new.is_fixed:
            dv = _signed_divisors(new.lo, req)
            if dv is not False:
                req = dv
                if req is None:
                    raise _Fail
        ps = new.prime_support()
        if ps is not None:
            req = req.require_primes(ps)
            if req is None:
                raise _Fail
    elif 0 not in Y:
        req = _within_quotients(req, new, Y)
    f = new.factor
    if f > 1:
        # f | x*y  =>  f / gcd(f, G) | x, where G is a multiple of gcd(f, y) for every y
        if Y.values is not None and len(Y.values) <= 256:
            G = 1
            for y in Y.values:
                g = math.gcd(f, y)
                G = G * g // math.gcd(G, g)
        else:
            G = f if not Y.is_fixed else math.gcd(f, Y.lo)
        need = f // math.gcd(f, G)
        if need > 1:
            req = req.require_factor(need)
            if req is None:
                raise _Fail
    narrow(this, req, store, memo)


def _b_pow(n: Pow, new: Domain, store, memo):
    p = n.p
    if p == 0:
        return
    A, _ = forward(n.a, store, memo)
    if A is None:
        raise _Fail
    if A.values is not None and len(A.values) <= PAIR_LIMIT:
        narrow(n.a, A.filter(lambda v: v**p in new), store, memo)
        return
    if p % 2 == 1:
        lo = iroot_ceil(new.lo, p) if new.lo >= 0 else -iroot_floor(-new.lo, p)
        hi = iroot_floor(new.hi, p) if new.hi >= 0 else -iroot_ceil(-new.hi, p)
        req = A.clip(lo, hi)
    else:
        if new.hi < 0:
            raise _Fail
        r = iroot_floor(new.hi, p)
        s = iroot_ceil(max(new.lo, 0), p)
        if A.lo >= 0:
            req = A.clip(s, r)
        elif A.hi <= 0:
            req = A.clip(-r, -s)
        else:
            req = A.clip(-r, r)
    if req is None:
        raise _Fail
    if 0 not in new:
        req = req.remove(0)
        ps = new.prime_support()
        if req is not None and ps is not None:
            req = req.require_primes(ps)
    if req is not None and new.factor > 1:
        req = req.require_factor(root_factor(new.factor, p))
    narrow(n.a, req, store, memo)


def _nonzero(node, store, memo):
    B, _ = forward(node, store, memo)
    if B is None:
        raise _Fail
    if 0 in B:
        narrow(node, B.remove(0), store, memo)


def _b_floordiv(n: FloorDiv, new: Domain, store, memo):
    _nonzero(n.b, store, memo)
    if _support(n, int.__floordiv__, new, store, memo):
        return
    A, _ = forward(n.a, store, memo)
    B, _ = forward(n.b, store, memo)
    if B.is_fixed:
        c = B.lo
        if c > 0:  # q*c <= a <= q*c + c - 1
            narrow(n.a, A.clip(new.lo * c, new.hi * c + c - 1), store, memo)
        else:  # c < 0: (q+1)*c < a <= q*c
            narrow(n.a, A.clip((new.hi + 1) * c + 1, new.lo * c), store, memo)
        return
    if A.lo >= 0 and B.lo >= 1 and new.lo >= 0:
        # q*b <= a < (q+1)*b with a, b >= 0
        narrow(n.a, A.clip(new.lo * B.lo, new.hi * B.hi + B.hi - 1), store, memo)
        A, _ = forward(n.a, store, memo)
        hi = A.hi // new.lo if new.lo >= 1 else None
        lo = A.lo // (new.hi + 1) + 1
        narrow(n.b, B.clip(lo, hi), store, memo)


def _b_exactdiv(n: ExactDiv, new: Domain, store, memo):
    _nonzero(n.b, store, memo)
    if _support(n, _exact_div, new, store, memo):
        return
    A, _ = forward(n.a, store, memo)
    B, _ = forward(n.b, store, memo)
    # a = q * b exactly
    req = _mul_dom(new, B, store.images)
    if B.is_fixed and req is not None:
        req = req.require_factor(B.lo)
    narrow(n.a, req, store, memo)
    if 0 not in new:
        A, _ = forward(n.a, store, memo)
        narrow(n.b, _within_quotients(B, A, new), store, memo)


def _b_mod(n: Mod, new: Domain, store, memo):
    _nonzero(n.b, store, memo)
    if _support(n, int.__mod__, new, store, memo):
        return
    A, _ = forward(n.a, store, memo)
    B, _ = forward(n.b, store, memo)
    if B.is_fixed:
        c = abs(B.lo)
        if new.is_fixed and new.lo == 0:
            narrow(n.a, A.require_factor(c), store, memo)
        elif new.factor > 1 and c % new.factor == 0:
            # a = r + b*k with r and b multiples of f
            narrow(n.a, A.require_factor(new.factor), store, memo)


def _b_min(n: Min, new: Domain, store, memo):
    if _support(n, min, new, store, memo):
        return
    A, _ = forward(n.a, store, memo)
    B, _ = forward(n.b, store, memo)
    narrow(n.a, A.clip(new.lo, None), store, memo)
    narrow(n.b, B.clip(new.lo, None), store, memo)
    A, _ = forward(n.a, store, memo)
    B, _ = forward(n.b, store, memo)
    if A.lo > new.hi:
        narrow(n.b, B.clip(None, new.hi), store, memo)
    elif B.lo > new.hi:
        narrow(n.a, A.clip(None, new.hi), store, memo)


def _b_max(n: Max, new: Domain, store, memo):
    if _support(n, max, new, store, memo):
        return
    A, _ = forward(n.a, store, memo)
    B, _ = forward(n.b, store, memo)
    narrow(n.a, A.clip(None, new.hi), store, memo)
    narrow(n.b, B.clip(None, new.hi), store, memo)
    A, _ = forward(n.a, store, memo)
    B, _ = forward(n.b, store, memo)
    if A.hi < new.lo:
        narrow(n.b, B.clip(new.lo, None), store, memo)
    elif B.hi < new.lo:
        narrow(n.a, A.clip(new.lo, None), store, memo)


_BACKWARD: Mapping[type, Callable[..., None]] = MappingProxyType({
    Neg: _b_neg,
    Abs: _b_abs,
    Trunc: _b_trunc,
    Sum: _b_sum,
    Mul: _b_mul,
    Product: _b_product,
    Pow: _b_pow,
    FloorDiv: _b_floordiv,
    ExactDiv: _b_exactdiv,
    Mod: _b_mod,
    Min: _b_min,
    Max: _b_max,
})


# ====================================================================== constraint rules


def revise(c, store: Store, memo: dict | None = None) -> int:
    """Narrow the store by constraint ``c``; returns ENTAILED, FAILED or OPEN. ``memo``: forward
    domains of subexpressions computed on the store as it is (a caller that revises several
    constraints may share it until a domain changes)."""
    rule = _REVISE.get(type(c))
    try:
        if rule is None:
            return c.revise(store)
        return rule(c, store, {} if memo is None else memo)
    except _Fail:
        return FAILED


def _bounds_truth(op: str, alo: int, ahi: int, blo: int, bhi: int, undefined: bool) -> int:
    """Truth of ``a OP b`` from the bounds of forward domains (guaranteed supersets)."""
    if op == "==":
        if ahi < blo or bhi < alo:
            return FAILED
        if alo == ahi == blo == bhi:
            return OPEN if undefined else ENTAILED
        return OPEN
    if op == "!=":
        if alo == ahi == blo == bhi:
            return FAILED
        if (ahi < blo or bhi < alo) and not undefined:
            return ENTAILED
        return OPEN
    if op in (">", ">="):
        alo, ahi, blo, bhi = blo, bhi, alo, ahi
        op = "<" if op == ">" else "<="
    if op == "<=":
        if alo > bhi:
            return FAILED
        if ahi <= blo and not undefined:
            return ENTAILED
        return OPEN
    # "<"
    if alo >= bhi:
        return FAILED
    if ahi < blo and not undefined:
        return ENTAILED
    return OPEN


def _r_compare(c: Compare, store: Store, memo: dict) -> int:
    A, ua = forward(c.a, store, memo)
    B, ub = forward(c.b, store, memo)
    if A is None or B is None:
        return FAILED
    op = c.op
    t = _bounds_truth(op, A.lo, A.hi, B.lo, B.hi, ua or ub)
    if t != OPEN:
        if t == ENTAILED:
            return ENTAILED
        return FAILED
    if op == "==":
        d = A.intersect(B)
        narrow(c.a, d, store, memo)
        narrow(c.b, d, store, memo)
    elif op == "!=":
        if A.is_fixed:
            narrow(c.b, B.remove(A.lo), store, memo)
        elif B.is_fixed:
            narrow(c.a, A.remove(B.lo), store, memo)
    else:
        a, b = c.a, c.b
        if op in (">", ">="):
            a, b, A, B = b, a, B, A
        strict = 1 if op in ("<", ">") else 0
        narrow(a, A.clip(None, B.hi - strict), store, memo)
        A, _ = forward(a, store, memo)
        narrow(b, B.clip(A.lo + strict, None), store, memo)
    return OPEN


def _divides_truth(A: Domain, B: Domain, undefined: bool) -> int:
    """Truth of ``a | b`` from forward domains (guaranteed supersets of the values)."""
    if A.is_fixed and A.lo == 0:
        return FAILED
    if A.is_fixed and B.is_fixed:
        if B.lo % A.lo:
            return FAILED
        return OPEN if undefined else ENTAILED
    if undefined or 0 in A:
        return OPEN
    if A.is_fixed and B.factor % A.lo == 0:
        return ENTAILED
    if (A.values is not None and B.values is not None and len(A.values) * len(B.values) <= PAIR_LIMIT
            and all(b % a == 0 for a in A.values for b in B.values)):
        return ENTAILED
    return OPEN


def _r_divides(c: Divides, store: Store, memo: dict) -> int:
    A, ua = forward(c.a, store, memo)
    B, ub = forward(c.b, store, memo)
    if A is None or B is None:
        return FAILED
    t = _divides_truth(A, B, ua or ub)
    if t != OPEN:
        return t
    # From here on the memo may hold narrowed (required, not guaranteed) domains: only narrow.
    _nonzero(c.a, store, memo)
    A, _ = forward(c.a, store, memo)
    B, _ = forward(c.b, store, memo)
    if A.values is not None and B.values is not None and len(A.values) * len(B.values) <= PAIR_LIMIT:
        ka, kb = set(), set()
        for a in A.values:
            for b in B.values:
                if a != 0 and b % a == 0:
                    ka.add(a)
                    kb.add(b)
        narrow(c.a, Domain.from_values(ka), store, memo)
        narrow(c.b, Domain.from_values(kb), store, memo)
        return OPEN
    if A.is_fixed:
        narrow(c.b, B.require_factor(A.lo), store, memo)
        return OPEN
    # b is a multiple of some value of a, and all of those are multiples of A.factor
    if A.factor > 1:
        narrow(c.b, B.require_factor(A.factor), store, memo)
        B, _ = forward(c.b, store, memo)
    if B.is_fixed:
        if B.lo != 0:
            dv = _signed_divisors(B.lo, A)
            if dv is not False:
                narrow(c.a, dv, store, memo)
        return OPEN
    if 0 not in B:
        m = max(-B.lo, B.hi)
        req = A.clip(-m, m)
        ps = B.prime_support()
        if req is not None and ps is not None:
            req = req.require_primes(ps)
        narrow(c.a, req, store, memo)
    return OPEN


def _r_notdivides(c: NotDivides, store: Store, memo: dict) -> int:
    A, ua = forward(c.a, store, memo)
    B, ub = forward(c.b, store, memo)
    if A is None or B is None:
        return FAILED
    if A.is_fixed and B.is_fixed:
        if A.lo == 0 or B.lo % A.lo == 0:
            return FAILED
        if not (ua or ub):
            return ENTAILED
    _nonzero(c.a, store, memo)
    A, _ = forward(c.a, store, memo)
    B, _ = forward(c.b, store, memo)
    if A.values is not None and B.values is not None and len(A.values) * len(B.values) <= PAIR_LIMIT:
        ka, kb = set(), set()
        for a in A.values:
            for b in B.values:
                if a != 0 and b % a != 0:
                    ka.add(a)
                    kb.add(b)
        narrow(c.a, Domain.from_values(ka), store, memo)
        narrow(c.b, Domain.from_values(kb), store, memo)
        return OPEN
    if A.is_fixed:
        d = A.lo
        if B.factor % d == 0:
            return FAILED
        if abs(d) == 1:
            return FAILED
    return OPEN


def _r_and(c: And, store: Store, memo: dict) -> int:
    all_true = True
    for part in c.children:
        t = revise(part, store)
        if t == FAILED:
            return FAILED
        if t != ENTAILED:
            all_true = False
    return ENTAILED if all_true else OPEN


def _r_or(c: Or, store: Store, memo: dict) -> int:
    open_parts = []
    for part in c.children:
        t = truth(part, store)
        if t == ENTAILED:
            return ENTAILED
        if t == OPEN:
            open_parts.append(part)
    if not open_parts:
        return FAILED
    if len(open_parts) == 1:
        return revise(open_parts[0], store)
    return OPEN


def _r_bool(c: BoolConst, store: Store, memo: dict) -> int:
    return ENTAILED if c.value else FAILED


def truth(c, store: Store) -> int:
    """Whether ``c`` is certainly true, certainly false or open, without narrowing."""
    t = type(c)
    if t is Compare:
        memo: dict = {}
        A, ua = forward(c.a, store, memo)
        B, ub = forward(c.b, store, memo)
        if A is None or B is None:
            return FAILED
        return _bounds_truth(c.op, A.lo, A.hi, B.lo, B.hi, ua or ub)
    if t is And:
        res = ENTAILED
        for part in c.children:
            x = truth(part, store)
            if x == FAILED:
                return FAILED
            if x == OPEN:
                res = OPEN
        return res
    if t is Or:
        res = FAILED
        for part in c.children:
            x = truth(part, store)
            if x == ENTAILED:
                return ENTAILED
            if x == OPEN:
                res = OPEN
        return res
    if t is BoolConst:
        return ENTAILED if c.value else FAILED
    # Other kinds: a trial revision on a scratch copy decides without changing the store.
    scratch = Store(list(store.doms), store.images)
    return revise(c, scratch)


def revise_by_evaluation(c, idx: tuple[int, ...], names: tuple[str, ...], store: Store) -> int:
    """Revision of ``c`` (over the variables ``idx``, called ``names``) by evaluating it.

    Exact (every value kept has a support) when the open variables span at most
    :data:`ENUM_LIMIT` combinations; otherwise nothing is narrowed. For constraints no other
    rule reasons about: true division, ``not``, user-defined kinds under a negation.
    """
    doms = store.doms
    open_idx = [i for i in idx if not doms[i].is_fixed]
    base = {n: doms[i].lo for i, n in zip(idx, names) if doms[i].is_fixed}
    if not open_idx:
        return ENTAILED if c.holds(base) else FAILED
    total = 1
    for i in open_idx:
        total *= doms[i].size
        if total > ENUM_LIMIT:
            return OPEN
    open_names = [names[idx.index(i)] for i in open_idx]
    keep: list[set[int]] = [set() for _ in open_idx]
    all_hold = True
    for combo in itertools.product(*(list(doms[i]) for i in open_idx)):
        a = dict(base)
        a.update(zip(open_names, combo))
        if c.holds(a):
            for k, v in zip(keep, combo):
                k.add(v)
        else:
            all_hold = False
    for i, k in zip(open_idx, keep):
        nd = Domain.from_values(k)
        if nd is None:
            return FAILED
        if nd != doms[i]:
            store.set(i, nd)
    return ENTAILED if all_hold else OPEN


def _r_not(c: Not, store: Store, memo: dict) -> int:
    found = {n.index: n.name for n in walk(c) if type(n) is Var}
    idx = tuple(sorted(found))
    return revise_by_evaluation(c, idx, tuple(found[i] for i in idx), store)


#: The revision rule of each built-in constraint kind. Other kinds (user-defined constraints, the
#: solver's wrappers) carry their own rule as a method ``revise(store) -> int``.
_REVISE: Mapping[type, Callable[..., int]] = MappingProxyType({
    Compare: _r_compare,
    Divides: _r_divides,
    NotDivides: _r_notdivides,
    And: _r_and,
    Or: _r_or,
    BoolConst: _r_bool,
    Not: _r_not,
})
