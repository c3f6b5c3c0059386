"""Tools to test solver soundness: hypothesis strategies, a brute-force oracle, assertions that
compare the solver with it, and a property test for custom propagators.

Needs hypothesis (``pip install constrint[testing]``). See ``docs/testing.md``.
"""
from .assertions import (
    CHECKS,
    EquivalenceError,
    SoundnessError,
    assert_equivalent,
    assert_sound,
    build_model,
    format_assignment,
    minimize_failure,
    model_text,
)
from .oracle import (
    ORACLE_LIMIT,
    brute_force_count,
    brute_force_optimum,
    brute_force_solutions,
    cartesian_size,
)
from .propagation import (
    PropagatorError,
    check_propagation,
    check_propagator,
    format_domains,
)
from .strategies import (
    ALL_CONSTRAINTS,
    ALL_OPS,
    BOOLEAN_KINDS,
    COMPARISONS,
    EVERY_OP,
    EXTRA_OPS,
    GLOBAL_KINDS,
    INT_OPS,
    PARTIAL_OPS,
    add_var,
    constraints,
    custom_constraints,
    domain_lists,
    domain_objects,
    domains,
    expression_depth,
    expressions,
    int_values,
    models,
    to_domain,
)

__all__ = [
    # oracle
    "brute_force_solutions", "brute_force_optimum", "brute_force_count", "cartesian_size",
    "ORACLE_LIMIT",
    # strategies
    "domains", "domain_objects", "domain_lists", "int_values", "expressions", "constraints",
    "custom_constraints", "models", "add_var", "to_domain", "expression_depth",
    "ALL_OPS", "EXTRA_OPS", "INT_OPS", "EVERY_OP", "PARTIAL_OPS", "ALL_CONSTRAINTS",
    "BOOLEAN_KINDS", "GLOBAL_KINDS", "COMPARISONS",
    # assertions
    "assert_sound", "assert_equivalent", "SoundnessError", "EquivalenceError", "CHECKS",
    "minimize_failure", "model_text", "format_assignment", "build_model",
    # custom propagators
    "check_propagator", "check_propagation", "PropagatorError", "format_domains",
]
