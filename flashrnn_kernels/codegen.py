"""Generate the CUDA device code of every cell from :mod:`.cells` (no torch needed).

The pointwise functions of :mod:`.cells` are run on symbolic values that record each
operation as one line of straight-line C++ (common subexpressions shared). The result,
``csrc/cells_generated.cuh``, holds one ``flashrnn::CellDef<ID>`` per cell with its sizes,
bias layout and ``forward`` / ``backward`` device functions, templated on the arithmetic type.

The header is checked in, so every ``.cu`` file compiles with nvcc alone; a test checks that it
matches this generator. After changing :mod:`.cells`, regenerate it with::

    python -m flashrnn_kernels.codegen          # writes flashrnn_kernels/csrc/cells_generated.cuh
    python -m flashrnn_kernels.codegen --check  # exit status 1 if the file is stale
"""
from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .cells import CELLS, Cell

HEADER_PATH = Path(__file__).parent / "csrc" / "cells_generated.cuh"


class _Tracer:
    """Collects statements ``const A tK = <expr>;`` with common subexpressions merged."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self._memo: dict[str, str] = {}

    def temp(self, expr: str) -> Sym:
        name = self._memo.get(expr)
        if name is None:
            name = f"t{len(self._memo)}"
            self._memo[expr] = name
            self.lines.append(f"const A {name} = {expr};")
        return Sym(self, name)


def _lit(value: float) -> str:
    return f"A({float(value)!r})"


class Sym:
    """A symbolic scalar of type ``A`` in generated device code."""

    __slots__ = ("code", "tracer")

    def __init__(self, tracer: _Tracer, code: str) -> None:
        self.tracer = tracer
        self.code = code

    def _c(self, other: Any) -> str:
        if isinstance(other, Sym):
            return other.code
        if isinstance(other, (int, float)):
            return _lit(other)
        return NotImplemented  # type: ignore[return-value]

    def _bin(self, op: str, a: Any, b: Any) -> Sym:
        ca, cb = self._c(a), self._c(b)
        if ca is NotImplemented or cb is NotImplemented:
            return NotImplemented  # type: ignore[return-value]
        return self.tracer.temp(f"{ca} {op} {cb}")

    def __add__(self, o):
        return self._bin("+", self, o)

    def __radd__(self, o):
        return self._bin("+", o, self)

    def __sub__(self, o):
        return self._bin("-", self, o)

    def __rsub__(self, o):
        return self._bin("-", o, self)

    def __mul__(self, o):
        return self._bin("*", self, o)

    def __rmul__(self, o):
        return self._bin("*", o, self)

    def __truediv__(self, o):
        return self._bin("/", self, o)

    def __rtruediv__(self, o):
        return self._bin("/", o, self)

    def __neg__(self):
        return self.tracer.temp(f"-{self.code}")

    def __bool__(self) -> bool:
        raise TypeError("a symbolic value has no truth value: use ops.ge / ops.maximum")


class SymOps:
    """The ``ops`` namespace of :mod:`.cells` for symbolic values (see ``pointwise_math.cuh``)."""

    @staticmethod
    def _un(fn: str, a: Sym) -> Sym:
        return a.tracer.temp(f"{fn}({a.code})")

    def sigmoid(self, a: Sym) -> Sym:
        return self._un("fr_sigmoid", a)

    def tanh(self, a: Sym) -> Sym:
        return self._un("fr_tanh", a)

    def exp(self, a: Sym) -> Sym:
        return self._un("fr_exp", a)

    def logsigmoid(self, a: Sym) -> Sym:
        return self._un("fr_logsigmoid", a)

    @staticmethod
    def _pair(a: Sym | float, b: Sym | float) -> tuple[_Tracer, str, str]:
        """The tracer and the code of two operands, at least one symbolic (a float is a literal)."""
        tracer = a.tracer if isinstance(a, Sym) else b.tracer
        return tracer, (a.code if isinstance(a, Sym) else _lit(a)), (b.code if isinstance(b, Sym) else _lit(b))

    def maximum(self, a: Sym | float, b: Sym | float) -> Sym:
        tracer, x, y = self._pair(a, b)
        return tracer.temp(f"{x} >= {y} ? {x} : {y}")

    def ge(self, a: Sym | float, b: Sym | float) -> Sym:
        tracer, x, y = self._pair(a, b)
        return tracer.temp(f"{x} >= {y} ? A(1.0) : A(0.0)")


def _inputs(tracer: _Tracer, name: str, n: int) -> list[Sym]:
    return [Sym(tracer, f"{name}[{k}]") for k in range(n)]


def _assign(tracer: _Tracer, name: str, values: Sequence[Any]) -> list[str]:
    out = []
    for k, v in enumerate(values):
        code = v.code if isinstance(v, Sym) else _lit(v)
        out.append(f"{name}[{k}] = {code};")
    return tracer.lines + out


def _indent(lines: list[str], n: int) -> str:
    pad = " " * n
    return "\n".join(pad + line for line in lines)


def _ternary(values: Sequence[int]) -> str:
    expr = str(values[-1])
    for j in range(len(values) - 2, -1, -1):
        expr = f"j == {j} ? {values[j]} : ({expr})"
    return expr


def cell_struct(cell: Cell) -> str:
    """The C++ specialisation ``CellDef<cell.cuda_id>`` of one cell.

    >>> from flashrnn_kernels import get_cell
    >>> print("\\n".join(cell_struct(get_cell("elman")).splitlines()[1:4]))
    template <>
    struct CellDef<3> {
      static constexpr int kGates = 1;
    """
    G, S, Gb = cell.num_gates, cell.num_states, cell.num_bias
    ops = SymOps()

    fwd = _Tracer()
    s_new = cell.forward(ops, _inputs(fwd, "xg", G), _inputs(fwd, "rg", G), _inputs(fwd, "s", S))
    fwd_lines = _assign(fwd, "s_new", s_new)

    bwd = _Tracer()
    dxg, drg, ds_prev = cell.backward(
        ops, _inputs(bwd, "xg", G), _inputs(bwd, "rg", G), _inputs(bwd, "s", S), _inputs(bwd, "ds", S)
    )
    bwd_lines = bwd.lines + [
        line
        for name, vals in (("dxg", dxg), ("drg", drg), ("ds_prev", ds_prev))
        for line in _assign(_Tracer(), name, vals)
    ]

    sides = [0 if side == "x" else 1 for side, _ in cell.bias_rows]
    gates = [gate for _, gate in cell.bias_rows]
    return f"""\
// {cell.doc}
template <>
struct CellDef<{cell.cuda_id}> {{
  static constexpr int kGates = {G};
  static constexpr int kStates = {S};
  static constexpr int kBias = {Gb};
  static constexpr bool kSeparateRecurrent = {"true" if cell.separate_gates else "false"};
  // bias row j is added to gate bias_gate(j) on side bias_side(j) (0: input, 1: recurrent)
  __host__ __device__ static constexpr int bias_side(int j) {{ return {_ternary(sides)}; }}
  __host__ __device__ static constexpr int bias_gate(int j) {{ return {_ternary(gates)}; }}

  template <typename A>
  __device__ __forceinline__ static void forward(const A (&xg)[{G}], const A (&rg)[{G}],
                                                 const A (&s)[{S}], A (&s_new)[{S}]) {{
{_indent(fwd_lines, 4)}
  }}

  template <typename A>
  __device__ __forceinline__ static void backward(const A (&xg)[{G}], const A (&rg)[{G}],
                                                  const A (&s)[{S}], const A (&ds)[{S}],
                                                  A (&dxg)[{G}], A (&drg)[{G}], A (&ds_prev)[{S}]) {{
{_indent(bwd_lines, 4)}
  }}
}};
"""


def generate_header(cells: Sequence[Cell] | None = None) -> str:
    """The full text of ``cells_generated.cuh``.

    >>> generate_header() == HEADER_PATH.read_text()      # the checked-in header is current
    True
    """
    cells = list(CELLS.values()) if cells is None else list(cells)
    ids = "\n".join(f"#define FLASHRNN_CELL_{c.name.upper()} {c.cuda_id}" for c in cells)
    structs = "\n".join(cell_struct(c) for c in cells)
    return f"""\
// GENERATED by `python -m flashrnn_kernels.codegen` from flashrnn_kernels/cells.py: do not edit.
// One CellDef<ID> per cell: sizes, bias layout, pointwise forward and backward (see cells.py).
#pragma once

#include "pointwise_math.cuh"

{ids}
#define FLASHRNN_NUM_CELLS {len(cells)}

namespace flashrnn {{

template <int CELL>
struct CellDef;

{structs}
}}  // namespace flashrnn
"""


def main(argv: list[str] | None = None) -> int:
    """``python -m flashrnn_kernels.codegen [--check] [--output PATH]``; returns the exit code.

    >>> main(["--check"])                                  # 0: the header matches cells.py
    0
    """
    parser = argparse.ArgumentParser(prog="python -m flashrnn_kernels.codegen", description=__doc__.split("\n")[0])
    parser.add_argument("--check", action="store_true", help="only check that the header is up to date")
    parser.add_argument("--output", type=Path, default=HEADER_PATH)
    args = parser.parse_args(argv)
    text = generate_header()
    if args.check:
        current = args.output.read_text() if args.output.exists() else ""
        if current != text:
            sys.stderr.write(f"{args.output} is stale: run python -m flashrnn_kernels.codegen\n")
            return 1
        return 0
    args.output.write_text(text)
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
