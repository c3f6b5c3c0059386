"""Data-parallel training of a multi-head LSTM with PyTorch's DistributedDataParallel (DDP).

Each rank trains the same ``frk.LSTM`` on its share of a synthetic data set: the target at every
step is a fixed linear map of the running mean of the inputs so far, something an LSTM learns in
a few epochs. DDP averages the ranks' gradients, so every rank takes the same optimizer step and
the parameters stay identical; the script checks that at the end.

Two ways to start it:

    torchrun --standalone --nproc-per-node=2 examples/ddp_train.py   # torchrun starts the ranks
    python examples/ddp_train.py --world 2                           # the script starts them itself,
                                                                     # with torchrun's variables

With at least one GPU per rank, each rank drives its own GPU (NCCL; ``--backend auto`` picks the
fused kernels); otherwise the ranks run on the CPU (gloo, the reference backend), which takes a
few seconds on two cores. ``--device cpu`` forces the CPU.

NVLink multicast stays off in every rank (``NCCL_NVLS_ENABLE=0`` and friends, set below unless
the environment says otherwise): DDP does not need it.
"""
from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import time
from datetime import timedelta

import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel as DDP
from torch.utils.data import DataLoader, DistributedSampler, TensorDataset

import flashrnn_kernels as frk

MULTICAST_OFF = {"NCCL_NVLS_ENABLE": "0", "TORCH_SYMM_MEM_DISABLE_MULTICAST": "1", "NVSHMEM_DISABLE_NVLS": "1"}


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--world", type=int, default=2, help="ranks to start when not run by torchrun (default 2)")
    p.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto",
                   help="auto: one GPU per rank if there are enough, else the CPU")
    p.add_argument("--backend", default=None,
                   help="flashrnn_kernels backend (default: auto on GPUs, reference on the CPU)")
    p.add_argument("--epochs", type=int, default=6)
    p.add_argument("--samples", type=int, default=512, help="size of the synthetic data set")
    p.add_argument("--local-batch", type=int, default=16, help="sequences per rank and step")
    p.add_argument("--length", type=int, default=32, help="sequence length")
    p.add_argument("--hidden", type=int, default=64)
    p.add_argument("--heads", type=int, default=2)
    p.add_argument("--lr", type=float, default=1e-2)
    p.add_argument("--seed", type=int, default=0)
    return p.parse_args(argv)


def make_dataset(args: argparse.Namespace, inputs: int = 8) -> TensorDataset:
    """Random inputs ``[S, T, inputs]`` and targets: a fixed linear map of their running mean."""
    g = torch.Generator().manual_seed(args.seed + 1)
    x = torch.randn(args.samples, args.length, inputs, generator=g)
    steps = torch.arange(1, args.length + 1, dtype=x.dtype).view(1, -1, 1)
    mixing = torch.randn(inputs, args.hidden, generator=g) / inputs ** 0.5
    y = torch.tanh((x.cumsum(dim=1) / steps) @ mixing)
    return TensorDataset(x, y)


def train(rank: int, world: int, local_rank: int, args: argparse.Namespace) -> None:
    """One rank (``local_rank``: its index on this machine, its GPU): join the process group,
    train, check that the ranks agree, leave."""
    for name, value in MULTICAST_OFF.items():
        os.environ.setdefault(name, value)
    on_gpu = args.device == "cuda"
    if on_gpu:
        torch.cuda.set_device(local_rank)
        device = torch.device("cuda", local_rank)
        dist.init_process_group("nccl", rank=rank, world_size=world, device_id=device,
                                timeout=timedelta(minutes=30))  # the first step may compile kernels
    else:
        device = torch.device("cpu")
        torch.set_num_threads(1)
        dist.init_process_group("gloo", rank=rank, world_size=world)
    try:
        spread = train_epochs(rank, world, device, args)
        if float(spread) != 0.0:
            raise SystemExit(f"rank {rank}: parameters differ between ranks by {float(spread):.3g}")
        dist.barrier()  # no rank tears its connections down while another still uses them
    finally:
        dist.destroy_process_group()


