"""Occupancy against the CUDA Occupancy Calculator.

Each expected value is derived by hand with the calculator's rules (cuda_occupancy.h,
cudaOccMaxActiveBlocksPerMultiprocessor, default carveout = all shared memory, partitioned global
caching off), written out next to the case:

* warps:  max_warps_per_sm // ceil(threads / 32)
* regs:   regs/warp = roundup(regs * 32, 256); warps/SM = (65536 / 4 // regs/warp) * 4;
          blocks = warps/SM // warps/block; 0 if regs/warp * warps/block or
          regs/warp * roundup(warps/block, 4) exceeds 65536 (registers per block)
* smem:   per block = roundup(smem + 1024 reserved, 128); blocks = smem/SM // per block;
          0 if per block > opt-in + 1024
* blocks: max_blocks_per_sm
"""
from __future__ import annotations

import pytest

import hwmodels

CASES = [
    # (gpu, threads, regs, smem, blocks, warps/SM, occupancy, limited_by), derivation
    pytest.param("h100", 256, 32, 0, 8, 64, 1.0, ("warps", "registers"), id="h100-256t-32r",
                 # warps 64//8=8; regs/warp 1024, 16384//1024=16 -> 64 warps -> 8; smem 233472//1024=228; blocks 32
                 ),
    pytest.param("h100", 256, 64, 0, 4, 32, 0.5, ("registers",), id="h100-256t-64r",
                 # regs/warp 2048, 16384//2048=8 -> 32 warps -> 32//8=4
                 ),
    pytest.param("h100", 128, 255, 0, 2, 8, 0.125, ("registers",), id="h100-128t-255r",
                 # regs/warp 8160 -> 8192; 16384//8192=2 -> 8 warps -> 8//4=2; per block 32768 <= 65536
                 ),
    pytest.param("h100", 1024, 64, 0, 1, 32, 0.5, ("registers",), id="h100-1024t-64r",
                 # regs/warp 2048 x 32 warps = 65536 <= 65536 (fits); 32 warps/SM -> 1 block; warps 64//32=2
                 ),
    pytest.param("h100", 1024, 65, 0, 0, 0, 0.0, ("registers",), id="h100-1024t-65r-too-many",
                 # regs/warp 2080 -> 2304; x 32 warps = 73728 > 65536 -> cannot launch
                 ),
    pytest.param("h100", 32, 200, 0, 8, 8, 0.125, ("registers",), id="h100-32t-200r-subpartitions",
                 # regs/warp 6400; 16384//6400=2 per sub-partition -> 8 warps -> 8 blocks
                 # (a per-SM division 65536//6400=10 would be wrong: warps do not span sub-partitions)
                 ),
    pytest.param("h100", 96, 168, 0, 4, 12, 0.1875, ("registers",), id="h100-96t-168r",
                 # regs/warp 5376 (=21x256); 16384//5376=3 -> 12 warps -> 12//3=4; hw check 5376x4 <= 65536
                 ),
    pytest.param("h100", 128, 32, 100 * 1024, 2, 8, 0.125, ("shared_memory",), id="h100-100KB-smem",
                 # smem 102400+1024 = 103424 (multiple of 128); 233472//103424 = 2
                 ),
    pytest.param("h100", 128, 32, 232_448, 1, 4, 0.0625, ("shared_memory",), id="h100-227KB-optin-max",
                 # 232448+1024 = 233472 <= opt-in 232448 + 1024; 233472//233472 = 1
                 ),
    pytest.param("h100", 128, 32, 232_449, 0, 0, 0.0, ("shared_memory",), id="h100-smem-over-optin",
                 # 232449+1024 = 233473 -> 233600 > 233472 -> cannot launch
                 ),
    pytest.param("a100", 128, 32, 48 * 1024, 3, 12, 0.1875, ("shared_memory",), id="a100-48KB-smem",
                 # 49152+1024 = 50176; 167936//50176 = 3
                 ),
    pytest.param("a100", 64, 16, 1, 32, 64, 1.0, ("warps", "blocks"), id="a100-1B-smem-rounding",
                 # smem 1+1024 -> 1152; 167936//1152 = 145; warps 64//2=32; regs 512/warp -> 128 warps -> 64; blocks 32
                 ),
    pytest.param("rtx3090", 256, 32, 0, 6, 48, 1.0, ("warps",), id="sm86-256t-32r",
                 # warps 48//8=6; regs 16 per sub-partition -> 64 warps -> 8; blocks 16
                 ),
    pytest.param("rtx3090", 64, 32, 0, 16, 32, 2 / 3, ("blocks",), id="sm86-blocks-limit",
                 # warps 48//2=24; regs 64 warps -> 32; smem 102400//1024 = 100; blocks 16 -> 32 warps of 48
                 ),
    pytest.param("l4", 32, 16, 0, 24, 24, 0.5, ("blocks",), id="sm89-blocks-limit",
                 # warps 48//1=48; regs 512/warp -> 32 per sub-partition -> 128 -> 128; smem 100; blocks 24
                 ),
    pytest.param("l40s", 1024, 32, 0, 1, 32, 2 / 3, ("warps",), id="sm89-1024t",
                 # warps 48//32=1; regs 64 warps -> 2; blocks 24
                 ),
    pytest.param("b200", 384, 168, 0, 1, 12, 0.1875, ("registers",), id="sm100-384t-168r",
                 # regs/warp 5376; warps/block 12; 3 per sub-partition -> 12 warps -> 1; hw 5376x12 = 64512 <= 65536
                 ),
    pytest.param("h100", 128, 0, 0, 16, 64, 1.0, ("warps",), id="h100-no-registers",
                 # regs 0 -> no register limit; warps 64//4=16; smem 228; blocks 32
                 ),
    pytest.param("h100", 1025, 32, 0, 0, 0, 0.0, ("warps",), id="h100-too-many-threads",
                 # 1025 threads > 1024 per block -> cannot launch
                 ),
    pytest.param("h100", 128, 256, 0, 0, 0, 0.0, ("registers",), id="h100-over-255-regs",
                 # 256 registers per thread > 255
                 ),
]


