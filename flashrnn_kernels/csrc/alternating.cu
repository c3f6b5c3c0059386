// Alternating backend: one pointwise kernel per time step (forward and backward), for every cell
// of cells_generated.cuh and float32 / float16 / bfloat16 storage (arithmetic in float32).
// Compiles with nvcc alone: no torch headers, no defines needed (every cell and dtype is
// instantiated). The block size is an argument of the launchers (the alternating tiling model,
// flashrnn_kernels/tiling/alternating.cint, chooses it per problem), at most kMaxThreads.
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>
#ifndef __CUDACC_RTC__
#include <atomic>  // host launchers (NVRTC has no standard library)
#include <type_traits>
#endif

#include "alternating.h"
#include "cells_generated.cuh"
#include "export_table.cuh"

namespace flashrnn {
namespace alternating {
namespace {

constexpr int kMaxThreads = 1024;  // threads per block at most (every CUDA GPU allows this many)

// The fused forward step (fused_forward_kernel): a block computes kFusedCols consecutive d of one
// head for every gate (one 16 x 8 tile of R h per gate and 16 batch rows), its kFusedWarps warps
// taking turns over the reduction dimension in chunks of kFusedK.
constexpr int kFusedCols = 8;
constexpr int kFusedK = 32;
constexpr int kFusedWarps = 8;
constexpr int kFusedThreads = 32 * kFusedWarps;
constexpr int kFusedRows = 16;  // batch rows per tensor-core tile
// Chunks of R per warp loaded before waiting for the previous step (launched as a programmatic
// dependent, a step's grid starts while the previous one runs; R does not depend on it).
constexpr int kFusedPrefetch = 2;
// The step with its own input product (input_forward_kernel) prefetches one chunk of W_ih as
// well: with two, it needs 150 registers per thread (ptxas, LSTM, sm_90a) and one block fills an
// SM; with one and two blocks asked for per SM, 128 and no spills, so a waiting next step fits
// beside it. Before sm_90 steps do not overlap, and two blocks per SM would spill (sm_80).
constexpr int kInputPrefetch = 1;
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ < 900
constexpr int kInputMinBlocks = 1;
#else
constexpr int kInputMinBlocks = 2;
#endif
// It stages the chunks after those (R's, then W_ih's) in shared memory as well, up to
// kInputStageSlots per warp, by cp.async before waiting: each lane copies the 16 bytes per gate
// it later reads, so that after the wait only h and x come from global memory where the three
// prefetched and kInputStageSlots staged chunks of every warp cover D + I (up to 1792 inputs;
// 768 + 768 needs 3 slots). Dynamic shared memory, kInputStageBytes per gate (LSTM: 64 KB, and 32
// KB of partial sums: two blocks still fit an SM of sm_90).
constexpr int kInputStageSlots = 4;
constexpr int kInputStageBytes = kInputStageSlots * kFusedWarps * 32 * 16;
// The backward step's product runs over G times as many chunks (all gates' columns of R^T), one
// load of R^T each: it prefetches more of them and then loads kFusedBwdBatch chunks at a time, so
// that few L2 round trips are in series.
constexpr int kFusedBwdPrefetch = 4;
constexpr int kFusedBwdBatch = 4;

template <typename T> __device__ __forceinline__ float load(const T* p);
template <> __device__ __forceinline__ float load<float>(const float* p) { return *p; }
template <> __device__ __forceinline__ float load<__half>(const __half* p) { return __half2float(*p); }
template <> __device__ __forceinline__ float load<__nv_bfloat16>(const __nv_bfloat16* p) {
  return __bfloat162float(*p);
}

template <typename T> __device__ __forceinline__ void store(T* p, float v);
template <> __device__ __forceinline__ void store<float>(float* p, float v) { *p = v; }
template <> __device__ __forceinline__ void store<__half>(__half* p, float v) { *p = __float2half_rn(v); }
template <> __device__ __forceinline__ void store<__nv_bfloat16>(__nv_bfloat16* p, float v) {
  *p = __float2bfloat16_rn(v);
}

template <typename T>
__device__ __forceinline__ T* at(const View& v, int64_t i0, int64_t i1, int64_t i2, int64_t i3 = 0) {
  return static_cast<T*>(v.ptr) + i0 * v.st[0] + i1 * v.st[1] + i2 * v.st[2] + i3 * v.st[3];
}

// Gate pre-activations of element (b, n, d): input side xg (Wx + input biases) and recurrent side
// rg (R h + recurrent biases), in float32.
template <int CELL, typename T>
__device__ __forceinline__ void gather_gates(const View& wx, const View& rh, const View& bias, int b, int n,
                                             int d, float (&xg)[CellDef<CELL>::kGates],
                                             float (&rg)[CellDef<CELL>::kGates]) {
  using C = CellDef<CELL>;
#pragma unroll
  for (int g = 0; g < C::kGates; ++g) {
    xg[g] = load(at<const T>(wx, b, g, n, d));
    rg[g] = load(at<const T>(rh, n, b, g, d));
  }
#pragma unroll
  for (int j = 0; j < C::kBias; ++j) {
    const float v = load(at<const T>(bias, j, n, d));
    if (C::bias_side(j) == 0) {
      xg[C::bias_gate(j)] += v;
    } else {
      rg[C::bias_gate(j)] += v;
    }
  }
}

}  // namespace

// The kernels have external linkage: NVRTC builds look them up by their lowered names.
template <int CELL, typename T>
__global__ void __launch_bounds__(kMaxThreads) forward_kernel(const ForwardStepArgs a) {
  using C = CellDef<CELL>;
  const int64_t idx = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (idx >= static_cast<int64_t>(a.B) * a.N * a.D) return;
  const int d = static_cast<int>(idx % a.D);
  const int n = static_cast<int>((idx / a.D) % a.N);
  const int b = static_cast<int>(idx / (static_cast<int64_t>(a.D) * a.N));

  float xg[C::kGates], rg[C::kGates], s[C::kStates], s_new[C::kStates];
  gather_gates<CELL, T>(a.wx, a.rh, a.bias, b, n, d, xg, rg);
#pragma unroll
  for (int k = 0; k < C::kStates; ++k) s[k] = load(at<const T>(a.s_prev, k, b, n, d));

  C::template forward<float>(xg, rg, s, s_new);

#pragma unroll
  for (int k = 0; k < C::kStates; ++k) store(at<T>(a.s_out, k, b, n, d), s_new[k]);
  store(at<T>(a.h_next, n, b, d), s_new[0]);
}

template <int CELL, typename T>
__global__ void __launch_bounds__(kMaxThreads) backward_kernel(const BackwardStepArgs a) {
  using C = CellDef<CELL>;
  const int64_t idx = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (idx >= static_cast<int64_t>(a.B) * a.N * a.D) return;
  const int d = static_cast<int>(idx % a.D);
  const int n = static_cast<int>((idx / a.D) % a.N);
  const int b = static_cast<int>(idx / (static_cast<int64_t>(a.D) * a.N));

  float xg[C::kGates], rg[C::kGates], s[C::kStates], ds[C::kStates];
  gather_gates<CELL, T>(a.wx, a.rh, a.bias, b, n, d, xg, rg);
#pragma unroll
  for (int k = 0; k < C::kStates; ++k) {
    s[k] = load(at<const T>(a.s_prev, k, b, n, d));
    ds[k] = load(at<const T>(a.grad_s, k, b, n, d)) + *at<const float>(a.carry, k, n, b, d);
  }
  if (a.dh_rec.ptr != nullptr) ds[0] += load(at<const T>(a.dh_rec, n, b, d));

  float dxg[C::kGates], drg[C::kGates], ds_prev[C::kStates];
  C::template backward<float>(xg, rg, s, ds, dxg, drg, ds_prev);

#pragma unroll
  for (int g = 0; g < C::kGates; ++g) {
    store(at<T>(a.dwx, b, g, n, d), dxg[g]);
    store(at<T>(a.dg, n, b, g, d), drg[g]);
  }
#pragma unroll
  for (int k = 0; k < C::kStates; ++k) *at<float>(a.carry, k, n, b, d) = ds_prev[k];
}

namespace {

// D = A B + D on tensor cores, m16n8k16, float32 accumulators; A row-major, B column-major, two
// 16-bit values per register (mma.sync, sm_80 and later). One specialisation per input type,
// named in PTX by `ptx_type`.
template <typename T>
__device__ __forceinline__ void mma16816(float (&d)[4], uint32_t a0, uint32_t a1, uint32_t a2, uint32_t a3,
                                         uint32_t b0, uint32_t b1);
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
#define FRNN_MMA16816_BODY(ptx_type)                                                                  \
  asm volatile("mma.sync.aligned.m16n8k16.row.col.f32." ptx_type "." ptx_type                         \
               ".f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};\n"                         \
               : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])                                       \
               : "r"(a0), "r"(a1), "r"(a2), "r"(a3), "r"(b0), "r"(b1))
#else
#define FRNN_MMA16816_BODY(ptx_type) __trap()
#endif
#define FRNN_MMA16816(T, ptx_type)                                                                    \
  template <>                                                                                         \
  __device__ __forceinline__ void mma16816<T>(float (&d)[4], uint32_t a0, uint32_t a1, uint32_t a2,   \
                                              uint32_t a3, uint32_t b0, uint32_t b1) {                \
    FRNN_MMA16816_BODY(ptx_type);                                                                     \
  }
FRNN_MMA16816(__nv_bfloat16, "bf16")
FRNN_MMA16816(__half, "f16")
#undef FRNN_MMA16816
#undef FRNN_MMA16816_BODY

// Thread (grp, tig)'s accumulators of an m16n8 product into the 16 x 8 tile `p` (the fragment
// layout of mma.sync: rows grp and grp + 8, columns 2 tig and 2 tig + 1).
__device__ __forceinline__ void store_fragment(float (&p)[kFusedRows][kFusedCols], const float (&acc)[4], int grp,
                                               int tig) {
  p[grp][2 * tig] = acc[0];
  p[grp][2 * tig + 1] = acc[1];
  p[grp + 8][2 * tig] = acc[2];
  p[grp + 8][2 * tig + 1] = acc[3];
}

// Eight consecutive 16-bit values from global memory (16-byte aligned), or zeros for a null row.
__device__ __forceinline__ uint4 load8(const void* p) {
  return p == nullptr ? make_uint4(0, 0, 0, 0) : __ldg(static_cast<const uint4*>(p));
}

// load8 of row[i..i+7], zeros for a null row (a batch row past B).
template <typename T>
__device__ __forceinline__ uint4 load_row8(const T* row, int i) {
  return load8(row == nullptr ? nullptr : row + i);
}

// One chunk of kFusedK = 32 inputs: thread tig holds inputs tig*8 + 0..7 of its A rows (a: batch
// row grp, b: row grp + 8) and of its B column (w) and feeds 0..3 to one m16n8k16 product and
// 4..7 to the next (a dot product's order of inputs is free, so A and B only need to agree).
template <typename T>
__device__ __forceinline__ void mma_chunk(float (&acc)[4], const uint4& a, const uint4& b, const uint4& w) {
  mma16816<T>(acc, a.x, b.x, a.y, b.y, w.x, w.y);
  mma16816<T>(acc, a.z, b.z, a.w, b.w, w.z, w.w);
}

// Where a thread of a fused step's block (N * D / kFusedCols blocks of kFusedThreads, block
// n * D / kFusedCols + x owning units [x*kFusedCols, (x+1)*kFusedCols) of head n) works: its warp,
// its group and index in the group (the mma.sync fragments), the block's head and first unit, and
// the tile element (row, column, unit d) whose cell it runs, if `owner` (the first
// kFusedRows * kFusedCols threads; the others only multiply).
struct FusedPlace {
  int warp, grp, tig, n, d0, e_row, e_col, d;
  bool owner;
};

__device__ __forceinline__ FusedPlace fused_place(int D) {
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
  const int grp = lane >> 2, tig = lane & 3;
  const int tiles = D / kFusedCols;
  const int n = blockIdx.x / tiles, d0 = (blockIdx.x % tiles) * kFusedCols;
  const int e_row = threadIdx.x / kFusedCols, e_col = threadIdx.x % kFusedCols;
  return {warp, grp, tig, n, d0, e_row, e_col, d0 + e_col, threadIdx.x < kFusedRows * kFusedCols};
}

// Programmatic dependent launch (sm_90+; no-ops before, and without the launch attribute): let
// the next step's grid launch now / wait until the previous step's grid has finished and its
// writes are visible.
__device__ __forceinline__ void launch_next_step() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  asm volatile("griddepcontrol.launch_dependents;" ::: "memory");
#endif
}
__device__ __forceinline__ void wait_previous_step() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  asm volatile("griddepcontrol.wait;" ::: "memory");
#endif
}

