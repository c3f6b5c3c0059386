"""Parsed models kept on disk: :func:`~constrint.load` with ``cache_dir`` reads a model back
instead of parsing its text again.

One file per key, ``<cache_dir>/<key>.pickle``. The key is a sha256 of the text, the file name
(error messages and sources name it), the dialect, and constrint's code: its version, the
Python version and the bytes of every one of its source files. A changed text or a changed
constrint therefore never meets an old parse. A file that cannot be read back (damaged,
truncated, from another build) is parsed again and replaced; a directory that cannot be written
only costs the parse.

The files are pickles, and reading a pickle can run code: give a ``cache_dir`` only you can
write to (a user cache directory, as for any other cache of compiled artefacts).
"""
from __future__ import annotations

import contextlib
import hashlib
import os
import pickle
import sys
import tempfile
from functools import lru_cache
from pathlib import Path

from ..model import Model

#: Layout of the cached files; raised when what is stored changes in a way the code hash misses.
FORMAT = 1


@lru_cache(maxsize=1)
def code_fingerprint() -> str:
    """sha256 of constrint's version, the Python version and all of constrint's source files."""
    from .. import __version__

    root = Path(__file__).resolve().parent.parent
    h = hashlib.sha256(f"{FORMAT} {__version__} {sys.version_info[:2]}".encode())
    for path in sorted(root.rglob("*.py")):
        h.update(path.relative_to(root).as_posix().encode() + b"\0")
        h.update(path.read_bytes() + b"\0")
    return h.hexdigest()


def key(text: str, filename: str, dialect: str) -> str:
    """The cache key of one parse."""
    h = hashlib.sha256(code_fingerprint().encode())
    for part in (filename, dialect, text):
        h.update(b"\0" + part.encode("utf-8", "surrogatepass"))
    return h.hexdigest()


def read(cache_dir: str | os.PathLike[str], k: str) -> Model | None:
    """The model stored under key ``k``, or None (absent or unreadable: it is parsed again)."""
    try:
        with open(Path(cache_dir) / f"{k}.pickle", "rb") as f:
            model = pickle.load(f)
    except Exception:  # absent, damaged, truncated or foreign: parsing again replaces it
        return None
    return model if isinstance(model, Model) else None


def write(cache_dir: str | os.PathLike[str], k: str, model: Model) -> None:
    """Store ``model`` under key ``k`` (atomically; a directory that cannot be written is skipped)."""
    tmp = None
    try:
        os.makedirs(cache_dir, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=cache_dir, prefix=f".{k[:16]}-", suffix=".tmp")
        with os.fdopen(fd, "wb") as f:
            pickle.dump(model, f, protocol=pickle.HIGHEST_PROTOCOL)
        os.replace(tmp, Path(cache_dir) / f"{k}.pickle")
        tmp = None
    except (OSError, RecursionError, pickle.PicklingError):
        pass  # the parse stays in memory only
    finally:
        if tmp is not None:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
