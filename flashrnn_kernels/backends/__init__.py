"""Backend registry: each backend declares which calls it supports and says why it rejects others.

A backend is an instance of a :class:`Backend` subclass, registered with
:func:`register_backend`. For every call, ``backend="auto"`` picks the registered backend of
highest :attr:`Backend.priority` whose :meth:`Backend.supports` returns None; a named backend
is used if it supports the call; otherwise :class:`~flashrnn_kernels.errors.UnsupportedError`
lists, per backend, why it was rejected (:func:`explain` gives the same as text).

Writing a backend (as ``backends/fused.py`` does)::

    from flashrnn_kernels.backends import Backend, Call, register_backend

    class FusedBackend(Backend):
        name = "fused"
        priority = 20                     # reference 0, alternating 10

        def supports(self, call: Call) -> str | None:
            if call.device.type != "cuda":
                return "needs CUDA tensors"
            return None

        def forward(self, Wx, R, b, states0, cell):
            ...                           # no autograd here; inputs may be non-contiguous
            return states, last, [aux1, aux2]   # fresh contiguous tensors

        def backward(self, grad_states, grad_last, Wx, R, b, states0, states, aux, cell):
            ...
            return dWx, dR, db, dstates0       # fresh contiguous tensors, inputs' shapes/dtypes

        def fake_aux(self, Wx, R, b, states0, cell):
            return [Wx.new_empty(...), ...]    # same shapes/dtypes as forward's aux

    register_backend(FusedBackend())

The default :meth:`Backend.run` wraps ``forward``/``backward`` in two ``torch.library`` custom
ops, ``flashrnn::<name>_forward`` and ``flashrnn::<name>_backward``, with fake implementations
(so ``torch.compile`` treats a whole sequence as one opaque node) and autograd registered once
per backend name. A backend that is differentiable by other means (the reference) overrides
``run`` instead.
"""
from __future__ import annotations

import importlib
import logging
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from ..cells import Cell, get_cell
from ..errors import InputError, UnsupportedError

log = logging.getLogger(__name__)

__all__ = [
    "Backend",
    "Call",
    "register_backend",
    "unregister_backend",
    "get_backend",
    "registered_backends",
    "registry_generation",
    "rejections",
    "select_backend",
    "explain_call",
]


@dataclass(frozen=True)
class Call:
    """What a backend needs to know to accept or reject a call (sizes of ``Wx [B, T, G, N, D]``).

    >>> import torch
    >>> call = Call("lstm", torch.bfloat16, torch.device("cuda", 0), B=16, T=1024, N=4, D=192,
    ...             requires_grad=True)
    >>> call.hidden_size, call.cell_def.num_gates
    (768, 4)
    >>> print(call)
    cell=lstm dtype=bfloat16 device=cuda:0 B=16 T=1024 N=4 D=192 requires_grad=True
    """

    cell: str
    dtype: torch.dtype
    device: torch.device
    B: int
    T: int
    N: int
    D: int
    requires_grad: bool

    @property
    def cell_def(self) -> Cell:
        return get_cell(self.cell)

    @property
    def hidden_size(self) -> int:
        return self.N * self.D

    def __str__(self) -> str:
        dtype = str(self.dtype).replace("torch.", "")
        return (
            f"cell={self.cell} dtype={dtype} device={self.device} B={self.B} T={self.T} "
            f"N={self.N} D={self.D} requires_grad={self.requires_grad}"
        )


