"""``torch.nn.Module`` front ends with the interface of ``torch.nn.LSTM``, ``GRU`` and ``RNN``.

:class:`LSTM`, :class:`GRU`, :class:`RNN` (Elman, tanh; also called :class:`Elman`) and
:class:`SLSTM` take ``torch.nn.LSTM``'s arguments with its defaults (``num_layers``, ``bias``,
``batch_first=False``, ``dropout``, ``bidirectional``, ``device``, ``dtype``); the options of this
library, ``num_heads`` and ``backend``, are keyword-only. Parameters carry torch's names, shapes
and order (``weight_ih_l{k}[_reverse]``, ``weight_hh_l{k}...``, ``bias_ih_l{k}...``,
``bias_hh_l{k}...``), so with ``num_heads=1`` a ``torch.nn`` checkpoint loads into these modules
and theirs into torch. With ``N = num_heads`` heads of ``D = hidden_size / N`` units the
recurrent matrix is block-diagonal and ``weight_hh_l{k}`` holds only its blocks,
``[G * hidden_size, D]``: row ``g * hidden_size + n * D + o``, column ``i`` is the weight from
unit ``n * D + i`` to unit ``n * D + o`` in gate ``g`` (for ``N = 1`` this is torch's layout).

``forward(input, hx=None)`` takes and returns what torch's does: ``input`` ``[T, B, input_size]``
(``[B, T, ...]`` if ``batch_first``), ``[T, input_size]`` (unbatched) or a ``PackedSequence``;
states of shape ``[num_layers * num_directions, B, hidden_size]``. Each layer and direction runs
:func:`flashrnn_kernels.flashrnn` on its input projection (validated and dispatched once per call
signature, see ``_RNNBase._run``); the reversed direction runs on a time-reversed copy of its
input (each sequence reversed within its own length).
"""
from __future__ import annotations

import math
import warnings
from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.nn.utils.rnn import PackedSequence, pack_padded_sequence, pad_packed_sequence

from . import env as _env
from .api import _choice_context, _dispatch, _run_chosen
from .cells import Cell, get_cell
from .errors import InputError, UnsupportedError

__all__ = ["LSTM", "GRU", "RNN", "Elman", "SLSTM"]

_ALTERNATING: list[Any] = []


def _alternating() -> Any:
    """The module :mod:`flashrnn_kernels.backends.alternating`, imported on first use and then
    found without the import machinery (a streamed step's host time)."""
    if not _ALTERNATING:
        from .backends import alternating

        _ALTERNATING.append(alternating)
    return _ALTERNATING[0]


def _shape(t: Tensor) -> str:
    return "[" + ", ".join(str(s) for s in t.shape) + "]"


def _bias_layout(name: str) -> tuple[int, ...] | None:
    """Where the recurrent bias (torch's ``bias_hh``) of cell ``name`` goes in the kernel's bias
    ``b [Gb, N, D]``: per gate, the row it fills (the other rows stay zero), or None where ``b``
    is ``bias_hh`` row for row. The input bias ``bias_ih`` is added to the input projection; a
    gate's recurrent bias joins it there (the gate's input-side row of ``b``) unless the cell
    keeps a recurrent-side row for it (the GRU's candidate ``n``), and the input-side row of such
    a gate stays zero.

    >>> _bias_layout("lstm"), _bias_layout("gru")
    (None, (0, 1, 3))
    """
    cell = get_cell(name)
    recurrent_side = {g for side, g in cell.bias_rows if side == "r"}
    row = {g: j for j, (side, g) in enumerate(cell.bias_rows) if side == "r" or g not in recurrent_side}
    layout = tuple(row[g] for g in range(cell.num_gates))
    return None if layout == tuple(range(cell.num_bias)) else layout


def _bias_index(name: str, device: torch.device) -> Tensor | None:
    """:func:`_bias_layout` as an index tensor on ``device``, made once (a normal tensor even
    when first asked for under ``torch.inference_mode``, so that autograd may save it later).

    Kept in a plain dict rather than behind ``functools.cache``: ``torch.compile`` traces through
    a cached function's wrapper with a warning on every compile of a module."""
    key = (name, device)
    if key in _BIAS_INDEX:
        return _BIAS_INDEX[key]
    layout = _bias_layout(name)
    index = None
    if layout is not None:
        with torch.inference_mode(False):
            index = torch.tensor(layout, device=device)
    _BIAS_INDEX[key] = index
    return index


_BIAS_INDEX: dict[tuple[str, torch.device], Tensor | None] = {}


def _bias_rows(rows: Tensor, cell: Cell, dtype: torch.dtype) -> Tensor:
    """The kernel's bias ``b [Gb, N, D]`` in ``dtype`` from the recurrent bias ``rows [G, N, D]``."""
    index = _bias_index(cell.name, rows.device)
    if index is not None:
        _, N, D = rows.shape
        rows = rows.new_zeros(cell.num_bias, N, D).index_copy_(0, index, rows)
    return rows if rows.dtype == dtype else rows.to(dtype)


#: How many signatures of calls a module remembers its backends for (the oldest is forgotten).
_PLANS_KEPT = 8


