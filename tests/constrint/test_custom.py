"""User-defined constraint kinds (constrint.custom) and check_propagator, with the example's
power-of-two and all-different constraints."""
import runpy
from pathlib import Path

import pytest
from hypothesis import given, settings

import constrint as ci
from constrint.custom import CustomConstraint, wrap_custom
from constrint.domain import Domain
from constrint.expr import Not
from constrint.problem import Problem
from constrint.propagators import ENTAILED, FAILED, OPEN, Store, revise
from constrint.testing import (
    PropagatorError,
    SoundnessError,
    assert_sound,
    brute_force_solutions,
    check_propagation,
    check_propagator,
    domain_lists,
    model_text,
    models,
)
from constrint.transform import rebuild
from constrint.vectorized import vectorizable

EXAMPLE = runpy.run_path(str(Path(__file__).parents[2] / "examples" / "custom_constraint.py"))
PowerOfTwo = EXAMPLE["PowerOfTwo"]
AllDifferent = EXAMPLE["AllDifferent"]

# a fraction of the profile's examples: these tests run the whole solver per example
FEW = settings(max_examples=max(10, settings.default.max_examples // 6))


def _pow2(v):
    return v > 0 and v & (v - 1) == 0


class SloppyPowerOfTwo(PowerOfTwo):
    """Deliberately unsound: also drops the largest power of two of the domain."""

    name = "sloppy_power_of_two"

    def propagate(self, domains):
        (name, d), = domains.items()
        keep = [v for v in d if _pow2(v)]
        return {name: keep[:-1]}


class OnePassAllDifferent(AllDifferent):
    """Sound but not idempotent: removes the values fixed at the start, once."""

    def propagate(self, domains):
        fixed = {n: d.lo for n, d in domains.items() if d.is_fixed}
        out = {}
        for n, d in domains.items():
            for other, v in fixed.items():
                if other != n and d is not None:
                    d = d.remove(v)
            out[n] = d
        return out


class Widening:
    """Returns domains wider than the current ones (and as plain ints): must be intersected."""

    def __init__(self, x):
        self.variables = [x]

    def evaluate(self, a):
        return a[self.variables[0].name] >= 0

    def propagate(self, domains):
        (name, d), = domains.items()
        return {name: range(1000)}


class Returns:
    """Propagate returns a fixed answer (for the infeasible / bad-result cases)."""

    def __init__(self, x, answer):
        self.variables = [x]
        self.answer = answer

    def evaluate(self, a):
        return True

    def propagate(self, domains):
        return self.answer


# ---------------------------------------------------------------- the example


def test_example_model():
    m = EXAMPLE["build_model"]()
    assert m.count() == 46
    sols = list(m.solutions())
    assert len(sols) == 46 and all(m.check(s) for s in sols)
    m.maximize(m.var("a") + m.var("b"))
    r = m.solve()
    assert r.status is ci.Status.OPTIMAL and r.objective == 4 + 1024


def test_example_main_runs(capsys):
    EXAMPLE["main"]()
    out = capsys.readouterr().out
    assert "sound and idempotent" in out


# ---------------------------------------------------------------- protocol and wrapper


def test_wrapper_is_a_constraint():
    m = ci.Model()
    x = m.int_var("x", 0, 20)
    y = m.int_var("y", 0, 3)
    c = wrap_custom(AllDifferent(x, y))
    assert isinstance(c, CustomConstraint) and callable(c.revise)
    assert str(c) == "all_different(x, y)"
    assert list(c.variables()) == ["x", "y"]
    assert c.holds({"x": 1, "y": 2}) and not c.holds({"x": 2, "y": 2})
    assert isinstance(~c, Not) and (~c).holds({"x": 2, "y": 2})
    assert wrap_custom(c) is c
    with pytest.raises(TypeError):
        bool(c)


def test_custom_constraints_solve_like_built_in_ones():
    m = ci.Model()
    x = m.int_var("x", 0, 40)
    y = m.int_var("y", -3, 9)
    m += PowerOfTwo(x)
    m += AllDifferent(x, y)
    m += x + y >= 10
    expected = brute_force_solutions(m)
    assert m.count() == len(expected) > 0
    assert_sound(m)
    assert m.propagate()["x"] == Domain.from_values([1, 2, 4, 8, 16, 32])


def test_combinations_with_or_and_not():
    m = ci.Model()
    a = m.int_var("a", 0, 3)
    b = m.int_var("b", 0, 3)
    alldiff = wrap_custom(AllDifferent(a, b))
    m += alldiff | (a == 0)
    m += ~alldiff | (b == 1)
    assert sorted(tuple(s.values()) for s in m.solutions()) == [(0, 0), (0, 1), (2, 1), (3, 1)]
    assert_sound(m)


def test_or_with_a_custom_part_that_narrows_to_a_single_value():
    # regression: the 'or' tests its parts by a trial revision; ENTAILED there must mean
    # "true on the given domains", not "true after this propagator's narrowing"
    m = ci.Model()
    x = m.int_var("x", values=[2, 3])
    m += wrap_custom(PowerOfTwo(x)) | (x != x)
    assert m.count() == 1
    assert_sound(m)


def test_model_copy_and_rebind():
    m = ci.Model()
    x = m.int_var("x", 0, 16)
    m += PowerOfTwo(x)
    m2 = m.copy()
    (c2,) = m2.constraints
    assert c2.vars[0] is m2.var("x")
    assert m2.count() == 5
    # renaming: the user's object still sees its own names
    m3 = ci.Model()
    p = m3.int_var("p", 0, 70)
    m3.add(rebuild(m.constraints[0], lambda v: p))
    assert m3.count() == 7
    assert str(m3.constraints[0]) == "power_of_two(p)"
    with pytest.raises(ci.ModelError, match="only be replaced by variables"):
        rebuild(m.constraints[0], lambda v: p + 1)


def test_revise_rule():
    m = ci.Model()
    x = m.int_var("x", 0, 20)
    y = m.int_var("y", 0, 20)
    c = wrap_custom(AllDifferent(x, y))
    store = Store([Domain.const(3), Domain.interval(2, 4)])
    assert revise(c, store) == OPEN
    assert store.doms[1] == Domain.from_values([2, 4]) and store.changed == {1}
    store = Store([Domain.const(3), Domain.from_values([3, 5])])
    # y is fixed at 5 now: entailed only under the narrowed domains, so OPEN, then ENTAILED
    assert revise(c, store) == OPEN and store.doms[1] == Domain.const(5)
    assert revise(c, store) == ENTAILED
    assert revise(c, Store([Domain.const(3), Domain.const(3)])) == FAILED
    assert revise(c, Store([Domain.const(3), Domain.const(4)])) == ENTAILED
    assert revise(c, Store([Domain.const(3), Domain.from_values([3])])) == FAILED


def test_results_are_intersected_with_the_current_domains():
    m = ci.Model()
    x = m.int_var("x", -5, 5)
    m += Widening(x)
    assert m.propagate()["x"] == Domain.interval(0, 5)
    assert m.count() == 6


@pytest.mark.parametrize("answer", [None, {"x": None}, {"x": []}, {"x": set()}])
def test_infeasible_answers(answer):
    m = ci.Model()
    x = m.int_var("x", 0, 5)
    m += Returns(x, answer)
    assert m.propagate() is None
    assert m.count() == 0
    assert m.solve().status is ci.Status.INFEASIBLE


def test_only_changed_names_may_be_returned():
    m = ci.Model()
    x = m.int_var("x", 0, 5)
    y = m.int_var("y", 0, 5)
    m += _Pair(x, y)
    assert m.propagate() == {"x": Domain.interval(0, 5), "y": Domain.from_values([1, 2])}


class _Pair:
    def __init__(self, x, y):
        self.variables = [x, y]

    def evaluate(self, a):
        return a["y"] in (1, 2)

    def propagate(self, domains):
        return {self.variables[1]: [1, 2]}  # keys may also be the variables themselves


def test_bad_custom_objects():
    m = ci.Model()
    x = m.int_var("x", 0, 5)
    with pytest.raises(ci.ModelError, match="must hold model variables"):
        m.add(Returns(3, {}))
    with pytest.raises(ci.ModelError, match="not a custom constraint"):
        wrap_custom(object())
    other = ci.Model().int_var("x", 0, 5)
    with pytest.raises(ci.ModelError, match="another model"):
        m.add(PowerOfTwo(other))
    m.add(Returns(x, {"z": [1]}))
    with pytest.raises(ci.ModelError, match="not one of its variables"):
        m.count()
    m2 = ci.Model()
    m2.add(Returns(m2.int_var("x", 0, 5), [1, 2]))
    with pytest.raises(ci.ModelError, match="must return a dict"):
        m2.count()


def test_vectorized_enumeration_falls_back_to_search():
    m = ci.Model()
    xs = [m.int_var(f"x{i}", 0, 4) for i in range(3)]
    m += AllDifferent(*xs)
    m += xs[0] + xs[1] <= 5
    P = Problem(m)
    assert not vectorizable(P, range(len(P.cons)))
    arr = m.solutions_array()
    assert sorted(map(tuple, arr.tolist())) == sorted(
        tuple(s.values()) for s in brute_force_solutions(m)
    )


def test_dumps_has_no_text_for_custom_constraints():
    m = ci.Model()
    m += PowerOfTwo(m.int_var("x", 0, 5))
    with pytest.raises(ci.ModelError, match="custom constraints"):
        ci.dumps(m)
    assert "power_of_two(x)" in model_text(m)


@FEW
@given(models(max_vars=4, max_constraints=3, kinds=("<=", "!=", "and", "or", "not"),
              ops=("+", "-", "*"), custom=[PowerOfTwo, AllDifferent], objective=True))
def test_random_models_with_custom_constraints(m):
    assert_sound(m)


# ---------------------------------------------------------------- check_propagator


def test_check_propagator_accepts_the_examples():
    check_propagator(PowerOfTwo, max_examples=60)
    check_propagator(AllDifferent, domain_lists(2, 4, -3, 6, 5), max_examples=60)


def test_check_propagator_catches_an_unsound_propagator():
    with pytest.raises(PropagatorError) as info:
        check_propagator(SloppyPowerOfTwo, max_examples=200)
    err = info.value
    assert err.kind == "unsound"
    assert "domains before: x0 in" in str(err)
    # hypothesis shrinks to a single value that is reported infeasible, or to a removed value
    assert _pow2(err.solution["x0"]) and err.solution["x0"] in err.before["x0"]
    if err.after is not None:
        assert err.lost == ("x0", err.solution["x0"]) and err.lost[1] not in err.after["x0"]
        assert "domains after" in str(err)


def test_check_propagation_replays_one_case():
    with pytest.raises(PropagatorError, match=r"removed x0 = 4, which belongs to the solution x0=4"):
        check_propagation(SloppyPowerOfTwo, [Domain.from_values([1, 2, 3, 4])])
    with pytest.raises(PropagatorError, match="reported infeasible, but x0=2 is a solution"):
        check_propagation(SloppyPowerOfTwo, {"x0": [2, 3]})
    check_propagation(PowerOfTwo, [range(-3, 40)])


def test_check_propagator_catches_a_non_idempotent_propagator():
    with pytest.raises(PropagatorError) as info:
        check_propagator(OnePassAllDifferent, domain_lists(3, 3, 0, 4, 4), max_examples=300)
    assert info.value.kind == "not idempotent"
    assert "after propagate again" in str(info.value)


def test_assert_sound_catches_an_unsound_propagator_and_minimises():
    m = ci.Model()
    xs = [m.int_var(f"x{i}", 0, 9) for i in range(4)]
    m += xs[1] + xs[2] <= 10
    m += SloppyPowerOfTwo(xs[0])
    m += xs[3] != 4
    with pytest.raises(SoundnessError) as info:
        assert_sound(m)
    small = info.value.model
    assert [v.name for v in small.variables] == ["x0"]
    # {0, 1}: on a single value the solver evaluates instead of propagating
    assert len(small.constraints) == 1 and small.domain("x0").size <= 2
    assert "sloppy_power_of_two(x0)" in str(info.value)


def test_the_example_in_docs_testing_md_runs(capsys):
    import re

    text = (Path(__file__).parents[2] / "docs" / "testing.md").read_text()
    (block,) = [b for b in re.findall(r"```python\n(.*?)```", text, re.S) if "class PowerOfTwo" in b]
    namespace: dict = {}
    exec(compile(block, "docs/testing.md", "exec"), namespace)
    assert capsys.readouterr().out.split("\n")[0] == "46"
    check_propagator(namespace["AllDifferent"], domain_lists(2, 3, 0, 4, 4), max_examples=30)
