"""Public API: input validation, backend registry and selection, explain (the modules:
``test_modules.py``)."""
import pytest
import torch

import flashrnn_kernels as frk
from flashrnn_kernels.backends import (
    Call,
    get_backend,
    register_backend,
    registered_backends,
    select_backend,
)
from flashrnn_kernels.errors import FlashRNNError, InputError, UnsupportedError

F64 = torch.float64


def inputs(cell="lstm", B=2, T=3, N=2, D=4, dtype=F64):
    c = frk.get_cell(cell)
    return (
        torch.randn(B, T, c.num_gates, N, D, dtype=dtype),
        torch.randn(c.num_gates, N, D, D, dtype=dtype) / D,
        torch.randn(c.num_bias, N, D, dtype=dtype),
        torch.randn(c.num_states, B, 1, N, D, dtype=dtype),
    )


# ------------------------------------------------------------------------------ validation

def test_error_hierarchy():
    assert issubclass(InputError, FlashRNNError) and issubclass(InputError, ValueError)
    assert issubclass(UnsupportedError, FlashRNNError) and issubclass(UnsupportedError, ValueError)
    assert issubclass(frk.BuildError, FlashRNNError)


@pytest.mark.parametrize(
    "which, bad, pattern",
    [
        ("Wx", torch.zeros(2, 3, 4, 8),
         r"Wx has shape \[2, 3, 4, 8\] \(rank 4\); expected rank 5: \[B, T, G=4, N, D\]"),
        ("Wx", torch.zeros(2, 3, 3, 2, 4), r"Wx has shape \[2, 3, 3, 2, 4\]; expected \[B, T, G=4, N, D\]"),
        ("R", torch.zeros(4, 2, 4, 3), r"R has shape \[4, 2, 4, 3\]; expected \[G=4, N=2, D_out=4, D_in=4\]"),
        ("b", torch.zeros(4, 8), r"b has shape \[4, 8\] \(rank 2\); expected rank 3: \[Gb=4, N=2, D=4\]"),
        ("states", torch.zeros(2, 2, 3, 2, 4),
         r"states has shape \[2, 2, 3, 2, 4\]; expected \[S=2, B=2, 1=1, N=2, D=4\]"),
    ],
)
def test_bad_shapes_name_tensor_and_expected_shape(which, bad, pattern):
    Wx, R, b, s0 = inputs()
    args = dict(Wx=Wx, R=R, b=b, states=s0)
    args[which] = bad.to(F64)
    with pytest.raises(InputError, match=pattern):
        frk.flashrnn(**args)


def test_bad_dtype_and_device():
    Wx, R, b, s0 = inputs()
    with pytest.raises(InputError, match="R has dtype torch.float32; expected torch.float64"):
        frk.flashrnn(Wx, R.float(), b, s0)
    with pytest.raises(InputError, match="Wx has dtype torch.int64"):
        frk.flashrnn(Wx.long(), R, b, s0)
    with pytest.raises(InputError, match="b is on device meta; expected cpu"):
        frk.flashrnn(Wx, R, b.to("meta"), s0)
    with pytest.raises(InputError, match="must be a torch.Tensor"):
        frk.flashrnn(Wx.tolist(), R, b, s0)
    with pytest.raises(InputError, match="unknown cell"):
        frk.flashrnn(Wx, R, b, s0, cell="lstn")
    with pytest.raises(InputError, match="unknown backend 'nope'"):
        frk.flashrnn(Wx, R, b, s0, backend="nope")


def test_non_contiguous_inputs_and_defaults():
    Wx, R, b, s0 = inputs(B=3, T=4)
    Wx_nc = Wx.transpose(0, 1).contiguous().transpose(0, 1)
    R_nc = R.transpose(2, 3).contiguous().transpose(2, 3)
    assert not Wx_nc.is_contiguous() and not R_nc.is_contiguous()
    a, la = frk.flashrnn(Wx_nc, R_nc, b, s0)
    c, lc = frk.flashrnn(Wx, R, b, s0)
    # a strided operand may be summed in another order by the CPU's BLAS
    torch.testing.assert_close(a, c, rtol=0, atol=1e-14)
    zeros, _ = frk.flashrnn(Wx, R, torch.zeros_like(b), torch.zeros_like(s0))
    default, _ = frk.flashrnn(Wx, R)
    torch.testing.assert_close(default, zeros, rtol=0, atol=0)
    assert a.shape == (2, 3, 4, 2, 4) and la.shape == (2, 3, 1, 2, 4)


# ------------------------------------------------------------------------------ registry

def test_builtin_backends_registered():
    names = [b.name for b in registered_backends()]
    assert "reference" in names and "alternating" in names
    prios = [b.priority for b in registered_backends()]
    assert prios == sorted(prios, reverse=True)
    assert get_backend("alternating").priority > get_backend("reference").priority


