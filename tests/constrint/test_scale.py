"""Sizes that are not in the problem: counting without listing, time limits, arguments.

* counting is done by search with cached sub-problems where listing would be exponential (a sum
  over many binaries), and agrees with listing and with the binomial coefficient;
* every time limit of the Python API holds without signals, also in another thread;
* bad arguments get a ModelError naming the argument.
"""
from __future__ import annotations

import itertools
import math
import threading
import time

import pytest

import constrint as ci


def binaries(n: int, total: int) -> ci.Model:
    m = ci.Model()
    xs = [m.int_var(f"x{i}", 0, 1) for i in range(n)]
    m += ci.sum_(xs) == total
    return m


@pytest.mark.parametrize("n", [12, 30, 60])
def test_counting_a_cardinality_sum_needs_no_listing(n):
    m = binaries(n, 3)
    assert m.count(time_limit=20) == math.comb(n, 3)
    if n == 12:
        assert sum(1 for _ in m.solutions()) == math.comb(n, 3)


def test_count_of_a_model_whose_solutions_cannot_be_listed():
    m = binaries(60, 30)
    assert m.count(time_limit=20) == math.comb(60, 30)
    m = ci.Model()
    xs = [m.int_var(f"x{i}", 0, 9) for i in range(80)]
    m += ci.sum_(xs) == 100
    m += xs[0] + 2 * xs[1] >= 5
    expected = _count_sum(80, 9, 100, lambda a, b: a + 2 * b >= 5)
    assert m.count(time_limit=60) == expected
    assert expected > 10**50


def test_counting_splits_parts_that_branching_separates():
    # x0 links two sums; once x0 has a value they are independent and counted apart
    m = ci.Model()
    x0 = m.int_var("x0", 0, 3)
    a = [m.int_var(f"a{i}", 0, 1) for i in range(40)]
    b = [m.int_var(f"b{i}", 0, 2) for i in range(40)]
    m += ci.sum_(a) == x0 + 10
    m += ci.sum_(b) * 2 != x0 * x0 + 7  # not linear in x0: counted by branching on x0
    m += x0 * x0 != 4
    expected = 0
    for v in (0, 1, 3):
        expected += math.comb(40, v + 10) * (3**40 - _ways_sum(40, 2, (v * v + 7) / 2))
    assert m.count(time_limit=60) == expected


def _ways_sum(n, hi, target):
    """Assignments of n digits 0..hi summing to target (0 for a fractional target)."""
    if target != int(target):
        return 0
    ways = [1]
    for _ in range(n):
        new = [0] * (len(ways) + hi)
        for s, w in enumerate(ways):
            for d in range(hi + 1):
                new[s + d] += w
        ways = new
    t = int(target)
    return ways[t] if 0 <= t < len(ways) else 0


def _count_sum(n, hi, total, first_two):
    """Reference count: assignments of n digits 0..hi summing to total whose first two satisfy
    first_two (a plain dynamic program over the running sum)."""
    ways = [0] * (total + 1)
    ways[0] = 1
    for _ in range(n - 2):
        new = [0] * (total + 1)
        for s, w in enumerate(ways):
            if w:
                for d in range(hi + 1):
                    if s + d <= total:
                        new[s + d] += w
        ways = new
    return sum(ways[total - a - b] for a in range(hi + 1) for b in range(hi + 1)
               if first_two(a, b) and total - a - b >= 0)


def test_count_agrees_with_listing_where_both_run():
    m = ci.Model()
    xs = [m.int_var(f"x{i}", -2, 3) for i in range(7)]
    m += ci.sum_(2 * x for x in xs[:4]) - xs[4] <= 3
    m += xs[5] * xs[6] + xs[0] != 2
    m += ci.sum_(xs[3:]) >= 1
    assert m.count() == len(m.solutions_array()) == sum(1 for _ in m.solutions())


# ---------------------------------------------------------------------- limits


def slow_model() -> ci.Model:
    m = ci.Model()
    xs = [m.int_var(f"x{i}", 1, 10**6) for i in range(3)]
    m += ci.divides(xs[0] * xs[1] + xs[2], 999983 * 7) | (xs[0] - xs[1] != xs[2] * 7 + 3)
    return m


@pytest.mark.parametrize("call", ["count", "solutions", "solutions_array", "solve", "maximize"])
def test_time_limits_hold_without_signals_in_a_thread(call):
    out = {}

    def run():
        m = slow_model()
        start = time.monotonic()
        try:
            if call == "count":
                m.count(time_limit=0.3)
            elif call == "solutions":
                for _ in m.solutions(time_limit=0.3):
                    pass
            elif call == "solutions_array":
                m.solutions_array(time_limit=0.3)
            else:
                if call == "maximize":
                    x0, x1, x2 = m.variables
                    m.maximize((x0 * x1 + x2) % 1000003)
                out["status"] = m.solve(time_limit=0.3).status
        except ci.LimitReached as exc:
            out["limit"] = str(exc)
        out["seconds"] = time.monotonic() - start

    t = threading.Thread(target=run)
    t.start()
    t.join(60)
    assert not t.is_alive()
    assert out["seconds"] < 3.0, out
    if call in ("solve", "maximize"):
        assert out["status"] in (ci.Status.FEASIBLE, ci.Status.UNKNOWN)
    else:
        assert "stopped by the time limit" in out["limit"]


