"""Optimisation: stages per objective key, values tried from the objective's good end."""
from __future__ import annotations

from pathlib import Path

import numpy as np

import constrint as ci
from constrint.optimize import DOWN, UNKNOWN, UP, keys_defined, monotonicity, value_directions
from constrint.propagators import Store

# 11 tile sizes with divisor chains, a shared-memory bound and a lexicographic objective
CHAIN = (Path(__file__).resolve().parents[2] / "examples" / "gemm_chain.cint").read_text()


def _lex_best(m: ci.Model):
    """The optimum from every solution (numpy), independent of the search."""
    arr = m.solutions_array()
    exprs, sense = m.objective
    cols = {v.name: arr[:, v.index] for v in m.variables}
    keys = [np.asarray(eval(str(e).replace("^", "**"), {}, cols)) for e in exprs]
    sign = -1 if sense == "maximize" else 1
    order = np.lexsort([sign * k for k in reversed(keys)])
    return tuple(int(k[order[0]]) for k in keys)


def test_tiling_chain_optimum_with_few_nodes():
    m = ci.loads(CHAIN)
    r = m.solve()
    assert r.status is ci.Status.OPTIMAL
    assert r.objective == _lex_best(m)
    assert m.check(r.values)
    # a search that meets the optimum early and cuts by the bound: the plain lexicographic
    # branch and bound with ascending values needed 146 nodes here
    assert r.nodes <= 40, r.nodes


def test_monotonicity_of_objective_expressions():
    m = ci.Model()
    a = m.int_var("a", 1, 8)
    b = m.int_var("b", 0, 8)
    c = m.int_var("c", -3, 3)
    store = Store(list(m._domains))
    assert monotonicity(a * b - 2 * a // 1, store, {}) == {0: UNKNOWN, 1: UP}
    assert monotonicity(a * b, store, {}) == {0: UP, 1: UP}
    assert monotonicity(-(a * b) + c, store, {}) == {0: DOWN, 1: DOWN, 2: UP}
    assert monotonicity(a * c, store, {}) == {0: UNKNOWN, 2: UP}
    assert monotonicity(b // a, store, {}) == {1: UP, 0: DOWN}
    assert monotonicity(c**2, store, {}) == {2: UNKNOWN}
    # minimising -(a * b): try large values first
    assert value_directions((-(a * b),), list(m._domains)) == {0: True, 1: True}


def test_a_lexicographic_objective_is_optimised_key_by_key():
    m = ci.Model()
    x = m.int_var("x", 0, 9)
    y = m.int_var("y", 0, 9)
    m += x + y <= 10
    m.maximize([x // 3, y, -x])
    r = m.solve()
    assert r.objective == (3, 1, -9) and r.values == {"x": 9, "y": 1}
    m.minimize([x // 3, -y, x])
    assert m.solve().values == {"x": 0, "y": 9}


def test_a_time_limit_keeps_the_best_solution_found():
    m = ci.loads(CHAIN)
    r = m.solve(time_limit=1e-9)
    assert r.status in (ci.Status.FEASIBLE, ci.Status.UNKNOWN)
    if r.ok:
        assert m.check(r.values)


def test_keys_defined_on_the_whole_box():
    m = ci.Model()
    x = m.int_var("x", 0, 9)
    y = m.int_var("y", -2, 2)
    z = m.int_var("z", 1, 4)
    doms = list(m._domains)
    assert keys_defined((x * y, x // z, -(x % z)), doms)
    assert not keys_defined((x * y, x // y), doms)  # y = 0 is in the box
    assert not keys_defined((x % (z - 1),), doms)


def test_an_objective_undefined_in_places_is_optimised_where_defined():
    # a hint sends the objective through the branch and bound (not the listing of solutions)
    m = ci.Model()
    x = m.int_var("x", -6, 6)
    y = m.int_var("y", -2, 2)
    m += x + y <= 5
    m.maximize([x // y, -x])
    best = max((x_ // y_, -x_) for x_ in range(-6, 7) for y_ in (-2, -1, 1, 2) if x_ + y_ <= 5)
    for hints in ({"y": 0}, {"x": 0}):
        r = m.solve(hints=hints)
        assert r.status is ci.Status.OPTIMAL
        assert r.objective == best and r.values["y"] != 0
        assert m.check(r.values)
