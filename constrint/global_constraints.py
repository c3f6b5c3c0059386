"""Global constraints and the element expression.

* :func:`element` — ``items[index]`` for a variable ``index`` (constants or expressions as items).
"""
from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any

from .domain import Domain
from .expr import (
    _P_ATOM,
    Compare,
    Const,
    Constraint,
    Expr,
    Undefined,
    Var,
    _coerce,
    all_of,
    any_of,
    rebuild,
)
from .propagators import (
    forward,
    narrow,
    register_expression,
)

# ====================================================================== element


class Element(Expr):
    """``items[index]``: the item at position ``index`` (0-based); undefined where ``index`` is
    outside ``0 .. len(items) - 1``. Only the chosen item is evaluated.

    Build it with :func:`element`; ``.cint`` text writes it ``[a, b, c][i]``.
    """

    __slots__ = ("items", "index", "children", "integral", "consts")
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


register_expression(Element, _f_element, _b_element)


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


NUMPY_RULES: dict[type, Callable[..., Any]] = {Element: _np_element}


__all__ = ["Element", "element", "NUMPY_RULES"]
