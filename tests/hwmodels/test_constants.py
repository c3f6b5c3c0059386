"""hwmodels.constants(): named integers for constraint models."""
from __future__ import annotations

import pytest

import hwmodels

DOCUMENTED = ["NUM_SMS", "SMEM_PER_SM", "SMEM_PER_BLOCK", "SMEM_PER_BLOCK_OPTIN", "SMEM_RESERVED_PER_BLOCK",
              "SMEM_ALLOC_UNIT", "REGS_PER_SM", "REGS_PER_BLOCK", "MAX_REGS_PER_THREAD", "REG_ALLOC_UNIT",
              "REG_PARTITIONS", "MAX_THREADS_PER_BLOCK", "MAX_THREADS_PER_SM", "MAX_WARPS_PER_SM",
              "MAX_BLOCKS_PER_SM", "WARP_SIZE", "CLUSTER_LAUNCH", "MAX_CLUSTER_SIZE",
              "MAX_CLUSTER_SIZE_NONPORTABLE", "L2_BYTES", "MEMORY_BYTES", "COMPUTE_CAPABILITY", "CC_MAJOR",
              "CC_MINOR"]


def test_h100_constants():
    c = hwmodels.constants(hwmodels.get("h100"))
    assert {k: c[k] for k in ("NUM_SMS", "SMEM_PER_BLOCK_OPTIN", "REGS_PER_SM", "L2_BYTES", "MAX_CLUSTER_SIZE",
                              "MAX_CLUSTER_SIZE_NONPORTABLE", "WARP_SIZE", "MAX_REGS_PER_THREAD",
                              "COMPUTE_CAPABILITY")} == {
        "NUM_SMS": 132, "SMEM_PER_BLOCK_OPTIN": 232_448, "REGS_PER_SM": 65_536, "L2_BYTES": 52_428_800,
        "MAX_CLUSTER_SIZE": 8, "MAX_CLUSTER_SIZE_NONPORTABLE": 16, "WARP_SIZE": 32, "MAX_REGS_PER_THREAD": 255,
        "COMPUTE_CAPABILITY": 90}
    assert (c["MMA_M_BF16"], c["MMA_N_BF16"], c["MMA_K_BF16"]) == (16, 8, 16)
    assert (c["MMA_M_FP8"], c["MMA_N_FP8"], c["MMA_K_FP8"]) == (16, 8, 32)
    assert (c["MMA_M_TF32"], c["MMA_N_TF32"], c["MMA_K_TF32"]) == (16, 8, 8)
    assert (c["WMMA_M_FP16"], c["WMMA_N_FP16"], c["WMMA_K_FP16"]) == (16, 16, 16)
    assert (c["WGMMA_M_BF16"], c["WGMMA_N_BF16"], c["WGMMA_K_BF16"]) == (64, 256, 16)
    assert (c["WGMMA_N_MIN_BF16"], c["WGMMA_N_STEP_BF16"]) == (8, 8)
    assert "WGMMA_N_STEP_INT8" not in c and c["WGMMA_N_MIN_INT8"] == 8  # N set is not a progression
    assert c["PEAK_GFLOPS_BF16"] == 989_500 and c["MEMORY_BANDWIDTH_GBPS"] == 3350


@pytest.mark.parametrize("gpu", hwmodels.list_gpus(), ids=lambda g: g.name)
def test_every_gpu_has_the_documented_integer_constants(gpu):
    c = gpu.constants()
    assert c == hwmodels.constants(gpu)
    for name in DOCUMENTED:
        assert name in c, name
    assert all(isinstance(v, int) and not isinstance(v, bool) for v in c.values())
    assert c["MAX_THREADS_PER_SM"] == c["MAX_WARPS_PER_SM"] * c["WARP_SIZE"]
    for dtype in ("FP16", "BF16", "TF32", "INT8"):
        assert {f"MMA_M_{dtype}", f"MMA_N_{dtype}", f"MMA_K_{dtype}"} <= set(c)


def test_architecture_differences_show_in_constants():
    a100, l4, b200 = (hwmodels.constants(n) for n in ("a100", "l4", "b200"))
    assert a100["MAX_CLUSTER_SIZE"] == a100["MAX_CLUSTER_SIZE_NONPORTABLE"] == 1 and a100["CLUSTER_LAUNCH"] == 0
    assert "MMA_K_FP8" not in a100 and l4["MMA_K_FP8"] == 32
    assert not any(k.startswith("WGMMA_") for k in a100) and not any(k.startswith("WGMMA_") for k in b200)
    assert (b200["TCGEN05_M_BF16"], b200["TCGEN05_N_BF16"], b200["TCGEN05_K_BF16"]) == (128, 256, 16)
    assert b200["NUM_SMS"] == 148 and "BOOST_CLOCK_MHZ" not in b200


def test_architecture_only_constants():
    c = hwmodels.constants("sm_90")
    assert c["SMEM_PER_BLOCK_OPTIN"] == 232_448 and "NUM_SMS" not in c and "L2_BYTES" not in c
    assert c == hwmodels.constants(hwmodels.get_architecture("9.0"))
    with pytest.raises(hwmodels.HwModelsError):
        hwmodels.constants(42)  # type: ignore[arg-type]
