"""GPU tests (``cuda`` marker) of streams and device guards.

* Non-default stream: inputs produced on a fresh ``torch.cuda.Stream()`` behind a long sleep
  kernel, forward and backward run inside ``with torch.cuda.stream(s)``; a kernel launched on
  any other stream would read the inputs before they exist. Results equal the default stream's.
* ``cuda:1`` (2+ GPUs): the module on the second GPU while the current device stays ``cuda:0``;
  results equal those on ``cuda:0``.

What the backends do (read from the code): both pass the current stream's handle
(``torch.cuda.current_stream(device).cuda_stream``, or the same from ``devices.stream_handle``)
to their launchers and make the tensors' device current around the launch (the alternating
backend's captured loops replay on the current stream too); the GEMMs and everything else are
torch ops.
"""
from __future__ import annotations

import pytest
import torch

import flashrnn_kernels as frk
from flashrnn_kernels import devices

pytestmark = pytest.mark.cuda

CASES = [("reference", "float32"), ("alternating", "float32"), ("alternating", "bfloat16"),
         ("fused", "float32"), ("fused", "bfloat16")]
B, T, I, H, HEADS = 3, 9, 16, 64, 2
SLEEP_CYCLES = 50_000_000  # tens of milliseconds of GPU time before the inputs are written


@pytest.fixture(autouse=True)
def _poison(poison_empty):
    """Outputs start as NaN, so an element no kernel wrote (or wrote too early) shows."""


def _model(backend, dtype, device):
    torch.manual_seed(0)
    m = frk.LSTM(I, H, num_heads=HEADS, batch_first=True, dtype=torch.float64, backend=backend)
    return m.to(device=device, dtype=dtype)


def _data():
    g = torch.Generator().manual_seed(1)
    x = torch.randn(B, T, I, dtype=torch.float64, generator=g)
    gy = torch.randn(B, T, H, dtype=torch.float64, generator=g)
    return x, gy


def _step(model, x, gy):
    """Forward and backward on the current stream; every result as a tensor on its device."""
    x = x.detach().requires_grad_()
    model.zero_grad(set_to_none=True)
    try:
        out, (h, c) = model(x)
    except frk.UnsupportedError as exc:
        pytest.skip(f"backend {model.backend!r} cannot run here: {exc}")
    loss = (out.float() * gy.float()).sum() + (c.float() ** 2).sum()
    loss.backward()
    res = {"out": out.detach(), "h": h.detach(), "c": c.detach(), "dx": x.grad}
    res.update({f"d{n}": p.grad for n, p in model.named_parameters()})
    return res


def _compare(got, want, what):
    assert got.keys() == want.keys()
    for k in want:
        g, w = got[k].detach().cpu(), want[k].detach().cpu()
        assert torch.isfinite(g).all(), f"{what}: {k} has non-finite values"
        torch.testing.assert_close(g, w, msg=lambda m, k=k: f"{what}: {k}: {m}")


def test_stream_handle_is_the_current_streams():
    """``devices.stream_handle`` (the fused launches' stream) is the handle of the current stream
    of the device asked, on the default stream and inside ``torch.cuda.stream``."""
    index = torch.cuda.current_device()
    assert devices.stream_handle(index) == torch.cuda.current_stream(index).cuda_stream
    side = torch.cuda.Stream()
    with torch.cuda.stream(side):
        assert devices.stream_handle(index) == side.cuda_stream != torch.cuda.default_stream(index).cuda_stream
    assert devices.stream_handle(index) == torch.cuda.current_stream(index).cuda_stream


@pytest.mark.parametrize("backend, dtype", CASES)
def test_non_default_stream_equals_default_stream(backend, dtype):
    dev = torch.device("cuda", torch.cuda.current_device())
    tdt = getattr(torch, dtype)
    x64, gy64 = _data()
    model = _model(backend, tdt, dev)

    want = _step(model, x64.to(dev, tdt), gy64.to(dev, tdt))
    torch.cuda.synchronize(dev)

    s = torch.cuda.Stream(dev)
    assert s != torch.cuda.current_stream(dev)
    x_host, gy_host = x64.to(tdt).pin_memory(), gy64.to(tdt).pin_memory()
    s.wait_stream(torch.cuda.current_stream(dev))  # the parameters are ready
    with torch.cuda.stream(s):
        assert torch.cuda.current_stream(dev) == s
        torch.cuda._sleep(SLEEP_CYCLES)  # anything launched elsewhere now runs before the inputs exist
        x = x_host.to(dev, non_blocking=True)
        gy = gy_host.to(dev, non_blocking=True)
        got = _step(model, x, gy)
    torch.cuda.current_stream(dev).wait_stream(s)
    torch.cuda.synchronize(dev)
    _compare(got, want, f"{backend}/{dtype} on a side stream")


@pytest.mark.skipif(torch.cuda.device_count() < 2, reason="needs 2 or more CUDA GPUs")
@pytest.mark.parametrize("backend, dtype", CASES)
def test_second_gpu_while_current_device_is_first(backend, dtype):
    """Tensors on cuda:1, current device cuda:0: kernels must run on cuda:1 (device guard)."""
    tdt = getattr(torch, dtype)
    x64, gy64 = _data()
    with torch.cuda.device(0):
        want = _step(_model(backend, tdt, "cuda:0"), x64.to("cuda:0", tdt), gy64.to("cuda:0", tdt))
        torch.cuda.synchronize(0)
        model1 = _model(backend, tdt, "cuda:1")
        got = _step(model1, x64.to("cuda:1", tdt), gy64.to("cuda:1", tdt))
        assert torch.cuda.current_device() == 0
        assert all(t.device == torch.device("cuda", 1) for t in got.values())
        torch.cuda.synchronize(1)
    _compare(got, want, f"{backend}/{dtype} on cuda:1")

    # and on a side stream of cuda:1 (entering it makes cuda:1 current)
    s1 = torch.cuda.Stream(device=1)
    s1.wait_stream(torch.cuda.current_stream(1))
    with torch.cuda.device(0), torch.cuda.stream(s1):
        with torch.cuda.device(1):
            torch.cuda._sleep(SLEEP_CYCLES)  # on s1, the current stream of cuda:1
        x = x64.to(tdt).pin_memory().to("cuda:1", non_blocking=True)
        gy = gy64.to(tdt).pin_memory().to("cuda:1", non_blocking=True)
        got_s = _step(model1, x, gy)
    torch.cuda.current_stream(1).wait_stream(s1)
    torch.cuda.synchronize(1)
    _compare(got_s, want, f"{backend}/{dtype} on a side stream of cuda:1")
