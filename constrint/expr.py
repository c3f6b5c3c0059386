"""Expression and constraint trees, built by operator overloading.

Integer expressions (:class:`Expr`) combine variables and ints with ``+ - * // % **``, unary ``-``
and ``abs``; comparisons give constraints (:class:`Constraint`), which combine with ``&``, ``|``,
``~``. Trees are immutable and every node evaluates itself on an assignment (a mapping from
variable name to int).

Semantics are Python's integer semantics: ``//`` and ``%`` floor towards minus infinity. An
assignment under which a ``//``, ``%`` or exact division (:func:`exact_div`) has divisor 0, or an
exact division does not divide, makes every constraint that contains that node false (also under
``~`` and ``|``). ``x / y`` is refused in Python code; use :func:`exact_div` or :func:`true_div`.
"""
from __future__ import annotations

import operator
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from .errors import ModelError


class Undefined(ArithmeticError):
    """Evaluation hit a division by zero or an inexact exact division.

    :meth:`Expr.evaluate` raises it; :meth:`Constraint.holds` turns it into ``False``.

    >>> import constrint as ci
    >>> m = ci.Model(); x = m.int_var("x", 1, 9)
    >>> try:
    ...     ci.exact_div(x, 2).evaluate({"x": 7})
    ... except ci.Undefined as exc:
    ...     print("undefined:", exc)
    undefined: exact division that does not divide
    >>> (ci.exact_div(x, 2) == 3).holds({"x": 7})
    False
    """


#: Constructors of the node kinds defined by the modules above this one (``constrint.intops``:
#: powers with a variable exponent, bitwise operators, shifts, ``round``; ``constrint.booleans``:
#: constraints used as numbers, ``xor``), registered by those modules when ``constrint`` is
#: imported (:func:`register_kinds`), so that the operators below build them without importing
#: upwards.
_KINDS: dict[str, Callable[..., Any]] = {}


def register_kinds(**makers: Callable[..., Any]) -> None:
    """Make node constructors known to the operators of :class:`Expr` and :class:`Constraint`
    (called by the modules that define those node kinds)."""
    _KINDS.update(makers)


def _kind(name: str) -> Callable[..., Any]:
    return _KINDS[name]


# Precedence levels used when printing (higher binds tighter).
_P_OR, _P_AND, _P_NOT, _P_CMP, _P_ADD, _P_MUL, _P_UNARY, _P_POW, _P_ATOM = range(9)


def _coerce(v: Any) -> Expr:
    if isinstance(v, Expr):
        return v
    if isinstance(v, Constraint):
        return _kind("Reify")(v)  # a constraint used as a number is its 0/1 value
    if isinstance(v, bool):
        return Const(int(v))
    if isinstance(v, int):
        return Const(v)
    if hasattr(v, "__index__") and not isinstance(v, float):
        return Const(operator.index(v))
    raise TypeError(
        f"constrint expressions hold integers only; got {type(v).__name__} {v!r}"
    )


