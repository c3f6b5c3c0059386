"""Looking up bundled GPU products by name or alias."""
from __future__ import annotations

import difflib
import functools
import re

from .errors import HwModelsError, InvalidArgumentError, UnknownGPUError
from .loader import bundled_gpus, get_architecture, parse_compute_capability
from .model import GPU, Architecture

_VENDOR_WORDS = re.compile(r"\b(nvidia|geforce|tesla)\b")
_NOT_ALNUM = re.compile(r"[^a-z0-9]")


def normalize_name(name: str) -> str:
    """The lookup key of a GPU name: lower case, vendor words and separators dropped.

    >>> normalize_name("NVIDIA GeForce RTX 4090"), normalize_name("h100-sxm")
    ('rtx4090', 'h100sxm')
    """
    return _NOT_ALNUM.sub("", _VENDOR_WORDS.sub(" ", name.lower()))


@functools.cache
def _index() -> dict[str, GPU]:
    index: dict[str, GPU] = {}
    for gpu in bundled_gpus():
        for name in (gpu.name, *gpu.aliases):
            key = normalize_name(name)
            other = index.get(key)
            if other is not None and other is not gpu:
                raise HwModelsError(f"bundled GPU data: name {name!r} of {gpu.name!r} is also a name of "
                                    f"{other.name!r}")
            index[key] = gpu
    return index


def get(name: str | GPU) -> GPU:
    """The bundled GPU called ``name``: its name, an alias or a ``torch.cuda`` device name.

    Case, spaces, dashes and the words NVIDIA/GeForce do not matter. Raises
    :class:`UnknownGPUError` (with the closest names) when nothing matches.

    >>> get("h100").name, get("NVIDIA H100 80GB HBM3").name, get("a100").name
    ('H100 SXM', 'H100 SXM', 'A100 80GB')
    """
    if isinstance(name, GPU):
        return name
    if not isinstance(name, str):
        raise UnknownGPUError(f"GPU name must be a string, not {type(name).__name__}")
    index = _index()
    gpu = index.get(normalize_name(name))
    if gpu is not None:
        return gpu
    names = [g.name for g in bundled_gpus()]
    close = difflib.get_close_matches(normalize_name(name), list(index), n=3, cutoff=0.6)
    hint = ""
    if close:
        hint = " Did you mean " + " or ".join(repr(index[c].name) for c in dict.fromkeys(close)) + "?"
    raise UnknownGPUError(f"unknown GPU {name!r}.{hint} Bundled: {', '.join(names)}. "
                          "For another GPU write a model file and use hwmodels.load(path).")


def list_gpus() -> tuple[GPU, ...]:
    """Every bundled GPU product, in the order of the data file.

    >>> "H100 SXM" in [g.name for g in list_gpus()]
    True
    """
    return bundled_gpus()


def constants(arch_or_gpu: GPU | Architecture | str) -> dict[str, int]:
    """Named integers that constraint models use, for a GPU, an architecture, a bundled GPU's
    name or an architecture's name (``"sm_90"``).

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

    >>> import hwmodels
    >>> c = hwmodels.constants("h100")
    >>> c["NUM_SMS"], c["SMEM_PER_BLOCK_OPTIN"], c["MMA_K_BF16"], c["MAX_CLUSTER_SIZE"]
    (132, 232448, 16, 8)
    """
    if isinstance(arch_or_gpu, str):
        arch_or_gpu = (get_architecture(arch_or_gpu) if parse_compute_capability(arch_or_gpu) is not None
                       else get(arch_or_gpu))
    if isinstance(arch_or_gpu, Architecture):
        return arch_or_gpu.constants()
    if not isinstance(arch_or_gpu, GPU):
        raise InvalidArgumentError(f"expected a GPU, an Architecture or a name, got {type(arch_or_gpu).__name__}")
    return arch_or_gpu.constants()
