"""Import of auto-tuning search spaces in the Auto-Tuning Association's T1 JSON format.

A T1 file lists tuning parameters (``ConfigurationSpace.TuningParameters``: ``Name``, ``Type``,
``Values`` - a *string holding a Python list expression*) and conditions
(``ConfigurationSpace.Conditions``: ``Expression`` - a *Python boolean expression string*).
A configuration is valid when every condition holds under Python semantics.

Nothing here runs ``eval``, ``exec`` or ``compile``: every string is parsed with :mod:`ast` and
only a whitelisted subset is accepted.

* ``Values``: number and string literals, lists, tuples and sets, ``+ - * / // % **``, bitwise
  ``& | ^ ~ << >>``, ``a if c else b``, subscripts and slices, ``+`` of lists, ``list * int``,
  ``range``, ``list``, ``min``, ``max``, ``sum``, ``len``, ``abs``, ``int``, ``round``, ``float``,
  ``bool``, and list comprehensions (with ``if`` filters) over those. They are evaluated by the
  small interpreter :func:`evaluate_values`, with limits on sizes and numbers.
* ``Expression``: parameter names, number and string literals (``1e400`` is Python's infinity),
  ``+ - * / // % **`` (the exponent may be a parameter), bitwise ``& | ^ ~ << >>``, unary
  ``-``/``+``, comparisons (chains too; ``in`` / ``not in`` a list, tuple or set of numbers or
  parameters, or any constant collection), ``and`` / ``or`` / ``not`` (also used as numbers, with
  Python's values), comparisons used as numbers (``(x > 1) + (y > 1) <= 1``), ``a if c else b``,
  subscripts of lists and tuples by a parameter, and ``min``, ``max``, ``sum``, ``len`` (of
  displays such as ``(x, y, 2)``), ``abs``, ``int``, ``round``, ``float``, ``bool``. ``/`` becomes
  :func:`constrint.true_div` (a float, exactly as in Python); any part without parameters is
  computed at import time by the same interpreter.

Anything else raises :class:`~constrint.T1Error` naming the construct and where it is.

Semantics are Python's, with one difference: where Python would *raise* (a division by zero,
a negative shift count, an index out of range, a comparison of a string with a number that is
actually evaluated), the configuration is invalid. Such operations inside operands that Python
may skip (right of ``or``, inside ``not``, later links of a chained comparison, the branches of
``a if c else b``, ...) are guarded so that they cannot make the condition false when Python
would not evaluate them; a constant ``1 / 0`` there is no error either. A comparison that raises
for every value wherever it is evaluated (``s < 3`` for a string parameter ``s``) is reported as
an error instead. Exponents and ``<<`` counts that depend on parameters may reach at most 64 and
1024 in magnitude (a sandbox limit).

Parameters whose values are not all integers:

* numbers with fractions (floats): the variable holds ``value * Q`` (``Q`` a power of two making
  every value an integer, exactly) and conditions see ``true_div(var, Q)``, i.e. exactly the
  float;
* integral floats (``2.0``) and booleans become the equal integers;
* strings (or other mixed values): the variable holds a code ``0..n-1``; conditions may only
  compare such a parameter with literals (``==``, ``!=``, ``<``..., ``in``), which are decided
  value by value at import time (so is any parameter compared with a string: ``b == 'd'``).

:func:`read_t1` returns the model together with ``labels`` that map such variables' values back to
the original values (:meth:`T1Space.decode`).
"""
from __future__ import annotations

import ast
import itertools
import json
import math
import operator
import os
import re
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Union

from .booleans import IfThenElse, Reify, may_be_undefined
from .errors import ModelError, T1Error
from .expr import (
    COMPARISON_FUNCTIONS,
    Abs,
    And,
    BoolConst,
    Compare,
    Const,
    Constraint,
    Expr,
    FloorDiv,
    Min,
    Mod,
    Mul,
    Neg,
    Not,
    Pow,
    Product,
    Sum,
    TrueDiv,
    Trunc,
    Undefined,
    Var,
    add,
    all_of,
    any_of,
    max_,
    min_,
    sub,
    walk,
)
from .global_constraints import Element
from .intops import (
    BitAnd,
    BitNot,
    BitOr,
    BitXor,
    LShift,
    Power,
    Round,
    RShift,
    nonnegative_over_declared_domains,
)
from .model import Model
from .propagators import Store, forward

#: Largest number of values of one parameter (after evaluation).
MAX_VALUES = 1_000_000
#: Largest magnitude of an integer value or literal.
MAX_INT = 2**63 - 1
#: Largest number of interpreter steps for evaluating one ``Values`` string.
MAX_STEPS = 5_000_000
#: Largest exponent accepted in ``**`` inside conditions (in magnitude; a parameter exponent may
#: not reach more over the declared values).
MAX_EXPONENT = 64
#: Largest count of ``<<`` that a parameter may reach.
MAX_SHIFT = 1024
#: Divisors over at most this many variable combinations are checked for zero by enumeration.
ZERO_CHECK_LIMIT = 20_000

_NUM_OPS = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.FloorDiv: operator.floordiv,
    ast.Mod: operator.mod,
    ast.Pow: operator.pow,
}
_BIT_OPS = {
    ast.BitAnd: operator.and_,
    ast.BitOr: operator.or_,
    ast.BitXor: operator.xor,
    ast.LShift: operator.lshift,
    ast.RShift: operator.rshift,
}
#: The functions ``Values`` strings and constant parts of conditions may call.
_CALLS = ("range", "list", "min", "max", "abs", "int", "sum", "len", "round", "float", "bool")
_CMP_OPS = {
    ast.Eq: "==",
    ast.NotEq: "!=",
    ast.Lt: "<",
    ast.LtE: "<=",
    ast.Gt: ">",
    ast.GtE: ">=",
}
_SYMBOL = {
    ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.Div: "/", ast.FloorDiv: "//", ast.Mod: "%",
    ast.Pow: "**", ast.MatMult: "@", ast.BitAnd: "&", ast.BitOr: "|", ast.BitXor: "^",
    ast.LShift: "<<", ast.RShift: ">>", ast.Invert: "~", ast.Is: "is", ast.IsNot: "is not",
    ast.Not: "not", ast.USub: "-", ast.UAdd: "+",
}


def _describe(node: ast.AST) -> str:
    """A short human name of an ast construct, for error messages."""
    if isinstance(node, ast.Call):
        f = node.func
        if isinstance(f, ast.Name):
            return f"call of {f.id!r}"
        if isinstance(f, ast.Attribute):
            return f"call of method/attribute {f.attr!r}"
        return "call"
    if isinstance(node, ast.Attribute):
        return f"attribute access '.{node.attr}'"
    if isinstance(node, ast.Name):
        return f"name {node.id!r}"
    if isinstance(node, (ast.BinOp, ast.UnaryOp)):
        sym = _SYMBOL.get(type(node.op))
        return f"operator {sym!r}" if sym else type(node.op).__name__
    if type(node) in _SYMBOL:
        return f"operator {_SYMBOL[type(node)]!r}"
    if isinstance(node, ast.Constant):
        return f"constant {node.value!r}"[:60]
    names = {
        ast.Subscript: "subscript [..]", ast.Lambda: "lambda", ast.IfExp: "conditional expression",
        ast.Dict: "dict", ast.Set: "set", ast.DictComp: "dict comprehension",
        ast.SetComp: "set comprehension", ast.GeneratorExp: "generator expression",
        ast.Starred: "starred expression", ast.JoinedStr: "f-string", ast.NamedExpr: "':='",
        ast.Await: "await", ast.Yield: "yield", ast.YieldFrom: "yield from", ast.Slice: "slice",
    }
    return names.get(type(node), type(node).__name__)


# ====================================================================== errors with positions


@dataclass
class _Where:
    filename: str
    location: str
    text: str
    offset: int = 0  # characters stripped from the front of ``text`` before parsing

    def error(self, message: str, node: ast.AST | None = None) -> T1Error:
        line = col = None
        if node is not None and hasattr(node, "col_offset"):
            line, col = _char_position(self.text, self.offset, node.lineno, node.col_offset)
        return T1Error(message, self.filename, self.location, col, self.text, line)


