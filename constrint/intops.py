"""Integer operations beyond the arithmetic of :mod:`constrint.expr`: bitwise operators, shifts,
powers with a variable exponent, and ``round``. All have Python's semantics on integers.

* ``a & b``, ``a | b``, ``a ^ b``, ``~a`` (two's complement, unbounded as in Python),
* ``a << b``, ``a >> b`` (undefined where the shift count ``b`` is negative: Python raises),
* ``a ** b`` with an expression as exponent (a float where ``b < 0``, as in Python; undefined
  for ``0 ** negative``),
* ``round(a)`` of a float-valued expression (round half to even, as Python's ``round``).

In the ``.cint`` language these are ``bitand(a, b)``, ``bitor(a, b)``, ``bitxor(a, b)``,
``bitnot(a)``, ``a << b``, ``a >> b``, ``a ^ b`` and ``round(a)`` (``&``, ``|`` and ``^`` keep
their meanings "and", "or" and "power" from the original format there).

>>> import constrint as ci
>>> m = ci.Model(); x = m.int_var("x", 1, 64)
>>> m += x & (x - 1) == 0                     # x is a power of two
>>> sorted(s["x"] for s in m.solutions())
[1, 2, 4, 8, 16, 32, 64]
"""
from __future__ import annotations

import operator
from collections.abc import Callable
from typing import Any

from .domain import Domain
from .expr import (
    _P_ATOM,
    _P_CMP,
    _P_POW,
    _P_UNARY,
    Compare,
    Const,
    Constraint,
    Expr,
    Pow,
    Undefined,
    Var,
    _paren,
    any_of,
    register_kinds,
)
from .propagators import (
    Store,
    _b_pow,
    _pairs,
    _support,
    forward,
    narrow,
)
from .transform import rebuild

# ====================================================================== nodes


class _BitBinary(Expr):
    __slots__ = ("a", "b", "children")
    name = "?"
    fn: Callable[[int, int], int] = operator.and_

    def __init__(self, a: Expr, b: Expr):
        if not (a.integral and b.integral):
            raise TypeError(f"{self.name}() needs integer operands, not float-valued ones")
        self.a = a
        self.b = b
        self.children = (a, b)

    @property
    def boolean(self) -> bool:
        from .booleans import is_boolean

        return is_boolean(self.a) and is_boolean(self.b)

    def ev(self, a):
        return type(self).fn(self.a.ev(a), self.b.ev(a))

    def forward(self, store, memo):
        return _f_bitbinary(self, store, memo)

    def backward(self, new, store, memo):
        _b_bitbinary(self, new, store, memo)

    def numpy(self, env):
        return _np_bitbinary(self, env)

    def fmt(self):
        return f"{self.name}({self.a.fmt()}, {self.b.fmt()})"

    def cint_text(self, expr_text, constraint_text) -> tuple[str, int]:
        return f"{self.name}({expr_text(self.a)[0]}, {expr_text(self.b)[0]})", _P_ATOM


class BitAnd(_BitBinary):
    """``a & b`` on integers (``bitand(a, b)`` in ``.cint`` text)."""

    __slots__ = ()
    name = "bitand"
    fn = operator.and_


class BitOr(_BitBinary):
    """``a | b`` on integers (``bitor(a, b)`` in ``.cint`` text)."""

    __slots__ = ()
    name = "bitor"
    fn = operator.or_


class BitXor(_BitBinary):
    """``a ^ b`` on integers (``bitxor(a, b)`` in ``.cint`` text)."""

    __slots__ = ()
    name = "bitxor"
    fn = operator.xor


class BitNot(Expr):
    """``~a`` on integers, i.e. ``-a - 1`` (``bitnot(a)`` in ``.cint`` text)."""

    __slots__ = ("a", "children")

    def __init__(self, a: Expr):
        if not a.integral:
            raise TypeError("bitnot() needs an integer operand, not a float-valued one")
        self.a = a
        self.children = (a,)

    def ev(self, a):
        return ~self.a.ev(a)

    def forward(self, store, memo):
        return _f_bitnot(self, store, memo)

    def backward(self, new, store, memo):
        _b_bitnot(self, new, store, memo)

    def numpy(self, env):
        return _np_bitnot(self, env)

    def fmt(self):
        return f"bitnot({self.a.fmt()})"

    def cint_text(self, expr_text, constraint_text) -> tuple[str, int]:
        return f"bitnot({expr_text(self.a)[0]})", _P_ATOM