// The first kFusedPrefetch chunks of warp `warp` of operand w (g, n, o, i) for column `col` of
// every gate: inputs c * kFusedK + tig * 8 + 0..7 of chunks c = warp, warp + kFusedWarps, ...,
// zeros past `width` (a multiple of 8).
template <int P, int G, typename T>
__device__ __forceinline__ void prefetch_chunks(uint4 (&pre)[P][G], const View& w, int n, int col, int width,
                                                int warp, int tig) {
#pragma unroll
  for (int j = 0; j < P; ++j) {
    const int i = (warp + j * kFusedWarps) * kFusedK + tig * 8;
#pragma unroll
    for (int g = 0; g < G; ++g) pre[j][g] = load8(i < width ? at<const T>(w, g, n, col, i) : nullptr);
  }
}

// How many of a warp's chunks of an operand `width` inputs wide come after its first P.
template <int P>
__device__ __forceinline__ int chunks_after(int width) {
  const int per_warp = (width + kFusedK * kFusedWarps - 1) / (kFusedK * kFusedWarps);
  return per_warp > P ? per_warp - P : 0;
}

// The chunks P, P + 1, ... P + slots - 1 of warp `warp` of operand w (as prefetch_chunks) into
// `stage` ([slot][gate][lane], 16 bytes each) by cp.async, zeros past `width`; the lane copies
// the values it reads (warp_product), so that waiting for its own copies (cp.async.wait_all) is
// all it needs before reading them.
template <int P, int G, typename T>
__device__ __forceinline__ void stage_chunks(uint4* stage, int slots, const View& w, int n, int col, int width,
                                             int warp, int tig) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
  const int lane = threadIdx.x & 31;
  for (int j = 0; j < slots; ++j) {
    const int i = (warp + (P + j) * kFusedWarps) * kFusedK + tig * 8;
#pragma unroll
    for (int g = 0; g < G; ++g) {
      const unsigned dst = static_cast<unsigned>(__cvta_generic_to_shared(stage + (j * G + g) * 32 + lane));
      const void* src = i < width ? static_cast<const void*>(at<const T>(w, g, n, col, i)) : w.ptr;
      asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;" ::"r"(dst), "l"(src),
                   "r"(i < width ? 16 : 0) : "memory");
    }
  }
