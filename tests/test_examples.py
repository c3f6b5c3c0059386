"""Every script in ``examples/`` runs to completion (exit status 0) as a subprocess.

Scripts are found by listing ``examples/*.py``. A script states what it needs in a comment among
its first lines, e.g. ``# requires: cuda`` (an NVIDIA GPU) or ``# requires: matplotlib`` (an
importable module); one whose needs are not met here is skipped, with the reason. ``cuda``
examples also carry the ``cuda`` marker, so ``-m cuda`` selects them on a GPU machine.
"""
from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"
HEADER_LINES = 15  # where "# requires: ..." is looked for
TIMEOUT_S = float(os.environ.get("EXAMPLES_TIMEOUT", "300"))
_REQUIRES = re.compile(r"^#\s*requires:\s*(.+?)\s*$")


def requirements(path: Path) -> list[str]:
    """The names listed in ``# requires: a, b`` comments among the first lines of ``path``."""
    needs: list[str] = []
    with path.open(encoding="utf-8") as f:
        for _, line in zip(range(HEADER_LINES), f):
            m = _REQUIRES.match(line.strip())
            if m:
                needs += [n.strip() for n in m.group(1).split(",") if n.strip()]
    return needs


def _cuda_available() -> bool:
    try:
        import torch
    except ImportError:
        return False
    return torch.cuda.is_available()


def unmet(needs: list[str]) -> str | None:
    """Why this machine cannot run an example with these needs, or None."""
    for need in needs:
        if need == "cuda":
            if not _cuda_available():
                return "needs a CUDA GPU (none visible)"
        elif importlib.util.find_spec(need) is None:
            return f"needs the module {need!r} (not installed)"
    return None


def _params():
    for path in sorted(EXAMPLES.glob("*.py")):
        needs = requirements(path)
        marks = [pytest.mark.cuda] if "cuda" in needs else []
        yield pytest.param(path, needs, id=path.name, marks=marks)


def test_examples_are_found():
    assert sorted(p.name for p in EXAMPLES.glob("*.py")), "no examples/*.py found"


def test_requires_comment_is_read(tmp_path):
    script = tmp_path / "x.py"
    script.write_text('"""doc"""\n# requires: cuda, numpy\nprint(1)\n')
    assert requirements(script) == ["cuda", "numpy"]
    assert unmet(["numpy"]) is None
    assert "no_such_module_xyz" in unmet(["no_such_module_xyz"])


@pytest.mark.parametrize("path, needs", list(_params()))
def test_example_runs(path: Path, needs: list[str], tmp_path):
    reason = unmet(needs)
    if reason:
        pytest.skip(f"{path.name}: {reason}")
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    env["MPLBACKEND"] = "Agg"
    try:
        # run from a scratch directory: an example must not depend on the working directory
        proc = subprocess.run([sys.executable, str(path)], cwd=tmp_path, env=env, capture_output=True,
                              text=True, timeout=TIMEOUT_S, stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired as exc:
        out = b"".join(s if isinstance(s, bytes) else (s or "").encode() for s in (exc.stdout, exc.stderr))
        pytest.fail(f"{path.name} did not finish within {TIMEOUT_S:.0f} s\n{out.decode(errors='replace')[-4000:]}")
    assert proc.returncode == 0, (
        f"{path.name} exited with {proc.returncode}\n--- stdout\n{proc.stdout[-4000:]}\n"
        f"--- stderr\n{proc.stderr[-4000:]}"
    )
    assert proc.stdout.strip(), f"{path.name} printed nothing"
