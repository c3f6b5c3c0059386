"""Search-space enumeration: constrint vs python-constraint2 on the T1 auto-tuning search spaces.

    python benchmarks/searchspaces.py [--spaces DIR] [--repeat 3] [--json OUT.json] [--no-memory]

For every T1 file in ``--spaces`` (default: ``examples/searchspaces`` in the repository),
one process builds and enumerates the space

* with constrint: ``load_t1(decoded JSON)`` then ``Model.solutions_array()`` (both timed), and
* with python-constraint2 the way Kernel Tuner does it:
  ``Problem(OptimizedBacktrackingSolver(forwardcheck=False))``, ``addVariable(name, values)`` per
  parameter in file order, ``addConstraint(<Expression string>)`` per condition, then
  ``getSolutionsAsListDict(order=names)`` (construction + constraint parsing + enumeration timed).

Not timed for either: reading and decoding the JSON file. The parameter value lists handed to
python-constraint2 are evaluated beforehand with constrint's T1 ``Values`` reader (no ``eval``),
outside its timing; constrint evaluates them inside ``load_t1``, i.e. inside its own timing.

Every space is first run once by each solver as a warm-up (these first-call times include lazy
imports and are reported separately), then ``--repeat`` times more, the two solvers alternating;
each run builds a fresh model / problem after a ``gc.collect()``. The table gives min and median.
Both solution counts are checked against ``expected.json``. A separate pass (not timed) measures
the tracemalloc peak of ``solutions_array`` against the size of the returned array.

Two synthetic spaces show ``Model.count()`` without enumeration: one of 8.05e11 points and no
conditions (the shape of BAT's FFT space, which is not in the set), and one whose conditions
split into independent groups (counted group by group); their exact counts are computed here
independently (products, and brute force per group with plain Python predicates).

The exit status is 1 when a count is wrong, else 0 (speed and memory targets are reported only).
"""
from __future__ import annotations

import argparse
import gc
import itertools
import json
import math
import os
import platform
import statistics
import subprocess
import sys
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402

import constrint  # noqa: E402
from constrint.t1 import evaluate_values  # noqa: E402

DEFAULT_SPACES = ROOT / "examples" / "searchspaces"

#: Speed and memory targets (checked and reported, never enforced by the exit status).
TARGET_TOTAL_RATIO = 0.5
TARGET_MAX_RATIO = 1.5
TARGET_MEMORY_RATIO = 2.0
TARGET_COUNT_SECONDS = 0.1


# ====================================================================== spaces


def read_spaces(folder: Path) -> tuple[list[tuple[str, dict]], dict[str, int]]:
    """The decoded T1 files of ``folder`` (order of ``expected.json``, then the rest) and the counts."""
    exp_path = folder / "expected.json"
    expected: dict[str, int] = json.loads(exp_path.read_text()) if exp_path.exists() else {}
    files = sorted(p.name for p in folder.glob("*.json") if p.name != "expected.json")
    order = [f for f in expected if f in files] + [f for f in files if f not in expected]
    spaces = []
    for name in order:
        with open(folder / name, "rb") as f:
            spaces.append((name, json.loads(f.read().decode("utf-8-sig"))))
    return spaces, expected


def parameters(data: dict) -> tuple[list[str], list[list[Any]], list[str]]:
    """Names, evaluated value lists and condition expressions of a decoded T1 space."""
    cs = data["ConfigurationSpace"]
    names, values = [], []
    for tp in cs["TuningParameters"]:
        names.append(tp["Name"])
        v = tp["Values"]
        values.append(evaluate_values(v) if isinstance(v, str) else list(v))
    conds = [c["Expression"] for c in cs.get("Conditions") or []]
    return names, values, conds


def cartesian_size(values: list[list[Any]]) -> int:
    return math.prod(len(v) for v in values)


# ====================================================================== the two solvers


def _load_then(data: dict, work: Callable[[Any], Any]) -> tuple[float, float, Any]:
    """(load_t1 seconds, seconds of ``work(model)``, its result) of one fresh build."""
    gc.collect()
    t0 = time.perf_counter()
    model = constrint.load_t1(data)
    t1 = time.perf_counter()
    result = work(model)
    t2 = time.perf_counter()
    return t1 - t0, t2 - t1, result