class Expr:
    """Base class of integer-valued expression nodes.

    Built from variables and ints with ``+ - * // % **``, unary ``-`` and ``abs()``;
    comparisons (``== != < <= > >=``) give a :class:`Constraint`. ``str()`` prints ``.cint``
    syntax.

    >>> import constrint as ci
    >>> m = ci.Model(); x = m.int_var("x", 1, 20); y = m.int_var("y", 1, 20)
    >>> e = (x + 2 * y) // 3
    >>> str(e), e.evaluate({"x": 4, "y": 5})
    ('(x + 2 * y) // 3', 4)
    >>> str(e >= 2)
    '(x + 2 * y) // 3 >= 2'
    """

    __slots__ = ()
    #: Whether every value of the node is an integer (false below a true division).
    integral: bool = True
    children: tuple[Expr, ...] = ()
    _prec = _P_ATOM

    # ---- arithmetic
    def __add__(self, o):
        return add(self, _coerce(o))

    def __radd__(self, o):
        return add(_coerce(o), self)

    def __sub__(self, o):
        return sub(self, _coerce(o))

    def __rsub__(self, o):
        return sub(_coerce(o), self)

    def __mul__(self, o):
        return mul(self, _coerce(o))

    def __rmul__(self, o):
        return mul(_coerce(o), self)

    def __floordiv__(self, o):
        return FloorDiv(self, _coerce(o))

    def __rfloordiv__(self, o):
        return FloorDiv(_coerce(o), self)

    def __mod__(self, o):
        return Mod(self, _coerce(o))

    def __rmod__(self, o):
        return Mod(_coerce(o), self)

    def __pow__(self, p):
        if isinstance(p, Const):
            p = p.value
        if isinstance(p, (Expr, Constraint)):
            return _kind("power")(self, p)
        if isinstance(p, bool) or not isinstance(p, int):
            raise TypeError(f"the exponent of ** must be an int or an integer expression, got {p!r}")
        if p < 0:
            return _kind("Power")(self, Const(p), False)
        return Pow(self, p)

    def __rpow__(self, b):
        return _kind("power")(b, self)

    # ---- bitwise operators (Python's, on integers)
    def __and__(self, o):
        return _kind("BitAnd")(self, _coerce(o))

    def __rand__(self, o):
        return _kind("BitAnd")(_coerce(o), self)

    def __or__(self, o):
        return _kind("BitOr")(self, _coerce(o))

    def __ror__(self, o):
        return _kind("BitOr")(_coerce(o), self)

    def __xor__(self, o):
        return _kind("BitXor")(self, _coerce(o))

    def __rxor__(self, o):
        return _kind("BitXor")(_coerce(o), self)

    def __invert__(self):
        return _kind("BitNot")(self)

    def __lshift__(self, o):
        return _kind("LShift")(self, _coerce(o))

    def __rlshift__(self, o):
        return _kind("LShift")(_coerce(o), self)

    def __rshift__(self, o):
        return _kind("RShift")(self, _coerce(o))

    def __rrshift__(self, o):
        return _kind("RShift")(_coerce(o), self)

    def __round__(self, ndigits=None):
        if ndigits is not None:
            raise TypeError("round() of an expression takes no ndigits")
        if self.integral:
            return self
        return _kind("Round")(self)

    def __truediv__(self, o):
        raise TypeError(
            "'/' is ambiguous for integer variables: use '//' (floor division), "
            "constrint.exact_div(a, b) (holds only where b divides a) or constrint.true_div(a, b)"
        )

    __rtruediv__ = __truediv__

    def __neg__(self):
        return Neg(self)

    def __pos__(self):
        return self

    def __abs__(self):
        return Abs(self)

    # ---- comparisons
    def __eq__(self, o):  # type: ignore[override]
        return Compare("==", self, _coerce(o))

    def __ne__(self, o):  # type: ignore[override]
        return Compare("!=", self, _coerce(o))

    def __lt__(self, o):
        return Compare("<", self, _coerce(o))

    def __le__(self, o):
        return Compare("<=", self, _coerce(o))

    def __gt__(self, o):
        return Compare(">", self, _coerce(o))

    def __ge__(self, o):
        return Compare(">=", self, _coerce(o))

    __hash__ = object.__hash__

    def __bool__(self):
        raise TypeError(
            "an expression has no truth value; compare it to build a constraint (e.g. x > 0)"
        )

    # ---- evaluation and structure
    def evaluate(self, assignment: Mapping[str, int]) -> int | float:
        """Value under ``assignment`` (name -> int); raises :class:`Undefined` on division by 0.

        >>> import constrint as ci
        >>> m = ci.Model(); x = m.int_var("x", -9, 9)
        >>> (x ** 2 - 3 * x).evaluate({"x": -2}), (x % 4).evaluate({"x": -7})
        (10, 1)
        """
        return self.ev(assignment)

    def ev(self, a: Mapping[str, int]) -> Any:  # pragma: no cover - abstract
        raise NotImplementedError

    def variables(self) -> dict[str, Var]:
        """The variables in the expression, by name, in order of first appearance.

        >>> import constrint as ci
        >>> m = ci.Model(); a = m.int_var("a", 1, 9); b = m.int_var("b", 1, 9)
        >>> list((b * a + b).variables())
        ['b', 'a']
        """
        out: dict[str, Var] = {}
        _collect_vars(self, out)
        return out

    def __str__(self) -> str:
        return self.fmt()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.fmt()}>"

    def fmt(self) -> str:  # pragma: no cover - abstract
        raise NotImplementedError


def _collect_vars(node, out: dict[str, Var]) -> None:
    for n in walk(node):
        if isinstance(n, Var):
            out.setdefault(n.name, n)


def _paren(e: Expr, prec: int, arith: bool = True) -> str:
    s = e.fmt()
    # a '%' operand of another arithmetic operator is always bracketed: the original text
    # format read '%' with the lowest precedence, so the language refuses the bare form
    if e._prec < prec or (arith and type(e) is Mod and prec >= _P_ADD):
        return f"({s})"
    return s


