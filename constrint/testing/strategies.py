"""Hypothesis strategies for domains, expressions, constraints and whole models.

Every strategy has knobs for size, value ranges (negatives, zero, huge values), the operators and
constraint kinds that may appear, and nesting depth. With the default knobs a drawn model is small
enough for the brute-force oracle.

>>> from hypothesis import given
>>> from constrint.testing import brute_force_solutions, models
>>> @given(models())
... def test_count_matches(m):
...     assert m.count() == len(brute_force_solutions(m))
"""
from __future__ import annotations

import inspect
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from hypothesis import strategies as st

from ..booleans import equivalent, xor
from ..custom import wrap_custom
from ..domain import Domain
from ..expr import (
    Constraint,
    Expr,
    Var,
    _coerce,
    divides,
    exact_div,
    implies,
    max_,
    min_,
    true_div,
    trunc,
)
from ..model import Model

#: The operators the strategies produce by default (integer-valued, Python semantics).
ALL_OPS = ("+", "-", "*", "//", "%", "**", "neg", "abs", "min", "max")
#: Integer operators of :mod:`constrint.intops`, :mod:`constrint.booleans` and
#: :mod:`constrint.global_constraints`: bitwise ``& | ^ ~``, shifts ``<< >>``, ``power`` (a
#: variable or negative exponent), ``if`` (``a if c else b``), ``element`` (``[a, b, c][i]``) and
#: ``bool`` (a comparison used as the number 0 or 1).
INT_OPS = ("&", "|", "^", "~", "<<", ">>", "power", "if", "element", "bool")
#: Further operators, produced only when asked for: exact division (``exact_div``), true division
#: (``true_div``, float valued), truncation (``trunc``, i.e. ``int(...)``) and :data:`INT_OPS`.
EXTRA_OPS = ("/", "truediv", "trunc") + INT_OPS
#: Every operator the strategies know.
EVERY_OP = ALL_OPS + EXTRA_OPS
#: The constraint kinds the strategies produce by default (``custom`` ones come from factories).
ALL_CONSTRAINTS = ("==", "!=", "<", "<=", ">", ">=", "divides", "and", "or", "not", "implies")
#: Further connectives, produced only when asked for: ``equivalent`` and ``xor`` of two
#: constraints (:func:`constrint.equivalent`, :func:`constrint.xor`).
BOOLEAN_KINDS = ("equivalent", "xor")
#: Global constraints, produced only when asked for (:mod:`constrint.global_constraints`):
#: ``count`` and ``among`` appear compared with a small constant.
GLOBAL_KINDS = (
    "all_different", "table", "forbidden_table", "lex_less", "lex_lesseq", "count", "among",
    "inverse", "in_set",
)
#: Comparison kinds.
COMPARISONS = ("==", "!=", "<", "<=", ">", ">=")

#: Default magnitude of "huge" values: beyond int64 arithmetic after one multiplication.
HUGE = 2**62

_BINARY: dict[str, Callable[[Expr, Expr], Expr]] = {
    "+": lambda a, b: a + b,
    "-": lambda a, b: a - b,
    "*": lambda a, b: a * b,
    "//": lambda a, b: a // b,
    "%": lambda a, b: a % b,
    "min": min_,
    "max": max_,
    "/": exact_div,
    "truediv": true_div,
}
_UNARY: dict[str, Callable[[Expr], Expr]] = {
    "neg": lambda a: -a,
    "abs": abs,
    "trunc": trunc,
}
#: Operators that may make an expression undefined or non-integral (kept out of objectives).
PARTIAL_OPS = ("//", "%", "/", "truediv", "<<", ">>", "power", "element")


def _check_ops(ops: Iterable[str]) -> None:
    unknown = [o for o in ops if o not in EVERY_OP]
    if unknown:
        raise ValueError(f"unknown operators {unknown}; known: {list(EVERY_OP)}")


# ====================================================================== integers and domains