class _Shift(Expr):
    __slots__ = ("a", "b", "children")
    sym = "?"

    def __init__(self, a: Expr, b: Expr):
        if not (a.integral and b.integral):
            raise TypeError(f"'{self.sym}' needs integer operands, not float-valued ones")
        self.a = a
        self.b = b
        self.children = (a, b)

    def definedness(self) -> list[Constraint]:
        """A shift is defined where its count is not negative."""
        return [Compare(">=", self.b, Const(0))]

    def ev(self, a):
        s = self.b.ev(a)
        if s < 0:
            raise Undefined("negative shift count")
        return self.op(self.a.ev(a), s)

    def forward(self, store, memo):
        return _f_shift(self, store, memo)

    def backward(self, new, store, memo):
        _b_shift(self, new, store, memo)

    def numpy(self, env):
        return _np_shift(self, env)

    _prec = _P_CMP  # printed in parentheses inside any arithmetic or comparison

    def fmt(self):
        return f"{_paren(self.a, _P_CMP + 1)} {self.sym} {_paren(self.b, _P_CMP + 1)}"

    def cint_text(self, expr_text, constraint_text) -> tuple[str, int]:
        from .language.printer import _operand

        return f"{_operand(self.a, _P_CMP + 1)} {self.sym} {_operand(self.b, _P_CMP + 1)}", _P_CMP


class LShift(_Shift):
    """``a << b``: ``a * 2**b``; undefined where ``b < 0``."""

    __slots__ = ()
    sym = "<<"
    op = staticmethod(operator.lshift)


class RShift(_Shift):
    """``a >> b``: ``a // 2**b``; undefined where ``b < 0``."""

    __slots__ = ()
    sym = ">>"
    op = staticmethod(operator.rshift)


class Power(Expr):
    """``a ** b`` with an expression as exponent, with Python's semantics.

    Where ``b < 0`` the value is a float (``2 ** -1 == 0.5``) and ``0 ** negative`` is
    undefined. ``nonnegative`` says that the exponent never takes a negative value (then the
    node is integer-valued); :func:`power` works it out from the declared domains.
    """

    __slots__ = ("a", "b", "children", "integral", "needs_python", "nonnegative")
    _prec = _P_POW

    def __init__(self, a: Expr, b: Expr, nonnegative: bool):
        if not b.integral:
            raise TypeError("the exponent of '**' must be integer-valued")
        self.a = a
        self.b = b
        self.children = (a, b)
        self.nonnegative = bool(nonnegative)
        self.integral = a.integral and self.nonnegative
        # float results (negative exponents) are computed by Python itself on every path
        self.needs_python = not self.nonnegative

    def definedness(self) -> list[Constraint]:
        """Defined except for ``0 ** negative``."""
        if self.nonnegative:
            return []
        return [any_of(Compare(">=", self.b, Const(0)), Compare("!=", self.a, Const(0)))]

    def ev(self, a):
        base = self.a.ev(a)
        e = self.b.ev(a)
        try:
            return base**e
        except (ZeroDivisionError, OverflowError):
            raise Undefined("0 raised to a negative power, or a float power too large") from None

    def forward(self, store, memo):
        return _f_power(self, store, memo)

    def backward(self, new, store, memo):
        _b_power(self, new, store, memo)

    def numpy(self, env):
        return _np_power(self, env)

    def fmt(self):
        return f"{_paren(self.a, _P_POW + 1)}^{_paren(self.b, _P_UNARY)}"

    def rebind(self, var_map: Callable[[Var], Expr]) -> Power:
        return Power(rebuild(self.a, var_map), rebuild(self.b, var_map), self.nonnegative)

    def cint_text(self, expr_text, constraint_text) -> tuple[str, int]:
        from .language.printer import _wrap

        sa, pa = expr_text(self.a)
        sb, pb = expr_text(self.b)
        return f"{_wrap(sa, pa, _P_ATOM)}^{_wrap(sb, pb, _P_UNARY)}", _P_POW


class Round(Expr):
    """``round(a)``: the nearest integer to a float-valued ``a``, ties to even (Python's ``round``)."""

    __slots__ = ("a", "children")

    def __init__(self, a: Expr):
        self.a = a
        self.children = (a,)

    def ev(self, a):
        try:
            return round(self.a.ev(a))
        except (OverflowError, ValueError):
            raise Undefined("round() of an infinite or NaN float") from None

    def numpy(self, env):
        return _np_round(self, env)

    def fmt(self):
        return f"round({self.a.fmt()})"

    def cint_text(self, expr_text, constraint_text) -> tuple[str, int]:
        return f"round({expr_text(self.a)[0]})", _P_ATOM


