"""The table of fused-kernel configurations in ``docs/kernel-configs.md``.

``python -m flashrnn_kernels.tiling.table`` prints it (markdown) for every bundled GPU, cell,
head dimension {32, ..., 2048} and batch size {8, 16, 64}, one head, bfloat16, the forward and
the backward pass (the fused backend builds each pass separately). ``--update FILE`` replaces the
part of FILE between the markers ``<!-- table:begin -->`` and ``<!-- table:end -->``.
``--timing`` reports the solve times (solver only, cache off) on stderr.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import hwmodels

from .models import FUSED, model_inputs
from .problem import Problem
from .solve import InfeasibleConfigError, kernel_config

CELLS = ("lstm", "gru", "slstm", "elman")
HEAD_DIMS = (32, 64, 128, 256, 512, 768, 1024, 2048)
BATCHES = (8, 16, 64)
BEGIN, END = "<!-- table:begin -->", "<!-- table:end -->"


def short(cfg) -> str:
    """``NSLICE×U bBT WM·WK`` of the kernel the configuration is for, and ``sK`` where K KiB of
    a block's slice of R sit in shared memory."""
    pre, k = ("FWD", "F") if cfg.problem.pass_ == "forward" else ("BWD", "B")
    r = cfg[f"SMEM_{k}_R"]
    return (f"{cfg['NSLICE']}×{cfg['U']} b{cfg['BT']} {cfg[pre + '_WM']}·{cfg[pre + '_WK']}"
            + (f" s{r // 1024}" if r else ""))


def cell_text(problem: Problem, gpu: hwmodels.GPU, times: list[float] | None = None) -> str:
    if times is not None:  # the solver alone, without cache or diagnosis
        inputs = model_inputs(FUSED, problem, hwmodels.constants(gpu))
        start = time.perf_counter()
        FUSED.reduce(inputs).solve()
        times.append((time.perf_counter() - start) * 1e3)
    try:
        return short(kernel_config(problem, gpu))
    except InfeasibleConfigError as exc:
        return "✗ " + (", ".join(exc.binding) or "infeasible")


def table(gpus: list[hwmodels.GPU], dtype: str = "bfloat16", times: list[float] | None = None) -> str:
    out = []
    for gpu in gpus:
        a = gpu.architecture
        out.append(f"### {gpu.name} ({a.name}, {gpu.sm_count} SMs, "
                   f"{a.shared_memory_per_block_optin:,} B shared memory per block)\n")
        head = "| cell | D | " + " | ".join(f"B={b} forward | B={b} backward" for b in BATCHES) + " |"
        out.append(head)
        out.append("|---|---:|" + "---|" * (2 * len(BATCHES)))
        for cell in CELLS:
            for d in HEAD_DIMS:
                cells = []
                for b in BATCHES:
                    for ps in ("forward", "backward"):
                        cells.append(cell_text(Problem(cell, b, 1, d, dtype, ps), gpu, times))
                out.append(f"| {cell} | {d} | " + " | ".join(cells) + " |")
        out.append("")
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m flashrnn_kernels.tiling.table", description=__doc__.split("\n")[0])
    ap.add_argument("--gpu", action="append", help="only these GPUs (repeatable; default: every bundled GPU)")
    ap.add_argument("--dtype", default="bfloat16")
    ap.add_argument("--update", metavar="FILE", help="replace the table between the markers in FILE")
    ap.add_argument("--timing", action="store_true", help="report solve times on stderr")
    args = ap.parse_args(argv)
    gpus = [hwmodels.get(g) for g in args.gpu] if args.gpu else list(hwmodels.list_gpus())
    times: list[float] | None = [] if args.timing else None
    text = table(gpus, args.dtype, times)
    if times:
        print(f"solves: {len(times)}, median {statistics.median(times):.1f} ms, "
              f"90th percentile {sorted(times)[int(0.9 * len(times))]:.1f} ms, max {max(times):.1f} ms",
              file=sys.stderr)
    if args.update:
        path = Path(args.update)
        doc = path.read_text(encoding="utf-8")
        if BEGIN not in doc or END not in doc:
            print(f"{path}: no {BEGIN} ... {END} markers", file=sys.stderr)
            return 2
        head, rest = doc.split(BEGIN, 1)
        _, tail = rest.split(END, 1)
        path.write_text(head + BEGIN + "\n" + text + "\n" + END + tail, encoding="utf-8")
    else:
        print(text)
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