def test_count_time_limit_holds_on_a_cardinality_model():
    m = binaries(300, 150)
    m += ci.sum_(m.variables[:150]) * ci.sum_(m.variables[150:]) != 5000  # not linear
    start = time.monotonic()
    with pytest.raises(ci.LimitReached):
        m.count(time_limit=0.5)
    assert time.monotonic() - start < 3.0


# ---------------------------------------------------------------------- arguments


def test_bad_arguments_name_the_argument():
    m = ci.Model()
    x = m.int_var("x", 0, 9)
    m += x > 2
    for bad in (-1, 0, float("nan"), float("inf"), "3", True):
        for call in (m.solve, m.count, m.solutions_array, m.solutions):
            with pytest.raises(ci.ModelError, match="time_limit"):
                call(time_limit=bad)
    with pytest.raises(ci.ModelError, match="limit must be"):
        m.solutions(limit=-1)
    with pytest.raises(ci.ModelError, match="limit"):
        m.solutions(limit=2.5)
    with pytest.raises(ci.ModelError, match="'x'"):
        m.check({"x": "3"})
    with pytest.raises(ci.ModelError, match="dtype"):
        m.solutions_array(dtype="float64")
    assert m.check({"x": 3}) and list(m.solutions(limit=0)) == []


def test_huge_ranges_are_kept_as_intervals_at_once():
    start = time.monotonic()
    y = ci.Model().int_var("y", values=range(10**12))
    z = ci.Model().int_var("z", values=range(-10**15, 10**15, 5))
    assert time.monotonic() - start < 0.5
    assert y.model.domain(y).size == 10**12 and z.model.domain(z).size == 4 * 10**14
    with pytest.raises(ci.ModelError, match="listed values"):
        ci.Model().int_var("w", values=range(1, 10**12, 4))


# ---------------------------------------------------------------------- the counting search itself

from hypothesis import given, settings  # noqa: E402

from constrint.counting import count_by_search  # noqa: E402
from constrint.problem import Context, prepare  # noqa: E402
from constrint.testing import EVERY_OP, brute_force_count, models  # noqa: E402


def _count_by_search_only(m) -> int:
    prep = prepare(m)
    if prep is None:
        return 0
    P, doms, comps, free = prep
    total = math.prod(doms[v].size for v in free)
    for vars_, cons in comps:
        total *= count_by_search(P, doms, vars_, cons, Context(None))
    return total


