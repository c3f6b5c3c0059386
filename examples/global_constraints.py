"""Global constraints, booleans and the python-constraint front door, in one script.

    python examples/global_constraints.py

* the n-queens problems counted with three all_different constraints;
* a choice of kernel configurations restricted to measured ones (a table), with booleans;
* the same small problem written for python-constraint, run on constrint by changing the import.
"""
import constrint as ci
from constrint.compat.python_constraint import AllDifferentConstraint, Problem


def queens(n: int) -> int:
    m = ci.Model()
    q = [m.int_var(f"q{i}", 0, n - 1) for i in range(n)]
    m += ci.all_different(q)
    m += ci.all_different(q[i] + i for i in range(n))
    m += ci.all_different(q[i] - i for i in range(n))
    return m.count()


def measured_configurations() -> None:
    m = ci.Model()
    block = m.int_var("block", 32, 1024)
    warps = m.int_var("warps", 1, 32)
    unroll = m.int_var("unroll", 1, 8)
    vector = m.bool_var("vector")                      # vectorised loads or not
    m += ci.table([block, warps], [(128, 4), (256, 8), (512, 16), (1024, 32), (256, 4)])
    m += ci.implies(vector, ci.in_set(unroll, {2, 4, 8}))
    m += (unroll > 4) + (block > 256) <= 1             # at most one of the two
    m.maximize([block * unroll, vector])
    print("configurations:", m.count())
    print("best:", m.solve().values)
    print(ci.dumps(m), end="")


def python_constraint_code() -> None:
    problem = Problem()
    problem.addVariables(["a", "b", "c"], [1, 2, 3, 4])
    problem.addConstraint(AllDifferentConstraint())
    problem.addConstraint("a + b == c")
    solutions = sorted(tuple(s[k] for k in "abc") for s in problem.getSolutions())
    print("python-constraint code on constrint:", solutions)


if __name__ == "__main__":
    print("n-queens:", {n: queens(n) for n in range(4, 11)})
    measured_configurations()
    python_constraint_code()
