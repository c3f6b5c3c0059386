"""The documentation: its pages exist, its examples and the docstrings' examples run, and the
site builds with ``mkdocs build --strict`` (when mkdocs is installed: ``pip install -e .[docs]``).
"""
from __future__ import annotations

import doctest
import importlib
import inspect
import os
import pkgutil
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
PACKAGES = ("constrint", "hwmodels", "flashrnn_kernels")
FLAGS = doctest.ELLIPSIS


def nav_pages() -> list[str]:
    """The ``.md`` files named in the nav of ``mkdocs.yml`` (read without a YAML parser)."""
    text = (ROOT / "mkdocs.yml").read_text(encoding="utf-8")
    nav = text.split("\nnav:", 1)[1]
    nav = re.split(r"\n(?=\S)", nav, maxsplit=1)[0]  # up to the next top-level key
    return re.findall(r":\s*([\w./-]+\.md)\s*$", nav, flags=re.M)


def test_nav_pages_exist():
    pages = nav_pages()
    assert "index.md" in pages and "reference/constrint.md" in pages
    missing = [p for p in pages if not (DOCS / p).is_file()]
    assert not missing, f"pages named in mkdocs.yml's nav but missing from docs/: {missing}"


def test_examples_page_lists_every_example():
    text = (DOCS / "examples.md").read_text(encoding="utf-8")
    files = sorted(p.name for p in (ROOT / "examples").iterdir() if p.is_file() and not p.name.startswith("."))
    missing = [f for f in files if f"examples/{f}" not in text]
    assert not missing, f"docs/examples.md has no line for {missing}"


def _run_doctests(tests, monkeypatch) -> int:
    monkeypatch.chdir(ROOT)  # examples refer to files such as examples/matmul_tiling.cint
    runner = doctest.DocTestRunner(optionflags=FLAGS)
    report: list[str] = []
    for t in tests:
        runner.run(t, out=report.append)
    failed, attempted = runner.summarize(verbose=False)
    assert failed == 0, "".join(report)
    return attempted


def _pycon_blocks(markdown: str, name: str) -> doctest.DocTest:
    """The ``pycon`` blocks of a Markdown page as one doctest (fence lines end each example)."""
    blocks = re.findall(r"^```pycon\n(.*?)^```", markdown, flags=re.M | re.S)
    text = "\n\n".join(blocks)
    return doctest.DocTestParser().get_doctest(text, {}, name, name, 0)


_GLOBALS = sorted(
    f"global-constraints/{p.name}" for p in (DOCS / "global-constraints").glob("*.md") if p.name != "index.md"
)


@pytest.mark.parametrize("page", ["python-api.md", "from-torch.md", "coming-from.md", *_GLOBALS])
def test_page_examples_run(page, monkeypatch):
    test = _pycon_blocks((DOCS / page).read_text(encoding="utf-8"), page)
    assert test.examples, f"{page} has no pycon examples"
    _run_doctests([test], monkeypatch)


def _readme_python_blocks() -> list[str]:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    return re.findall(r"^```python\n(.*?)^```", text, flags=re.M | re.S)


@pytest.mark.parametrize("index", range(len(_readme_python_blocks())))
def test_readme_python_runs_and_prints_what_it_says(index, monkeypatch):
    """Each Python block of the README runs on this machine (a CPU one too); a ``print`` line's
    trailing comment is what it prints."""
    import contextlib
    import io

    monkeypatch.chdir(ROOT)
    code = _readme_python_blocks()[index]
    said = [line.split("#", 1)[1].strip() for line in code.splitlines()
            if line.startswith("print(") and "#" in line]
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(code, f"README.md python block {index}", "exec"), {})
    assert said and out.getvalue().splitlines() == said


def _modules() -> list[str]:
    """Every module of the three packages whose source holds a docstring example (``>>>``)."""
    names = []
    for pkg in PACKAGES:
        for info in [None, *pkgutil.walk_packages([str(ROOT / pkg)], prefix=pkg + ".")]:
            name = pkg if info is None else info.name
            rel = Path(*name.split("."))
            src = ROOT / rel / "__init__.py" if (ROOT / rel).is_dir() else ROOT / rel.with_suffix(".py")
            if src.is_file() and ">>>" in src.read_text(encoding="utf-8"):
                names.append(name)
    return sorted(set(names))


@pytest.mark.parametrize("name", _modules())
def test_docstring_examples_run(name, monkeypatch):
    try:
        module = importlib.import_module(name)
    except ImportError as exc:  # an optional dependency (torch, hypothesis) is missing
        pytest.skip(f"{name} not importable here: {exc}")
    tests = doctest.DocTestFinder(exclude_empty=True).find(module, name)
    tests = [t for t in tests if t.examples]
    _run_doctests(tests, monkeypatch)


def _public(pkg: str):
    module = importlib.import_module(pkg)
    for name in module.__all__:
        obj = getattr(module, name)
        if inspect.isclass(obj) or inspect.isfunction(obj):
            yield name, obj


@pytest.mark.parametrize("pkg", PACKAGES)
def test_public_names_have_an_example(pkg):
    without = [
        name for name, obj in _public(pkg)
        if not any(mark in (inspect.getdoc(obj) or "") for mark in (">>>", "```"))
    ]
    assert not without, f"public names of {pkg} whose docstring has no example: {without}"


def test_mkdocs_build_strict(tmp_path):
    pytest.importorskip("mkdocs")
    pytest.importorskip("mkdocstrings_handlers.python")
    pytest.importorskip("material")
    proc = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(tmp_path / "site")],
        cwd=ROOT, capture_output=True, text=True, timeout=600,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
    )
    log = proc.stdout + proc.stderr
    assert proc.returncode == 0, log[-6000:]
    assert (tmp_path / "site" / "reference" / "constrint" / "index.html").is_file()


def test_every_environment_variable_is_in_the_troubleshooting_table():
    """``flashrnn_kernels/env.py`` lists the variables the package reads; the troubleshooting
    page's table gives their defaults: both name the same ``FLASHRNN_*`` variables."""
    import flashrnn_kernels.env as env

    ours = set(re.findall(r"``(FLASHRNN_\w+)``", env.__doc__))
    page = (DOCS / "troubleshooting.md").read_text(encoding="utf-8")
    table = page.split("## Environment variables", 1)[1]
    documented = set(re.findall(r"^\| `(FLASHRNN_\w+)`", table, flags=re.M))
    assert ours and ours == documented, (sorted(ours - documented), sorted(documented - ours))
