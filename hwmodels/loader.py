"""Reading hardware models from TOML: the bundled tables and users' own model files.

Every problem of a file is collected and reported at once in one :class:`ModelFileError` that
names the file, each missing or invalid field (as a dotted path such as ``gpu.sm_count``) and
what was expected.
"""
from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from importlib import resources
from os import PathLike
from pathlib import Path
from typing import Any

from .errors import ModelError, ModelFileError, Problem, UnknownArchitectureError, UnknownArchitectureInFileError
from .model import (
    ARCHITECTURE_INT_FIELDS,
    DTYPES,
    GPU,
    GPU_FIELDS,
    INSTRUCTIONS,
    Architecture,
    MmaShape,
    PeakTflops,
)

try:  # Python >= 3.11
    import tomllib as _toml
except ModuleNotFoundError:  # pragma: no cover - Python 3.10 with tomli installed
    try:
        import tomli as _toml  # type: ignore[no-redef]
    except ModuleNotFoundError:
        _toml = None  # type: ignore[assignment]

_ARCH_KEYS_REQUIRED = ("name", "compute_capability", *ARCHITECTURE_INT_FIELDS, "cluster_launch")
_ARCH_KEYS_OPTIONAL = ("family", "ptx_target", "register_allocation_granularity", "tensor_cores",
                       "source", "sources")
_GPU_KEYS_REQUIRED = ("name", "architecture", "sm_count", "l2_cache_bytes", "memory_bytes")
_GPU_KEYS_OPTIONAL = ("aliases", "memory_type", "memory_bandwidth_gbps", "boost_clock_mhz", "peak_tflops",
                      "source", "sources")

_ARCH_EXPECTED = {
    "name": 'the architecture name such as "sm_90"',
    "compute_capability": "[major, minor] such as [9, 0]",
    "cluster_launch": "true or false: thread-block clusters supported",
    "family": "a string such as \"Hopper\"",
    "ptx_target": "a string such as \"sm_90a\"",
    "register_allocation_granularity": '"warp"',
    "tensor_cores": "a table of instruction -> {dtype = [shapes]}",
    "source": "a string naming where the numbers come from",
    "sources": "a table of field -> source",
    **{name: f"an integer: {meaning}" for name, (_, meaning) in ARCHITECTURE_INT_FIELDS.items()},
}


def _toml_module() -> Any:
    if _toml is None:  # pragma: no cover
        raise ModelFileError("<toml>", [Problem("python", "cannot read TOML",
                                                "Python >= 3.11 (tomllib) or the tomli package")])
    return _toml


# --------------------------------------------------------------------------------------------
# Architecture keys ("sm_90", "sm_90a", "9.0", (9, 0), 90)
# --------------------------------------------------------------------------------------------

_CC_TEXT = re.compile(r"^(?:sm_?|compute_)?(\d{1,2})(\d)[af]?$")
_CC_DOTTED = re.compile(r"^(\d{1,2})\.(\d)$")


def parse_compute_capability(key: object) -> tuple[int, int] | None:
    """``(major, minor)`` from ``"sm_90"``, ``"sm_90a"``, ``"compute_90"``, ``"9.0"``, ``90`` or
    ``(9, 0)``; ``None`` when ``key`` is not of one of these forms.

    >>> parse_compute_capability("sm_100a"), parse_compute_capability("8.6")
    ((10, 0), (8, 6))
    """
    if isinstance(key, (tuple, list)) and len(key) == 2 and all(isinstance(x, int) for x in key):
        return int(key[0]), int(key[1])
    if isinstance(key, int) and not isinstance(key, bool) and key > 0:
        return key // 10, key % 10
    if isinstance(key, str):
        text = key.strip().lower()
        for pattern in (_CC_TEXT, _CC_DOTTED):
            match = pattern.match(text)
            if match:
                return int(match[1]), int(match[2])
    return None


# --------------------------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------------------------

def _expander(documents: Mapping[str, str]):
    if not documents:
        return lambda text: text
    pattern = re.compile(r"(?<![\w-])(" + "|".join(re.escape(k) for k in sorted(documents, key=len,
                                                                                   reverse=True)) + r")(?![\w-])")
    return lambda text: pattern.sub(lambda m: documents[m[1]], text)


def _documents(data: Mapping[str, Any], problems: list[Problem]) -> dict[str, str]:
    docs = data.get("documents", {})
    if not isinstance(docs, dict) or not all(isinstance(v, str) for v in docs.values()):
        problems.append(Problem("documents", "is not a table of strings", "short name = \"full title\""))
        return {}
    return docs


