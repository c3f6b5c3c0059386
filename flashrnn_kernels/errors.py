"""Exception hierarchy of flashrnn_kernels: one root class, :class:`FlashRNNError`.

Errors about bad input also derive from :class:`ValueError`, build failures from
:class:`RuntimeError`, so callers that catch the built-in classes keep working.
"""
from __future__ import annotations


class FlashRNNError(Exception):
    """Root of every exception raised by flashrnn_kernels for misuse, bad input or failed builds.

    >>> import flashrnn_kernels as frk
    >>> try:
    ...     frk.get_cell("lstn")
    ... except frk.FlashRNNError as exc:
    ...     print(type(exc).__name__, "|", exc)
    InputError | unknown cell 'lstn': expected one of ['elman', 'elman_relu', 'gru', 'lstm', 'slstm']
    """


class InputError(FlashRNNError, ValueError):
    """A tensor or argument has the wrong rank, shape, dtype or device, or an unknown value.

    >>> import torch, flashrnn_kernels as frk
    >>> try:
    ...     frk.flashrnn(torch.zeros(1, 3, 4, 2, 4), torch.zeros(4, 2, 4, 3))
    ... except frk.InputError as exc:
    ...     print(exc)
    R has shape [4, 2, 4, 3]; expected [G=4, N=2, D_out=4, D_in=4] for cell 'lstm' (axis 3, D_in, is 3)
    """


class UnsupportedError(FlashRNNError, ValueError):
    """No backend (or not the requested one) supports a call; the message says why, per backend.

    >>> import torch, flashrnn_kernels as frk
    >>> try:
    ...     frk.flashrnn(torch.zeros(1, 3, 4, 2, 4), torch.zeros(4, 2, 4, 4), backend="alternating")
    ... except frk.UnsupportedError as exc:
    ...     print(str(exc).splitlines()[1].strip())
    alternating: needs CUDA tensors (got device cpu)
    """


class BuildError(FlashRNNError, RuntimeError):
    """A just-in-time build of CUDA sources failed or could not start.

    The message holds the compiler's command line and output (see ``docs/troubleshooting.md``).

    ```python
    try:
        lib = jit.load_library("my_kernels", ["my_kernels.cu"])
    except frk.BuildError as exc:
        print(exc)                        # the nvcc command line and output
    ```
    """


class BuildLockTimeout(BuildError, TimeoutError):
    """Another process held a build directory's lock for longer than the timeout.

    The message names the lock file and its holder (pid, host). Raise ``FLASHRNN_BUILD_TIMEOUT``
    (seconds) to wait longer, or delete the lock file if no build is running.

    >>> import flashrnn_kernels as frk
    >>> issubclass(frk.BuildLockTimeout, frk.BuildError), issubclass(frk.BuildLockTimeout, TimeoutError)
    (True, True)
    """
