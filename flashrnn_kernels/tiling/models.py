"""The tiling models shipped with the package and how the Python side fills their inputs.

Each :class:`ModelSpec` names a ``.cint`` file beside this module, its decision variables, the
``-D`` defines it produces (from which model quantity), the GPU constants it reads from
:func:`hwmodels.constants`, the resources :meth:`KernelConfig.explain` reports and the
relaxations used to tell which of them bind.

A model's variables play three roles: *inputs* (GPU facts and problem sizes, declared with the
range they may take, given values by :func:`model_inputs`), *definitions* (a statement
``X == expression;`` names a quantity) and *decisions* (the tiling parameters, named by the
spec). :meth:`ModelSpec.reduce` hands the model and the inputs to constrint's presolve
(:meth:`constrint.Model.reduce`), which inlines the definitions and returns a small model over
the decisions.
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..cells import get_cell
from ..errors import InputError
from .problem import DTYPE_CODES, ELEMENT_BYTES, MMA_DTYPES, Problem

HERE = Path(__file__).resolve().parent

if TYPE_CHECKING:
    import constrint as ci

log = logging.getLogger(__name__)
log.addHandler(logging.NullHandler())


def _ci():
    """constrint, imported when a model is first parsed or solved: a configuration read from the
    cache needs neither (the import is about 0.05-0.1 s of a process's first call)."""
    import constrint

    return constrint


#: Bumped when the Python side changes what a cached result means.
TILING_VERSION = 1


class TilingModelError(InputError):
    """A tiling model does not have the structure its Python side expects (a bug, not user input)."""


@dataclass(frozen=True)
class Resource:
    """A budget a configuration uses: ``used`` of ``limit`` (model quantities by name)."""

    label: str
    kind: str  # registers | shared memory | SMs | threads | warps
    used: str
    limit: str
    unit: str
    kernel: str = ""  # "forward" / "backward": only when that kernel must fit


@dataclass(frozen=True)
class ModelSpec:
    backend: str
    file: str
    decisions: tuple[str, ...]
    defines: tuple[tuple[str, str], ...]  # (define, model quantity); problem defines are added
    gpu_inputs: tuple[str, ...]
    resources: tuple[Resource, ...]
    #: resource kind -> overrides that lift that budget (to tell whether it binds)
    relaxations: tuple[tuple[str, tuple[tuple[str, str], ...]], ...]

    @property
    def path(self) -> Path:
        return HERE / self.file

    def sha256(self) -> str:
        """Hash of the model's text (read again when the file changes)."""
        st = self.path.stat()
        return _text_sha(str(self.path), st.st_mtime_ns, st.st_size)

    def model(self) -> ci.Model:
        """The parsed model (parsed once per process and content; do not change it)."""
        return _load(str(self.path), self.sha256())

    def check_inputs(self, values: Mapping[str, int]) -> None:
        """InputError unless every value lies in its variable's declared range."""
        model = self.model()
        for name, v in values.items():
            if isinstance(v, bool) or not isinstance(v, int):
                raise InputError(f"{self.file}: input {name} must be an integer, got {v!r}")
            try:
                dom = model.domain(name)
            except _ci().ModelError:
                raise TilingModelError(f"{self.file}: {name} is not a variable of the model") from None
            if v not in dom:
                src = model.source(name)
                why = f" ({src.comment})" if src is not None and src.comment else ""
                raise InputError(f"{self.file}: input {name} = {v} is outside its range {dom!r}{why}")

    def solve(self, inputs: Mapping[str, int], overrides: Mapping[str, int] | None = None,
              fixed: Mapping[str, int] | None = None) -> tuple[ci.Reduction, ci.Result | None]:
        """Solve the model for these inputs (``overrides``, ``fixed`` as in :meth:`reduce`):
        ``(reduction, result)``, ``result`` (over every variable of the model) ``None`` when
        there is no solution."""
        reduced = self.reduce(inputs, overrides, fixed)
        res = reduced.solve()
        if res.status is _ci().Status.UNKNOWN:
            raise TilingModelError(f"{self.file}: the solver stopped without an answer")
        return reduced, (res if res.ok else None)

    def objective_of(self, res: ci.Result) -> tuple[int, ...]:
        """The objective of the model (one int per level) at a solution."""
        obj = self.model().objective
        return tuple(int(e.evaluate(res.values)) for e in obj[0]) if obj else ()

    def reduce(self, inputs: Mapping[str, int], overrides: Mapping[str, int] | None = None,
               fixed: Mapping[str, int] | None = None) -> ci.Reduction:
        """The model with these inputs, reduced to a model over the decisions.

        ``overrides`` replace inputs or definitions (a relaxed budget: ``relaxed``); ``fixed``
        gives some decisions values (the others are still chosen by the solver).
        """
        self.check_inputs(inputs)
        values = dict(inputs)
        redefined = {}
        for k, v in (overrides or {}).items():
            if k in values:
                values[k] = v
            else:
                redefined[k] = v
        try:
            red = self.model().reduce(values, decisions=self.decisions, overrides=redefined)
            return red.fix(fixed) if fixed else red
        except _ci().ModelError as exc:
            raise TilingModelError(f"{self.file}: {exc}") from None

    def render(self, inputs: Mapping[str, int]) -> str:
        """The model as self-contained ``.cint`` text, the inputs declared as their values."""
        self.check_inputs(inputs)
        head = f"# {self.file} with its inputs set (written by flashrnn_kernels.tiling)\n"
        return head + _ci().dumps(self.model().copy(fix=inputs))


@lru_cache(maxsize=64)
def _text_sha(path: str, mtime_ns: int, size: int) -> str:
    return hashlib.sha256(Path(path).read_text(encoding="utf-8").encode()).hexdigest()


@lru_cache(maxsize=32)
def _load(path: str, sha256: str) -> ci.Model:
    root = cache_dir()
    return _ci().load(path, cache_dir=None if root is None else root / "models")


def cache_dir() -> Path | None:
    """``<cache dir>/tiling``: solved configurations (JSON) and, in ``models/``, the parsed
    models (:func:`constrint.load`'s ``cache_dir``: keyed by the text and constrint's code)."""
    try:
        from ..env import settings

        return settings().cache_dir / "tiling"
    except Exception as exc:  # pragma: no cover - a malformed environment variable
        log.debug("no tiling cache directory: %s", exc)
        return None


def cache_key(payload: Any) -> str:
    """The name of a cache entry: a hash of ``payload`` (JSON-able; dict keys in any order)."""
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:32]