#endif
}

__device__ __forceinline__ void wait_staged() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
  asm volatile("cp.async.wait_all;" ::: "memory");
#endif
}

// acc[g] += rows ha, hb (the A operand; null past B) times column `col` of gate g of w, over the
// `width` inputs of the warp's chunks (as prefetch_chunks; its first ones from `pre`, the next
// `slots` from `stage` (stage_chunks), the others from global memory). kTail: width may end
// inside a chunk (else it is a multiple of kFusedK, and no lane's inputs need a check).
template <int P, int G, typename T, bool kTail, bool kStaged = false>
__device__ __forceinline__ void warp_product(float (&acc)[G][4], const T* ha, const T* hb, const View& w, int n,
                                             int col, int width, int warp, int tig, const uint4 (&pre)[P][G],
                                             const uint4* stage = nullptr, int slots = 0) {
#pragma unroll
  for (int j = 0; j < P; ++j) {
    const int c = warp + j * kFusedWarps;
    if (c * kFusedK < width) {  // the same for the whole warp: mma.sync needs every lane
      const int i = c * kFusedK + tig * 8;
      const bool in = !kTail || i < width;  // a thread's 8 inputs lie all before or all past width
      const uint4 va = load_row8(in ? ha : nullptr, i), vb = load_row8(in ? hb : nullptr, i);
#pragma unroll
      for (int g = 0; g < G; ++g) mma_chunk<T>(acc[g], va, vb, pre[j][g]);
    }
  }
  int c = warp + P * kFusedWarps;
  if constexpr (kStaged) {
    const int lane = threadIdx.x & 31;
    for (int j = 0; j < slots && c * kFusedK < width; ++j, c += kFusedWarps) {
      const int i = c * kFusedK + tig * 8;
      const bool in = !kTail || i < width;
      const uint4 va = load_row8(in ? ha : nullptr, i), vb = load_row8(in ? hb : nullptr, i);
#pragma unroll
      for (int g = 0; g < G; ++g) mma_chunk<T>(acc[g], va, vb, stage[(j * G + g) * 32 + lane]);
    }
  }
#pragma unroll 2
  for (; c * kFusedK < width; c += kFusedWarps) {
    const int i = c * kFusedK + tig * 8;
    const bool in = !kTail || i < width;
    const uint4 va = load_row8(in ? ha : nullptr, i), vb = load_row8(in ? hb : nullptr, i);
    uint4 wv[G];
#pragma unroll
    for (int g = 0; g < G; ++g) wv[g] = load8(in ? at<const T>(w, g, n, col, i) : nullptr);
#pragma unroll
    for (int g = 0; g < G; ++g) mma_chunk<T>(acc[g], va, vb, wv[g]);
  }
}

