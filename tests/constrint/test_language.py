"""The .cint language: parsing, semantics, errors with positions, printing and round trips."""
from __future__ import annotations

import itertools
import pickle

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

import constrint as ci
from constrint.expr import BoolConst, Compare, Const, ExactDiv, Mod, Not, TrueDiv, Trunc
from constrint.language import UNDECLARED_HI, parse_expression, parse_objective
from constrint.testing import brute_force_solutions, constraints, expressions


def solutions(m: ci.Model) -> list[dict[str, int]]:
    """Every solution by brute force over the declared domains (sorted)."""
    return sorted(brute_force_solutions(m), key=lambda s: tuple(s.values()))


def values_of(m: ci.Model, name: str) -> list[int]:
    return sorted({s[name] for s in solutions(m)})


# ---------------------------------------------------------------------------- the original format

LEGACY = """
# Integer CSP Rules File - CONSTRINT (original syntax)
WARP_SIZE == 32;
WARP_TILING_DIM_RGATE == 32;
MAX_THREADS_PER_BLOCK == 1024;
SHARED_MEMORY_PER_BLOCK == 165000;
RECURRENT_GATES == 1;
REAL_HIDDEN_DIM == 96;
# HIDDEN_DIM == 1200 ;
HIDDEN_DIM == [96, 128, 192];
RECURRENT_TILING_COUNT_HIDDEN == [1, 2, 3, 4];
RECURRENT_TILING_COUNT_GATE == [1, 2, 3];
REAL_HIDDEN_DIM <= HIDDEN_DIM ;
HIDDEN_DIM_SQ == HIDDEN_DIM ^ 2 ;
HIDDEN_DIM % RECURRENT_TILING_COUNT_HIDDEN == 0 ;
RECURRENT_GATES * HIDDEN_DIM % (RECURRENT_TILING_COUNT_GATE * WARP_TILING_DIM_RGATE) == 0 ;
2 * HIDDEN_DIM_SQ <= SHARED_MEMORY_PER_BLOCK * RECURRENT_TILING_COUNT_HIDDEN | HIDDEN_DIM == 96;
"""


def test_legacy_file_parses_with_original_meaning():
    m = ci.loads(LEGACY, "legacy.cint")
    names = [v.name for v in m.variables]
    assert names[:3] == ["WARP_SIZE", "WARP_TILING_DIM_RGATE", "MAX_THREADS_PER_BLOCK"]
    # NAME == constant / list for an undeclared name acts as its declaration
    assert list(m.domain("WARP_SIZE")) == [32]
    assert list(m.domain("HIDDEN_DIM")) == [96, 128, 192]
    # a name never given values ranges over 1..2**30, as in the original format
    d = m.domain("HIDDEN_DIM_SQ")
    assert (d.lo, d.hi) == (1, 2**30) and UNDECLARED_HI == 2**30
    # '|' is a disjunction of constraints
    assert any(isinstance(c, ci.expr.Or) for c in m.constraints)
    # meaning: check every assignment of the small variables, HIDDEN_DIM_SQ being determined
    count = 0
    for h, rh, rg in itertools.product([96, 128, 192], [1, 2, 3, 4], [1, 2, 3]):
        ok = (
            h >= 96 and h % rh == 0 and h % (rg * 32) == 0
            and (2 * h * h <= 165000 * rh or h == 96)
        )
        a = {
            "WARP_SIZE": 32, "WARP_TILING_DIM_RGATE": 32, "MAX_THREADS_PER_BLOCK": 1024,
            "SHARED_MEMORY_PER_BLOCK": 165000, "RECURRENT_GATES": 1, "REAL_HIDDEN_DIM": 96,
            "HIDDEN_DIM": h, "RECURRENT_TILING_COUNT_HIDDEN": rh,
            "RECURRENT_TILING_COUNT_GATE": rg, "HIDDEN_DIM_SQ": h * h,
        }
        assert m.check(a) == ok
        count += ok
    assert count > 0


def test_undeclared_list_outside_default_range_stays_a_constraint():
    m = ci.loads("x == [0, 1, 2];")
    d = m.domain("x")
    assert (d.lo, d.hi) == (1, 2**30)
    assert m.check({"x": 1}) and m.check({"x": 2}) and not m.check({"x": 3})