def test_auto_picks_highest_priority_supporting(fake_backend):
    Wx, R, b, s0 = inputs()
    frk.flashrnn(Wx, R, b, s0)
    assert fake_backend.calls == 1
    fake_backend.reason = "not today"
    frk.flashrnn(Wx, R, b, s0)
    assert fake_backend.calls == 2  # the choice of this signature is remembered ...
    register_backend(fake_backend, replace=True)  # ... until the registry changes
    frk.flashrnn(Wx, R, b, s0)
    assert fake_backend.calls == 2  # fell back to the reference (alternating rejects the CPU)
    text = frk.explain(Wx, R, b, s0)
    assert "fake_test (priority 1000): rejected: not today" in text
    assert "alternating (priority 10): rejected: needs CUDA tensors" in text
    assert "reference (priority 0): supported  <- runs this call" in text


def test_a_call_is_validated_and_its_backend_chosen_once_per_signature(fake_backend, monkeypatch):
    Wx, R, b, s0 = inputs()
    for _ in range(3):
        frk.flashrnn(Wx, R, b, s0)
    assert fake_backend.take_asked() == [(2, 3, False)] and fake_backend.calls == 3
    frk.flashrnn(Wx.clone(), R.clone(), b.clone(), s0.clone())  # other tensors of the same signature
    frk.flashrnn(Wx[:1], R, b, s0[:, :1])
    frk.flashrnn(Wx, R, None, s0)
    frk.flashrnn(Wx, R, b, s0, cell=frk.get_cell("lstm"))
    assert fake_backend.take_asked() == [(1, 3, False), (2, 3, False), (2, 3, False)]
    R.requires_grad_()
    frk.flashrnn(Wx, R, b, s0)
    with torch.no_grad():
        frk.flashrnn(Wx, R, b, s0)  # no gradient can flow: the first signature again
    assert fake_backend.take_asked() == [(2, 3, True)]
    monkeypatch.setenv("FLASHRNN_BACKEND", "reference")
    frk.flashrnn(Wx, R, b, s0)
    assert fake_backend.take_asked() == [] and fake_backend.calls == 9  # the reference ran it
    monkeypatch.delenv("FLASHRNN_BACKEND")
    frk.flashrnn(Wx, R, b, s0)
    assert fake_backend.take_asked() == [] and fake_backend.calls == 10
    with pytest.raises(InputError, match="R has dtype torch.float32"):  # checked, as every new signature
        frk.flashrnn(Wx, R.float(), b, s0)
    with pytest.raises(InputError, match="b has shape"):
        frk.flashrnn(Wx, R, b[:2], s0)
    for B in range(3, 3 + 70):  # a few signatures are remembered, not all
        frk.flashrnn(Wx[:1].expand(B, -1, -1, -1, -1), R, b, None)
    assert len(fake_backend.take_asked()) == 70
    frk.flashrnn(Wx, R, b, s0)
    assert fake_backend.take_asked() == [(2, 3, True)]


def test_unsupported_request_lists_every_reason(fake_backend):
    fake_backend.reason = "too cold"
    Wx, R, b, s0 = inputs()
    with pytest.raises(UnsupportedError) as info:
        frk.flashrnn(Wx, R, b, s0, backend="fake_test")
    msg = str(info.value)
    assert "backend 'fake_test' does not support this call" in msg and "too cold" in msg
    assert "alternating: needs CUDA tensors" in msg
    assert "would run it: ['reference']" in msg


def test_no_backend_at_all(monkeypatch, fake_backend_class):
    from flashrnn_kernels import backends

    monkeypatch.setattr(backends, "_REGISTRY", {"x": fake_backend_class("nope")})
    call = Call("lstm", F64, torch.device("cpu"), 1, 1, 1, 1, False)
    with pytest.raises(UnsupportedError, match="no backend supports this call.*\n  fake_test: nope"):
        select_backend(call)


def test_register_checks(fake_backend, fake_backend_class):
    with pytest.raises(InputError, match="already registered"):
        register_backend(fake_backend_class())
    with pytest.raises(InputError, match="Backend instance"):
        register_backend(object())
    bad = fake_backend_class()
    bad.name = "auto"
    with pytest.raises(InputError, match="reserved"):
        register_backend(bad)
    register_backend(fake_backend_class(), replace=True)


def test_env_backend_override(monkeypatch, fake_backend):
    monkeypatch.setenv("FLASHRNN_BACKEND", "reference")
    Wx, R, b, s0 = inputs()
    frk.flashrnn(Wx, R, b, s0)
    assert fake_backend.calls == 0


def test_call_description():
    Wx, R, b, s0 = inputs(B=5, T=6, N=2, D=4)
    R.requires_grad_()
    text = frk.explain(Wx, R, b, s0, cell="lstm")
    assert "cell=lstm dtype=float64 device=cpu B=5 T=6 N=2 D=4 requires_grad=True" in text
    with torch.no_grad():
        assert "requires_grad=False" in frk.explain(Wx, R, b, s0)
