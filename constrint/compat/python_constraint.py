"""python-constraint's API on constrint: code written for python-constraint runs by changing its
import.

    from constrint.compat.python_constraint import Problem, AllDifferentConstraint

    problem = Problem()
    problem.addVariables(["a", "b", "c"], range(1, 4))
    problem.addConstraint(AllDifferentConstraint())
    problem.addConstraint("a + b == c")           # restriction strings, as Kernel Tuner writes them
    problem.addConstraint(lambda a, c: a < c, ["a", "c"])
    problem.getSolutions()

What is translated, and how:

* Variables take any hashable values; integers are the solver's values, other values (floats,
  strings, tuples, ...) are coded per variable and decoded in the solutions, exactly as the T1
  reader does (:mod:`constrint.t1`).
* Restriction strings (``"block_x * block_y <= 1024"``) are parsed safely with the T1 condition
  reader (no ``eval``): Python's semantics, propagated and enumerated natively.
* The built-in constraint classes become native constraints where their variables hold numbers:
  ``AllDifferentConstraint`` an :func:`~constrint.all_different`, sums and products arithmetic,
  ``InSetConstraint`` and friends set membership and :func:`~constrint.among`-style counts.
* Functions (``FunctionConstraint``, or any callable) are opaque: constrint calls them with the
  values of their variables, row by row in the vectorised enumerator and by enumerating supports
  in the search. They work, but they are as slow as Python calls; a restriction string or a
  built-in constraint with the same meaning is much faster.

The solver classes (``BacktrackingSolver``, ``OptimizedBacktrackingSolver``, ...) are accepted
and ignored: constrint chooses its own search. ``getSolutions`` lists solutions in constrint's
order, not python-constraint's; ``getSolutionsAsListDict`` follows python-constraint2 (the list of
tuples, their index and the size) as Kernel Tuner uses it.
"""
from __future__ import annotations

import itertools
import keyword
import math
import operator
import re
from collections.abc import Callable, Hashable, Iterable, Iterator, Sequence
from typing import Any

from ..errors import T1Error
from ..expr import Var
from ..global_constraints import _Global
from ..language.grammar import KEYWORDS
from ..model import Model
from ..propagators import ENTAILED, FAILED, OPEN
from ..transform import rebuild

_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
#: Opaque functions are filtered by enumerating their open variables' combinations when there are
#: at most this many (else they wait until fewer variables are open).
ENUM_LIMIT = 4096


class Domain(list):
    """python-constraint's domain class: a list of values (kept for code that builds one)."""


class Unassigned:
    """python-constraint's marker of an unassigned variable (kept for code that imports it)."""


# ====================================================================== solvers (accepted, unused)


class Solver:
    """Accepted for compatibility; constrint chooses its own search."""

    requires_pickling = False

    def __init__(self, *args: Any, **kwargs: Any):
        self.args = args
        self.kwargs = kwargs


class BacktrackingSolver(Solver):
    """Accepted for compatibility; constrint chooses its own search."""


class OptimizedBacktrackingSolver(Solver):
    """Accepted for compatibility; constrint chooses its own search."""


class RecursiveBacktrackingSolver(Solver):
    """Accepted for compatibility; constrint chooses its own search."""


class MinConflictsSolver(Solver):
    """Accepted for compatibility; constrint chooses its own (complete) search."""


class ParallelSolver(Solver):
    """Accepted for compatibility; constrint chooses its own search."""


# ====================================================================== constraints


class Constraint:
    """Base of python-constraint's constraint classes.

    Subclasses describe themselves as a Python condition over their variables
    (:meth:`condition`, read by the T1 condition reader) or as a predicate (:meth:`predicate`).
    """

    def condition(self, names: list[str]) -> str | None:
        """A Python expression (over ``names``) with the same meaning, or ``None``."""
        return None

    def predicate(self) -> Callable[..., bool]:
        """The constraint as a function of its variables' values (in order)."""
        raise NotImplementedError


