"""The model builder (:class:`Model`) and the results of solving (:class:`Result`, :class:`Status`)."""
from __future__ import annotations

import enum
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Union

from .domain import Domain
from .errors import ModelError
from .expr import BoolConst, Constraint, Expr, Var, _coerce, all_of, check_integer, walk

_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")

ObjectiveLike = Union[Expr, int, "list[Expr | int]", "tuple[Expr | int, ...]"]


class Status(enum.Enum):
    """Outcome of :meth:`Model.solve`.

    >>> import constrint as ci
    >>> m = ci.Model(); x = m.int_var("x", 1, 3)
    >>> m += x > 5
    >>> m.solve().status
    <Status.INFEASIBLE: 'infeasible'>
    """

    OPTIMAL = "optimal"  #: an objective's optimum was found and proven
    FEASIBLE = "feasible"  #: a solution was found (no objective, or optimality not proven)
    INFEASIBLE = "infeasible"  #: proven to have no solution
    UNKNOWN = "unknown"  #: a limit stopped the search before any solution was found


@dataclass(frozen=True)
class Result:
    """What :meth:`Model.solve` returns.

    ``values`` maps variable names to ints (empty unless a solution was found); ``result[x]``
    accepts a variable or its name. ``objective`` is the objective's value (a tuple for a
    lexicographic objective) when one was set and a solution found.

    >>> import constrint as ci
    >>> m = ci.Model(); x = m.int_var("x", 1, 10)
    >>> m += ci.divides(3, x)
    >>> m.maximize(x)
    >>> r = m.solve()
    >>> r.status.name, r.values, r.objective, r[x], r["x"], r.ok
    ('OPTIMAL', {'x': 9}, 9, 9, 9, True)
    """

    status: Status
    values: dict[str, int] = field(default_factory=dict)
    objective: Any = None
    nodes: int = 0
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        """Whether a solution was found (status ``OPTIMAL`` or ``FEASIBLE``).

        >>> import constrint as ci
        >>> m = ci.Model(); x = m.int_var("x", 1, 3)
        >>> m.solve().ok
        True
        """
        return self.status in (Status.OPTIMAL, Status.FEASIBLE)

    def __getitem__(self, key: Var | str) -> int:
        name = key.name if isinstance(key, Var) else key
        if not self.values:
            raise KeyError(f"no solution (status {self.status.name})")
        return self.values[name]


