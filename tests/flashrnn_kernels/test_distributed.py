"""Distributed training with the ``flashrnn_kernels`` modules, and the fused backend's build cache
under several processes.

* CPU (always runs): 2 ranks, gloo over loopback TCP, one DDP training step of ``frk.LSTM`` with
  the reference backend in float64; gradients and updated parameters equal one process over the
  global batch.
* GPU (``cuda`` marker, 2+ GPUs): the same with NCCL, for the fused backend (bfloat16) and the
  alternating backend; gradients within dtype tolerance of one process over the global batch,
  judged against a float64 reference; on an empty build cache each kernel build is compiled by
  one rank only.
* CPU: the build cache of the kernels (``jit.load_library``, as the fused backend calls it) with
  several processes asking for the same build at once, a fake compiler (``FLASHRNN_NVCC``)
  standing in for nvcc.

The ranks are fresh interpreters running this file as a script (``python test_distributed.py
worker '<json>'``); each writes its results with ``torch.save`` for the test to compare.
"""
from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
import torch

REPO = Path(__file__).resolve().parents[2]
THIS = Path(__file__).resolve()

#: Kept set in every process a multi-GPU test starts (NVLink SHARP / multicast off).
NCCL_SAFE_ENV = {"NCCL_NVLS_ENABLE": "0", "TORCH_SYMM_MEM_DISABLE_MULTICAST": "1", "NVSHMEM_DISABLE_NVLS": "1"}

# global batch, steps, input size, hidden size, heads
SIZES_CPU = dict(B=4, T=6, I=5, H=8, heads=2)
SIZES_GPU = dict(B=8, T=16, I=32, H=128, heads=2)
LR = 0.1


# ------------------------------------------------------------------ problem (shared by all runs)

def make_model(sizes, dtype, device, backend, seed):
    """``frk.LSTM`` initialised in float64 on the CPU from ``seed``, then moved: every process
    (and the single-process run) starts from the same values in the same dtype."""
    import flashrnn_kernels as frk

    torch.manual_seed(seed)
    model = frk.LSTM(sizes["I"], sizes["H"], num_heads=sizes["heads"], batch_first=True, dtype=torch.float64,
                     backend=backend)
    return model.to(device=device, dtype=dtype)


