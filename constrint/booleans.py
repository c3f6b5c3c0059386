"""Booleans as integers: constraints used as 0/1 numbers, conditional expressions, boolean variables.

One mechanism serves the Python API, the ``.cint`` language and the T1 reader:

* :class:`Reify` is the 0/1 value of a constraint (``(x > 1) + (y > 1) <= 1``,
  ``(x > 0) == (z > 0)``). A constraint used where a number is expected becomes one.
* :class:`IfThenElse` is Python's ``a if c else b``: only the branch taken is evaluated, so a
  division by zero in the other branch does not matter.
* :meth:`constrint.Model.bool_var` makes a variable with the values 0 and 1 that can also stand
  where a constraint is expected (``m += b``, ``b | (x > 3)``; ``~b`` is ``b == 0``).

An expression whose values are always 0 or 1 (:func:`is_boolean`) can be added to a model as a
constraint (it must then be 1). Undefinedness propagates: where the constraint inside a
:class:`Reify` is undefined (a division by zero), the number is undefined too, and so is the
constraint that contains it, as everywhere in constrint.

>>> import constrint as ci
>>> m = ci.Model(); x = m.int_var("x", 0, 3); y = m.int_var("y", 0, 3)
>>> m += (x > 1) + (y > 1) <= 1
>>> m.count()
12
"""
from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from .domain import Domain
from .expr import (
    _P_ATOM,
    Compare,
    Const,
    Constraint,
    Expr,
    Var,
    _coerce,
    _coerce_c,
    _paren,
    all_of,
    any_of,
    register_kinds,
)
from .propagators import (
    ENTAILED,
    FAILED,
    _Fail,
    forward,
    narrow,
    revise,
    truth,
)
from .transform import definedness, rebuild

#: Printing precedence of a conditional expression: below every operator, as in Python.
P_IF = -1

_ZERO_ONE = Domain.from_values([0, 1])
_ONE = Domain.const(1)
_ZERO = Domain.const(0)


def may_be_undefined(node: Any) -> bool:
    """Whether some assignment can make ``node`` undefined (it holds a partial operation)."""
    return bool(definedness(node))


def is_boolean(e: Any) -> bool:
    """Whether the integer expression ``e`` only takes the values 0 and 1.

    True for reified constraints, boolean variables, variables declared with the values 0 and
    1 only, the constants 0 and 1, and bitwise/conditional combinations of those.

    >>> import constrint as ci
    >>> m = ci.Model(); b = m.bool_var("b"); x = m.int_var("x", 0, 5)
    >>> is_boolean(b), is_boolean(x > 2), is_boolean(x), is_boolean(b & (x > 1))
    (True, True, False, True)
    """
    if isinstance(e, Constraint):
        return True
    if isinstance(e, Const):
        return e.value in (0, 1)
    if isinstance(e, Var):
        if getattr(e, "boolean", False):
            return True
        dom = e.model.domain(e)
        return dom.lo >= 0 and dom.hi <= 1
    return bool(getattr(e, "boolean", False))


def as_constraint(e: Any) -> Constraint:
    """A constraint from a constraint, a Python bool, or a boolean expression (``e`` must be 1).

    >>> import constrint as ci
    >>> m = ci.Model(); b = m.bool_var("b")
    >>> str(as_constraint(b))
    'b != 0'
    """
    if isinstance(e, (Constraint, bool)):
        return _coerce_c(e)
    if isinstance(e, Expr):
        if is_boolean(e):
            if isinstance(e, Reify):
                return e.c
            return Compare("!=", e, Const(0))
        raise TypeError(
            f"the integer expression {e} is not a constraint; compare it (e.g. {e} > 0)"
        )
    raise TypeError(f"expected a constraint, got {type(e).__name__} {e!r}")


