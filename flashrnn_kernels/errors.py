"""Exception hierarchy of flashrnn_kernels: one root class, :class:`FlashRNNError`.

Errors about bad input also derive from :class:`ValueError`, build failures from
:class:`RuntimeError`, so callers that catch the built-in classes keep working.
"""
from __future__ import annotations


class FlashRNNError(Exception):
    """Root of every exception raised by flashrnn_kernels for misuse, bad input or failed builds."""


class InputError(FlashRNNError, ValueError):
    """A tensor or argument has the wrong rank, shape, dtype or device, or an unknown value."""


class UnsupportedError(FlashRNNError, ValueError):
    """No backend (or not the requested one) supports a call; the message says why, per backend."""


class BuildError(FlashRNNError, RuntimeError):
    """A just-in-time build of CUDA sources failed or could not start."""


class BuildLockTimeout(BuildError, TimeoutError):
    """Another process held a build directory's lock for longer than the timeout."""