def _numbers_only(values: Iterable[Any]) -> bool:
    return all(isinstance(v, (int, float)) and (not isinstance(v, float) or math.isfinite(v)) for v in values)


#: The relations of the sum and product constraints.
_RELATION = {"<=": operator.le, ">=": operator.ge, "==": operator.eq}


def _weighted_sum(names: list[str], multipliers: Sequence | None) -> str:
    """``a * 2 + b`` (Python text) of variables and their multipliers (default 1)."""
    ms = multipliers or [1] * len(names)
    return " + ".join(f"{n} * {m!r}" if m != 1 else n for n, m in zip(names, ms)) or "0"


class AllDifferentConstraint(Constraint):
    """The variables take pairwise different values."""

    def predicate(self):
        return lambda *vals: len(set(vals)) == len(vals)


class AllEqualConstraint(Constraint):
    """The variables take one value."""

    def predicate(self):
        return lambda *vals: all(v == vals[0] for v in vals)


class _Sum(Constraint):
    op = "<="

    def __init__(self, total: int | float, multipliers: Sequence | None = None):
        self.total = total
        self.multipliers = list(multipliers) if multipliers is not None else None

    def _floats(self) -> bool:
        ms = self.multipliers or []
        return isinstance(self.total, float) or any(isinstance(m, float) for m in ms)

    def condition(self, names):
        if self._floats() or not _numbers_only([self.total, *(self.multipliers or [])]):
            return None
        return f"{_weighted_sum(names, self.multipliers)} {self.op} {self.total!r}"

    def predicate(self):
        cmp = _RELATION[self.op]
        ms, total = self.multipliers, self.total

        def check(*vals):
            s = 0
            for k, v in enumerate(vals):
                s += v * ms[k] if ms else v
            if isinstance(s, float):
                s = round(s, 10)  # as python-constraint does
            return cmp(s, total)

        return check


class MaxSumConstraint(_Sum):
    """The (weighted) sum of the variables is at most ``maxsum``."""

    op = "<="


class MinSumConstraint(_Sum):
    """The (weighted) sum of the variables is at least ``minsum``."""

    op = ">="


class ExactSumConstraint(_Sum):
    """The (weighted) sum of the variables equals ``exactsum``."""

    op = "=="


class _Prod(Constraint):
    op = "<="

    def __init__(self, total: int | float):
        self.total = total

    def condition(self, names):
        if not _numbers_only([self.total]):
            return None
        return f"{' * '.join(names) or '1'} {self.op} {self.total!r}"

    def predicate(self):
        cmp = _RELATION[self.op]
        return lambda *vals: cmp(math.prod(vals), self.total)


class MaxProdConstraint(_Prod):
    """The product of the variables is at most ``maxprod``."""

    op = "<="


class MinProdConstraint(_Prod):
    """The product of the variables is at least ``minprod``."""

    op = ">="


class ExactProdConstraint(_Prod):
    """The product of the variables equals ``exactprod``."""

    op = "=="


class _VariableTarget(Constraint):
    op = "=="
    combine = "+"

    def __init__(self, target_var: str, other_vars: Sequence[str], multipliers: Sequence | None = None):
        self.target = target_var
        self.others = list(other_vars)
        self.multipliers = list(multipliers) if multipliers is not None else None

    def variables(self) -> list[str]:
        return [self.target, *self.others]

    def condition(self, names):
        target, others = names[0], names[1:]
        if self.combine == "+":
            ms = self.multipliers or []
            if not _numbers_only(ms) or any(isinstance(m, float) for m in ms):
                return None
            rhs = _weighted_sum(others, self.multipliers)
        else:
            rhs = " * ".join(others) or "1"
        return f"{rhs} {self.op} {target}"

    def predicate(self):
        cmp = _RELATION[self.op]
        ms = self.multipliers

        def check(target, *vals):
            if self.combine == "*":
                return cmp(math.prod(vals), target)
            s = sum(v * (ms[k] if ms else 1) for k, v in enumerate(vals))
            return cmp(s, target)

        return check


