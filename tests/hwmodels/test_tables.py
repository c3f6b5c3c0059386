"""Bundled tables: they load, every entry validates and cites a source, names and aliases resolve."""
from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
from pathlib import Path

import pytest

import hwmodels
from hwmodels.model import ARCHITECTURE_INT_FIELDS, architecture_problems

REQUIRED_GPUS = {
    "A100 40GB": "sm_80", "A100 80GB": "sm_80", "A10": "sm_86", "RTX 3090": "sm_86", "L4": "sm_89",
    "L40S": "sm_89", "RTX 4090": "sm_89", "H100 SXM": "sm_90", "H100 PCIe": "sm_90", "H200": "sm_90",
    "B200": "sm_100",
}


def test_architectures_load():
    names = [a.name for a in hwmodels.list_architectures()]
    assert names == ["sm_80", "sm_86", "sm_89", "sm_90", "sm_100"]


def test_required_gpus_are_bundled_with_their_architecture():
    gpus = {g.name: g.architecture.name for g in hwmodels.list_gpus()}
    for name, arch in REQUIRED_GPUS.items():
        assert gpus.get(name) == arch, name


@pytest.mark.parametrize("gpu", hwmodels.list_gpus(), ids=lambda g: g.name)
def test_every_bundled_gpu_validates_and_cites_sources(gpu):
    assert architecture_problems(gpu.architecture) == []
    assert dataclasses.replace(gpu) == gpu  # re-runs the validation of __post_init__
    for name in ("sm_count", "l2_cache_bytes", "memory_bytes", "memory_bandwidth_gbps", "peak_tflops"):
        assert gpu.source_of(name).strip(), name
    for name in ARCHITECTURE_INT_FIELDS:
        assert gpu.source_of(name).strip(), name
    for instruction in gpu.architecture.instructions:
        assert gpu.architecture.source_of(f"tensor_cores.{instruction}").strip()
    assert gpu.memory_bandwidth_gbps and gpu.peak("bf16") and gpu.peak("fp16")
    json.dumps(gpu.to_dict())


def test_document_short_names_are_expanded_in_sources():
    arch = hwmodels.get_architecture("sm_90")
    assert arch.source.startswith("CUDA C++ Programming Guide")
    assert "CPG-CC" not in arch.source
    assert "Occupancy Calculator" in arch.source_of("register_allocation_unit")


def test_h100_sxm_matches_the_measured_device():
    # Measured on an H100 80GB HBM3: 132 SMs, 232,448 B opt-in smem, 65,536 regs/SM, 50 MB L2.
    gpu = hwmodels.get("H100 SXM")
    assert gpu.sm_count == 132
    assert gpu.architecture.shared_memory_per_block_optin == 232_448
    assert gpu.architecture.registers_per_sm == 65_536
    assert gpu.l2_cache_bytes == 52_428_800


@pytest.mark.parametrize("name, expected", [
    ("h100", "H100 SXM"), ("H100", "H100 SXM"), ("h100-sxm", "H100 SXM"), ("H100 SXM5", "H100 SXM"),
    ("NVIDIA H100 80GB HBM3", "H100 SXM"), ("a100", "A100 80GB"), ("A100 80GB", "A100 80GB"),
    ("NVIDIA A100-SXM4-40GB", "A100 40GB"), ("NVIDIA A100-SXM4-80GB", "A100 80GB"),
    ("NVIDIA GeForce RTX 4090", "RTX 4090"), ("rtx4090", "RTX 4090"), ("NVIDIA GeForce RTX 3090", "RTX 3090"),
    ("NVIDIA A10", "A10"), ("NVIDIA L4", "L4"), ("l40s", "L40S"), ("NVIDIA H100 PCIe", "H100 PCIe"),
    ("NVIDIA H200", "H200"), ("NVIDIA B200", "B200"),
])
def test_names_aliases_and_torch_device_names(name, expected):
    assert hwmodels.get(name).name == expected


def test_names_do_not_collide():
    assert hwmodels.get("a10").name == "A10"
    assert hwmodels.get("a100").name == "A100 80GB"
    assert hwmodels.get("l4").name == "L4" and hwmodels.get("l40s").name == "L40S"


def test_unknown_gpu_is_an_error_with_suggestions():
    with pytest.raises(hwmodels.UnknownGPUError) as info:
        hwmodels.get("H10")
    assert isinstance(info.value, hwmodels.HwModelsError) and isinstance(info.value, LookupError)
    message = str(info.value)
    assert "'H10'" in message and "Did you mean" in message and "hwmodels.load" in message


@pytest.mark.parametrize("key", ["sm_90", "sm_90a", "SM_90", "9.0", (9, 0), 90, "compute_90"])
def test_architecture_keys(key):
    assert hwmodels.get_architecture(key).name == "sm_90"


@pytest.mark.parametrize("key, shown", [("sm_120", "12.0"), ((7, 5), "7.5"), ("sm_87", "8.7")])
def test_unknown_architecture_names_what_is_missing(key, shown):
    with pytest.raises(hwmodels.UnknownArchitectureError) as info:
        hwmodels.get_architecture(key)
    message = str(info.value)
    assert shown in message and "sm_90" in message and "hwmodels.load" in message


