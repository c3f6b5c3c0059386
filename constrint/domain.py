"""Domains of integer variables and expressions.

A :class:`Domain` is an inclusive interval ``[lo, hi]`` intersected with, where useful,

* an explicit sorted value set (``values``) — kept only when small,
* a required factor (every value is a multiple of ``factor``),
* a set of allowed primes (every value is non-zero and all prime factors of ``|v|`` are in
  ``primes``).

Domains are immutable. Operations return a new domain, or ``None`` when it would be empty.
Intervals are never expanded into value lists unless they hold at most :data:`EXPAND_LIMIT` values.
"""
from __future__ import annotations

import math
from bisect import bisect_left, bisect_right
from collections.abc import Iterable, Iterator
from functools import lru_cache

from .intmath import (
    first_multiple_at_least,
    is_smooth,
    last_multiple_at_most,
    prime_set,
    smooth_numbers,
)

#: Intervals with at most this many values are stored as explicit value sets.
EXPAND_LIMIT = 256
#: Prime-restricted intervals with at most this many values are stored as explicit sets.
SMOOTH_LIMIT = 4096


class Domain:
    """An immutable set of integers; see the module docstring for its parts.

    >>> Domain.interval(1, 100, factor=8).size
    12
    """

    __slots__ = ("_size", "factor", "hi", "lo", "primes", "values")

    lo: int
    hi: int
    values: tuple[int, ...] | None
    factor: int
    primes: frozenset[int] | None

    def __init__(self, lo, hi, values, factor, primes, size):  # internal: use the constructors
        self.lo = lo
        self.hi = hi
        self.values = values
        self.factor = factor
        self.primes = primes
        self._size = size

    # ------------------------------------------------------------------ constructors
    @staticmethod
    def const(v: int) -> Domain:
        """The domain ``{v}``.

        >>> Domain.const(5), Domain.const(5).is_fixed
        ({5}, True)
        """
        return Domain(v, v, (v,), abs(v) or 1, None, 1)

    @staticmethod
    def from_values(values: Iterable[int]) -> Domain | None:
        """The domain of the given integers (``None`` if there are none).

        >>> Domain.from_values([3, 1, 2, 3]), Domain.from_values([])
        ({1, 2, 3}, None)
        """
        vals = tuple(sorted(set(values)))
        if not vals:
            return None
        return Domain._explicit(vals)

    @staticmethod
    def _explicit(vals: tuple[int, ...]) -> Domain:
        return Domain(vals[0], vals[-1], vals, math.gcd(*vals) or 1, None, len(vals))

    @staticmethod
    def interval(
        lo: int, hi: int, factor: int = 1, primes: Iterable[int] | None = None
    ) -> Domain | None:
        """The integers in ``[lo, hi]`` that are multiples of ``factor`` (and ``primes``-smooth).

        Huge intervals are never expanded; their size is still exact:

        >>> Domain.interval(1, 100, factor=8)
        {8, 16, 24, 32, 40, 48, 56, 64, 72, 80, 88, 96}
        >>> Domain.interval(1, 10**12, primes=frozenset({2})).size     # powers of two
        40
        """
        factor = abs(factor) or 1
        lo = first_multiple_at_least(lo, factor)
        hi = last_multiple_at_most(hi, factor)
        if lo > hi:
            return None
        if primes is not None:
            ps = frozenset(primes)
            listed = _smooth_in_range(ps, lo, hi, factor)
            if listed is not None:
                return Domain.from_values(listed)
            return Domain(lo, hi, None, factor, ps, None)
        n = (hi - lo) // factor + 1
        if n <= EXPAND_LIMIT:
            return Domain._explicit(tuple(range(lo, hi + 1, factor)))
        return Domain(lo, hi, None, factor, None, n)

    # ------------------------------------------------------------------ queries
    @property
    def size(self) -> int:
        """Exact number of values.

        >>> Domain.interval(0, 10**18).size
        1000000000000000001
        """
        if self._size is None:
            self._size = sum(1 for _ in self)
        return self._size

    @property
    def is_fixed(self) -> bool:
        """Whether exactly one value remains.

        >>> Domain.const(3).is_fixed, Domain.interval(3, 4).is_fixed
        (True, False)
        """
        return self.lo == self.hi

    @property
    def is_explicit(self) -> bool:
        """Whether the values are stored as an explicit set.

        >>> Domain.from_values([1, 5]).is_explicit, Domain.interval(1, 10**9).is_explicit
        (True, False)
        """
        return self.values is not None

    def __contains__(self, v: int) -> bool:
        if v < self.lo or v > self.hi:
            return False
        if self.values is not None:
            return _bisect_contains(self.values, v)
        if v % self.factor:
            return False
        return self.primes is None or is_smooth(v, self.primes)

    def __iter__(self) -> Iterator[int]:
        if self.values is not None:
            return iter(self.values)
        if self.primes is None:
            return iter(range(self.lo, self.hi + 1, self.factor))
        return iter(sorted(_smooth_iter(self.primes, self.lo, self.hi, self.factor)))

    def descending(self) -> Iterator[int]:
        """The values from largest to smallest.

        >>> list(Domain.from_values([1, 5, 3]).descending())
        [5, 3, 1]
        """
        if self.values is not None:
            return reversed(self.values)
        if self.primes is None:
            return iter(range(self.hi, self.lo - 1, -self.factor))
        return reversed(list(self))

    def prime_support(self) -> frozenset[int] | None:
        """Primes that may divide a value, or ``None`` when unknown (or 0 is a value).

        >>> sorted(Domain.from_values([12, 18]).prime_support())
        [2, 3]
        """
        if self.primes is not None:
            return self.primes
        if self.values is not None and len(self.values) <= 64 and 0 not in self:
            out: set[int] = set()
            for v in self.values:
                if abs(v) > 1:
                    out |= prime_set(v)
            return frozenset(out)
        return None

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Domain):
            return NotImplemented
        return (
            self.lo == other.lo
            and self.hi == other.hi
            and self.values == other.values
            and self.factor == other.factor
            and self.primes == other.primes
        )

    def __hash__(self) -> int:
        return hash((self.lo, self.hi, self.values, self.factor, self.primes))

    def __repr__(self) -> str:
        if self.values is not None:
            if len(self.values) <= 12:
                return "{" + ", ".join(map(str, self.values)) + "}"
            return f"{{{self.values[0]}, {self.values[1]}, ..., {self.values[-1]}}} ({len(self.values)} values)"
        parts = [f"{self.lo}..{self.hi}"]
        if self.factor > 1:
            parts.append(f"multiple of {self.factor}")
        if self.primes is not None:
            parts.append("primes " + "{" + ", ".join(map(str, sorted(self.primes))) + "}")
        return ", ".join(parts)

    # ------------------------------------------------------------------ narrowing
    def clip(self, lo: int | None, hi: int | None) -> Domain | None:
        """Intersection with ``[lo, hi]`` (``None`` = unbounded on that side).

        >>> Domain.interval(1, 64).clip(10, 14), Domain.interval(1, 64).clip(None, 0)
        ({10, 11, 12, 13, 14}, None)
        """
        nlo = self.lo if lo is None or lo <= self.lo else lo
        nhi = self.hi if hi is None or hi >= self.hi else hi
        if nlo == self.lo and nhi == self.hi:
            return self
        if nlo > nhi:
            return None
        if self.values is not None:
            vals = self.values
            i = bisect_left(vals, nlo)
            j = bisect_right(vals, nhi)
            if i >= j:
                return None
            return Domain._explicit(vals[i:j])
        return Domain.interval(nlo, nhi, self.factor, self.primes)

    def require_factor(self, f: int) -> Domain | None:
        """Keep only multiples of ``f``.

        >>> Domain.interval(1, 64).require_factor(16)
        {16, 32, 48, 64}
        """
        f = abs(f)
        if f <= 1 or self.factor % f == 0:
            return self
        if self.values is not None:
            return Domain.from_values(v for v in self.values if v % f == 0)
        return Domain.interval(self.lo, self.hi, self.factor * f // math.gcd(self.factor, f), self.primes)

    def require_primes(self, primes: frozenset[int]) -> Domain | None:
        """Keep only non-zero values whose prime factors lie in ``primes``.

        >>> Domain.interval(0, 64).require_primes(frozenset({3}))
        {1, 3, 9, 27}
        """
        if self.primes is not None and self.primes <= primes:
            return self
        if self.values is not None:
            return Domain.from_values(v for v in self.values if is_smooth(v, primes))
        ps = primes if self.primes is None else (self.primes & primes)
        if self.factor > 1 and not prime_set(self.factor) <= ps:
            return None
        return Domain.interval(self.lo, self.hi, self.factor, ps)

    def remove(self, v: int) -> Domain | None:
        """Remove one value (a no-op for a large interval when ``v`` is inside).

        >>> Domain.from_values([1, 2, 3]).remove(2), Domain.const(2).remove(2)
        ({1, 3}, None)
        """
        if v not in self:
            return self
        if self.values is not None:
            return Domain.from_values(x for x in self.values if x != v)
        if v == self.lo:
            return Domain.interval(self.lo + 1, self.hi, self.factor, self.primes)
        if v == self.hi:
            return Domain.interval(self.lo, self.hi - 1, self.factor, self.primes)
        return self

    def filter(self, keep) -> Domain | None:
        """Keep the values for which ``keep(v)`` is true (explicit domains only; else unchanged).

        >>> Domain.interval(1, 30).filter(lambda v: v % 7 == 0)
        {7, 14, 21, 28}
        """
        if self.values is None:
            return self
        vals = tuple(v for v in self.values if keep(v))
        if len(vals) == len(self.values):
            return self
        return Domain._explicit(vals) if vals else None

    def intersect(self, other: Domain) -> Domain | None:
        """Set intersection (``None`` if empty).

        >>> Domain.interval(1, 64).intersect(Domain.from_values([0, 5, 70]))
        {5}
        """
        if other is self:
            return self
        if self.values is not None and other.values is not None:
            if len(self.values) > len(other.values):
                small, big = other, self
            else:
                small, big = self, other
            members = set(big.values)
            vals = tuple(v for v in small.values if v in members)
            if len(vals) == len(small.values):
                return small
            return Domain._explicit(vals) if vals else None
        if self.values is not None or other.values is not None:
            exp, oth = (self, other) if self.values is not None else (other, self)
            d = exp.clip(oth.lo, oth.hi)
            if d is None:
                return None
            return d.filter(oth.__contains__)
        lo = max(self.lo, other.lo)
        hi = min(self.hi, other.hi)
        f = self.factor * other.factor // math.gcd(self.factor, other.factor)
        if self.primes is None:
            ps = other.primes
        elif other.primes is None:
            ps = self.primes
        else:
            ps = self.primes & other.primes
        if (
            lo == self.lo and hi == self.hi and f == self.factor and ps == self.primes
        ):
            return self
        return Domain.interval(lo, hi, f, ps)

    def union(self, other: Domain) -> Domain:
        """Smallest representable domain holding both (an over-approximation of the union).

        >>> Domain.from_values([1, 2]).union(Domain.from_values([9]))
        {1, 2, 9}
        """
        if self.values is not None and other.values is not None:
            return Domain.from_values(self.values + other.values)  # type: ignore[return-value]
        f = math.gcd(self.factor, other.factor)
        if self.primes is not None and other.primes is not None:
            ps: frozenset[int] | None = self.primes | other.primes
        else:
            ps = None
        return Domain.interval(min(self.lo, other.lo), max(self.hi, other.hi), f, ps)  # type: ignore[return-value]

    def split(self) -> tuple[Domain, Domain]:
        """Two non-empty halves (the domain must hold at least two values).

        >>> Domain.interval(1, 4).split()
        ({1, 2}, {3, 4})
        """
        if self.values is not None:
            k = len(self.values) // 2
            return Domain._explicit(self.values[:k]), Domain._explicit(self.values[k:])
        mid = self.lo + ((self.hi - self.lo) // (2 * self.factor)) * self.factor
        a = Domain.interval(self.lo, mid, self.factor, self.primes)
        b = Domain.interval(mid + 1, self.hi, self.factor, self.primes)
        assert a is not None and b is not None
        return a, b


def _bisect_contains(vals, x):
    i = bisect_left(vals, x)
    return i < len(vals) and vals[i] == x


def _smooth_iter(primes: frozenset[int], lo: int, hi: int, factor: int) -> Iterator[int]:
    bound = max(abs(lo), abs(hi))
    for m in smooth_numbers(primes, bound):
        if m % factor:
            continue
        if lo <= m <= hi:
            yield m
        if lo <= -m <= hi:
            yield -m


@lru_cache(maxsize=1024)
def _smooth_in_range(primes: frozenset[int], lo: int, hi: int, factor: int) -> list[int] | None:
    """All values of the prime-restricted interval, or ``None`` if there are too many."""
    if factor > 1 and not prime_set(factor) <= primes:
        return []
    out: list[int] = []
    bound = max(abs(lo), abs(hi))
    produced = 0
    for m in smooth_numbers(primes, bound):
        produced += 1
        if produced > 4 * SMOOTH_LIMIT:
            return None
        if m % factor:
            continue
        if lo <= m <= hi:
            out.append(m)
        if lo <= -m <= hi:
            out.append(-m)
        if len(out) > SMOOTH_LIMIT:
            return None
    return out
