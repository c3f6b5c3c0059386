"""Does counting take longer in a fresh process than after a large allocation?

    python benchmarks/process_history.py [--spaces DIR] [--repeat 7] [--processes 3]

For every T1 space in ``--spaces`` (default ``examples/searchspaces``) and for two process
histories, ``--processes`` fresh Python processes each load the space, count once untimed
(imports, caches) and then ``--repeat`` times timed, recording the minor page faults of the
timed counts. History "fresh": nothing else happened. History "after 16 MiB": the process
first allocated and freed one 16 MiB numpy array (glibc then serves larger blocks from its heap).
The table gives the median count time over all timed counts, the faults per count, and the
ratio fresh / after: near 1 when the run time does not depend on the process's history.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_SPACES = ROOT / "examples" / "searchspaces"

CHILD = r"""
import json, resource, sys, time
import numpy as np
if sys.argv[2] == "after":
    block = np.ones(2 * 1024 * 1024)  # 16 MiB, touched, then freed
    del block
import constrint as ci
m = ci.load_t1(json.load(open(sys.argv[1], "rb")))
m.count()
times, faults = [], []
for _ in range(int(sys.argv[3])):
    f0 = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    t0 = time.perf_counter()
    m.count()
    times.append(time.perf_counter() - t0)
    faults.append(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - f0)
print(json.dumps([times, faults]))
"""


def run(path: Path, history: str, repeat: int) -> tuple[list[float], list[int]]:
    env = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    out = subprocess.run(
        [sys.executable, "-c", CHILD, str(path), history, str(repeat)],
        capture_output=True, text=True, env=env, check=True,
    ).stdout
    times, faults = json.loads(out)
    return times, faults


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--spaces", type=Path, default=DEFAULT_SPACES)
    ap.add_argument("--repeat", type=int, default=7)
    ap.add_argument("--processes", type=int, default=3)
    args = ap.parse_args()
    files = sorted(p for p in args.spaces.glob("*.json") if p.name != "expected.json")
    print(f"{'space':34s} {'fresh ms':>9s} {'faults':>7s} {'after ms':>9s} {'faults':>7s} {'ratio':>6s}")
    for path in files:
        res = {}
        for history in ("fresh", "after"):
            times, faults = [], []
            for _ in range(args.processes):
                t, f = run(path, history, args.repeat)
                times += t
                faults += f
            res[history] = (1e3 * statistics.median(times), statistics.median(faults))
        (tf, ff), (ta, fa) = res["fresh"], res["after"]
        print(f"{path.name:34s} {tf:9.2f} {ff:7.0f} {ta:9.2f} {fa:7.0f} {tf / ta:6.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
