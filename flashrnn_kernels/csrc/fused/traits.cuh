// Kernel traits: the defines of config.cuh as constexpr values, the element type, the tile sizes
// derived from them and the shared-memory layout, with static_asserts on what the kernels rely on.
#pragma once
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <stdint.h>

#include "../cells_generated.cuh"
#include "config.cuh"

namespace frnn {

__host__ __device__ constexpr int cdiv(int a, int b) { return (a + b - 1) / b; }
__host__ __device__ constexpr int clamp(int x, int lo, int hi) { return x < lo ? lo : (x > hi ? hi : x); }

// ---------------------------------------------------------------- the problem and the block
using Cell = flashrnn::CellDef<FLASHRNN_CELL>;
constexpr int kG = Cell::kGates;   // gates
constexpr int kS = Cell::kStates;  // states
constexpr int kGB = Cell::kBias;   // bias rows
// the forward stores the gate pre-activations for the backward: xg + rg per gate, or xg and rg
// apart for cells whose recurrent part enters separately (GRU)
constexpr int kGC = Cell::kSeparateRecurrent ? 2 * kG : kG;

constexpr int kD = FLASHRNN_HEAD_DIM;           // head dimension
constexpr int kU = FLASHRNN_FUSED_UNITS;        // hidden units per block
constexpr int kNSlice = FLASHRNN_FUSED_NSLICE;  // blocks per (head, batch tile)
constexpr int kBT = FLASHRNN_FUSED_BT;          // batch tile
constexpr int kWarps = FLASHRNN_FUSED_FWD_WM * FLASHRNN_FUSED_FWD_WK;
constexpr int kThreads = 32 * kWarps;

static_assert(FLASHRNN_FUSED_BWD_WM * FLASHRNN_FUSED_BWD_WK == kWarps,
              "FLASHRNN_FUSED_BWD_WM * _BWD_WK must equal FLASHRNN_FUSED_FWD_WM * _FWD_WK (one block size)");
static_assert(kBT % 8 == 0, "FLASHRNN_FUSED_BT must be a multiple of 8 (MMA tiles along the batch)");
static_assert(kU * kNSlice >= kD, "FLASHRNN_FUSED_UNITS * FLASHRNN_FUSED_NSLICE must cover FLASHRNN_HEAD_DIM");

// ---------------------------------------------------------------- element type
#if FLASHRNN_DTYPE == 0
using elem_t = __nv_bfloat16;
#elif FLASHRNN_DTYPE == 1
using elem_t = __half;
#else
using elem_t = float;  // tf32 tensor cores
#endif
constexpr int kESize = (int)sizeof(elem_t);
static_assert(kESize == FRNN_ESIZE, "element size");
constexpr int kKW = FLASHRNN_DTYPE == 2 ? 8 : 16;  // K of one MMA: m16n8k16, tf32 m16n8k8
// a tagged exchange word: a value and its step tag (tagged_exchange.cuh)
#if FLASHRNN_DTYPE == 2
using xword_t = unsigned long long;
#else
using xword_t = uint32_t;
#endif
constexpr int kWordBytes = (int)sizeof(xword_t);
static_assert(kWordBytes == 2 * kESize, "a tagged word holds a value and its tag");
constexpr int kNTile = kBT / 8;                    // MMA tiles along the batch

// ---------------------------------------------------------------- the recurrent GEMMs
// Per step a block multiplies M rows of its slice of R (A fragments in registers) by K operand
// values of each of BT batch rows (B fragments from shared memory) on a WM x WK grid of warps;
// each warp runs NCH independent accumulator chains over its K steps and stores its partial sums
// [GROWS][BT+1] for its warp column (gemm.cuh).
constexpr int kGS = kBT + 1;  // row stride of the partial sums (floats)
// independent accumulator chains per warp: up to 8 tiles in flight
__host__ __device__ constexpr int chains(int mtw, int ksw) {
  const int c = mtw * kNTile >= 8 ? 1 : (mtw * kNTile >= 4 ? 2 : 4);
  return ksw >= 2 * c ? c : 1;  // only where each chain gets at least 2 K steps
}
template <int M, int K, int WM, int WK>
struct Gemm {
  static constexpr int kM = M;
  static constexpr int kWM = WM;
  static constexpr int kWK = WK;
  static constexpr int kMT = cdiv(M, 16);      // 16-row tiles
  static constexpr int kKS = cdiv(K, kKW);     // K steps
  static constexpr int kMTW = cdiv(kMT, WM);   // row tiles per warp
  static constexpr int kKSW = cdiv(kKS, WK);   // K steps per warp
  static constexpr int kKPad = kKS * kKW;      // K padded to whole steps
  // an operand tile row of plain elements: K padded, plus 16 bytes against bank conflicts
  static constexpr int kXRow = kKPad + 16 / kESize;
  static constexpr int kGRows = kMTW * WM * 16;   // partial-sum rows of one warp column
  static constexpr int kSums = WK * kGRows * kGS;  // floats of one step's partial sums
  static constexpr int kNCH = chains(kMTW, kKSW);  // accumulator chains per warp
};
// forward: rows = G*U gate rows (row g*U + u: gate g of unit u), K = D
using FwdGemm = Gemm<kG * kU, kD, FLASHRNN_FUSED_FWD_WM, FLASHRNN_FUSED_FWD_WK>;
// backward: rows = U units, K = G*D (R transposed; column g*D + d)
using BwdGemm = Gemm<kU, kG * kD, FLASHRNN_FUSED_BWD_WM, FLASHRNN_FUSED_BWD_WK>;

// warp columns synchronise on named barriers 1..WK (ids 0..15)
static_assert(FwdGemm::kWM == 1 || FwdGemm::kWK < 16, "forward: named barriers 1..FWD_WK (ids 0..15)");
static_assert(kNSlice == 1 || BwdGemm::kWM == 1 || BwdGemm::kWK < 16,
              "backward: named barriers 1..BWD_WK (ids 0..15)");

// ---------------------------------------------------------------- pointwise ownership
// (unit, batch row) pairs per thread of the backward; the forward's sit on kFwdLanes lanes of each
// warp: 30 with the packed exchange (every 6-unit chunk then sits in one warp), else 32
constexpr int kPPT = cdiv(kU * kBT, kThreads);
constexpr bool kFwdPack = kNSlice > 1 && FRNN_FWD_XCH == 1;
constexpr int kFwdLanes = kFwdPack ? 30 : 32;
constexpr int kFwdPPT = cdiv(kU * kBT, kFwdLanes * kWarps);

// ---------------------------------------------------------------- variants
constexpr bool kFastMath = FRNN_FAST_MATH;
constexpr bool kWxRing = FRNN_WX_RING;
constexpr int kWxStages = FRNN_WX_STAGES;
static_assert(!kWxRing || kWxStages >= 2, "FRNN_WX_STAGES must be at least 2");
constexpr int kPollGroup = FRNN_POLL_GROUP;
constexpr bool kFwdPollBar = FRNN_FWD_POLL_BAR;
constexpr bool kBwdAcquire = FRNN_BWD_ACQ;
constexpr bool kBwdBulk = FRNN_BWD_BULK;
constexpr int kDsmE = FRNN_DSM_E;
// the backward's exchange within one cluster (FRNN_BWD_DSM) is built for this tiling
constexpr bool kBwdDsmFits = kBT * kG * kD * kESize <= FRNN_BWD_DSM_BYTES;
// prefetch depths (steps) of the per-step global inputs: as deep as a register allowance of ~150
// minus R's fragments and the accumulators allows, at most 4 / 3; forward with one block: 1
#ifdef FRNN_FWD_PF
constexpr int kFwdPF = FRNN_FWD_PF;
#else
constexpr int kFwdPF =
    kNSlice == 1 ? 1
                 : clamp((150 - 4 * FwdGemm::kMTW * FwdGemm::kKSW -
                          4 * FwdGemm::kNCH * FwdGemm::kMTW * kNTile) / (kFwdPPT * kG), 1, 4);
#endif
#ifdef FRNN_BWD_PF
constexpr int kBwdPF = FRNN_BWD_PF;
#else
constexpr int kBwdPF = clamp((150 - 4 * BwdGemm::kMTW * BwdGemm::kKSW -
                              4 * BwdGemm::kNCH * BwdGemm::kMTW * kNTile) / (kPPT * (2 * kS + kGC)),
                             1, 3);
#endif

// ---------------------------------------------------------------- shared memory (bytes)
// forward: operand tile | partial sums (twice, by step parity, when NSLICE > 1: a warp column
// may run the next step's GEMM while slower warps still read this step's sums) | the input-gate
// ring [STAGES][BT][G][U] (FRNN_WX_RING). The tile holds plain elements, [BT][XROW] (the cluster
// kernel: two of them, by step parity); its request is the size of a tile of tagged words with
// rows padded by 32 bytes, which two plain tiles fit exactly.
constexpr int kFwdTileBytes = kBT * (FwdGemm::kKPad + 32 / kWordBytes) * kWordBytes;
constexpr int kFwdSumsBytes = (kNSlice > 1 ? 2 : 1) * FwdGemm::kSums * 4;
constexpr int kFwdRingBytes = kWxRing ? kWxStages * kBT * kG * kU * kESize : 0;
constexpr int kFwdSmem = kFwdTileBytes + kFwdSumsBytes + kFwdRingBytes;
// backward: operand tile [BT][XROW] | partial sums; the cluster kernel: two tiles, then the sums
constexpr int kBwdTileBytes = kBT * BwdGemm::kXRow * kESize;
constexpr int kBwdSumsBytes = BwdGemm::kSums * 4;
constexpr int kBwdSmem = kBwdTileBytes + kBwdSumsBytes;
constexpr int kBwdSmemDsm = 2 * kBwdTileBytes + kBwdSumsBytes;

static_assert(2 * kBT * FwdGemm::kXRow * kESize <= kFwdTileBytes,
              "two plain forward tiles fit the requested operand bytes");

}  // namespace frnn
