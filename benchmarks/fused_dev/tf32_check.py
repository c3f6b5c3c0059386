"""float32 (tf32) cases: kernel error vs float64 next to two references in float32.

python benchmarks/fused_dev/tf32_check.py
Per output: fused / reference with allow_tf32 (torch's choice) / reference with every recurrent
product's operands rounded to tf32 (tests/flashrnn_kernels/test_fused.py:_tf32_reference).
"""
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "tests" / "flashrnn_kernels"))
from test_fused import _inputs, _rel, _run, _tf32_reference  # noqa: E402

from flashrnn_kernels.backends import fused  # noqa: E402
from flashrnn_kernels.reference import reference_forward  # noqa: E402

CASES = [("slstm", 16, 128, 12, 64), ("elman", 1, 7, 1, 32), ("lstm", 16, 128, 12, 64),
         ("elman", 33, 128, 1, 32), ("gru", 16, 7, 1, 768)]


def main():
    for cell, B, T, N, D in CASES:
        *xs, dst, dla = _inputs(cell, B, T, N, D, torch.float32, 0)
        r64 = _run(lambda *a: reference_forward(*a, cell=cell), [t.double() for t in xs], dst, dla)
        torch.backends.cuda.matmul.allow_tf32 = True
        rtf = _run(lambda *a: reference_forward(*a, cell=cell), xs, dst, dla)
        torch.backends.cuda.matmul.allow_tf32 = False
        rfair = _run(lambda *a: _tf32_reference(*a, cell=cell), xs, dst, dla)
        fused.POISON_OUTPUTS = True
        out = _run(lambda *a: fused.flashrnn_fused(*a, cell=cell), xs, dst, dla)
        fused.POISON_OUTPUTS = False
        parts = []
        worst_old = worst_new = 0.0
        for nm, o, a, f, r in zip(["st", "last", "dWx", "dR", "db", "ds0"], out, rtf, rfair, r64):
            e, ea, ef = _rel(o, r), _rel(a, r), _rel(f, r)
            worst_old = max(worst_old, e - 2 * ea)
            worst_new = max(worst_new, e - 2 * ef)
            parts.append(f"{nm}={e:.1e}/{ea:.1e}/{ef:.1e}")
        print(f"{cell:5s} B{B} T{T} {N}x{D}: margin(e-2ref) old {worst_old:.1e} fair {worst_new:.1e} | "
              + " ".join(parts), flush=True)


if __name__ == "__main__":
    main()
