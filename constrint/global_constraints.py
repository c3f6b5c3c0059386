"""Global constraints and the element expression.

* :func:`element` — ``items[index]`` for a variable ``index`` (constants or expressions as items);
* :func:`all_different` — pairwise distinct values (value elimination, Hall intervals);
* :func:`table` — the items' values form one of the given rows (or, ``forbidden=True``, none);
* :func:`count`, :func:`among` — how many items equal a value, or lie in a set (integer
  expressions: sums of reified constraints, with their propagation);
* :func:`lex_less`, :func:`lex_lesseq` — lexicographic order of two lists;
* :func:`inverse` — two lists that are inverse permutations (``f[i] == j`` exactly where
  ``g[j] == i``).

Each constraint narrows domains by its own rule (which never removes a value of a solution; see
``tests/constrint/test_global_constraints.py``) and is handled natively by the vectorised
enumerator: ``all_different`` and ``inverse`` are checked pair by pair as soon as both
variables of a pair are placed, and an allowed ``table`` over variables is joined row by row
with the partial solutions instead of filtering their Cartesian product.

>>> import constrint as ci
>>> m = ci.Model(); q = [m.int_var(f"q{i}", 0, 5) for i in range(6)]
>>> m += all_different(q)
>>> m += all_different(q[i] + i for i in range(6))
>>> m += all_different(q[i] - i for i in range(6))
>>> m.count()                                     # the 6-queens solutions
4
"""
from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any

from .domain import Domain
from .errors import ModelError
from .expr import (
    _P_ATOM,
    _P_CMP,
    Compare,
    Const,
    Constraint,
    Expr,
    Not,
    Undefined,
    Var,
    _coerce,
    all_of,
    any_of,
    check_integer,
    sum_,
)
from .propagators import (
    ENTAILED,
    FAILED,
    OPEN,
    forward,
    forwards,
    narrow,
)
from .transform import rebuild

# ====================================================================== element


class Element(Expr):
    """``items[index]``: the item at position ``index`` (0-based); undefined where ``index`` is
    outside ``0 .. len(items) - 1``. Only the chosen item is evaluated.

    Build it with :func:`element`; ``.cint`` text writes it ``[a, b, c][i]``.
    """

    __slots__ = ("children", "consts", "index", "integral", "items")
    _prec = _P_ATOM

    def __init__(self, items: Sequence[Expr], index: Expr):
        if not items:
            raise ValueError("element() needs at least one item")
        if not index.integral:
            raise TypeError("the index of element() must be integer-valued")
        self.items = tuple(items)
        self.index = index
        self.children = (*self.items, index)
        self.integral = all(e.integral for e in self.items)
        self.consts = (
            tuple(e.value for e in self.items) if all(type(e) is Const for e in self.items) else None
        )

    def ev(self, a):
        i = self.index.ev(a)
        if not 0 <= i < len(self.items):
            raise Undefined("element index out of range")
        return self.items[i].ev(a)

    def forward(self, store, memo):
        return _f_element(self, store, memo)

    def backward(self, new, store, memo):
        _b_element(self, new, store, memo)

    def numpy(self, env):
        return _np_element(self, env)

    def conditional_definedness(self, definedness) -> list[Constraint]:
        """The index is always evaluated (and must be in range); an item only where chosen."""
        out = list(definedness(self.index))
        out.append(Compare(">=", self.index, Const(0)))
        out.append(Compare("<", self.index, Const(len(self.items))))
        for k, item in enumerate(self.items):
            d = definedness(item)
            if d:
                out.append(any_of(Compare("!=", self.index, Const(k)), all_of(d)))
        return out

    def fmt(self):
        return "[" + ", ".join(e.fmt() for e in self.items) + f"][{self.index.fmt()}]"

    def rebind(self, var_map: Callable[[Var], Expr]) -> Element:
        return Element([rebuild(e, var_map) for e in self.items], rebuild(self.index, var_map))

    def cint_text(self, expr_text, constraint_text) -> tuple[str, int]:
        items = ", ".join(expr_text(e)[0] for e in self.items)
        return f"[{items}][{expr_text(self.index)[0]}]", _P_ATOM


