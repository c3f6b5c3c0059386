"""Hypothesis strategies for domains, expressions, constraints and whole models.

>>> from hypothesis import given
>>> from constrint.testing import models
>>> @given(models())
... def test_count_matches(m):
...     assert m.count() == len(brute_force_solutions(m))
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from hypothesis import strategies as st

from ..expr import Expr, Var, divides, implies, max_, min_
from ..model import Model

#: Every operator the strategies can produce.
ALL_OPS = ("+", "-", "*", "//", "%", "**", "neg", "abs", "min", "max")
#: Every constraint kind the strategies can produce.
ALL_CONSTRAINTS = ("==", "!=", "<", "<=", ">", ">=", "divides", "and", "or", "not", "implies")


def domains(
    min_value: int = -6,
    max_value: int = 12,
    max_size: int = 12,
    huge: bool = False,
) -> st.SearchStrategy[tuple[str, Any]]:
    """A declared domain: ``("values", [ints])`` or ``("interval", (lo, hi))``.

    ``huge=True`` also produces bounds near +-2**62 (only use it where nothing enumerates them).
    """
    values = st.lists(st.integers(min_value, max_value), min_size=1, max_size=max_size, unique=True)
    small_iv = st.integers(min_value, max_value).flatmap(
        lambda lo: st.integers(lo, min(max_value, lo + max_size - 1)).map(lambda hi: (lo, hi))
    )
    options = [values.map(lambda v: ("values", v)), small_iv.map(lambda iv: ("interval", iv))]
    if huge:
        big = st.integers(-(2**62), 2**62)
        options.append(st.tuples(big, big).map(lambda t: ("interval", (min(t), max(t)))))
    return st.one_of(options)


def expressions(
    variables: Sequence[Var],
    ops: Sequence[str] = ALL_OPS,
    max_depth: int = 3,
    constants: st.SearchStrategy[int] | None = None,
) -> st.SearchStrategy[Expr]:
    """Random integer expressions over ``variables`` with the operators ``ops``."""
    consts = constants if constants is not None else st.integers(-4, 8)
    leaves = st.one_of(st.sampled_from(list(variables)), consts)

    def extend(children: st.SearchStrategy) -> st.SearchStrategy:
        options = []
        binary = {
            "+": lambda a, b: a + b,
            "-": lambda a, b: a - b,
            "*": lambda a, b: a * b,
            "//": lambda a, b: a // b,
            "%": lambda a, b: a % b,
            "min": lambda a, b: min_(a, b),
            "max": lambda a, b: max_(a, b),
        }
        for op, fn in binary.items():
            if op in ops:
                options.append(st.tuples(children, children).map(lambda t, fn=fn: fn(_expr(t[0]), _expr(t[1]))))
        if "neg" in ops:
            options.append(children.map(lambda a: -_expr(a)))
        if "abs" in ops:
            options.append(children.map(lambda a: abs(_expr(a))))
        if "**" in ops:
            options.append(st.tuples(children, st.integers(0, 3)).map(lambda t: _expr(t[0]) ** t[1]))
        return st.one_of(options) if options else children

    return st.recursive(leaves, extend, max_leaves=2 ** max_depth).map(_expr)


def _expr(e: Any) -> Expr:
    from ..expr import _coerce

    return _coerce(e)


def constraints(
    variables: Sequence[Var],
    ops: Sequence[str] = ALL_OPS,
    kinds: Sequence[str] = ALL_CONSTRAINTS,
    max_depth: int = 2,
    nesting: int = 2,
) -> st.SearchStrategy[Any]:
    """Random constraints: comparisons, divisibility and their boolean combinations."""
    ex = expressions(variables, ops, max_depth)
    atoms = []
    for k in ("==", "!=", "<", "<=", ">", ">="):
        if k in kinds:
            atoms.append(st.tuples(ex, ex).map(lambda t, k=k: _compare(k, _expr(t[0]), t[1])))
    if "divides" in kinds:
        atoms.append(st.tuples(ex, ex).map(lambda t: divides(*t)))
    if not atoms:
        raise ValueError("constraints() needs at least one comparison kind or 'divides'")
    base = st.one_of(atoms)
    if nesting <= 0:
        return base

    def extend(children):
        options = []
        if "and" in kinds:
            options.append(st.tuples(children, children).map(lambda t: t[0] & t[1]))
        if "or" in kinds:
            options.append(st.tuples(children, children).map(lambda t: t[0] | t[1]))
        if "not" in kinds:
            options.append(children.map(lambda c: ~c))
        if "implies" in kinds:
            options.append(st.tuples(children, children).map(lambda t: implies(*t)))
        return st.one_of(options) if options else children

    return st.recursive(base, extend, max_leaves=2 ** nesting)


def _compare(op: str, a: Expr, b: Expr):
    return {
        "==": a.__eq__, "!=": a.__ne__, "<": a.__lt__,
        "<=": a.__le__, ">": a.__gt__, ">=": a.__ge__,
    }[op](b)


@st.composite
def models(
    draw: Any,
    min_vars: int = 3,
    max_vars: int = 5,
    min_constraints: int = 1,
    max_constraints: int = 4,
    ops: Sequence[str] = ALL_OPS,
    kinds: Sequence[str] = ALL_CONSTRAINTS,
    max_depth: int = 2,
    min_value: int = -6,
    max_value: int = 12,
    max_domain_size: int = 12,
    objective: bool = False,
) -> Model:
    """A random small model (brute-forceable with the default knobs)."""
    m = Model()
    n = draw(st.integers(min_vars, max_vars))
    for i in range(n):
        kind, spec = draw(domains(min_value, max_value, max_domain_size))
        if kind == "values":
            m.int_var(f"x{i}", values=spec)
        else:
            m.int_var(f"x{i}", spec[0], spec[1])
    vs = m.variables
    k = draw(st.integers(min_constraints, max_constraints))
    for _ in range(k):
        m.add(draw(constraints(vs, ops, kinds, max_depth)))
    if objective:
        e = draw(expressions(vs, [o for o in ops if o not in ("//", "%")], max_depth))
        if draw(st.booleans()):
            m.minimize(e)
        else:
            m.maximize(e)
    return m
