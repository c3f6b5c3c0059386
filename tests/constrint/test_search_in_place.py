"""The depth-first search works in place and does constant work per node on long sums.

* a solve over 20,000 binaries with one cardinality sum finishes far inside a time limit that a
  search copying the domains at every node (quadratic) would overrun by two orders of magnitude;
* the sum is revised in full a bounded number of times, not at every node: its kept bounds show
  that a comparison cannot narrow anything (:func:`constrint.propagators.quick_compare`);
* where the kept bounds answer, a full revision gives the same answer and changes nothing
  (a property over random long sums and domains);
* the search leaves the domains and active constraints as it found them, when it ends and when
  it is closed early, and its leaves agree with listing through the numpy join.
"""
from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

import constrint as ci
import constrint.problem as problem_mod
import constrint.search as search_mod
from constrint.domain import Domain
from constrint.expr import Compare, Const
from constrint.problem import Context, prepare
from constrint.propagators import KEPT_SUM_TERMS, OPEN, Store, SumBounds, quick_compare, revise
from constrint.search import dfs


def binaries(n: int, total: int) -> ci.Model:
    m = ci.Model()
    xs = [m.int_var(f"x{i}", 0, 1) for i in range(n)]
    m += ci.sum_(xs) == total
    return m


def test_solve_over_many_binaries_is_not_quadratic():
    # copying 20,000 domains at each of 20,000 nodes took minutes; the search in place well
    # under a second
    n = 20_000
    r = binaries(n, 2).solve(time_limit=30)
    assert r.status is ci.Status.FEASIBLE
    assert [k for k, v in r.values.items() if v] == [f"x{n - 2}", f"x{n - 1}"]
    assert r.nodes == n - 1


def test_a_long_sum_is_not_revised_at_every_node(monkeypatch):
    full = []

    def counting(c, store, memo=None):
        full.append(c)
        return revise(c, store, memo)

    monkeypatch.setattr(problem_mod, "revise", counting)
    n = 3000
    r = binaries(n, 2).solve()
    assert r.status is ci.Status.FEASIBLE and r.nodes == n - 1
    # the root's propagation, and the last nodes where the slack is one
    assert len(full) <= 8


def test_the_first_fail_rule_and_the_order_are_kept():
    m = ci.Model()
    xs = [m.int_var(f"x{i}", 0, 1) for i in range(40)]
    y = m.int_var("y", 0, 3)
    m += ci.sum_(xs) + y == 3
    # first-fail: the binaries (two values) before y (four), each set to 0 first, so y takes 3
    r = m.solve()
    assert r.values["y"] == 3 and r.nodes == 41
    # y first where the order says so; then the last binaries make up the sum
    r = m.solve(var_order=[y])
    assert r.values["y"] == 0
    assert [f"x{i}" for i in range(40) if r.values[f"x{i}"]] == ["x37", "x38", "x39"]


def test_the_search_restores_what_it_was_given():
    m = binaries(30, 3)
    prep = prepare(m)
    assert prep is not None
    P, doms, comps, _ = prep
    ((vars_, cons),) = comps
    before, active = list(doms), set(cons)
    it = dfs(P, doms, active, Context(None))
    leaf, act = next(it)
    assert leaf is doms and act is active  # leaves are the search's own state
    assert all(leaf[v].is_fixed for v in vars_)
    it.close()
    assert doms == before and active == set(cons)
    leaves = sum(1 for _ in dfs(P, doms, active, Context(None)))
    assert leaves == 30 * 29 * 28 // 6
    assert doms == before and active == set(cons)


@st.composite
def long_sum_models(draw):
    """A comparison of a sum of 16 to 18 terms, at most 8 of them open (two values each), so
    that listing stays cheap, and a small constraint beside it."""
    n = draw(st.integers(KEPT_SUM_TERMS, KEPT_SUM_TERMS + 2))
    m = ci.Model()
    xs = []
    for i in range(n):
        lo = draw(st.integers(-2, 1))
        xs.append(m.int_var(f"x{i}", lo, lo + (i < 8 and draw(st.booleans()))))
    coefs = draw(st.lists(st.sampled_from([1, 1, -1, 2]), min_size=n, max_size=n))
    e = ci.sum_(k * x if k != 1 else x for k, x in zip(coefs, xs))
    op = draw(st.sampled_from(["==", "<=", "<", ">=", ">"]))
    rhs = draw(st.integers(-4, 8))
    m += {"==": e == rhs, "<=": e <= rhs, "<": e < rhs, ">=": e >= rhs, ">": e > rhs}[op]
    a, b = draw(st.sampled_from(xs[:8])), draw(st.sampled_from(xs[:8]))
    m += a != b + 1
    return m