# ====================================================================== builders


def power(a: Any, b: Any) -> Expr:
    """``a ** b`` for an expression ``b`` (a constant exponent gives the plain power node).

    The node is integer-valued when the declared domains keep ``b`` non-negative:

    >>> import constrint as ci
    >>> m = ci.Model(); k = m.int_var("k", 0, 10)
    >>> m += power(2, k) >= 100
    >>> sorted(s["k"] for s in m.solutions())
    [7, 8, 9, 10]
    """
    from .expr import _coerce

    a, b = _coerce(a), _coerce(b)
    if isinstance(b, Const):
        if b.value >= 0:
            return Pow(a, b.value)
        return Power(a, b, False)
    return Power(a, b, nonnegative_over_declared_domains(b))


def nonnegative_over_declared_domains(e: Expr) -> bool:
    """Whether ``e`` never takes a negative value where its variables range over their declared
    domains (propagation bounds; ``False`` when unsure)."""
    vs = list(e.variables().values())
    if not vs:
        try:
            return e.evaluate({}) >= 0
        except Undefined:
            return False
    model = vs[0].model
    store = Store(list(model._domains))
    d, _ = forward(e, store, {})
    return d is not None and d.lo >= 0


# ====================================================================== propagation


def _bits(*ds: Domain) -> int:
    return max(max(abs(d.lo), abs(d.hi)).bit_length() for d in ds)


def _f_bitbinary(n: _BitBinary, store, memo):
    (A, ua), (B, ub) = forward(n.a, store, memo), forward(n.b, store, memo)
    if A is None or B is None:
        return None, True
    u = ua or ub
    d = _pairs(type(n).fn, A, B)
    if d is not False:
        return d, u
    k = _bits(A, B)
    full_lo, full_hi = -(1 << k), (1 << k) - 1
    a_nonneg, b_nonneg = A.lo >= 0, B.lo >= 0
    t = type(n)
    if t is BitAnd:
        # clearing bits never raises a value whose sign bit stays: a & b <= max(a, b)
        if a_nonneg or b_nonneg:
            hi = min(h for h, ok in ((A.hi, a_nonneg), (B.hi, b_nonneg)) if ok)
            return Domain.interval(0, hi), u
        return Domain.interval(full_lo, max(A.hi, B.hi)), u
    if t is BitOr:
        # setting bits never lowers a value: a | b >= min(a, b), and >= max(a, b) if both >= 0
        lo = max(A.lo, B.lo) if a_nonneg and b_nonneg else min(A.lo, B.lo)
        hi = -1 if (A.hi < 0 or B.hi < 0) else full_hi
        return Domain.interval(lo, hi), u
    # xor: negative exactly where one operand is
    if (a_nonneg and b_nonneg) or (A.hi < 0 and B.hi < 0):
        return Domain.interval(0, full_hi), u
    if (a_nonneg and B.hi < 0) or (b_nonneg and A.hi < 0):
        return Domain.interval(full_lo, -1), u
    return Domain.interval(full_lo, full_hi), u


def _b_bitbinary(n: _BitBinary, new: Domain, store, memo):
    _support(n, type(n).fn, new, store, memo)


def _not_dom(A: Domain) -> Domain:
    if A.values is not None:
        return Domain.from_values(~v for v in A.values)  # type: ignore[return-value]
    return Domain.interval(-A.hi - 1, -A.lo - 1)  # type: ignore[return-value]


def _f_bitnot(n: BitNot, store, memo):
    A, u = forward(n.a, store, memo)
    return (None, u) if A is None else (_not_dom(A), u)


def _b_bitnot(n: BitNot, new: Domain, store, memo):
    narrow(n.a, _not_dom(new), store, memo)


def _shift_fn(n: _Shift):
    op = n.op

    def fn(a: int, s: int) -> int:
        if s < 0:
            raise Undefined("negative shift count")
        return op(a, s)

    return fn


