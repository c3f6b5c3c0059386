"""Global constraints and the python-constraint front door: constrint against python-constraint2
and OR-Tools CP-SAT, counting every solution of the same problems.

    python benchmarks/modelling.py [--repeat 3] [--limit 300] [--workers 2] [--spaces DIR] [--json OUT]

Problems (all solutions are counted; the counts must agree, else the exit status is 1):

* N-queens, n = 8..12: constrint with three ``all_different`` (columns, both diagonals);
  python-constraint2 with ``AllDifferentConstraint`` on the columns and a function per pair of
  queens for the diagonals (its usual formulation); CP-SAT with ``AddAllDifferent`` on the three
  lists of expressions.
* 4x4 magic squares (7,040 squares): ``all_different`` of the 16 cells and 10 sums of 34;
  python-constraint2 with ``AllDifferentConstraint`` and ``ExactSumConstraint``.
* A table-heavy model: six variables (0..29) and four allowed-tuple tables of 600 random rows
  each (seeded) over overlapping triples, plus a sum bound; python-constraint2 with a set
  membership function per table, CP-SAT with ``AddAllowedAssignments``.
* A Kernel Tuner search space (``hub_hotspot_milo.json`` from ``--spaces``) written through the
  python-constraint API: ``Problem``, ``addVariable``, restriction strings, then
  ``getSolutionsAsListDict``: the same code runs on python-constraint2 (``import constraint``)
  and on ``constrint.compat.python_constraint``; CP-SAT gets the model constrint builds.

CP-SAT counts by enumerating all solutions with one worker (its enumeration requires one). Each
solver runs each problem once as a warm-up, then ``--repeat`` times; the table gives the median
time of the whole call (building included for the python-constraint API rows). A run longer
than ``--limit`` seconds is stopped (in a separate process) and shown as ``>limit``. The last
column is constrint's count with ``workers=--workers`` processes.
"""
from __future__ import annotations

import argparse
import itertools
import json
import multiprocessing
import platform
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy as np  # noqa: E402

import constrint as ci  # noqa: E402
from constrint import global_constraints as g  # noqa: E402

DEFAULT_SPACES = ROOT / "examples" / "searchspaces"

# ====================================================================== problems


def queens_constrint(n: int) -> ci.Model:
    m = ci.Model()
    q = [m.int_var(f"q{i}", 0, n - 1) for i in range(n)]
    m += g.all_different(q)
    m += g.all_different(q[i] + i for i in range(n))
    m += g.all_different(q[i] - i for i in range(n))
    return m


def queens_pc2(n: int):
    import constraint

    p = constraint.Problem()
    cols = list(range(n))
    p.addVariables(cols, range(n))
    p.addConstraint(constraint.AllDifferentConstraint())
    for a, b in itertools.combinations(cols, 2):
        p.addConstraint(lambda x, y, d=b - a: abs(x - y) != d, (a, b))
    return p


def queens_cpsat(n: int):
    from ortools.sat.python import cp_model

    md = cp_model.CpModel()
    q = [md.NewIntVar(0, n - 1, f"q{i}") for i in range(n)]
    md.AddAllDifferent(q)
    md.AddAllDifferent([q[i] + i for i in range(n)])
    md.AddAllDifferent([q[i] - i for i in range(n)])
    return md


def _magic_lines(n: int) -> list[list[tuple[int, int]]]:
    lines = [[(i, j) for j in range(n)] for i in range(n)] + [[(j, i) for j in range(n)] for i in range(n)]
    lines += [[(i, i) for i in range(n)], [(i, n - 1 - i) for i in range(n)]]
    return lines


def magic_constrint(n: int = 4) -> ci.Model:
    s = n * (n * n + 1) // 2
    m = ci.Model()
    c = {(i, j): m.int_var(f"c{i}{j}", 1, n * n) for i in range(n) for j in range(n)}
    m += g.all_different(c.values())
    for line in _magic_lines(n):
        m += ci.sum_(c[p] for p in line) == s
    return m