def _char_position(text: str, offset: int, lineno: int, col_offset: int) -> tuple[int, int]:
    """1-based (line, character column) in ``text`` of an ast position (UTF-8 byte offsets)."""
    src = text[offset:]
    lines = src.split("\n")
    ln = max(1, min(lineno, len(lines)))
    raw = lines[ln - 1].encode("utf-8")[:col_offset]
    col = len(raw.decode("utf-8", errors="ignore")) + 1
    if ln == 1:
        # the stripped prefix lies on the first line of the original text
        prefix = text[:offset]
        line_of_prefix = prefix.count("\n")
        col += len(prefix) - (prefix.rfind("\n") + 1)
        return line_of_prefix + 1, col
    return ln + text[:offset].count("\n"), col


# expressions are parsed under this file name; Python's warnings about them (e.g. "invalid decimal
# literal" for "1if x else 2") are not shown: T1 reports its own errors
_EXPR_FILE = "<t1 expression>"
warnings.filterwarnings("ignore", category=SyntaxWarning, module=re.escape(_EXPR_FILE) + "$")


def _parse(where: _Where) -> ast.expr:
    text = where.text
    stripped = text.lstrip(" \t\r\n")
    where.offset = len(text) - len(stripped)
    if not stripped.strip():
        raise where.error("empty expression")
    try:
        tree = ast.parse(stripped, filename=_EXPR_FILE, mode="eval")
    except SyntaxError as exc:
        line, col = (None, None)
        if exc.lineno is not None and exc.offset is not None:
            line, col = _char_position(text, where.offset, exc.lineno, max(exc.offset - 1, 0))
            # SyntaxError offsets are already character based in recent Pythons
            if exc.lineno == 1:
                col = where.offset - (text[: where.offset].rfind("\n") + 1) + exc.offset
        raise T1Error(
            f"not a valid Python expression: {exc.msg}", where.filename, where.location, col,
            text, line,
        ) from None
    except (ValueError, RecursionError, MemoryError) as exc:
        raise where.error(f"cannot parse expression: {exc}") from None
    return tree.body


# ====================================================================== Values interpreter


class _PythonRaises(T1Error):
    """A constant that Python cannot evaluate either (it raises, e.g. a division by zero)."""


class _Budget:
    __slots__ = ("steps",)

    def __init__(self) -> None:
        self.steps = 0


def evaluate_values(text: str, where: _Where | None = None) -> list[Any]:
    """Evaluate a T1 ``Values`` string (a Python list expression) without ``eval``.

    >>> evaluate_values("[2**i for i in range(4)] + list(range(32, 65, 32))")
    [1, 2, 4, 8, 32, 64]
    """
    where = where or _Where("<string>", "Values", text)
    node = _parse(where)
    try:
        result = _Interp(where).eval(node, {})
    except RecursionError:
        raise where.error("expression nested too deeply") from None
    if isinstance(result, range):
        result = list(result)
    if not isinstance(result, (list, tuple)):
        raise where.error(
            f"Values must give a list, got {type(result).__name__} {_short(result)}", node
        )
    for v in result:
        if isinstance(v, float) and not math.isfinite(v):
            raise where.error(f"non-finite number {v!r} in the values", node)
    return list(result)


def _short(v: Any) -> str:
    s = repr(v)
    return s if len(s) <= 40 else s[:37] + "..."


