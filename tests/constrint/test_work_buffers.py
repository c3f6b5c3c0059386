"""Work arrays of the numpy join are recycled by the allocator: a count makes (almost) no page
faults, in a fresh process as after large allocations (its run time does not depend on the
process's history). Counted in minor page faults, not in seconds."""
from __future__ import annotations

import os
import platform
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

SCRIPT = r"""
import resource
import constrint as ci
m = ci.Model()
bx = m.int_var("bx", values=[1, 2, 4, 8, 16] + list(range(32, 1025, 32)))
by = m.int_var("by", values=[2**i for i in range(6)])
tx, ty, tt = (m.int_var(n, 1, 10) for n in ("tx", "ty", "tt"))
u = m.int_var("u", 1, 10)
p = m.int_var("p", 0, 1)
m += 32 <= bx * by
m += bx * by <= 1024
m += tt % u == 0
m += (bx * tx + tt * 2) * (by * ty + tt * 2) * (2 + p) * 4 <= 49152
m.count()                                   # imports and first-use caches
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
n = m.count()
print(n, resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""


@pytest.mark.skipif(
    platform.system() != "Linux" or platform.libc_ver()[0] != "glibc",
    reason="page-fault counts of glibc's allocator on Linux",
)
def test_counting_in_a_fresh_process_reuses_its_work_arrays():
    env = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    out = subprocess.run(
        [sys.executable, "-c", SCRIPT], capture_output=True, text=True, env=env, check=True
    ).stdout.split()
    count, faults = int(out[0]), int(out[1])
    assert count == 82984
    # about 40 chunks of a dozen work arrays each: mapped afresh they fault in every page
    # (thousands of faults); recycled by the allocator they fault in none
    assert faults < 300, faults
