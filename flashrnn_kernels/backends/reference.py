"""The ``reference`` backend: the pure-PyTorch time loop of :mod:`flashrnn_kernels.reference`.

Supports every cell, dtype and device (float64 on the CPU included); differentiated by autograd,
so it needs no custom op (and ``torch.compile`` traces straight through it).
"""
from __future__ import annotations

from torch import Tensor

from ..cells import Cell
from ..reference import reference_forward
from . import Backend, Call, register_backend


class ReferenceBackend(Backend):
    name = "reference"
    priority = 0

    def supports(self, call: Call) -> str | None:
        return None

    def prepare(self) -> None:
        """Nothing to prepare: no custom op, autograd differentiates the loop."""

    def run(self, Wx: Tensor, R: Tensor, b: Tensor, states0: Tensor, cell: Cell) -> tuple[Tensor, Tensor]:
        return reference_forward(Wx, R, b, states0, cell)


register_backend(ReferenceBackend())
