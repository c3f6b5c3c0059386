"""Property tests for propagators of custom constraints (see :mod:`constrint.custom`).

:func:`check_propagator` draws random domains, builds the constraint over variables with those
domains and checks, against brute force over the same domains, that its ``propagate``

* is **sound**: no value of any solution is removed, and "infeasible" is only reported when there
  is no solution;
* is **idempotent**: propagating its own result changes nothing;
* (with ``solver=True``) gives correct solver results: root propagation, count and solutions of
  the one-constraint model equal brute force.

A failure raises :class:`PropagatorError` showing the domains before and after and the lost value;
hypothesis shrinks the domains first. :func:`check_propagation` runs the same checks on one given
set of domains (handy to replay a counterexample).
"""
from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from hypothesis import HealthCheck, assume, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from ..custom import CustomConstraint, wrap_custom
from ..domain import Domain
from ..expr import Constraint
from ..model import Model
from ..propagators import FAILED, Store, revise
from .assertions import SoundnessError, assert_sound, format_assignment
from .strategies import _arity, add_var, domain_lists, to_domain

#: Domain combinations with more assignments than this are skipped (brute force is the reference).
PROPAGATOR_LIMIT = 20_000


class PropagatorError(AssertionError):
    """A custom propagator is unsound or not idempotent (raised by :func:`check_propagator`).

    Attributes: ``kind`` (``"unsound"``, ``"not idempotent"`` or ``"solver"``), ``before``,
    ``after`` (domains by variable name; ``after`` is ``None`` where infeasible was reported),
    ``lost`` (``(name, value)`` of a removed supported value, or ``None``) and ``solution``.
    """

    def __init__(self, message: str, kind: str, before, after, lost=None, solution=None):
        super().__init__(message)
        self.kind = kind
        self.before = before
        self.after = after
        self.lost = lost
        self.solution = solution


def format_domains(doms: Mapping[str, Domain | None] | None) -> str:
    """``x in {1, 2}; y in 0..300`` (``infeasible`` for ``None``)."""
    if doms is None:
        return "infeasible (propagate returned None)"
    return "; ".join(f"{n} in {d!r}" if d is not None else f"{n} empty" for n, d in doms.items())


def _normalise(domains: Any) -> dict[str, Domain]:
    if isinstance(domains, Mapping):
        items = list(domains.items())
    else:
        items = [(f"x{i}", d) for i, d in enumerate(domains)]
    out: dict[str, Domain] = {}
    for name, d in items:
        dom = to_domain(d)
        if dom is None:
            raise ValueError(f"variable {name!r}: empty domain")
        out[str(name)] = dom
    return out


class _BuiltinRule:
    """A built-in constraint seen through the interface of a custom one: one call of its
    revision rule (:func:`constrint.propagators.revise`) is its ``propagate``."""

    def __init__(self, c: Constraint, model: Model):
        self.c = c
        self.model = model
        self.vars = tuple(c.variables().values())

    def fmt(self) -> str:
        return self.c.fmt()

    def holds(self, a) -> bool:
        return self.c.holds(a)

    def propagate_domains(self, current: Mapping[str, Domain]) -> dict[str, Domain] | None:
        store = Store(list(self.model._domains))
        for v in self.vars:
            store.doms[v.index] = current[v.name]
        if revise(self.c, store) == FAILED:
            return None
        return {v.name: store.doms[v.index] for v in self.vars if store.doms[v.index] != current[v.name]}


def _build(factory: Callable[..., Any], doms: dict[str, Domain]) -> tuple[Model, Any]:
    m = Model()
    vs = [add_var(m, name, d) for name, d in doms.items()]
    obj = factory(*vs)
    if isinstance(obj, Constraint) and not isinstance(obj, CustomConstraint):
        m.add(obj)
        return m, _BuiltinRule(obj, m)
    c = wrap_custom(obj)
    if not isinstance(c, CustomConstraint):
        raise TypeError(
            f"the factory returned {type(obj).__name__}, not a constraint or a custom constraint "
            "(an object with variables, evaluate and propagate)"
        )
    m.add(c)
    return m, c


