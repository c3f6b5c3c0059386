"""Every kernel translation unit under csrc/ compiles with nvcc alone (no torch headers) for
sm_80 and sm_90a; ptxas's resource report is read (no spills in the alternating kernels).

A ``.cu`` file may list configurations to compile, one per line, as
``// flashrnn-test-defines: -DNAME=VALUE ...``, or, for kernels that take their constants from a
tiling model, as ``// flashrnn-test-problem: CELL BATCH HEADS HEAD_DIM DTYPE PASS`` (solved for the
H100 model, built with the backend's defines); without such a line it is compiled once as is.
"""
import re
import subprocess
from pathlib import Path

import pytest

from flashrnn_kernels import jit

CU_FILES = sorted(jit.CSRC.rglob("*.cu"))
DEFINES_RE = re.compile(r"^//\s*flashrnn-test-defines:(.*)$", re.MULTILINE)
PROBLEM_RE = re.compile(r"^//\s*flashrnn-test-problem:(.*)$", re.MULTILINE)


def _configs(path: Path) -> list[tuple[str, tuple[str, ...]]]:
    text = path.read_text()
    found = [("defines", tuple(line.split())) for line in DEFINES_RE.findall(text)]
    found += [("problem", tuple(line.split())) for line in PROBLEM_RE.findall(text)]
    return found or [("defines", ())]


def _defines(kind: str, words: tuple[str, ...], arch: str) -> list[str]:
    """The -D flags of one configuration of a file."""
    if kind == "defines":
        return list(words)
    pytest.importorskip("torch")  # the backends package imports torch
    from flashrnn_kernels.backends import fused
    from flashrnn_kernels.tiling import Problem, kernel_config

    cell, batch, heads, head_dim, dtype, pass_ = words
    cfg = kernel_config(Problem(cell, int(batch), int(heads), int(head_dim), dtype, pass_), "h100")
    return [f"-D{k}={v}" for k, v in fused.build_defines(cfg, arch).items()]


CASES = [
    pytest.param(path, kind, words, arch,
                 id=f"{path.relative_to(jit.CSRC)}-{'-'.join(words) or 'default'}-sm_{arch}")
    for path in CU_FILES
    for kind, words in _configs(path)
    for arch in ("80", "90a")
]


def test_there_are_kernels():
    assert any(p.name == "alternating.cu" for p in CU_FILES)


@pytest.mark.skipif(jit.nvcc_path() is None, reason="nvcc not found (CUDA toolkit not installed)")
@pytest.mark.parametrize("path, kind, words, arch", CASES)
def test_cu_file_compiles(path, kind, words, arch, tmp_path):
    assert "torch/" not in path.read_text(), f"{path.name} must not include torch headers"
    cmd = jit.nvcc_command([path], tmp_path / "out.cubin", arch=arch, mode="-cubin",
                           extra_flags=["-Xptxas", "-v", *_defines(kind, words, arch)])
    proc = subprocess.run(cmd, capture_output=True, text=True)
    assert proc.returncode == 0, f"{' '.join(cmd)}\n{proc.stderr[-6000:]}"
    report = proc.stderr
    assert "Used" in report, report
    if path.name == "alternating.cu":
        spills = [int(n) for n in re.findall(r"(\d+) bytes spill stores", report)]
        assert spills and max(spills) == 0, report
        stacks = [int(n) for n in re.findall(r"(\d+) bytes stack frame", report)]
        assert max(stacks) == 0, report
