"""The frozen dataclasses of a hardware model.

* :class:`Architecture`: the facts of one compute capability (``sm_90``): limits per SM and per
  block, allocation granularities, tensor-core tile shapes, thread-block clusters.
* :class:`GPU`: one product (``H100 SXM``): its architecture plus SM count, L2, memory, clocks and
  peak throughput.
* :class:`MmaShape`: the tile shapes of one tensor-core instruction for one data type.
* :class:`PeakTflops`: dense peak throughput per data type.

Every instance validates itself on construction and raises :class:`~hwmodels.errors.ModelError`
naming each invalid field. Every number carries a source (:meth:`Architecture.source_of`,
:meth:`GPU.source_of`).
"""
from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from types import MappingProxyType
from typing import Any

from .errors import ModelError, Problem

#: Data-type names used for tensor-core shapes and peak throughput.
DTYPES: tuple[str, ...] = ("fp64", "fp32", "tf32", "fp16", "bf16", "fp8", "fp6", "fp4", "int8", "int4")

#: Prefix of the tensor-core constants of each instruction family (see :func:`hwmodels.constants`).
_PREFIX = {"mma_sync": "MMA", "wmma": "WMMA", "wgmma": "WGMMA", "tcgen05": "TCGEN05"}

#: Tensor-core instruction families, in the order constants are derived from them.
INSTRUCTIONS: tuple[str, ...] = ("mma_sync", "wmma", "wgmma", "tcgen05")

def _freeze_sources(sources: Mapping[str, str] | None) -> Mapping[str, str]:
    return MappingProxyType(dict(sources or {}))


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


# --------------------------------------------------------------------------------------------
# Tensor-core shapes
# --------------------------------------------------------------------------------------------

_SHAPE_RE = re.compile(r"^m(?P<m>\d+)n(?P<n>\d+|\[[0-9:,\s]+\])k(?P<k>\d+)$")


def _parse_n(spec: str) -> tuple[int, ...]:
    if not spec.startswith("["):
        return (int(spec),)
    values: set[int] = set()
    for item in spec[1:-1].split(","):
        item = item.strip()
        parts = item.split(":")
        if len(parts) == 1 and parts[0]:
            values.add(int(parts[0]))
        elif len(parts) == 3 and all(parts):
            start, stop, step = (int(p) for p in parts)
            if step <= 0 or stop < start:
                raise ValueError(f"bad range {item!r}")
            values.update(range(start, stop + 1, step))
        else:
            raise ValueError(f"bad item {item!r}")
    return tuple(sorted(values))


def _format_n(values: tuple[int, ...]) -> str:
    """Compress sorted N values into ``start:stop:step`` runs (runs of 3 or more) and single values."""
    items: list[str] = []
    i = 0
    while i < len(values):
        j = i + 1
        if j < len(values):
            step = values[j] - values[i]
            while j + 1 < len(values) and values[j + 1] - values[j] == step:
                j += 1
            if j - i >= 2:
                items.append(f"{values[i]}:{values[j]}:{step}")
                i = j + 1
                continue
        items.append(str(values[i]))
        i += 1
    return ",".join(items)


