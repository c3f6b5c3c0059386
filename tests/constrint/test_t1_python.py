"""Every Python construct the T1 reader accepts, checked against Python's own evaluation of the
same string on every configuration (a raise counts as invalid), on every solver path and after
a round trip through the .cint text."""
from __future__ import annotations

import itertools

import pytest

import constrint as ci
from constrint.t1 import read_t1
from constrint.testing import brute_force_solutions

PARAMS = {
    "x": [-2, 0, 1, 3, 4, 8],
    "y": [0, 1, 2, 3],
    "b": [True, False],
    "s": ["a", "b", "d"],
    "f": [0.5, 2.0, 2.5],
}
NAMES = list(PARAMS)
#: The builtins a condition may call, for Python's own evaluation of it.
BUILTINS = {f.__name__: f for f in (sum, len, min, max, round, int, float, bool, abs)}

CONSTRUCTS = {
    "membership in constant sets and tuples": [
        "x in {1, 3, 8}", "x not in (0, 8)", "s in {'a', 'd'}", "x in {1, 'a'}", "2 in (x, y)",
        "y in {x, 2}", "s not in ('b',)", "f in {0.5, 2}",
    ],
    "variable exponents": [
        "2 ** y <= x", "x ** y == 8", "x ** (y - 2) > 0.3", "(-2) ** y > 1", "f ** y < 2",
        "y ** 2 ** y > 10",
    ],
    "comparisons as numbers": [
        "(x > 1) + (y > 1) <= 1", "(x > 0) == (y > 0)", "(x < y) * 3 - (b == 1) > 0",
        "(s == 'a') + (x > 3) == 1", "sum([x > 0, y > 0, b]) >= 2", "-(x > 1) < 0",
    ],
    "bitwise operators": [
        "x & (x - 1) == 0", "x | y == 3", "x ^ y > 2", "x << y < 20", "x >> y == 1",
        "~x < -3", "x >> (y - 1) == 2", "b & (x > 0)", "(x | b) ^ y == 2", "y == 0 or 8 >> y - 2 > 1",
    ],
    "conditional expressions": [
        "(x if y > 1 else y) == 2", "x % y == 0 if y else x == 0", "(x // y if y else -1) >= 1",
        "(1 if s == 'a' else 2) == y", "(x / y if y else 0.5) < 1",
    ],
    "sum, len, min and max over tuples": [
        "sum([x, y, 1]) > 4", "sum((x, y), 10) > 14", "len((x, y, 3)) == 3", "min((x, y)) == 0",
        "max([x, y, 2]) == 3", "max({x, y}) > 2", "sum((1, 2, 3)) == x + 3", "len([x / y]) == 1",
        "min(x, y, 2) == max(0, y - 1)", "sum([f, x]) > 3",
    ],
    "round, int, float and bool": [
        "round(x / 3) == 1", "round(f * 3) == 6", "int(x / 3) == 1", "int(f) == 2",
        "float(x) == 2.0", "bool(x) and y", "bool(f - 0.5) == (y > 0)", "round(x) == x",
        "int(round(f)) == 2",
    ],
    "subscripts of constant tuples by a parameter": [
        "(1, 2, 4, 8)[y] == x", "(1, 2, 3)[y - 1] == 2", "[x, y][y % 2] == 3", "(10, 20)[y] > 5",
        "(0.5, 2.5)[b] < f", "[1, 2, 4][x] == 2",
    ],
    "float literals": [
        "x < 1e400", "x > -1e400", "x != float('nan')", "x * 0.1 > 0.3", "x + 0.1 > 1.15",
        "f * x >= 2.5", "x == 1e400", "x / 3 < 1e400", "x < 2.5e0", "f == 2",
    ],
    "string parameters compared with constants": [
        "s == 'd'", "'d' == s", "b == 'd'", "'a' < s", "s in ('a', 'd')", "'a' in s", "x == 'a'",
        "x != 'a'", "f == 'x'", "s != 'b' or x > 3",
    ],
    "short circuits": [
        "x == 1 or 1 / 0 == 0", "y == 0 or x // y == 2", "y > 0 and x % y == 1", "x < 2 < 8 // y",
        "not (y != 0 and x / y > 1)", "y and x >> y - 1",
    ],
    "and / or as numbers": [
        "(x and y) == 2", "(x or y) == 3", "not x + y", "(y and x // y) == 1", "(b or f) > 1",
    ],
}


def _space(condition: str) -> dict:
    return {
        "ConfigurationSpace": {
            "TuningParameters": [{"Name": k, "Values": repr(v)} for k, v in PARAMS.items()],
            "Conditions": [{"Expression": condition}],
        }
    }


def _python_valid(condition: str) -> set[tuple]:
    code = compile(condition, "<condition>", "eval")
    out = set()
    for combo in itertools.product(*PARAMS.values()):
        config = dict(zip(NAMES, combo))
        try:
            ok = eval(code, {"__builtins__": BUILTINS}, config)  # the reference: Python itself
        except Exception:
            continue
        if ok:
            out.add(combo)
    return out


def _decoded(space, solutions) -> set[tuple]:
    return {tuple(space.decode(s)[n] for n in NAMES) for s in solutions}


@pytest.mark.parametrize(
    "condition",
    [c for group in CONSTRUCTS.values() for c in group],
)
def test_condition_is_evaluated_as_python_does(condition):
    expected = _python_valid(condition)
    space = read_t1(_space(condition))
    m = space.model
    assert _decoded(space, brute_force_solutions(m)) == expected
    assert _decoded(space, m.solutions()) == expected
    names = [v.name for v in m.variables]
    rows = [dict(zip(names, map(int, row))) for row in m.solutions_array()]
    assert len(rows) == len(expected) and _decoded(space, rows) == expected
    assert m.count() == len(expected)
    # what dumps writes, loads reads, with the same solutions
    text = ci.dumps(m)
    again = ci.loads(text)
    assert ci.dumps(again) == text
    assert again.count() == len(expected)


def test_every_construct_group_has_conditions_with_solutions_and_without():
    for group, conditions in CONSTRUCTS.items():
        sizes = [len(_python_valid(c)) for c in conditions]
        total = len(list(itertools.product(*PARAMS.values())))
        assert any(0 < n < total for n in sizes), group
