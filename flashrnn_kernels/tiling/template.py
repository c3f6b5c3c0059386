"""A ``.cint`` model with inputs, definitions and decisions, reduced to a small model before solving.

The tiling models (``fused.cint``, ``alternating.cint``) are plain ``.cint`` text; this module
gives three roles to their variables:

* **inputs**: facts the caller knows (GPU constants from :func:`hwmodels.constants`, problem
  sizes). The model declares each with the range it accepts; :meth:`CintTemplate.reduce` replaces
  it by the caller's value (a value outside the declared range is an :class:`InputError`).
* **definitions**: a variable ``X`` with a top-level statement ``X == expression;`` (the first
  such statement about ``X``), e.g. ``U == (D + NSLICE - 1) // NSLICE;``. They name the
  quantities a person wants to read (units per block, registers, bytes of shared memory).
* **decisions**: the remaining variables (the tiling parameters); the caller names them, so a
  forgotten input cannot silently turn into something the solver optimises.

:meth:`CintTemplate.reduce` substitutes the inputs, inlines every definition into the statements
that use it (keeping its declared range as a constraint on the expression, so the set of
solutions is exactly that of the text with the inputs declared as single values), folds constant
sub-expressions and returns a :class:`Reduced` model over the decision variables only. That model
is small: its Cartesian product stays in the range where constrint's exact numpy enumeration
applies, so solving takes milliseconds. :meth:`CintTemplate.render` writes the same model as
self-contained ``.cint`` text (inputs declared as single values) for ``constrint solve``.
"""
from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from constrint import Model, Status, loads
from constrint.domain import Domain
from constrint.propagators import Store, forward
from constrint.expr import (
    And,
    BoolConst,
    Compare,
    Const,
    Constraint,
    Divides,
    ExactDiv,
    Expr,
    FloorDiv,
    Mod,
    Not,
    NotDivides,
    Or,
    Pow,
    TrueDiv,
    Undefined,
    Var,
    all_of,
    any_of,
    rebuild,
    walk,
)

from ..errors import InputError


class TemplateError(InputError):
    """A tiling model does not have the structure its Python side expects (a bug, not user input)."""


@dataclass(frozen=True)
class Statement:
    """One top-level constraint statement of the source: its constraint, line and trailing comment."""

    constraint: Constraint
    line: int
    text: str
    comment: str


@dataclass
class Reduced:
    """A template with its inputs substituted: a model over the decisions, ready to solve.

    ``violated`` lists statements that are false whatever the decisions (then ``model`` is
    ``None``): the inputs themselves rule every configuration out.
    """

    template: CintTemplate
    values: dict[str, int]
    model: Model | None
    violated: list[Statement] = field(default_factory=list)
    _exprs: dict[str, Any] = field(default_factory=dict, repr=False)
    _final: dict[str, Var] = field(default_factory=dict, repr=False)
    _remap_memo: dict[int, Any] = field(default_factory=dict, repr=False)

    def solve(self) -> dict[str, int] | None:
        """The optimal decisions (name -> int), or ``None`` when there are none."""
        if self.model is None:
            return None
        res = self.model.solve()
        if res.status is Status.UNKNOWN:
            raise TemplateError(f"{self.template.name}: the solver stopped without an answer")
        if not res.ok:
            return None
        return dict(res.values)

    def expression(self, name: str) -> Expr:
        """A definition (or decision) as an expression over the reduced model's variables."""
        if name in self._final:
            return self._final[name]
        e = self._exprs[name]
        return e if isinstance(e, Const) else _remap(e, self._final, self._remap_memo)

    def minimize(self, expr: Expr) -> dict[str, int] | None:
        """Solve for the least value of ``expr`` instead of the model's objective (the model is
        changed: use this on a throwaway reduction, e.g. to say how much of a resource is needed)."""
        if self.model is None:
            return None
        self.model.minimize(expr)
        return self.solve()

    def derive(self, decisions: Mapping[str, int]) -> dict[str, int]:
        """The value of every definition for these decisions (and the inputs)."""
        return self.template.evaluate({**self.values, **decisions})