@dataclass(frozen=True)
class MmaShape:
    """Tile shapes of one tensor-core instruction for one input data type.

    ``m`` and ``k`` are fixed; ``n_values`` lists every allowed N (one value for warp-level
    ``mma.sync``/``wmma`` shapes, a range for ``wgmma``/``tcgen05``).

    >>> s = MmaShape.parse("m64n[8:256:8]k16", instruction="wgmma", dtype="bf16")
    >>> (s.m, s.n, s.k, s.n_values[:3])
    (64, 256, 16, (8, 16, 24))
    """

    instruction: str
    dtype: str
    m: int
    k: int
    n_values: tuple[int, ...]
    target: str = ""  # the PTX target the instruction needs (e.g. "sm_90a"); "" = the plain arch

    def __post_init__(self) -> None:
        problems = []
        if self.instruction not in INSTRUCTIONS:
            problems.append(Problem("instruction", f"unknown instruction {self.instruction!r}",
                                    "one of " + ", ".join(INSTRUCTIONS)))
        if self.dtype not in DTYPES:
            problems.append(Problem("dtype", f"unknown data type {self.dtype!r}", "one of " + ", ".join(DTYPES)))
        for name in ("m", "k"):
            value = getattr(self, name)
            if not _is_int(value) or value <= 0:
                problems.append(Problem(name, f"{value!r} is not a positive integer", "a positive integer"))
        if (not isinstance(self.n_values, tuple) or not self.n_values
                or not all(_is_int(n) and n > 0 for n in self.n_values)):
            problems.append(Problem("n_values", f"{self.n_values!r} is not a non-empty tuple of positive integers",
                                    "a non-empty tuple of positive integers"))
        if problems:
            raise ModelError(problems, context=f"tensor-core shape {self.instruction}/{self.dtype}")

    @classmethod
    def parse(cls, spec: str, *, instruction: str, dtype: str, target: str = "") -> MmaShape:
        """Parse ``"m16n8k16"`` or ``"m64n[8:256:8]k16"`` (N from 8 to 256 in steps of 8) or a union
        such as ``"m64n[8,16,24,32:256:16]k32"``.

        >>> s = MmaShape.parse("m64n[8,16,24,32:256:16]k32", instruction="wgmma", dtype="int8")
        >>> s.n_values[:6], str(s)
        ((8, 16, 24, 32, 48, 64), 'm64n[8:32:8,48:256:16]k32')
        """
        match = _SHAPE_RE.match(spec.replace(" ", "")) if isinstance(spec, str) else None
        if match is None:
            raise ModelError([Problem(f"{instruction}.{dtype}", f"cannot read shape {spec!r}",
                                      'a shape such as "m16n8k16" or "m64n[8:256:8]k16"')])
        try:
            n_values = _parse_n(match["n"])
        except ValueError as exc:
            raise ModelError([Problem(f"{instruction}.{dtype}", f"cannot read N of shape {spec!r}: {exc}",
                                      "N as an integer or [start:stop:step, ...]")]) from None
        return cls(instruction, dtype, int(match["m"]), int(match["k"]), n_values, target)

    @property
    def n(self) -> int:
        """The largest allowed N.

        >>> MmaShape.parse("m64n[8:256:8]k16", instruction="wgmma", dtype="bf16").n
        256
        """
        return max(self.n_values)

    @property
    def n_min(self) -> int:
        """The smallest allowed N.

        >>> MmaShape.parse("m64n[8:256:8]k16", instruction="wgmma", dtype="bf16").n_min
        8
        """
        return min(self.n_values)

    @property
    def shapes(self) -> tuple[tuple[int, int, int], ...]:
        """Every allowed ``(m, n, k)``.

        >>> MmaShape.parse("m64n[8:256:8]k16", instruction="wgmma", dtype="bf16").shapes[:2]
        ((64, 8, 16), (64, 16, 16))
        """
        return tuple((self.m, n, self.k) for n in self.n_values)

    def __str__(self) -> str:
        """The shape in the data-file notation (parses back with :meth:`parse`)."""
        if len(self.n_values) == 1:
            return f"m{self.m}n{self.n}k{self.k}"
        return f"m{self.m}n[{_format_n(self.n_values)}]k{self.k}"


# --------------------------------------------------------------------------------------------
# Architecture
# --------------------------------------------------------------------------------------------

#: Integer fields of :class:`Architecture`: name -> (minimum value, unit and meaning).
ARCHITECTURE_INT_FIELDS: dict[str, tuple[int, str]] = {
    "shared_memory_per_sm": (1, "bytes of shared memory per SM (maximum carveout)"),
    "shared_memory_per_block": (1, "bytes of shared memory per block without opt-in"),
    "shared_memory_per_block_optin": (1, "bytes of shared memory per block with opt-in"),
    "reserved_shared_memory_per_block": (0, "bytes of shared memory the driver reserves per block"),
    "shared_memory_allocation_unit": (1, "bytes; shared memory is allocated in multiples of this"),
    "registers_per_sm": (1, "32-bit registers per SM"),
    "registers_per_block": (1, "32-bit registers per block at most"),
    "max_registers_per_thread": (1, "32-bit registers per thread at most"),
    "register_allocation_unit": (1, "registers; a warp's registers are allocated in multiples of this"),
    "warp_allocation_granularity": (1, "register-file sub-partitions (warps are spread over them)"),
    "max_threads_per_block": (1, "threads per block at most"),
    "max_threads_per_sm": (1, "resident threads per SM at most"),
    "max_blocks_per_sm": (1, "resident blocks per SM at most"),
    "max_warps_per_sm": (1, "resident warps per SM at most"),
    "warp_size": (1, "threads per warp"),
    "max_cluster_size": (1, "blocks per thread-block cluster, portable maximum"),
    "max_cluster_size_nonportable": (1, "blocks per thread-block cluster with the non-portable opt-in"),
}