class Reify(Expr):
    """The value 1 where constraint ``c`` holds and 0 where it does not (undefined where it is).

    >>> import constrint as ci
    >>> m = ci.Model(); x = m.int_var("x", 0, 9)
    >>> r = Reify(x > 4)
    >>> str(r + 1), (r + 1).evaluate({"x": 7})
    ('(x > 4) + 1', 2)
    """

    __slots__ = ("c", "children", "partial")
    _prec = _P_ATOM
    boolean = True

    def __init__(self, c: Constraint):
        self.c = c
        self.children = (c,)
        self.partial = may_be_undefined(c)

    def ev(self, a):
        return 1 if self.c.ev(a) else 0

    def forward(self, store, memo):
        return _f_reify(self, store, memo)

    def backward(self, new, store, memo):
        _b_reify(self, new, store, memo)

    def numpy(self, env):
        return _np_reify(self, env)

    def fmt(self):
        return f"({self.c.fmt()})"

    def rebind(self, var_map: Callable[[Var], Expr]) -> Reify:
        return Reify(rebuild(self.c, var_map))

    def cint_text(self, expr_text, constraint_text) -> tuple[str, int]:
        return f"({constraint_text(self.c)[0]})", _P_ATOM


class IfThenElse(Expr):
    """``a if c else b``: ``a`` where constraint ``c`` holds, else ``b`` (Python's semantics).

    Only the branch taken is evaluated:

    >>> import constrint as ci
    >>> m = ci.Model(); x = m.int_var("x", 0, 4)
    >>> e = if_then_else(x > 0, 12 // x, -1)
    >>> str(e), e.evaluate({"x": 0}), e.evaluate({"x": 3})
    ('12 // x if x > 0 else (-1)', -1, 4)
    """

    __slots__ = ("a", "b", "c", "children", "integral", "partial")
    _prec = P_IF

    def __init__(self, c: Constraint, a: Expr, b: Expr):
        self.c = c
        self.a = a
        self.b = b
        self.children = (c, a, b)
        self.integral = a.integral and b.integral
        self.partial = may_be_undefined(c)

    @property
    def boolean(self) -> bool:
        return is_boolean(self.a) and is_boolean(self.b)

    def ev(self, a):
        return self.a.ev(a) if self.c.ev(a) else self.b.ev(a)

    def forward(self, store, memo):
        return _f_ite(self, store, memo)

    def backward(self, new, store, memo):
        _b_ite(self, new, store, memo)

    def numpy(self, env):
        return _np_ite(self, env)

    def fmt(self):
        return (
            f"{_paren(self.a, P_IF + 1)} if {_paren(self.c, 0)} else {_paren(self.b, P_IF)}"
        )

    def conditional_definedness(self, definedness) -> list[Constraint]:
        """The condition is always evaluated; each branch only where it is taken."""
        out = list(definedness(self.c))
        da, db = definedness(self.a), definedness(self.b)
        if da:
            out.append(any_of(self.c.negate(), all_of(da)))
        if db:
            out.append(any_of(self.c, all_of(db)))
        return out

    def rebind(self, var_map: Callable[[Var], Expr]) -> IfThenElse:
        return IfThenElse(
            rebuild(self.c, var_map), rebuild(self.a, var_map), rebuild(self.b, var_map)
        )

    def cint_text(self, expr_text, constraint_text) -> tuple[str, int]:
        from .language.printer import _wrap

        a, pa = expr_text(self.a)
        c, pc = constraint_text(self.c)
        b, pb = expr_text(self.b)
        return f"{_wrap(a, pa, P_IF + 1)} if {_wrap(c, pc, 0)} else {_wrap(b, pb, P_IF)}", P_IF


# ====================================================================== builders


def if_then_else(c: Constraint | bool, a: Any, b: Any) -> Expr:
    """``a if c else b`` as an integer expression (only the branch taken is evaluated).

    >>> import constrint as ci
    >>> m = ci.Model(); x = m.int_var("x", -3, 3)
    >>> m += if_then_else(x < 0, -x, x) == 2          # abs(x) == 2
    >>> sorted(s["x"] for s in m.solutions())
    [-2, 2]
    """
    return IfThenElse(as_constraint(c), _coerce(a), _coerce(b))


def equivalent(a: Any, b: Any) -> Constraint:
    """``a`` holds exactly where ``b`` holds (constraints or boolean expressions).

    >>> import constrint as ci
    >>> m = ci.Model(); x = m.int_var("x", 0, 3); y = m.int_var("y", 0, 3)
    >>> m += equivalent(x > 1, y > 1); m.count()
    8
    """
    return Compare("==", reify(a), reify(b))


