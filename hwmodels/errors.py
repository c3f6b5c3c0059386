"""Exceptions of :mod:`hwmodels`; every one derives from :class:`HwModelsError`."""
from __future__ import annotations

from dataclasses import dataclass


class HwModelsError(Exception):
    """Root of every exception raised by :mod:`hwmodels`.

    >>> import hwmodels
    >>> try:
    ...     hwmodels.get("no such gpu")
    ... except hwmodels.HwModelsError as exc:
    ...     print(type(exc).__name__)
    UnknownGPUError
    """


class UnknownGPUError(HwModelsError, LookupError):
    """No bundled GPU has the requested name or alias.

    >>> import hwmodels
    >>> try:
    ...     hwmodels.get("rtx 9999")
    ... except hwmodels.UnknownGPUError as exc:
    ...     print(str(exc).split(".")[0])
    unknown GPU 'rtx 9999'
    """

    def __str__(self) -> str:  # LookupError would quote the message like a KeyError does not
        return str(self.args[0]) if self.args else ""


class UnknownArchitectureError(HwModelsError, LookupError):
    """No architecture table exists for a compute capability (never silently defaulted).

    >>> import hwmodels
    >>> try:
    ...     hwmodels.get_architecture("sm_75")
    ... except hwmodels.UnknownArchitectureError as exc:
    ...     print(str(exc).split(";")[0])
    no architecture model for compute capability 7.5 (sm_75)
    """

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


@dataclass(frozen=True)
class Problem:
    """One invalid or missing field: where, what is wrong, and what was expected.

    >>> str(Problem("gpu.sm_count", "-1 is not a positive integer", "a positive integer"))
    'gpu.sm_count: -1 is not a positive integer (expected a positive integer)'
    """

    field: str
    message: str
    expected: str = ""

    def __str__(self) -> str:
        text = f"{self.field}: {self.message}"
        if self.expected:
            text += f" (expected {self.expected})"
        return text


class ModelError(HwModelsError, ValueError):
    """A hardware model holds missing, ill-typed or mutually inconsistent values.

    ``problems`` lists every :class:`Problem` found (field, message, expected).

    >>> import hwmodels
    >>> try:
    ...     hwmodels.PeakTflops(bf16=-1.0)
    ... except hwmodels.ModelError as exc:
    ...     print(exc.problems[0].field, "|", exc)
    bf16 | peak_tflops: bf16: -1.0 is not a positive number (expected a positive number)
    """

    def __init__(self, problems: list[Problem] | tuple[Problem, ...], *, context: str = "") -> None:
        self.problems: tuple[Problem, ...] = tuple(problems)
        self.context = context
        super().__init__(self._render())

    def _render(self) -> str:
        body = "; ".join(str(p) for p in self.problems)
        return f"{self.context}: {body}" if self.context else body


class ModelFileError(ModelError):
    """A model file (bundled or the user's) cannot be read or does not validate.

    The message names the file, each missing or invalid field and what was expected,
    all on one line.

    >>> import hwmodels, os, tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "my.toml")
    >>> with open(path, "w") as f:
    ...     _ = f.write('[gpu]\\nname = "X"\\narchitecture = "sm_90"\\nsm_count = -1\\nl2_cache_bytes = 1\\n')
    >>> try:
    ...     hwmodels.load(path)
    ... except hwmodels.ModelFileError as exc:
    ...     print([p.field for p in exc.problems])
    ['gpu.memory_bytes', 'gpu.sm_count']
    """

    def __init__(self, path: str, problems: list[Problem] | tuple[Problem, ...]) -> None:
        self.path = str(path)
        super().__init__(problems, context=self.path)


class DetectionError(HwModelsError, RuntimeError):
    """The live GPU cannot be read (no PyTorch, no CUDA device, driver query failed).

    ```python
    try:
        gpu = hwmodels.detect()
    except hwmodels.DetectionError:          # e.g. on a machine without a GPU
        gpu = hwmodels.get("h100")            # plan for a GPU you do not have
    ```
    """


class InvalidArgumentError(HwModelsError, ValueError):
    """An argument to a hwmodels function is out of range or of the wrong type.

    >>> import hwmodels
    >>> try:
    ...     hwmodels.occupancy("h100", threads_per_block=0, registers_per_thread=32)
    ... except hwmodels.InvalidArgumentError as exc:
    ...     print(exc)
    threads_per_block must be an integer >= 1, got 0
    """


class UnknownArchitectureInFileError(ModelFileError, UnknownArchitectureError):
    """A model file names an architecture that has no bundled table.

    Both a :class:`ModelFileError` (it names the file and field) and an
    :class:`UnknownArchitectureError`.
    """

    def __str__(self) -> str:
        return ModelFileError.__str__(self)


class HardwareMismatchWarning(UserWarning):
    """:func:`hwmodels.detect` found a live value that differs from the bundled model.

    The live value is used; the warning names both. To make a mismatch an error:

    ```python
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("error", hwmodels.HardwareMismatchWarning)
        gpu = hwmodels.detect()
    ```
    """