class Backend:
    """Base class of backends. Subclasses set :attr:`name` and :attr:`priority` and implement
    :meth:`supports` and either :meth:`forward` / :meth:`backward` / :meth:`fake_aux` (the
    custom-op path of the default :meth:`run`) or :meth:`run` itself.

    Tensor layouts: ``Wx [B, T, G, N, D]``, ``R [G, N, D, D]`` (out, in), ``b [Gb, N, D]``
    (always a tensor here: zeros when the user gave none), ``states0 [S, B, 1, N, D]``;
    ``states [S, B, T, N, D]``, ``last [S, B, 1, N, D]``.

    A backend differentiable by other means overrides :meth:`run` and :meth:`prepare` (a
    backend with kernels of its own implements :meth:`forward`, :meth:`backward` and
    :meth:`fake_aux` instead; see the module docstring):

    >>> import torch, flashrnn_kernels as frk
    >>> from flashrnn_kernels.backends import Backend, register_backend, unregister_backend
    >>> from flashrnn_kernels.reference import reference_forward
    >>> class Float64Loop(Backend):
    ...     name, priority = "float64_loop", 5
    ...     def supports(self, call):
    ...         return None if call.dtype == torch.float64 else "float64 only"
    ...     def prepare(self):
    ...         pass
    ...     def run(self, Wx, R, b, states0, cell):
    ...         return reference_forward(Wx, R, b, states0, cell)
    >>> _ = register_backend(Float64Loop())
    >>> Wx, R = torch.zeros(1, 3, 4, 1, 2), torch.zeros(4, 1, 2, 2)
    >>> print([line for line in frk.explain(Wx, R).splitlines() if "float64_loop" in line][0])
      float64_loop (priority 5): rejected: float64 only
    >>> states, last = frk.flashrnn(Wx.double(), R.double(), backend="float64_loop")
    >>> unregister_backend("float64_loop")
    """

    #: Unique name, used in ``backend=...`` and in the custom ops' names (``flashrnn::<name>_forward``).
    name: str = ""
    #: ``backend="auto"`` picks the supporting backend of highest priority.
    priority: int = 0

    def supports(self, call: Call) -> str | None:
        """None if this backend can run ``call``, else a short reason (shown to the user)."""
        raise NotImplementedError

    def forward(
        self, Wx: Tensor, R: Tensor, b: Tensor, states0: Tensor, cell: Cell
    ) -> tuple[Tensor, Tensor, list[Tensor]]:
        """Run the recurrence without autograd: ``(states, last, aux)``, every tensor freshly
        allocated and contiguous (not a view of an input or of another output). ``aux`` is
        whatever :meth:`backward` needs beyond the inputs and ``states``."""
        raise NotImplementedError(f"backend {self.name!r} has no forward")

    def backward(
        self,
        grad_states: Tensor,
        grad_last: Tensor,
        Wx: Tensor,
        R: Tensor,
        b: Tensor,
        states0: Tensor,
        states: Tensor,
        aux: list[Tensor],
        cell: Cell,
    ) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        """Gradients ``(dWx, dR, db, dstates0)`` for the incoming gradients of ``states`` and
        ``last``; each fresh, contiguous, with the shape and dtype of its input."""
        raise NotImplementedError(f"backend {self.name!r} has no backward")

    def fake_aux(self, Wx: Tensor, R: Tensor, b: Tensor, states0: Tensor, cell: Cell) -> list[Tensor]:
        """Empty tensors shaped like :meth:`forward`'s ``aux`` (called on fake tensors)."""
        return []

    def prepare(self) -> None:
        """Called (outside ``torch.compile`` tracing) before :meth:`run`; by default defines this
        backend's custom ops once ``torch.compile`` may trace them (:func:`compiler_loaded`): an
        eager process defines them in its first :meth:`run` if it needs them (defining an op
        costs about 0.1-0.2 s on a first call). Must not compile kernels (that happens in the
        first ``forward``)."""
        if getattr(self, "_ops", None) is None and compiler_loaded():
            self._ops = custom_ops(self.name)

    def run(self, Wx: Tensor, R: Tensor, b: Tensor, states0: Tensor, cell: Cell) -> tuple[Tensor, Tensor]:
        """Differentiable ``(states, last)``; by default through this backend's custom ops."""
        ops = getattr(self, "_ops", None)
        if ops is None:
            ops = self._ops = custom_ops(self.name)
        states, last, _aux = ops[0](Wx, R, b, states0, cell.name)
        return states, last

    def __repr__(self) -> str:
        return f"<{type(self).__name__} name={self.name!r} priority={self.priority}>"


