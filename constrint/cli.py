"""The ``constrint`` command line.

Built-in sub-commands: ``solve``, ``count`` and ``check`` on a ``.cint`` file or a T1 ``.json``
search space (see ``docs/cli.md``).

Sub-commands of other packages plug in through the ``constrint.commands`` entry-point group:
each entry point names a function ``register(subparsers)`` that adds its sub-parser and sets
``func`` (a callable taking the parsed arguments and returning an exit code) as a default.
This keeps constrint free of imports of the packages layered above it.

Exit codes: 0 solution(s) found, 1 infeasible, 2 bad usage or bad input, 3 stopped by a time
limit (or the output was closed early), 130 interrupted by Ctrl-C.
"""
from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import sys
import threading
import time
from importlib.metadata import entry_points
from typing import Any

from . import __version__
from .errors import ConstrintError, LimitReached
from .language import _decode as decode_text
from .language import loads, parse_objective
from .results import Status
from .t1 import _build, _decode_json

EXIT_OK = 0
EXIT_INFEASIBLE = 1
EXIT_USAGE = 2
EXIT_LIMIT = 3
EXIT_INTERRUPTED = 130

#: Error messages are cut to this many lines.
MAX_MESSAGE_LINES = 20


def _register_plugins(subparsers: argparse._SubParsersAction) -> None:
    for ep in entry_points(group="constrint.commands"):
        try:
            register = ep.load()
        except ImportError:
            continue  # the plugin's package is not usable here; its command is simply absent
        register(subparsers)


# ====================================================================== helpers


class _UsageError(Exception):
    """Bad input found by the CLI itself (exit code 2)."""


class _TimeUp(BaseException):
    """Raised by the interval timer when ``--time-limit`` passes (BaseException: not swallowed)."""


@contextlib.contextmanager
def _alarm(seconds: float | None):
    """Raise :class:`_TimeUp` in the main thread after ``seconds`` (POSIX; else a no-op)."""
    usable = (
        seconds is not None
        and hasattr(signal, "setitimer")
        and threading.current_thread() is threading.main_thread()
    )
    if not usable:
        yield
        return

    def handler(signum, frame):
        raise _TimeUp

    old = signal.signal(signal.SIGALRM, handler)
    signal.setitimer(signal.ITIMER_REAL, max(seconds, 1e-3))
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


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


def load_file(path: str) -> tuple[Any, dict[str, dict[int, Any]]]:
    """``(model, labels)`` from a ``.cint`` file or a T1 ``.json`` file.

    ``labels`` maps the variables of T1 parameters with non-integer values to those values (see
    :class:`constrint.t1.T1Space`); it is empty for ``.cint`` files.

    >>> model, labels = load_file("examples/matmul_tiling.cint")   # from the repository root
    >>> model.count(), labels
    (1123, {})
    """
    try:
        with open(path, "rb") as f:
            raw = f.read()
    except IsADirectoryError:
        raise _UsageError(f"{path}: is a directory, not a file") from None
    except OSError as exc:
        raise _UsageError(f"cannot read {path}: {exc.strerror or exc}") from None
    ext = os.path.splitext(path)[1].lower()
    is_json = ext == ".json" or (ext != ".cint" and raw.lstrip()[:1] == b"{")
    if is_json:
        space = _build(_decode_json(raw, path), path)
        return space.model, space.labels
    model = loads(decode_text(raw, path), filename=path)
    if not model.variables:
        raise _UsageError(f"{path}: no variables and no constraints (an empty model)")
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


def cmd_solve(args) -> int:
    model, labels = load_file(args.file)
    _set_objective(model, args)
    if args.all or args.limit is not None:
        return _enumerate(model, labels, args)
    with _Progress("solving") as prog, _alarm(
        None if args.time_limit is None else args.time_limit + 0.5
    ):
        try:
            res = model.solve(time_limit=args.time_limit)
        except _TimeUp:
            res = None
    if res is None:
        res_status, values, objective, seconds = Status.UNKNOWN, {}, None, args.time_limit
    else:
        res_status, values, objective, seconds = res.status, res.values, res.objective, res.seconds
    values = _decode(values, labels, [v.name for v in model.variables])
    has_obj = model.objective is not None
    if args.json:
        out = {"status": res_status.value, "solution": values or None, "seconds": seconds}
        if has_obj:
            out["objective"] = list(objective) if isinstance(objective, tuple) else objective
        prog.write(json.dumps(out) + "\n")
    else:
        lines = [f"status: {res_status.value}"]
        if has_obj and values:
            lines.append(f"objective: {objective}")
        lines += [f"{k} = {_value_text(v)}" for k, v in values.items()]
        prog.write("\n".join(lines) + "\n")
    if res_status is Status.INFEASIBLE:
        _note("no solution: the constraints cannot all hold")
        return EXIT_INFEASIBLE
    if res_status is Status.UNKNOWN:
        _note("stopped by the time limit before a solution was found")
        return EXIT_LIMIT
    if has_obj and res_status is Status.FEASIBLE:
        _note("stopped by the time limit: the solution is not proven optimal")
        return EXIT_LIMIT
    return EXIT_OK


