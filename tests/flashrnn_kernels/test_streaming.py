"""flashrnn_kernels.streaming.Streamer: one step per call with the states kept, against the
module's forward over the whole sequence; eagerly on the CPU, replaying a CUDA graph on a GPU
(``cuda`` marker)."""
from __future__ import annotations

import itertools

import pytest
import torch

import flashrnn_kernels as frk
from flashrnn_kernels.errors import InputError, UnsupportedError

F64 = torch.float64
TOL = {"rtol": 1e-10, "atol": 1e-12}
MODULES = [frk.LSTM, frk.GRU, frk.RNN, frk.SLSTM]


@pytest.mark.parametrize("cls", MODULES, ids=lambda c: c.__name__)
@pytest.mark.parametrize("layers", [1, 2])
def test_steps_give_the_forward_of_the_whole_sequence(cls, layers):
    torch.manual_seed(0)
    rnn = cls(3, 8, num_layers=layers, num_heads=2, dtype=F64)
    x = torch.randn(6, 2, 3, dtype=F64)
    out, h_n = rnn(x)
    stream = rnn.streamer(batch_size=2)
    assert not stream.graph and "graph=False" in repr(stream)
    ys = torch.stack([stream(x[t]) for t in range(6)])
    torch.testing.assert_close(ys, out, **TOL)
    want = h_n if isinstance(h_n, tuple) else (h_n,)
    got = stream.state if isinstance(stream.state, tuple) else (stream.state,)
    assert len(got) == len(want)
    for g, w in zip(got, want):
        torch.testing.assert_close(g, w, **TOL)
    stream.reset()  # a new sequence from zeros: the same outputs again
    torch.testing.assert_close(torch.stack([stream.step(x[t]) for t in range(6)]), out, **TOL)


def test_initial_states_state_copies_and_in_place_parameter_changes():
    torch.manual_seed(1)
    rnn = frk.LSTM(3, 5, num_layers=2, dtype=F64)
    x = torch.randn(4, 2, 3, dtype=F64)
    hx = (torch.randn(2, 2, 5, dtype=F64), torch.randn(2, 2, 5, dtype=F64))
    stream = rnn.streamer(2, hx=hx)
    out, _ = rnn(x, hx)
    torch.testing.assert_close(torch.stack([stream(x[t]) for t in range(4)]), out, **TOL)
    h, c = stream.state
    h.zero_()  # a copy: the streamer's state is unchanged
    torch.testing.assert_close(stream.state[0], rnn(x, hx)[1][0], **TOL)
    with torch.no_grad():
        rnn.weight_hh_l1.mul_(0.5)  # seen by the next call
    stream.reset(hx)
    torch.testing.assert_close(torch.stack([stream(x[t]) for t in range(4)]), rnn(x, hx)[0], **TOL)
    y = stream(x[0].float().requires_grad_())  # converted into the module's dtype, no gradient
    assert y.dtype == F64 and not y.requires_grad and stream._x.grad_fn is None


def test_the_steps_run_on_the_backend_asked_for(fake_backend):
    rnn = frk.GRU(3, 4, dtype=F64)
    x = torch.randn(2, 3, dtype=F64)
    rnn.streamer(2)(x)
    assert fake_backend.calls == 1  # the module's backend, "auto": the stand-in of highest priority
    stream = rnn.streamer(2, backend="reference")
    assert stream.backend == "reference" and "backend='reference'" in repr(stream)
    torch.testing.assert_close(stream(x), rnn.step(x)[0], **TOL)
    assert fake_backend.calls == 2  # the module's own step, not the streamer's
    with pytest.raises(InputError, match="backend must be a string or None, got int"):
        rnn.streamer(2, backend=3)


def test_a_graph_of_a_module_left_at_auto_steps_on_the_alternating_backend(monkeypatch):
    """Without a GPU the choice is looked at, not run: ``graph`` is set after construction."""
    rnn, named = frk.LSTM(3, 4), frk.LSTM(3, 4, backend="fused")
    assert rnn.streamer(1).backend == "auto" and named.streamer(1).backend == "fused"
    stream = rnn.streamer(1)
    stream.graph = True
    assert stream._default_backend(rnn) == "alternating" and stream._default_backend(named) == "fused"
    wide = frk.LSTM(3, 4, dtype=F64).streamer(1)  # a dtype the alternating backend does not take
    wide.graph = True
    assert wide._default_backend(wide.module) == "auto"
    monkeypatch.setenv("FLASHRNN_BACKEND", "fused")  # a process-wide choice is kept
    assert stream._default_backend(rnn) == "auto"


