"""constrint.compat.python_constraint against python-constraint itself (when it is installed) and
against brute force."""
from __future__ import annotations

import itertools

import pytest
from hypothesis import given, reject, settings
from hypothesis import strategies as st

import constrint.compat.python_constraint as ours

try:
    import constraint as theirs
except ImportError:  # in the test extra; a plain install may lack it
    theirs = None

needs_theirs = pytest.mark.skipif(theirs is None, reason="python-constraint2 is not installed")


def _key(solutions):
    return sorted(sorted((repr(k), repr(v)) for k, v in s.items()) for s in solutions)


def queens(mod, n=6):
    p = mod.Problem()
    cols = list(range(n))
    p.addVariables(cols, range(n))
    for a, b in itertools.combinations(cols, 2):
        p.addConstraint(lambda x, y, a=a, b=b: x != y and abs(x - y) != b - a, (a, b))
    return p


def magic3(mod):
    p = mod.Problem()
    names = [f"c{i}" for i in range(9)]
    p.addVariables(names, range(1, 10))
    p.addConstraint(mod.AllDifferentConstraint(), names)
    for row in range(3):
        p.addConstraint(mod.ExactSumConstraint(15), names[3 * row : 3 * row + 3])
    for col in range(3):
        p.addConstraint(mod.ExactSumConstraint(15), names[col::3])
    p.addConstraint(mod.ExactSumConstraint(15), ["c0", "c4", "c8"])
    p.addConstraint(mod.ExactSumConstraint(15), ["c2", "c4", "c6"])
    return p


def kernel_tuner(mod):
    p = mod.Problem(mod.OptimizedBacktrackingSolver(forwardcheck=False))
    p.addVariable("block_size_x", [1, 2, 4, 8, 16] + list(range(32, 1025, 32)))
    p.addVariable("block_size_y", [2**i for i in range(6)])
    p.addVariable("tile_size_x", list(range(1, 5)))
    p.addVariable("tile_size_y", list(range(1, 5)))
    p.addVariable("use_shmem", [0, 1])
    p.addVariable("precision", ["half", "float", "double"])
    for r in [
        "block_size_x*block_size_y >= 32",
        "block_size_x*block_size_y <= 1024",
        "(block_size_x*tile_size_x + 2) * (block_size_y*tile_size_y + 2) * 4 <= 16384 or use_shmem == 0",
        "precision != 'double' or tile_size_x * tile_size_y <= 4",
    ]:
        p.addConstraint(r)
    return p


def mixed(mod):
    p = mod.Problem()
    p.addVariable("s", ["a", "b", "c"])
    p.addVariable("f", [0.5, 1.0, 2.5])
    p.addVariable("t", [(1, 2), (3, 4), "x"])
    p.addVariable("n", range(-2, 4))
    p.addConstraint(mod.InSetConstraint({"a", "c", 2.5, 3}), ["s", "n"])
    p.addConstraint(mod.NotInSetConstraint({(1, 2)}), ["t"])
    p.addConstraint(mod.SomeInSetConstraint({0.5, -2, "x"}, 1), ["f", "n", "t"])
    p.addConstraint(mod.SomeNotInSetConstraint({1.0, 3}, 1, exact=True), ["f", "n"])
    p.addConstraint(lambda s, t: s != "c" or t != "x", ["s", "t"])
    return p


def sums(mod):
    p = mod.Problem()
    p.addVariables(["a", "b", "c"], range(-3, 5))
    p.addVariable("d", [1, 2, 4, 8])
    p.addConstraint(mod.MaxSumConstraint(6, [1, 2, -1]), ["a", "b", "c"])
    p.addConstraint(mod.MinSumConstraint(-1), ["a", "b"])
    p.addConstraint(mod.ExactProdConstraint(8), ["d", "c"])
    p.addConstraint(mod.MaxProdConstraint(6), ["a", "b"])
    p.addConstraint(mod.MinProdConstraint(-4), ["a", "c"])
    p.addConstraint(mod.VariableExactSumConstraint("d", ["a", "b"]))
    p.addConstraint(mod.AllEqualConstraint(), ["c", "c"])
    return p


def float_sums(mod):
    p = mod.Problem()
    p.addVariables(["x", "y"], [0.1, 0.2, 0.3, 1, 2])
    p.addConstraint(mod.MinSumConstraint(0.4), ["x", "y"])
    p.addConstraint(mod.MaxSumConstraint(2.5, [1.5, 1]))
    return p


PROBLEMS = [queens, magic3, kernel_tuner, mixed, sums, float_sums]


@needs_theirs
@pytest.mark.parametrize("build", PROBLEMS, ids=lambda f: f.__name__)
def test_same_solutions_as_python_constraint(build):
    expected = _key(build(theirs).getSolutions())
    assert expected, "the problem should have solutions"
    p = build(ours)
    assert _key(p.getSolutions()) == expected
    assert p.count() == len(expected)
    assert _key(p.getSolutionIter()) == expected
    assert p.getSolution() in p.getSolutions()