def element(items: Iterable[Any], index: Any) -> Expr:
    """``items[index]`` with a variable (or any integer expression) as index.

    ``items`` are ints or expressions; positions count from 0, and an index outside
    ``0 .. len(items) - 1`` makes the constraint containing it false.

    >>> import constrint as ci
    >>> m = ci.Model(); i = m.int_var("i", -1, 5); x = m.int_var("x", 0, 9)
    >>> m += element([4, 8, 16], i) == 2 * x
    >>> sorted((s["i"], s["x"]) for s in m.solutions())
    [(0, 2), (1, 4), (2, 8)]
    """
    its = [_coerce(v) for v in items]
    return Element(its, _coerce(index))


def _positions(n: Element, store, memo) -> tuple[Domain | None, bool]:
    """The index's possible positions inside the list, and whether it may fall outside."""
    Idom, ui = forward(n.index, store, memo)
    if Idom is None:
        return None, True
    inside = Idom.clip(0, len(n.items) - 1)
    return inside, ui or inside is not Idom


def _f_element(n: Element, store, memo):
    P, u = _positions(n, store, memo)
    if P is None:
        return None, True
    if n.consts is not None:
        return Domain.from_values(n.consts[i] for i in P), u
    out = None
    for i in P:
        D, ud = forward(n.items[i], store, memo)
        u = u or ud
        if D is None:
            continue
        out = D if out is None else out.union(D)
    return out, u


def _b_element(n: Element, new: Domain, store, memo):
    P, _ = _positions(n, store, memo)
    if P is None:
        narrow(n.index, None, store, memo)
        return
    if n.consts is not None:
        keep = [i for i in P if n.consts[i] in new]
    else:
        keep = []
        for i in P:
            D, _ = forward(n.items[i], store, memo)
            if D is not None and D.intersect(new) is not None:
                keep.append(i)
    narrow(n.index, Domain.from_values(keep), store, memo)
    if len(keep) == 1 and n.consts is None:
        narrow(n.items[keep[0]], new, store, memo)




def _np_element(n: Element, env):
    import numpy as np

    from .vectorized import _Env, _ev

    idx = _ev(n.index, env)
    k = len(n.items)
    valid = np.asarray((idx >= 0) & (idx < k), dtype=bool)
    if not valid.all():
        env.bad.append(~valid)
    safe = np.where(valid, idx, 0).astype(np.int64)
    if n.consts is not None:
        table = np.array(n.consts, dtype=object if env.dtype is object else np.int64)
        return table[safe]
    rows = None
    values = []
    for j, item in enumerate(n.items):
        sub = _Env(env.cols, env.dtype)
        v = _ev(item, sub)
        for bad in sub.bad:
            env.bad.append(np.logical_and(safe == j, bad))
        values.append(v)
    shape = np.broadcast_shapes(np.shape(safe), *(np.shape(v) for v in values))
    rows = np.stack([np.broadcast_to(np.asarray(v), shape) for v in values])
    out = np.take_along_axis(rows, np.broadcast_to(safe, shape)[None, ...], axis=0)[0]
    if env.dtype is object and out.dtype != object:
        out = out.astype(object)
    return out


# ====================================================================== common parts


def _items(args: tuple, what: str) -> list[Expr]:
    """Expressions from ``f(a, b, c)`` or ``f([a, b, c])`` (or any iterable)."""
    if len(args) == 1 and not isinstance(args[0], (Expr, Constraint, int)):
        args = tuple(args[0])
    out = [_coerce(a) for a in args]
    for e in out:
        if not e.integral:
            raise TypeError(f"{what} needs integer-valued expressions, not float-valued ones")
    return out


def _list_text(expr_text, items) -> str:
    return "[" + ", ".join(expr_text(e)[0] for e in items) + "]"


class _Global(Constraint):
    """Base of the global constraints: children are the expressions they constrain."""

    __slots__ = ()
    _prec = _P_CMP

    def negate(self) -> Constraint:
        return Not(self)

    def join_parts(self) -> list[Constraint] | None:
        """Smaller constraints that together mean the same, checked by the vectorised join as
        soon as their variables are placed (``None``: the whole constraint at once)."""
        return None

    def cint_text(self, expr_text, constraint_text) -> tuple[str, int]:
        return self.call_text(expr_text), _P_ATOM

    def fmt(self) -> str:
        return self.call_text(lambda e: (e.fmt(), _P_ATOM))


def _snapshot(c, store) -> list[tuple[int, Domain]]:
    """The current domains of a constraint's variables (to tell whether a rule narrowed any)."""
    return [(v.index, store.doms[v.index]) for v in c.variables().values()]


def _unchanged(snap: list[tuple[int, Domain]], store) -> bool:
    # a rule may report ENTAILED only for the domains it was given (a trial revision, the truth
    # of a part of an 'or', reads it so), not for domains it narrowed itself
    return all(store.doms[i] is d for i, d in snap)