def run_constrint(data: dict) -> tuple[float, float, int]:
    """(load_t1 seconds, solutions_array seconds, number of rows) of one fresh build."""
    load_s, solve_s, arr = _load_then(data, lambda model: model.solutions_array())
    return load_s, solve_s, int(arr.shape[0])


def run_pc2(names: list[str], values: list[list[Any]], conds: list[str]) -> tuple[float, int]:
    """(seconds, number of solutions) of python-constraint2 used as Kernel Tuner uses it."""
    from constraint import OptimizedBacktrackingSolver, Problem

    gc.collect()
    t0 = time.perf_counter()
    problem = Problem(OptimizedBacktrackingSolver(forwardcheck=False))
    for name, vals in zip(names, values):
        problem.addVariable(name, vals)
    for expr in conds:
        problem.addConstraint(expr)
    sols, _index, _size = problem.getSolutionsAsListDict(order=names)
    t1 = time.perf_counter()
    n = len(sols)
    del sols, _index, problem
    return t1 - t0, n


def constrint_memory(data: dict) -> tuple[int, int, int]:
    """(tracemalloc peak bytes during solutions_array, array bytes, rows); the model is built first."""
    model = constrint.load_t1(data)
    gc.collect()
    tracemalloc.start()
    tracemalloc.reset_peak()
    arr = model.solutions_array()
    _cur, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return peak, int(arr.nbytes), int(arr.shape[0])


# ====================================================================== counting without listing


def _t1(params: list[tuple[str, str]], conds: list[str] = ()) -> dict:
    return {
        "ConfigurationSpace": {
            "TuningParameters": [{"Name": n, "Type": "int", "Values": v} for n, v in params],
            "Conditions": [{"Parameters": [], "Expression": e} for e in conds],
        }
    }


def _brute(values: list[range | list[int]], pred: Callable[..., bool]) -> int:
    return sum(1 for combo in itertools.product(*values) if pred(*combo))