def _reverse_index(lengths: Tensor, T: int, device: torch.device) -> Tensor:
    """``[B, T]`` time indices that reverse each sequence within its length (padding stays put).

    >>> _reverse_index(torch.tensor([3, 1]), 4, torch.device("cpu")).tolist()
    [[2, 1, 0, 3], [0, 1, 2, 3]]
    """
    t = torch.arange(T, device=device)
    n = lengths.to(device).unsqueeze(1)
    return torch.where(t < n, n - 1 - t, t)


def _time_gather(x: Tensor, index: Tensor) -> Tensor:
    """``x[b, index[b, t]]`` for ``x [B, T, F]``."""
    return x.gather(1, index.unsqueeze(-1).expand(-1, -1, x.shape[-1]))


class _RNNBase(nn.Module):
    """The arguments of ``torch.nn.GRU`` (the LSTM adds ``proj_size``, the RNN ``nonlinearity``)."""

    cell_name: ClassVar[str] = ""

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        bias: bool = True,
        batch_first: bool = False,
        dropout: float = 0.0,
        bidirectional: bool = False,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
        *,
        num_heads: int = 1,
        backend: str = "auto",
    ) -> None:
        super().__init__()
        for label, value in (("input_size", input_size), ("hidden_size", hidden_size),
                             ("num_layers", num_layers), ("num_heads", num_heads)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise InputError(f"{label} must be a positive integer, got {value!r}")
        if hidden_size % num_heads:
            raise InputError(
                f"num_heads={num_heads} does not divide hidden_size={hidden_size}: "
                f"each head needs hidden_size / num_heads units"
            )
        if isinstance(dropout, bool) or not isinstance(dropout, (int, float)) or not 0 <= dropout <= 1:
            raise InputError(
                f"dropout must be a number in [0, 1] (the probability of zeroing an element), got {dropout!r}"
            )
        if dropout > 0 and num_layers == 1:
            warnings.warn(
                f"dropout={dropout} has no effect with num_layers=1: dropout is applied between "
                "stacked layers (to the output of every layer but the last), as in torch.nn",
                UserWarning, stacklevel=2 if type(self).__init__ is _RNNBase.__init__ else 3,
            )
        if not isinstance(backend, str):
            raise InputError(f"backend must be a string, got {type(backend).__name__}")
        self.input_size = input_size
        self.hidden_size = hidden_size
        self.num_layers = num_layers
        self.bias = bool(bias)
        self.batch_first = bool(batch_first)
        self.dropout = float(dropout)
        self.bidirectional = bool(bidirectional)
        self.num_heads = num_heads
        self.head_size = hidden_size // num_heads
        self.backend = backend
        G, H, D = self.cell.num_gates, hidden_size, self.head_size
        factory = {"device": device, "dtype": dtype}
        dirs = self.num_directions
        self._flat_weights_names: list[str] = []
        for layer in range(num_layers):
            layer_input = input_size if layer == 0 else H * dirs
            for direction in range(dirs):
                shapes = [("weight_ih", (G * H, layer_input)), ("weight_hh", (G * H, D))]
                if self.bias:
                    shapes += [("bias_ih", (G * H,)), ("bias_hh", (G * H,))]
                for kind, shape in shapes:
                    name = f"{kind}_l{layer}{'_reverse' if direction else ''}"
                    self.register_parameter(name, nn.Parameter(torch.empty(shape, **factory)))
                    self._flat_weights_names.append(name)
        self.reset_parameters()
        #: per key of a validated call, its backend per layer and direction (see ``_run``)
        self._call_plans: dict[tuple, tuple[Any, ...]] = {}

    @property
    def cell(self) -> Cell:
        """The :class:`~flashrnn_kernels.cells.Cell` this module runs."""
        return get_cell(self.cell_name)

    @property
    def num_directions(self) -> int:
        """2 if bidirectional, else 1."""
        return 2 if self.bidirectional else 1

    @property
    def all_weights(self) -> list[list[nn.Parameter]]:
        """Per layer and direction (layer-major), its parameters in torch's order:
        ``[weight_ih, weight_hh]`` plus ``[bias_ih, bias_hh]`` with ``bias=True``."""
        per = 4 if self.bias else 2
        flat = self._flat_weights()
        return [flat[k:k + per] for k in range(0, len(flat), per)]

    def reset_parameters(self) -> None:
        """Every parameter uniform in ``[-1/sqrt(hidden_size), 1/sqrt(hidden_size)]``, drawn in
        torch's order: with ``num_heads=1`` and the same seed, the same values as ``torch.nn``.

        >>> import torch, flashrnn_kernels as frk
        >>> _ = torch.manual_seed(0); ours = frk.GRU(3, 5, num_layers=2, bidirectional=True)
        >>> _ = torch.manual_seed(0); theirs = torch.nn.GRU(3, 5, num_layers=2, bidirectional=True)
        >>> all(torch.equal(a, b) for a, b in zip(ours.parameters(), theirs.parameters()))
        True
        """
        bound = 1.0 / math.sqrt(self.hidden_size)
        for p in self.parameters():
            nn.init.uniform_(p, -bound, bound)

    def flatten_parameters(self) -> None:
        """Does nothing: the parameters need no packing into one buffer (kept so that code
        written for ``torch.nn.LSTM``, which calls it after ``.cuda()``, runs unchanged)."""

    def extra_repr(self) -> str:
        s = f"{self.input_size}, {self.hidden_size}"
        if self.num_layers != 1:
            s += f", num_layers={self.num_layers}"
        if not self.bias:
            s += ", bias=False"
        if self.batch_first:
            s += ", batch_first=True"
        if self.dropout:
            s += f", dropout={self.dropout}"
        if self.bidirectional:
            s += ", bidirectional=True"
        if self.num_heads != 1:
            s += f", num_heads={self.num_heads}"
        if self.backend != "auto":
            s += f", backend={self.backend!r}"
        return s

    def __prepare_scriptable__(self):
        raise UnsupportedError(
            f"torch.jit.script cannot compile flashrnn_kernels.{type(self).__name__}: its forward "
            "validates the call and picks a backend in Python. Use torch.compile or torch.export "
            "(both supported; torch.jit.script is deprecated by PyTorch), or torch.jit.trace "
            "(one input shape, the reference backend)."
        )

    def __getstate__(self):
        return {**self.__dict__, "_call_plans": {}}  # backends are chosen again, not copied or pickled

    def __setstate__(self, state):
        super().__setstate__({"_call_plans": {}, **state})  # modules pickled before plans existed

    # ------------------------------------------------------------------------- checkpoints
    def _load_from_state_dict(self, state_dict, prefix, local_metadata, strict, missing_keys,
                              unexpected_keys, error_msgs):
        if prefix + "weight_hh" in state_dict and prefix + "weight_hh_l0" not in state_dict:
            self._upgrade_single_layer_checkpoint(state_dict, prefix)
        super()._load_from_state_dict(state_dict, prefix, local_metadata, strict, missing_keys,
                                      unexpected_keys, error_msgs)

    def _upgrade_single_layer_checkpoint(self, state_dict, prefix: str) -> None:
        """Rename the parameters of a checkpoint from the earlier single-layer layout
        (``weight_ih``, ``weight_hh [G, N, D, D]``, ``bias [Gb, N, D]``) to layer 0's."""
        R = state_dict[prefix + "weight_hh"]
        if R.dim() != 4:
            return  # not that layout: load_state_dict reports the keys
        cell = self.cell
        state_dict[prefix + "weight_ih_l0"] = state_dict.pop(prefix + "weight_ih")
        state_dict[prefix + "weight_hh_l0"] = state_dict.pop(prefix + "weight_hh").reshape(-1, R.shape[-1])
        b = state_dict.pop(prefix + "bias", None)
        if b is not None:
            sides = {"x": b.new_zeros(cell.num_gates, *b.shape[1:]),
                     "r": b.new_zeros(cell.num_gates, *b.shape[1:])}
            for row, (side, gate) in enumerate(cell.bias_rows):
                sides[side][gate] += b[row]
            state_dict[prefix + "bias_ih_l0"] = sides["x"].reshape(-1)
            state_dict[prefix + "bias_hh_l0"] = sides["r"].reshape(-1)

    # ------------------------------------------------------------------------- forward
    def forward(self, input, hx=None):
        """``(output, h_n)`` as ``torch.nn`` returns them (``h_n`` is a tuple of states for the
        LSTM and sLSTM), for ``input`` of shape ``[T, B, input_size]`` (``[B, T, ...]`` if
        ``batch_first``), ``[T, input_size]`` (unbatched) or a ``PackedSequence``, starting from
        ``hx`` (zeros if None; shaped like ``h_n``, ``[num_layers * num_directions, B, H]``).

        Continuing a sequence in chunks gives the same outputs as one call:

        >>> import torch, flashrnn_kernels as frk
        >>> rnn = frk.GRU(4, 8, num_layers=2, num_heads=2).double()
        >>> x = torch.randn(10, 2, 4, dtype=torch.float64)             # [T, B, input_size]
        >>> out, h = rnn(x)
        >>> out1, h1 = rnn(x[:6]); out2, h2 = rnn(x[6:], h1)
        >>> torch.allclose(torch.cat([out1, out2]), out), torch.allclose(h2, h)
        (True, True)
        """
        packed = isinstance(input, PackedSequence)
        lengths = None
        if packed:
            x, lengths = pad_packed_sequence(input, batch_first=True)
            batched = True
        else:
            self._check_input(input)
            batched = input.dim() == 3
            if not batched:
                x = input.unsqueeze(0)
            else:
                x = input if self.batch_first else input.transpose(0, 1)
        if x.shape[1] == 0:
            raise InputError(f"input has shape {_shape(x)}: the sequence length must be at least 1")
        out, last = self._run(x, hx, batched, lengths)
        if packed:
            order = input.sorted_indices
            padded = out if order is None else out.index_select(0, order)
            sorted_lengths = lengths if order is None else lengths.index_select(0, order.cpu())
            data = pack_padded_sequence(padded, sorted_lengths, batch_first=True).data
            output = PackedSequence(data, input.batch_sizes, input.sorted_indices, input.unsorted_indices)
        elif not batched:
            output = out[0]
            last = [s[:, 0] for s in last]
        else:
            output = out if self.batch_first else out.transpose(0, 1).contiguous()
        return output, last[0] if len(last) == 1 else tuple(last)

    def step(self, input: Tensor, hx=None):
        """One time step of a stream: ``(output, h_n)`` for ``input`` of shape
        ``[B, input_size]`` (or ``[input_size]``, unbatched), starting from ``hx`` (zeros if None,
        shaped as :meth:`forward`'s). Feeding a sequence one step at a time, each call given the
        state the last one returned, gives what one :meth:`forward` call over the whole sequence
        gives. ``output`` is ``[B, hidden_size]``. A bidirectional module cannot stream (its
        reverse direction needs the rest of the sequence).

        >>> import torch, flashrnn_kernels as frk
        >>> rnn = frk.LSTM(4, 8, num_layers=2).double()
        >>> x = torch.randn(5, 3, 4, dtype=torch.float64)               # [T, B, input_size]
        >>> out, state = rnn(x)
        >>> h = None
        >>> for t in range(5):
        ...     y, h = rnn.step(x[t], h)
        >>> torch.allclose(y, out[-1]), torch.allclose(h[1], state[1])
        (True, True)
        """
        if self.bidirectional:
            raise InputError(f"{type(self).__name__}.step: a bidirectional module cannot run one step at a "
                             "time (its reverse direction reads the sequence from the end); call the module "
                             "on the whole sequence")
        if not isinstance(input, Tensor) or input.dim() not in (1, 2) or input.shape[-1] != self.input_size:
            shape = _shape(input) if isinstance(input, Tensor) else type(input).__name__
            raise InputError(f"input has shape {shape}; step expects [B, input_size={self.input_size}] or "
                             f"[input_size={self.input_size}] (one time step)")
        batched = input.dim() == 2
        x = input.unsqueeze(1) if batched else input.reshape(1, 1, -1)  # [B, T=1, input_size]
        out, last = self._run(x, hx, batched, None, one_step=True)
        if not batched:
            out, last = out[0], [s[:, 0] for s in last]
        return out, last[0] if len(last) == 1 else tuple(last)

    def streamer(self, batch_size: int, hx=None, graph: bool | None = None, backend: str | None = None):
        """A :class:`~flashrnn_kernels.streaming.Streamer`: one time step of this module per call,
        the states kept between calls; on a GPU each call replays one captured CUDA graph
        (``graph``, default: where the module is on a GPU). ``hx``: the initial states, shaped
        as ``h_n`` (None: zeros); ``backend``: the steps' backend (None: the module's).

        >>> import torch, flashrnn_kernels as frk
        >>> stream = frk.GRU(4, 8).double().streamer(batch_size=2)
        >>> stream(torch.randn(2, 4, dtype=torch.float64)).shape
        torch.Size([2, 8])
        """
        from .streaming import Streamer

        return Streamer(self, batch_size, hx, graph, backend)

    def _check_input(self, x) -> None:
        order = "[B, T, input_size]" if self.batch_first else "[T, B, input_size]"
        expected = (f"{order[:-1]}={self.input_size}] (batch_first={self.batch_first}) or "
                    f"[T, input_size={self.input_size}] (unbatched)")
        if not isinstance(x, Tensor):
            raise InputError(f"input must be a torch.Tensor or a PackedSequence of shape {expected}, "
                             f"got {type(x).__name__}")
        if x.dim() not in (2, 3):
            raise InputError(f"input has shape {_shape(x)} (rank {x.dim()}); expected {expected}")
        if x.shape[-1] != self.input_size:
            raise InputError(f"input has shape {_shape(x)}; expected {expected} "
                             f"(last axis is {x.shape[-1]}, not input_size={self.input_size})")

    def _compute_dtype(self, x: Tensor, w: Tensor, device: torch.device) -> tuple[torch.dtype, bool]:
        """The dtype the layers compute in, for ``x`` on ``device`` (``x.device``) and the first
        layer's input weight ``w``, and whether autocast is on for the device type."""
        if device != w.device:
            raise InputError(f"input is on device {x.device}; the parameters of {type(self).__name__} are on "
                             f"{w.device}: move one of them (input.to({str(w.device)!r}) or "
                             f"module.to({str(x.device)!r}))")
        if not x.is_floating_point():
            raise InputError(f"input has dtype {x.dtype}; expected a floating-point tensor ({w.dtype})")
        if torch.is_autocast_enabled(device.type):
            return torch.get_autocast_dtype(device.type), True
        if x.dtype != w.dtype:
            raise InputError(f"input has dtype {x.dtype}; the parameters of {type(self).__name__} are "
                             f"{w.dtype}: convert the input (input.to({w.dtype})) or the module "
                             f"(module.to({x.dtype}))")
        return w.dtype, False

    def _initial_states(self, hx, B: int, batched: bool, dtype: torch.dtype, device: torch.device,
                        cast: bool, cell: Cell) -> list[Tensor] | None:
        """The initial states as a list of ``[num_layers * num_directions, B, H]`` tensors
        (``cast``: whether autocast is on, which takes states of any floating dtype)."""
        if hx is None:
            return None
        names = cell.state_names
        S, LD, H = len(names), self.num_layers * self.num_directions, self.hidden_size
        if S == 1:
            parts = [hx]
        else:
            if not isinstance(hx, (tuple, list)) or len(hx) != S:
                got = f"{len(hx)} items" if isinstance(hx, (tuple, list)) else type(hx).__name__
                raise InputError(f"hx must be a tuple of {S} tensors ({', '.join(n + '_0' for n in names)}), "
                                 f"got {got}")
            parts = list(hx)
        shape = (LD, B, H) if batched else (LD, H)
        for k, p in enumerate(parts):
            ok = isinstance(p, Tensor) and p.shape == shape and p.device == device
            if not (ok and (p.dtype == dtype or (cast and p.is_floating_point()))):
                self._refuse_state(k, p, shape, batched, dtype, device)  # says what is wrong
        if not batched:
            parts = [p.unsqueeze(1) for p in parts]
        return parts

    def _refuse_state(self, k: int, p: Any, shape: tuple[int, ...], batched: bool, dtype: torch.dtype,
                      device: torch.device) -> None:
        """Raise the InputError that says what is wrong with item ``k`` of ``hx``."""
        names = self.cell.state_names
        label = "hx" if len(names) == 1 else f"hx[{k}] ({names[k]}_0)"
        LD, H = self.num_layers * self.num_directions, self.hidden_size
        expected = (f"[num_layers * num_directions={LD}, batch={shape[1]}, hidden_size={H}]" if batched
                    else f"[num_layers * num_directions={LD}, hidden_size={H}] (unbatched input)")
        if not isinstance(p, Tensor):
            raise InputError(f"{label} must be a torch.Tensor of shape {expected}, got {type(p).__name__}")
        if tuple(p.shape) != shape:
            raise InputError(f"{label} has shape {_shape(p)}; expected {expected}")
        if p.device != device:
            raise InputError(f"{label} is on device {p.device}; expected {device} (the device of input)")
        raise InputError(f"{label} has dtype {p.dtype}; expected {dtype} (the dtype of input)")

    def _flat_weights(self) -> list[Tensor]:
        """The parameters named by ``_flat_weights_names``, in that order (a parametrised or
        otherwise computed weight as the module's attribute gives it)."""
        params = self._parameters
        return [params[n] if n in params else getattr(self, n) for n in self._flat_weights_names]

    def _plan_key(self, x: Tensor, device: torch.device, dtype: torch.dtype, states0: list[Tensor] | None,
                  weights: list[Tensor], backend: str) -> tuple | None:
        """Everything the validation and the backend choice of this module's ``flashrnn`` calls
        depend on, for a batch-major ``x``: the sizes, dtypes and devices of input and weights,
        which tensors require gradients, the backend asked for (``FLASHRNN_BACKEND`` where that
        is ``"auto"``) and the registry's generation. The module builds ``Wx``, ``R``, ``b`` and
        the states itself (their shapes follow from these and the module's sizes, their dtype
        is ``Wx``'s), so a call with the key of a validated call passes the same checks and gets
        the same backend. None while ``torch.compile`` traces (every call is validated there)."""
        if torch.compiler.is_compiling():
            return None
        key = (x.dtype, dtype, device, x.shape[0], x.shape[1], *_choice_context(backend),
               tuple([w.device for w in weights]))
        if torch.is_grad_enabled():
            key += (x.requires_grad, states0 is not None and any(s.requires_grad for s in states0),
                    tuple([w.requires_grad for w in weights]))
        return key

    def _run(self, x: Tensor, hx, batched: bool, lengths: Tensor | None,
             one_step: bool = False, backend: str | None = None) -> tuple[Tensor, list[Tensor]]:
        """All layers on a batch-major ``x [B, T, input_size]`` from ``hx`` (``forward``'s):
        ``(output [B, T, num_directions * H], S x [num_layers * num_directions, B, H])``;
        ``one_step``: T is 1 and the output comes as ``[B, H]``; ``backend``: the one asked for
        instead of the module's own (a :class:`~flashrnn_kernels.streaming.Streamer`'s).

        The backend of each layer and direction is chosen by a validated :func:`flashrnn` call
        (``api._dispatch``) the first time; the module remembers the choices under
        :meth:`_plan_key` (for the last ``_PLANS_KEPT`` keys) and later calls with a remembered
        key go straight to the backend (``api._run_chosen``). Nothing tensor-valued is
        remembered (weights are read on every call: in-place changes, ``.data`` assignments and
        replaced parameters all count)."""
        B, T, _ = x.shape
        device = x.device
        flat = self._flat_weights()
        dtype, cast = self._compute_dtype(x, flat[0], device)
        cell = self.cell
        states0 = self._initial_states(hx, B, batched, dtype, device, cast, cell)
        S, H, dirs = cell.num_states, self.hidden_size, self.num_directions
        LD = self.num_layers * dirs
        per = 4 if self.bias else 2
        backend = self.backend if backend is None else backend
        if one_step and dirs == 1 and not cast and B > 0:
            fast = self._input_steps(x, states0, flat, backend, cell)
            if fast is not None:
                return fast
        key = self._plan_key(x, device, dtype, states0, flat, backend)
        plans = self._call_plans
        chosen = None if key is None else plans.get(key)
        picked = []
        reverse_index = None
        if dirs == 2 and lengths is not None:
            reverse_index = _reverse_index(lengths, T, device)
        if lengths is not None:
            lengths = lengths.to(device)
        # the states of every layer in one [S, LD, B, H] tensor (one state: hx itself)
        stacked = None if states0 is None else states0[0] if S == 1 else torch.stack(states0)
        lasts: list[Tensor] = []
        for layer in range(self.num_layers):
            squeeze = one_step and layer == self.num_layers - 1  # the last layer's output [B, H]
            outs = []
            for direction in range(dirs):
                k = layer * dirs + direction
                if stacked is None or LD == 1:
                    s0 = stacked
                else:
                    s0 = stacked[k:k + 1] if S == 1 else stacked[:, k]
                w = flat[k * per:(k + 1) * per]
                out, last, ran = self._run_direction(
                    x, direction, w, s0, lengths, reverse_index, cell, None if chosen is None else chosen[k],
                    squeeze, backend)
                picked.append(ran)
                outs.append(out)
                lasts.append(last)
            x = outs[0] if dirs == 1 else torch.cat(outs, dim=-1)
            if self.dropout and self.training and layer < self.num_layers - 1:
                x = F.dropout(x, self.dropout, training=True)
        if key is not None and chosen is None and B > 0:
            # a new dict, not an update: replicas that share this one (DataParallel) may read it
            kept = list(plans.items())[1 - _PLANS_KEPT:]
            self._call_plans = {**dict(kept), key: tuple(picked)}
        if LD == 1:  # one layer, one direction: S x [1, B, H], views
            return x, list(lasts[0].reshape(S, 1, B, H).unbind(0))
        return x, list(torch.stack(lasts, dim=1).reshape(S, LD, B, H).unbind(0))

    def _input_steps(self, x: Tensor, states0: list[Tensor] | None, flat: list[Tensor], backend: str,
                     cell: Cell) -> tuple[Tensor, list[Tensor]] | None:
        """One inference step of every layer, one launch per layer with the input product inside
        (:func:`flashrnn_kernels.backends.alternating.input_step`), as :meth:`_run` returns it
        for ``one_step``; None where that step does not apply: ``FLASHRNN_INPUT_STEP=0``,
        gradients wanted, a backend asked for other than ``"auto"`` (with ``FLASHRNN_BACKEND``
        unset or ``auto``) or ``"alternating"``, dropout between layers in training,
        ``torch.compile`` tracing, or operands the kernel does not take
        (:func:`~flashrnn_kernels.backends.alternating.input_step_fits`)."""
        if backend not in ("auto", "alternating"):
            return None
        if torch.is_grad_enabled() and (x.requires_grad or any(w.requires_grad for w in flat) or (
                states0 is not None and any(s.requires_grad for s in states0))):
            return None
        if self.dropout and self.training and self.num_layers > 1:
            return None
        if backend == "auto" and _env.backend_setting() not in ("auto", "alternating"):
            return None
        if not _env.input_step_enabled():
            return None
        if torch.compiler.is_compiling():
            return None
        alternating = _alternating()
        input_step, input_step_fits = alternating.input_step, alternating.input_step_fits

        L, B, H = self.num_layers, x.shape[0], self.hidden_size
        S, N, D, per = cell.num_states, self.num_heads, self.head_size, 4 if self.bias else 2
        # each layer's (w_ih, b_ih, w_hh, b_hh) and previous states (None: zeros)
        weights = [(w[0], w[2], w[1], w[3]) if self.bias else (w[0], None, w[1], None)
                   for w in (flat[k * per:(k + 1) * per] for k in range(L))]
        # (one layer: its states [1, B, H] as given, x [B, 1, I] and the states written into
        # [S, 1, B, H]; the step takes those shapes, and a view costs about 1 us of host time)
        if states0 is None:
            prevs = [None] * L
        else:
            prevs = [states0] if L == 1 else [[p[layer] for p in states0] for layer in range(L)]
        xs = [x]  # each layer's input, then the output
        if not input_step_fits(x, *weights[0], prevs[0], N, D):  # before anything is made
            return None
        xs += [x.new_empty(B, H) for _ in range(L)]
        for layer in range(1, L):
            if not input_step_fits(xs[layer], *weights[layer], prevs[layer], N, D):
                return None
        if states0 is None:
            prevs = [[x.new_zeros(B, H)] * S] * L
        s_new = x.new_empty(S, L, B, H)
        for layer in range(L):
            input_step(cell, xs[layer], *weights[layer], prevs[layer], N, D, out=xs[layer + 1],
                       s_out=s_new if L == 1 else s_new[:, layer])
        return xs[L], list(s_new.unbind(0))

    def _run_direction(self, x, direction, weights, s0, lengths, reverse_index, cell, chosen, squeeze, backend):
        """One layer in one direction: ``(out [B, T, H]`` (``[B, H]`` if ``squeeze``, for T = 1),
        ``last, ran)``; ``last`` holds ``[S, B, H]`` in some shape, ``ran`` is the backend that ran
        the call (``chosen`` if given, else ``api._dispatch``'s choice for the ``backend`` asked
        for; None for an empty batch)."""
        if self.bias:
            w_ih, w_hh, b_ih, b_hh = weights
        else:
            (w_ih, w_hh), b_ih, b_hh = weights, None, None
        if direction:
            x = x.flip(1) if reverse_index is None else _time_gather(x, reverse_index)
        B, T, _ = x.shape
        G, S, N, D, H = cell.num_gates, cell.num_states, self.num_heads, self.head_size, self.hidden_size
        Wx = F.linear(x, w_ih, b_ih).reshape(B, T, G, N, D)
        dtype = Wx.dtype
        R = w_hh.view(G, N, D, D)
        if R.dtype != dtype:
            R = R.to(dtype)
        b = None if b_hh is None else _bias_rows(b_hh.view(G, N, D), cell, dtype)
        states0 = None
        if s0 is not None:
            states0 = (s0 if s0.dtype == dtype else s0.to(dtype)).view(S, B, 1, N, D)
        if B == 0:
            states, last = _empty_batch(Wx, R, b, states0, S)
        else:
            if chosen is None:
                cell, chosen = _dispatch(Wx, R, b, states0, cell, backend)
            states, last = _run_chosen(chosen, Wx, R, b, states0, cell)
        out = states[0].reshape((B, H) if squeeze else (B, T, H))
        if lengths is not None:
            last = states[:, torch.arange(B, device=x.device), lengths - 1]
        if direction:
            out = out.flip(1) if reverse_index is None else _time_gather(out, reverse_index)
        return out, last, chosen

    @classmethod
    def _from_torch_module(cls, module: nn.RNNBase, backend: str, **options):
        w = module.weight_ih_l0
        new = cls(module.input_size, module.hidden_size, module.num_layers, bias=module.bias,
                  batch_first=module.batch_first, dropout=module.dropout,
                  bidirectional=module.bidirectional, device=w.device, dtype=w.dtype,
                  backend=backend, **options)
        new.load_state_dict(module.state_dict())
        new.train(module.training)
        return new


def _empty_batch(Wx: Tensor, R: Tensor, b: Tensor | None, states0: Tensor | None, S: int):
    """``(states, last)`` for a batch of 0 sequences: empty, and tied to every input so that a
    backward pass gives the parameters zero gradients (as ``torch.nn`` does)."""
    _, T, _, N, D = Wx.shape
    tie = Wx.sum() + R.sum()
    for t in (b, states0):
        if t is not None:
            tie = tie + t.sum()
    states = Wx.new_zeros(S, 0, T, N, D) + 0 * tie
    return states, states[:, :, T - 1:]


def _refuse_projection(proj_size: int) -> None:
    if proj_size != 0:
        raise InputError(
            f"proj_size={proj_size} is not supported: every backend's recurrence multiplies the "
            "full hidden state (R [4, N, D, D]), not a projection of it. Use proj_size=0 "
            "(optionally with a torch.nn.Linear on the output: a different model), or "
            "torch.nn.LSTM for a projected LSTM"
        )


class LSTM(_RNNBase):
    """``torch.nn.LSTM``'s interface and parameters, running on this library's backends.

    With ``num_heads > 1`` the recurrent matrix is block-diagonal (``num_heads`` independent
    heads of ``hidden_size / num_heads`` units; ``weight_hh_l{k}`` holds the blocks, see the
    module docstring). ``proj_size`` must be 0: the recurrence of every backend multiplies the
    full hidden state, so a projected LSTM is refused with an error.

    >>> import torch, flashrnn_kernels as frk
    >>> rnn = frk.LSTM(8, 16, num_layers=2, bidirectional=True)
    >>> out, (h, c) = rnn(torch.randn(7, 3, 8))                     # [T, B, input_size]
    >>> out.shape, h.shape, c.shape
    (torch.Size([7, 3, 32]), torch.Size([4, 3, 16]), torch.Size([4, 3, 16]))
    >>> theirs = torch.nn.LSTM(8, 16, num_layers=2, bidirectional=True)
    >>> theirs.load_state_dict(rnn.state_dict())                     # the same parameters
    <All keys matched successfully>

    On a GPU, ``frk.LSTM(..., device="cuda", dtype=torch.bfloat16)`` runs the fastest backend
    that supports the call (``backend="auto"``); ``backend="fused"`` asks for one.
    """

    cell_name = "lstm"

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        bias: bool = True,
        batch_first: bool = False,
        dropout: float = 0.0,
        bidirectional: bool = False,
        proj_size: int = 0,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
        *,
        num_heads: int = 1,
        backend: str = "auto",
    ) -> None:
        _refuse_projection(proj_size)
        super().__init__(input_size, hidden_size, num_layers, bias, batch_first, dropout,
                         bidirectional, device, dtype, num_heads=num_heads, backend=backend)
        self.proj_size = 0

    @classmethod
    def from_torch(cls, module: nn.LSTM, backend: str = "auto") -> LSTM:
        """A module with the configuration and a copy of the parameters of ``module``.

        >>> import torch, flashrnn_kernels as frk
        >>> ref = torch.nn.LSTM(8, 16, num_layers=2, bidirectional=True, batch_first=True)
        >>> rnn = frk.LSTM.from_torch(ref); x = torch.randn(2, 5, 8)
        >>> torch.allclose(rnn(x)[0], ref(x)[0], atol=1e-6)
        True
        """
        if not isinstance(module, nn.LSTM):
            raise InputError(f"LSTM.from_torch expects a torch.nn.LSTM, got {type(module).__name__}")
        _refuse_projection(module.proj_size)
        return cls._from_torch_module(module, backend)


