"""Vectorised enumeration with numpy: the fast path for listing and counting solutions.

A component's variables are placed one after another (an order that completes constraints
early); partial solutions are numpy columns, extended by the next variable's values and
filtered by every constraint whose variables are then all placed. Work proceeds in chunks,
depth first, so memory stays near the size of the output. Every constraint of the component is
evaluated on every emitted row: that evaluation is the final check of each solution.
"""
from __future__ import annotations

import operator
from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import Any

import numpy as np

from .errors import ModelError
from .expr import (
    COMPARISON_FUNCTIONS,
    Abs,
    Add,
    And,
    BoolConst,
    Compare,
    Const,
    Divides,
    ExactDiv,
    FloorDiv,
    Max,
    Min,
    Mod,
    Mul,
    Neg,
    Not,
    NotDivides,
    Or,
    Pow,
    Sub,
    TrueDiv,
    Trunc,
    Var,
    walk,
)
from .problem import Opaque, Prepared, check_solution
from .propagators import Store, forward
from .results import Result, Status
from .search import component_solutions

#: Rows handled at once when extending partial solutions. Bounds the join's working set (a few
#: int64 columns of this length, about 1 MiB in all); 2**14 was as fast as 2**16 on the T1 search
#: spaces (benchmarks/searchspaces.py) and keeps the peak near the output's size.
CHUNK_ROWS = 1 << 14
#: Components whose domains hold more values than this per variable go to the search instead.
MAX_VALUES_PER_VAR = 1 << 16
#: ... and whose Cartesian product exceeds this.
MAX_CARTESIAN = 1 << 44
#: Largest magnitude computed in int64 (else Python ints in object arrays).
INT64_SAFE = 1 << 62
#: Largest magnitude for which int-to-float conversion in true division is exact.
FLOAT_SAFE = 1 << 53

# ====================================================================== numpy evaluation


class _Env:
    __slots__ = ("cols", "dtype", "bad")

    def __init__(self, cols: dict[int, Any], dtype: Any):
        self.cols = cols
        self.dtype = dtype
        self.bad: list[Any] = []


def _safe_divisor(d, env: _Env):
    zero = d == 0
    if np.ndim(zero) == 0:
        if zero:
            env.bad.append(True)
            return 1
        return d
    if zero.any():
        env.bad.append(zero)
        d = np.where(zero, 1, d)
        if env.dtype is object:
            d = d.astype(object)
    return d


def _ev(node, env: _Env):
    return _NP[type(node)](node, env)


def _ev_floordiv(n, env):
    d = _safe_divisor(_ev(n.b, env), env)
    return _ev(n.a, env) // d


def _ev_mod(n, env):
    d = _safe_divisor(_ev(n.b, env), env)
    return _ev(n.a, env) % d


def _ev_exactdiv(n, env):
    d = _safe_divisor(_ev(n.b, env), env)
    a = _ev(n.a, env)
    r = a % d
    inexact = r != 0
    if np.ndim(inexact) == 0:
        if inexact:
            env.bad.append(True)
    elif inexact.any():
        env.bad.append(inexact)
    return a // d


def _ev_truediv(n, env):
    d = _safe_divisor(_ev(n.b, env), env)
    a = _ev(n.a, env)
    if env.dtype is object:
        return _objmap(operator.truediv, a, d)
    return np.true_divide(a, d)


def _objmap(fn, a, b):
    if np.ndim(a) == 0 and np.ndim(b) == 0:
        return fn(a, b)
    a, b = np.broadcast_arrays(np.asarray(a, dtype=object), np.asarray(b, dtype=object))
    out = np.empty(a.shape, dtype=object)
    for i in range(a.size):
        out.flat[i] = fn(a.flat[i], b.flat[i])
    return out