class Const(Expr):
    """An integer constant."""

    __slots__ = ("value",)
    _prec = _P_ATOM

    def __init__(self, value: int):
        self.value = int(value)

    def ev(self, a):
        return self.value

    def fmt(self):
        return str(self.value) if self.value >= 0 else f"({self.value})"


class Var(Expr):
    """A decision variable; create it with :meth:`constrint.Model.int_var`.

    >>> import constrint as ci
    >>> m = ci.Model(); x = m.int_var("x", 1, 8)
    >>> x.name, x.index, x is m.var("x")
    ('x', 0, True)
    """

    __slots__ = ("index", "model", "name")

    def __init__(self, model: Any, index: int, name: str):
        self.model = model
        self.index = index
        self.name = name

    def ev(self, a):
        return a[self.name]

    def fmt(self):
        return self.name

    @property
    def boolean(self) -> bool:
        """Whether the variable was made by :meth:`constrint.Model.bool_var` (values 0 and 1,
        standing for a constraint: ``m += b`` requires 1, ``~b`` is ``b == 0``)."""
        return self.index in getattr(self.model, "_booleans", ())

    def __invert__(self):
        if self.boolean:
            return Compare("==", self, Const(0))  # not the bitwise complement
        return super().__invert__()


class _Binary(Expr):
    __slots__ = ("a", "b", "children", "integral")
    sym = "?"

    def __init__(self, a: Expr, b: Expr):
        self.a = a
        self.b = b
        self.children = (a, b)
        self.integral = a.integral and b.integral

    def fmt(self):
        # left-associative: the right operand needs parentheses at equal precedence
        return f"{_paren(self.a, self._prec)} {self.sym} {_paren(self.b, self._prec + 1)}"


class Sum(Expr):
    """``t0 + t1 - t2 ...``: a flat n-ary sum of two or more terms, added or subtracted left to
    right (``signs[i]`` is ``1`` or ``-1``; ``signs[0]`` is ``1``).

    ``a + b`` and ``a - b`` build one; adding to a sum extends it (``(a + b) + c`` is one node of
    three terms), so nothing recurses per term however long the sum. Terms are evaluated left
    to right exactly as the chain of binary operations would be (also with floats).

    >>> import constrint as ci
    >>> m = ci.Model(); x = m.int_var("x", 0, 9); y = m.int_var("y", 0, 9)
    >>> e = x + 2 * y - 3 + x
    >>> type(e).__name__, len(e.children), e.signs, str(e), e.evaluate({"x": 1, "y": 2})
    ('Sum', 4, (1, 1, -1, 1), 'x + 2 * y - 3 + x', 3)
    """

    __slots__ = ("children", "integral", "signs")
    _prec = _P_ADD

    def __init__(self, terms: Iterable[Expr], signs: Iterable[int] | None = None):
        self.children = tuple(terms)
        self.signs = (1,) * len(self.children) if signs is None else tuple(signs)
        if len(self.children) < 2 or len(self.signs) != len(self.children):
            raise ValueError("a Sum needs two or more terms and one sign per term")
        if self.signs[0] != 1 or any(s not in (1, -1) for s in self.signs):
            raise ValueError("the signs of a Sum are 1 or -1, the first one 1")
        self.integral = all(t.integral for t in self.children)

    @property
    def a(self) -> Expr:
        """The first term."""
        return self.children[0]

    @property
    def b(self) -> Expr:
        """The second term (of a sum of two)."""
        return self.children[1]

    def ev(self, a):
        kids = self.children
        total = kids[0].ev(a)
        for t, s in zip(kids[1:], self.signs[1:]):
            v = t.ev(a)
            total = total + v if s > 0 else total - v
        return total

    def fmt(self):
        kids = self.children
        parts = [_paren(kids[0], _P_ADD)]
        for t, s in zip(kids[1:], self.signs[1:]):
            parts.append(("+ " if s > 0 else "- ") + _paren(t, _P_ADD + 1))
        return " ".join(parts)


def add(a: Expr, b: Expr) -> Sum:
    """``a + b`` as a :class:`Sum` (extending ``a`` when it is one)."""
    if type(a) is Sum:
        return Sum(a.children + (b,), a.signs + (1,))
    return Sum((a, b), (1, 1))


def sub(a: Expr, b: Expr) -> Sum:
    """``a - b`` as a :class:`Sum` (extending ``a`` when it is one)."""
    if type(a) is Sum:
        return Sum(a.children + (b,), a.signs + (-1,))
    return Sum((a, b), (1, -1))