class CintTemplate:
    """A parsed tiling model; see the module documentation for the roles of its variables."""

    def __init__(self, text: str, name: str, decisions: tuple[str, ...]):
        self.text = text
        self.name = name
        self.sha256 = hashlib.sha256(text.encode()).hexdigest()
        self.model = loads(text, filename=name)
        self.statements = _statements(text, self.model)
        names = [v.name for v in self.model.variables]
        missing = [d for d in decisions if d not in names]
        if missing:
            raise TemplateError(f"{name}: decision variables {missing} are not declared")
        self.decisions = tuple(decisions)
        self.definitions: dict[str, Expr] = {}
        self.definition_line: dict[str, int] = {}
        self.constraints: list[Statement] = []
        for st in self.statements:
            c = st.constraint
            if (type(c) is Compare and c.op == "==" and type(c.a) is Var
                    and c.a.name not in self.definitions and c.a.name not in decisions
                    and c.a.name not in c.b.variables()):
                self.definitions[c.a.name] = c.b
                self.definition_line[c.a.name] = st.line
            else:
                self.constraints.append(st)
        self.inputs = tuple(n for n in names if n not in self.definitions and n not in decisions)
        self._order = _topological(self.definitions, name)
        obj = self.model.objective
        self.objective: tuple[Expr, ...] = obj[0] if obj else ()
        self.sense = obj[1] if obj else "minimize"
        self.comments = _comments(text)
        # the decisions with their declared domains (expressions are built over these, then
        # copied onto the variables of each reduced model)
        self._scratch = Model()
        for n in self.decisions:
            d = self.domain(n)
            if d.values is not None:
                self._scratch.int_var(n, values=list(d))
            else:
                self._scratch.int_var(n, d.lo, d.hi)

    # ------------------------------------------------------------------ values
    def domain(self, name: str) -> Domain:
        return self.model.domain(name)

    def check_inputs(self, values: Mapping[str, int]) -> None:
        """InputError unless ``values`` gives every input, within its declared range."""
        missing = [n for n in self.inputs if n not in values]
        if missing:
            raise TemplateError(f"{self.name}: no value for the inputs {', '.join(missing)}")
        unknown = [n for n in values if n not in self.inputs and n not in self.definitions]
        if unknown:
            raise TemplateError(f"{self.name}: {', '.join(unknown)} are not inputs of the model")
        for n in self.inputs:
            v = values[n]
            if isinstance(v, bool) or not isinstance(v, int):
                raise InputError(f"{self.name}: input {n} must be an integer, got {v!r}")
            if v not in self.domain(n):
                raise InputError(f"{self.name}: input {n} = {v} is outside its range {_dom_text(self.domain(n))}"
                                 f"{' (' + self.comments[n] + ')' if n in self.comments else ''}")

    def evaluate(self, assignment: Mapping[str, int]) -> dict[str, int]:
        """Every definition's value under a full assignment of inputs and decisions."""
        env = dict(assignment)
        out: dict[str, int] = {}
        for name in self._order:
            if name in env:  # an override
                out[name] = env[name]
                continue
            v = self.definitions[name].evaluate(env)
            env[name] = out[name] = int(v)
        return out

    # ------------------------------------------------------------------ reduction
    def reduce(self, values: Mapping[str, int], overrides: Mapping[str, int] | None = None) -> Reduced:
        """Substitute ``values`` (every input) and ``overrides`` (inputs or definitions given a
        fixed value, e.g. a relaxed budget) and inline the definitions; see the module doc."""
        self.check_inputs(values)
        fixed: dict[str, int] = dict(values)
        fixed.update(overrides or {})
        m0 = self._scratch
        subst: dict[str, Expr] = {v.name: v for v in m0.variables}
        for n, v in fixed.items():
            subst[n] = Const(v)
        violated: list[Statement] = []
        memo: dict[int, Any] = {}
        store = Store([m0.domain(v) for v in m0.variables])
        bounds_memo: dict = {}

        def prove(c: Constraint) -> bool:  # 'b != 0' where b's bounds exclude 0
            if type(c) is Compare and c.op == "!=" and type(c.b) is Const and c.b.value == 0:
                d, undefined = forward(c.a, store, bounds_memo)
                return d is not None and not undefined and 0 not in d
            return False

        kept: list[tuple[Constraint, Statement]] = []
        for n in self._order:
            if n in fixed:
                continue
            e = _fold(rebuild(self.definitions[n], lambda var: subst[var.name]), memo, prove)
            subst[n] = e
            dom = self.domain(n)
            if isinstance(e, Const):
                if e.value not in dom:
                    violated.append(self._range_statement(n))
                continue
            # the declared range only matters where the expression's bounds can leave it
            # (forward bounds over-approximate, so a range that contains them always holds)
            bound, maybe_undefined = forward(e, store, bounds_memo)
            if bound is not None and not maybe_undefined and _within(bound, dom):
                continue
            kept.append((_in_domain(e, dom), self._range_statement(n)))
        for st in self.constraints:
            c = _fold(rebuild(st.constraint, lambda var: subst[var.name]), memo, prove)
            if isinstance(c, BoolConst):
                if not c.value:
                    violated.append(st)
                continue
            kept.append((c, st))
        # node consistency: constraints on one decision become that decision's domain (exact)
        values = {n: list(self.domain(n)) for n in self.decisions}
        rest: list[Constraint] = []
        kept.sort(key=lambda item: not _is_simple(item[0]))  # cheap bounds first
        for c, st in kept:
            names = c.variables() if isinstance(c, Expr) else _var_names(c)
            if len(names) != 1:
                rest.append(c)
                continue
            (n,) = names
            before = values[n]
            lo, hi = _simple_bounds(c, n)
            cand = [x for x in before if lo <= x <= hi]
            if not _is_simple(c):
                cand = [x for x in cand if _holds(c, {n: x})]
            values[n] = cand
            if not cand and before:
                violated.append(st)
        if violated:
            return Reduced(self, dict(fixed), None, violated)
        m = Model()
        final = {n: m.int_var(n, values=values[n]) for n in self.decisions}
        remap: dict[int, Any] = {}
        for c in rest:
            m.add(_remap(c, final, remap))
        if self.objective:
            obj = [_fold(rebuild(e, lambda var: subst[var.name]), memo, prove) for e in self.objective]
            obj = [_remap(e, final, remap) for e in obj if not isinstance(e, Const)] or [Const(0)]
            (m.minimize if self.sense == "minimize" else m.maximize)(obj)
        return Reduced(self, dict(fixed), m, [], {n: subst[n] for n in self.definitions if n in subst}, final,
                       remap)

    def _range_statement(self, n: str) -> Statement:
        return Statement(BoolConst(False), self.definition_line[n], f"{n} in {_dom_text(self.domain(n))}",
                         self.comments.get(n, ""))

    def render(self, values: Mapping[str, int]) -> str:
        """The model as self-contained ``.cint`` text: the inputs declared as their values."""
        self.check_inputs(values)
        head = ["# " + self.name + " with its inputs set (generated by flashrnn_kernels.tiling)"]
        head += [f"var {n} in [{values[n]}];" for n in self.inputs]
        body = []
        for line in self.text.splitlines():
            code = line.split("#", 1)[0]
            if code.strip().startswith("var ") and any(_declares(code, n) for n in self.inputs):
                line = "# (input) " + line
            body.append(line)
        return "\n".join(head) + "\n" + "\n".join(body) + "\n"


