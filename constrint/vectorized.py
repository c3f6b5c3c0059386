"""Vectorised enumeration with numpy: the fast path for listing and counting solutions.

A component's variables are placed one after another (an order that completes constraints
early); partial solutions are numpy columns, extended by the next variable's values and
filtered by every constraint whose variables are then all placed. Work proceeds in chunks,
depth first, so memory stays near the size of the output. Every constraint of the component is
evaluated on every emitted row: that evaluation is the final check of each solution.
"""
from __future__ import annotations

import heapq
import math
import operator
from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import Any

import numpy as np

from .errors import ModelError
from .expr import (
    COMPARISON_FUNCTIONS,
    Abs,
    And,
    BoolConst,
    Compare,
    Const,
    Divides,
    ExactDiv,
    Expr,
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
    Product,
    Sum,
    TrueDiv,
    Trunc,
    Var,
    walk,
)
from .problem import Opaque, Prepared, check_solution
from .propagators import Store, forward
from .results import Result, Status
from .search import component_solutions
from .transform import linear_form

#: Rows handled at once when extending partial solutions. Bounds the join's working set (a few
#: int64 columns of this length) and keeps the peak near the output's size. Every work array of
#: a chunk (64 KiB of int64) stays below the size from which the C library maps each allocation
#: afresh from the system (128 KiB by default in glibc, until a process has freed a larger
#: block): the allocator then reuses the freed work arrays of one chunk for the next, so the run
#: time does not depend on what the process allocated before (benchmarks/process_history.py).
CHUNK_ROWS = 1 << 13


def _settle_allocator() -> None:
    """Free one block of 1 MiB, above glibc's initial mmap threshold. glibc then raises its
    thresholds for good (mmap: to that size; trimming the heap: to twice it, mallopt(3)), so the
    chunks' freed work arrays stay in the heap for the next count instead of being returned to
    the system and faulted in again. Processes that freed large blocks before (numpy's own
    import, say) are already in that state; this makes the state independent of the order in
    which modules were imported. Harmless with other allocators."""
    block = np.empty(1 << 20, dtype=np.uint8)
    block.fill(0)
    del block


_settle_allocator()
#: Components whose domains hold more values than this per variable go to the search instead.
MAX_VALUES_PER_VAR = 1 << 16
#: ... and whose Cartesian product exceeds this, unless the join's estimated work is at most
#: MAX_JOIN_WORK rows.
MAX_CARTESIAN = 1 << 44
MAX_JOIN_WORK = 1 << 34
#: Largest magnitude computed in int64 (else Python ints in object arrays).
INT64_SAFE = 1 << 62
#: Largest magnitude for which int-to-float conversion in true division is exact.
FLOAT_SAFE = 1 << 53

# ====================================================================== numpy evaluation


class _Env:
    __slots__ = ("bad", "cols", "done", "dtype")

    def __init__(self, cols: dict[int, Any], dtype: Any, done: dict[int, Any] | None = None):
        self.cols = cols
        self.dtype = dtype
        self.bad: list[Any] = []
        #: the nodes with children evaluated so far on these columns, by id, each with its value
        #: and the rows where computing it was undefined: a subexpression shared by several terms
        #: or constraints (a substituted definition) is computed once
        self.done: dict[int, Any] = {} if done is None else done


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
    if not node.children:
        rule = _NP.get(type(node))
        return rule(node, env) if rule is not None else node.numpy(env)
    hit = env.done.get(id(node))
    if hit is not None:
        env.bad.extend(hit[1])
        return hit[0]
    first = len(env.bad)
    rule = _NP.get(type(node))
    # kinds beyond the arithmetic here evaluate themselves (constrint.booleans, .intops, ...)
    v = rule(node, env) if rule is not None else node.numpy(env)
    env.done[id(node)] = (v, env.bad[first:])
    return v


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
        return _objmap_partial(operator.truediv, a, d, env)
    return np.true_divide(a, d)


def _ev_trunc(n, env):
    v = _ev(n.a, env)
    if n.a.integral:
        return v
    return float_to_int(v, env, int, np.trunc)


