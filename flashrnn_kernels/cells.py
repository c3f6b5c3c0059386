"""The one definition of every recurrent cell: gates, states, pointwise function and its derivative.

Everything else reads the cells from here: the PyTorch reference (:mod:`.reference`) runs the
functions below on tensors, the CUDA code generator (:mod:`.codegen`) traces them into C++
device functions (``csrc/cells_generated.cuh``), and backends read the numbers of gates and
states and the ``-D`` defines. This module imports no torch.

A step of every cell has the same shape. With ``h`` the first state, per head ``n``::

    rh[g]  = R[g, n] @ h_prev                    # recurrent pre-activation, one block per head
    xg[g]  = Wx[t, g] + sum of the biases on the input side of gate g
    rg[g]  = rh[g]    + sum of the biases on the recurrent side of gate g
    states_new = cell.forward(ops, xg, rg, states_prev)

For every cell but the GRU, ``xg`` and ``rg`` only ever appear as ``xg[g] + rg[g]`` (so their
derivatives are equal, and all biases sit on the input side). The GRU's reset gate multiplies
the recurrent part of its candidate, recurrent bias included, so that bias lies on the
recurrent side (see :data:`GRU`).

``forward(ops, xg, rg, s)`` returns the new states; ``backward(ops, xg, rg, s, ds_new)``
recomputes what it needs from the same inputs and returns ``(dxg, drg, ds_prev)``: the
gradients of the input-side and recurrent-side pre-activations and the *pointwise* part of the
gradient of the previous states (the recurrent path ``R^T drg`` into ``h`` is added by the
caller; an entry may be the Python float ``0.0``). ``ops`` supplies ``sigmoid, tanh, exp,
logsigmoid, maximum, ge`` (``ge(a, b)`` is 1 where ``a >= b`` else 0; ``maximum(a, b)`` is
``a`` where ``a >= b`` else ``b``, and its derivative routes to the same side); values support
``+ - * /`` with each other and with Python floats.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from .errors import InputError

Values = Sequence[Any]


@dataclass(frozen=True)
class Cell:
    """A recurrent cell: its names, sizes, bias layout and pointwise functions.

    ``bias_rows[j] = (side, gate)`` says where row ``j`` of the bias tensor ``b [Gb, N, D]``
    is added: ``side`` is ``"x"`` (input side, ``xg``) or ``"r"`` (recurrent side, ``rg``).
    ``separate_gates`` lists the gates whose input and recurrent parts enter the cell
    separately (their ``dxg`` and ``drg`` differ); empty for all cells but the GRU.

    >>> from flashrnn_kernels import get_cell
    >>> gru = get_cell("gru")
    >>> gru.gate_names, gru.state_names, gru.bias_rows
    (('r', 'z', 'n'), ('h',), (('x', 0), ('x', 1), ('x', 2), ('r', 2)))
    """

    name: str
    cuda_id: int
    gate_names: tuple[str, ...]
    state_names: tuple[str, ...]
    bias_rows: tuple[tuple[str, int], ...]
    forward: Callable[[Any, Values, Values, Values], list]
    backward: Callable[[Any, Values, Values, Values, Values], tuple[list, list, list]]
    separate_gates: tuple[int, ...] = ()
    doc: str = field(default="", compare=False)

    @property
    def num_gates(self) -> int:
        """G: rows of ``Wx`` and ``R`` (gate pre-activations).

        >>> from flashrnn_kernels import get_cell
        >>> [get_cell(c).num_gates for c in ("lstm", "gru", "slstm", "elman")]
        [4, 3, 4, 1]
        """
        return len(self.gate_names)

    @property
    def num_states(self) -> int:
        """S: states carried from step to step; state 0 is always ``h``.

        >>> from flashrnn_kernels import get_cell
        >>> get_cell("slstm").num_states, get_cell("slstm").state_names
        (4, ('h', 'c', 'n', 'm'))
        """
        return len(self.state_names)

    @property
    def num_bias(self) -> int:
        """Gb: rows of the bias ``b``.

        >>> from flashrnn_kernels import get_cell
        >>> get_cell("gru").num_bias, get_cell("lstm").num_bias
        (4, 4)
        """
        return len(self.bias_rows)

    def cuda_defines(self) -> dict[str, int]:
        """The ``-D`` defines that describe this cell to a kernel specialised for one cell.

        >>> from flashrnn_kernels import get_cell
        >>> get_cell("lstm").cuda_defines()
        {'FLASHRNN_CELL': 0, 'FLASHRNN_NUM_GATES': 4, 'FLASHRNN_NUM_STATES': 2, 'FLASHRNN_NUM_BIAS': 4}
        """
        return {
            "FLASHRNN_CELL": self.cuda_id,
            "FLASHRNN_NUM_GATES": self.num_gates,
            "FLASHRNN_NUM_STATES": self.num_states,
            "FLASHRNN_NUM_BIAS": self.num_bias,
        }


def _pre(xg: Values, rg: Values) -> list:
    return [x + r for x, r in zip(xg, rg)]


# ----------------------------------------------------------------------------------------------
# LSTM (torch.nn.LSTM's equations and gate order i, f, z (= torch's g), o)
#   i = sigmoid(a_i)  f = sigmoid(a_f)  z = tanh(a_z)  o = sigmoid(a_o)
#   c' = f c + i z    h' = o tanh(c')

def _lstm_forward(ops, xg, rg, s):
    ai, af, az, ao = _pre(xg, rg)
    h, c = s
    i, f, z, o = ops.sigmoid(ai), ops.sigmoid(af), ops.tanh(az), ops.sigmoid(ao)
    c_new = f * c + i * z
    h_new = o * ops.tanh(c_new)
    return [h_new, c_new]


def _lstm_backward(ops, xg, rg, s, ds):
    ai, af, az, ao = _pre(xg, rg)
    h, c = s
    dh, dc = ds
    i, f, z, o = ops.sigmoid(ai), ops.sigmoid(af), ops.tanh(az), ops.sigmoid(ao)
    c_new = f * c + i * z
    tc = ops.tanh(c_new)
    dc_tot = dc + dh * o * (1.0 - tc * tc)
    d_ai = dc_tot * z * i * (1.0 - i)
    d_af = dc_tot * c * f * (1.0 - f)
    d_az = dc_tot * i * (1.0 - z * z)
    d_ao = dh * tc * o * (1.0 - o)
    da = [d_ai, d_af, d_az, d_ao]
    return da, list(da), [0.0, dc_tot * f]


LSTM = Cell(
    name="lstm",
    cuda_id=0,
    gate_names=("i", "f", "z", "o"),
    state_names=("h", "c"),
    bias_rows=(("x", 0), ("x", 1), ("x", 2), ("x", 3)),
    forward=_lstm_forward,
    backward=_lstm_backward,
    doc="LSTM (torch.nn.LSTM): gates i, f, z, o; states h, c; b[g] = b_ih[g] + b_hh[g].",
)


# ----------------------------------------------------------------------------------------------
# GRU (torch.nn.GRU's equations and gate order r, z, n)
#   r = sigmoid(x_r + h_r)  u = sigmoid(x_z + h_z)  n = tanh(x_n + r * h_n)
#   h' = (1 - u) n + u h
# where h_n = R_n h + b_hn includes the recurrent bias of the candidate (bias row 3, side "r").

def _gru_forward(ops, xg, rg, s):
    (h,) = s
    r = ops.sigmoid(xg[0] + rg[0])
    u = ops.sigmoid(xg[1] + rg[1])
    n = ops.tanh(xg[2] + r * rg[2])
    return [(1.0 - u) * n + u * h]


def _gru_backward(ops, xg, rg, s, ds):
    (h,) = s
    (dh,) = ds
    r = ops.sigmoid(xg[0] + rg[0])
    u = ops.sigmoid(xg[1] + rg[1])
    n = ops.tanh(xg[2] + r * rg[2])
    d_an = dh * (1.0 - u) * (1.0 - n * n)
    d_ar = d_an * rg[2] * r * (1.0 - r)
    d_au = dh * (h - n) * u * (1.0 - u)
    return [d_ar, d_au, d_an], [d_ar, d_au, d_an * r], [dh * u]


GRU = Cell(
    name="gru",
    cuda_id=1,
    gate_names=("r", "z", "n"),
    state_names=("h",),
    bias_rows=(("x", 0), ("x", 1), ("x", 2), ("r", 2)),
    forward=_gru_forward,
    backward=_gru_backward,
    separate_gates=(2,),
    doc=(
        "GRU (torch.nn.GRU): gates r, z, n; state h; bias rows "
        "b = [b_ir + b_hr, b_iz + b_hz, b_in, b_hn], the last on the recurrent side."
    ),
)


# ----------------------------------------------------------------------------------------------
# sLSTM (Beck et al., xLSTM, arXiv 2405.04517, section 2.2), gate order i, f, z, o, sigmoid
# forget gate used through its logarithm, states h, c, n (normaliser), m (stabiliser):
#   lf = logsigmoid(a_f)            m' = max(lf + m, a_i)
#   i' = exp(a_i - m')              f' = exp(lf + m - m')
#   c' = f' c + i' tanh(a_z)        n' = f' n + i'          h' = sigmoid(a_o) c' / n'

def _slstm_internals(ops, xg, rg, s):
    ai, af, az, ao = _pre(xg, rg)
    h, c, n, m = s
    lfm = ops.logsigmoid(af) + m
    m_new = ops.maximum(lfm, ai)
    ip = ops.exp(ai - m_new)
    fp = ops.exp(lfm - m_new)
    z = ops.tanh(az)
    o = ops.sigmoid(ao)
    c_new = fp * c + ip * z
    n_new = fp * n + ip
    return ai, af, lfm, m_new, ip, fp, z, o, c_new, n_new


def _slstm_forward(ops, xg, rg, s):
    _, _, _, m_new, _, _, _, o, c_new, n_new = _slstm_internals(ops, xg, rg, s)
    return [o * c_new / n_new, c_new, n_new, m_new]


def _slstm_backward(ops, xg, rg, s, ds):
    ai, af, lfm, m_new, ip, fp, z, o, c_new, n_new = _slstm_internals(ops, xg, rg, s)
    h, c, n, m = s
    dh, dc, dn, dm = ds
    inv_n = 1.0 / n_new
    dc_tot = dc + dh * o * inv_n
    dn_tot = dn - dh * o * c_new * inv_n * inv_n
    d_ao = dh * c_new * inv_n * o * (1.0 - o)
    d_az = dc_tot * ip * (1.0 - z * z)
    d_ip = (dc_tot * z + dn_tot) * ip  # gradient of the exponent a_i - m'
    d_fp = (dc_tot * c + dn_tot * n) * fp  # gradient of the exponent lfm - m'
    dm_tot = dm - d_ip - d_fp
    sel = ops.ge(lfm, ai)  # m' = lfm where sel, else a_i
    d_lfm = d_fp + dm_tot * sel
    d_ai = d_ip + dm_tot * (1.0 - sel)
    d_af = d_lfm * ops.sigmoid(0.0 - af)  # d logsigmoid(a) / da = sigmoid(-a)
    da = [d_ai, d_af, d_az, d_ao]
    return da, list(da), [0.0, dc_tot * fp, dn_tot * fp, d_lfm]


SLSTM = Cell(
    name="slstm",
    cuda_id=2,
    gate_names=("i", "f", "z", "o"),
    state_names=("h", "c", "n", "m"),
    bias_rows=(("x", 0), ("x", 1), ("x", 2), ("x", 3)),
    forward=_slstm_forward,
    backward=_slstm_backward,
    doc="sLSTM (xLSTM): exponential input gate, sigmoid forget gate; states h, c, n, m.",
)


# ----------------------------------------------------------------------------------------------
# Elman (tanh): h' = tanh(a)

def _elman_forward(ops, xg, rg, s):
    return [ops.tanh(xg[0] + rg[0])]


def _elman_backward(ops, xg, rg, s, ds):
    h_new = ops.tanh(xg[0] + rg[0])
    da = ds[0] * (1.0 - h_new * h_new)
    return [da], [da], [0.0]


ELMAN = Cell(
    name="elman",
    cuda_id=3,
    gate_names=("a",),
    state_names=("h",),
    bias_rows=(("x", 0),),
    forward=_elman_forward,
    backward=_elman_backward,
    doc="Elman RNN with tanh (torch.nn.RNN's default): state h.",
)


# ----------------------------------------------------------------------------------------------
# Elman (ReLU): h' = max(a, 0), torch.nn.RNN(nonlinearity="relu"); the gradient passes where a > 0
# (as torch's relu: none at a = 0)

def _elman_relu_forward(ops, xg, rg, s):
    return [ops.maximum(xg[0] + rg[0], 0.0)]


def _elman_relu_backward(ops, xg, rg, s, ds):
    da = ds[0] * (1.0 - ops.ge(0.0, xg[0] + rg[0]))
    return [da], [da], [0.0]


ELMAN_RELU = Cell(
    name="elman_relu",
    cuda_id=4,
    gate_names=("a",),
    state_names=("h",),
    bias_rows=(("x", 0),),
    forward=_elman_relu_forward,
    backward=_elman_relu_backward,
    doc="Elman RNN with ReLU (torch.nn.RNN(nonlinearity='relu')): state h.",
)


CELLS: dict[str, Cell] = {c.name: c for c in (LSTM, GRU, SLSTM, ELMAN, ELMAN_RELU)}


def get_cell(cell: str | Cell) -> Cell:
    """The :class:`Cell` named ``cell`` (case-insensitive), or ``cell`` itself.

    An unknown name raises :class:`~flashrnn_kernels.InputError`.

    >>> from flashrnn_kernels import get_cell, LSTM_CELL
    >>> get_cell("LSTM") is LSTM_CELL, get_cell(LSTM_CELL) is LSTM_CELL
    (True, True)
    """
    if isinstance(cell, Cell):
        return cell
    if isinstance(cell, str) and cell.lower() in CELLS:
        return CELLS[cell.lower()]
    raise InputError(f"unknown cell {cell!r}: expected one of {sorted(CELLS)}")
