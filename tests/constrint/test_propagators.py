"""Per-propagator soundness: revising a constraint never removes a value of a solution."""
import itertools

from hypothesis import given
from hypothesis import strategies as st

import constrint as ci
from constrint.domain import Domain
from constrint.problem import Problem
from constrint.propagators import FAILED, Store, revise
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