def _prefixed(prefix: str, problems: tuple[Problem, ...] | list[Problem]) -> list[Problem]:
    return [Problem(f"{prefix}.{p.field}" if prefix else p.field, p.message, p.expected) for p in problems]


def _check_keys(table: Mapping[str, Any], where: str, required: tuple[str, ...], optional: tuple[str, ...],
                expected: Mapping[str, str], problems: list[Problem]) -> set[str]:
    """Report missing and unknown keys; return the missing ones."""
    missing = {k for k in required if k not in table}
    for key in required:
        if key in missing:
            problems.append(Problem(f"{where}.{key}", "missing", expected.get(key, "")))
    allowed = set(required) | set(optional)
    for key in table:
        if key not in allowed:
            problems.append(Problem(f"{where}.{key}", "unknown field",
                                    "one of " + ", ".join(sorted(allowed))))
    return missing


def _sources(table: Mapping[str, Any], where: str, problems: list[Problem], expand) -> dict[str, str]:
    raw = table.get("sources", {})
    if not isinstance(raw, dict) or not all(isinstance(v, str) for v in raw.values()):
        problems.append(Problem(f"{where}.sources", "is not a table of strings", "field = \"source\""))
        return {}
    return {k: expand(v) for k, v in raw.items()}


def _tensor_cores(raw: Any, where: str, problems: list[Problem], expand) -> tuple[tuple[MmaShape, ...],
                                                                                    dict[str, str]]:
    shapes: list[MmaShape] = []
    sources: dict[str, str] = {}
    if not isinstance(raw, dict):
        problems.append(Problem(where, "is not a table", _ARCH_EXPECTED["tensor_cores"]))
        return (), {}
    for instruction in sorted(raw, key=lambda i: INSTRUCTIONS.index(i) if i in INSTRUCTIONS else 99):
        table = raw[instruction]
        here = f"{where}.{instruction}"
        if instruction not in INSTRUCTIONS:
            problems.append(Problem(here, "unknown instruction", "one of " + ", ".join(INSTRUCTIONS)))
            continue
        if not isinstance(table, dict):
            problems.append(Problem(here, "is not a table", "dtype = [\"m16n8k16\", ...], source = \"...\""))
            continue
        target = table.get("target", "")
        if not isinstance(target, str):
            problems.append(Problem(f"{here}.target", f"{target!r} is not a string", 'a PTX target such as "sm_90a"'))
            target = ""
        source = table.get("source")
        if source is not None:
            if isinstance(source, str):
                sources[f"tensor_cores.{instruction}"] = expand(source)
            else:
                problems.append(Problem(f"{here}.source", f"{source!r} is not a string", "a string"))
        for dtype, specs in table.items():
            if dtype in ("source", "target"):
                continue
            if dtype not in DTYPES:
                problems.append(Problem(f"{here}.{dtype}", "unknown data type", "one of " + ", ".join(DTYPES)))
                continue
            if not isinstance(specs, list) or not specs or not all(isinstance(s, str) for s in specs):
                problems.append(Problem(f"{here}.{dtype}", f"{specs!r} is not a list of shapes",
                                        'a list such as ["m16n8k16", "m16n8k8"]'))
                continue
            for spec in specs:
                try:
                    shapes.append(MmaShape.parse(spec, instruction=instruction, dtype=dtype, target=target))
                except ModelError as exc:
                    problems.extend(_prefixed(where, exc.problems))
    return tuple(shapes), sources


# --------------------------------------------------------------------------------------------
# Architecture tables
# --------------------------------------------------------------------------------------------

def _build_architecture(table: Mapping[str, Any], where: str, problems: list[Problem], expand,
                        default_source: str = "") -> Architecture | None:
    start = len(problems)
    missing = _check_keys(table, where, _ARCH_KEYS_REQUIRED, _ARCH_KEYS_OPTIONAL, _ARCH_EXPECTED, problems)
    kwargs: dict[str, Any] = {k: table.get(k) for k in _ARCH_KEYS_REQUIRED}
    for key in ("family", "ptx_target", "register_allocation_granularity"):
        if key in table:
            kwargs[key] = table[key]
    cc = kwargs["compute_capability"]
    kwargs["compute_capability"] = tuple(cc) if isinstance(cc, list) else cc
    source = table.get("source", default_source)
    if not isinstance(source, str):
        problems.append(Problem(f"{where}.source", f"{source!r} is not a string", _ARCH_EXPECTED["source"]))
        source = default_source
    kwargs["source"] = expand(source)
    sources = _sources(table, where, problems, expand)
    shapes, shape_sources = _tensor_cores(table.get("tensor_cores", {}), f"{where}.tensor_cores", problems, expand)
    kwargs["tensor_cores"] = shapes
    kwargs["sources"] = {**shape_sources, **sources}
    try:
        arch = Architecture(**kwargs)
    except ModelError as exc:
        problems.extend(p for p in _prefixed(where, exc.problems) if p.field.split(".")[-1] not in missing)
        return None
    return arch if len(problems) == start else None