class GRU(_RNNBase):
    """``torch.nn.GRU``'s interface and parameters, running on this library's backends.

    >>> import torch, flashrnn_kernels as frk
    >>> rnn = frk.GRU(8, 16, num_heads=2, batch_first=True)
    >>> out, h = rnn(torch.randn(3, 7, 8))                          # [B, T, input_size]
    >>> out.shape, h.shape, rnn.weight_hh_l0.shape                   # 2 heads of 8: [3 * 16, 8]
    (torch.Size([3, 7, 16]), torch.Size([1, 3, 16]), torch.Size([48, 8]))
    """

    cell_name = "gru"

    @classmethod
    def from_torch(cls, module: nn.GRU, backend: str = "auto") -> GRU:
        """A module with the configuration and a copy of the parameters of ``module``.

        >>> import torch, flashrnn_kernels as frk
        >>> ref = torch.nn.GRU(8, 16, num_layers=3)
        >>> rnn = frk.GRU.from_torch(ref); x = torch.randn(5, 2, 8)
        >>> torch.allclose(rnn(x)[0], ref(x)[0], atol=1e-6)
        True
        """
        if not isinstance(module, nn.GRU):
            raise InputError(f"GRU.from_torch expects a torch.nn.GRU, got {type(module).__name__}")
        return cls._from_torch_module(module, backend)