def _undefined_somewhere(items, store, memo) -> bool:
    return any(forward(e, store, memo)[1] for e in items)


# ====================================================================== all_different


class AllDifferent(_Global):
    """The items take pairwise different values (see :func:`all_different`)."""

    __slots__ = ("children",)

    def __init__(self, items: Sequence[Expr]):
        self.children = tuple(items)

    def revise(self, store) -> int:
        """The kind's revision rule (:func:`_r_all_different`)."""
        return _r_all_different(self, store, {})

    def numpy(self, env):
        return _np_all_different(self, env)

    def ev(self, a):
        vals = [e.ev(a) for e in self.children]
        return len(set(vals)) == len(vals)

    def rebind(self, var_map):
        return AllDifferent([rebuild(e, var_map) for e in self.children])

    def join_parts(self):
        xs = self.children
        return [Compare("!=", xs[i], xs[j]) for i in range(len(xs)) for j in range(i + 1, len(xs))]

    def call_text(self, expr_text) -> str:
        return f"all_different({', '.join(expr_text(e)[0] for e in self.children)})"


def all_different(*items: Any) -> Constraint:
    """The items (variables or integer expressions) take pairwise different values.

    ``all_different(a, b, c)`` or ``all_different([a, b, c])``. Propagation removes the value
    of each fixed item from the others and finds Hall intervals (``k`` items whose domains lie
    within ``k`` values take all of them, so no other item can).

    >>> import constrint as ci
    >>> m = ci.Model(); xs = [m.int_var(f"x{i}", 1, 3) for i in range(3)]
    >>> m += all_different(xs)
    >>> m.count()
    6
    >>> m2 = ci.Model(); a, b = m2.int_var("a", 1, 2), m2.int_var("b", 1, 2); c = m2.int_var("c", 1, 5)
    >>> m2 += all_different(a, b, c)
    >>> m2.propagate()["c"]                         # a and b take 1 and 2
    {3, 4, 5}
    """
    return AllDifferent(_items(items, "all_different"))


def _r_all_different(c: AllDifferent, store, memo) -> int:
    snap = _snapshot(c, store)
    xs = c.children
    n = len(xs)
    doms = forwards(xs, store, memo)
    # value elimination: a fixed item's value is taken
    changed = True
    while changed:
        changed = False
        taken: dict[int, int] = {}
        for i, d in enumerate(doms):
            if d.is_fixed:
                if d.lo in taken:
                    return FAILED
                taken[d.lo] = i
        for i, d in enumerate(doms):
            if d.is_fixed:
                continue
            nd = d
            for v in taken:
                if v in nd:
                    nd = nd.remove(v)
                    if nd is None:
                        return FAILED
            if nd is not d:
                narrow(xs[i], nd, store, memo)
                doms[i] = forward(xs[i], store, memo)[0]
                changed = changed or doms[i].is_fixed
    # pigeonhole over explicit values, then Hall intervals
    union = None
    if all(d.values is not None for d in doms):
        union = sorted({v for d in doms for v in d.values})
        if len(union) < n:
            return FAILED
    if 2 <= n <= 64:
        r = _hall_intervals(xs, doms, union, store, memo)
        if r == FAILED:
            return FAILED
    if all(d.is_fixed for d in doms) and not _undefined_somewhere(xs, store, memo) and _unchanged(snap, store):
        return ENTAILED
    return OPEN


def _hall_intervals(xs, doms, union, store, memo) -> int:
    """Bounds reasoning: ``k`` items within an interval of ``k`` available values own it."""
    import bisect

    order = sorted(range(len(doms)), key=lambda i: doms[i].hi)
    for lo in sorted({d.lo for d in doms}):
        inside: list[int] = []
        for i in order:
            d = doms[i]
            if d.lo < lo:
                continue
            inside.append(i)
            hi = d.hi
            if union is not None:
                cap = bisect.bisect_right(union, hi) - bisect.bisect_left(union, lo)
            else:
                cap = hi - lo + 1
            if len(inside) > cap:
                return FAILED
            if len(inside) == cap:
                owned = set(inside)
                for j, dj in enumerate(doms):
                    if j in owned or dj.hi < lo or dj.lo > hi:
                        continue
                    if dj.values is not None:
                        nd = dj.filter(lambda v, lo=lo, hi=hi: not lo <= v <= hi)
                    elif dj.lo >= lo:
                        nd = dj.clip(hi + 1, None)
                    elif dj.hi <= hi:
                        nd = dj.clip(None, lo - 1)
                    else:
                        continue  # the interval lies inside: a hole the domain cannot hold
                    if nd is None:
                        return FAILED
                    if nd != dj:
                        narrow(xs[j], nd, store, memo)
                        doms[j] = forward(xs[j], store, memo)[0]
    return OPEN




