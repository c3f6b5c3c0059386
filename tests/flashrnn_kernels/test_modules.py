"""The modules against ``torch.nn.LSTM`` / ``GRU`` / ``RNN`` on the CPU in float64.

Parity: outputs, final states and the gradients of the input, of the initial states and of every
parameter equal torch's to 1e-10, over num_layers 1-3, bidirectional on/off, batch_first on/off,
given and default initial states, packed sequences with random lengths, unbatched input, batch 0
and ``eval()`` with dropout; checkpoints load both ways. Then the module's own behaviour: errors,
heads, the sLSTM, checkpoints of the earlier layout, autocast, scripting.
"""
import copy
import io
import pickle
import warnings

import pytest
import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence

import flashrnn_kernels as frk
from flashrnn_kernels.backends import register_backend
from flashrnn_kernels.errors import InputError, UnsupportedError

F64 = torch.float64
KINDS = {"lstm": (frk.LSTM, nn.LSTM), "gru": (frk.GRU, nn.GRU), "rnn": (frk.RNN, nn.RNN)}
#: the parity cases: every kind, and the RNN with torch's other nonlinearity
VARIANTS = {**{k: (k, {}) for k in KINDS}, "rnn_relu": ("rnn", {"nonlinearity": "relu"})}
I, H = 3, 4  # input and hidden size of every parity case
TOL = dict(rtol=0, atol=1e-10)


def pair(kind, seed=0, **config):
    """(ours, torch's) with the same configuration; ours loads torch's checkpoint. ``kind`` is a
    key of :data:`VARIANTS`."""
    kind, extra = VARIANTS[kind]
    config = {**extra, **config}
    ours_cls, torch_cls = KINDS[kind]
    torch.manual_seed(seed)
    theirs = torch_cls(I, H, dtype=F64, **config)
    ours = ours_cls(I, H, dtype=F64, backend="reference", **config)
    ours.load_state_dict(theirs.state_dict())
    return ours, theirs


def initial_state(kind, shape, g):
    """hx for ``kind`` (a tuple (h0, c0) for the LSTM), leaves that require gradients."""
    n = 2 if kind == "lstm" else 1
    parts = [torch.randn(*shape, dtype=F64, generator=g).requires_grad_() for _ in range(n)]
    return tuple(parts) if n == 2 else parts[0]


def leaves_of(hx):
    return [] if hx is None else list(hx) if isinstance(hx, tuple) else [hx]


def run(module, x, hx, g_seed, pack=None):
    """Output, final states and the gradients of x, hx and every parameter (by name) of a
    loss weighted by fixed random numbers. ``pack(x)`` makes the module's input from ``x``."""
    out, h = module(x if pack is None else pack(x), hx)
    data = out.data if pack is not None else out
    states = list(h) if isinstance(h, tuple) else [h]
    g = torch.Generator().manual_seed(g_seed)
    def weights(t):  # drawn on the CPU: the same numbers on every device
        return torch.randn(t.shape, dtype=F64, generator=g).to(t.device)

    loss = (data * weights(data)).sum()
    for s in states:
        loss = loss + (s * weights(s)).sum()
    names, params = zip(*module.named_parameters())
    inputs = [x, *leaves_of(hx), *params]
    grads = torch.autograd.grad(loss, inputs)
    n_in = 1 + len(leaves_of(hx))
    return out, states, list(grads[:n_in]), dict(zip(names, grads[n_in:]))


def assert_same(ours, theirs):
    out_a, states_a, gin_a, gp_a = ours
    out_b, states_b, gin_b, gp_b = theirs
    if isinstance(out_b, torch.Tensor):
        torch.testing.assert_close(out_a, out_b, **TOL)
    else:  # PackedSequence: the same data in the same order, the same indices
        torch.testing.assert_close(out_a.data, out_b.data, **TOL)
        assert torch.equal(out_a.batch_sizes, out_b.batch_sizes)
        for a, b in ((out_a.sorted_indices, out_b.sorted_indices),
                     (out_a.unsorted_indices, out_b.unsorted_indices)):
            assert (a is None and b is None) or torch.equal(a, b)
    assert len(states_a) == len(states_b)
    for a, b in zip(states_a, states_b):
        torch.testing.assert_close(a, b, **TOL)
    for a, b in zip(gin_a, gin_b):
        torch.testing.assert_close(a, b, **TOL)
    assert list(gp_a) == list(gp_b)
    for name in gp_b:
        torch.testing.assert_close(gp_a[name], gp_b[name], **TOL, msg=lambda m, name=name: f"{name}: {m}")


# ------------------------------------------------------------------------------ parity