def xor(*items: Any) -> Constraint:
    """An odd number of the given constraints (or boolean expressions) holds.

    >>> import constrint as ci
    >>> m = ci.Model(); bs = [m.bool_var(f"b{i}") for i in range(3)]
    >>> m += xor(*bs); m.count()
    4
    """
    parts = _flat(items)
    if not parts:
        raise TypeError("xor needs at least one constraint")
    if len(parts) == 2:
        return Compare("!=", reify(parts[0]), reify(parts[1]))
    total: Expr = reify(parts[0])
    for p in parts[1:]:
        total = total + reify(p)
    return Compare("==", total % 2, Const(1))


def reify(c: Any) -> Expr:
    """The 0/1 value of a constraint (a boolean expression is returned unchanged).

    >>> import constrint as ci
    >>> m = ci.Model(); x = m.int_var("x", 0, 9)
    >>> str(reify(x > 3) * 5)
    '(x > 3) * 5'
    """
    if isinstance(c, Expr):
        if not is_boolean(c):
            raise TypeError(f"{c} is an integer expression, not a constraint or a boolean")
        return c
    return Reify(_coerce_c(c))


def _flat(items: Iterable[Any]) -> list[Any]:
    out: list[Any] = []
    for it in items:
        if isinstance(it, (Constraint, Expr, bool)):
            out.append(it)
        else:
            out.extend(it)
    return out


# ====================================================================== propagation


def _f_reify(n: Reify, store, memo):
    t = truth(n.c, store)
    if t == ENTAILED:
        return _ONE, n.partial
    if t == FAILED:
        return _ZERO, n.partial
    return _ZERO_ONE, n.partial


def _b_reify(n: Reify, new: Domain, store, memo):
    # new is a non-empty subset of {0, 1} (narrow intersected it with the forward domain)
    if new.is_fixed:
        c = n.c if new.lo == 1 else n.c.negate()
        if revise(c, store) == FAILED:
            raise _Fail


def _f_ite(n: IfThenElse, store, memo):
    t = truth(n.c, store)
    if t == ENTAILED:
        A, u = forward(n.a, store, memo)
        return A, u or n.partial
    if t == FAILED:
        B, u = forward(n.b, store, memo)
        return B, u or n.partial
    (A, ua), (B, ub) = forward(n.a, store, memo), forward(n.b, store, memo)
    u = ua or ub or n.partial
    if A is None:
        return B, True
    if B is None:
        return A, True
    return A.union(B), u


def _b_ite(n: IfThenElse, new: Domain, store, memo):
    t = truth(n.c, store)
    if t == ENTAILED:
        narrow(n.a, new, store, memo)
        return
    if t == FAILED:
        # where the condition is undefined the whole constraint is false anyway
        narrow(n.b, new, store, memo)
        return
    A, _ = forward(n.a, store, memo)
    B, _ = forward(n.b, store, memo)
    a_possible = A is not None and A.intersect(new) is not None
    b_possible = B is not None and B.intersect(new) is not None
    if not a_possible and not b_possible:
        raise _Fail
    if not a_possible:
        if revise(n.c.negate(), store) == FAILED:
            raise _Fail
        narrow(n.b, new, store, memo)
    elif not b_possible:
        if revise(n.c, store) == FAILED:
            raise _Fail
        narrow(n.a, new, store, memo)




# ====================================================================== numpy evaluation


def _np_reify(n: Reify, env):
    import numpy as np

    from .vectorized import _ev

    m = np.asarray(_ev(n.c, env), dtype=bool).astype(np.int64)
    return m.astype(object) if env.dtype is object else m


def _np_ite(n: IfThenElse, env):
    import numpy as np

    from .vectorized import _Env, _ev

    c = np.asarray(_ev(n.c, env), dtype=bool)
    ea, eb = _Env(env.cols, env.dtype), _Env(env.cols, env.dtype)
    a = _ev(n.a, ea)
    b = _ev(n.b, eb)
    for bad in ea.bad:
        env.bad.append(np.logical_and(c, bad))
    for bad in eb.bad:
        env.bad.append(np.logical_and(~c, bad))
    out = np.where(c, a, b)
    if env.dtype is object and out.dtype != object:
        out = out.astype(object)
    return out


register_kinds(Reify=Reify, xor=xor, as_constraint=as_constraint, is_boolean=is_boolean)

__all__ = [
    "Reify", "IfThenElse", "is_boolean", "as_constraint", "if_then_else",
    "equivalent", "xor", "reify", "may_be_undefined",
]
