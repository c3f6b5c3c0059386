"""Occupancy: how many blocks of a kernel are resident on one SM, and what limits them.

Follows the model of the CUDA Occupancy Calculator (``cuda_occupancy.h``,
``cudaOccMaxActiveBlocksPerMultiprocessor``) with the default shared-memory carveout (the
largest) and partitioned global caching off:

* warps: ``max_warps_per_sm // ceil(threads / warp_size)`` (0 if the block has more threads than
  ``max_threads_per_block``);
* registers: a warp gets ``round_up(regs_per_thread * warp_size, register_allocation_unit)``
  registers; warps are spread over ``warp_allocation_granularity`` register-file sub-partitions,
  so ``warps_per_sm = (registers_per_sm / partitions // regs_per_warp) * partitions`` and
  ``blocks = warps_per_sm // warps_per_block``. A block fits only if
  ``regs_per_warp * warps_per_block`` and ``regs_per_warp * round_up(warps_per_block, partitions)``
  are at most ``registers_per_block`` (the hardware check), and ``regs_per_thread`` is at most
  ``max_registers_per_thread``;
* shared memory: a block takes ``round_up(smem + reserved_shared_memory_per_block,
  shared_memory_allocation_unit)`` bytes out of ``shared_memory_per_sm``; it fits only if that is at
  most ``shared_memory_per_block_optin + reserved`` (the opt-in limit is assumed to be set);
* blocks: ``max_blocks_per_sm``.
"""
from __future__ import annotations

from dataclasses import dataclass

from .errors import InvalidArgumentError
from .model import GPU, Architecture

#: Names of the limiting resources, in the order the CUDA occupancy calculator reports them.
RESOURCES: tuple[str, ...] = ("warps", "registers", "shared_memory", "blocks")


@dataclass(frozen=True)
class Occupancy:
    """Result of :func:`occupancy`.

    ``limits`` maps each resource to the number of blocks it alone would allow (``None``: that
    resource sets no limit, e.g. a kernel using no registers). ``limited_by`` lists every resource
    whose limit equals ``blocks_per_sm``; ``limiting_resource`` is the first of them.

    >>> import hwmodels
    >>> r = hwmodels.occupancy("h100", 128, 32, 100 * 1024)
    >>> r.blocks_per_sm, r.warps_per_sm, r.occupancy, r.limited_by
    (2, 8, 0.125, ('shared_memory',))
    >>> dict(r.limits)
    {'warps': 16, 'registers': 16, 'shared_memory': 2, 'blocks': 32}
    """

    blocks_per_sm: int
    warps_per_sm: int
    max_warps_per_sm: int
    occupancy: float
    limited_by: tuple[str, ...]
    limits: tuple[tuple[str, int | None], ...]
    warps_per_block: int
    registers_per_block: int
    shared_memory_per_block: int
    reason: str = ""

    @property
    def limiting_resource(self) -> str:
        """The first limiting resource: ``"warps"``, ``"registers"``, ``"shared_memory"`` or ``"blocks"``.

        >>> import hwmodels
        >>> hwmodels.occupancy("a100", 1024, 64).limiting_resource
        'registers'
        """
        return self.limited_by[0]

    def limit(self, resource: str) -> int | None:
        """Blocks per SM allowed by ``resource`` alone.

        >>> import hwmodels
        >>> hwmodels.occupancy("h100", 128, 32, 100 * 1024).limit("registers")
        16
        """
        return dict(self.limits)[resource]