@pytest.mark.parametrize("batch_first", [False, True], ids=["time_major", "batch_first"])
@pytest.mark.parametrize("bidirectional", [False, True], ids=["uni", "bi"])
@pytest.mark.parametrize("num_layers", [1, 2, 3])
@pytest.mark.parametrize("kind", list(VARIANTS))
def test_matches_torch(kind, num_layers, bidirectional, batch_first):
    config = dict(num_layers=num_layers, bidirectional=bidirectional, batch_first=batch_first)
    ours, theirs = pair(kind, seed=num_layers, **config)
    B, T = 2, 5
    g = torch.Generator().manual_seed(7)
    shape = (B, T, I) if batch_first else (T, B, I)
    x = torch.randn(*shape, dtype=F64, generator=g).requires_grad_()
    hx = initial_state(kind, (num_layers * (2 if bidirectional else 1), B, H), g)
    for state in (hx, None):  # given and default (zero) initial states
        assert_same(run(ours, x, state, 3), run(theirs, x, state, 3))


@pytest.mark.parametrize("enforce_sorted", [True, False], ids=["sorted", "unsorted"])
@pytest.mark.parametrize("bidirectional", [False, True], ids=["uni", "bi"])
@pytest.mark.parametrize("kind", list(VARIANTS))
def test_packed_sequences_match_torch(kind, bidirectional, enforce_sorted):
    ours, theirs = pair(kind, seed=5, num_layers=2, bidirectional=bidirectional)
    B, T = 5, 6
    g = torch.Generator().manual_seed(11)
    lengths = torch.randint(1, T + 1, (B,), generator=g)
    lengths[torch.randint(0, B, (1,), generator=g)] = T  # the padded length is reached
    lengths[-1] = lengths[0]  # and two sequences tie
    if enforce_sorted:
        lengths = lengths.sort(descending=True).values
    x = torch.randn(T, B, I, dtype=F64, generator=g).requires_grad_()
    hx = initial_state(kind, (2 * (2 if bidirectional else 1), B, H), g)

    def pack(t):
        return pack_padded_sequence(t, lengths, enforce_sorted=enforce_sorted)

    for state in (hx, None):
        assert_same(run(ours, x, state, 4, pack), run(theirs, x, state, 4, pack))


@pytest.mark.parametrize("bidirectional", [False, True], ids=["uni", "bi"])
@pytest.mark.parametrize("kind", list(VARIANTS))
def test_unbatched_input_matches_torch(kind, bidirectional):
    ours, theirs = pair(kind, seed=6, num_layers=2, bidirectional=bidirectional, batch_first=True)
    g = torch.Generator().manual_seed(12)
    x = torch.randn(5, I, dtype=F64, generator=g).requires_grad_()  # [T, input_size]
    hx = initial_state(kind, (2 * (2 if bidirectional else 1), H), g)
    for state in (hx, None):
        a, b = run(ours, x, state, 5), run(theirs, x, state, 5)
        assert a[0].shape == (5, H * (2 if bidirectional else 1))
        assert_same(a, b)


@pytest.mark.parametrize("kind", list(VARIANTS))
def test_dropout_between_layers_as_torch(kind):
    ours, theirs = pair(kind, seed=8, num_layers=3, dropout=0.5, bidirectional=True)
    x = torch.randn(4, 2, I, dtype=F64, generator=torch.Generator().manual_seed(13)).requires_grad_()
    ours.eval(), theirs.eval()
    assert_same(run(ours, x, None, 6), run(theirs, x, None, 6))
    # training with p = 1 zeroes the input of layers 2 and 3 (and nothing else): deterministic
    ours.train(), theirs.train()
    ours.dropout = theirs.dropout = 1.0
    assert_same(run(ours, x, None, 6), run(theirs, x, None, 6))
    # p = 0.5 in training: random, but only between layers (one layer has no dropout at all)
    ours.dropout = 0.5
    torch.manual_seed(0)
    assert not torch.equal(ours(x)[0], ours.eval()(x)[0])
    one = pair(kind, seed=8, num_layers=1)[0]
    one.dropout = 0.5
    assert torch.equal(one.train()(x)[0], one.eval()(x)[0])


@pytest.mark.parametrize("kind", list(VARIANTS))
def test_without_bias_matches_torch(kind):
    ours, theirs = pair(kind, seed=9, num_layers=2, bidirectional=True, bias=False)
    x = torch.randn(4, 3, I, dtype=F64, generator=torch.Generator().manual_seed(14)).requires_grad_()
    assert_same(run(ours, x, None, 7), run(theirs, x, None, 7))


@pytest.mark.parametrize("kind", list(VARIANTS))
def test_batch_of_zero_sequences_as_torch(kind):
    ours, theirs = pair(kind, seed=10, num_layers=2, bidirectional=True)
    x = torch.zeros(4, 0, I, dtype=F64, requires_grad=True)
    hx = initial_state(kind, (4, 0, H), torch.Generator().manual_seed(15))
    a, b = run(ours, x, hx, 8), run(theirs, x, hx, 8)
    assert a[0].shape == b[0].shape == (4, 0, 2 * H)
    assert [s.shape for s in a[1]] == [s.shape for s in b[1]]
    assert_same(a, b)  # every gradient is zero, as torch's