class Mul(_Binary):
    """``a * b``"""

    __slots__ = ()
    sym = "*"
    _prec = _P_MUL

    def ev(self, a):
        return self.a.ev(a) * self.b.ev(a)


class Product(Expr):
    """``f0 * f1 * f2 ...``: a flat product of three or more factors, multiplied left to right
    (two factors are a :class:`Mul`). Multiplying a product extends it, so nothing recurses per
    factor however long the product.

    >>> import constrint as ci
    >>> m = ci.Model(); x = m.int_var("x", 1, 9); y = m.int_var("y", 1, 9)
    >>> e = x * y * 2 * x
    >>> type(e).__name__, len(e.children), str(e), e.evaluate({"x": 3, "y": 2})
    ('Product', 4, 'x * y * 2 * x', 36)
    """

    __slots__ = ("children", "integral")
    _prec = _P_MUL

    def __init__(self, factors: Iterable[Expr]):
        self.children = tuple(factors)
        if len(self.children) < 3:
            raise ValueError("a Product needs three or more factors (two are a Mul)")
        self.integral = all(f.integral for f in self.children)

    def ev(self, a):
        kids = self.children
        total = kids[0].ev(a)
        for f in kids[1:]:
            total = total * f.ev(a)
        return total

    def fmt(self):
        kids = self.children
        return " * ".join([_paren(kids[0], _P_MUL)] + [_paren(f, _P_MUL + 1) for f in kids[1:]])


def mul(a: Expr, b: Expr) -> Expr:
    """``a * b``: a :class:`Mul`, or a :class:`Product` extending a product on the left."""
    if type(a) is Product:
        return Product(a.children + (b,))
    if type(a) is Mul:
        return Product((a.a, a.b, b))
    return Mul(a, b)


class FloorDiv(_Binary):
    """``a // b`` (floor); undefined when ``b == 0``."""

    __slots__ = ()
    sym = "//"
    _prec = _P_MUL

    def ev(self, a):
        d = self.b.ev(a)
        if d == 0:
            raise Undefined("floor division by zero")
        return self.a.ev(a) // d


class Mod(_Binary):
    """``a % b`` (sign of ``b``); undefined when ``b == 0``."""

    __slots__ = ()
    sym = "%"
    _prec = _P_MUL

    def ev(self, a):
        d = self.b.ev(a)
        if d == 0:
            raise Undefined("modulo by zero")
        return self.a.ev(a) % d


class ExactDiv(_Binary):
    """``a / b`` as exact integer division: defined only where ``b != 0`` divides ``a``."""

    __slots__ = ()
    sym = "/"
    _prec = _P_MUL

    def ev(self, a):
        d = self.b.ev(a)
        n = self.a.ev(a)
        if d == 0 or n % d:
            raise Undefined("exact division that does not divide")
        return n // d


class TrueDiv(_Binary):
    """``a / b`` with Python's true division (float valued); undefined when ``b == 0``."""

    __slots__ = ()
    sym = "/"
    _prec = _P_MUL

    def __init__(self, a: Expr, b: Expr):
        super().__init__(a, b)
        self.integral = False

    def ev(self, a):
        d = self.b.ev(a)
        if d == 0:
            raise Undefined("true division by zero")
        return self.a.ev(a) / d

    def fmt(self):
        return f"truediv({self.a.fmt()}, {self.b.fmt()})"


class Min(_Binary):
    """``min(a, b)``"""

    __slots__ = ()

    def ev(self, a):
        return min(self.a.ev(a), self.b.ev(a))

    def fmt(self):
        return f"min({self.a.fmt()}, {self.b.fmt()})"


class Max(_Binary):
    """``max(a, b)``"""

    __slots__ = ()

    def ev(self, a):
        return max(self.a.ev(a), self.b.ev(a))

    def fmt(self):
        return f"max({self.a.fmt()}, {self.b.fmt()})"


class Pow(Expr):
    """``a ** p`` for a non-negative int constant ``p``."""

    __slots__ = ("a", "children", "integral", "p")
    _prec = _P_POW

    def __init__(self, a: Expr, p: int):
        self.a = a
        self.p = p
        self.children = (a,)
        self.integral = a.integral

    def ev(self, a):
        return self.a.ev(a) ** self.p

    def fmt(self):
        # right-associative and tighter than unary minus
        return f"{_paren(self.a, _P_POW + 1)}^{self.p}"


class _Unary(Expr):
    __slots__ = ("a", "children", "integral")

    def __init__(self, a: Expr):
        self.a = a
        self.children = (a,)
        self.integral = a.integral


