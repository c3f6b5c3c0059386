"""Booleans as numbers, conditional expressions, element, bitwise operators, shifts and powers:
Python's semantics in the API, the .cint language and every solver path."""
from __future__ import annotations

import itertools
import operator

import pytest
from hypothesis import given

import constrint as ci
from constrint.testing import (
    ALL_CONSTRAINTS,
    ALL_OPS,
    BOOLEAN_KINDS,
    INT_OPS,
    assert_equivalent,
    assert_sound,
    brute_force_solutions,
    models,
)

# ---------------------------------------------------------------------------- Python API


def _model(lo=-6, hi=9):
    m = ci.Model()
    return m, m.int_var("x", lo, hi), m.int_var("y", lo, hi)


def _every(m, c):
    names = [v.name for v in m.variables]
    doms = [list(m.domain(v)) for v in m.variables]
    return [dict(zip(names, combo)) for combo in itertools.product(*doms)]


@pytest.mark.parametrize(
    "build, python",
    [
        (lambda x, y: x & y, operator.and_),
        (lambda x, y: x | y, operator.or_),
        (lambda x, y: x ^ y, operator.xor),
        (lambda x, y: ~x + y, lambda a, b: ~a + b),
        (lambda x, y: x >> y, operator.rshift),
        (lambda x, y: x << y, operator.lshift),
        (lambda x, y: x**y, operator.pow),
        (lambda x, y: 3 & x, lambda a, b: 3 & a),
        (lambda x, y: (x < y) + (x > 0), lambda a, b: (a < b) + (a > 0)),
        (lambda x, y: (x < y) * 7 - (y == 2), lambda a, b: (a < b) * 7 - (b == 2)),
        (lambda x, y: ci.if_then_else(y != 0, x // y, -100), lambda a, b: a // b if b != 0 else -100),
        (lambda x, y: ci.element([4, x, 8], y), lambda a, b: [4, a, 8][b]),
        (lambda x, y: round(ci.true_div(x, 4)), lambda a, b: round(a / 4)),
    ],
)
def test_operators_evaluate_like_python(build, python):
    m, x, y = _model()
    e = build(x, y)
    for a in _every(m, None):
        try:
            expected = python(a["x"], a["y"])
        except (ValueError, ZeroDivisionError, IndexError):
            with pytest.raises(ci.Undefined):
                e.evaluate(a)
            continue
        if a["y"] < 0 and build(x, y).__class__.__name__ == "Element":
            # Python counts negative list indices from the end; element() does not
            with pytest.raises(ci.Undefined):
                e.evaluate(a)
            continue
        assert e.evaluate(a) == expected, (a, str(e))


@pytest.mark.parametrize(
    "build",
    [
        lambda x, y: x & (x - 1) == 0,
        lambda x, y: (x | y) ^ 5 > 3,
        lambda x, y: x << y == 8,
        lambda x, y: x >> y >= 1,
        lambda x, y: 2**y <= x + 3,
        lambda x, y: x ** y > 1,
        lambda x, y: (x > 1) + (y > 1) <= 1,
        lambda x, y: (x > 0) == (y > 0),
        lambda x, y: ci.if_then_else(x > y, x - y, y - x) == 3,
        lambda x, y: ci.element([1, 2, 4, 8, 16], y) == x + 10,
        lambda x, y: ci.element([x, y, x * y], y + 1) == 6,
        lambda x, y: ci.xor(x > 2, y > 2, x == y),
        lambda x, y: ci.equivalent(x > 2, y < 0) | (x // y == 1),
        lambda x, y: ci.if_then_else(y != 0, 12 // y, 5) == x,
        lambda x, y: round(ci.true_div(x * 3, 4)) == y,
        lambda x, y: ~x >= y,
    ],
)
def test_every_path_equals_brute_force(build):
    m, x, y = _model()
    m += build(x, y)
    assert_sound(m)
    text = ci.dumps(m)
    m2 = ci.loads(text)
    assert ci.dumps(m2) == text
    assert m2.count() == m.count()


def test_undefinedness_propagates_through_a_reified_constraint():
    m, x, y = _model(-2, 2)
    m += (x // y == 1) + 0 >= 0  # undefined where y == 0
    assert all(s["y"] != 0 for s in m.solutions())
    assert m.count() == 20


def test_only_the_branch_taken_is_evaluated():
    m, x, y = _model(-2, 2)
    m += ci.if_then_else(y == 0, x, x // y) >= 0
    assert m.count() == len(brute_force_solutions(m))
    assert {"x": 1, "y": 0} in list(m.solutions())


def test_boolean_variables():
    m = ci.Model()
    a, b, c = (m.bool_var(n) for n in "abc")
    x = m.int_var("x", 0, 5)
    m += a | b
    m += ~c
    m += ci.equivalent(a, x >= 3)
    m += a + b + c == 1
    sols = list(m.solutions())
    assert sols and all(s["a"] + s["b"] == 1 and s["c"] == 0 for s in sols)
    assert m.count() == len(brute_force_solutions(m)) == 6
    assert "var a in bool;" in ci.dumps(m)
    assert ci.loads(ci.dumps(m)).count() == 6
    assert m.copy().var("a").boolean and not m.copy().var("x").boolean


def test_constraints_as_numbers_and_bitwise_mixing():
    m, x, y = _model(0, 3)
    b = m.bool_var("b")
    c = x > 1
    assert str(c + 1) == "(x > 1) + 1"
    assert str(2 * c) == "2 * (x > 1)"
    assert str(-c) == "-(x > 1)"
    assert str(c == (y > 1)) == "(x > 1) == (y > 1)"
    assert str(c & b) == "x > 1 and b != 0"  # a boolean: logical
    assert str(c & y) == "bitand((x > 1), y)"  # an integer: bitwise, as True & 3 in Python
    assert str(b & (y > 1)) == "bitand(b, (y > 1))"
    assert isinstance(ci.xor(c, b), ci.Constraint)


def test_an_integer_expression_is_not_a_constraint():
    m, x, y = _model()
    with pytest.raises(ci.ModelError, match="not a constraint"):
        m.add(x + y)
    with pytest.raises(TypeError):
        (x > 1) & 5
    with pytest.raises(TypeError, match="integer operands"):
        ci.true_div(x, 2) & y


def test_element_narrows_its_index():
    m = ci.Model()
    i = m.int_var("i", -5, 50)
    m += ci.element([3, 9, 27, 81], i) > 10
    assert list(m.propagate()["i"]) == [2, 3]


def test_variable_exponent_sign_decides_integrality():
    m = ci.Model()
    k = m.int_var("k", 0, 6)
    j = m.int_var("j", -2, 6)
    assert (2**k).integral and not (2**j).integral
    m += 2**j * 4 > 1
    assert m.count() == len(brute_force_solutions(m)) == 7 * 8
    with pytest.raises(ci.ModelError, match=r"true division|non-integer"):
        m.maximize(2**j)


# ---------------------------------------------------------------------------- .cint text


@pytest.mark.parametrize(
    "text, python",
    [
        ("bitand(x, x - 1) == 0", lambda x, y: x & (x - 1) == 0),
        ("bitor(x, y, 1) == 7", lambda x, y: x | y | 1 == 7),
        ("bitxor(x, y) > bitnot(y)", lambda x, y: x ^ y > ~y),
        ("x << 2 + 1 < 30", lambda x, y: x << 2 + 1 < 30),
        ("x >> 1 == y", lambda x, y: x >> 1 == y),
        ("2 ^ y <= x", lambda x, y: 2**y <= x),
        ("(x > 1) + (y > 1) <= 1", lambda x, y: (x > 1) + (y > 1) <= 1),
        ("(x > 2) == (y > 2)", lambda x, y: (x > 2) == (y > 2)),
        ("(x if y > 1 else y) == 2", lambda x, y: (x if y > 1 else y) == 2),
        ("[1, 2, 4, 8][y] == x", lambda x, y: [1, 2, 4, 8][y] == x),
        ("round(truediv(x, 3)) == 1", lambda x, y: round(x / 3) == 1),
        ("x in bool", lambda x, y: x in (0, 1)),
        ("x not in bool or y == 0", lambda x, y: x not in (0, 1) or y == 0),
    ],
)
def test_cint_text_has_pythons_meaning(text, python):
    m = ci.loads(f"var x in 0..8; var y in 0..3; {text};")
    expected = sum(
        1 for x in range(9) for y in range(4) if python(x, y)
    )
    assert m.count() == len(brute_force_solutions(m)) == expected
    again = ci.loads(ci.dumps(m))
    assert again.count() == expected and ci.dumps(again) == ci.dumps(m)


def test_cint_booleans():
    m = ci.loads("var a, b in bool; var x in 0..5; a or b; not a or x > 3; b == (x < 2);")
    assert m.var("a").boolean
    assert m.count() == len(brute_force_solutions(m))


@pytest.mark.parametrize(
    "text, fragment",
    [
        ("var x in 0..3; x[1] == 2;", "only a value list can be indexed"),
        ("var x in 0..3; var y in 0..100; x ^ y == 2;", "may reach 100"),
        ("var x in 0..3; var y in 0..2000; x << y == 2;", "may reach 2000"),
        ("var x in 0..3; x + 1;", "got an integer expression"),
        ("var x in foo;", "unknown domain 'foo'"),
        ("var x in 0..3; x in foo;", "unknown domain 'foo'"),
        ("var x in 0..3; bitand(x) == 1;", "at least two"),
        ("var x in 0..3; bitnot(truediv(x, 2)) == 1;", "integer argument"),
    ],
)
def test_cint_errors(text, fragment):
    with pytest.raises(ci.ConstraintSyntaxError) as info:
        ci.loads(text)
    assert fragment in info.value.message, str(info.value)


# ---------------------------------------------------------------------------- properties

_OPS = ALL_OPS + INT_OPS
_KINDS = ALL_CONSTRAINTS + BOOLEAN_KINDS


@given(models(ops=_OPS, kinds=_KINDS, objective=True, lexicographic=True, max_domain_size=8))
def test_new_operators_sound(m):
    assert_sound(m)


@given(models(ops=_OPS, kinds=_KINDS, objective=True, max_domain_size=6))
def test_new_operators_round_trip_through_the_text(m):
    text = ci.dumps(m)
    m2 = ci.loads(text)
    assert ci.dumps(m2) == text
    assert_equivalent(m, m2, method="brute")
