"""Writing models as ``.cint`` text that :func:`constrint.loads` reads back to the same model.

The printer parenthesises a little more than strictly needed: a ``%`` that is an operand of
another arithmetic operator is always put in parentheses, so that the text never hits the
legacy ``A % B == 0`` ambiguity check of the parser.
"""
from __future__ import annotations

from ..errors import ModelError
from ..expr import (
    Abs,
    Add,
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
    Sub,
    TrueDiv,
    Trunc,
    Var,
)
from .grammar import KEYWORDS, LITERAL_BOUND, MAX_LITERAL_DIGITS

# precedence levels, higher binds tighter
_OR, _AND, _NOT, _CMP, _ADD, _MUL, _UNARY, _POW, _ATOM = range(9)

_ARITH = {Add: ("+", _ADD), Sub: ("-", _ADD), Mul: ("*", _MUL), FloorDiv: ("//", _MUL),
          ExactDiv: ("/", _MUL), Mod: ("%", _MUL)}


def int_text(v: int) -> str:
    """Decimal text of an integer that the reader accepts back (a ModelError if it cannot)."""
    if abs(v) >= LITERAL_BOUND:
        raise ModelError(
            f"cannot write an integer of {v.bit_length()} bits as .cint text (at most "
            f"{MAX_LITERAL_DIGITS} digits)"
        )
    return str(v)


def _wrap(text: str, prec: int, need: int) -> str:
    return f"({text})" if prec < need else text


def expr_text(e) -> tuple[str, int]:
    """``(text, precedence)`` of an integer expression."""
    t = type(e)
    if t is Const:
        text = int_text(e.value)
        return (text, _ATOM) if e.value >= 0 else (text, _UNARY)
    if t is Var:
        if e.name in KEYWORDS:
            raise ModelError(f"variable name {e.name!r} is a keyword of the .cint language")
        return e.name, _ATOM
    if t in _ARITH:
        sym, prec = _ARITH[t]
        return f"{_operand(e.a, prec)} {sym} {_operand(e.b, prec + 1)}", prec
    if t is Neg:
        s, p = expr_text(e.a)
        return "-" + _wrap(s, p, _UNARY), _UNARY
    if t is Pow:
        s, p = expr_text(e.a)
        return f"{_wrap(s, p, _ATOM)}^{e.p}", _POW
    if t in (Min, Max):
        return f"{'min' if t is Min else 'max'}({expr_text(e.a)[0]}, {expr_text(e.b)[0]})", _ATOM
    if t is TrueDiv:
        return f"truediv({expr_text(e.a)[0]}, {expr_text(e.b)[0]})", _ATOM
    if t is Abs:
        return f"abs({expr_text(e.a)[0]})", _ATOM
    if t is Trunc:
        return f"int({expr_text(e.a)[0]})", _ATOM
    hook = getattr(e, "cint_text", None)
    if hook is not None:
        return hook(expr_text, constraint_text)
    raise ModelError(f"cannot write a {t.__name__} node as .cint text")


def _operand(e, need: int) -> str:
    s, p = expr_text(e)
    if type(e) is Mod:  # never leave a '%' bare inside other arithmetic (legacy ambiguity)
        return f"({s})"
    return _wrap(s, p, need)


def constraint_text(c) -> tuple[str, int]:
    """``(text, precedence)`` of a constraint."""
    t = type(c)
    if t is Compare:
        return f"{_wrap(*expr_text(c.a), _CMP + 1)} {c.op} {_wrap(*expr_text(c.b), _CMP + 1)}", _CMP
    if t in (Divides, NotDivides):
        op = "==" if t is Divides else "!="
        return f"{_operand(c.b, _MUL)} % {_operand(c.a, _MUL + 1)} {op} 0", _CMP
    if t is BoolConst:
        return ("true" if c.value else "false"), _ATOM
    if t is And:
        if not c.children:
            return "true", _ATOM
        return " and ".join(_wrap(*constraint_text(x), _AND + 1) for x in c.children), _AND
    if t is Or:
        if not c.children:
            return "false", _ATOM
        return " or ".join(_wrap(*constraint_text(x), _OR + 1) for x in c.children), _OR
    if t is Not:
        s, p = constraint_text(c.c)
        return "not " + _wrap(s, p, _NOT), _NOT
    hook = getattr(c, "cint_text", None)
    if hook is not None:
        return hook(expr_text, constraint_text)
    raise ModelError(
        f"cannot write a {t.__name__} constraint as .cint text (custom constraints have no text form)"
    )


def domain_text(dom) -> str:
    """``lo..hi`` or ``[v1, v2, ...]`` for a domain."""
    if dom.values is None and dom.factor == 1 and dom.primes is None:
        return f"{int_text(dom.lo)}..{int_text(dom.hi)}"
    if dom.values is None and dom.size > 1_000_000:
        raise ModelError(f"cannot write a domain of {dom.size} scattered values as .cint text")
    values = list(dom.values) if dom.values is not None else list(dom)
    if values[-1] - values[0] + 1 == len(values):
        return f"{int_text(values[0])}..{int_text(values[-1])}"
    return "[" + ", ".join(map(int_text, values)) + "]"


def _commented(line: str, source) -> str:
    if source is None or not source.comment:
        return line
    return f"{line}  # {source.comment}"


def dumps(model) -> str:
    """The model as ``.cint`` text: declarations, one constraint per line, the objective.

    ``loads(dumps(m))`` has the same solutions as ``m``; the trailing comments of the text a
    model was read from are kept. Models with custom constraints, or with variables named like
    keywords, are refused (:class:`~constrint.ModelError`).

    >>> import constrint as ci
    >>> m = ci.Model(); t = m.int_var("t", values=[1, 2, 4, 8, 16])
    >>> m += ci.divides(t, 48); m.maximize(t)
    >>> print(ci.dumps(m), end="")
    # constrint model
    var t in [1, 2, 4, 8, 16];
    48 % t == 0;
    maximize t;
    """
    lines = ["# constrint model"]
    for v in model.variables:
        if v.name in KEYWORDS:
            raise ModelError(f"variable name {v.name!r} is a keyword of the .cint language")
        decl = f"var {v.name} in bool;" if v.boolean else f"var {v.name} in {domain_text(model.domain(v))};"
        lines.append(_commented(decl, model.source(v)))
    for st in model.statements:
        lines.append(_commented(constraint_text(st.constraint)[0] + ";", st.source))
    obj = model.objective
    if obj is not None:
        exprs, sense = obj
        lines.append(f"{sense} " + ", ".join(expr_text(e)[0] for e in exprs) + ";")
    return "\n".join(lines) + "\n"
