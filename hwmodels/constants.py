"""Named integer constants for constraint models.

Architecture constants (every GPU and every :class:`Architecture`):

=============================== ==========================================================
``COMPUTE_CAPABILITY``          ``10 * major + minor`` (90 for sm_90)
``CC_MAJOR``, ``CC_MINOR``      the two parts of the compute capability
``WARP_SIZE``                   threads per warp
``MAX_THREADS_PER_BLOCK``       threads per block at most
``MAX_THREADS_PER_SM``          resident threads per SM at most
``MAX_WARPS_PER_SM``            resident warps per SM at most
``MAX_BLOCKS_PER_SM``           resident blocks per SM at most
``REGS_PER_SM``                 32-bit registers per SM
``REGS_PER_BLOCK``              32-bit registers per block at most
``MAX_REGS_PER_THREAD``         32-bit registers per thread at most
``REG_ALLOC_UNIT``              registers per warp are allocated in multiples of this
``REG_PARTITIONS``              register-file sub-partitions (warp allocation granularity)
``SMEM_PER_SM``                 bytes of shared memory per SM (largest carveout)
``SMEM_PER_BLOCK``              bytes of shared memory per block without opt-in
``SMEM_PER_BLOCK_OPTIN``        bytes of shared memory per block with opt-in
``SMEM_RESERVED_PER_BLOCK``     bytes the driver reserves per block
``SMEM_ALLOC_UNIT``             shared memory is allocated in multiples of this many bytes
``CLUSTER_LAUNCH``              1 if thread-block clusters are supported, else 0
``MAX_CLUSTER_SIZE``            portable maximum blocks per cluster (1 without clusters)
``MAX_CLUSTER_SIZE_NONPORTABLE`` maximum blocks per cluster with the non-portable opt-in
=============================== ==========================================================

Tensor-core tile shapes, for each instruction family present (prefix ``MMA`` for ``mma.sync``,
``WMMA``, ``WGMMA``, ``TCGEN05``) and each data type ``DT`` in ``FP16, BF16, TF32, FP8, INT8, ...``:
``<P>_M_<DT>``, ``<P>_N_<DT>``, ``<P>_K_<DT>`` of the preferred (first listed) shape, N being its
largest allowed value; where that shape allows several N, also ``<P>_N_MIN_<DT>`` and, when the
allowed N form an arithmetic progression, ``<P>_N_STEP_<DT>``. Example on sm_90:
``MMA_M_BF16 = 16, MMA_N_BF16 = 8, MMA_K_BF16 = 16``, ``WGMMA_M_BF16 = 64, WGMMA_N_BF16 = 256,
WGMMA_N_MIN_BF16 = 8, WGMMA_N_STEP_BF16 = 8, WGMMA_K_BF16 = 16``.

Product constants (GPUs only): ``NUM_SMS``, ``L2_BYTES``, ``MEMORY_BYTES``, and where known
``MEMORY_BANDWIDTH_GBPS``, ``BOOST_CLOCK_MHZ`` and ``PEAK_GFLOPS_<DT>`` (dense peak in GFLOP/s,
rounded).
"""
from __future__ import annotations

from .model import GPU, Architecture

_PREFIX = {"mma_sync": "MMA", "wmma": "WMMA", "wgmma": "WGMMA", "tcgen05": "TCGEN05"}


