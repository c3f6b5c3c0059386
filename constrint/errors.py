"""Exception hierarchy of constrint: one root class, :class:`ConstrintError`."""
from __future__ import annotations


class ConstrintError(Exception):
    """Root of every exception raised by constrint for misuse or bad input.

    An infeasible model is not an error (it is a :class:`~constrint.Status`); one ``except``
    catches every misuse:

    >>> import constrint as ci
    >>> try:
    ...     ci.loads("var x in 1..;")
    ... except ci.ConstrintError as exc:
    ...     print(type(exc).__name__)
    ConstraintSyntaxError
    """


class ModelError(ConstrintError, ValueError):
    """A model was built wrongly (bad bounds, duplicate names, foreign variables, ...).

    >>> import constrint as ci
    >>> try:
    ...     ci.Model().int_var("x", 5, 1)
    ... except ci.ModelError as exc:
    ...     print(exc)
    variable 'x': lower bound 5 > upper bound 1
    """


class InternalSolverError(ConstrintError, AssertionError):
    """A solver bug: a propagator let through an assignment that violates a constraint.

    Every solution is checked against every constraint before it is returned, so a wrong
    propagator shows up as this error rather than as a wrong answer. It is an ``AssertionError``:

    >>> import constrint as ci
    >>> issubclass(ci.InternalSolverError, AssertionError)
    True
    """


def _caret_block(text: str, column: int | None, indent: str = "    ", width: int = 160) -> str:
    """``text`` and a caret under the 1-based ``column`` (tabs kept so the caret lines up).

    Lines longer than ``width`` are cut to a window around the column, marked with ``...``.
    """
    if len(text) > width:
        c = column if column is not None and column >= 1 else 1
        start = max(0, min(c - 1 - width // 2, len(text) - width))
        head = "..." if start > 0 else ""
        tail = "..." if start + width < len(text) else ""
        text = head + text[start : start + width] + tail
        if column is not None:
            column = c - start + len(head)
    if column is None or column < 1:
        return f"{indent}{text}"
    pad = "".join(ch if ch == "\t" else " " for ch in text[: column - 1])
    return f"{indent}{text}\n{indent}{pad}^"


class ConstraintSyntaxError(ConstrintError, ValueError):
    """A ``.cint`` text (or an expression given on the command line) is malformed.

    Carries ``filename``, ``line`` and ``column`` (both 1-based), the bare ``message`` and the
    offending source line ``text``; ``str()`` gives ``file:line:col: message``, the line and a caret.

    >>> import constrint as ci
    >>> try:
    ...     ci.loads("var x in 1..8;\\nx <= (3 + x;", filename="model.cint")
    ... except ci.ConstraintSyntaxError as exc:
    ...     print(exc)
    ...     print(exc.line, exc.column)
    model.cint:2:6: '(' is never closed (the statement ends at line 2, column 12)
        x <= (3 + x;
             ^
    2 6
    """

    def __init__(
        self,
        message: str,
        filename: str = "<string>",
        line: int | None = None,
        column: int | None = None,
        text: str | None = None,
    ):
        self.message = message
        self.filename = filename
        self.line = line
        self.column = column
        self.text = text
        super().__init__(str(self))

    def __str__(self) -> str:
        where = self.filename
        if self.line is not None:
            where += f":{self.line}"
            if self.column is not None:
                where += f":{self.column}"
        out = f"{where}: {self.message}"
        if self.text is not None and self.text.strip():
            out += "\n" + _caret_block(self.text.rstrip("\r\n"), self.column)
        return out

    def __reduce__(self):
        return (type(self), (self.message, self.filename, self.line, self.column, self.text))


class T1Error(ConstrintError, ValueError):
    """A T1 JSON search space is malformed or uses a construct outside the accepted subset.

    Carries ``filename``, ``location`` (a JSON path such as
    ``ConfigurationSpace.Conditions[3].Expression``), ``column`` (1-based, inside that string, or
    ``None``), the bare ``message`` and the offending string ``text``.

    >>> import constrint as ci
    >>> space = {"ConfigurationSpace": {
    ...     "TuningParameters": [{"Name": "x", "Values": "[1, 2, 4]"}],
    ...     "Conditions": [{"Expression": "x.bit_length() == 1"}]}}
    >>> try:
    ...     ci.load_t1(space)
    ... except ci.T1Error as exc:
    ...     print(exc.location, exc.column)
    ConfigurationSpace.Conditions[0].Expression 1
    """

    def __init__(
        self,
        message: str,
        filename: str = "<dict>",
        location: str | None = None,
        column: int | None = None,
        text: str | None = None,
        line: int | None = None,
    ):
        self.message = message
        self.filename = filename
        self.location = location
        self.column = column
        self.text = text
        self.line = line
        super().__init__(str(self))

    def __str__(self) -> str:
        where = self.filename
        if self.location:
            where += f": {self.location}"
        if self.line is not None and self.text is not None and "\n" in self.text:
            where += f", line {self.line}"
        if self.column is not None:
            where += f", column {self.column}"
        out = f"{where}: {self.message}"
        if self.text is not None and self.text.strip():
            lines = self.text.splitlines() or [""]
            ln = self.line if self.line is not None and 1 <= self.line <= len(lines) else 1
            out += "\n" + _caret_block(lines[ln - 1], self.column)
        return out

    def __reduce__(self):
        return (
            type(self),
            (self.message, self.filename, self.location, self.column, self.text, self.line),
        )


class LimitReached(ConstrintError, TimeoutError):
    """A time limit stopped an operation that has no status to report it (e.g. ``count``).

    >>> import constrint as ci
    >>> from constrint.errors import LimitReached
    >>> m = ci.Model(); xs = [m.int_var(f"x{i}", 1, 10**6) for i in range(3)]
    >>> m += xs[0] + xs[1] + xs[2] != 5
    >>> try:
    ...     m.count(time_limit=1e-9)
    ... except LimitReached:
    ...     print("stopped")
    stopped
    """
