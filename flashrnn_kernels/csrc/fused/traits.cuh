// Kernel traits: the defines of config.cuh as constexpr values, the element type, the tile sizes
// derived from them and the shared-memory layout, with static_asserts on what the kernels rely on.
#pragma once
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include "../fixed_width.cuh"

#include "../cells_generated.cuh"
#include "config.cuh"

namespace frnn {

__host__ __device__ constexpr int cdiv(int a, int b) { return (a + b - 1) / b; }

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
// Per step a block multiplies M rows of its slice of R (A fragments) by K operand values of each
// of BT batch rows (B fragments from shared memory) on a WM x WK grid of warps; each warp runs NCH
// independent accumulator chains over its K steps (up to 8 tiles in flight) and stores its partial
// sums [GROWS][BT+1] for its warp column (gemm.cuh). A warp keeps the A fragments of its first
// KSR K steps in registers and those of the other KSS in shared memory, 16 bytes per lane and
// fragment ([warp][MTW][KSS][32] uint4: a warp reads 512 contiguous bytes per fragment).
constexpr int kGS = kBT + 1;  // row stride of the partial sums (floats)
template <int M, int K, int WM, int WK, int NCH, int KSR>
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
  static constexpr int kNCH = NCH;  // independent accumulator chains per warp
  static_assert(NCH >= 1, "at least one accumulator chain");
  static constexpr int kKSR = KSR;                 // K steps per warp with R in registers
  static constexpr int kKSS = kKSW - KSR;          // ... with R in shared memory
  static constexpr int kKSRA = KSR > 0 ? KSR : 1;  // (the register array's extent)
  static_assert(KSR >= 0 && KSR <= kKSW, "R's register K steps lie within the warp's K steps");
  // bytes of shared memory holding R beyond the registers, over the block's warps
  static constexpr int kRBytes = WM * WK * kMTW * kKSS * 32 * 16;
};
// forward: rows = G*U gate rows (row g*U + u: gate g of unit u), K = D
using FwdGemm = Gemm<kG * kU, kD, FLASHRNN_FUSED_FWD_WM, FLASHRNN_FUSED_FWD_WK, FRNN_FWD_NCH, FRNN_FWD_KSR>;
// backward: rows = U units, K = G*D (R transposed; column g*D + d)
using BwdGemm = Gemm<kU, kG * kD, FLASHRNN_FUSED_BWD_WM, FLASHRNN_FUSED_BWD_WK, FRNN_BWD_NCH, FRNN_BWD_KSR>;

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
// prefetch depths (steps) of the per-step global inputs
constexpr int kFwdPF = FRNN_FWD_PF;
constexpr int kBwdPF = FRNN_BWD_PF;
static_assert(kFwdPF >= 1 && kBwdPF >= 1 && kPollGroup >= 1, "prefetch depths and poll groups of at least 1");

// ---------------------------------------------------------------- shared memory (bytes)
// What the model requests for each kernel and each region of it; the kernels lay the regions out
// one after the other in this order.
// forward: operand tile | partial sums (twice, by step parity, when NSLICE > 1: a warp column
// may run the next step's GEMM while slower warps still read this step's sums) | the input-gate
// ring [STAGES][BT][G][U] (FRNN_WX_RING) | the fragments of R beyond the registers
// (FRNN_SMEM_FWD_R, FwdGemm::kRBytes). The tile holds plain elements, [BT][XROW] (the cluster
// kernel: two of them, by step parity); the model's request is the size of a tile of tagged
// words with rows padded by 32 bytes.
constexpr int kFwdTileBytes = FRNN_SMEM_FWD_TILE;
constexpr int kFwdSumsBytes = FRNN_SMEM_FWD_SUMS;
constexpr int kFwdRingBytes = FRNN_SMEM_FWD_RING;
constexpr int kFwdRBytes = FRNN_SMEM_FWD_R;
constexpr int kFwdSmem = FRNN_SMEM_FWD;
static_assert(kFwdSmem == kFwdTileBytes + kFwdSumsBytes + kFwdRingBytes + kFwdRBytes,
              "forward: the request is its regions (FRNN_SMEM_FWD == _TILE + _SUMS + _RING + _R)");
static_assert(kFwdRBytes == FwdGemm::kRBytes,
              "forward: FRNN_SMEM_FWD_R holds the fragments of R beyond FRNN_FWD_KSR K steps per warp");
static_assert((kFwdTileBytes + kFwdSumsBytes + kFwdRingBytes) % 16 == 0,
              "forward: R's fragments are 16-byte aligned");
static_assert(2 * kBT * FwdGemm::kXRow * kESize <= kFwdTileBytes,
              "forward: two plain operand tiles [BT][XROW] fit FRNN_SMEM_FWD_TILE");
static_assert(kFwdTileBytes % 16 == 0, "forward: the tile is zeroed, and the sums follow it, in 16-byte chunks");
static_assert(kFwdSumsBytes == (kNSlice > 1 ? 2 : 1) * FwdGemm::kSums * 4,
              "forward: FRNN_SMEM_FWD_SUMS holds the partial sums [WK][GROWS][BT+1] (x2 by step parity when NSLICE > 1)");
static_assert(!kWxRing || kFwdRingBytes >= kWxStages * kBT * kG * kU * kESize,
              "forward: FRNN_SMEM_FWD_RING holds the input-gate ring [STAGES][BT][G][U]");
static_assert(!kWxRing || (kFwdTileBytes + kFwdSumsBytes) % 16 == 0,
              "forward: the ring's cp.async chunks are 16-byte aligned");
// backward: operand tile [BT][XROW] | partial sums | the fragments of R^T beyond the registers;
// the cluster kernel: two tiles, then the sums and R^T
constexpr int kBwdTileBytes = FRNN_SMEM_BWD_TILE;
constexpr int kBwdSumsBytes = FRNN_SMEM_BWD_SUMS;
constexpr int kBwdRBytes = FRNN_SMEM_BWD_R;
constexpr int kBwdSmem = FRNN_SMEM_BWD;
constexpr int kBwdSmemDsm = FRNN_SMEM_BWD_DSM;
static_assert(kBwdSmem == kBwdTileBytes + kBwdSumsBytes + kBwdRBytes,
              "backward: the request is its regions (FRNN_SMEM_BWD == _TILE + _SUMS + _R)");
static_assert(kBwdSmemDsm == 2 * kBwdTileBytes + kBwdSumsBytes + kBwdRBytes,
              "backward, cluster kernel: two tiles, the sums and R (FRNN_SMEM_BWD_DSM == 2 * _TILE + _SUMS + _R)");
static_assert(kBwdRBytes == BwdGemm::kRBytes,
              "backward: FRNN_SMEM_BWD_R holds the fragments of R^T beyond FRNN_BWD_KSR K steps per warp");
static_assert(kBwdTileBytes == kBT * BwdGemm::kXRow * kESize,
              "backward: FRNN_SMEM_BWD_TILE holds the operand tile [BT][XROW] of plain elements");
static_assert(kBwdTileBytes % 16 == 0, "backward: the tiles are zeroed, and the sums follow them, in 16-byte chunks");
static_assert(kBwdSumsBytes == BwdGemm::kSums * 4,
              "backward: FRNN_SMEM_BWD_SUMS holds the partial sums [WK][GROWS][BT+1]");

}  // namespace frnn
