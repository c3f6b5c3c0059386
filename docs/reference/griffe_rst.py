"""A griffe extension for the API reference: docstrings written for ``help()`` read as Markdown.

The packages' docstrings use a few reStructuredText habits that Markdown would render badly:

* cross-reference roles, ``:class:`~constrint.Model``` or ``:func:`load``` -> inline code
  (the last component after ``~``, as Sphinx shows it);
* bare doctest blocks (lines starting with ``>>>``, Markdown would read them as nested quotes)
  -> fenced ``pycon`` blocks;
* a paragraph ending in ``::`` before an indented literal block -> ``:`` (the indented block is a
  Markdown code block already).

Fenced blocks already in a docstring are left alone. Used by ``mkdocs.yml`` (mkdocstrings'
python handler, ``extensions:``); nothing in the packages imports it.
"""
from __future__ import annotations

import re
from typing import Any

import griffe

_ROLE = re.compile(r":(?:py:)?(?:class|func|meth|attr|mod|data|obj|exc|const|envvar|term|ref):`(~?)([^`<]+?)`")
_FENCE = re.compile(r"^\s*(```|~~~)")


def _role(m: re.Match) -> str:
    short, target = m.group(1), m.group(2).strip()
    if short:
        target = target.rsplit(".", 1)[-1]
    return f"`{target}`"


def convert(text: str) -> str:
    """The Markdown form of one docstring (see the module docstring)."""
    out: list[str] = []
    lines = text.splitlines()
    in_fence = False
    i = 0
    while i < len(lines):
        line = lines[i]
        if _FENCE.match(line):
            in_fence = not in_fence
            out.append(line)
            i += 1
            continue
        if in_fence:
            out.append(line)
            i += 1
            continue
        stripped = line.lstrip()
        if stripped.startswith(">>>"):
            indent = line[: len(line) - len(stripped)]
            block = []
            while i < len(lines) and lines[i].strip() and lines[i].startswith(indent):
                block.append(lines[i][len(indent):])
                i += 1
            if out and out[-1].strip():
                out.append("")
            out += [f"{indent}```pycon", *(indent + b for b in block), f"{indent}```"]
            continue
        line = _ROLE.sub(_role, line)
        if line.rstrip().endswith("::") and not line.rstrip().endswith(":::"):
            head = line.rstrip()[:-2].rstrip()
            line = head + ":" if head else ""
        out.append(line)
        i += 1
    return "\n".join(out)


class RstToMarkdown(griffe.Extension):
    """Rewrites every docstring with :func:`convert` when griffe loads it."""

    def on_instance(self, *, obj: Any, **kwargs: Any) -> None:  # griffe >= 0.49 hook
        doc = getattr(obj, "docstring", None)
        if doc is not None and doc.value:
            doc.value = convert(doc.value)