class VariableExactSumConstraint(_VariableTarget):
    """The (weighted) sum of ``sum_vars`` equals the variable ``target_var``."""

    op, combine = "==", "+"


class VariableMaxSumConstraint(_VariableTarget):
    """The (weighted) sum of ``sum_vars`` is at most the variable ``target_var``."""

    op, combine = "<=", "+"


class VariableMinSumConstraint(_VariableTarget):
    """The (weighted) sum of ``sum_vars`` is at least the variable ``target_var``."""

    op, combine = ">=", "+"


class VariableExactProdConstraint(_VariableTarget):
    """The product of ``product_vars`` equals the variable ``target_var``."""

    op, combine = "==", "*"

    def __init__(self, target_var: str, product_vars: Sequence[str]):
        super().__init__(target_var, product_vars)


class VariableMaxProdConstraint(VariableExactProdConstraint):
    """The product of ``product_vars`` is at most the variable ``target_var``."""

    op = "<="


class VariableMinProdConstraint(VariableExactProdConstraint):
    """The product of ``product_vars`` is at least the variable ``target_var``."""

    op = ">="


class _SetConstraint(Constraint):
    negated = False

    #: set constraints read as conditions whatever the variables hold (values are compared)
    any_kind = True

    def __init__(self, set: Iterable[Any], n: int = 1, exact: bool = False):
        self.set = frozenset(set)
        self.n = n
        self.exact = exact

    def _literal(self) -> str | None:
        vals = sorted(self.set, key=repr)
        ok = all(
            type(v) in (int, bool, str) or (type(v) is float and math.isfinite(v)) for v in vals
        )
        return "(" + "".join(f"{v!r}, " for v in vals) + ")" if ok else None


class InSetConstraint(_SetConstraint):
    """Every variable takes a value of ``set``."""

    def __init__(self, set: Iterable[Any]):
        super().__init__(set)

    def condition(self, names):
        lit = self._literal()
        return None if lit is None else " and ".join(f"{n} in {lit}" for n in names) or "True"

    def predicate(self):
        return lambda *vals: all(v in self.set for v in vals)


class NotInSetConstraint(_SetConstraint):
    """No variable takes a value of ``set``."""

    def __init__(self, set: Iterable[Any]):
        super().__init__(set)

    def condition(self, names):
        lit = self._literal()
        return None if lit is None else " and ".join(f"{n} not in {lit}" for n in names) or "True"

    def predicate(self):
        return lambda *vals: all(v not in self.set for v in vals)


class SomeInSetConstraint(_SetConstraint):
    """At least ``n`` variables (exactly ``n`` with ``exact``) take a value of ``set``."""

    word = "in"

    def condition(self, names):
        lit = self._literal()
        if lit is None:
            return None
        hits = "sum([" + ", ".join(f"{n} {self.word} {lit}" for n in names) + "])"
        return f"{hits} {'==' if self.exact else '>='} {self.n!r}"

    def predicate(self):
        def check(*vals):
            k = sum((v in self.set) != (self.word == "not in") for v in vals)
            return k == self.n if self.exact else k >= self.n

        return check


class SomeNotInSetConstraint(SomeInSetConstraint):
    """At least ``n`` variables (exactly ``n`` with ``exact``) take a value outside ``set``."""

    word = "not in"


class FunctionConstraint(Constraint):
    """A Python function of the variables' values (opaque: evaluated, not propagated)."""

    def __init__(self, func: Callable[..., Any], assigned: bool = True):
        self.func = func
        self.assigned = assigned

    def predicate(self):
        return self.func


class CompilableFunctionConstraint(Constraint):
    """A restriction string (parsed safely, as T1 conditions are)."""

    def __init__(self, func: str, assigned: bool = True):
        self.text = func
        self.assigned = assigned


# ====================================================================== opaque predicates