class _Interp:
    """Evaluates the whitelisted subset of Python expressions used in ``Values`` strings."""

    def __init__(self, where: _Where):
        self.where = where
        self.budget = _Budget()

    def err(self, msg: str, node: ast.AST) -> T1Error:
        return self.where.error(msg, node)

    def raises(self, msg: str, node: ast.AST) -> T1Error:
        """The error for what Python raises at run time (a condition makes it "invalid")."""
        e = self.err(msg, node)
        return _PythonRaises(e.message, e.filename, e.location, e.column, e.text, e.line)

    def step(self, node: ast.AST, n: int = 1) -> None:
        self.budget.steps += n
        if self.budget.steps > MAX_STEPS:
            raise self.err(f"evaluation takes too long (more than {MAX_STEPS} steps)", node)

    def check_number(self, v: Any, node: ast.AST) -> Any:
        if isinstance(v, int) and not isinstance(v, bool) and abs(v) > MAX_INT:
            raise self.err("number too large (at most 2**63 - 1 in magnitude)", node)
        return v

    def check_len(self, n: int, node: ast.AST) -> None:
        if n > MAX_VALUES:
            raise self.err(f"list too long ({n} items; at most {MAX_VALUES})", node)

    def eval(self, node: ast.AST, env: dict[str, Any]) -> Any:
        self.step(node)
        if isinstance(node, ast.Constant):
            v = node.value
            if isinstance(v, (bool, int, float, str)):
                return self.check_number(v, node)
            raise self.err(f"unsupported {_describe(node)}", node)
        if isinstance(node, (ast.List, ast.Tuple)):
            if any(isinstance(e, ast.Starred) for e in node.elts):
                raise self.err("unsupported starred expression", node)
            self.check_len(len(node.elts), node)
            return [self.eval(e, env) for e in node.elts]
        if isinstance(node, ast.Name):
            if node.id in env:
                return env[node.id]
            raise self.err(f"unknown name {node.id!r} (Values may only use comprehension variables)", node)
        if isinstance(node, ast.UnaryOp):
            v = self.eval(node.operand, env)
            if isinstance(node.op, ast.Not):
                return not self.truth(v, node)
            if not _is_number(v):
                raise self.err(f"unary operator on {type(v).__name__}", node)
            if isinstance(node.op, ast.USub):
                return self.check_number(-v, node)
            if isinstance(node.op, ast.UAdd):
                return +v
            if isinstance(node.op, ast.Invert):
                if not isinstance(v, int):
                    raise self.err(f"bad operand type for unary ~: {type(v).__name__}", node)
                return ~v
            raise self.err(f"unsupported {_describe(node)}", node)
        if isinstance(node, ast.Set):
            if any(isinstance(e, ast.Starred) for e in node.elts):
                raise self.err("unsupported starred expression", node)
            self.check_len(len(node.elts), node)
            try:
                return {self.eval(e, env) for e in node.elts}
            except TypeError as exc:
                raise self.err(f"cannot build a set: {exc}", node) from None
        if isinstance(node, ast.IfExp):
            branch = node.body if self.truth(self.eval(node.test, env), node.test) else node.orelse
            return self.eval(branch, env)
        if isinstance(node, ast.Subscript):
            return self.subscript(node, env)
        if isinstance(node, ast.BinOp):
            return self.binop(node, env)
        if isinstance(node, ast.BoolOp):
            is_and = isinstance(node.op, ast.And)
            v: Any = None
            for sub in node.values:
                v = self.eval(sub, env)
                t = self.truth(v, sub)
                if t != is_and:
                    return v
            return v
        if isinstance(node, ast.Compare):
            left = self.eval(node.left, env)
            for op, comp in zip(node.ops, node.comparators):
                right = self.eval(comp, env)
                if type(op) in _CMP_OPS:
                    try:
                        ok = COMPARISON_FUNCTIONS[_CMP_OPS[type(op)]](left, right)
                    except TypeError as exc:
                        raise self.err(f"cannot compare: {exc}", node) from None
                elif isinstance(op, (ast.In, ast.NotIn)):
                    if not isinstance(right, (list, tuple, range, str, set)):
                        raise self.err("'in' needs a list, tuple, set or range on its right", comp)
                    try:
                        ok = (left in right) == isinstance(op, ast.In)
                    except TypeError as exc:
                        raise self.err(f"cannot test membership: {exc}", node) from None
                else:
                    raise self.err(f"unsupported comparison {_describe(op)}", node)
                if not ok:
                    return False
                left = right
            return True
        if isinstance(node, ast.Call):
            return self.call(node, env)
        if isinstance(node, ast.ListComp):
            out: list[Any] = []
            self.comprehension(node, node.generators, 0, dict(env), out)
            return out
        raise self.err(f"unsupported {_describe(node)}", node)

    def truth(self, v: Any, node: ast.AST) -> bool:
        if isinstance(v, (bool, int, float, str, list, tuple, range, set)):
            return bool(v)
        raise self.err(f"no truth value for {type(v).__name__}", node)  # pragma: no cover

    def subscript(self, node: ast.Subscript, env: dict[str, Any]) -> Any:
        seq = self.eval(node.value, env)
        if not isinstance(seq, (list, tuple, range, str)):
            raise self.err(f"'{type(seq).__name__}' object is not subscriptable", node.value)
        sl = node.slice
        if isinstance(sl, ast.Slice):
            parts = [None if p is None else self.eval(p, env) for p in (sl.lower, sl.upper, sl.step)]
            if not all(p is None or isinstance(p, int) for p in parts):
                raise self.err("slice indices must be integers", sl)
            if parts[2] == 0:
                raise self.raises("slice step cannot be zero", sl)
            out = seq[slice(*parts)]
            return list(out) if isinstance(out, range) else out
        i = self.eval(sl, env)
        if not isinstance(i, int):
            raise self.err(f"indices must be integers, not {type(i).__name__}", sl)
        try:
            return seq[i]
        except IndexError:
            raise self.raises("index out of range", sl) from None

    def binop(self, node: ast.BinOp, env: dict[str, Any]) -> Any:
        a = self.eval(node.left, env)
        b = self.eval(node.right, env)
        op = type(node.op)
        if op in _BIT_OPS:
            return self.bitop(node, op, a, b)
        if op not in _NUM_OPS:
            raise self.err(f"unsupported {_describe(node)}", node)
        if isinstance(a, range):
            a = list(a)
        if isinstance(b, range):
            b = list(b)
        if isinstance(a, (list, tuple)) or isinstance(b, (list, tuple)):
            if op is ast.Add and isinstance(a, list) and isinstance(b, list):
                self.check_len(len(a) + len(b), node)
                self.step(node, len(a) + len(b))
                return a + b
            if op is ast.Add and isinstance(a, tuple) and isinstance(b, tuple):
                self.check_len(len(a) + len(b), node)
                self.step(node, len(a) + len(b))
                return a + b
            if op is ast.Mult:
                seq, n = (a, b) if isinstance(a, (list, tuple)) else (b, a)
                if isinstance(n, int) and isinstance(seq, (list, tuple)):
                    self.check_len(len(seq) * max(n, 0), node)
                    self.step(node, len(seq) * max(n, 0))
                    return seq * n
            raise self.err(
                f"unsupported operand types for {_SYMBOL[op]!r}: {type(a).__name__} and {type(b).__name__}",
                node,
            )
        if not (_is_number(a) and _is_number(b)):
            if op is ast.Add and isinstance(a, str) and isinstance(b, str):
                if len(a) + len(b) > 10_000:
                    raise self.err("string too long", node)
                return a + b
            raise self.err(
                f"unsupported operand types for {_SYMBOL[op]!r}: {type(a).__name__} and {type(b).__name__}",
                node,
            )
        if op is ast.Pow:
            if isinstance(a, int) and isinstance(b, int):
                if b < 0:
                    if a == 0:
                        raise self.raises("0 cannot be raised to a negative power", node)
                elif abs(a) > 1 and b * max(a.bit_length(), 1) > 70:
                    raise self.err("number too large (at most 2**63 - 1 in magnitude)", node)
            elif isinstance(a, (int, float)) and isinstance(b, (int, float)):
                if a < 0 and isinstance(b, float) and not b.is_integer():
                    raise self.err("fractional power of a negative number", node)
                if a == 0 and b < 0:
                    raise self.raises("0 cannot be raised to a negative power", node)
        try:
            v = _NUM_OPS[op](a, b)
        except ZeroDivisionError:
            raise self.raises("division by zero", node) from None
        except OverflowError:
            raise self.err("number too large", node) from None
        return self.check_number(v, node)

    def bitop(self, node: ast.BinOp, op: type, a: Any, b: Any) -> Any:
        if not (isinstance(a, int) and isinstance(b, int)):
            raise self.err(
                f"unsupported operand types for {_SYMBOL[op]!r}: {type(a).__name__} and {type(b).__name__}",
                node,
            )
        if op in (ast.LShift, ast.RShift) and b < 0:
            raise self.raises("negative shift count", node)
        if op is ast.LShift and a and a.bit_length() + b > 70:
            raise self.err("number too large (at most 2**63 - 1 in magnitude)", node)
        return self.check_number(_BIT_OPS[op](a, b), node)

    def call(self, node: ast.Call, env: dict[str, Any]) -> Any:
        if not isinstance(node.func, ast.Name):
            raise self.err(f"unsupported {_describe(node)}", node)
        name = node.func.id
        if node.keywords:
            raise self.err(f"keyword arguments to {name}() are not supported", node)
        if name not in _CALLS:
            raise self.err(f"unsupported {_describe(node)} (allowed: {', '.join(_CALLS)})", node)
        if any(isinstance(a, ast.Starred) for a in node.args):
            raise self.err("unsupported starred argument", node)
        args = [self.eval(a, env) for a in node.args]
        if name == "range":
            if not 1 <= len(args) <= 3 or not all(
                isinstance(a, int) and not isinstance(a, bool) for a in args
            ):
                raise self.err("range() takes 1 to 3 integer arguments", node)
            try:
                r = range(*args)
            except ValueError as exc:
                raise self.err(f"range(): {exc}", node) from None
            self.check_len(len(r), node)
            return r
        if name == "list":
            if len(args) != 1 or not isinstance(args[0], (list, tuple, range)):
                raise self.err("list() takes one list, tuple or range", node)
            self.step(node, len(args[0]))
            return list(args[0])
        if name in ("min", "max"):
            items = args[0] if len(args) == 1 else args
            if isinstance(items, (range, set)):
                items = list(items)
            if not isinstance(items, (list, tuple)) or not items:
                raise self.err(f"{name}() needs a non-empty list or several arguments", node)
            try:
                return (min if name == "min" else max)(items)
            except TypeError as exc:
                raise self.err(f"{name}(): {exc}", node) from None
        if name in ("sum", "len"):
            if len(args) not in ((1, 2) if name == "sum" else (1,)):
                raise self.err(f"wrong number of arguments to {name}()", node)
            items = args[0]
            if not isinstance(items, (list, tuple, range, set, str)) or (
                name == "sum" and isinstance(items, str)
            ):
                raise self.err(f"{name}() of {type(items).__name__}", node)
            if name == "len":
                return len(items)
            self.step(node, len(items))
            try:
                return self.check_number(sum(items, args[1] if len(args) == 2 else 0), node)
            except TypeError as exc:
                raise self.err(f"sum(): {exc}", node) from None
        if name == "round":
            if len(args) not in (1, 2) or not _is_number(args[0]) or (
                len(args) == 2 and not isinstance(args[1], int)
            ):
                raise self.err("round() takes a number and an optional integer", node)
            try:
                return self.check_number(round(*args), node)
            except (OverflowError, ValueError) as exc:
                raise self.raises(f"round(): {exc}", node) from None
        if name in ("float", "bool"):
            if len(args) != 1:
                raise self.err(f"{name}() takes one argument", node)
            (a,) = args
            if name == "bool":
                return self.truth(a, node)
            if isinstance(a, str):
                if len(a) > 40:
                    raise self.err(f"float() of the string {_short(a)}", node)
                try:
                    return float(a)
                except ValueError:
                    raise self.raises(f"float() of the string {_short(a)}", node) from None
            if not _is_number(a):
                raise self.err(f"float() of {type(a).__name__}", node)
            try:
                return float(a)
            except OverflowError:
                raise self.raises("int too large to convert to float", node) from None
        if len(args) != 1:
            raise self.err(f"{name}() takes one argument", node)
        (a,) = args
        if name == "abs":
            if not _is_number(a):
                raise self.err(f"abs() of {type(a).__name__}", node)
            return abs(a)
        if isinstance(a, str):
            try:
                return self.check_number(int(a.strip()), node) if len(a) < 30 else int("x")
            except ValueError:
                raise self.err(f"int() of the string {_short(a)}", node) from None
        if not _is_number(a):
            raise self.err(f"int() of {type(a).__name__}", node)
        try:
            return self.check_number(int(a), node)
        except (OverflowError, ValueError) as exc:
            raise self.raises(f"int(): {exc}", node) from None

    def comprehension(self, node, gens, i, env, out) -> None:
        if i == len(gens):
            self.check_len(len(out) + 1, node)
            out.append(self.eval(node.elt, env))
            return
        gen = gens[i]
        if getattr(gen, "is_async", 0):
            raise self.err("async comprehension", node)
        if not isinstance(gen.target, ast.Name):
            raise self.err("comprehension targets must be single names", gen.target)
        it = self.eval(gen.iter, env)
        if not isinstance(it, (list, tuple, range)):
            raise self.err("a comprehension must loop over a list, tuple or range", gen.iter)
        for v in it:
            self.step(node)
            env[gen.target.id] = v
            if all(self.truth(self.eval(c, env), c) for c in gen.ifs):
                self.comprehension(node, gens, i + 1, env, out)


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float))  # bool is an int, as in Python


