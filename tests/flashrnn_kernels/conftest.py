"""Fixtures of the flashrnn_kernels tests: a stand-in backend that records what it is asked."""
import threading

import pytest

import flashrnn_kernels as frk
from flashrnn_kernels.backends import Backend, register_backend, unregister_backend


class FakeBackend(Backend):
    """The reference's results under another name and the highest priority. It supports every
    call unless given a ``reason`` not to, records the calls it is asked about (``asked``) and
    counts its runs (``calls``). It holds a lock, as real backends do, so that a module that
    kept it in its own state could not be copied or pickled."""

    name = "fake_test"
    priority = 1000

    def __init__(self, reason=None):
        self.reason = reason
        self.calls = 0
        self.asked = []
        self.lock = threading.Lock()

    def supports(self, call):
        self.asked.append(call)
        return self.reason

    def run(self, Wx, R, b, states0, cell):
        self.calls += 1
        return frk.reference_forward(Wx, R, b, states0, cell)

    def take_asked(self):
        """The (B, T, requires_grad) of the calls asked about since the last look."""
        asked = [(c.B, c.T, c.requires_grad) for c in self.asked]
        self.asked.clear()
        return asked


@pytest.fixture
def fake_backend_class():
    return FakeBackend


@pytest.fixture
def fake_backend():
    backend = register_backend(FakeBackend())
    yield backend
    unregister_backend(backend.name)
