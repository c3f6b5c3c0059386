"""Presolve (Model.reduce): exactness against brute force, the parts of a Reduction, sources.

The property: for random models (constrint.testing) with definitions 'X == expression' added and
random inputs, the reduced model's solutions, completed, are exactly the original's solutions with
the inputs fixed (brute force), and the optimum is the same.
"""
from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

import constrint as ci
from constrint.testing import (
    ALL_CONSTRAINTS,
    ALL_OPS,
    add_var,
    brute_force_optimum,
    brute_force_solutions,
    constraints,
    domains,
    expressions,
    models,
)
from constrint.transform import definedness, fold, fold_statement, substitute

OPS = ALL_OPS + ("/",)


@st.composite
def models_with_inputs(draw):
    """(model, inputs, decisions or None): a random model, some definitions, random inputs."""
    m = draw(models(min_vars=2, max_vars=4, ops=OPS, kinds=ALL_CONSTRAINTS, max_cartesian=150,
                    max_domain_size=6, objective=draw(st.booleans()), max_constraints=3))
    base = m.variables
    for i in range(draw(st.integers(0, 2))):
        e = draw(expressions(m.variables, OPS, max_depth=2))
        d = add_var(m, f"d{i}", draw(domains(-4, 10, 6)))
        m.add(d == e)
        if draw(st.booleans()):  # a statement that uses the definition
            m.add(draw(constraints(m.variables, OPS, ALL_CONSTRAINTS, max_depth=1, nesting=1)))
    names = [v.name for v in m.variables]
    chosen = draw(st.lists(st.sampled_from(names), unique=True, max_size=len(names)))
    inputs = {}
    for n in chosen:
        dom = list(m.domain(n))
        inputs[n] = draw(st.one_of(st.sampled_from(dom), st.integers(-8, 14)))
    decisions = None
    if draw(st.booleans()):
        decisions = [v.name for v in base if v.name not in inputs]
        decisions = draw(st.permutations(decisions))
    return m, inputs, decisions


def _key(names, s):
    return tuple(s[n] for n in names)


@given(models_with_inputs())
def test_reduce_then_solve_equals_solve_with_inputs_fixed(case):
    m, inputs, decisions = case
    names = [v.name for v in m.variables]
    expected = {_key(names, s) for s in brute_force_solutions(m) if all(s[k] == v for k, v in inputs.items())}
    try:
        red = m.reduce(inputs, decisions=decisions)
    except ci.ModelError as exc:  # decisions named, and a definition was not recognised as one
        assert decisions is not None and "no value for the input" in str(exc)
        return
    if red.violated:
        assert red.model is None and expected == set()
        assert red.solve().status is ci.Status.INFEASIBLE
        return
    assert [v.name for v in red.model.variables] == list(red.decisions)
    if decisions is not None:
        assert list(red.decisions) == [n for n in decisions if n not in inputs]
    got = [red.complete(s) for s in brute_force_solutions(red.model)]
    assert {_key(names, s) for s in got} == expected
    assert len(got) == len(expected)  # one reduced solution per original solution
    assert red.model.count() == len(expected)
    res = red.solve()
    if m.objective is None:
        assert res.ok == bool(expected)
        if res.ok:
            assert _key(names, res.values) in expected
        return
    if not expected:
        assert res.status is ci.Status.INFEASIBLE
        return
    assert res.status is ci.Status.OPTIMAL and _key(names, res.values) in expected
    fixed_model = m.copy()
    fixed_model.add([fixed_model.var(k) == v for k, v in inputs.items()])
    assert res.objective == brute_force_optimum(fixed_model)