_FEW = settings(max_examples=max(10, settings.default.max_examples // 3))


@_FEW
@given(models(ops=EVERY_OP, max_vars=5, nesting=2))
def test_counting_search_equals_brute_force(m):
    assert _count_by_search_only(m) == brute_force_count(m)


@_FEW
@given(models(ops=("+", "-", "*", "neg"), kinds=("==", "!=", "<", "<=", ">", ">=", "and"),
              min_vars=4, max_vars=7, max_domain_size=5))
def test_counting_search_equals_brute_force_on_linear_models(m):
    assert _count_by_search_only(m) == brute_force_count(m)


# ---------------------------------------------------------------------- flat sums and conjunctions

from constrint.expr import Sum  # noqa: E402


def test_sums_and_conjunctions_are_flat_nodes():
    m = ci.Model()
    xs = [m.int_var(f"x{i}", 0, 3) for i in range(5)]
    s = xs[0] + xs[1] - xs[2] + xs[3]
    assert type(s) is Sum and len(s.children) == 4 and s.signs == (1, 1, -1, 1)
    assert str(s) == "x0 + x1 - x2 + x3" and s.evaluate({"x0": 1, "x1": 2, "x2": 3, "x3": 3}) == 3
    assert str(xs[0] - (xs[1] - xs[2])) == "x0 - (x1 - x2)"
    e = xs[0]
    for _ in range(1000):
        e = e + 1
    assert type(e) is Sum and len(e.children) == 1001
    m += e <= 1002
    assert m.solve().values["x0"] == 0 and m.count() == 3 * 4**4
    c = ci.all_of(x >= 0 for x in xs) & (xs[0] < 3) & (xs[1] < 3)
    assert len(c.children) == 7


def test_sum_of_400_binaries_counts():
    m = binaries(400, 3)
    assert m.count(time_limit=30) == math.comb(400, 3)
    r = m.solve()
    assert r.ok and sum(r.values.values()) == 3


def test_long_sums_load_print_round_trip_and_solve():
    n = 1000
    text = "var " + ", ".join(f"y{i}" for i in range(n)) + " in 0..1;\n"
    text += " + ".join(f"y{i}" for i in range(n)) + " == 2;\n"
    text += " and ".join(f"y{i} <= 1" for i in range(n)) + ";\n"
    m = ci.loads(text)
    assert type(m.constraints[0].a) is Sum and len(m.constraints[0].a.children) == n
    again = ci.loads(ci.dumps(m))
    assert ci.dumps(again) == ci.dumps(m)
    assert m.count() == math.comb(n, 2)
    # real nesting is still limited
    with pytest.raises(ci.ConstraintSyntaxError, match="nested too deeply"):
        ci.loads("var x in 0..1;" + "(" * 300 + "x" + ")" * 300 + " == 1;")


def test_a_hundred_thousand_terms():
    n = 100_000
    m = ci.Model()
    xs = [m.int_var(f"x{i}", 0, 2) for i in range(10)]
    e = ci.sum_(xs[i % 10] * (i % 3 + 1) for i in range(n))
    m += e <= 2 * n
    m += ci.sum_(xs) == 7
    text = ci.dumps(m)
    assert len(text) > 5 * n
    back = ci.loads(text)
    assert ci.dumps(back) == text
    r = back.solve()
    assert r.ok and back.check(r.values)
    coef = [sum(i % 3 + 1 for i in range(j, n, 10)) for j in range(10)]
    expected = sum(1 for a in itertools.product(range(3), repeat=10)
                   if sum(a) == 7 and sum(k * v for k, v in zip(coef, a)) <= 2 * n)
    assert back.count() == m.count() == expected


def test_long_t1_sums():
    terms = " + ".join(f"x{i % 3}" for i in range(900))
    space = {"ConfigurationSpace": {
        "TuningParameters": [{"Name": f"x{i}", "Values": "[0, 1, 2, 3]"} for i in range(3)],
        "Conditions": [{"Expression": f"{terms} - x0 <= 1500"}]}}
    m = ci.load_t1(space)
    expected = sum(1 for a in range(4) for b in range(4) for c in range(4)
                   if 300 * (a + b + c) - a <= 1500)
    assert m.count() == expected


def test_products_are_flat_nodes():
    from constrint.expr import Mul, Product

    m = ci.Model()
    xs = [m.int_var(f"x{i}", 1, 9) for i in range(3)]
    assert type(xs[0] * xs[1]) is Mul
    p = xs[0] * xs[1] * xs[2] * 2
    assert type(p) is Product and len(p.children) == 4 and str(p) == "x0 * x1 * x2 * 2"
    m += p == 48
    assert m.count() == sum(1 for a in range(1, 10) for b in range(1, 10) for c in range(1, 10)
                            if a * b * c * 2 == 48)
    assert {d.size for d in m.propagate().values()} <= {6}  # divisors of 24 up to 9
    e = xs[0]
    for _ in range(2000):
        e = e * 1
    assert type(e) is Product and len(e.children) == 2001
    m2 = ci.Model()
    y = m2.int_var("y", 1, 3)
    m2 += ci.sum_([y] * 5) * y * 1 * 1 == 5 * y * y
    text = ci.dumps(m2)
    assert ci.loads(text).count() == 3 and ci.dumps(ci.loads(text)) == text
    deep = "var y in 1..3;\n" + " * ".join(["y"] + ["1"] * 5000) + " == y;\n"
    assert ci.loads(deep).count() == 3


@pytest.mark.parametrize("call", ["count", "solutions_array"])
def test_time_limits_hold_with_worker_processes(call):
    m = slow_model()
    start = time.monotonic()
    with pytest.raises(ci.LimitReached):
        getattr(m, call)(time_limit=0.5, workers=2)
    assert time.monotonic() - start < 5.0


def test_listing_stops_building_rows_past_its_bound():
    from constrint.engine import solutions_array

    m = ci.Model()
    xs = [m.int_var(f"x{i}", 0, 9) for i in range(9)]
    m += ci.sum_(xs) >= 3  # one part of nearly 10**9 solutions
    with pytest.raises(ci.ModelError, match="too many solutions"):
        solutions_array(m, max_rows=100_000)
    assert len(solutions_array(ci.loads("var x, y in 0..9; x < y;"), max_rows=45)) == 45


def test_the_join_plan_of_a_long_sum_looks_at_each_variable_a_few_times():
    """The join's variable order over one sum of n variables: it used to compare every
    remaining variable at every step (n**2 / 2 looks at the domains, and a set difference of
    the sum's scope for each: 0.84 s for 400 variables); now each look is caused by a step that
    changes a variable's standing."""
    from constrint.problem import prepare
    from constrint.vectorized import _checks_and_tables, _join_order

    class Counted:  # a domain that counts how often the plan asks for its size
        looks = 0

        def __init__(self, d):
            self.d = d

        @property
        def size(self):
            Counted.looks += 1
            return self.d.size

    n = 3000
    m = binaries(n, 2)
    P, doms, comps, _ = prepare(m)
    (vars_, cons), = comps
    checks, tables = _checks_and_tables(P, vars_, cons, doms)
    order, blocks = _join_order(vars_, checks, tables, [Counted(d) for d in doms])
    assert order == list(range(n)) and blocks == {}
    assert Counted.looks <= 4 * n