def _sm_name(cc: tuple[int, int]) -> str:
    return f"sm_{cc[0]}{cc[1]}"


@dataclass(frozen=True)
class Architecture:
    """Facts shared by every GPU of one compute capability.

    Sizes are in bytes, registers are 32-bit registers. ``source`` is the default source of every
    field; ``sources`` maps a field name to a more specific source.

    >>> import hwmodels
    >>> arch = hwmodels.get_architecture("sm_90")
    >>> arch.shared_memory_per_block_optin, arch.max_cluster_size_nonportable
    (232448, 16)
    """

    name: str
    compute_capability: tuple[int, int]
    shared_memory_per_sm: int
    shared_memory_per_block: int
    shared_memory_per_block_optin: int
    reserved_shared_memory_per_block: int
    shared_memory_allocation_unit: int
    registers_per_sm: int
    registers_per_block: int
    max_registers_per_thread: int
    register_allocation_unit: int
    warp_allocation_granularity: int
    max_threads_per_block: int
    max_threads_per_sm: int
    max_blocks_per_sm: int
    max_warps_per_sm: int
    warp_size: int
    cluster_launch: bool
    max_cluster_size: int
    max_cluster_size_nonportable: int
    tensor_cores: tuple[MmaShape, ...] = ()
    register_allocation_granularity: str = "warp"
    family: str = ""
    ptx_target: str = ""
    source: str = field(default="", compare=False)
    sources: Mapping[str, str] = field(default_factory=dict, compare=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "sources", _freeze_sources(self.sources))
        if isinstance(self.compute_capability, list):
            object.__setattr__(self, "compute_capability", tuple(self.compute_capability))
        if isinstance(self.tensor_cores, list):
            object.__setattr__(self, "tensor_cores", tuple(self.tensor_cores))
        if not self.ptx_target and isinstance(self.name, str):
            object.__setattr__(self, "ptx_target", self.name)
        problems = architecture_problems(self)
        if problems:
            raise ModelError(problems, context=f"architecture {self.name!r}")

    # -- derived facts ------------------------------------------------------------------------
    @property
    def sm_version(self) -> int:
        """``10 * major + minor`` (90 for sm_90).

        >>> import hwmodels
        >>> hwmodels.get_architecture("8.6").sm_version
        86
        """
        major, minor = self.compute_capability
        return 10 * major + minor

    @property
    def instructions(self) -> tuple[str, ...]:
        """Tensor-core instruction families available, e.g. ``("mma_sync", "wmma", "wgmma")``.

        >>> import hwmodels
        >>> hwmodels.get_architecture("sm_90").instructions
        ('mma_sync', 'wmma', 'wgmma')
        """
        present = {s.instruction for s in self.tensor_cores}
        return tuple(i for i in INSTRUCTIONS if i in present)

    def mma_shapes(self, dtype: str | None = None, instruction: str | None = None) -> tuple[MmaShape, ...]:
        """Tensor-core shapes, optionally only of one data type and/or instruction, preferred first.

        >>> import hwmodels
        >>> str(hwmodels.get_architecture("sm_80").mma_shapes("bf16", "mma_sync")[0])
        'm16n8k16'
        """
        return tuple(s for s in self.tensor_cores
                     if (dtype is None or s.dtype == dtype) and (instruction is None or s.instruction == instruction))

    def source_of(self, field_name: str) -> str:
        """Where the value of ``field_name`` comes from.

        >>> import hwmodels
        >>> hwmodels.get_architecture("sm_90").source_of("registers_per_sm")[:24]
        'CUDA C++ Programming Gui'
        """
        return self.sources.get(field_name, self.source)

    def constants(self) -> dict[str, int]:
        """The architecture's named integers for constraint models (:func:`hwmodels.constants`).

        >>> import hwmodels
        >>> c = hwmodels.get_architecture("sm_80").constants()
        >>> c["MAX_WARPS_PER_SM"], c["MMA_K_BF16"], "WGMMA_K_BF16" in c
        (64, 16, False)
        """
        major, minor = self.compute_capability
        out: dict[str, int] = {
            "COMPUTE_CAPABILITY": self.sm_version,
            "CC_MAJOR": major,
            "CC_MINOR": minor,
            "WARP_SIZE": self.warp_size,
            "MAX_THREADS_PER_BLOCK": self.max_threads_per_block,
            "MAX_THREADS_PER_SM": self.max_threads_per_sm,
            "MAX_WARPS_PER_SM": self.max_warps_per_sm,
            "MAX_BLOCKS_PER_SM": self.max_blocks_per_sm,
            "REGS_PER_SM": self.registers_per_sm,
            "REGS_PER_BLOCK": self.registers_per_block,
            "MAX_REGS_PER_THREAD": self.max_registers_per_thread,
            "REG_ALLOC_UNIT": self.register_allocation_unit,
            "REG_PARTITIONS": self.warp_allocation_granularity,
            "SMEM_PER_SM": self.shared_memory_per_sm,
            "SMEM_PER_BLOCK": self.shared_memory_per_block,
            "SMEM_PER_BLOCK_OPTIN": self.shared_memory_per_block_optin,
            "SMEM_RESERVED_PER_BLOCK": self.reserved_shared_memory_per_block,
            "SMEM_ALLOC_UNIT": self.shared_memory_allocation_unit,
            "CLUSTER_LAUNCH": int(self.cluster_launch),
            "MAX_CLUSTER_SIZE": self.max_cluster_size,
            "MAX_CLUSTER_SIZE_NONPORTABLE": self.max_cluster_size_nonportable,
        }
        seen: set[tuple[str, str]] = set()
        for shape in self.tensor_cores:
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

    def to_dict(self) -> dict[str, Any]:
        """A JSON-serialisable dict of every fact (tensor-core shapes as strings).

        >>> import hwmodels, json
        >>> d = hwmodels.get_architecture("sm_90").to_dict()
        >>> d["compute_capability"], d["tensor_cores"]["wgmma"]["bf16"]
        ([9, 0], ['m64n[8:256:8]k16'])
        >>> _ = json.dumps(d)
        """
        out: dict[str, Any] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name == "tensor_cores":
                cores: dict[str, dict[str, list[str]]] = {}
                for s in value:
                    cores.setdefault(s.instruction, {}).setdefault(s.dtype, []).append(str(s))
                value = cores
            elif f.name == "compute_capability":
                value = list(value)
            elif f.name == "sources":
                value = dict(value)
            out[f.name] = value
        return out