@pytest.mark.parametrize("gpu, threads, regs, smem, blocks, warps, occ, limited_by", CASES)
def test_occupancy_matches_calculator(gpu, threads, regs, smem, blocks, warps, occ, limited_by):
    result = hwmodels.occupancy(hwmodels.get(gpu), threads, regs, smem)
    assert result.blocks_per_sm == blocks
    assert result.warps_per_sm == warps
    assert result.occupancy == pytest.approx(occ)
    assert result.limited_by == limited_by
    assert result.limiting_resource == limited_by[0]
    assert bool(result.reason) == (blocks == 0)


def test_result_details():
    r = hwmodels.occupancy("h100", 96, 168, 1000)
    assert r.warps_per_block == 3
    assert r.registers_per_block == 5376 * 3
    assert r.shared_memory_per_block == 2048  # 1000 + 1024 = 2024 -> 2048
    assert r.limit("shared_memory") == 233472 // 2048
    assert r.limit("warps") == 21 and r.limit("blocks") == 32
    assert hwmodels.occupancy("h100", 128, 0).limit("registers") is None


def test_accepts_architecture_gpu_or_name():
    arch = hwmodels.get_architecture("sm_90")
    a = hwmodels.occupancy(arch, 256, 64, 0)
    assert a == hwmodels.occupancy(hwmodels.get("H100 SXM"), 256, 64, 0) == hwmodels.occupancy("sm_90", 256, 64)


def test_reasons_name_the_resource():
    assert "threads per block" in hwmodels.occupancy("h100", 2048, 32).reason
    assert "registers per block" in hwmodels.occupancy("h100", 1024, 65).reason
    assert "opt-in maximum 232448" in hwmodels.occupancy("h100", 32, 32, 240_000).reason


@pytest.mark.parametrize("args", [(0, 32, 0), (-1, 32, 0), (128, -1, 0), (128, 32, -5), (128.0, 32, 0),
                                  (True, 32, 0)])
def test_bad_arguments_raise(args):
    with pytest.raises(hwmodels.InvalidArgumentError):
        hwmodels.occupancy("h100", *args)
    with pytest.raises(hwmodels.HwModelsError):
        hwmodels.occupancy(object(), 128, 32, 0)  # type: ignore[arg-type]