def test_last_statement_needs_no_semicolon_and_empty_statements_are_fine():
    m = ci.loads(";; var x in 1..4 ;; x >= 3")
    assert values_of(m, "x") == [3, 4]
    assert len(ci.loads("").variables) == 0
    assert len(ci.loads("# only a comment\n").variables) == 0


# ---------------------------------------------------------------------------- semantics


@pytest.mark.parametrize(
    "text, expected",
    [
        ("var x in -7..7; x // 2 == -2;", [-4, -3]),  # floor division
        ("var x in -7..7; x % 3 == 2;", [-7, -4, -1, 2, 5]),  # Python modulo
        ("var x in -7..7; x / 3 == -2;", [-6]),  # exact division holds only where it divides
        ("var x in -7..7; x / 0 == 0 or x == 1;", []),  # undefined anywhere: false
        ("var x in -7..7; -x^2 >= -4;", [-2, -1, 0, 1, 2]),  # '^' binds tighter than '-'
        ("var x in -7..7; x ** 2 == 9;", [-3, 3]),
        ("var x in 1..9; 2 < x <= 4;", [3, 4]),  # chained comparison
        ("var x in 1..9; 1 < x < 5 > 3;", [2, 3, 4]),
        ("var x in 1..9; x in 3..5;", [3, 4, 5]),
        ("var x in 1..9; x not in 2..8;", [1, 9]),
        ("var x in 1..9; x in [2, 4, 99];", [2, 4]),
        ("var x in 1..9; x not in [2, 4];", [1, 3, 5, 6, 7, 8, 9]),
        ("var x in 1..9; x == [2, 2 + 3];", [2, 5]),
        ("var x in 1..9; [7, 8] == x;", [7, 8]),
        ("var x in 1..9; x != [1, 2, 3, 4, 5];", [6, 7, 8, 9]),
        ("var x in 1..9; x < 3 | x > 7;", [1, 2, 8, 9]),
        ("var x in 1..9; x < 3 || x > 7;", [1, 2, 8, 9]),
        ("var x in 1..9; not (x < 3 or x > 4);", [3, 4]),
        ("var x in 1..9; x > 2 and x < 5;", [3, 4]),
        ("var x in 1..9; x > 2 && not x == 4 and x < 6;", [3, 5]),
        ("var x in 1..9; x > 6 or x < 3 and x > 1;", [2, 7, 8, 9]),  # and binds tighter
        ("var x in 1..9; min(x, 4) + max(x, 7, 2) == 11;", [4, 5, 6, 7]),
        ("var x in -3..3; abs(x) == 2;", [-2, 2]),
        ("var x in 1..9; truediv(x, 2) == 2 or truediv(x, 4) == truediv(3, 2);", [4, 6]),
        ("var x in 1..9; int(truediv(x, 4)) == 1;", [4, 5, 6, 7]),
        ("var x in 1..9; 96 % x == 0 and x % 2 != 0;", [1, 3]),
        ("var x in [1, 2, 4, 8, 16]; x - 1 >= 3;", [4, 8, 16]),
        ("var x in 1..9; (x + 1) % 4 == 0;", [3, 7]),
        ("var x in 1..9; x + (x % 4) == 6;", [3, 5]),
        ("var x in 1..9; 1_0 - x == 3;", [7]),
        ("var x in 1..9; true and x == 2 or false;", [2]),
        ("var x in 0..2^3; x * 2 ^ 2 == 2 ^ 5;", [8]),
    ],
)
def test_semantics(text, expected):
    m = ci.loads(text)
    assert values_of(m, "x") == expected


def test_declarations():
    m = ci.loads("var a, b in [1, 2, 4]; var c; var d in -2^3..2^3; var e in [2^4, -1];")
    assert [v.name for v in m.variables] == ["a", "b", "c", "d", "e"]
    assert list(m.domain("a")) == [1, 2, 4] == list(m.domain("b"))
    assert (m.domain("c").lo, m.domain("c").hi) == (1, 2**30)
    assert (m.domain("d").lo, m.domain("d").hi) == (-8, 8)
    assert list(m.domain("e")) == [-1, 16]


def test_variables_in_order_of_first_appearance_and_late_declarations():
    m = ci.loads("y <= x; var x in 1..3; var y in 2..2;")
    assert [v.name for v in m.variables] == ["y", "x"]
    assert values_of(m, "x") == [2, 3]


