// What a fused build exports for launches without the host code of launch.cuh (NVRTC builds,
// launched from Python through the CUDA driver: flashrnn_kernels/driver.py), as tables of
// ../export_table.cuh:
//
//   frnn_fwd_params / frnn_bwd_params: the layout of each kernel's argument struct, from the field
//                                      lists of params.cuh
//   frnn_facts:                        the facts of the build the launch decisions need, {name,
//                                      value, 0}: the same constexpr values and defines launch.cuh
//                                      reads
#pragma once
#include "../export_table.cuh"
#include "flag_exchange.cuh"
#include "params.cuh"
#include "tagged_exchange.cuh"
#include "traits.cuh"

// At global scope with extern "C": the symbols keep these names in the cubin (and nvcc's host
// registration of device variables finds them).
extern "C" __device__ const FrnnExport frnn_fwd_params[] = {
    FRNN_FWD_PARAMS(FRNN_EXPORT_FIELD){"", sizeof(frnn::FwdParams), alignof(frnn::FwdParams)}};
extern "C" __device__ const FrnnExport frnn_bwd_params[] = {
    FRNN_BWD_PARAMS(FRNN_EXPORT_FIELD){"", sizeof(frnn::BwdParams), alignof(frnn::BwdParams)}};

extern "C" __device__ const FrnnExport frnn_facts[] = {
    {"threads", frnn::kThreads, 0},                      // threads per block, both kernels
    {"nslice", frnn::kNSlice, 0},                        // blocks per (head, batch tile)
    {"bt", frnn::kBT, 0},                                // batch tile
    {"fwd_smem", frnn::kFwdSmem, 0},                     // dynamic shared memory, frnn_fwd(_dsm)
    {"bwd_smem", frnn::kBwdSmem, 0},                     // frnn_bwd
    {"bwd_smem_dsm", frnn::kBwdSmemDsm, 0},              // frnn_bwd_dsm
    {"fwd_dsm", FRNN_FWD_DSM, 0},                        // frnn_fwd_dsm built
    {"bwd_dsm", FRNN_BWD_DSM, 0},                        // frnn_bwd_dsm built
    {"bwd_dsm_fits", frnn::kBwdDsmFits, 0},              // ... and not empty
    {"bwd_bulk", FRNN_BWD_BULK, 0},                      // frnn_bwd launches in clusters
    {"cluster", FRNN_CLUSTER, 0},                        // ... of at most this many blocks
    {"fwd_xch_row_bytes", frnn::kTaggedXchRowBytes, 0},  // exchange bytes per padded row and head
    {"bwd_xch_row_bytes", frnn::kFlagXchRowBytes, 0},
    {"bwd_xch_tile_bytes", frnn::kFlagXchTileBytes, 0},  // ... and flag bytes per batch tile and head
    {"", 0, 0}};