def compiler_loaded() -> bool:
    """Whether ``torch.compile``'s tracer (``torch._dynamo``) is imported in this process: it is
    before anything is traced, so a backend's :meth:`Backend.prepare` defines what tracing needs
    only then."""
    return "torch._dynamo" in sys.modules


# ------------------------------------------------------------------------------------ registry

_lock = threading.RLock()
_REGISTRY: dict[str, Backend] = {}
_IMPORT_FAILURES: dict[str, str] = {}
_BUILTINS_LOADED = threading.Event()  # set once the built-in backends are imported
_BUILTIN_MODULES = ("reference", "alternating", "fused")
_GENERATION = [0]  # bumped (under _lock) by every change of _REGISTRY


def registry_generation() -> int:
    """A number that changes whenever a backend is registered, replaced or unregistered: a
    caller that remembers which backend :func:`select_backend` chose for a call chooses again
    when it differs from the one it saw then.

    The built-in backends are loaded first (as :func:`select_backend` would).

    >>> before = registry_generation()
    >>> unregister_backend("no_such_backend"); registry_generation() == before
    True
    """
    _load_builtins()
    return _GENERATION[0]


def register_backend(backend: Backend, *, replace: bool = False) -> Backend:
    """Add ``backend`` to the registry (``replace=True`` to swap one of the same name).

    Returns ``backend``; see :class:`Backend` for a complete example.

    >>> from flashrnn_kernels.backends import get_backend
    >>> ref = get_backend("reference")
    >>> register_backend(ref) is ref                      # the same object again: no error
    True
    """
    if not isinstance(backend, Backend):
        raise InputError(f"register_backend expects a Backend instance, got {type(backend).__name__}")
    if not backend.name or not backend.name.isidentifier():
        raise InputError(f"backend name {backend.name!r} must be a non-empty identifier")
    if backend.name == "auto":
        raise InputError("'auto' is reserved and cannot name a backend")
    with _lock:
        if backend.name in _REGISTRY and not replace and _REGISTRY[backend.name] is not backend:
            raise InputError(f"a backend named {backend.name!r} is already registered (pass replace=True)")
        _REGISTRY[backend.name] = backend
        _IMPORT_FAILURES.pop(backend.name, None)
        _bump_generation()
    log.debug("registered backend %r (priority %d)", backend.name, backend.priority)
    return backend


def unregister_backend(name: str) -> None:
    """Remove a backend from the registry (its custom ops, if defined, stay defined).

    Removing a name that is not registered does nothing.

    >>> unregister_backend("no_such_backend")
    """
    with _lock:
        if _REGISTRY.pop(name, None) is not None:
            _bump_generation()


def _bump_generation() -> None:
    _GENERATION[0] += 1


def _load_builtins() -> None:
    if _BUILTINS_LOADED.is_set():
        return
    with _lock:
        if _BUILTINS_LOADED.is_set():
            return
        _BUILTINS_LOADED.set()
        for mod in _BUILTIN_MODULES:
            full = f"{__name__}.{mod}"
            try:
                importlib.import_module(full)
            except ModuleNotFoundError as exc:
                if exc.name == full:
                    continue  # not written (yet): simply absent
                _IMPORT_FAILURES[mod] = f"failed to import: {exc}"
                log.warning("backend module %s failed to import: %s", full, exc)
            except Exception as exc:
                _IMPORT_FAILURES[mod] = f"failed to import: {type(exc).__name__}: {exc}"
                log.warning("backend module %s failed to import: %r", full, exc)


def registered_backends() -> list[Backend]:
    """All registered backends, highest priority first.

    >>> [b.name for b in registered_backends()][-1]
    'reference'
    """
    _load_builtins()
    with _lock:
        return sorted(_REGISTRY.values(), key=lambda b: (-b.priority, b.name))


