"""Per-propagator soundness: revising a constraint never removes a value of a solution."""
import itertools

from hypothesis import given
from hypothesis import strategies as st

import constrint as ci
from constrint.domain import Domain
from constrint.problem import Problem
from constrint.propagators import FAILED, IMAGE_CACHE, Store, _pairs, revise
from constrint.testing import constraints, domains


@st.composite
def narrowed_problem(draw):
    m = ci.Model()
    n = draw(st.integers(1, 3))
    for i in range(n):
        kind, spec = draw(domains(-8, 16, 10))
        if kind == "values":
            m.int_var(f"x{i}", values=spec)
        else:
            m.int_var(f"x{i}", spec[0], spec[1])
    c = draw(constraints(m.variables, nesting=1))
    m.add(c)
    # a random sub-domain per variable, as search would produce
    subs = []
    for v in m.variables:
        vals = list(m.domain(v))
        keep = draw(st.lists(st.sampled_from(vals), min_size=1, max_size=len(vals), unique=True))
        subs.append(Domain.from_values(keep))
    return m, subs


@given(narrowed_problem())
def test_revise_keeps_every_supported_value(case):
    m, subs = case
    P = Problem(m)
    names = [v.name for v in m.variables]
    solutions = []
    for combo in itertools.product(*(list(d) for d in subs)):
        a = dict(zip(names, combo))
        if all(c.holds(a) for c in m.constraints):
            solutions.append(combo)
    for con in P.cons:
        store = Store(list(subs))
        status = revise(con, store)
        if status == FAILED:
            assert not solutions, f"{con} failed although {solutions[0]} is a solution"
            continue
        for combo in solutions:
            for d, value in zip(store.doms, combo):
                assert value in d, f"{con} removed {value} (solution {combo}); domains {store.doms}"


@given(narrowed_problem())
def test_the_image_cache_changes_no_revision(case):
    m, subs = case
    P = Problem(m)
    images: dict = {}
    for con in P.cons:
        plain = Store(list(subs))
        expected = revise(con, plain)
        for _ in range(2):  # the second time from the cache
            cached = Store(list(subs), images)
            assert revise(con, cached) == expected
            assert cached.doms == plain.doms and cached.changed == plain.changed


def test_the_image_cache_is_bounded_and_exact():
    images: dict = {}
    B = Domain.from_values([-3, -1, 2, 5])
    for k in range(IMAGE_CACHE + 10):
        A = Domain.from_values([k, k + 3, -k])
        for fn in (int.__mul__, int.__floordiv__, int.__mod__, min):
            assert _pairs(fn, A, B, images) == _pairs(fn, A, B)
        assert len(images) <= IMAGE_CACHE
    A = Domain.from_values([0, 1, 6])
    B = Domain.from_values([0, 2])
    first = _pairs(int.__floordiv__, A, B, images)
    assert first == Domain.from_values([0, 3])
    assert _pairs(int.__floordiv__, A, B, images) is first
    assert _pairs(int.__floordiv__, A, Domain.from_values([0]), images) is None  # every pair undefined


@given(narrowed_problem())
def test_root_propagation_keeps_every_solution(case):
    m, _ = case
    doms = m.propagate()
    names = [v.name for v in m.variables]
    for combo in itertools.product(*(list(m.domain(v)) for v in m.variables)):
        a = dict(zip(names, combo))
        if all(c.holds(a) for c in m.constraints):
            assert doms is not None
            for n, value in a.items():
                assert value in doms[n]
