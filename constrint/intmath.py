"""Integer helpers for propagation: divisors, factorisations, integer roots, smooth numbers.

Number theory comes from :mod:`sympy` and :mod:`math`; nothing here keeps global state. sympy is
imported on first use, and only for numbers of at least :data:`SMALL` (factorisations, divisor
lists) or roots beyond float precision: its import (0.3-0.4 s) was most of the start-up time of a
solve from the shell, while the numbers of tiling models are small enough for trial division
(at most 2**16 candidate divisors each).
"""
from __future__ import annotations

import heapq
import math
from collections.abc import Iterable, Iterator
from functools import lru_cache

#: Numbers below this are factorised by trial division (no sympy).
SMALL = 1 << 32


def _sympy():
    import sympy

    return sympy


def factorint(n: int) -> dict[int, int]:
    """Prime factorisation of ``|n|`` (``n != 0``) as ``{prime: exponent}``."""
    return _factorint_cached(abs(n))


@lru_cache(maxsize=4096)
def _factorint_cached(n: int) -> dict[int, int]:
    if n >= SMALL:
        return dict(_sympy().factorint(n))
    out: dict[int, int] = {}
    for p in (2, 3):
        while n % p == 0:
            out[p] = out.get(p, 0) + 1
            n //= p
    p = 5
    while p * p <= n:  # candidates 6k - 1 and 6k + 1
        for q in (p, p + 2):
            while n % q == 0:
                out[q] = out.get(q, 0) + 1
                n //= q
        p += 6
    if n > 1:
        out[n] = out.get(n, 0) + 1
    return out


def prime_set(n: int) -> frozenset[int]:
    """The primes dividing ``n`` (``n != 0``)."""
    return frozenset(factorint(n))


def divisors(n: int) -> list[int]:
    """Positive divisors of ``|n|`` in ascending order (``n != 0``)."""
    n = abs(n)
    if n >= SMALL:
        return list(_sympy().divisors(n))
    out = [1]
    for p, e in factorint(n).items():
        out = [d * p**k for d in out for k in range(e + 1)]
    return sorted(out)


def count_divisors(n: int) -> int:
    """Number of positive divisors of ``|n|`` (``n != 0``)."""
    return math.prod(e + 1 for e in factorint(n).values())


def iroot_floor(n: int, p: int) -> int:
    """Largest integer ``r >= 0`` with ``r**p <= n`` (``n >= 0``, ``p >= 1``)."""
    if n < 0:
        raise ValueError("iroot_floor needs n >= 0")
    if p == 1 or n < 2:
        return n
    if p == 2:
        return math.isqrt(n)
    # bisection on the bit length: r in [2**(b // p), 2**(b // p + 1))
    b = n.bit_length()
    lo, hi = 1 << ((b - 1) // p), 1 << ((b - 1) // p + 1)
    while lo + 1 < hi:
        mid = (lo + hi) // 2
        if mid**p <= n:
            lo = mid
        else:
            hi = mid
    return lo


def iroot_ceil(n: int, p: int) -> int:
    """Smallest integer ``r >= 0`` with ``r**p >= n`` (``n >= 0``)."""
    r = iroot_floor(n, p)
    return r if r**p >= n else r + 1


def root_factor(f: int, p: int) -> int:
    """Smallest ``g`` such that ``f | x**p`` implies ``g | x``: the product of q**ceil(e/p)."""
    g = 1
    for q, e in factorint(f).items():
        g *= q ** (-(-e // p))
    return g


def ceil_div(a: int, b: int) -> int:
    """Ceiling of ``a / b`` for integers (``b != 0``)."""
    return -((-a) // b)


def first_multiple_at_least(lo: int, f: int) -> int:
    """Smallest multiple of ``f`` (``f >= 1``) that is ``>= lo``."""
    return ceil_div(lo, f) * f


def last_multiple_at_most(hi: int, f: int) -> int:
    """Largest multiple of ``f`` (``f >= 1``) that is ``<= hi``."""
    return (hi // f) * f


def is_smooth(v: int, primes: Iterable[int]) -> bool:
    """Whether ``v != 0`` and every prime factor of ``|v|`` lies in ``primes``."""
    if v == 0:
        return False
    v = abs(v)
    for p in primes:
        while v % p == 0:
            v //= p
    return v == 1


def smooth_numbers(primes: Iterable[int], hi: int) -> Iterator[int]:
    """Positive integers ``<= hi`` whose prime factors all lie in ``primes``, ascending."""
    ps = sorted(set(primes))
    if hi < 1:
        return
    heap = [1]
    seen = {1}
    while heap:
        v = heapq.heappop(heap)
        yield v
        for p in ps:
            w = v * p
            if w <= hi and w not in seen:
                seen.add(w)
                heapq.heappush(heap, w)
