"""Streaming inference: one time step per call, the state kept between calls (:class:`Streamer`).

``module.streamer(batch_size)`` (every module of :mod:`flashrnn_kernels.modules`) returns a
:class:`Streamer`. Each call takes one time step ``x_t [batch_size, input_size]`` and returns the
last layer's output ``[batch_size, hidden_size]``; the states of every layer stay on the device
in the streamer. On a GPU the first call captures one whole step (input projection, kernels,
state update) in a CUDA graph and every later call replays it: a call then costs one copy of
``x_t`` in, one graph launch and one copy of the output out, whatever the model does inside.
Without a GPU (or with ``graph=False``) a call runs ``module.step`` eagerly, with the same
results. The graph of a module left at ``backend="auto"`` takes the alternating backend's step
(float32, float16 and bfloat16; in float16 and bfloat16 one launch per layer, input product
included), which replays faster than the fused kernel's (``backend=`` picks another).

```python
rnn = frk.LSTM(768, 768, device="cuda", dtype=torch.bfloat16)
stream = rnn.streamer(batch_size=1)          # zero initial states (or hx=...)
for x_t in frames:                           # [1, 768] each
    y_t = stream(x_t)                        # [1, 768], a fresh tensor
h, c = stream.state                          # copies, shaped as the module's h_n
stream.reset()                               # a new sequence from zeros
```

The streamer runs without gradients (inference). It reads the module's parameters where they
are: changing them in place is seen by the next call; replacing a parameter (a new tensor,
``load_state_dict`` keeps the old ones), ``module.to(...)`` or a change of ``module.training``
captures the step again at the next call.
"""
from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from .env import backend_setting
from .errors import InputError

__all__ = ["Streamer"]