class Predicate(_Global):
    """A Python function of some variables, on their original (decoded) values."""

    __slots__ = ("children", "decode", "func", "label")

    def __init__(self, func: Callable[..., Any], variables: Sequence[Var], decode: Sequence[dict], label: str):
        self.func = func
        self.children = tuple(variables)
        self.decode = tuple(decode)
        self.label = label

    def _call(self, vals: Sequence[int]) -> bool:
        return bool(self.func(*(d.get(v, v) for d, v in zip(self.decode, vals))))

    def ev(self, a):
        return self._call([a[v.name] for v in self.children])

    def revise(self, store) -> int:
        return _r_predicate(self, store)

    def numpy(self, env):
        return _np_predicate(self, env)

    def rebind(self, var_map):
        return Predicate(self.func, [rebuild(v, var_map) for v in self.children], self.decode, self.label)

    def call_text(self, expr_text) -> str:
        return f"{self.label}({', '.join(expr_text(v)[0] for v in self.children)})"

    def cint_text(self, expr_text, constraint_text):
        from ..errors import ModelError

        raise ModelError(f"the Python function {self.label} has no .cint text form")


def _r_predicate(c: Predicate, store) -> int:
    from ..domain import Domain as _Dom

    doms = [store.doms[v.index] for v in c.children]
    total = math.prod(d.size for d in doms)
    if total > ENUM_LIMIT:
        return OPEN
    keep: list[set[int]] = [set() for _ in doms]
    every = True
    for combo in itertools.product(*(list(d) for d in doms)):
        if c._call(combo):
            for k, v in zip(keep, combo):
                k.add(v)
        else:
            every = False
    for v, d, k in zip(c.children, doms, keep):
        nd = _Dom.from_values(k)
        if nd is None:
            return FAILED
        if nd != d:
            store.set(v.index, nd)
    return ENTAILED if every else OPEN


def _np_predicate(c: Predicate, env):
    import numpy as np

    from ..vectorized import _ev

    cols = [_ev(v, env) for v in c.children]
    shape = np.broadcast_shapes(*(np.shape(x) for x in cols))
    if not shape:
        return c._call([int(x) for x in cols])
    cols = [np.broadcast_to(np.asarray(x), shape).tolist() for x in cols]
    return np.fromiter((c._call(row) for row in zip(*cols)), dtype=bool, count=shape[0])




# ====================================================================== the problem