def int_values(
    min_value: int = -6,
    max_value: int = 12,
    *,
    negatives: bool = True,
    zero: bool = True,
    huge: bool = False,
    huge_bound: int = HUGE,
) -> st.SearchStrategy[int]:
    """Integers in ``[min_value, max_value]``, and with ``huge=True`` also values up to
    ``huge_bound`` in magnitude (edges such as ``2**31``, ``2**62 - 1``, ``2**63`` included).

    ``negatives=False`` drops negative values, ``zero=False`` drops 0.
    """
    lo = min_value if negatives else max(min_value, 0)
    opts: list[st.SearchStrategy[int]] = []
    if lo <= max_value:
        opts.append(st.integers(lo, max_value))
    if huge:
        edges = [2**31 - 1, 2**31, 2**53 + 1, 2**62 - 1, 2**62, 2**63 - 1, 2**63, huge_bound]
        edges = sorted({e for e in edges if e <= huge_bound})
        big = st.one_of(st.sampled_from(edges), st.integers(2**31, huge_bound))
        opts.append(big)
        if negatives:
            opts.append(big.map(lambda v: -v))
    if not opts:
        raise ValueError(f"no integers in [{min_value}, {max_value}] with negatives={negatives}")
    s = st.one_of(opts)
    if not zero:
        s = s.filter(lambda v: v != 0)
    return s


@st.composite
def _intervals(draw, lo: int, hi: int, max_size: int, zero: bool) -> tuple[int, int]:
    a = draw(st.integers(lo, hi))
    if not zero and a == 0:
        a = 1 if hi >= 1 else -1
        if not lo <= a <= hi:
            raise ValueError("no interval without 0 in the given range")
    top = min(hi, a + max_size - 1)
    if not zero and a < 0:
        top = min(top, -1)
    return a, draw(st.integers(a, top))


def domains(
    min_value: int = -6,
    max_value: int = 12,
    max_size: int = 12,
    huge: bool = False,
    *,
    negatives: bool = True,
    zero: bool = True,
    huge_values: bool = False,
    kinds: Sequence[str] = ("values", "interval"),
) -> st.SearchStrategy[tuple[str, Any]]:
    """A declared domain: ``("values", [ints])`` or ``("interval", (lo, hi))``.

    Values lie in ``[min_value, max_value]`` and there are at most ``max_size`` of them;
    ``negatives``/``zero`` allow negative values and 0; ``huge_values=True`` mixes values near
    +-2**62 into value lists (still few of them, so brute force works); ``huge=True`` also produces
    intervals with bounds near +-2**62 (only where nothing enumerates them). ``kinds`` picks
    among ``"values"`` and ``"interval"``. Build a variable from it with :func:`add_var`.
    """
    options: list[st.SearchStrategy] = []
    lo = min_value if negatives else max(min_value, 0)
    if "values" in kinds:
        ints = int_values(min_value, max_value, negatives=negatives, zero=zero, huge=huge_values)
        values = st.lists(ints, min_size=1, max_size=max(1, max_size), unique=True)
        options.append(values.map(lambda v: ("values", v)))
    if "interval" in kinds and lo <= max_value and (zero or not (lo == 0 == max_value)):
        ivs = _intervals(lo, max_value, max(1, max_size), zero)
        options.append(ivs.map(lambda iv: ("interval", iv)))
    if huge:
        big = st.integers(-HUGE, HUGE)
        options.append(st.tuples(big, big).map(lambda t: ("interval", (min(t), max(t)))))
    if not options:
        raise ValueError("domains(): the knobs leave no domain to draw")
    return st.one_of(options)


def to_domain(spec: Any) -> Domain | None:
    """A :class:`Domain` from a spec drawn by :func:`domains`, a Domain, a range or some ints."""
    if spec is None or isinstance(spec, Domain):
        return spec
    if isinstance(spec, tuple) and len(spec) == 2 and spec[0] in ("values", "interval"):
        kind, data = spec
        if kind == "values":
            return Domain.from_values(data)
        return Domain.interval(data[0], data[1])
    if isinstance(spec, range) and spec.step == 1:
        return Domain.interval(spec.start, spec.stop - 1) if len(spec) else None
    return Domain.from_values(int(v) for v in spec)


def add_var(model: Model, name: str, spec: Any) -> Var:
    """Declare variable ``name`` in ``model`` with a domain spec from :func:`domains`."""
    if isinstance(spec, tuple) and len(spec) == 2 and spec[0] == "interval":
        return model.int_var(name, spec[1][0], spec[1][1])
    if isinstance(spec, tuple) and len(spec) == 2 and spec[0] == "values":
        return model.int_var(name, values=spec[1])
    d = to_domain(spec)
    if d is None:
        raise ValueError(f"variable {name!r}: empty domain")
    if d.values is None and d.factor == 1 and d.primes is None:
        return model.int_var(name, d.lo, d.hi)
    return model.int_var(name, values=list(d))