def get_backend(name: str) -> Backend:
    """The registered backend called ``name``.

    An unknown name raises :class:`~flashrnn_kernels.InputError`, a built-in backend whose
    module failed to import :class:`~flashrnn_kernels.UnsupportedError` (with the import error).

    >>> get_backend("reference")
    <ReferenceBackend name='reference' priority=0>
    """
    _load_builtins()
    with _lock:
        if name in _REGISTRY:
            return _REGISTRY[name]
        known = sorted(_REGISTRY)
        failed = _IMPORT_FAILURES.get(name)
    if failed:
        raise UnsupportedError(f"backend {name!r} is unavailable: {failed}")
    raise InputError(f"unknown backend {name!r}: registered backends are {known} (or 'auto')")


def rejections(call: Call) -> dict[str, str | None]:
    """Per backend (highest priority first), None if it supports ``call`` or why it does not.

    >>> import torch
    >>> call = Call("gru", torch.float64, torch.device("cpu"), 2, 8, 1, 16, False)
    >>> rejections(call)["reference"] is None, rejections(call)["alternating"]
    (True, 'needs CUDA tensors (got device cpu)')
    """
    out: dict[str, str | None] = {}
    for backend in registered_backends():
        try:
            out[backend.name] = backend.supports(call)
        except Exception as exc:
            out[backend.name] = f"support check failed: {type(exc).__name__}: {exc}"
    with _lock:
        for name, why in _IMPORT_FAILURES.items():
            out.setdefault(name, why)
    return out


def _format_reasons(reasons: dict[str, str | None]) -> str:
    return "\n".join(f"  {name}: {why}" for name, why in reasons.items() if why is not None)


def select_backend(call: Call, backend: str = "auto") -> Backend:
    """The backend that runs ``call``: the named one, or for ``"auto"`` the supporting backend of
    highest priority. Raises UnsupportedError with every backend's reason otherwise.

    >>> import torch
    >>> call = Call("lstm", torch.float32, torch.device("cpu"), 2, 8, 1, 16, True)
    >>> select_backend(call).name
    'reference'
    """
    if backend == "auto":
        for candidate in registered_backends():  # highest priority first: the first that supports it
            try:
                if candidate.supports(call) is None:
                    return candidate
            except Exception:  # reported with the others' reasons below, if no backend runs it
                continue
        raise UnsupportedError(f"no backend supports this call ({call}):\n{_format_reasons(rejections(call))}")
    chosen = get_backend(backend)
    try:
        why = chosen.supports(call)
    except Exception as exc:
        why = f"support check failed: {type(exc).__name__}: {exc}"
    if why is not None:
        others = {k: v for k, v in rejections(call).items() if k != backend}
        ok = [k for k, v in others.items() if v is None]
        hint = f"; backends that would run it: {ok}" if ok else ""
        raise UnsupportedError(
            f"backend {backend!r} does not support this call ({call}): {why}{hint}\n"
            f"{_format_reasons({backend: why, **others})}"
        )
    return chosen


def explain_call(call: Call, backend: str = "auto") -> str:
    """Text: the call, and per backend whether it supports it and which one would run.

    :func:`flashrnn_kernels.explain` builds the call from tensors and returns this text.

    >>> import torch
    >>> call = Call("elman", torch.float64, torch.device("cpu"), 1, 4, 1, 8, False)
    >>> print(explain_call(call).splitlines()[0])
    flashrnn call: cell=elman dtype=float64 device=cpu B=1 T=4 N=1 D=8 requires_grad=False
    """
    reasons = rejections(call)
    try:
        chosen: str | None = select_backend(call, backend).name
    except (UnsupportedError, InputError) as exc:
        chosen = None
        failure = str(exc).splitlines()[0]
    priorities = {b.name: b.priority for b in registered_backends()}
    lines = [f"flashrnn call: {call}", f"requested backend: {backend}"]
    if call.device.type == "cuda":
        from .. import compilers

        try:
            lines.append(f"CUDA compiler: {compilers.compiler_choice()}")
        except InputError as exc:  # a malformed FLASHRNN_COMPILER
            lines.append(f"CUDA compiler: none ({exc})")
    for name, why in reasons.items():
        prio = priorities.get(name)
        head = f"  {name}" + (f" (priority {prio})" if prio is not None else "")
        status = "supported" if why is None else f"rejected: {why}"
        mark = "  <- runs this call" if name == chosen else ""
        lines.append(f"{head}: {status}{mark}")
    if chosen is None:
        lines.append(f"result: {failure}")
    return "\n".join(lines)


