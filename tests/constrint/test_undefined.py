"""One semantics for undefined operations on every path.

A condition whose evaluation is undefined (a division or modulo by zero, an exact division that
does not divide, ...) makes the constraint holding it false. On the ``.cint`` path that is the
whole top-level constraint (also under ``or`` and ``not``); on the T1 path it is what Python does:
the exception ends the condition, so the configuration is invalid, but only where Python evaluates
the operation (``or`` and ``and`` short-circuit). Every way of asking the solver (count, solutions,
solutions_array, solve, optimise) gives the answer brute force gives.
"""
import contextlib
import itertools

from hypothesis import given, settings
from hypothesis import strategies as st

import constrint as ci
from constrint.testing import assert_sound, brute_force_solutions, models

from .test_t1 import _VARS, _bool_exprs, space

_PARTIAL = ("+", "-", "*", "//", "%", "/", "min", "max", "abs")
_PROFILE = settings.default.max_examples


def _sound_everywhere(m):
    assert_sound(m, checks=("count", "solutions", "array", "solve", "optimum"), minimize=False)


@settings(max_examples=max(10, _PROFILE // 3))
@given(models(ops=_PARTIAL, kinds=("==", "!=", "<", "<=", "divides", "and", "or", "not"),
              nesting=3, objective=True, max_vars=4))
def test_cint_path_agrees_with_brute_force_under_and_or_not(m):
    text = ci.dumps(m)
    m2 = ci.loads(text)
    key = lambda ss: sorted(tuple(sorted(s.items())) for s in ss)  # noqa: E731
    assert key(brute_force_solutions(m2)) == key(brute_force_solutions(m)), text
    _sound_everywhere(m2)


def _python_valid(conds, a):
    try:
        return all(bool(c[1](a)) for c in conds)
    except ZeroDivisionError:
        return False  # Python raises: the configuration is not valid


@settings(max_examples=max(10, _PROFILE // 3))
@given(st.lists(_bool_exprs(), min_size=1, max_size=2), st.sampled_from(["min", "max", None]))
def test_t1_path_agrees_with_python_and_brute_force(conds, sense):
    m = ci.load_t1(space({k: repr(v) for k, v in _VARS.items()}, [c[0] for c in conds]))
    names = list(_VARS)
    expected = sum(
        _python_valid(conds, dict(zip(names, combo))) for combo in itertools.product(*_VARS.values())
    )
    assert len(brute_force_solutions(m)) == expected
    x, y = m.var("x"), m.var("y")
    if sense == "min":
        m.minimize(x - 2 * y)
    elif sense == "max":
        m.maximize(x * y)
    _sound_everywhere(m)


def _t1(cond, params):
    return ci.load_t1(space(params, [cond]))


def test_t1_division_by_zero_inside_or_counts_like_python():
    params = {"x1": "list(range(0, 33))", "x3": "[0, 1, 2, 5]", "x4": "[0, 1, 3, 7]"}
    m = _t1("(x1 + 0 / x1) != 12 % max(x4, x3) or x1 <= 16", params)
    python = 0
    for x1, x3, x4 in itertools.product(range(33), [0, 1, 2, 5], [0, 1, 3, 7]):
        with contextlib.suppress(ZeroDivisionError):  # Python raises: not valid
            python += bool((x1 + 0 / x1) != 12 % max(x4, x3) or x1 <= 16)
    assert m.count() == len(m.solutions_array()) == len(list(m.solutions())) == python == 480
    assert m.solve().status is ci.Status.FEASIBLE
    m.maximize(m.var("x1") * 100 + m.var("x4") * 10 + m.var("x3"))
    r = m.solve()
    assert r.status is ci.Status.OPTIMAL and r.values == {"x1": 32, "x3": 5, "x4": 7}


def test_t1_short_circuit_keeps_the_right_side_unevaluated():
    m = _t1("x <= 2 or 12 % x == 0", {"x": "[0, 1, 2, 3, 4, 5, 6]"})
    # x = 0: Python never evaluates 12 % 0 (x <= 2 holds); x = 5: 12 % 5 != 0
    assert sorted(s["x"] for s in m.solutions()) == [0, 1, 2, 3, 4, 6]
    m = _t1("12 % x == 0 or x <= 2", {"x": "[0, 1, 2, 3, 4, 5, 6]"})
    # x = 0: 12 % 0 raises before the right side is looked at: invalid
    assert m.count() == 5 and sorted(s["x"] for s in m.solutions()) == [1, 2, 3, 4, 6]


def test_cint_undefined_part_of_or_makes_the_whole_constraint_false():
    m = ci.loads("var x in 0..6;\nx <= 2 or 12 % x == 0;\n")
    assert sorted(s["x"] for s in m.solutions()) == [1, 2, 3, 4, 6]
    assert m.count() == len(m.solutions_array()) == 5
    m = ci.loads("var x in 0..6;\nnot (12 % x == 0);\n")
    assert m.count() == 1 and m.solve().values == {"x": 5}
