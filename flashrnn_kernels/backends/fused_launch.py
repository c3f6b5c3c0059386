"""Host launch logic of the fused kernels for NVRTC builds: what ``csrc/fused/launch.cuh`` decides
in C for nvcc builds (which kernel, cluster shape, cooperative or not, the exchange buffer), in
Python, and the launches through the CUDA driver (:mod:`flashrnn_kernels.driver`).

The decisions are functions of the build's facts (:class:`Facts`, exported by the cubin:
``csrc/fused/exports.cuh``) and of the device's answers to occupancy questions
(:class:`Occupancy`), so that they are tested without a GPU. :class:`DriverLaunchers` asks the
driver those questions once per device (and batch shape) and offers the same launcher interface as
the nvcc build's ``extern "C"`` functions (``frnn_fwd_launch``, ``frnn_fwd_cluster``, ...), so that
:class:`flashrnn_kernels.backends.fused.FusedKernels` runs either build.

```python
from flashrnn_kernels.backends import fused_launch as fl

f = fl.Facts.from_table(cubin.table("frnn_facts"))
fl.forward_cluster(f, B=16, N=2, held=8)       # NSLICE when all 4 clusters fit at once, else 1
```
"""
from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass, fields
from typing import Any, Protocol

from ..errors import BuildError


@dataclass(frozen=True)
class Facts:
    """The facts of one fused build that its launches need (``exports.cuh``: ``frnn_facts``)."""

    threads: int             # threads per block, both kernels
    nslice: int              # blocks per (head, batch tile)
    bt: int                  # batch tile
    fwd_smem: int            # dynamic shared memory of frnn_fwd and frnn_fwd_dsm
    bwd_smem: int            # ... of frnn_bwd
    bwd_smem_dsm: int        # ... of frnn_bwd_dsm
    fwd_dsm: bool            # frnn_fwd_dsm is built (the forward of a head as one cluster)
    bwd_dsm: bool            # frnn_bwd_dsm is built
    bwd_dsm_fits: bool       # ... and not empty (a block receives at most FRNN_BWD_DSM_BYTES a step)
    bwd_bulk: bool           # frnn_bwd launches in clusters (bulk copies multicast within them)
    cluster: int             # ... of at most this many blocks
    fwd_xch_row_bytes: int   # forward exchange bytes per padded batch row and head
    bwd_xch_row_bytes: int   # backward exchange data bytes per padded batch row and head
    bwd_xch_tile_bytes: int  # backward flag bytes per batch tile and head

    @classmethod
    def from_table(cls, table: Sequence[tuple[str, int, int]]) -> Facts:
        """From the exported table (``(name, value, 0)`` entries); a missing fact is an error."""
        from ..driver import facts

        values = facts(table)
        missing = [f.name for f in fields(cls) if f.name not in values]
        if missing:
            raise BuildError(f"the fused cubin does not export the facts {missing} (a build of an older source?)")
        kinds = {f.name: f.type for f in fields(cls)}
        return cls(**{name: (bool(values[name]) if kinds[name] in ("bool", bool) else int(values[name]))
                      for name in kinds})


