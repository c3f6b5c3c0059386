"""The ``constrint`` command line, called as a subprocess."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"
MALFORMED = Path(__file__).resolve().parent / "malformed"
SPACES = ROOT / "examples" / "searchspaces"


def run(*args: str, timeout: float = 60, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "constrint.cli", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=cwd or ROOT,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )


@pytest.fixture
def cint(tmp_path):
    def write(text: str, name: str = "m.cint") -> Path:
        p = tmp_path / name
        p.write_text(text)
        return p

    return write


# ---------------------------------------------------------------------------- solve


def test_solve_optimum_of_the_matmul_example():
    r = run("solve", EXAMPLES / "matmul_tiling.cint")
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0] == "status: optimal"
    assert lines[1] == "objective: (65536, 16)"
    values = dict(line.split(" = ") for line in lines[2:])
    assert values["BM"] == "256" and values["BN"] == "256" and values["BK"] == "16"


def test_solve_json_and_objective_override(cint):
    p = cint("var x in 1..10; var y in 1..10; x + y <= 12; x % 3 == 0;")
    r = run("solve", p, "--maximize", "x * y", "--json")
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["status"] == "optimal" and out["objective"] == 36
    assert out["solution"] == {"x": 6, "y": 6}
    r = run("solve", p, "--minimize", "y, -x", "--json")
    out = json.loads(r.stdout)
    assert out["objective"] == [1, -9] and out["solution"] == {"x": 9, "y": 1}


def test_solve_all_limit_and_json(cint):
    p = cint("var x in 1..4; var y in [1, 2]; x > y;")
    r = run("solve", p, "--all")
    assert r.returncode == 0
    assert sorted(r.stdout.splitlines()) == ["x=2 y=1", "x=3 y=1", "x=3 y=2", "x=4 y=1", "x=4 y=2"]
    assert "5 solutions" in r.stderr
    r = run("solve", p, "--limit", "2", "--json")
    out = json.loads(r.stdout)
    assert r.returncode == 0 and out["count"] == 2 and out["status"] == "limit"
    r = run("solve", p, "--all", "--json")
    out = json.loads(r.stdout)
    assert out["count"] == 5 and out["status"] == "complete" and len(out["solutions"]) == 5


def test_infeasible_exit_code(cint):
    p = cint("var x in 1..4; x > 4;")
    r = run("solve", p)
    assert r.returncode == 1 and "status: infeasible" in r.stdout and "no solution" in r.stderr
    r = run("solve", p, "--all", "--json")
    assert r.returncode == 1 and json.loads(r.stdout)["count"] == 0
    r = run("count", p)
    assert r.returncode == 1 and r.stdout.splitlines()[-1] == "0"


def test_t1_file_with_string_values_is_decoded(tmp_path):
    space = {
        "ConfigurationSpace": {
            "TuningParameters": [
                {"Name": "precision", "Type": "string", "Values": "['half', 'float']"},
                {"Name": "block", "Type": "int", "Values": "[2**i for i in range(4, 9)]"},
            ],
            "Conditions": [{"Expression": "precision == 'half' or block <= 64"}],
        }
    }
    p = tmp_path / "space.json"
    p.write_text(json.dumps(space))
    r = run("count", p)
    assert r.returncode == 0 and r.stdout.splitlines()[-1] == "8"
    r = run("solve", p, "--all", "--json")
    sols = json.loads(r.stdout)["solutions"]
    assert {s["precision"] for s in sols} == {"half", "float"}
    assert all(s["precision"] == "half" or s["block"] <= 64 for s in sols)


# ---------------------------------------------------------------------------- count, check


def test_count_t1_file():
    expected = json.loads((SPACES / "expected.json").read_text())
    r = run("count", SPACES / "hub_gemm_milo.json")
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines()[-1] == str(expected["hub_gemm_milo.json"])
    assert r.stderr == ""  # no progress line when stdout is not a terminal


def test_count_json_and_legacy_example():
    r = run("count", EXAMPLES / "legacy_flashrnn.cint", "--json")
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["status"] == "complete" and out["count"] > 0


def test_check_reports_domains(cint):
    p = cint("var x in 1..100; var t in [1, 2, 4, 8, 16]; x == 3 * t; minimize x;")
    r = run("check", p)
    assert r.returncode == 0, r.stderr
    assert "2 variables, 1 constraint, objective: minimize x" in r.stdout
    line = next(s for s in r.stdout.splitlines() if s.startswith("x "))
    assert "1..100 (100)" in line and "{3, 6, 12, 24, 48} (5)" in line
    assert "x == 3 * t" in r.stdout
    r = run("check", p, "--json")
    out = json.loads(r.stdout)
    assert out["infeasible"] is False
    assert {v["name"]: v["size"] for v in out["variables"]} == {"x": 5, "t": 5}
    p = cint("var x in 1..3; x > 5;", "inf.cint")
    r = run("check", p)
    assert r.returncode == 1 and "infeasible" in r.stdout


# ---------------------------------------------------------------------------- limits, interrupts

HARD = "var a in 1..4000; var b in 1..4000; var c in 1..50;\n(a * b + c) % 7919 == 1;\n"


def test_time_limit_exit_code(cint):
    p = cint(HARD)
    t = time.monotonic()
    r = run("count", p, "--time-limit", "0.5")
    assert r.returncode == 3, (r.stdout, r.stderr)
    assert "time limit" in r.stderr
    r = run("solve", p, "--all", "--time-limit", "0.5", "--json")
    assert r.returncode == 3
    assert json.loads(r.stdout)["status"] == "time_limit"
    assert time.monotonic() - t < 30


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
def test_ctrl_c_stops_cleanly(cint):
    p = cint("var x in 1..1000000; var y in 1..1000;")
    proc = subprocess.Popen(
        [sys.executable, "-m", "constrint.cli", "solve", str(p), "--all"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )
    # wait until solutions flow, then interrupt
    first = proc.stdout.readline()
    assert first.startswith("x=")
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 130
    assert "interrupted after" in err and "Traceback" not in err


# ---------------------------------------------------------------------------- bad usage, bad input


BAD_USAGE = [
    [],
    ["frobnicate", "x.cint"],
    ["solve", "EXAMPLE", "--limit", "0"],
    ["solve", "EXAMPLE", "--minimize", "BM", "--maximize", "BN"],
    ["solve", "EXAMPLE", "--minimize", "BM +"],
    ["solve", "EXAMPLE", "--maximize", "truediv(BM, 3)"],
    ["count", "does/not/exist.cint"],
    ["check", "examples"],
]


def run_many(arg_lists: list[list[str]]) -> list[subprocess.CompletedProcess]:
    with ThreadPoolExecutor(max_workers=4) as pool:
        return list(pool.map(lambda a: run(*a), arg_lists))


def test_bad_usage_exit_code_2():
    example = str(EXAMPLES / "matmul_tiling.cint")
    cases = [[example if a == "EXAMPLE" else a for a in args] for args in BAD_USAGE]
    for args, r in zip(cases, run_many(cases)):
        assert r.returncode == 2, (args, r.stdout, r.stderr)
        assert "Traceback" not in r.stderr, args
        assert 1 <= len(r.stderr.splitlines()) <= 25, args


MALFORMED_FILES = sorted(MALFORMED.iterdir())

# Runs the CLI's main() on every corpus file inside ONE fresh interpreter (one process per file
# would cost a second each on CI); the report goes to stdout as JSON, and anything an input
# managed to execute (such as 'echo hi') would show up on that process's real stdout.
_CORPUS_RUNNER = """
import contextlib, io, json, sys
from constrint.cli import main
report = {}
for path in sys.argv[1:]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            rc = main(["solve", path])
        except SystemExit as exc:
            rc = exc.code
        except BaseException as exc:
            rc = "raised " + type(exc).__name__ + ": " + str(exc)[:200]
    report[path] = [rc, out.getvalue(), err.getvalue()]
