"""The testing toolkit itself: strategy knobs, the oracle, assert_sound and assert_equivalent."""
import math
import re

import numpy as np
import pytest
from hypothesis import find, given, settings
from hypothesis import strategies as st

import constrint as ci
from constrint.booleans import IfThenElse, Reify
from constrint.domain import Domain
from constrint.expr import (
    Abs,
    Add,
    And,
    Compare,
    Const,
    Divides,
    ExactDiv,
    FloorDiv,
    Max,
    Min,
    Mod,
    Mul,
    Neg,
    Not,
    NotDivides,
    Or,
    Pow,
    Sub,
    TrueDiv,
    Trunc,
    Var,
    walk,
)
from constrint.global_constraints import Element
from constrint.intops import BitAnd, BitNot, BitOr, BitXor, LShift, Power, RShift
from constrint.testing import (
    CHECKS,
    EVERY_OP,
    EquivalenceError,
    SoundnessError,
    assert_equivalent,
    assert_sound,
    brute_force_count,
    brute_force_optimum,
    brute_force_solutions,
    build_model,
    cartesian_size,
    constraints,
    domain_objects,
    domains,
    expression_depth,
    expressions,
    int_values,
    model_text,
    models,
)

FEW = settings(max_examples=max(10, settings.default.max_examples // 5))


def _vars(n=3, lo=-3, hi=5):
    m = ci.Model()
    return m, [m.int_var(f"v{i}", lo, hi) for i in range(n)]


def _values(spec):
    kind, data = spec
    return list(data) if kind == "values" else list(range(data[0], data[1] + 1))


# ---------------------------------------------------------------- strategies


@FEW
@given(domains(-5, 9, 6, negatives=False, zero=False))
def test_domains_without_negatives_or_zero(spec):
    vals = _values(spec)
    assert 1 <= len(vals) <= 6 and all(1 <= v <= 9 for v in vals)


@FEW
@given(domains(-9, -2, 4, kinds=("interval",)))
def test_domains_negative_intervals(spec):
    assert spec[0] == "interval"
    assert all(-9 <= v <= -2 for v in _values(spec)) and len(_values(spec)) <= 4


def test_huge_values_appear_but_stay_few():
    spec = find(domains(huge_values=True, max_size=3), lambda s: any(abs(v) >= 2**62 for v in _values(s)))
    assert len(_values(spec)) <= 3
    v = find(int_values(0, 5, huge=True, negatives=False), lambda v: v > 2**40)
    assert v > 0
    big = find(domains(huge=True), lambda s: s[0] == "interval" and s[1][1] - s[1][0] > 2**60)
    assert big[1][0] < big[1][1]


@FEW
@given(domain_objects(0, 30, 5, zero=False))
def test_domain_objects(d):
    assert isinstance(d, Domain) and 0 not in d and d.lo >= 0 and d.size <= 5 * 6


@FEW
@given(st.data())
def test_expressions_respect_ops_and_depth(data):
    _, vs = _vars()
    ops = data.draw(st.lists(st.sampled_from(EVERY_OP), min_size=1, unique=True))
    depth = data.draw(st.integers(0, 3))
    e = data.draw(expressions(vs, ops, depth))
    table = {"+": Add, "-": Sub, "*": Mul, "//": FloorDiv, "%": Mod, "**": Pow, "/": ExactDiv,
             "truediv": TrueDiv, "trunc": Trunc, "neg": Neg, "abs": Abs, "min": Min, "max": Max,
             "&": BitAnd, "|": BitOr, "^": BitXor, "~": BitNot, "<<": LShift, ">>": RShift,
             "power": (Power, Pow), "if": (IfThenElse, Compare), "element": Element,
             "bool": (Reify, Compare)}
    assert set(table) == set(EVERY_OP)
    allowed = {Var, Const}
    for op in ops:
        allowed |= set(table[op]) if isinstance(table[op], tuple) else {table[op]}
    assert {type(n) for n in walk(e)} <= allowed
    assert expression_depth(e) <= depth


@FEW
@given(st.data())
def test_constraints_respect_kinds_and_nesting(data):
    _, vs = _vars()
    nesting = data.draw(st.integers(0, 2))
    c = data.draw(constraints(vs, ("+",), ("<", "divides", "or", "not"), max_depth=1, nesting=nesting))
    types = {type(n) for n in walk(c)}
    assert types <= {Compare, Divides, NotDivides, Or, And, Not, Add, Var, Const}
    assert all(n.op in ("<", ">=") for n in walk(c) if isinstance(n, Compare))  # ~(a < b) is a >= b

    def connective_depth(n):
        if isinstance(n, (And, Or, Not)):
            return 1 + max(connective_depth(ch) for ch in n.children)
        return 0

    # ~ of an and/or is pushed inside, so a level of "not" may add one
    assert connective_depth(c) <= 2 * nesting


@FEW
@given(models(min_vars=2, max_vars=4, min_constraints=0, max_constraints=2, max_cartesian=300,
              objective=True, lexicographic=True, prefix="t"))
def test_models_knobs(m):
    assert 2 <= len(m.variables) <= 4 and len(m.constraints) <= 2
    assert all(v.name.startswith("t") for v in m.variables)
    assert cartesian_size(m) <= 300
    exprs, sense = m.objective
    assert 1 <= len(exprs) <= 2 and sense in ("minimize", "maximize")


def test_existing_names_still_work():
    from constrint.testing import ALL_CONSTRAINTS, ALL_OPS

    assert "+" in ALL_OPS and "divides" in ALL_CONSTRAINTS
    kind, spec = find(domains(-8, 16, 10), lambda s: s[0] == "values" and len(s[1]) > 1)
    assert kind == "values" and all(-8 <= v <= 16 for v in spec)


# ---------------------------------------------------------------- oracle


def test_oracle_counts_and_optimum_skip_undefined_objective():
    m = ci.Model()
    x = m.int_var("x", -2, 2)
    m += x != 1
    assert brute_force_count(m) == 4
    m.maximize(10 // x)
    assert brute_force_optimum(m) == 5  # x = 2; x = 0 leaves the objective undefined
    with pytest.raises(ci.ModelError, match="too large"):
        brute_force_solutions(m, limit=3)


# ---------------------------------------------------------------- assert_sound


def _model():
    m = ci.Model()
    x = m.int_var("x", 0, 6)
    y = m.int_var("y", values=[1, 2, 4])
    z = m.int_var("z", -2, 2)
    m += ci.divides(y, x)
    m += x + y <= 8
    m += z != 0
    m.minimize(x - y)
    return m


def test_assert_sound_passes_on_a_correct_model():
    assert_sound(_model())


def test_assert_sound_reports_a_wrong_count_with_the_minimal_model(monkeypatch):
    m = _model()
    real = ci.Model.count
    monkeypatch.setattr(ci.Model, "count", lambda self, *a, **k: real(self) + 1)
    with pytest.raises(SoundnessError) as info:
        assert_sound(m)
    err = info.value
    assert err.check == "count" and err.original is m
    # nothing is left: count() of the empty model is still wrong
    assert err.model.variables == [] and err.model.constraints == []
    text = str(err)
    assert "count() returned 2, brute force finds 1 solutions" in text
    assert "minimal failing model:" in text and "reduced from this model" in text
    assert "var y in [1, 2, 4];" in text  # the original, printed in the .cint language


def _drop_last(gen):
    items = list(gen)
    return iter(items[:-1])


@pytest.mark.parametrize("check", ["solutions", "array", "solve", "optimum", "propagate"])
def test_assert_sound_catches_each_kind_of_wrong_answer(monkeypatch, check):
    m = _model()
    if check == "solutions":
        real = ci.Model.solutions
        monkeypatch.setattr(ci.Model, "solutions", lambda self, limit=None: _drop_last(real(self)))
        expect = "solutions() misses 1 of the"
    elif check == "array":
        real = ci.Model.solutions_array
        monkeypatch.setattr(ci.Model, "solutions_array", lambda self, **k: real(self)[1:])
        expect = "solutions_array() misses 1 of the"
    elif check == "solve":
        monkeypatch.setattr(ci.Model, "solve", lambda self, *a, **k: ci.Result(ci.Status.INFEASIBLE))
        expect = "returned status INFEASIBLE, but"
    elif check == "optimum":
        real = ci.Model.solve

        def solve(self, *a, **k):
            r = real(self, *a, **k)
            if self.objective is None:
                return r
            return ci.Result(r.status, r.values, r.objective + 1)

        monkeypatch.setattr(ci.Model, "solve", solve)
        expect = "brute force finds the optimum"
    else:
        real = ci.Model.propagate

        def propagate(self):
            doms = real(self)
            return {n: (d.clip(d.lo + 1, None) or d) if d.size > 1 else d for n, d in doms.items()}

        monkeypatch.setattr(ci.Model, "propagate", propagate)
        expect = "propagate() removed"
    with pytest.raises(SoundnessError, match=re.escape(expect)) as info:
        assert_sound(m)
    assert info.value.check == check
    assert len(info.value.model.constraints) <= len(m.constraints)


def test_assert_sound_reports_crashes(monkeypatch):
    def boom(self, *a, **k):
        raise ci.InternalSolverError("solver produced something odd")

    monkeypatch.setattr(ci.Model, "count", boom)
    with pytest.raises(SoundnessError, match="count raised InternalSolverError: solver produced") as info:
        assert_sound(_model(), minimize=False)
    assert isinstance(info.value.__cause__, ci.InternalSolverError)
    assert "failing model:" in str(info.value)


def test_assert_sound_minimises_expressions(monkeypatch):
    # a fake bug: count() is wrong whenever a constraint contains a product
    real = ci.Model.count

    def count(self, *a, **k):
        n = real(self)
        bug = any(isinstance(x, Mul) for c in self.constraints for x in walk(c))
        return n + 1 if bug else n

    monkeypatch.setattr(ci.Model, "count", count)
    m = ci.Model()
    x, y, z = (m.int_var(n, -3, 9) for n in "xyz")
    m += (abs(x - 2 * (y + z)) <= 7) | (x % 3 == 1)
    m += y != z
    with pytest.raises(SoundnessError) as info:
        assert_sound(m)
    small = info.value.model
    assert len(small.constraints) == 1 and sum(cartesian_size(small) for _ in [0]) <= 2
    assert sum(1 for _ in walk(small.constraints[0])) <= 5


def test_no_minimisation_inside_hypothesis(monkeypatch):
    real = ci.Model.count
    monkeypatch.setattr(ci.Model, "count", lambda self, *a, **k: real(self) + 1)
    seen = []

    @settings(max_examples=3, database=None)
    @given(st.just(0))
    def inner(_):
        with pytest.raises(SoundnessError) as info:
            assert_sound(_model())
        seen.append(info.value.model is info.value.original)

    inner()
    assert seen and all(seen)


def test_assert_sound_arguments():
    with pytest.raises(ValueError, match="unknown checks"):
        assert_sound(_model(), checks=["speed"])
    m = ci.Model()
    m.int_var("x", 0, 10**9)
    with pytest.raises(ci.ModelError, match="too large"):
        assert_sound(m)
    assert set(CHECKS) == {"propagate", "count", "solutions", "array", "solve", "optimum"}


def test_model_text_falls_back_to_repr(monkeypatch):
    m = _model()
    assert model_text(m).startswith("# constrint model")
    from constrint.testing import assertions

    def broken(model):
        raise RuntimeError("printer under construction")

    monkeypatch.setattr(assertions, "dumps", broken)
    assert model_text(m).startswith("<Model")


def test_huge_values_through_assert_sound():
    m = ci.Model()
    x = m.int_var("x", values=[-(2**62), 3, 2**62, 2**63 + 1])
    y = m.int_var("y", values=[2, 2**40])
    m += x * y > 2**70
    m += ci.divides(y, x)
    assert_sound(m)
    arr = m.solutions_array()
    assert arr.dtype == object or arr.dtype == np.int64


# ---------------------------------------------------------------- assert_equivalent


@FEW
@given(models(max_vars=3, max_constraints=2, objective=True))
def test_a_copy_is_equivalent(m):
    assert_equivalent(m, m.copy())
    assert_equivalent(m, build_model([(v.name, m.domain(v)) for v in m.variables], m.constraints))


def test_assert_equivalent_shows_a_witness():
    a = ci.Model()
    x = a.int_var("x", 0, 5)
    a += x < 3
    b = ci.Model()
    y = b.int_var("x", 0, 5)
    b += y <= 3
    with pytest.raises(EquivalenceError) as info:
        assert_equivalent(a, b)
    err = info.value
    assert err.only_a == [] and err.only_b == [{"x": 3}]
    text = str(err)
    assert "only in B: x=3  (A: violates x < 3)" in text
    assert "model A:" in text and "x < 3;" in text and "x <= 3;" in text
    with pytest.raises(EquivalenceError):
        assert_equivalent(a, b, method="solver")


def test_assert_equivalent_domains_and_projection():
    a = ci.Model()
    a.int_var("x", 0, 3)
    b = ci.Model()
    b.int_var("x", 0, 4)
    with pytest.raises(EquivalenceError, match=r"x=4 is outside its domain \{0, 1, 2, 3\}"):
        assert_equivalent(a, b)
    # a helper variable in B, projected away
    c = ci.Model()
    x = c.int_var("x", 0, 3)
    h = c.int_var("h", 0, 9)
    c += h == 2 * x
    with pytest.raises(EquivalenceError, match="different variables"):
        assert_equivalent(a, c)
    assert_equivalent(a, c, variables=["x"])
    with pytest.raises(ValueError):
        assert_equivalent(a, c, variables=["h"])
    with pytest.raises(ValueError):
        assert_equivalent(a, a, method="guess")


def test_round_trip_through_the_language():
    m = _model()
    assert_equivalent(m, ci.loads(ci.dumps(m)))
    assert math.isfinite(brute_force_count(m))
