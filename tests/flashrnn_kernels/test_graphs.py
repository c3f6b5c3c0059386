"""flashrnn_kernels.graphs: the capture policy on the CPU (a stand-in capture with the same
contract as a CUDA graph: outputs at fixed buffers, recomputed from the static inputs), and the
alternating backend's captured loops on a GPU (``cuda`` marker)."""
from __future__ import annotations

import os
import threading
from types import SimpleNamespace
from unittest import mock

import pytest
import torch

import flashrnn_kernels as frk
from flashrnn_kernels.graphs import GraphCache


class FakeCapture:
    """Runs ``fn`` once at capture; ``replay`` recomputes into the same output tensors."""

    def __init__(self):
        self.captured = 0

    def __call__(self, fn, statics):
        self.captured += 1
        outputs = list(fn(*statics))

        def replay():
            for o, n in zip(outputs, fn(*statics)):
                o.copy_(n)

        return replay, outputs, sum(o.numel() * o.element_size() for o in outputs)


def _cache(budget=1 << 30, enabled=True):
    cap = FakeCapture()
    return GraphCache(cap, device_type="cpu", budget_bytes=lambda: budget, enabled=lambda: enabled), cap


def _fn(x, w):
    return [x @ w, x.sum(0)]


def _inputs(n=4, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, 3, generator=g), torch.randn(3, 2, generator=g)


def test_second_sighting_captures_and_later_calls_replay_with_new_contents():
    cache, cap = _cache()
    for i in range(4):
        x, w = _inputs(seed=i)
        got = cache.run("mm", _fn, (x, w))
        for g, want in zip(got, _fn(x, w)):
            torch.testing.assert_close(g, want, rtol=0, atol=0)
    info = cache.info()
    # call 1 eager, call 2 captures and replays (a capture computes nothing), calls 3-4 replay
    assert (cap.captured, info.captures, info.replays, info.eager, info.graphs) == (1, 1, 3, 1, 1)


def test_outputs_are_fresh_tensors():
    cache, _ = _cache()
    x, w = _inputs()
    cache.run("mm", _fn, (x, w))
    a = cache.run("mm", _fn, (x, w))
    b = cache.run("mm", _fn, (2 * x, w))
    assert a[0].data_ptr() != b[0].data_ptr()
    torch.testing.assert_close(a[0], x @ w, rtol=0, atol=0)  # not overwritten by the next replay
    a[0].zero_()
    torch.testing.assert_close(cache.run("mm", _fn, (x, w))[0], x @ w, rtol=0, atol=0)


def test_signature_covers_key_shape_dtype_and_strides():
    cache, cap = _cache()
    x, w = _inputs()
    for args in [(x, w), (x[:2].clone(), w), (x.double(), w.double()), (x, w)]:
        cache.run("mm", _fn, args)
    cache.run("other", _fn, (x, w))
    assert cap.captured == 1  # only (x, w) came twice under the same key
    xt = x.t().contiguous().t()  # same shape, other strides: not dense in this layout -> eager
    assert not xt.is_contiguous()
    cache.run("mm", _fn, (xt, w))
    cache.run("mm", _fn, (xt, w))
    assert cap.captured == 1


def test_budget_evicts_least_recently_used_and_evicted_signatures_wait_longer():
    x1, w = _inputs(n=4)
    x2, _ = _inputs(n=8)
    one = sum(t.numel() * t.element_size() for t in (*_fn(x2, w), x2, w))
    cache, cap = _cache(budget=int(1.5 * one))
    for x in (x1, x1, x2, x2):  # captures x1, then x2, which evicts x1
        cache.run("mm", _fn, (x, w))
    info = cache.info()
    assert (info.captures, info.evictions, info.graphs) == (2, 1, 1)
    assert info.nbytes <= int(1.5 * one)
    for _ in range(3):  # evicted once: captured again at its fourth sighting
        cache.run("mm", _fn, (x1, w))
    assert cache.info().captures == 2
    cache.run("mm", _fn, (x1, w))
    assert cache.info().captures == 3