class Neg(_Unary):
    """``-a``"""

    __slots__ = ()
    _prec = _P_UNARY

    def ev(self, a):
        return -self.a.ev(a)

    def fmt(self):
        return f"-{_paren(self.a, _P_UNARY)}"


class Abs(_Unary):
    """``abs(a)``"""

    __slots__ = ()

    def ev(self, a):
        return abs(self.a.ev(a))

    def fmt(self):
        return f"abs({self.a.fmt()})"


class Trunc(_Unary):
    """``int(a)``: truncation towards zero of a (possibly float-valued) expression."""

    __slots__ = ()

    def __init__(self, a: Expr):
        super().__init__(a)
        self.integral = True

    def ev(self, a):
        try:
            return int(self.a.ev(a))
        except (OverflowError, ValueError):
            raise Undefined("int() of an infinite or NaN float") from None

    def fmt(self):
        return f"int({self.a.fmt()})"


# ====================================================================== constraints

ExprLike = Expr | int

_NEGATE_OP = {"==": "!=", "!=": "==", "<": ">=", "<=": ">", ">": "<=", ">=": "<"}
#: The Python function of each comparison operator.
COMPARISON_FUNCTIONS = {
    "==": operator.eq,
    "!=": operator.ne,
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}


class Constraint:
    """Base class of constraint nodes (boolean-valued).

    Constraints combine with ``&`` (and), ``|`` (or) and ``~`` (not). They have no Python
    truth value: ``bool(c)`` (and so ``and``, ``or``, ``not``, ``if c``) raises ``TypeError``.

    >>> import constrint as ci
    >>> m = ci.Model(); x = m.int_var("x", 1, 20); y = m.int_var("y", 1, 20)
    >>> c = (x * y == 12) & (x < y)
    >>> str(c), c.holds({"x": 3, "y": 4})
    ('x * y == 12 and x < y', True)
    >>> m += c
    >>> sorted((s["x"], s["y"]) for s in m.solutions())
    [(1, 12), (2, 6), (3, 4)]
    """

    __slots__ = ()
    children: tuple = ()
    _prec = _P_ATOM

    def __and__(self, o):
        if _integer_operand(o):
            return _coerce(self) & o
        return all_of(self, _coerce_c(o))

    def __rand__(self, o):
        if _integer_operand(o):
            return o & _coerce(self)
        return all_of(_coerce_c(o), self)

    def __or__(self, o):
        if _integer_operand(o):
            return _coerce(self) | o
        return any_of(self, _coerce_c(o))

    def __ror__(self, o):
        if _integer_operand(o):
            return o | _coerce(self)
        return any_of(_coerce_c(o), self)

    def __xor__(self, o):
        if _integer_operand(o):
            return _coerce(self) ^ o
        return _kind("xor")(self, _coerce_c(o))

    def __rxor__(self, o):
        if _integer_operand(o):
            return o ^ _coerce(self)
        return _kind("xor")(_coerce_c(o), self)

    def __invert__(self):
        return self.negate()

    # ---- used as a number: the 0/1 value (Python's bool arithmetic)
    def __add__(self, o):
        return _coerce(self) + o

    def __radd__(self, o):
        return _coerce(o) + _coerce(self)

    def __sub__(self, o):
        return _coerce(self) - o

    def __rsub__(self, o):
        return _coerce(o) - _coerce(self)

    def __mul__(self, o):
        return _coerce(self) * o

    def __rmul__(self, o):
        return _coerce(o) * _coerce(self)

    def __neg__(self):
        return -_coerce(self)

    def __eq__(self, o):  # type: ignore[override]
        return _coerce(self) == o

    def __ne__(self, o):  # type: ignore[override]
        return _coerce(self) != o

    def __lt__(self, o):
        return _coerce(self) < o

    def __le__(self, o):
        return _coerce(self) <= o

    def __gt__(self, o):
        return _coerce(self) > o

    def __ge__(self, o):
        return _coerce(self) >= o

    __hash__ = object.__hash__

    def __bool__(self):
        raise TypeError(
            "a constraint has no truth value in Python: add it to a model (m.add(c)) or combine "
            "constraints with &, |, ~ (not 'and', 'or', 'not'); use c.holds(assignment) to test one"
        )

    def holds(self, assignment: Mapping[str, int]) -> bool:
        """Whether the constraint is satisfied (false wherever a division is undefined).

        >>> import constrint as ci
        >>> m = ci.Model(); x = m.int_var("x", 0, 9)
        >>> (12 % x == 0).holds({"x": 4}), (12 % x == 0).holds({"x": 0})
        (True, False)
        """
        try:
            return bool(self.ev(assignment))
        except (Undefined, OverflowError):
            # Python raises there (e.g. an integer too large for a float): not satisfied
            return False

    def ev(self, a) -> bool:  # pragma: no cover - abstract
        raise NotImplementedError

    def negate(self) -> Constraint:  # pragma: no cover - abstract
        raise NotImplementedError

    def variables(self) -> dict[str, Var]:
        """The variables in the constraint, by name.

        >>> import constrint as ci
        >>> m = ci.Model(); x = m.int_var("x", 1, 9); y = m.int_var("y", 1, 9)
        >>> list((x < 3) .variables()), list((y * x == 6).variables())
        (['x'], ['y', 'x'])
        """
        out: dict[str, Var] = {}
        _collect_vars(self, out)
        return out

    def __str__(self) -> str:
        return self.fmt()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.fmt()}>"

    def fmt(self) -> str:  # pragma: no cover - abstract
        raise NotImplementedError