def architecture_problems(arch: Architecture) -> list[Problem]:
    """Every invalid or inconsistent field of ``arch`` (empty when it is valid).

    Constructing an :class:`Architecture` runs this and raises :class:`~hwmodels.ModelError` with
    the problems it finds.

    >>> import hwmodels
    >>> architecture_problems(hwmodels.get_architecture("sm_90"))
    []
    """
    problems: list[Problem] = []
    if not isinstance(arch.name, str) or not arch.name:
        problems.append(Problem("name", f"{arch.name!r} is not a non-empty string", 'a name such as "sm_90"'))
    cc = arch.compute_capability
    if not (isinstance(cc, tuple) and len(cc) == 2 and all(_is_int(x) and x >= 0 for x in cc) and cc[0] > 0):
        problems.append(Problem("compute_capability", f"{cc!r} is not [major, minor]", "two integers such as [9, 0]"))
    bad_int = set()
    for name, (minimum, meaning) in ARCHITECTURE_INT_FIELDS.items():
        value = getattr(arch, name)
        if not _is_int(value) or value < minimum:
            bad_int.add(name)
            problems.append(Problem(name, f"{value!r} is not an integer >= {minimum}",
                                    f"an integer >= {minimum}: {meaning}"))
    if not isinstance(arch.cluster_launch, bool):
        problems.append(Problem("cluster_launch", f"{arch.cluster_launch!r} is not a boolean", "true or false"))
    if arch.register_allocation_granularity != "warp":
        problems.append(Problem("register_allocation_granularity",
                                f"{arch.register_allocation_granularity!r} is not supported",
                                '"warp" (registers are allocated per warp on every architecture since sm_20)'))
    if not isinstance(arch.tensor_cores, tuple) or not all(isinstance(s, MmaShape) for s in arch.tensor_cores):
        problems.append(Problem("tensor_cores", "is not a tuple of MmaShape", "a tuple of MmaShape"))
    for name in ("family", "ptx_target", "source"):
        if not isinstance(getattr(arch, name), str):
            problems.append(Problem(name, f"{getattr(arch, name)!r} is not a string", "a string"))

    def ok(*names: str) -> bool:
        return not bad_int.intersection(names)

    a = arch
    if ok("max_warps_per_sm", "warp_size", "max_threads_per_sm") and \
            a.max_warps_per_sm * a.warp_size != a.max_threads_per_sm:
        problems.append(Problem("max_threads_per_sm",
                                f"{a.max_threads_per_sm} != max_warps_per_sm * warp_size = "
                                f"{a.max_warps_per_sm} * {a.warp_size}",
                                "max_threads_per_sm == max_warps_per_sm * warp_size"))
    if ok("max_threads_per_block", "max_threads_per_sm") and a.max_threads_per_block > a.max_threads_per_sm:
        problems.append(Problem("max_threads_per_block", f"{a.max_threads_per_block} > max_threads_per_sm "
                                f"{a.max_threads_per_sm}", "at most max_threads_per_sm"))
    if ok("max_threads_per_block", "warp_size") and a.max_threads_per_block % a.warp_size:
        problems.append(Problem("max_threads_per_block", f"{a.max_threads_per_block} is not a multiple of "
                                f"warp_size {a.warp_size}", "a multiple of warp_size"))
    if ok("shared_memory_per_block", "shared_memory_per_block_optin") and \
            a.shared_memory_per_block > a.shared_memory_per_block_optin:
        problems.append(Problem("shared_memory_per_block_optin", f"{a.shared_memory_per_block_optin} < "
                                f"shared_memory_per_block {a.shared_memory_per_block}",
                                "at least shared_memory_per_block"))
    if ok("shared_memory_per_block_optin", "reserved_shared_memory_per_block", "shared_memory_per_sm") and \
            a.shared_memory_per_block_optin + a.reserved_shared_memory_per_block > a.shared_memory_per_sm:
        problems.append(Problem("shared_memory_per_block_optin",
                                f"{a.shared_memory_per_block_optin} + reserved "
                                f"{a.reserved_shared_memory_per_block} > shared_memory_per_sm "
                                f"{a.shared_memory_per_sm}",
                                "opt-in + reserved shared memory per block <= shared memory per SM"))
    if ok("registers_per_block", "registers_per_sm") and a.registers_per_block > a.registers_per_sm:
        problems.append(Problem("registers_per_block", f"{a.registers_per_block} > registers_per_sm "
                                f"{a.registers_per_sm}", "at most registers_per_sm"))
    if ok("registers_per_sm", "warp_allocation_granularity") and a.registers_per_sm % a.warp_allocation_granularity:
        problems.append(Problem("warp_allocation_granularity", f"registers_per_sm {a.registers_per_sm} is not "
                                f"divisible by {a.warp_allocation_granularity} sub-partitions",
                                "a divisor of registers_per_sm"))
    if ok("max_cluster_size", "max_cluster_size_nonportable") and \
            a.max_cluster_size > a.max_cluster_size_nonportable:
        problems.append(Problem("max_cluster_size_nonportable", f"{a.max_cluster_size_nonportable} < "
                                f"max_cluster_size {a.max_cluster_size}", "at least max_cluster_size"))
    if arch.cluster_launch is False and ok("max_cluster_size", "max_cluster_size_nonportable") and \
            (a.max_cluster_size, a.max_cluster_size_nonportable) != (1, 1):
        problems.append(Problem("max_cluster_size", "cluster sizes above 1 without cluster_launch",
                                "max_cluster_size = max_cluster_size_nonportable = 1 when cluster_launch = false"))
    if not problems and isinstance(arch.name, str) and _sm_name(cc) != arch.name:
        problems.append(Problem("name", f"{arch.name!r} does not match compute_capability {list(cc)}",
                                f"{_sm_name(cc)!r}"))
    return problems