def float_to_int(v, env: _Env, python_fn, numpy_fn):
    """Integers from float values, as ``python_fn`` gives them (``int``, ``round``); rows with
    an infinite or NaN value (where Python raises) are undefined."""
    if env.dtype is object or np.ndim(v) == 0:
        return _objmap_partial(lambda x, _: python_fn(x), v, 0, env)
    v = np.asarray(v, dtype=np.float64)
    bad = ~np.isfinite(v)
    if bad.any():
        env.bad.append(bad)
        v = np.where(bad, 0.0, v)
    return numpy_fn(v).astype(np.int64)


def _objmap_partial(fn, a, b, env: _Env):
    """``fn`` element by element on Python values; where it raises, the row is undefined."""
    scalar = np.ndim(a) == 0 and np.ndim(b) == 0
    a, b = np.broadcast_arrays(np.asarray(a, dtype=object), np.asarray(b, dtype=object))
    out = np.empty(a.shape, dtype=object)
    bad = np.zeros(a.shape, dtype=bool)
    for i in range(a.size):
        try:
            out.flat[i] = fn(a.flat[i], b.flat[i])
        except (ArithmeticError, ValueError):
            bad.flat[i] = True
            out.flat[i] = 0
    if bad.any():
        env.bad.append(bad)
    return out[()] if scalar else out


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


def _ev_sum(n, env):
    kids = n.children
    total = _ev(kids[0], env)
    for t, s in zip(kids[1:], n.signs[1:]):
        v = _ev(t, env)
        total = total + v if s > 0 else total - v
    return total


def _ev_product(n, env):
    kids = n.children
    total = _ev(kids[0], env)
    for f in kids[1:]:
        total = total * _ev(f, env)
    return total


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
    Sum: _ev_sum,
    Mul: lambda n, env: _ev(n.a, env) * _ev(n.b, env),
    Product: _ev_product,
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


def constraint_mask(c, cols: dict[int, Any], dtype: Any, nrows: int, done: dict[int, Any] | None = None,
                    ) -> np.ndarray:
    """Boolean mask of rows satisfying constraint ``c`` (false where a division is undefined).
    ``done``: the values of subexpressions already computed on the same ``cols`` (see
    :class:`_Env`), shared by the constraints of one join step; ``c``'s are added."""
    node = c.c if isinstance(c, Opaque) else c
    env = _Env(cols, dtype, done)
    try:
        m = _ev(node, env)
    except (ArithmeticError, ValueError):
        # a Python operation on object values raised (a float beyond range): row by row
        return _rowwise_mask(node, cols, nrows)
    m = np.broadcast_to(np.asarray(m, dtype=bool), (nrows,))
    for b in env.bad:
        m = m & ~np.broadcast_to(np.asarray(b, dtype=bool), (nrows,))
    return m


def _rowwise_mask(node, cols: dict[int, Any], nrows: int) -> np.ndarray:
    """The mask of ``node`` computed by its own evaluation, one row at a time."""
    names = {n.index: n.name for n in walk(node) if isinstance(n, Var)}
    columns = {i: np.broadcast_to(np.asarray(cols[i], dtype=object), (nrows,)) for i in names}
    out = np.zeros(nrows, dtype=bool)
    for r in range(nrows):
        out[r] = node.holds({names[i]: columns[i][r] for i in names})
    return out


def vectorizable(P, cons) -> bool:
    """Whether every constraint can be evaluated with numpy (custom constraints cannot)."""
    for ci in cons:
        for n in walk(P.cons[ci]):
            if type(n) not in _NP and not callable(getattr(n, "numpy", None)):
                return False
    return True


def _needs_object(P, cons, doms) -> bool:
    """Whether some value may leave the range where numpy computes exactly what Python does.

    Integers must stay below 2**62 in magnitude (int64 without overflow). In a constraint with
    a float-valued part (a true division), every integer value, variables and constants
    included, must stay below 2**53: numpy turns the integers a float meets into float64, which
    is exact only there, while Python divides integers with one correct rounding and compares a
    float with an integer exactly.
    """
    store = Store(list(doms))
    memo: dict = {}
    for ci in cons:
        nodes = list(walk(P.cons[ci]))
        floats = any(not getattr(n, "integral", True) for n in nodes)
        if any(getattr(n, "needs_python", False) for n in nodes):
            return True
        if floats:
            mags = _magnitudes(nodes, store, memo)
            if any(isinstance(n, Expr) and n.integral and mags[id(n)] >= FLOAT_SAFE for n in nodes):
                return True
        elif any(isinstance(n, Expr) and _bound(n, store, memo) >= INT64_SAFE for n in nodes):
            return True  # every node integral: forward's bounds (shared through memo) suffice
    return any(max(-d.lo, d.hi) >= INT64_SAFE for d in doms)


