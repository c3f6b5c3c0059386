"""User-defined constraint kinds.

Any object with these three attributes can be added to a :class:`~constrint.Model` like a
built-in constraint:

``variables``
    The :class:`~constrint.Var` objects the constraint is about (a list or tuple, or a method
    returning one). Duplicates are ignored.

``evaluate(assignment: dict[str, int]) -> bool``
    Whether the constraint holds; ``assignment`` maps the name of each of its variables to a
    value. This is the definition of the constraint: every solution the solver returns is checked
    with it. Raising :class:`constrint.Undefined` means "false".

``propagate(domains: dict[str, Domain]) -> dict[str, Domain] | None``
    Narrowing: given the current domain of each of its variables (by name), return narrowed
    domains. Returning only the changed names is fine; ``None`` (or ``None``/an empty set as one
    variable's domain) means "no solution here". It must never remove a value that belongs to a
    solution (test that with :func:`constrint.testing.check_propagator`); it may be weak (return
    ``{}`` to narrow nothing). Values may also be given as any iterable of ints.

:class:`~constrint.Model` wraps such objects with :func:`wrap_custom` when they are added; call it
yourself to combine a custom constraint with others (``wrap_custom(c) | (x == 0)``). The wrapper
is a :class:`~constrint.Constraint` whose revision rule calls ``propagate`` on the current
domains, intersects what comes back with them (so a propagator that widens a domain does no
harm), and reports the constraint entailed once all its variables are fixed and ``evaluate``
holds. Its negation (``~c``) is reasoned about by evaluation only.

Custom constraints print as ``name(x, y)`` (``name`` is the object's ``name`` attribute when it
is a string, else its class name). The ``.cint`` language has no such constraints, so
:func:`constrint.dumps` refuses models that contain one; there is no text round trip for them.

>>> import constrint as ci
>>> class Even:
...     def __init__(self, x): self.variables = [x]; self.name = "even"
...     def evaluate(self, a): return a[self.variables[0].name] % 2 == 0
...     def propagate(self, doms):
...         (n, d), = doms.items()
...         return {n: d.require_factor(2)}
>>> m = ci.Model(); x = m.int_var("x", 1, 9)
>>> m += Even(x)
>>> m.count()
4
"""
from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

from .domain import Domain
from .errors import ModelError
from .expr import Constraint, Not, Var
from .propagators import ENTAILED, FAILED, OPEN, Store


def is_custom(obj: Any) -> bool:
    """Whether ``obj`` follows the custom-constraint protocol (and is not already a Constraint)."""
    return (
        not isinstance(obj, Constraint)
        and callable(getattr(obj, "evaluate", None))
        and callable(getattr(obj, "propagate", None))
        and hasattr(obj, "variables")
    )


def custom_label(obj: Any) -> str:
    """The name a custom constraint prints with."""
    name = getattr(obj, "name", None)
    return name if isinstance(name, str) and name else type(obj).__name__


def custom_variables(obj: Any) -> list[Var]:
    """The variables a custom constraint declares, checked (duplicates removed)."""
    vs = obj.variables
    if callable(vs):
        vs = vs()
    if isinstance(vs, Mapping):
        vs = list(vs.values())
    if isinstance(vs, Var):
        vs = [vs]
    try:
        items = list(vs)
    except TypeError:
        raise ModelError(
            f"custom constraint {custom_label(obj)}: 'variables' must be a list of variables, "
            f"got {type(vs).__name__}"
        ) from None
    out: list[Var] = []
    seen: set[str] = set()
    for v in items:
        if not isinstance(v, Var):
            raise ModelError(
                f"custom constraint {custom_label(obj)}: 'variables' must hold model variables "
                f"(Var), got {type(v).__name__} {v!r}"
            )
        if v.name not in seen:
            seen.add(v.name)
            out.append(v)
    return out


