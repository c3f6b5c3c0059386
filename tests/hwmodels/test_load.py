"""hwmodels.load(): users' own model files, good and bad; every bad field is named."""
from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

import hwmodels

ROOT = Path(__file__).parents[2]

GOOD_HEAD = """
[gpu]
name = "Lab GPU"
architecture = "sm_90"
sm_count = 120
l2_cache_bytes = 52_428_800
memory_bytes = 85_899_345_920
"""

# A full architecture table for a compute capability that is not bundled (values of the CUDA
# programming guide's column 12.0; cuda::arch_traits<sm_120> gives the same per-SM limits).
FULL_ARCH = """
[gpu]
name = "RTX 5090 (user model)"
sm_count = 170
l2_cache_bytes = 100_663_296
memory_bytes = 34_359_738_368
memory_bandwidth_gbps = 1792
peak_tflops = { bf16 = 209.5 }
source = "vendor specification"

[gpu.architecture]
name = "sm_120"
compute_capability = [12, 0]
family = "Blackwell (consumer)"
source = "CUDA C++ Programming Guide, column 12.0"
shared_memory_per_sm = 102_400
shared_memory_per_block = 49_152
shared_memory_per_block_optin = 101_376
reserved_shared_memory_per_block = 1_024
shared_memory_allocation_unit = 128
registers_per_sm = 65_536
registers_per_block = 65_536
max_registers_per_thread = 255
register_allocation_unit = 256
warp_allocation_granularity = 4
max_threads_per_block = 1_024
max_threads_per_sm = 1_536
max_blocks_per_sm = 24
max_warps_per_sm = 48
warp_size = 32
cluster_launch = true
max_cluster_size = 8
max_cluster_size_nonportable = 8

[gpu.architecture.tensor_cores.mma_sync]
source = "PTX ISA, mma"
bf16 = ["m16n8k16", "m16n8k8"]
fp8 = ["m16n8k32"]
"""