# ====================================================================== helpers


@lru_cache(maxsize=32)
def load_template(path: str, decisions: tuple[str, ...], text_hash: str) -> CintTemplate:
    """A parsed template (cached per process by path and content)."""
    text = Path(path).read_text(encoding="utf-8")
    return CintTemplate(text, Path(path).name, decisions)


def _declares(code: str, name: str) -> bool:
    head = code.strip()[4:].split(" in ", 1)[0]
    return name in [p.strip() for p in head.split(",")]


def _dom_text(d: Domain) -> str:
    if d.values is not None and len(d.values) <= 8 and (d.values[-1] - d.values[0] + 1 != len(d.values)
                                                        or len(d.values) == 1):
        return "[" + ", ".join(map(str, d.values)) + "]"
    return f"{d.lo}..{d.hi}"


def _var_names(c: Any) -> set[str]:
    return {n.name for n in walk(c) if isinstance(n, Var)}


def _holds(c: Constraint, a: Mapping[str, int]) -> bool:
    try:
        return bool(c.holds(a))
    except (Undefined, ZeroDivisionError):  # pragma: no cover - holds() already says False
        return False


_FLIP = {"<": ">", "<=": ">=", ">": "<", ">=": "<=", "==": "==", "!=": "!="}


def _bound_parts(c: Any) -> list[tuple[str, int]] | None:
    """``[(op, k), ...]`` when ``c`` is a conjunction of ``VAR op k`` / ``k op VAR``, else None."""
    parts = c.children if isinstance(c, And) else (c,)
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