def domain_objects(
    min_value: int = -6,
    max_value: int = 12,
    max_size: int = 12,
    *,
    negatives: bool = True,
    zero: bool = True,
    huge_values: bool = False,
    multiples: bool = True,
) -> st.SearchStrategy[Domain]:
    """:class:`Domain` objects (never empty): value sets, intervals and, with ``multiples``,
    multiples of a factor in an interval. Same knobs as :func:`domains`."""
    base = domains(
        min_value, max_value, max_size, negatives=negatives, zero=zero, huge_values=huge_values
    ).map(to_domain)
    if not multiples:
        return base
    lo = min_value if negatives else max(min_value, 0)

    @st.composite
    def mult(draw):
        f = draw(st.integers(2, 5))
        a = draw(st.integers(lo, max_value))
        b = draw(st.integers(a, max(a, min(max_value, a + f * max_size - 1))))
        d = Domain.interval(a, b, factor=f)
        if d is not None and not zero:
            d = d.remove(0)
        return d

    return st.one_of(base, mult().filter(lambda d: d is not None))


def domain_lists(
    min_vars: int = 1,
    max_vars: int = 3,
    min_value: int = -6,
    max_value: int = 12,
    max_size: int = 8,
    **knobs: Any,
) -> st.SearchStrategy[list[Domain]]:
    """Lists of ``min_vars..max_vars`` :class:`Domain` objects (for :func:`check_propagator`).

    ``knobs`` are passed to :func:`domain_objects`.
    """
    return st.lists(
        domain_objects(min_value, max_value, max_size, **knobs), min_size=min_vars, max_size=max_vars
    )


# ====================================================================== expressions


def expressions(
    variables: Sequence[Var],
    ops: Sequence[str] = ALL_OPS,
    max_depth: int = 3,
    constants: st.SearchStrategy[int] | None = None,
    *,
    max_exponent: int = 3,
    huge_constants: bool = False,
) -> st.SearchStrategy[Expr]:
    """Random integer expressions over ``variables``.

    ``ops`` picks the operators (see :data:`ALL_OPS`, :data:`EXTRA_OPS`), ``max_depth`` bounds the
    nesting depth (0 = a variable or a constant), ``constants`` draws the constants (default
    ``-4..8``; ``huge_constants=True`` mixes in values near +-2**62), ``max_exponent`` bounds the
    exponent of ``**``. About half the nodes at each level are leaves, so trees stay small.
    """
    _check_ops(ops)
    if not variables:
        raise ValueError("expressions() needs at least one variable")
    consts = constants if constants is not None else st.integers(-4, 8)
    if huge_constants:
        consts = st.one_of(consts, int_values(0, 0, huge=True))
    leaves = st.one_of(st.sampled_from(list(variables)), consts.map(_coerce))
    # exponents and left-shift counts stay small (their results grow exponentially with them)
    small_vars = [v for v in variables if _small_domain(v)]
    small = st.one_of(
        st.integers(-2, max(max_exponent, 0)).map(_coerce),
        *([st.sampled_from(small_vars)] if small_vars else []),
    )
    strat: st.SearchStrategy[Expr] = leaves
    for _ in range(max(0, max_depth)):
        sub = strat
        options: list[st.SearchStrategy[Expr]] = []
        for op, fn in _BINARY.items():
            if op in ops:
                options.append(st.tuples(sub, sub).map(lambda t, fn=fn: fn(t[0], t[1])))
        for op, fn in _UNARY.items():
            if op in ops:
                options.append(sub.map(fn))
        if "**" in ops:
            options.append(
                st.tuples(sub, st.integers(0, max_exponent)).map(lambda t: t[0] ** t[1])
            )
        options.extend(_int_op_options(ops, sub, small))
        if not options:
            break
        strat = _leaf_or(leaves, st.one_of(options))
    return strat


def _small_domain(v: Var) -> bool:
    d = v.model.domain(v)
    return d.lo >= -8 and d.hi <= 8


