"""T1 import: the visible search spaces, the Values interpreter, the condition whitelist."""
from __future__ import annotations

import contextlib
import itertools
import json
from pathlib import Path

import pytest

import constrint as ci
from constrint.t1 import evaluate_values, loads_t1, read_t1
from constrint.testing import brute_force_solutions

SPACES = Path(__file__).resolve().parents[2] / "examples" / "searchspaces"


def _expected() -> dict[str, int]:
    return json.loads((SPACES / "expected.json").read_text())


def test_every_shipped_space_is_counted():
    assert sorted(_expected()) == sorted(p.name for p in SPACES.glob("*.json") if p.name != "expected.json")


@pytest.mark.parametrize("name", sorted(_expected()))
def test_shipped_search_spaces_count_exactly(name):
    model = ci.load_t1(SPACES / name)
    assert model.count() == _expected()[name]


def test_conditions_take_variables_from_the_expression():
    # the 4th condition of this file lists five parameters but also uses filter_width/height
    raw = json.loads((SPACES / "hub_convolution_milo.json").read_text())
    cond = raw["ConfigurationSpace"]["Conditions"][3]
    assert "filter_width" not in cond["Parameters"]
    m = ci.load_t1(raw)
    assert "filter_width" in m.constraints[-1].variables()


def space(params: dict[str, str], conditions: list[str] = ()) -> dict:
    return {
        "ConfigurationSpace": {
            "TuningParameters": [
                {"Name": k, "Type": "int", "Values": v} for k, v in params.items()
            ],
            "Conditions": [{"Parameters": [], "Expression": c} for c in conditions],
        }
    }


def python_count(params: dict[str, list], predicate) -> int:
    """Reference count: the predicate is plain Python code written in the test."""
    names = list(params)
    n = 0
    for combo in itertools.product(*params.values()):
        with contextlib.suppress(ZeroDivisionError):
            n += bool(predicate(**dict(zip(names, combo))))
    return n


# ---------------------------------------------------------------------------- Values


@pytest.mark.parametrize(
    "text, expected",
    [
        ("[1, 2, 4]", [1, 2, 4]),
        ("[2**i for i in range(0, 6)]", [1, 2, 4, 8, 16, 32]),
        ("[1] + [2*i for i in range(1,4)]", [1, 2, 4, 6]),
        ("[1, 2] + list(range(32, 96+1, 32))", [1, 2, 32, 64, 96]),
        ("list(range(32, 129, 32))", [32, 64, 96, 128]),
        ("list(range(3))", [0, 1, 2]),
        ("[i for i in range(10) if i % 3 == 0 and i > 0]", [3, 6, 9]),
        ("[i * j for i in range(1, 3) for j in [10, 20]]", [10, 20, 20, 40]),
        ("[-1, +2, 3 // 2, 7 % 4, abs(-5), int(2.9), min(3, 4), max([5, 6])]", [-1, 2, 1, 3, 5, 2, 3, 6]),
        ("[0.5, 1.0, 3/2]", [0.5, 1.0, 1.5]),
        ("['a', 'b'] + ['c']", ["a", "b", "c"]),
        ("[True, False]", [True, False]),
        ("(1, 2)", [1, 2]),
        ("[0] * 3", [0, 0, 0]),
        ("  [1]", [1]),
    ],
)
def test_values_interpreter(text, expected):
    assert evaluate_values(text) == expected