// v rounded to the storage type T (what a product written in T and read back gives).
template <typename T>
__device__ __forceinline__ float rounded(float v) {
  T t;
  store(&t, v);
  return load(static_cast<const T*>(&t));
}

}  // namespace

// A whole forward step in one launch (the grid of fused_place). For each tile of kFusedRows
// batch rows:
//   1. every thread of the tile's elements (row, col) loads its Wx and previous states
//      (overlapping the product below);
//   2. warp w multiplies h_prev (s_prev[0], rows of the tile) by R's columns of this block for
//      every gate, over the chunks w, w + kFusedWarps, ... of kFusedK inputs (mma_chunk), each
//      thread loading 16 bytes of h and of R per chunk; given x (inference), it multiplies the
//      tile's rows of x by W_ih's columns likewise, into separate accumulators;
//   3. the warps' partial sums meet in shared memory; each element's recurrent pre-activations
//      are rounded to the storage dtype (what rh keeps for the backward, as the GEMM path does),
//      written to rh, and the cell runs as in forward_kernel. With x, the input side W_ih x + b_ih
//      is rounded to the storage dtype as a GEMM's output would be, and b_hh joins R h.
template <int CELL, typename T, bool kWithX>
__device__ __forceinline__ void fused_forward_body(const ForwardStepArgs& a) {
  using C = CellDef<CELL>;
  constexpr int G = C::kGates;
  __shared__ float part[kFusedWarps][G][kFusedRows][kFusedCols];
  __shared__ float part_x[kWithX ? kFusedWarps : 1][G][kFusedRows][kFusedCols];
  const auto [warp, grp, tig, n, d0, e_row, e_col, d, owner] = fused_place(a.D);

  // before the previous step ends: the warp's first chunks of R (and of W_ih), which it does not write
  uint4 pre[kFusedPrefetch][G], pre_x[kInputPrefetch][G];
  prefetch_chunks<kFusedPrefetch, G, T>(pre, a.r, n, d0 + grp, a.D, warp, tig);
  if constexpr (kWithX) prefetch_chunks<kInputPrefetch, G, T>(pre_x, a.w_ih, n, d0 + grp, a.I, warp, tig);
  // with x: the next chunks of R, then of W_ih, staged in shared memory (kInputStageSlots per warp)
  extern __shared__ uint4 staged[];
  const int slots_r = kWithX ? min(chunks_after<kFusedPrefetch>(a.D), kInputStageSlots) : 0;
  const int slots_x = kWithX ? min(chunks_after<kInputPrefetch>(a.I), kInputStageSlots - slots_r) : 0;
  uint4* const stage_r = staged + warp * kInputStageSlots * G * 32;
  uint4* const stage_x = stage_r + slots_r * G * 32;
  if constexpr (kWithX) {
    stage_chunks<kFusedPrefetch, G, T>(stage_r, slots_r, a.r, n, d0 + grp, a.D, warp, tig);
    stage_chunks<kInputPrefetch, G, T>(stage_x, slots_x, a.w_ih, n, d0 + grp, a.I, warp, tig);
  }
  launch_next_step();
  wait_previous_step();
  if constexpr (kWithX) wait_staged();

  for (int b0 = 0; b0 < a.B; b0 += kFusedRows) {
    const int b = b0 + e_row;
    const bool live = owner && b < a.B;
    float xg[G], rg[G], s[C::kStates], s_new[C::kStates];
    if (live) {
#pragma unroll
      for (int g = 0; g < G; ++g) {
        xg[g] = kWithX ? 0.f : load(at<const T>(a.wx, b, g, n, d));
        rg[g] = 0.f;
      }
#pragma unroll
      for (int k = 0; k < C::kStates; ++k) s[k] = load(at<const T>(a.s_prev, k, b, n, d));
    }

    float acc[G][4];
#pragma unroll
    for (int g = 0; g < G; ++g) acc[g][0] = acc[g][1] = acc[g][2] = acc[g][3] = 0.f;
    const int ra = b0 + grp, rb = b0 + grp + 8;
    // (R's width D is a multiple of kFusedK; the per-lane checks in the step with x are only
    // for its registers: without them ptxas spills there, with them it does in the time loop)
    warp_product<kFusedPrefetch, G, T, kWithX, kWithX>(
        acc, ra < a.B ? at<const T>(a.s_prev, 0, ra, n, 0) : nullptr,
        rb < a.B ? at<const T>(a.s_prev, 0, rb, n, 0) : nullptr, a.r, n, d0 + grp, a.D, warp, tig, pre, stage_r,
        slots_r);
#pragma unroll
    for (int g = 0; g < G; ++g) store_fragment(part[warp][g], acc[g], grp, tig);
    if constexpr (kWithX) {
#pragma unroll
      for (int g = 0; g < G; ++g) acc[g][0] = acc[g][1] = acc[g][2] = acc[g][3] = 0.f;
      warp_product<kInputPrefetch, G, T, true, true>(
          acc, ra < a.B ? at<const T>(a.x, ra, 0, 0) : nullptr, rb < a.B ? at<const T>(a.x, rb, 0, 0) : nullptr,
          a.w_ih, n, d0 + grp, a.I, warp, tig, pre_x, stage_x, slots_x);
#pragma unroll
      for (int g = 0; g < G; ++g) store_fragment(part_x[warp][g], acc[g], grp, tig);
    }
    __syncthreads();
    if (live) {
#pragma unroll
      for (int g = 0; g < G; ++g) {
        float sum = 0.f;
#pragma unroll
        for (int w2 = 0; w2 < kFusedWarps; ++w2) sum += part[w2][g][e_row][e_col];
        if (!kWithX || a.rh.ptr != nullptr) {
          T* out = at<T>(a.rh, n, b, g, d);
          store(out, sum);
          rg[g] = load(static_cast<const T*>(out));  // the rounded value, as the backward reads it
        } else {
          rg[g] = rounded<T>(sum);
        }
        if constexpr (kWithX) {
          float sum_x = a.b_ih.ptr != nullptr ? load(at<const T>(a.b_ih, g, n, d)) : 0.f;
#pragma unroll
          for (int w2 = 0; w2 < kFusedWarps; ++w2) sum_x += part_x[w2][g][e_row][e_col];
          xg[g] = rounded<T>(sum_x);
        }
        if (kWithX && a.b_hh.ptr != nullptr) rg[g] += load(at<const T>(a.b_hh, g, n, d));
      }
      if (!kWithX || a.bias.ptr != nullptr) {
#pragma unroll
        for (int j = 0; j < C::kBias; ++j) {
          const float v = load(at<const T>(a.bias, j, n, d));
          if (C::bias_side(j) == 0) {
            xg[C::bias_gate(j)] += v;
          } else {
            rg[C::bias_gate(j)] += v;
          }
        }
      }
      C::template forward<float>(xg, rg, s, s_new);
#pragma unroll
      for (int k = 0; k < C::kStates; ++k) store(at<T>(a.s_out, k, b, n, d), s_new[k]);
      if (a.h_next.ptr != nullptr) store(at<T>(a.h_next, n, b, d), s_new[0]);
    }
    __syncthreads();  // part is reused by the next tile
  }
}