def _int_op_options(ops: Sequence[str], sub: st.SearchStrategy, small: st.SearchStrategy) -> list:
    """Strategies for the operators of :data:`INT_OPS` that ``ops`` asks for."""
    from ..booleans import if_then_else, reify
    from ..global_constraints import element
    from ..intops import power

    integral = sub.filter(lambda e: e.integral)
    out: list[st.SearchStrategy[Expr]] = []
    bit = {"&": lambda a, b: a & b, "|": lambda a, b: a | b, "^": lambda a, b: a ^ b}
    for op, fn in bit.items():
        if op in ops:
            out.append(st.tuples(integral, integral).map(lambda t, fn=fn: fn(*t)))
    if "~" in ops:
        out.append(integral.map(lambda a: ~a))
    if "<<" in ops:
        out.append(st.tuples(integral, small).map(lambda t: t[0] << t[1]))
    if ">>" in ops:
        out.append(st.tuples(integral, integral).map(lambda t: t[0] >> t[1]))
    if "power" in ops:
        out.append(st.tuples(sub, small).map(lambda t: power(t[0], t[1])))
    comparison = st.tuples(st.sampled_from(COMPARISONS), sub, sub).map(
        lambda t: _compare(t[0], t[1], t[2])
    )
    if "if" in ops:
        out.append(st.tuples(comparison, sub, sub).map(lambda t: if_then_else(*t)))
    if "element" in ops:
        out.append(
            st.tuples(st.lists(sub, min_size=1, max_size=3), integral).map(lambda t: element(*t))
        )
    if "bool" in ops:
        out.append(comparison.map(reify))
    return out


@st.composite
def _leaf_or(draw: Any, leaf: st.SearchStrategy, inner: st.SearchStrategy) -> Any:
    # an explicit coin (not one_of, which would flatten the operator options in beside the
    # leaves and make nearly every node an inner node); shrinks towards the leaf
    return draw(inner) if draw(st.booleans()) else draw(leaf)


def expression_depth(node: Any) -> int:
    """Nesting depth of an expression or constraint tree (a leaf has depth 0).

    A comparison inside an expression (``a if x < y else b``, ``(x < y)`` as a number) is part
    of that expression's level.
    """
    kids: list[Any] = []
    if not isinstance(node, Var):
        for c in getattr(node, "children", ()):
            if isinstance(node, Expr) and isinstance(c, Constraint):
                kids.extend(c.children)
            else:
                kids.append(c)
    return 1 + max(expression_depth(c) for c in kids) if kids else 0


# ====================================================================== constraints


def _arity(factory: Callable[..., Any], n_vars: int) -> tuple[int, int]:
    """How many variables a custom-constraint factory takes: (least, most)."""
    try:
        sig = inspect.signature(factory)
    except (TypeError, ValueError):
        return 1, n_vars
    least = most = 0
    for p in sig.parameters.values():
        if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD):
            most += 1
            if p.default is p.empty:
                least += 1
        elif p.kind is p.VAR_POSITIONAL:
            most = n_vars
    least = max(least, 1)
    return least, max(least, most)


def custom_constraints(
    variables: Sequence[Var], factories: Sequence[Any]
) -> st.SearchStrategy[Constraint]:
    """Custom constraints: a factory called with distinct variables as positional arguments.

    Each entry of ``factories`` is a callable (its arity is read from its signature; ``*args``
    means any number) or a pair ``(callable, arity)``. Results are wrapped with
    :func:`constrint.custom.wrap_custom`, so they combine with ``&``, ``|``, ``~``.
    """
    vs = list(variables)
    options = []
    for f in factories:
        if isinstance(f, tuple):
            f, k = f
            lo = hi = k
        else:
            lo, hi = _arity(f, len(vs))
        hi = min(hi, len(vs))
        if lo > hi:
            continue

        @st.composite
        def one(draw, f=f, lo=lo, hi=hi):
            k = draw(st.integers(lo, hi))
            chosen = draw(st.permutations(vs))[:k]
            return wrap_custom(f(*chosen))

        options.append(one())
    if not options:
        raise ValueError("no custom-constraint factory fits the number of variables")
    return st.one_of(options)


