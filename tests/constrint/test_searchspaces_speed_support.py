"""Checks behind benchmarks/searchspaces.py (no timings here: speed is shown by the benchmark).

* the numpy join stays exact when partial solutions span many chunks, when several variables are
  joined as one step, and when solutions_array combines several components and free variables;
* solutions_array's peak memory stays near the size of its result;
* the benchmark's synthetic counting spaces have the counts the benchmark states.
"""
from __future__ import annotations

import functools
import importlib.util
import itertools
import sys
import tracemalloc
from pathlib import Path

import numpy as np
import pytest

import constrint as ci
from constrint import vectorized

ROOT = Path(__file__).resolve().parents[2]


def _rows(m: ci.Model, groups) -> list[tuple[int, ...]]:
    """Brute force per group of variables, combined as a Cartesian product (model column order).

    ``groups``: (variable names, predicates over a dict of those variables) for each independent
    part; variables in no group take every value of their domain.
    """
    names = [v.name for v in m.variables]
    grouped = [n for g, _ in groups for n in g]
    parts = []
    for gnames, preds in groups:
        sols = []
        for combo in itertools.product(*(list(m.domain(n)) for n in gnames)):
            s = dict(zip(gnames, combo))
            if all(p(s) for p in preds):
                sols.append(combo)
        parts.append((list(gnames), sols))
    for n in names:
        if n not in grouped:
            parts.append(([n], [(v,) for v in m.domain(n)]))
    order = [n for g, _ in parts for n in g]
    where = [order.index(n) for n in names]
    out = []
    for combo in itertools.product(*(sols for _, sols in parts)):
        flat = [x for t in combo for x in t]
        out.append(tuple(flat[i] for i in where))
    return out


def _sorted_rows(arr: np.ndarray) -> list[tuple[int, ...]]:
    return sorted(tuple(int(x) for x in r) for r in arr)


def _chunked_model():
    """Two components (one needs many chunks and fused steps) and two free variables."""
    m = ci.Model()
    a = m.int_var("a", values=range(1, 31))
    b = m.int_var("b", values=range(1, 21))
    c = m.int_var("c", values=[1, 2, 3, 4, 6])
    d = m.int_var("d", values=range(8))
    e = m.int_var("e", values=range(1, 7))
    f = m.int_var("f", values=range(1, 4))
    m.int_var("g", values=[5, 11])
    m.int_var("h", values=[-1])
    m += a * b * c <= 100
    m += (a + b + d) % 7 != 3
    m += ci.divides(c, a + d)
    m += e % f == 0
    groups = [
        (
            ("a", "b", "c", "d"),
            [
                lambda s: s["a"] * s["b"] * s["c"] <= 100,
                lambda s: (s["a"] + s["b"] + s["d"]) % 7 != 3,
                lambda s: (s["a"] + s["d"]) % s["c"] == 0,
            ],
        ),
        (("e", "f"), [lambda s: s["e"] % s["f"] == 0]),
    ]
    return m, groups


@functools.lru_cache(maxsize=1)
def _chunked_expected() -> list[tuple[int, ...]]:
    m, groups = _chunked_model()
    return sorted(_rows(m, groups))


@pytest.mark.parametrize("chunk", [vectorized.CHUNK_ROWS, 64, 1000])
def test_solutions_array_exact_across_chunks_and_parts(monkeypatch, chunk):
    monkeypatch.setattr(vectorized, "CHUNK_ROWS", chunk)
    m, _ = _chunked_model()
    arr = m.solutions_array()
    expected = _chunked_expected()
    assert arr.shape == (len(expected), len(m.variables))
    assert _sorted_rows(arr) == expected
    assert m.count() == len(expected)


def test_solutions_array_row_order_does_not_depend_on_chunking(monkeypatch):
    m, _ = _chunked_model()
    ref = m.solutions_array()
    for chunk in (7, 333, 1 << 16):
        monkeypatch.setattr(vectorized, "CHUNK_ROWS", chunk)
        assert np.array_equal(m.solutions_array(), ref)


def test_unconstrained_levels_before_a_filter():
    """Variables completing no constraint are joined with the next one that does."""
    m = ci.Model()
    xs = [m.int_var(f"x{i}", values=range(1, 9)) for i in range(5)]
    m += xs[0] * xs[1] * xs[2] * xs[3] == xs[4] * 8
    names = tuple(f"x{i}" for i in range(5))
    expected = _rows(m, [(names, [lambda s: s["x0"] * s["x1"] * s["x2"] * s["x3"] == s["x4"] * 8])])
    assert _sorted_rows(m.solutions_array()) == sorted(expected)


def test_peak_memory_near_result_size():
    m = ci.Model()
    a = m.int_var("a", values=range(1, 401))
    b = m.int_var("b", values=range(1, 401))
    c = m.int_var("c", values=range(1, 9))
    m.int_var("k", values=[3])
    m += a * b <= 40_000 + c
    m += (a + b) % 3 != 0
    m.solutions_array()  # first call: lazy imports are not part of the measurement
    tracemalloc.start()
    try:
        arr = m.solutions_array()
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert arr.nbytes > 8 * 2**20
    assert peak <= 2 * arr.nbytes + 2 * 2**20


def _load_benchmark():
    path = ROOT / "benchmarks" / "searchspaces.py"
    spec = importlib.util.spec_from_file_location("bench_searchspaces", path)
    mod = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("bench_searchspaces", mod)
    spec.loader.exec_module(mod)
    return mod


def test_benchmark_synthetic_counts():
    bench = _load_benchmark()
    spaces = bench.synthetic_spaces()
    assert spaces[0]["cartesian"] > 10**11
    for sp in spaces:
        m = ci.load_t1(sp["data"])
        assert m.count() == sp["expected"], sp["name"]
        names, values, _ = bench.parameters(sp["data"])
        assert bench.cartesian_size(values) == sp["cartesian"]