def _bound(node, store, memo) -> float:
    """An upper bound of the magnitude of an integral expression's values; inf when unknown."""
    d, _ = forward(node, store, memo)
    if d is None:
        return math.inf
    m = max(-d.lo, d.hi)
    return float(m) if m < 2**1023 else math.inf  # beyond float64's range


def _magnitudes(nodes, store, memo) -> dict[int, float]:
    """Upper bounds of the magnitudes of the expressions among ``nodes`` (all nodes of a tree),
    by ``id``; inf where unknown. One pass, each node after its children."""
    whole: dict[int, bool] = {}  # id -> the node and every node below it are integral
    mags: dict[int, float] = {}  # id -> bound, for every expression
    for node in _children_first(nodes):
        key = id(node)
        whole[key] = getattr(node, "integral", True) and all(whole[id(c)] for c in node.children)
        if isinstance(node, Expr):
            if whole[key]:
                mags[key] = _bound(node, store, memo)
            else:
                kids = [mags[id(c)] for c in node.children if isinstance(c, Expr)]
                mags[key] = _magnitude_of(node, kids)
    return mags


def _children_first(nodes) -> list[Any]:
    """``nodes`` (each once) ordered so that every node comes after its children."""
    out: list[Any] = []
    placed: set[int] = set()
    for root in nodes:
        stack = [(root, False)]
        while stack:
            node, expanded = stack.pop()
            if id(node) in placed:
                continue
            if expanded:
                placed.add(id(node))
                out.append(node)
                continue
            stack.append((node, True))
            stack.extend((c, False) for c in node.children if id(c) not in placed)
    return out


def _magnitude_of(node, kids: list[float]) -> float:
    """An upper bound of the magnitude of an expression with a float-valued part below it, from
    the bounds ``kids`` of its expression children; inf when unknown."""
    if getattr(node, "boolean", False) and type(node).__name__ == "Reify":
        return 1.0
    t = type(node)
    if node.integral:
        # an integer computed from floats (int(), round()) or chosen among values
        return max(kids, default=math.inf) + 1
    if len(kids) != len(node.children) and t.__name__ != "IfThenElse":
        return math.inf
    if t is TrueDiv and node.b.integral:
        return kids[0]  # a non-zero integer divisor has magnitude at least 1
    if t is Sum:
        return sum(kids)
    if t is Mul or t is Product:
        return math.inf if math.inf in kids else math.prod(kids)
    if t is Mod:
        return kids[1]  # |a % b| < |b|
    if t is Pow:
        try:
            return kids[0] ** node.p
        except OverflowError:
            return math.inf
    if t in (Neg, Abs, Min, Max) or t.__name__ in ("IfThenElse", "Element"):
        return max(kids, default=math.inf)
    return math.inf


# ====================================================================== the join


def _checks_and_tables(P, vars_: list[int], cons: set[int], doms) -> tuple[list[Any], list[Any]]:
    """What the join evaluates (constraints, global ones split into their parts) and the
    tables whose rows it joins."""
    in_comp = set(vars_)
    checks: list[Any] = []
    tables: list[Any] = []
    for ci in sorted(cons):
        c = P.cons[ci]
        joinable = getattr(c, "joinable", None)  # a table whose rows the join can take as a step
        if joinable is not None and joinable() and all(e.index in in_comp for e in c.children):
            tables.append(c)
            continue
        parts = c.join_parts() if hasattr(c, "join_parts") else None
        checks.extend(parts if parts else [c])
    return checks, tables


def _node_vars(c) -> set[int]:
    return {n.index for n in walk(c) if isinstance(n, Var)}