def _ev_trunc(n, env):
    v = _ev(n.a, env)
    if n.a.integral:
        return v
    if env.dtype is object or np.ndim(v) == 0:
        if np.ndim(v) == 0:
            return int(v)
        return np.array([int(x) for x in v], dtype=object)
    return np.trunc(v).astype(np.int64)


def _ev_pow(n, env):
    v = _ev(n.a, env)
    if n.p == 0:
        return v * 0 + 1
    return v**n.p


def _cmp(op):
    def f(n, env):
        return op(_ev(n.a, env), _ev(n.b, env))

    return f


def _ev_divides(n, env):
    d = _safe_divisor(_ev(n.a, env), env)
    return _ev(n.b, env) % d == 0


def _ev_notdivides(n, env):
    d = _safe_divisor(_ev(n.a, env), env)
    return _ev(n.b, env) % d != 0


def _ev_and(n, env):
    out = True
    for c in n.children:
        out = np.logical_and(out, _ev(c, env))
    return out


def _ev_or(n, env):
    out = False
    for c in n.children:
        out = np.logical_or(out, _ev(c, env))
    return out


def _ev_compare(n, env):
    return COMPARISON_FUNCTIONS[n.op](_ev(n.a, env), _ev(n.b, env))


_NP: Mapping[type, Callable[..., Any]] = MappingProxyType({
    Const: lambda n, env: n.value,
    Var: lambda n, env: env.cols[n.index],
    Add: lambda n, env: _ev(n.a, env) + _ev(n.b, env),
    Sub: lambda n, env: _ev(n.a, env) - _ev(n.b, env),
    Mul: lambda n, env: _ev(n.a, env) * _ev(n.b, env),
    Neg: lambda n, env: -_ev(n.a, env),
    Abs: lambda n, env: abs(_ev(n.a, env)),
    Min: lambda n, env: np.minimum(_ev(n.a, env), _ev(n.b, env)),
    Max: lambda n, env: np.maximum(_ev(n.a, env), _ev(n.b, env)),
    FloorDiv: _ev_floordiv,
    Mod: _ev_mod,
    ExactDiv: _ev_exactdiv,
    TrueDiv: _ev_truediv,
    Trunc: _ev_trunc,
    Pow: _ev_pow,
    Compare: _ev_compare,
    Divides: _ev_divides,
    NotDivides: _ev_notdivides,
    And: _ev_and,
    Or: _ev_or,
    Not: lambda n, env: np.logical_not(_ev(n.c, env)),
    BoolConst: lambda n, env: n.value,
    Opaque: lambda n, env: _ev(n.c, env),
})


def constraint_mask(c, cols: dict[int, Any], dtype: Any, nrows: int) -> np.ndarray:
    """Boolean mask of rows satisfying constraint ``c`` (false where a division is undefined)."""
    node = c.c if isinstance(c, Opaque) else c
    env = _Env(cols, dtype)
    m = _ev(node, env)
    m = np.broadcast_to(np.asarray(m, dtype=bool), (nrows,))
    for b in env.bad:
        m = m & ~np.broadcast_to(np.asarray(b, dtype=bool), (nrows,))
    return m


def vectorizable(P, cons) -> bool:
    """Whether every constraint can be evaluated with numpy (custom constraints cannot)."""
    for ci in cons:
        for n in walk(P.cons[ci]):
            if type(n) not in _NP:
                return False
    return True


def _needs_object(P, cons, doms) -> bool:
    """Whether some intermediate value may leave the int64 (or exact float) range."""
    store = Store(list(doms))
    memo: dict = {}
    for ci in cons:
        has_true_div = False
        for n in walk(P.cons[ci]):
            t = type(n)
            if t is TrueDiv:
                has_true_div = True
            if t in (Var, Const) or not getattr(n, "integral", False) or not hasattr(n, "a"):
                if t is Const and abs(n.value) >= INT64_SAFE:
                    return True
                continue
            if any(not c.integral for c in n.children):
                continue
            d, _ = forward(n, store, memo)
            if d is not None and max(-d.lo, d.hi) >= (FLOAT_SAFE if has_true_div else INT64_SAFE):
                return True
    for d in doms:
        if max(-d.lo, d.hi) >= INT64_SAFE:
            return True
    return False