template <int CELL, typename T>
__global__ void __launch_bounds__(kFusedThreads) fused_forward_kernel(const ForwardStepArgs a) {
  fused_forward_body<CELL, T, false>(a);
}

// The fused forward step with its own input product (x_t and W_ih given: inference, T = 1).
template <int CELL, typename T>
__global__ void __launch_bounds__(kFusedThreads, kInputMinBlocks) input_forward_kernel(const ForwardStepArgs a) {
  fused_forward_body<CELL, T, true>(a);
}

// A whole backward step in one launch, the grid of fused_forward_kernel. For each tile of
// kFusedRows batch rows: the tile's elements load what backward_kernel reads; the warps compute
// dh_rec = R^T dg_next for the block's kFusedCols columns d (over the G*D inputs (g, o), in
// chunks of kFusedK as in the forward; a chunk lies in one gate, D being a multiple of kFusedK),
// rounded to the storage dtype as the product of the other path; then the cell's backward as in
// backward_kernel. At the last step (dg_next null) there is no product.
template <int CELL, typename T>
__global__ void __launch_bounds__(kFusedThreads) fused_backward_kernel(const BackwardStepArgs a) {
  using C = CellDef<CELL>;
  constexpr int G = C::kGates;
  __shared__ float part[kFusedWarps][kFusedRows][kFusedCols];
  const auto [warp, grp, tig, n, d0, e_row, e_col, d, owner] = fused_place(a.D);
  const int chunks = G * a.D / kFusedK;
  const bool product = a.dg_next.ptr != nullptr;

  // before the previous step ends: the warp's first kFusedBwdPrefetch chunks of R^T
  uint4 pre[kFusedBwdPrefetch];
#pragma unroll
  for (int j = 0; j < kFusedBwdPrefetch; ++j) {
    const int c = warp + j * kFusedWarps;
    const int k = c * kFusedK + tig * 8, g = k / a.D;
    pre[j] = load8(product && c < chunks ? at<const T>(a.rt, g, n, d0 + grp, k - g * a.D) : nullptr);
  }
  launch_next_step();
  wait_previous_step();

  for (int b0 = 0; b0 < a.B; b0 += kFusedRows) {
    const int b = b0 + e_row;
    const bool live = owner && b < a.B;
    float xg[G], rg[G], s[C::kStates], ds[C::kStates];
    if (live) {
      gather_gates<CELL, T>(a.wx, a.rh, a.bias, b, n, d, xg, rg);
#pragma unroll
      for (int k = 0; k < C::kStates; ++k) {
        s[k] = load(at<const T>(a.s_prev, k, b, n, d));
        ds[k] = load(at<const T>(a.grad_s, k, b, n, d)) + *at<const float>(a.carry, k, n, b, d);
      }
    }
    if (product) {
      float acc[4] = {0.f, 0.f, 0.f, 0.f};
      const int ra = b0 + grp, rb = b0 + grp + 8;
      const T* ga = ra < a.B ? at<const T>(a.dg_next, n, ra, 0, 0) : nullptr;
      const T* gb = rb < a.B ? at<const T>(a.dg_next, n, rb, 0, 0) : nullptr;
      {
        uint4 va[kFusedBwdPrefetch], vb[kFusedBwdPrefetch];
#pragma unroll
        for (int j = 0; j < kFusedBwdPrefetch; ++j) {
          const int c = warp + j * kFusedWarps, k = c * kFusedK + tig * 8;
          va[j] = c < chunks ? load_row8(ga, k) : make_uint4(0, 0, 0, 0);
          vb[j] = c < chunks ? load_row8(gb, k) : make_uint4(0, 0, 0, 0);
        }
#pragma unroll
        for (int j = 0; j < kFusedBwdPrefetch; ++j) mma_chunk<T>(acc, va[j], vb[j], pre[j]);
      }
      // the rest, kFusedBwdBatch chunks of the warp at a time: all their loads, then the products
      for (int c0 = warp + kFusedBwdPrefetch * kFusedWarps; c0 < chunks; c0 += kFusedBwdBatch * kFusedWarps) {
        uint4 va[kFusedBwdBatch], vb[kFusedBwdBatch], w[kFusedBwdBatch];
#pragma unroll
        for (int j = 0; j < kFusedBwdBatch; ++j) {
          const int c = c0 + j * kFusedWarps, k = c * kFusedK + tig * 8;
          const int g = k / a.D, o = k - g * a.D;  // input (g, o); dg_next's row is g*D + o
          const bool in = c < chunks;
          va[j] = in ? load_row8(ga, k) : make_uint4(0, 0, 0, 0);
          vb[j] = in ? load_row8(gb, k) : make_uint4(0, 0, 0, 0);
          w[j] = load8(in ? at<const T>(a.rt, g, n, d0 + grp, o) : nullptr);
        }
#pragma unroll
        for (int j = 0; j < kFusedBwdBatch; ++j) mma_chunk<T>(acc, va[j], vb[j], w[j]);
      }
      store_fragment(part[warp], acc, grp, tig);
      __syncthreads();
      if (live) {
        float sum = 0.f;
#pragma unroll
        for (int w2 = 0; w2 < kFusedWarps; ++w2) sum += part[w2][e_row][e_col];
        T rounded;
        store(&rounded, sum);
        ds[0] += load(static_cast<const T*>(&rounded));
      }
      __syncthreads();  // part is reused by the next tile
    }
    if (live) {
      float dxg[G], drg[G], ds_prev[C::kStates];
      C::template backward<float>(xg, rg, s, ds, dxg, drg, ds_prev);
#pragma unroll
      for (int g = 0; g < G; ++g) {
        store(at<T>(a.dwx, b, g, n, d), dxg[g]);
        store(at<T>(a.dg, n, b, g, d), drg[g]);
      }
#pragma unroll
      for (int k = 0; k < C::kStates; ++k) *at<float>(a.carry, k, n, b, d) = ds_prev[k];
    }
  }
}

