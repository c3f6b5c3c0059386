"""Reference against torch.nn (float64, 1e-10), gradcheck of every cell, and the alternating
algorithm (run with its torch pointwise steps on the CPU) against the reference."""
import pytest
import torch

import flashrnn_kernels as frk
from flashrnn_kernels.backends import alternating as alt
from flashrnn_kernels.backends import custom_ops
from flashrnn_kernels.cells import CELLS
from flashrnn_kernels.reference import reference_forward

F64 = torch.float64


def rnn_inputs(cell, B, T, N, D, dtype=F64, seed=0, requires_grad=True):
    cell = frk.get_cell(cell)
    g = torch.Generator().manual_seed(seed)
    Wx = torch.randn(B, T, cell.num_gates, N, D, generator=g, dtype=F64)
    R = torch.randn(cell.num_gates, N, D, D, generator=g, dtype=F64) / D**0.5
    b = 0.5 * torch.randn(cell.num_bias, N, D, generator=g, dtype=F64)
    s0 = torch.randn(cell.num_states, B, 1, N, D, generator=g, dtype=F64)
    if cell.name == "slstm":
        s0[2] = s0[2].abs() + 0.5
    return [t.to(dtype).requires_grad_(requires_grad) for t in (Wx, R, b, s0)]


def _torch_lstm_case(seed=0):
    torch.manual_seed(seed)
    B, T, I, H = 3, 6, 5, 7
    m = torch.nn.LSTM(I, H, batch_first=True, dtype=F64)
    x = torch.randn(B, T, I, dtype=F64, requires_grad=True)
    h0 = torch.randn(1, B, H, dtype=F64, requires_grad=True)
    c0 = torch.randn(1, B, H, dtype=F64, requires_grad=True)
    return m, x, (h0, c0)


def _grads(outputs, inputs, upstream):
    return torch.autograd.grad(outputs, inputs, upstream)


def test_lstm_equals_torch_lstm_float64():
    m, x, (h0, c0) = _torch_lstm_case()
    B, T, _ = x.shape
    H = m.hidden_size
    out, (hn, cn) = m(x, (h0, c0))

    W = m.weight_ih_l0.detach().clone().requires_grad_()
    R = m.weight_hh_l0.detach().view(4, 1, H, H).clone().requires_grad_()
    b = (m.bias_ih_l0 + m.bias_hh_l0).detach().view(4, 1, H).clone().requires_grad_()
    Wx = (x @ W.T).view(B, T, 4, 1, H)
    s0 = torch.stack([h0, c0]).view(2, B, 1, 1, H)
    states, last = frk.flashrnn(Wx, R, b, s0, cell="lstm", backend="reference")
    ours = states[0].reshape(B, T, H)
    torch.testing.assert_close(ours, out, rtol=0, atol=1e-10)
    torch.testing.assert_close(last[0].reshape(1, B, H), hn, rtol=0, atol=1e-10)
    torch.testing.assert_close(last[1].reshape(1, B, H), cn, rtol=0, atol=1e-10)

    go, gh, gc = torch.randn_like(out), torch.randn_like(hn), torch.randn_like(cn)
    ref = _grads([out, hn, cn], [x, h0, c0, m.weight_ih_l0, m.weight_hh_l0, m.bias_ih_l0, m.bias_hh_l0],
                 [go, gh, gc])
    mine = _grads([ours, last[0].reshape(1, B, H), last[1].reshape(1, B, H)], [x, h0, c0, W, R, b], [go, gh, gc])
    for got, want in zip(mine[:3], ref[:3]):
        torch.testing.assert_close(got, want, rtol=0, atol=1e-10)
    torch.testing.assert_close(mine[3], ref[3], rtol=0, atol=1e-10)
    torch.testing.assert_close(mine[4].view(4 * H, H), ref[4], rtol=0, atol=1e-10)
    # the folded bias gets the gradient of either torch bias
    torch.testing.assert_close(mine[5].view(-1), ref[5], rtol=0, atol=1e-10)
    torch.testing.assert_close(mine[5].view(-1), ref[6], rtol=0, atol=1e-10)