def _coerce_c(c: Any) -> Constraint:
    if isinstance(c, Constraint):
        return c
    if isinstance(c, bool):
        return BoolConst(c)
    if isinstance(c, Expr):
        return _kind("as_constraint")(c)  # a 0/1 expression stands for "it is 1"
    raise TypeError(f"expected a constraint, got {type(c).__name__} {c!r}")


def _integer_operand(o: Any) -> bool:
    """Whether ``o`` combines with a constraint as a number (bitwise), not as a truth value."""
    if isinstance(o, Expr):
        return not _kind("is_boolean")(o)
    return False


class BoolConst(Constraint):
    """The constant constraint ``true`` or ``false``."""

    __slots__ = ("value",)

    def __init__(self, value: bool):
        self.value = bool(value)

    def ev(self, a):
        return self.value

    def negate(self):
        return BoolConst(not self.value)

    def fmt(self):
        return "true" if self.value else "false"


class Compare(Constraint):
    """``a OP b`` with OP one of ``== != < <= > >=``."""

    __slots__ = ("a", "b", "children", "op")
    _prec = _P_CMP

    def __init__(self, op: str, a: Expr, b: Expr):
        if op not in COMPARISON_FUNCTIONS:
            raise ValueError(f"unknown comparison {op!r}")
        self.op = op
        self.a = a
        self.b = b
        self.children = (a, b)

    def ev(self, a):
        return COMPARISON_FUNCTIONS[self.op](self.a.ev(a), self.b.ev(a))

    def negate(self):
        return Compare(_NEGATE_OP[self.op], self.a, self.b)

    def fmt(self):
        return f"{_paren(self.a, _P_ADD, False)} {self.op} {_paren(self.b, _P_ADD, False)}"


class Divides(Constraint):
    """``a`` divides ``b``: ``b % a == 0`` (false when ``a == 0``)."""

    __slots__ = ("a", "b", "children")
    _prec = _P_CMP

    def __init__(self, a: Expr, b: Expr):
        self.a = a
        self.b = b
        self.children = (a, b)

    def ev(self, a):
        d = self.a.ev(a)
        if d == 0:
            raise Undefined("divides with divisor 0")
        return self.b.ev(a) % d == 0

    def negate(self):
        return NotDivides(self.a, self.b)

    def fmt(self):
        return f"{_paren(self.b, _P_MUL + 1)} % {_paren(self.a, _P_MUL + 1)} == 0"


class NotDivides(Constraint):
    """``a`` does not divide ``b``: ``b % a != 0`` (false when ``a == 0``)."""

    __slots__ = ("a", "b", "children")
    _prec = _P_CMP

    def __init__(self, a: Expr, b: Expr):
        self.a = a
        self.b = b
        self.children = (a, b)

    def ev(self, a):
        d = self.a.ev(a)
        if d == 0:
            raise Undefined("divides with divisor 0")
        return self.b.ev(a) % d != 0

    def negate(self):
        return Divides(self.a, self.b)

    def fmt(self):
        return f"{_paren(self.b, _P_MUL + 1)} % {_paren(self.a, _P_MUL + 1)} != 0"


class And(Constraint):
    """Conjunction of constraints."""

    __slots__ = ("children",)
    _prec = _P_AND

    def __init__(self, children: Iterable[Constraint]):
        self.children = tuple(children)

    def ev(self, a):
        # evaluate all parts so that an undefined part anywhere makes the constraint false
        results = [c.ev(a) for c in self.children]
        return all(results)

    def negate(self):
        return Or([c.negate() for c in self.children])

    def fmt(self):
        return " and ".join(_paren(c, _P_AND + 1) for c in self.children) or "true"