@given(long_sum_models())
def test_listing_with_kept_sums_equals_the_numpy_join(m):
    names = [v.name for v in m.variables]
    got = sorted(tuple(s[n] for n in names) for s in m.solutions())
    arr = m.solutions_array()
    assert got == sorted(tuple(int(x) for x in row) for row in arr)


@given(long_sum_models(), st.booleans())
def test_the_candidate_heap_chooses_as_the_scan_does(m, descending):
    # the same solutions in the same order and the same node counts, whichever way the
    # branching variable is found
    order = "descending" if descending else "ascending"
    scanned = list(m.solutions()), m.solve(value_order=order)
    saved = search_mod.SCAN_VARS
    search_mod.SCAN_VARS = 0
    try:
        heaped = list(m.solutions()), m.solve(value_order=order)
    finally:
        search_mod.SCAN_VARS = saved
    assert scanned[0] == heaped[0]
    assert (scanned[1].status, scanned[1].nodes, scanned[1].values) == (
        heaped[1].status, heaped[1].nodes, heaped[1].values)


@st.composite
def kept_comparisons(draw):
    n = draw(st.integers(KEPT_SUM_TERMS, KEPT_SUM_TERMS + 4))
    m = ci.Model()
    xs = [m.int_var(f"x{i}", -3, 6) for i in range(n)]
    doms = []
    for _ in range(n):
        lo = draw(st.integers(-3, 6))
        hi = draw(st.integers(lo, 6))
        if draw(st.booleans()):
            doms.append(Domain.interval(lo, hi))
        else:
            doms.append(Domain.from_values(draw(st.lists(st.integers(lo, hi), min_size=1, max_size=4))))

    def side():
        k = draw(st.integers(KEPT_SUM_TERMS, n))
        chosen = draw(st.permutations(xs))[:k]
        terms = [x * draw(st.sampled_from([1, 1, 1, -1, 2, -3])) if draw(st.booleans()) else x
                 for x in chosen]
        if draw(st.booleans()):
            terms.append(Const(draw(st.integers(-5, 5))))
        e = terms[0]
        for t in terms[1:]:
            e = e + t if draw(st.booleans()) else e - t
        return e

    a = side()
    b = side() if draw(st.booleans()) else Const(draw(st.integers(-30, 30)))
    if draw(st.booleans()):
        a, b = b, a
    op = draw(st.sampled_from(["==", "<=", "<", ">=", ">"]))
    return Compare(op, a, b), doms


@given(kept_comparisons())
def test_kept_bounds_answer_only_what_a_full_revision_answers(case):
    c, doms = case
    sums = {}
    for s in (c.a, c.b):
        if type(s) is Const:
            continue
        terms = SumBounds.terms(s)
        assert terms is not None
        sb = SumBounds(s)
        sb.start(doms, terms)
        sums[id(s)] = sb
    quick = quick_compare(c, sums)
    if quick is None:
        return
    store = Store(list(doms))
    assert revise(c, store) == quick
    if quick == OPEN:
        assert store.doms == doms


def test_kept_bounds_follow_the_changes_of_the_store():
    m = ci.Model()
    xs = [m.int_var(f"x{i}", 0, 5) for i in range(KEPT_SUM_TERMS)]
    s = ci.sum_([xs[0] * 3, *xs[1:], Const(4)])
    terms = SumBounds.terms(s)
    doms = [Domain.interval(0, 5)] * len(xs)
    sb = SumBounds(s)
    sb.start(doms, terms)
    store = Store(list(doms))
    store.trail = []
    store.watch = {}
    for u, k, bare in terms:
        store.watch.setdefault(u, []).append((sb, k, bare))
    store.set(0, Domain.interval(2, 3))
    store.set(5, Domain.const(4))
    fresh = SumBounds(s)
    fresh.start(store.doms, terms)
    # 3 * x0 in 6..9, x5 = 4 (factor 4), fourteen terms in 0..5 (factor 1), the constant 4
    assert (sb.lo, sb.hi, sb.units) == (fresh.lo, fresh.hi, fresh.units) == (6 + 4 + 4, 9 + 4 + 14 * 5 + 4, 14)
    assert store.trail == [(0, doms[0]), (5, doms[5])]


@pytest.mark.parametrize("op", ["==", "<="])
def test_a_long_cardinality_sum_with_slack_is_open_without_revision(op):
    m = binaries(KEPT_SUM_TERMS + 4, 2)
    (c,) = m.constraints
    if op == "<=":
        c = ci.sum_(m.variables) <= 2
    c = Compare(op, c.a, c.b)
    doms = [Domain.interval(0, 1)] * len(m.variables)
    sb = SumBounds(c.a)
    sb.start(doms, SumBounds.terms(c.a))
    assert quick_compare(c, {id(c.a): sb}) == OPEN
