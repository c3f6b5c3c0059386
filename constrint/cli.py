"""The ``constrint`` command line.

Built-in sub-commands: ``solve``, ``count`` and ``check`` on a ``.cint`` file or a T1 ``.json``
search space (see ``docs/cli.md``).

Sub-commands of other packages plug in through the ``constrint.commands`` entry-point group:
each entry point names a function ``register(subparsers)`` that adds its sub-parser and sets
``func`` (a callable taking the parsed arguments and returning an exit code) as a default.
This keeps constrint free of imports of the packages layered above it.

Exit codes: 0 solution(s) found, 1 infeasible, 2 bad usage or bad input, 3 stopped by a time
limit (or the output was closed early), 4 internal error (a bug: the traceback with ``--debug``),
130 interrupted by Ctrl-C. With ``--json`` every command prints one JSON object with the keys
``command``, ``status`` and ``seconds`` (rounded to microseconds), errors included
(``"status": "error"``, ``"error"``, ``"exit_code"``).
"""
from __future__ import annotations

import argparse
import contextlib
import json
import os
import pkgutil
import re
import sys
import threading
import time
import traceback
from typing import Any

from . import __version__
from .errors import ConstraintSyntaxError, ConstrintError, InternalSolverError, LimitReached, ModelError
from .language import DIALECTS, loads, parse_objective
from .language import _decode as decode_text
from .results import Status
from .t1 import _build, _decode_json

EXIT_OK = 0
EXIT_INFEASIBLE = 1
EXIT_USAGE = 2
EXIT_LIMIT = 3
EXIT_INTERNAL = 4
EXIT_INTERRUPTED = 130

#: ``solve --all`` lists through the vectorised path (``solutions_array``) up to this many rows
#: (the array is then at most a few hundred MB); beyond, or with ``--limit`` or
#: ``--time-limit``, solutions are streamed one by one.
ARRAY_ROWS = 2_000_000

#: Error messages are cut to this many lines.
MAX_MESSAGE_LINES = 20


def _register_plugins(subparsers: argparse._SubParsersAction) -> None:
    for _name, value in entry_points("constrint.commands"):
        try:
            register = _load_entry_point(value)
        except ImportError:
            continue  # the plugin's package is not usable here; its command is simply absent
        register(subparsers)


_DIST_DIR = re.compile(r"^([^-]+)(?:-[^/]*)?\.(?:dist-info|egg-info)$", re.IGNORECASE)


def entry_points(group: str) -> list[tuple[str, str]]:
    """``(name, value)`` of the entry points of ``group`` of the installed distributions, as
    ``importlib.metadata.entry_points(group=group)`` lists them: distributions found in the
    directories of ``sys.path`` in its order (``*.dist-info``, ``*.egg-info``), the first of each
    name only, each read from its ``entry_points.txt`` (in the order of the directories' sorted
    names; ``importlib.metadata`` follows the order the file system lists them in).

    Read directly: importing ``importlib.metadata`` (with the ``email`` package it parses metadata
    with) costs about 20 ms, a large part of a short command's start-up.
    """
    out: list[tuple[str, str]] = []
    seen: set[str] = set()
    for entry in sys.path:
        try:
            children = sorted(os.listdir(entry or "."))
        except OSError:
            continue  # not a directory (a zip file), or gone
        for child in children:
            m = _DIST_DIR.match(child)
            if m is None:
                continue
            dist = re.sub(r"[-_.]+", "_", m.group(1)).lower()
            if dist in seen:
                continue
            seen.add(dist)
            try:
                with open(os.path.join(entry or ".", child, "entry_points.txt"), encoding="utf-8") as f:
                    text = f.read()
            except OSError:
                continue  # no entry points (or an egg-info file, which has none)
            out.extend(_group_entries(text, group))
    return out


def _group_entries(text: str, group: str) -> list[tuple[str, str]]:
    """The ``name = value`` lines of section ``[group]`` of an ``entry_points.txt``."""
    out, section = [], None
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("[") and line.endswith("]"):
            section = line[1:-1].strip()
        elif section == group and "=" in line:
            name, value = line.split("=", 1)
            out.append((name.strip(), value.strip()))
    return out