def write(tmp_path: Path, text: str, name: str = "model.toml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return path


def problems_of(exc: hwmodels.ModelFileError) -> dict[str, str]:
    return {p.field: p.message for p in exc.problems}


def test_example_model_file_loads():
    gpu = hwmodels.load(ROOT / "examples" / "my_gpu.toml")
    assert gpu.name == "H100 NVL" and gpu.architecture is hwmodels.get_architecture("sm_90")
    assert gpu.sm_count == 132 and gpu.peak("bf16") == 835.5
    assert gpu.source.startswith("NVIDIA H100 Tensor Core GPU datasheet")  # short name expanded
    assert gpu.constants()["NUM_SMS"] == 132


def test_minimal_file_and_default_source(tmp_path):
    path = write(tmp_path, GOOD_HEAD)
    gpu = hwmodels.load(path)
    assert (gpu.name, gpu.sm_count, gpu.memory_bandwidth_gbps, gpu.peak("bf16")) == ("Lab GPU", 120, None, None)
    assert str(path) in gpu.source_of("sm_count")
    assert gpu.architecture.source_of("registers_per_sm").startswith("CUDA C++ Programming Guide")
    assert hwmodels.occupancy(gpu, 128, 32).blocks_per_sm == 16


def test_full_architecture_table_for_an_unbundled_compute_capability(tmp_path):
    gpu = hwmodels.load(write(tmp_path, FULL_ARCH))
    arch = gpu.architecture
    assert (arch.name, arch.compute_capability, arch.max_warps_per_sm) == ("sm_120", (12, 0), 48)
    assert arch.instructions == ("mma_sync",)
    consts = hwmodels.constants(gpu)
    assert consts["COMPUTE_CAPABILITY"] == 120 and consts["MMA_K_FP8"] == 32 and consts["NUM_SMS"] == 170
    # 256 threads x 32 regs: 6 blocks by warps (48 // 8), 8 by registers -> 6, limited by warps
    assert hwmodels.occupancy(gpu, 256, 32).blocks_per_sm == 6


def test_base_architecture_with_overrides(tmp_path):
    text = GOOD_HEAD.replace('architecture = "sm_90"\n', "") + """
[gpu.architecture]
base = "sm_90"
shared_memory_per_block_optin = 200_000
source = "my measurement"
"""
    arch = hwmodels.load(write(tmp_path, text)).architecture
    base = hwmodels.get_architecture("sm_90")
    assert arch.shared_memory_per_block_optin == 200_000
    assert arch.source_of("shared_memory_per_block_optin") == "my measurement"
    assert arch.source_of("registers_per_sm") == base.source_of("registers_per_sm")
    assert arch.registers_per_sm == base.registers_per_sm and arch.tensor_cores == base.tensor_cores


@pytest.mark.parametrize("edit, field, words", [
    (lambda t: t.replace("sm_count = 120\n", ""), "gpu.sm_count", "missing"),
    (lambda t: t.replace("sm_count = 120", "sm_count = -5"), "gpu.sm_count", "positive integer"),
    (lambda t: t.replace("sm_count = 120", "sm_count = 120.5"), "gpu.sm_count", "positive integer"),
    (lambda t: t.replace("l2_cache_bytes = 52_428_800", 'l2_cache_bytes = "50 MB"'), "gpu.l2_cache_bytes",
     "positive integer"),
    (lambda t: t + "sm_cout = 3\n", "gpu.sm_cout", "unknown field"),
    (lambda t: t + "peak_tflops = { bf17 = 3.0 }\n", "gpu.peak_tflops.bf17", "unknown data type"),
    (lambda t: t + "peak_tflops = { bf16 = -3.0 }\n", "gpu.peak_tflops.bf16", "positive number"),
    (lambda t: t + "memory_bandwidth_gbps = 0\n", "gpu.memory_bandwidth_gbps", "positive number"),
    (lambda t: t + "boost_clock_mhz = 1.5\n", "gpu.boost_clock_mhz", "positive integer"),
    (lambda t: t + "aliases = 'h'\n", "gpu.aliases", "list of names"),
    (lambda t: t.replace('name = "Lab GPU"\n', ""), "gpu.name", "missing"),
    (lambda t: t.replace('architecture = "sm_90"', "architecture = 3.5"), "gpu.architecture",
     "neither an architecture name"),
])
def test_bad_gpu_fields_are_named(tmp_path, edit, field, words):
    path = write(tmp_path, edit(GOOD_HEAD))
    with pytest.raises(hwmodels.ModelFileError) as info:
        hwmodels.load(path)
    found = problems_of(info.value)
    assert field in found and words in found[field], found
    message = str(info.value)
    assert str(path) in message and field in message and "\n" not in message


def test_unknown_architecture_in_a_file(tmp_path):
    path = write(tmp_path, GOOD_HEAD.replace("sm_90", "sm_120"))
    with pytest.raises(hwmodels.UnknownArchitectureError) as info:
        hwmodels.load(path)
    assert isinstance(info.value, hwmodels.ModelFileError)
    message = str(info.value)
    assert str(path) in message and "gpu.architecture" in message and "12.0" in message
    path = write(tmp_path, GOOD_HEAD.replace('architecture = "sm_90"\n', "") + '[gpu.architecture]\nbase = "sm_75"\n')
    with pytest.raises(hwmodels.UnknownArchitectureError, match=r"gpu\.architecture\.base"):
        hwmodels.load(path)


def test_full_architecture_table_with_missing_and_inconsistent_fields(tmp_path):
    text = (FULL_ARCH.replace("max_warps_per_sm = 48\n", "")
            .replace("warp_size = 32", "warp_size = 30")
            .replace("registers_per_block = 65_536", "registers_per_block = 131_072")
            .replace('bf16 = ["m16n8k16", "m16n8k8"]', 'bf16 = ["m16n8k16", "m16x8k8"]')
            .replace("cluster_launch = true", 'cluster_launch = "yes"'))
    with pytest.raises(hwmodels.ModelFileError) as info:
        hwmodels.load(write(tmp_path, text))
    found = problems_of(info.value)
    assert found["gpu.architecture.max_warps_per_sm"] == "missing"
    assert "registers_per_sm" in found["gpu.architecture.registers_per_block"]
    assert "m16x8k8" in found["gpu.architecture.tensor_cores.mma_sync.bf16"]
    assert "boolean" in found["gpu.architecture.cluster_launch"]
    assert "warp_size" in found["gpu.architecture.max_threads_per_block"]  # 1024 not a multiple of 30
    expected = {p.field: p.expected for p in info.value.problems}
    assert "resident warps per SM" in expected["gpu.architecture.max_warps_per_sm"]


def test_inconsistent_threads_and_warps(tmp_path):
    text = FULL_ARCH.replace("max_threads_per_sm = 1_536", "max_threads_per_sm = 2_048")
    with pytest.raises(hwmodels.ModelFileError, match=r"gpu\.architecture\.max_threads_per_sm: 2048 != "):
        hwmodels.load(write(tmp_path, text))


def test_unknown_tensor_core_instruction_and_dtype(tmp_path):
    text = FULL_ARCH + '\n[gpu.architecture.tensor_cores.hmma]\nfp16 = ["m16n8k16"]\n' \
                       '\n[gpu.architecture.tensor_cores.wmma]\nfp15 = ["m16n16k16"]\n'
    with pytest.raises(hwmodels.ModelFileError) as info:
        hwmodels.load(write(tmp_path, text))
    found = problems_of(info.value)
    assert found["gpu.architecture.tensor_cores.hmma"] == "unknown instruction"
    assert found["gpu.architecture.tensor_cores.wmma.fp15"] == "unknown data type"


def test_file_level_errors(tmp_path):
    with pytest.raises(hwmodels.ModelFileError, match="not valid TOML"):
        hwmodels.load(write(tmp_path, "[gpu\nname = 1"))
    with pytest.raises(hwmodels.ModelFileError, match="gpu: missing table"):
        hwmodels.load(write(tmp_path, "name = 'x'\n"))
    with pytest.raises(hwmodels.ModelFileError, match="cannot be read"):
        hwmodels.load(tmp_path / "absent.toml")


def test_several_problems_reported_at_once(tmp_path):
    text = GOOD_HEAD.replace("sm_count = 120", "sm_count = 0").replace("memory_bytes = 85_899_345_920", "") + \
        "colour = 'green'\n"
    with pytest.raises(hwmodels.ModelFileError) as info:
        hwmodels.load(write(tmp_path, text))
    assert {"gpu.sm_count", "gpu.memory_bytes", "gpu.colour"} <= set(problems_of(info.value))
    assert isinstance(info.value, hwmodels.HwModelsError) and isinstance(info.value, ValueError)