def test_names_of_functions_can_name_variables():
    m = ci.loads("var min in 1..3; var int in 2..2; max(min, int) == 3;")
    assert values_of(m, "min") == [3]


def test_objectives():
    m = ci.loads("var x in 1..5; var y in 1..5; x + y <= 6; maximize x * y, -x;")
    exprs, sense = m.objective
    assert sense == "maximize" and [str(e) for e in exprs] == ["x * y", "-x"]
    m = ci.loads("var x in 1..5; minimize x;")
    assert m.objective[1] == "minimize"


def test_modulo_becomes_plain_mod_node():
    m = ci.loads("var x in 1..9; x % 3 == 0;")
    (c,) = m.constraints
    assert isinstance(c.a, Mod)


def test_node_kinds():
    m = ci.loads("var x in 1..9; x / 3 + truediv(x, 2) + int(truediv(x, 2)) >= 0 and not x == 2;")
    (c,) = m.constraints
    kinds = {type(n) for n in ci.expr.walk(c)}
    assert {ExactDiv, TrueDiv, Trunc, Not} <= kinds


def test_parse_expression_and_objective_against_a_model():
    m = ci.loads("var x in 1..8; var y in 1..8;")
    c = parse_expression("x + y == [3, 4]", m)
    assert isinstance(c, ci.Constraint)
    assert c.holds({"x": 1, "y": 2}) and not c.holds({"x": 1, "y": 4})
    e = parse_expression("x * y", m)
    assert e.evaluate({"x": 3, "y": 4}) == 12
    assert len(parse_objective("x, -y", m)) == 2
    with pytest.raises(ci.ConstraintSyntaxError, match="unknown variable 'z'"):
        parse_expression("x + z", m)
    with pytest.raises(ci.ConstraintSyntaxError, match="integer-valued"):
        parse_objective("truediv(x, y)", m)


# ---------------------------------------------------------------------------- errors


def err(text: str, filename: str = "f.cint") -> ci.ConstraintSyntaxError:
    with pytest.raises(ci.ConstraintSyntaxError) as info:
        ci.loads(text, filename)
    return info.value


@pytest.mark.parametrize(
    "text, line, column, fragment",
    [
        ("x = 3;", 1, 3, "'=='"),
        ("var x in 1..3;\nx <= (3 + x;", 2, 6, "never closed"),
        ("x <= 3 + x);", 1, 11, "unmatched ')'"),
        ("x <= [1, 2;", 1, 6, "never closed"),
        ("x <= (1, 2];", 1, 11, "does not match"),
        ("x <= 3 $ 4;", 1, 8, "unexpected character '$'"),
        ("x <= 3 y <= 4;", 1, 8, "missing ';'"),
        ("x <= 3 and", 1, 11, "end of input"),
        ("x * [1, 2] == 4;", 1, 5, "value list"),
        ("x <= [1, 2];", 1, 3, "'==' or '!='"),
        ("1 <= [1, 2] <= 3;", 1, 6, "chained"),
        ("[1] == [2];", 1, 1, "two value lists"),
        ("x + 1;", 1, 1, "expected a constraint"),
        ("not x;", 1, 5, "expected a constraint"),
        ("x < 1 or 2;", 1, 10, "expected a constraint"),
        ("var x in 1..y;", 1, 13, "constant"),
        ("var x in 5..1;", 1, 10, "empty range"),
        ("var x in [];", 1, 10, "empty value list"),
        ("x == [];", 1, 6, "empty value list"),
        ("var x in 1..3;\n\nvar x in 1..4;", 3, 5, "declared twice"),
        ("minimize x;\nmaximize x;", 2, 1, "second objective"),
        ("minimize truediv(x, 2);", 1, 10, "integer-valued"),
        ("x ^ y == 2;", 1, 5, "may reach 1073741824"),
        ("x ^ 65 == 2;", 1, 5, "from -64 to 64"),
        ("x ^ -65 == 2;", 1, 5, "from -64 to 64"),
        ("foo(x) == 1;", 1, 1, "unknown function 'foo'"),
        ("abs(x, 1) == 1;", 1, 1, "takes 1 argument"),
        ("min() == 1;", 1, 1, "at least one"),
        ("var x in 1..(10^64)^64;", 1, 13, "too large"),
        ("var x in [1 / 0];", 1, 11, "undefined"),
        ("a + b % c == 0;", 1, 7, "ambiguous '%'"),
        ("a % b * c == 0;", 1, 3, "ambiguous '%'"),
        ("a % b % c == 0;", 1, 3, "ambiguous '%'"),
        ("x == 1; # comment\n  y === 2;", 2, 7, "unexpected"),
        ("var and in 1..2;", 1, 5, "keyword"),
        ("var x; x <= 3 or or == 1;", 1, 18, "keyword"),
        ("x\t<=\t€;", 1, 6, "unexpected character"),
    ],
)
def test_error_positions(text, line, column, fragment):
    e = err(text)
    assert (e.filename, e.line, e.column) == ("f.cint", line, column), str(e)
    assert fragment in e.message, str(e)
    lines = str(e).splitlines()
    assert lines[0].startswith(f"f.cint:{line}:{column}: ")
    assert lines[1].strip() == text.splitlines()[line - 1].strip()
    # the caret sits under the column (tabs are kept so that it lines up)
    caret = lines[2]
    assert caret.rstrip().endswith("^")
    assert len(caret.rstrip()) - 4 == column
    assert len(lines) == 3


