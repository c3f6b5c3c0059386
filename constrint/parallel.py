"""Counting and listing solutions in several processes.

The model is split on one variable: its values are cut into consecutive parts, each part is
counted (or listed) by a worker process as the model with that variable restricted to the part,
and the results are combined in the order of the parts. The parts partition the solutions, so
the count is exact and the listing holds each solution once; both are the same whatever the
number of workers or the order in which they finish.

The variable split is one of the component with the most combinations: the one with the most
values (ties: the first created). Splitting pays where the work is large (seconds): each worker
is a fresh process that imports constrint and rebuilds the model.
"""
from __future__ import annotations

import itertools
import math
import multiprocessing
import os
import pickle
import time
from concurrent.futures import ProcessPoolExecutor
from typing import Any

import numpy as np

from .errors import LimitReached, ModelError
from .problem import prepare

#: The split variable's values are cut into this many parts (fewer if it has fewer values):
#: several per worker, so that uneven parts balance out, and the same whatever the number of
#: workers, so that the rows come in the same order.
PARTS = 32


def _split(model: Any) -> tuple[str, list[list[int]]] | None:
    """The variable to split on and its parts (None: nothing worth splitting)."""
    prep = prepare(model)
    if prep is None:
        return None
    P, doms, comps, _free = prep
    if not comps:
        return None
    vars_, _cons = max(comps, key=lambda c: math.prod(doms[v].size for v in c[0]))
    v = max(vars_, key=lambda i: (doms[i].size, -i))
    size = doms[v].size
    if size < 2:
        return None
    if size > 1 << 20:
        # a huge interval: cut it into ranges
        d = doms[v]
        k = PARTS
        step = -(-(d.hi - d.lo + 1) // k)
        return P.names[v], [[lo, min(lo + step - 1, d.hi)] for lo in range(d.lo, d.hi + 1, step)]
    values = list(doms[v])
    k = min(len(values), PARTS)
    bounds = np.linspace(0, len(values), k + 1).astype(int)
    return P.names[v], [values[a:b] for a, b in itertools.pairwise(bounds) if b > a]


def _restricted(blob: bytes, name: str, part: list[int], ranged: bool) -> Any:
    from .global_constraints import in_set

    model = pickle.loads(blob)
    var = model.var(name)
    if ranged:
        model += (var >= part[0]) & (var <= part[1])
    else:
        model += in_set(var, part)
    return model


def _left(deadline: float | None) -> float | None:
    """Seconds left until ``deadline`` (wall-clock time, the same in every process), or
    :class:`LimitReached` when it has passed."""
    if deadline is None:
        return None
    left = deadline - time.time()
    if left <= 0:
        raise LimitReached("stopped by the time limit before this part started")
    return left


def _count_part(blob: bytes, name: str, part: list[int], ranged: bool, deadline: float | None) -> int:
    return _restricted(blob, name, part, ranged).count(time_limit=_left(deadline))


def _array_part(blob: bytes, name: str, part: list[int], ranged: bool, extra: tuple) -> np.ndarray:
    dtype, deadline = extra
    return _restricted(blob, name, part, ranged).solutions_array(dtype=dtype, time_limit=_left(deadline))


def _pool(workers: int) -> ProcessPoolExecutor:
    # fork where there is one (Linux): the workers start at once and a script needs no
    # 'if __name__ == "__main__"' guard; elsewhere Python's default (spawn) needs the guard
    methods = multiprocessing.get_all_start_methods()
    method = "fork" if "fork" in methods and os.name == "posix" else None
    return ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context(method))


def _payload(model: Any) -> bytes:
    try:
        return pickle.dumps(model)
    except (pickle.PicklingError, AttributeError, TypeError) as exc:
        raise ModelError(
            f"workers need a model that can be sent to other processes (pickled): {exc}; "
            "functions defined inline (lambdas) cannot be"
        ) from None


def check_workers(workers: Any) -> int:
    """``workers`` as a positive int (``None`` or 0: as many as there are CPUs)."""
    if workers is None or workers == 0:
        return os.cpu_count() or 1
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 0:
        raise ModelError(f"workers must be a positive integer, got {workers!r}")
    return workers


def _parts(model: Any, workers: int, task, extra: Any) -> list[Any] | None:
    """``task(blob, name, part, ranged, extra)`` for every part, in workers (None: nothing to
    split, or one worker)."""
    split = _split(model)
    if split is None or workers == 1:
        return None
    name, parts = split
    ranged = model.domain(name).size > 1 << 20
    blob = _payload(model)
    with _pool(workers) as pool:
        futures = [pool.submit(task, blob, name, p, ranged, extra) for p in parts]
        return [f.result() for f in futures]


def _deadline(time_limit: float | None) -> float | None:
    return None if time_limit is None else time.time() + time_limit


def count(model: Any, workers: int, time_limit: float | None = None) -> int:
    """:meth:`constrint.Model.count` in ``workers`` processes; ``time_limit`` bounds the whole
    call (each part gets what is left of it when it starts)."""
    counts = _parts(model, workers, _count_part, _deadline(time_limit))
    return model.count(time_limit=time_limit) if counts is None else sum(counts)


def solutions_array(model: Any, workers: int, dtype: Any = None, time_limit: float | None = None) -> np.ndarray:
    """:meth:`constrint.Model.solutions_array` in ``workers`` processes (rows part by part);
    ``time_limit`` as in :func:`count`."""
    blocks = _parts(model, workers, _array_part, (dtype, _deadline(time_limit)))
    if blocks is None:
        return model.solutions_array(dtype=dtype, time_limit=time_limit)
    if dtype is None and any(b.dtype == object for b in blocks):
        blocks = [b.astype(object) for b in blocks]
    return np.concatenate(blocks) if blocks else np.empty((0, len(model.variables)), dtype=dtype or np.int64)


__all__ = ["count", "solutions_array", "check_workers", "PARTS"]
