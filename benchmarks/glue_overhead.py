"""Host time of the library's own work around a backend, on any machine (a CPU one too).

    python benchmarks/glue_overhead.py [--device cpu|cuda] [--hidden H] [--threads 1] [--profile 20]

A backend named ``null`` is registered that computes nothing (its outputs are allocated, not
written), so what is timed is everything else a call does: argument checks, the backend choice,
the modules' weight views, state stacking and output reshapes. Microseconds per call, the best
of 5 rounds of ``--calls`` calls each, without gradients:

* ``flashrnn()``: the functional call (``backend="null"``), and the choice of a backend for
  ``backend="auto"`` (``select_backend``) on this machine's real backends;
* ``LSTM`` / ``GRU`` modules (one layer, one head, ``--hidden`` units: default 768 on a GPU, 8 on
  a CPU, where the input projection's matrix product would otherwise dominate) with the state
  carried over:
  ``module(x, state)`` with T = 1 and ``module.step(x_t, state)``, B = 1 and B = 16;
* for scale, ``torch.nn.LSTM`` on the same call (real work: on a GPU it is cuDNN's host time plus
  launches; on a CPU with a small ``--hidden`` it is mostly its own overhead).

``--profile N`` prints the N most expensive functions of the module step (cProfile).
``--threads`` sets torch's intra-op threads (default 1: on a CPU with a few busy cores, waking a
thread pool for the input projection otherwise costs more, and varies more, than the glue).
"""
from __future__ import annotations

import argparse
import cProfile
import pstats
import sys
import time

import torch

import flashrnn_kernels as frk
from flashrnn_kernels.backends import Backend, Call, register_backend, select_backend, unregister_backend


class NullBackend(Backend):
    """Outputs of the right shapes, nothing computed."""

    name, priority = "null", -1

    def supports(self, call):
        return None

    def prepare(self):
        pass

    def run(self, Wx, R, b, states0, cell):
        B, T, _, N, D = Wx.shape
        S = cell.num_states
        return Wx.new_empty(S, B, T, N, D), Wx.new_empty(S, B, 1, N, D)


def best_us(fn, calls: int, rounds: int = 5) -> float:
    for _ in range(max(calls // 10, 10)):
        fn()
    sync = torch.cuda.synchronize if torch.cuda.is_available() else (lambda: None)
    out = []
    for _ in range(rounds):
        sync()
        t0 = time.perf_counter()
        for _ in range(calls):
            fn()
        sync()
        out.append((time.perf_counter() - t0) / calls * 1e6)
    return min(out)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--hidden", type=int, default=None, help="default: 768 on a GPU, 8 on a CPU")
    ap.add_argument("--calls", type=int, default=2000)
    ap.add_argument("--profile", type=int, default=0, help="rows of the module step's CPU profile (0: none)")
    ap.add_argument("--threads", type=int, default=1, help="torch's intra-op threads (default 1)")
    a = ap.parse_args(argv)
    dev = torch.device(a.device)
    dtype = torch.bfloat16 if dev.type == "cuda" else torch.float32
    H = a.hidden or (768 if dev.type == "cuda" else 8)
    register_backend(NullBackend(), replace=True)
    threads = torch.get_num_threads()
    torch.set_num_threads(a.threads)
    rows: list[tuple[str, float]] = []
    try:
        torch.manual_seed(0)
        c = frk.get_cell("lstm")
        Wx = torch.randn(16, 1, c.num_gates, 1, H, device=dev, dtype=dtype)
        R = torch.randn(c.num_gates, 1, H, H, device=dev, dtype=dtype)
        b = torch.randn(c.num_bias, 1, H, device=dev, dtype=dtype)
        s0 = torch.zeros(c.num_states, 16, 1, 1, H, device=dev, dtype=dtype)
        call = Call("lstm", dtype, dev, 16, 1, 1, H, False)
        with torch.no_grad():
            rows.append(("flashrnn(), B=16, T=1", best_us(lambda: frk.flashrnn(Wx, R, b, s0, backend="null"),
                                                          a.calls)))
            chosen = select_backend(call).name
            rows.append((f"select_backend('auto') -> {chosen}", best_us(lambda: select_backend(call), a.calls)))
            step = None
            for name, cls in (("LSTM", frk.LSTM), ("GRU", frk.GRU)):
                m = cls(H, H, batch_first=True, backend="null", device=dev, dtype=dtype)
                for B in (1, 16):
                    x = torch.randn(B, 1, H, device=dev, dtype=dtype)
                    state = [m(x)[1]]

                    def fwd(m=m, x=x, state=state):
                        state[0] = m(x, state[0])[1]

                    def stp(m=m, x=x[:, 0], state=state):
                        state[0] = m.step(x, state[0])[1]

                    rows.append((f"{name} module(x, state), B={B}, T=1", best_us(fwd, a.calls)))
                    rows.append((f"{name} module.step(x_t, state), B={B}", best_us(stp, a.calls)))
                    if name == "LSTM" and B == 16:
                        step = stp
            ref = torch.nn.LSTM(H, H, batch_first=True, device=dev, dtype=torch.float16 if dev.type == "cuda"
                                else dtype)
            ref.flatten_parameters()  # made with device=, its weights are apart: cuDNN would copy them per call
            for B in (1, 16):
                x = torch.randn(B, 1, H, device=dev, dtype=ref.weight_ih_l0.dtype)
                st = [ref(x)[1]]

                def tfwd(x=x, st=st):
                    st[0] = ref(x, st[0])[1]

                rows.append((f"torch.nn.LSTM ({ref.weight_ih_l0.dtype}) module(x, state), B={B}, T=1 "
                             "(real work)", best_us(tfwd, a.calls)))
            width = max(len(r[0]) for r in rows)
            print(f"host time per call on {dev} ({torch.__version__}, {a.threads} thread(s)), hidden {H}, {dtype}, "
                  "no gradients")
            for label, us in rows:
                print(f"  {label:{width}s} {us:9.1f} us")
            if a.profile and step is not None:
                pr = cProfile.Profile()
                pr.enable()
                for _ in range(a.calls):
                    step()
                pr.disable()
                pstats.Stats(pr).sort_stats("tottime").print_stats(a.profile)
    finally:
        unregister_backend("null")
        torch.set_num_threads(threads)
    return 0


if __name__ == "__main__":
    sys.exit(main())
