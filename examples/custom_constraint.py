# requires: hypothesis
"""Custom constraint kinds: "x is a power of two" and "all different", used like built-in ones.

A custom constraint is any object with three attributes (see ``docs/testing.md``):

* ``variables``: the variables it constrains;
* ``evaluate(assignment) -> bool``: its definition (every solution is checked with it);
* ``propagate(domains) -> dict | None``: narrowing of the current domains, keyed by variable
  name; it must never remove a value that belongs to a solution.

``constrint.testing.check_propagator`` property-tests ``propagate`` against brute force.

Run:  python examples/custom_constraint.py
"""
from __future__ import annotations

import constrint as ci
from constrint import Domain


class PowerOfTwo:
    """``x`` is 1, 2, 4, 8, ..."""

    name = "power_of_two"

    def __init__(self, x: ci.Var):
        self.variables = [x]

    def evaluate(self, assignment: dict[str, int]) -> bool:
        v = assignment[self.variables[0].name]
        return v > 0 and v & (v - 1) == 0

    def propagate(self, domains: dict[str, Domain]) -> dict[str, Domain | None]:
        name = self.variables[0].name
        d = domains[name].clip(1, None)  # powers of two are positive ...
        if d is not None:
            d = d.require_primes(frozenset({2}))  # ... and have no prime factor but 2
        return {name: d}  # None (empty) means infeasible


class AllDifferent:
    """The variables take pairwise different values."""

    name = "all_different"

    def __init__(self, *xs: ci.Var):
        self.variables = list(xs)

    def evaluate(self, assignment: dict[str, int]) -> bool:
        values = [assignment[x.name] for x in self.variables]
        return len(set(values)) == len(values)

    def propagate(self, domains: dict[str, Domain]) -> dict[str, Domain] | None:
        doms = dict(domains)
        changed = True
        while changed:  # repeat until nothing changes, so that propagating twice = once
            changed = False
            for name, d in doms.items():
                if not d.is_fixed:
                    continue
                for other, e in doms.items():
                    if other == name or d.lo not in e:
                        continue
                    e = e.remove(d.lo)  # a no-op inside a huge interval: weak but sound
                    if e is None:
                        return None
                    if e != doms[other]:
                        doms[other] = e
                        changed = True
        # pigeonhole: k variables need at least k distinct values
        explicit = all(d.is_explicit for d in doms.values())
        if explicit and len(set().union(*(d.values for d in doms.values()))) < len(doms):
            return None
        return doms


def build_model() -> ci.Model:
    """Three tile sizes: powers of two, pairwise different, with product 2**12 and a <= 32."""
    m = ci.Model()
    a, b, c = (m.int_var(n, 1, 1024) for n in ("a", "b", "c"))
    m += PowerOfTwo(a)
    m += PowerOfTwo(b)
    m += PowerOfTwo(c)
    m += AllDifferent(a, b, c)
    m += a * b * c == 4096
    m += a <= 32
    return m


def main() -> None:
    from constrint.testing import assert_sound, check_propagator

    m = build_model()
    print("model:")
    print(m)
    print("solutions:", m.count())
    m.maximize(m.var("a") + m.var("b"))
    best = m.solve()
    print("maximising a + b:", best.status.name, best.values)

    # the solver's answers on a smaller version agree with brute force
    small = ci.Model()
    xs = [small.int_var(f"x{i}", 0, 9) for i in range(3)]
    small += AllDifferent(*xs)
    small += PowerOfTwo(xs[0])
    assert_sound(small)
    print("small model agrees with brute force:", small.count(), "solutions")

    # property tests of the two propagators (random domains, brute-force reference)
    check_propagator(PowerOfTwo, max_examples=100)
    check_propagator(AllDifferent, max_examples=100)
    print("check_propagator: both propagators are sound and idempotent")


if __name__ == "__main__":
    main()