def test_integer_literals_up_to_4000_digits():
    big = 10**3999
    m = ci.loads(f"var x in 0..{big}; x * 2 >= {big};")
    assert m.count() == big // 2 + 1
    assert ci.loads(ci.dumps(m)).count() == m.count()
    e = err("x <= 1" + "0" * 4000 + ";")
    assert (e.line, e.column) == (1, 6) and "too large" in e.message


def test_error_is_a_constrint_error_and_pickles():
    e = err("x = 1;")
    assert isinstance(e, ci.ConstrintError) and isinstance(e, ValueError)
    e2 = pickle.loads(pickle.dumps(e))
    assert str(e2) == str(e)


def test_long_lines_are_cut_around_the_column():
    text = "x <= 1 and " * 300 + "x <= $;"
    e = err(text)
    for line in str(e).splitlines():
        assert len(line) < 200
    assert str(e).splitlines()[-1].rstrip().endswith("^")


def test_deep_nesting_is_an_error_not_a_crash():
    e = err("(" * 500 + "x" + ")" * 500 + " == 1;")
    assert "nested too deeply" in e.message


def test_ambiguity_check_leaves_clear_forms_alone():
    for text in (
        "var a in 1..9; var b in 1..3; a * b % 3 == 0;",
        "var a in 1..9; var b in 1..3; (a + b) % 3 == 0;",
        "var a in 1..9; var b in 1..3; a + (b % 3) == 4;",
        "var a in 1..9; var b in 1..3; a + b % 3 == 4;",  # not '== 0': no legacy reading
        "var a in 1..9; var b in 1..3; a % b ^ 2 == 0;",
    ):
        ci.loads(text)


# ---------------------------------------------------------------------------- printing


def test_dumps_and_load_files(tmp_path):
    m = ci.loads(
        "var x in 1..9; var t in [1, 2, 4, 8]; var n in -3..3;\n"
        "x % t == 0 or x == [5, 7]; n != 0; x / t <= 4 and not x // 2 == 1;\n"
        "minimize x, -t;\n"
    )
    text = ci.dumps(m)
    assert "var t in [1, 2, 4, 8];" in text and "var x in 1..9;" in text
    assert "minimize x, -t;" in text
    path = tmp_path / "m.cint"
    ci.dump(m, path)
    m2 = ci.load(path)
    assert ci.dumps(m2) == text
    assert solutions(m2) == solutions(m)


def test_dumps_parenthesises_nested_modulo():
    m = ci.Model()
    x = m.int_var("x", 0, 9)
    y = m.int_var("y", 1, 3)
    m.add(x + x % y == 0)
    m.add((x % y) % 2 == 0)
    m.add(x % y * 2 == 0)
    text = ci.dumps(m)
    assert "x + (x % y) == 0;" in text
    assert solutions(ci.loads(text)) == solutions(m)


def test_dumps_rejects_keyword_names_and_custom_constraints():
    m = ci.Model()
    m.int_var("and", 1, 2)
    with pytest.raises(ci.ModelError, match="keyword"):
        ci.dumps(m)


def test_load_rejects_non_utf8(tmp_path):
    p = tmp_path / "bad.cint"
    p.write_bytes(b"var x in 1..2;\nx == \xff;")
    with pytest.raises(ci.ConstraintSyntaxError) as info:
        ci.load(p)
    assert (info.value.line, info.value.column) == (2, 6)


