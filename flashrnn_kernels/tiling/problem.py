"""What a kernel configuration is solved for: :class:`Problem` (no torch, no GPU needed)."""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from ..cells import get_cell
from ..errors import InputError, UnsupportedError

#: Accepted spellings of the data types (torch names are the canonical ones).
DTYPES = {
    "bfloat16": "bfloat16", "bf16": "bfloat16", "torch.bfloat16": "bfloat16",
    "float16": "float16", "fp16": "float16", "half": "float16", "torch.float16": "float16",
    "float32": "float32", "fp32": "float32", "float": "float32", "tf32": "float32",
    "torch.float32": "float32",
}
#: Bytes per element of each data type.
ELEMENT_BYTES = {"bfloat16": 2, "float16": 2, "float32": 4}
#: The ``FLASHRNN_DTYPE`` code of each data type (csrc/fused/config.cuh).
DTYPE_CODES = {"bfloat16": 0, "float16": 1, "float32": 2}
#: Tensor-core data type (hwmodels constant suffix) each storage type multiplies in.
MMA_DTYPES = {"bfloat16": "BF16", "float16": "FP16", "float32": "TF32"}
#: Accepted spellings of the passes.
PASSES = {
    "forward": "forward", "fwd": "forward", "f": "forward",
    "backward": "backward", "bwd": "backward", "b": "backward",
    "both": "both", "fb": "both", "forward+backward": "both", "training": "both",
}
#: Backends whose kernels take tiling constants.
BACKENDS = ("fused", "alternating")


def _positive_int(value: Any, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise InputError(f"{what} must be a positive integer, got {value!r}")
    if value < 1:
        raise InputError(f"{what} must be a positive integer, got {value}")
    return value


@dataclass(frozen=True)
class Problem:
    """One kernel build's problem: cell, batch size, heads, head dimension, dtype and pass.

    ``pass_`` is ``"forward"``, ``"backward"`` or ``"both"`` (one build whose two kernels must
    both fit); ``backend`` is ``"fused"`` or ``"alternating"``. Spellings are normalised
    (``"bf16"`` -> ``"bfloat16"``, ``"fwd"`` -> ``"forward"``, cell names as in
    :func:`flashrnn_kernels.get_cell`).

    >>> Problem("LSTM", 16, 1, 768, "bf16")
    Problem(cell='lstm', batch_size=16, num_heads=1, head_dim=768, dtype='bfloat16', pass_='forward', backend='fused')
    """

    cell: str
    batch_size: int
    num_heads: int
    head_dim: int
    dtype: str = "bfloat16"
    pass_: str = "forward"
    backend: str = "fused"

    def __post_init__(self) -> None:
        if not isinstance(self.cell, str):
            raise InputError(f"cell must be a name (lstm, gru, slstm, elman), got {self.cell!r}")
        object.__setattr__(self, "cell", get_cell(self.cell).name)
        _positive_int(self.batch_size, "batch_size")
        _positive_int(self.num_heads, "num_heads")
        _positive_int(self.head_dim, "head_dim")
        dt = DTYPES.get(str(self.dtype).strip().lower())
        if dt is None:
            raise InputError(f"dtype {self.dtype!r} not supported (bfloat16, float16, float32)")
        object.__setattr__(self, "dtype", dt)
        ps = PASSES.get(str(self.pass_).strip().lower())
        if ps is None:
            raise InputError(f"pass {self.pass_!r} unknown (forward, backward, both)")
        object.__setattr__(self, "pass_", ps)
        be = str(self.backend).strip().lower()
        if be not in BACKENDS:
            raise InputError(f"backend {self.backend!r} has no tiling model ({', '.join(BACKENDS)})")
        object.__setattr__(self, "backend", be)

    @property
    def forward(self) -> bool:
        """Whether the forward kernel must fit."""
        return self.pass_ in ("forward", "both")

    @property
    def backward(self) -> bool:
        """Whether the backward kernel must fit."""
        return self.pass_ in ("backward", "both")

    @property
    def hidden_size(self) -> int:
        """``num_heads * head_dim``."""
        return self.num_heads * self.head_dim

    def replace(self, **changes: Any) -> Problem:
        """A copy with some fields changed."""
        return Problem(**{**asdict(self), **changes})

    def to_dict(self) -> dict[str, Any]:
        """A JSON-serialisable dict (``pass`` spelled without the underscore)."""
        d = asdict(self)
        d["pass"] = d.pop("pass_")
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Problem:
        d = dict(d)
        if "pass" in d:
            d["pass_"] = d.pop("pass")
        return cls(**d)

    def describe(self) -> str:
        """``"lstm, batch 16, 1 head of 768, bfloat16, forward pass (fused)"``."""
        heads = f"{self.num_heads} head{'s' if self.num_heads != 1 else ''} of {self.head_dim}"
        what = {"forward": "forward pass", "backward": "backward pass", "both": "forward and backward"}
        return f"{self.cell}, batch {self.batch_size}, {heads}, {self.dtype}, {what[self.pass_]} ({self.backend})"


class InfeasibleConfigError(UnsupportedError):
    """No configuration of the kernel fits the problem on the GPU.

    A :class:`~flashrnn_kernels.UnsupportedError` (so a :class:`FlashRNNError` and a
    ``ValueError``). ``binding`` lists the resources that cannot be met (registers, shared
    memory, SMs, threads, or a requirement of the kernel), ``suggestions`` what would work.
    """

    def __init__(self, message: str, problem: Problem | None = None, gpu: str = "",
                 binding: tuple[str, ...] = (), suggestions: tuple[str, ...] = (),
                 fixed: tuple[tuple[str, int], ...] = ()):
        super().__init__(message)
        self.problem = problem
        self.gpu = gpu
        self.binding = tuple(binding)
        self.suggestions = tuple(suggestions)
        self.fixed = tuple(fixed)

    def to_dict(self) -> dict[str, Any]:
        out = {"message": str(self), "problem": self.problem.to_dict() if self.problem else None,
               "gpu": self.gpu, "binding": list(self.binding), "suggestions": list(self.suggestions)}
        if self.fixed:
            out["fixed"] = dict(self.fixed)
        return out

    def __reduce__(self):
        return (type(self), (str(self), self.problem, self.gpu, self.binding, self.suggestions, self.fixed))

    def fresh(self) -> InfeasibleConfigError:
        """A new instance with the same content and no traceback. The cache keeps one instance
        and raises fresh ones: re-raising the cached object itself would grow its traceback with
        every raise and keep every caller's frame (and its tensors) alive."""
        return type(self)(str(self), self.problem, self.gpu, self.binding, self.suggestions, self.fixed)


__all__ = ["Problem", "InfeasibleConfigError", "DTYPES", "PASSES", "BACKENDS", "ELEMENT_BYTES", "DTYPE_CODES",
           "MMA_DTYPES"]
