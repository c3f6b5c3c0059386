"""``constrint kernel-config``: a kernel configuration from the command line (plug-in sub-command).

::

    constrint kernel-config --gpu h100 --cell lstm --hidden-size 768 --num-heads 1 \\
        --batch-size 16 --dtype bfloat16 [--pass forward|backward|both] [--backend fused|alternating]
        [--gpu-file my_gpu.toml] [--binds] [--json] [--print-model] [--no-cache]

Prints the configuration and the resources it uses, with ``--binds`` also which of them bind it
(the same path as the library up to the config: :func:`flashrnn_kernels.tiling.kernel_config`).
Exit codes: 0 ok, 1 no configuration fits (the message says which resource and what would work),
2 bad input. Needs no torch and no GPU (except ``--gpu detect``).
"""
from __future__ import annotations

import argparse
import json
import sys
from typing import Any

EXIT_OK = 0
EXIT_INFEASIBLE = 1
EXIT_USAGE = 2


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``kernel-config`` sub-command (entry point of group ``constrint.commands``)."""
    p = subparsers.add_parser(
        "kernel-config", help="solve the tiling of an RNN kernel for a GPU",
        description="Solve the tiling constraint model of a flashrnn_kernels CUDA kernel (fused or "
                    "alternating backend) for a GPU and a problem; print the -D defines and the resources "
                    "they use (with --binds: which of them bind).")
    p.add_argument("--gpu", default=None, help="bundled GPU name or alias (e.g. h100, a100), or 'detect'")
    p.add_argument("--gpu-file", default=None, metavar="TOML", help="a GPU model file (see docs/hardware.md)")
    p.add_argument("--cell", required=True, help="lstm, gru, slstm, elman or elman_relu")
    size = p.add_mutually_exclusive_group(required=True)
    size.add_argument("--hidden-size", type=int, help="hidden size of all heads together")
    size.add_argument("--head-dim", type=int, help="hidden units per head")
    p.add_argument("--num-heads", type=int, default=1, help="heads (default 1)")
    p.add_argument("--batch-size", type=int, required=True)
    p.add_argument("--dtype", default="bfloat16", help="bfloat16, float16 or float32 (default bfloat16)")
    p.add_argument("--pass", dest="pass_", default="both", choices=("forward", "backward", "both"),
                   help="which kernel must fit: forward, backward, or both in one build (default)")
    p.add_argument("--backend", default="fused", choices=("fused", "alternating"))
    p.add_argument("--binds", action="store_true",
                   help="also tell which resources bind: whether lifting each budget alone gives a better "
                        "configuration (one more solve per kind of resource; the answer is cached)")
    p.add_argument("--json", action="store_true", help="print JSON (the config, its resources and defines)")
    p.add_argument("--print-model", action="store_true",
                   help="print the model as .cint text with its inputs set (for 'constrint solve') and stop")
    p.add_argument("--no-cache", action="store_true", help="solve afresh (do not read or write the cache of results)")
    p.set_defaults(func=cmd_kernel_config)


def _fail(message: str) -> int:
    print("constrint kernel-config: error: " + " ".join(str(message).split()), file=sys.stderr)
    return EXIT_USAGE


def _gpu(args: argparse.Namespace) -> Any:
    import hwmodels

    if args.gpu_file:
        return hwmodels.load(args.gpu_file)
    if args.gpu is None:
        raise ValueError("give --gpu NAME (e.g. h100) or --gpu-file FILE.toml")
    if args.gpu == "detect":
        return hwmodels.detect()
    return hwmodels.get(args.gpu)


def _problem(args: argparse.Namespace) -> Any:
    from .tiling import Problem

    if args.num_heads is None or args.num_heads < 1:
        raise ValueError(f"--num-heads must be a positive integer, got {args.num_heads}")
    if args.hidden_size is not None:
        if args.hidden_size < 1 or args.hidden_size % args.num_heads:
            raise ValueError(f"--hidden-size {args.hidden_size} is not a positive multiple of "
                             f"--num-heads {args.num_heads}")
        head_dim = args.hidden_size // args.num_heads
    else:
        head_dim = args.head_dim
    return Problem(args.cell, args.batch_size, args.num_heads, head_dim, args.dtype, args.pass_, args.backend)


def cmd_kernel_config(args: argparse.Namespace) -> int:
    """Solve and print; returns the exit code."""
    import hwmodels

    from .errors import FlashRNNError
    from .tiling import InfeasibleConfigError, kernel_config, render_model

    try:
        gpu = _gpu(args)
        problem = _problem(args)
        if args.print_model:
            sys.stdout.write(render_model(problem, gpu))
            return EXIT_OK
        cfg = kernel_config(problem, gpu, cache=not args.no_cache)
        if args.json:
            d = cfg.to_dict()
            d["resources"] = [r.to_dict() for r in cfg.resources(binding=args.binds, cache=not args.no_cache)]
            print(json.dumps(d, indent=2))
        else:
            print(cfg.explain(binding=args.binds, cache=not args.no_cache))
        return EXIT_OK
    except BrokenPipeError:
        raise  # the reader went away: constrint's main() handles it
    except InfeasibleConfigError as exc:
        if args.json:
            print(json.dumps({"infeasible": exc.to_dict()}, indent=2))
        print(f"constrint kernel-config: {exc}", file=sys.stderr)
        return EXIT_INFEASIBLE
    except (FlashRNNError, hwmodels.HwModelsError, ValueError, OSError) as exc:
        return _fail(str(exc))


__all__ = ["register", "cmd_kernel_config"]
