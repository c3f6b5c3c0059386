"""``torch.nn.Module`` front ends: :class:`LSTM`, :class:`GRU`, :class:`SLSTM`, :class:`Elman`.

Each module holds the input projection ``weight_ih [G*H, input_size]`` (no bias of its own),
the block-diagonal recurrent matrix ``weight_hh [G, N, D, D]`` (``N = num_heads`` heads of
``D = hidden_size / num_heads``) and the bias ``bias [Gb, N, D]`` (layout per cell:
``docs/rnn.md``), and calls :func:`flashrnn_kernels.flashrnn`.

``forward(x, state=None)`` returns ``(output, last_state)`` like ``torch.nn.LSTM`` with one layer:
``output [B, T, H]`` (``[T, B, H]`` if ``batch_first=False``), and ``last_state`` (also the
form of ``state``) is ``(h, c)`` for the LSTM, ``h`` for the GRU and Elman, ``(h, c, n, m)`` for
the sLSTM, each ``[1, B, H]``.
"""
from __future__ import annotations

import math
from typing import ClassVar

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .api import flashrnn
from .cells import Cell, get_cell
from .errors import InputError


class _RNNBase(nn.Module):
    cell_name: ClassVar[str] = ""

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        num_heads: int = 1,
        bias: bool = True,
        batch_first: bool = True,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
        backend: str = "auto",
    ) -> None:
        super().__init__()
        for label, value in (("input_size", input_size), ("hidden_size", hidden_size), ("num_heads", num_heads)):
            if not isinstance(value, int) or value < 1:
                raise InputError(f"{label} must be a positive integer, got {value!r}")
        if hidden_size % num_heads:
            raise InputError(
                f"num_heads={num_heads} does not divide hidden_size={hidden_size}: "
                f"each head needs hidden_size / num_heads units"
            )
        cell = self.cell
        self.input_size = input_size
        self.hidden_size = hidden_size
        self.num_heads = num_heads
        self.head_size = hidden_size // num_heads
        self.batch_first = batch_first
        self.backend = backend
        G, N, D = cell.num_gates, num_heads, self.head_size
        factory = {"device": device, "dtype": dtype}
        self.weight_ih = nn.Parameter(torch.empty(G * hidden_size, input_size, **factory))
        self.weight_hh = nn.Parameter(torch.empty(G, N, D, D, **factory))
        if bias:
            self.bias = nn.Parameter(torch.empty(cell.num_bias, N, D, **factory))
        else:
            self.register_parameter("bias", None)
        self.reset_parameters()

    @property
    def cell(self) -> Cell:
        return get_cell(self.cell_name)

    def reset_parameters(self) -> None:
        """Uniform in ``[-1/sqrt(hidden_size), 1/sqrt(hidden_size)]``, as torch.nn.LSTM does."""
        bound = 1.0 / math.sqrt(self.hidden_size)
        for p in self.parameters():
            nn.init.uniform_(p, -bound, bound)

    def extra_repr(self) -> str:
        s = f"{self.input_size}, {self.hidden_size}, num_heads={self.num_heads}"
        if self.bias is None:
            s += ", bias=False"
        if not self.batch_first:
            s += ", batch_first=False"
        if self.backend != "auto":
            s += f", backend={self.backend!r}"
        return s

    # state conversion: torch.nn style (tuple of [1, B, H]) <-> [S, B, 1, N, D]
    def _pack_state(self, state, B: int, like: Tensor) -> Tensor | None:
        if state is None:
            return None
        S = self.cell.num_states
        parts = (state,) if isinstance(state, Tensor) else tuple(state)
        names = self.cell.state_names
        if len(parts) != S:
            raise InputError(f"state must hold {S} tensors ({', '.join(names)}), got {len(parts)}")
        H = self.hidden_size
        for name, p in zip(names, parts):
            if not isinstance(p, Tensor) or tuple(p.shape) != (1, B, H):
                shape = list(p.shape) if isinstance(p, Tensor) else type(p).__name__
                raise InputError(f"state {name} has shape {shape}; expected [1, B={B}, H={H}]")
        st = torch.stack(parts)  # [S, 1, B, H]
        return st.view(S, B, 1, self.num_heads, self.head_size).to(like.dtype)

    def _unpack_state(self, last: Tensor):
        S, B = last.shape[0], last.shape[1]
        flat = last.reshape(S, 1, B, self.hidden_size)
        parts = tuple(flat.unbind(0))
        return parts[0] if S == 1 else parts

    def forward(self, x: Tensor, state=None):
        """``(output, last_state)`` for the input ``x [B, T, input_size]`` (``[T, B, ...]`` if
        not batch-first), starting from ``state`` (zeros if None; the form of ``last_state``).

        Continuing a sequence in chunks gives the same outputs as one call:

        >>> import torch, flashrnn_kernels as frk
        >>> rnn = frk.GRU(4, 8, num_heads=2).double(); x = torch.randn(2, 10, 4, dtype=torch.float64)
        >>> out, h = rnn(x)
        >>> out1, h1 = rnn(x[:, :6]); out2, h2 = rnn(x[:, 6:], h1)
        >>> torch.allclose(torch.cat([out1, out2], 1), out), torch.allclose(h2, h)
        (True, True)
        """
        if not isinstance(x, Tensor) or x.dim() != 3:
            order = "[B, T, input_size]" if self.batch_first else "[T, B, input_size]"
            shape = list(x.shape) if isinstance(x, Tensor) else type(x).__name__
            raise InputError(f"input x has shape {shape}; expected {order} with input_size={self.input_size}")
        if x.shape[-1] != self.input_size:
            raise InputError(
                f"input x has shape {list(x.shape)}; expected last axis input_size={self.input_size}"
            )
        if not self.batch_first:
            x = x.transpose(0, 1)
        B, T, _ = x.shape
        cell = self.cell
        Wx = F.linear(x, self.weight_ih).view(B, T, cell.num_gates, self.num_heads, self.head_size)
        states0 = self._pack_state(state, B, Wx)
        states, last = flashrnn(Wx, self.weight_hh, self.bias, states0, cell=cell, backend=self.backend)
        out = states[0].reshape(B, T, self.hidden_size)
        if not self.batch_first:
            out = out.transpose(0, 1)
        return out, self._unpack_state(last)

    @classmethod
    def _from_torch(cls, module: nn.RNNBase, backend: str, bias_rows) -> "_RNNBase":
        if module.num_layers != 1 or module.bidirectional or getattr(module, "proj_size", 0):
            raise InputError(
                f"{cls.__name__}.from_torch needs a single-layer, unidirectional module without "
                f"projection; got num_layers={module.num_layers}, bidirectional={module.bidirectional}"
            )
        w = module.weight_ih_l0
        new = cls(module.input_size, module.hidden_size, num_heads=1, bias=module.bias,
                  batch_first=module.batch_first, device=w.device, dtype=w.dtype, backend=backend)
        H, G = module.hidden_size, new.cell.num_gates
        with torch.no_grad():
            new.weight_ih.copy_(w)
            new.weight_hh.copy_(module.weight_hh_l0.view(G, 1, H, H))
            if module.bias:
                bi = module.bias_ih_l0.view(G, H)
                bh = module.bias_hh_l0.view(G, H)
                new.bias.copy_(torch.stack(bias_rows(bi, bh)).view(-1, 1, H))
        return new