def make_batch(sizes, dtype, device, seed=1234):
    """Global batch ``(x [B, T, I], y [B, T, H])``, drawn in float64 then cast."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(sizes["B"], sizes["T"], sizes["I"], dtype=torch.float64, generator=g)
    y = torch.randn(sizes["B"], sizes["T"], sizes["H"], dtype=torch.float64, generator=g)
    return x.to(device=device, dtype=dtype), y.to(device=device, dtype=dtype)


def loss_fn(model, x, y):
    """Mean over the (local) batch: with equal local batches, DDP's average of the ranks'
    gradients is the gradient of this loss over the global batch."""
    out, (_h, c) = model(x)
    acc = torch.promote_types(out.dtype, torch.float32)
    return ((out.to(acc) - y.to(acc)) ** 2).mean() + (c.to(acc) ** 2).mean()


def single_process_grads(model, x, y):
    """Gradients of :func:`loss_fn` over the whole batch in one process, and the parameters
    after one SGD step, as CPU float64 copies."""
    model.zero_grad(set_to_none=True)
    loss = loss_fn(model, x, y)
    loss.backward()
    grads = {n: p.grad.detach().double().cpu() for n, p in model.named_parameters()}
    with torch.no_grad():
        for p in model.parameters():
            p -= LR * p.grad
    params = {n: p.detach().double().cpu() for n, p in model.named_parameters()}
    return float(loss.detach()), grads, params


# ------------------------------------------------------------------------------- worker side

def worker_main(args: dict) -> None:
    """One rank: init the process group, wrap the model in DDP, one SGD step, save results."""
    from datetime import timedelta

    import torch.distributed as dist

    rank = args["rank"]
    torch.set_num_threads(1)
    env = {k: os.environ.get(k) for k in NCCL_SAFE_ENV}
    assert env == NCCL_SAFE_ENV, f"rank {rank}: environment lacks {NCCL_SAFE_ENV}: {env}"
    dtype = getattr(torch, args["dtype"])
    if args["pg_backend"] == "nccl":
        torch.cuda.set_device(rank)
        device = torch.device("cuda", rank)
        extra = {"device_id": device}
    else:
        device = torch.device("cpu")
        extra = {}
    builds = _record_builds()
    dist.init_process_group(args["pg_backend"], init_method=f"tcp://127.0.0.1:{args['port']}", rank=rank,
                            world_size=args["world"], timeout=timedelta(seconds=args["timeout"]), **extra)
    try:
        loss, grads, params = _ddp_step(args, device, dtype)
        dist.barrier()
    finally:
        dist.destroy_process_group()
    torch.save({"rank": rank, "loss": loss, "grads": grads, "params": params, "env": env,
                "device": str(device), "builds": builds}, Path(args["out"]) / f"rank{rank}.pt")


def _ddp_step(args: dict, device: torch.device, dtype: torch.dtype):
    """One DDP step of this rank on its share of the batch: ``(loss, grads, params)`` as in
    :func:`single_process_grads`."""
    from torch.nn.parallel import DistributedDataParallel as DDP

    rank, world, sizes = args["rank"], args["world"], args["sizes"]
    # rank r starts from other values: DDP must broadcast rank 0's parameters
    model = make_model(sizes, dtype, device, args["backend"], seed=args["seed"] + rank)
    ddp = DDP(model, device_ids=[rank] if device.type == "cuda" else None)
    x, y = make_batch(sizes, dtype, device)
    per = sizes["B"] // world
    xs, ys = x[rank * per:(rank + 1) * per], y[rank * per:(rank + 1) * per]
    opt = torch.optim.SGD(ddp.parameters(), lr=LR)
    opt.zero_grad(set_to_none=True)
    loss = loss_fn(ddp, xs, ys)
    loss.backward()
    grads = {n: p.grad.detach().double().cpu() for n, p in model.named_parameters()}
    opt.step()
    params = {n: p.detach().double().cpu() for n, p in model.named_parameters()}
    if device.type == "cuda":
        torch.cuda.synchronize(device)
        assert torch.cuda.current_device() == rank
    return float(loss.detach()), grads, params


def _record_builds() -> list[tuple[str, bool]]:
    """Wrap :func:`flashrnn_kernels.jit.cached_build` (every JIT build of both backends goes
    through it) so this process lists ``(build directory, built here?)`` for each request."""
    from flashrnn_kernels import jit

    builds: list[tuple[str, bool]] = []
    inner = jit.cached_build

    def recording(dir_name, *args, **kwargs):
        result = inner(dir_name, *args, **kwargs)
        builds.append((dir_name, bool(result.built)))
        return result

    jit.cached_build = recording
    return builds


# ------------------------------------------------------------------------------- launcher side

def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _worker_env(nccl: bool, cache_dir: Path | None) -> dict[str, str]:
    env = {**os.environ, **NCCL_SAFE_ENV}
    if cache_dir is not None:
        env["FLASHRNN_CACHE_DIR"] = str(cache_dir)
    env["PYTHONPATH"] = str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", "")
    env["OMP_NUM_THREADS"] = "1"
    if Path("/sys/class/net/lo").exists():  # rendezvous and data on loopback only
        env["GLOO_SOCKET_IFNAME"] = "lo"
        if nccl:
            env["NCCL_SOCKET_IFNAME"] = "lo"
    return env


def run_ranks(tmp_path: Path, world: int, *, pg_backend: str, backend: str, dtype: str, sizes: dict,
              seed: int = 7, timeout: float = 120.0, cache_dir: Path | None = None) -> list[dict]:
    """Start ``world`` ranks, wait for them, return their saved results (rank order);
    ``cache_dir``: the ranks' ``FLASHRNN_CACHE_DIR``."""
    for attempt in range(2):  # a second port if the first was taken meanwhile
        out = tmp_path / f"run{attempt}"
        out.mkdir()
        port = free_port()
        procs = []
        for rank in range(world):
            args = dict(rank=rank, world=world, port=port, pg_backend=pg_backend, backend=backend,
                        dtype=dtype, sizes=sizes, seed=seed, out=str(out), timeout=timeout)
            procs.append(subprocess.Popen([sys.executable, str(THIS), "worker", json.dumps(args)],
                                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                          env=_worker_env(pg_backend == "nccl", cache_dir), cwd=REPO))
        logs = []
        deadline = time.monotonic() + timeout + 60
        try:
            for p in procs:
                logs.append(p.communicate(timeout=max(1.0, deadline - time.monotonic()))[0])
        except subprocess.TimeoutExpired:
            for p in procs:
                p.kill()
            for p in procs:
                p.communicate()
            pytest.fail(f"ranks did not finish within {timeout + 60:.0f} s")
        if all(p.returncode == 0 for p in procs):
            return [torch.load(out / f"rank{r}.pt") for r in range(world)]
        text = "\n".join(f"--- rank {r} (exit {p.returncode}) ---\n{log[-4000:]}"
                         for r, (p, log) in enumerate(zip(procs, logs)))
        if attempt == 0 and "address already in use" in text.lower():
            continue
        pytest.fail(text)
    raise AssertionError("unreachable")


