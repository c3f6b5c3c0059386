"""``constrint gpus`` and ``constrint gpu``: plug-in sub-commands of the ``constrint`` CLI.

``constrint gpus [--json]``            list the bundled GPUs
``constrint gpu NAME [--json]``        one GPU (bundled name or alias, or a model file path)
``constrint gpu detect [--json]``      the live GPU (needs PyTorch and a CUDA device)

Exit codes: 0 ok, 2 bad input (unknown GPU, invalid model file, no GPU to detect) with a one-line
message on stderr.
"""
from __future__ import annotations

import argparse
import json
import sys
import warnings
from pathlib import Path
from typing import Any

from .errors import HwModelsError
from .model import GPU
from .registry import constants

EXIT_OK = 0
EXIT_USAGE = 2


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``gpus`` and ``gpu`` sub-commands (entry point of group ``constrint.commands``).

    >>> import argparse
    >>> parser = argparse.ArgumentParser(prog="constrint")
    >>> register(parser.add_subparsers())
    >>> parser.parse_args(["gpu", "h100", "--json"]).name
    'h100'
    """
    p_list = subparsers.add_parser("gpus", help="list the bundled GPU models",
                                   description="List the bundled GPU hardware models.")
    p_list.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p_list.set_defaults(func=cmd_gpus)

    p_gpu = subparsers.add_parser(
        "gpu", help="show one GPU model (name, model file, or 'detect')",
        description="Show a GPU hardware model: a bundled GPU by name or alias, a model file (.toml), "
                    "or 'detect' for the live GPU.")
    p_gpu.add_argument("name", metavar="NAME", help="bundled GPU name or alias, path to a .toml model file, "
                                                    "or 'detect'")
    p_gpu.add_argument("--json", action="store_true", help="print JSON (the model and its constants)")
    p_gpu.set_defaults(func=cmd_gpu)


def _fail(command: str, exc: BaseException) -> int:
    message = " ".join(str(exc).split())  # one line
    print(f"constrint {command}: error: {message}", file=sys.stderr)
    return EXIT_USAGE


def _gib(n: int) -> str:
    return f"{n / 2**30:.0f} GiB"


def _mib(n: int) -> str:
    return f"{n / 2**20:g} MiB"


def cmd_gpus(args: argparse.Namespace) -> int:
    """List the bundled GPUs (``constrint gpus [--json]``); returns the exit code.

    ```console
    $ constrint gpus
    ```
    """
    from .registry import list_gpus

    try:
        gpus = list_gpus()
    except HwModelsError as exc:
        return _fail("gpus", exc)
    if args.json:
        print(json.dumps([_summary(g) for g in gpus], indent=2))
        return EXIT_OK
    header = ("name", "arch", "SMs", "smem/block", "L2", "memory", "GB/s", "bf16 TFLOP/s", "aliases")
    rows = [(g.name, g.architecture.name, str(g.sm_count), f"{g.architecture.shared_memory_per_block_optin:,} B",
             _mib(g.l2_cache_bytes), _gib(g.memory_bytes),
             f"{g.memory_bandwidth_gbps:g}" if g.memory_bandwidth_gbps else "-",
             f"{g.peak('bf16'):g}" if g.peak("bf16") else "-", _short(", ".join(g.aliases))) for g in gpus]
    _print_table(header, rows)
    return EXIT_OK


def _short(text: str, width: int = 48) -> str:
    return text if len(text) <= width else text[: width - 3] + "..."


def _summary(g: GPU) -> dict[str, Any]:
    return {"name": g.name, "aliases": list(g.aliases), "architecture": g.architecture.name,
            "sm_count": g.sm_count, "l2_cache_bytes": g.l2_cache_bytes, "memory_bytes": g.memory_bytes,
            "memory_bandwidth_gbps": g.memory_bandwidth_gbps,
            "shared_memory_per_block_optin": g.architecture.shared_memory_per_block_optin,
            "peak_tflops": dict(g.peak_tflops.items())}


def _print_table(header: tuple[str, ...], rows: list[tuple[str, ...]]) -> None:
    widths = [max(len(r[i]) for r in (header, *rows)) for i in range(len(header))]
    for row in (header, tuple("-" * w for w in widths), *rows):
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip())


def _resolve(name: str) -> GPU:
    from .detection import detect
    from .loader import load
    from .registry import get

    if name == "detect":
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            gpu = detect()
        for w in caught:
            print(f"warning: {w.message}", file=sys.stderr)
        return gpu
    if name.lower().endswith(".toml") or Path(name).is_file():
        return load(name)
    return get(name)


def cmd_gpu(args: argparse.Namespace) -> int:
    """Show one GPU model and its constants (``constrint gpu NAME|FILE|detect [--json]``).

    ```console
    $ constrint gpu examples/my_gpu.toml
    ```
    """
    try:
        gpu = _resolve(args.name)
        consts = constants(gpu)
    except HwModelsError as exc:
        return _fail("gpu", exc)
    if args.json:
        print(json.dumps({"gpu": gpu.to_dict(), "constants": consts}, indent=2))
        return EXIT_OK
    print(describe(gpu, consts))
    return EXIT_OK


def describe(gpu: GPU, consts: dict[str, int] | None = None) -> str:
    """A human-readable description of ``gpu`` (product, architecture, tensor cores, constants).

    >>> import hwmodels
    >>> print(describe(hwmodels.get("a100")).splitlines()[0])
    A100 80GB  (sm_80, Ampere (GA100) 8.0, PTX target sm_80)
    """
    a = gpu.architecture
    lines = [f"{gpu.name}  ({a.name}, {a.family or 'compute capability'} "
             f"{a.compute_capability[0]}.{a.compute_capability[1]}, PTX target {a.ptx_target})"]
    if gpu.aliases:
        lines.append(f"  aliases: {', '.join(gpu.aliases)}")
    product = [
        ("SMs", f"{gpu.sm_count}"),
        ("L2 cache", f"{gpu.l2_cache_bytes:,} B ({_mib(gpu.l2_cache_bytes)})"),
        ("memory", f"{gpu.memory_bytes:,} B ({_gib(gpu.memory_bytes)}"
                   f"{' ' + gpu.memory_type if gpu.memory_type else ''})"),
        ("bandwidth", f"{gpu.memory_bandwidth_gbps:g} GB/s" if gpu.memory_bandwidth_gbps else "unknown"),
        ("boost clock", f"{gpu.boost_clock_mhz} MHz" if gpu.boost_clock_mhz else "unknown"),
        ("peak dense", ", ".join(f"{d} {v:g}" for d, v in gpu.peak_tflops.items()) + " TFLOP/s"
         if gpu.peak_tflops.items() else "unknown"),
    ]
    arch = [
        ("shared memory per SM", f"{a.shared_memory_per_sm:,} B"),
        ("shared memory per block", f"{a.shared_memory_per_block:,} B ({a.shared_memory_per_block_optin:,} B opt-in, "
                                    f"{a.reserved_shared_memory_per_block:,} B reserved, "
                                    f"allocated in {a.shared_memory_allocation_unit} B units)"),
        ("registers", f"{a.registers_per_sm:,} per SM, {a.registers_per_block:,} per block, "
                      f"{a.max_registers_per_thread} per thread (per warp in units of {a.register_allocation_unit}, "
                      f"{a.warp_allocation_granularity} sub-partitions)"),
        ("threads", f"{a.max_threads_per_block} per block, {a.max_threads_per_sm} per SM "
                    f"({a.max_warps_per_sm} warps of {a.warp_size}), {a.max_blocks_per_sm} blocks per SM"),
        ("clusters", f"up to {a.max_cluster_size} blocks ({a.max_cluster_size_nonportable} non-portable)"
         if a.cluster_launch else "not supported"),
    ]
    width = max(len(k) for k, _ in product + arch)
    lines += [f"  {k.ljust(width)}  {v}" for k, v in product]
    lines.append("  architecture:")
    lines += [f"  {k.ljust(width)}  {v}" for k, v in arch]
    lines.append("  tensor cores:")
    for instr in a.instructions:
        by_dtype: dict[str, list[str]] = {}
        for s in a.mma_shapes(instruction=instr):
            by_dtype.setdefault(s.dtype, []).append(str(s))
        target = next((s.target for s in a.mma_shapes(instruction=instr) if s.target), "")
        lines.append(f"    {instr}{' (' + target + ')' if target else ''}: "
                     + "; ".join(f"{d} {' '.join(v)}" for d, v in by_dtype.items()))
    if consts is not None:
        lines.append("  constants:")
        lines += [f"    {k} = {v}" for k, v in consts.items()]
    return "\n".join(lines)
