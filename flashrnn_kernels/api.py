"""The functional entry point :func:`flashrnn` and :func:`explain`."""
from __future__ import annotations

import threading

import torch
from torch import Tensor

from .backends import Backend, Call, explain_call, registry_generation, select_backend
from .cells import Cell, get_cell
from .env import backend_setting
from .errors import InputError

_FLOAT_DTYPES = (torch.float16, torch.bfloat16, torch.float32, torch.float64)

#: :func:`flashrnn`'s validated calls: key (:func:`_remembered`) -> (cell, backend), the
#: last ``_CHOICES_KEPT`` signatures (a dict keeps its insertion order: the oldest goes first)
_CHOICES: dict[tuple, tuple[Cell, Backend]] = {}
_CHOICES_KEPT = 64
_CHOICES_LOCK = threading.Lock()


def _shape(t: Tensor) -> str:
    return "[" + ", ".join(str(s) for s in t.shape) + "]"


def _expected(names: tuple[str, ...], sizes: tuple[int | None, ...]) -> str:
    return "[" + ", ".join(n if s is None else f"{n}={s}" for n, s in zip(names, sizes)) + "]"


def _check(name: str, t: object, names: tuple[str, ...], sizes: tuple[int | None, ...], cell: Cell) -> Tensor:
    if not isinstance(t, Tensor):
        raise InputError(f"{name} must be a torch.Tensor of shape {_expected(names, sizes)}, "
                         f"got {type(t).__name__}")
    shape = t.shape
    if len(shape) == len(names) and all(s is None or n == s for n, s in zip(shape, sizes)):
        return t  # the common case: no message is built
    expected = _expected(names, sizes)
    if t.dim() != len(names):
        raise InputError(
            f"{name} has shape {_shape(t)} (rank {t.dim()}); expected rank {len(names)}: "
            f"{expected} for cell {cell.name!r}"
        )
    for axis, (label, size) in enumerate(zip(names, sizes)):
        if size is not None and t.shape[axis] != size:
            raise InputError(
                f"{name} has shape {_shape(t)}; expected {expected} for cell {cell.name!r} "
                f"(axis {axis}, {label}, is {t.shape[axis]})"
            )
    return t


def validate(
    Wx: Tensor, R: Tensor, b: Tensor | None, states: Tensor | None, cell: str | Cell
) -> tuple[Cell, Call]:
    """Check ranks, shapes, dtypes and devices; return the cell and the call description.

    Raises :class:`~flashrnn_kernels.errors.InputError` (a ValueError) naming the tensor, its
    shape and the expected shape.

    >>> import torch
    >>> cell, call = validate(torch.zeros(2, 5, 4, 3, 8), torch.zeros(4, 3, 8, 8), None, None, "lstm")
    >>> cell.name, call.B, call.T, call.N, call.D
    ('lstm', 2, 5, 3, 8)
    """
    cell = get_cell(cell)
    G, S, Gb = cell.num_gates, cell.num_states, cell.num_bias
    _check("Wx", Wx, ("B", "T", "G", "N", "D"), (None, None, G, None, None), cell)
    B, T, _, N, D = Wx.shape
    if min(B, T, N, D) < 1:
        raise InputError(f"Wx has shape {_shape(Wx)}: B, T, N and D must all be at least 1")
    if Wx.dtype not in _FLOAT_DTYPES:
        raise InputError(f"Wx has dtype {Wx.dtype}; expected one of {[str(d) for d in _FLOAT_DTYPES]}")
    _check("R", R, ("G", "N", "D_out", "D_in"), (G, N, D, D), cell)
    if b is not None:
        _check("b", b, ("Gb", "N", "D"), (Gb, N, D), cell)
    if states is not None:
        _check("states", states, ("S", "B", "1", "N", "D"), (S, B, 1, N, D), cell)
    dtype, device = Wx.dtype, Wx.device
    for name, t in (("R", R), ("b", b), ("states", states)):
        if t is None:
            continue
        if t.dtype != dtype:
            raise InputError(f"{name} has dtype {t.dtype}; expected {dtype} (the dtype of Wx)")
        if t.device != device:
            raise InputError(f"{name} is on device {t.device}; expected {device} (the device of Wx)")
    requires_grad = torch.is_grad_enabled() and any(
        t is not None and t.requires_grad for t in (Wx, R, b, states)
    )
    call = Call(cell.name, dtype, device, B, T, N, D, requires_grad)
    return cell, call