def _merge_base(base: Mapping[str, Any], override: Mapping[str, Any], override_source: str) -> dict[str, Any]:
    """Overlay a user's architecture table on a bundled one; changed fields get the user's source."""
    merged = dict(base)
    sources = dict(base.get("sources", {}))
    own_sources = override.get("sources", {}) if isinstance(override.get("sources", {}), dict) else {}
    for key, value in override.items():
        if key in ("base", "sources", "source"):
            continue
        if key == "tensor_cores" and isinstance(value, dict) and isinstance(base.get("tensor_cores"), dict):
            merged["tensor_cores"] = {**base["tensor_cores"], **value}
        else:
            merged[key] = value
        sources[key] = own_sources.get(key, override_source)
    sources.update({k: v for k, v in own_sources.items() if isinstance(v, str)})
    merged["sources"] = sources
    return merged


# --------------------------------------------------------------------------------------------
# GPU tables
# --------------------------------------------------------------------------------------------

def _build_gpu(table: Mapping[str, Any], where: str, problems: list[Problem], expand,
               resolve_arch, default_source: str = "") -> GPU | None:
    start = len(problems)
    if not isinstance(table, dict):
        problems.append(Problem(where, "is not a table", "a table with " + ", ".join(_GPU_KEYS_REQUIRED)))
        return None
    expected = {**GPU_FIELDS, "source": "a string naming where the numbers come from",
                "architecture": 'a compute capability such as "sm_90", or a [gpu.architecture] table'}
    missing = _check_keys(table, where, _GPU_KEYS_REQUIRED, _GPU_KEYS_OPTIONAL, expected, problems)
    arch = None
    if "architecture" in table:
        arch = resolve_arch(table["architecture"], f"{where}.architecture", problems)
    source = table.get("source", default_source)
    if not isinstance(source, str):
        problems.append(Problem(f"{where}.source", f"{source!r} is not a string", expected["source"]))
        source = default_source
    peak = PeakTflops()
    raw_peak = table.get("peak_tflops", {})
    if not isinstance(raw_peak, dict):
        problems.append(Problem(f"{where}.peak_tflops", "is not a table", "dtype = TFLOP/s, e.g. bf16 = 989.5"))
    else:
        unknown = [k for k in raw_peak if k not in DTYPES]
        for key in unknown:
            problems.append(Problem(f"{where}.peak_tflops.{key}", "unknown data type", "one of " + ", ".join(DTYPES)))
        try:
            peak = PeakTflops(**{k: v for k, v in raw_peak.items() if k in DTYPES})
        except ModelError as exc:
            problems.extend(_prefixed(f"{where}.peak_tflops", exc.problems))
    aliases = table.get("aliases", [])
    kwargs: dict[str, Any] = {
        "name": table.get("name"),
        "architecture": arch,
        "sm_count": table.get("sm_count"),
        "l2_cache_bytes": table.get("l2_cache_bytes"),
        "memory_bytes": table.get("memory_bytes"),
        "aliases": tuple(aliases) if isinstance(aliases, list) else aliases,
        "memory_type": table.get("memory_type", ""),
        "memory_bandwidth_gbps": table.get("memory_bandwidth_gbps"),
        "boost_clock_mhz": table.get("boost_clock_mhz"),
        "peak_tflops": peak,
        "source": expand(source),
        "sources": _sources(table, where, problems, expand),
    }
    try:
        gpu = GPU(**kwargs)
    except ModelError as exc:
        skip = set(missing) | ({"architecture"} if arch is None else set())
        problems.extend(p for p in _prefixed(where, exc.problems) if p.field.split(".")[-1] not in skip)
        return None
    return gpu if len(problems) == start else None


# --------------------------------------------------------------------------------------------
# Files
# --------------------------------------------------------------------------------------------

def _read_toml(text: str, path: str) -> dict[str, Any]:
    try:
        return _toml_module().loads(text)
    except _toml_module().TOMLDecodeError as exc:
        raise ModelFileError(path, [Problem("toml", f"not valid TOML: {exc}", "a TOML document")]) from None