# --------------------------------------------------------------------------- custom ops (once)

_OPS: dict[str, tuple[Callable[..., Any], Callable[..., Any]]] = {}


def custom_ops(name: str) -> tuple[Callable[..., Any], Callable[..., Any]]:
    """The pair of ``torch.library`` custom ops ``(flashrnn::<name>_forward, flashrnn::<name>_backward)``
    of a backend, defined (with fake implementations and autograd) on first use.

    Forward: ``(Wx, R, b, states0, cell: str) -> (states, last, aux: list)``; backward:
    ``(grad_states, grad_last, Wx, R, b, states0, states, aux, cell) -> (dWx, dR, db, dstates0)``.
    The implementations look the backend up by name at call time.
    """
    with _lock:
        if name in _OPS:
            return _OPS[name]
        ops = _define_ops(name)
        _OPS[name] = ops
        return ops


def _define_ops(name: str) -> tuple[Callable[..., Any], Callable[..., Any]]:
    fwd_name = f"flashrnn::{name}_forward"
    bwd_name = f"flashrnn::{name}_backward"

    def forward(
        Wx: Tensor, R: Tensor, b: Tensor, states0: Tensor, cell: str
    ) -> tuple[Tensor, Tensor, list[Tensor]]:
        states, last, aux = get_backend(name).forward(Wx, R, b, states0, get_cell(cell))
        return states, last, list(aux)

    def forward_fake(Wx, R, b, states0, cell):
        c = get_cell(cell)
        B, T, _, N, D = Wx.shape
        states = Wx.new_empty(c.num_states, B, T, N, D)
        last = Wx.new_empty(c.num_states, B, 1, N, D)
        return states, last, list(get_backend(name).fake_aux(Wx, R, b, states0, c))

    def backward(
        grad_states: Tensor,
        grad_last: Tensor,
        Wx: Tensor,
        R: Tensor,
        b: Tensor,
        states0: Tensor,
        states: Tensor,
        aux: list[Tensor],
        cell: str,
    ) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        grads = get_backend(name).backward(
            grad_states, grad_last, Wx, R, b, states0, states, list(aux), get_cell(cell)
        )
        return tuple(grads)  # type: ignore[return-value]

    def backward_fake(grad_states, grad_last, Wx, R, b, states0, states, aux, cell):
        return (
            torch.empty_like(Wx, memory_format=torch.contiguous_format),
            torch.empty_like(R, memory_format=torch.contiguous_format),
            torch.empty_like(b, memory_format=torch.contiguous_format),
            torch.empty_like(states0, memory_format=torch.contiguous_format),
        )

    fwd_op = torch.library.custom_op(fwd_name, forward, mutates_args=())
    fwd_op.register_fake(forward_fake)
    bwd_op = torch.library.custom_op(bwd_name, backward, mutates_args=())
    bwd_op.register_fake(backward_fake)

    def setup_context(ctx, inputs, output):
        Wx, R, b, states0, cell = inputs
        states, _last, aux = output
        ctx.cell = cell
        ctx.n_aux = len(aux)
        ctx.save_for_backward(Wx, R, b, states0, states, *aux)

    def autograd_backward(ctx, grad_states, grad_last, _grad_aux):
        Wx, R, b, states0, states, *aux = ctx.saved_tensors
        if grad_states is None:
            grad_states = torch.zeros_like(states)
        if grad_last is None:
            grad_last = torch.zeros_like(states0)
        dWx, dR, db, ds0 = bwd_op(grad_states, grad_last, Wx, R, b, states0, states, aux, ctx.cell)
        return dWx, dR, db, ds0, None

    fwd_op.register_autograd(autograd_backward, setup_context=setup_context)
    log.debug("defined custom ops %s and %s", fwd_name, bwd_name)
    return fwd_op, bwd_op