# ---------------------------------------------------------------------------- round trips


def _extra_nodes(vs):
    """Expressions with the node kinds the shared strategies do not build."""
    base = expressions(vs, max_depth=2)
    return st.one_of(
        base,
        st.tuples(base, base).map(lambda t: ci.exact_div(*t)),
        st.tuples(base, base).map(lambda t: ci.trunc(ci.true_div(*t))),
        st.tuples(base, st.integers(-3, 3)).map(lambda t: t[0] * t[1] - (-t[1])),
    )


@st.composite
def small_models(draw):
    m = ci.Model()
    n = draw(st.integers(1, 3))
    for i in range(n):
        if draw(st.booleans()):
            vals = draw(st.lists(st.integers(-6, 12), min_size=1, max_size=6, unique=True))
            m.int_var(f"v{i}", values=vals)
        else:
            lo = draw(st.integers(-6, 8))
            m.int_var(f"v{i}", lo, lo + draw(st.integers(0, 6)))
    vs = m.variables
    for _ in range(draw(st.integers(0, 3))):
        kind = draw(st.sampled_from(["shared", "extra", "truediv", "not", "const"]))
        if kind == "shared":
            m.add(draw(constraints(vs, max_depth=2)))
        elif kind == "extra":
            a, b = draw(_extra_nodes(vs)), draw(_extra_nodes(vs))
            m.add(Compare(draw(st.sampled_from(["==", "!=", "<", "<=", ">", ">="])), a, b))
        elif kind == "truediv":
            a, b = draw(_extra_nodes(vs)), draw(_extra_nodes(vs))
            m.add(ci.true_div(a, b) >= ci.true_div(b, 3))
        elif kind == "not":
            m.add(Not(draw(constraints(vs, max_depth=1))))
        else:
            m.add(BoolConst(draw(st.booleans())) | (vs[0] == Const(draw(st.integers(-3, 3)))))
    if draw(st.booleans()):
        e = draw(expressions(vs, max_depth=2))
        (m.minimize if draw(st.booleans()) else m.maximize)([e, vs[0]])
    return m


@given(small_models())
def test_roundtrip_same_solutions(m):
    text = ci.dumps(m)
    m2 = ci.loads(text)
    assert [v.name for v in m2.variables] == [v.name for v in m.variables]
    for v in m.variables:
        assert list(m2.domain(v.name)) == list(m.domain(v))
    assert solutions(m2) == solutions(m)
    # the text is a fixed point
    assert ci.dumps(m2) == text
    if m.objective is not None:
        assert m2.objective[1] == m.objective[1]
        for s in solutions(m)[:20]:
            assert [_value(e, s) for e in m2.objective[0]] == [_value(e, s) for e in m.objective[0]]
    # and the engine agrees
    assert m2.count() == m.count() == len(solutions(m))
    r1, r2 = m.solve(), m2.solve()
    assert r1.status == r2.status
    if m.objective is not None and r1.ok:
        assert r1.objective == r2.objective


def _value(e, s):
    try:
        return e.evaluate(s)
    except ci.Undefined:
        return "undefined"



@given(small_models())
def test_str_of_each_constraint_parses_back(m):
    for c in m.constraints:
        try:
            c2 = parse_expression(str(c), m)
        except ci.ConstraintSyntaxError as exc:
            # Expr.fmt may print 'a + b % c == 0', which the parser refuses as ambiguous
            assume("ambiguous '%'" not in exc.message)
            raise
        doms = [list(m.domain(v)) for v in m.variables]
        names = [v.name for v in m.variables]
        for combo in itertools.product(*doms):
            a = dict(zip(names, combo))
            assert c2.holds(a) == c.holds(a)


_PIECES = [
    "var ", "x", "y", "in", " ", "..", "1", "0", "-", "+", "*", "/", "//", "%", "^", "**", "(", ")",
    "[", "]", ",", ";", "==", "!=", "<=", ">=", "<", ">", "and", "or", "not", "|", "||", "&&",
    "minimize", "maximize", "min(", "max(", "abs(", "int(", "truediv(", "true", "false", "#", "\n",
    "=", "!", "&", ".", "@", "99999999999999999999", "é", "\t",
]