class CustomConstraint(Constraint):
    """A user-defined constraint (see the module docstring); build it with :func:`wrap_custom`."""

    def __init__(self, obj: Any, variables: list[Var], user_names: tuple[str, ...] | None = None):
        self.obj = obj
        self.vars: tuple[Var, ...] = tuple(variables)
        # names the user's object knows its variables by (they differ from the variables' own
        # names only after a rebind that renames)
        self.user_names: tuple[str, ...] = (
            tuple(v.name for v in self.vars) if user_names is None else tuple(user_names)
        )
        # the variables are the children, so that tree walks (variable indexing in the engine,
        # model-ownership checks, Model.copy) see them
        self.children = self.vars
        self.label = custom_label(obj)

    # ---- evaluation
    def _user_assignment(self, a: Mapping[str, int]) -> dict[str, int]:
        return {u: a[v.name] for u, v in zip(self.user_names, self.vars)}

    def ev(self, a: Mapping[str, int]) -> bool:
        return bool(self.obj.evaluate(self._user_assignment(a)))

    def negate(self) -> Constraint:
        return Not(self)

    def fmt(self) -> str:
        return f"{self.label}({', '.join(v.name for v in self.vars)})"

    def rebind(self, var_map: Callable[[Var], Any]) -> CustomConstraint:
        """The same constraint over ``var_map(v)`` for each of its variables (for Model.copy)."""
        new = []
        for v in self.vars:
            nv = var_map(v)
            if not isinstance(nv, Var):
                raise ModelError(
                    f"custom constraint {self.label}: its variables can only be replaced by "
                    f"variables, not by {type(nv).__name__} {nv!r}"
                )
            new.append(nv)
        return CustomConstraint(self.obj, new, self.user_names)

    # ---- propagation
    def revise(self, store: Store) -> int:
        """The revision rule of user-defined constraints (:func:`revise_custom`)."""
        return revise_custom(self, store)

    def propagate_domains(self, doms: Mapping[str, Domain]) -> dict[str, Domain | None] | None:
        """Call the user's ``propagate`` on ``doms`` (keyed by variable name) and normalise.

        Returns ``None`` for infeasible, else the intersected domain of each variable whose
        domain the call narrowed (``None`` as a value = that domain became empty).
        """
        current = {u: doms[v.name] for u, v in zip(self.user_names, self.vars)}
        out = self.obj.propagate(dict(current))
        if out is None:
            return None
        if not isinstance(out, Mapping):
            raise ModelError(
                f"custom constraint {self.label}: propagate must return a dict of domains or "
                f"None, got {type(out).__name__}"
            )
        by_user = dict(zip(self.user_names, self.vars))
        result: dict[str, Domain | None] = {}
        for key, d in out.items():
            uname = key.name if isinstance(key, Var) else key
            if uname not in by_user:
                raise ModelError(
                    f"custom constraint {self.label}: propagate returned a domain for "
                    f"{uname!r}, which is not one of its variables {list(self.user_names)}"
                )
            nd = as_domain(d)
            cur = current[uname]
            if nd is not None:
                nd = cur.intersect(nd)
            if nd is None or nd != cur:
                result[by_user[uname].name] = nd
        return result


def as_domain(d: Any) -> Domain | None:
    """A :class:`Domain` from what a propagator returned (Domain, None, or ints)."""
    if d is None or isinstance(d, Domain):
        return d
    if isinstance(d, range) and d.step == 1:
        return Domain.interval(d.start, d.stop - 1) if len(d) else None
    if isinstance(d, Iterable) and not isinstance(d, (str, bytes)):
        return Domain.from_values(int(v) for v in d)
    raise ModelError(f"a propagator returned {type(d).__name__} {d!r} where a domain belongs")


def revise_custom(c: CustomConstraint, store: Store) -> int:
    """Revision rule of custom constraints: the user's propagate, intersected, then evaluate.

    ENTAILED when all its variables are fixed on entry and ``evaluate`` holds; FAILED when
    ``evaluate`` fails on fixed variables or a domain becomes empty; else OPEN.
    """
    doms = store.doms
    vs = c.vars
    if all(doms[v.index].is_fixed for v in vs):
        return ENTAILED if c.holds({v.name: doms[v.index].lo for v in vs}) else FAILED
    narrowed = c.propagate_domains({v.name: doms[v.index] for v in vs})
    if narrowed is None:
        return FAILED
    index = {v.name: v.index for v in vs}
    for name, nd in narrowed.items():
        if nd is None:
            return FAILED
        store.set(index[name], nd)
    if all(doms[v.index].is_fixed for v in vs) and not c.holds({v.name: doms[v.index].lo for v in vs}):
        return FAILED
        # Entailed only under the narrowed domains: report OPEN, since a trial revision (the
        # truth test of a part of an 'or') reads ENTAILED as "true on the domains given". The
        # change re-queues the constraint, which is then found entailed on entry.
    return OPEN


def wrap_custom(obj: Any) -> Constraint:
    """``obj`` (following the protocol of this module) as a :class:`~constrint.Constraint`.

    Constraints (including already wrapped ones) are returned unchanged.
    """
    if isinstance(obj, Constraint):
        return obj
    if not is_custom(obj):
        missing = [a for a in ("variables", "evaluate", "propagate") if not hasattr(obj, a)]
        raise ModelError(
            f"{type(obj).__name__} is not a custom constraint: it lacks "
            + (", ".join(missing) if missing else "callable evaluate/propagate methods")
        )
    return CustomConstraint(obj, custom_variables(obj))


__all__ = ["CustomConstraint", "wrap_custom", "is_custom", "revise_custom", "as_domain"]