def _load_entry_point(value: str) -> Any:
    """The object an entry point's ``module:attr`` names (its ``[extras]`` ignored, as
    ``EntryPoint.load`` does); ImportError if it cannot be loaded."""
    try:
        return pkgutil.resolve_name(value.split("[", 1)[0].strip())
    except (ValueError, AttributeError) as exc:
        raise ImportError(f"entry point {value!r}: {exc}") from None


# ====================================================================== helpers


class _UsageError(Exception):
    """Bad input found by the CLI itself (exit code 2)."""


class _Progress:
    """A one-line status on stderr, redrawn by a thread; only when stdout is a terminal."""

    def __init__(self, label: str, enabled: bool | None = None, delay: float = 0.5):
        if enabled is None:
            enabled = _isatty(sys.stdout) and _isatty(sys.stderr)
        self.enabled = enabled
        self.label = label
        self.delay = delay
        self.count: int | None = None
        self._start = time.monotonic()
        self._lock = threading.Lock()
        self._drawn = False
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def __enter__(self) -> _Progress:
        if self.enabled:
            self._thread = threading.Thread(target=self._run, daemon=True)
            self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=1.0)
        with self._lock:
            self._clear()

    def _run(self) -> None:
        if self._stop.wait(self.delay):
            return
        spinner = "|/-\\"
        i = 0
        while not self._stop.is_set():
            with self._lock:
                secs = time.monotonic() - self._start
                what = "" if self.count is None else f" {self.count:,} solutions,"
                sys.stderr.write(f"\r\x1b[2K{spinner[i % 4]} {self.label}...{what} {secs:.1f} s")
                sys.stderr.flush()
                self._drawn = True
            i += 1
            self._stop.wait(0.2)

    def _clear(self) -> None:
        if self._drawn:
            sys.stderr.write("\r\x1b[2K")
            sys.stderr.flush()
            self._drawn = False

    def write(self, text: str) -> None:
        """Write ``text`` to stdout without mixing it with the status line."""
        if self.enabled:
            with self._lock:
                self._clear()
                sys.stdout.write(text)
                sys.stdout.flush()
        else:
            sys.stdout.write(text)


def _isatty(stream) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):
        return False


def load_file(path: str, dialect: str = "cint") -> tuple[Any, dict[str, dict[int, Any]]]:
    """``(model, labels)`` from a ``.cint`` file or a T1 ``.json`` file (``-``: standard input).

    The type comes from the extension (``.json``, ``.cint``), else from the content: text that
    starts with ``{`` is a T1 search space, anything else is read as a ``.cint`` model.
    ``labels`` maps the variables of T1 parameters with non-integer values to those values (see
    :class:`constrint.t1.T1Space`); it is empty for ``.cint`` files.

    >>> model, labels = load_file("examples/matmul_tiling.cint")   # from the repository root
    >>> model.count(), labels
    (1123, {})
    """
    if path == "-":
        name = "<stdin>"
        raw = sys.stdin.buffer.read()
    else:
        name = path
        try:
            with open(path, "rb") as f:
                raw = f.read()
        except IsADirectoryError:
            raise _UsageError(f"{path}: is a directory, not a file") from None
        except OSError as exc:
            raise _UsageError(f"cannot read {path}: {exc.strerror or exc}") from None
    ext = os.path.splitext(path)[1].lower() if path != "-" else ""
    if ext == ".json" or (ext != ".cint" and raw.lstrip()[:1] == b"{"):
        space = _build(_decode_json(raw, name), name)
        return space.model, space.labels
    text = decode_text(raw, name)
    try:
        model = loads(text, filename=name, dialect=dialect)
    except ConstraintSyntaxError as exc:
        if ext == ".cint":
            raise
        what = "standard input" if path == "-" else f"{path} (neither .cint nor .json)"
        raise _UsageError(
            f"{exc}\n{what} was read as a .cint model: its text does not start with '{{' as a T1 "
            "search space (JSON) does"
        ) from None
    if not model.variables:
        raise _UsageError(f"{name}: no variables and no constraints (an empty model)")
    return model, {}


