"""A constrint model as an OR-Tools CP-SAT model, for benchmarks that run both on the same model.

    from cpsat import CpSatModel
    cp = CpSatModel(model)              # every variable, constraint and the objective
    values, objective, seconds = cp.solve()

Bounds of the intermediate CP-SAT variables (products, quotients) come from constrint's forward
propagation over the *declared* domains (no search, no root narrowing); CP-SAT does its own
presolve and propagation. Floor division and modulo are translated only where their operands
cannot be negative (CP-SAT rounds towards zero). A lexicographic objective is solved as CP-SAT
users do: optimise the first key, fix it, optimise the next.

Supported: integer variables, + - * // % ^ (constant exponent), exact division, min, max, abs,
comparisons, divisibility, and/or/not, constraints used as numbers, all_different, element,
table, set membership; anything else raises NotImplementedError naming the node.
"""
from __future__ import annotations

import time
from typing import Any

from ortools.sat.python import cp_model

import constrint as ci
from constrint import expr as E
from constrint.booleans import Reify
from constrint.global_constraints import AllDifferent, Element, InSet, Table
from constrint.propagators import Store, forward


class CpSatModel:
    """The CP-SAT version of a constrint model (built once; :meth:`solve` may be called again)."""

    def __init__(self, model: ci.Model, workers: int = 1):
        self.source = model
        self.workers = workers
        self.md = cp_model.CpModel()
        self.store = Store(list(model._domains))
        self.vars: dict[str, Any] = {}
        for v in model.variables:
            d = model.domain(v)
            self.vars[v.name] = self.md.NewIntVarFromDomain(
                cp_model.Domain.FromValues(list(d)) if d.values is not None else cp_model.Domain(d.lo, d.hi),
                v.name,
            )
        for c in model.constraints:
            self.post(c)
        self.keys: list[Any] = []
        self.maximize = False
        if model.objective is not None:
            exprs, sense = model.objective
            self.keys = [self.lin(e) for e in exprs]
            self.maximize = sense == "maximize"

    # ---- expressions
    def bounds(self, e: E.Expr) -> tuple[int, int]:
        d, _ = forward(e, self.store, {})
        if d is None:
            raise NotImplementedError(f"no value for {e}")
        return d.lo, d.hi

    def new(self, e: E.Expr):
        lo, hi = self.bounds(e)
        return self.md.NewIntVar(lo, hi, "")

    def var_of(self, e: E.Expr):
        x = self.lin(e)
        if isinstance(x, int):
            return x
        if isinstance(e, E.Var):
            return x
        z = self.new(e)
        self.md.Add(z == x)
        return z

    def nonneg(self, *es: E.Expr) -> None:
        for e in es:
            if self.bounds(e)[0] < 0:
                raise NotImplementedError(f"floor division or modulo of a possibly negative {e}")

    def lin(self, e: Any):
        t = type(e)
        if isinstance(e, E.Var):
            return self.vars[e.name]
        if t is E.Const:
            return e.value
        if t is E.Add:
            return self.lin(e.a) + self.lin(e.b)
        if t is E.Sub:
            return self.lin(e.a) - self.lin(e.b)
        if t is E.Neg:
            return -self.lin(e.a)
        if t is E.Mul:
            a, b = self.lin(e.a), self.lin(e.b)
            if isinstance(a, int) or isinstance(b, int):
                return a * b
            z = self.new(e)
            self.md.AddMultiplicationEquality(z, [self.var_of(e.a), self.var_of(e.b)])
            return z
        if t is E.Pow:
            if e.p == 0:
                return 1
            z = self.new(e)
            self.md.AddMultiplicationEquality(z, [self.var_of(e.a)] * e.p)
            return z
        if t in (E.FloorDiv, E.Mod):
            self.nonneg(e.a)
            lo, _ = self.bounds(e.b)
            if lo <= 0:
                raise NotImplementedError(f"a divisor that may be <= 0 in {e}")
            z = self.new(e)
            add = self.md.AddDivisionEquality if t is E.FloorDiv else self.md.AddModuloEquality
            add(z, self.var_of(e.a), self.var_of(e.b))
            return z
        if t is E.ExactDiv:
            z = self.new(e)
            self.md.AddMultiplicationEquality(self.var_of(e.a), [z, self.var_of(e.b)])
            return z
        if t in (E.Min, E.Max):
            z = self.new(e)
            add = self.md.AddMinEquality if t is E.Min else self.md.AddMaxEquality
            add(z, [self.lin(e.a), self.lin(e.b)])
            return z
        if t is E.Abs:
            z = self.new(e)
            self.md.AddAbsEquality(z, self.lin(e.a))
            return z
        if t is Reify:
            b = self.md.NewBoolVar("")
            self.post(e.c, b)
            self.post(e.c.negate(), b.Not())
            return b
        if t is Element:
            z = self.new(e)
            self.md.AddElement(self.var_of(e.index), [self.var_of(x) for x in e.items], z)
            return z
        raise NotImplementedError(f"{t.__name__} in {e}")

    # ---- constraints
    def post(self, c: Any, lit: Any = None) -> None:
        """Post ``c`` (enforced only where the literal ``lit`` is true, if given)."""
        t = type(c)

        def add(ct):
            if lit is not None:
                ct.OnlyEnforceIf(lit)

        if t is E.BoolConst:
            if not c.value:
                add(self.md.AddBoolOr([]))
            return
        if t is E.Compare:
            a, b = self.lin(c.a), self.lin(c.b)
            rel = {"==": a == b, "!=": a != b, "<": a < b, "<=": a <= b, ">": a > b, ">=": a >= b}
            add(self.md.Add(rel[c.op]))
            return
        if t in (E.Divides, E.NotDivides):
            self.nonneg(c.b)
            if self.bounds(c.a)[0] <= 0:
                raise NotImplementedError(f"a divisor that may be <= 0 in {c}")
            r = self.md.NewIntVar(0, max(abs(x) for x in self.bounds(c.a)), "")
            self.md.AddModuloEquality(r, self.var_of(c.b), self.var_of(c.a))
            add(self.md.Add(r == 0) if t is E.Divides else self.md.Add(r != 0))
            return
        if t is E.And:
            for p in c.children:
                self.post(p, lit)
            return
        if t is E.Or:
            lits = []
            for p in c.children:
                b = self.md.NewBoolVar("")  # b <=> p, so that counting sees one b per solution
                self.post(p, b)
                self.post(p.negate(), b.Not())
                lits.append(b)
            add(self.md.AddBoolOr(lits))
            return
        if t is E.Not:
            self.post(c.c.negate(), lit)
            return
        if t is InSet:
            dom = cp_model.Domain.FromValues(sorted(c.values))
            x = self.lin(c.children[0])
            if c.negated:
                lo, hi = self.bounds(c.children[0])
                dom = dom.Complement().IntersectionWith(cp_model.Domain(lo, hi))
            add(self.md.AddLinearExpressionInDomain(x, dom))
            return
        if t is AllDifferent:
            add(self.md.AddAllDifferent([self.lin(e) for e in c.children]))
            return
        if t is Table:
            vs = [self.var_of(e) for e in c.children]
            rows = [list(r) for r in c.rows]
            add(self.md.AddForbiddenAssignments(vs, rows) if c.forbidden else self.md.AddAllowedAssignments(vs, rows))
            return
        raise NotImplementedError(f"{t.__name__}: {c}")

    # ---- solving
    def solve(self, time_limit: float | None = None) -> tuple[dict[str, int] | None, Any, float]:
        """(values, objective, seconds of CP-SAT) of an optimal solution, or of any solution."""
        t0 = time.perf_counter()
        solver = cp_model.CpSolver()
        solver.parameters.num_workers = self.workers
        if time_limit is not None:
            solver.parameters.max_time_in_seconds = time_limit
        values = None
        fixed = []
        for key in self.keys or [None]:
            if key is not None:
                (self.md.Maximize if self.maximize else self.md.Minimize)(key)
            status = solver.Solve(self.md)
            if status not in (cp_model.OPTIMAL, cp_model.FEASIBLE):
                break
            values = {n: solver.Value(v) for n, v in self.vars.items()}
            if key is not None:
                best = solver.Value(key)
                fixed.append(best)
                self.md.Add(key == best)
        self.md.ClearObjective()
        seconds = time.perf_counter() - t0
        objective = None
        if fixed:
            objective = fixed[0] if len(fixed) == 1 else tuple(fixed)
        return values, objective, seconds

    def count(self) -> tuple[int, float]:
        """(number of solutions, seconds) by CP-SAT's enumeration of all solutions."""
        t0 = time.perf_counter()
        n = count_solutions(self.md)
        return n, time.perf_counter() - t0


def count_solutions(md: cp_model.CpModel) -> int:
    """The number of solutions of a CP-SAT model, by enumerating them (one worker, as CP-SAT's
    enumeration needs)."""

    class Counter(cp_model.CpSolverSolutionCallback):
        def __init__(self):
            super().__init__()
            self.n = 0

        def on_solution_callback(self):
            self.n += 1

    solver = cp_model.CpSolver()
    solver.parameters.num_workers = 1
    solver.parameters.enumerate_all_solutions = True
    cb = Counter()
    solver.Solve(md, cb)
    return cb.n
