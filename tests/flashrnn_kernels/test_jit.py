"""JIT build cache: keys, one build for two processes at once, recovery from a killed build,
lock timeout; typed environment settings. A fake builder stands in for nvcc."""
import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path
from unittest import mock

import pytest

from flashrnn_kernels import compilers, env, jit
from flashrnn_kernels.errors import BuildLockTimeout, InputError

REPO = Path(__file__).resolve().parents[2]

CHILD = textwrap.dedent(
    """
    import os, sys, time
    from pathlib import Path
    from flashrnn_kernels import jit
    cache, log, sleep = Path(sys.argv[1]), Path(sys.argv[2]), float(sys.argv[3])

    def build(directory):
        with open(log, "a") as f:
            f.write(f"start {os.getpid()}\\n")
        time.sleep(sleep)
        (directory / "artifact.txt").write_text("built")
        with open(log, "a") as f:
            f.write(f"end {os.getpid()}\\n")
        return "value"

    res = jit.cached_build("demo-abc", {"k": 1}, build, cache_dir=cache, timeout=float(sys.argv[4]))
    print(res.built, (res.directory / "artifact.txt").read_text())
    """
)


def _spawn(tmp_path, sleep, timeout=60.0):
    script = tmp_path / "child.py"
    script.write_text(CHILD)
    envv = {**os.environ, "PYTHONPATH": str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    return subprocess.Popen(
        [sys.executable, str(script), str(tmp_path / "cache"), str(tmp_path / "log"), str(sleep), str(timeout)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=envv,
    )


def test_two_processes_build_once(tmp_path):
    procs = [_spawn(tmp_path, sleep=1.0) for _ in range(2)]
    outs = [p.communicate(timeout=60) for p in procs]
    assert all(p.returncode == 0 for p in procs), outs
    lines = sorted(o[0].strip() for o in outs)
    assert lines == ["False built", "True built"]
    log = (tmp_path / "log").read_text().split()
    assert log.count("start") == 1 and log.count("end") == 1
    marker = json.loads((tmp_path / "cache" / "demo-abc" / jit.MARKER).read_text())
    assert marker["key_parts"] == {"k": 1}


def test_killed_build_is_recovered(tmp_path, wait_for):
    victim = _spawn(tmp_path, sleep=60.0)
    wait_for(lambda: (tmp_path / "log").exists() and "start" in (tmp_path / "log").read_text())
    directory = tmp_path / "cache" / "demo-abc"
    (directory / "half-written.o").write_text("garbage")
    victim.send_signal(signal.SIGKILL)
    victim.wait(timeout=30)
    assert not (directory / jit.MARKER).exists()

    calls = []

    def build(d):
        calls.append(d)
        assert not (d / "half-written.o").exists(), "the interrupted build's files were not wiped"
        (d / "artifact.txt").write_text("built")
        return 42

    res = jit.cached_build("demo-abc", {"k": 1}, build, cache_dir=tmp_path / "cache", timeout=10)
    assert res.built and res.value == 42 and len(calls) == 1
    again = jit.cached_build("demo-abc", {"k": 1}, build, cache_dir=tmp_path / "cache", timeout=10)
    assert not again.built and again.value is None and len(calls) == 1


def test_lock_timeout_names_the_holder(tmp_path, wait_for):
    holder = _spawn(tmp_path, sleep=30.0)
    try:
        wait_for((tmp_path / "log").exists)
        pattern = rf"waited 0 s for the build lock .*demo-abc\.lock.*'pid': {holder.pid}"
        with pytest.raises(BuildLockTimeout, match=pattern):
            jit.cached_build("demo-abc", {}, lambda d: None, cache_dir=tmp_path / "cache", timeout=0.3)
    finally:
        holder.kill()
        holder.wait(timeout=30)


def test_stale_soft_lock_of_dead_process_is_removed(tmp_path, monkeypatch):
    """A lock that stays held after its owner died (as a lock-file-exists lock would) is removed."""
    import filelock

    cache = tmp_path / "cache"
    cache.mkdir()
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    (cache / "demo-abc.owner").write_text(json.dumps({"pid": dead.pid, "host": jit.socket.gethostname()}))
    attempts = []
    real = filelock.FileLock

    class StuckOnce(real):
        def acquire(self, *a, **k):
            attempts.append(1)
            if len(attempts) == 1:
                raise filelock.Timeout(self.lock_file)
            return super().acquire(*a, **k)

    monkeypatch.setattr(filelock, "FileLock", StuckOnce)
    res = jit.cached_build("demo-abc", {}, lambda d: "ok", cache_dir=cache, timeout=0.1)
    assert res.built and res.value == "ok" and len(attempts) == 2


def test_failed_build_leaves_no_marker(tmp_path):
    def boom(d):
        (d / "partial").write_text("x")
        raise RuntimeError("compiler exploded")

    with pytest.raises(RuntimeError, match="exploded"):
        jit.cached_build("demo-x", {}, boom, cache_dir=tmp_path, timeout=5)
    assert not (tmp_path / "demo-x" / jit.MARKER).exists()
    res = jit.cached_build("demo-x", {}, lambda d: 1, cache_dir=tmp_path, timeout=5)
    assert res.built and not (tmp_path / "demo-x" / "partial").exists()


def test_build_key_depends_on_everything(tmp_path):
    base = {"sources": {"a.cu": "1"}, "defines": ["-DX=1"], "arch": "90a", "toolchain": {"torch": "2.11"}}
    k = jit.build_key(base)
    assert jit.build_key(dict(base)) == k
    for field, value in [("sources", {"a.cu": "2"}), ("defines", ["-DX=2"]), ("arch", "80"),
                         ("toolchain", {"torch": "2.12"})]:
        assert jit.build_key({**base, field: value}) != k
    h = tmp_path / "inc"
    h.mkdir()
    (h / "x.cuh").write_text("int a;")
    d1 = jit.header_digests([h])
    (h / "x.cuh").write_text("int b;")
    assert jit.header_digests([h]) != d1


def test_arch_helpers(monkeypatch):
    assert jit.normalize_arch("sm_90a") == "90a"
    assert jit.normalize_arch("8.0") == "80"
    assert jit.normalize_arch("compute_89") == "89"
    assert jit.arch_for_capability(9, 0) == "90a" and jit.arch_for_capability(8, 0) == "80"
    assert jit.arch_flags("90a") == ["-gencode=arch=compute_90a,code=sm_90a"]
    assert jit.arch_flags("sm_80") == ["-gencode=arch=compute_80,code=sm_80"]
    with pytest.raises(InputError):
        jit.normalize_arch("hopper")
    monkeypatch.setenv("FLASHRNN_CUDA_ARCH", "sm_86")
    assert jit.target_arch() == "86"


def test_settings_parse_and_reject(monkeypatch, tmp_path):
    monkeypatch.setenv("FLASHRNN_CACHE_DIR", str(tmp_path))
    monkeypatch.setenv("FLASHRNN_BUILD_TIMEOUT", "12.5")
    monkeypatch.setenv("FLASHRNN_BUILD_VERBOSE", "yes")
    monkeypatch.setenv("FLASHRNN_BACKEND", "Reference")
    s = env.settings()
    assert (s.cache_dir, s.build_timeout_s, s.build_verbose, s.backend) == (tmp_path, 12.5, True, "reference")
    monkeypatch.setenv("FLASHRNN_BUILD_TIMEOUT", "soon")
    with pytest.raises(InputError, match="FLASHRNN_BUILD_TIMEOUT='soon' is not a number"):
        env.settings()
    monkeypatch.delenv("FLASHRNN_BUILD_TIMEOUT")
    monkeypatch.setenv("FLASHRNN_BUILD_VERBOSE", "maybe")
    with pytest.raises(InputError, match="FLASHRNN_BUILD_VERBOSE"):
        env.settings()


def test_variables_read_as_os_environ_gives_them(monkeypatch):
    names = ("FLASHRNN_COMPILER", "FLASHRNN_TEST_VARIABLE_\u00e9")
    monkeypatch.delenv(names[0], raising=False)
    monkeypatch.setenv(names[1], "caf\u00e9")
    assert env.raw_values(names) == (None, "caf\u00e9") == tuple(os.environ.get(n) for n in names)
    monkeypatch.setenv(names[0], "NVRTC")  # a change is seen at once
    assert env.raw_values(names)[0] == "NVRTC" and env.compiler_setting() == "nvrtc"
    with mock.patch.dict(os.environ, {}, clear=True):
        assert env.raw_values(names) == (None, None)
    assert env.raw_values(names) == ("NVRTC", "caf\u00e9")
    # an os.environ without CPython's inner mapping: read through its get
    monkeypatch.setattr(os, "environ", {names[0]: "nvcc"})
    assert env.raw_values(names) == ("nvcc", None)


def test_default_cache_dir_without_platformdirs(monkeypatch, tmp_path):
    monkeypatch.delenv("FLASHRNN_CACHE_DIR", raising=False)
    monkeypatch.setitem(sys.modules, "platformdirs", None)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert env.settings().cache_dir == tmp_path / "flashrnn_kernels"


def test_nothing_compiled_at_import():
    code = (
        "import sys, flashrnn_kernels as f\n"
        "f.flashrnn; f.LSTM; import flashrnn_kernels.backends as b; b.registered_backends()\n"
        "import flashrnn_kernels.backends.alternating as a, flashrnn_kernels.jit as j, flashrnn_kernels.nvrtc as r\n"
        "assert a._library.cache_info().currsize == 0 and not j._memo and not r._memo\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=REPO)


def test_eager_use_does_not_import_dynamo():
    """``torch._dynamo`` takes seconds to import (4-6 s on an H100 host): not for eager use."""
    code = (
        "import sys, torch, flashrnn_kernels as f\n"
        "rnn = f.LSTM(4, 6, num_heads=2, batch_first=True, backend='reference')\n"
        "rnn(torch.randn(2, 3, 4))[0].sum().backward()\n"
        "f.flashrnn(torch.randn(1, 2, 3, 1, 4), torch.randn(3, 1, 4, 4), cell='gru')\n"
        "assert 'torch._dynamo' not in sys.modules, 'torch._dynamo was imported'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=REPO)


FAKE_NVCC = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    args = sys.argv[1:]
    if args == ["--version"]:
        print("fake nvcc\\nBuild fake_1.0")
        sys.exit(0)
    out = Path(args[args.index("-o") + 1])
    log = Path(__import__("os").environ["FAKE_NVCC_LOG"])
    with open(log, "a") as f:
        f.write(" ".join(args) + "\\n")
    if any(a == "-DFAIL=1" for a in args):
        print("error: asked to fail", file=sys.stderr)
        sys.exit(2)
    out.write_bytes(Path(sys.executable).read_bytes()[:0])  # an empty 'library'
    """
)


@pytest.fixture
def fake_nvcc(tmp_path, monkeypatch):
    """``FLASHRNN_NVCC`` pointing at a script that logs its command line and writes the output."""
    script = tmp_path / "nvcc"
    script.write_text(f"#!{sys.executable}\n" + FAKE_NVCC)
    script.chmod(0o755)
    log = tmp_path / "nvcc.log"
    log.write_text("")
    monkeypatch.setenv("FLASHRNN_NVCC", str(script))
    monkeypatch.setenv("FAKE_NVCC_LOG", str(log))
    monkeypatch.setenv("FLASHRNN_CACHE_DIR", str(tmp_path / "cache"))
    return log


def test_load_library_runs_nvcc_once_per_key(fake_nvcc, tmp_path, monkeypatch):
    """The one build seam: a key per (sources, defines, arch, compiler); the library is built by
    nvcc into the cache once; a changed define builds again, an unchanged one does not."""
    import ctypes

    opened = []
    monkeypatch.setattr(ctypes, "CDLL", lambda path: opened.append(path) or path)
    jit._memo.clear()
    first = jit.load_library("demo", ["alternating.cu"], defines={"A": 1}, arch="90a")
    jit._memo.clear()  # a new process: found in the cache, not rebuilt
    again = jit.load_library("demo", ["alternating.cu"], defines={"A": 1}, arch="sm_90a")
    other = jit.load_library("demo", ["alternating.cu"], defines={"A": 2}, arch="90a")
    jit._memo.clear()
    builds = fake_nvcc.read_text().splitlines()
    assert len(builds) == 2, builds
    assert first == again != other
    assert "-DA=1" in builds[0] and "-gencode=arch=compute_90a,code=sm_90a" in builds[0]
    assert (Path(first).parent / jit.MARKER).exists()
    assert jit.nvcc_version() == "Build fake_1.0"


def test_load_library_failure_is_a_build_error_and_caches_nothing(fake_nvcc, tmp_path):
    from flashrnn_kernels.errors import BuildError

    with pytest.raises(BuildError, match="asked to fail"):
        jit.load_library("demo", ["alternating.cu"], defines={"FAIL": 1}, arch="80")
    assert not list((tmp_path / "cache").glob(f"demo-*/{jit.MARKER}"))


def test_toolchain_problem_names_what_is_missing(monkeypatch, tmp_path):
    monkeypatch.setenv("FLASHRNN_NVCC", str(tmp_path / "no-such-nvcc"))
    monkeypatch.setenv("FLASHRNN_COMPILER", "nvcc")
    assert jit.nvcc_problem() == "no CUDA compiler: nvcc not found (set CUDA_HOME or put nvcc on PATH)"
    assert compilers.toolchain_problem() == ("FLASHRNN_COMPILER=nvcc: no CUDA compiler: nvcc not found "
                                       "(set CUDA_HOME or put nvcc on PATH)")
    from flashrnn_kernels.errors import BuildError

    with pytest.raises(BuildError, match="nvcc not found"):
        jit.load_library("demo", ["alternating.cu"], arch="80")
