"""Counting against listing: ``Model.count()`` against iterating ``Model.solutions()`` and
against ``Model.solutions_array()``, on the same models in the same run.

    PYTHONPATH=. python benchmarks/counting.py [--budget S]

Each model is built fresh for every call; times are the minimum of three calls (one call where a
call takes over a second). A listing whose time would pass ``--budget`` seconds (default 60) is
not run (shown as "-"); its count of solutions says why.
"""
from __future__ import annotations

import argparse
import math
import time
from pathlib import Path

import constrint as ci

SPACES = Path(__file__).resolve().parents[1] / "examples" / "searchspaces"


def binaries(n: int, k: int) -> ci.Model:
    m = ci.Model()
    xs = [m.int_var(f"x{i}", 0, 1) for i in range(n)]
    m += ci.sum_(xs) == k
    return m


def digits(n: int, total: int) -> ci.Model:
    m = ci.Model()
    xs = [m.int_var(f"x{i}", 0, 9) for i in range(n)]
    m += ci.sum_(xs) == total
    m += xs[0] + 2 * xs[1] >= 5
    return m


def t1(name: str):
    return lambda: ci.load_t1(SPACES / name)


MODELS = [
    ("20 binaries, sum == 3", lambda: binaries(20, 3)),
    ("28 binaries, sum == 3", lambda: binaries(28, 3)),
    ("34 binaries, sum == 3", lambda: binaries(34, 3)),
    ("400 binaries, sum == 3", lambda: binaries(400, 3)),
    ("60 binaries, sum == 30", lambda: binaries(60, 30)),
    ("80 digits, sum == 100, x0 + 2 x1 >= 5", lambda: digits(80, 100)),
    ("T1 bat_hotspot", t1("bat_hotspot.json")),
    ("T1 hub_gemm_milo", t1("hub_gemm_milo.json")),
]


def best(fn, build) -> tuple[float, object]:
    times, out = [], None
    for _ in range(3):
        m = build()
        t = time.perf_counter()
        out = fn(m)
        times.append(time.perf_counter() - t)
        if times[-1] > 1.0:
            break
    return min(times), out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--budget", type=float, default=60.0, help="skip listings expected to take longer")
    args = ap.parse_args()
    print("| model | solutions | count() s | solutions() s | solutions_array() s | count / fastest listing |")
    print("|---|---:|---:|---:|---:|---:|")
    for name, build in MODELS:
        t_count, n = best(lambda m: m.count(), build)
        per_row = 2e-5  # a lower bound of the time per listed row
        listing = n * per_row <= args.budget
        t_iter = best(lambda m: sum(1 for _ in m.solutions()), build)[0] if listing else math.nan
        t_arr = best(lambda m: len(m.solutions_array()), build)[0] if listing else math.nan
        fastest = min(t_iter, t_arr)

        def cell(x):
            return "-" if math.isnan(x) else f"{x:.4f}"

        ratio = "-" if math.isnan(fastest) else f"{t_count / fastest:.3f}"
        print(f"| {name} | {n:,} | {t_count:.4f} | {cell(t_iter)} | {cell(t_arr)} | {ratio} |")


if __name__ == "__main__":
    main()