class RNN(_RNNBase):
    """``torch.nn.RNN``'s interface and parameters (Elman network), running on this library's
    backends: ``nonlinearity="tanh"`` (torch's default; the cell ``"elman"``) or ``"relu"``
    (the cell ``"elman_relu"``).

    >>> import torch, flashrnn_kernels as frk
    >>> rnn = frk.RNN(8, 16, num_layers=2)
    >>> out, h = rnn(torch.randn(5, 8))                             # unbatched: [T, input_size]
    >>> out.shape, h.shape
    (torch.Size([5, 16]), torch.Size([2, 16]))
    """

    cell_name = "elman"
    #: nonlinearity -> cell
    CELLS: ClassVar[dict[str, str]] = {"tanh": "elman", "relu": "elman_relu"}

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        nonlinearity: str = "tanh",
        bias: bool = True,
        batch_first: bool = False,
        dropout: float = 0.0,
        bidirectional: bool = False,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
        *,
        num_heads: int = 1,
        backend: str = "auto",
    ) -> None:
        if nonlinearity not in self.CELLS:
            raise InputError(f"unknown nonlinearity {nonlinearity!r}: expected 'tanh' or 'relu' "
                             "(as torch.nn.RNN)")
        self.cell_name = self.CELLS[nonlinearity]
        super().__init__(input_size, hidden_size, num_layers, bias, batch_first, dropout,
                         bidirectional, device, dtype, num_heads=num_heads, backend=backend)
        self.nonlinearity = nonlinearity

    @classmethod
    def from_torch(cls, module: nn.RNN, backend: str = "auto") -> RNN:
        """A module with the configuration and a copy of the parameters of ``module``.

        >>> import torch, flashrnn_kernels as frk
        >>> ref = torch.nn.RNN(8, 16, bidirectional=True)
        >>> rnn = frk.RNN.from_torch(ref); x = torch.randn(5, 2, 8)
        >>> torch.allclose(rnn(x)[0], ref(x)[0], atol=1e-6)
        True
        """
        if not isinstance(module, nn.RNN):
            raise InputError(f"RNN.from_torch expects a torch.nn.RNN, got {type(module).__name__}")
        return cls._from_torch_module(module, backend, nonlinearity=module.nonlinearity)


#: Another name of :class:`RNN` (the cell is called ``"elman"``).
Elman = RNN


class SLSTM(_RNNBase):
    """sLSTM (xLSTM) with the interface and parameter layout of :class:`LSTM`.

    Four states: ``h``, the cell ``c``, the normaliser ``n`` and the stabiliser ``m``; ``hx``
    and the returned state are tuples of four ``[num_layers * num_directions, B, H]`` tensors.
    The gates are ``i, f, z, o`` (in that order in ``weight_ih_l{k}`` and ``weight_hh_l{k}``).

    >>> import torch, flashrnn_kernels as frk
    >>> rnn = frk.SLSTM(8, 16, num_layers=2, num_heads=2)
    >>> out, (h, c, n, m) = rnn(torch.randn(7, 3, 8))
    >>> out.shape, n.shape
    (torch.Size([7, 3, 16]), torch.Size([2, 3, 16]))
    """

    cell_name = "slstm"

