"""Where the parts of a model come from: :class:`Source` (file, line, text, comment) and
:class:`Statement` (a constraint of a model with its source).

The ``.cint`` loader records a source for every constraint and declaration it reads, so that
messages about a statement can quote its line and trailing comment without reading the text
again; models built in Python may pass one to :meth:`~constrint.Model.add`.
"""
from __future__ import annotations

from dataclasses import dataclass

from .expr import Constraint


@dataclass(frozen=True)
class Source:
    """The text a constraint or declaration was read from.

    ``line`` is 1-based; ``text`` is the statement's code on one line (comments removed,
    whitespace collapsed, no ``;``); ``comment`` is the trailing comment of the lines the
    statement spans (without ``#``; several joined by a space; ``""`` if none).

    >>> import constrint as ci
    >>> m = ci.loads("var x in 1..9;  # tile size\\nx % 2 == 0;   # whole pairs", filename="t.cint")
    >>> st = m.statements[0]
    >>> st.source.line, st.source.text, st.source.comment
    (2, 'x % 2 == 0', 'whole pairs')
    >>> str(st.source), m.source("x").comment
    ('t.cint:2: x % 2 == 0  # whole pairs', 'tile size')
    """

    filename: str
    line: int
    text: str
    comment: str = ""

    def __str__(self) -> str:
        out = f"{self.filename}:{self.line}: {self.text}"
        return out + (f"  # {self.comment}" if self.comment else "")


@dataclass(frozen=True)
class Statement:
    """A constraint of a model and where it came from (``source`` is ``None`` when unknown).

    >>> import constrint as ci
    >>> m = ci.Model(); x = m.int_var("x", 1, 9)
    >>> _ = m.add(x >= 3, source=ci.Source("budget.py", 12, "x >= 3", "at least three"))
    >>> str(m.statements[0])
    'budget.py:12: x >= 3  # at least three'
    """

    constraint: Constraint
    source: Source | None = None

    @property
    def line(self) -> int | None:
        """The source line, or ``None``."""
        return None if self.source is None else self.source.line

    @property
    def text(self) -> str:
        """The source text, else the constraint in ``.cint`` syntax."""
        return str(self.constraint) if self.source is None else self.source.text

    @property
    def comment(self) -> str:
        """The trailing comment of the source, ``""`` if none."""
        return "" if self.source is None else self.source.comment

    def __str__(self) -> str:
        return str(self.constraint) if self.source is None else str(self.source)


__all__ = ["Source", "Statement"]