# ====================================================================== table


class Table(_Global):
    """The items' values form one of the rows (``forbidden``: none of them); see :func:`table`."""

    __slots__ = ("_array", "_set", "children", "forbidden", "rows")

    def __init__(self, items: Sequence[Expr], rows: tuple[tuple[int, ...], ...], forbidden: bool):
        self.children = tuple(items)
        self.rows = rows
        self.forbidden = forbidden
        self._set: frozenset | None = None
        self._array: Any = None

    @property
    def row_set(self) -> frozenset:
        if self._set is None:
            self._set = frozenset(self.rows)
        return self._set

    def array(self, dtype: Any = None):
        """The rows as a 2-D numpy array (int64, or object where values exceed int64)."""
        import numpy as np

        if self._array is None:
            big = any(abs(v) >= 1 << 62 for r in self.rows for v in r)
            self._array = np.array(self.rows, dtype=object if big else np.int64).reshape(
                len(self.rows), len(self.children)
            )
        if dtype is object and self._array.dtype != object:
            return self._array.astype(object)
        return self._array

    def revise(self, store) -> int:
        """The kind's revision rule (:func:`_r_table`)."""
        return _r_table(self, store, {})

    def numpy(self, env):
        return _np_table(self, env)

    def ev(self, a):
        vals = tuple(e.ev(a) for e in self.children)
        return (vals in self.row_set) != self.forbidden

    def rebind(self, var_map):
        t = Table([rebuild(e, var_map) for e in self.children], self.rows, self.forbidden)
        t._set, t._array = self._set, self._array
        return t

    def call_text(self, expr_text) -> str:
        name = "forbidden_table" if self.forbidden else "table"
        rows = ", ".join("[" + ", ".join(map(str, r)) + "]" for r in self.rows)
        return f"{name}({_list_text(expr_text, self.children)}, [{rows}])"

    def cint_text(self, expr_text, constraint_text) -> tuple[str, int]:
        from .language.printer import int_text

        name = "forbidden_table" if self.forbidden else "table"
        rows = ", ".join("[" + ", ".join(map(int_text, r)) + "]" for r in self.rows)
        return f"{name}({_list_text(expr_text, self.children)}, [{rows}])", _P_ATOM

    def row_mask(self, doms: list[Domain]):
        """Which rows lie in the domains ``doms`` of the items (a numpy boolean mask)."""
        return _row_mask(self, doms)

    def joinable(self) -> bool:
        """Whether the vectorised join can take this table's rows as a step."""
        return (
            not self.forbidden
            and all(isinstance(e, Var) for e in self.children)
            and len({e.index for e in self.children}) == len(self.children)
        )


def table(items: Iterable[Any], rows: Any, forbidden: bool = False) -> Constraint:
    """The items' values form one of the ``rows`` (``forbidden=True``: none of them).

    ``rows`` is a sequence of equally long sequences of ints, or a 2-D numpy integer array.
    Propagation keeps, for each item, the values that appear in a row still possible
    (generalised arc consistency); the vectorised enumerator joins the rows with the partial
    solutions.

    >>> import constrint as ci
    >>> m = ci.Model(); x = m.int_var("x", 0, 9); y = m.int_var("y", 0, 9)
    >>> m += table([x, y], [(1, 2), (2, 4), (3, 6), (4, 8)])
    >>> m += y > 2
    >>> sorted((s["x"], s["y"]) for s in m.solutions())
    [(2, 4), (3, 6), (4, 8)]
    >>> m.propagate()["x"]                         # rows with y > 2 only
    {2, 3, 4}
    """
    its = _items((list(items),), "table")
    if hasattr(rows, "tolist") and hasattr(rows, "ndim") and hasattr(rows, "dtype"):
        if rows.ndim != 2:
            raise ModelError(f"table rows must form a 2-D array, got {rows.ndim} dimensions")
        if rows.dtype.kind in "iu" and rows.shape[1] == len(its):
            # an integer array: its values are ints already (tolist gives Python ints)
            return Table(its, tuple(dict.fromkeys(map(tuple, rows.tolist()))), bool(forbidden))
        rows = rows.tolist()
    out = []
    for r in rows:
        r = tuple(check_integer(v, "a table value") for v in r)
        if len(r) != len(its):
            raise ModelError(f"a table row has {len(r)} values for {len(its)} items: {r}")
        out.append(r)
    return Table(its, tuple(dict.fromkeys(out)), bool(forbidden))