def _decode(sol: dict[str, int], labels: dict[str, dict[int, Any]], names: list[str]) -> dict[str, Any]:
    """The solution in variable order, non-integer parameters shown with their original values."""
    if not sol:
        return {}
    out = {n: sol[n] for n in names if n in sol}
    for k, v in out.items():
        if k in labels:
            out[k] = labels[k].get(v, v)
    return out


def _value_text(v: Any) -> str:
    return json.dumps(v) if isinstance(v, str) else repr(v) if isinstance(v, float) else str(v)


def _set_objective(model, args) -> None:
    for flag, sense in (("minimize", "minimize"), ("maximize", "maximize")):
        text = getattr(args, flag, None)
        if text is not None:
            exprs = parse_objective(text, model, filename=f"--{flag}")
            getattr(model, sense)(exprs)


def _domain_text(d) -> str:
    if d.values is not None and d.size <= 8:
        return "{" + ", ".join(map(str, d.values)) + "}"
    if d.values is not None and d.values[-1] - d.values[0] + 1 == d.size:
        return f"{d.lo}..{d.hi}"
    extra = []
    if d.factor != 1:
        extra.append(f"multiples of {d.factor}")
    if d.primes is not None:
        extra.append("primes " + "*".join(map(str, sorted(d.primes))))
    text = f"{d.lo}..{d.hi}"
    if d.values is not None:
        text = "{" + f"{d.values[0]}, {d.values[1]}, ..., {d.values[-1]}" + "}"
    return text + (f" ({', '.join(extra)})" if extra else "")


# ====================================================================== commands


def _json(prog: _Progress, args, status: str, seconds: float | None, **fields: Any) -> None:
    """One JSON object in the schema every command shares: ``command``, ``status``,
    ``seconds`` (rounded to microseconds), then the command's own keys."""
    out = {"command": args.command, "status": status,
           "seconds": None if seconds is None else round(seconds, 6)}
    out.update(fields)
    prog.write(json.dumps(out) + "\n")


def cmd_solve(args) -> int:
    model, labels = load_file(args.file, args.dialect)
    _set_objective(model, args)
    if args.all or args.limit is not None:
        return _enumerate(model, labels, args)
    start = time.monotonic()
    with _Progress("solving") as prog:
        res = model.solve(time_limit=args.time_limit)
    seconds = time.monotonic() - start
    values = _decode(res.values, labels, [v.name for v in model.variables])
    has_obj = model.objective is not None
    if args.json:
        extra: dict[str, Any] = {"solution": values or None}
        if has_obj:
            obj = res.objective
            extra["objective"] = list(obj) if isinstance(obj, tuple) else obj
        _json(prog, args, res.status.value, seconds, **extra)
    else:
        lines = [f"status: {res.status.value}"]
        if has_obj and values:
            lines.append(f"objective: {res.objective}")
        lines += [f"{k} = {_value_text(v)}" for k, v in values.items()]
        prog.write("\n".join(lines) + "\n")
    if res.status is Status.INFEASIBLE:
        _note("no solution: the constraints cannot all hold")
        return EXIT_INFEASIBLE
    if res.status is Status.UNKNOWN:
        _note("stopped by the time limit before a solution was found")
        return EXIT_LIMIT
    if has_obj and res.status is Status.FEASIBLE:
        _note("stopped by the time limit: the solution is not proven optimal")
        return EXIT_LIMIT
    return EXIT_OK


