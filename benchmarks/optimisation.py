"""Tiling-style optimisation: constrint against OR-Tools CP-SAT on the same five models.

    python benchmarks/optimisation.py [--repeat 7] [--workers 1] [--json OUT.json]

Each model is ``.cint`` text (below, or ``examples/matmul_tiling.cint`` and
``examples/gemm_chain.cint``): tile sizes that divide
problem sizes, divisor chains (block | warp | thread tiles), shared-memory and register bounds,
and a lexicographic objective. constrint solves ``ci.loads(text)`` with ``Model.solve()``; CP-SAT
solves the same model translated by ``benchmarks/cpsat.py`` (intermediate variables for products
and quotients, the lexicographic objective key by key, ``--workers`` search workers, 1 by
default like constrint). Both must prove the same optimum (the exit status is 1 otherwise).

Every model is solved once by each solver as a warm-up (imports, caches), then ``--repeat``
times from a fresh model, the two solvers alternating; the table gives the median time of the
solve call alone (not parsing, not translating) and the ratio constrint / CP-SAT.
"""
from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import constrint as ci  # noqa: E402

CONV2D = """
# output tile of a 3x3 convolution over a 512x512 image, 64 input and 64 output channels, float32
var TX, TY in 1..64;
var TC in [1, 2, 4, 8, 16, 32, 64];       # input channels per step
var PX, PY in [1, 2, 4, 8];               # outputs per thread in x and y
var THREADS in 32..1024;
512 % TX == 0; 512 % TY == 0;
TX % PX == 0; TY % PY == 0;
THREADS == (TX // PX) * (TY // PY);
THREADS % 32 == 0;
(TX + 2) * (TY + 2) * TC * 4 + 9 * TC * 64 * 4 <= 48 * 1024;   # input tile with halo, filters
PX * PY * 8 + 9 <= 128;                                         # registers per thread
maximize TX * TY, TC, -THREADS;
"""

ATTENTION = """
# FlashAttention-style tiles: query rows Br, key columns Bc, head dimension 128, 16-bit, 227 KiB
var Br, Bc in [16, 32, 64, 128, 256];
var WARPS in [1, 2, 4, 8, 16];
var STAGES in 1..3;
var KSPLIT in [1, 2, 4];
Br % (16 * WARPS) == 0;
Bc % (16 * KSPLIT) == 0;
(Br * 128 + 2 * Bc * 128 * STAGES) * 2 + Br * Bc * 4 // KSPLIT <= 227 * 1024;
WARPS * 32 <= 512;
Br * Bc // (WARPS * 32) <= 256;            # accumulators per thread
maximize Br * Bc, STAGES, -WARPS;
"""

RNN = """
# a persistent recurrent kernel: 768 hidden units over at most 132 blocks, recurrent weights
# (4 gates, 16-bit) held in registers, batch tiles of h and the gates in shared memory
var NSLICE in 1..132;
var U in 1..768;
var BT in [8, 16, 32];
var WARPS in [4, 8, 16];
var KT in [16, 32, 64];
U * NSLICE == 768;
4 * U * 768 * 2 // (WARPS * 32 * 4) <= 112;
(BT * 768 * 2 + 4 * U * BT * 4) * 2 <= 227 * 1024;
768 % KT == 0;
KT * WARPS <= 768;
U % 4 == 0;
maximize NSLICE, BT, -WARPS, KT;
"""


def problems() -> list[tuple[str, str]]:
    matmul = (ROOT / "examples" / "matmul_tiling.cint").read_text()
    return [
        ("matmul (examples/matmul_tiling.cint)", matmul),
        ("gemm chain (examples/gemm_chain.cint)", (ROOT / "examples" / "gemm_chain.cint").read_text()),
        ("conv2d tile", CONV2D),
        ("attention tiles", ATTENTION),
        ("persistent RNN", RNN),
    ]


def time_constrint(text: str) -> tuple[float, object]:
    m = ci.loads(text)
    t0 = time.perf_counter()
    r = m.solve()
    dt = time.perf_counter() - t0
    assert r.status is ci.Status.OPTIMAL, r.status
    return dt, r.objective


def time_cpsat(text: str, workers: int) -> tuple[float, object]:
    from cpsat import CpSatModel

    cp = CpSatModel(ci.loads(text), workers=workers)
    _values, objective, seconds = cp.solve()
    return seconds, objective


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=7)
    ap.add_argument("--workers", type=int, default=1, help="CP-SAT search workers (default 1)")
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    import ortools

    rows = []
    ok = True
    print(f"python {platform.python_version()}, constrint {ci.__version__}, OR-Tools {ortools.__version__}, "
          f"{platform.machine()}, CP-SAT workers {args.workers}")
    print(f"{'model':38s} {'vars':>4s} {'constrint ms':>13s} {'CP-SAT ms':>10s} {'ratio':>6s}  objective")
    for name, text in problems():
        time_constrint(text)
        time_cpsat(text, args.workers)
        ct, st = [], []
        for _ in range(args.repeat):
            a, obj_c = time_constrint(text)
            b, obj_s = time_cpsat(text, args.workers)
            ct.append(a)
            st.append(b)
        same = obj_c == obj_s
        ok &= same
        c_ms, s_ms = 1e3 * statistics.median(ct), 1e3 * statistics.median(st)
        nvars = len(ci.loads(text).variables)
        print(f"{name:38s} {nvars:4d} {c_ms:13.1f} {s_ms:10.1f} {c_ms / s_ms:6.2f}  {obj_c}"
              + ("" if same else f"  CP-SAT: {obj_s}  DIFFERENT"))
        rows.append({"model": name, "variables": nvars, "constrint_ms": c_ms, "cpsat_ms": s_ms,
                     "ratio": c_ms / s_ms, "objective": repr(obj_c), "cpsat_objective": repr(obj_s)})
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