def nblocks(f: Facts, B: int, N: int) -> int:
    """Blocks of a launch for batch B and N heads: NSLICE per head and batch tile.

    >>> nblocks(Facts(256, 64, 8, 0, 0, 0, False, False, False, True, 16, 0, 0, 0), 16, 1)
    128
    """
    return f.nslice * N * -(-B // f.bt)


class Occupancy(Protocol):
    """The device's answers the decisions need (per kernel: ``frnn_fwd``, ``frnn_fwd_dsm``, ...)."""

    def set_smem(self, kernel: str, nbytes: int) -> bool:
        """Allow ``nbytes`` of dynamic shared memory; False where the device refuses."""

    def allow_nonportable(self, kernel: str) -> bool:
        """Allow clusters of more than 8 blocks; False where the device refuses."""

    def clusters_held(self, kernel: str, blocks: int, smem: int, cluster: int) -> int:
        """Clusters of ``cluster`` blocks the device holds at once (0 when the query fails)."""


def dsm_clusters_held(f: Facts, occ: Occupancy, kernel: str, smem: int) -> int:
    """How many clusters of the NSLICE blocks of a head (``kernel``: ``frnn_fwd_dsm`` or
    ``frnn_bwd_dsm``) the device holds at once; 0 when its shared memory or cluster size is
    refused (``launch.cuh``: ``dsm_max_clusters``)."""
    ok = occ.set_smem(kernel, smem)
    if ok and f.nslice > 8:
        ok = occ.allow_nonportable(kernel)
    return occ.clusters_held(kernel, f.nslice, smem, f.nslice) if ok else 0


def forward_cluster(f: Facts, B: int, N: int, held: int) -> int:
    """Blocks per cluster of the forward: NSLICE when each (head, batch tile) runs as one cluster
    exchanging h through distributed shared memory and the device holds all of them at once
    (``held`` clusters of ``frnn_fwd_dsm``), else 1 (``launch.cuh``: ``frnn_fwd_cluster``).

    >>> f = Facts(256, 8, 8, 0, 0, 0, True, True, True, False, 16, 0, 0, 0)
    >>> forward_cluster(f, 16, 2, held=4), forward_cluster(f, 16, 2, held=3)
    (8, 1)
    """
    if not f.fwd_dsm:
        return 1
    return f.nslice if held >= nblocks(f, B, N) // f.nslice else 1


def backward_in_cluster(f: Facts, B: int, N: int, held: int) -> bool:
    """Whether the backward runs each (head, batch tile) as one cluster (``frnn_bwd_dsm``, all
    clusters at once: ``held`` of them) (``launch.cuh``: ``frnn_bwd_dsm_used``)."""
    return f.bwd_dsm and f.bwd_dsm_fits and held >= nblocks(f, B, N) // f.nslice


def bulk_cluster_size(f: Facts, occ: Occupancy, blocks: int) -> int:
    """Blocks per cluster of the bulk-copy backward (``frnn_bwd``): the largest C <= the build's
    cluster bound, halving from it, that divides NSLICE and the grid and for which the whole grid
    is co-resident; 1 when none is (``launch.cuh``: ``cluster_size_for``)."""
    if f.cluster > 8:
        occ.allow_nonportable("frnn_bwd")  # refused: the sizes above 8 are then not held
    c = f.cluster
    while c > 1:
        if f.nslice % c == 0 and blocks % c == 0 and occ.clusters_held("frnn_bwd", blocks, f.bwd_smem, c) * c >= blocks:
            return c
        c //= 2
    return 1


def exchange_bytes(f: Facts, B: int, N: int, backward: bool, fwd_cluster: int, bwd_in_cluster: bool) -> int:
    """Bytes of the exchange buffer a launch needs (0: none): a head split over several blocks
    that does not run as one cluster exchanges through L2 (``launch.cuh``: ``frnn_xch_bytes``).
    Zeroed before its first launch, then kept (:meth:`Exchanges.take
    <flashrnn_kernels.backends.fused.Exchanges.take>`).

    >>> f = Facts(256, 64, 8, 0, 0, 0, False, False, False, True, 16, 4096, 12288, 256)
    >>> exchange_bytes(f, 16, 1, False, 1, False), exchange_bytes(f, 16, 1, True, 1, False)
    (65536, 197120)
    """
    if f.nslice == 1 or (not backward and fwd_cluster > 1) or (backward and bwd_in_cluster):
        return 0
    bpad = -(-B // f.bt) * f.bt
    if not backward:
        return bpad * N * f.fwd_xch_row_bytes
    return bpad * N * f.bwd_xch_row_bytes + (bpad // f.bt) * N * f.bwd_xch_tile_bytes


# ------------------------------------------------------------------------------ the driver side

class _DeviceOccupancy:
    """:class:`Occupancy` answered by the driver for one loaded module."""

    def __init__(self, module: Any, threads: int):
        self.module, self.threads = module, threads

    def set_smem(self, kernel: str, nbytes: int) -> bool:
        from ..driver import DriverError

        try:
            self.module.set_max_dynamic_smem(kernel, nbytes)
        except DriverError:
            return False
        return True

    def allow_nonportable(self, kernel: str) -> bool:
        return self.module.allow_nonportable_clusters(kernel)

    def clusters_held(self, kernel: str, blocks: int, smem: int, cluster: int) -> int:
        return self.module.max_active_clusters(kernel, blocks, self.threads, smem, cluster)


class DriverLaunchers:
    """The launchers of one NVRTC-built fused cubin, through the CUDA driver, with the interface of
    the nvcc build's ``extern "C"`` functions (``launch.cuh``): the same names, arguments and
    results (0 for a launch that went out; a failing driver call raises
    :class:`~flashrnn_kernels.driver.DriverError` naming it). They act on the current CUDA device,
    as the runtime's functions do; the occupancy answers are asked once per device (and grid).
    """

    def __init__(self, cubin: Any):
        from ..driver import Layout

        self.cubin = cubin
        self.facts = Facts.from_table(cubin.table("frnn_facts"))
        self.fwd_params = Layout(cubin.table("frnn_fwd_params"))
        self.bwd_params = Layout(cubin.table("frnn_bwd_params"))
        self.kernels = set(cubin.kernel_names())
        self._held: dict[tuple[int, str], int] = {}
        self._bulk: dict[tuple[int, int], int] = {}
        self._lock = threading.Lock()

    # -------------------------------------------------------------- device state
    @staticmethod
    def _device() -> int:
        import torch

        return torch.cuda.current_device()

    def _module(self, index: int) -> Any:
        from .. import driver

        return driver.module(str(self.cubin.path), self.cubin.image, index)

    def _occupancy(self, index: int) -> _DeviceOccupancy:
        return _DeviceOccupancy(self._module(index), self.facts.threads)

    def _dsm_held(self, index: int, kernel: str, smem: int) -> int:
        with self._lock:
            key = (index, kernel)
            if key not in self._held:
                self._held[key] = dsm_clusters_held(self.facts, self._occupancy(index), kernel, smem)
            return self._held[key]

    def _bulk_cluster(self, index: int, blocks: int) -> int:
        with self._lock:
            key = (index, blocks)
            if key not in self._bulk:
                self._bulk[key] = bulk_cluster_size(self.facts, self._occupancy(index), blocks)
            return self._bulk[key]

    # -------------------------------------------------------------- launch.cuh's interface
    def frnn_fwd_cluster(self, B: int, N: int) -> int:
        f = self.facts
        held = self._dsm_held(self._device(), "frnn_fwd_dsm", f.fwd_smem) if f.fwd_dsm else 0
        return forward_cluster(f, B, N, held)

    def frnn_bwd_dsm_used(self, B: int, N: int) -> int:
        f = self.facts
        held = self._dsm_held(self._device(), "frnn_bwd_dsm", f.bwd_smem_dsm) if f.bwd_dsm and f.bwd_dsm_fits else 0
        return int(backward_in_cluster(f, B, N, held))

    def frnn_bwd_cluster(self, B: int, N: int) -> int:
        f = self.facts
        if self.frnn_bwd_dsm_used(B, N):
            return f.nslice
        if not f.bwd_bulk:
            return 1
        index = self._device()
        if not self._occupancy(index).set_smem("frnn_bwd", f.bwd_smem):
            return -1
        return self._bulk_cluster(index, nblocks(f, B, N))

    def frnn_xch_bytes(self, B: int, N: int, backward: int) -> int:
        f = self.facts
        if f.nslice == 1:
            return 0
        if backward:
            return exchange_bytes(f, B, N, True, 1, bool(self.frnn_bwd_dsm_used(B, N)))
        return exchange_bytes(f, B, N, False, self.frnn_fwd_cluster(B, N), False)

    def frnn_fwd_launch(self, wx: int, R: int, bias: int, s0: int, states: int, last: int, cache: int | None,
                        counters: int, B: int, T: int, N: int, xbase: int, stream: int) -> int:
        f = self.facts
        params = self.fwd_params.pack(wx=wx, R=R, bias=bias, s0=s0, states=states, last=last, cache=cache,
                                      xch=counters, B=B, T=T, N=N, xbase=xbase)
        index = self._device()
        mod = self._module(index)
        blocks = nblocks(f, B, N)
        if self.frnn_fwd_cluster(B, N) > 1:  # one cluster per head, not cooperative
            mod.launch("frnn_fwd_dsm", blocks, f.threads, f.fwd_smem, stream, params, cluster=f.nslice)
            return 0
        mod.set_max_dynamic_smem("frnn_fwd", f.fwd_smem)
        mod.launch("frnn_fwd", blocks, f.threads, f.fwd_smem, stream, params, cooperative=f.nslice > 1)
        return 0

    def frnn_bwd_launch(self, R: int, s0: int, states: int, cache: int, dstates: int, dgr: int, dwx: int | None,
                        ds0: int, counters: int, B: int, T: int, N: int, xbase: int, stream: int) -> int:
        f = self.facts
        params = self.bwd_params.pack(R=R, s0=s0, states=states, cache=cache, dstates=dstates, dgr=dgr,
                                      dwx=dwx, ds0=ds0, xch=counters, B=B, T=T, N=N, xbase=xbase)
        index = self._device()
        mod = self._module(index)
        blocks = nblocks(f, B, N)
        if self.frnn_bwd_dsm_used(B, N):
            mod.launch("frnn_bwd_dsm", blocks, f.threads, f.bwd_smem_dsm, stream, params, cluster=f.nslice)
            return 0
        mod.set_max_dynamic_smem("frnn_bwd", f.bwd_smem)
        if f.bwd_bulk:  # in clusters, cooperative so that residency is guaranteed
            mod.launch("frnn_bwd", blocks, f.threads, f.bwd_smem, stream, params, cooperative=True,
                       cluster=self._bulk_cluster(index, blocks))
            return 0
        mod.launch("frnn_bwd", blocks, f.threads, f.bwd_smem, stream, params, cooperative=f.nslice > 1)
        return 0


def expected_kernels(f: Facts) -> set[str]:
    """The entry points a fused cubin of these facts holds.

    >>> sorted(expected_kernels(Facts(256, 8, 8, 0, 0, 0, True, False, False, True, 16, 0, 0, 0)))
    ['frnn_bwd', 'frnn_fwd', 'frnn_fwd_dsm']
    """
    return {"frnn_fwd", "frnn_bwd"} | ({"frnn_fwd_dsm"} if f.fwd_dsm else set()) | (
        {"frnn_bwd_dsm"} if f.bwd_dsm else set())

