"""Counting and listing in worker processes: the same results as in one process, in a fixed order."""
from __future__ import annotations

import pytest

import constrint as ci


def _model():
    m = ci.Model()
    x = m.int_var("x", 1, 60)
    y = m.int_var("y", 1, 60)
    z = m.int_var("z", values=[1, 2, 4, 8])
    m += (x * y) % 7 == 3
    m += x + z <= y
    w = m.int_var("w", 0, 5)  # a free variable
    m += w != 3
    return m


def test_workers_count_and_list_the_same():
    m = _model()
    serial = sorted(map(tuple, m.solutions_array().tolist()))
    assert m.count(workers=2) == m.count() == len(serial)
    rows2 = m.solutions_array(workers=2).tolist()
    rows3 = m.solutions_array(workers=3).tolist()
    assert sorted(map(tuple, rows2)) == serial
    assert rows2 == rows3  # the order of the parts, whatever the number of workers


def test_workers_argument():
    m = _model()
    assert m.count(workers=1) == m.count(workers=None) == m.count()
    with pytest.raises(ci.ModelError, match="positive integer"):
        m.count(workers=-2)


def test_a_model_that_cannot_be_pickled_is_refused():
    m = _model()

    class Odd:
        def __init__(self, v):
            self.variables = [v]
            self.test = lambda a: a % 2 == 1

        def evaluate(self, a):
            return self.test(next(iter(a.values())))

        def propagate(self, doms):
            return {}

    m += Odd(m.var("x"))
    with pytest.raises(ci.ModelError, match="pickled"):
        m.count(workers=2)
