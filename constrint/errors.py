"""Exception hierarchy of constrint: one root class, :class:`ConstrintError`."""
from __future__ import annotations


class ConstrintError(Exception):
    """Root of every exception raised by constrint for misuse or bad input."""


class ModelError(ConstrintError, ValueError):
    """A model was built wrongly (bad bounds, duplicate names, foreign variables, ...)."""


class InternalSolverError(ConstrintError, AssertionError):
    """A solver bug: a propagator let through an assignment that violates a constraint."""
