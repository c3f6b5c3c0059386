"""Exact arithmetic on every path: huge integers, true division, the text round trip."""
from __future__ import annotations

from collections import Counter

from hypothesis import given

import constrint as ci
from constrint.testing import EVERY_OP, brute_force_optimum, brute_force_solutions, models


def _rows(m):
    names = [v.name for v in m.variables]
    return sorted(tuple(int(x) for x in row) for row in m.solutions_array()), names


def _expected_rows(m):
    names = [v.name for v in m.variables]
    return sorted(tuple(s[n] for n in names) for s in brute_force_solutions(m))


def test_true_division_against_integers_beyond_2_53():
    # x / 1 < y in Python: 0.0 < 1, 0.0 < 2**53 + 1 and 2.0**53 < 2**53 + 1 hold (a float and an
    # int compare exactly); float64 would read 2**53 + 1 as 2**53 and lose the last one
    m = ci.Model()
    x = m.int_var("x", values=[0, 2**53])
    y = m.int_var("y", values=[1, 2**53 + 1])
    m += ci.true_div(x, 1) < y
    assert m.count() == 3
    assert len(m.solutions_array()) == 3
    assert len(list(m.solutions())) == 3


def test_float_quotient_that_python_rounds():
    # (2**53 + 1) / 1 rounds to 2.0**53 in Python, so it is less than 2**53 + 1
    m = ci.Model()
    x = m.int_var("x", values=[2**53 + 1, 5])
    y = m.int_var("y", values=[2**53 + 1, 3])
    m += ci.true_div(x, 1) < y
    expected = _expected_rows(m)
    assert expected == [(5, 2**53 + 1), (2**53 + 1, 2**53 + 1)]
    assert _rows(m)[0] == expected
    assert m.count() == 2


def test_optimisation_over_listed_solutions_does_not_overflow():
    # the objective reaches 2**80: listing the solutions in int64 must not wrap it around
    m = ci.Model()
    x = m.int_var("x", 2**40 - 3, 2**40)
    y = m.int_var("y", values=[1, -1])
    m.maximize(x * x * y * y * y - x)
    r = m.solve()
    assert r.values == {"x": 2**40, "y": 1}
    assert r.objective == brute_force_optimum(m)


def test_values_beyond_floating_point_range_are_bounded_without_overflow():
    # ((-2**31 + 1) ** x) ** x reaches about 2**1100: deciding whether the numpy path holds it
    # must not convert that bound to a float
    m = ci.Model()
    x = m.int_var("x0", values=[2, 3, 4, 5, 6])
    m += x != ((-2147483647) ** x) ** x
    m.maximize(x)
    assert m.solve().values == {"x0": 6} and m.count() == 5
    assert [tuple(r) for r in m.solutions_array()] == [(v,) for v in range(2, 7)]


def test_constants_beyond_64_bits_round_trip_through_the_text():
    m = ci.Model()
    x = m.int_var("x", values=[1, 2, 2**80])
    m += x * 2**70 <= 2**72
    m2 = ci.loads(ci.dumps(m))
    assert ci.dumps(m2) == ci.dumps(m)
    assert m2.count() == m.count() == 2
    big = ci.loads(f"var y in -{2**100}..{2**100}; y * {10**40} > {2**130};")
    assert big.count() == 2**100 - 2**130 // 10**40


def test_constants_too_long_for_the_text_are_refused_when_writing():
    m = ci.Model()
    x = m.int_var("x", 1, 3)
    m += x < 10**5000
    try:
        ci.dumps(m)
    except ci.ModelError as exc:
        assert "digits" in str(exc)
    else:
        raise AssertionError("dumps wrote a constant that loads refuses")


# ---------------------------------------------------------------------------- properties

_WIDE = {
    "ops": EVERY_OP, "huge_values": True, "huge_constants": True, "max_domain_size": 5, "max_vars": 4,
}


def _key(s):
    return tuple(sorted(s.items()))


@given(models(**_WIDE))
def test_wide_models_count_and_list_like_brute_force(m):
    expected = _expected_rows(m)
    assert m.count() == len(expected)
    assert _rows(m)[0] == expected
    got = Counter(_key(s) for s in m.solutions())
    assert set(got) == {_key(s) for s in brute_force_solutions(m)}
    assert all(c == 1 for c in got.values())


@given(models(objective=True, lexicographic=True, **_WIDE))
def test_wide_models_optimum_like_brute_force(m):
    best = brute_force_optimum(m)
    r = m.solve()
    if best is None:
        assert r.status is ci.Status.INFEASIBLE
    else:
        assert r.status is ci.Status.OPTIMAL and r.objective == best


@given(models(objective=True, lexicographic=True, **_WIDE))
def test_wide_models_round_trip_through_the_text(m):
    text = ci.dumps(m)
    m2 = ci.loads(text)
    assert ci.dumps(m2) == text
    assert _expected_rows(m2) == _expected_rows(m)