class _Listing:
    """Writes solutions (text lines or the items of a JSON array) and counts them."""

    def __init__(self, prog: _Progress, args, labels, names: list[str]):
        self.prog = prog
        self.json = args.json
        self.labels = labels
        self.names = names
        self.n = 0

    def open(self) -> None:
        if self.json:
            self.prog.write('{"command": "solve", "solutions": [')

    def one(self, sol: dict[str, Any]) -> None:
        sol = _decode(sol, self.labels, self.names)
        if self.json:
            self.prog.write(("," if self.n else "") + "\n  " + json.dumps(sol))
        else:
            self.prog.write(" ".join(f"{k}={_value_text(v)}" for k, v in sol.items()) + "\n")
        self.n += 1
        self.prog.count = self.n

    def rows(self, arr) -> None:
        """Every row of a solutions array, written in chunks."""
        columns = []
        for j, name in enumerate(self.names):
            col = arr[:, j].tolist()
            lab = self.labels.get(name)
            if lab is not None:
                col = [lab.get(v, v) for v in col]
            columns.append(col)
        for lo in range(0, len(arr), 8192):
            part = [c[lo : lo + 8192] for c in columns]
            if self.json:
                text = ",\n  ".join(json.dumps(dict(zip(self.names, row))) for row in zip(*part))
                self.prog.write(("," if self.n else "") + "\n  " + text)
            else:
                texts = [[f"{name}={_value_text(v)}" for v in c] for name, c in zip(self.names, part)]
                self.prog.write("\n".join(" ".join(row) for row in zip(*texts)) + "\n")
            self.n += len(part[0]) if part else 0
            self.prog.count = self.n

    def close(self, status: str, seconds: float) -> None:
        if self.json:
            tail = {"count": self.n, "status": status, "seconds": round(seconds, 6)}
            self.prog.write(("\n" if self.n else "") + "], " + json.dumps(tail)[1:] + "\n")


def _enumerate(model, labels, args) -> int:
    if model.objective is not None:
        _note("listing solutions: the objective is ignored")
    limit = args.limit
    names = [v.name for v in model.variables]
    stopped = None
    start = time.monotonic()
    with _Progress("listing") as prog:
        out = _Listing(prog, args, labels, names)
        out.open()
        try:
            arr = None
            if limit is None and args.time_limit is None:
                # the vectorised path: all solutions at once, then written in chunks
                try:
                    arr = engine_solutions_array(model, max_rows=ARRAY_ROWS)
                except ModelError:
                    arr = None  # too many to hold at once: streamed below
            if arr is not None:
                out.rows(arr)
            else:
                for sol in model.solutions(limit=limit, time_limit=args.time_limit):
                    out.one(sol)
        except LimitReached:
            stopped = "time limit"
        except KeyboardInterrupt:
            stopped = "interrupted"
        seconds = time.monotonic() - start
        n = out.n
        status = "complete" if stopped is None else stopped.replace(" ", "_")
        if stopped is None and limit is not None and n >= limit:
            status = "limit"
        out.close(status, seconds)
    if stopped == "interrupted":
        _note(f"interrupted after {n} solution{'s' if n != 1 else ''} ({seconds:.1f} s)")
        return EXIT_INTERRUPTED
    if stopped is not None:
        _note(f"stopped by the time limit after {n} solution{'s' if n != 1 else ''} ({seconds:.1f} s)")
        return EXIT_LIMIT
    if n == 0:
        _note("no solution: the constraints cannot all hold")
        return EXIT_INFEASIBLE
    if not args.json:
        more = " (limit reached)" if limit is not None and n >= limit else ""
        _note(f"{n} solution{'s' if n != 1 else ''}{more}, {seconds:.2f} s")
    return EXIT_OK


def engine_solutions_array(model, max_rows: int):
    """All solutions as an array, refused (:class:`ModelError`) beyond ``max_rows`` rows."""
    from .engine import solutions_array

    return solutions_array(model, max_rows=max_rows)


def cmd_count(args) -> int:
    model, _ = load_file(args.file, args.dialect)
    start = time.monotonic()
    n = None
    with _Progress("counting") as prog:
        try:
            n = model.count(time_limit=args.time_limit)
        except LimitReached:
            n = None
    seconds = time.monotonic() - start
    if n is None:
        if args.json:
            _json(prog, args, "time_limit", seconds, count=None)
        _note(f"stopped by the time limit after {seconds:.1f} s; the count is unknown")
        return EXIT_LIMIT
    if args.json:
        _json(prog, args, "complete", seconds, count=n)
    else:
        prog.write(f"{n}\n")
    return EXIT_OK if n > 0 else EXIT_INFEASIBLE


