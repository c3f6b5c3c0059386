"""Global constraints: sound propagation (check_propagator) and every solver path against brute
force, the .cint text and its round trip, and the vectorised join of tables."""
from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import constrint as ci
from constrint import global_constraints as g
from constrint.testing import (
    ALL_CONSTRAINTS,
    GLOBAL_KINDS,
    assert_equivalent,
    assert_sound,
    brute_force_solutions,
    check_propagation,
    check_propagator,
    domain_lists,
    models,
)

# ---------------------------------------------------------------------------- propagators


def test_all_different_propagator():
    check_propagator(lambda *xs: g.all_different(xs), domain_lists(1, 4, -3, 6, 5), idempotence=False)


def test_all_different_of_expressions_propagator():
    check_propagator(
        lambda *xs: g.all_different(x + i for i, x in enumerate(xs)), domain_lists(2, 4, 0, 4, 5),
        idempotence=False,
    )


@given(st.data())
@settings(deadline=None)
def test_table_propagators(data):
    doms = data.draw(domain_lists(1, 3, -2, 6, 5))
    pools = [list(d)[:6] + [7] for d in doms]
    rows = data.draw(st.lists(st.tuples(*(st.sampled_from(p) for p in pools)), max_size=10))
    for forbidden in (False, True):
        check_propagation(lambda *xs, f=forbidden: g.table(xs, rows, forbidden=f), doms, idempotence=not forbidden)


def test_lex_propagators():
    for fn in (g.lex_less, g.lex_lesseq):
        check_propagator(
            lambda a, b, c, d, fn=fn: fn([a, b], [c, d]), domain_lists(4, 4, -1, 3, 3), idempotence=False
        )


def test_inverse_propagator():
    check_propagator(lambda a, b, c, d: g.inverse([a, b], [c, d]), domain_lists(4, 4, -1, 2, 4), idempotence=False)


def test_in_set_propagator():
    check_propagator(lambda x: g.in_set(x, {0, 2, 5, 9}), domain_lists(1, 1, -2, 10, 8))
    check_propagator(lambda x: ~g.in_set(x, {0, 2, 5, 9}), domain_lists(1, 1, -2, 10, 8))


def test_count_and_among_propagate():
    m = ci.Model()
    xs = [m.int_var(f"x{i}", 0, 3) for i in range(4)]
    m += g.count(xs, 2) == 4
    assert all(list(d) == [2] for d in m.propagate().values())
    m = ci.Model()
    xs = [m.int_var(f"x{i}", 0, 3) for i in range(3)]
    m += g.among(xs, {1, 3}) == 0
    assert all(list(d) == [0, 2] for d in m.propagate().values())


def test_hall_interval():
    m = ci.Model()
    a, b = m.int_var("a", 1, 2), m.int_var("b", 1, 2)
    c = m.int_var("c", 1, 3)
    d = m.int_var("d", values=[2, 3, 7])
    m += g.all_different(a, b, c, d)
    doms = m.propagate()
    assert list(doms["c"]) == [3] and list(doms["d"]) == [7]


# ---------------------------------------------------------------------------- models


_KINDS = ("==", "!=", "<=", "and", "or", "not", *GLOBAL_KINDS)


@given(models(kinds=_KINDS, objective=True, max_domain_size=6))
def test_global_constraints_sound(m):
    assert_sound(m)


@given(models(kinds=(*ALL_CONSTRAINTS, *GLOBAL_KINDS), max_domain_size=6))
def test_global_constraints_round_trip_through_the_text(m):
    text = ci.dumps(m)
    m2 = ci.loads(text)
    assert ci.dumps(m2) == text
    assert_equivalent(m, m2, method="brute")


@pytest.mark.parametrize("n, expected", [(4, 2), (5, 10), (6, 4), (7, 40), (8, 92)])
def test_queens(n, expected):
    m = ci.Model()
    q = [m.int_var(f"q{i}", 0, n - 1) for i in range(n)]
    m += g.all_different(q)
    m += g.all_different(q[i] + i for i in range(n))
    m += g.all_different(q[i] - i for i in range(n))
    assert m.count() == expected == len(m.solutions_array())
    assert m.check(m.solve().values)