class Or(Constraint):
    """Disjunction of constraints."""

    __slots__ = ("children",)
    _prec = _P_OR

    def __init__(self, children: Iterable[Constraint]):
        self.children = tuple(children)

    def ev(self, a):
        results = [c.ev(a) for c in self.children]
        return any(results)

    def negate(self):
        return And([c.negate() for c in self.children])

    def fmt(self):
        return " or ".join(_paren(c, _P_OR + 1) for c in self.children) or "false"


class Not(Constraint):
    """Negation of a constraint that cannot be negated structurally (e.g. a custom one)."""

    __slots__ = ("c", "children")
    _prec = _P_NOT

    def __init__(self, c: Constraint):
        self.c = c
        self.children = (c,)

    def ev(self, a):
        return not self.c.ev(a)

    def negate(self):
        return self.c

    def fmt(self):
        return f"not {_paren(self.c, _P_NOT)}"


# ====================================================================== builders


def divides(a: ExprLike, b: ExprLike) -> Constraint:
    """The constraint ``b % a == 0`` ("a divides b"); false where ``a == 0``.

    >>> import constrint as ci
    >>> m = ci.Model(); t = m.int_var("t", 1, 64)
    >>> m += ci.divides(t, 48)
    >>> sorted(s["t"] for s in m.solutions())
    [1, 2, 3, 4, 6, 8, 12, 16, 24, 48]
    """
    return Divides(_coerce(a), _coerce(b))


def implies(a: Constraint, b: Constraint) -> Constraint:
    """``a`` implies ``b`` (``~a | b``).

    >>> import constrint as ci
    >>> m = ci.Model(); x = m.int_var("x", 1, 4); y = m.int_var("y", 1, 4)
    >>> c = ci.implies(x > 2, y == 1)
    >>> str(c)
    'x <= 2 or y == 1'
    >>> m += c; m.count()
    10
    """
    return any_of(_coerce_c(a).negate(), _coerce_c(b))


def all_of(*cs: Constraint | Iterable[Constraint]) -> Constraint:
    """Conjunction of the given constraints (flattened); ``a & b`` is ``all_of(a, b)``.

    >>> import constrint as ci
    >>> m = ci.Model(); xs = [m.int_var(f"x{i}", 1, 9) for i in range(3)]
    >>> str(ci.all_of(x >= 2 for x in xs))
    'x0 >= 2 and x1 >= 2 and x2 >= 2'
    """
    parts: list[Constraint] = []
    for c in _flatten(cs):
        if isinstance(c, And):
            parts.extend(c.children)
        else:
            parts.append(c)
    return parts[0] if len(parts) == 1 else And(parts)


def any_of(*cs: Constraint | Iterable[Constraint]) -> Constraint:
    """Disjunction of the given constraints (flattened); ``a | b`` is ``any_of(a, b)``.

    >>> import constrint as ci
    >>> m = ci.Model(); x = m.int_var("x", 1, 100)
    >>> m += ci.any_of(x == 1, ci.divides(32, x))
    >>> sorted(s["x"] for s in m.solutions())
    [1, 32, 64, 96]
    """
    parts: list[Constraint] = []
    for c in _flatten(cs):
        if isinstance(c, Or):
            parts.extend(c.children)
        else:
            parts.append(c)
    return parts[0] if len(parts) == 1 else Or(parts)


def _flatten(cs) -> Iterable[Constraint]:
    for c in cs:
        if isinstance(c, (Constraint, bool)):
            yield _coerce_c(c)
        else:
            for x in c:
                yield _coerce_c(x)


def min_(*args: ExprLike | Iterable[ExprLike]) -> Expr:
    """Minimum of expressions: ``min_(a, b, c)`` or ``min_([a, b, c])``.

    >>> import constrint as ci
    >>> m = ci.Model(); x = m.int_var("x", 1, 9); y = m.int_var("y", 1, 9)
    >>> ci.min_(x, y, 5).evaluate({"x": 7, "y": 6})
    5
    """
    items = _expr_args(args, "min_")
    out = items[0]
    for e in items[1:]:
        out = Min(out, e)
    return out