def _round_up(x: int, unit: int) -> int:
    return -(-x // unit) * unit


def _check_int(name: str, value: object, minimum: int) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
        raise InvalidArgumentError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return value


def occupancy(arch_or_gpu: Architecture | GPU | str, threads_per_block: int, registers_per_thread: int,
              shared_memory_per_block: int = 0) -> Occupancy:
    """Resident blocks and warps per SM for a launch configuration.

    ``arch_or_gpu`` is an :class:`Architecture`, a :class:`GPU` or a bundled GPU/architecture name.
    ``shared_memory_per_block`` is static plus dynamic shared memory in bytes (without the
    driver's reserved part, which is added here). A block that cannot run at all gives
    ``blocks_per_sm == 0`` with ``reason`` saying why; only nonsensical arguments raise.

    >>> import hwmodels
    >>> r = hwmodels.occupancy("h100", 256, 64, 0)
    >>> r.blocks_per_sm, r.occupancy, r.limiting_resource
    (4, 0.5, 'registers')
    """
    arch = _architecture(arch_or_gpu)
    threads = _check_int("threads_per_block", threads_per_block, 1)
    regs = _check_int("registers_per_thread", registers_per_thread, 0)
    smem = _check_int("shared_memory_per_block", shared_memory_per_block, 0)

    warps_per_block = -(-threads // arch.warp_size)
    reasons: list[str] = []

    # warps / threads
    if threads > arch.max_threads_per_block:
        by_warps = 0
        reasons.append(f"{threads} threads per block exceed the maximum {arch.max_threads_per_block}")
    else:
        by_warps = arch.max_warps_per_sm // warps_per_block

    # registers
    partitions = arch.warp_allocation_granularity
    regs_per_warp = _round_up(regs * arch.warp_size, arch.register_allocation_unit)
    regs_per_block = regs_per_warp * warps_per_block
    regs_assumed = regs_per_warp * _round_up(warps_per_block, partitions)
    by_regs: int | None
    if regs > arch.max_registers_per_thread:
        by_regs = 0
        reasons.append(f"{regs} registers per thread exceed the maximum {arch.max_registers_per_thread}")
    elif regs_per_block > arch.registers_per_block or regs_assumed > arch.registers_per_block:
        by_regs = 0
        reasons.append(f"{max(regs_per_block, regs_assumed)} registers per block (allocated per warp in units of "
                       f"{arch.register_allocation_unit}, over {partitions} sub-partitions) exceed "
                       f"{arch.registers_per_block}")
    elif regs_per_warp == 0:
        by_regs = None
    else:
        warps_per_partition = (arch.registers_per_sm // partitions) // regs_per_warp
        by_regs = (warps_per_partition * partitions) // warps_per_block

    # shared memory
    smem_alloc = _round_up(smem + arch.reserved_shared_memory_per_block, arch.shared_memory_allocation_unit)
    smem_limit = arch.shared_memory_per_block_optin + arch.reserved_shared_memory_per_block
    by_smem: int | None
    if smem_alloc > smem_limit:
        by_smem = 0
        reasons.append(f"{smem} B of shared memory per block (+{arch.reserved_shared_memory_per_block} B reserved, "
                       f"rounded to {smem_alloc} B) exceed the opt-in maximum {arch.shared_memory_per_block_optin} B")
    elif smem_alloc == 0:
        by_smem = None
    else:
        by_smem = arch.shared_memory_per_sm // smem_alloc

    by_blocks = arch.max_blocks_per_sm
    limits = (("warps", by_warps), ("registers", by_regs), ("shared_memory", by_smem), ("blocks", by_blocks))
    blocks = min(v for _, v in limits if v is not None)
    limited_by = tuple(name for name, v in limits if v == blocks)
    warps = blocks * warps_per_block
    return Occupancy(
        blocks_per_sm=blocks,
        warps_per_sm=warps,
        max_warps_per_sm=arch.max_warps_per_sm,
        occupancy=warps / arch.max_warps_per_sm,
        limited_by=limited_by,
        limits=limits,
        warps_per_block=warps_per_block,
        registers_per_block=regs_per_block,
        shared_memory_per_block=smem_alloc,
        reason="; ".join(reasons),
    )


def _architecture(arch_or_gpu: Architecture | GPU | str) -> Architecture:
    if isinstance(arch_or_gpu, Architecture):
        return arch_or_gpu
    if isinstance(arch_or_gpu, GPU):
        return arch_or_gpu.architecture
    if isinstance(arch_or_gpu, str):
        from .loader import get_architecture, parse_compute_capability
        from .registry import get

        if parse_compute_capability(arch_or_gpu) is not None:
            return get_architecture(arch_or_gpu)
        return get(arch_or_gpu).architecture
    raise InvalidArgumentError(f"expected an Architecture, a GPU or a name, got {type(arch_or_gpu).__name__}")