def constraints(
    variables: Sequence[Var],
    ops: Sequence[str] = ALL_OPS,
    kinds: Sequence[str] = ALL_CONSTRAINTS,
    max_depth: int = 2,
    nesting: int = 2,
    *,
    constants: st.SearchStrategy[int] | None = None,
    max_exponent: int = 3,
    huge_constants: bool = False,
    custom: Sequence[Any] = (),
) -> st.SearchStrategy[Constraint]:
    """Random constraints: comparisons, divisibility, custom kinds and boolean combinations.

    ``kinds`` picks the atoms (:data:`COMPARISONS`, ``"divides"``) and the connectives (``"and"``,
    ``"or"``, ``"not"``, ``"implies"``); ``nesting`` bounds the depth of connectives (0 = atoms
    only); ``max_depth``, ``ops``, ``constants``, ``max_exponent`` and ``huge_constants`` go to
    :func:`expressions`; ``custom`` lists custom-constraint factories (see
    :func:`custom_constraints`) used as further atoms.
    """
    ex = expressions(
        variables, ops, max_depth, constants, max_exponent=max_exponent, huge_constants=huge_constants
    )
    atoms = []
    for k in COMPARISONS:
        if k in kinds:
            atoms.append(st.tuples(ex, ex).map(lambda t, k=k: _compare(k, t[0], t[1])))
    if "divides" in kinds:
        atoms.append(st.tuples(ex, ex).map(lambda t: divides(*t)))
    if custom:
        atoms.append(custom_constraints(variables, custom))
    atoms.extend(_global_atoms(kinds, list(variables), ex))
    if not atoms:
        raise ValueError(
            "constraints() needs a comparison kind, 'divides', a global kind or a custom factory"
        )
    base = st.one_of(atoms)
    strat = base
    for _ in range(max(0, nesting)):
        sub = strat
        options = []
        if "and" in kinds:
            options.append(st.tuples(sub, sub).map(lambda t: t[0] & t[1]))
        if "or" in kinds:
            options.append(st.tuples(sub, sub).map(lambda t: t[0] | t[1]))
        if "not" in kinds:
            options.append(sub.map(lambda c: ~c))
        if "implies" in kinds:
            options.append(st.tuples(sub, sub).map(lambda t: implies(*t)))
        if "equivalent" in kinds:
            options.append(st.tuples(sub, sub).map(lambda t: equivalent(*t)))
        if "xor" in kinds:
            options.append(st.tuples(sub, sub).map(lambda t: xor(*t)))
        if not options:
            break
        strat = _leaf_or(base, st.one_of(options))
    return strat