sys.stdout.write("REPORT" + json.dumps(report))
"""


@pytest.fixture(scope="module")
def malformed_results():
    r = subprocess.run(
        [sys.executable, "-c", _CORPUS_RUNNER, *map(str, MALFORMED_FILES)],
        capture_output=True, text=True, timeout=120, cwd=ROOT,
    )
    assert r.stdout.startswith("REPORT"), (r.stdout[:500], r.stderr[-2000:])
    report = json.loads(r.stdout[len("REPORT"):])
    return {Path(k).name: subprocess.CompletedProcess([], v[0], v[1], v[2]) for k, v in report.items()}


def test_corpus_is_there():
    names = {p.name for p in MALFORMED_FILES}
    assert len(names) >= 25
    assert {"empty.cint", "empty.json", "bad_json.json", "import_os_condition.json"} <= names


@pytest.mark.parametrize("name", [p.name for p in MALFORMED_FILES])
def test_malformed_input_exits_2_with_a_short_message(name, malformed_results):
    r = malformed_results[name]
    assert r.returncode == 2, (r.returncode, r.stdout, r.stderr)
    assert r.stdout == ""
    assert r.stderr.startswith("constrint: error: ")
    assert "Traceback" not in r.stderr
    assert 1 <= len(r.stderr.splitlines()) <= 25
    assert all(len(line) < 500 for line in r.stderr.splitlines())


SEPARATE = ["import_os_condition.json", "import_os_values.json", "unbalanced_paren.cint", "bad_json.json"]


def test_malformed_inputs_as_separate_processes():
    results = run_many([["solve", MALFORMED / name] for name in SEPARATE])
    for name, r in zip(SEPARATE, results):
        assert r.returncode == 2, (name, r.stdout, r.stderr)
        assert r.stdout == "", name
        assert "Traceback" not in r.stderr and len(r.stderr.splitlines()) <= 25, name
        # nothing in any input ever runs: the corpus tries 'echo hi' through Python
        assert "hi" not in r.stdout.split(), name
        assert not any(line.strip() == "hi" for line in r.stderr.splitlines()), name


def test_errors_point_at_the_place(malformed_results):
    err = malformed_results["unbalanced_paren.cint"].stderr.splitlines()
    assert err[0].endswith(
        "unbalanced_paren.cint:2:6: '(' is never closed (the statement ends at line 2, column 12)"
    )
    assert err[1].strip() == "x <= (3 + x;"
    assert err[2].index("^") == err[1].index("(")
    err = malformed_results["import_os_condition.json"].stderr
    assert "ConfigurationSpace.Conditions[0].Expression, column 1" in err
    assert "unsupported call" in err


def test_help():
    r = run("--help")
    assert r.returncode == 0
    for cmd in ("solve", "count", "check"):
        assert cmd in r.stdout


def test_progress_line_in_process(capsys):
    from constrint.cli import _Progress

    with _Progress("counting", enabled=True, delay=0.0) as prog:
        time.sleep(0.35)
        prog.write("42\n")
    out, err = capsys.readouterr()
    assert out == "42\n"
    assert "counting..." in err and err.endswith("\r\x1b[2K")