def test_bad_arguments_are_refused_with_what_is_expected():
    rnn = frk.GRU(3, 4, dtype=F64)
    with pytest.raises(InputError, match="bidirectional module cannot stream"):
        frk.GRU(3, 4, bidirectional=True).streamer(1)
    with pytest.raises(InputError, match="batch_size must be a positive integer, got 0"):
        rnn.streamer(0)
    with pytest.raises(InputError, match="graph=True needs the module on a CUDA device; it is on cpu"):
        rnn.streamer(2, graph=True)
    stream = rnn.streamer(2)
    with pytest.raises(InputError, match=r"input has shape \[3, 3\]; this streamer takes \[batch_size=2, "
                                         r"input_size=3\]"):
        stream(torch.zeros(3, 3, dtype=F64))
    with pytest.raises(InputError, match=r"hx \(h\) has shape \[1, 3, 4\]; expected \[1, 2, 4\]"):
        stream.reset(torch.zeros(1, 3, 4))
    with pytest.raises(InputError, match="hx must be a tuple of 2 tensors"):
        frk.LSTM(3, 4).streamer(2, hx=torch.zeros(1, 2, 4))


# ------------------------------------------------------------------------------------ GPU

@pytest.mark.cuda
@pytest.mark.parametrize("cls, hidden, heads", [(frk.LSTM, 768, 1), (frk.GRU, 256, 4), (frk.LSTM, 64, 2)])
@pytest.mark.parametrize("B", [1, 16])
@pytest.mark.parametrize("backend", [None, "fused"])
def test_graph_replay_matches_the_eager_steps(cls, hidden, heads, B, backend):
    if not torch.cuda.is_available():
        pytest.skip("needs a CUDA GPU (none visible)")
    torch.manual_seed(0)
    rnn = cls(hidden, hidden, num_layers=2, num_heads=heads, device="cuda", dtype=torch.bfloat16)
    x = torch.randn(5, B, hidden, device="cuda", dtype=torch.bfloat16)
    graphed = rnn.streamer(B, backend=backend)
    assert graphed.graph and graphed.backend == (backend or "alternating")
    eager = rnn.streamer(B, graph=False, backend=graphed.backend)
    for t in range(5):
        want, got = eager(x[t]), graphed(x[t])
        torch.testing.assert_close(got, want, rtol=1e-2, atol=1e-2)
    state = graphed.state
    for g, w in zip(state if isinstance(state, tuple) else (state,),
                    eager.state if isinstance(eager.state, tuple) else (eager.state,)):
        torch.testing.assert_close(g, w, rtol=1e-2, atol=1e-2)
    # a replaced parameter: captured again at the next call; an in-place change: seen as it is
    rnn.weight_hh_l0 = torch.nn.Parameter(rnn.weight_hh_l0.detach() * 0.5)
    with torch.no_grad():
        rnn.bias_ih_l1.add_(0.25)
    torch.testing.assert_close(graphed(x[0]), eager(x[0]), rtol=1e-2, atol=1e-2)


def _states(h):
    return h if isinstance(h, tuple) else (h,)


def _count_input_steps(monkeypatch) -> list:
    """A list that gets an item per call of ``alternating.input_step`` (which still runs)."""
    from flashrnn_kernels.backends import alternating

    calls, real = [], alternating.input_step
    monkeypatch.setattr(alternating, "input_step", lambda *a, **k: calls.append(1) or real(*a, **k))
    return calls


@pytest.mark.cuda
@pytest.mark.parametrize("cls", MODULES, ids=lambda c: c.__name__)
@pytest.mark.parametrize("inputs, hidden, heads, layers, B, bias", [
    (768, 768, 1, 1, 1, True), (768, 768, 1, 1, 16, True), (40, 256, 4, 2, 5, True),
    (8, 64, 2, 2, 33, False), (1024, 1024, 1, 1, 64, True),
    (520, 256, 1, 1, 3, True)])  # W_ih's last chunk, in shared memory, ends after 8 of its 32 inputs
