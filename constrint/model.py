"""The model builder: :class:`Model` (variables, constraints, an objective) and the calls that
solve it; what they return is in :mod:`constrint.results`.
"""
from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import Any, Union

from . import engine, presolve
from .custom import is_custom, wrap_custom
from .domain import Domain
from .errors import LimitReached, ModelError
from .expr import BoolConst, Constraint, Expr, Var, _coerce, check_integer
from .results import Result
from .statements import Source, Statement
from .transform import rebuild

_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
#: Most values an explicit value list (``int_var(..., values=[...])``) may hold.
MAX_LISTED_VALUES = 10_000_000

ObjectiveLike = Union[Expr, int, "list[Expr | int]", "tuple[Expr | int, ...]"]


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
        self._booleans: set[int] = set()  # indices of the variables made by bool_var
        self._var_sources: list[Source | None] = []
        self._sources: list[Source | None] = []
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
        source: Source | None = None,
    ) -> Var:
        """A new integer variable with inclusive bounds ``lo..hi`` or an explicit value list.

        ``values`` may also be a :class:`~constrint.Domain` or a ``range`` (kept as it is,
        however large). ``source`` says where the declaration came from (see :meth:`source`).

        >>> m = Model()
        >>> bk = m.int_var("bk", 8, 128)                  # 8, 9, ..., 128
        >>> t = m.int_var("t", values=[1, 2, 4, 8])       # an explicit value list
        >>> n = m.int_var("n", values=range(0, 10**12, 4))  # multiples of 4, not listed
        >>> m.domain(t).size, m.domain(bk).size, m.domain(n).size
        (4, 121, 250000000000)
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
            dom = _values_domain(name, values)
        else:
            if lo is None or hi is None:
                raise ModelError(f"variable {name!r}: give both bounds lo and hi, or values=[...]")
            lo = check_integer(lo, f"lower bound of variable {name!r}")
            hi = check_integer(hi, f"upper bound of variable {name!r}")
            if lo > hi:
                raise ModelError(f"variable {name!r}: lower bound {lo} > upper bound {hi}")
            dom = Domain.interval(lo, hi)
            assert dom is not None
        if source is not None and not isinstance(source, Source):
            raise ModelError(f"variable {name!r}: source must be a constrint.Source, got {type(source).__name__}")
        var = Var(self, len(self._vars), name)
        self._vars.append(var)
        self._domains.append(dom)
        self._var_sources.append(source)
        self._by_name[name] = var
        return var

    def bool_var(self, name: str, *, source: Source | None = None) -> Var:
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
        var = self.int_var(name, 0, 1, source=source)
        self._booleans.add(var.index)
        return var

    def add(self, constraint: Constraint | bool | Iterable[Constraint], *, source: Source | None = None) -> Model:
        """Add a constraint (or several); returns the model so calls can chain.

        ``m += c`` is the same as ``m.add(c)``. A list (or any iterable) of constraints adds
        each; ``True``/``False`` are accepted as constant constraints; objects following the
        custom-constraint protocol (:mod:`constrint.custom`) are wrapped. ``source`` says where
        the constraint came from (see :attr:`statements`).

        >>> import constrint as ci
        >>> m = ci.Model(); x = m.int_var("x", 1, 20); y = m.int_var("y", 1, 20)
        >>> m.add(x < y).add([ci.divides(4, x), ci.divides(x, y)]).count()
        5
        """
        if source is not None and not isinstance(source, Source):
            raise ModelError(f"source must be a constrint.Source, got {type(source).__name__}")
        if isinstance(constraint, (Constraint, bool, Expr)) or is_custom(constraint):
            items = [constraint]
        else:
            try:
                items = list(constraint)  # type: ignore[arg-type]
            except TypeError:
                raise ModelError(
                    f"expected a constraint, got {type(constraint).__name__} {constraint!r}"
                ) from None
        for c in items:
            if is_custom(c):
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
            self._sources.append(source)
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
        # the nodes checked before, by id (a node is the same one only if it is that object):
        # constraints share subexpressions, checked once
        checked = self.__dict__.setdefault("_checked", {})
        seen: dict[int, Any] = {}
        stack = [node]
        while stack:
            n = stack.pop()
            if checked.get(id(n)) is n or id(n) in seen:
                continue
            if isinstance(n, Var) and (n.model is not self or self._vars[n.index] is not n):
                raise ModelError(
                    f"variable {n.name!r} belongs to another model; build each constraint from "
                    "variables of the model it is added to"
                )
            stack.extend(n.children)
            seen[id(n)] = n
        checked.update(seen)  # only a tree found whole is remembered

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
    def statements(self) -> list[Statement]:
        """The constraints with where each came from (a :class:`~constrint.Statement` each).

        >>> import constrint as ci
        >>> m = ci.loads("var x in 1..9;\\nx >= 2;  # at least a pair", filename="m.cint")
        >>> st = m.statements[0]
        >>> str(st.constraint), st.line, st.comment
        ('x >= 2', 2, 'at least a pair')
        """
        return [Statement(c, s) for c, s in zip(self._constraints, self._sources)]

    def source(self, var: Var | str) -> Source | None:
        """Where a variable was declared (``None`` when unknown, e.g. built in Python).

        >>> import constrint as ci
        >>> m = ci.loads("var SMS in 1..1000;   # streaming multiprocessors", filename="gpu.cint")
        >>> m.source("SMS")
        Source(filename='gpu.cint', line=1, text='var SMS in 1..1000', comment='streaming multiprocessors')
        """
        v = self.var(var) if isinstance(var, str) else var
        self._check_own(v)
        return self._var_sources[v.index]

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

    def copy(self, *, fix: Mapping[str, int] | None = None) -> Model:
        """A new model with the same variables, constraints, objective and sources.

        ``fix`` gives some variables a single value (their domain in the copy; a value outside
        the declared domain is a :class:`~constrint.ModelError`). Adding to the copy leaves the
        original unchanged:

        >>> import constrint as ci
        >>> m = ci.Model(); x = m.int_var("x", 1, 10); y = m.int_var("y", 1, 10)
        >>> m += x < y
        >>> c = m.copy(); c += c.var("x") > 5
        >>> m.count(), c.count(), m.copy(fix={"y": 4}).count()
        (45, 10, 3)
        """
        fix = dict(fix or {})
        for name, value in fix.items():
            value = check_integer(value, f"value of {name!r}")
            if value not in self.domain(name):
                raise ModelError(f"cannot fix {name} to {value}: outside its domain {self.domain(name)!r}")
            fix[name] = value
        other = type(self)()
        for v, d, s in zip(self._vars, self._domains, self._var_sources):
            nv = Var(other, v.index, v.name)
            other._vars.append(nv)
            other._domains.append(Domain.const(fix[v.name]) if v.name in fix else d)
            other._var_sources.append(s)
            other._by_name[v.name] = nv
        other._booleans = set(self._booleans)
        memo: dict = {}

        def var_map(v: Var) -> Var:
            return other._vars[v.index]

        other._constraints = [rebuild(c, var_map, memo) for c in self._constraints]
        other._sources = list(self._sources)
        if self._objective is not None:
            other._objective = tuple(rebuild(e, var_map, memo) for e in self._objective)
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
        if not isinstance(assignment, Mapping):
            raise ModelError(f"check needs a mapping of variable names to ints, got {type(assignment).__name__}")
        for v, d in zip(self._vars, self._domains):
            if v.name not in assignment:
                return False
            value = check_integer(assignment[v.name], f"the value of {v.name!r}")
            if value not in d:
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
        return engine.root_domains(self)

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
        return engine.solve(self, check_time_limit(time_limit), var_order, value_order, hints, callback)

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
        time_limit = check_time_limit(time_limit)
        deadline = None if time_limit is None else time.monotonic() + time_limit
        n = 0
        try:
            for sol in self.solutions(limit, time_limit=time_limit):
                n += 1
                if callback(sol) is False:
                    break
                if deadline is not None and time.monotonic() > deadline:
                    break
        except LimitReached:
            pass  # the time limit ends the enumeration
        return n

    def solutions(self, limit: int | None = None, *, time_limit: float | None = None) -> Iterator[dict[str, int]]:
        """Lazily yield every solution once, as dicts name -> int (at most ``limit`` of them).

        ``time_limit`` (seconds, from the call) ends the iteration with
        :class:`~constrint.LimitReached` when it passes before the last solution.

        >>> import constrint as ci
        >>> m = ci.Model(); x = m.int_var("x", 1, 64)
        >>> m += ci.divides(x, 64)
        >>> sorted(s["x"] for s in m.solutions())
        [1, 2, 4, 8, 16, 32, 64]
        >>> len(list(m.solutions(limit=3)))
        3
        """
        if limit is not None:
            limit = check_integer(limit, "limit")
            if limit < 0:
                raise ModelError(f"limit must be a non-negative integer or None, got {limit}")
        return engine.iter_solutions(self, limit, check_time_limit(time_limit))

    def count(self, time_limit: float | None = None, *, workers: int | None = None) -> int:
        """Exact number of solutions, without listing them where that can be avoided.

        Independent parts of a model are counted apart and multiplied:

        >>> import constrint as ci
        >>> m = ci.Model()
        >>> xs = [m.int_var(f"x{i}", 1, 10**6) for i in range(3)]
        >>> m += [ci.divides(x, 720720) for x in xs]
        >>> m.count()                     # 240 divisors each
        13824000

        ``workers`` counts in that many processes (0: one per CPU), the model split on one
        variable's values (:mod:`constrint.parallel`); the result is the same. It pays for
        counts that take seconds; the model must be picklable (no inline functions).
        """
        time_limit = check_time_limit(time_limit)
        if workers is not None and workers != 1:
            from . import parallel

            return parallel.count(self, parallel.check_workers(workers), time_limit)
        return engine.count(self, time_limit)

    def solutions_array(self, *, dtype: Any = None, workers: int | None = None,
                        time_limit: float | None = None) -> Any:
        """All solutions as a 2-D numpy array, one column per variable (creation order).

        ``time_limit`` (seconds) stops the listing with :class:`~constrint.LimitReached`.

        >>> import constrint as ci
        >>> m = ci.Model(); a = m.int_var("a", 1, 4); b = m.int_var("b", 1, 4)
        >>> m += a * b == 4
        >>> m.solutions_array().tolist()
        [[1, 4], [2, 2], [4, 1]]

        ``workers`` lists in that many processes (see :meth:`count`): the rows come part by
        part of the split variable's values, in the same order whatever the number of workers.
        """
        if workers is not None and workers != 1:
            from . import parallel

            return parallel.solutions_array(
                self, parallel.check_workers(workers), _check_dtype(dtype), check_time_limit(time_limit)
            )
        return engine.solutions_array(self, dtype=_check_dtype(dtype), time_limit=check_time_limit(time_limit))

    # ------------------------------------------------------------------ presolve
    def reduce(
        self,
        inputs: Mapping[str, int],
        *,
        decisions: Sequence[str] | None = None,
        overrides: Mapping[str, int] | None = None,
    ) -> presolve.Reduction:
        """This model with ``inputs`` given values, reduced to a small model over the rest.

        Definitions (a top-level ``X == expression``) are inlined, constants folded and
        constraints on a single variable turned into its domain; see
        :func:`constrint.presolve.reduce` for the rules and the
        :class:`~constrint.Reduction` it returns.

        >>> import constrint as ci
        >>> m = ci.loads('''
        ...   var D in 1..4096;          # head size (an input)
        ...   var S in 1..64;            # slices (a decision)
        ...   var U in 0..4096;
        ...   U == (D - 1) // S + 1;     # units per slice (a definition)
        ...   U <= 128;
        ...   minimize S;
        ... ''')
        >>> r = m.reduce({"D": 768})
        >>> print(r.model)
        <Model
          var S in {6, 7, ..., 64} (59 values);
          minimize S;
        >
        >>> r.solve().values
        {'D': 768, 'S': 6, 'U': 128}
        """
        return presolve.reduce(self, inputs, decisions=decisions, overrides=overrides)


def check_time_limit(value: Any) -> float | None:
    """A time limit argument as a positive finite number of seconds (or None), else a
    :class:`ModelError` naming it."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ModelError(f"time_limit must be a number of seconds or None, got {type(value).__name__} {value!r}")
    if not math.isfinite(value) or value <= 0:
        raise ModelError(f"time_limit must be a positive finite number of seconds, got {value!r}")
    return float(value)