class LSTM(_RNNBase):
    """LSTM with ``num_heads`` block-diagonal heads (one head: ``torch.nn.LSTM``'s function).

    >>> import torch, flashrnn_kernels as frk
    >>> rnn = frk.LSTM(input_size=8, hidden_size=16, num_heads=4)     # 4 heads of 4 units
    >>> out, (h, c) = rnn(torch.randn(3, 7, 8))                        # [B, T, input_size]
    >>> out.shape, h.shape, c.shape
    (torch.Size([3, 7, 16]), torch.Size([1, 3, 16]), torch.Size([1, 3, 16]))
    >>> rnn.weight_hh.shape                                            # [G, N, D, D]
    torch.Size([4, 4, 4, 4])

    On a GPU, ``frk.LSTM(..., device="cuda", dtype=torch.bfloat16)`` runs the fastest backend
    that supports the call (``backend="auto"``); ``backend="fused"`` asks for one.
    """

    cell_name = "lstm"

    @classmethod
    def from_torch(cls, module: nn.LSTM, backend: str = "auto") -> "LSTM":
        """Copy the weights of a single-layer ``torch.nn.LSTM`` (same outputs, one head).

        >>> import torch, flashrnn_kernels as frk
        >>> ref = torch.nn.LSTM(8, 16, batch_first=True)
        >>> rnn = frk.LSTM.from_torch(ref); x = torch.randn(2, 5, 8)
        >>> torch.allclose(rnn(x)[0], ref(x)[0], atol=1e-6)
        True
        """
        if not isinstance(module, nn.LSTM):
            raise InputError(f"LSTM.from_torch expects a torch.nn.LSTM, got {type(module).__name__}")
        return cls._from_torch(module, backend, lambda bi, bh: [bi[g] + bh[g] for g in range(4)])