# ------------------------------------------------------------------------------------ tests

def test_ddp_gloo_cpu_matches_single_process(tmp_path):
    """2 ranks (gloo, loopback), reference backend, float64: DDP's averaged gradients and the
    parameters after one SGD step equal one process over the global batch."""
    sizes = SIZES_CPU
    results = run_ranks(tmp_path, 2, pg_backend="gloo", backend="reference", dtype="float64", sizes=sizes)

    model = make_model(sizes, torch.float64, "cpu", "reference", seed=7)  # rank 0's initial values
    x, y = make_batch(sizes, torch.float64, "cpu")
    loss, grads, params = single_process_grads(model, x, y)

    assert sorted(grads) == ["bias_hh_l0", "bias_ih_l0", "weight_hh_l0", "weight_ih_l0"]
    for res in results:
        assert res["env"] == NCCL_SAFE_ENV
        assert res["builds"] == []  # the reference backend compiles nothing
        for name in grads:
            torch.testing.assert_close(res["grads"][name], grads[name], rtol=1e-10, atol=1e-13,
                                       msg=lambda m, n=name, r=res["rank"]: f"rank {r} grad {n}: {m}")
            torch.testing.assert_close(res["params"][name], params[name], rtol=1e-10, atol=1e-13)
    # each rank's loss is over its half; their mean is the global loss
    assert abs(sum(r["loss"] for r in results) / 2 - loss) < 1e-12
    # the gradient is not trivially zero and the two halves differ
    assert all(g.abs().max() > 1e-3 for g in grads.values())
    assert results[0]["loss"] != results[1]["loss"]


def _rms(t: torch.Tensor) -> float:
    return float(t.double().pow(2).mean().sqrt())


TOL = {"bfloat16": 5e-3, "float16": 1e-3, "float32": 1e-5}


@pytest.mark.cuda
@pytest.mark.skipif(torch.cuda.device_count() < 2, reason="needs 2 or more CUDA GPUs")
@pytest.mark.parametrize("backend, dtype", [("fused", "bfloat16"), ("alternating", "bfloat16"),
                                            ("alternating", "float32")])