def _check_dtype(dtype: Any) -> Any:
    if dtype is None:
        return None
    import numpy as np

    try:
        dt = np.dtype(dtype)
    except TypeError:
        raise ModelError(f"dtype must be a numpy integer type or object, got {dtype!r}") from None
    if dt.kind not in "iuO":
        raise ModelError(f"dtype must be a numpy integer type or object, got {dt}")
    return dt


def _values_domain(name: str, values: Any) -> Domain:
    """The domain of an ``int_var(name, values=...)``."""
    if isinstance(values, Domain):
        return values
    if isinstance(values, range):
        if len(values) == 0:
            raise ModelError(f"variable {name!r}: the value range is empty")
        step = abs(values.step)
        lo, hi = min(values[0], values[-1]), max(values[0], values[-1])
        if lo % step == 0:
            dom = Domain.interval(lo, hi, step)
            assert dom is not None
            return dom
    if isinstance(values, (str, bytes)):
        raise ModelError(f"variable {name!r}: values must be integers, got a string")
    if hasattr(values, "__len__") and len(values) > MAX_LISTED_VALUES:
        raise ModelError(
            f"variable {name!r}: {len(values):,} listed values (at most {MAX_LISTED_VALUES:,}); give bounds "
            "lo, hi and constraints instead, or a range with a step that divides its start"
        )
    try:
        items = iter(values)
    except TypeError:
        raise ModelError(f"variable {name!r}: values must be an iterable of integers, got "
                         f"{type(values).__name__}") from None
    vals = [check_integer(v, f"value of variable {name!r}") for v in items]
    dom = Domain.from_values(vals)
    if dom is None:
        raise ModelError(f"variable {name!r}: the value list is empty")
    return dom


__all__ = ["Model", "MAX_LISTED_VALUES"]
