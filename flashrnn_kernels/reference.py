"""Pure-PyTorch reference: a time loop over the cells of :mod:`.cells`, differentiated by autograd.

Runs on any device and dtype (float64 included) and is the yardstick for every kernel.
Layouts (see ``docs/rnn.md``): ``Wx [B, T, G, N, D]``, ``R [G, N, D_out, D_in]``,
``b [Gb, N, D]``, ``states0 [S, B, 1, N, D]``; returns ``(states [S, B, T, N, D],
last [S, B, 1, N, D])``.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from .cells import Cell, get_cell


class TorchOps:
    """The ``ops`` namespace of :mod:`.cells` for torch tensors (autograd-differentiable).

    >>> import torch
    >>> TORCH_OPS.maximum(torch.tensor([1.0, 5.0]), torch.tensor([3.0, 2.0]))
    tensor([3., 5.])
    """

    sigmoid = staticmethod(torch.sigmoid)
    tanh = staticmethod(torch.tanh)
    exp = staticmethod(torch.exp)
    logsigmoid = staticmethod(F.logsigmoid)

    @staticmethod
    def maximum(a: torch.Tensor | float, b: torch.Tensor | float) -> torch.Tensor:
        return torch.where(torch.as_tensor(a >= b), a, b)

    @staticmethod
    def ge(a: torch.Tensor | float, b: torch.Tensor | float) -> torch.Tensor:
        t = a if isinstance(a, torch.Tensor) else b
        return (a >= b).to(t.dtype)


TORCH_OPS = TorchOps()


def split_bias(b: torch.Tensor, cell: Cell) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Sum the bias rows per side: ``(xb [G, N, D], rb [G, N, D] or None)``.

    ``rb`` is None when the cell has no recurrent-side bias (every cell but the GRU).

    >>> import torch
    >>> from flashrnn_kernels import get_cell
    >>> b = torch.arange(4.0).view(4, 1, 1)                 # GRU rows: r, z, n (x side), n (r side)
    >>> xb, rb = split_bias(b, get_cell("gru"))
    >>> xb.flatten().tolist(), rb.flatten().tolist()
    ([0.0, 1.0, 2.0], [0.0, 0.0, 3.0])
    >>> split_bias(b, get_cell("lstm"))[1] is None
    True
    """
    sides: dict[str, list[list[int]]] = {"x": [[] for _ in range(cell.num_gates)],
                                          "r": [[] for _ in range(cell.num_gates)]}
    for j, (side, gate) in enumerate(cell.bias_rows):
        sides[side][gate].append(j)

    def gather(rows_per_gate: list[list[int]]) -> torch.Tensor:
        rows = []
        for js in rows_per_gate:
            if not js:
                rows.append(torch.zeros_like(b[0]))
            else:
                acc = b[js[0]]
                for j in js[1:]:
                    acc = acc + b[j]
                rows.append(acc)
        return torch.stack(rows)

    xb = gather(sides["x"])
    rb = gather(sides["r"]) if any(sides["r"]) else None
    return xb, rb


def recurrent_preactivation(R: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
    """``rh[b, g, n, o] = sum_i R[g, n, o, i] h[b, n, i]`` (block-diagonal over heads).

    >>> import torch
    >>> R = torch.eye(3).expand(4, 2, 3, 3)                 # G=4 gates, N=2 heads, D=3
    >>> h = torch.arange(6.0).view(1, 2, 3)                 # [B=1, N, D]
    >>> recurrent_preactivation(R, h)[0, 0].tolist()         # gate 0: each head's own h
    [[0.0, 1.0, 2.0], [3.0, 4.0, 5.0]]
    """
    return torch.einsum("gnoi,bni->bgno", R, h)


def reference_forward(
    Wx: torch.Tensor,
    R: torch.Tensor,
    b: torch.Tensor | None,
    states0: torch.Tensor | None,
    cell: str | Cell = "lstm",
) -> tuple[torch.Tensor, torch.Tensor]:
    """Run the recurrence step by step with torch ops; differentiable by autograd.

    Inputs are assumed validated (see :func:`flashrnn_kernels.flashrnn`); ``b`` and
    ``states0`` may be None (zeros).

    >>> import torch
    >>> Wx = torch.randn(2, 6, 1, 1, 4, dtype=torch.float64)      # Elman: G = 1 gate
    >>> R = torch.randn(1, 1, 4, 4, dtype=torch.float64)
    >>> states, last = reference_forward(Wx, R, None, None, "elman")
    >>> h_prev = states[0, :, 0, 0]                                # h after step 0
    >>> torch.allclose(states[0, :, 1, 0], torch.tanh(Wx[:, 1, 0, 0] + h_prev @ R[0, 0].T))
    True
    """
    cell = get_cell(cell)
    B, T, G, N, D = Wx.shape
    if states0 is None:
        states0 = Wx.new_zeros(cell.num_states, B, 1, N, D)
    if b is None:
        xb, rb = None, None
    else:
        xb, rb = split_bias(b, cell)
    s = list(states0[:, :, 0].unbind(0))  # S x [B, N, D]
    outs = []
    for t in range(T):
        rh = recurrent_preactivation(R, s[0])  # [B, G, N, D]
        xg = Wx[:, t] if xb is None else Wx[:, t] + xb
        rg = rh if rb is None else rh + rb
        s = cell.forward(TORCH_OPS, list(xg.unbind(1)), list(rg.unbind(1)), s)
        outs.append(torch.stack(s))
    states = torch.stack(outs, dim=2)
    return states, states[:, :, -1:]