def cmd_check(args) -> int:
    model, labels = load_file(args.file, args.dialect)
    start = time.monotonic()
    with _Progress("propagating"):
        doms = model.propagate()
    seconds = time.monotonic() - start
    variables = []
    for v in model.variables:
        d0 = model.domain(v)
        d1 = None if doms is None else doms[v.name]
        variables.append(
            {
                "name": v.name,
                "declared": _domain_text(d0),
                "declared_size": d0.size,
                "domain": None if d1 is None else _domain_text(d1),
                "size": 0 if d1 is None else d1.size,
            }
        )
    obj = model.objective
    obj_text = None if obj is None else f"{obj[1]} " + ", ".join(str(e) for e in obj[0])
    if args.json:
        _json(
            _Progress("", enabled=False), args, "infeasible" if doms is None else "open", seconds,
            file=args.file, variables=variables, constraints=[str(c) for c in model.constraints],
            objective=obj_text, infeasible=doms is None,
        )
    else:
        nv, nc = len(variables), len(model.constraints)
        print(f"{args.file}: {nv} variable{'s' if nv != 1 else ''}, {nc} constraint{'s' if nc != 1 else ''}"
              + (f", objective: {obj_text}" if obj_text else ""))
        if labels:
            print("non-integer parameters (coded): " + ", ".join(sorted(labels)))
        w = max([len(x["name"]) for x in variables] + [8])
        wd = max([len(x["declared"]) + len(str(x["declared_size"])) + 3 for x in variables] + [8])
        print(f"{'variable':<{w}}  {'declared (size)':<{wd}}  after propagation (size)")
        for x in variables:
            dec = f"{x['declared']} ({x['declared_size']})"
            aft = "empty" if x["domain"] is None else f"{x['domain']} ({x['size']})"
            print(f"{x['name']:<{w}}  {dec:<{wd}}  {aft}")
        if model.constraints:
            print("constraints:")
            for c in model.constraints:
                s = str(c)
                print("  " + (s if len(s) <= 160 else s[:157] + "..."))
        if doms is None:
            print("propagation proves the model infeasible")
    return EXIT_INFEASIBLE if doms is None else EXIT_OK


def _note(text: str) -> None:
    sys.stderr.write(f"constrint: {text}\n")


def _positive_int(text: str) -> int:
    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if v < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return v


def _seconds(text: str) -> float:
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected seconds, got {text!r}") from None
    if not v > 0 or v != v or v == float("inf"):
        raise argparse.ArgumentTypeError(f"expected a positive number of seconds, got {text!r}")
    return v