def test_ddp_nccl_two_gpus_matches_single_process(tmp_path, backend, dtype, monkeypatch):
    """2 ranks (NCCL, one GPU each): DDP gradients of ``frk.LSTM`` with the fused / alternating
    backend equal one process over the global batch within dtype tolerance: their RMS error
    against float64 is at most twice the single-process run's plus ``tol * rms(reference)``."""
    for k, v in NCCL_SAFE_ENV.items():
        monkeypatch.setenv(k, v)
    cache = tmp_path / "cache"  # empty: both ranks reach their first build at the same moment
    monkeypatch.setenv("FLASHRNN_CACHE_DIR", str(cache))  # and the single-process run below
    sizes = SIZES_GPU
    results = run_ranks(tmp_path, 2, pg_backend="nccl", backend=backend, dtype=dtype, sizes=sizes,
                        timeout=900.0, cache_dir=cache)
    assert [r["device"] for r in results] == ["cuda:0", "cuda:1"]
    # one configuration and one build per GPU type: both ranks ask for the same builds, and each
    # is compiled by exactly one of them (the other waits on the lock and loads it)
    asked = [sorted({name for name, _ in r["builds"]}) for r in results]
    assert asked[0] and asked[0] == asked[1], asked
    for name in asked[0]:
        builders = [r["rank"] for r in results if (name, True) in r["builds"]]
        assert len(builders) == 1, f"{name}: built by ranks {builders}"

    tdt = getattr(torch, dtype)
    single = make_model(sizes, tdt, "cuda:0", backend, seed=7)
    x, y = make_batch(sizes, tdt, "cuda:0")
    _, g_single, _ = single_process_grads(single, x, y)

    ref = make_model(sizes, tdt, "cpu", "reference", seed=7).double()  # same (rounded) values
    _, g_ref, _ = single_process_grads(ref, x.double().cpu(), y.double().cpu())

    for res in results:
        assert res["env"] == NCCL_SAFE_ENV
        for name, gr in g_ref.items():
            gd = res["grads"][name]
            assert torch.isfinite(gd).all(), f"rank {res['rank']} {name}: non-finite gradient"
            err_ddp, err_single = _rms(gd - gr), _rms(g_single[name] - gr)
            bound = 2 * err_single + TOL[dtype] * _rms(gr)
            assert err_ddp <= bound, (
                f"rank {res['rank']} grad {name} ({backend}, {dtype}): rms error {err_ddp:.3g} vs "
                f"float64, single process {err_single:.3g}, bound {bound:.3g}")
    # both ranks hold the same gradients and parameters after the step
    for name in g_ref:
        torch.testing.assert_close(results[0]["grads"][name], results[1]["grads"][name], rtol=0, atol=0)
        torch.testing.assert_close(results[0]["params"][name], results[1]["params"][name], rtol=0, atol=0)


# ----------------------------------------------------- kernel build cache, several processes

FAKE_NVCC = textwrap.dedent(
    """
    import os, sys, time
    args = sys.argv[1:]
    if args == ["--version"]:
        print("Build fake_nvcc_1.0")
        sys.exit(0)
    out, log = args[args.index("-o") + 1], os.environ["FAKE_NVCC_LOG"]
    with open(log, "a") as f:
        f.write(f"start {time.time()}\\n")
    if os.environ.get("FAKE_NVCC_FAIL"):
        sys.stderr.write("boom")
        sys.exit(3)
    time.sleep(float(os.environ.get("FAKE_NVCC_SLEEP", "0")))
    with open(out, "wb") as f:
        f.write(b"fake library")
    with open(log, "a") as f:
        f.write(f"end {time.time()}\\n")
    """
)

BUILD_CHILD = textwrap.dedent(
    """
    import ctypes, os, sys, time
    from pathlib import Path
    from flashrnn_kernels import jit
    from flashrnn_kernels.backends import fused
    log = sys.argv[1]
    # start together: imports on a loaded machine can take longer than the fake build
    Path(log).with_name(f"ready.{os.getpid()}").touch()
    go = Path(log).with_name("go")
    while not go.exists():
        time.sleep(0.01)
    ctypes.CDLL = lambda path: Path(path)  # the fake library is no shared object
    t0 = time.time()
    path = jit.load_library("fused_rnn", fused.SOURCES, defines={"FLASHRNN_CELL": 0}, arch="90a")
    print(t0, path, path.read_bytes().decode())
    """
)


def _fake_nvcc(tmp_path: Path, sleep: float = 0.0, fail: bool = False) -> dict[str, str]:
    """Environment of a process whose builds run the fake compiler into ``tmp_path / "cache"``."""
    fake = tmp_path / "nvcc"
    fake.write_text(f"#!{sys.executable}\n" + FAKE_NVCC)
    fake.chmod(0o755)
    env = {"FLASHRNN_NVCC": str(fake), "FAKE_NVCC_LOG": str(tmp_path / "log"), "FAKE_NVCC_SLEEP": str(sleep),
           "FLASHRNN_CACHE_DIR": str(tmp_path / "cache")}
    if fail:
        env["FAKE_NVCC_FAIL"] = "1"
    return env