class GRU(_RNNBase):
    """GRU with ``num_heads`` block-diagonal heads (one head: ``torch.nn.GRU``'s function).

    >>> import torch, flashrnn_kernels as frk
    >>> rnn = frk.GRU(8, 16, num_heads=2)
    >>> out, h = rnn(torch.randn(3, 7, 8))
    >>> out.shape, h.shape, rnn.bias.shape        # bias rows: r, z, n (input side), n (recurrent)
    (torch.Size([3, 7, 16]), torch.Size([1, 3, 16]), torch.Size([4, 2, 8]))
    """

    cell_name = "gru"

    @classmethod
    def from_torch(cls, module: nn.GRU, backend: str = "auto") -> "GRU":
        """Copy the weights of a single-layer ``torch.nn.GRU`` (same outputs, one head).

        >>> import torch, flashrnn_kernels as frk
        >>> ref = torch.nn.GRU(8, 16, batch_first=True)
        >>> rnn = frk.GRU.from_torch(ref); x = torch.randn(2, 5, 8)
        >>> torch.allclose(rnn(x)[0], ref(x)[0], atol=1e-6)
        True
        """
        if not isinstance(module, nn.GRU):
            raise InputError(f"GRU.from_torch expects a torch.nn.GRU, got {type(module).__name__}")
        return cls._from_torch(module, backend, lambda bi, bh: [bi[0] + bh[0], bi[1] + bh[1], bi[2], bh[2]])


class SLSTM(_RNNBase):
    """sLSTM (xLSTM) with ``num_heads`` block-diagonal heads.

    Four states: ``h``, the cell ``c``, the normaliser ``n`` and the stabiliser ``m``.

    >>> import torch, flashrnn_kernels as frk
    >>> rnn = frk.SLSTM(8, 16, num_heads=2)
    >>> out, (h, c, n, m) = rnn(torch.randn(3, 7, 8))
    >>> out.shape, n.shape
    (torch.Size([3, 7, 16]), torch.Size([1, 3, 16]))
    """

    cell_name = "slstm"


class Elman(_RNNBase):
    """Elman RNN (tanh) with ``num_heads`` block-diagonal heads (one head: ``torch.nn.RNN``).

    >>> import torch, flashrnn_kernels as frk
    >>> rnn = frk.Elman(8, 16, batch_first=False)
    >>> out, h = rnn(torch.randn(7, 3, 8))            # [T, B, input_size]
    >>> out.shape, h.shape
    (torch.Size([7, 3, 16]), torch.Size([1, 3, 16]))
    """

    cell_name = "elman"

    @classmethod
    def from_torch(cls, module: nn.RNN, backend: str = "auto") -> "Elman":
        """Copy the weights of a single-layer tanh ``torch.nn.RNN``.

        >>> import torch, flashrnn_kernels as frk
        >>> ref = torch.nn.RNN(8, 16, batch_first=True)
        >>> rnn = frk.Elman.from_torch(ref); x = torch.randn(2, 5, 8)
        >>> torch.allclose(rnn(x)[0], ref(x)[0], atol=1e-6)
        True
        """
        if not isinstance(module, nn.RNN) or module.nonlinearity != "tanh":
            raise InputError("Elman.from_torch expects a torch.nn.RNN with nonlinearity='tanh'")
        return cls._from_torch(module, backend, lambda bi, bh: [bi[0] + bh[0]])
