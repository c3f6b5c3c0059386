"""First call of a new configuration with each compiler: NVRTC (launched through the CUDA driver)
against nvcc (ctypes launchers), each in a new process.

    python benchmarks/first_call.py [--cell lstm] [--batch 16] [--heads 1] [--head-dim 768] [--repeats 3]
    python benchmarks/first_call.py --build-only --arch 90a --gpu h100     # no GPU needed

With a GPU, per compiler and repeat, two new processes share a fresh cache directory:

* **empty cache**: the first ``flashrnn()`` forward+backward of the configuration (T = 1024,
  bfloat16) on the fused backend, from the call until ``torch.cuda.synchronize()`` returns: the
  tiling, the build, the module load, the launch and the run;
* **cached**: the same in a second process (the build found in the cache).

Each child also reports the kernel builds it ran and their seconds (:func:`collect_builds`): a
first call with none means the cache was not empty after all, and a cached call with some means
its build was not found.

Each time excludes the imports and the CUDA context, which a process pays anyway (measured
before: a warm-up tensor operation). ``--build-only`` times the builds alone (both fused kernels
of the configuration's tiling and the alternating kernels; solved for ``--gpu``, built for
``--arch``) on any machine. Seconds, median of the repeats, and the ratio NVRTC / nvcc.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

CHILD_RUN = """
import json, sys, time, torch
import flashrnn_kernels as frk
from flashrnn_kernels import compilers
cell, B, N, D = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
sys.path.insert(0, sys.argv[5])
from timing import inputs
from first_call import collect_builds
builds = collect_builds()
xs = inputs(cell, B, 1024, N, D, torch.bfloat16, grad=True)
torch.cuda.synchronize()
t0 = time.perf_counter()
st, _ = frk.flashrnn(*xs, cell=cell, backend="fused")
st[0].float().sum().backward()
torch.cuda.synchronize()
print(json.dumps({"seconds": time.perf_counter() - t0, "compiler": compilers.chosen_compiler(), "builds": builds}))
"""


def collect_builds() -> list[list]:
    """A list that fills with ``[build directory name, seconds]`` for each kernel build this
    process runs from now on (what :func:`flashrnn_kernels.jit.cached_build` logs at INFO), so
    that a first call's time can be told apart into builds and the rest."""
    import logging

    builds: list[list] = []

    class _Builds(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            if record.msg == "built %s in %.1f s":
                builds.append([Path(str(record.args[0])).name, float(record.args[1])])

    logger = logging.getLogger("flashrnn_kernels.jit")
    logger.addHandler(_Builds(logging.INFO))
    logger.setLevel(min(logger.getEffectiveLevel(), logging.INFO))
    return builds

CHILD_BUILD = """
import json, sys, time
from flashrnn_kernels import jit, nvrtc
from flashrnn_kernels.backends import fused
from flashrnn_kernels.tiling import Problem, kernel_config
compiler, cell, B, N, D, arch, gpu = sys.argv[1], sys.argv[2], *map(int, sys.argv[3:6]), sys.argv[6], sys.argv[7]
cfg = kernel_config(Problem(cell, B, N, D, "bfloat16", "both"), gpu)
defines = fused.build_defines(cfg, arch)
out = {}
t0 = time.perf_counter()
if compiler == "nvrtc":
    nvrtc.load_cubin("fused_rnn", fused.SOURCES[0], defines=defines, arch=arch)
else:
    jit.load_library("fused_rnn", fused.SOURCES, defines=defines, arch=arch)
out["fused"] = time.perf_counter() - t0
t0 = time.perf_counter()
if compiler == "nvrtc":
    from flashrnn_kernels.backends.alternating import kernel_expressions
    nvrtc.load_cubin("flashrnn_alternating", "alternating.cu", arch=arch, name_expressions=kernel_expressions())
else:
    jit.load_library("flashrnn_alternating", ["alternating.cu"], arch=arch)
out["alternating"] = time.perf_counter() - t0
print(json.dumps(out))
"""


def _child(code: str, args: list[str], env: dict[str, str]) -> dict:
    proc = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, env=env)
    if proc.returncode != 0:
        raise SystemExit(f"child failed:\n{proc.stdout}\n{proc.stderr[-4000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _env(cache: str, compiler: str) -> dict[str, str]:
    env = {**os.environ, "FLASHRNN_CACHE_DIR": cache, "FLASHRNN_COMPILER": compiler,
           "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    return env


def _table(rows: list[tuple[str, dict[str, list[float]]]]) -> str:
    lines = ["| measurement | nvcc (s) | NVRTC (s) | NVRTC / nvcc |", "|---|--:|--:|--:|"]
    for what, times in rows:
        a, b = statistics.median(times["nvcc"]), statistics.median(times["nvrtc"])
        lines.append(f"| {what} | {a:.3f} | {b:.3f} | {f'{b / a:.2f}' if a else '-'} |")
    return "\n".join(lines)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--cell", default="lstm")
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--heads", type=int, default=1)
    ap.add_argument("--head-dim", type=int, default=768)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--build-only", action="store_true", help="time the builds alone (no GPU needed)")
    ap.add_argument("--arch", default="90a", help="--build-only: the target")
    ap.add_argument("--gpu", default="h100", help="--build-only: the hardware model the tiling is solved for")
    a = ap.parse_args(argv)
    sizes = [a.cell, str(a.batch), str(a.heads), str(a.head_dim)]
    compilers = ("nvcc", "nvrtc")
    if a.build_only:
        times = {k: {c: [] for c in compilers} for k in ("fused", "alternating")}
        for _ in range(a.repeats):
            for c in compilers:
                with tempfile.TemporaryDirectory() as cache:
                    out = _child(CHILD_BUILD, [c, *sizes, a.arch, a.gpu], _env(cache, c))
                for k in times:
                    times[k][c].append(out[k])
        print(f"Builds, empty cache, new process: {a.cell} B{a.batch} {a.heads}x{a.head_dim} bfloat16 "
              f"(tiling for {a.gpu}), sm_{a.arch}, median of {a.repeats}")
        print(_table([("fused kernels (forward + backward)", times["fused"]),
                      ("alternating kernels (every cell and dtype)", times["alternating"])]))
        return 0
    import torch

    if not torch.cuda.is_available():
        print("first_call.py needs a CUDA GPU (or --build-only)", file=sys.stderr)
        return 2
    first = {c: [] for c in compilers}
    cached = {c: [] for c in compilers}
    built = {c: [] for c in compilers}  # seconds of the builds inside the first call
    for _ in range(a.repeats):
        for c in compilers:
            with tempfile.TemporaryDirectory() as cache:
                env = _env(cache, c)
                out = _child(CHILD_RUN, [*sizes, str(ROOT / "benchmarks")], env)
                first[c].append(out["seconds"])
                built[c].append(sum(seconds for _name, seconds in out["builds"]))
                runs = ", ".join(f"{name} {seconds:.1f} s" for name, seconds in out["builds"])
                print(f"{c}, empty cache: {out['seconds']:.3f} s; builds: {runs or 'none'}")
                out = _child(CHILD_RUN, [*sizes, str(ROOT / "benchmarks")], env)
                cached[c].append(out["seconds"])
                if out["builds"]:
                    print(f"{c}, cached: built again: {out['builds']}")
    print(f"First forward+backward through flashrnn(backend='fused'), new process: {a.cell} B{a.batch} "
          f"{a.heads}x{a.head_dim} T1024 bfloat16, {torch.cuda.get_device_name()}, median of {a.repeats}")
    print(_table([("empty cache (tiling, build, load, run)", first),
                  ("builds inside it (summed; they may overlap)", built), ("cached build", cached)]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
