"""The packages' layers, read from the source (every import, at module level or inside a function):
constrint imports neither hwmodels, flashrnn_kernels nor torch; hwmodels does not import
flashrnn_kernels; and within each package the modules import each other without a loop."""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _imports(path: Path) -> set[str]:
    """The modules ``path`` imports anywhere in its code (relative imports resolved)."""
    name = _module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                up = package.split(".")
                up = up[: len(up) - (node.level - 1)]
                base = ".".join(up + ([base] if base else []))
            found.add(base)
            found.update(f"{base}.{a.name}" for a in node.names)  # `from . import parallel`
    return found


def _sources(package: str) -> dict[str, set[str]]:
    return {_module_name(p): _imports(p) for p in sorted((ROOT / package).rglob("*.py"))}


@pytest.mark.parametrize("package, forbidden", [
    ("constrint", ("hwmodels", "flashrnn_kernels", "torch")),
    ("hwmodels", ("flashrnn_kernels",)),
])
def test_lower_layers_do_not_import_higher_ones(package, forbidden):
    bad = sorted(f"{mod} imports {imp}" for mod, imps in _sources(package).items() for imp in imps
                 if imp.split(".")[0] in forbidden)
    assert not bad


@pytest.mark.parametrize("package", ["constrint", "hwmodels", "flashrnn_kernels"])
def test_modules_import_each_other_without_a_loop(package):
    graph = _sources(package)
    edges = {m: sorted(i for i in imps if i in graph and i != m and not m.startswith(i + "."))
             for m, imps in graph.items()}
    # a package's __init__ hands on names of its modules: importing a submodule runs it first,
    # so an edge into a package stands for its __init__; what that __init__ imports is its own
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(m: str) -> None:
        state[m] = 1
        stack.append(m)
        for n in edges[m]:
            if state.get(n) == 1:
                loop = stack[stack.index(n):] + [n]
                pytest.fail("import loop: " + " -> ".join(loop))
            if n not in state:
                visit(n)
        stack.pop()
        state[m] = 2

    for m in sorted(edges):
        if m not in state:
            visit(m)
