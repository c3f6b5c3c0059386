"""From ``.cint`` text to a :class:`~constrint.Model`: parsing, error reporting, semantic checks.

The lark grammar (:mod:`constrint.language.grammar`) gives a parse tree; this module turns it into
expression and constraint trees of :mod:`constrint.expr`, checking on the way what the grammar
cannot (an integer where a constraint is needed, value lists only where they mean something,
constant exponents, declared-once variables, literal sizes), and reports every problem as a
:class:`~constrint.ConstraintSyntaxError` with file, line, column, the line and a caret.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..booleans import IfThenElse, Reify, as_constraint, equivalent, is_boolean, xor
from ..errors import ConstraintSyntaxError, ModelError
from ..expr import (
    Abs,
    BoolConst,
    Compare,
    Const,
    Constraint,
    ExactDiv,
    Expr,
    FloorDiv,
    Mod,
    Mul,
    Neg,
    Not,
    Pow,
    Product,
    Sum,
    TrueDiv,
    Trunc,
    Undefined,
    Var,
    all_of,
    any_of,
    implies,
    max_,
    min_,
)
from ..global_constraints import (
    Element,
    InSet,
    all_different,
    among,
    count,
    inverse,
    lex_less,
    lex_lesseq,
    table,
)
from ..intops import BitAnd, BitNot, BitOr, BitXor, LShift, RShift, power
from ..model import Model
from ..propagators import Store, forward
from ..statements import Source
from .grammar import KEYWORDS, LITERAL_BOUND, MAX_LITERAL_DIGITS, TERMINAL_NAMES, parser

#: Domain of a variable that is used but never declared (as in the original ConstrINT format).
UNDECLARED_LO = 1
UNDECLARED_HI = 2**30
#: Largest exponent of ``^`` / ``**``.
MAX_EXPONENT = 64
#: Deepest nesting of expressions accepted (parentheses, operators, calls).
MAX_DEPTH = 200

_BINOPS = {
    "*": Mul, "//": FloorDiv, "/": ExactDiv, "%": Mod,
    "<<": LShift, ">>": RShift,
}
_FUNCTIONS = {
    "min": "min(a, b, ...)",
    "max": "max(a, b, ...)",
    "abs": "abs(a)",
    "truediv": "truediv(a, b)",
    "int": "int(a)",
    "round": "round(a)",
    "bitand": "bitand(a, b, ...)",
    "bitor": "bitor(a, b, ...)",
    "bitxor": "bitxor(a, b, ...)",
    "bitnot": "bitnot(a)",
}
#: Functions that build constraints (or, count and among, integers from constraints).
_CONSTRAINT_FUNCTIONS = {
    "all_different": "all_different(a, b, ...)",
    "table": "table([a, b], [[1, 2], [3, 4], ...])",
    "forbidden_table": "forbidden_table([a, b], [[1, 2], ...])",
    "count": "count([a, b, ...], v)",
    "among": "among([a, b, ...], [1, 2, ...])",
    "lex_less": "lex_less([a, b], [c, d])",
    "lex_lesseq": "lex_lesseq([a, b], [c, d])",
    "inverse": "inverse([f0, f1], [g0, g1])",
    "implies": "implies(c1, c2)",
    "equivalent": "equivalent(c1, c2)",
    "xor": "xor(c1, c2, ...)",
}
#: Largest magnitude an exponent or a shift count that depends on variables may reach (over the
#: declared domains): keeps a hostile file from asking for numbers of astronomic size.
MAX_VARIABLE_EXPONENT = 64
MAX_VARIABLE_SHIFT = 1024


@dataclass
class _ValueList:
    """A value list ``[a, b, c]`` met as a term (allowed only in a few places)."""

    items: list[Expr]
    node: Any


@dataclass
class _Decl:
    names: list[Any]  # tokens
    domain: Any  # parse tree or None
    node: Any


@dataclass
class _Program:
    order: list[str] = field(default_factory=list)  # variable names, first appearance
    first_use: dict[str, Any] = field(default_factory=dict)  # name -> token
    decls: dict[str, _Decl] = field(default_factory=dict)
    statements: list[Any] = field(default_factory=list)


class Compiler:
    """Turns parse trees of one source text into model parts; see :func:`loads`."""

    def __init__(self, text: str, filename: str, dialect: str = "cint"):
        self.text = text
        self.filename = filename
        self.dialect = dialect
        self._lines = text.splitlines()
        self.model: Model | None = None
        self.names: dict[str, Var] = {}
        self.undeclared: set[str] = set()

    # ------------------------------------------------------------------ errors
    def error(self, message: str, where: Any = None) -> ConstraintSyntaxError:
        line = column = None
        if where is not None:
            line, column = _position(where)
        text = None
        if line is not None and 1 <= line <= len(self._lines):
            text = self._lines[line - 1]
        return ConstraintSyntaxError(message, self.filename, line, column, text)

    def parse(self, start: str = "start"):
        """The lark parse tree of the text, or a :class:`ConstraintSyntaxError`."""
        from lark.exceptions import UnexpectedCharacters, UnexpectedEOF, UnexpectedInput

        try:
            return parser(self.dialect).parse(self.text, start=start)
        except UnexpectedInput as exc:
            bracket = _bracket_problem(self.text)
            if bracket is not None:
                msg, line, col = bracket
                raise self._at(msg, line, col) from None
            if isinstance(exc, UnexpectedCharacters):
                ch = self.text[exc.pos_in_stream] if exc.pos_in_stream < len(self.text) else ""
                msg = f"unexpected character {ch!r}"
                if ch == "=":
                    msg += " (write '==' for equality)"
                elif ch == "!":
                    msg += " (write 'not' for negation, '!=' for 'not equal')"
                elif ch == "&":
                    msg += " (write 'and')"
                elif ch == ".":
                    msg += " (ranges are written 'lo..hi', only in 'var x in lo..hi' and 'x in lo..hi')"
                raise self._at(msg, exc.line, exc.column) from None
            if isinstance(exc, UnexpectedEOF) or getattr(exc, "token", None) is None or (
                exc.token.type == "$END"
            ):
                line, col = _end_position(self.text)
                msg = "unexpected end of input" + _expected(exc)
                raise self._at(msg, line, col) from None
            tok = exc.token
            shown = str(tok)
            if len(shown) > 30:
                shown = shown[:27] + "..."
            what = f"{shown!r}"
            if tok.type == "NAME" and getattr(exc, "expected", None) and "_SEMI" in exc.expected:
                msg = f"unexpected {what}" + _expected(exc) + " (missing ';' before it?)"
            else:
                msg = f"unexpected {what}" + _expected(exc)
            raise self._at(msg, tok.line, tok.column) from None

    def _at(self, message: str, line: int | None, column: int | None) -> ConstraintSyntaxError:
        text = self._lines[line - 1] if line is not None and 1 <= line <= len(self._lines) else None
        return ConstraintSyntaxError(message, self.filename, line, column, text)

    # ------------------------------------------------------------------ programs
    def compile_program(self, tree) -> Model:
        prog = self._scan(tree)
        sources = self._sources(tree)
        model = Model()
        self.model = model
        narrowed = self._narrowings(prog)
        skip: set[int] = set()
        for name in prog.order:
            decl = prog.decls.get(name)
            try:
                if decl is not None:
                    src = sources.get(id(decl.node))
                    if decl.domain is None:
                        var = model.int_var(name, UNDECLARED_LO, UNDECLARED_HI, source=src)
                    else:
                        var = self._declare(model, name, decl, src)
                elif name in narrowed:
                    values, idx = narrowed[name]
                    var = model.int_var(name, values=values, source=sources.get(id(prog.statements[idx])))
                    skip.add(idx)
                else:
                    var = model.int_var(name, UNDECLARED_LO, UNDECLARED_HI)
                    self.undeclared.add(name)
            except ModelError as exc:
                raise self.error(str(exc), prog.first_use[name]) from None
            self.names[name] = var
        objective_seen = None
        for idx, st in enumerate(prog.statements):
            if idx in skip:
                continue
            if st.data == "constraint":
                c = self.constraint(st.children[0])
                model.add(c, source=sources.get(id(st)))
            elif st.data == "objective":
                if objective_seen is not None:
                    line, _ = _position(objective_seen)
                    raise self.error(
                        f"a second objective (the first is on line {line}); give several "
                        "expressions to one 'minimize a, b;' for a lexicographic objective",
                        st,
                    )
                objective_seen = st
                sense = st.children[0]
                exprs = [self.integer(e, "an objective") for e in st.children[1:]]
                for e, node in zip(exprs, st.children[1:]):
                    if not e.integral:
                        raise self.error(
                            "an objective must be integer-valued; truediv() gives fractions "
                            "(use // or / instead)",
                            node,
                        )
                if sense.type == "MINIMIZE":
                    model.minimize(exprs)
                else:
                    model.maximize(exprs)
        return model

    def _sources(self, tree) -> dict[int, Source]:
        """``id(statement node) -> Source`` of every top-level statement: its code on one line and
        the comments of the lines it spans (a line's comment goes to the last statement on it)."""
        spans = []
        owner: dict[int, int] = {}
        for st in tree.children:
            meta = getattr(st, "meta", None)
            if st is None or meta is None or getattr(meta, "empty", True):
                continue
            k = len(spans)
            spans.append((st, meta))
            for ln in range(meta.line, meta.end_line + 1):
                owner[ln] = k
        out: dict[int, Source] = {}
        for k, (st, meta) in enumerate(spans):
            code = [part.split("#", 1)[0] for part in self.text[meta.start_pos:meta.end_pos].split("\n")]
            comments = []
            for ln in range(meta.line, meta.end_line + 1):
                line = self._lines[ln - 1] if ln <= len(self._lines) else ""
                if owner.get(ln) == k and "#" in line:
                    comment = " ".join(line.split("#", 1)[1].split())
                    if comment:
                        comments.append(comment)
            out[id(st)] = Source(self.filename, meta.line, " ".join(" ".join(code).split()), " ".join(comments))
        return out

    def _scan(self, tree) -> _Program:
        prog = _Program()
        for st in tree.children:
            if st is None:
                continue
            if st.data == "decl":
                names = [t for t in st.children if _is_token(t, "NAME")]
                dom = st.children[-1] if not _is_token(st.children[-1]) else None
                decl = _Decl(names, dom, st)
                for tok in names:
                    name = str(tok)
                    if name in prog.decls:
                        prev = next(t for t in prog.decls[name].names if str(t) == name)
                        line, _ = _position(prev)
                        raise self.error(f"variable {name!r} is declared twice (first on line {line})", tok)
                    prog.decls[name] = decl
                    self._note(prog, tok)
                if dom is not None and not _is_bool_domain(dom):
                    for tok in _names_in(dom):
                        raise self.error(
                            f"the domain of a declaration must be constant, but it uses {str(tok)!r}",
                            tok,
                        )
            else:
                prog.statements.append(st)
                for tok in _names_in(st):
                    self._note(prog, tok)
        return prog

    def _note(self, prog: _Program, tok) -> None:
        name = str(tok)
        if name in KEYWORDS:
            raise self.error(f"{name!r} is a keyword and cannot name a variable", tok)
        if name not in prog.first_use:
            prog.first_use[name] = tok
            prog.order.append(name)

    def _narrowings(self, prog: _Program) -> dict[str, tuple[list[int], int]]:
        """Top-level ``X == [v, ...]`` / ``X == v`` about undeclared X: a declaration in disguise.

        Only where every value lies in the default range ``1..2**30``, so that the model is the
        same as "default domain plus that constraint" (as in the original format).
        """
        out: dict[str, tuple[list[int], int]] = {}
        for idx, st in enumerate(prog.statements):
            if st.data != "constraint":
                continue
            e = st.children[0]
            if e.data != "compare" or len(e.children) != 3 or str(e.children[1]) != "==":
                continue
            a, b = e.children[0], e.children[2]
            if a.data != "name":
                a, b = b, a
            if a.data != "name":
                continue
            name = str(a.children[0])
            if name in prog.decls or name in out:
                continue
            items = b.children[1:-1] if b.data == "value_list" else [b]
            if any(it is None for it in items) or not items:
                continue
            try:
                values = [self.constant(it, "a value") for it in items]
            except ConstraintSyntaxError:
                continue  # not constant: an ordinary constraint (errors reported later)
            if all(UNDECLARED_LO <= v <= UNDECLARED_HI for v in values):
                out[name] = (values, idx)
        return out

    def _declare(self, model: Model, name: str, decl: _Decl, source: Source | None) -> Var:
        dom = decl.domain
        if _is_bool_domain(dom):
            return model.bool_var(name)
        if dom.data == "named_domain":
            raise self.error(
                f"unknown domain {str(dom.children[0])!r} (write lo..hi, [v1, v2, ...] or bool)", dom
            )
        if dom.data == "range":
            lo = self.constant(dom.children[0], "a lower bound")
            hi = self.constant(dom.children[1], "an upper bound")
            if lo > hi:
                raise self.error(f"empty range {lo}..{hi} for variable {name!r}", dom)
            return model.int_var(name, lo, hi, source=source)
        values = self.value_list_constants(dom)
        return model.int_var(name, values=values, source=source)

    def value_list_constants(self, node) -> list[int]:
        items = [c for c in node.children[1:-1] if c is not None]
        if not items:
            raise self.error("empty value list", node)
        return [self.constant(it, "a list value") for it in items]

    # ------------------------------------------------------------------ expressions
    def constant(self, node, what: str) -> int:
        """The value of a constant integer expression (no variables)."""
        for tok in _names_in(node):
            raise self.error(f"{what} must be constant, but it uses {str(tok)!r}", tok)
        e = self.integer(node, what)
        try:
            v = e.evaluate({})
        except Undefined as exc:
            raise self.error(f"{what} is undefined: {exc}", node) from None
        if not isinstance(v, int):
            raise self.error(f"{what} must be an integer, got {v!r}", node)
        if abs(v) >= LITERAL_BOUND:
            raise self.error(f"{what} is too large (at most {MAX_LITERAL_DIGITS} digits)", node)
        return v

    def integer(self, node, what: str = "an integer expression", depth: int = 0) -> Expr:
        e = self.term(node, depth)
        if isinstance(e, Constraint):
            return Reify(e)  # a constraint used as a number: 1 where it holds, else 0
        if isinstance(e, _ValueList):
            raise self.error(_LIST_MSG, node)
        return e

    def constraint(self, node, depth: int = 0) -> Constraint:
        e = self.term(node, depth)
        if isinstance(e, _ValueList):
            raise self.error(_LIST_MSG, node)
        if isinstance(e, Expr):
            if is_boolean(e):
                return as_constraint(e)  # a 0/1 expression (a boolean) must be 1
            raise self.error(
                "expected a constraint (a comparison such as 'x <= 8'), got an integer expression",
                node,
            )
        return e

    def term(self, node, depth: int = 0) -> Any:
        if depth > MAX_DEPTH:
            raise self.error(f"expression nested too deeply (more than {MAX_DEPTH} levels)", node)
        d = depth + 1
        kind = node.data
        if kind == "int":
            return Const(self._int_literal(node.children[0]))
        if kind == "name":
            tok = node.children[0]
            var = self.names.get(str(tok))
            if str(tok) in KEYWORDS:
                raise self.error(f"{str(tok)!r} is a keyword and cannot name a variable", tok)
            if var is None:
                raise self.error(f"unknown variable {str(tok)!r}", tok)
            return var
        if kind == "true":
            return BoolConst(True)
        if kind == "false":
            return BoolConst(False)
        if kind == "paren":
            return self.term(node.children[1], d)
        if kind == "value_list":
            items = [c for c in node.children[1:-1] if c is not None]
            if not items:
                raise self.error("empty value list", node)
            return _ValueList([self.integer(c, "an integer in a value list", d) for c in items], node)
        if kind == "neg":
            operand = node.children[1]
            if operand.data == "int":
                v = self._int_literal(operand.children[0])
                if v:  # '-0' stays a negation, so that printing gives the same text back
                    return Const(-v)
            return Neg(self.integer(operand, "an integer after '-'", d))
        if kind == "pos":
            return self.integer(node.children[1], "an integer after '+'", d)
        if kind == "binop" and str(node.children[1]) in ("+", "-"):
            return self._sum(node, d)
        if kind == "binop" and str(node.children[1]) == "*" and node.children[0].data == "binop" \
                and str(node.children[0].children[1]) == "*":
            return self._product(node, d)
        if kind == "binop":
            left, op, right = node.children
            a = self.integer(left, f"an integer left of {str(op)!r}", d)
            b = self.integer(right, f"an integer right of {str(op)!r}", d)
            if str(op) == "<<":
                self._check_magnitude(b, MAX_VARIABLE_SHIFT, "the count of '<<'", right)
            return _BINOPS[str(op)](a, b)
        if kind == "pow":
            base, op, exp = node.children
            a = self.integer(base, f"an integer left of {str(op)!r}", d)
            if _names_in(exp):
                b = self.integer(exp, f"an integer exponent right of {str(op)!r}", d)
                self._check_magnitude(b, MAX_VARIABLE_EXPONENT, f"the exponent of {str(op)!r}", exp)
                return power(a, b)
            p = self._exponent(exp, op)
            return Pow(a, p) if p >= 0 else power(a, p)
        if kind == "ifexp":
            a_node, c_node, b_node = node.children
            c = self.constraint(c_node, d)
            return IfThenElse(c, self.integer(a_node, "an integer (a branch)", d),
                              self.integer(b_node, "an integer (a branch)", d))
        if kind == "subscript":
            base, _lsqb, index, _rsqb = node.children
            lst = self.term(base, d)
            if not isinstance(lst, _ValueList):
                raise self.error(
                    "only a value list can be indexed: write [a, b, c][i] (positions count from 0)",
                    base,
                )
            return Element(lst.items, self.integer(index, "an integer index", d))
        if kind == "call":
            return self._call(node, d)
        if kind == "compare":
            return self._compare(node, d)
        if kind in ("in_", "not_in"):
            return self._membership(node, kind == "not_in", d)
        if kind == "not_":
            return Not(self.constraint(node.children[0], d))
        if kind in ("and_", "or_"):
            # a chain 'a and b and c ...' is one level (the parse tree nests it per operand)
            operands = []
            n = node
            while n.data == kind:
                operands.append(n.children[1])
                n = n.children[0]
            operands.append(n)
            parts = [self.constraint(x, d) for x in reversed(operands)]
            return all_of(parts) if kind == "and_" else any_of(parts)
        raise self.error(f"unsupported construct {kind!r}", node)  # pragma: no cover

    def _sum(self, node, d: int) -> Expr:
        """A chain ``a + b - c ...`` as one flat :class:`~constrint.expr.Sum` (one level of
        nesting, whatever its length; the parse tree nests it per operand)."""
        spine = []
        n = node
        while n.data == "binop" and str(n.children[1]) in ("+", "-"):
            spine.append(n)
            n = n.children[0]
        first = self.integer(n, f"an integer left of {str(spine[-1].children[1])!r}", d)
        terms = list(first.children) if type(first) is Sum else [first]
        signs = list(first.signs) if type(first) is Sum else [1]
        for b in reversed(spine):
            _, op, right = b.children
            terms.append(self.integer(right, f"an integer right of {str(op)!r}", d))
            signs.append(1 if str(op) == "+" else -1)
        return Sum(terms, signs)

    def _product(self, node, d: int) -> Expr:
        """A chain ``a * b * c ...`` (three or more factors) as one flat
        :class:`~constrint.expr.Product` (one level of nesting, whatever its length)."""
        spine = []
        n = node
        while n.data == "binop" and str(n.children[1]) == "*":
            spine.append(n)
            n = n.children[0]
        factors = [self.integer(n, "an integer left of '*'", d)]
        for b in reversed(spine):
            factors.append(self.integer(b.children[2], "an integer right of '*'", d))
        return Product(factors)

    def _int_literal(self, tok) -> int:
        digits = str(tok).replace("_", "")
        if len(digits.lstrip("0")) > MAX_LITERAL_DIGITS:
            raise self.error(f"integer literal too large (at most {MAX_LITERAL_DIGITS} digits)", tok)
        return int(digits)

    def _check_magnitude(self, e: Expr, limit: int, what: str, node) -> None:
        """Refuse an exponent or shift count that can exceed ``limit`` over the declared domains."""
        if not e.variables():
            return
        assert self.model is not None
        d, _ = forward(e, Store(list(self.model._domains)), {})
        if d is not None and max(-d.lo, d.hi) > limit:
            raise self.error(
                f"{what} may reach {max(-d.lo, d.hi)} over the declared domains (at most {limit})",
                node,
            )

    def _exponent(self, node, op) -> int:
        msg = (
            f"the exponent of {str(op)!r} must be an integer from -{MAX_EXPONENT} to "
            f"{MAX_EXPONENT} (or depend on variables)"
        )
        for tok in _names_in(node):
            raise self.error(msg + f", but it uses {str(tok)!r}", tok)
        e = self.integer(node, "an integer exponent")
        try:
            p = e.evaluate({})
        except Undefined:
            raise self.error(msg, node) from None
        if not isinstance(p, int) or not -MAX_EXPONENT <= p <= MAX_EXPONENT:
            raise self.error(msg + f", got {p!r}", node)
        return p

    def _call(self, node, depth: int):
        fname = node.children[0]
        args = [c for c in node.children[2:-1] if c is not None]
        name = str(fname)
        if name in _CONSTRAINT_FUNCTIONS:
            try:
                return self._constraint_call(name, args, fname, depth)
            except (ModelError, TypeError) as exc:
                raise self.error(f"{name}(): {exc}", fname) from None
        if name not in _FUNCTIONS:
            known = ", ".join([*_FUNCTIONS.values(), *_CONSTRAINT_FUNCTIONS.values()])
            raise self.error(f"unknown function {name!r} (known: {known})", fname)
        vals = [self.integer(a, f"an integer argument of {name}()", depth) for a in args]
        arity = {"abs": 1, "int": 1, "truediv": 2, "round": 1, "bitnot": 1}.get(name)
        if arity is not None and len(vals) != arity:
            raise self.error(
                f"{name}() takes {arity} argument{'s' if arity > 1 else ''}, got {len(vals)}: "
                f"write {_FUNCTIONS[name]}",
                fname,
            )
        if name in ("min", "max") and not vals:
            raise self.error(f"{name}() needs at least one argument", fname)
        if name in ("bitand", "bitor", "bitxor"):
            if len(vals) < 2:
                raise self.error(f"{name}() needs at least two arguments", fname)
            if any(not v.integral for v in vals):
                raise self.error(f"{name}() needs integer arguments (truediv() gives fractions)", fname)
            op = {"bitand": BitAnd, "bitor": BitOr, "bitxor": BitXor}[name]
            out = vals[0]
            for v in vals[1:]:
                out = op(out, v)
            return out
        if name == "bitnot":
            if not vals[0].integral:
                raise self.error("bitnot() needs an integer argument (truediv() gives fractions)", fname)
            return BitNot(vals[0])
        if name == "round":
            return round(vals[0])
        if name == "min":
            return min_(vals)
        if name == "max":
            return max_(vals)
        if name == "abs":
            return Abs(vals[0])
        if name == "int":
            return Trunc(vals[0])
        return TrueDiv(vals[0], vals[1])

    def _constraint_call(self, name: str, args: list, fname, depth: int):
        """Global constraints, count and among, and the boolean connectives written as calls."""
        usage = _CONSTRAINT_FUNCTIONS[name]
        if name == "all_different":
            if len(args) == 1 and args[0].data == "value_list":
                items = self._list(args[0], depth)
            else:
                items = [self.integer(a, "an integer argument of all_different()", depth) for a in args]
            if len(items) < 1:
                raise self.error("all_different() needs at least one item", fname)
            return all_different(items)
        if name in ("implies", "equivalent", "xor"):
            cs = [self.constraint(a, depth) for a in args]
            if (name != "xor" and len(cs) != 2) or not cs:
                raise self.error(f"write {usage}", fname)
            return {"implies": implies, "equivalent": equivalent, "xor": xor}[name](*cs)
        if len(args) != 2:
            raise self.error(f"{name}() takes two arguments: write {usage}", fname)
        first = self._list(args[0], depth, usage)
        if name in ("table", "forbidden_table"):
            rows = self._rows(args[1], usage)
            return table(first, rows, forbidden=name == "forbidden_table")
        if name == "count":
            return count(first, self.integer(args[1], "the value counted", depth))
        if name == "among":
            return among(first, self.value_list_constants(self._need_list(args[1], usage)))
        second = self._list(args[1], depth, usage)
        return {"lex_less": lex_less, "lex_lesseq": lex_lesseq, "inverse": inverse}[name](first, second)

    def _need_list(self, node, usage: str):
        if node.data != "value_list":
            raise self.error(f"expected a list [..] here: write {usage}", node)
        return node

    def _list(self, node, depth: int, usage: str = "[a, b, ...]") -> list[Expr]:
        items = [c for c in self._need_list(node, usage).children[1:-1] if c is not None]
        return [self.integer(c, "an integer in a list", depth) for c in items]

    def _rows(self, node, usage: str) -> list[list[int]]:
        rows = []
        for r in [c for c in self._need_list(node, usage).children[1:-1] if c is not None]:
            rows.append(self.value_list_constants(self._need_list(r, usage)))
        return rows

    def _compare(self, node, depth: int) -> Constraint:
        ch = node.children
        operands = ch[0::2]
        ops = ch[1::2]
        if len(operands) == 2 and self.dialect == "cint":
            self._check_legacy_mod(node)
            a = self.term(operands[0], depth)
            b = self.term(operands[1], depth)
            op = str(ops[0])
            la, lb = isinstance(a, _ValueList), isinstance(b, _ValueList)
            if la or lb:
                if la and lb:
                    raise self.error("cannot compare two value lists", node)
                if op not in ("==", "!="):
                    raise self.error(
                        f"a value list can only be compared with '==' or '!=' (membership), not {op!r}",
                        ops[0],
                    )
                lst, other, onode = (a, b, operands[1]) if la else (b, a, operands[0])
                if isinstance(other, Constraint):
                    raise self.error("expected an integer expression, got a constraint", onode)
                return _member(other, lst.items, op == "!=")
            return Compare(op, self._cmp_operand(a, operands[0]), self._cmp_operand(b, operands[1]))
        parts = []
        vals = []
        for o in operands:
            v = self.term(o, depth)
            if isinstance(v, _ValueList):
                raise self.error(
                    "a value list cannot appear in a chained comparison; write 'E == [..]' or 'E in [..]'",
                    o,
                )
            vals.append(self._cmp_operand(v, o))
        for i, op in enumerate(ops):
            parts.append(Compare(str(op), vals[i], vals[i + 1]))
        return all_of(parts)

    def _cmp_operand(self, v, node) -> Expr:
        if isinstance(v, Constraint):
            return Reify(v)  # a parenthesised constraint compared as a number (0 or 1)
        return v

    def _membership(self, node, negated: bool, depth: int) -> Constraint:
        subject, dom = node.children
        e = self.integer(subject, "an integer expression before 'in'", depth)
        if dom.data == "range":
            lo = self.integer(dom.children[0], "a lower bound", depth)
            hi = self.integer(dom.children[1], "an upper bound", depth)
            if negated:
                return any_of(Compare("<", e, lo), Compare(">", e, hi))
            return all_of(Compare("<=", lo, e), Compare("<=", e, hi))
        if dom.data == "named_domain":
            if not _is_bool_domain(dom):
                raise self.error(
                    f"unknown domain {str(dom.children[0])!r} (write lo..hi, [v1, v2, ...] or bool)",
                    dom,
                )
            c = all_of(Compare(">=", e, Const(0)), Compare("<=", e, Const(1)))
            return c.negate() if negated else c
        if not [c for c in dom.children[1:-1] if c is not None]:
            return InSet(e, (), negated)  # 'x in []': false (true for 'not in') where e is defined
        lst = self.term(dom, depth)
        return _member(e, lst.items, negated)

    def _check_legacy_mod(self, node) -> None:
        """Reject ``a + b % c == 0``: the original format read it as ``(a + b) % c == 0``."""
        left, op, right = node.children
        if str(op) != "==" or right.data != "int" or int(str(right.children[0]).replace("_", "")) != 0:
            return
        stack = [(left, True)]
        while stack:
            n, is_root = stack.pop()
            if n.data == "binop":
                if str(n.children[1]) == "%" and not is_root:
                    raise self.error(
                        "ambiguous '%' in 'A % B == 0': the original ConstrINT format reads it as "
                        "(left of %) % (right of %), while '%' now binds like '*' (as in Python); "
                        "add parentheses, e.g. '(a + b) % c == 0' or 'a + (b % c) == 0', or read "
                        "the file with --dialect flashrnn (loads(..., dialect='flashrnn'))",
                        n.children[1],
                    )
                stack.append((n.children[0], False))
                stack.append((n.children[2], False))
            elif n.data in ("neg", "pos"):
                stack.append((n.children[1], False))
            elif n.data == "pow":
                stack.append((n.children[0], False))


_LIST_MSG = (
    "a value list [..] can only be used as 'E == [..]', 'E != [..]', 'E in [..]' or in "
    "'var x in [..]'; it stands for a choice among its values, not for a number"
)


def _member(e: Expr, items: list[Expr], negated: bool) -> Constraint:
    if all(type(v) is Const for v in items):
        return InSet(e, [v.value for v in items], negated)
    return _member_of_expressions(e, items, negated)


def _member_of_expressions(e: Expr, items: list[Expr], negated: bool) -> Constraint:
    if negated:
        return all_of([Compare("!=", e, v) for v in items])
    return any_of([Compare("==", e, v) for v in items])


def _is_bool_domain(dom) -> bool:
    """Whether a declaration's domain is the word ``bool`` (a boolean variable)."""
    from lark import Tree

    return isinstance(dom, Tree) and dom.data == "named_domain" and str(dom.children[0]) == "bool"


def _is_token(x, type_: str | None = None) -> bool:
    from lark import Token

    return isinstance(x, Token) and (type_ is None or x.type == type_)


def _names_in(tree):
    """NAME tokens that denote variables (not function names) in a parse tree, in text order."""
    from lark import Token, Tree

    out = []
    stack = [tree]
    while stack:
        n = stack.pop()
        if isinstance(n, Tree):
            if n.data == "name":
                out.append(n.children[0])
                continue
            kids = n.children[1:] if n.data == "call" else n.children
            stack.extend(reversed([k for k in kids if isinstance(k, Tree)]))
        elif isinstance(n, Token):  # pragma: no cover - tokens are handled by their parents
            pass
    return out


def _position(where) -> tuple[int | None, int | None]:
    from lark import Token

    if isinstance(where, Token):
        return where.line, where.column
    meta = getattr(where, "meta", None)
    if meta is not None and not getattr(meta, "empty", True):
        return meta.line, meta.column
    return None, None


def _end_position(text: str) -> tuple[int, int]:
    """Line and column just after the last non-blank, non-comment character."""
    lines = text.splitlines() or [""]
    for i in range(len(lines) - 1, -1, -1):
        code = lines[i].split("#", 1)[0].rstrip()
        if code:
            return i + 1, len(code) + 1
    return 1, 1


def _expected(exc) -> str:
    expected = getattr(exc, "expected", None) or getattr(exc, "allowed", None)
    if not expected:
        return ""
    names = sorted({TERMINAL_NAMES.get(t, t) for t in expected})
    if len(names) > 6:
        return ""
    if len(names) == 1:
        return f"; expected {names[0]}"
    return "; expected " + ", ".join(names[:-1]) + " or " + names[-1]


def _bracket_problem(text: str) -> tuple[str, int, int] | None:
    """The first unbalanced bracket (ignoring comments), as ``(message, line, column)``."""
    pairs = {")": "(", "]": "["}
    stack: list[tuple[str, int, int]] = []
    for ln, line in enumerate(text.splitlines(), 1):
        code = line.split("#", 1)[0]
        for col, ch in enumerate(code, 1):
            if ch in "([":
                stack.append((ch, ln, col))
            elif ch in ")]":
                if not stack or stack[-1][0] != pairs[ch]:
                    if stack:
                        o, oln, ocol = stack[-1]
                        return (
                            f"{ch!r} does not match {o!r} opened at line {oln}, column {ocol}",
                            ln,
                            col,
                        )
                    return (f"unmatched {ch!r}", ln, col)
                stack.pop()
            elif ch == ";" and stack:
                o, oln, ocol = stack[-1]
                return (f"{o!r} is never closed (the statement ends at line {ln}, column {col})", oln, ocol)
    if stack:
        o, oln, ocol = stack[-1]
        return (f"{o!r} is never closed", oln, ocol)
    return None


__all__ = ["Compiler", "UNDECLARED_LO", "UNDECLARED_HI", "KEYWORDS"]