@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16], ids=str)
def test_inference_steps_run_in_one_launch_per_layer_as_exact_as_the_other_path(
        cls, inputs, hidden, heads, layers, B, bias, dtype, monkeypatch):
    """``step`` without gradients: one launch per layer that does the input product too
    (``alternating.input_step``); its error against float64 is at most that of the path with
    gradients (a GEMM for the input side, then the step), step by step from the same states."""
    if not torch.cuda.is_available():
        pytest.skip("needs a CUDA GPU (none visible)")
    calls = _count_input_steps(monkeypatch)
    torch.manual_seed(0)
    rnn = cls(inputs, hidden, num_layers=layers, num_heads=heads, bias=bias, device="cuda", dtype=dtype)
    with torch.no_grad():
        for p in rnn.parameters():
            p.mul_(2.0)  # larger pre-activations than the default initialisation gives
    ref = cls(inputs, hidden, num_layers=layers, num_heads=heads, bias=bias, dtype=F64)
    ref.load_state_dict({k: v.double().cpu() for k, v in rnn.state_dict().items()})
    x = torch.randn(3, B, inputs, device="cuda", dtype=dtype)
    h = None
    for t in range(3):
        with torch.no_grad():
            y, h_new = rnn.step(x[t], h)
        assert len(calls) == layers * (t + 1)
        xg = x[t].detach().clone().requires_grad_()  # the path with gradients
        y_other, h_other = rnn.step(xg, h)
        h64 = None if h is None else tuple(s.double().cpu() for s in _states(h))
        y64, h_64 = ref.step(x[t].double().cpu(), h64 if h64 is None or len(h64) > 1 else h64[0])
        for got, other, want in zip((y, *_states(h_new)), (y_other, *_states(h_other)), (y64, *_states(h_64))):
            err = (got.double().cpu() - want).abs().max().item()
            err_other = (other.detach().double().cpu() - want).abs().max().item()
            assert err <= 2 * err_other + 2e-3 * max(1.0, want.abs().max().item()), (t, err, err_other)
        h = h_new
    assert len(calls) == 3 * layers


@pytest.mark.cuda
def test_inference_steps_fall_back_where_the_one_launch_step_does_not_apply(monkeypatch):
    """States whose strides differ, gradients wanted, a backend named other than the
    alternating one: the other path, with the same results as far as the dtype goes."""
    if not torch.cuda.is_available():
        pytest.skip("needs a CUDA GPU (none visible)")
    calls = _count_input_steps(monkeypatch)
    torch.manual_seed(0)
    rnn = frk.LSTM(64, 64, num_layers=2, device="cuda", dtype=torch.bfloat16)
    x = torch.randn(4, 64, device="cuda", dtype=torch.bfloat16)
    h = torch.randn(2, 4, 64, device="cuda", dtype=torch.bfloat16)
    c = torch.randn(4, 2, 64, device="cuda", dtype=torch.bfloat16).transpose(0, 1)  # other strides than h
    with torch.no_grad():
        y_fit, _ = rnn.step(x, (h, c.contiguous()))
        assert len(calls) == 2
        y_strided, _ = rnn.step(x, (h, c))
        assert len(calls) == 2
        y_fused, _ = frk.LSTM(64, 64, num_layers=2, backend="fused", device="cuda",
                              dtype=torch.bfloat16).step(x)
        assert len(calls) == 2 and y_fused.shape == (4, 64)
    y_grad, _ = rnn.step(x, (h, c))  # the parameters want gradients
    assert len(calls) == 2 and y_grad.requires_grad
    torch.testing.assert_close(y_strided, y_fit, rtol=2e-2, atol=2e-2)
    torch.testing.assert_close(y_grad.detach(), y_fit, rtol=2e-2, atol=2e-2)