def test_gru_equals_torch_gru_float64():
    torch.manual_seed(1)
    B, T, I, H = 2, 5, 4, 6
    m = torch.nn.GRU(I, H, batch_first=True, dtype=F64)
    x = torch.randn(B, T, I, dtype=F64, requires_grad=True)
    h0 = torch.randn(1, B, H, dtype=F64, requires_grad=True)
    out, hn = m(x, h0)

    W = m.weight_ih_l0.detach().clone().requires_grad_()
    R = m.weight_hh_l0.detach().view(3, 1, H, H).clone().requires_grad_()
    bi, bh = m.bias_ih_l0.detach().view(3, H), m.bias_hh_l0.detach().view(3, H)
    b = torch.stack([bi[0] + bh[0], bi[1] + bh[1], bi[2], bh[2]]).view(4, 1, H).clone().requires_grad_()
    Wx = (x @ W.T).view(B, T, 3, 1, H)
    states, last = frk.flashrnn(Wx, R, b, h0.view(1, B, 1, 1, H), cell="gru", backend="reference")
    ours = states[0].reshape(B, T, H)
    torch.testing.assert_close(ours, out, rtol=0, atol=1e-10)
    torch.testing.assert_close(last[0].reshape(1, B, H), hn, rtol=0, atol=1e-10)

    go, gh = torch.randn_like(out), torch.randn_like(hn)
    ref = _grads([out, hn], [x, h0, m.weight_ih_l0, m.weight_hh_l0, m.bias_ih_l0, m.bias_hh_l0], [go, gh])
    mine = _grads([ours, last[0].reshape(1, B, H)], [x, h0, W, R, b], [go, gh])
    torch.testing.assert_close(mine[0], ref[0], rtol=0, atol=1e-10)
    torch.testing.assert_close(mine[1], ref[1], rtol=0, atol=1e-10)
    torch.testing.assert_close(mine[2], ref[2], rtol=0, atol=1e-10)
    torch.testing.assert_close(mine[3].view(3 * H, H), ref[3], rtol=0, atol=1e-10)
    db = mine[4].view(4, H)
    dbi, dbh = ref[4].view(3, H), ref[5].view(3, H)
    torch.testing.assert_close(db[0], dbi[0], rtol=0, atol=1e-10)
    torch.testing.assert_close(db[0], dbh[0], rtol=0, atol=1e-10)
    torch.testing.assert_close(db[1], dbi[1], rtol=0, atol=1e-10)
    torch.testing.assert_close(db[2], dbi[2], rtol=0, atol=1e-10)
    torch.testing.assert_close(db[3], dbh[2], rtol=0, atol=1e-10)


def test_elman_equals_torch_rnn_float64():
    torch.manual_seed(2)
    m = torch.nn.RNN(3, 5, batch_first=True, dtype=F64)
    x = torch.randn(2, 4, 3, dtype=F64)
    out, hn = m(x)
    ours = frk.RNN.from_torch(m, backend="reference")
    out2, hn2 = ours(x)
    torch.testing.assert_close(out2, out, rtol=0, atol=1e-12)
    torch.testing.assert_close(hn2, hn, rtol=0, atol=1e-12)


@pytest.mark.parametrize("name", sorted(CELLS))
def test_gradcheck_reference(name):
    inputs = rnn_inputs(name, B=2, T=3, N=2, D=3, seed=3)

    def fn(Wx, R, b, s0):
        return frk.flashrnn(Wx, R, b, s0, cell=name, backend="reference")

    assert torch.autograd.gradcheck(fn, inputs)


def test_heads_are_independent_blocks():
    Wx, R, b, s0 = rnn_inputs("lstm", B=2, T=4, N=3, D=2, requires_grad=False)
    full, _ = reference_forward(Wx, R, b, s0, "lstm")
    for n in range(3):
        sl = slice(n, n + 1)
        one, _ = reference_forward(Wx[:, :, :, sl], R[:, sl], b[:, sl], s0[:, :, :, sl], "lstm")
        # not bit-equal: one head's product may be summed in another order than all heads' (BLAS
        # picks kernels by shape and CPU); a coupling between heads would be of order 1
        torch.testing.assert_close(full[:, :, :, sl], one, rtol=0, atol=1e-14)


# ------------------------------------------------------------ alternating algorithm on the CPU

@pytest.mark.parametrize("size", [(3, 5, 2, 4), (1, 1, 1, 3)], ids=["B3-T5-2x4", "B1-T1-1x3"])
@pytest.mark.parametrize("name", sorted(CELLS))
def test_alternating_algorithm_matches_reference(name, size, poison_empty):
    fwd, _ = custom_ops("alternating")
    B, T, N, D = size
    Wx, R, b, s0 = rnn_inputs(name, B=B, T=T, N=N, D=D, seed=11)
    states, last, aux = fwd(Wx, R, b, s0, name)
    ref_states, ref_last = reference_forward(Wx, R, b, s0, name)
    torch.testing.assert_close(states, ref_states, rtol=0, atol=1e-12)
    torch.testing.assert_close(last, ref_last, rtol=0, atol=1e-12)
    gs, gl = torch.randn_like(states), torch.randn_like(last)
    got = torch.autograd.grad([states, last], [Wx, R, b, s0], [gs, gl])
    want = torch.autograd.grad([ref_states, ref_last], [Wx, R, b, s0], [gs, gl])
    for g, w in zip(got, want):
        torch.testing.assert_close(g, w, rtol=0, atol=1e-11)


