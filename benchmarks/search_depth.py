"""A deep search: ``solve()`` of ``x0 + ... + x{n-1} == 2`` over n binaries.

    PYTHONPATH=. python benchmarks/search_depth.py [--sizes 1000,4000,10000,100000] [--budget S]

With ascending values the search sets x0, x1, ... to 0 one level at a time, n levels deep, so
any work per node that grows with the model makes the solve quadratic. Times are the minimum of
three solves of fresh models (one where a solve takes over a second); a size is not run where
the last one measured, scaled by the square of the size ratio, would pass ``--budget`` seconds
(default 60). Peak memory is the process's maximum resident size after that size (sizes run in
increasing order).
"""
from __future__ import annotations

import argparse
import resource
import time

import constrint as ci


def model(n: int) -> ci.Model:
    m = ci.Model()
    xs = [m.int_var(f"x{i}", 0, 1) for i in range(n)]
    m += ci.sum_(xs) == 2
    return m


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="1000,4000,10000,100000", help="comma-separated n")
    ap.add_argument("--budget", type=float, default=60.0, help="skip sizes expected to take longer")
    args = ap.parse_args()
    print("| binaries | nodes | build s | solve s | peak RSS MB |")
    print("|---:|---:|---:|---:|---:|")
    last = None
    for n in sorted(int(s) for s in args.sizes.split(",")):
        if last is not None and last[1] * (n / last[0]) ** 2 > args.budget:
            print(f"| {n:,} | - | - | - | - |")
            continue
        times = []
        for _ in range(3):
            t0 = time.perf_counter()
            m = model(n)
            t1 = time.perf_counter()
            r = m.solve()
            times.append(time.perf_counter() - t1)
            if r.status is not ci.Status.FEASIBLE:
                raise SystemExit(f"n={n}: {r.status}")
            if times[-1] > 1.0:
                break
        last = (n, min(times))
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024
        print(f"| {n:,} | {r.nodes:,} | {t1 - t0:.2f} | {min(times):.3f} | {rss} |")


if __name__ == "__main__":
    main()