def forbidden_table(items: Iterable[Any], rows: Any) -> Constraint:
    """The items' values form none of the ``rows`` (``table(items, rows, forbidden=True)``).

    >>> import constrint as ci
    >>> m = ci.Model(); x = m.int_var("x", 0, 2); y = m.int_var("y", 0, 2)
    >>> m += forbidden_table([x, y], [(0, 0), (1, 1), (2, 2)])
    >>> m.count()
    6
    """
    return table(items, rows, forbidden=True)


def _row_mask(t: Table, doms: list[Domain]):
    """Which rows lie in the domains (numpy boolean mask)."""
    import numpy as np

    arr = t.array()
    mask = np.ones(len(arr), dtype=bool)
    for k, d in enumerate(doms):
        col = arr[:, k]
        if d.values is not None:
            mask &= np.isin(col, np.array(d.values, dtype=arr.dtype))
        else:
            mask &= (col >= d.lo) & (col <= d.hi)
            if d.factor > 1:
                mask &= col % d.factor == 0
            if d.primes is not None:
                mask &= np.fromiter((v in d for v in col), dtype=bool, count=len(col))
        if not mask.any():
            break
    return mask


def _r_table(t: Table, store, memo) -> int:
    snap = _snapshot(t, store)
    xs = t.children
    doms = forwards(xs, store, memo)
    undefined = _undefined_somewhere(xs, store, memo)
    if t.forbidden:
        if all(d.is_fixed for d in doms):
            hit = tuple(d.lo for d in doms) in t.row_set
            return FAILED if hit else (OPEN if undefined else ENTAILED)
        mask = _row_mask(t, doms)
        if not mask.any():
            return OPEN if undefined else ENTAILED
        open_ = [k for k, d in enumerate(doms) if not d.is_fixed]
        if len(open_) == 1:
            k = open_[0]
            bad = {int(v) for v in t.array()[mask, k]}
            d = doms[k]
            if d.values is not None:
                narrow(xs[k], d.filter(lambda v: v not in bad), store, memo)
            else:
                nd = d
                for v in sorted(bad):
                    nd = nd.remove(v) if nd is not None else None
                narrow(xs[k], nd, store, memo)
        return OPEN
    if len(t.rows) <= 64:
        rows = [r for r in t.rows if all(v in d for v, d in zip(r, doms))]
        if not rows:
            return FAILED
        columns = [Domain.from_values(col) for col in zip(*rows)]
    else:
        mask = _row_mask(t, doms)
        if not mask.any():
            return FAILED
        kept = t.array()[mask]
        columns = [Domain.from_values(int(v) for v in set(kept[:, k].tolist())) for k in range(len(xs))]
        rows = kept
    for k, d in enumerate(columns):
        narrow(xs[k], d, store, memo)
    if len(rows) == 1 and all(d.is_fixed for d in columns) and not undefined and _unchanged(snap, store):
        return ENTAILED
    return OPEN




# ====================================================================== count and among


class InSet(_Global):
    """The value of ``e`` lies in a constant set (``negated``: it does not)."""

    __slots__ = ("children", "negated", "values")

    def __init__(self, e: Expr, values: Iterable[int], negated: bool = False):
        self.children = (e,)
        self.values = frozenset(values)
        self.negated = negated

    def revise(self, store) -> int:
        """The kind's revision rule (:func:`_r_in_set`)."""
        return _r_in_set(self, store, {})

    def numpy(self, env):
        return _np_in_set(self, env)

    def ev(self, a):
        return (self.children[0].ev(a) in self.values) != self.negated

    def negate(self) -> Constraint:
        return InSet(self.children[0], self.values, not self.negated)

    def rebind(self, var_map):
        return InSet(rebuild(self.children[0], var_map), self.values, self.negated)

    def call_text(self, expr_text) -> str:
        word = "not in" if self.negated else "in"
        vals = ", ".join(map(str, sorted(self.values)))
        return f"{expr_text(self.children[0])[0]} {word} [{vals}]"

    def cint_text(self, expr_text, constraint_text) -> tuple[str, int]:
        from .language.printer import _wrap, int_text

        word = "not in" if self.negated else "in"
        text, prec = expr_text(self.children[0])
        vals = ", ".join(map(int_text, sorted(self.values)))
        return f"{_wrap(text, prec, _P_CMP + 1)} {word} [{vals}]", _P_CMP