@pytest.mark.parametrize("name", sorted(CELLS))
def test_alternating_fused_step_loop_matches_the_product_then_pointwise_loop(name):
    """The forward loop of a fused step (R h computed inside the step, from the states of step
    t-1) gives the loop of a product then a pointwise step: states and the saved rh; so does the
    backward loop of fused steps (dh_rec computed inside the step) give the other's gradients."""
    Wx, R, b, s0 = rnn_inputs(name, B=3, T=5, N=2, D=4, seed=13, requires_grad=False)
    cell = CELLS[name]
    split = alt.alternating_forward(alt.TorchSteps(), Wx, R, b, s0, cell)
    fused = alt.alternating_forward(alt.TorchSteps(fused=True), Wx, R, b, s0, cell)
    for got, want in zip((fused[0], fused[1], *fused[2]), (split[0], split[1], *split[2])):
        torch.testing.assert_close(got, want, rtol=0, atol=1e-13)
    # and the backward loop whose steps compute dh_rec themselves
    states, _, (rh_all,) = split
    gs = torch.randn_like(states)
    gl = torch.randn_like(split[1])
    want = alt.alternating_backward(alt.TorchSteps(), gs, gl, Wx, R, b, s0, states, rh_all, cell)
    got = alt.alternating_backward(alt.TorchSteps(fused=True), gs, gl, Wx, R, b, s0, states, rh_all, cell)
    for g, w in zip(got, want):
        torch.testing.assert_close(g, w, rtol=0, atol=1e-12)


def _rms(x):
    return x.double().pow(2).mean().sqrt().item()


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
@pytest.mark.parametrize("name", sorted(CELLS))
def test_alternating_algorithm_low_precision_within_twice_reference_error(name, dtype):
    """Storage in bf16/fp16, arithmetic in float32 (like the CUDA kernels): the error against
    float64 stays within twice that of the reference run in the same dtype."""
    fwd, _ = custom_ops("alternating")
    exact_in = rnn_inputs(name, B=3, T=7, N=1, D=48, seed=21, requires_grad=False)
    e_states, e_last = reference_forward(*exact_in, name)
    gs, gl = torch.randn_like(e_states), torch.randn_like(e_last)
    if name == "slstm":  # see test_alternating.py: c, n, m are not differentiable at the max's ties
        gs[1:], gl[1:] = 0, 0

    def run(fn, dt):
        leaves = [t.to(dt).requires_grad_() for t in exact_in]
        states, last = fn(*leaves)[:2]
        grads = torch.autograd.grad([states, last], leaves, [gs.to(dt), gl.to(dt)])
        return [t.double() for t in (states, last, *grads)]

    exact = run(lambda *a: reference_forward(*a, name), F64)
    low = run(lambda *a: reference_forward(*a, name), dtype)
    ours = run(lambda *a: fwd(*a, name), dtype)
    for label, e, r, k in zip(("states", "last", "dWx", "dR", "db", "ds0"), exact, low, ours):
        assert _rms(k - e) <= 2 * _rms(r - e) + 1e-3 * max(_rms(e), 1.0), label


@pytest.mark.parametrize("name", ["lstm", "gru"])
def test_alternating_op_passes_opcheck_on_cpu(name):
    fwd, _ = custom_ops("alternating")
    for B, T, N in ((2, 3, 2), (1, 1, 1)):
        Wx, R, b, s0 = rnn_inputs(name, B=B, T=T, N=N, D=3, dtype=torch.float32, seed=5)
        torch.library.opcheck(fwd, (Wx, R, b, s0, name))


class _CpuAlternating(alt.AlternatingBackend):
    """The alternating backend's op and algorithm, accepted on the CPU (torch pointwise steps)."""

    name = "alternating_cpu_test"
    priority = 500

    def supports(self, call):
        return None


def test_torch_compile_through_custom_op():
    from flashrnn_kernels.backends import register_backend, unregister_backend

    register_backend(_CpuAlternating(), replace=True)
    try:
        torch.manual_seed(0)
        rnn = frk.LSTM(4, 6, num_heads=2, batch_first=True)
        compiled = torch.compile(rnn, backend="aot_eager")
        for B, T in ((2, 5), (3, 4)):
            x = torch.randn(B, T, 4, requires_grad=True)
            y, (h, c) = compiled(x)
            (gx,) = torch.autograd.grad(y.sum() + c.sum(), x)
            y2, (h2, c2) = rnn(x)
            (gx2,) = torch.autograd.grad(y2.sum() + c2.sum(), x)
            torch.testing.assert_close(y, y2)
            torch.testing.assert_close(gx, gx2)
    finally:
        unregister_backend(_CpuAlternating.name)