def _raise(path: str, problems: list[Problem], unknown_arch: list[str]) -> None:
    if not problems:
        return
    if unknown_arch:
        raise UnknownArchitectureInFileError(path, problems)
    raise ModelFileError(path, problems)


@functools.cache
def _bundled_raw() -> tuple[dict[str, Any], dict[str, Any]]:
    data = resources.files("hwmodels") / "data"
    arch_text = (data / "architectures.toml").read_text(encoding="utf-8")
    gpu_text = (data / "gpus.toml").read_text(encoding="utf-8")
    return (_read_toml(arch_text, "hwmodels/data/architectures.toml"),
            _read_toml(gpu_text, "hwmodels/data/gpus.toml"))


@functools.cache
def bundled_architectures() -> dict[str, Architecture]:
    """Bundled architectures by name (``"sm_90"``), built once and cached.

    >>> sorted(bundled_architectures())
    ['sm_100', 'sm_80', 'sm_86', 'sm_89', 'sm_90']
    """
    raw, _ = _bundled_raw()
    path = "hwmodels/data/architectures.toml"
    problems: list[Problem] = []
    expand = _expander(_documents(raw, problems))
    out: dict[str, Architecture] = {}
    for key, table in raw.items():
        if key == "documents":
            continue
        if not isinstance(table, dict):
            problems.append(Problem(key, "is not a table", "an architecture table"))
            continue
        arch = _build_architecture(table, key, problems, expand)
        if arch is not None:
            if arch.name != key:
                problems.append(Problem(f"{key}.name", f"{arch.name!r} differs from the table name", repr(key)))
            out[arch.name] = arch
    _raise(path, problems, [])
    return out


def _bundled_arch_table(cc: tuple[int, int]) -> dict[str, Any] | None:
    raw, _ = _bundled_raw()
    table = raw.get(f"sm_{cc[0]}{cc[1]}")
    return table if isinstance(table, dict) else None


def _bundled_arch_table_expanded(cc: tuple[int, int]) -> dict[str, Any] | None:
    """A bundled architecture table with its document short names expanded (for ``base =``)."""
    table = _bundled_arch_table(cc)
    if table is None:
        return None
    raw, _ = _bundled_raw()
    expand = _expander(_documents(raw, []))
    out = dict(table)
    out["source"] = expand(table.get("source", ""))
    out["sources"] = {k: expand(v) for k, v in table.get("sources", {}).items()}
    out["tensor_cores"] = {instr: {**t, **({"source": expand(t["source"])} if "source" in t else {})}
                           for instr, t in table.get("tensor_cores", {}).items()}
    return out


def _unknown_arch_message(key: object) -> str:
    cc = parse_compute_capability(key)
    known = ", ".join(sorted(bundled_architectures(), key=lambda n: bundled_architectures()[n].sm_version))
    what = f"compute capability {cc[0]}.{cc[1]} (sm_{cc[0]}{cc[1]})" if cc else repr(key)
    return (f"no architecture model for {what}; bundled: {known}. Write a model file whose [gpu.architecture] "
            "table gives every field (or base = \"sm_XY\" plus the fields that differ) and load it with "
            "hwmodels.load(path)")


def get_architecture(key: object) -> Architecture:
    """The bundled :class:`Architecture` for ``"sm_90"``, ``"sm_90a"``, ``"9.0"``, ``(9, 0)`` or ``90``.

    Raises :class:`UnknownArchitectureError` naming the missing compute capability.

    >>> get_architecture("9.0").name
    'sm_90'
    """
    if isinstance(key, Architecture):
        return key
    cc = parse_compute_capability(key)
    archs = bundled_architectures()
    if cc is not None:
        for arch in archs.values():
            if arch.compute_capability == cc:
                return arch
    raise UnknownArchitectureError(_unknown_arch_message(key))


def list_architectures() -> tuple[Architecture, ...]:
    """Every bundled architecture, oldest first.

    >>> import hwmodels
    >>> [a.name for a in hwmodels.list_architectures()]
    ['sm_80', 'sm_86', 'sm_89', 'sm_90', 'sm_100']
    """
    return tuple(sorted(bundled_architectures().values(), key=lambda a: a.sm_version))