def _join_order(vars_: list[int], checks: list[Any], tables: list[Any], doms) -> tuple[list[int], dict[int, Any]]:
    """Variables in join order (tables' variables consecutive) and the tables by first position."""
    in_comp = set(vars_)
    scopes = [_node_vars(c) & in_comp for c in checks]
    by_var: dict[int, list[int]] = {v: [] for v in vars_}
    for k, sc in enumerate(scopes):
        for v in sc:
            by_var[v].append(k)
    table_of: dict[int, Any] = {}
    for t in tables:
        for e in t.children:
            table_of.setdefault(e.index, t)
    # A check counts for an unplaced variable of its scope as "done" when that variable is the
    # last one it waits for, as "linked" when some of its variables are placed. A check changes
    # state at most twice, so keeping the counts (and a heap of the variables' keys, stale
    # entries skipped) costs the scopes' total size, not that times the number of variables.
    left = [len(sc) for sc in scopes]
    done = dict.fromkeys(vars_, 0)
    linked = dict.fromkeys(vars_, 0)

    def state(k: int) -> int:
        return 2 if left[k] == 1 else 1 if left[k] < len(scopes[k]) else 0

    for k, sc in enumerate(scopes):
        if state(k) == 2:
            for v in sc:
                done[v] += 1

    def key(v: int) -> tuple:
        return (v not in table_of, -done[v], -linked[v], doms[v].size, v)

    heap = [key(v) for v in vars_]
    heapq.heapify(heap)
    placed: list[int] = []
    placed_set: set[int] = set()
    blocks: dict[int, Any] = {}
    opened: set[int] = set()

    def place(u: int) -> None:
        placed.append(u)
        placed_set.add(u)
        for k in by_var[u]:
            before = state(k)
            left[k] -= 1
            after = state(k)
            if after == before:
                continue
            for v in scopes[k]:
                if v in placed_set:
                    continue
                for s_, sign in ((before, -1), (after, 1)):
                    if s_ == 2:
                        done[v] += sign
                    elif s_ == 1:
                        linked[v] += sign
                heapq.heappush(heap, key(v))

    while len(placed) < len(vars_):
        top = heapq.heappop(heap)
        best = top[-1]
        if best in placed_set or top != key(best):
            continue  # a stale entry
        t = table_of.get(best)
        if t is not None and id(t) not in opened:
            opened.add(id(t))
            blocks[len(placed)] = t
            group = list(dict.fromkeys(e.index for e in t.children if e.index not in placed_set))
        else:
            group = [best]
        for v in group:
            place(v)
    return placed, blocks


def _linear_check(c: Any) -> tuple[dict[int, int], int, str] | None:
    """A comparison ``sum(k * x) + c OP 0`` (OP not '!='), or None."""
    lin = linear_form(c)
    if lin is None or lin[0] == "!=":
        return None
    op, const, coefs = lin
    return coefs, const, op


class _Partial:
    """A linear constraint seen before all its variables are placed: the placed part plus the
    bounds of the rest must leave the relation possible (never removes a row of a solution)."""

    def __init__(self, placed: dict[int, int], coefs: dict[int, int], const: int, op: str, doms, pos, dtype):
        self.placed = placed
        self.op = op
        rest_lo = rest_hi = const
        for v, k in coefs.items():
            if v in placed:
                continue
            d = doms[v]
            rest_lo += k * d.lo if k > 0 else k * d.hi
            rest_hi += k * d.hi if k > 0 else k * d.lo
        self.rest = (rest_lo, rest_hi)
        big = sum(abs(k) * max(abs(doms[v].lo), abs(doms[v].hi)) for v, k in placed.items())
        # int64 sums only (an object-valued join evaluates the full constraint at completion)
        self.useful = dtype is not object and big + abs(rest_lo) + abs(rest_hi) < INT64_SAFE

    def mask(self, env: dict[int, Any], rows: int) -> np.ndarray:
        total: Any = 0
        for v, k in self.placed.items():
            total = total + k * env[v]
        lo, hi = total + self.rest[0], total + self.rest[1]
        op = self.op
        if op == "==":
            m = (lo <= 0) & (hi >= 0)
        elif op == "<=":
            m = lo <= 0
        elif op == "<":
            m = lo < 0
        elif op == ">=":
            m = hi >= 0
        else:
            m = hi > 0
        return np.broadcast_to(np.asarray(m, dtype=bool), (rows,))


