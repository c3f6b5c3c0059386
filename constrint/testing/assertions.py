"""Soundness assertions: the solver against brute force, and two models against each other.

:func:`assert_sound` runs the solver's operations on a small model and compares each with the
brute-force oracle; :func:`assert_equivalent` compares the solution sets of two models. Both raise
an ``AssertionError`` subclass whose message is readable on its own: the disagreement, a witness
assignment, and the model printed in the ``.cint`` language (``repr`` where the model has no text
form, e.g. with custom constraints). :func:`assert_sound` first reduces a failing model to a
minimal one that still fails the same way (unless it runs inside a hypothesis test, which shrinks
by itself).
"""
from __future__ import annotations

from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import hypothesis

from ..custom import CustomConstraint
from ..domain import Domain
from ..expr import (
    And,
    Const,
    Constraint,
    Expr,
    Or,
    Pow,
    Var,
    walk,
)
from ..language import dumps
from ..model import Model
from ..results import Status
from ..transform import rebuild, with_children
from .oracle import ORACLE_LIMIT, brute_force_optimum, brute_force_solutions, cartesian_size
from .strategies import add_var

#: The checks :func:`assert_sound` runs, in order.
CHECKS = ("propagate", "count", "solutions", "array", "solve", "optimum")
#: At most this many candidate models are tried when reducing a failing model.
MAX_SHRINKS = 400


class SoundnessError(AssertionError):
    """The solver disagrees with brute force (raised by :func:`assert_sound`).

    Attributes: ``check`` (the failing operation), ``model`` (the minimal failing model),
    ``original`` (the model given), ``detail`` (what went wrong, on the minimal model).
    """

    def __init__(self, message: str, check: str, model: Model, original: Model, detail: str):
        super().__init__(message)
        self.check = check
        self.model = model
        self.original = original
        self.detail = detail


class EquivalenceError(AssertionError):
    """Two models have different solution sets (raised by :func:`assert_equivalent`).

    Attributes: ``only_a`` and ``only_b`` (solutions of one model only, as dicts).
    """

    def __init__(self, message: str, only_a: list[dict[str, int]], only_b: list[dict[str, int]]):
        super().__init__(message)
        self.only_a = only_a
        self.only_b = only_b


def model_text(model: Model) -> str:
    """The model in the ``.cint`` language (``constrint.dumps``), else its ``repr``."""
    try:
        return dumps(model).rstrip("\n")
    except Exception:  # no text form (custom constraints) or a printer problem
        return repr(model)


def _indent(text: str, pad: str = "    ") -> str:
    return "\n".join(pad + line for line in text.splitlines())


def format_assignment(a: Mapping[str, int]) -> str:
    """``x=1, y=2``."""
    return ", ".join(f"{k}={v}" for k, v in a.items()) or "(no variables)"


# ====================================================================== checks


@dataclass
class _Failure:
    check: str
    detail: str
    exc: BaseException | None = None


def _key(names: Sequence[str], s: Mapping[str, int]) -> tuple:
    return tuple(s.get(n) for n in names)


def _as_dict(names: Sequence[str], k: tuple) -> dict[str, int]:
    return dict(zip(names, k))


def _compare_sets(what: str, names, got: list[tuple], expected: set[tuple]) -> str | None:
    counts = Counter(got)
    dup = [k for k, c in counts.items() if c > 1]
    if dup:
        return f"{what} returned the solution {format_assignment(_as_dict(names, dup[0]))} {counts[dup[0]]} times"
    missing = sorted(expected - counts.keys(), key=repr)
    extra = sorted(counts.keys() - expected, key=repr)
    lines = []
    if missing:
        lines.append(
            f"{what} misses {len(missing)} of the {len(expected)} solutions, e.g. "
            f"{format_assignment(_as_dict(names, missing[0]))}"
        )
    if extra:
        lines.append(
            f"{what} returned {len(extra)} assignments that are not solutions, e.g. "
            f"{format_assignment(_as_dict(names, extra[0]))}"
        )
    return "; ".join(lines) or None