def test_per_architecture_facts():
    a80, a86, a89, a90, a100 = (hwmodels.get_architecture(n) for n in ("sm_80", "sm_86", "sm_89", "sm_90", "sm_100"))
    assert (a80.max_warps_per_sm, a86.max_warps_per_sm, a89.max_warps_per_sm) == (64, 48, 48)
    blocks = (a80.max_blocks_per_sm, a86.max_blocks_per_sm, a89.max_blocks_per_sm, a90.max_blocks_per_sm)
    assert blocks == (32, 16, 24, 32)
    assert a80.shared_memory_per_block_optin == 163 * 1024 and a86.shared_memory_per_block_optin == 99 * 1024
    assert a90.shared_memory_per_sm == a100.shared_memory_per_sm == 228 * 1024
    assert all(a.reserved_shared_memory_per_block == 1024 for a in (a80, a86, a89, a90, a100))
    assert all(a.register_allocation_unit == 256 and a.shared_memory_allocation_unit == 128
               for a in (a80, a86, a89, a90, a100))
    assert [a.cluster_launch for a in (a80, a86, a89, a90, a100)] == [False, False, False, True, True]
    assert (a90.max_cluster_size, a90.max_cluster_size_nonportable) == (8, 16)
    assert (a80.max_cluster_size, a80.max_cluster_size_nonportable) == (1, 1)


def test_tensor_core_instructions_per_architecture():
    instr = {a.name: a.instructions for a in hwmodels.list_architectures()}
    assert instr["sm_80"] == ("mma_sync", "wmma")
    assert instr["sm_90"] == ("mma_sync", "wmma", "wgmma")
    assert instr["sm_100"] == ("mma_sync", "wmma", "tcgen05")
    assert not hwmodels.get_architecture("sm_86").mma_shapes("fp8")
    assert str(hwmodels.get_architecture("sm_89").mma_shapes("fp8", "mma_sync")[0]) == "m16n8k32"
    wg = hwmodels.get_architecture("sm_90").mma_shapes("bf16", "wgmma")[0]
    assert (wg.m, wg.n_min, wg.n, wg.k, wg.target) == (64, 8, 256, 16, "sm_90a")
    assert len(wg.n_values) == 32
    wg8 = hwmodels.get_architecture("sm_90").mma_shapes("int8", "wgmma")[0]
    assert wg8.n_values[:5] == (8, 16, 24, 32, 48) and 40 not in wg8.n_values
    for dtype in ("fp16", "bf16", "tf32", "int8"):
        assert hwmodels.get_architecture("sm_80").mma_shapes(dtype, "mma_sync")


def test_mma_shape_parse_and_format_round_trip():
    for text in ("m16n8k16", "m64n[8:256:8]k16", "m64n[8:32:8,48:256:16]k32", "m16n[8,16]k8"):
        shape = hwmodels.MmaShape.parse(text, instruction="wgmma", dtype="bf16")
        assert hwmodels.MmaShape.parse(str(shape), instruction="wgmma", dtype="bf16") == shape
    with pytest.raises(hwmodels.ModelError):
        hwmodels.MmaShape.parse("m16x8k16", instruction="mma_sync", dtype="bf16")
    with pytest.raises(hwmodels.ModelError):
        hwmodels.MmaShape.parse("m16n8k16", instruction="mma_sync", dtype="bf17")


def test_models_are_frozen_and_hashable():
    gpu = hwmodels.get("h100")
    with pytest.raises(dataclasses.FrozenInstanceError):
        gpu.sm_count = 1  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        gpu.architecture.registers_per_sm = 1  # type: ignore[misc]
    assert len({gpu, hwmodels.get("H100 SXM"), hwmodels.get("a100")}) == 2


def test_inconsistent_architecture_in_code_names_the_fields():
    arch = hwmodels.get_architecture("sm_90")
    with pytest.raises(hwmodels.ModelError) as info:
        dataclasses.replace(arch, max_threads_per_sm=2000, registers_per_block=70_000, max_cluster_size=-1)
    fields = {p.field for p in info.value.problems}
    assert {"max_threads_per_sm", "registers_per_block", "max_cluster_size"} <= fields
    with pytest.raises(hwmodels.ModelError, match="cluster"):
        dataclasses.replace(hwmodels.get_architecture("sm_80"), max_cluster_size=2, max_cluster_size_nonportable=2)


def test_layering_no_torch_and_no_kernels_import():
    code = ("import sys, hwmodels; hwmodels.list_gpus(); hwmodels.occupancy('h100', 128, 32); "
            "hwmodels.constants('b200'); import hwmodels.cli; "
            "assert 'torch' not in sys.modules, 'torch imported'; "
            "assert not any(m.startswith('flashrnn_kernels') for m in sys.modules), 'kernels imported'")
    subprocess.run([sys.executable, "-c", code], check=True, cwd=Path(__file__).parents[2])
    package = Path(hwmodels.__file__).parent
    for source in package.rglob("*.py"):
        text = source.read_text()
        assert "flashrnn_kernels" not in text, source
        if source.name != "detection.py":
            assert "import torch" not in text, source


def test_docs_mention_every_bundled_gpu_and_constant():
    text = (Path(__file__).parents[2] / "docs" / "hardware.md").read_text()
    for gpu in hwmodels.list_gpus():
        assert f"| {gpu.name} |" in text, gpu.name
    for name in hwmodels.constants("h100"):
        if not name.startswith(("MMA_", "WMMA_", "WGMMA_", "PEAK_GFLOPS_")):
            assert name in text, name