def _r_in_set(c: InSet, store, memo) -> int:
    e = c.children[0]
    d, u = forward(e, store, memo)
    if d is None:
        return FAILED
    if not c.negated:
        allowed = Domain.from_values(v for v in c.values if v in d)
        if allowed is None:
            return FAILED
        if allowed == d:
            return OPEN if u else ENTAILED
        narrow(e, allowed, store, memo)
        return OPEN
    if d.values is not None:
        nd = d.filter(lambda v: v not in c.values)
    else:
        nd = d
        for v in sorted(c.values):
            if nd is None:
                break
            nd = nd.remove(v)
    if nd is None:
        return FAILED
    if nd is not d and nd != d:
        narrow(e, nd, store, memo)
        return OPEN
    if not u and d.values is not None and not any(v in c.values for v in d.values):
        return ENTAILED
    return OPEN




def in_set(e: Any, values: Iterable[int]) -> Constraint:
    """``e`` takes one of the constant ``values`` (``e in [v1, v2, ...]`` in ``.cint`` text).

    >>> import constrint as ci
    >>> m = ci.Model(); x = m.int_var("x", 0, 100)
    >>> m += in_set(x * 2, {4, 10, 99})
    >>> sorted(s["x"] for s in m.solutions())
    [2, 5]
    """
    return InSet(_coerce(e), (check_integer(v, "a set value") for v in values))


def count(items: Iterable[Any], value: Any) -> Expr:
    """The number of items equal to ``value`` (an int or an expression), as an expression.

    It is the sum of the reified equalities, so it propagates both ways: bounds on the count
    fix items to the value or away from it.

    >>> import constrint as ci
    >>> m = ci.Model(); xs = [m.int_var(f"x{i}", 0, 2) for i in range(4)]
    >>> m += count(xs, 2) == 3
    >>> m.count()
    8
    """
    from .booleans import Reify

    v = _coerce(value)
    return sum_(Reify(Compare("==", x, v)) for x in _items((list(items),), "count"))


def among(items: Iterable[Any], values: Iterable[int]) -> Expr:
    """The number of items whose value lies in the constant set ``values``, as an expression.

    >>> import constrint as ci
    >>> m = ci.Model(); xs = [m.int_var(f"x{i}", 1, 6) for i in range(3)]
    >>> m += among(xs, {2, 4, 6}) >= 2                 # at least two even
    >>> m.count()
    108
    """
    from .booleans import Reify

    vals = frozenset(check_integer(v, "a set value") for v in values)
    return sum_(Reify(InSet(x, vals)) for x in _items((list(items),), "among"))


# ====================================================================== lexicographic order


class LexLess(_Global):
    """``xs`` comes before ``ys`` in lexicographic order (``strict``: and differs)."""

    __slots__ = ("children", "n", "strict")

    def __init__(self, xs: Sequence[Expr], ys: Sequence[Expr], strict: bool):
        if len(xs) != len(ys):
            raise ModelError(f"lex_less needs two lists of equal length, got {len(xs)} and {len(ys)}")
        self.children = (*xs, *ys)
        self.n = len(xs)
        self.strict = strict

    @property
    def xs(self):
        return self.children[: self.n]

    @property
    def ys(self):
        return self.children[self.n :]

    def revise(self, store) -> int:
        """The kind's revision rule (:func:`_r_lex`)."""
        return _r_lex(self, store, {})

    def numpy(self, env):
        return _np_lex(self, env)

    def ev(self, a):
        x = tuple(e.ev(a) for e in self.xs)
        y = tuple(e.ev(a) for e in self.ys)
        return x < y if self.strict else x <= y

    def rebind(self, var_map):
        return LexLess(
            [rebuild(e, var_map) for e in self.xs], [rebuild(e, var_map) for e in self.ys], self.strict
        )

    def call_text(self, expr_text) -> str:
        name = "lex_less" if self.strict else "lex_lesseq"
        return f"{name}({_list_text(expr_text, self.xs)}, {_list_text(expr_text, self.ys)})"