def _add_builtin(subparsers: argparse._SubParsersAction) -> None:
    file_help = "a .cint model or a T1 search space (.json); '-' reads standard input"
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--json", action="store_true", help="print one JSON object")
    common.add_argument(
        "--dialect", choices=DIALECTS, default="cint",
        help="how a .cint text is read: cint (default) or flashrnn, the original ConstrINT format "
        "where '%%' binds loosest of the arithmetic operators",
    )
    common.add_argument("--debug", action="store_true", default=argparse.SUPPRESS,
                        help="show the traceback of an internal error")
    p = subparsers.add_parser(
        "solve", help="find a solution (or an optimal one, or all)", parents=[common],
        description="Find a solution of a model: the first one, an optimal one where an objective "
        "is set (in the file or with --minimize/--maximize), or all of them (--all, --limit).",
    )
    p.add_argument("file", metavar="FILE", help=file_help)
    p.add_argument("--all", action="store_true", help="list every solution, one per line")
    p.add_argument("--limit", type=_positive_int, metavar="N", help="list at most N solutions")
    g = p.add_mutually_exclusive_group()
    g.add_argument("--minimize", metavar="EXPR", help="minimise EXPR (.cint syntax; 'a, b' lexicographic)")
    g.add_argument("--maximize", metavar="EXPR", help="maximise EXPR (.cint syntax; 'a, b' lexicographic)")
    p.add_argument("--time-limit", type=_seconds, metavar="S", help="stop after S seconds (exit code 3)")
    p.set_defaults(func=cmd_solve)

    p = subparsers.add_parser(
        "count", help="count the solutions (printed as the last line)", parents=[common],
        description="Count the solutions exactly; the count is the last line of the output.",
    )
    p.add_argument("file", metavar="FILE", help=file_help)
    p.add_argument("--time-limit", type=_seconds, metavar="S", help="stop after S seconds (exit code 3)")
    p.set_defaults(func=cmd_count)

    p = subparsers.add_parser(
        "check", help="parse a model and show its variables, constraints and propagated domains",
        parents=[common],
        description="Parse a model and report its variables, constraints and the domain of each "
        "variable before and after propagation at the root.",
    )
    p.add_argument("file", metavar="FILE", help=file_help)
    p.set_defaults(func=cmd_check)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every built-in and plug-in sub-command.

    Plug-ins come from the ``constrint.commands`` entry-point group (``gpus``, ``gpu`` and
    ``kernel-config`` when hwmodels and flashrnn_kernels are installed).

    >>> args = build_parser().parse_args(["solve", "model.cint", "--limit", "5"])
    >>> args.command, args.file, args.limit
    ('solve', 'model.cint', 5)
    """
    parser = argparse.ArgumentParser(prog="constrint", description="Integer constraint solver.")
    parser.add_argument("--version", action="version", version=f"constrint {__version__}")
    parser.add_argument("--debug", action="store_true", help="show the traceback of an internal error")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    _add_builtin(subparsers)
    _register_plugins(subparsers)
    return parser


def _short_message(text: str) -> str:
    lines = text.rstrip("\n").splitlines() or [""]
    if len(lines) > MAX_MESSAGE_LINES:
        lines = lines[: MAX_MESSAGE_LINES - 1] + [f"... ({len(lines) - MAX_MESSAGE_LINES + 1} more lines)"]
    return "\n".join(line if len(line) <= 400 else line[:397] + "..." for line in lines)


def main(argv: list[str] | None = None) -> int:
    """Entry point of the console script; returns the process exit code.

    ``constrint ARGS`` runs ``main(ARGS)``; exit codes are listed in ``docs/cli.md``
    (0 found, 1 infeasible, 2 bad input, 3 time limit, 4 internal error, 130 interrupted).

    >>> main(["count", "examples/legacy_flashrnn.cint"])   # from the repository root
    144
    0
    """
    parser = build_parser()
    args = parser.parse_args(argv)
    if getattr(args, "func", None) is None:
        parser.print_help(sys.stderr)
        return EXIT_USAGE
    start = time.monotonic()
    try:
        return int(args.func(args))
    except InternalSolverError as exc:
        return _failed(args, EXIT_INTERNAL, str(exc), start)
    except (ConstrintError, _UsageError) as exc:
        return _failed(args, EXIT_USAGE, _short_message(str(exc)), start)
    except KeyboardInterrupt:
        sys.stderr.write("\nconstrint: interrupted\n")
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        # the reader went away (e.g. '| head'): stop quietly
        with contextlib.suppress(OSError):
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
        return EXIT_LIMIT
    except MemoryError:
        return _failed(args, EXIT_INTERNAL, "out of memory", start)
    except Exception as exc:  # a bug: one line (the traceback with --debug), never exit code 1
        what = _short_message(f"{type(exc).__name__}: {exc}")
        return _failed(args, EXIT_INTERNAL, what, start)


def _failed(args, code: int, message: str, start: float) -> int:
    """Report an error (its traceback too with ``--debug``); returns the exit code."""
    internal = code == EXIT_INTERNAL
    args.debug = getattr(args, "debug", False)
    if args.debug:
        traceback.print_exc()
    kind = "internal error" if internal else "error"
    hint = " (a bug in constrint; --debug shows the traceback)" if internal and not args.debug else ""
    sys.stderr.write(f"constrint: {kind}: {message}{hint}\n")
    if getattr(args, "json", False):
        out = {"command": args.command, "status": "error",
               "seconds": round(time.monotonic() - start, 6), "error": message, "exit_code": code}
        with contextlib.suppress(OSError):
            sys.stdout.write(json.dumps(out) + "\n")
    return code


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