def _is_simple(c: Any) -> bool:
    parts = _bound_parts(c)
    return parts is not None and all(op not in ("==", "!=") for op, _ in parts)


def _simple_bounds(c: Any, name: str) -> tuple[float, float]:
    """Bounds on the one variable of ``c`` that its ``VAR <= k`` parts give (else infinite)."""
    lo, hi = float("-inf"), float("inf")
    for op, k in _bound_parts(c) or ():
        if op == "<=":
            hi = min(hi, k)
        elif op == "<":
            hi = min(hi, k - 1)
        elif op == ">=":
            lo = max(lo, k)
        elif op == ">":
            lo = max(lo, k + 1)
        elif op == "==":
            lo, hi = max(lo, k), min(hi, k)
    return lo, hi


def _remap(node: Any, final: Mapping[str, Var], memo: dict[int, Any]) -> Any:
    """A copy of ``node`` over the variables ``final`` (by name), sharing shared sub-trees."""
    if isinstance(node, Var):
        return final[node.name]
    if isinstance(node, (Const, BoolConst)):
        return node
    hit = memo.get(id(node))
    if hit is not None:
        return hit[1]
    kids = [_remap(k, final, memo) for k in node.children]
    if isinstance(node, Compare):
        new = Compare(node.op, kids[0], kids[1])
    elif isinstance(node, (And, Or)):
        new = type(node)(kids)
    elif isinstance(node, Not):
        new = Not(kids[0])
    elif isinstance(node, Pow):
        new = Pow(kids[0], node.p)
    else:
        new = type(node)(*kids)
    memo[id(node)] = (node, new)
    return new


def _within(inner: Domain, outer: Domain) -> bool:
    """Whether every value of ``inner`` lies in ``outer`` (checked cheaply; False if unsure)."""
    if inner.values is not None:
        return all(v in outer for v in inner.values)
    contiguous = outer.values is None or outer.values[-1] - outer.values[0] + 1 == len(outer.values)
    return contiguous and outer.factor == 1 and outer.primes is None and outer.lo <= inner.lo \
        and inner.hi <= outer.hi


def _in_domain(e: Expr, d: Domain) -> Constraint:
    """The constraint that ``e`` lies in ``d``."""
    contiguous = d.values is None or d.values[-1] - d.values[0] + 1 == len(d.values)
    if contiguous and d.factor == 1 and d.primes is None:
        return all_of(Compare(">=", e, Const(d.lo)), Compare("<=", e, Const(d.hi)))
    return any_of([Compare("==", e, Const(v)) for v in d])


def _fold(node: Any, memo: dict[int, Any] | None = None, prove: Any = None) -> Any:
    """Constant sub-trees replaced by their value; constant parts of ``and``/``or`` resolved.

    Exact under constrint's semantics: an undefined constant part is kept as it is, and
    ``true or X`` keeps the requirement that the divisions in ``X`` be defined. Sub-trees shared
    by identity (an inlined definition used in several places) stay shared (``memo``).
    """
    if isinstance(node, (Const, Var, BoolConst)) or hasattr(node, "rebind"):
        return node
    if memo is None:
        memo = {}
    key = id(node)
    hit = memo.get(key)
    if hit is not None:
        return hit[1]
    kids = [_fold(c, memo, prove) for c in node.children]
    if isinstance(node, Compare):
        new = Compare(node.op, kids[0], kids[1])
    elif isinstance(node, (And, Or)):
        new = _fold_bool(type(node), kids, prove)
        memo[key] = (node, new)
        return new
    elif isinstance(node, Not):
        new = Not(kids[0])
    elif isinstance(node, Pow):
        new = Pow(kids[0], node.p)
    elif all(k is c for k, c in zip(kids, node.children)):
        new = node
    else:
        new = type(node)(*kids)
    if all(isinstance(k, (Const, BoolConst)) for k in kids):
        try:
            v = new.evaluate({}) if isinstance(new, Expr) else new.holds({})
        except (Undefined, ZeroDivisionError):
            v = None
        if v is not None:
            if isinstance(new, Expr):
                if new.integral:
                    new = Const(int(v))
            else:
                new = BoolConst(bool(v))
    memo[key] = (node, new)  # keep node alive: ids must not be reused while memo lives
    return new


