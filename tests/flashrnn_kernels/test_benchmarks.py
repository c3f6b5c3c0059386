"""The RNN benchmarks without a GPU: rnn_speed.py's CSV handling (rows read back with numbers, bad
sweeps refused) and rnn_stack_speed.py run end to end on the CPU with tiny sizes."""
from __future__ import annotations

import csv
import importlib.util
import sys
from pathlib import Path

import pytest
import torch

import flashrnn_kernels as frk

ROOT = Path(__file__).resolve().parents[2]


def _load(name):
    sys.path.insert(0, str(ROOT / "benchmarks"))  # as when run as a script: its helpers beside it
    spec = importlib.util.spec_from_file_location(name, ROOT / "benchmarks" / f"{name}.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.fixture(scope="module")
def rnn_speed():
    return _load("rnn_speed")


def test_read_rows_parses_numbers(rnn_speed, tmp_path):
    path = tmp_path / "rnn_speed.csv"
    with open(path, "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=rnn_speed.FIELDS)
        w.writeheader()
        w.writerow(dict(sweep="batch", impl="fused", cell="lstm", dtype="bfloat16", B=64, T=1024,
                        heads=1, head_dim=768, fwd_ms=5.25, fwdbwd_ms="nan"))
    (row,) = rnn_speed.read_rows(path)
    assert row["B"] == 64 and row["head_dim"] == 768 and row["fwd_ms"] == 5.25
    assert row["fwdbwd_ms"] != row["fwdbwd_ms"]  # a point that could not run stays NaN
    assert rnn_speed.read_rows(tmp_path / "missing.csv") == []


def test_unknown_sweep_is_refused_before_anything_runs(rnn_speed, tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(sys, "argv", ["rnn_speed.py", "--out", str(tmp_path), "--sweeps", "heads,B"])
    with pytest.raises(SystemExit) as e:
        rnn_speed.main()
    assert e.value.code == 2
    assert "unknown sweeps ['B']" in capsys.readouterr().err
    assert not (tmp_path / "rnn_speed.csv").exists()


def test_stack_benchmark_runs_on_the_cpu(tmp_path, capsys):
    bench = _load("rnn_stack_speed")
    rows = bench.main(["--backend", "reference", "--dtypes", "float32", "--torch-dtypes", "float32",
                       "--hidden", "4", "--B", "2", "--T", "3", "--reps", "1", "--burst", "1",
                       "--out", str(tmp_path)])
    assert [(r["impl"], r["layout"]) for r in rows] == [
        ("flashrnn reference", "time_major"), ("torch.nn.LSTM", "time_major"),
        ("flashrnn reference", "batch_first"), ("torch.nn.LSTM", "batch_first")]
    assert all(0 <= r[f] < float("inf") for r in rows for f in bench.FIELDS if f.endswith("_ms"))
    with open(tmp_path / "rnn_stack_speed.csv", newline="") as fh:
        assert len(list(csv.DictReader(fh))) == 4
    text = capsys.readouterr().out
    assert "max |output - torch.nn.LSTM's|" in text and "reverse-direction copies" in text


def test_glue_benchmark_runs_on_the_cpu(capsys):
    from flashrnn_kernels.backends import registered_backends

    bench = _load("glue_overhead")
    assert bench.main(["--device", "cpu", "--calls", "5"]) == 0
    text = capsys.readouterr().out
    assert "LSTM module.step(x_t, state), B=16" in text and "select_backend('auto') -> reference" in text
    assert "null" not in [b.name for b in registered_backends()]  # the stand-in backend is gone again


def test_streaming_benchmark_needs_a_gpu(capsys):
    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU: test_streaming_benchmark_runs_on_a_gpu covers the script")
    assert _load("streaming").main([]) == 2
    assert "none is visible" in capsys.readouterr().err


def test_streaming_benchmark_profiles_a_step(capsys):
    """streaming.py's ``--profile`` part on the CPU: a host time and a profile table per batch size."""
    rnn = frk.LSTM(8, 8, dtype=torch.bfloat16)
    _load("streaming")._profile_steps(lambda x, s: rnn.step(x, s)[1], 8, torch.device("cpu"), 3, calls=4)
    text = capsys.readouterr().out
    assert "B=1: host time of one module.step" in text and "B=16: host time of one module.step" in text
    assert text.count("own us") == 2 and "step" in text.split("own us")[1]


@pytest.mark.cuda
def test_streaming_benchmark_runs_on_a_gpu(capsys):
    bench = _load("streaming")
    assert bench.main(["--hidden", "64", "--steps", "4", "--profile", "5"]) == 0
    text = capsys.readouterr().out
    rows = [line for line in text.splitlines() if "flashrnn_kernels LSTM bf16" in line]
    assert len(rows) == 2 and "B=16: a step without gradients runs in one launch" in text
    assert text.count("CPU profile of one module.step") == 2 and "host time of one module.step" in text


def test_first_call_counts_the_builds_of_a_process(tmp_path):
    """benchmarks/first_call.py's children report each kernel build they run (from the build
    cache's log) with its seconds, and nothing for a build found in the cache."""
    from flashrnn_kernels import jit

    builds = _load("first_call").collect_builds()
    parts = {"what": "a stand-in build"}
    name = f"demo-{jit.build_key(parts)[:20]}"
    jit.cached_build(name, parts, lambda d: (d / "out.txt").write_text("x"), cache_dir=tmp_path)
    jit.cached_build(name, parts, lambda d: (d / "out.txt").write_text("x"), cache_dir=tmp_path)  # found
    assert [b[0] for b in builds] == [name] and builds[0][1] >= 0.0


def test_call_overhead_profile_rows_are_per_call_microseconds():
    """call_overhead.py's profile table on the CPU: each function's own and cumulative time per call
    in microseconds, the calls per call, built-ins by name, sorted by own time."""
    import cProfile

    mod = _load("call_overhead")

    def inner():
        return sum(range(2000))

    def outer():
        return inner() + inner()

    pr = cProfile.Profile()
    for _ in range(10):
        pr.enable()
        outer()
        pr.disable()
    header, *rows = mod.own_time_rows(pr, 10, 20)  # every function of the profile
    assert header.split() == ["own", "us", "cum", "us", "n/call", "function"]
    by_name = {r.split()[-1]: [float(x) for x in r.split()[:3]] for r in rows}
    name = next(n for n in by_name if n.endswith("(inner)"))
    assert name.startswith("test_benchmarks.py:")
    own, cum, per_call = by_name[name]
    assert per_call == 2.0 and 0 < own <= cum
    assert any("sum" in n for n in by_name)  # a built-in, named without a file
    owns = [float(r.split()[0]) for r in rows]
    assert owns == sorted(owns, reverse=True)