# --------------------------------------------------------------------------------------------
# GPU product
# --------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class PeakTflops:
    """Dense (not 2:4-sparse) peak throughput per data type in TFLOP/s (TOP/s for integers).

    ``None`` where the product has no such path or the vendor gives no number. fp32 and fp64 are
    the non-tensor-core rates; the others are tensor-core rates with fp32 accumulation where the
    vendor distinguishes.

    >>> import hwmodels
    >>> peak = hwmodels.get("h100").peak_tflops
    >>> peak.bf16, peak.fp8, peak.fp4
    (989.5, 1979.0, None)
    """

    fp64: float | None = None
    fp32: float | None = None
    tf32: float | None = None
    fp16: float | None = None
    bf16: float | None = None
    fp8: float | None = None
    fp6: float | None = None
    fp4: float | None = None
    int8: float | None = None
    int4: float | None = None

    def __post_init__(self) -> None:
        problems = [Problem(f.name, f"{getattr(self, f.name)!r} is not a positive number", "a positive number")
                    for f in fields(self)
                    if getattr(self, f.name) is not None
                    and (not _is_number(getattr(self, f.name)) or getattr(self, f.name) <= 0)]
        if problems:
            raise ModelError(problems, context="peak_tflops")

    def get(self, dtype: str) -> float | None:
        """Peak for ``dtype`` (``None`` if unknown; an unknown data type raises ModelError).

        >>> PeakTflops(bf16=312.0).get("bf16"), PeakTflops(bf16=312.0).get("fp8")
        (312.0, None)
        """
        if dtype not in DTYPES:
            raise ModelError([Problem("dtype", f"unknown data type {dtype!r}", "one of " + ", ".join(DTYPES))])
        return getattr(self, dtype)

    def items(self) -> tuple[tuple[str, float], ...]:
        """``(dtype, TFLOP/s)`` pairs of the known values.

        >>> PeakTflops(fp32=19.5, bf16=312.0).items()
        (('fp32', 19.5), ('bf16', 312.0))
        """
        return tuple((f.name, getattr(self, f.name)) for f in fields(self) if getattr(self, f.name) is not None)


