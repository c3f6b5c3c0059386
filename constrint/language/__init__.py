"""The ``.cint`` text language: read (:func:`loads`, :func:`load`) and write (:func:`dumps`,
:func:`dump`) models; parse single expressions against a model (:func:`parse_expression`).

>>> import constrint as ci
>>> m = ci.loads("var t in [1, 2, 4, 8, 16]; 48 % t == 0; maximize t;")
>>> ci.loads(ci.dumps(m)).count() == m.count()
True

See ``docs/language.md`` for the grammar and the semantics.
"""
from __future__ import annotations

import os
from typing import Union

from ..errors import ConstraintSyntaxError
from ..expr import Constraint, Expr
from ..model import Model
from .compiler import UNDECLARED_HI, UNDECLARED_LO, Compiler
from .grammar import DIALECTS, KEYWORDS, check_dialect
from .printer import dumps

PathLike = Union[str, "os.PathLike[str]"]


def loads(text: str, filename: str = "<string>", *, dialect: str = "cint",
          cache_dir: PathLike | None = None) -> Model:
    """A :class:`~constrint.Model` from ``.cint`` text; :class:`ConstraintSyntaxError` if malformed.

    ``filename`` is only used in error messages. ``dialect="flashrnn"`` reads files of the
    original ConstrINT format unchanged, where ``%`` binds loosest of the arithmetic operators
    (``A % B * C == 0`` means ``A`` is divisible by ``B * C``); see :data:`DIALECTS`.

    ``cache_dir`` keeps the parsed model in that directory, keyed by the text, ``filename``,
    the dialect and constrint's own code, and reads it back on the next call with the same
    text instead of parsing (a large model in a few milliseconds instead of tenths of a
    second; see :mod:`constrint.language.cache`). The files are pickles: name a directory only
    you can write to. Each call returns a model of its own.

    >>> import constrint as ci
    >>> m = ci.loads("A == 96; B == 4; var C in 1..8; A % B * C == 0;", dialect="flashrnn")
    >>> str(m.constraints[-1]), m.count()           # 4 * C divides 96: C divides 24
    ('A % (B * C) == 0', 6)

    >>> import constrint as ci
    >>> m = ci.loads("var BM in [32, 64, 128]; var BK in 8..64; 4096 % BM == 0; BM * BK <= 4096;")
    >>> m.count()
    139
    """
    if not isinstance(text, str):
        raise TypeError(f"loads() takes a str, got {type(text).__name__}")
    dialect = check_dialect(dialect)
    if cache_dir is None:
        return _compile(text, filename, dialect)
    if not isinstance(cache_dir, (str, os.PathLike)):
        raise TypeError(f"cache_dir must be a path, got {type(cache_dir).__name__}")
    from . import cache

    k = cache.key(text, filename, dialect)
    model = cache.read(cache_dir, k)
    if model is None:
        model = _compile(text, filename, dialect)
        cache.write(cache_dir, k, model)
    return model


def _compile(text: str, filename: str, dialect: str) -> Model:
    comp = Compiler(text, filename, dialect)
    tree = comp.parse("start")
    try:
        return comp.compile_program(tree)
    except RecursionError:
        raise ConstraintSyntaxError("expression nested too deeply", filename) from None


def load(path: PathLike, *, dialect: str = "cint", cache_dir: PathLike | None = None) -> Model:
    """A :class:`~constrint.Model` from a ``.cint`` file (UTF-8; ``dialect`` and ``cache_dir``
    as in :func:`loads`).

    >>> import constrint as ci
    >>> m = ci.load("examples/matmul_tiling.cint")      # run from the repository root
    >>> m.solve().values["BM"]
    256
    """
    name = os.fspath(path)
    with open(name, "rb") as f:
        data = f.read()
    return loads(_decode(data, name), filename=name, dialect=dialect, cache_dir=cache_dir)


def dump(model: Model, path: PathLike) -> None:
    """Write ``model`` as ``.cint`` text to ``path`` (UTF-8); :func:`load` reads it back.

    >>> import constrint as ci, os, tempfile
    >>> m = ci.Model(); t = m.int_var("t", values=[1, 2, 4, 8]); m += ci.divides(t, 12)
    >>> path = os.path.join(tempfile.mkdtemp(), "tiles.cint")
    >>> ci.dump(m, path)
    >>> ci.load(path).count()
    3
    """
    text = dumps(model)
    with open(os.fspath(path), "w", encoding="utf-8") as f:
        f.write(text)


def parse_expression(text: str, model: Model, filename: str = "<expression>") -> Expr | Constraint:
    """One expression or constraint in ``.cint`` syntax over the variables of ``model``.

    >>> import constrint as ci
    >>> m = ci.loads("var x in 1..8;")
    >>> str(parse_expression("2 * x <= 6", m))
    '2 * x <= 6'
    """
    exprs = parse_expressions(text, model, filename)
    if len(exprs) != 1:
        raise ConstraintSyntaxError(
            f"expected one expression, got {len(exprs)} separated by ','", filename, 1, 1, text
        )
    return exprs[0]


def parse_expressions(text: str, model: Model, filename: str = "<expression>") -> list[Expr | Constraint]:
    """Comma-separated expressions or constraints over the variables of ``model``.

    >>> import constrint as ci
    >>> m = ci.loads("var x in 1..8;")
    >>> [str(e) for e in parse_expressions("x + 1, x < 3", m)]
    ['x + 1', 'x < 3']
    """
    comp = Compiler(text, filename)
    comp.model = model
    comp.names = {v.name: v for v in model.variables}
    tree = comp.parse("exprs")
    out = []
    try:
        for node in tree.children:
            e = comp.term(node)
            if not isinstance(e, (Expr, Constraint)):
                raise comp.error(
                    "a value list [..] can only be used as 'E == [..]' or 'E in [..]'", node
                )
            out.append(e)
    except RecursionError:
        raise ConstraintSyntaxError("expression nested too deeply", filename) from None
    return out


def parse_objective(text: str, model: Model, filename: str = "<objective>") -> list[Expr]:
    """Comma-separated integer expressions (a lexicographic objective) over ``model``'s variables.

    >>> import constrint as ci
    >>> m = ci.loads("var x, y in 1..8; x * y <= 12;")
    >>> m.maximize(parse_objective("x * y, -x", m))
    >>> m.solve().values
    {'x': 2, 'y': 6}
    """
    comp = Compiler(text, filename)
    comp.model = model
    comp.names = {v.name: v for v in model.variables}
    tree = comp.parse("exprs")
    out = []
    for node in tree.children:
        e = comp.integer(node, "an integer expression (an objective)")
        if not e.integral:
            raise comp.error("an objective must be integer-valued; truediv() gives fractions", node)
        out.append(e)
    return out


def _decode(data: bytes, name: str) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        before = data[: exc.start]
        line = before.count(b"\n") + 1
        col = exc.start - (before.rfind(b"\n") + 1) + 1
        raise ConstraintSyntaxError(
            f"not UTF-8 text (byte 0x{data[exc.start]:02x})", name, line, col, None
        ) from None


__all__ = [
    "loads", "load", "dumps", "dump", "parse_expression", "parse_expressions", "parse_objective",
    "ConstraintSyntaxError", "KEYWORDS", "UNDECLARED_LO", "UNDECLARED_HI", "DIALECTS",
]