@needs_theirs
def test_list_dict_form_as_kernel_tuner_uses_it():
    order = ["block_size_x", "block_size_y", "tile_size_x", "tile_size_y", "use_shmem", "precision"]
    a, ia, na = kernel_tuner(theirs).getSolutionsAsListDict(order=order)
    b, ib, nb = kernel_tuner(ours).getSolutionsAsListDict(order=order)
    assert na == nb and sorted(a) == sorted(b) and set(ia) == set(ib)
    assert all(ib[t] == i for i, t in enumerate(b))


@pytest.mark.parametrize("build", [queens, mixed, sums, float_sums], ids=lambda f: f.__name__)
def test_solutions_equal_brute_force(build):
    p = build(ours)
    names = list(p._variables)
    model, back, decode = p.model()
    from constrint.testing import brute_force_solutions

    def decoded(s):
        return {back[n]: decode[n].get(v, v) if decode[n] else v for n, v in s.items()}

    assert _key(p.getSolutions()) == _key(decoded(s) for s in brute_force_solutions(model))
    assert len(names) == len(model.variables)


def test_edge_cases():
    p = ours.Problem()
    assert p.getSolutions() == [] and p.getSolution() is None and list(p.getSolutionIter()) == []
    p.addVariable("a", [1, 2])
    with pytest.raises(ValueError, match="duplicated"):
        p.addVariable("a", [3])
    with pytest.raises(ValueError, match="empty"):
        p.addVariable("b", [])
    with pytest.raises(ValueError, match="Constraint class"):
        p.addConstraint(42)
    p.addConstraint("a > 5")
    assert p.getSolution() is None and p.count() == 0
    q = ours.Problem()
    q.addVariables([1, (2, 3), "if"], [0, 1])  # names that are not identifiers
    q.addConstraint(ours.ExactSumConstraint(1))
    assert sorted(sorted(s.values()) for s in q.getSolutions()) == [[0, 0, 1]] * 3
    with pytest.raises(ValueError, match="restriction"):
        r = ours.Problem()
        r.addVariable("x", [1])
        r.addConstraint("x.real > 0")
        r.getSolutions()


# products are left out: python-constraint2 2.9.0 prunes MaxProdConstraint unsoundly where
# several variables hold values below 1 (MaxProd(0) over v0 in [1], v1, v2 in [0, 1] with v1 != v2
# loses v0=1, v1=1, v2=0); constrint's products are exact (see test_products_below_one)
_builtin = st.sampled_from(["alldiff", "allequal", "maxsum", "minsum", "exactsum",
                            "inset", "notinset", "somein", "somenotin", "function", "string"])


def test_products_below_one():
    p = ours.Problem()
    p.addVariable("v0", [1])
    p.addVariables(["v1", "v2"], [0, 1])
    p.addConstraint(ours.MaxProdConstraint(0))
    p.addConstraint(ours.AllDifferentConstraint(), ["v1", "v2"])
    assert _key(p.getSolutions()) == _key([{"v0": 1, "v1": 0, "v2": 1}, {"v0": 1, "v1": 1, "v2": 0}])


def _even_sum(*xs):
    return sum(xs) % 2 == 0


def _constraint(mod, kind, k, vals):
    if kind == "alldiff":
        return mod.AllDifferentConstraint()
    if kind == "allequal":
        return mod.AllEqualConstraint()
    if kind == "maxsum":
        return mod.MaxSumConstraint(k)
    if kind == "minsum":
        return mod.MinSumConstraint(k)
    if kind == "exactsum":
        return mod.ExactSumConstraint(k)
    if kind == "inset":
        return mod.InSetConstraint(vals)
    if kind == "notinset":
        return mod.NotInSetConstraint(vals)
    if kind == "somein":
        return mod.SomeInSetConstraint(vals, 1)
    if kind == "somenotin":
        return mod.SomeNotInSetConstraint(vals, 1, exact=True)
    return _even_sum


@needs_theirs
@settings(deadline=None)
@given(st.data())
def test_random_problems_like_python_constraint(data):
    n = data.draw(st.integers(1, 4))
    domains = [data.draw(st.lists(st.integers(-3, 5), min_size=1, max_size=4, unique=True)) for _ in range(n)]
    specs = []
    for _ in range(data.draw(st.integers(1, 4))):
        kind = data.draw(_builtin)
        scope = data.draw(st.lists(st.integers(0, n - 1), min_size=1, max_size=n, unique=True))
        k = data.draw(st.integers(-4, 6))
        vals = data.draw(st.sets(st.integers(-3, 5), max_size=3))
        specs.append((kind, scope, k, vals))

    def build(mod):
        p = mod.Problem()
        for i, d in enumerate(domains):
            p.addVariable(f"v{i}", d)
        for kind, scope, k, vals in specs:
            names = [f"v{i}" for i in scope]
            if kind == "string":
                p.addConstraint(" + ".join(names) + f" != {k}")
            else:
                p.addConstraint(_constraint(mod, kind, k, vals), names)
        return p

    try:
        expected = _key(build(theirs).getSolutions())
    except ValueError as exc:
        # python-constraint's preprocessing can empty a domain and then fail on max([])
        if "empty sequence" not in str(exc):
            raise
        reject()
    assert _key(build(ours).getSolutions()) == expected
