"""What solving returns: :class:`Result` values with a :class:`Status`."""
from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any

from .expr import Var


class Status(enum.Enum):
    """Outcome of :meth:`Model.solve`.

    >>> import constrint as ci
    >>> m = ci.Model(); x = m.int_var("x", 1, 3)
    >>> m += x > 5
    >>> m.solve().status
    <Status.INFEASIBLE: 'infeasible'>
    """

    OPTIMAL = "optimal"  #: an objective's optimum was found and proven
    FEASIBLE = "feasible"  #: a solution was found (no objective, or optimality not proven)
    INFEASIBLE = "infeasible"  #: proven to have no solution
    UNKNOWN = "unknown"  #: a limit stopped the search before any solution was found


@dataclass(frozen=True)
class Result:
    """What :meth:`Model.solve` returns.

    ``values`` maps variable names to ints (empty unless a solution was found); ``result[x]``
    accepts a variable or its name. ``objective`` is the objective's value (a tuple for a
    lexicographic objective) when one was set and a solution found.

    >>> import constrint as ci
    >>> m = ci.Model(); x = m.int_var("x", 1, 10)
    >>> m += ci.divides(3, x)
    >>> m.maximize(x)
    >>> r = m.solve()
    >>> r.status.name, r.values, r.objective, r[x], r["x"], r.ok
    ('OPTIMAL', {'x': 9}, 9, 9, 9, True)
    """

    status: Status
    values: dict[str, int] = field(default_factory=dict)
    objective: Any = None
    nodes: int = 0
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        """Whether a solution was found (status ``OPTIMAL`` or ``FEASIBLE``).

        >>> import constrint as ci
        >>> m = ci.Model(); x = m.int_var("x", 1, 3)
        >>> m.solve().ok
        True
        """
        return self.status in (Status.OPTIMAL, Status.FEASIBLE)

    def __getitem__(self, key: Var | str) -> int:
        name = key.name if isinstance(key, Var) else key
        if not self.values:
            raise KeyError(f"no solution (status {self.status.name})")
        return self.values[name]


__all__ = ["Result", "Status"]