def _resolve_backend(backend: str) -> str:
    if not isinstance(backend, str):
        raise InputError(f"backend must be a string, got {type(backend).__name__}")
    backend = backend.lower()
    return backend_setting() if backend == "auto" else backend


def flashrnn(
    Wx: Tensor,
    R: Tensor,
    b: Tensor | None = None,
    states: Tensor | None = None,
    cell: str | Cell = "lstm",
    backend: str = "auto",
) -> tuple[Tensor, Tensor]:
    """Run a (multi-head) recurrent cell over a sequence of gate pre-activations.

    Args:
        Wx: ``[B, T, G, N, D]`` gate pre-activations from the input (G gates, N heads of D).
        R: ``[G, N, D_out, D_in]`` recurrent matrices, one block per gate and head.
        b: ``[Gb, N, D]`` biases (layout per cell: ``docs/rnn.md``) or None for zeros.
        states: ``[S, B, 1, N, D]`` initial states (``h`` first) or None for zeros.
        cell: ``"lstm"``, ``"gru"``, ``"slstm"``, ``"elman"`` (tanh), ``"elman_relu"`` or a
            :class:`~.cells.Cell`.
        backend: ``"auto"`` (fastest supporting backend; ``FLASHRNN_BACKEND`` overrides),
            ``"reference"``, ``"alternating"``, ``"fused"``, ... The checks and the choice are
            made once per signature of a call (sizes, dtypes, devices, gradients, ``cell``,
            ``backend``) and remembered for the last 64 (``docs/rnn.md``, Backends).

    Returns:
        ``(states [S, B, T, N, D], last [S, B, 1, N, D])``; ``h`` is ``states[0]``.

    Example:
        ```pycon
        >>> import torch, flashrnn_kernels as frk
        >>> B, T, N, D = 2, 5, 3, 8                      # batch, steps, heads, head size
        >>> Wx = torch.randn(B, T, 4, N, D)               # 4 gates: i, f, z, o
        >>> R = 0.1 * torch.randn(4, N, D, D)
        >>> states, last = frk.flashrnn(Wx, R, cell="lstm", backend="reference")
        >>> states.shape, last.shape                      # S = 2 states: h, c
        (torch.Size([2, 2, 5, 3, 8]), torch.Size([2, 2, 1, 3, 8]))
        >>> h = states[0]                                 # [B, T, N, D]

        ```
    """
    key, found = _remembered(Wx, R, b, states, cell, backend)
    if found is None:
        found = _dispatch(Wx, R, b, states, cell, backend)
        if key is not None:
            _remember(key, found)
    return _run_chosen(found[1], Wx, R, b, states, found[0])


def _choice_context(backend: object) -> tuple:
    """What the choice of a backend depends on beyond the call's tensors: the ``backend`` asked
    for, ``FLASHRNN_BACKEND`` where that is ``"auto"``, and the registry's generation
    (:func:`~flashrnn_kernels.backends.registry_generation`). Part of every key under which
    :func:`flashrnn` and the modules remember a choice."""
    auto = isinstance(backend, str) and backend.lower() == "auto"
    return backend, backend_setting() if auto else None, registry_generation()


