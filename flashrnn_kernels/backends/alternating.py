"""The ``alternating`` backend: per time step one batched GEMM (cuBLAS through torch) for the
recurrent pre-activations of all heads, then one fused pointwise CUDA kernel for the cell.

Forward, for t = 0 .. T-1::

    rh_all[t] = h_{t-1} @ Rp                      # torch.bmm over heads: [N, B, D] x [N, D, G*D]
    states[:, :, t], h_t = pointwise(Wx[:, t], rh_all[t], b, states[:, :, t-1])   # our kernel

Backward, for t = T-1 .. 0 (the forward's pointwise part is recomputed from ``rh_all``)::

    dWx[:, t], dG[:, t], carry = pointwise_backward(..., grad_states[:, :, t] + carry + dh_rec)
    dh_rec = dG[:, t] @ Rp^T                       # torch.bmm

then ``dR`` is one GEMM over all steps and batch rows (``dG^T @ H_prev`` per head) and ``db`` a
sum of ``dWx`` (and of ``dG`` for the GRU's recurrent bias). The carried state gradient stays in
float32 whatever the storage dtype. ``aux`` (saved for the backward) is ``[rh_all]``,
``[T, N, B, G*D]`` in the input dtype.

The same algorithm runs with the pointwise steps written in torch (:class:`TorchSteps`) for
CPU tensors and float64: tests use that to check the algorithm on machines without a GPU. The
backend itself only accepts CUDA tensors in float32, float16 or bfloat16.
"""
from __future__ import annotations

import functools
import logging
from typing import Any, Protocol

import torch
from torch import Tensor

from ..cells import CELLS, Cell
from ..reference import TORCH_OPS, split_bias
from . import Backend, Call, register_backend

log = logging.getLogger(__name__)

SOURCES = ("alternating.cu", "alternating_binding.cpp")
CUDA_DTYPES = (torch.float32, torch.float16, torch.bfloat16)
_BY_ID = {c.cuda_id: c for c in CELLS.values()}

#: Tests set this to fill every buffer the kernels write with NaN before a run, so that an
#: element no kernel wrote shows up as NaN.
poison_outputs = False


def _empty(like: Tensor, *shape: int) -> Tensor:
    if poison_outputs:
        return torch.full(shape, float("nan"), dtype=like.dtype, device=like.device)
    return like.new_empty(shape)


class Steps(Protocol):
    """The two pointwise step functions (the compiled extension, or :class:`TorchSteps`)."""

    def forward_step(self, cell: int, t: int, Wx: Tensor, rh_all: Tensor, bias: Tensor, s0: Tensor,
                     states: Tensor, h_next: Tensor) -> None: ...

    def backward_step(self, cell: int, t: int, Wx: Tensor, rh_all: Tensor, bias: Tensor, s0: Tensor,
                      states: Tensor, grad_states: Tensor, carry: Tensor, dh_rec: Tensor | None,
                      dWx: Tensor, dG: Tensor) -> None: ...


@functools.cache
def extension() -> Any:
    """The compiled pointwise kernels (built on first use through :func:`flashrnn_kernels.jit.load`)."""
    from .. import jit

    return jit.load("flashrnn_alternating", SOURCES)


def _acc_dtype(dtype: torch.dtype) -> torch.dtype:
    return torch.float64 if dtype == torch.float64 else torch.float32


def _as_tensors(values: list, like: Tensor) -> Tensor:
    return torch.stack([v if isinstance(v, Tensor) else torch.full_like(like, float(v)) for v in values])


class TorchSteps:
    """The pointwise steps of ``alternating.cu`` written with torch ops (any device and dtype).

    Same operands and layouts as the CUDA binding; used for CPU/float64 runs and tests.
    """

    @staticmethod
    def _gates(cell: Cell, t: int, Wx: Tensor, rh_all: Tensor, bias: Tensor, s0: Tensor, states: Tensor):
        acc = _acc_dtype(Wx.dtype)
        B, T, G, N, D = Wx.shape
        xb, rb = split_bias(bias.to(acc), cell)
        xg = Wx[:, t].to(acc) + xb  # [B, G, N, D]
        rg = rh_all[t].view(N, B, G, D).permute(1, 2, 0, 3).to(acc)
        if rb is not None:
            rg = rg + rb
        s_prev = (s0[:, :, 0] if t == 0 else states[:, :, t - 1]).to(acc)  # [S, B, N, D]
        return list(xg.unbind(1)), list(rg.unbind(1)), list(s_prev.unbind(0))

    def forward_step(self, cell_id, t, Wx, rh_all, bias, s0, states, h_next):
        cell = _BY_ID[cell_id]
        xg, rg, s = self._gates(cell, t, Wx, rh_all, bias, s0, states)
        new = cell.forward(TORCH_OPS, xg, rg, s)
        states[:, :, t] = _as_tensors(new, xg[0]).to(states.dtype)
        h_next.copy_(new[0].permute(1, 0, 2))

    def backward_step(self, cell_id, t, Wx, rh_all, bias, s0, states, grad_states, carry, dh_rec, dWx, dG):
        cell = _BY_ID[cell_id]
        B, T, G, N, D = Wx.shape
        xg, rg, s = self._gates(cell, t, Wx, rh_all, bias, s0, states)
        acc = xg[0].dtype
        ds = grad_states[:, :, t].to(acc) + carry.permute(0, 2, 1, 3).to(acc)  # [S, B, N, D]
        if dh_rec is not None:
            ds[0] += dh_rec.permute(1, 0, 2).to(acc)
        dxg, drg, ds_prev = cell.backward(TORCH_OPS, xg, rg, s, list(ds.unbind(0)))
        dWx[:, t] = _as_tensors(dxg, xg[0]).permute(1, 0, 2, 3).to(dWx.dtype)
        dG[:, t] = _as_tensors(drg, xg[0]).permute(2, 1, 0, 3).reshape(N, B, G * D).to(dG.dtype)
        carry.copy_(_as_tensors(ds_prev, xg[0]).permute(0, 2, 1, 3))