# ====================================================================== the join


def _join_order(P, vars_: list[int], cons: set[int], doms) -> list[int]:
    placed: list[int] = []
    placed_set: set[int] = set()
    open_of = {ci: {v for v in P.cvars[ci] if v in set(vars_)} for ci in cons}
    remaining = set(vars_)
    while remaining:
        best, key = None, None
        for v in remaining:
            done = 0
            linked = 0
            for ci in P.var_cons[v]:
                if ci not in open_of:
                    continue
                rest = open_of[ci] - placed_set
                if rest == {v}:
                    done += 1
                elif rest & placed_set or len(open_of[ci] & placed_set) > 0:
                    linked += 1
            k = (-done, -linked, doms[v].size, v)
            if key is None or k < key:
                best, key = v, k
        placed.append(best)
        placed_set.add(best)
        remaining.discard(best)
    return placed


class _Join:
    """Chunked, depth-first join of one component's variables.

    Consecutive variables are joined as one *step* (their Cartesian product, at most
    ``CHUNK_ROWS`` combinations) up to and including the next variable that completes a
    constraint, so no partial rows are materialised for levels that filter nothing. At a step,
    the completed constraints are evaluated on the columns they read only; then every column is
    gathered for the surviving rows. Rows keep the order of the plain nested loop (earlier
    variables vary slowest).
    """

    def __init__(self, P, doms, vars_: list[int], cons: set[int], emit):
        self.P = P
        self.emit = emit
        self.order = _join_order(P, vars_, cons, doms)
        pos = {v: i for i, v in enumerate(self.order)}
        levels: list[list[int]] = [[] for _ in self.order]
        self.closed: list[int] = []
        for ci in cons:
            open_vs = [pos[v] for v in P.cvars[ci] if v in pos]
            if open_vs:
                levels[max(open_vs)].append(ci)
            else:
                self.closed.append(ci)
        self.dtype: Any = object if _needs_object(P, cons, doms) else np.int64
        self.fixed = {
            v: (doms[v].lo if self.dtype is object else np.int64(doms[v].lo))
            for v in range(len(doms))
            if doms[v].is_fixed
        }
        self.values = [np.array(list(doms[v]), dtype=self.dtype) for v in self.order]
        # steps: (first position, stop position, constraints completed at the last position)
        self.steps: list[tuple[int, int, list[int]]] = []
        start, prod = 0, 1
        for k, vals in enumerate(self.values):
            if k > start and prod * len(vals) > CHUNK_ROWS:
                self.steps.append((start, k, []))
                start, prod = k, 1
            prod *= len(vals)
            if levels[k]:
                self.steps.append((start, k + 1, levels[k]))
                start, prod = k + 1, 1
        if start < len(self.order):
            self.steps.append((start, len(self.order), []))
        # positions read by each step's constraints
        self.reads: list[list[int]] = []
        for _a, _b, cis in self.steps:
            used = {
                pos[n.index]
                for ci in cis
                for n in walk(P.cons[ci])
                if isinstance(n, Var) and n.index in pos
            }
            self.reads.append(sorted(used))

    def run(self) -> None:
        for ci in self.closed:
            if not constraint_mask(self.P.cons[ci], dict(self.fixed), self.dtype, 1)[0]:
                return
        self._extend([], 0)

    def _step_column(self, j: int, a: int, b: int, n: int) -> np.ndarray:
        """Column of step variable ``j`` (a <= j < b) over all n * M rows of the step."""
        vals = self.values[j]
        inner = 1
        for i in range(j + 1, b):
            inner *= len(self.values[i])
        outer = n
        for i in range(a, j):
            outer *= len(self.values[i])
        col = np.repeat(vals, inner) if inner > 1 else vals
        return np.tile(col, outer)

    def _extend(self, cols: list[np.ndarray], s: int) -> None:
        if s == len(self.steps):
            if cols and len(cols[0]):
                self.emit(self.order, cols)
            return
        a, b, cis = self.steps[s]
        M = 1
        for i in range(a, b):
            M *= len(self.values[i])
        n = len(cols[0]) if cols else 1
        if n * M > CHUNK_ROWS and n > 1:
            step = max(1, CHUNK_ROWS // M)
            for lo in range(0, n, step):
                self._extend([c[lo : lo + step] for c in cols], s)
            return
        rows = n * M
        if not cis:
            new_cols = [np.repeat(c, M) for c in cols]
            new_cols.extend(self._step_column(j, a, b, n) for j in range(a, b))
            self._extend(new_cols, s + 1)
            return
        env = dict(self.fixed)
        for j in self.reads[s]:
            env[self.order[j]] = np.repeat(cols[j], M) if j < a else self._step_column(j, a, b, n)
        mask = None
        for ci in cis:
            cm = constraint_mask(self.P.cons[ci], env, self.dtype, rows)
            mask = cm if mask is None else (mask & cm)
            if not mask.any():
                return
        del env
        if mask.all():
            new_cols = [np.repeat(c, M) for c in cols]
            new_cols.extend(self._step_column(j, a, b, n) for j in range(a, b))
        else:
            idx = np.flatnonzero(mask)
            del mask
            parent, child = np.divmod(idx, M)
            del idx
            new_cols = [c[parent] for c in cols]
            del parent
            for j in range(b - 1, a - 1, -1):
                m = len(self.values[j])
                if j > a:
                    child, digit = np.divmod(child, m)
                else:
                    digit = child
                new_cols.append(self.values[j][digit])
            # the loop above appended the step's columns last-first
            new_cols[len(cols):] = new_cols[len(cols):][::-1]
        self._extend(new_cols, s + 1)


def component_suits(P, doms, vars_: list[int], cons: set[int]) -> bool:
    """Whether the numpy join is a good way to enumerate this component."""
    if not vectorizable(P, cons):
        return False
    total = 1
    for v in vars_:
        s = doms[v].size
        if s > MAX_VALUES_PER_VAR:
            return False
        total *= s
    return total <= MAX_CARTESIAN


def count_component_vectorized(P, doms, vars_: list[int], cons: set[int]) -> int | None:
    """Number of solutions of a component by the numpy join, or None when it does not suit."""
    if not component_suits(P, doms, vars_, cons):
        return None
    total = 0

    def emit(order, cols):
        nonlocal total
        total += len(cols[0])

    _Join(P, doms, vars_, cons, emit).run()
    return total


def _component_blocks(P, doms, vars_: list[int], cons: set[int], dtype: Any) -> list[np.ndarray]:
    """All solutions of a component as consecutive row blocks, columns in the order of ``vars_``."""
    col = {v: i for i, v in enumerate(vars_)}
    pieces: list[np.ndarray] = []
    if component_suits(P, doms, vars_, cons):

        def emit(order, cols):
            block = np.empty((len(cols[0]), len(vars_)), dtype=dtype)
            for v, c in zip(order, cols):
                block[:, col[v]] = c
            pieces.append(block)

        _Join(P, doms, vars_, cons, emit).run()
    else:
        names = [P.names[v] for v in vars_]
        rows = [[s[n] for n in names] for s in component_solutions(P, doms, vars_, cons)]
        if rows:
            pieces.append(np.array(rows, dtype=dtype))
    return pieces


def array_of(prep: Prepared | None, n: int, dtype: Any, max_rows: int) -> np.ndarray:
    """All solutions of a prepared problem (:func:`constrint.problem.prepare`; ``None`` when
    infeasible) as a 2-D array, one column per variable (``n`` of them) in creation order.

    Peak memory is about the output plus the components' own solutions (never more than the
    output again) plus the join's working chunks: blocks are written straight into the output.
    """
    if prep is None:
        return np.empty((0, n), dtype=dtype or np.int64)
    P, doms, comps, free = prep
    if dtype is None:
        big = any(max(-d.lo, d.hi) >= INT64_SAFE for d in doms)
        dtype = object if big else np.int64
    parts: list[tuple[list[int], list[np.ndarray], int]] = []
    total = 1
    for v in free:
        total *= doms[v].size
    if total > max_rows:
        raise ModelError(f"too many solutions to list ({total}); use count() or solutions()")
    for vars_, cons in comps:
        blocks = _component_blocks(P, doms, vars_, cons, dtype)
        rows = sum(len(b) for b in blocks)
        total *= rows
        if total > max_rows:
            raise ModelError(f"too many solutions to list (over {max_rows}); use count() or solutions()")
        parts.append((vars_, blocks, rows))
        if total == 0:
            return np.empty((0, n), dtype=dtype)
    for v in free:
        parts.append(([v], [np.array(list(doms[v]), dtype=dtype).reshape(-1, 1)], doms[v].size))
    out = np.empty((total, n), dtype=dtype)
    if total == 0:
        return out
    # Cartesian combination: earlier parts vary slowest. Seen as (tiles, k, reps_after, n), the
    # output takes row i of a part at [:, i, :] for that part's columns.
    reps_after = total
    for vars_, blocks, k in parts:
        reps_after //= k
        tiles = total // (k * reps_after)
        view = out.reshape(tiles, k, reps_after, n)
        lo = 0
        blocks.reverse()
        while blocks:
            block = blocks.pop()
            hi = lo + len(block)
            for j, v in enumerate(vars_):
                view[:, lo:hi, :, v] = block[:, j].reshape(1, -1, 1)
            lo = hi
            del block
    return out


def solve_vectorized(model: Any, prep: Prepared, ctx) -> Result | None:
    """Optimise by listing all solutions when there are few; None when that does not suit.

    ``prep`` is the problem as :func:`constrint.problem.prepare` returns it (not None).
    """
    P, doms, comps, free = prep
    estimate = 1
    for v in free:
        estimate *= doms[v].size
    for vars_, cons in comps:
        if not component_suits(P, doms, vars_, cons):
            return None
        for v in vars_:
            estimate *= doms[v].size
    if estimate > 4_000_000:
        return None
    arr = array_of(prep, len(model._vars), None, 1 << 31)
    if len(arr) == 0:
        return Result(Status.INFEASIBLE, nodes=0, seconds=ctx.seconds)
    objective = model._objective
    cols = {v.index: arr[:, v.index] for v in model._vars}
    keys = []
    valid = np.ones(len(arr), dtype=bool)
    for e in objective:
        env = _Env(cols, arr.dtype if arr.dtype != object else object)
        val = np.broadcast_to(np.asarray(_ev(e, env)), (len(arr),))
        for b in env.bad:
            valid &= ~np.broadcast_to(np.asarray(b, dtype=bool), (len(arr),))
        keys.append(val if model._sense > 0 else -val)
    idx = np.flatnonzero(valid)
    if len(idx) == 0:
        return Result(Status.INFEASIBLE, nodes=0, seconds=ctx.seconds)
    if arr.dtype == object:
        best = min(idx, key=lambda i: tuple(k[i] for k in keys))
    else:
        order = np.lexsort([k[idx] for k in reversed(keys)])
        best = idx[order[0]]
    sol = {v.name: int(arr[best, v.index]) for v in model._vars}
    check_solution(P, sol)
    obj = tuple(e.evaluate(sol) for e in objective)
    return Result(Status.OPTIMAL, sol, obj[0] if len(obj) == 1 else obj, nodes=0, seconds=ctx.seconds)