def _arch_resolver(expand, user_source: str, unknown: list[str]):
    def resolve(value: Any, where: str, problems: list[Problem]) -> Architecture | None:
        if isinstance(value, str) or (isinstance(value, int) and not isinstance(value, bool)):
            try:
                return get_architecture(value)
            except UnknownArchitectureError as exc:
                unknown.append(str(value))
                problems.append(Problem(where, str(exc).split(";")[0], "a bundled compute capability "
                                        "(" + ", ".join(bundled_architectures()) + ") or a full "
                                        "[gpu.architecture] table"))
                return None
        if isinstance(value, dict):
            table = value
            if "base" in table:
                cc = parse_compute_capability(table["base"])
                base = _bundled_arch_table_expanded(cc) if cc else None
                if base is None:
                    unknown.append(str(table["base"]))
                    problems.append(Problem(f"{where}.base", f"no bundled architecture {table['base']!r}",
                                            "one of " + ", ".join(bundled_architectures())))
                    return None
                own_source = table.get("source", user_source)
                table = _merge_base(base, table, own_source if isinstance(own_source, str) else user_source)
            return _build_architecture(table, where, problems, expand, default_source=user_source)
        problems.append(Problem(where, f"{value!r} is neither an architecture name nor a table",
                                'a compute capability such as "sm_90", or a [gpu.architecture] table'))
        return None

    return resolve


@functools.cache
def bundled_gpus() -> tuple[GPU, ...]:
    """Bundled GPU products in file order, built once and cached.

    >>> [g.name for g in bundled_gpus()][:3]
    ['A100 40GB', 'A100 80GB', 'A10']
    """
    _, raw = _bundled_raw()
    path = "hwmodels/data/gpus.toml"
    problems: list[Problem] = []
    expand = _expander(_documents(raw, problems))
    unknown: list[str] = []
    resolve = _arch_resolver(expand, "", unknown)
    gpus: list[GPU] = []
    tables = raw.get("gpu", [])
    for key in raw:
        if key not in ("gpu", "documents"):
            problems.append(Problem(key, "unknown top-level key", "[[gpu]] tables and [documents]"))
    if not isinstance(tables, list):
        problems.append(Problem("gpu", "is not an array of tables", "[[gpu]] tables"))
        tables = []
    for i, table in enumerate(tables):
        name = table.get("name") if isinstance(table, dict) else None
        where = f"gpu[{i}]" + (f"({name})" if isinstance(name, str) else "")
        gpu = _build_gpu(table, where, problems, expand, resolve)
        if gpu is not None:
            gpus.append(gpu)
    _raise(path, problems, unknown)
    return tuple(gpus)


def load(path: str | PathLike[str]) -> GPU:
    """Load a user's GPU model file (TOML) and validate every field.

    The file has a ``[gpu]`` table with ``name``, ``architecture``, ``sm_count``,
    ``l2_cache_bytes`` and ``memory_bytes`` (plus optional ``aliases``, ``memory_type``,
    ``memory_bandwidth_gbps``, ``boost_clock_mhz``, ``peak_tflops``, ``source``, ``sources``).
    ``architecture`` names a bundled compute capability (``"sm_90"``) or is a
    ``[gpu.architecture]`` table with every field, or with ``base = "sm_90"`` and the fields that
    differ. Raises :class:`ModelFileError` naming the file and every bad field (an
    :class:`UnknownArchitectureError` too when the architecture is unknown).

    >>> gpu = load("examples/my_gpu.toml")  # doctest: +SKIP
    >>> gpu.constants()["NUM_SMS"]  # doctest: +SKIP
    132
    """
    file = Path(path)
    shown = str(path)
    try:
        text = file.read_text(encoding="utf-8")
    except OSError as exc:
        raise ModelFileError(shown, [Problem("file", f"cannot be read: {exc.strerror or exc}",
                                             "a readable TOML file")]) from None
    data = _read_toml(text, shown)
    problems: list[Problem] = []
    expand = _expander(_documents(data, problems))
    for key in data:
        if key not in ("gpu", "documents"):
            problems.append(Problem(key, "unknown top-level key", "a [gpu] table (and optionally [documents])"))
    user_source = f"user model file {shown}"
    unknown: list[str] = []
    gpu = None
    if "gpu" not in data:
        problems.append(Problem("gpu", "missing table",
                                "a [gpu] table with " + ", ".join(_GPU_KEYS_REQUIRED)))
    elif not isinstance(data["gpu"], dict):
        problems.append(Problem("gpu", "is not a table", "a [gpu] table"))
    else:
        gpu = _build_gpu(data["gpu"], "gpu", problems, expand, _arch_resolver(expand, user_source, unknown),
                         default_source=user_source)
    _raise(shown, problems, unknown)
    assert gpu is not None
    return gpu