def _fold_bool(kind: type, kids: list[Any], prove: Any = None) -> Any:
    is_or = kind is Or
    parts: list[Any] = []
    decided = False
    for k in kids:
        if isinstance(k, BoolConst):
            if k.value == is_or:  # 'true or ...' / 'false and ...'
                decided = True
            continue
        parts.append(k)
    if decided:
        if not is_or:
            return BoolConst(False)
        guards = [g for p in parts for g in _definedness(p, prove)]
        return _fold_bool(And, guards) if guards else BoolConst(True)
    if not parts:
        return BoolConst(not is_or)
    if len(parts) == 1:
        return parts[0]
    return kind(parts)


def _definedness(c: Any, prove: Any = None) -> list[Any]:
    """Constraints under which every division in ``c`` is defined (those ``prove`` shows to hold
    everywhere are dropped)."""
    out: list[Any] = []
    seen: set[str] = set()
    for n in walk(c):
        t = type(n)
        if t in (FloorDiv, Mod, TrueDiv):
            g = Compare("!=", n.b, Const(0))
        elif t is ExactDiv:
            g = Divides(n.b, n.a)
        elif t in (Divides, NotDivides):
            g = Compare("!=", n.a, Const(0))
        else:
            continue
        g = _fold(g)
        if isinstance(g, BoolConst) and g.value or prove is not None and prove(g):
            continue
        if str(g) not in seen:
            seen.add(str(g))
            out.append(g)
    return out


def _topological(defs: Mapping[str, Expr], name: str) -> list[str]:
    order: list[str] = []
    state: dict[str, int] = {}

    def visit(n: str, path: list[str]) -> None:
        s = state.get(n)
        if s == 2:
            return
        if s == 1:
            raise TemplateError(f"{name}: definitions form a cycle: {' -> '.join(path + [n])}")
        state[n] = 1
        for dep in defs[n].variables():
            if dep in defs:
                visit(dep, path + [n])
        state[n] = 2
        order.append(n)

    for n in defs:
        visit(n, [])
    return order


def _statements(text: str, model: Model) -> list[Statement]:
    """The model's constraints with the line and trailing comment of each statement."""
    from constrint.language.grammar import parser

    tree = parser().parse(text, start="start")
    lines = text.splitlines()
    out = []
    cons = model.constraints
    k = 0
    for st in tree.children:
        if st is None or st.data != "constraint":
            continue
        line = st.meta.line
        end = st.meta.end_line
        src = lines[line - 1: end]
        code = " ".join(s.split("#", 1)[0].strip() for s in src).strip()
        comment = ""
        for s in reversed(src):
            if "#" in s:
                comment = s.split("#", 1)[1].strip()
                break
        out.append(Statement(cons[k], line, code, comment))
        k += 1
    if k != len(cons):
        raise TemplateError("statement/constraint mismatch while reading a tiling model")
    return out


def _comments(text: str) -> dict[str, str]:
    """``name -> comment`` for declaration lines ``var NAME ... ;  # comment`` and definitions."""
    out: dict[str, str] = {}
    for line in text.splitlines():
        if "#" not in line:
            continue
        code, comment = line.split("#", 1)
        code = code.strip()
        comment = comment.strip()
        if code.startswith("var "):
            for n in code[4:].split(" in ", 1)[0].split(","):
                n = n.strip().rstrip(";")
                if n:
                    out.setdefault(n, comment)
        elif "==" in code:
            n = code.split("==", 1)[0].strip()
            if n.isidentifier():
                out.setdefault(n, comment)
    return out


__all__ = ["CintTemplate", "Reduced", "Statement", "TemplateError", "load_template"]