class Model:
    """A constraint model: integer variables, constraints and an optional objective.

    >>> import constrint as ci
    >>> m = ci.Model()
    >>> x = m.int_var("x", 1, 100)
    >>> y = m.int_var("y", values=[2, 4, 8])
    >>> m += ci.divides(y, x) & (x + y <= 20)
    >>> m.count()
    14
    """

    def __init__(self) -> None:
        self._vars: list[Var] = []
        self._domains: list[Domain] = []
        self._by_name: dict[str, Var] = {}
        self._constraints: list[Constraint] = []
        self._objective: tuple[Expr, ...] | None = None
        self._sense: int = 0  # +1 minimise, -1 maximise

    # ------------------------------------------------------------------ building
    def int_var(
        self,
        name: str,
        lo: int | None = None,
        hi: int | None = None,
        *,
        values: Iterable[int] | None = None,
    ) -> Var:
        """A new integer variable with inclusive bounds ``lo..hi`` or an explicit value list.

        >>> m = Model()
        >>> bk = m.int_var("bk", 8, 128)                  # 8, 9, ..., 128
        >>> t = m.int_var("t", values=[1, 2, 4, 8])       # an explicit value list
        >>> m.domain(t).size, m.domain(bk).size
        (4, 121)
        """
        if not isinstance(name, str) or not _NAME_RE.match(name):
            raise ModelError(
                f"variable name must be an identifier (letters, digits, _; not starting with a digit), got {name!r}"
            )
        if name in self._by_name:
            raise ModelError(f"duplicate variable name {name!r}")
        if values is not None:
            if lo is not None or hi is not None:
                raise ModelError(f"variable {name!r}: give either lo/hi or values, not both")
            if isinstance(values, (str, bytes)):
                raise ModelError(f"variable {name!r}: values must be integers, got a string")
            vals = [check_integer(v, f"value of variable {name!r}") for v in values]
            dom = Domain.from_values(vals)
            if dom is None:
                raise ModelError(f"variable {name!r}: the value list is empty")
        else:
            if lo is None or hi is None:
                raise ModelError(f"variable {name!r}: give both bounds lo and hi, or values=[...]")
            lo = check_integer(lo, f"lower bound of variable {name!r}")
            hi = check_integer(hi, f"upper bound of variable {name!r}")
            if lo > hi:
                raise ModelError(f"variable {name!r}: lower bound {lo} > upper bound {hi}")
            dom = Domain.interval(lo, hi)
            assert dom is not None
        var = Var(self, len(self._vars), name)
        self._vars.append(var)
        self._domains.append(dom)
        self._by_name[name] = var
        return var

    def bool_var(self, name: str) -> Var:
        """A new boolean variable: the values 0 and 1, usable as a number and as a constraint.

        ``m += b`` requires ``b`` to be 1, ``~b`` is the constraint ``b == 0``, and ``b & c``,
        ``b | c`` combine booleans (see :mod:`constrint.booleans`).

        >>> import constrint as ci
        >>> m = ci.Model(); x = m.int_var("x", 0, 9); big = m.bool_var("big")
        >>> m += ci.equivalent(big, x >= 5)
        >>> m += big | (x == 0)
        >>> sorted(s["x"] for s in m.solutions())
        [0, 5, 6, 7, 8, 9]
        """
        from .booleans import BoolVar

        self.int_var(name, 0, 1)
        var = BoolVar(self, len(self._vars) - 1, name)
        self._vars[-1] = var
        self._by_name[name] = var
        return var

    def add(self, constraint: Constraint | bool | Iterable[Constraint]) -> Model:
        """Add a constraint (or several); returns the model so calls can chain.

        ``m += c`` is the same as ``m.add(c)``. A list (or any iterable) of constraints adds
        each; ``True``/``False`` are accepted as constant constraints; objects following the
        custom-constraint protocol (:mod:`constrint.custom`) are wrapped.

        >>> import constrint as ci
        >>> m = ci.Model(); x = m.int_var("x", 1, 20); y = m.int_var("y", 1, 20)
        >>> m.add(x < y).add([ci.divides(4, x), ci.divides(x, y)]).count()
        5
        """
        if isinstance(constraint, (Constraint, bool, Expr)):
            items = [constraint]
        elif _is_custom(constraint):
            items = [constraint]
        else:
            try:
                items = list(constraint)  # type: ignore[arg-type]
            except TypeError:
                raise ModelError(
                    f"expected a constraint, got {type(constraint).__name__} {constraint!r}"
                ) from None
        for c in items:
            if _is_custom(c):
                from .custom import wrap_custom

                c = wrap_custom(c)
            elif isinstance(c, bool):
                c = BoolConst(c)
            elif isinstance(c, Expr):
                from .booleans import as_constraint

                try:
                    c = as_constraint(c)
                except TypeError as exc:
                    raise ModelError(str(exc)) from None
            elif not isinstance(c, Constraint):
                raise ModelError(f"expected a constraint, got {type(c).__name__} {c!r}")
            self._check_own(c)
            self._constraints.append(c)
        return self

    def __iadd__(self, constraint: Any) -> Model:
        return self.add(constraint)

    def minimize(self, objective: ObjectiveLike) -> None:
        """Minimise an expression, or a list of expressions lexicographically.

        >>> import constrint as ci
        >>> m = ci.Model(); a = m.int_var("a", 1, 8); b = m.int_var("b", 1, 8)
        >>> m += a * b == 8
        >>> m.minimize([a + b, a])        # smallest sum first, then smallest a
        >>> m.solve().values
        {'a': 2, 'b': 4}
        """
        self._set_objective(objective, +1)

    def maximize(self, objective: ObjectiveLike) -> None:
        """Maximise an expression, or a list of expressions lexicographically.

        >>> import constrint as ci
        >>> m = ci.Model(); bm = m.int_var("bm", values=[16, 32, 64, 128])
        >>> m += bm * 2 * 128 <= 16 * 1024
        >>> m.maximize(bm)
        >>> m.solve().values
        {'bm': 64}
        """
        self._set_objective(objective, -1)

    def clear_objective(self) -> None:
        """Remove the objective.

        >>> import constrint as ci
        >>> m = ci.Model(); x = m.int_var("x", 1, 5)
        >>> m.maximize(x); m.clear_objective(); m.objective is None
        True
        """
        self._objective = None
        self._sense = 0

    def _set_objective(self, objective: Any, sense: int) -> None:
        items = list(objective) if isinstance(objective, (list, tuple)) else [objective]
        if not items:
            raise ModelError("an objective needs at least one expression")
        exprs = []
        for e in items:
            try:
                e = _coerce(e)
            except TypeError as exc:
                raise ModelError(f"objective: {exc}") from None
            if not e.integral:
                raise ModelError("objective: true division gives non-integer values; use // or exact_div")
            self._check_own(e)
            exprs.append(e)
        self._objective = tuple(exprs)
        self._sense = sense

    def _check_own(self, node: Any) -> None:
        for n in walk(node):
            if isinstance(n, Var) and (n.model is not self or self._vars[n.index] is not n):
                raise ModelError(
                    f"variable {n.name!r} belongs to another model; build each constraint from "
                    "variables of the model it is added to"
                )

    # ------------------------------------------------------------------ inspection
    @property
    def variables(self) -> list[Var]:
        """The variables in creation order.

        >>> import constrint as ci
        >>> m = ci.Model(); _ = m.int_var("b", 1, 2); _ = m.int_var("a", 1, 2)
        >>> [v.name for v in m.variables]
        ['b', 'a']
        """
        return list(self._vars)

    @property
    def constraints(self) -> list[Constraint]:
        """The constraints in the order they were added.

        >>> import constrint as ci
        >>> m = ci.Model(); x = m.int_var("x", 1, 9)
        >>> m += x >= 2; m += ci.divides(x, 12)
        >>> [str(c) for c in m.constraints]
        ['x >= 2', '12 % x == 0']
        """
        return list(self._constraints)

    @property
    def objective(self) -> tuple[tuple[Expr, ...], str] | None:
        """``(expressions, "minimize" | "maximize")`` or ``None``.

        >>> import constrint as ci
        >>> m = ci.Model(); x = m.int_var("x", 1, 5)
        >>> m.maximize(x * 2)
        >>> exprs, sense = m.objective
        >>> [str(e) for e in exprs], sense
        (['x * 2'], 'maximize')
        """
        if self._objective is None:
            return None
        return self._objective, ("minimize" if self._sense > 0 else "maximize")

    def var(self, name: str) -> Var:
        """The variable called ``name`` (:class:`~constrint.ModelError` if there is none).

        >>> import constrint as ci
        >>> m = ci.loads("var x in 1..4; x != 2;")
        >>> m.var("x").name
        'x'
        """
        try:
            return self._by_name[name]
        except KeyError:
            raise ModelError(f"no variable named {name!r}") from None

    def domain(self, var: Var | str) -> Domain:
        """The declared domain of a variable (before propagation; see :meth:`propagate`).

        >>> import constrint as ci
        >>> m = ci.Model(); x = m.int_var("x", 1, 100)
        >>> m += ci.divides(8, x)
        >>> m.domain("x").size, m.propagate()["x"].size
        (100, 12)
        """
        v = self.var(var) if isinstance(var, str) else var
        return self._domains[v.index]

    def __repr__(self) -> str:
        lines = [f"var {v.name} in {d!r};" for v, d in zip(self._vars, self._domains)]
        lines += [f"{c};" for c in self._constraints]
        if self._objective is not None:
            sense = "minimize" if self._sense > 0 else "maximize"
            lines.append(f"{sense} {', '.join(str(e) for e in self._objective)};")
        return "<Model\n  " + "\n  ".join(lines) + "\n>"

    def copy(self) -> Model:
        """A new model with the same variables, constraints and objective (trees are shared).

        Adding to the copy leaves the original unchanged:

        >>> import constrint as ci
        >>> m = ci.Model(); x = m.int_var("x", 1, 10)
        >>> c = m.copy(); c += c.var("x") > 5
        >>> m.count(), c.count()
        (10, 5)
        """
        other = Model()
        for v, d in zip(self._vars, self._domains):
            nv = type(v)(other, v.index, v.name)
            other._vars.append(nv)
            other._domains.append(d)
            other._by_name[v.name] = nv
        mapping = {v.index: nv for v, nv in zip(self._vars, other._vars)}
        other._constraints = [_rebind(c, mapping) for c in self._constraints]
        if self._objective is not None:
            other._objective = tuple(_rebind(e, mapping) for e in self._objective)
            other._sense = self._sense
        return other

    def check(self, assignment: Mapping[str, int]) -> bool:
        """Whether a full assignment satisfies every constraint and lies in every domain.

        >>> import constrint as ci
        >>> m = ci.Model(); x = m.int_var("x", 1, 10); y = m.int_var("y", 1, 10)
        >>> m += ci.divides(x, y)
        >>> m.check({"x": 3, "y": 9}), m.check({"x": 3, "y": 8}), m.check({"x": 3})
        (True, False, False)
        """
        for v, d in zip(self._vars, self._domains):
            if v.name not in assignment or assignment[v.name] not in d:
                return False
        return all(c.holds(assignment) for c in self._constraints)

    # ------------------------------------------------------------------ solving
    def propagate(self) -> dict[str, Domain] | None:
        """Domains after propagation at the root (``None`` if that proves infeasibility).

        Propagation never removes a value that belongs to a solution, but may keep values that
        belong to none.

        >>> import constrint as ci
        >>> m = ci.Model(); bk = m.int_var("bk", 8, 128)
        >>> m += ci.divides(bk, 1024)
        >>> m.propagate()["bk"]
        {8, 16, 32, 64, 128}
        """
        from .engine import root_domains

        return root_domains(self)

    def solve(
        self,
        time_limit: float | None = None,
        *,
        var_order: Iterable[Var | str] | None = None,
        value_order: str = "ascending",
        hints: Mapping[Var | str, int] | None = None,
        callback: Callable[[dict[str, int]], Any] | None = None,
    ) -> Result:
        """Find a solution (an optimal one if an objective is set).

        ``time_limit`` is in seconds; ``var_order`` lists variables to branch on first (default:
        smallest domain first, objective variables first when optimising); ``value_order`` is
        ``"ascending"`` or ``"descending"`` (when optimising, variables in which the objective is
        monotone are tried from its good end); ``hints`` maps variables to values tried first
        (a known good configuration, say). ``callback(values)`` is called with each solution
        found: the one solution, or each better one while optimising; returning ``False`` stops
        the search (status ``FEASIBLE``). Infeasibility is a :class:`Status`, not an exception; a
        time limit that stops the search gives ``FEASIBLE`` (best so far) or ``UNKNOWN`` (none
        found).

        >>> import constrint as ci
        >>> m = ci.Model(); x = m.int_var("x", 1, 100)
        >>> m += ci.divides(7, x)
        >>> m.solve().values, m.solve(value_order="descending").values, m.solve(hints={x: 49}).values
        ({'x': 7}, {'x': 98}, {'x': 49})
        >>> m.maximize(x % 10)
        >>> found = []
        >>> r = m.solve(callback=lambda s: found.append(s["x"]))
        >>> r.values, found[-1]                     # the last solution reported is the best
        ({'x': 49}, 49)
        """
        from .engine import solve

        return solve(self, time_limit, var_order, value_order, hints, callback)

    def solve_all(
        self,
        callback: Callable[[dict[str, int]], Any],
        *,
        limit: int | None = None,
        time_limit: float | None = None,
    ) -> int:
        """Call ``callback(values)`` for every solution; returns how many it was called for.

        The solutions stream from the search to the consumer (none is kept). The enumeration
        stops after ``limit`` solutions, when ``time_limit`` seconds have passed, or when the
        callback returns ``False``.

        >>> import constrint as ci
        >>> m = ci.Model(); x = m.int_var("x", 1, 30)
        >>> m += ci.divides(x, 30)
        >>> seen = []
        >>> m.solve_all(lambda s: seen.append(s["x"]))
        8
        >>> m.solve_all(lambda s: s["x"] < 5)        # stops at the first value >= 5
        4
        """
        import time

        if not callable(callback):
            raise ModelError(f"solve_all needs a callable, got {type(callback).__name__}")
        deadline = None if time_limit is None else time.monotonic() + time_limit
        n = 0
        for sol in self.solutions(limit):
            n += 1
            if callback(sol) is False:
                break
            if deadline is not None and time.monotonic() > deadline:
                break
        return n

    def solutions(self, limit: int | None = None) -> Iterator[dict[str, int]]:
        """Lazily yield every solution once, as dicts name -> int (at most ``limit`` of them).

        >>> import constrint as ci
        >>> m = ci.Model(); x = m.int_var("x", 1, 64)
        >>> m += ci.divides(x, 64)
        >>> sorted(s["x"] for s in m.solutions())
        [1, 2, 4, 8, 16, 32, 64]
        >>> len(list(m.solutions(limit=3)))
        3
        """
        from .engine import iter_solutions

        return iter_solutions(self, limit)

    def count(self, time_limit: float | None = None) -> int:
        """Exact number of solutions, without listing them where that can be avoided.

        Independent parts of a model are counted apart and multiplied:

        >>> import constrint as ci
        >>> m = ci.Model()
        >>> xs = [m.int_var(f"x{i}", 1, 10**6) for i in range(3)]
        >>> m += [ci.divides(x, 720720) for x in xs]
        >>> m.count()                     # 240 divisors each
        13824000
        """
        from .engine import count

        return count(self, time_limit)

    def solutions_array(self, *, dtype: Any = None) -> Any:
        """All solutions as a 2-D numpy array, one column per variable (creation order).

        >>> import constrint as ci
        >>> m = ci.Model(); a = m.int_var("a", 1, 4); b = m.int_var("b", 1, 4)
        >>> m += a * b == 4
        >>> m.solutions_array().tolist()
        [[1, 4], [2, 2], [4, 1]]
        """
        from .vectorized import solutions_array

        return solutions_array(self, dtype=dtype)


def _rebind(node: Any, mapping: dict[int, Var]) -> Any:
    """A copy of a tree with its variables replaced by ``mapping[index]``."""
    from .expr import rebuild

    return rebuild(node, lambda v: mapping[v.index])


def _is_custom(obj: Any) -> bool:
    return (
        not isinstance(obj, (Constraint, Expr))
        and hasattr(obj, "evaluate")
        and hasattr(obj, "propagate")
        and hasattr(obj, "variables")
    )


__all__ = ["Model", "Result", "Status", "all_of"]