#ifndef __CUDACC_RTC__  // host launchers: nvcc builds only
namespace {

inline unsigned blocks_for(int B, int N, int D, int threads) {
  const int64_t total = static_cast<int64_t>(B) * N * D;
  return static_cast<unsigned>((total + threads - 1) / threads);
}

template <int CELL, typename T>
cudaError_t launch_forward(const ForwardStepArgs& a, int threads, cudaStream_t stream) {
  forward_kernel<CELL, T><<<blocks_for(a.B, a.N, a.D, threads), threads, 0, stream>>>(a);
  return cudaGetLastError();
}

template <int CELL, typename T>
cudaError_t launch_backward(const BackwardStepArgs& a, int threads, cudaStream_t stream) {
  backward_kernel<CELL, T><<<blocks_for(a.B, a.N, a.D, threads), threads, 0, stream>>>(a);
  return cudaGetLastError();
}

template <int CELL>
cudaError_t forward_dtype(int dtype, const ForwardStepArgs& a, int threads, cudaStream_t stream) {
  switch (dtype) {
    case kFloat32: return launch_forward<CELL, float>(a, threads, stream);
    case kFloat16: return launch_forward<CELL, __half>(a, threads, stream);
    case kBFloat16: return launch_forward<CELL, __nv_bfloat16>(a, threads, stream);
    default: return cudaErrorInvalidValue;
  }
}

template <int CELL>
cudaError_t backward_dtype(int dtype, const BackwardStepArgs& a, int threads, cudaStream_t stream) {
  switch (dtype) {
    case kFloat32: return launch_backward<CELL, float>(a, threads, stream);
    case kFloat16: return launch_backward<CELL, __half>(a, threads, stream);
    case kBFloat16: return launch_backward<CELL, __nv_bfloat16>(a, threads, stream);
    default: return cudaErrorInvalidValue;
  }
}

bool threads_ok(int threads) { return threads >= 32 && threads <= kMaxThreads && threads % 32 == 0; }

// Allows kKernel `smem` bytes of dynamic shared memory on the current device (above 48 KB this
// needs the attribute), once per device.
template <typename Args, void (*kKernel)(Args)>
cudaError_t allow_smem(int smem) {
  static std::atomic<unsigned long long> done{0};  // bit d: set on device d (d < 64)
  int device = 0;
  cudaError_t err = cudaGetDevice(&device);
  if (err != cudaSuccess) return err;
  const unsigned long long bit = device < 64 ? 1ull << device : 0;
  if (bit & done.load(std::memory_order_relaxed)) return cudaSuccess;
  err = cudaFuncSetAttribute(kKernel, cudaFuncAttributeMaxDynamicSharedMemorySize, smem);
  if (err == cudaSuccess) done.fetch_or(bit, std::memory_order_relaxed);
  return err;
}

// A fused step's launch, N * D / kFusedCols blocks of kFusedThreads with `smem` bytes of dynamic
// shared memory (allowed first where it is not 0): kHalf for float16, kBf16 for bfloat16;
// `overlap`: as a programmatic dependent of the work before it on the stream (sm_90+).
template <typename Args, void (*kHalf)(Args), void (*kBf16)(Args)>
cudaError_t launch_fused(int dtype, const Args& a, cudaStream_t stream, int overlap, int smem = 0) {
  void (*kernel)(Args) = nullptr;
  cudaError_t err = cudaSuccess;
  switch (dtype) {
    case kFloat16: kernel = kHalf; if (smem > 0) err = allow_smem<Args, kHalf>(smem); break;
    case kBFloat16: kernel = kBf16; if (smem > 0) err = allow_smem<Args, kBf16>(smem); break;
    default: return cudaErrorInvalidValue;
  }
  if (err != cudaSuccess) return err;
  cudaLaunchConfig_t cfg = {};
  cfg.gridDim = dim3(static_cast<unsigned>(a.D / kFusedCols) * a.N);
  cfg.blockDim = dim3(kFusedThreads);
  cfg.dynamicSmemBytes = static_cast<size_t>(smem);
  cfg.stream = stream;
  cudaLaunchAttribute attr[1];
  attr[0].id = cudaLaunchAttributeProgrammaticStreamSerialization;
  attr[0].val.programmaticStreamSerializationAllowed = 1;
  cfg.attrs = attr;
  cfg.numAttrs = overlap ? 1 : 0;
  return cudaLaunchKernelEx(&cfg, kernel, a);
}

// f(std::integral_constant<int, CELL>()) for the cell id `cell` (cudaErrorInvalidValue for an unknown id).
template <typename F>
cudaError_t with_cell(int cell, F&& f) {
  switch (cell) {
    case FLASHRNN_CELL_LSTM: return f(std::integral_constant<int, FLASHRNN_CELL_LSTM>());
    case FLASHRNN_CELL_GRU: return f(std::integral_constant<int, FLASHRNN_CELL_GRU>());
    case FLASHRNN_CELL_SLSTM: return f(std::integral_constant<int, FLASHRNN_CELL_SLSTM>());
    case FLASHRNN_CELL_ELMAN: return f(std::integral_constant<int, FLASHRNN_CELL_ELMAN>());
    case FLASHRNN_CELL_ELMAN_RELU: return f(std::integral_constant<int, FLASHRNN_CELL_ELMAN_RELU>());
    default: return cudaErrorInvalidValue;
  }
}

bool empty(int B, int N, int D) { return static_cast<int64_t>(B) * N * D == 0; }

}  // namespace