def lex_less(xs: Iterable[Any], ys: Iterable[Any]) -> Constraint:
    """The list ``xs`` comes strictly before ``ys`` in lexicographic order (as Python's ``<`` on
    tuples); a common way to break symmetries.

    >>> import constrint as ci
    >>> m = ci.Model(); a = [m.int_var(f"a{i}", 0, 1) for i in range(2)]
    >>> b = [m.int_var(f"b{i}", 0, 1) for i in range(2)]
    >>> m += lex_less(a, b)
    >>> m.count()                                  # 16 pairs, 4 equal, half of the rest
    6
    """
    return LexLess(_items((list(xs),), "lex_less"), _items((list(ys),), "lex_less"), True)


def lex_lesseq(xs: Iterable[Any], ys: Iterable[Any]) -> Constraint:
    """``xs`` comes before ``ys`` in lexicographic order or equals it (Python's ``<=`` on tuples).

    >>> import constrint as ci
    >>> m = ci.Model(); a = [m.int_var(f"a{i}", 0, 1) for i in range(2)]
    >>> b = [m.int_var(f"b{i}", 0, 1) for i in range(2)]
    >>> m += lex_lesseq(a, b)
    >>> m.count()
    10
    """
    return LexLess(_items((list(xs),), "lex_lesseq"), _items((list(ys),), "lex_lesseq"), False)


def _r_lex(c: LexLess, store, memo) -> int:
    xs, ys = c.xs, c.ys
    undefined = _undefined_somewhere(c.children, store, memo)
    for i in range(c.n):
        X, _ = forward(xs[i], store, memo)
        Y, _ = forward(ys[i], store, memo)
        if X is None or Y is None:
            return FAILED
        if X.is_fixed and Y.is_fixed and X.lo == Y.lo:
            continue  # equal so far: the next position decides
        # every position before is equal, so position i must not put xs after ys
        if X.lo > Y.hi:
            return FAILED
        if X.hi < Y.lo:
            return OPEN if undefined else ENTAILED
        last_strict = c.strict and i == c.n - 1
        narrow(xs[i], X.clip(None, Y.hi - last_strict), store, memo)
        X, _ = forward(xs[i], store, memo)
        narrow(ys[i], Y.clip(X.lo + last_strict, None), store, memo)
        return OPEN
    return FAILED if c.strict else (OPEN if undefined else ENTAILED)




# ====================================================================== inverse


class Inverse(_Global):
    """``f`` and ``g`` are inverse permutations of ``0 .. n-1``: ``f[i] == j`` exactly where
    ``g[j] == i`` (see :func:`inverse`)."""

    __slots__ = ("children", "n")

    def __init__(self, f: Sequence[Expr], g: Sequence[Expr]):
        if len(f) != len(g):
            raise ModelError(f"inverse needs two lists of equal length, got {len(f)} and {len(g)}")
        self.children = (*f, *g)
        self.n = len(f)

    @property
    def f(self):
        return self.children[: self.n]

    @property
    def g(self):
        return self.children[self.n :]

    def revise(self, store) -> int:
        """The kind's revision rule (:func:`_r_inverse`)."""
        return _r_inverse(self, store, {})

    def numpy(self, env):
        return _np_inverse(self, env)

    def ev(self, a):
        fv = [e.ev(a) for e in self.f]
        gv = [e.ev(a) for e in self.g]
        n = self.n
        return all(0 <= j < n and gv[j] == i for i, j in enumerate(fv)) and all(
            0 <= i < n and fv[i] == j for j, i in enumerate(gv)
        )

    def rebind(self, var_map):
        return Inverse([rebuild(e, var_map) for e in self.f], [rebuild(e, var_map) for e in self.g])

    def join_parts(self):
        from .booleans import Reify

        n = self.n
        parts: list[Constraint] = []
        for e in self.children:
            parts.append(InSet(e, range(n)))
        for i, fi in enumerate(self.f):
            for j, gj in enumerate(self.g):
                parts.append(
                    Compare("==", Reify(Compare("==", fi, Const(j))), Reify(Compare("==", gj, Const(i))))
                )
        return parts

    def call_text(self, expr_text) -> str:
        return f"inverse({_list_text(expr_text, self.f)}, {_list_text(expr_text, self.g)})"


def inverse(f: Iterable[Any], g: Iterable[Any]) -> Constraint:
    """``f`` and ``g`` (equally long lists) are inverse permutations of ``0 .. n-1``:
    ``f[i] == j`` exactly where ``g[j] == i`` (channelling between two views of an assignment).

    >>> import constrint as ci
    >>> m = ci.Model()
    >>> f = [m.int_var(f"f{i}", 0, 2) for i in range(3)]; g = [m.int_var(f"g{i}", 0, 2) for i in range(3)]
    >>> m += inverse(f, g)
    >>> m += f[0] == 2
    >>> m.count()                                  # 2 permutations with f[0] == 2
    2
    """
    return Inverse(_items((list(f),), "inverse"), _items((list(g),), "inverse"))