def architecture_constants(arch: Architecture) -> dict[str, int]:
    """The architecture constants of ``arch`` (see the module documentation).

    >>> import hwmodels
    >>> c = architecture_constants(hwmodels.get_architecture("sm_80"))
    >>> c["MAX_WARPS_PER_SM"], c["MMA_K_BF16"], "WGMMA_K_BF16" in c
    (64, 16, False)
    """
    major, minor = arch.compute_capability
    out: dict[str, int] = {
        "COMPUTE_CAPABILITY": arch.sm_version,
        "CC_MAJOR": major,
        "CC_MINOR": minor,
        "WARP_SIZE": arch.warp_size,
        "MAX_THREADS_PER_BLOCK": arch.max_threads_per_block,
        "MAX_THREADS_PER_SM": arch.max_threads_per_sm,
        "MAX_WARPS_PER_SM": arch.max_warps_per_sm,
        "MAX_BLOCKS_PER_SM": arch.max_blocks_per_sm,
        "REGS_PER_SM": arch.registers_per_sm,
        "REGS_PER_BLOCK": arch.registers_per_block,
        "MAX_REGS_PER_THREAD": arch.max_registers_per_thread,
        "REG_ALLOC_UNIT": arch.register_allocation_unit,
        "REG_PARTITIONS": arch.warp_allocation_granularity,
        "SMEM_PER_SM": arch.shared_memory_per_sm,
        "SMEM_PER_BLOCK": arch.shared_memory_per_block,
        "SMEM_PER_BLOCK_OPTIN": arch.shared_memory_per_block_optin,
        "SMEM_RESERVED_PER_BLOCK": arch.reserved_shared_memory_per_block,
        "SMEM_ALLOC_UNIT": arch.shared_memory_allocation_unit,
        "CLUSTER_LAUNCH": int(arch.cluster_launch),
        "MAX_CLUSTER_SIZE": arch.max_cluster_size,
        "MAX_CLUSTER_SIZE_NONPORTABLE": arch.max_cluster_size_nonportable,
    }
    seen: set[tuple[str, str]] = set()
    for shape in arch.tensor_cores:
        key = (shape.instruction, shape.dtype)
        if key in seen:
            continue  # only the preferred (first) shape of each instruction and data type
        seen.add(key)
        prefix, dt = _PREFIX[shape.instruction], shape.dtype.upper()
        out[f"{prefix}_M_{dt}"] = shape.m
        out[f"{prefix}_N_{dt}"] = shape.n
        out[f"{prefix}_K_{dt}"] = shape.k
        if len(shape.n_values) > 1:
            out[f"{prefix}_N_MIN_{dt}"] = shape.n_min
            steps = {b - a for a, b in zip(shape.n_values, shape.n_values[1:])}
            if len(steps) == 1:
                out[f"{prefix}_N_STEP_{dt}"] = steps.pop()
    return out


def constants(arch_or_gpu: GPU | Architecture | str) -> dict[str, int]:
    """Named integers that constraint models use, for a GPU, an architecture or a bundled name.

    >>> import hwmodels
    >>> c = hwmodels.constants("h100")
    >>> c["NUM_SMS"], c["SMEM_PER_BLOCK_OPTIN"], c["MMA_K_BF16"], c["MAX_CLUSTER_SIZE"]
    (132, 232448, 16, 8)
    """
    if isinstance(arch_or_gpu, str):
        from .loader import get_architecture, parse_compute_capability
        from .registry import get

        arch_or_gpu = (get_architecture(arch_or_gpu) if parse_compute_capability(arch_or_gpu) is not None
                       else get(arch_or_gpu))
    if isinstance(arch_or_gpu, Architecture):
        return architecture_constants(arch_or_gpu)
    if not isinstance(arch_or_gpu, GPU):
        from .errors import InvalidArgumentError

        raise InvalidArgumentError(f"expected a GPU, an Architecture or a name, got {type(arch_or_gpu).__name__}")
    gpu = arch_or_gpu
    out = {
        "NUM_SMS": gpu.sm_count,
        "L2_BYTES": gpu.l2_cache_bytes,
        "MEMORY_BYTES": gpu.memory_bytes,
    }
    if gpu.memory_bandwidth_gbps is not None:
        out["MEMORY_BANDWIDTH_GBPS"] = round(gpu.memory_bandwidth_gbps)
    if gpu.boost_clock_mhz is not None:
        out["BOOST_CLOCK_MHZ"] = gpu.boost_clock_mhz
    for dtype, tflops in gpu.peak_tflops.items():
        out[f"PEAK_GFLOPS_{dtype.upper()}"] = round(tflops * 1000)
    out.update(architecture_constants(gpu.architecture))
    return out
