"""Tree transformations shared by the solver and the presolver.

* :func:`rebuild`: a copy of a tree with its variables replaced (``Model.copy``, the presolver's
  substitution of inputs and definitions, the reduced model's variables);
* :func:`fold`, :func:`fold_statement`: constant sub-trees replaced by their value, constant
  parts of ``and``/``or`` resolved;
* :func:`definedness`: the conditions under which every partial operation of a tree is defined.
  It is the one statement of constrint's rule for undefined operations (a constraint containing
  an operation that is undefined under an assignment is false as a whole, also under ``not``
  and ``or``): the search posts these conditions beside a disjunction so that the disjunction
  itself can be reasoned about with two-valued logic, and :func:`fold_statement` keeps those of
  the parts it drops;
* :func:`linear_terms`, :func:`linear_form`, :func:`linear_compare`: an expression as
  ``sum(k * x) + c`` where it is one, a comparison as ``sum(k * x) + c OP 0``, and back.

All three keep sub-trees that are shared by identity shared (a definition inlined in several
places is one object) and visit each shared sub-tree once.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .expr import (
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
    Mul,
    Neg,
    Not,
    NotDivides,
    Or,
    Pow,
    Product,
    Sum,
    TrueDiv,
    Undefined,
    Var,
    all_of,
)

#: A callback that may prove a guard (a constraint) true everywhere; see :func:`definedness`.
Prover = Callable[[Constraint], bool]


def with_children(node: Any, kids: list[Any]) -> Any:
    """A node like ``node`` with the children ``kids`` (the same node if they are the same)."""
    for a, b in zip(kids, node.children):
        if a is not b:
            break
    else:
        return node
    t = type(node)
    if t is Compare:
        return Compare(node.op, kids[0], kids[1])
    if t is And or t is Or:
        return t(kids)
    if t is Not:
        return Not(kids[0])
    if t is Pow:
        return Pow(kids[0], node.p)
    if t is Sum:
        return Sum(kids, node.signs)
    if t is Product:
        return Product(kids)
    return t(*kids)


def _bottom_up(node: Any, visit: Callable[[Any, list[Any]], Any], leaf: Callable[[Any], Any],
               memo: dict[int, tuple[Any, Any]]) -> Any:
    """``visit(node, new_children)`` applied bottom-up (``leaf(node)`` at leaves), memoised by id.

    ``memo`` maps ``id(node)`` to ``(node, result)``: keeping the node alive keeps its id from
    being reused while the memo lives. The recursion follows the nesting of the tree (n-ary
    nodes are one level), not the number of its nodes.
    """
    hit = memo.get(id(node))
    if hit is not None:
        return hit[1]
    kids = node.children
    if not kids or type(node) is Var or hasattr(node, "rebind"):
        out = leaf(node)
    else:
        out = visit(node, [_bottom_up(k, visit, leaf, memo) for k in kids])
    memo[id(node)] = (node, out)
    return out


def rebuild(node: Any, var_map: Callable[[Var], Any], memo: dict[int, tuple[Any, Any]] | None = None) -> Any:
    """A copy of a tree with every variable ``v`` replaced by ``var_map(v)``.

    Sub-trees without variables are shared with the input; pass the same ``memo`` (a dict) to
    several calls to keep sub-trees shared across them.

    >>> import constrint as ci
    >>> m = ci.Model(); x = m.int_var("x", 1, 9); y = m.int_var("y", 1, 9)
    >>> str(rebuild(x * 2 + y <= 7, lambda v: ci.Model().int_var("z", 0, 1) if v.name == "x" else v))
    'z * 2 + y <= 7'
    """

    def leaf(n: Any) -> Any:
        if type(n) is Var:
            return var_map(n)
        if hasattr(n, "rebind"):
            return n.rebind(var_map)
        return n

    return _bottom_up(node, with_children, leaf, {} if memo is None else memo)


def _same(node: Any) -> Any:
    return node


def _constant(node: Any) -> bool:
    return type(node) is Const or type(node) is BoolConst


def fold(node: Any, memo: dict[int, tuple[Any, Any]] | None = None, prove: Prover | None = None) -> Any:
    """Constant sub-trees replaced by their value; constant parts of ``and``/``or`` resolved.

    Exact for every sub-tree under constrint's semantics: an undefined constant part (``1 // 0``)
    is kept as it is, and a part of ``false and X`` / ``true or X`` is dropped only when it
    holds no partial operation (one that ``prove`` does not show defined everywhere), since an
    undefined operation anywhere makes the enclosing constraint false. :func:`fold_statement`
    resolves those too, for a whole constraint. Integer values only: a constant true division
    stays a node.

    >>> import constrint as ci
    >>> m = ci.Model(); x = m.int_var("x", 0, 9)
    >>> str(fold((x + 2 * 3 >= 4) | (ci.min_(2, 5) == 2)))
    'true'
    >>> str(fold((12 // x >= 4) | (2 + 2 == 4)))
    'true or 12 // x >= 4'
    """

    def visit(n: Any, kids: list[Any]) -> Any:
        t = type(n)
        if t is And or t is Or:
            return _fold_bool(t, kids, prove)
        new = with_children(n, kids)
        if not all(_constant(k) for k in kids):
            return new
        try:
            v = new.ev({})
        except Undefined:
            return new  # undefined stays visible: it makes the enclosing constraint false
        if isinstance(new, Constraint):
            return BoolConst(bool(v))
        return Const(int(v)) if new.integral else new

    return _bottom_up(node, visit, _same, {} if memo is None else memo)


def _fold_bool(kind: type, kids: list[Any], prove: Prover | None) -> Constraint:
    is_or = kind is Or
    parts: list[Any] = []
    decided = False
    for k in kids:
        if type(k) is BoolConst:
            if k.value == is_or:  # 'true or ...' / 'false and ...'
                decided = True
            continue
        parts.append(k)
    if decided:
        if any(definedness(p, prove) for p in parts):
            return kind([BoolConst(is_or), *parts])
        return BoolConst(is_or)
    if not parts:
        return BoolConst(not is_or)
    if len(parts) == 1:
        return parts[0]
    return kind(parts)


def fold_statement(c: Constraint, memo: dict[int, tuple[Any, Any]] | None = None,
                   prove: Prover | None = None) -> Constraint:
    """A whole constraint folded (:func:`fold`), with ``false and X`` and ``true or X`` resolved.

    A constraint holds exactly where its partial operations are all defined and its two-valued
    truth is true; so the parts such a resolution drops leave their :func:`definedness`
    conditions behind, conjoined at the top.

    >>> import constrint as ci
    >>> m = ci.Model(); x = m.int_var("x", 0, 9); y = m.int_var("y", 0, 9)
    >>> str(fold_statement((12 // x >= 4) | (2 + 2 == 4)))
    'x != 0'
    >>> str(fold_statement(((12 // x >= 4) | (1 < 2)) & (y > 3)))
    'x != 0 and y > 3'
    """
    guards: list[Constraint] = []
    out = _two_valued(fold(c, memo, prove), guards, prove)
    if type(out) is BoolConst and not out.value:
        return out
    seen: set[str] = set()
    parts = []
    for g in guards:
        if str(g) not in seen:
            seen.add(str(g))
            parts.append(g)
    if type(out) is not BoolConst:
        parts.append(out)
    return all_of(parts) if parts else BoolConst(True)


def _two_valued(c: Any, guards: list[Constraint], prove: Prover | None) -> Any:
    """``c`` with its and/or/not structure resolved in two-valued logic; dropped parts' guards go
    to ``guards``."""
    t = type(c)
    if t is Not:
        inner = _two_valued(c.c, guards, prove)
        return BoolConst(not inner.value) if type(inner) is BoolConst else with_children(c, [inner])
    if t is not And and t is not Or:
        return c
    is_or = t is Or
    kids = [_two_valued(k, guards, prove) for k in c.children]
    if any(type(k) is BoolConst and k.value == is_or for k in kids):
        for k in kids:
            if type(k) is not BoolConst:
                guards.extend(definedness(k, prove))
        return BoolConst(is_or)
    parts = [k for k in kids if type(k) is not BoolConst]
    if not parts:
        return BoolConst(not is_or)
    return parts[0] if len(parts) == 1 else t(parts)


def definedness(node: Any, prove: Prover | None = None) -> list[Constraint]:
    """Constraints that hold exactly where every partial operation in ``node`` is defined.

    ``a // b``, ``a % b`` and true division need ``b != 0``; exact division needs ``b`` to divide
    ``a``; ``divides(a, b)`` needs ``a != 0``. Guards that fold to ``true`` and those ``prove``
    shows to hold everywhere are left out; each guard is listed once.

    >>> import constrint as ci
    >>> m = ci.Model(); x = m.int_var("x", 0, 9); y = m.int_var("y", 0, 9)
    >>> [str(g) for g in definedness((x // y > 1) | (ci.exact_div(12, x + 1) == y) | (x % 4 == y))]
    ['y != 0', '12 % (x + 1) == 0']
    """
    out: list[Constraint] = []
    seen: set[str] = set()
    stack = [node]
    visited: set[int] = set()
    while stack:
        n = stack.pop()
        if id(n) in visited:
            continue
        visited.add(id(n))
        lazy = getattr(n, "conditional_definedness", None)
        if lazy is None:
            stack.extend(reversed(n.children))
        t = type(n)
        if t is FloorDiv or t is Mod or t is TrueDiv:
            guards: list[Any] = [Compare("!=", n.b, Const(0))]
        elif t is ExactDiv:
            guards = [Divides(n.b, n.a)]
        elif t is Divides or t is NotDivides:
            guards = [Compare("!=", n.a, Const(0))]
        elif lazy is not None:
            # operands evaluated only in some cases (a conditional, an element's items): the
            # node states their guards under those cases
            guards = lazy(lambda sub: definedness(sub, prove))
        elif callable(getattr(n, "definedness", None)):
            guards = n.definedness()  # other partial kinds (shifts, powers) state their own
        else:
            continue
        for g in guards:
            g = fold(g)
            if (type(g) is BoolConst and g.value) or (prove is not None and prove(g)):
                continue
            key = str(g)
            if key not in seen:
                seen.add(key)
                out.append(g)
    return out


def substitute(node: Any, values: Any, memo: dict[int, tuple[Any, Any]] | None = None,
               prove: Prover | None = None) -> Any:
    """``node`` with the variables named in ``values`` replaced (ints become constants), folded.

    >>> import constrint as ci
    >>> m = ci.Model(); x = m.int_var("x", 0, 9); y = m.int_var("y", 0, 9)
    >>> str(substitute(x * y + 2 <= 4 * y, {"x": 3}))
    '3 * y + 2 <= 4 * y'
    """

    def var_map(v: Var) -> Any:
        if v.name not in values:
            return v
        val = values[v.name]
        return val if isinstance(val, Expr) else Const(val)

    return fold(rebuild(node, var_map), memo, prove)


def linear_terms(e: Any) -> tuple[dict[int, int], int] | None:
    """``e`` as ``sum(k * x) + c``: the non-zero coefficients by variable index and ``c``, or
    None when ``e`` is not linear with integer coefficients. Iterative (any length of sum).

    >>> import constrint as ci
    >>> m = ci.Model(); x = m.int_var("x", 0, 9); y = m.int_var("y", 0, 9)
    >>> linear_terms(2 * x - (y - x) * 3 + 4), linear_terms(x * y)
    (({0: 5, 1: -3}, 4), None)
    """
    coefs: dict[int, int] = {}
    const = 0
    stack = [(e, 1)]
    while stack:
        n, k = stack.pop()
        t = type(n)
        if t is Var:
            coefs[n.index] = coefs.get(n.index, 0) + k
        elif t is Const:
            const += k * n.value
        elif t is Sum:
            stack.extend((x, k * s) for x, s in zip(n.children, n.signs))
        elif t is Neg:
            stack.append((n.a, -k))
        elif t is Mul and type(n.a) is Const:
            stack.append((n.b, k * n.a.value))
        elif t is Mul and type(n.b) is Const:
            stack.append((n.a, k * n.b.value))
        elif t is Product:
            scale, rest = 1, [x for x in n.children if type(x) is not Const]
            for x in n.children:
                if type(x) is Const:
                    scale *= x.value
            if len(rest) > 1:
                return None  # a product of two variable factors
            if rest:
                stack.append((rest[0], k * scale))
            else:
                const += k * scale
        else:
            return None
    return {v: k for v, k in coefs.items() if k}, const


def linear_form(c: Any) -> tuple[str, int, dict[int, int]] | None:
    """``c`` as ``sum(k_v * v) + const OP 0`` (``(OP, const, {index: k})``), or None when it is
    not a comparison of linear integer expressions.

    >>> import constrint as ci
    >>> m = ci.Model(); x = m.int_var("x", 0, 9); y = m.int_var("y", 0, 9)
    >>> linear_form(2 * x + y - x + 3 <= y * 4)
    ('<=', 3, {0: 1, 1: -3})
    """
    if type(c) is not Compare or not c.a.integral or not c.b.integral:
        return None
    left, right = linear_terms(c.a), linear_terms(c.b)
    if left is None or right is None:
        return None
    coefs = dict(left[0])
    for v, k in right[0].items():
        coefs[v] = coefs.get(v, 0) - k
    return c.op, left[1] - right[1], {v: k for v, k in coefs.items() if k}


def linear_compare(op: str, const: int, coefs: dict[int, int], variables: Any) -> Constraint:
    """``sum(k_v * v) + const OP 0`` built back from :func:`linear_form`, one term per variable
    (``variables[index]``): positive terms and the constant on the left, negative ones on the
    right.

    >>> import constrint as ci
    >>> m = ci.Model(); x = m.int_var("x", 0, 9); y = m.int_var("y", 0, 9)
    >>> str(linear_compare(*linear_form(x + y + x - 2 * y + 3 <= 7 + y), m.variables))
    '2 * x - 4 <= 2 * y'
    """
    left: list[Expr] = []
    right: list[Expr] = []
    for v, k in sorted(coefs.items()):
        side = left if k > 0 else right
        side.append(variables[v] if abs(k) == 1 else Mul(Const(abs(k)), variables[v]))
    if const:
        left.append(Const(const))
    lhs = _signed_sum(left)
    rhs = _signed_sum(right)
    return Compare(op, lhs, rhs)


def _signed_sum(terms: list[Expr]) -> Expr:
    """The sum of ``terms`` (a trailing negative constant subtracted), 0 for none."""
    if not terms:
        return Const(0)
    if len(terms) == 1:
        return terms[0]
    signs = [1] * len(terms)
    last = terms[-1]
    if type(last) is Const and last.value < 0:
        terms = terms[:-1] + [Const(-last.value)]
        signs[-1] = -1
    return Sum(terms, signs)


__all__ = ["rebuild", "fold", "fold_statement", "definedness", "substitute", "with_children",
           "linear_terms", "linear_form", "linear_compare"]