@pytest.mark.parametrize(
    "text, fragment",
    [
        ("__import__('os').system('echo hi')", "call of method/attribute 'system'"),
        ("__import__('os')", "call of '__import__'"),
        ("[x for x in range(3)] + open('f').read()", "call of method/attribute 'read'"),
        ("eval('1')", "call of 'eval'"),
        ("(lambda: 1)()", "call"),
        ("[1, 2][0]", "must give a list, got int"),
        ("{1, 2}", "must give a list, got set"),
        ("[1, 2][5:0:0]", "slice step cannot be zero"),
        ("[[1, 2][5]]", "index out of range"),
        ("[i for i in 'abc'.upper()]", "call of method/attribute"),
        ("2**10**10", "too large"),
        ("[10**100]", "too large"),
        ("list(range(10**9))", "too long"),
        ("[0] * 10**8", "too long"),
        ("[i for i in range(10**6) for j in range(10**6)]", "too"),
        ("x", "unknown name 'x'"),
        ("1 / 0", "division by zero"),
        ("[1e400]", "non-finite"),
        ("[None]", "unsupported constant None"),
        ("5", "must give a list"),
        ("[1, 2", "not a valid Python expression"),
        ("", "empty expression"),
        ("[*range(3)]", "starred"),
        ("[1] + 1", "unsupported operand types"),
        ("[1 << -3]", "negative shift count"),
        ("[1 << 100]", "too large"),
        ("[1.5 & 1]", "unsupported operand types for '&'"),
        ("[{1: 2}]", "dict"),
        ("range(1, 2, 0)", "range()"),
    ],
)
def test_values_rejections(text, fragment):
    with pytest.raises(ci.T1Error) as info:
        evaluate_values(text)
    assert fragment in str(info.value)


def test_values_error_names_the_parameter_and_column():
    data = space({"a": "[1, 2]", "b": "[1, 2] + foo(3)"})
    with pytest.raises(ci.T1Error) as info:
        ci.load_t1(data)
    e = info.value
    assert e.location == "ConfigurationSpace.TuningParameters[1].Values (b)"
    assert e.column == 10 and "call of 'foo'" in e.message
    text = str(e).splitlines()
    assert text[0].startswith("<dict>: ConfigurationSpace.TuningParameters[1].Values (b), column 10:")
    assert text[2].index("^") - text[1].index("[") == 9


# ---------------------------------------------------------------------------- conditions