def _r_inverse(c: Inverse, store, memo) -> int:
    snap = _snapshot(c, store)
    n = c.n
    rng = Domain.interval(0, n - 1)
    for e in c.children:
        narrow(e, rng, store, memo)
    for _ in range(2):
        F = forwards(c.f, store, memo)
        G = forwards(c.g, store, memo)
        # a fixed f[i] == j fixes g[j] == i, and the other way round
        for i, d in enumerate(F):
            if d.is_fixed and 0 <= d.lo < n:
                narrow(c.g[d.lo], Domain.const(i), store, memo)
        for j, d in enumerate(G):
            if d.is_fixed and 0 <= d.lo < n:
                narrow(c.f[d.lo], Domain.const(j), store, memo)
        F = forwards(c.f, store, memo)
        G = forwards(c.g, store, memo)
        for i, d in enumerate(F):
            nd = d.filter(lambda j, i=i, G=G: i in G[j])
            if nd is None:
                return FAILED
            if nd != d:
                narrow(c.f[i], nd, store, memo)
        F = forwards(c.f, store, memo)
        for j, d in enumerate(G):
            nd = d.filter(lambda i, j=j, F=F: j in F[i])
            if nd is None:
                return FAILED
            if nd != d:
                narrow(c.g[j], nd, store, memo)
    F = forwards(c.f, store, memo)
    G = forwards(c.g, store, memo)
    if all(d.is_fixed for d in F + G):
        fv, gv = [d.lo for d in F], [d.lo for d in G]
        if not all(gv[j] == i for i, j in enumerate(fv)) or not all(fv[i] == j for j, i in enumerate(gv)):
            return FAILED
        if _undefined_somewhere(c.children, store, memo) or not _unchanged(snap, store):
            return OPEN
        return ENTAILED
    return OPEN




# ====================================================================== numpy evaluation


def _np_all_different(c: AllDifferent, env):
    import numpy as np

    from .vectorized import _ev

    vals = [_ev(e, env) for e in c.children]
    out = True
    for i in range(len(vals)):
        for j in range(i + 1, len(vals)):
            out = np.logical_and(out, vals[i] != vals[j])
    return out


def _np_table(t: Table, env):
    import numpy as np

    from .vectorized import _ev

    cols = [_ev(e, env) for e in t.children]
    shape = np.broadcast_shapes(*(np.shape(c) for c in cols))
    if not shape:
        hit = tuple(int(c) for c in cols) in t.row_set
        return hit != t.forbidden
    cols = [np.broadcast_to(np.asarray(c), shape) for c in cols]
    rows = t.row_set
    hit = np.fromiter(
        (tuple(int(v) for v in r) in rows for r in zip(*cols)), dtype=bool, count=shape[0]
    )
    return hit != t.forbidden


def _np_in_set(c: InSet, env):
    import numpy as np

    from .vectorized import _ev

    v = _ev(c.children[0], env)
    if np.ndim(v) == 0:
        return (v in c.values) != c.negated
    if v.dtype == object:
        hit = np.fromiter((x in c.values for x in v), dtype=bool, count=len(v))
    else:
        wide = any(abs(x) >= 1 << 62 for x in c.values)
        hit = np.isin(v, np.array(sorted(c.values), dtype=object if wide else np.int64))
    return hit != c.negated


def _np_lex(c: LexLess, env):
    import numpy as np

    from .vectorized import _ev

    less = False
    equal = True
    for x, y in zip(c.xs, c.ys):
        a, b = _ev(x, env), _ev(y, env)
        less = np.logical_or(less, np.logical_and(equal, a < b))
        equal = np.logical_and(equal, a == b)
    return less if c.strict else np.logical_or(less, equal)


def _np_inverse(c: Inverse, env):
    import numpy as np

    from .vectorized import _ev

    out = True
    for part in c.join_parts():
        out = np.logical_and(out, _ev(part, env))
    return out



__all__ = [
    "Element", "element", "AllDifferent", "all_different", "Table", "table", "forbidden_table",
    "InSet", "in_set", "count", "among", "LexLess", "lex_less", "lex_lesseq", "Inverse", "inverse",
]