def test_calls_taking_turns_in_a_budget_for_one_do_not_capture_on_every_call():
    x1, w = _inputs(n=4)
    x2, _ = _inputs(n=8)
    one = sum(t.numel() * t.element_size() for t in (*_fn(x2, w), x2, w))
    cache, cap = _cache(budget=int(1.5 * one))
    for i in range(200):
        x = (x1, x2)[i % 2]
        got = cache.run("mm", _fn, (x, w))
        torch.testing.assert_close(got[0], x @ w, rtol=0, atol=0)
    info = cache.info()
    # each eviction doubles the sightings a capture waits for: 100 calls each -> a few captures
    assert info.captures <= 2 * 7 and info.captures == cap.captured
    assert info.replays + info.eager == 200


def test_too_large_for_the_budget_or_disabled_runs_eagerly():
    x, w = _inputs()
    cache, cap = _cache(budget=16)
    for _ in range(3):
        cache.run("mm", _fn, (x, w))
    cache2, cap2 = _cache(enabled=False)
    for _ in range(3):
        cache2.run("mm", _fn, (x, w))
    assert cap.captured == cap2.captured == 0
    assert cache.info().eager == cache2.info().eager == 3


def test_clear_frees_everything():
    cache, cap = _cache()
    x, w = _inputs()
    for _ in range(2):
        cache.run("mm", _fn, (x, w))
    cache.clear()
    info = cache.info()
    assert (info.graphs, info.nbytes, info.captures, info.replays, info.eager) == (0, 0, 0, 0, 0)
    cache.run("mm", _fn, (x, w))
    assert cap.captured == 1  # forgotten: the next sighting is a first one again


def test_threads_get_their_own_results():
    cache, _ = _cache()
    results, errors = {}, []

    def worker(i):
        try:
            x, w = _inputs(seed=i)
            for _ in range(20):
                got = cache.run("mm", _fn, (x, w))
                torch.testing.assert_close(got[0], x @ w, rtol=0, atol=0)
            results[i] = True
        except Exception as exc:  # reported below with the thread's index
            errors.append((i, exc))

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors and len(results) == 4


def test_settings():
    from flashrnn_kernels import env

    with mock.patch.dict(os.environ, {"FLASHRNN_GRAPHS": "1", "FLASHRNN_GRAPH_MEMORY": "1.5"}):
        assert env.graphs_enabled() is True
        assert env.graph_memory_bytes() == int(1.5 * 2**20)
    with mock.patch.dict(os.environ, {"FLASHRNN_GRAPH_MEMORY": "-1"}), pytest.raises(frk.InputError):
        env.graph_memory_bytes()
    with mock.patch.dict(os.environ, {"FLASHRNN_GRAPH_MEMORY": ""}):
        assert env.graph_memory_bytes() is None  # unset: each GPU's default_budget
    with mock.patch.dict(os.environ, {}, clear=True):
        assert env.graphs_enabled() is True  # on by default


# ------------------------------------------------------------------------------------ GPU

def _alternating_call(cell, dtype, seed, B=3, T=7, N=2, D=32):
    c = frk.get_cell(cell)
    g = torch.Generator().manual_seed(seed)

    def r(*s, scale=1.0):
        return (scale * torch.randn(*s, generator=g)).to("cuda", dtype).requires_grad_()

    Wx = r(B, T, c.num_gates, N, D)
    R = r(c.num_gates, N, D, D, scale=D**-0.5)
    b = r(c.num_bias, N, D)
    s0 = r(c.num_states, B, 1, N, D)
    states, last = frk.flashrnn(Wx, R, b, s0, cell=cell, backend="alternating")
    gs = torch.randn(states.shape, generator=g).to("cuda", dtype)
    grads = torch.autograd.grad([states, last], [Wx, R, b, s0], [gs, torch.ones_like(last)])
    return [states.detach(), last.detach(), *grads]