def synthetic_spaces() -> list[dict[str, Any]]:
    """Spaces too large to enumerate, with their exact counts computed independently here."""
    fft_params = [
        ("a", "list(range(1, 4097))"),
        ("b", "list(range(1, 4097))"),
        ("c", "list(range(1, 1001))"),
        ("d", "[2**i for i in range(0, 12)]"),
        ("e", "[1, 2, 4, 8]"),
    ]
    fft_sizes = [4096, 4096, 1000, 12, 4]
    # independent groups: {a, b}, {c, d}, {e, f}, and g free
    A = range(1, 1025)
    C = range(1, 513)
    E = [2**i for i in range(11)]
    F = range(1, 2049)
    G = range(1, 101)
    groups_params = [
        ("a", "list(range(1, 1025))"),
        ("b", "list(range(1, 1025))"),
        ("c", "list(range(1, 513))"),
        ("d", "list(range(1, 513))"),
        ("e", "[2**i for i in range(11)]"),
        ("f", "list(range(1, 2049))"),
        ("g", "list(range(1, 101))"),
    ]
    groups_conds = [
        "32 <= a * b <= 4096",
        "c % d == 0 and c // d != 3",
        "f % e == 0 and f // e >= 4",
        "a != b or a % 2 == 0",
    ]
    groups_expected = (
        _brute([A, A], lambda a, b: 32 <= a * b <= 4096 and (a != b or a % 2 == 0))
        * _brute([C, C], lambda c, d: c % d == 0 and c // d != 3)
        * _brute([E, F], lambda e, f: f % e == 0 and f // e >= 4)
        * len(G)
    )
    return [
        {
            "name": "synthetic FFT-like (5 params, no conditions)",
            "data": _t1(fft_params),
            "cartesian": math.prod(fft_sizes),
            "expected": math.prod(fft_sizes),
        },
        {
            "name": "synthetic 3 independent groups + 1 free",
            "data": _t1(groups_params, groups_conds),
            "cartesian": 1024 * 1024 * 512 * 512 * 11 * 2048 * 100,
            "expected": groups_expected,
        },
    ]


def run_count(data: dict) -> tuple[float, float, int]:
    """(load_t1 seconds, count seconds, count) of one fresh build."""
    return _load_then(data, lambda model: model.count())


# ====================================================================== reporting


def machine() -> dict[str, Any]:
    try:
        from importlib.metadata import version

        pc2 = version("python-constraint2")
    except Exception:
        pc2 = None
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True, check=False
        ).stdout.strip() or None
    except OSError:
        commit = None
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:
        usable = os.cpu_count()
    return {
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "cpus": os.cpu_count(),
        "cpus_usable": usable,
        "python": platform.python_version(),
        "numpy": np.__version__,
        "python_constraint2": pc2,
        "constrint": constrint.__version__,
        "git_commit": commit,
        "loadavg_1min_at_start": os.getloadavg()[0] if hasattr(os, "getloadavg") else None,
    }


def _fmt_s(x: float | None) -> str:
    if x is None:
        return "-"
    return f"{x:.4f}" if x < 10 else f"{x:.2f}"


def _fmt_int(n: int) -> str:
    return f"{n:.3g}" if n >= 10**10 else f"{n:,}"


def _table(header: list[str], rows: list[list[str]], right: set[int]) -> str:
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(header)]

    def line(cells):
        out = []
        for i, c in enumerate(cells):
            out.append(c.rjust(widths[i]) if i in right else c.ljust(widths[i]))
        return "| " + " | ".join(out) + " |"

    sep = "|" + "|".join(
        ("-" * (w + 1) + ":") if i in right else ("-" * (w + 2)) for i, w in enumerate(widths)
    ) + "|"
    return "\n".join([line(header), sep, *(line(r) for r in rows)])


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--spaces", type=Path, default=DEFAULT_SPACES, help="folder of T1 files + expected.json")
    ap.add_argument("--repeat", type=int, default=3, help="timed runs per space and solver (after 1 warm-up)")
    ap.add_argument("--json", type=Path, default=None, help="also write all measurements to this JSON file")
    ap.add_argument("--no-pc2", action="store_true", help="skip python-constraint2")
    ap.add_argument("--no-memory", action="store_true", help="skip the tracemalloc pass")
    args = ap.parse_args(argv)
    if args.repeat < 1:
        ap.error("--repeat must be at least 1")

    spaces, expected = read_spaces(args.spaces)
    if not spaces:
        ap.error(f"no T1 files in {args.spaces}")
    use_pc2 = not args.no_pc2
    if use_pc2:
        try:
            import constraint  # noqa: F401
        except ImportError:
            print("python-constraint2 is not installed (pip install -e .[bench]); running without it")
            use_pc2 = False

    info = machine()
    print(
        f"# {info['platform']}, {info['cpus_usable']} usable CPU(s); Python {info['python']}, "
        f"numpy {info['numpy']}, python-constraint2 {info['python_constraint2']}, "
        f"constrint {info['constrint']} ({info['git_commit']}); load average {info['loadavg_1min_at_start']}"
    )
    print(f"# spaces: {args.spaces}; 1 warm-up + {args.repeat} timed runs per space and solver\n")

    records = []
    ok = True
    for name, data in spaces:
        names, values, conds = parameters(data)
        rec: dict[str, Any] = {
            "space": name,
            "params": len(names),
            "conditions": len(conds),
            "cartesian": cartesian_size(values),
            "expected": expected.get(name),
        }
        # warm-up: first call of each in this process (lazy imports, caches)
        lw, ew, n_ci = run_constrint(data)
        rec["constrint_warmup_s"] = lw + ew
        if use_pc2:
            tw, n_pc = run_pc2(names, values, conds)
            rec["pc2_warmup_s"] = tw
        ci_load, ci_enum, ci_total, pc_total = [], [], [], []
        for _ in range(args.repeat):
            lt, et, n_ci = run_constrint(data)
            ci_load.append(lt)
            ci_enum.append(et)
            ci_total.append(lt + et)
            if use_pc2:
                t, n_pc = run_pc2(names, values, conds)
                pc_total.append(t)
        rec.update(
            constrint_count=n_ci,
            constrint_load_s=ci_load,
            constrint_enum_s=ci_enum,
            constrint_s=ci_total,
            constrint_min_s=min(ci_total),
            constrint_median_s=statistics.median(ci_total),
        )
        if use_pc2:
            rec.update(
                pc2_count=n_pc,
                pc2_s=pc_total,
                pc2_min_s=min(pc_total),
                pc2_median_s=statistics.median(pc_total),
                ratio=min(ci_total) / min(pc_total),
            )
        exp = rec["expected"]
        rec["constrint_exact"] = exp is None or n_ci == exp
        rec["pc2_exact"] = (exp is None or n_pc == exp) if use_pc2 else None
        if not rec["constrint_exact"] or rec["pc2_exact"] is False:
            ok = False
        if not args.no_memory:
            peak, nbytes, rows = constrint_memory(data)
            rec.update(peak_bytes=peak, array_bytes=nbytes, memory_ratio=peak / nbytes if nbytes else None)
        records.append(rec)

    # ---------------------------------------------------------------- enumeration table
    header = ["space", "Cartesian size", "valid", "exact", "constrint s (min / med)",
              "load + enum s (min)"]
    if use_pc2:
        header += ["pc2 s (min / med)", "ratio ci/pc2"]
    rows = []
    for r in records:
        exact = "yes" if r["constrint_exact"] and r["pc2_exact"] is not False else "NO"
        if r["expected"] is None:
            exact = "?"
        row = [
            r["space"].removesuffix(".json"),
            _fmt_int(r["cartesian"]),
            _fmt_int(r["constrint_count"]),
            exact,
            f"{_fmt_s(r['constrint_min_s'])} / {_fmt_s(r['constrint_median_s'])}",
            f"{_fmt_s(min(r['constrint_load_s']))} + {_fmt_s(min(r['constrint_enum_s']))}",
        ]
        if use_pc2:
            row += [f"{_fmt_s(r['pc2_min_s'])} / {_fmt_s(r['pc2_median_s'])}", f"{r['ratio']:.2f}"]
        rows.append(row)
    tot_ci_min = sum(r["constrint_min_s"] for r in records)
    tot_ci_med = sum(r["constrint_median_s"] for r in records)
    totals: dict[str, Any] = {"constrint_min_s": tot_ci_min, "constrint_median_s": tot_ci_med,
                              "constrint_warmup_s": sum(r["constrint_warmup_s"] for r in records)}
    trow = ["**total**", "", _fmt_int(sum(r["constrint_count"] for r in records)), "yes" if ok else "NO",
            f"{_fmt_s(tot_ci_min)} / {_fmt_s(tot_ci_med)}",
            f"{_fmt_s(sum(min(r['constrint_load_s']) for r in records))} + "
            f"{_fmt_s(sum(min(r['constrint_enum_s']) for r in records))}"]
    if use_pc2:
        tot_pc_min = sum(r["pc2_min_s"] for r in records)
        tot_pc_med = sum(r["pc2_median_s"] for r in records)
        totals.update(pc2_min_s=tot_pc_min, pc2_median_s=tot_pc_med, ratio=tot_ci_min / tot_pc_min,
                      pc2_warmup_s=sum(r["pc2_warmup_s"] for r in records))
        trow += [f"{_fmt_s(tot_pc_min)} / {_fmt_s(tot_pc_med)}", f"{tot_ci_min / tot_pc_min:.2f}"]
    rows.append(trow)
    print("Enumeration (all solutions; times in seconds, JSON decoding excluded)\n")
    print(_table(header, rows, right=set(range(1, len(header))) - {3}))
    warm = ("\nwarm-up run (first call in the process, not in the table): "
            f"constrint {totals['constrint_warmup_s']:.3f} s")
    if use_pc2:
        warm += f", python-constraint2 {totals['pc2_warmup_s']:.3f} s"
    print(warm + " in total")

    # ---------------------------------------------------------------- memory table
    if not args.no_memory:
        mrows = []
        for r in records:
            mrows.append([
                r["space"].removesuffix(".json"),
                _fmt_int(r["constrint_count"]),
                f"{r['array_bytes'] / 2**20:.2f}",
                f"{r['peak_bytes'] / 2**20:.2f}",
                f"{(r['peak_bytes'] - r['array_bytes']) / 2**20:.2f}",
                f"{r['memory_ratio']:.2f}" if r["memory_ratio"] else "-",
            ])
        print("\nMemory of constrint's solutions_array (tracemalloc peak; MiB)\n")
        print(_table(["space", "rows", "array MiB", "peak MiB", "peak - array MiB", "peak / array"],
                     mrows, right={1, 2, 3, 4, 5}))

    # ---------------------------------------------------------------- counting table
    count_records = []
    for sp in synthetic_spaces():
        run_count(sp["data"])  # warm-up
        loads, counts = [], []
        for _ in range(args.repeat):
            lt, ct, n = run_count(sp["data"])
            loads.append(lt)
            counts.append(ct)
        exact = n == sp["expected"]
        ok = ok and exact
        count_records.append({
            "space": sp["name"], "cartesian": sp["cartesian"], "count": n, "expected": sp["expected"],
            "exact": exact, "load_s": loads, "count_s": counts,
            "load_min_s": min(loads), "count_min_s": min(counts),
            "count_median_s": statistics.median(counts),
        })
    crows = [[c["space"], _fmt_int(c["cartesian"]), f"{c['count']:,}", "yes" if c["exact"] else "NO",
              _fmt_s(c["load_min_s"]), f"{_fmt_s(c['count_min_s'])} / {_fmt_s(c['count_median_s'])}",
              "not run (would list every point)" if use_pc2 else "-"]
             for c in count_records]
    print("\nCounting without listing (Model.count(); python-constraint2 has no counting mode)\n")
    print(_table(["space", "Cartesian size", "count", "exact", "load_t1 s (min)",
                  "count() s (min / med)", "pc2"], crows, right={1, 2, 4, 5}))

    # ---------------------------------------------------------------- targets
    targets: dict[str, Any] = {"counts_exact": ok}
    print("\nTargets")
    print(f"  every count exact: {'yes' if ok else 'NO'}")
    if use_pc2:
        worst = max(records, key=lambda r: r["ratio"])
        targets["total_ratio"] = totals["ratio"]
        targets["max_ratio"] = worst["ratio"]
        targets["max_ratio_space"] = worst["space"]
        print(f"  total constrint / pc2 = {totals['ratio']:.3f} (target <= {TARGET_TOTAL_RATIO}): "
              f"{'met' if totals['ratio'] <= TARGET_TOTAL_RATIO else 'MISSED'}")
        print(f"  worst single space: {worst['space']} at {worst['ratio']:.2f} x pc2 (target <= "
              f"{TARGET_MAX_RATIO}): {'met' if worst['ratio'] <= TARGET_MAX_RATIO else 'MISSED'}")
    if not args.no_memory:
        mw = max(records, key=lambda r: r["memory_ratio"] or 0)
        targets["max_memory_ratio"] = mw["memory_ratio"]
        targets["max_memory_ratio_space"] = mw["space"]
        print(f"  largest peak / array: {mw['space']} at {mw['memory_ratio']:.2f} (target <= about "
              f"{TARGET_MEMORY_RATIO}; array {mw['array_bytes'] / 2**20:.2f} MiB)")
    fft = count_records[0]
    targets["count_huge_s"] = fft["count_min_s"]
    print(f"  count() of {_fmt_int(fft['cartesian'])} points: {fft['count_min_s'] * 1e3:.2f} ms "
          f"(load_t1 {fft['load_min_s'] * 1e3:.2f} ms; target < {TARGET_COUNT_SECONDS * 1e3:.0f} ms): "
          f"{'met' if fft['count_min_s'] + fft['load_min_s'] < TARGET_COUNT_SECONDS else 'MISSED'}")

    if args.json:
        out = {"machine": info, "command": " ".join([Path(sys.argv[0]).name, *(argv or sys.argv[1:])]),
               "repeat": args.repeat, "spaces": records, "totals": totals, "count": count_records,
               "targets": targets}
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(out, indent=2, default=str) + "\n")
        print(f"\nwrote {args.json}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