#: Fields of :class:`GPU` with their meaning (used in docs, validation messages and the CLI).
GPU_FIELDS: dict[str, str] = {
    "name": "product name",
    "aliases": "other names (case, spaces and dashes do not matter)",
    "architecture": "compute capability such as \"sm_90\", or an [architecture] table",
    "sm_count": "streaming multiprocessors",
    "l2_cache_bytes": "bytes of L2 cache",
    "memory_bytes": "bytes of device memory",
    "memory_type": "e.g. HBM3",
    "memory_bandwidth_gbps": "peak memory bandwidth in GB/s",
    "boost_clock_mhz": "maximum boost clock in MHz",
    "peak_tflops": "dense peak TFLOP/s per data type",
}


@dataclass(frozen=True)
class GPU:
    """One GPU product: its :class:`Architecture` plus product facts.

    >>> import hwmodels
    >>> gpu = hwmodels.get("h100")
    >>> gpu.name, gpu.sm_count, gpu.architecture.name
    ('H100 SXM', 132, 'sm_90')
    """

    name: str
    architecture: Architecture
    sm_count: int
    l2_cache_bytes: int
    memory_bytes: int
    aliases: tuple[str, ...] = ()
    memory_type: str = ""
    memory_bandwidth_gbps: float | None = None
    boost_clock_mhz: int | None = None
    peak_tflops: PeakTflops = field(default_factory=PeakTflops)
    source: str = field(default="", compare=False)
    sources: Mapping[str, str] = field(default_factory=dict, compare=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "sources", _freeze_sources(self.sources))
        if isinstance(self.aliases, list):
            object.__setattr__(self, "aliases", tuple(self.aliases))
        problems: list[Problem] = []
        if not isinstance(self.name, str) or not self.name.strip():
            problems.append(Problem("name", f"{self.name!r} is not a non-empty string", "a product name"))
        if not isinstance(self.architecture, Architecture):
            problems.append(Problem("architecture", f"{self.architecture!r} is not an Architecture",
                                    "an Architecture"))
        for name in ("sm_count", "l2_cache_bytes", "memory_bytes"):
            value = getattr(self, name)
            if not _is_int(value) or value <= 0:
                problems.append(Problem(name, f"{value!r} is not a positive integer",
                                        f"a positive integer: {GPU_FIELDS[name]}"))
        if not isinstance(self.aliases, tuple) or not all(isinstance(a, str) and a.strip() for a in self.aliases):
            problems.append(Problem("aliases", f"{self.aliases!r} is not a list of names", "a list of strings"))
        if not isinstance(self.memory_type, str):
            problems.append(Problem("memory_type", f"{self.memory_type!r} is not a string", "a string"))
        bw = self.memory_bandwidth_gbps
        if bw is not None and (not _is_number(bw) or bw <= 0):
            problems.append(Problem("memory_bandwidth_gbps", f"{bw!r} is not a positive number",
                                    "a positive number of GB/s"))
        clk = self.boost_clock_mhz
        if clk is not None and (not _is_int(clk) or clk <= 0):
            problems.append(Problem("boost_clock_mhz", f"{clk!r} is not a positive integer", "an integer MHz"))
        if not isinstance(self.peak_tflops, PeakTflops):
            problems.append(Problem("peak_tflops", f"{self.peak_tflops!r} is not a PeakTflops", "a PeakTflops"))
        if problems:
            raise ModelError(problems, context=f"GPU {self.name!r}")

    @property
    def compute_capability(self) -> tuple[int, int]:
        """``(major, minor)`` of the architecture.

        >>> import hwmodels
        >>> hwmodels.get("a100").compute_capability
        (8, 0)
        """
        return self.architecture.compute_capability

    def peak(self, dtype: str) -> float | None:
        """Dense peak TFLOP/s for ``dtype`` (``None`` when unknown).

        >>> import hwmodels
        >>> hwmodels.get("h100").peak("bf16")
        989.5
        """
        return self.peak_tflops.get(dtype)

    def source_of(self, field_name: str) -> str:
        """Where the value of ``field_name`` comes from (architecture fields included).

        >>> import hwmodels
        >>> hwmodels.get("h100").source_of("sm_count")[:40]
        'NVIDIA H100 Tensor Core GPU Architecture'
        """
        if field_name in ARCHITECTURE_INT_FIELDS or field_name in {"cluster_launch", "tensor_cores",
                                                                   "compute_capability"}:
            return self.architecture.source_of(field_name)
        return self.sources.get(field_name, self.source)

    def constants(self) -> dict[str, int]:
        """Named integers for constraint models; see :func:`hwmodels.constants`.

        >>> import hwmodels
        >>> c = hwmodels.get("h100").constants()
        >>> c["NUM_SMS"], c["SMEM_PER_BLOCK_OPTIN"], c["MMA_K_BF16"]
        (132, 232448, 16)
        """
        out = {
            "NUM_SMS": self.sm_count,
            "L2_BYTES": self.l2_cache_bytes,
            "MEMORY_BYTES": self.memory_bytes,
        }
        if self.memory_bandwidth_gbps is not None:
            out["MEMORY_BANDWIDTH_GBPS"] = round(self.memory_bandwidth_gbps)
        if self.boost_clock_mhz is not None:
            out["BOOST_CLOCK_MHZ"] = self.boost_clock_mhz
        for dtype, tflops in self.peak_tflops.items():
            out[f"PEAK_GFLOPS_{dtype.upper()}"] = round(tflops * 1000)
        out.update(self.architecture.constants())
        return out

    def to_dict(self) -> dict[str, Any]:
        """A JSON-serialisable dict of the product and its architecture.

        >>> import hwmodels
        >>> d = hwmodels.get("h100").to_dict()
        >>> d["name"], d["sm_count"], d["architecture"]["name"]
        ('H100 SXM', 132, 'sm_90')
        """
        return {
            "name": self.name,
            "aliases": list(self.aliases),
            "architecture": self.architecture.to_dict(),
            "sm_count": self.sm_count,
            "l2_cache_bytes": self.l2_cache_bytes,
            "memory_bytes": self.memory_bytes,
            "memory_type": self.memory_type,
            "memory_bandwidth_gbps": self.memory_bandwidth_gbps,
            "boost_clock_mhz": self.boost_clock_mhz,
            "peak_tflops": dict(self.peak_tflops.items()),
            "source": self.source,
            "sources": dict(self.sources),
        }