def cache_path(key: str) -> Path | None:
    """Where the cache entry ``key`` lives (``<cache dir>/tiling/<key>.json``), None without a
    cache directory."""
    root = cache_dir()
    return None if root is None else root / f"{key}.json"


def read_json(path: Path) -> Any:
    """The JSON value of a cache entry, None where there is none or it cannot be read (a
    damaged entry is ignored: the answer is computed again and replaces it)."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        log.debug("ignoring unreadable tiling cache entry %s: %s", path, exc)
        return None


def write_json(path: Path, data: Any) -> None:
    """Write ``data`` as JSON to ``path`` in the cache, atomically (a reader sees the old file or
    the whole new one); a read-only cache is not an error (nothing is written)."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=".json")
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(data, f, indent=1)
        os.replace(tmp, path)
    except OSError as exc:
        log.debug("could not write the tiling cache entry %s: %s", path, exc)


_GPU_COMMON = ("NUM_SMS", "WARP_SIZE", "MAX_THREADS_PER_BLOCK", "REGS_PER_SM", "MAX_REGS_PER_THREAD",
               "REG_ALLOC_UNIT", "REG_PARTITIONS")

FUSED = ModelSpec(
    backend="fused",
    file="fused.cint",
    decisions=("NSLICE", "BT", "FWD_WM", "FWD_WK", "BWD_WM", "BWD_WK"),
    defines=(("FLASHRNN_FUSED_UNITS", "U"), ("FLASHRNN_FUSED_NSLICE", "NSLICE"),
             ("FLASHRNN_FUSED_BT", "BT"), ("FLASHRNN_FUSED_FWD_WM", "FWD_WM"),
             ("FLASHRNN_FUSED_FWD_WK", "FWD_WK"), ("FLASHRNN_FUSED_BWD_WM", "BWD_WM"),
             ("FLASHRNN_FUSED_BWD_WK", "BWD_WK"),
             # what the kernels take from the model instead of computing it (csrc/fused/config.cuh)
             ("FRNN_SMEM_FWD", "SMEM_F"), ("FRNN_SMEM_FWD_TILE", "SMEM_F_TILE"),
             ("FRNN_SMEM_FWD_SUMS", "SMEM_F_SUMS"), ("FRNN_SMEM_FWD_RING", "SMEM_F_RING"),
             ("FRNN_SMEM_BWD", "SMEM_B"), ("FRNN_SMEM_BWD_TILE", "SMEM_B_TILE"),
             ("FRNN_SMEM_BWD_SUMS", "SMEM_B_SUMS"), ("FRNN_SMEM_BWD_DSM", "SMEM_B_DSM"),
             ("FRNN_SMEM_FWD_R", "SMEM_F_R"), ("FRNN_SMEM_BWD_R", "SMEM_B_R"),
             ("FRNN_FWD_KSR", "KSR_F"), ("FRNN_BWD_KSR", "KSR_B"),
             ("FRNN_WX_RING", "WX_RING"), ("FRNN_WX_STAGES", "WX_STAGES"),
             ("FRNN_FWD_PF", "PF_F"), ("FRNN_BWD_PF", "PF_B"),
             ("FRNN_FWD_NCH", "NCH_F"), ("FRNN_BWD_NCH", "NCH_B"),
             ("FRNN_FWD_XCH", "PACK_F"), ("FRNN_POLL_GROUP", "POLL_GROUP"),
             ("FRNN_BWD_DSM_BYTES", "DSM_B_BYTES_MAX")),
    gpu_inputs=_GPU_COMMON + ("SMEM_PER_BLOCK_OPTIN", "COMPUTE_CAPABILITY", "CLUSTER_LAUNCH",
                              "MAX_CLUSTER_SIZE_NONPORTABLE"),
    resources=(
        Resource("registers holding R", "registers", "AR_F", "A_REG_BUDGET", "per thread", "forward"),
        Resource("registers in all (estimate)", "registers", "REGS_F", "REG_BUDGET", "per thread", "forward"),
        Resource("shared memory", "shared memory", "SMEM_F", "SMEM_PER_BLOCK_OPTIN", "B per block", "forward"),
        Resource("registers holding R", "registers", "AR_B", "A_REG_BUDGET", "per thread", "backward"),
        Resource("registers in all (estimate)", "registers", "REGS_B", "REG_BUDGET", "per thread", "backward"),
        Resource("shared memory", "shared memory", "SMEM_B", "SMEM_PER_BLOCK_OPTIN", "B per block", "backward"),
        Resource("blocks of the grid", "SMs", "BLOCKS", "NUM_SMS", "blocks (one per SM)"),
        Resource("threads per block", "threads", "NT", "MAX_THREADS_PER_BLOCK", "threads"),
    ),
    relaxations=(
        ("registers", (("A_REG_BUDGET", "=100000"), ("REG_BUDGET", "=100000"))),
        ("shared memory", (("SMEM_PER_BLOCK_OPTIN", "*64"),)),
        ("SMs", (("NUM_SMS", "*16"),)),
        ("threads", (("MAX_THREADS_PER_BLOCK", "*16"),)),
    ),
)