def magic_pc2(n: int = 4):
    import constraint

    s = n * (n * n + 1) // 2
    p = constraint.Problem()
    names = {(i, j): f"c{i}{j}" for i in range(n) for j in range(n)}
    p.addVariables(list(names.values()), range(1, n * n + 1))
    p.addConstraint(constraint.AllDifferentConstraint())
    for line in _magic_lines(n):
        p.addConstraint(constraint.ExactSumConstraint(s), [names[q] for q in line])
    return p


def magic_cpsat(n: int = 4):
    from ortools.sat.python import cp_model

    s = n * (n * n + 1) // 2
    md = cp_model.CpModel()
    c = {(i, j): md.NewIntVar(1, n * n, f"c{i}{j}") for i in range(n) for j in range(n)}
    md.AddAllDifferent(list(c.values()))
    for line in _magic_lines(n):
        md.Add(sum(c[p] for p in line) == s)
    return md


TABLE_SCOPES = [(0, 1, 2), (1, 2, 3), (2, 3, 4), (3, 4, 5)]


def _tables() -> list[np.ndarray]:
    rng = np.random.default_rng(2024)
    return [rng.integers(0, 30, size=(600, 3)) for _ in TABLE_SCOPES]


def table_constrint() -> ci.Model:
    m = ci.Model()
    x = [m.int_var(f"x{i}", 0, 29) for i in range(6)]
    for scope, rows in zip(TABLE_SCOPES, _tables()):
        m += g.table([x[i] for i in scope], rows)
    m += ci.sum_(x) <= 100
    return m


def table_pc2():
    import constraint

    p = constraint.Problem()
    names = [f"x{i}" for i in range(6)]
    p.addVariables(names, range(30))
    for scope, rows in zip(TABLE_SCOPES, _tables()):
        allowed = {tuple(int(v) for v in r) for r in rows}
        p.addConstraint(lambda a, b, c, allowed=allowed: (a, b, c) in allowed, [names[i] for i in scope])
    p.addConstraint(constraint.MaxSumConstraint(100))
    return p


def table_cpsat():
    from ortools.sat.python import cp_model

    md = cp_model.CpModel()
    x = [md.NewIntVar(0, 29, f"x{i}") for i in range(6)]
    for scope, rows in zip(TABLE_SCOPES, _tables()):
        md.AddAllowedAssignments([x[i] for i in scope], rows.tolist())
    md.Add(sum(x) <= 100)
    return md


def kernel_tuner_problem(mod, space: dict):
    """A Kernel Tuner-style python-constraint problem from a T1 space (same code, either module)."""
    from constrint.t1 import evaluate_values

    cs = space["ConfigurationSpace"]
    p = mod.Problem()
    names = []
    for tp in cs["TuningParameters"]:
        v = tp["Values"]
        p.addVariable(tp["Name"], evaluate_values(v) if isinstance(v, str) else list(v))
        names.append(tp["Name"])
    for c in cs.get("Conditions") or []:
        p.addConstraint(c["Expression"])
    return p, names


# ====================================================================== running


def cpsat_count(md) -> int:
    from cpsat import count_solutions

    return count_solutions(md)


def _child(conn, fn, arg):
    t0 = time.perf_counter()
    n = fn(arg)
    conn.send((n, time.perf_counter() - t0))


def timed(fn, arg, limit: float) -> tuple[int | None, float | None]:
    """(result, seconds) of ``fn(arg)`` in a separate process; (None, None) past ``limit``."""
    ctx = multiprocessing.get_context("fork")
    a, b = ctx.Pipe()
    proc = ctx.Process(target=_child, args=(b, fn, arg))
    proc.start()
    if a.poll(limit):
        n, secs = a.recv()
        proc.join()
        return n, secs
    proc.kill()
    proc.join()
    return None, None