def _f_shift(n: _Shift, store, memo):
    (A, ua), (B, ub) = forward(n.a, store, memo), forward(n.b, store, memo)
    if A is None or B is None:
        return None, True
    u = ua or ub or B.lo < 0
    d = _pairs(_shift_fn(n), A, B)
    if d is not False:
        return d, u
    Bn = B.clip(0, None)
    if Bn is None:
        return None, True
    # a << s and a >> s are monotone in a; in s they move away from (<<) or towards (>>) 0
    op = n.op
    corners = [op(a, s) for a in (A.lo, A.hi) for s in (Bn.lo, Bn.hi)]
    f = 1
    if type(n) is LShift and Bn.is_fixed:
        f = A.factor << Bn.lo
    return Domain.interval(min(corners), max(corners), f), u


def _b_shift(n: _Shift, new: Domain, store, memo):
    narrow(n.b, forward(n.b, store, memo)[0].clip(0, None), store, memo)
    if _support(n, _shift_fn(n), new, store, memo):
        return
    B, _ = forward(n.b, store, memo)
    if not B.is_fixed:
        return
    s = B.lo
    A, _ = forward(n.a, store, memo)
    if type(n) is LShift:  # z = a * 2**s
        narrow(n.a, A.clip(-((-new.lo) >> s), new.hi >> s), store, memo)
    else:  # z = floor(a / 2**s): z * 2**s <= a < (z + 1) * 2**s
        narrow(n.a, A.clip(new.lo << s, ((new.hi + 1) << s) - 1), store, memo)


def _pow_fn(a: int, b: int) -> int:
    if b < 0:
        raise Undefined("negative exponent")
    return a**b


def _f_power(n: Power, store, memo):
    # only integer-valued powers reach propagation (the exponent is never negative)
    (A, ua), (B, ub) = forward(n.a, store, memo), forward(n.b, store, memo)
    if A is None or B is None:
        return None, True
    u = ua or ub
    d = _pairs(_pow_fn, A, B)
    if d is not False:
        return d, u
    Bn = B.clip(0, None)
    if Bn is None:
        return None, True
    # for a fixed exponent a**b is extremal at an end of A or at 0 (even b); for a fixed base
    # it is monotone over the even and over the odd exponents, and constant for |a| <= 1
    bases = {A.lo, A.hi} | {v for v in (-1, 0, 1) if A.lo <= v <= A.hi}
    exps = {e for e in (Bn.lo, Bn.lo + 1, Bn.hi - 1, Bn.hi) if Bn.lo <= e <= Bn.hi}
    vals = [a**e for a in bases for e in exps]
    return Domain.interval(min(vals), max(vals)), u


def _b_power(n: Power, new: Domain, store, memo):
    if _support(n, _pow_fn, new, store, memo):
        return
    B, _ = forward(n.b, store, memo)
    if B.is_fixed and B.lo >= 0:
        _b_pow(Pow(n.a, B.lo), new, store, memo)




# ====================================================================== numpy evaluation


def _np_bitbinary(n: _BitBinary, env):
    from .vectorized import _ev

    return type(n).fn(_ev(n.a, env), _ev(n.b, env))


def _np_bitnot(n: BitNot, env):
    from .vectorized import _ev

    return ~_ev(n.a, env)


def _np_shift(n: _Shift, env):
    import numpy as np

    from .vectorized import _ev

    a = _ev(n.a, env)
    s = _ev(n.b, env)
    neg = np.asarray(s < 0)
    if neg.any():
        env.bad.append(neg)
        s = np.where(neg, 0, s)
        if env.dtype is object:
            s = np.asarray(s).astype(object)
    if env.dtype is not object:
        # int64 shifts by 64 or more are undefined in C; the chosen dtype keeps every result of
        # '<<' in range (so a count >= 63 meets a == 0 only), and a >> 63 is Python's a >> s
        s = np.minimum(s, 63)
    return n.op(a, s)


def _np_power(n: Power, env):
    import numpy as np

    from .vectorized import _ev, _objmap_partial

    a = _ev(n.a, env)
    b = _ev(n.b, env)
    if env.dtype is object or not n.nonnegative:
        return _objmap_partial(operator.pow, a, b, env)
    return np.power(a, b)


def _np_round(n: Round, env):
    import numpy as np

    from .vectorized import _ev, float_to_int

    # numpy's rint rounds half to even, as Python's round() of a float does
    return float_to_int(_ev(n.a, env), env, round, np.rint)



register_kinds(power=power, Power=Power, BitAnd=BitAnd, BitOr=BitOr, BitXor=BitXor, BitNot=BitNot,
               LShift=LShift, RShift=RShift, Round=Round)

__all__ = [
    "BitAnd", "BitOr", "BitXor", "BitNot", "LShift", "RShift", "Power", "Round", "power",
    "nonnegative_over_declared_domains",
]
