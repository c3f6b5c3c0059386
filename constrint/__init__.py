"""ConstrINT: an integer constraint solver with divisibility-aware propagation.

>>> import constrint as ci
>>> m = ci.Model()
>>> bm = m.int_var("bm", values=[16, 32, 64, 128])
>>> m += ci.divides(bm, 96)
>>> sorted(s["bm"] for s in m.solutions())
[16, 32]
"""
from .booleans import equivalent, if_then_else, reify, xor
from .domain import Domain
from .errors import (
    ConstraintSyntaxError,
    ConstrintError,
    InternalSolverError,
    LimitReached,
    ModelError,
    T1Error,
)
from .expr import (
    Constraint,
    Expr,
    Undefined,
    Var,
    all_of,
    any_of,
    divides,
    exact_div,
    implies,
    max_,
    min_,
    sum_,
    true_div,
    trunc,
)
from .global_constraints import (
    all_different,
    among,
    count,
    element,
    forbidden_table,
    in_set,
    inverse,
    lex_less,
    lex_lesseq,
    table,
)
from .intops import power
from .language import dump, dumps, load, loads
from .model import Model
from .presolve import Reduction
from .results import Result, Status
from .statements import Source, Statement
from .t1 import load_t1

__version__ = "0.1.0"

__all__ = [
    "Model", "Result", "Status", "Domain", "Var", "Expr", "Constraint",
    "divides", "implies", "all_of", "any_of", "min_", "max_", "sum_", "exact_div", "true_div",
    "trunc", "ConstrintError", "ModelError", "InternalSolverError", "LimitReached", "Undefined", "__version__",
    "loads", "load", "dumps", "dump", "load_t1", "ConstraintSyntaxError", "T1Error",
    "equivalent", "xor", "if_then_else", "reify", "element", "power",
    "all_different", "table", "forbidden_table", "count", "among", "in_set", "lex_less",
    "lex_lesseq", "inverse",
    "Reduction", "Source", "Statement",
]
