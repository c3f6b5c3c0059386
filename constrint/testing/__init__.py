"""Tools to test solver soundness: hypothesis strategies and a brute-force oracle.

Needs hypothesis (``pip install constrint[testing]``).
"""
from .oracle import brute_force_optimum, brute_force_solutions, cartesian_size
from .strategies import ALL_CONSTRAINTS, ALL_OPS, constraints, domains, expressions, models

__all__ = [
    "brute_force_solutions", "brute_force_optimum", "cartesian_size",
    "domains", "expressions", "constraints", "models", "ALL_OPS", "ALL_CONSTRAINTS",
]