def _enumerate(model, labels, args) -> int:
    if model.objective is not None:
        _note("listing solutions: the objective is ignored")
    limit = args.limit
    names = [v.name for v in model.variables]
    n = 0
    stopped = None
    start = time.monotonic()
    first = True
    with _Progress("enumerating") as prog:
        if args.json:
            prog.write('{"solutions": [')
        try:
            with _alarm(args.time_limit):
                for sol in model.solutions(limit=limit):
                    sol = _decode(sol, labels, names)
                    if args.json:
                        prog.write(("" if first else ",") + "\n  " + json.dumps(sol))
                    else:
                        prog.write(" ".join(f"{k}={_value_text(v)}" for k, v in sol.items()) + "\n")
                    first = False
                    n += 1
                    prog.count = n
        except _TimeUp:
            stopped = "time limit"
        except KeyboardInterrupt:
            stopped = "interrupted"
        seconds = time.monotonic() - start
        if args.json:
            status = "complete" if stopped is None else stopped.replace(" ", "_")
            if stopped is None and limit is not None and n >= limit:
                status = "limit"
            tail = {"count": n, "status": status, "seconds": round(seconds, 6)}
            prog.write(("\n" if not first else "") + '], ' + json.dumps(tail)[1:] + "\n")
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


def cmd_count(args) -> int:
    model, _ = load_file(args.file)
    start = time.monotonic()
    n = None
    with _Progress("counting") as prog, _alarm(args.time_limit):
        try:
            n = model.count(time_limit=args.time_limit)
        except (LimitReached, _TimeUp):
            n = None
    seconds = time.monotonic() - start
    if n is None:
        if args.json:
            prog.write(json.dumps({"count": None, "status": "time_limit", "seconds": seconds}) + "\n")
        _note(f"stopped by the time limit after {seconds:.1f} s; the count is unknown")
        return EXIT_LIMIT
    if args.json:
        prog.write(json.dumps({"count": n, "status": "complete", "seconds": round(seconds, 6)}) + "\n")
    else:
        prog.write(f"{n}\n")
    return EXIT_OK if n > 0 else EXIT_INFEASIBLE


def cmd_check(args) -> int:
    model, labels = load_file(args.file)
    with _Progress("propagating"):
        doms = model.propagate()
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
        out = {
            "file": args.file,
            "variables": variables,
            "constraints": [str(c) for c in model.constraints],
            "objective": obj_text,
            "infeasible": doms is None,
        }
        print(json.dumps(out, indent=1))
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
    file_help = "a .cint model or a T1 search space (.json)"
    p = subparsers.add_parser(
        "solve", help="find a solution (or an optimal one, or all)",
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
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=cmd_solve)

    p = subparsers.add_parser(
        "count", help="count the solutions (printed as the last line)",
        description="Count the solutions exactly; the count is the last line of the output.",
    )
    p.add_argument("file", metavar="FILE", help=file_help)
    p.add_argument("--time-limit", type=_seconds, metavar="S", help="stop after S seconds (exit code 3)")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=cmd_count)

    p = subparsers.add_parser(
        "check", help="parse a model and show its variables, constraints and propagated domains",
        description="Parse a model and report its variables, constraints and the domain of each "
        "variable before and after propagation at the root.",
    )
    p.add_argument("file", metavar="FILE", help=file_help)
    p.add_argument("--json", action="store_true", help="print JSON")
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
    (0 found, 1 infeasible, 2 bad input, 3 time limit, 130 interrupted).

    >>> main(["count", "examples/legacy_flashrnn.cint"])   # from the repository root
    144
    0
    """
    parser = build_parser()
    args = parser.parse_args(argv)
    if getattr(args, "func", None) is None:
        parser.print_help(sys.stderr)
        return EXIT_USAGE
    try:
        return int(args.func(args))
    except (ConstrintError, _UsageError) as exc:
        sys.stderr.write("constrint: error: " + _short_message(str(exc)) + "\n")
        return EXIT_USAGE
    except KeyboardInterrupt:
        sys.stderr.write("\nconstrint: interrupted\n")
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        # the reader went away (e.g. '| head'): stop quietly
        with contextlib.suppress(OSError):
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
        return EXIT_LIMIT


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
