"""Presolve: a model with some variables given values, reduced to a small model over the rest.

Many models describe a family of problems: some variables are *inputs* (facts the caller knows:
hardware limits, problem sizes), many are *definitions* (a variable ``X`` with a top-level
statement ``X == expression``, naming a quantity a person wants to read), and a few are
*decisions* (what the solver should choose). :meth:`Model.reduce <constrint.Model.reduce>`
(:func:`reduce`) gives the inputs their values and returns a :class:`Reduction`: a small model
over the decisions alone, plus what is needed to read the answer in terms of the original model.

The reduction

1. replaces every input by its value;
2. inlines every definition into the statements that use it (in dependency order; a definition's
   declared range stays a constraint on its expression unless interval arithmetic proves that
   it always holds);
3. folds constant sub-expressions (:func:`constrint.transform.fold`: exact, also for undefined
   operations);
4. turns constraints on a single decision into that decision's domain (exactly, by evaluation,
   for domains of at most :data:`NODE_LIMIT` values; by propagation, keeping the constraint,
   for larger ones).

It is exact: the reduced model has exactly the solutions of the original with the inputs fixed,
projected onto the decisions, and :meth:`Reduction.complete` maps each back (the definitions
follow from the decisions). Statements that the inputs alone make false are listed in
:attr:`Reduction.violated`, with their source line and comment; then there is no reduced model.

Which statements are definitions: a top-level constraint ``X == expression`` (``X`` on the left)
where ``X`` is a variable that is not an input, not named among the ``decisions``, not defined
by an earlier statement and not used by the expression (directly or through other
definitions), and the expression is integer-valued.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from .custom import wrap_custom
from .domain import Domain
from .errors import ModelError
from .expr import And, Compare, Const, Constraint, Expr, Var, all_of, any_of, check_integer, walk
from .propagators import FAILED, Store, forward, revise
from .results import Result, Status
from .statements import Source, Statement
from .transform import fold, fold_statement, rebuild

#: Single-variable constraints on a decision with at most this many values are evaluated value by
#: value and become its domain (and decisions this small get an explicit value set).
NODE_LIMIT = 1 << 16


@dataclass
class Reduction:
    """A model with its inputs given values, reduced to a model over its decisions.

    ``model`` is the reduced :class:`~constrint.Model` (its variables are the decisions, in the
    order of ``decisions``), or ``None`` when ``violated`` is not empty: statements that are false
    for the inputs alone, so that no assignment of the decisions is a solution. ``values`` holds
    the inputs and overrides, ``definitions`` the names of the inlined definitions (in the order
    of their statements).

    >>> import constrint as ci
    >>> m = ci.loads(\'\'\'
    ...   var N in 1..1000;               # problem size
    ...   var T in [32, 64, 128, 256];    # threads per block
    ...   var BLOCKS in 1..1000;
    ...   BLOCKS == (N - 1) // T + 1;     # blocks of the grid
    ...   BLOCKS <= 4;                    # at most four SMs
    ...   minimize T;
    ... \'\'\', filename="grid.cint")
    >>> r = m.reduce({"N": 500})
    >>> r.decisions, r.definitions
    (('T',), ('BLOCKS',))
    >>> str(r.expression("BLOCKS"))
    '499 // T + 1'
    >>> best = r.solve()
    >>> best.values, best.objective
    ({'N': 500, 'T': 128, 'BLOCKS': 4}, 128)
    >>> for st in m.reduce({"N": 5000}).violated:
    ...     print(st)
    grid.cint:2: N in 1..1000  # problem size
    grid.cint:6: BLOCKS <= 4  # at most four SMs
    """

    original: Any
    values: dict[str, int]
    model: Any
    violated: tuple[Statement, ...] = ()
    decisions: tuple[str, ...] = ()
    definitions: tuple[str, ...] = ()
    _inputs: dict[str, int] = field(default_factory=dict, repr=False)
    _overrides: dict[str, int] = field(default_factory=dict, repr=False)
    _decisions_arg: tuple[str, ...] | None = field(default=None, repr=False)
    _order: list[str] = field(default_factory=list, repr=False)
    _defs: dict[str, Expr] = field(default_factory=dict, repr=False)
    _exprs: dict[str, Any] = field(default_factory=dict, repr=False)
    _memo: dict[int, Any] = field(default_factory=dict, repr=False)

    def expression(self, name: str) -> Expr:
        """A variable of the original model as an expression over the reduced model's variables
        (a constant for an input).

        >>> import constrint as ci
        >>> m = ci.loads("var a, b in 1..9; var c in 0..99; c == a * b + 1;")
        >>> str(m.reduce({"a": 3}).expression("c"))
        '3 * b + 1'
        """
        self.original.var(name)  # a ModelError for an unknown name
        if name in self.values:
            return Const(self.values[name])
        e = self._exprs.get(name)
        if e is not None and not _has_var(e):
            return e
        if self.model is None:
            raise ModelError(f"{name!r} has no expression: the inputs violate the model, there is no reduced model")
        return self.model.var(name) if e is None else self._remap(e)

    def _remap(self, node: Any) -> Any:
        model = self.model
        return rebuild(node, lambda var: model.var(var.name), self._memo)

    def complete(self, values: Mapping[str, int]) -> dict[str, int]:
        """The full assignment of the original model (in its variable order) for the decisions'
        ``values``: the inputs, the decisions and the value of every definition.

        Raises :class:`~constrint.Undefined` where a definition is undefined for ``values``
        (never for a solution of the reduced model).

        >>> import constrint as ci
        >>> m = ci.loads("var a, b in 1..9; var c in 0..99; c == a * b + 1;")
        >>> m.reduce({"a": 3}).complete({"b": 4})
        {'a': 3, 'b': 4, 'c': 13}
        """
        missing = [n for n in self.decisions if n not in values]
        if missing:
            raise ModelError(f"no value for the decisions {', '.join(missing)}")
        env: dict[str, int] = dict(self.values)
        for n in self.decisions:
            env[n] = check_integer(values[n], f"value of {n!r}")
        for n in self._order:
            if n not in env:
                env[n] = int(self._defs[n].evaluate(env))
        return {v.name: env[v.name] for v in self.original.variables}

    def solve(self, time_limit: float | None = None, **options: Any) -> Result:
        """Solve the reduced model; the :class:`~constrint.Result` speaks of the original model.

        Its ``values`` are :meth:`complete` (every variable of the original) and its
        ``objective`` is the original objective's value. ``options`` go to
        :meth:`Model.solve <constrint.Model.solve>`.

        >>> import constrint as ci
        >>> m = ci.loads("var a, b in 1..9; var c in 0..99; c == a * b + 1; maximize c;")
        >>> r = m.reduce({"a": 3}).solve()
        >>> r.status.name, r.values, r.objective
        ('OPTIMAL', {'a': 3, 'b': 9, 'c': 28}, 28)
        """
        if self.model is None:
            return Result(Status.INFEASIBLE)
        res = self.model.solve(time_limit, **options)
        if not res.ok:
            return res
        full = self.complete(res.values)
        objective = None
        obj = self.original.objective
        if obj is not None:
            vals = tuple(e.evaluate(full) for e in obj[0])
            objective = vals[0] if len(vals) == 1 else vals
        return Result(res.status, full, objective, res.nodes, res.seconds)

    def fix(self, values: Mapping[str, int]) -> Reduction:
        """The same reduction with some decisions fixed to values too (the rest still free).

        >>> import constrint as ci
        >>> m = ci.loads("var a, b in 1..9; var c in 0..99; c == a * b + 1; maximize c;")
        >>> r = m.reduce({"a": 3}, decisions=["b"])
        >>> r.fix({"b": 2}).solve().values
        {'a': 3, 'b': 2, 'c': 7}
        >>> r.fix({"b": 12}).violated[0].text
        'b in 1..9'
        """
        unknown = [n for n in values if n not in self.decisions]
        if unknown:
            raise ModelError(
                f"only decisions can be fixed; {', '.join(map(repr, unknown))} "
                f"{'is not a decision' if len(unknown) == 1 else 'are not decisions'} "
                f"(decisions: {', '.join(self.decisions) or 'none'})"
            )
        return reduce(self.original, {**self._inputs, **values}, decisions=self._decisions_arg,
                      overrides=self._overrides)


def reduce(
    model: Any,
    inputs: Mapping[str, int],
    *,
    decisions: Sequence[str] | None = None,
    overrides: Mapping[str, int] | None = None,
) -> Reduction:
    """``model`` with ``inputs`` given values, reduced (see the module documentation).

    ``decisions`` names the variables the reduced model is over (in that order); when given,
    every other variable must be an input, an override or a definition (a forgotten input is a
    :class:`~constrint.ModelError`, not a new unknown). ``overrides`` gives definitions a value
    in place of their defining statement (to ask "what if this budget were larger"); an
    override of a variable that is not a definition fixes it like an input.
    """
    variables = model.variables
    by_name = {v.name: v for v in variables}
    fixed: dict[str, int] = {}
    for what, given in (("input", inputs), ("override", overrides or {})):
        if not isinstance(given, Mapping):
            raise ModelError(f"{what}s must be a mapping from variable names to ints, got {type(given).__name__}")
        for name, value in given.items():
            if name not in by_name:
                raise ModelError(f"{what} {name!r} is not a variable of the model")
            fixed[name] = check_integer(value, f"{what} {name!r}")
    over = dict(overrides or {})
    wanted: tuple[str, ...] | None = None
    if decisions is not None:
        if isinstance(decisions, str):
            raise ModelError("decisions must be a list of variable names, not a string")
        wanted = tuple(decisions)
        for name in wanted:
            if name not in by_name:
                raise ModelError(f"decision {name!r} is not a variable of the model")
    statements = model.statements
    defs, def_statement = _definitions(statements, fixed, over, set(wanted or ()))
    free = [v.name for v in variables if v.name not in fixed and v.name not in defs]
    if wanted is not None:
        missing = [n for n in free if n not in wanted]
        if missing:
            raise ModelError(f"no value for the input{'s' if len(missing) > 1 else ''} {', '.join(missing)} "
                             "(neither a decision nor defined by a statement 'X == expression')")
        names = [n for n in wanted if n not in fixed]
    else:
        names = free
    order = _dependency_order(defs)
    defined = tuple(n for n in defs if n not in fixed)
    violated: list[Statement] = []
    for name, value in fixed.items():
        if value not in model.domain(name):
            violated.append(_range_statement(model, name, None))

    # substitution: inputs become constants, definitions their (folded) expressions
    store = Store([model.domain(v) for v in variables])
    bounds: dict = {}
    fold_memo: dict = {}
    subst: dict[str, Any] = {n: Const(v) for n, v in fixed.items()}
    rebuild_memo: dict = {}

    def prove(c: Constraint) -> bool:
        # 'b != 0' where b's bounds exclude 0 over the declared domains
        if type(c) is Compare and c.op == "!=" and type(c.b) is Const and c.b.value == 0:
            d, undefined = forward(c.a, store, bounds)
            return d is not None and not undefined and 0 not in d
        return False

    def substituted(node: Any) -> Any:
        new = rebuild(node, lambda var: subst.get(var.name, var), rebuild_memo)
        if isinstance(new, Constraint):
            return fold_statement(new, fold_memo, prove)
        return fold(new, fold_memo, prove)

    kept: list[tuple[Any, Statement]] = []
    exprs: dict[str, Any] = {}
    for n in order:
        if n in fixed:  # overridden
            continue
        e = substituted(defs[n])
        subst[n] = exprs[n] = e
        dom = model.domain(n)
        if type(e) is Const:
            if e.value not in dom:
                violated.append(_range_statement(model, n, def_statement[n]))
            continue
        if not _has_var(e):  # an undefined constant: the definition has no value
            violated.append(_range_statement(model, n, def_statement[n]))
            continue
        bound, maybe_undefined = forward(e, store, bounds)
        if bound is not None and not maybe_undefined and _within(bound, dom):
            continue
        kept.append((_in_domain(e, dom), _range_statement(model, n, def_statement[n])))
    inlined = {id(s) for s in def_statement.values()}
    for st in statements:
        if id(st) in inlined:
            continue
        c = substituted(st.constraint)
        if not _has_var(c):  # decided by the inputs
            if not c.holds({}):
                violated.append(st)
            continue
        kept.append((c, st))

    # constraints on one decision become its domain
    doms: dict[str, Domain | None] = {n: _node_domain(model.domain(n)) for n in names}
    index = {n: by_name[n].index for n in names}
    rest: list[tuple[Any, Statement]] = []
    kept.sort(key=lambda item: not _is_bounds(item[0]))  # plain bounds first: cheap, exact
    for c, st in kept:
        used = _var_names(c)
        if len(used) != 1:
            rest.append((c, st))
            continue
        (n,) = used
        before = doms[n]
        if before is None:
            continue  # already empty: the statement that emptied it is reported
        after, keep = _narrow(c, n, before, index[n], len(variables))
        doms[n] = after
        if after is None:
            violated.append(st)
        elif keep:
            rest.append((c, st))
    if violated:
        return Reduction(model, dict(fixed), None, tuple(violated), tuple(names), defined, dict(inputs),
                         over, wanted, order, defs, exprs)

    new = type(model)()
    for n in names:
        new.int_var(n, values=doms[n], source=model.source(n))
    out = Reduction(model, dict(fixed), new, (), tuple(names), defined, dict(inputs), over, wanted, order,
                    defs, exprs)
    for c, st in rest:
        new.add(out._remap(c), source=st.source)
    obj = model.objective
    if obj is not None:
        exprs_, sense = obj
        terms = [substituted(e) for e in exprs_]
        terms = [out._remap(e) for e in terms if type(e) is not Const] or [Const(0)]
        (new.minimize if sense == "minimize" else new.maximize)(terms)
    return out


# ====================================================================== helpers


def _definitions(statements: list[Statement], fixed: Mapping[str, int], overrides: Mapping[str, int],
                 decisions: set[str]) -> tuple[dict[str, Expr], dict[str, Statement]]:
    """``name -> expression`` of the definitions (statement order) and each one's statement.

    Definitions of overridden variables are recorded too (their statement is dropped); a
    variable given as an input keeps its defining statement as a constraint.
    """
    defs: dict[str, Expr] = {}
    where: dict[str, Statement] = {}
    deps: dict[str, set[str]] = {}
    for st in statements:
        c = st.constraint
        if type(c) is not Compare or c.op != "==" or type(c.a) is not Var:
            continue
        x = c.a.name
        if x in defs or x in decisions or (x in fixed and x not in overrides) or not c.b.integral:
            continue
        uses = set(c.b.variables())
        if x in uses or _reaches(uses, x, deps):
            continue
        defs[x] = c.b
        where[x] = st
        deps[x] = uses
    return defs, where


def _reaches(start: set[str], target: str, deps: Mapping[str, set[str]]) -> bool:
    """Whether ``target`` is reachable from ``start`` through the definitions' dependencies."""
    seen: set[str] = set()
    stack = list(start)
    while stack:
        n = stack.pop()
        if n == target:
            return True
        if n in seen:
            continue
        seen.add(n)
        stack.extend(deps.get(n, ()))
    return False


def _dependency_order(defs: Mapping[str, Expr]) -> list[str]:
    """The definitions, each after those its expression uses (depth first, statement order)."""
    order: list[str] = []
    done: set[str] = set()
    for root in defs:
        if root in done:
            continue
        stack: list[tuple[str, list[str]]] = [(root, [d for d in defs[root].variables() if d in defs])]
        on_path = {root}
        while stack:
            n, todo = stack[-1]
            while todo and (todo[0] in done or todo[0] in on_path):
                todo.pop(0)
            if todo:
                d = todo.pop(0)
                on_path.add(d)
                stack.append((d, [x for x in defs[d].variables() if x in defs]))
                continue
            stack.pop()
            on_path.discard(n)
            done.add(n)
            order.append(n)
    return order


def _range_statement(model: Any, name: str, definition: Statement | None) -> Statement:
    """The statement "``name`` lies in its declared domain", sourced at its declaration."""
    dom = model.domain(name)
    c = _in_domain(model.var(name), dom)
    decl = model.source(name)
    text = f"{name} in {_domain_text(dom)}"
    comment = decl.comment if decl is not None else ""
    if not comment and definition is not None:
        comment = definition.comment
    where = decl if decl is not None else (definition.source if definition is not None else None)
    if where is None:
        return Statement(c, None)
    return Statement(c, Source(where.filename, where.line, text, comment))


def _domain_text(d: Domain) -> str:
    if d.values is not None and len(d.values) <= 8 and (d.values[-1] - d.values[0] + 1 != len(d.values)
                                                        or len(d.values) == 1):
        return "[" + ", ".join(map(str, d.values)) + "]"
    if d.values is None and (d.factor != 1 or d.primes is not None):
        return repr(d)
    if d.values is not None and d.values[-1] - d.values[0] + 1 != len(d.values):
        return repr(d)
    return f"{d.lo}..{d.hi}"


def _has_var(node: Any) -> bool:
    return any(type(n) is Var for n in walk(node))


def _var_names(c: Any) -> set[str]:
    return {n.name for n in walk(c) if type(n) is Var}


def _within(inner: Domain, outer: Domain) -> bool:
    """Whether every value of ``inner`` lies in ``outer`` (checked cheaply; False if unsure)."""
    if inner.values is not None:
        return all(v in outer for v in inner.values)
    contiguous = outer.values is None or outer.values[-1] - outer.values[0] + 1 == len(outer.values)
    return (contiguous and outer.factor == 1 and outer.primes is None and outer.lo <= inner.lo
            and inner.hi <= outer.hi)


def _in_domain(e: Any, d: Domain) -> Constraint:
    """The constraint that ``e`` lies in ``d``."""
    contiguous = d.values is None or d.values[-1] - d.values[0] + 1 == len(d.values)
    if contiguous and d.factor == 1 and d.primes is None:
        return all_of(Compare(">=", e, Const(d.lo)), Compare("<=", e, Const(d.hi)))
    if d.values is None:
        parts = [Compare(">=", e, Const(d.lo)), Compare("<=", e, Const(d.hi))]
        if d.factor != 1:
            parts.append(Compare("==", e % d.factor, Const(0)))
        if d.primes is not None:
            return all_of(parts + [_smooth(e, d)])
        return all_of(parts)
    return any_of([Compare("==", e, Const(v)) for v in d])


def _smooth(e: Any, d: Domain) -> Constraint:
    """``e`` is a product of the primes of ``d`` (for the rare domains with allowed primes)."""
    return wrap_custom(_InDomain(e, d))


class _InDomain:
    """Custom constraint "``e`` lies in ``d``" for domains that have no constraint form."""

    name = "in_domain"

    def __init__(self, e: Any, d: Domain):
        self.e = e
        self.d = d
        self.variables = list(e.variables().values())

    def evaluate(self, a: Mapping[str, int]) -> bool:
        return self.e.evaluate(a) in self.d

    def propagate(self, doms: Mapping[str, Domain]) -> dict[str, Domain]:
        return {}


_FLIP = {"<": ">", "<=": ">=", ">": "<", ">=": "<=", "==": "==", "!=": "!="}


def _bound_parts(c: Any) -> list[tuple[str, int]] | None:
    """``[(op, k), ...]`` when ``c`` is a conjunction of ``VAR op k`` / ``k op VAR``, else None."""
    parts = c.children if type(c) is And else (c,)
    out = []
    for p in parts:
        if type(p) is not Compare:
            return None
        if type(p.a) is Var and type(p.b) is Const:
            out.append((p.op, p.b.value))
        elif type(p.a) is Const and type(p.b) is Var:
            out.append((_FLIP[p.op], p.a.value))
        else:
            return None
    return out


def _is_bounds(c: Any) -> bool:
    parts = _bound_parts(c)
    return parts is not None and all(op not in ("==", "!=") for op, _ in parts)


def _node_domain(d: Domain) -> Domain:
    """A decision's domain as the reduced model holds it (small ones as explicit value sets)."""
    if d.values is None and d.size <= NODE_LIMIT:
        listed = Domain.from_values(list(d))
        assert listed is not None
        return listed
    return d


def _narrow(c: Any, name: str, d: Domain, index: int, nvars: int) -> tuple[Domain | None, bool]:
    """The domain of the single variable of ``c`` under ``c``, and whether ``c`` must stay."""
    if _is_bounds(c):
        lo = hi = None
        for op, k in _bound_parts(c) or ():
            if op in ("<=", "<"):
                k = k if op == "<=" else k - 1
                hi = k if hi is None else min(hi, k)
            else:
                k = k if op == ">=" else k + 1
                lo = k if lo is None else max(lo, k)
        return d.clip(lo, hi), False
    if d.size <= NODE_LIMIT:
        return _node_domain(d).filter(lambda x: c.holds({name: x})), False
    doms: list[Domain] = [d] * nvars
    st = Store(doms)
    if revise(c, st) == FAILED:
        return None, False
    return st.doms[index], True


__all__ = ["reduce", "Reduction", "NODE_LIMIT"]