class Problem:
    """python-constraint's ``Problem``: variables with domains, constraints, solutions.

    >>> from constrint.compat.python_constraint import Problem, AllDifferentConstraint
    >>> p = Problem()
    >>> p.addVariables(["a", "b", "c"], [1, 2, 3])
    >>> p.addConstraint(AllDifferentConstraint())
    >>> p.addConstraint("a < b")
    >>> p.addConstraint(lambda b, c: b != c + 1, ["b", "c"])
    >>> sorted(sorted(s.items()) for s in p.getSolutions())
    [[('a', 1), ('b', 2), ('c', 3)], [('a', 2), ('b', 3), ('c', 1)]]
    >>> p.getSolutionsAsListDict(order=["c", "b", "a"])[0]
    [(3, 2, 1), (1, 3, 2)]
    """

    def __init__(self, solver: Solver | None = None):
        self._solver = solver if solver is not None else OptimizedBacktrackingSolver()
        self._variables: dict[Hashable, list[Any]] = {}
        self._constraints: list[tuple[Any, Sequence | None]] = []
        self._strings: list[str] = []

    # ---- building
    def reset(self) -> None:
        """Remove every variable and constraint."""
        self._variables.clear()
        self._constraints.clear()
        self._strings.clear()

    def setSolver(self, solver: Solver) -> None:
        """Set the solver (accepted for compatibility; constrint chooses its own search)."""
        self._solver = solver

    def getSolver(self) -> Solver:
        """The solver given (unused by constrint)."""
        return self._solver

    def addVariable(self, variable: Hashable, domain: Iterable[Any]) -> None:
        """Add a variable with the values of ``domain`` (a list, tuple, range, set, ...)."""
        if variable in self._variables:
            raise ValueError(f"Tried to insert duplicated variable {variable!r}")
        if isinstance(domain, (str, bytes)) or not isinstance(domain, Iterable):
            raise TypeError("Domains must be instances of subclasses of the Domain class")
        values = list(dict.fromkeys(domain))
        if not values:
            raise ValueError("Domain is empty")
        self._variables[variable] = values

    def addVariables(self, variables: Sequence[Hashable], domain: Iterable[Any]) -> None:
        """Add several variables with the same domain."""
        values = list(domain)
        for v in variables:
            self.addVariable(v, values)

    def addConstraint(self, constraint: Any, variables: Sequence[Hashable] | None = None) -> None:
        """Add a constraint: a restriction string (or a list of them), a constraint object, or a
        function of the variables' values (``variables`` names them, default all, in order)."""
        if isinstance(constraint, str):
            self._strings.append(constraint)
            return
        if isinstance(constraint, list) and all(isinstance(c, str) for c in constraint):
            self._strings.extend(constraint)
            return
        if isinstance(constraint, CompilableFunctionConstraint):
            self._strings.append(constraint.text)
            return
        if not isinstance(constraint, Constraint):
            if callable(constraint):
                constraint = FunctionConstraint(constraint)
            else:
                raise ValueError("Constraints must be instances of subclasses of the Constraint class")
        self._constraints.append((constraint, variables))

    # ---- the model
    def model(self) -> tuple[Model, dict[str, Hashable], dict[str, dict[int, Any]]]:
        """The constrint model, the original name of each of its variables and the decoding of
        coded values (variable name -> {solver value: original value})."""
        from ..t1 import _Cond, _Param, _parse, _Where

        model = Model()
        names: dict[Hashable, str] = {}
        params: dict[str, _Param] = {}
        decode: dict[str, dict[int, Any]] = {}
        used: set[str] = set()
        for i, (orig, values) in enumerate(self._variables.items()):
            name = orig if isinstance(orig, str) and _IDENT.match(orig) and not keyword.iskeyword(orig) else None
            if name is None or name in KEYWORDS or name in used:
                name = f"_v{i}"
            used.add(name)
            names[orig] = name
            kind, ints, scale, labels = _classify(values)
            var = model.int_var(name, values=ints)
            params[name] = _Param(name, kind, var, scale, values, labels)
            decode[name] = labels
        for text in self._strings:
            where = _Where("<restriction>", f"restriction {text!r}", text)
            try:
                node = _parse(where)
                model.add(_Cond(where, params, model).condition(node))
            except T1Error as exc:
                raise ValueError(f"cannot read the restriction {text!r}: {exc.message}") from None
        for constraint, variables in self._constraints:
            self._add(model, constraint, variables, names, params, decode)
        back = {n: o for o, n in names.items()}
        return model, back, decode

    def _add(self, model, constraint, variables, names, params, decode) -> None:
        from ..t1 import _Cond, _parse, _Where

        if isinstance(constraint, _VariableTarget) and variables is None:
            variables = constraint.variables()
        scope = list(self._variables) if variables is None else list(variables)
        for v in scope:
            if v not in names:
                raise ValueError(f"the constraint names the unknown variable {v!r}")
        internal = [names[v] for v in scope]
        numeric = all(params[n].kind == "int" for n in internal)
        text = constraint.condition(internal) if numeric or getattr(constraint, "any_kind", False) else None
        if isinstance(constraint, AllDifferentConstraint) and numeric:
            from ..global_constraints import all_different

            if len(internal) > 1:
                model.add(all_different([params[n].var for n in internal]))
            return
        if isinstance(constraint, AllEqualConstraint) and numeric:
            vs = [params[n].var for n in internal]
            model.add([vs[0] == v for v in vs[1:]])
            return
        if text is not None:
            where = _Where("<constraint>", type(constraint).__name__, text)
            model.add(_Cond(where, params, model).condition(_parse(where)))
            return
        func = constraint.predicate()
        label = getattr(func, "__name__", type(constraint).__name__)
        label = label if _IDENT.match(label or "") else type(constraint).__name__
        model.add(Predicate(func, [params[n].var for n in internal], [decode[n] for n in internal], label))

    # ---- solutions
    def _solutions(self) -> Iterator[dict[Hashable, Any]]:
        if not self._variables:
            return
        model, back, decode = self.model()
        for s in model.solutions():
            yield {back[n]: (decode[n].get(v, v) if decode[n] else v) for n, v in s.items()}

    def getSolution(self) -> dict[Hashable, Any] | None:
        """One solution, or ``None`` if there is none (or no variable)."""
        return next(self._solutions(), None)

    def getSolutions(self) -> list[dict[Hashable, Any]]:
        """Every solution, as dicts from variable to value."""
        return list(self._solutions())

    def getSolutionIter(self) -> Iterator[dict[Hashable, Any]]:
        """An iterator over the solutions (computed lazily)."""
        return self._solutions()

    getSolutionIterator = getSolutionIter

    def getSolutionsOrderedList(self, order: list[Hashable] | None = None) -> list[tuple]:
        """Every solution as a tuple of values in ``order`` (default: the variables' order).

        Uses the vectorised enumerator: this is the fast way to list a large space.
        """
        if not self._variables:
            return []
        model, back, decode = self.model()
        arr = model.solutions_array()
        order = list(self._variables) if order is None else list(order)
        fwd = {o: n for n, o in back.items()}
        cols = []
        for o in order:
            n = fwd[o]
            col = arr[:, model.var(n).index].tolist()
            lab = decode[n]
            cols.append([lab.get(v, v) for v in col] if lab else col)
        if len(order) == 1:
            return cols[0]
        return list(zip(*cols))

    def getSolutionsAsListDict(
        self, order: list[Hashable] | None = None, validate: bool = True
    ) -> tuple[list[tuple], dict[tuple, int], int]:
        """python-constraint2's form: (solutions as tuples in ``order``, tuple -> index, count)."""
        sols = self.getSolutionsOrderedList(order)
        index = dict(zip(sols, range(len(sols))))
        if validate and len(index) != len(sols):
            raise ValueError("the solutions are not unique")
        return sols, index, len(sols)

    def count(self) -> int:
        """The number of solutions (constrint's exact counting, without listing them)."""
        if not self._variables:
            return 0
        return self.model()[0].count()