def train_epochs(rank: int, world: int, device: torch.device, args: argparse.Namespace) -> torch.Tensor:
    """The training loop of one rank; returns the largest parameter difference between ranks."""
    on_gpu = device.type == "cuda"
    backend = args.backend or ("auto" if on_gpu else "reference")
    dtype = torch.bfloat16 if on_gpu else torch.float32
    data = make_dataset(args)
    inputs = data.tensors[0].shape[-1]
    torch.manual_seed(args.seed)  # same initial values on every rank (DDP broadcasts rank 0's anyway)
    model = frk.LSTM(inputs, args.hidden, num_heads=args.heads, batch_first=True, backend=backend,
                     device=device, dtype=dtype)
    ddp = DDP(model, device_ids=[device.index] if on_gpu else None)
    opt = torch.optim.AdamW(ddp.parameters(), lr=args.lr)
    # drop_last: every step has the same local batch size, so the fused backend keeps one tiling
    sampler = DistributedSampler(data, num_replicas=world, rank=rank, shuffle=True, seed=args.seed,
                                 drop_last=True)
    loader = DataLoader(data, batch_size=args.local_batch, sampler=sampler, drop_last=True)
    if rank == 0:
        print(f"{world} ranks on {'GPUs (nccl)' if on_gpu else 'the CPU (gloo)'}, backend {backend!r}, "
              f"{dtype}, global batch {world * args.local_batch}, {len(loader)} steps per epoch")
    t0 = time.perf_counter()
    for epoch in range(args.epochs):
        sampler.set_epoch(epoch)
        total = torch.zeros(2, dtype=torch.float64, device=device)
        for x, y in loader:
            x, y = x.to(device, dtype), y.to(device)
            out, _ = ddp(x)
            loss = torch.nn.functional.mse_loss(out.float(), y)  # mean over the local batch
            opt.zero_grad(set_to_none=True)
            loss.backward()  # DDP averages the gradients over the ranks here
            opt.step()
            total += torch.stack([loss.detach().double(), torch.ones((), dtype=torch.float64, device=device)])
        dist.all_reduce(total)  # mean training loss over all ranks' steps
        if rank == 0:
            print(f"epoch {epoch + 1}/{args.epochs}: loss {float(total[0] / total[1]):.4f}  "
                  f"({time.perf_counter() - t0:.1f} s)", flush=True)
    # every rank took the same steps from the same averaged gradients: parameters agree
    flat = torch.cat([p.detach().double().flatten() for p in model.parameters()])
    first = flat.clone()
    dist.broadcast(first, src=0)
    spread = (flat - first).abs().max()
    dist.all_reduce(spread, op=dist.ReduceOp.MAX)
    if rank == 0:
        print(f"largest parameter difference between ranks: {float(spread):.3g}")
    return spread.cpu()


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_ranks(world: int, argv: list[str]) -> int:
    """Run this script ``world`` times with the environment torchrun would give each rank
    (``RANK``, ``LOCAL_RANK``, ``WORLD_SIZE``, ``MASTER_ADDR``, ``MASTER_PORT``); wait for all.
    Returns the first non-zero exit status (the other ranks are stopped then), else 0."""
    port = _free_port()
    procs = []
    for rank in range(world):
        env = {**MULTICAST_OFF, **os.environ, "RANK": str(rank), "LOCAL_RANK": str(rank),
               "WORLD_SIZE": str(world), "LOCAL_WORLD_SIZE": str(world), "MASTER_ADDR": "127.0.0.1",
               "MASTER_PORT": str(port)}
        procs.append(subprocess.Popen([sys.executable, os.path.abspath(__file__), *argv], env=env))
    status = 0
    while any(p.poll() is None for p in procs):
        failed = [p.returncode for p in procs if p.returncode not in (None, 0)]
        if failed and status == 0:
            status = failed[0]
            for p in procs:
                if p.poll() is None:
                    p.terminate()
        time.sleep(0.1)
    return status or next((p.returncode for p in procs if p.returncode != 0), 0)


def main(argv=None) -> None:
    args = parse_args(argv)
    under_torchrun = "RANK" in os.environ and "WORLD_SIZE" in os.environ
    world = int(os.environ["WORLD_SIZE"]) if under_torchrun else args.world
    if world < 1:
        raise SystemExit("--world must be at least 1")
    if args.samples // world < args.local_batch:
        raise SystemExit(f"--samples {args.samples} gives no full local batch of {args.local_batch} "
                         f"to each of {world} ranks")
    local_world = int(os.environ.get("LOCAL_WORLD_SIZE", world)) if under_torchrun else world
    if args.device == "auto":
        args.device = "cuda" if torch.cuda.device_count() >= local_world else "cpu"
    elif args.device == "cuda" and torch.cuda.device_count() < local_world:
        raise SystemExit(f"--device cuda needs one GPU per rank: {local_world} ranks on this machine, "
                         f"{torch.cuda.device_count()} GPUs visible")
    if under_torchrun:
        rank = int(os.environ["RANK"])
        train(rank, world, int(os.environ.get("LOCAL_RANK", rank)), args)
        # Done: leave without Python's shutdown. A gloo worker thread can still be releasing the
        # tensors of the last collectives after they returned; if the interpreter is finalizing
        # when it does, the release needs the interpreter lock, the thread is stopped, and the
        # process aborts ("terminate called without an active exception"), now and then.
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(0)
    else:
        raise SystemExit(start_ranks(world, sys.argv[1:] if argv is None else list(argv)))


if __name__ == "__main__":
    main()