@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("kind", list(KINDS))
def test_checkpoints_load_both_ways(kind, bias):
    ours_cls, torch_cls = KINDS[kind]
    config = dict(num_layers=2, bidirectional=True, bias=bias, dtype=F64)
    torch.manual_seed(3)
    theirs = torch_cls(I, H, **config)
    torch.manual_seed(3)
    ours = ours_cls(I, H, **config)
    # the same names, shapes, order and (from the same seed) initial values
    assert [(n, p.shape) for n, p in ours.named_parameters()] == \
        [(n, p.shape) for n, p in theirs.named_parameters()]
    for (_, a), (_, b) in zip(ours.named_parameters(), theirs.named_parameters()):
        assert torch.equal(a, b)
    assert [[p.shape for p in ws] for ws in ours.all_weights] == \
        [[p.shape for p in ws] for ws in theirs.all_weights]
    # ours -> torch and torch -> ours through a saved file, strict
    with torch.no_grad():
        for p in ours.parameters():
            p.uniform_(-1, 1)
    buf = io.BytesIO()
    torch.save(ours.state_dict(), buf)
    buf.seek(0)
    theirs.load_state_dict(torch.load(buf))
    x = torch.randn(5, 2, I, dtype=F64)
    torch.testing.assert_close(ours(x)[0], theirs(x)[0], **TOL)
    fresh = ours_cls(I, H, **config)
    buf = io.BytesIO()
    torch.save(theirs.state_dict(), buf)
    buf.seek(0)
    fresh.load_state_dict(torch.load(buf))
    torch.testing.assert_close(fresh(x)[0], theirs(x)[0], **TOL)


@pytest.mark.parametrize("kind", list(KINDS))
def test_from_torch_copies_configuration(kind):
    ours_cls, torch_cls = KINDS[kind]
    theirs = torch_cls(I, H, num_layers=2, bidirectional=True, batch_first=True, dropout=0.25,
                       dtype=F64).eval()
    ours = ours_cls.from_torch(theirs, backend="reference")
    for attr in ("input_size", "hidden_size", "num_layers", "bias", "batch_first", "dropout",
                 "bidirectional"):
        assert getattr(ours, attr) == getattr(theirs, attr), attr
    assert not ours.training and ours.backend == "reference"
    x = torch.randn(2, 5, I, dtype=F64)
    torch.testing.assert_close(ours(x)[0], theirs(x)[0], **TOL)
    with pytest.raises(InputError, match=f"expects a torch.nn.{ours_cls.__name__}"):
        ours_cls.from_torch(nn.Linear(2, 2))


TORCH_SIGNATURES = {  # torch.nn's documented constructor arguments and defaults
    "lstm": ["input_size", "hidden_size", ("num_layers", 1), ("bias", True), ("batch_first", False),
             ("dropout", 0.0), ("bidirectional", False), ("proj_size", 0), ("device", None),
             ("dtype", None)],
    "gru": ["input_size", "hidden_size", ("num_layers", 1), ("bias", True), ("batch_first", False),
            ("dropout", 0.0), ("bidirectional", False), ("device", None), ("dtype", None)],
    "rnn": ["input_size", "hidden_size", ("num_layers", 1), ("nonlinearity", "tanh"), ("bias", True),
            ("batch_first", False), ("dropout", 0.0), ("bidirectional", False), ("device", None),
            ("dtype", None)],
}


@pytest.mark.parametrize("kind", list(KINDS))
def test_same_signature_and_defaults_as_torch(kind):
    import inspect
    import typing

    ours_cls, torch_cls = KINDS[kind]
    expected = [(p, inspect.Parameter.empty) if isinstance(p, str) else p for p in TORCH_SIGNATURES[kind]]
    params = list(inspect.signature(ours_cls.__init__).parameters.values())[1:]
    positional = [(p.name, p.default) for p in params if p.kind is not p.KEYWORD_ONLY]
    assert positional == expected
    assert [p.name for p in params if p.kind is p.KEYWORD_ONLY] == ["num_heads", "backend"]
    assert list(inspect.signature(ours_cls.forward).parameters) == ["self", "input", "hx"]
    # where this torch states its signature as an overload (Python 3.11+), it is the same
    for overload in getattr(typing, "get_overloads", lambda f: [])(torch_cls.__init__):
        theirs = list(inspect.signature(overload).parameters.values())[1:]
        if theirs and theirs[0].name == "input_size":
            assert [(p.name, p.default) for p in theirs] == expected


# ------------------------------------------------------------------------------ heads

def dense_weight_hh(w, num_gates, num_heads):
    """torch's dense ``weight_hh [G*H, H]`` from the block layout ``[G*H, D]`` (docs/from-torch.md)."""
    D = w.shape[1]
    blocks = w.view(num_gates, num_heads, D, D)
    return torch.cat([torch.block_diag(*blocks[g]) for g in range(num_gates)])