@pytest.mark.cuda
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
@pytest.mark.parametrize("cell", ["lstm", "gru", "slstm", "elman"])
def test_captured_loops_equal_eager_loops(cell, dtype):
    from flashrnn_kernels.backends.alternating import GRAPHS

    GRAPHS.clear()
    with mock.patch.dict(os.environ, {"FLASHRNN_GRAPHS": "0"}):
        eager = [_alternating_call(cell, dtype, seed) for seed in range(3)]
    with mock.patch.dict(os.environ, {"FLASHRNN_GRAPHS": "1"}):
        got = [_alternating_call(cell, dtype, seed) for seed in range(3)]
    info = GRAPHS.info()
    assert (info.captures, info.replays) == (2, 4), info  # forward and backward: captured on call 2
    for e, g in zip(eager, got):
        for a, b in zip(g, e):
            torch.testing.assert_close(a, b, rtol=0, atol=0)  # the same kernels on the same data


@pytest.mark.cuda
@mock.patch.dict(os.environ, {"FLASHRNN_GRAPHS": "1"})
def test_captured_loops_on_a_side_stream_and_inside_a_users_graph():
    from flashrnn_kernels.backends.alternating import GRAPHS

    GRAPHS.clear()
    want = [_alternating_call("lstm", torch.float32, 5) for _ in range(3)][-1]
    side = torch.cuda.Stream()
    side.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(side):
        got = _alternating_call("lstm", torch.float32, 5)
    torch.cuda.current_stream().wait_stream(side)
    for a, b in zip(got, want):
        torch.testing.assert_close(a, b, rtol=0, atol=0)

    # a user's capture of a forward: the cache runs the loop eagerly inside it
    c = frk.get_cell("lstm")
    Wx = torch.randn(2, 5, c.num_gates, 1, 16, device="cuda")
    R = torch.randn(c.num_gates, 1, 16, 16, device="cuda") / 4
    with torch.no_grad():
        frk.flashrnn(Wx, R, cell="lstm", backend="alternating")  # warm-up outside the capture
        graph = torch.cuda.CUDAGraph()
        before = GRAPHS.info().captures
        with torch.cuda.graph(graph):
            states, _ = frk.flashrnn(Wx, R, cell="lstm", backend="alternating")
        assert GRAPHS.info().captures == before
        Wx.copy_(torch.randn_like(Wx))
        graph.replay()
        want, _ = frk.flashrnn(Wx, R, cell="lstm", backend="reference")
    torch.testing.assert_close(states, want, rtol=1e-4, atol=1e-5)


@pytest.mark.cuda
@pytest.mark.parametrize("backend", ["alternating", "fused"])
@mock.patch.dict(os.environ, {"FLASHRNN_GRAPHS": "1"})  # the library's own graphs stay out of the user's
def test_a_users_graph_captures_a_whole_training_step(backend):
    """A whole step of a model (forward, loss, backward) captured by the user and replayed with new
    data gives the eager step's loss and gradients."""
    torch.manual_seed(0)
    model = frk.LSTM(32, 64, num_heads=1, batch_first=True, backend=backend, device="cuda",
                     dtype=torch.bfloat16)
    x = torch.randn(4, 16, 32, device="cuda", dtype=torch.bfloat16)

    def step():
        out, _ = model(x)
        loss = out.float().square().mean()
        loss.backward()
        return loss

    side = torch.cuda.Stream()
    side.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(side):  # warm-up: builds, plans and cuBLAS workspaces outside the capture
        for _ in range(2):
            model.zero_grad(set_to_none=False)
            step()
    torch.cuda.current_stream().wait_stream(side)
    graph = torch.cuda.CUDAGraph()
    model.zero_grad(set_to_none=False)
    with torch.cuda.graph(graph):
        loss = step()
    for seed in range(3):
        new = torch.randn(x.shape, generator=torch.Generator().manual_seed(seed)).to(x)
        x.copy_(new)
        for p in model.parameters():
            p.grad.zero_()
        graph.replay()
        got = [loss.clone()] + [p.grad.clone() for p in model.parameters()]
        for p in model.parameters():
            p.grad.zero_()
        want = [step().detach()] + [p.grad.clone() for p in model.parameters()]
        for a, b in zip(got, want):
            torch.testing.assert_close(a, b, rtol=0, atol=0)  # the same launches on the same data