def _check_propagate(model, expected, names):
    doms = model.propagate()
    if doms is None:
        if expected:
            return (
                "propagate() reports the model infeasible, but "
                f"{format_assignment(expected[0])} is a solution"
            )
        return None
    for s in expected:
        for n in names:
            if s[n] not in doms[n]:
                return (
                    f"propagate() removed {n}={s[n]} (domain left: {doms[n]!r}), which belongs to "
                    f"the solution {format_assignment(s)}"
                )
    return None


def _check_count(model, expected, names):
    n = model.count()
    if n != len(expected):
        return f"count() returned {n}, brute force finds {len(expected)} solutions"
    return None


def _check_solutions(model, expected, names):
    got = []
    for s in model.solutions():
        if set(s) != set(names):
            return f"solutions() yielded {s}, which does not assign exactly the variables {names}"
        got.append(_key(names, s))
    return _compare_sets("solutions()", names, got, {_key(names, s) for s in expected})


def _check_array(model, expected, names):
    arr = model.solutions_array()
    if len(arr.shape) != 2 or arr.shape[1] != len(names):
        return f"solutions_array() has shape {arr.shape}, expected (n, {len(names)})"
    got = [tuple(int(x) for x in row) for row in arr]
    return _compare_sets("solutions_array()", names, got, {_key(names, s) for s in expected})


def _check_solve(model, expected, names):
    m = model
    if model.objective is not None:
        m = model.copy()
        m.clear_objective()
    r = m.solve()
    if expected:
        if not r.ok:
            return (
                f"solve() (without objective) returned status {r.status.name}, but "
                f"{format_assignment(expected[0])} is a solution"
            )
        if not model.check(r.values):
            return f"solve() returned {format_assignment(r.values)}, which is not a solution"
    elif r.status is not Status.INFEASIBLE:
        return f"solve() returned status {r.status.name} for an infeasible model"
    return None


def _check_optimum(model, expected, names):
    if model.objective is None:
        return None
    best = brute_force_optimum(model)
    r = model.solve()
    if best is None:
        if r.status is not Status.INFEASIBLE:
            return (
                f"solve() returned status {r.status.name} with objective {r.objective!r}; brute "
                "force finds no solution with a defined objective"
            )
        return None
    if r.status is not Status.OPTIMAL:
        return f"solve() returned status {r.status.name}; brute force finds the optimum {best!r}"
    if r.objective != best:
        return (
            f"solve() returned the objective {r.objective!r} at {format_assignment(r.values)}; "
            f"brute force finds the optimum {best!r}"
        )
    if not model.check(r.values):
        return f"solve() returned {format_assignment(r.values)}, which is not a solution"
    return None


_CHECKERS = {
    "propagate": _check_propagate,
    "count": _check_count,
    "solutions": _check_solutions,
    "array": _check_array,
    "solve": _check_solve,
    "optimum": _check_optimum,
}


def _first_failure(model: Model, checks: Sequence[str], limit: int) -> _Failure | None:
    expected = brute_force_solutions(model, limit)
    names = [v.name for v in model.variables]
    for check in checks:
        try:
            detail = _CHECKERS[check](model, expected, names)
        except Exception as exc:  # a crash of the solver is a failure of that check
            return _Failure(check, f"{check} raised {type(exc).__name__}: {exc}", exc)
        if detail:
            return _Failure(check, detail)
    return None


# ====================================================================== reduction


@dataclass
class _Spec:
    doms: list[tuple[str, Domain]]
    cons: list[Any]
    objective: tuple[tuple[Expr, ...], str] | None = None
    steps: int = field(default=0)


def _spec_of(model: Model) -> _Spec:
    return _Spec(
        [(v.name, model.domain(v)) for v in model.variables],
        list(model.constraints),
        model.objective,
    )