def _classify(values: list[Any]) -> tuple[str, list[int], int, dict[int, Any]]:
    """As the T1 reader classifies parameter values; any other hashable values are coded."""
    from ..t1 import _classify as classify_t1
    from ..t1 import _Where

    if all(isinstance(v, (int, float, str)) for v in values):
        try:
            return classify_t1("variable", values, _Where("<domain>", "domain", ""))
        except T1Error:
            pass
    codes: dict[Any, int] = {}
    labels: dict[int, Any] = {}
    for v in values:
        if v not in codes:
            codes[v] = len(codes)
            labels[codes[v]] = v
    return "coded", [codes[v] for v in values], 1, labels


__all__ = [
    "Problem", "Domain", "Unassigned", "Constraint", "Solver", "BacktrackingSolver",
    "OptimizedBacktrackingSolver", "RecursiveBacktrackingSolver", "MinConflictsSolver",
    "ParallelSolver", "AllDifferentConstraint", "AllEqualConstraint", "MaxSumConstraint",
    "MinSumConstraint", "ExactSumConstraint", "MaxProdConstraint", "MinProdConstraint",
    "ExactProdConstraint", "VariableExactSumConstraint", "VariableMaxSumConstraint",
    "VariableMinSumConstraint", "VariableExactProdConstraint", "VariableMaxProdConstraint",
    "VariableMinProdConstraint", "InSetConstraint", "NotInSetConstraint", "SomeInSetConstraint",
    "SomeNotInSetConstraint", "FunctionConstraint", "CompilableFunctionConstraint", "Predicate",
]