def rows(spaces: Path) -> list[tuple[str, object, object, object, object]]:
    """(name, constrint count, python-constraint2 count, CP-SAT count, constrint with workers)."""
    out = []
    for n in range(8, 13):
        out.append((f"{n}-queens", lambda n: queens_constrint(n).count(), lambda n: len(queens_pc2(n).getSolutions()),
                    lambda n: cpsat_count(queens_cpsat(n)), n))
    out.append(("4x4 magic squares", lambda _: magic_constrint().count(), lambda _: len(magic_pc2().getSolutions()),
                lambda _: cpsat_count(magic_cpsat()), None))
    out.append(("table-heavy (4 x 600 rows)", lambda _: table_constrint().count(),
                lambda _: len(table_pc2().getSolutions()), lambda _: cpsat_count(table_cpsat()), None))
    path = spaces / "hub_hotspot_milo.json"
    if path.is_file():
        space = json.loads(path.read_text())

        def kt_ours(_):
            import constrint.compat.python_constraint as ours

            p, names = kernel_tuner_problem(ours, space)
            return p.getSolutionsAsListDict(order=names)[2]

        def kt_theirs(_):
            import constraint

            p, names = kernel_tuner_problem(constraint, space)
            return p.getSolutionsAsListDict(order=names)[2]

        def kt_cpsat(_):
            from cpsat import CpSatModel

            import constrint.compat.python_constraint as ours

            p, _names = kernel_tuner_problem(ours, space)
            return CpSatModel(p.model()[0]).count()[0]

        out.append(("Kernel Tuner space (hotspot, compat)", kt_ours, kt_theirs, kt_cpsat, None))
    return out


#: The models counted again with workers (the Kernel Tuner row goes through the compat layer).
PARALLEL = {
    "queens": queens_constrint,
    "4x4": lambda _: magic_constrint(),
    "table-heavy": lambda _: table_constrint(),
}


def _fmt(t: float | None, limit: float) -> str:
    return f">{limit:.0f}" if t is None else f"{t:.3f}"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--limit", type=float, default=300.0, help="seconds before a run is stopped")
    ap.add_argument("--workers", type=int, default=2, help="processes for the last column")
    ap.add_argument("--spaces", type=Path, default=DEFAULT_SPACES)
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    import constraint
    import ortools

    print(f"python {platform.python_version()}, constrint {ci.__version__}, python-constraint2 "
          f"{getattr(constraint, '__version__', '2.9.0')}, OR-Tools {ortools.__version__}, {platform.machine()}")
    head = (f"{'problem':38s} {'count':>8s} {'constrint s':>11s} {'pc2 s':>9s} {'CP-SAT s':>9s} "
            f"{'/pc2':>7s} {'/CP-SAT':>7s} {'workers s':>9s}")
    print(head)
    ok = True
    table = []
    for name, ours, theirs, cpsat, arg in rows(args.spaces):
        results = {}
        for key, fn in (("constrint", ours), ("pc2", theirs), ("cpsat", cpsat)):
            times, count = [], None
            for k in range(args.repeat + 1):
                n, secs = timed(fn, arg, args.limit)
                if n is None:
                    times = [None]
                    break
                count = n
                if k:  # the first run is the warm-up
                    times.append(secs)
            results[key] = (count, None if None in times else statistics.median(times))
        par_count, par_t = None, None
        build = PARALLEL.get(name.split(" ")[0] if arg is None else "queens")
        if build is not None:
            par_count, par_t = timed(lambda a, build=build: build(a).count(workers=args.workers), arg, args.limit)
        counts = {k: v[0] for k, v in results.items() if v[0] is not None}
        if par_count is not None:
            counts["workers"] = par_count
        same = len(set(counts.values())) == 1
        ok &= same
        c, p, s = results["constrint"][1], results["pc2"][1], results["cpsat"][1]
        ratio_p = f"{c / p:.3f}" if c and p else "-"
        ratio_s = f"{c / s:.2f}" if c and s else "-"
        shown = results["constrint"][0]
        print(f"{name:38s} {shown!s:>8s} {_fmt(c, args.limit):>11s} {_fmt(p, args.limit):>9s} "
              f"{_fmt(s, args.limit):>9s} {ratio_p:>7s} {ratio_s:>7s} "
              f"{_fmt(par_t, args.limit) if build is not None else '-':>9s}"
              + ("" if same else f"  COUNTS DIFFER {counts}"))
        table.append({"problem": name, "counts": counts, "constrint_s": c, "pc2_s": p, "cpsat_s": s,
                      "constrint_workers_s": par_t, "workers": args.workers})
    if args.json:
        args.json.write_text(json.dumps(table, indent=2))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