@given(st.data())
def test_fold_and_definedness_are_exact(data):
    m = data.draw(models(min_vars=2, max_vars=3, ops=OPS, max_constraints=1, max_cartesian=100))
    c = m.constraints[0]
    sub = data.draw(st.sampled_from([v.name for v in m.variables]))
    value = data.draw(st.integers(-3, 6))
    folded, whole, guards = fold(c), fold_statement(c), definedness(c)
    fixed = substitute(c, {sub: value})
    for s in _assignments(m):
        # folding keeps the truth value of every assignment (undefined stays false)
        assert folded.holds(s) == c.holds(s)
        assert whole.holds(s) == c.holds(s)
        t = dict(s, **{sub: value})
        assert fixed.holds(t) == c.holds(t)
        # definedness: every guard holds exactly where evaluating c raises nothing
        try:
            c.ev(s)
            defined = True
        except ci.Undefined:
            defined = False
        assert all(g.holds(s) for g in guards) == defined


def _assignments(m):
    import itertools

    names = [v.name for v in m.variables]
    for combo in itertools.product(*(list(m.domain(v)) for v in m.variables)):
        yield dict(zip(names, combo))


# ---------------------------------------------------------------------- the parts of a Reduction

TEXT = """
var N in 1..4096;                 # problem size
var SMS in 1..1000;               # streaming multiprocessors
var T in [32, 64, 128, 256];      # threads per block
var U in 1..8;                    # elements per thread
var PER in 0..100000;
PER == T * U;                     # elements per block
var BLOCKS in 0..100000;
BLOCKS == (N - 1) // PER + 1;     # blocks of the grid
BLOCKS <= SMS;                    # one wave
N % U == 0;                       # whole elements per thread
minimize BLOCKS * PER - N, T;
"""


def model():
    return ci.loads(TEXT, filename="grid.cint")


def test_reduction_parts():
    m = model()
    red = m.reduce({"N": 1000, "SMS": 4})
    assert red.decisions == ("T", "U") and red.definitions == ("PER", "BLOCKS")
    assert red.values == {"N": 1000, "SMS": 4}
    assert [v.name for v in red.model.variables] == ["T", "U"]
    assert red.model.domain("U") == ci.Domain.from_values([1, 2, 4, 5, 8])  # N % U == 0 became a domain
    assert str(red.expression("PER")) == "T * U"
    assert red.expression("SMS").evaluate({}) == 4
    res = red.solve()
    assert res.values == {"N": 1000, "SMS": 4, "T": 32, "U": 8, "PER": 256, "BLOCKS": 4}
    assert res.objective == (24, 32)
    assert red.complete({"T": 32, "U": 8}) == {"N": 1000, "SMS": 4, "T": 32, "U": 8, "PER": 256, "BLOCKS": 4}
    with pytest.raises(ci.ModelError, match="no value for the decisions U"):
        red.complete({"T": 32})


def test_violated_statements_carry_line_and_comment():
    red = model().reduce({"N": 4096, "SMS": 1, "T": 256})
    assert red.model is None
    (st_,) = red.violated
    assert (st_.line, st_.text, st_.comment) == (10, "BLOCKS <= SMS", "one wave")
    red = model().reduce({"N": 0, "SMS": 1})
    assert [(s.line, s.text, s.comment) for s in red.violated] == [(2, "N in 1..4096", "problem size")]
    with pytest.raises(ci.ModelError, match="no reduced model"):
        red.expression("PER")


def test_decisions_name_the_free_variables():
    m = model()
    red = m.reduce({"N": 1000, "SMS": 4}, decisions=["U", "T"])
    assert [v.name for v in red.model.variables] == ["U", "T"]
    with pytest.raises(ci.ModelError, match="no value for the input SMS"):
        m.reduce({"N": 1000}, decisions=["T", "U"])
    with pytest.raises(ci.ModelError, match="'Q' is not a variable"):
        m.reduce({"Q": 1})
    with pytest.raises(ci.ModelError, match="decision 'Q'"):
        m.reduce({"N": 1}, decisions=["Q"])
    with pytest.raises(ci.ModelError, match="input 'N' must be an integer"):
        m.reduce({"N": "3"})


def test_fix_pins_decisions():
    m = model()
    red = m.reduce({"N": 1000, "SMS": 4}, decisions=["T", "U"])
    pinned = red.fix({"T": 64})
    assert pinned.decisions == ("U",)
    res = pinned.solve()
    assert res.values["T"] == 64 and res.values["U"] in (4, 8) and res.objective == (24, 64)
    assert red.fix({"T": 32, "U": 1}).violated[0].text == "BLOCKS <= SMS"
    with pytest.raises(ci.ModelError, match="only decisions can be fixed"):
        red.fix({"PER": 64})


