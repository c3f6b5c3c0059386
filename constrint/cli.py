"""The ``constrint`` command line.

Sub-commands of other packages plug in through the ``constrint.commands`` entry-point group:
each entry point names a function ``register(subparsers)`` that adds its sub-parser and sets
``func`` (a callable taking the parsed arguments and returning an exit code) as a default.
This keeps constrint free of imports of the packages layered above it.
"""
from __future__ import annotations

import argparse
import sys
from importlib.metadata import entry_points

EXIT_OK = 0
EXIT_INFEASIBLE = 1
EXIT_USAGE = 2
EXIT_LIMIT = 3


def _register_plugins(subparsers: argparse._SubParsersAction) -> None:
    for ep in entry_points(group="constrint.commands"):
        try:
            register = ep.load()
        except ImportError:
            continue  # the plugin's package is not usable here; its command is simply absent
        register(subparsers)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every built-in and plug-in sub-command."""
    parser = argparse.ArgumentParser(prog="constrint", description="Integer constraint solver.")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    _register_plugins(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the console script; returns the process exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if getattr(args, "func", None) is None:
        parser.print_help(sys.stderr)
        return EXIT_USAGE
    return int(args.func(args))


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