def _standin_input_step(calls):
    """``alternating.input_step`` in torch (float64, any device): the input GEMM, then one step of
    the reference backend from the given states, written into ``out`` and ``s_out``."""
    import torch.nn.functional as F

    from flashrnn_kernels.cells import get_cell

    def step(cell, x, w_ih, b_ih, w_hh, b_hh, s_prev, N, D, out=None, s_out=None):
        # (x [B, I] or [B, 1, I]; the states [B, H] or [1, B, H]; s_out [S, B, H] or [S, 1, B, H])
        calls.append((cell.name, (x.shape[0], x.shape[-1]), w_ih.data_ptr(), tuple(s.data_ptr() for s in s_prev)))
        cell = get_cell(cell.name)
        B, G = x.shape[0], cell.num_gates
        Wx = F.linear(x, w_ih, b_ih).reshape(B, 1, G, N, D)
        b = None
        if b_hh is not None:
            rows = b_hh.view(G, N, D)
            if cell.name == "gru":  # b_hr, b_hz join the input side; b_hn is the recurrent bias row
                Wx = Wx + torch.cat([rows[:2], torch.zeros_like(rows[2:])]).view(1, 1, G, N, D)
                b = torch.cat([torch.zeros_like(rows), rows[2:]])
            else:
                Wx = Wx + rows.view(1, 1, G, N, D)
        states0 = torch.stack([s.reshape(B, 1, N, D) for s in s_prev])
        states, _ = frk.flashrnn(Wx, w_hh.view(G, N, D, D), b, states0, cell, backend="reference")
        out.copy_(states[0, :, 0].reshape(B, N * D))
        s_out.copy_(states[:, :, 0].reshape(s_out.shape))
        return out, s_out

    return step


@pytest.mark.parametrize("cls", MODULES, ids=lambda c: c.__name__)
@pytest.mark.parametrize("layers", [1, 2])
@pytest.mark.parametrize("given", [False, True], ids=["zeros", "hx"])
def test_the_one_launch_steps_are_taken_per_layer_with_each_layers_weights_and_states(cls, layers, given,
                                                                                      monkeypatch):
    """The plumbing of ``step`` without gradients (``_input_steps``), on the CPU with a stand-in
    for the kernel: each layer's weights and previous states go in, the layers' outputs chain,
    the states come back as ``forward`` returns them; steps with gradients, of another backend, or
    with dropout between layers in training take the other path."""
    from flashrnn_kernels.backends import alternating

    calls = []
    monkeypatch.setattr(alternating, "input_step_fits", lambda *a: True)
    monkeypatch.setattr(alternating, "input_step", _standin_input_step(calls))
    torch.manual_seed(0)
    rnn = cls(5, 8, num_layers=layers, num_heads=2, dtype=F64)
    x = torch.randn(4, 3, 5, dtype=F64)
    S = rnn.cell.num_states
    hx = tuple(torch.randn(layers, 3, 8, dtype=F64) for _ in range(S)) if given else None
    hx = hx[0] if hx is not None and S == 1 else hx
    out, last = rnn(x, hx)
    h = hx
    with torch.no_grad():
        for t in range(4):
            y, h = rnn.step(x[t], h)
            torch.testing.assert_close(y, out[t], **TOL)
    assert len(calls) == 4 * layers
    assert [c[2] for c in calls[:layers]] == [getattr(rnn, f"weight_ih_l{k}").data_ptr() for k in range(layers)]
    assert calls[0][1] == (3, 5) and all(c[1] == (3, 8) for c in calls[1:layers])
    for got, want in zip(h if isinstance(h, tuple) else (h,), last if isinstance(last, tuple) else (last,)):
        torch.testing.assert_close(got, want, **TOL)
    y_other, _ = rnn.step(x[0], hx)  # gradients wanted: the parameters require them
    assert len(calls) == 4 * layers and y_other.requires_grad
    with torch.no_grad():
        rnn.backend = "reference"
        rnn.step(x[0], hx)
        assert len(calls) == 4 * layers
        rnn.backend = "auto"
        monkeypatch.setenv("FLASHRNN_BACKEND", "fused")
        with pytest.raises(UnsupportedError, match="backend 'fused' does not support"):  # not on the CPU
            rnn.step(x[0], hx)
        monkeypatch.delenv("FLASHRNN_BACKEND")
        assert len(calls) == 4 * layers
        monkeypatch.setenv("FLASHRNN_INPUT_STEP", "0")
        rnn.step(x[0], hx)
        assert len(calls) == 4 * layers
        monkeypatch.delenv("FLASHRNN_INPUT_STEP")
        rnn.dropout = 0.5
        rnn.step(x[0], hx)  # in training, dropout between layers: the other path
        assert len(calls) == 4 * layers + (layers == 1)


def _address(view, esize, *index):
    """The byte address the kernel's ``at(view, i0, i1, ...)`` reads."""
    return view.ptr + esize * sum(i * s for i, s in zip(index, view.st))


def _element(t, *index):
    return t.data_ptr() + t.element_size() * sum(i * s for i, s in zip(index, t.stride()))