@given(st.lists(st.sampled_from(_PIECES), max_size=30).map("".join))
def test_any_text_gives_a_model_or_a_syntax_error(text):
    try:
        m = ci.loads(text)
    except ci.ConstraintSyntaxError as exc:
        assert exc.line is None or exc.line >= 1
        assert len(str(exc).splitlines()) <= 3
        return
    assert isinstance(m, ci.Model)
    ci.loads(ci.dumps(m))


def test_the_original_flashrnn_dialect():
    text = "A == 96; B == 4; var C in 1..8;\nA % B * C == 0;\n"
    with pytest.raises(ci.ConstraintSyntaxError, match="dialect='flashrnn'"):
        ci.loads(text)
    m = ci.loads(text, dialect="flashrnn")
    assert m.count() == 6  # 4 * C divides 96
    # '%' binds loosest of the arithmetic operators, but tighter than comparisons and shifts
    m = ci.loads("var x in 0..20; x + 1 % 3 == 0;", dialect="flashrnn")
    assert sorted(s["x"] for s in m.solutions()) == [2, 5, 8, 11, 14, 17, 20]
    again = ci.loads(ci.dumps(m))  # written back in the default dialect
    assert again.count() == m.count()
    with pytest.raises(ci.ModelError, match="dialect"):
        ci.loads(text, dialect="python")


class TestParseCache:
    TEXT = "var x, y in 1..8; x * y <= 12; maximize x * y, -x;"

    def test_same_model_from_the_cache(self, tmp_path):
        first = ci.loads(self.TEXT, cache_dir=tmp_path)
        (stored,) = tmp_path.glob("*.pickle")
        again = ci.loads(self.TEXT, cache_dir=tmp_path)
        assert again is not first
        assert ci.dumps(again) == ci.dumps(first) == ci.dumps(ci.loads(self.TEXT))
        assert again.solve().values == first.solve().values == {"x": 2, "y": 6}
        assert list(tmp_path.glob("*.pickle")) == [stored]

    def test_key_covers_text_name_and_dialect(self, tmp_path):
        ci.loads(self.TEXT, cache_dir=tmp_path)
        ci.loads(self.TEXT + " x != 3;", cache_dir=tmp_path)
        ci.loads(self.TEXT, filename="other.cint", cache_dir=tmp_path)
        m = ci.loads(self.TEXT, dialect="flashrnn", cache_dir=tmp_path)
        assert len(list(tmp_path.glob("*.pickle"))) == 4
        assert ci.loads(self.TEXT + " x != 3;", cache_dir=tmp_path).solve().values == {"x": 2, "y": 6}
        assert ci.loads(self.TEXT + " x != 2;", cache_dir=tmp_path).solve().values == {"x": 3, "y": 4}
        assert m.solve().values == {"x": 2, "y": 6}

    def test_the_source_names_its_own_file(self, tmp_path):
        a = ci.loads(self.TEXT, filename="a.cint", cache_dir=tmp_path)
        b = ci.loads(self.TEXT, filename="b.cint", cache_dir=tmp_path)
        assert a.source("x").filename == "a.cint" and b.source("x").filename == "b.cint"

    def test_a_damaged_file_is_parsed_again_and_replaced(self, tmp_path):
        ci.loads(self.TEXT, cache_dir=tmp_path)
        (stored,) = tmp_path.glob("*.pickle")
        for junk in (b"", b"not a pickle", stored.read_bytes()[:20]):
            stored.write_bytes(junk)
            assert ci.loads(self.TEXT, cache_dir=tmp_path).count() == 27
            assert stored.read_bytes() != junk

    def test_a_directory_that_cannot_be_written_costs_only_the_parse(self, tmp_path):
        blocker = tmp_path / "a file"
        blocker.write_text("")
        assert ci.loads(self.TEXT, cache_dir=blocker / "cache").count() == 27
        assert sorted(p.name for p in tmp_path.iterdir()) == ["a file"]

    def test_syntax_errors_are_not_cached(self, tmp_path):
        for _ in range(2):
            with pytest.raises(ci.ConstraintSyntaxError, match="expected"):
                ci.loads("var x in 1..8; x <= ;", cache_dir=tmp_path)
        assert list(tmp_path.iterdir()) == []

    def test_cache_dir_must_be_a_path(self):
        with pytest.raises(TypeError, match="cache_dir must be a path, got int"):
            ci.loads(self.TEXT, cache_dir=3)