@pytest.mark.cuda
@pytest.mark.parametrize("backend", ["alternating", "fused"])
def test_torch_compile_reduce_overhead(backend):
    torch.manual_seed(0)
    model = frk.LSTM(32, 64, batch_first=True, backend=backend, device="cuda", dtype=torch.bfloat16)
    compiled = torch.compile(model, mode="reduce-overhead")
    for seed in range(4):
        x = torch.randn(4, 16, 32, generator=torch.Generator().manual_seed(seed)).to("cuda", torch.bfloat16)
        with torch.no_grad():
            got, _ = compiled(x)
            want, _ = model(x)
        torch.testing.assert_close(got, want, rtol=0, atol=0)


@pytest.mark.cuda
@mock.patch.dict(os.environ, {"FLASHRNN_GRAPHS": "1"})
def test_captured_loops_on_a_second_gpu():
    if torch.cuda.device_count() < 2:
        pytest.skip("needs 2 or more CUDA GPUs")
    from flashrnn_kernels.backends.alternating import GRAPHS

    c = frk.get_cell("lstm")
    g = torch.Generator().manual_seed(3)
    Wx = torch.randn(2, 6, c.num_gates, 1, 16, generator=g)
    R = torch.randn(c.num_gates, 1, 16, 16, generator=g) / 4
    want, _ = frk.flashrnn(Wx.double(), R.double(), cell="lstm", backend="reference")
    GRAPHS.clear()
    with torch.cuda.device(0):
        for _ in range(3):  # eager, captured, replayed: all on cuda:1 while cuda:0 is current
            got, _ = frk.flashrnn(Wx.to("cuda:1"), R.to("cuda:1"), cell="lstm", backend="alternating")
            assert got.device == torch.device("cuda:1")
            torch.testing.assert_close(got.cpu().double(), want, rtol=1e-4, atol=1e-5)
    assert GRAPHS.info().captures == 1


def test_default_budget_is_a_share_of_the_gpu_memory(monkeypatch):
    """Without FLASHRNN_GRAPH_MEMORY a GPU's graphs may hold a sixteenth of its memory, never less
    than 2 GiB; the cache asks for the budget of the device it captures on."""
    from flashrnn_kernels import graphs

    sizes = {0: 80 * 10**9, 1: 16 * 2**30}
    monkeypatch.setattr(torch.cuda, "get_device_properties",
                        lambda device: SimpleNamespace(total_memory=sizes[torch.device(device).index]))
    assert graphs.default_budget(torch.device("cuda", 0)) == 80 * 10**9 // 16
    assert graphs.default_budget(torch.device("cuda", 1)) == 2 * 2**30  # 1 GiB: the floor
    assert graphs.default_budget(torch.device("cpu")) == 2 * 2**30

    asked = []
    monkeypatch.setattr(graphs, "default_budget", lambda device: asked.append(device) or 0)
    cache = GraphCache(lambda fn, statics: (lambda: None, list(fn(*statics)), 0), device_type="cpu",
                       budget_bytes=lambda: None, enabled=lambda: True)
    x = torch.ones(4)
    for _ in range(3):  # captured the second time, if the budget allowed: 0 bytes does not
        assert torch.equal(cache.run("f", lambda t: [t + 1], (x,))[0], x + 1)
    assert asked == [torch.device("cpu")] * 2 and cache.info().captures == 0