@pytest.mark.parametrize("kind", list(KINDS))
def test_heads_equal_torch_with_block_diagonal_weights(kind):
    ours_cls, torch_cls = KINDS[kind]
    torch.manual_seed(4)
    ours = ours_cls(I, 6, num_layers=2, bidirectional=True, num_heads=3, dtype=F64, backend="reference")
    theirs = torch_cls(I, 6, num_layers=2, bidirectional=True, dtype=F64)
    G = ours.cell.num_gates
    assert ours.weight_hh_l1_reverse.shape == (G * 6, 2)
    state = {k: dense_weight_hh(v, G, 3) if "weight_hh" in k else v for k, v in ours.state_dict().items()}
    theirs.load_state_dict(state)
    x = torch.randn(5, 2, I, dtype=F64, requires_grad=True)
    a, b = run(ours, x, None, 9), run(theirs, x, None, 9)
    for name in list(b[3]):
        if "weight_hh" in name:  # torch's gradient restricted to the blocks is ours
            b[3][name] = b[3][name].view(G, 3, 2, 3, 2).diagonal(dim1=1, dim2=3).permute(0, 3, 1, 2).reshape(-1, 2)
    assert_same(a, b)
    with pytest.raises(RuntimeError, match="size mismatch for weight_hh_l0"):
        ours.load_state_dict(torch_cls(I, 6, num_layers=2, bidirectional=True, dtype=F64).state_dict())


# ------------------------------------------------------------------------------ sLSTM

@pytest.mark.parametrize("cls, n_states", [(frk.LSTM, 2), (frk.GRU, 1), (frk.SLSTM, 4), (frk.RNN, 1)])
def test_heads_shapes_and_state_carried_across_calls(cls, n_states):
    torch.manual_seed(2)
    rnn = cls(6, 12, num_layers=2, num_heads=3, batch_first=True, dtype=F64)
    assert rnn.weight_hh_l1.shape == (rnn.cell.num_gates * 12, 4)
    x = torch.randn(2, 5, 6, dtype=F64)
    out, last = rnn(x)
    assert out.shape == (2, 5, 12)
    parts = (last,) if n_states == 1 else last
    assert len(parts) == n_states and all(p.shape == (2, 2, 12) for p in parts)
    out_a, st = rnn(x[:, :2])  # two halves with the state carried equal one run
    out_b, st_b = rnn(x[:, 2:], st)
    torch.testing.assert_close(torch.cat([out_a, out_b], 1), out, **TOL)
    for a, b in zip((st_b,) if n_states == 1 else st_b, parts):
        torch.testing.assert_close(a, b, **TOL)
    out.sum().backward()
    assert all(p.grad is not None for p in rnn.parameters())


def test_slstm_has_the_lstm_layout():
    rnn = frk.SLSTM(3, 8, num_layers=2, bidirectional=True, num_heads=2, dtype=F64)
    ref = nn.LSTM(3, 8, num_layers=2, bidirectional=True)
    assert [n for n, _ in rnn.named_parameters()] == [n for n, _ in ref.named_parameters()]
    out, state = rnn(torch.randn(7, 2, 3, dtype=F64))
    assert out.shape == (7, 2, 16) and len(state) == 4 and all(s.shape == (4, 2, 8) for s in state)
    with pytest.raises(InputError, match=r"hx must be a tuple of 4 tensors \(h_0, c_0, n_0, m_0\)"):
        rnn(torch.randn(7, 2, 3, dtype=F64), state[:2])


@pytest.mark.parametrize("kind", ["slstm", "lstm"])
def test_reverse_direction_reads_each_sequence_backwards(kind):
    """Layer 0's reverse direction equals a one-directional module (its weights) run on each
    sequence reversed within its length; a packed batch of sequences equals them one by one."""
    cls = {"slstm": frk.SLSTM, "lstm": frk.LSTM}[kind]
    torch.manual_seed(6)
    bi = cls(3, 4, bidirectional=True, dtype=F64)
    uni = cls(3, 4, dtype=F64)
    uni.load_state_dict({k.replace("_reverse", ""): v for k, v in bi.state_dict().items() if "reverse" in k})
    lengths = torch.tensor([5, 2, 4])
    x = torch.randn(5, 3, 3, dtype=F64)
    out, state = bi(pack_padded_sequence(x, lengths, enforce_sorted=False))
    from torch.nn.utils.rnn import pad_packed_sequence

    padded, _ = pad_packed_sequence(out)
    for b, n in enumerate(lengths.tolist()):
        seq = x[:n, b]
        rev_out, rev_state = uni(seq.flip(0))
        torch.testing.assert_close(padded[:n, b, 4:], rev_out.flip(0), **TOL)
        fwd_out, fwd_state = bi(seq)
        torch.testing.assert_close(padded[:n, b], fwd_out, **TOL)
        for s, r, f in zip(state, rev_state, fwd_state):
            torch.testing.assert_close(s[1, b], r[0], **TOL)
            torch.testing.assert_close(s[:, b], f, **TOL)


# ------------------------------------------------------------------------------ errors