# ====================================================================== parameters


@dataclass
class _Param:
    name: str
    kind: str  # "int", "scaled", "coded"
    var: Var
    scale: int = 1  # "scaled": the variable holds value * scale
    values: list[Any] = field(default_factory=list)  # original values, in file order
    codes: dict[int, Any] = field(default_factory=dict)  # variable value -> original value


def _classify(name: str, values: list[Any], where: _Where) -> tuple[str, list[int], int, dict[int, Any]]:
    """(kind, integer values of the variable, scale, labels) for a parameter's value list."""
    if not values:
        raise where.error(f"parameter {name!r} has no values")
    if all(isinstance(v, (int, float)) for v in values):
        labels: dict[int, Any] = {}
        if all(isinstance(v, int) for v in values):  # int and bool
            ints = [int(v) for v in values]
            for v, i in zip(values, ints):
                if isinstance(v, bool):
                    labels[i] = v
            return "int", ints, 1, labels
        for v in values:
            if isinstance(v, float) and not math.isfinite(v):
                raise where.error(f"parameter {name!r} has the non-finite value {v!r}")
        if all(float(v).is_integer() and abs(v) <= 2**53 for v in values):
            ints = [int(v) for v in values]
            for v, i in zip(values, ints):
                if not (isinstance(v, int) and not isinstance(v, bool)):
                    labels[i] = v
            return "int", ints, 1, labels
        scale = 1
        for v in values:
            scale = max(scale, float(v).as_integer_ratio()[1])
        ints = []
        for v in values:
            p, q = float(v).as_integer_ratio() if isinstance(v, float) else (int(v), 1)
            n = p * (scale // q)
            if abs(n) > MAX_INT:
                raise where.error(
                    f"parameter {name!r}: the value {v!r} needs a scale of {scale} to become an "
                    "integer, which makes it too large"
                )
            ints.append(n)
            labels[n] = v
        return "scaled", ints, scale, labels
    for v in values:
        if not isinstance(v, (int, float, str)):
            raise where.error(
                f"parameter {name!r}: unsupported value {_short(v)} of type {type(v).__name__}"
            )
    codes: dict[Any, int] = {}
    labels = {}
    ints = []
    for v in values:
        key = (type(v) is str, v)
        if key not in codes:
            codes[key] = len(codes)
            labels[codes[key]] = v
        ints.append(codes[key])
    return "coded", ints, 1, labels


# ====================================================================== conditions


_TRUE = BoolConst(True)
_FALSE = BoolConst(False)
#: Binary operators defined everywhere, as nodes.
_TOTAL_NODES = {
    ast.Add: add, ast.Sub: sub, ast.Mult: Mul, ast.BitAnd: BitAnd, ast.BitOr: BitOr, ast.BitXor: BitXor,
}


def _and(*cs: Constraint) -> Constraint:
    parts = [c for c in cs if not (isinstance(c, BoolConst) and c.value)]
    if any(isinstance(c, BoolConst) for c in parts):
        return BoolConst(False)
    return _TRUE if not parts else all_of(parts)


def _or(*cs: Constraint) -> Constraint:
    parts = [c for c in cs if not (isinstance(c, BoolConst) and not c.value)]
    if any(isinstance(c, BoolConst) for c in parts):
        return _TRUE
    return BoolConst(False) if not parts else any_of(parts)


def _not(c: Constraint) -> Constraint:
    return BoolConst(not c.value) if isinstance(c, BoolConst) else Not(c)


class _NonFinite(Expr):
    """An infinite or NaN float constant while a condition is translated (never kept in a model)."""

    __slots__ = ("value",)
    integral = False

    def __init__(self, value: float):
        self.value = value

    def ev(self, a):
        return self.value

    def fmt(self):
        return f"float({str(self.value)!r})"


class _Cond:
    """Translates one condition's ast into a constraint over the model's variables.

    Every translation returns a pair ``(value, defined)``: ``defined`` is a constraint that holds
    where Python's evaluation would not raise. Partial operations (divisions, shifts, powers,
    subscripts) that Python evaluates on every path keep their plain form (where they are
    undefined the whole constraint is false, as a raise makes the configuration invalid). In
    operands that Python may skip (``cond``: right of ``or``/``and``, later links of a chain, the
    branches of ``a if c else b``, unless at the top-level conjunction where a skipped operand
    cannot matter) they get a form that is never undefined, and ``defined`` then says "where
    this operand is evaluated, it is defined". The condition is ``defined and value``: exactly
    Python's verdict, with a raise counting as invalid.
    """

    def __init__(self, where: _Where, params: dict[str, _Param], model: Model):
        self.where = where
        self.params = params
        self.model = model

    def err(self, msg: str, node: ast.AST) -> T1Error:
        return self.where.error(msg, node)

    def condition(self, node: ast.AST) -> list[Constraint]:
        """The constraints (a conjunction) of one condition."""
        val, d = self.boolean(node, cond=False, top=True)
        parts = list(val.children) if isinstance(val, And) else [val]
        if not (isinstance(d, BoolConst) and d.value):
            parts.insert(0, d)
        for part in parts:
            if any(isinstance(n, _NonFinite) for n in walk(part)):
                raise self.err(
                    "an infinite or NaN float is supported in comparisons with integer "
                    "expressions and in constant parts only",
                    node,
                )
        return parts

    # ---- helpers
    def const_value(self, node: ast.AST) -> tuple[Any, bool]:
        """``(value, defined)`` of a constant expression; ``defined`` is False where Python raises."""
        try:
            return _Interp(self.where).eval(node, {}), True
        except _PythonRaises:
            return None, False

    def is_constant(self, node: ast.AST) -> bool:
        """Whether ``node`` uses no parameter (it is computed at import time, as Python would)."""
        return not (_names(node) & set(self.params))

    def param(self, node: ast.AST) -> _Param | None:
        """The parameter ``node`` names, if it is a bare parameter name."""
        if isinstance(node, ast.Name):
            return self.params.get(node.id)
        return None

    def guard(self, e: Expr, conditions: list[Constraint], cond: bool) -> tuple[Expr, Constraint]:
        """A partial node: plain where Python always evaluates it; else a total form and when it
        is defined (``conditions``)."""
        if not cond or not conditions:
            return e, _TRUE
        d = _and(*conditions)
        return IfThenElse(d, e, Const(0)), d

    def values_of(self, p: _Param) -> list[tuple[int, Any]]:
        """(variable value, original value) of each value of a parameter."""
        return [(v, p.codes.get(v, v)) for v in self.model.domain(p.var)]

    def value_set(self, p: _Param, pred, node: ast.AST, cond: bool) -> tuple[Constraint, Constraint]:
        """``(link, defined)``: the parameter's values for which ``pred(original value)`` holds;
        ``defined`` excludes the values for which Python raises (a TypeError)."""
        ok, fine, message = [], [], None
        pairs = self.values_of(p)
        for code, value in pairs:
            try:
                if pred(value):
                    ok.append(code)
                fine.append(code)
            except TypeError as exc:
                message = f"parameter {p.name!r} (value {_short(value)}): {exc}"
        if not fine and not cond:
            raise self.err(message or "cannot compare", node)
        return self.one_of(p, ok, len(pairs)), self.one_of(p, fine, len(pairs))

    @staticmethod
    def one_of(p: _Param, codes: list[int], total: int) -> Constraint:
        if not codes:
            return BoolConst(False)
        if len(codes) == total:
            return BoolConst(True)
        return any_of([Compare("==", p.var, Const(c)) for c in codes])

    # ---- boolean context
    def boolean(self, node: ast.AST, cond: bool, top: bool) -> tuple[Constraint, Constraint]:
        if isinstance(node, ast.BoolOp):
            is_and = isinstance(node.op, ast.And)
            inner_top = top and is_and
            vals, defs = [], []
            for i, sub in enumerate(node.values):
                c = cond if (i == 0 or inner_top) else True
                v, d = self.boolean(sub, c, inner_top)
                vals.append(v)
                defs.append(d)
            acc = defs[-1]
            for v, d in zip(reversed(vals[:-1]), reversed(defs[:-1])):
                acc = _and(d, _or(_not(v) if is_and else v, acc))
            return (all_of(vals) if is_and else any_of(vals)), acc
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
            v, d = self.boolean(node.operand, cond, False)
            return _not(v), d
        if isinstance(node, ast.Compare):
            return self.compare(node, cond, top)
        if self.is_constant(node):
            v, ok = self.const_value(node)
            if not ok:
                return _FALSE, _FALSE
            return BoolConst(_Interp(self.where).truth(v, node)), _TRUE
        p = self.param(node)
        if p is not None and p.kind == "coded":
            return self.value_set(p, bool, node, cond)
        e, d = self.number(node, cond)
        return Compare("!=", e, Const(0)), d

    def compare(self, node: ast.Compare, cond: bool, top: bool) -> tuple[Constraint, Constraint]:
        operands = [node.left, *node.comparators]
        done: dict[int, tuple[Any, Constraint]] = {}

        def cond_of(j: int) -> bool:
            return cond if (j <= 1 or top) else True

        def operand(j: int):
            if j not in done:
                done[j] = self.number(operands[j], cond_of(j))
            return done[j]

        operand.cond_of = cond_of  # type: ignore[attr-defined]

        links = []
        defs: list[Constraint] = []
        for i, op in enumerate(node.ops):
            link, d_left, d_right = self.compare_pair(operands, i, op, operand, node)
            links.append(link)
            if i == 0:
                defs.append(d_left)
            else:
                defs[i] = _and(defs[i], d_left)
            defs.append(d_right)
        # operand j >= 2 is evaluated only where links 1 .. j-1 hold
        acc: Constraint = _TRUE
        for j in range(len(operands) - 1, 1, -1):
            acc = _or(_not(links[j - 2]), _and(defs[j], acc))
        return all_of(links), _and(defs[0], defs[1], acc)

    def compare_pair(self, operands, i, op, operand, node) -> tuple[Constraint, Constraint, Constraint]:
        """``(link, defined(left), defined(right))`` of the i-th link of a comparison chain."""
        left, right = operands[i], operands[i + 1]
        if isinstance(op, (ast.In, ast.NotIn)):
            return self.membership(operands, i, isinstance(op, ast.NotIn), operand)
        if type(op) not in _CMP_OPS:
            raise self.err(f"unsupported comparison {_describe(op)}", node)
        sym = _CMP_OPS[type(op)]
        fn = COMPARISON_FUNCTIONS[sym]
        cond = operand.cond_of(i)
        pl, pr = self.param(left), self.param(right)
        cl, cr = self.is_constant(left), self.is_constant(right)
        # a bare parameter against a constant that is not a number, or a non-numeric parameter:
        # decided value by value with the parameter's original values
        for p, other, flip in ((pl, right, False), (pr, left, True)):
            if p is None or not self.is_constant(other):
                continue
            lit, ok = self.const_value(other)
            if not ok:
                return (_FALSE, _TRUE, _FALSE) if not flip else (_FALSE, _FALSE, _TRUE)
            if p.kind == "coded" or not _is_number(lit):
                pred = (lambda v, lit=lit: fn(lit, v)) if flip else (lambda v, lit=lit: fn(v, lit))
                link, d = self.value_set(p, pred, node, cond)
                return link, _TRUE, d  # the comparison itself raises: with the right operand
        for p in (pl, pr):
            if p is not None and p.kind == "coded":
                raise self.err(
                    f"parameter {p.name!r} has non-numeric values and can only be compared with "
                    "literal values",
                    node,
                )
        # a number against a constant that is not a number (a string): equality is decided,
        # ordering raises in Python
        for const_side, other_j, flip in ((cr, i, False), (cl, i + 1, True)):
            if not const_side:
                continue
            lit, ok = self.const_value(right if not flip else left)
            if ok and not _is_number(lit):
                e, de = operand(other_j)
                if sym in ("==", "!="):
                    link = _constant_where_defined(sym == "!=", e)
                    return (link, de, _TRUE) if not flip else (link, _TRUE, de)
                if not cond:
                    raise self.err(
                        f"'{sym}' not supported between a number and {type(lit).__name__}", node
                    )
                return (_FALSE, de, _FALSE) if not flip else (_FALSE, _TRUE, _FALSE)
        a, da = operand(i)
        b, db = operand(i + 1)
        return self.compare_numbers(sym, a, b, node), da, db

    def compare_numbers(self, op: str, a: Expr, b: Expr, node: ast.AST) -> Constraint:
        try:
            return _compare_exact(op, a, b)
        except ValueError as exc:
            raise self.err(str(exc), node) from None

    def membership(self, operands, i, negated, operand) -> tuple[Constraint, Constraint, Constraint]:
        left, right = operands[i], operands[i + 1]
        cond = operand.cond_of(i)
        # value by value: a bare parameter in a constant container, or a constant in a parameter
        p = self.param(left)
        if p is not None and self.is_constant(right):
            container, ok = self.const_value(right)
            if not ok:
                return _FALSE, _TRUE, _FALSE
            if p.kind == "coded" or not isinstance(container, (list, tuple, set, range)) or any(
                not _is_number(v) for v in container
            ):
                link, d = self.value_set(p, lambda v: (v in container) != negated, right, cond)
                return link, _TRUE, d
        q = self.param(right)
        if q is not None and self.is_constant(left):
            item, ok = self.const_value(left)
            if not ok:
                return _FALSE, _FALSE, _TRUE
            link, d = self.value_set(q, lambda v: (item in v) != negated, right, cond)
            return link, _TRUE, d
        for r in (p, q):
            if r is not None and r.kind == "coded":
                raise self.err(
                    f"parameter {r.name!r} has non-numeric values and can only be compared with "
                    "literal values",
                    left if r is p else right,
                )
        e, de = operand(i)
        if not self.is_constant(right):
            if not isinstance(right, (ast.List, ast.Tuple, ast.Set)):
                raise self.err("'in' needs a list, tuple or set, or a constant collection, on its right", right)
            c = operand.cond_of(i + 1)
            pairs = [self.number(x, c) for x in right.elts]
            items = [v for v, _ in pairs]
            d_right = _and(*[d for _, d in pairs])
        else:
            container, ok = self.const_value(right)
            if not ok:
                return _FALSE, de, _FALSE
            d_right = _TRUE
            if isinstance(container, range):
                if len(container) > 64 and container.step == 1:
                    lo, hi = container.start, container.stop - 1
                    c = all_of(Compare("<=", Const(lo), e), Compare("<=", e, Const(hi)))
                    return (c.negate() if negated else c), de, d_right
                container = list(container)
            if isinstance(container, str):
                if not cond:
                    raise self.err("'in <string>' requires a string as left operand", right)
                return _FALSE, de, _FALSE
            if not isinstance(container, (list, tuple, set)):
                raise self.err("'in' needs a list, tuple, set or range on its right", right)
            values = container if not isinstance(container, set) else sorted(
                (v for v in container if _is_number(v)), key=float
            )
            items = [self.constant(v, right) for v in values if _is_number(v)]
        if not items:
            return _constant_where_defined(negated, e), de, d_right
        if negated:
            link = all_of([self.compare_numbers("!=", e, v, right) for v in items])
        else:
            link = any_of([self.compare_numbers("==", e, v, right) for v in items])
        return link, de, d_right

    # ---- numeric context
    def constant(self, v: Any, node: ast.AST) -> Expr:
        if isinstance(v, bool):
            return Const(int(v))
        if isinstance(v, int):
            if abs(v) > MAX_INT:
                raise self.err("number too large (at most 2**63 - 1 in magnitude)", node)
            return Const(v)
        if isinstance(v, float):
            if not math.isfinite(v):
                return _NonFinite(v)
            p, q = v.as_integer_ratio()
            return TrueDiv(Const(p), Const(q))
        raise self.err(f"expected a number, got {type(v).__name__} {_short(v)}", node)

    def number(self, node: ast.AST, cond: bool) -> tuple[Expr, Constraint]:
        if self.is_constant(node) and not isinstance(node, ast.Name):
            # a constant sub-expression: computed now, exactly as Python would
            v, ok = self.const_value(node)
            if not ok:
                return Const(0), _FALSE
            if isinstance(v, str):
                raise self.err(f"unsupported {_describe(node)} in arithmetic", node)
            return self.constant(v, node), _TRUE
        if isinstance(node, ast.Name):
            p = self.params.get(node.id)
            if p is None:
                raise self.err(f"unknown name {node.id!r} (not a tuning parameter)", node)
            if p.kind == "int":
                return p.var, _TRUE
            if p.kind == "scaled":
                return TrueDiv(p.var, Const(p.scale)), _TRUE
            raise self.err(
                f"parameter {p.name!r} has non-numeric values; it can only be compared with "
                "literal values (==, !=, <, ..., in)",
                node,
            )
        if isinstance(node, ast.UnaryOp):
            if isinstance(node.op, ast.Not):
                v, d = self.boolean(node.operand, cond, False)
                return Reify(_not(v)), d
            v, d = self.number(node.operand, cond)
            if isinstance(node.op, ast.USub):
                return Neg(v), d
            if isinstance(node.op, ast.UAdd):
                return v, d
            if isinstance(node.op, ast.Invert):
                if not v.integral:
                    raise self.err("bad operand type for unary ~: float", node)
                return BitNot(v), d
            raise self.err(f"unsupported {_describe(node)}", node)
        if isinstance(node, ast.BinOp):
            return self.binop(node, cond)
        if isinstance(node, ast.Call):
            return self.call(node, cond)
        if isinstance(node, ast.Compare):
            v, d = self.compare(node, cond, False)
            return Reify(v), d
        if isinstance(node, ast.BoolOp):
            return self.boolop_value(node, cond)
        if isinstance(node, ast.IfExp):
            c, dc = self.boolean(node.test, cond, False)
            a, da = self.number(node.body, True)
            b, db = self.number(node.orelse, True)
            return IfThenElse(c, a, b), _and(dc, _or(_not(c), da), _or(c, db))
        if isinstance(node, ast.Subscript):
            return self.subscript(node, cond)
        if isinstance(node, ast.Constant):
            raise self.err(f"unsupported {_describe(node)} in arithmetic", node)
        raise self.err(f"unsupported {_describe(node)}", node)

    def binop(self, node: ast.BinOp, cond: bool) -> tuple[Expr, Constraint]:
        op = type(node.op)
        if op not in _NUM_OPS and op not in _BIT_OPS:
            raise self.err(f"unsupported {_describe(node)}", node)
        if op in (ast.Add, ast.Sub):
            return self.sum_chain(node, cond)
        if op is ast.Mult and isinstance(node.left, ast.BinOp) and isinstance(node.left.op, ast.Mult) \
                and not self.is_constant(node.left):
            return self.product_chain(node, cond)
        a, da = self.number(node.left, cond)
        if op is ast.Pow:
            return self.power(node, a, da, cond)
        b, db = self.number(node.right, cond)
        d = _and(da, db)
        if op in _BIT_OPS:
            if not (a.integral and b.integral):
                raise self.err(
                    f"unsupported operand types for {_SYMBOL[op]!r}: float (integers only)", node
                )
            if op is ast.LShift:
                self.check_range(b, 0, MAX_SHIFT, "the count of '<<'", node.right)
            if op in (ast.LShift, ast.RShift):
                e = (LShift if op is ast.LShift else RShift)(a, b)
                g, dg = self.guard(e, e.definedness(), cond)
                return g, _and(d, dg)
        if op in _TOTAL_NODES:
            return _TOTAL_NODES[op](a, b), d
        if cond and self.may_be_zero(b):
            d = _and(d, Compare("!=", b, Const(0)))
            b = self.guard_divisor(b)
        if op is ast.Div:
            return TrueDiv(a, b), d
        if op is ast.FloorDiv:
            return FloorDiv(a, b), d
        return Mod(a, b), d

    def sum_chain(self, node: ast.BinOp, cond: bool) -> tuple[Expr, Constraint]:
        """A chain ``a + b - c ...`` as one flat :class:`~constrint.expr.Sum`, terms in Python's
        order of evaluation (no recursion per term)."""
        spine = []
        n: ast.AST = node
        while isinstance(n, ast.BinOp) and isinstance(n.op, (ast.Add, ast.Sub)) and not (
            n is not node and self.is_constant(n)
        ):
            spine.append(n)
            n = n.left
        first, d = self.number(n, cond)
        terms = list(first.children) if type(first) is Sum else [first]
        signs = list(first.signs) if type(first) is Sum else [1]
        guards = [d]
        for b in reversed(spine):
            e, db = self.number(b.right, cond)
            terms.append(e)
            signs.append(1 if isinstance(b.op, ast.Add) else -1)
            guards.append(db)
        return Sum(terms, signs), _and(*guards)

    def product_chain(self, node: ast.BinOp, cond: bool) -> tuple[Expr, Constraint]:
        """A chain ``a * b * c ...`` as one flat :class:`~constrint.expr.Product`, factors in
        Python's order of evaluation (no recursion per factor)."""
        spine = []
        n: ast.AST = node
        while isinstance(n, ast.BinOp) and isinstance(n.op, ast.Mult) and not (
            n is not node and self.is_constant(n)
        ):
            spine.append(n)
            n = n.left
        first, d = self.number(n, cond)
        factors, guards = [first], [d]
        for b in reversed(spine):
            e, db = self.number(b.right, cond)
            factors.append(e)
            guards.append(db)
        return Product(factors), _and(*guards)

    def power(self, node: ast.BinOp, a: Expr, da: Constraint, cond: bool) -> tuple[Expr, Constraint]:
        if self.is_constant(node.right):
            p, ok = self.const_value(node.right)
            if not ok:
                return Const(0), _FALSE
            if isinstance(p, bool) or not isinstance(p, int) or not -MAX_EXPONENT <= p <= MAX_EXPONENT:
                raise self.err(
                    f"the exponent of '**' must be an integer from {-MAX_EXPONENT} to "
                    f"{MAX_EXPONENT}, got {_short(p)}",
                    node.right,
                )
            if p >= 0:
                return Pow(a, p), da
            b: Expr = Const(p)
            db: Constraint = _TRUE
        else:
            b, db = self.number(node.right, cond)
            if not b.integral:
                raise self.err("the exponent of '**' must be integer-valued", node.right)
            self.check_range(b, -MAX_EXPONENT, MAX_EXPONENT, "the exponent of '**'", node.right)
        e = Power(a, b, nonnegative_over_declared_domains(b))
        g, dg = self.guard(e, e.definedness(), cond)
        return g, _and(da, db, dg)

    def check_range(self, e: Expr, lo: int, hi: int, what: str, node: ast.AST) -> None:
        """Refuse (as the sandbox does) an exponent or count that may leave ``lo..hi``."""
        if not e.variables():
            return
        d, _ = forward(e, Store(list(self.model._domains)), {})
        if d is None:
            return
        if d.lo < lo or d.hi > hi:
            bound = d.hi if d.hi > hi else d.lo
            raise self.err(f"{what} may reach {bound} (allowed: {lo} to {hi})", node)

    def boolop_value(self, node: ast.BoolOp, cond: bool) -> tuple[Expr, Constraint]:
        """``a and b`` / ``a or b`` used as a number: Python gives one of the operands."""
        is_and = isinstance(node.op, ast.And)
        pairs = [self.number(sub, cond if i == 0 else True) for i, sub in enumerate(node.values)]
        value, defined = pairs[-1]
        for v, d in reversed(pairs[:-1]):
            truthy = Compare("!=", v, Const(0))
            value = IfThenElse(truthy, value, v) if is_and else IfThenElse(truthy, v, value)
            defined = _and(d, _or(_not(truthy) if is_and else truthy, defined))
        return value, defined

    def items(self, node: ast.AST, cond: bool) -> tuple[list[Expr], Constraint] | None:
        """The numbers of a list, tuple or set display (``None`` if ``node`` is none)."""
        if not isinstance(node, (ast.List, ast.Tuple, ast.Set)):
            return None
        if any(isinstance(e, ast.Starred) for e in node.elts):
            raise self.err("unsupported starred expression", node)
        pairs = [self.number(e, cond) for e in node.elts]
        return [v for v, _ in pairs], _and(*[d for _, d in pairs])

    def subscript(self, node: ast.Subscript, cond: bool) -> tuple[Expr, Constraint]:
        if isinstance(node.slice, ast.Slice):
            raise self.err("slices of sequences with parameters are not supported", node.slice)
        # Python evaluates every item of a display before indexing it
        listed = self.items(node.value, True)
        if listed is None:
            if not self.is_constant(node.value):
                raise self.err("only a list, tuple or constant sequence can be indexed", node.value)
            seq, ok = self.const_value(node.value)
            if not ok:
                return Const(0), _FALSE
            if not isinstance(seq, (list, tuple, range)):
                raise self.err(f"'{type(seq).__name__}' cannot be indexed by a parameter", node.value)
            items = [self.constant(v, node.value) for v in seq]
            d_items: Constraint = _TRUE
        else:
            items, d_items = listed
        if not items:
            raise self.err("indexing an empty sequence", node.value)
        index, di = self.number(node.slice, cond)
        if not index.integral:
            raise self.err("list indices must be integers, not float", node.slice)
        n = len(items)
        lo_store = Store(list(self.model._domains))
        dom, _ = forward(index, lo_store, {})
        if dom is not None and dom.lo < 0:
            # Python counts negative indices from the end
            index = IfThenElse(Compare("<", index, Const(0)), add(index, Const(n)), index)
        e = Element(items, index)
        g, dg = self.guard(e, [Compare(">=", index, Const(0)), Compare("<", index, Const(n))], cond)
        return g, _and(d_items, di, dg)

    def call(self, node: ast.Call, cond: bool) -> tuple[Expr, Constraint]:
        if not isinstance(node.func, ast.Name) or node.func.id not in _CALLS:
            raise self.err(f"unsupported {_describe(node)} (allowed: {', '.join(_CALLS)})", node)
        name = node.func.id
        if node.keywords or any(isinstance(a, ast.Starred) for a in node.args):
            raise self.err(f"only plain positional arguments are supported in {name}()", node)
        args = node.args
        if name in ("range", "list"):
            raise self.err(f"{name}() of parameters is not a number", node)
        if name in ("min", "max", "sum", "len"):
            if name in ("min", "max") and len(args) > 1:
                pairs = [self.number(a, cond) for a in args]
                vals, d = [v for v, _ in pairs], _and(*[d for _, d in pairs])
            else:
                if not args or len(args) > (2 if name == "sum" else 1):
                    raise self.err(f"wrong number of arguments to {name}()", node)
                listed = self.items(args[0], True if name == "len" else cond)
                if listed is None:
                    raise self.err(
                        f"{name}() of parameters needs a list, tuple or set display", args[0]
                    )
                vals, d = listed
                if name == "len":
                    return Const(len(vals)), d
                if name == "sum":
                    start, ds = (self.number(args[1], cond) if len(args) == 2 else (Const(0), _TRUE))
                    out = Sum([start, *vals]) if vals else start  # ((start + v0) + v1) ...
                    return out, _and(ds, d)
                if not vals:
                    raise self.err(f"{name}() of an empty sequence", node)
            if isinstance(args[0], ast.Set) and len(args) == 1:
                pass  # min/max of a set: order does not matter
            return (min_(vals) if name == "min" else max_(vals)), d
        if len(args) != 1:
            raise self.err(f"{name}() takes one argument here", node)
        v, d = self.number(args[0], cond)
        if name == "abs":
            return Abs(v), d
        if name == "int":
            return (v if v.integral else Trunc(v)), d
        if name == "round":
            return (v if v.integral else Round(v)), d
        if name == "float":
            return (TrueDiv(v, Const(1)) if v.integral else v), d
        # bool
        return Reify(Compare("!=", v, Const(0))), d

    def guard_divisor(self, d: Expr) -> Expr:
        """An expression equal to ``d`` except that it is 1 where ``d`` is 0."""
        if d.integral:
            return Sum([d, Sum([Const(1), Min(Abs(d), Const(1))], [1, -1])])
        ceil_abs = Neg(FloorDiv(Neg(Abs(d)), Const(1)))
        return Sum([d, Sum([Const(1), Min(ceil_abs, Const(1))], [1, -1])])

    def may_be_zero(self, d: Expr) -> bool:
        """Whether ``d`` can be 0 (or undefined) over the declared domains (True if unsure)."""
        vs = list(d.variables().values())
        total = 1
        doms = []
        for v in vs:
            dom = self.model.domain(v)
            total *= dom.size
            if total > ZERO_CHECK_LIMIT:
                return True
            doms.append(list(dom))
        names = [v.name for v in vs]
        for combo in itertools.product(*doms):
            try:
                if d.evaluate(dict(zip(names, combo))) == 0:
                    return True
            except (Undefined, ArithmeticError):
                return True
        return False


def _compare_exact(op: str, a: Expr, b: Expr) -> Constraint:
    """``a op b`` with Python's meaning; a float constant against an integer expression becomes
    an integer comparison (infinite and NaN constants included)."""
    fa, fb = _float_literal(a), _float_literal(b)
    if fb is not None and fa is None:
        return _vs_float(op, a, fb)
    if fa is not None and fb is None:
        flipped = {"<": ">", "<=": ">=", ">": "<", ">=": "<=", "==": "==", "!=": "!="}[op]
        return _vs_float(flipped, b, fa)
    return Compare(op, a, b)


def _vs_float(op: str, e: Expr, f: float) -> Constraint:
    if math.isfinite(f):
        return _int_vs_float(op, e, f) if e.integral else Compare(op, e, _float_node(f))
    if any(_float_literal(n) is not None for n in walk(e)):
        raise ValueError(
            "comparing a float expression with an infinite or NaN constant is not supported"
        )
    # every value of e is finite: inf is above all of them, NaN compares unequal to all
    if math.isnan(f):
        truth = op == "!="
    else:
        truth = COMPARISON_FUNCTIONS[op](0, f)
    return _constant_where_defined(truth, e)


def _float_node(f: float) -> Expr:
    p, q = f.as_integer_ratio()
    return TrueDiv(Const(p), Const(q))


def _constant_where_defined(value: bool, e: Expr) -> Constraint:
    """``value``, but still false where ``e`` is undefined (a division by zero stays invalid)."""
    if may_be_undefined(e):
        return Compare("==" if value else "!=", e, e)
    return BoolConst(value)


def _float_literal(e: Expr) -> float | None:
    if isinstance(e, _NonFinite):
        return e.value
    if isinstance(e, TrueDiv) and isinstance(e.a, Const) and isinstance(e.b, Const) and e.b.value:
        return e.a.value / e.b.value
    return None


def _int_vs_float(op: str, e: Expr, f: float) -> Constraint:
    """``e op f`` for integer-valued ``e``, exactly as Python compares an int with a float."""
    lo = math.floor(f)
    hi = math.ceil(f)
    integral = lo == hi
    if not integral and op in ("==", "!="):
        return _constant_where_defined(op == "!=", e)
    if op == "==":
        return Compare("==", e, Const(lo))
    if op == "!=":
        return Compare("!=", e, Const(lo))
    if op == "<":
        return Compare("<", e, Const(hi))
    if op == "<=":
        return Compare("<=", e, Const(lo))
    if op == ">":
        return Compare(">", e, Const(lo))
    return Compare(">=", e, Const(hi))


def _names(node: ast.AST) -> set[str]:
    return {n.id for n in ast.walk(node) if isinstance(n, ast.Name)}


# ====================================================================== files


@dataclass
class T1Space:
    """A T1 search space read by :func:`read_t1`.

    ``labels`` maps, for every parameter whose values are not plain integers, the variable's
    integer values to the original values (strings, floats, booleans).

    >>> space = read_t1({"ConfigurationSpace": {
    ...     "TuningParameters": [{"Name": "prec", "Values": "['half', 'single']"},
    ...                          {"Name": "v", "Values": "[1, 2, 4]"}],
    ...     "Conditions": [{"Expression": "prec == 'half' or v < 4"}]}})
    >>> space.labels
    {'prec': {0: 'half', 1: 'single'}}
    >>> space.model.count()
    5
    """

    model: Model
    labels: dict[str, dict[int, Any]]
    name: str | None = None

    def decode(self, solution: Mapping[str, int]) -> dict[str, Any]:
        """A solution with every parameter's original value.

        >>> space = read_t1({"ConfigurationSpace": {"TuningParameters": [
        ...     {"Name": "layout", "Values": "['row', 'col']"}, {"Name": "w", "Values": "[0.5, 1]"}]}})
        >>> [space.decode(s) for s in space.model.solutions()][:2]
        [{'layout': 'row', 'w': 0.5}, {'layout': 'row', 'w': 1}]
        """
        out: dict[str, Any] = {}
        for k, v in solution.items():
            lab = self.labels.get(k)
            out[k] = lab.get(v, v) if lab else v
        return out


T1Source = Union[str, "os.PathLike[str]", Mapping[str, Any]]


def read_t1(source: T1Source, filename: str | None = None) -> T1Space:
    """Read a T1 search space (a path to a JSON file, or the already-decoded JSON object).

    Returns the model together with the labels of non-integer parameters (:class:`T1Space`).

    >>> space = read_t1({"ConfigurationSpace": {"TuningParameters": [
    ...     {"Name": "unroll", "Values": "[True, False]"}, {"Name": "n", "Values": "range(1, 4)"}]}})
    >>> space.model.count(), space.labels
    (6, {'unroll': {1: True, 0: False}})
    """
    if isinstance(source, (str, os.PathLike)):
        fname = filename or os.fspath(source)
        with open(os.fspath(source), "rb") as f:
            raw = f.read()
        data: Any = _decode_json(raw, fname)
    else:
        data = source
        fname = filename or "<dict>"
    return _build(data, fname)


def load_t1(source: T1Source, filename: str | None = None) -> Model:
    """A :class:`~constrint.Model` of a T1 search space (path or decoded JSON object).

    >>> m = load_t1({"ConfigurationSpace": {
    ...     "TuningParameters": [{"Name": "x", "Type": "int", "Values": "[2**i for i in range(6)]"}],
    ...     "Conditions": [{"Parameters": ["x"], "Expression": "x % 4 == 0 or x < 2"}]}})
    >>> sorted(v for v in m.domain("x"))
    [1, 2, 4, 8, 16, 32]
    """
    return read_t1(source, filename).model


def loads_t1(text: str, filename: str = "<string>") -> Model:
    """Like :func:`load_t1`, from JSON text.

    >>> text = '{"ConfigurationSpace": {"TuningParameters": [{"Name": "x", "Values": [1, 2, 3]}]}}'
    >>> loads_t1(text).count()
    3
    """
    return _build(_decode_json(text.encode("utf-8"), filename), filename).model


def _decode_json(raw: bytes, fname: str) -> Any:
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise T1Error(f"not UTF-8 text (byte {exc.start})", fname) from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        lines = text.splitlines()
        src = lines[exc.lineno - 1] if 1 <= exc.lineno <= len(lines) else None
        raise T1Error(
            f"invalid JSON: {exc.msg}", fname, f"line {exc.lineno}", exc.colno, src
        ) from None
    except (RecursionError, ValueError) as exc:
        raise T1Error(f"invalid JSON: {exc}", fname) from None


def _get(obj: Any, key: str, path: str, fname: str, kind: type | tuple, required: bool = True):
    if not isinstance(obj, Mapping):
        raise T1Error(f"expected a JSON object at {path or 'the top level'}", fname, path or None)
    if key not in obj:
        if required:
            raise T1Error(f"missing key {key!r}", fname, path or None)
        return None
    v = obj[key]
    if not isinstance(v, kind):
        tn = {dict: "object", list: "array", str: "string"}
        kinds = (kind,) if isinstance(kind, type) else kind
        names = " or ".join(tn.get(k, k.__name__) for k in kinds)
        got = {dict: "object", list: "array", str: "string", bool: "boolean", type(None): "null"}
        raise T1Error(
            f"{key!r} must be a JSON {names}, got {got.get(type(v), 'number')}",
            fname,
            f"{path}.{key}" if path else key,
        )
    return v


def _build(data: Any, fname: str) -> T1Space:
    if not isinstance(data, Mapping):
        raise T1Error("the top level must be a JSON object", fname)
    cs = _get(data, "ConfigurationSpace", "", fname, dict)
    tps = _get(cs, "TuningParameters", "ConfigurationSpace", fname, list)
    conds = _get(cs, "Conditions", "ConfigurationSpace", fname, list, required=False) or []
    if not tps:
        raise T1Error("no tuning parameters", fname, "ConfigurationSpace.TuningParameters")
    model = Model()
    params: dict[str, _Param] = {}
    labels: dict[str, dict[int, Any]] = {}
    for i, tp in enumerate(tps):
        path = f"ConfigurationSpace.TuningParameters[{i}]"
        name = _get(tp, "Name", path, fname, str)
        values_src = _get(tp, "Values", path, fname, (str, list))
        if "Type" in tp and not isinstance(tp["Type"], str):
            raise T1Error("'Type' must be a string", fname, f"{path}.Type")
        if name in params:
            raise T1Error(f"duplicate parameter name {name!r}", fname, f"{path}.Name")
        vpath = f"{path}.Values ({name})"
        if isinstance(values_src, str):
            where = _Where(fname, vpath, values_src)
            values = evaluate_values(values_src, where)
        else:
            where = _Where(fname, vpath, json.dumps(values_src)[:200])
            values = list(values_src)
            if len(values) > MAX_VALUES:
                raise where.error(f"too many values ({len(values)}; at most {MAX_VALUES})")
        kind, ints, scale, labs = _classify(name, values, where)
        try:
            var = model.int_var(name, values=ints)
        except ModelError as exc:
            raise T1Error(str(exc), fname, f"{path}.Name") from None
        params[name] = _Param(name, kind, var, scale, values, labs)
        if labs:
            labels[name] = labs
    for j, cond in enumerate(conds):
        path = f"ConfigurationSpace.Conditions[{j}]"
        expr = _get(cond, "Expression", path, fname, str)
        if "Parameters" in cond and not isinstance(cond["Parameters"], list):
            raise T1Error("'Parameters' must be a JSON array", fname, f"{path}.Parameters")
        where = _Where(fname, f"{path}.Expression", expr)
        node = _parse(where)
        conv = _Cond(where, params, model)
        try:
            # a top-level conjunction becomes separate constraints (same meaning, better propagation)
            model.add(conv.condition(node))
        except RecursionError:
            raise where.error("expression nested too deeply") from None
    general = data.get("General") if isinstance(data, Mapping) else None
    kname = None
    ks = data.get("KernelSpecification") if isinstance(data, Mapping) else None
    if isinstance(ks, Mapping) and isinstance(ks.get("KernelName"), str):
        kname = ks["KernelName"]
    elif isinstance(general, Mapping) and isinstance(general.get("BenchmarkName"), str):
        kname = general["BenchmarkName"]
    return T1Space(model, labels, kname)


__all__ = ["load_t1", "loads_t1", "read_t1", "T1Space", "evaluate_values", "T1Error"]