def build_model(
    doms: Sequence[tuple[str, Any]],
    cons: Sequence[Any] = (),
    objective: tuple[Sequence[Expr], str] | None = None,
) -> Model:
    """A new model: variables ``(name, domain)``, constraints and objective rebuilt over them.

    The constraints and the objective may come from another model: their variables are matched
    by name.
    """
    m = Model()
    for name, d in doms:
        add_var(m, name, d)

    def vmap(v: Var) -> Var:
        return m.var(v.name)

    for c in cons:
        m.add(rebuild(c, vmap))
    if objective is not None:
        exprs, sense = objective
        new = [rebuild(e, vmap) for e in exprs]
        target = new[0] if len(new) == 1 else new
        (m.minimize if sense == "minimize" else m.maximize)(target)
    return m


def _build(spec: _Spec) -> Model:
    return build_model(spec.doms, spec.cons, spec.objective)


def _is_custom(node: Any) -> bool:
    return isinstance(node, CustomConstraint)


def _paths(node: Any, path: tuple = ()) -> Iterator[tuple[tuple, Any]]:
    yield path, node
    if isinstance(node, Var) or _is_custom(node):
        return
    for i, ch in enumerate(node.children):
        yield from _paths(ch, path + (i,))


def _replace(node: Any, path: tuple, new: Any) -> Any:
    if not path:
        return new
    kids = list(node.children)
    kids[path[0]] = _replace(kids[path[0]], path[1:], new)
    return with_children(node, kids)