def _global_atoms(kinds: Sequence[str], vs: list[Var], ex: st.SearchStrategy) -> list:
    """Strategies for the kinds of :data:`GLOBAL_KINDS` that ``kinds`` asks for."""
    from .. import global_constraints as g

    out: list[st.SearchStrategy[Constraint]] = []
    integral = ex.filter(lambda e: e.integral)
    small = st.integers(0, 3)
    if "all_different" in kinds:
        out.append(st.lists(integral, min_size=2, max_size=4).map(g.all_different))

    @st.composite
    def rows_for(draw, forbidden: bool):
        chosen = draw(st.lists(st.sampled_from(vs), min_size=1, max_size=min(3, len(vs)), unique=True))
        pools = [list(v.model.domain(v))[:12] + [draw(st.integers(-6, 12))] for v in chosen]
        rows = draw(st.lists(st.tuples(*(st.sampled_from(p) for p in pools)), max_size=8))
        return g.table(chosen, rows, forbidden=forbidden)

    if "table" in kinds:
        out.append(rows_for(False))
    if "forbidden_table" in kinds:
        out.append(rows_for(True))

    @st.composite
    def lex(draw, fn):
        n = draw(st.integers(1, 3))
        return fn(draw(st.lists(integral, min_size=n, max_size=n)), draw(st.lists(integral, min_size=n, max_size=n)))

    if "lex_less" in kinds:
        out.append(lex(g.lex_less))
    if "lex_lesseq" in kinds:
        out.append(lex(g.lex_lesseq))
    items = st.lists(integral, min_size=1, max_size=4)
    if "count" in kinds:
        out.append(
            st.tuples(st.sampled_from(COMPARISONS), items, st.one_of(integral, st.integers(-2, 4).map(_coerce)), small)
            .map(lambda t: _compare(t[0], g.count(t[1], t[2]), _coerce(t[3])))
        )
    if "among" in kinds:
        out.append(
            st.tuples(st.sampled_from(COMPARISONS), items, st.sets(st.integers(-3, 6), max_size=4), small)
            .map(lambda t: _compare(t[0], g.among(t[1], t[2]), _coerce(t[3])))
        )
    if "in_set" in kinds:
        out.append(st.tuples(integral, st.sets(st.integers(-4, 8), max_size=5)).map(lambda t: g.in_set(*t)))
    if "inverse" in kinds:

        @st.composite
        def inv(draw):
            n = draw(st.integers(1, max(1, min(2, len(vs) // 2))))
            chosen = draw(st.permutations(vs))[: 2 * n]
            if len(chosen) < 2 * n:
                chosen = chosen + chosen
            return g.inverse(chosen[:n], chosen[n : 2 * n])

        out.append(inv())
    return out


def _compare(op: str, a: Expr, b: Expr) -> Constraint:
    return {
        "==": a.__eq__, "!=": a.__ne__, "<": a.__lt__,
        "<=": a.__le__, ">": a.__gt__, ">=": a.__ge__,
    }[op](b)


# ====================================================================== models


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
    *,
    nesting: int = 2,
    negatives: bool = True,
    zero: bool = True,
    huge_values: bool = False,
    constants: st.SearchStrategy[int] | None = None,
    max_exponent: int = 3,
    huge_constants: bool = False,
    custom: Sequence[Any] = (),
    lexicographic: bool = False,
    max_cartesian: int | None = None,
    prefix: str = "x",
) -> Model:
    """A random small model, brute-forceable with the default knobs.

    Size: ``min_vars..max_vars`` variables named ``x0, x1, ...`` (``prefix``),
    ``min_constraints..max_constraints`` constraints, domains of at most ``max_domain_size`` values
    and, with ``max_cartesian``, at most that many assignments in all. Values: ``min_value``,
    ``max_value``, ``negatives``, ``zero``, ``huge_values`` (see :func:`domains`), constants as in
    :func:`expressions`. Shape: ``ops``, ``kinds``, ``max_depth`` (expressions), ``nesting``
    (connectives), ``custom`` (custom-constraint factories, see :func:`custom_constraints`).
    ``objective=True`` adds a random objective to minimise or maximise (``lexicographic=True``:
    sometimes a list of two), built without the operators of :data:`PARTIAL_OPS`.
    """
    m = Model()
    n = draw(st.integers(min_vars, max_vars))
    budget = max_cartesian
    for i in range(n):
        size = max_domain_size
        if budget is not None:
            size = max(1, min(size, budget))
        spec = draw(
            domains(
                min_value, max_value, size,
                negatives=negatives, zero=zero, huge_values=huge_values,
            )
        )
        v = add_var(m, f"{prefix}{i}", spec)
        if budget is not None:
            budget //= m.domain(v).size
    vs = m.variables
    k = draw(st.integers(min_constraints, max_constraints))
    cs = constraints(
        vs, ops, kinds, max_depth, nesting,
        constants=constants, max_exponent=max_exponent, huge_constants=huge_constants,
        custom=custom,
    )
    for _ in range(k):
        m.add(draw(cs))
    if objective:
        safe = [o for o in ops if o not in PARTIAL_OPS and o != "trunc"]
        ex = expressions(vs, safe, max_depth, constants, max_exponent=max_exponent)
        count = draw(st.integers(1, 2)) if lexicographic else 1
        exprs = [draw(ex) for _ in range(count)]
        target = exprs[0] if count == 1 else exprs
        if draw(st.booleans()):
            m.minimize(target)
        else:
            m.maximize(target)
    return m


__all__ = [
    "ALL_OPS", "EXTRA_OPS", "INT_OPS", "EVERY_OP", "ALL_CONSTRAINTS", "BOOLEAN_KINDS", "GLOBAL_KINDS",
    "COMPARISONS", "PARTIAL_OPS", "HUGE",
    "int_values", "domains", "domain_objects", "domain_lists", "to_domain", "add_var",
    "expressions", "expression_depth", "constraints", "custom_constraints", "models",
]