def test_alternating_rejects_cpu_with_reason():
    Wx, R, b, s0 = rnn_inputs("lstm", B=1, T=2, N=1, D=2, requires_grad=False)
    with pytest.raises(frk.UnsupportedError, match="alternating.*needs CUDA tensors"):
        frk.flashrnn(Wx, R, b, s0, backend="alternating")


def test_alternating_library_is_built_per_architecture(monkeypatch):
    """Two GPUs of different architectures in one process get a build each (the kernels of one
    architecture do not load on the other)."""
    from flashrnn_kernels import devices

    built = []
    monkeypatch.setattr(devices, "build_arch", lambda index: {0: "80", 1: "90a"}[index])
    monkeypatch.setattr(alt, "_library", lambda compiler, arch: built.append((compiler, arch)) or (compiler, arch))
    monkeypatch.setattr(torch.cuda, "current_device", lambda: 1)
    assert alt.library("nvrtc") == ("nvrtc", "90a")  # the current device
    assert alt.library("nvrtc", "cuda:0") == ("nvrtc", "80")
    assert alt.library("nvcc", torch.device("cuda", 1)) == ("nvcc", "90a")
    assert alt.library("nvcc", "cuda") == ("nvcc", "90a")  # no index: the current device
    assert built == [("nvrtc", "90a"), ("nvrtc", "80"), ("nvcc", "90a"), ("nvcc", "90a")]


def test_overlap_rule_and_graph_key(monkeypatch):
    """The fused steps launch as programmatic dependents on compute capability 9.0+ unless
    FLASHRNN_OVERLAP_STEPS=0; a captured loop keeps its launches' attributes, so the setting is
    part of what the graph cache keys a loop by (as FLASHRNN_FUSED_STEP is)."""
    capability = [(9, 0)]
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda device=None: capability[0])
    t = torch.zeros(1)
    steps = alt.TorchSteps()
    monkeypatch.delenv("FLASHRNN_OVERLAP_STEPS", raising=False)
    monkeypatch.delenv("FLASHRNN_FUSED_STEP", raising=False)
    on, key_on = alt._overlap(t), alt._build_of(steps)
    monkeypatch.setenv("FLASHRNN_OVERLAP_STEPS", "0")
    off, key_off = alt._overlap(t), alt._build_of(steps)
    assert (on, off) == (1, 0) and key_on != key_off
    monkeypatch.setenv("FLASHRNN_FUSED_STEP", "0")
    assert alt._build_of(steps) not in (key_on, key_off)
    monkeypatch.setenv("FLASHRNN_OVERLAP_STEPS", "1")
    capability[0] = (8, 0)
    assert alt._overlap(t) == 0
    monkeypatch.setenv("FLASHRNN_OVERLAP_STEPS", "sometimes")
    with pytest.raises(ValueError, match="FLASHRNN_OVERLAP_STEPS"):
        alt._overlap(t)


def test_fused_step_rule(monkeypatch):
    """Which calls the fused steps take (CudaSteps.fuses), with the kernels' facts of a stand-in
    build: 16-bit dtypes, D a multiple of 32 up to FUSED_MAX_HEAD, B up to FUSED_MAX_BATCH,
    compute capability 8.0+, aligned rows of R and the initial states, FLASHRNN_FUSED_STEP on."""
    facts = {b"fused_k": 32, b"fused_min_arch": 80}

    class Lib:
        @staticmethod
        def frnn_alt_fact(name):
            return facts.get(name, -1)

    monkeypatch.setattr(alt, "library", lambda compiler=None, device=None: Lib())
    capability = [(9, 0)]
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda device=None: capability[0])
    steps = alt.CudaSteps(256)

    def case(B=16, N=1, D=768, dtype=torch.bfloat16, offset=0):
        Wx = torch.zeros(B, 2, 4, N, D, dtype=dtype)
        R = torch.zeros(4 * N * D * D + offset, dtype=dtype)[offset:].view(4, N, D, D)
        s0 = torch.zeros(2, B, 1, N, D, dtype=dtype)
        return steps.fuses(Wx, R, s0)

    assert case() and case(dtype=torch.float16) and case(B=alt.FUSED_MAX_BATCH, N=3, D=32)
    assert case(D=alt.FUSED_MAX_HEAD)
    assert not case(dtype=torch.float32)
    assert not case(D=200)  # not a multiple of 32
    assert not case(D=alt.FUSED_MAX_HEAD + 32)
    assert not case(B=alt.FUSED_MAX_BATCH + 1)
    assert not case(offset=1)  # R's rows not 16-byte aligned
    monkeypatch.setenv("FLASHRNN_FUSED_STEP", "0")
    assert not case()
    monkeypatch.delenv("FLASHRNN_FUSED_STEP")
    capability[0] = (7, 5)
    assert not case()