def test_constructor_errors_and_warning():
    with pytest.raises(InputError, match="num_heads=5 does not divide hidden_size=12"):
        frk.LSTM(4, 12, num_heads=5)
    with pytest.raises(InputError, match="num_layers must be a positive integer, got 0"):
        frk.GRU(4, 12, 0)
    with pytest.raises(InputError, match=r"dropout must be a number in \[0, 1\]"):
        frk.GRU(4, 12, 2, dropout=1.5)
    with pytest.warns(UserWarning, match="dropout=0.3 has no effect with num_layers=1"):
        frk.GRU(4, 12, dropout=0.3)
    with pytest.raises(InputError, match="proj_size=3 is not supported.*torch.nn.LSTM for a projected"):
        frk.LSTM(4, 12, proj_size=3)
    with pytest.raises(InputError, match="proj_size=2 is not supported"):
        frk.LSTM.from_torch(nn.LSTM(4, 8, proj_size=2))
    relu = frk.RNN.from_torch(nn.RNN(4, 8, nonlinearity="relu"))
    assert relu.nonlinearity == "relu" and relu.cell_name == "elman_relu"
    assert frk.RNN(4, 8).cell_name == "elman"
    with pytest.raises(InputError, match="unknown nonlinearity 'gelu'"):
        frk.RNN(4, 12, 1, "gelu")
    assert frk.Elman is frk.RNN


def test_forward_errors_name_the_tensor_and_the_expected_shape():
    rnn = frk.LSTM(4, 6, num_layers=2)
    with pytest.raises(InputError, match=r"input has shape \[2, 3, 4, 1\] \(rank 4\); expected "
                                         r"\[T, B, input_size=4\] \(batch_first=False\) or "
                                         r"\[T, input_size=4\] \(unbatched\)"):
        rnn(torch.zeros(2, 3, 4, 1))
    with pytest.raises(InputError, match=r"input has shape \[2, 3, 5\]; .*last axis is 5, not input_size=4"):
        rnn(torch.zeros(2, 3, 5))
    with pytest.raises(InputError, match=r"expected \[B, T, input_size=4\] \(batch_first=True\)"):
        frk.GRU(4, 6, batch_first=True)(torch.zeros(1, 2, 3, 4, 5))
    with pytest.raises(InputError, match="input must be a torch.Tensor or a PackedSequence"):
        rnn([[0.0] * 4])
    with pytest.raises(InputError, match="the sequence length must be at least 1"):
        rnn(torch.zeros(0, 2, 4))
    x = torch.zeros(5, 3, 4)
    with pytest.raises(InputError, match=r"hx\[1\] \(c_0\) has shape \[2, 2, 6\]; expected "
                                         r"\[num_layers \* num_directions=2, batch=3, hidden_size=6\]"):
        rnn(x, (torch.zeros(2, 3, 6), torch.zeros(2, 2, 6)))
    with pytest.raises(InputError, match=r"hx must be a tuple of 2 tensors \(h_0, c_0\), got Tensor"):
        rnn(x, torch.zeros(2, 3, 6))
    with pytest.raises(InputError, match=r"hx\[0\] \(h_0\) has shape \[2, 3, 6\]; expected "
                                         r"\[num_layers \* num_directions=2, hidden_size=6\] \(unbatched input\)"):
        rnn(torch.zeros(5, 4), (torch.zeros(2, 3, 6), torch.zeros(2, 3, 6)))
    with pytest.raises(InputError, match=r"hx has shape \[1, 3, 6\]; expected \[num_layers \* num_directions=2"):
        frk.GRU(4, 6, 2)(x, torch.zeros(1, 3, 6))
    with pytest.raises(InputError, match="input has dtype torch.float64; the parameters of LSTM are "
                                         r"torch.float32: convert the input \(input.to\(torch.float32\)\)"):
        rnn(x.double())
    with pytest.raises(InputError, match=r"hx\[0\] \(h_0\) has dtype torch.float64; expected torch.float32"):
        rnn(x, (torch.zeros(2, 3, 6, dtype=F64), torch.zeros(2, 3, 6)))
    with pytest.raises(InputError, match="input has dtype torch.int64; expected a floating-point"):
        rnn(x.long())
    with pytest.raises(InputError, match="input is on device meta; the parameters of LSTM are on cpu"):
        rnn(x.to("meta"))
    with pytest.raises(InputError, match=r"hx is on device meta; expected cpu"):
        frk.GRU(4, 6)(x, torch.zeros(1, 3, 6, device="meta"))


def test_torch_jit_script_is_refused_with_the_alternatives():
    with pytest.raises(UnsupportedError, match="torch.jit.script cannot compile flashrnn_kernels.GRU.*"
                                              "torch.compile or torch.export"), warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # PyTorch deprecates torch.jit
        torch.jit.script(nn.Sequential(frk.GRU(3, 4)))


def test_torch_jit_trace_runs_on_the_reference_backend():
    rnn = frk.LSTM(3, 4, num_layers=2, bidirectional=True, backend="reference")
    x = torch.randn(5, 2, 3)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # deprecation, and that the graph holds one input shape
        traced = torch.jit.trace(rnn, (x,))
    torch.testing.assert_close(traced(x)[0], rnn(x)[0])