@pytest.mark.parametrize("cell_name", ["lstm", "gru"])
@pytest.mark.parametrize("states_apart", [False, True], ids=["states-one-tensor", "states-apart"])
@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("one_layer", [False, True], ids=["layer-1-of-3", "one-layer"])
def test_input_step_views_address_the_elements_the_kernel_reads(cell_name, states_apart, bias, one_layer,
                                                                monkeypatch):
    """``alternating.input_step`` on the CPU with a stand-in launch: every view of the argument
    struct (x, W_ih, R, the biases, the previous states read through one view whose first stride
    is the distance between the state tensors, the states written into a strided slice of the
    module's ``[S, L, B, H]`` result, the output) addresses the element the kernel means. One
    layer: x ``[B, 1, I]``, the states ``[1, B, H]`` and the result ``[S, 1, B, H]`` as they are."""
    from flashrnn_kernels import devices
    from flashrnn_kernels.backends import alternating
    from flashrnn_kernels.cells import get_cell

    seen = []

    def launch(cell_id, dtype_code, overlap, args_ref, stream):
        seen.append((cell_id, dtype_code, overlap, stream, alternating._ForwardArgs.from_buffer_copy(args_ref._obj)))
        return 0

    monkeypatch.setattr(alternating, "_step_plan", lambda index: (launch, 1))
    monkeypatch.setattr(devices, "stream_handle", lambda index: 99)
    monkeypatch.setattr(torch.cuda, "current_device", lambda: None)  # a CPU tensor's device index
    cell, (B, I, N, D, L, layer) = get_cell(cell_name), (5, 40, 2, 32, 1 if one_layer else 3, 0 if one_layer else 1)
    G, S, H = cell.num_gates, cell.num_states, N * D
    bf = torch.bfloat16
    x3 = torch.randn(B, 1, I, dtype=bf)
    x = x3[:, 0]  # what the addresses are checked against
    w_ih, w_hh = torch.randn(G * H, I, dtype=bf), torch.randn(G * H, D, dtype=bf)
    b_ih, b_hh = (torch.randn(G * H, dtype=bf), torch.randn(G * H, dtype=bf)) if bias else (None, None)
    h = torch.randn(L, B, H, dtype=bf)
    s_all = [h] if S == 1 else [h] + [torch.randn(L, B, H, dtype=bf) for _ in range(S - 1)]
    if not states_apart:
        both = torch.randn(S, L, B, H, dtype=bf)
        s_all = [both[k] for k in range(S)]
    s_prev = [s[layer] for s in s_all]
    s_new, out = torch.empty(S, L, B, H, dtype=bf), torch.empty(B, H, dtype=bf)
    if one_layer:
        got_out, got_states = alternating.input_step(cell, x3, w_ih, b_ih, w_hh, b_hh, s_all, N, D, out=out,
                                                     s_out=s_new)
    else:
        got_out, got_states = alternating.input_step(cell, x, w_ih, b_ih, w_hh, b_hh, s_prev, N, D, out=out,
                                                     s_out=s_new[:, layer])
    assert got_out is out and got_states.data_ptr() == s_new[:, layer].data_ptr()
    (cid, code, overlap, stream, a), = seen
    assert (cid, code, overlap, stream) == (cell.cuda_id, 2, 1, 99)
    assert (a.B, a.N, a.D, a.I) == (B, N, D, I)
    assert not a.wx.ptr and not a.rh.ptr and not a.bias.ptr  # the input side and no backward
    e = 2
    for b, n, d, g, i in itertools.product(range(B), range(N), (0, 7, D - 1), range(G), (0, 9, I - 1)):
        unit = g * H + n * D + d
        assert _address(a.x, e, b, i) == _element(x, b, i)
        assert _address(a.w_ih, e, g, n, d, i) == _element(w_ih, unit, i)
        assert _address(a.r, e, g, n, d, i % D) == _element(w_hh, unit, i % D)
        if bias:
            assert _address(a.b_ih, e, g, n, d) == _element(b_ih, unit)
            assert _address(a.b_hh, e, g, n, d) == _element(b_hh, unit)
        else:
            assert not a.b_ih.ptr and not a.b_hh.ptr
        for k in range(S):
            assert _address(a.s_prev, e, k, b, n, d) == _element(s_prev[k], b, n * D + d)
            assert _address(a.s_out, e, k, b, n, d) == _element(s_new, k, layer, b, n * D + d)
        assert _address(a.h_next, e, n, b, d) == _element(out, b, n * D + d)