def alternating_forward(steps: Steps, Wx: Tensor, R: Tensor, b: Tensor, states0: Tensor,
                        cell: Cell) -> tuple[Tensor, Tensor, list[Tensor]]:
    """Forward of the alternating scheme; returns ``(states, last, [rh_all])``."""
    Wx = Wx.contiguous()
    B, T, G, N, D = Wx.shape
    S = cell.num_states
    Rp = R.permute(1, 3, 0, 2).reshape(N, D, G * D)  # Rp[n, i, g*D + o] = R[g, n, o, i]
    states = _empty(Wx, S, B, T, N, D)
    rh_all = _empty(Wx, T, N, B, G * D)
    h = _empty(Wx, N, B, D)  # written by every step: must never be a view of states0
    h.copy_(states0[0, :, 0].permute(1, 0, 2))
    for t in range(T):
        torch.bmm(h, Rp, out=rh_all[t])
        steps.forward_step(cell.cuda_id, t, Wx, rh_all, b, states0, states, h)
    last = states[:, :, T - 1 : T].clone(memory_format=torch.contiguous_format)  # never a view
    return states, last, [rh_all]


def alternating_backward(steps: Steps, grad_states: Tensor, grad_last: Tensor, Wx: Tensor, R: Tensor,
                         b: Tensor, states0: Tensor, states: Tensor, rh_all: Tensor,
                         cell: Cell) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """Backward of the alternating scheme: ``(dWx, dR, db, dstates0)``."""
    Wx = Wx.contiguous()
    B, T, G, N, D = Wx.shape
    acc = _acc_dtype(Wx.dtype)
    grad_states = grad_states.to(Wx.dtype).contiguous()
    carry = torch.empty(cell.num_states, N, B, D, dtype=acc, device=Wx.device)  # [S, N, B, D], fresh
    carry.copy_(grad_last[:, :, 0].permute(0, 2, 1, 3))
    RpT = R.permute(1, 0, 2, 3).reshape(N, G * D, D)  # RpT[n, g*D + o, i] = R[g, n, o, i]
    dWx = _empty(Wx, *Wx.shape)
    dG = _empty(Wx, N, T, B, G * D)
    dh_rec: Tensor | None = None
    dh_buf = _empty(Wx, N, B, D)
    for t in range(T - 1, -1, -1):
        steps.backward_step(cell.cuda_id, t, Wx, rh_all, b, states0, states, grad_states, carry, dh_rec,
                            dWx, dG)
        torch.bmm(dG[:, t], RpT, out=dh_buf)
        dh_rec = dh_buf
    assert dh_rec is not None
    carry[0] += dh_rec.to(acc)
    dstates0 = torch.empty_like(states0, memory_format=torch.contiguous_format)
    dstates0.copy_(carry.permute(0, 2, 1, 3).unsqueeze(2))

    # dR: one GEMM per head over all (t, b) rows: dRp[n] = dG[n]^T @ H_prev[n]
    h_prev = torch.cat([states0[0], states[0, :, : T - 1]], dim=1)  # [B, T, N, D]
    Hp = h_prev.permute(2, 1, 0, 3).reshape(N, T * B, D)
    dRp = torch.bmm(dG.view(N, T * B, G * D).transpose(1, 2), Hp)  # [N, G*D, D_in]
    dR = dRp.view(N, G, D, D).permute(1, 0, 2, 3).contiguous()

    # db: sums of dWx (input side) and dG (recurrent side) over batch and time
    sum_x = dWx.sum(dim=(0, 1), dtype=acc)  # [G, N, D]
    sum_r = None
    rows = []
    for side, gate in cell.bias_rows:
        if side == "x":
            rows.append(sum_x[gate])
        else:
            if sum_r is None:
                sum_r = dG.view(N, T * B, G, D).sum(dim=1, dtype=acc).permute(1, 0, 2)  # [G, N, D]
            rows.append(sum_r[gate])
    db = torch.stack(rows).to(b.dtype)
    return dWx, dR, db, dstates0


class AlternatingBackend(Backend):
    """GEMM + pointwise kernel per step; every cell, float32 / float16 / bfloat16, any head size."""

    name = "alternating"
    priority = 10

    def supports(self, call: Call) -> str | None:
        if call.device.type != "cuda":
            return f"needs CUDA tensors (got device {call.device})"
        if call.dtype not in CUDA_DTYPES:
            return f"dtype {call.dtype} not compiled (float32, float16 and bfloat16 are)"
        if call.cell not in CELLS:
            return f"cell {call.cell!r} not compiled"
        from .. import jit

        return jit.toolchain_problem()

    def steps_for(self, t: Tensor) -> Steps:
        return extension() if t.is_cuda else TorchSteps()

    def forward(self, Wx, R, b, states0, cell):
        return alternating_forward(self.steps_for(Wx), Wx, R, b, states0, cell)

    def backward(self, grad_states, grad_last, Wx, R, b, states0, states, aux, cell):
        (rh_all,) = aux
        return alternating_backward(self.steps_for(Wx), grad_states, grad_last, Wx, R, b, states0, states,
                                    rh_all, cell)

    def fake_aux(self, Wx, R, b, states0, cell):
        B, T, G, N, D = Wx.shape
        return [Wx.new_empty(T, N, B, G * D)]


register_backend(AlternatingBackend())