def max_(*args: ExprLike | Iterable[ExprLike]) -> Expr:
    """Maximum of expressions: ``max_(a, b, c)`` or ``max_([a, b, c])``.

    >>> import constrint as ci
    >>> m = ci.Model(); x = m.int_var("x", 1, 9); y = m.int_var("y", 1, 9)
    >>> str(ci.max_([x, y])), ci.max_([x, y]).evaluate({"x": 7, "y": 6})
    ('max(x, y)', 7)
    """
    items = _expr_args(args, "max_")
    out = items[0]
    for e in items[1:]:
        out = Max(out, e)
    return out


def _expr_args(args, name) -> list[Expr]:
    if len(args) == 1 and not isinstance(args[0], (Expr, int)):
        args = tuple(args[0])
    if not args:
        raise TypeError(f"{name} needs at least one argument")
    return [_coerce(a) for a in args]


def exact_div(a: ExprLike, b: ExprLike) -> Expr:
    """Exact division ``a / b``: defined (and equal to ``a // b``) only where ``b`` divides ``a``.

    A constraint containing it is false wherever the division is not exact:

    >>> import constrint as ci
    >>> m = ci.Model(); n = m.int_var("n", 1, 20)
    >>> m += ci.exact_div(n, 4) >= 3
    >>> sorted(s["n"] for s in m.solutions())
    [12, 16, 20]
    """
    return ExactDiv(_coerce(a), _coerce(b))


def true_div(a: ExprLike, b: ExprLike) -> Expr:
    """Python's true division ``a / b`` (float valued), for conditions imported from Python.

    >>> import constrint as ci
    >>> m = ci.Model(); x = m.int_var("x", 1, 9)
    >>> ci.true_div(x, 4).evaluate({"x": 7})
    1.75
    >>> m += ci.true_div(x, 4) > 1              # x / 4 > 1 in Python: 5, 6, 7, 8, 9
    >>> m.count()
    5
    """
    return TrueDiv(_coerce(a), _coerce(b))


def trunc(a: ExprLike) -> Expr:
    """``int(a)``: truncation towards zero (useful after :func:`true_div`).

    >>> import constrint as ci
    >>> m = ci.Model(); x = m.int_var("x", -9, 9)
    >>> ci.trunc(ci.true_div(x, 4)).evaluate({"x": -7}), (x // 4).evaluate({"x": -7})
    (-1, -2)
    """
    return Trunc(_coerce(a))


def sum_(items: Iterable[ExprLike]) -> Expr:
    """Sum of expressions (0 for none), one flat :class:`Sum` node however many.

    >>> import constrint as ci
    >>> m = ci.Model(); xs = [m.int_var(f"x{i}", 0, 3) for i in range(3)]
    >>> str(ci.sum_(xs)), str(ci.sum_([]))
    ('x0 + x1 + x2', '0')
    >>> m += ci.sum_(xs) == 9; m.count()
    1
    """
    terms = [_coerce(e) for e in items]
    if not terms:
        return Const(0)
    if len(terms) == 1:
        return terms[0]
    if type(terms[0]) is Sum:  # as the chain of '+' would be
        first = terms[0]
        return Sum(first.children + tuple(terms[1:]), first.signs + (1,) * (len(terms) - 1))
    return Sum(terms)


def walk(node) -> Iterable[Any]:
    """All nodes of an expression or constraint tree, parents before children, each once.

    A subexpression used in several places (a defined quantity substituted into the terms that
    read it) is one shared node: it and its children are yielded the first time only, so a walk
    costs the number of distinct nodes, not the number of paths to them.
    """
    stack = [node]
    seen: set[int] = set()
    while stack:
        n = stack.pop()
        if id(n) in seen:
            continue
        seen.add(id(n))
        yield n
        stack.extend(reversed(n.children))


def check_integer(v: Any, what: str) -> int:
    """``v`` as an int, or a :class:`ModelError` naming ``what``."""
    if isinstance(v, bool) or not isinstance(v, int):
        if hasattr(v, "__index__") and not isinstance(v, float):
            return operator.index(v)
        raise ModelError(f"{what} must be an integer, got {type(v).__name__} {v!r}")
    return v


__all__ = [
    "Expr", "Const", "Var", "Sum", "add", "sub", "Mul", "Product", "mul", "FloorDiv", "Mod", "ExactDiv", "TrueDiv",
    "Min", "Max", "Pow", "Neg", "Abs", "Trunc", "Constraint", "BoolConst", "Compare",
    "Divides", "NotDivides", "And", "Or", "Not", "divides", "implies", "all_of", "any_of",
    "min_", "max_", "exact_div", "true_div", "trunc", "sum_", "walk", "Undefined",
]