def test_torch_compile_and_export():
    rnn = frk.GRU(3, 4, num_layers=2, bidirectional=True, backend="reference")
    x = torch.randn(3, 2, 3)
    compiled = torch.compile(rnn, backend="eager")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        got = compiled(x)[0]
    torch.testing.assert_close(got, rnn(x)[0])
    # nothing on the traced path hides behind functools' caches (Dynamo traces through them and
    # warns on every compile)
    assert not [w for w in caught if "lru_cache" in str(w.message)], [str(w.message) for w in caught]
    exported = torch.export.export(rnn, (x,))
    torch.testing.assert_close(exported.module()(x)[0], rnn(x)[0])


def test_a_module_validates_and_chooses_once_per_signature(fake_backend):
    rnn = frk.GRU(I, H, num_layers=2, dtype=F64)
    ref = frk.GRU(I, H, num_layers=2, dtype=F64, backend="reference")
    ref.load_state_dict(rnn.state_dict())
    x = torch.randn(5, 2, I, dtype=F64)
    for _ in range(2):
        torch.testing.assert_close(rnn(x), ref(x), **TOL)
    assert fake_backend.take_asked() == [(2, 5, True)] * 2  # once per layer, on the first call only
    with torch.no_grad():
        for _ in range(2):
            torch.testing.assert_close(rnn(x), ref(x), **TOL)
            h = rnn.step(x[0])[1]
    assert fake_backend.take_asked() == [(2, 5, False)] * 2 + [(2, 1, False)] * 2
    with torch.no_grad():
        torch.testing.assert_close(rnn.step(x[1], h), ref.step(x[1], h), **TOL)
    assert fake_backend.take_asked() == []  # a step with the state given: the signature of the one without
    rnn(x, h.requires_grad_())
    assert fake_backend.take_asked() == [(2, 5, True)] * 2  # the states require gradients: a new signature
    rnn.requires_grad_(False)
    rnn(x)
    assert fake_backend.take_asked() == [(2, 5, False)] * 2
    rnn.requires_grad_(True)
    rnn(x)
    assert fake_backend.take_asked() == []
    longer = torch.randn(20, 2, I, dtype=F64)
    for T in range(6, 21):
        rnn(longer[:T])
    assert fake_backend.take_asked() == [(2, T, True) for T in range(6, 21) for _ in range(2)]
    rnn(x)
    assert fake_backend.take_asked() == [(2, 5, True)] * 2  # a few signatures are remembered, not all


def test_a_module_chooses_again_for_another_backend_setting(fake_backend, fake_backend_class, monkeypatch):
    rnn = frk.LSTM(I, H, dtype=F64)
    x = torch.randn(5, 2, I, dtype=F64)
    rnn(x)
    assert fake_backend.take_asked() == [(2, 5, True)]
    monkeypatch.setenv("FLASHRNN_BACKEND", "reference")
    rnn(x)
    assert fake_backend.take_asked() == []  # the reference ran it, without asking the others
    monkeypatch.delenv("FLASHRNN_BACKEND")
    rnn(x)
    assert fake_backend.take_asked() == []  # the choice for "auto" without the variable is remembered
    rnn.backend = "reference"
    rnn(x)
    rnn.backend = "fake_test"
    rnn(x)
    assert fake_backend.take_asked() == [(2, 5, True)]
    rnn.backend = "auto"
    register_backend(fake_backend_class(), replace=True)  # a new registry: chosen again, the new one runs
    rnn(x)
    assert fake_backend.take_asked() == [] and frk.get_backend("fake_test").take_asked() == [(2, 5, True)]
    rnn.backend = None
    with pytest.raises(InputError, match="^backend must be a string, got NoneType$"):
        rnn(x)


def test_a_module_reads_its_parameters_on_every_call(fake_backend):
    """Whatever changes the parameters (in place, through ``.data``, a checkpoint, a new
    parameter), the next call computes with the new values: nothing is remembered but the
    choice of backend."""
    torch.manual_seed(0)
    rnn, fresh = frk.GRU(I, H, dtype=F64), frk.GRU(I, H, dtype=F64)
    x = torch.randn(5, 2, I, dtype=F64)
    changes = [
        lambda: rnn.weight_hh_l0.data.mul_(0.5),  # not seen by the version counter
        lambda: torch.nn.init.uniform_(rnn.bias_hh_l0),
        lambda: rnn.load_state_dict(frk.GRU(I, H, dtype=F64).state_dict()),
        lambda: setattr(rnn, "bias_ih_l0", nn.Parameter(torch.randn(3 * H, dtype=F64))),
    ]
    for change in changes:
        with torch.no_grad():
            rnn(x)
            change()
            fresh.load_state_dict(rnn.state_dict())
            torch.testing.assert_close(rnn(x), fresh(x), **TOL)