def test_input_step_fits_takes_what_the_kernel_reads_and_refuses_the_rest(monkeypatch):
    """``alternating.input_step_fits`` on the CPU, the tensors taken for a GPU's and the step's
    plan stood in: operands the kernel reads pass; each one that breaks a rule of the check (dtype,
    sizes, devices, contiguous weights, 16-byte aligned rows, states alike in strides) is refused."""
    from flashrnn_kernels.backends import alternating

    plan = [(lambda *a: 0, 1)]
    monkeypatch.setattr(torch.Tensor, "is_cuda", property(lambda self: True))
    monkeypatch.setattr(alternating, "_step_plan", lambda index: plan[0])
    bf, B, I, N, D, G = torch.bfloat16, 3, 40, 2, 32, 4
    H = N * D

    def aligned(*shape, dtype=bf):  # a fresh tensor starting on a 64-byte boundary
        n = 1
        for s in shape:
            n *= s
        buf = torch.zeros(n + 32, dtype=dtype)
        skip = (-buf.data_ptr() % 64) // buf.element_size()
        return buf[skip:skip + n].view(*shape)

    def shifted(*shape):  # the same, one element (2 bytes) past the boundary
        n = 1
        for s in shape:
            n *= s
        return aligned(n + 8)[1:n + 1].view(*shape)

    x, w_ih, w_hh = aligned(B, I), aligned(G * H, I), aligned(G * H, D)
    b_ih, b_hh = aligned(G * H), aligned(G * H)
    states = aligned(2, B, H)
    s_prev = list(states.unbind(0))

    def fits(**change):
        args = dict(x=x, w_ih=w_ih, b_ih=b_ih, w_hh=w_hh, b_hh=b_hh, s_prev=s_prev, N=N, D=D)
        args.update(change)
        return alternating.input_step_fits(**args)

    assert fits() and fits(s_prev=None) and fits(b_ih=None, b_hh=None)
    assert fits(s_prev=[s_prev[0], aligned(B, H)])  # states in tensors apart
    # a one-layer module's one step as it has it: x [B, 1, I], the states [1, B, H]
    assert fits(x=x.view(B, 1, I), s_prev=[s.view(1, B, H) for s in s_prev])
    refused = {
        "float32 x": dict(x=x.float()),
        "x [B, 2, I / 2]": dict(x=x.view(B, 2, I // 2)),
        "x [1, B, I]": dict(x=x.view(1, B, I)),
        "states [2, B, H / 2]": dict(s_prev=[s.view(2, B, H // 2) for s in s_prev]),
        "states [1, B, H] and [B, H]": dict(s_prev=[s_prev[0].view(1, B, H), s_prev[1]]),
        "an empty batch": dict(x=aligned(0, I)),
        "a batch past the largest": dict(x=aligned(alternating.FUSED_MAX_BATCH + 1, I)),
        "D not a multiple of the chunk": dict(N=4, D=16),
        "D past the largest head": dict(N=1, D=alternating.FUSED_MAX_HEAD + alternating.FUSED_K),
        "an input size not a multiple of 8": dict(x=aligned(B, 36)),
        "a weight of another dtype": dict(w_hh=w_hh.half()),
        "a bias of another dtype": dict(b_ih=b_ih.float()),
        "a weight on another device": dict(w_ih=torch.empty(G * H, I, dtype=bf, device="meta")),
        "a state of another dtype": dict(s_prev=[s_prev[0], s_prev[1].half()]),
        "W_ih not contiguous": dict(w_ih=aligned(I, G * H).t()),
        "W_ih not 16-byte aligned": dict(w_ih=shifted(G * H, I)),
        "R not 16-byte aligned": dict(w_hh=shifted(G * H, D)),
        "x not 16-byte aligned": dict(x=shifted(B, I)),
        "rows of x 16-byte apart no more": dict(x=aligned(B, I + 4)[:, :I]),
        "h not 16-byte aligned": dict(s_prev=[shifted(B, H), shifted(B, H)]),
        "a state of another shape": dict(s_prev=[s_prev[0], aligned(B, H + 8)]),
        "states in other strides": dict(s_prev=[s_prev[0], aligned(H, B).t()]),
    }
    for why, change in refused.items():
        assert not fits(**change), why
    plan[0] = (None, 0)  # fused steps off on the device (FLASHRNN_FUSED_STEP=0, or before sm_80)
    assert not fits()
