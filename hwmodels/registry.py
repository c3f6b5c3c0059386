"""Looking up bundled GPU products by name or alias."""
from __future__ import annotations

import difflib
import functools
import re

from .errors import HwModelsError, UnknownGPUError
from .loader import bundled_gpus
from .model import GPU

_VENDOR_WORDS = re.compile(r"\b(nvidia|geforce|tesla)\b")
_NOT_ALNUM = re.compile(r"[^a-z0-9]")


def normalize_name(name: str) -> str:
    """The lookup key of a GPU name: lower case, vendor words and separators dropped.

    >>> normalize_name("NVIDIA GeForce RTX 4090"), normalize_name("h100-sxm")
    ('rtx4090', 'h100sxm')
    """
    return _NOT_ALNUM.sub("", _VENDOR_WORDS.sub(" ", name.lower()))


@functools.cache
def _index() -> dict[str, GPU]:
    index: dict[str, GPU] = {}
    for gpu in bundled_gpus():
        for name in (gpu.name, *gpu.aliases):
            key = normalize_name(name)
            other = index.get(key)
            if other is not None and other is not gpu:
                raise HwModelsError(f"bundled GPU data: name {name!r} of {gpu.name!r} is also a name of "
                                    f"{other.name!r}")
            index[key] = gpu
    return index


def get(name: str | GPU) -> GPU:
    """The bundled GPU called ``name``: its name, an alias or a ``torch.cuda`` device name.

    Case, spaces, dashes and the words NVIDIA/GeForce do not matter. Raises
    :class:`UnknownGPUError` (with the closest names) when nothing matches.

    >>> get("h100").name, get("NVIDIA H100 80GB HBM3").name, get("a100").name
    ('H100 SXM', 'H100 SXM', 'A100 80GB')
    """
    if isinstance(name, GPU):
        return name
    if not isinstance(name, str):
        raise UnknownGPUError(f"GPU name must be a string, not {type(name).__name__}")
    index = _index()
    gpu = index.get(normalize_name(name))
    if gpu is not None:
        return gpu
    names = [g.name for g in bundled_gpus()]
    close = difflib.get_close_matches(normalize_name(name), list(index), n=3, cutoff=0.6)
    hint = ""
    if close:
        hint = " Did you mean " + " or ".join(repr(index[c].name) for c in dict.fromkeys(close)) + "?"
    raise UnknownGPUError(f"unknown GPU {name!r}.{hint} Bundled: {', '.join(names)}. "
                          "For another GPU write a model file and use hwmodels.load(path).")


def list_gpus() -> tuple[GPU, ...]:
    """Every bundled GPU product, in the order of the data file.

    >>> "H100 SXM" in [g.name for g in list_gpus()]
    True
    """
    return bundled_gpus()
