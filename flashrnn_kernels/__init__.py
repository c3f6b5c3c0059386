"""flashrnn_kernels: LSTM, GRU, sLSTM and Elman cells with a PyTorch reference and CUDA backends.

Quick start::

    import flashrnn_kernels as frk
    states, last = frk.flashrnn(Wx, R, b, cell="lstm")        # Wx [B, T, G, N, D]
    rnn = frk.LSTM(input_size=64, hidden_size=256, num_heads=4)   # torch.nn.LSTM's arguments
    out, (h, c) = rnn(x)                                           # x [T, B, 64]

Importing this package loads no torch and compiles nothing: the names below that need torch
are imported on first access (so ``flashrnn_kernels.tiling`` and ``.cells`` work without torch).
"""
from __future__ import annotations

import importlib
import logging
from typing import Any

from .cells import CELLS, ELMAN, Cell, get_cell
from .cells import GRU as GRU_CELL
from .cells import LSTM as LSTM_CELL
from .cells import SLSTM as SLSTM_CELL
from .errors import BuildError, BuildLockTimeout, FlashRNNError, InputError, UnsupportedError

logging.getLogger(__name__).addHandler(logging.NullHandler())

_LAZY = {
    "flashrnn": ".api",
    "explain": ".api",
    "reference_forward": ".reference",
    "LSTM": ".modules",
    "GRU": ".modules",
    "SLSTM": ".modules",
    "RNN": ".modules",
    "Elman": ".modules",
    "Backend": ".backends",
    "Call": ".backends",
    "register_backend": ".backends",
    "registered_backends": ".backends",
    "get_backend": ".backends",
}

__all__ = [
    "CELLS",
    "Cell",
    "get_cell",
    "LSTM_CELL",
    "GRU_CELL",
    "SLSTM_CELL",
    "ELMAN",
    "FlashRNNError",
    "InputError",
    "UnsupportedError",
    "BuildError",
    "BuildLockTimeout",
]
__all__ += list(_LAZY)  # the names imported on first use


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module, __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))