cudaError_t forward_step(int cell, int dtype, const ForwardStepArgs& a, int threads, cudaStream_t stream) {
  if (!threads_ok(threads)) return cudaErrorInvalidValue;
  if (empty(a.B, a.N, a.D)) return cudaSuccess;
  return with_cell(cell, [&](auto c) { return forward_dtype<decltype(c)::value>(dtype, a, threads, stream); });
}

cudaError_t backward_step(int cell, int dtype, const BackwardStepArgs& a, int threads, cudaStream_t stream) {
  if (!threads_ok(threads)) return cudaErrorInvalidValue;
  if (empty(a.B, a.N, a.D)) return cudaSuccess;
  return with_cell(cell, [&](auto c) { return backward_dtype<decltype(c)::value>(dtype, a, threads, stream); });
}

cudaError_t fused_forward_step(int cell, int dtype, const ForwardStepArgs& a, cudaStream_t stream, int overlap) {
  if (a.D % kFusedK != 0 || a.r.ptr == nullptr) return cudaErrorInvalidValue;
  if (a.x.ptr != nullptr && (a.I <= 0 || a.I % 8 != 0 || a.w_ih.ptr == nullptr)) return cudaErrorInvalidValue;
  if (empty(a.B, a.N, a.D)) return cudaSuccess;
  return with_cell(cell, [&](auto c) {
    constexpr int kCell = decltype(c)::value;
    if (a.x.ptr != nullptr) {
      return launch_fused<ForwardStepArgs, input_forward_kernel<kCell, __half>,
                          input_forward_kernel<kCell, __nv_bfloat16>>(dtype, a, stream, overlap,
                                                                      kInputStageBytes * CellDef<kCell>::kGates);
    }
    return launch_fused<ForwardStepArgs, fused_forward_kernel<kCell, __half>,
                        fused_forward_kernel<kCell, __nv_bfloat16>>(dtype, a, stream, overlap);
  });
}