def _simpler(node: Any) -> Iterator[Any]:
    """Nodes that could stand in place of ``node`` (same sort: constraint or expression)."""
    if _is_custom(node) or isinstance(node, Var):
        return
    if isinstance(node, Constraint):
        subs = [c for c in node.children if isinstance(c, Constraint)]
        yield from subs
        if isinstance(node, (And, Or)) and len(subs) > 2:
            for i in range(len(subs)):
                yield type(node)(subs[:i] + subs[i + 1 :])
        return
    if isinstance(node, Const):
        v = node.value
        for w in (0, 1, v // 2 if v > 0 else -((-v) // 2), -v if v < 0 else v):
            if w != v and abs(w) <= abs(v):
                yield Const(w)
        return
    for ch in node.children:
        if isinstance(ch, Expr):
            yield ch
    if isinstance(node, Pow) and node.p > 1:
        yield Pow(node.a, node.p - 1)


def _used_names(spec: _Spec) -> set[str]:
    out: set[str] = set()
    roots = list(spec.cons) + (list(spec.objective[0]) if spec.objective else [])
    for r in roots:
        for n in walk(r):
            if isinstance(n, Var):
                out.add(n.name)
    return out


def _candidates(spec: _Spec, check: str) -> Iterator[_Spec]:
    def new(**kw):
        d = {"doms": spec.doms, "cons": spec.cons, "objective": spec.objective}
        d.update(kw)
        return _Spec(**d, steps=spec.steps + 1)

    if spec.objective is not None and check != "optimum":
        yield new(objective=None)
    for i in range(len(spec.cons)):
        yield new(cons=spec.cons[:i] + spec.cons[i + 1 :])
    used = _used_names(spec)
    for i, (name, _) in enumerate(spec.doms):
        if name not in used:
            yield new(doms=spec.doms[:i] + spec.doms[i + 1 :])
    for i, (name, d) in enumerate(spec.doms):
        if d.size > 1:
            for half in d.split():
                yield new(doms=spec.doms[:i] + [(name, half)] + spec.doms[i + 1 :])
    for i, c in enumerate(spec.cons):
        for path, node in _paths(c):
            for s in _simpler(node):
                yield new(cons=spec.cons[:i] + [_replace(c, path, s)] + spec.cons[i + 1 :])
    if spec.objective is not None:
        exprs, sense = spec.objective
        if len(exprs) > 1:
            for j in range(len(exprs)):
                yield new(objective=(exprs[:j] + exprs[j + 1 :], sense))
        for j, e in enumerate(exprs):
            for path, node in _paths(e):
                for s in _simpler(node):
                    ex = list(exprs)
                    ex[j] = _replace(e, path, s)
                    yield new(objective=(tuple(ex), sense))
    for i, (name, d) in enumerate(spec.doms):
        if 1 < d.size <= 32:
            for v in d:
                yield new(doms=spec.doms[:i] + [(name, d.remove(v))] + spec.doms[i + 1 :])


def minimize_failure(
    model: Model,
    check: str,
    limit: int = ORACLE_LIMIT,
    max_tries: int = MAX_SHRINKS,
) -> tuple[Model, _Failure | None]:
    """Greedily reduce ``model`` while the check ``check`` still fails; returns the smallest
    failing model found and its failure (``None`` if the model does not fail that check)."""
    spec = _spec_of(model)
    best = model
    failure = _first_failure(model, [check], limit)
    if failure is None:
        return model, None
    tries = 0
    improved = True
    while improved and tries < max_tries:
        improved = False
        for cand in _candidates(spec, check):
            tries += 1
            if tries > max_tries:
                break
            try:
                m = _build(cand)
                f = _first_failure(m, [check], limit)
            except Exception:
                continue
            if f is not None:
                spec, best, failure, improved = cand, m, f, True
                break
    return best, failure


# ====================================================================== public assertions


def assert_sound(
    model: Model,
    *,
    checks: Sequence[str] = CHECKS,
    minimize: bool | None = None,
    limit: int = ORACLE_LIMIT,
    max_shrinks: int = MAX_SHRINKS,
) -> None:
    """Check the solver against brute force on a small ``model``; raise :class:`SoundnessError`.

    ``checks`` (default all of :data:`CHECKS`):

    * ``propagate``: root propagation keeps every value of every solution;
    * ``count``: :meth:`Model.count` equals the number of solutions;
    * ``solutions``: :meth:`Model.solutions` yields each solution exactly once and nothing else;
    * ``array``: the rows of :meth:`Model.solutions_array` are the solutions;
    * ``solve``: :meth:`Model.solve` without the objective finds a solution iff one exists;
    * ``optimum``: with an objective, :meth:`Model.solve` proves the brute-force optimum.

    A failing model is first reduced (constraints, variables, values and subexpressions dropped
    while the same check still fails) unless ``minimize`` is false; ``None`` means "unless inside
    a hypothesis test" (hypothesis shrinks by itself). The error message shows the minimal model
    in the ``.cint`` language. Models with more than ``limit`` assignments are refused
    (:class:`~constrint.ModelError`).
    """
    unknown = [c for c in checks if c not in _CHECKERS]
    if unknown:
        raise ValueError(f"unknown checks {unknown}; known: {list(CHECKS)}")
    failure = _first_failure(model, checks, limit)
    if failure is None:
        return
    if minimize is None:
        minimize = not hypothesis.currently_in_test_context()
    small, small_failure = model, failure
    if minimize:
        small, f = minimize_failure(model, failure.check, limit, max_shrinks)
        if f is not None:
            small_failure = f
    lines = [f"solver disagrees with brute force: {small_failure.detail}", ""]
    if small is model:
        lines.append("failing model:")
        lines.append(_indent(model_text(model)))
    else:
        lines.append("minimal failing model:")
        lines.append(_indent(model_text(small)))
        lines.append("")
        lines.append(f"reduced from this model, where {failure.detail}:")
        lines.append(_indent(model_text(model)))
    err = SoundnessError("\n".join(lines), small_failure.check, small, model, small_failure.detail)
    raise err from (small_failure.exc or failure.exc)


def _solution_keys(model: Model, names: Sequence[str], method: str, limit: int) -> set[tuple]:
    if method == "auto":
        method = "brute" if cartesian_size(model) <= limit else "solver"
    if method == "brute":
        sols = brute_force_solutions(model, limit)
    elif method == "solver":
        sols = model.solutions()
    else:
        raise ValueError(f"method must be 'auto', 'brute' or 'solver', got {method!r}")
    return {_key(names, s) for s in sols}


def _why_not(model: Model, a: Mapping[str, int]) -> str:
    names = {v.name for v in model.variables}
    for n, val in a.items():
        if n in names and val not in model.domain(n):
            return f"{n}={val} is outside its domain {model.domain(n)!r}"
    if set(a) != names:
        return "no extension of it is a solution"
    bad = [str(c) for c in model.constraints if not c.holds(a)]
    if not bad:
        return "every constraint holds (a solver bug?)"
    shown = "; ".join(bad[:3]) + ("; ..." if len(bad) > 3 else "")
    return f"violates {shown}"


def assert_equivalent(
    model_a: Model,
    model_b: Model,
    *,
    variables: Sequence[str] | None = None,
    method: str = "auto",
    limit: int = ORACLE_LIMIT,
    max_witnesses: int = 3,
) -> None:
    """Check that two models have the same solutions; raise :class:`EquivalenceError`.

    Both models must declare the same variable names, unless ``variables`` names the ones to
    compare (solutions are then projected onto them). ``method``: ``"brute"`` (the oracle),
    ``"solver"`` (:meth:`Model.solutions`) or ``"auto"`` (brute force when the model has at most
    ``limit`` assignments). The message lists witnesses (assignments that are solutions of one
    model only) and why the other model rejects each, then both models in ``.cint`` form.
    """
    names_a = [v.name for v in model_a.variables]
    names_b = [v.name for v in model_b.variables]
    if variables is None:
        if set(names_a) != set(names_b):
            only_a = sorted(set(names_a) - set(names_b))
            only_b = sorted(set(names_b) - set(names_a))
            raise EquivalenceError(
                "models declare different variables: "
                f"only in A {only_a}, only in B {only_b} (pass variables=[...] to compare a part)\n"
                f"model A:\n{_indent(model_text(model_a))}\nmodel B:\n{_indent(model_text(model_b))}",
                [], [],
            )
        names = names_a
    else:
        names = list(variables)
        missing = [n for n in names if n not in names_a or n not in names_b]
        if missing:
            raise ValueError(f"variables {missing} are not declared in both models")
    keys_a = _solution_keys(model_a, names, method, limit)
    keys_b = _solution_keys(model_b, names, method, limit)
    if keys_a == keys_b:
        return
    only_a = [_as_dict(names, k) for k in sorted(keys_a - keys_b, key=repr)]
    only_b = [_as_dict(names, k) for k in sorted(keys_b - keys_a, key=repr)]
    lines = [
        f"models are not equivalent: {len(only_a)} solutions only in A, {len(only_b)} only in B "
        f"(A has {len(keys_a)}, B has {len(keys_b)})"
    ]
    for label, sols, other in (("A", only_a, model_b), ("B", only_b, model_a)):
        for s in sols[:max_witnesses]:
            lines.append(
                f"  only in {label}: {format_assignment(s)}  "
                f"({'B' if label == 'A' else 'A'}: {_why_not(other, s)})"
            )
        if len(sols) > max_witnesses:
            lines.append(f"  ... and {len(sols) - max_witnesses} more only in {label}")
    lines.append("model A:")
    lines.append(_indent(model_text(model_a)))
    lines.append("model B:")
    lines.append(_indent(model_text(model_b)))
    raise EquivalenceError("\n".join(lines), only_a, only_b)


__all__ = [
    "CHECKS", "SoundnessError", "EquivalenceError", "assert_sound", "assert_equivalent",
    "minimize_failure", "model_text", "format_assignment", "build_model",
]