def test_a_changed_signature_fails_as_a_first_call_does():
    x = torch.randn(5, 2, I)
    rnn, fresh = frk.LSTM(I, H, backend="reference"), frk.LSTM(I, H, backend="reference")
    rnn(x)
    for m in (rnn, fresh):
        m.weight_hh_l0 = nn.Parameter(m.weight_hh_l0.detach().to("meta"))
    with pytest.raises(InputError) as first:
        fresh(x)
    with pytest.raises(InputError) as again:
        rnn(x)
    assert str(again.value) == str(first.value) == "R is on device meta; expected cpu (the device of Wx)"


def test_a_module_that_ran_copies_and_pickles(fake_backend):
    rnn = frk.SLSTM(I, H, dtype=F64)
    x = torch.randn(5, 2, I, dtype=F64)
    out = rnn(x)[0]
    assert fake_backend.take_asked() == [(2, 5, True)]
    for copied in (copy.deepcopy(rnn), pickle.loads(pickle.dumps(rnn))):
        torch.testing.assert_close(copied(x)[0], out, **TOL)
        assert fake_backend.take_asked() == [(2, 5, True)]  # the copy chooses its backend itself


def test_a_gru_first_run_in_inference_mode_trains_afterwards(monkeypatch):
    """The GRU's bias layout is an index tensor made once per device; made under
    ``torch.inference_mode``, it must still be one that autograd can save."""
    from flashrnn_kernels import modules

    monkeypatch.setattr(modules, "_BIAS_INDEX", {})
    ours, theirs = pair("gru")
    x = torch.randn(5, 2, I, dtype=F64)
    with torch.inference_mode():
        torch.testing.assert_close(ours(x)[0], theirs(x)[0], **TOL)
    ours(x)[0].sum().backward()
    theirs(x)[0].sum().backward()
    torch.testing.assert_close(ours.bias_hh_l0.grad, theirs.bias_hh_l0.grad, **TOL)


def test_autocast_runs_in_the_autocast_dtype():
    rnn = frk.LSTM(3, 8, num_layers=2, backend="reference")
    x = torch.randn(4, 2, 3)
    h0 = (torch.zeros(2, 2, 8), torch.zeros(2, 2, 8))
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out, (h, c) = rnn(x, h0)
    assert out.dtype == h.dtype == torch.bfloat16
    torch.testing.assert_close(out.float(), rnn(x)[0], rtol=0, atol=0.05)
    out.float().sum().backward()
    assert rnn.weight_hh_l1.grad is not None and rnn.weight_hh_l1.grad.dtype == torch.float32


def test_checkpoint_of_the_earlier_single_layer_layout_loads():
    """Checkpoints saved before the torch layout (``weight_ih``, ``weight_hh [G, N, D, D]``,
    ``bias [Gb, N, D]``) load into layer 0 and compute what they computed then."""
    for cls in (frk.LSTM, frk.GRU, frk.RNN, frk.SLSTM):
        cell = frk.get_cell(cls.cell_name)
        G, N, D = cell.num_gates, 2, 3
        g = torch.Generator().manual_seed(2)
        old = {"weight_ih": torch.randn(G * N * D, 4, dtype=F64, generator=g),
               "weight_hh": torch.randn(G, N, D, D, dtype=F64, generator=g) / 2,
               "bias": torch.randn(cell.num_bias, N, D, dtype=F64, generator=g)}
        rnn = cls(4, N * D, num_heads=N, batch_first=True, dtype=F64)
        rnn.load_state_dict(old)
        x = torch.randn(2, 5, 4, dtype=F64, generator=g)
        Wx = (x @ old["weight_ih"].T).view(2, 5, G, N, D)
        states, _ = frk.flashrnn(Wx, old["weight_hh"], old["bias"], cell=cell, backend="reference")
        torch.testing.assert_close(rnn(x)[0], states[0].reshape(2, 5, N * D), **TOL)


def test_repr_and_torch_attributes():
    rnn = frk.LSTM(3, 8, 2, batch_first=True, dropout=0.1, bidirectional=True, num_heads=2, backend="reference")
    assert repr(rnn) == ("LSTM(3, 8, num_layers=2, batch_first=True, dropout=0.1, bidirectional=True, "
                         "num_heads=2, backend='reference')")
    assert rnn.proj_size == 0 and rnn.num_directions == 2
    rnn.flatten_parameters()
    assert repr(frk.RNN(3, 8, bias=False)) == "RNN(3, 8, bias=False)"


# ------------------------------------------------------------------------------ GPU (fused)

GPU_TOL = {"bfloat16": 1e-2, "float16": 1e-3}  # as tests/flashrnn_kernels/test_fused.py


def _rel(a, b):
    a, b = a.double().cpu(), b.double().cpu()
    assert torch.isfinite(a).all(), "non-finite values"
    return ((a - b).norm() / b.norm().clamp_min(1e-30)).item()