def test_overrides_replace_a_definition():
    m = model()
    # PER forced to 4096 regardless of T and U: one block suffices for every choice
    red = m.reduce({"N": 1000, "SMS": 1}, overrides={"PER": 4096})
    assert "PER" not in red.definitions and red.values["PER"] == 4096
    assert red.model.count() == 4 * 5
    # without the override one SM is too few for some (T, U)
    assert m.reduce({"N": 1000, "SMS": 1}).model.count() < 20


def test_input_for_a_definition_keeps_its_statement():
    m = model()
    red = m.reduce({"N": 1000, "SMS": 4, "PER": 512})
    assert "PER" not in red.definitions
    assert sorted((s["T"], s["U"]) for s in red.model.solutions()) == [(64, 8), (128, 4), (256, 2)]


def test_definition_cycles_stay_constraints():
    m = ci.loads("var a, b in 0..9; var c in 0..9; a == b + 1; b == a - 1; c == a * 2;")
    red = m.reduce({})
    assert red.definitions == ("a", "c")  # 'b == a - 1' would close a cycle
    assert red.model.count() == m.count() == 4


def test_undefined_constants_are_violations():
    m = ci.loads("var k in 0..3; var x in 1..9; var q in 0..99; q == 12 // k; x + q > 3 or x == 1;")
    assert m.reduce({"k": 0}).violated[0].text == "q in 0..99"
    assert m.reduce({"k": 4}).violated[0].text == "k in 0..3"
    assert m.reduce({"k": 3}).model.count() == 9


def test_large_domains_are_narrowed_without_listing():
    m = ci.Model()
    x = m.int_var("x", 1, 10**12)
    y = m.int_var("y", 1, 10)
    m += ci.divides(1024, x) & (x * y <= 10**6)
    m += x != 3
    red = m.reduce({"y": 7})
    assert red.model.domain("x").size < 10**12
    assert red.model.count() == m.copy(fix={"y": 7}).count()


# ---------------------------------------------------------------------- sources


def test_loader_keeps_lines_and_comments():
    m = model()
    sts = m.statements
    assert [(s.line, s.text) for s in sts] == [
        (7, "PER == T * U"), (9, "BLOCKS == (N - 1) // PER + 1"), (10, "BLOCKS <= SMS"), (11, "N % U == 0")]
    assert [s.comment for s in sts] == ["elements per block", "blocks of the grid", "one wave",
                                        "whole elements per thread"]
    assert m.source("SMS") == ci.Source("grid.cint", 3, "var SMS in 1..1000", "streaming multiprocessors")
    assert m.source("PER").comment == ""
    # a multi-line statement: its code on one line, the comments of its lines joined
    m2 = ci.loads("var x in 1..9;\nx +      # the sum\n  1 <= 5;  # small\nx >= 2; x <= 8;  # two on a line\n")
    assert [(s.line, s.text, s.comment) for s in m2.statements] == [
        (2, "x + 1 <= 5", "the sum small"), (4, "x >= 2", ""), (4, "x <= 8", "two on a line")]
    # models built in Python have no sources; dumps keeps the comments of loaded ones
    p = ci.Model()
    p += p.int_var("z", 0, 3) > 1
    assert p.statements[0].source is None and p.statements[0].text == "z > 1"
    text = ci.dumps(m)
    assert "var SMS in 1..1000;  # streaming multiprocessors" in text and "BLOCKS <= SMS;  # one wave" in text
    assert ci.loads(text).count() == m.count()


def test_copy_fix():
    m = model()
    c = m.copy(fix={"N": 1000, "SMS": 4})
    assert c.domain("N").is_fixed and c.source("N") == m.source("N")
    assert c.statements[2].comment == "one wave"
    with pytest.raises(ci.ModelError, match="outside its domain"):
        m.copy(fix={"SMS": 0})