def _remembered(Wx, R, b, states, cell, backend) -> tuple[tuple | None, tuple[Cell, Backend] | None]:
    """``(key, choice)`` of a :func:`flashrnn` call: its key (the sizes, dtypes and devices of its
    tensors, whether a gradient can flow as :func:`validate` decides it, the cell and
    :func:`_choice_context`) and the ``(cell, backend)`` remembered under it, or None. A call with
    the key of a validated call passes the same checks and gets the same backend. The key is None
    while ``torch.compile`` traces, or when an argument has no such key (the call is then
    validated, and refused if it is not a tensor)."""
    if torch.compiler.is_compiling():
        return None, None
    try:
        key = (cell, *_choice_context(backend), Wx.shape, Wx.dtype, Wx.device, R.shape, R.dtype, R.device,
               None if b is None else (b.shape, b.dtype, b.device),
               None if states is None else (states.shape, states.dtype, states.device),
               torch.is_grad_enabled() and (Wx.requires_grad or R.requires_grad or (
                   b is not None and b.requires_grad) or (states is not None and states.requires_grad)))
        return key, _CHOICES.get(key)  # hashed once, by the lookup
    except (AttributeError, TypeError):
        return None, None


def _remember(key: tuple, found: tuple[Cell, Backend]) -> None:
    with _CHOICES_LOCK:  # readers need none: a lookup sees the dict before or after a change
        if len(_CHOICES) >= _CHOICES_KEPT:
            del _CHOICES[next(iter(_CHOICES))]
        _CHOICES[key] = found


def _run_chosen(chosen: Backend, Wx: Tensor, R: Tensor, b: Tensor | None, states: Tensor | None,
                cell: Cell) -> tuple[Tensor, Tensor]:
    """Run a call that :func:`_dispatch` validated and gave to ``chosen`` (zeros for a missing
    ``b`` or ``states``). The modules call it directly for a call whose signature they have
    seen validated before (see ``modules._RNNBase._run``)."""
    if states is None:
        B, _, _, N, D = Wx.shape
        states = Wx.new_zeros(cell.num_states, B, 1, N, D)
    if b is None:
        _, _, _, N, D = Wx.shape
        b = Wx.new_zeros(cell.num_bias, N, D)
    return chosen.run(Wx, R, b, states, cell)


def _dispatch(Wx, R, b, states, cell, backend):
    """Validation and backend choice: host-side Python that ``torch.compile`` leaves to eager
    mode (one graph break); the backend's custom op that follows is traced into the graph.

    ``torch.compiler.disable`` is applied only while tracing: as a decorator it would import
    ``torch._dynamo`` (seconds on a CUDA build of PyTorch) in every eager process."""
    if torch.compiler.is_compiling():
        return torch.compiler.disable(_validate_and_choose)(Wx, R, b, states, cell, backend)
    return _validate_and_choose(Wx, R, b, states, cell, backend)


def _validate_and_choose(Wx, R, b, states, cell, backend):
    cell, call = validate(Wx, R, b, states, cell)
    chosen = select_backend(call, _resolve_backend(backend))
    chosen.prepare()
    return cell, chosen


def explain(
    Wx: Tensor,
    R: Tensor,
    b: Tensor | None = None,
    states: Tensor | None = None,
    cell: str | Cell = "lstm",
    backend: str = "auto",
) -> str:
    """The text :func:`flashrnn` would act on: per backend, supported or why not, and the choice.

    >>> import torch, flashrnn_kernels as frk
    >>> text = frk.explain(torch.zeros(2, 5, 4, 3, 8), torch.zeros(4, 3, 8, 8), cell="lstm")
    >>> print(text.splitlines()[0])
    flashrnn call: cell=lstm dtype=float32 device=cpu B=2 T=5 N=3 D=8 requires_grad=False
    >>> print([line for line in text.splitlines() if "runs this call" in line][0])
      reference (priority 0): supported  <- runs this call

    On a GPU the same call with CUDA tensors lists the fused and alternating backends as
    supported (or says why not: dtype, compute capability, no nvcc, sizes that fit no tiling).
    """
    _, call = validate(Wx, R, b, states, cell)
    return explain_call(call, _resolve_backend(backend))