def _build_procs(tmp_path: Path, n: int, sleep: float, wait_for, **popen) -> list[subprocess.Popen]:
    (tmp_path / "child.py").write_text(BUILD_CHILD)
    env = {**os.environ, **_fake_nvcc(tmp_path, sleep),
           "PYTHONPATH": str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""), "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, str(tmp_path / "child.py"), str(tmp_path / "log")]
    procs = [subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, **popen)
             for _ in range(n)]
    # every child has imported (or one has died: the test's own checks say why): let them all go
    wait_for(lambda: len(list(tmp_path.glob("ready.*"))) == n or any(p.poll() is not None for p in procs),
             seconds=120.0)
    (tmp_path / "go").touch()
    return procs


def test_kernel_build_cache_one_build_for_several_processes(tmp_path, wait_for):
    """Four processes ask for the same kernel build at once (as the ranks of a job do on their
    first call): the compiler runs once, all get the same finished library."""
    procs = _build_procs(tmp_path, 4, 3.0, wait_for)
    outs = [p.communicate(timeout=120) for p in procs]
    assert all(p.returncode == 0 for p in procs), outs
    calls = [o[0].strip().split(" ", 2) for o in outs]  # (time of the call, path, content)
    lines = {tuple(c[1:]) for c in calls}
    assert len(lines) == 1, lines
    path, content = lines.pop()
    assert content == "fake library"
    lib = Path(path)
    assert lib.name == "libfused_rnn.so" and lib.parent.parent == tmp_path / "cache"
    log = (tmp_path / "log").read_text().split()
    assert log[::2] == ["start", "end"], log
    end = float(log[3])
    asked = [c for c in calls if float(c[0]) < end]  # the builder and those that had to wait
    assert len(asked) >= 2, "only one process asked before the build ended: no concurrency tested"
    assert sorted(p.name for p in lib.parent.iterdir()) == ["BUILD_OK.json", "libfused_rnn.so"]
    assert sorted(p.name for p in lib.parent.parent.iterdir()) == [lib.parent.name, lib.parent.name + ".lock"]


def test_kernel_build_cache_failed_and_killed_builds(tmp_path, monkeypatch, wait_for):
    """A build killed midway (lock released by the OS, no library) and a failing compiler leave
    no library behind; the next call builds it."""
    import ctypes

    from flashrnn_kernels import jit
    from flashrnn_kernels.backends import fused
    from flashrnn_kernels.errors import BuildError

    # a process killed while its compiler runs
    victim = _build_procs(tmp_path, 1, 60.0, wait_for, start_new_session=True)[0]
    try:
        wait_for(lambda: (tmp_path / "log").exists() and "start" in (tmp_path / "log").read_text(),
                 seconds=60.0)
    finally:
        os.killpg(victim.pid, signal.SIGKILL)  # the child and its fake compiler
        victim.communicate(timeout=30)
    assert not list((tmp_path / "cache").glob("*/libfused_rnn.so"))

    def build():
        jit._memo.clear()
        return jit.load_library("fused_rnn", fused.SOURCES, defines={"FLASHRNN_CELL": 0}, arch="90a")

    for k, v in _fake_nvcc(tmp_path, fail=True).items():
        monkeypatch.setenv(k, v)
    with pytest.raises(BuildError, match="nvcc failed(.|\n)*boom"):
        build()
    assert not list((tmp_path / "cache").glob("*/libfused_rnn.so"))
    monkeypatch.delenv("FAKE_NVCC_FAIL")
    monkeypatch.setattr(ctypes, "CDLL", Path)
    path = build()  # same key as the killed build's: not blocked
    jit._memo.clear()
    assert path.read_bytes() == b"fake library"
    assert [p for p in (tmp_path / "cache").iterdir() if p.is_dir()] == [path.parent]


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "worker":
        worker_main(json.loads(sys.argv[2]))
        # Results are saved: leave without Python's shutdown. A gloo worker thread can still be
        # releasing the last collectives' tensors; if Python is finalizing when it does, the
        # release needs the interpreter lock, the thread is stopped, and the process aborts.
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(0)
    else:
        sys.exit(f"usage: {sys.argv[0]} worker '<json arguments>' (started by the tests in this file)")