class _TableStep:
    """The rows of a table (inside the domains) joined with partial solutions on the table's
    variables placed before it."""

    def __init__(self, t, pos: dict[int, int], a: int, b: int, doms, dtype):
        col_of = {e.index: k for k, e in enumerate(t.children)}
        arr = t.array(dtype)
        rows = arr[t.row_mask([doms[e.index] for e in t.children])]
        self.new = [(j, col_of[var]) for j, var in ((j, v) for v, j in pos.items() if a <= j < b)]
        self.new.sort()
        self.keys = sorted((pos[e.index], col_of[e.index]) for e in t.children if pos[e.index] < a)
        self.ok = True
        if not self.keys:
            self.rows = rows
            return
        # sort the rows by their key columns; one group of rows per distinct key
        radix, codes = 1, np.zeros(len(rows), dtype=np.int64)
        self.uniques = []
        for _j, k in self.keys:
            u, inv = np.unique(rows[:, k], return_inverse=True)
            self.uniques.append(u)
            if radix * max(len(u), 1) >= 1 << 62:
                self.ok = False  # too many key combinations to encode: filter instead
                return
            codes = codes * len(u) + inv.astype(np.int64)
            radix *= max(len(u), 1)
        order = np.argsort(codes, kind="stable")
        self.rows = rows[order]
        codes = codes[order]
        self.group_keys, self.group_start, self.group_len = np.unique(
            codes, return_index=True, return_counts=True
        )

    def size(self) -> int:
        return len(self.rows)

    def match(self, cols: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        """(rows per partial row, first table row of each) for partial rows with ``cols``."""
        n = len(cols[0])
        codes = np.zeros(n, dtype=np.int64)
        hit = np.ones(n, dtype=bool)
        for (j, _k), u in zip(self.keys, self.uniques):
            v = cols[j]
            r = np.searchsorted(u, v)
            inside = r < len(u)
            r = np.where(inside, r, 0)
            hit &= inside & (u[r] == v)
            codes = codes * len(u) + r
        g = np.searchsorted(self.group_keys, codes)
        found = g < len(self.group_keys)
        g = np.where(found, g, 0)
        hit &= found & (self.group_keys[g] == codes)
        counts = np.where(hit, self.group_len[g], 0)
        return counts, self.group_start[g]


class _Join:
    """Chunked, depth-first join of one component's variables.

    Consecutive variables are joined as one *step* (their Cartesian product, at most
    ``CHUNK_ROWS`` combinations) up to and including the next variable that completes a
    constraint, so no partial rows are materialised for levels that filter nothing. The
    variables of an allowed table are one step whose combinations are the table's rows, matched
    on the table's variables placed before (a sort join). At a step, the completed constraints
    (global ones split into the parts they are made of) are evaluated on the columns they read
    only; then every column is gathered for the surviving rows. Rows keep the order of the plain
    nested loop (earlier variables vary slowest).
    """

    def __init__(self, P, doms, vars_: list[int], cons: set[int], emit, ctx=None):
        self.P = P
        self.emit = emit
        self.ctx = ctx  # a Context whose time limit each step looks at
        checks, tables = _checks_and_tables(P, vars_, cons, doms)
        self.dtype: Any = object if _needs_object(P, cons, doms) else np.int64
        self.order, blocks = _join_order(vars_, checks, tables, doms)
        pos = {v: i for i, v in enumerate(self.order)}
        self.fixed = {
            v: (doms[v].lo if self.dtype is object else np.int64(doms[v].lo))
            for v in range(len(doms))
            if doms[v].is_fixed
        }
        self.values = [np.array(list(doms[v]), dtype=self.dtype) for v in self.order]
        # table steps by first position (a table that cannot be joined becomes a check, as
        # does one whose variables other tables placed)
        joined = {id(t) for t in blocks.values()}
        checks.extend(t for t in tables if id(t) not in joined)
        table_at: dict[int, tuple[int, _TableStep]] = {}
        for a in sorted(blocks):
            t = blocks[a]
            b = a
            while b < len(self.order) and b - a < len(t.children) and self.order[b] in {
                e.index for e in t.children
            } and (b == a or b not in blocks):
                b += 1
            ts = _TableStep(t, pos, a, b, doms, self.dtype)
            if ts.ok:
                table_at[a] = (b, ts)
            else:
                checks.append(t)
        levels: list[list[Any]] = [[] for _ in self.order]
        self.closed: list[Any] = []
        for c in checks:
            open_vs = [pos[v] for v in _node_vars(c) if v in pos]
            if open_vs:
                levels[max(open_vs)].append(c)
            else:
                self.closed.append(c)
        # steps: (first position, stop position, checks completed there, table step or None)
        self.steps: list[tuple[int, int, list[Any], _TableStep | None]] = []
        start, prod = 0, 1
        k = 0
        while k < len(self.order):
            if k in table_at:
                if k > start:
                    self.steps.append((start, k, [], None))
                b, ts = table_at[k]
                done = [c for j in range(k, b) for c in levels[j]]
                self.steps.append((k, b, done, ts))
                start, prod, k = b, 1, b
                continue
            vals = self.values[k]
            if k > start and prod * len(vals) > CHUNK_ROWS:
                self.steps.append((start, k, [], None))
                start, prod = k, 1
            prod *= len(vals)
            if levels[k]:
                self.steps.append((start, k + 1, levels[k], None))
                start, prod = k + 1, 1
            k += 1
        if start < len(self.order):
            self.steps.append((start, len(self.order), [], None))
        # linear constraints also filter before they are complete: the placed part of the sum
        # plus the bounds of the rest must leave the relation possible
        self.partials: list[list[_Partial]] = [[] for _ in self.steps]
        for c in checks:
            lin = _linear_check(c)
            if lin is None:
                continue
            coefs, const, op = lin
            if any(v not in pos for v in coefs) or len(coefs) < 2:
                continue
            last = max(pos[v] for v in coefs)
            for s_i, (a, b, _done, _ts) in enumerate(self.steps):
                if b > last:
                    break  # complete from here on: the check itself filters
                placed = {v: k for v, k in coefs.items() if pos[v] < b}
                if not placed or not any(a <= pos[v] < b for v in placed):
                    continue
                part = _Partial(placed, coefs, const, op, doms, pos, self.dtype)
                if part.useful:
                    self.partials[s_i].append(part)
        # positions read by each step's checks and partial filters
        self.reads: list[list[int]] = []
        for s_i, (_a, _b, done, _ts) in enumerate(self.steps):
            used = {pos[v] for c in done for v in _node_vars(c) if v in pos}
            used |= {pos[v] for part in self.partials[s_i] for v in part.placed}
            self.reads.append(sorted(used))

    def run(self) -> None:
        for c in self.closed:
            if not constraint_mask(c, dict(self.fixed), self.dtype, 1)[0]:
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

    def _filter(self, new_cols: list[np.ndarray], s: int, done: list[Any]) -> list[np.ndarray] | None:
        """The rows of ``new_cols`` that satisfy the step's checks (None if there are none)."""
        partials = self.partials[s]
        if not done and not partials:
            return new_cols
        rows = len(new_cols[0])
        env = dict(self.fixed)
        for j in self.reads[s]:
            env[self.order[j]] = new_cols[j]
        mask = None
        for part in partials:
            cm = part.mask(env, rows)
            mask = cm if mask is None else (mask & cm)
            if not mask.any():
                return None
        for c in done:
            cm = constraint_mask(c, env, self.dtype, rows)
            mask = cm if mask is None else (mask & cm)
            if not mask.any():
                return None
        if mask.all():
            return new_cols
        idx = np.flatnonzero(mask)
        return [c[idx] for c in new_cols]

    def _table_step(self, cols: list[np.ndarray], s: int) -> None:
        a, b, done, ts = self.steps[s]
        n = len(cols[0]) if cols else 1
        m = ts.size()
        if m == 0:
            return
        if not ts.keys:
            if n * m > CHUNK_ROWS and n > 1:
                step = max(1, CHUNK_ROWS // m)
                for lo in range(0, n, step):
                    self._table_step([c[lo : lo + step] for c in cols], s)
                return
            for lo in range(0, m, max(1, CHUNK_ROWS // n)):
                part = ts.rows[lo : lo + max(1, CHUNK_ROWS // n)]
                new_cols = [np.repeat(c, len(part)) for c in cols]
                new_cols.extend(np.tile(part[:, k], n) for _j, k in ts.new)
                kept = self._filter(new_cols, s, done)
                if kept is not None:
                    self._extend(kept, s + 1)
            return
        counts, starts = ts.match(cols)
        total = int(counts.sum())
        if total == 0:
            return
        if total > CHUNK_ROWS and n > 1:
            ends = np.cumsum(counts)
            lo = 0
            while lo < n:
                base = ends[lo - 1] if lo else 0
                hi = int(np.searchsorted(ends, base + CHUNK_ROWS, side="right"))
                hi = max(hi, lo + 1)
                self._table_step([c[lo:hi] for c in cols], s)
                lo = hi
            return
        parent = np.repeat(np.arange(n), counts)
        first = np.cumsum(counts) - counts
        ridx = np.repeat(starts, counts) + (np.arange(total) - np.repeat(first, counts))
        new_cols = [c[parent] for c in cols]
        new_cols.extend(ts.rows[ridx, k] for _j, k in ts.new)
        kept = self._filter(new_cols, s, done)
        if kept is not None:
            self._extend(kept, s + 1)

    def _extend(self, cols: list[np.ndarray], s: int) -> None:
        if self.ctx is not None:
            self.ctx.check()
        if s == len(self.steps):
            if cols and len(cols[0]):
                self.emit(self.order, cols)
            return
        a, b, cis, ts = self.steps[s]
        if ts is not None:
            self._table_step(cols, s)
            return
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
        partials = self.partials[s]
        if not cis and not partials:
            new_cols = [np.repeat(c, M) for c in cols]
            new_cols.extend(self._step_column(j, a, b, n) for j in range(a, b))
            self._extend(new_cols, s + 1)
            return
        env = dict(self.fixed)
        for j in self.reads[s]:
            env[self.order[j]] = np.repeat(cols[j], M) if j < a else self._step_column(j, a, b, n)
        mask = None
        for part in partials:
            cm = part.mask(env, rows)
            mask = cm if mask is None else (mask & cm)
            if not mask.any():
                return
        done: dict[int, Any] = {}
        for c in cis:
            cm = constraint_mask(c, env, self.dtype, rows, done)
            mask = cm if mask is None else (mask & cm)
            if not mask.any():
                return
        del env, done
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


def _selectivity(c: Any, v: int, doms) -> float:
    """A rough share of the rows that ``c``, completed by placing variable ``v``, keeps."""
    size = max(doms[v].size, 1)
    if type(c) is Compare:
        if c.op == "==":
            return 1.0 / size
        if c.op == "!=":
            return 1.0 - 1.0 / size
    return 0.5


def _estimated_work(vars_: list[int], checks: list[Any], tables: list[Any], doms) -> float:
    """Rows the join would generate, estimated level by level from rough selectivities."""
    order, blocks = _join_order(vars_, checks, tables, doms)
    pos = {v: i for i, v in enumerate(order)}
    done_at: dict[int, list[Any]] = {}
    for c in checks:
        vs = [pos[v] for v in _node_vars(c) if v in pos]
        if vs:
            done_at.setdefault(max(vs), []).append(c)
    in_table = {e.index: t for t in blocks.values() for e in t.children}
    rows = work = 1.0
    for k, v in enumerate(order):
        t = in_table.get(v)
        if k in blocks:
            fan = float(len(blocks[k].rows))
        elif t is not None:
            fan = 1.0  # placed with its table's rows
        else:
            fan = float(doms[v].size)
        work += rows * fan
        rows *= fan
        for c in done_at.get(k, ()):
            rows *= _selectivity(c, v, doms)
        rows = max(rows, 1.0)
    return work


def component_suits(P, doms, vars_: list[int], cons: set[int]) -> bool:
    """Whether the numpy join is a good way to enumerate this component: its Cartesian product
    is moderate, or the join's estimated work is (the constraints filter early)."""
    if not vectorizable(P, cons):
        return False
    checks, tables = _checks_and_tables(P, vars_, cons, doms)
    if any(doms[v].size > MAX_VALUES_PER_VAR for v in vars_ if not any(
            v in {e.index for e in t.children} for t in tables)):
        return False
    if _estimated_work(vars_, checks, tables, doms) <= MAX_JOIN_WORK:
        return True
    in_table: set[int] = set()
    total = 1
    for t in tables:
        # a table joins at most its rows' worth of combinations of its variables
        fresh = [e.index for e in t.children if e.index not in in_table]
        total *= min(len(t.rows), math.prod(doms[v].size for v in fresh)) if fresh else 1
        in_table.update(fresh)
    for v in vars_:
        s = doms[v].size
        if s > MAX_VALUES_PER_VAR and v not in in_table:
            return False
        if v not in in_table:
            total *= s
    return total <= MAX_CARTESIAN


def count_component_vectorized(P, doms, vars_: list[int], cons: set[int], ctx=None) -> int | None:
    """Number of solutions of a component by the numpy join, or None when it does not suit.
    ``ctx``: a :class:`~constrint.problem.Context` whose time limit the join keeps."""
    if not component_suits(P, doms, vars_, cons):
        return None
    total = 0

    def emit(order, cols):
        nonlocal total
        total += len(cols[0])

    _Join(P, doms, vars_, cons, emit, ctx).run()
    return total


def _component_blocks(P, doms, vars_: list[int], cons: set[int], dtype: Any, ctx=None,
                      max_rows: int | None = None) -> list[np.ndarray]:
    """All solutions of a component as consecutive row blocks, columns in the order of ``vars_``;
    a :class:`ModelError` as soon as there are more than ``max_rows`` (nothing more is built)."""
    col = {v: i for i, v in enumerate(vars_)}
    pieces: list[np.ndarray] = []
    made = 0

    def count_rows(k: int) -> None:
        nonlocal made
        made += k
        if max_rows is not None and made > max_rows:
            raise ModelError(f"too many solutions to list (over {max_rows}); use count() or solutions()")

    if component_suits(P, doms, vars_, cons):

        def emit(order, cols):
            count_rows(len(cols[0]))
            block = np.empty((len(cols[0]), len(vars_)), dtype=dtype)
            for v, c in zip(order, cols):
                block[:, col[v]] = c
            pieces.append(block)

        _Join(P, doms, vars_, cons, emit, ctx).run()
    else:
        names = [P.names[v] for v in vars_]
        rows = []
        for sol in component_solutions(P, doms, vars_, cons, ctx):
            rows.append([sol[n] for n in names])
            if (len(rows) & 1023) == 0:
                count_rows(1024)
        if rows:
            pieces.append(np.array(rows, dtype=dtype))
    return pieces


def array_of(prep: Prepared | None, n: int, dtype: Any, max_rows: int, ctx=None) -> np.ndarray:
    """All solutions of a prepared problem (:func:`constrint.problem.prepare`; ``None`` when
    infeasible) as a 2-D array, one column per variable (``n`` of them) in creation order.
    ``ctx``: a :class:`~constrint.problem.Context` whose time limit is kept.

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
        blocks = _component_blocks(P, doms, vars_, cons, dtype, ctx, max_rows // max(total, 1))
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
    arr = array_of(prep, len(model._vars), None, 1 << 31, ctx)
    if len(arr) == 0:
        return Result(Status.INFEASIBLE, nodes=0, seconds=ctx.seconds)
    objective = model._objective
    store, memo = Store(list(doms)), {}
    wide = any(
        d is None or max(-d.lo, d.hi) >= INT64_SAFE
        for e in objective
        for d in (forward(n, store, memo)[0] for n in walk(e) if isinstance(n, Expr))
    )
    if wide and arr.dtype != object:
        arr = arr.astype(object)
    cols = {v.index: arr[:, v.index] for v in model._vars}
    keys = []
    valid = np.ones(len(arr), dtype=bool)
    done: dict[int, Any] = {}  # terms share subexpressions (the model's definitions)
    for e in objective:
        env = _Env(cols, arr.dtype if arr.dtype != object else object, done)
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