@pytest.mark.parametrize(
    "params, conditions, predicate",
    [
        # true division inside a modulo, as in hub_gemm_milo.json
        (
            {"k": [16, 24, 32, 48], "m": [8, 16, 32], "n": [8, 16, 32], "a": [8, 16, 32, 64]},
            ["k % ((m * n)/a) == 0"],
            lambda k, m, n, a: k % ((m * n) / a) == 0,
        ),
        (
            {"x": [1, 2, 3, 4, 5, 6, 7], "y": [2, 3, 4]},
            ["x / y < 1.5", "x / y != 2"],
            lambda x, y: x / y < 1.5 and x / y != 2,
        ),
        (
            {"x": list(range(-4, 9)), "y": [-3, -2, 1, 2, 3]},
            ["x // y >= -1", "x % y != 1"],
            lambda x, y: x // y >= -1 and x % y != 1,
        ),
        (
            {"x": list(range(1, 40)), "y": list(range(1, 12))},
            ["32 <= x * y <= 64 < 100", "not (x > 30 and y == 2)"],
            lambda x, y: 32 <= x * y <= 64 < 100 and not (x > 30 and y == 2),
        ),
        (
            {"x": list(range(12)), "y": [0, 1, 2, 3]},
            ["y == 0 or x % y == 0"],  # Python short-circuits the division by zero away
            lambda x, y: y == 0 or x % y == 0,
        ),
        (
            {"x": list(range(12)), "y": [0, 1, 2, 3]},
            ["not (y != 0 and x % y == 0) or x > 9"],
            lambda x, y: not (y != 0 and x % y == 0) or x > 9,
        ),
        (
            {"x": list(range(12)), "y": [0, 1, 2, 3]},
            ["y == 0 or 2 < x / y < 3 or x / y > 5.5"],
            lambda x, y: y == 0 or 2 < x / y < 3 or x / y > 5.5,
        ),
        (
            {"x": list(range(8)), "y": [0, 1, 2]},
            ["x < 2 or x < 5 < 10 // y"],  # a later link of a chain is skipped by Python
            lambda x, y: x < 2 or x < 5 < 10 // y,
        ),
        (
            {"x": list(range(10)), "y": [1, 2, 3]},
            ["x ** 2 - 3 * x * y + abs(x - 5) > min(x, y, 2) * max([y, 2])", "int(x / y) != 1"],
            lambda x, y: x**2 - 3 * x * y + abs(x - 5) > min(x, y, 2) * max([y, 2]) and int(x / y) != 1,
        ),
        (
            {"x": list(range(10)), "y": [1, 2, 3]},
            ["x in [1, 2, y * 3]", "y not in range(2, 3)", "x"],
            lambda x, y: x in [1, 2, y * 3] and y not in range(2, 3) and x,
        ),
        (
            {"x": list(range(200))},
            ["x in range(10, 150)", "x not in [2**i for i in range(8)]", "x < 1e2", "x >= 12.5"],
            lambda x: x in range(10, 150) and x not in [2**i for i in range(8)] and x < 1e2 and x >= 12.5,
        ),
        (
            {"x": list(range(6)), "y": [0, 1]},
            ["x and y or not x", "True", "1"],
            lambda x, y: ((x and y) or not x) and True and 1,
        ),
        (
            {"x": [1, 2, 3]},
            ["x * 0.5 <= 1.0", "x + 0.1 > 1.15"],
            lambda x: x * 0.5 <= 1.0 and x + 0.1 > 1.15,
        ),
        (
            {"x": [1, 2, 3]},  # Python skips the constant division by zero where x == 1
            ["x == 1 or 1 / 0 == 0"],
            lambda x: x == 1 or 1 / 0 == 0,
        ),
        (
            {"x": [1, 2, 3, 4]},
            ["x < 2 and 0 ** -1 > 1 or x == 3 or x in [1 // 0]", "x > 3 or 1 % 0 != 5 or x < 4"],
            lambda x: ((x < 2 and 0 ** -1 > 1) or x == 3 or x in [1 // 0]) and (x > 3 or 1 % 0 != 5 or x < 4),
        ),
    ],
)
def test_conditions_have_python_semantics(params, conditions, predicate):
    data = space({k: repr(v) for k, v in params.items()}, conditions)
    m = ci.load_t1(data)
    expected = python_count(params, predicate)
    assert len(brute_force_solutions(m)) == expected
    assert m.count() == expected


def test_float_string_and_bool_parameters():
    data = {
        "ConfigurationSpace": {
            "TuningParameters": [
                {"Name": "f", "Type": "float", "Values": "[0.25, 0.5, 1.0, 1.5]"},
                {"Name": "g", "Type": "float", "Values": "[1.0, 2.0]"},
                {"Name": "s", "Type": "string", "Values": "['float', 'half', 'double']"},
                {"Name": "b", "Type": "bool", "Values": "[True, False]"},
                {"Name": "n", "Type": "int", "Values": "[1, 2, 3, 4]"},
            ],
            "Conditions": [
                {"Expression": "f * n <= 2 * g"},
                {"Expression": "s != 'double' or n % 2 == 0"},
                {"Expression": "s in ['float', 'double'] or b"},
                {"Expression": "s < 'g' or f > 0.3"},
                {"Expression": "b + n >= 2"},
            ],
        }
    }
    sp = read_t1(data)
    values = {
        "f": [0.25, 0.5, 1.0, 1.5], "g": [1.0, 2.0], "s": ["float", "half", "double"],
        "b": [True, False], "n": [1, 2, 3, 4],
    }

    def pred(f, g, s, b, n):
        return (
            f * n <= 2 * g and (s != "double" or n % 2 == 0) and (s in ["float", "double"] or b)
            and (s < "g" or f > 0.3) and b + n >= 2
        )

    expected = python_count(values, pred)
    sols = brute_force_solutions(sp.model)
    assert len(sols) == expected == sp.model.count()
    decoded = [sp.decode(s) for s in sols]
    assert all(pred(**d) for d in decoded)
    assert {d["s"] for d in decoded} <= {"float", "half", "double"}
    assert {type(d["f"]) for d in decoded} == {float}
    assert set(sp.labels) == {"f", "g", "s", "b"}


def test_string_parameters_only_compare_with_literals():
    data = {
        "ConfigurationSpace": {
            "TuningParameters": [
                {"Name": "s", "Type": "string", "Values": "['a', 'b']"},
                {"Name": "n", "Type": "int", "Values": "[1, 2]"},
            ],
            "Conditions": [{"Expression": "s * n == 'aa'"}],
        }
    }
    with pytest.raises(ci.T1Error, match="non-numeric values"):
        ci.load_t1(data)
    data["ConfigurationSpace"]["Conditions"] = [{"Expression": "s < n"}]
    with pytest.raises(ci.T1Error, match="literal values"):
        ci.load_t1(data)
    data["ConfigurationSpace"]["Conditions"] = [{"Expression": "s < 3"}]
    with pytest.raises(ci.T1Error, match="not supported between"):
        ci.load_t1(data)


@pytest.mark.parametrize(
    "expr, column, fragment",
    [
        ("__import__('os').system('echo hi') == 0", 1, "call of method/attribute 'system'"),
        ("x == 1 and open('/etc/passwd')", 12, "call of 'open'"),
        ("x.real > 0", 1, "attribute access"),
        ("y > 1", 1, "unknown name 'y'"),
        ("x == x[0]", 6, "only a list, tuple or constant sequence can be indexed"),
        ("x == [1, 2][x:]", 13, "slices"),
        ("x ** 100 > 2", 6, "exponent"),
        ("2 ** (x * 100) > 2", 7, "may reach 300"),
        ("x ** (x / 2) > 1", 7, "integer-valued"),
        ("x / 2 & 1 == 0", 1, "'&'"),
        ("x is 1", 1, "'is'"),
        ("x > 'a' + 1", 5, "unsupported operand types"),
        ("x > 'a'", 1, "not supported between"),
        ("x == 1)", 7, "not a valid Python expression"),
        ("   x @ 1 == 0", 4, "'@'"),
        ("x == {x: 1}", 6, "dict"),
        ("x == 10**30", 6, "too large"),
        ("lambda: 1", 1, "lambda"),
        ("", None, "empty expression"),
    ],
)
def test_condition_rejections(expr, column, fragment):
    data = space({"x": "[1, 2, 3]"}, ["x > 0", expr])
    with pytest.raises(ci.T1Error) as info:
        ci.load_t1(data, filename="space.json")
    e = info.value
    assert fragment in e.message, str(e)
    assert e.filename == "space.json"
    assert e.location == "ConfigurationSpace.Conditions[1].Expression"
    assert e.column == column, str(e)
    assert len(str(e).splitlines()) <= 3


@pytest.mark.parametrize(
    "data, fragment",
    [
        ([], "top level must be a JSON object"),
        ({}, "missing key 'ConfigurationSpace'"),
        ({"ConfigurationSpace": {}}, "missing key 'TuningParameters'"),
        ({"ConfigurationSpace": {"TuningParameters": {}}}, "must be a JSON array"),
        ({"ConfigurationSpace": {"TuningParameters": []}}, "no tuning parameters"),
        ({"ConfigurationSpace": {"TuningParameters": [{"Name": "x"}]}}, "missing key 'Values'"),
        ({"ConfigurationSpace": {"TuningParameters": [{"Values": "[1]"}]}}, "missing key 'Name'"),
        ({"ConfigurationSpace": {"TuningParameters": [{"Name": "x", "Values": 3}]}}, "must be a JSON string or array"),
        ({"ConfigurationSpace": {"TuningParameters": [{"Name": "x y", "Values": "[1]"}]}}, "identifier"),
        ({"ConfigurationSpace": {"TuningParameters": [{"Name": "x", "Values": "[]"}]}}, "no values"),
        (
            {"ConfigurationSpace": {"TuningParameters": [{"Name": "x", "Values": "[1]"}] * 2}},
            "duplicate parameter name 'x'",
        ),
        (
            {"ConfigurationSpace": {"TuningParameters": [{"Name": "x", "Values": "[1]"}], "Conditions": [{}]}},
            "missing key 'Expression'",
        ),
        (
            {"ConfigurationSpace": {"TuningParameters": [{"Name": "x", "Values": "[1]"}],
                                    "Conditions": [{"Expression": 1}]}},
            "must be a JSON string",
        ),
        (
            {"ConfigurationSpace": {"TuningParameters": [{"Name": "x", "Values": "[None, 1]"}]}},
            "unsupported constant None",
        ),
    ],
)
def test_structure_errors(data, fragment):
    with pytest.raises(ci.T1Error) as info:
        ci.load_t1(data)
    assert fragment in str(info.value)


def test_json_text_errors_have_line_and_column(tmp_path):
    p = tmp_path / "bad.json"
    p.write_text('{\n  "ConfigurationSpace": {\n    "TuningParameters": [,]\n  }\n}\n')
    with pytest.raises(ci.T1Error) as info:
        ci.load_t1(p)
    e = info.value
    assert e.location == "line 3" and e.column == 26 and "invalid JSON" in e.message
    with pytest.raises(ci.T1Error, match="invalid JSON"):
        loads_t1("{" * 100_000)


def test_values_as_a_json_list_and_multiline_expressions():
    data = {
        "ConfigurationSpace": {
            "TuningParameters": [{"Name": "x", "Values": [1, 2, 3, 4]}],
            "Conditions": [{"Expression": "(x > 1 and\n x < 4)"}],
        }
    }
    assert ci.load_t1(data).count() == 2
    data["ConfigurationSpace"]["Conditions"] = [{"Expression": "(x > 1 and\n x.y < 4)"}]
    with pytest.raises(ci.T1Error) as info:
        ci.load_t1(data)
    assert (info.value.line, info.value.column) == (2, 2)
    assert "line 2, column 2" in str(info.value)
    assert str(info.value).splitlines()[1].strip() == "x.y < 4)"


def test_error_pickles():
    import pickle

    with pytest.raises(ci.T1Error) as info:
        ci.load_t1(space({"x": "[1]"}, ["x.y"]))
    e = pickle.loads(pickle.dumps(info.value))
    assert str(e) == str(info.value)
    assert isinstance(e, ci.ConstrintError)


def test_imported_model_round_trips_through_cint():
    data = space({"x": "[1, 2, 4, 8]", "y": "list(range(1, 9))"}, ["x % y == 0 or x / y > 1.5"])
    m = ci.load_t1(data)
    m2 = ci.loads(ci.dumps(m))
    assert m2.count() == m.count() == python_count(
        {"x": [1, 2, 4, 8], "y": list(range(1, 9))}, lambda x, y: x % y == 0 or x / y > 1.5
    )


# ---------------------------------------------------------------------------- property: Python semantics

from hypothesis import given  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

_VARS = {"x": [-2, 0, 1, 3, 4], "y": [0, 2, 5], "z": [1, 6]}


def _num_exprs():
    """(source, function) pairs of Python arithmetic over x, y, z (no eval needed)."""
    leaves = st.one_of(
        st.sampled_from(sorted(_VARS)).map(lambda n: (n, lambda a, n=n: a[n])),
        st.integers(-3, 7).map(lambda c: (repr(c), lambda a, c=c: c)),
        st.sampled_from([0.5, 2.0, 1.25]).map(lambda c: (repr(c), lambda a, c=c: c)),
    )

    def extend(children):
        ops = {
            "+": lambda p, q: p + q, "-": lambda p, q: p - q, "*": lambda p, q: p * q,
            "/": lambda p, q: p / q, "//": lambda p, q: p // q, "%": lambda p, q: p % q,
        }
        binary = st.tuples(st.sampled_from(sorted(ops)), children, children).map(
            lambda t: (f"({t[1][0]} {t[0]} {t[2][0]})", lambda a, t=t: ops[t[0]](t[1][1](a), t[2][1](a)))
        )
        power = st.tuples(children, st.integers(0, 2)).map(
            lambda t: (f"({t[0][0]}) ** {t[1]}", lambda a, t=t: t[0][1](a) ** t[1])
        )
        calls = st.tuples(st.sampled_from(["min", "max"]), children, children).map(
            lambda t: (f"{t[0]}({t[1][0]}, {t[2][0]})",
                       lambda a, t=t: (min if t[0] == "min" else max)(t[1][1](a), t[2][1](a)))
        )
        unary = st.tuples(st.sampled_from(["-", "abs", "int"]), children).map(
            lambda t: (f"-({t[1][0]})" if t[0] == "-" else f"{t[0]}({t[1][0]})",
                       lambda a, t=t: {"-": lambda v: -v, "abs": abs, "int": int}[t[0]](t[1][1](a)))
        )
        return st.one_of(binary, power, calls, unary)

    return st.recursive(leaves, extend, max_leaves=4)


def _bool_exprs():
    nums = _num_exprs()
    cmp_ops = {"==": lambda p, q: p == q, "!=": lambda p, q: p != q, "<": lambda p, q: p < q,
               "<=": lambda p, q: p <= q, ">": lambda p, q: p > q, ">=": lambda p, q: p >= q}

    def chain(t):
        first, rest = t

        def fn(a, first=first, rest=rest):
            left = first[1](a)
            for op, right in rest:
                r = right[1](a)
                if not cmp_ops[op](left, r):
                    return False
                left = r
            return True

        src = first[0] + "".join(f" {op} {right[0]}" for op, right in rest)
        return src, fn

    comparisons = st.tuples(
        nums, st.lists(st.tuples(st.sampled_from(sorted(cmp_ops)), nums), min_size=1, max_size=3)
    ).map(chain)
    truthy = nums.map(lambda n: (n[0], lambda a, n=n: n[1](a)))

    def extend(children):
        boolop = st.tuples(st.sampled_from(["and", "or"]), st.lists(children, min_size=2, max_size=3)).map(
            lambda t: (
                "(" + f" {t[0]} ".join(c[0] for c in t[1]) + ")",
                (lambda a, cs=t[1]: all_sc(cs, a)) if t[0] == "and" else (lambda a, cs=t[1]: any_sc(cs, a)),
            )
        )
        negation = children.map(lambda c: (f"not ({c[0]})", lambda a, c=c: not c[1](a)))
        return st.one_of(boolop, negation)

    return st.recursive(st.one_of(comparisons, truthy), extend, max_leaves=4)


def all_sc(cs, a):
    return all(c[1](a) for c in cs)


def any_sc(cs, a):
    return any(c[1](a) for c in cs)


@given(st.lists(_bool_exprs(), min_size=1, max_size=2))
def test_random_conditions_count_like_python(conds):
    data = space({k: repr(v) for k, v in _VARS.items()}, [c[0] for c in conds])
    try:
        m = ci.load_t1(data)
    except ci.T1Error as exc:
        raise AssertionError(f"refused: {exc}") from None

    def valid(**a):
        try:
            return all(bool(c[1](a)) for c in conds)
        except ZeroDivisionError:
            return False  # Python would raise: invalid

    assert len(brute_force_solutions(m)) == python_count(_VARS, valid)


_PY_PIECES = [
    "x", "y", "z", " ", "0", "1", "2.5", "'a'", "+", "-", "*", "/", "//", "%", "**", "(", ")",
    "[", "]", ",", "==", "!=", "<", "<=", ">", ">=", " and ", " or ", "not ", " in ", " is ",
    "min(", "max(", "abs(", "int(", "range(", "lambda", ".", "__import__", "True", "None", ":",
    " if ", " else ", " for ", "{", "}", "@", "~", "<<", "\n",
]


@given(st.lists(st.sampled_from(_PY_PIECES), max_size=25).map("".join))
def test_any_condition_gives_a_model_or_a_t1_error(expr):
    try:
        m = ci.load_t1(space({k: repr(v) for k, v in _VARS.items()}, [expr]))
    except ci.T1Error as exc:
        assert exc.location == "ConfigurationSpace.Conditions[0].Expression"
        assert len(str(exc).splitlines()) <= 3
        return
    assert isinstance(m, ci.Model)


@given(st.lists(st.sampled_from(_PY_PIECES), max_size=25).map("".join))
def test_any_values_string_gives_values_or_a_t1_error(text):
    try:
        evaluate_values(text)
    except ci.T1Error as exc:
        assert len(str(exc).splitlines()) <= 3
