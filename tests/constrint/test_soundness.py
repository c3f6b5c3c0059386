"""Property tests: solver results equal brute force on random small models."""
from collections import Counter

from hypothesis import given

from constrint import Status
from constrint.testing import brute_force_optimum, brute_force_solutions, models


def _key(s):
    return tuple(sorted(s.items()))


@given(models())
def test_solutions_equal_brute_force(m):
    expected = brute_force_solutions(m)
    got = list(m.solutions())
    counts = Counter(_key(s) for s in got)
    assert all(c == 1 for c in counts.values()), "a solution was returned twice"
    assert set(counts) == {_key(s) for s in expected}


@given(models())
def test_count_equals_brute_force(m):
    assert m.count() == len(brute_force_solutions(m))


@given(models())
def test_solutions_array_equals_brute_force(m):
    arr = m.solutions_array()
    names = [v.name for v in m.variables]
    got = sorted(tuple(int(x) for x in row) for row in arr)
    expected = sorted(tuple(s[n] for n in names) for s in brute_force_solutions(m))
    assert got == expected


@given(models())
def test_solve_status_matches_feasibility(m):
    expected = brute_force_solutions(m)
    r = m.solve()
    if expected:
        assert r.status is Status.FEASIBLE
        assert m.check(r.values)
    else:
        assert r.status is Status.INFEASIBLE


@given(models(objective=True))
def test_optimum_equals_brute_force(m):
    best = brute_force_optimum(m)
    r = m.solve()
    if best is None:
        assert r.status is Status.INFEASIBLE
    else:
        assert r.status is Status.OPTIMAL
        assert r.objective == best
        assert m.check(r.values)
