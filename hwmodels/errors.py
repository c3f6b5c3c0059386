"""Exceptions of :mod:`hwmodels`; every one derives from :class:`HwModelsError`."""
from __future__ import annotations

from dataclasses import dataclass


class HwModelsError(Exception):
    """Root of every exception raised by :mod:`hwmodels`."""


class UnknownGPUError(HwModelsError, LookupError):
    """No bundled GPU has the requested name or alias."""

    def __str__(self) -> str:  # LookupError would quote the message like a KeyError does not
        return str(self.args[0]) if self.args else ""


class UnknownArchitectureError(HwModelsError, LookupError):
    """No architecture table exists for a compute capability (never silently defaulted)."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


@dataclass(frozen=True)
class Problem:
    """One invalid or missing field: where, what is wrong, and what was expected."""

    field: str
    message: str
    expected: str = ""

    def __str__(self) -> str:
        text = f"{self.field}: {self.message}"
        if self.expected:
            text += f" (expected {self.expected})"
        return text


class ModelError(HwModelsError, ValueError):
    """A hardware model holds missing, ill-typed or mutually inconsistent values.

    ``problems`` lists every :class:`Problem` found (field, message, expected).
    """

    def __init__(self, problems: list[Problem] | tuple[Problem, ...], *, context: str = "") -> None:
        self.problems: tuple[Problem, ...] = tuple(problems)
        self.context = context
        super().__init__(self._render())

    def _render(self) -> str:
        body = "; ".join(str(p) for p in self.problems)
        return f"{self.context}: {body}" if self.context else body


class ModelFileError(ModelError):
    """A model file (bundled or the user's) cannot be read or does not validate.

    The message names the file, each missing or invalid field and what was expected,
    all on one line.
    """

    def __init__(self, path: str, problems: list[Problem] | tuple[Problem, ...]) -> None:
        self.path = str(path)
        super().__init__(problems, context=self.path)


class DetectionError(HwModelsError, RuntimeError):
    """The live GPU cannot be read (no PyTorch, no CUDA device, driver query failed)."""


class InvalidArgumentError(HwModelsError, ValueError):
    """An argument to a hwmodels function is out of range or of the wrong type."""


class UnknownArchitectureInFileError(ModelFileError, UnknownArchitectureError):
    """A model file names an architecture that has no bundled table.

    Both a :class:`ModelFileError` (it names the file and field) and an
    :class:`UnknownArchitectureError`.
    """

    def __str__(self) -> str:
        return ModelFileError.__str__(self)


class HardwareMismatchWarning(UserWarning):
    """:func:`hwmodels.detect` found a live value that differs from the bundled model."""