def check_propagation(
    factory: Callable[..., Any],
    domains: Sequence[Any] | Mapping[str, Any],
    *,
    idempotence: bool = True,
    solver: bool = True,
) -> None:
    """Check one propagation step of ``factory(*variables)`` on the given domains.

    ``domains`` is a list (variables ``x0, x1, ...``) or a dict by name; each entry a
    :class:`Domain`, a spec from :func:`~constrint.testing.domains` or some ints.
    Raises :class:`PropagatorError` (see :func:`check_propagator`).
    """
    doms = _normalise(domains)
    m, c = _build(factory, doms)
    names = [v.name for v in c.vars]
    before = {n: doms[n] for n in names}
    label = c.fmt()

    solutions = []
    for combo in itertools.product(*(list(before[n]) for n in names)):
        a = dict(zip(names, combo))
        if c.holds(a):
            solutions.append(a)

    def apply(current: dict[str, Domain]) -> dict[str, Domain] | None:
        changed = c.propagate_domains(current)
        if changed is None or any(d is None for d in changed.values()):
            return None
        out = dict(current)
        out.update(changed)  # type: ignore[arg-type]
        return out

    def soundness(start: dict[str, Domain], result: dict[str, Domain] | None, step: str) -> None:
        if result is None:
            if solutions:
                raise PropagatorError(
                    f"unsound propagator: {label}.propagate{step} reported infeasible, but "
                    f"{format_assignment(solutions[0])} is a solution\n"
                    f"  domains before: {format_domains(start)}",
                    "unsound", start, None, None, solutions[0],
                )
            return
        for s in solutions:
            for n in names:
                if s[n] not in result[n]:
                    raise PropagatorError(
                        f"unsound propagator: {label}.propagate{step} removed {n} = {s[n]}, which "
                        f"belongs to the solution {format_assignment(s)}\n"
                        f"  domains before: {format_domains(start)}\n"
                        f"  domains after:  {format_domains(result)}",
                        "unsound", start, result, (n, s[n]), s,
                    )

    after = apply(before)
    soundness(before, after, "")
    if idempotence and after is not None:
        again = apply(after)
        soundness(after, again, " (applied to its own result)")
        if again != after:
            raise PropagatorError(
                f"propagator not idempotent: {label}.propagate narrows its own result further\n"
                f"  domains before:       {format_domains(before)}\n"
                f"  after propagate:      {format_domains(after)}\n"
                f"  after propagate again: {format_domains(again)}",
                "not idempotent", after, again,
            )
    if solver:
        try:
            assert_sound(m, checks=("propagate", "count", "solutions"), minimize=False)
        except SoundnessError as exc:
            raise PropagatorError(
                f"the solver with {label} disagrees with brute force: {exc.detail}\n"
                f"  domains: {format_domains(before)}",
                "solver", before, None,
            ) from exc


def check_propagator(
    cls_or_factory: Callable[..., Any],
    strategy: st.SearchStrategy | None = None,
    *,
    max_examples: int | None = None,
    idempotence: bool = True,
    solver: bool = True,
    limit: int = PROPAGATOR_LIMIT,
) -> None:
    """Property-test the propagator of a custom constraint for soundness and idempotence.

    ``cls_or_factory`` is called with the variables as positional arguments
    (``cls_or_factory(x0, x1, ...)``) and returns a custom constraint, or a built-in constraint
    (a global constraint, say), whose revision rule is then checked the same way. ``strategy`` draws the
    domains: a list of :class:`Domain` objects (or domain specs, or lists of ints), one per
    variable, or a dict name -> domain; the default draws 1 to 3 small domains
    (:func:`~constrint.testing.domain_lists`), as many as the factory's signature accepts.
    Draws with more than ``limit`` assignments are skipped. ``max_examples`` defaults to the
    current hypothesis profile's. Raises :class:`PropagatorError` for the (shrunk) counterexample.

    Runs hypothesis itself, so call it from a plain test, not from inside an ``@given`` test.
    """
    if strategy is None:
        lo, hi = _arity(cls_or_factory, 3)
        strategy = domain_lists(lo, max(lo, min(hi, 3)))
    base = hsettings()
    run_settings = hsettings(
        base,
        max_examples=max_examples if max_examples is not None else base.max_examples,
        deadline=None,
        database=None,
        report_multiple_bugs=False,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
    )

    @run_settings
    @given(strategy)
    def propagator_property(domains):
        doms = _normalise(domains)
        assume(math.prod(d.size for d in doms.values()) <= limit)
        check_propagation(cls_or_factory, doms, idempotence=idempotence, solver=solver)

    propagator_property()


__all__ = [
    "PropagatorError", "check_propagator", "check_propagation", "format_domains",
    "PROPAGATOR_LIMIT",
]