def _flatten(result):
    out, states, grads_in, grads_params = result
    data = out if isinstance(out, torch.Tensor) else out.data
    named = [("output", data)] + [(f"h_n[{k}]", s) for k, s in enumerate(states)]
    named += [(f"grad input[{k}]", g) for k, g in enumerate(grads_in)]
    return named + [(f"grad {n}", g) for n, g in grads_params.items()]


@pytest.mark.cuda
@pytest.mark.parametrize("packed", [False, True], ids=["padded", "packed"])
@pytest.mark.parametrize("dtname", list(GPU_TOL))
@pytest.mark.parametrize("kind", list(KINDS))
def test_fused_modules_match_torch_within_the_dtype_bound(kind, dtname, packed):
    """2 layers, bidirectional, on the fused backend in bfloat16 / float16 against torch.nn in
    float64: every output, final state and gradient has a relative error at most twice that of
    the reference backend in the same dtype, plus the tolerance of the fused kernel tests."""
    ours_cls, torch_cls = KINDS[kind]
    dtype, In, Hd, B, T = getattr(torch, dtname), 32, 64, 3, 17
    config = dict(num_layers=2, bidirectional=True)
    torch.manual_seed(21)
    theirs = torch_cls(In, Hd, dtype=F64, **config)
    g = torch.Generator().manual_seed(22)
    x64 = torch.randn(T, B, In, dtype=F64, generator=g)
    hx64 = initial_state(kind, (4, B, Hd), g)
    lengths = torch.tensor([T, 5, 11])
    pack = (lambda t: pack_padded_sequence(t, lengths, enforce_sorted=False)) if packed else None

    def leaves(device, dt):
        x = x64.detach().to(device, dt).requires_grad_()
        hx = tuple(h.detach().to(device, dt).requires_grad_() for h in leaves_of(hx64))
        return x, hx if kind == "lstm" else hx[0]

    exact = run(theirs, *leaves("cpu", F64), 23, pack)
    results = {}
    for backend in ("reference", "fused"):
        ours = ours_cls(In, Hd, device="cuda", dtype=dtype, backend=backend, **config)
        ours.load_state_dict(theirs.state_dict())
        results[backend] = run(ours, *leaves("cuda", dtype), 23, pack)
    failures = []
    for (name, e), (_, r), (_, k) in zip(*(_flatten(v) for v in (exact, results["reference"], results["fused"]))):
        assert k.shape == e.shape, name
        e_k, e_r = _rel(k, e), _rel(r, e)
        if not e_k <= 2 * e_r + GPU_TOL[dtname]:
            failures.append(f"{name}: fused {e_k:.3g} vs reference {dtname} {e_r:.3g}")
    assert not failures, "\n".join(failures)


@pytest.mark.cuda
def test_fused_module_time_major_and_batch_first_agree():
    """The same LSTM in both layouts on the fused backend: the same numbers up to rounding (the
    layout only changes where the batch axis is)."""
    torch.manual_seed(24)
    a = frk.LSTM(32, 64, num_layers=2, bidirectional=True, device="cuda", dtype=torch.bfloat16,
                 backend="fused")
    b = frk.LSTM(32, 64, num_layers=2, bidirectional=True, batch_first=True, device="cuda",
                 dtype=torch.bfloat16, backend="fused")
    b.load_state_dict(a.state_dict())
    x = torch.randn(9, 4, 32, device="cuda", dtype=torch.bfloat16)
    out_a, (h_a, c_a) = a(x)
    out_b, (h_b, c_b) = b(x.transpose(0, 1).contiguous())
    assert _rel(out_b.transpose(0, 1), out_a) < 1e-2 and _rel(c_b, c_a) < 1e-2


@pytest.mark.parametrize("batch_first", [False, True])
@pytest.mark.parametrize("kind", list(VARIANTS))
def test_step_by_step_equals_one_call(kind, batch_first):
    ours, _ = pair(kind, seed=31, num_layers=2, batch_first=batch_first)
    g = torch.Generator().manual_seed(32)
    x = torch.randn(6, 3, I, dtype=F64, generator=g)  # [T, B, I]
    out, last = ours(x.transpose(0, 1) if batch_first else x)
    out = out.transpose(0, 1) if batch_first else out
    h = None
    for t in range(6):
        y, h = ours.step(x[t], h)
        torch.testing.assert_close(y, out[t], **TOL)
    for a, b in zip(leaves_of(h), leaves_of(last)):
        torch.testing.assert_close(a, b, **TOL)
    # unbatched: one sequence, one step at a time
    y1, h1 = ours.step(x[0, 0])
    assert y1.shape == (H,)
    torch.testing.assert_close(y1, ours(x[:1, 0])[0][0], **TOL)


def test_step_refuses_bidirectional_and_bad_shapes():
    rnn = frk.GRU(I, H, bidirectional=True)
    with pytest.raises(InputError, match="bidirectional module cannot run one step"):
        rnn.step(torch.randn(2, I))
    with pytest.raises(InputError, match=r"step expects \[B, input_size=3\]"):
        frk.GRU(I, H).step(torch.randn(5, 2, I))
