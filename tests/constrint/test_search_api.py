"""solve(hints=..., callback=...), solve_all(consumer)."""
from __future__ import annotations

import pytest

import constrint as ci


def _sevens():
    m = ci.Model()
    x = m.int_var("x", 1, 100)
    m += ci.divides(7, x)
    return m, x


def test_hints_are_tried_first():
    m, x = _sevens()
    assert m.solve(hints={x: 63}).values == {"x": 63}
    assert m.solve(hints={"x": 64}).values == {"x": 7}  # not a solution: ignored
    y = m.int_var("y", 0, 10**9)
    m += y > x
    assert m.solve(hints={y: 123456}).values == {"x": 7, "y": 123456}
    m.maximize(-y)
    r = m.solve(hints={x: 14, y: 500})
    assert r.status is ci.Status.OPTIMAL and r.values == {"x": 7, "y": 8}


def test_callback_sees_each_better_solution():
    m, x = _sevens()
    m.maximize(x % 10)
    found = []
    r = m.solve(hints={x: 7}, callback=lambda s: found.append(s["x"]))
    assert r.values == {"x": 49} and found[-1] == 49 and found[0] == 7
    assert [v % 10 for v in found] == sorted({v % 10 for v in found})  # strictly better each time


def test_callback_can_stop_the_search():
    m, x = _sevens()
    m.maximize(x % 10)
    r = m.solve(hints={x: 7}, callback=lambda s: False)
    assert r.status is ci.Status.FEASIBLE and r.values == {"x": 7}
    m.clear_objective()
    seen = []
    assert m.solve(callback=seen.append).values == seen[0] == {"x": 7}


def test_solve_all_streams_to_a_consumer():
    m, x = _sevens()
    seen = []
    assert m.solve_all(seen.append) == 14 == len(seen)
    assert sorted(s["x"] for s in seen) == list(range(7, 99, 7))
    assert m.solve_all(lambda s: None, limit=3) == 3
    assert m.solve_all(lambda s: s["x"] < 30) == 5


@pytest.mark.parametrize(
    "kwargs, fragment",
    [
        ({"hints": {"nope": 1}}, "unknown variable 'nope'"),
        ({"hints": [1, 2]}, "must map"),
        ({"hints": {"x": 1.5}}, "must be an integer"),
        ({"callback": 3}, "callable"),
    ],
)
def test_bad_arguments(kwargs, fragment):
    m, _ = _sevens()
    with pytest.raises(ci.ModelError, match=fragment):
        m.solve(**kwargs)