cudaError_t fused_backward_step(int cell, int dtype, const BackwardStepArgs& a, cudaStream_t stream, int overlap) {
  if (a.D % kFusedK != 0 || a.rt.ptr == nullptr) return cudaErrorInvalidValue;
  if (empty(a.B, a.N, a.D)) return cudaSuccess;
  return with_cell(cell, [&](auto c) {
    constexpr int kCell = decltype(c)::value;
    return launch_fused<BackwardStepArgs, fused_backward_kernel<kCell, __half>,
                        fused_backward_kernel<kCell, __nv_bfloat16>>(dtype, a, stream, overlap);
  });
}

#endif  // __CUDACC_RTC__
}  // namespace alternating
}  // namespace flashrnn

// The layouts of the argument structs, for launches without the launchers below (NVRTC builds,
// which Python launches through the CUDA driver with its ctypes mirror, checked against these).
// At global scope with extern "C": the symbols keep these names in the cubin, and nvcc's host
// registration of device variables finds them.
namespace alt = flashrnn::alternating;
#define FRNN_ALT_FACTS                                                                       \
  {{"max_threads", alt::kMaxThreads, 0},     {"fused_cols", alt::kFusedCols, 0},             \
   {"fused_k", alt::kFusedK, 0},             {"fused_threads", alt::kFusedThreads, 0},       \
   {"fused_min_arch", 80, 0},                {"input_stage_bytes", alt::kInputStageBytes, 0}, \
   {"", 0, 0}}
extern "C" __device__ const FrnnExport frnn_alt_facts[] = FRNN_ALT_FACTS;
extern "C" __device__ const FrnnExport frnn_alt_view[] = {
    FRNN_ALT_VIEW(FRNN_EXPORT_FIELD){"", sizeof(alt::View), alignof(alt::View)}};
extern "C" __device__ const FrnnExport frnn_alt_forward_args[] = {
    FRNN_ALT_FORWARD_ARGS(FRNN_EXPORT_FIELD){"", sizeof(alt::ForwardStepArgs), alignof(alt::ForwardStepArgs)}};
extern "C" __device__ const FrnnExport frnn_alt_backward_args[] = {
    FRNN_ALT_BACKWARD_ARGS(FRNN_EXPORT_FIELD){"", sizeof(alt::BackwardStepArgs), alignof(alt::BackwardStepArgs)}};

#ifndef __CUDACC_RTC__
// ---- C launchers, called through ctypes (flashrnn_kernels/backends/alternating.py): the step's
// arguments by pointer, the block size, and the stream; the CUDA error code comes back (0: none)
extern "C" int frnn_alt_forward(int cell, int dtype, int threads,
                                const flashrnn::alternating::ForwardStepArgs* args, void* stream) {
  return static_cast<int>(
      flashrnn::alternating::forward_step(cell, dtype, *args, threads, static_cast<cudaStream_t>(stream)));
}

extern "C" int frnn_alt_fused_forward(int cell, int dtype, int overlap, const flashrnn::alternating::ForwardStepArgs* args,
                                      void* stream) {
  return static_cast<int>(
      flashrnn::alternating::fused_forward_step(cell, dtype, *args, static_cast<cudaStream_t>(stream), overlap));
}

extern "C" int frnn_alt_fused_backward(int cell, int dtype, int overlap, const flashrnn::alternating::BackwardStepArgs* args,
                                       void* stream) {
  return static_cast<int>(
      flashrnn::alternating::fused_backward_step(cell, dtype, *args, static_cast<cudaStream_t>(stream), overlap));
}

// The facts table above on the host (nvcc builds): the value of fact `name`, -1 if there is none.
extern "C" long long frnn_alt_fact(const char* name) {
  static const FrnnExport facts[] = FRNN_ALT_FACTS;
  for (const FrnnExport* f = facts; f->name[0] != 0; ++f) {
    int i = 0;
    while (name[i] != 0 && name[i] == f->name[i]) ++i;
    if (name[i] == 0 && f->name[i] == 0) return f->a;
  }
  return -1;
}

extern "C" int frnn_alt_backward(int cell, int dtype, int threads,
                                 const flashrnn::alternating::BackwardStepArgs* args, void* stream) {
  return static_cast<int>(
      flashrnn::alternating::backward_step(cell, dtype, *args, threads, static_cast<cudaStream_t>(stream)));
}
#endif  // __CUDACC_RTC__