def test_table_join_matches_brute_force():
    rng = np.random.default_rng(7)
    m = ci.Model()
    xs = [m.int_var(f"x{i}", 0, 9) for i in range(4)]
    t1 = rng.integers(0, 10, size=(60, 3))
    t2 = rng.integers(0, 10, size=(40, 2))
    m += g.table(xs[:3], t1)
    m += g.table([xs[2], xs[3]], t2)
    m += xs[0] + xs[3] != 9
    expected = sorted(
        (a, b, c, d) for (a, b, c) in map(tuple, t1.tolist()) for (c2, d) in map(tuple, t2.tolist())
        if c2 == c and a + d != 9
    )
    expected = sorted(set(expected))
    assert m.count() == len(expected)
    assert sorted(map(tuple, m.solutions_array().tolist())) == expected
    assert sorted(tuple(s.values()) for s in m.solutions()) == expected


def test_cint_text_of_global_constraints():
    text = """
    var x, y, z in 0..3;
    all_different(x, y, z);
    table([x, y], [[0, 1], [1, 2], [2, 3], [3, 0]]);
    forbidden_table([y, z], [[1, 0]]);
    count([x, y, z], 3) <= 1;
    among([x, y, z], [0, 1]) >= 1;
    lex_less([x, y], [z, x]);
    """
    m = ci.loads(text)
    expected = sum(
        1 for x, y, z in itertools.product(range(4), repeat=3)
        if len({x, y, z}) == 3 and (x, y) in {(0, 1), (1, 2), (2, 3), (3, 0)} and (y, z) != (1, 0)
        and [x, y, z].count(3) <= 1 and sum(v in (0, 1) for v in (x, y, z)) >= 1 and (x, y) < (z, x)
    )
    assert m.count() == expected == len(brute_force_solutions(m))
    assert ci.loads(ci.dumps(m)).count() == expected
    m = ci.loads("var f0, f1, g0, g1 in 0..1; inverse([f0, f1], [g0, g1]); f0 == 1;")
    assert [dict(s) for s in m.solutions()] == [{"f0": 1, "f1": 0, "g0": 1, "g1": 0}]


@pytest.mark.parametrize(
    "text, fragment",
    [
        ("var x in 0..3; table([x], [[1, 2]]);", "values for 1 items"),
        ("var x in 0..3; table(x, [[1]]);", "a list"),
        ("var x in 0..3; lex_less([x], [x, x]);", "equal length"),
        ("var x in 0..3; all_different();", "at least"),
    ],
)
def test_cint_errors_of_global_constraints(text, fragment):
    with pytest.raises(ci.ConstraintSyntaxError) as info:
        ci.loads(text)
    assert fragment in info.value.message, str(info.value)


def test_the_join_takes_components_that_filter_early():
    from constrint.problem import prepare
    from constrint.vectorized import MAX_CARTESIAN, component_suits

    m = ci.Model()
    xs = [m.int_var(f"x{i}", 0, 999) for i in range(5)]
    for a, b in itertools.pairwise(xs):
        m += b == a + 1
    m += g.all_different(xs)
    P, doms, comps, _free = prepare(m)
    ((vars_, cons),) = comps
    assert MAX_CARTESIAN < 1000**5
    assert component_suits(P, doms, vars_, cons)  # an estimated few million rows, not 10**15
    assert m.count() == 996 == len(m.solutions_array())


def test_magic_squares_3x3():
    m = ci.Model()
    c = [[m.int_var(f"c{i}{j}", 1, 9) for j in range(3)] for i in range(3)]
    m += g.all_different(x for r in c for x in r)
    lines = list(c) + [[c[i][j] for i in range(3)] for j in range(3)]
    lines += [[c[i][i] for i in range(3)], [c[i][2 - i] for i in range(3)]]
    for line in lines:
        m += ci.sum_(line) == 15
    assert m.count() == 8 == len(list(m.solutions())) == len(m.solutions_array())


def test_presolve_keeps_global_constraints_and_booleans():
    m = ci.loads(
        """
        var D in 1..64; var a, b, c in 0..7; var u in 0..100; var f in bool;
        u == D // 8 + a;
        all_different(a, b, c);
        table([a, b], [[1, 2], [2, 3], [3, 1], [5, 4]]);
        (a > 2) + (b > 2) <= 1;
        f or c == 0;
        maximize u, [a, b, c][f];
        """
    )
    r = m.reduce({"D": 17})
    fixed = m.copy(fix={"D": 17})
    assert r.solve().objective == fixed.solve().objective == (5, 3)  # a = 3: u = 17 // 8 + 3
    assert r.model.count() == fixed.count()