class Streamer:
    """One time step of ``module`` per call, the states of all its layers kept between calls.

    Args:
        module: a module of :mod:`flashrnn_kernels.modules`, not bidirectional.
        batch_size: B, the number of streams stepped together.
        hx: the initial states, shaped as the module's ``h_n``
            (``[num_layers, B, hidden_size]``; a tuple for the LSTM and sLSTM); None for zeros.
        graph: replay one captured CUDA graph per call (default: where the module is on a GPU).
        backend: the backend of the steps (``"auto"``, ``"fused"``, ``"alternating"``, ...);
            None: the module's own, except that a graph of a module left at ``"auto"`` (and no
            ``FLASHRNN_BACKEND``) steps on ``"alternating"`` where it takes the module's dtype
            (float32, float16, bfloat16), which replays a step as fast as the fused kernel or
            faster (``docs/design/fused-kernel.md``, streaming).

    >>> import torch, flashrnn_kernels as frk
    >>> rnn = frk.LSTM(4, 8, num_layers=2).double()
    >>> x = torch.randn(5, 3, 4, dtype=torch.float64)               # [T, B, input_size]
    >>> stream = rnn.streamer(batch_size=3)
    >>> ys = [stream(x[t]) for t in range(5)]                        # one step per call
    >>> out, (h, c) = rnn(x)
    >>> torch.allclose(torch.stack(ys), out), torch.allclose(stream.state[1], c)
    (True, True)
    """

    def __init__(self, module: Any, batch_size: int, hx: Any = None, graph: bool | None = None,
                 backend: str | None = None):
        if module.bidirectional:
            raise InputError(f"{type(module).__name__}.streamer: a bidirectional module cannot stream (its "
                             "reverse direction reads the sequence from the end)")
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise InputError(f"batch_size must be a positive integer, got {batch_size!r}")
        if backend is not None and not isinstance(backend, str):
            raise InputError(f"backend must be a string or None, got {type(backend).__name__}")
        first = module._flat_weights()[0]
        self.module = module
        self.batch_size = batch_size
        self.device, self.dtype = first.device, first.dtype
        if graph is None:
            graph = self.device.type == "cuda"
        if graph and self.device.type != "cuda":
            raise InputError(f"graph=True needs the module on a CUDA device; it is on {self.device}")
        #: whether a call replays a captured CUDA graph
        self.graph = bool(graph)
        #: the backend the steps ask for (see ``backend`` above)
        self.backend = self._default_backend(module) if backend is None else backend
        self._x = torch.zeros(batch_size, module.input_size, device=self.device, dtype=self.dtype)
        shape = (module.num_layers, batch_size, module.hidden_size)
        self._states = [torch.zeros(shape, device=self.device, dtype=self.dtype)
                        for _ in range(module.cell.num_states)]
        self._out: Tensor | None = None
        self._captured: torch.cuda.CUDAGraph | None = None
        self._key: tuple | None = None
        self.reset(hx)

    def _default_backend(self, module: Any) -> str:
        from .backends.alternating import CUDA_DTYPES

        own = module.backend
        if self.graph and own.lower() == "auto" and backend_setting() == "auto" and self.dtype in CUDA_DTYPES:
            return "alternating"
        return own

    # ------------------------------------------------------------------------------ state
    @property
    def state(self) -> Tensor | tuple[Tensor, ...]:
        """A copy of the current states, shaped as the module's ``h_n``."""
        copies = tuple(s.clone() for s in self._states)
        return copies[0] if len(copies) == 1 else copies

    def reset(self, hx: Any = None) -> None:
        """Start again from ``hx`` (shaped as the module's ``h_n``; None: zeros)."""
        names = self.module.cell.state_names
        given = [None] * len(names) if hx is None else [hx] if len(names) == 1 else hx
        if hx is not None and len(names) > 1 and (not isinstance(hx, (tuple, list)) or len(hx) != len(names)):
            raise InputError(f"hx must be a tuple of {len(names)} tensors ({', '.join(names)}), "
                             f"got {type(hx).__name__}")
        with torch.no_grad():
            for name, buf, value in zip(names, self._states, given):
                if value is None:
                    buf.zero_()
                    continue
                if not isinstance(value, Tensor) or tuple(value.shape) != tuple(buf.shape):
                    got = list(value.shape) if isinstance(value, Tensor) else type(value).__name__
                    raise InputError(f"hx ({name}) has shape {got}; expected {list(buf.shape)} "
                                     "[num_layers, batch_size, hidden_size]")
                buf.copy_(value)

    # ------------------------------------------------------------------------------ steps
    def __call__(self, x: Tensor) -> Tensor:
        """One time step: ``x [batch_size, input_size]`` (copied into the streamer's input, in the
        module's dtype and on its device) -> the last layer's output ``[batch_size, hidden_size]``."""
        if not isinstance(x, Tensor) or x.shape != self._x.shape:
            got = list(x.shape) if isinstance(x, Tensor) else type(x).__name__
            raise InputError(f"input has shape {got}; this streamer takes "
                             f"[batch_size={self.batch_size}, input_size={self.module.input_size}]")
        with torch.no_grad():
            self._x.copy_(x)
            if not self.graph:
                return self._step()
            key = self._graph_key()
            if key != self._key:
                self._capture()
                self._key = key
            self._captured.replay()
            return self._out.clone()

    step = __call__

    def _step(self) -> Tensor:
        """One step of the module (as ``module.step``, with :attr:`backend`) from the kept states,
        the new states written over them."""
        states = self._states[0] if len(self._states) == 1 else tuple(self._states)
        out, new = self.module._run(self._x.unsqueeze(1), states, True, None, one_step=True,
                                    backend=self.backend)
        for buf, value in zip(self._states, new):
            buf.copy_(value)
        return out

    def _graph_key(self) -> tuple:
        """What the captured step depends on besides the values of its inputs: where the
        parameters are, and whether the module trains (dropout between layers)."""
        return (self.module.training, tuple([w.data_ptr() for w in self.module._flat_weights()]))

    def _capture(self) -> None:
        weights = self.module._flat_weights()
        if any(w.device != self.device or w.dtype != self.dtype for w in weights):
            raise InputError(f"the module's parameters moved or changed dtype since this streamer was made "
                             f"({self.dtype} on {self.device}); make a new streamer")
        saved = [s.clone() for s in self._states]
        side = torch.cuda.Stream(self.device)
        side.wait_stream(torch.cuda.current_stream(self.device))
        with torch.cuda.device(self.device), torch.cuda.stream(side), torch.no_grad():
            for _ in range(2):  # outside the capture: builds, backend choices, workspaces
                self._step()
        torch.cuda.current_stream(self.device).wait_stream(side)
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.device(self.device), torch.no_grad(), torch.cuda.graph(graph):
            out = self._step()
        for buf, value in zip(self._states, saved):  # the warm-up steps advanced the states
            buf.copy_(value)
        self._captured, self._out = graph, out

    def __repr__(self) -> str:
        return (f"Streamer({type(self.module).__name__}, batch_size={self.batch_size}, "
                f"dtype={self.dtype}, device={self.device}, graph={self.graph}, backend={self.backend!r})")
