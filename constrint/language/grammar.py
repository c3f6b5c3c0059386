"""The LALR(1) grammar of the ``.cint`` language (lark syntax) and the cached parser.

The grammar is deliberately "Python-like": comparisons, ``and``/``or``/``not`` and arithmetic are
all operators of one expression grammar; whether an expression is a constraint or an integer is
checked afterwards (:mod:`constrint.language.compiler`), which gives clearer messages than a
grammar that splits the two.
"""
from __future__ import annotations

from functools import cache
from typing import Any

GRAMMAR = r"""
start: _stmt? (_SEMI _stmt?)*
exprs: expr ("," expr)*

_stmt: decl
     | objective
     | constraint
constraint: expr

decl: _VAR NAME ("," NAME)* (_IN domain)?
?domain: value_list
       | sum _DOTDOT sum                     -> range
       | NAME                                -> named_domain
objective: (MINIMIZE | MAXIMIZE) expr ("," expr)*

?expr: or_expr
     | or_expr _IF or_expr _ELSE expr        -> ifexp
?or_expr: and_expr
        | or_expr _OR and_expr               -> or_
?and_expr: not_expr
         | and_expr _AND not_expr            -> and_
?not_expr: comparison
         | _NOT not_expr                     -> not_
?comparison: shift
           | shift (CMP_OP shift)+           -> compare
           | shift _IN domain                -> in_
           | shift _NOT _IN domain           -> not_in
?shift: sum
      | shift SHL sum                        -> binop
      | shift SHR sum                        -> binop
?sum: term
    | sum PLUS term                          -> binop
    | sum MINUS term                         -> binop
?term: factor
     | term STAR factor                      -> binop
     | term SLASH2 factor                    -> binop
     | term SLASH factor                     -> binop
     | term PERCENT factor                   -> binop
?factor: power
       | MINUS factor                        -> neg
       | PLUS factor                         -> pos
?power: postfix
      | postfix POW factor                   -> pow
?postfix: atom
        | postfix LSQB expr RSQB             -> subscript
?atom: NAME                                  -> name
     | INT                                   -> int
     | TRUE                                  -> true
     | FALSE                                 -> false
     | LPAR expr RPAR                        -> paren
     | NAME LPAR [expr ("," expr)*] RPAR     -> call
     | value_list
value_list: LSQB [expr ("," expr)* ","?] RSQB

CMP_OP: "==" | "!=" | "<=" | ">=" | "<" | ">"
SHL.2: "<<"
SHR.2: ">>"
POW: "^" | "**"
STAR: "*"
SLASH2: "//"
SLASH: "/"
PERCENT: "%"
PLUS: "+"
MINUS: "-"
LPAR: "("
RPAR: ")"
LSQB: "["
RSQB: "]"
_SEMI: ";"
_DOTDOT: ".."
_OR: "or" | "||" | "|"
_AND: "and" | "&&"
_NOT: "not"
_IN: "in"
_IF: "if"
_ELSE: "else"
_VAR: "var"
MINIMIZE: "minimize"
MAXIMIZE: "maximize"
TRUE: "true"
FALSE: "false"
NAME: /[A-Za-z_][A-Za-z0-9_]*/
INT: /[0-9]+(_[0-9]+)*/

COMMENT: /#[^\n]*/
%ignore COMMENT
%ignore /[ \t\f\r\n]+/
"""

#: Most decimal digits of an integer literal or a constant (declaration bounds, list values):
#: far beyond 64 bits, so that every model :func:`constrint.dumps` writes reads back, and below
#: Python's own limit on converting integers to and from text (4300 digits).
MAX_LITERAL_DIGITS = 4000
#: Constants at least this large in magnitude are refused.
LITERAL_BOUND = 10**MAX_LITERAL_DIGITS

#: Words that cannot name variables in ``.cint`` text.
KEYWORDS = frozenset(
    {"and", "or", "not", "in", "var", "minimize", "maximize", "true", "false", "if", "else"}
)

#: How terminals are named in error messages.
TERMINAL_NAMES = {
    "CMP_OP": "a comparison (==, !=, <, <=, >, >=)",
    "SHL": "'<<'",
    "SHR": "'>>'",
    "_IF": "'if'",
    "_ELSE": "'else'",
    "POW": "'^'",
    "STAR": "'*'",
    "SLASH2": "'//'",
    "SLASH": "'/'",
    "PERCENT": "'%'",
    "PLUS": "'+'",
    "MINUS": "'-'",
    "LPAR": "'('",
    "RPAR": "')'",
    "LSQB": "'['",
    "RSQB": "']'",
    "_SEMI": "';'",
    "SEMICOLON": "';'",
    "_DOTDOT": "'..'",
    "_OR": "'or'",
    "_AND": "'and'",
    "_NOT": "'not'",
    "_IN": "'in'",
    "_VAR": "'var'",
    "MINIMIZE": "'minimize'",
    "MAXIMIZE": "'maximize'",
    "TRUE": "'true'",
    "FALSE": "'false'",
    "NAME": "a name",
    "INT": "an integer",
    "COMMA": "','",
    "$END": "end of input",
}


#: The dialects the language reads: ``cint`` (``%`` binds like ``*``, as in Python) and
#: ``flashrnn``, the original ConstrINT format of the FlashRNN tiling models, where ``%`` binds
#: loosest of the arithmetic operators (``A % B * C == 0`` means ``A % (B * C) == 0``).
DIALECTS = ("cint", "flashrnn")

#: The grammar of the ``flashrnn`` dialect: ``%`` one level below ``+`` and ``-`` (and above the
#: shifts and comparisons), left-associative; everything else as in :data:`GRAMMAR`.
GRAMMAR_FLASHRNN = GRAMMAR.replace(
    """?shift: sum
      | shift SHL sum                        -> binop
      | shift SHR sum                        -> binop
""",
    """?shift: modsum
      | shift SHL modsum                     -> binop
      | shift SHR modsum                     -> binop
?modsum: sum
       | modsum PERCENT sum                  -> binop
""",
).replace("     | term PERCENT factor                   -> binop\n", "")


def check_dialect(dialect: Any) -> str:
    """``dialect`` if it is one of :data:`DIALECTS`, else a :class:`~constrint.ModelError`
    naming them."""
    if dialect not in DIALECTS:
        from ..errors import ModelError

        raise ModelError(f"dialect must be one of {', '.join(map(repr, DIALECTS))}, got {dialect!r}")
    return dialect


@cache
def parser(dialect: str = "cint"):
    """The lark LALR parser of a dialect (built on first use, its tables cached on disk by lark
    across processes); start symbols ``start`` and ``exprs``."""
    from lark import Lark

    return Lark(
        GRAMMAR if dialect == "cint" else GRAMMAR_FLASHRNN,
        parser="lalr",
        lexer="contextual",
        start=["start", "exprs"],
        propagate_positions=True,
        maybe_placeholders=True,
        cache=True,
    )