ALTERNATING = ModelSpec(
    backend="alternating",
    file="alternating.cint",
    decisions=("THREADS",),
    defines=(),  # THREADS is the launchers' block size, an argument at run time: one build serves all
    gpu_inputs=_GPU_COMMON + ("MAX_WARPS_PER_SM", "MAX_BLOCKS_PER_SM", "REGS_PER_BLOCK"),
    resources=(
        Resource("registers per block", "registers", "BLOCK_REGS", "REGS_PER_BLOCK", "registers"),
        Resource("resident warps per SM", "warps", "SM_WARPS", "MAX_WARPS_PER_SM", "warps"),
        Resource("SMs with a block", "SMs", "BUSY_SMS", "NUM_SMS", "SMs"),
        Resource("threads per block", "threads", "THREADS", "MAX_THREADS_PER_BLOCK", "threads"),
    ),
    relaxations=(
        ("registers", (("REGS_PER_BLOCK", "*16"), ("REGS_PER_SM", "*16"))),
        ("warps", (("MAX_WARPS_PER_SM", "*16"), ("MAX_BLOCKS_PER_SM", "*16"))),
        ("SMs", (("NUM_SMS", "*16"),)),
        ("threads", (("MAX_THREADS_PER_BLOCK", "*16"),)),
    ),
)

SPECS = {s.backend: s for s in (FUSED, ALTERNATING)}


def model_inputs(spec: ModelSpec, problem: Problem, consts: dict[str, int]) -> dict[str, int]:
    """The values of every input of ``spec``'s model for ``problem`` on a GPU with ``consts``."""
    cell = get_cell(problem.cell)
    values = {k: consts[k] for k in spec.gpu_inputs}
    values.update(D=problem.head_dim, N=problem.num_heads, B=problem.batch_size)
    if spec.backend == "fused":
        dt = MMA_DTYPES[problem.dtype]
        values.update(
            MMA_M=consts.get(f"MMA_M_{dt}", 0), MMA_N=consts.get(f"MMA_N_{dt}", 0),
            MMA_K=consts.get(f"MMA_K_{dt}", 0),
            G=cell.num_gates, S=cell.num_states,
            GC=2 * cell.num_gates if cell.separate_gates else cell.num_gates,
            ESIZE=ELEMENT_BYTES[problem.dtype],
            FWD=int(problem.forward), BWD=int(problem.backward),
        )
    return values


def problem_defines(spec: ModelSpec, problem: Problem) -> dict[str, int]:
    """The defines that come from the problem itself (cell, dtype, head dimension)."""
    if spec.backend != "fused":
        return {}
    return {"FLASHRNN_CELL": get_cell(problem.cell).cuda_id,
            "FLASHRNN_DTYPE": DTYPE_CODES[problem.dtype],
            "FLASHRNN_HEAD_DIM": problem.head_dim}


def relaxed(spec: ModelSpec, kind: str, values: dict[str, int]) -> dict[str, int]:
    """Overrides that lift the budgets of resource ``kind``: ``*k`` multiplies an input's value,
    ``=v`` sets a quantity (an input or a definition) to ``v``."""
    out: dict[str, int] = {}
    for k, rule in dict(spec.relaxations)[kind]:
        out[k] = values[k] * int(rule[1:]) if rule[0] == "*" else int(rule[1:])
    return out


def resource_kinds(spec: ModelSpec) -> list[str]:
    return [k for k, _ in spec.relaxations]


__all__ = ["ModelSpec", "Resource", "SPECS", "FUSED", "ALTERNATING", "TILING_VERSION", "model_inputs",
           "problem_defines", "relaxed", "TilingModelError", "cache_key", "cache_path"]
