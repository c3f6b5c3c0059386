// Fused persistent RNN kernels (forward and backward) for LSTM, GRU, sLSTM and Elman cells.
//
// One launch runs all T steps. The recurrent matrix R of a head is split over FRNN_NSLICE thread
// blocks; each block owns FRNN_U hidden units (all gates of them) and keeps its slice of R in
// registers as tensor-core A fragments for the whole sequence. Per step a block multiplies its slice
// with the previous hidden state (forward) or with the gate gradients of the later step (backward),
// applies the cell's pointwise update for its units and publishes its part of the next operand.
//   FRNN_NSLICE == 1: the operand stays in shared memory; only block barriers (__syncthreads).
//   FRNN_NSLICE  > 1: the operand goes through global memory (L2): the forward as tagged words that
//                     readers poll until they carry the step's tag, the backward as plain data
//                     behind per-block step flags. The launch is cooperative so that all blocks
//                     are resident.
// Every tiling constant is a -D define; README.md beside this file lists them with their
// constraints. This file needs only the CUDA toolkit (no torch headers); the host side calls the
// extern "C" launchers at the end.
#include <cuda_runtime.h>
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <stdint.h>
#if (defined(FRNN_BWD_TIMING) && FRNN_BWD_TIMING) || (defined(FRNN_FWD_TIMING) && FRNN_FWD_TIMING)
#include <cstdio>
#endif


#include "../cells_generated.cuh"

// ---- the -D interface (README.md lists each with its constraints)
#ifndef FLASHRNN_CELL
#define FLASHRNN_CELL 0  // 0 LSTM, 1 GRU, 2 sLSTM, 3 Elman (cells_generated.cuh)
#endif
#ifndef FLASHRNN_DTYPE
#define FLASHRNN_DTYPE 0  // 0 bfloat16, 1 float16, 2 float32 (tf32 tensor cores)
#endif
#ifndef FLASHRNN_HEAD_DIM
#define FLASHRNN_HEAD_DIM 64
#endif
#ifndef FLASHRNN_FUSED_UNITS
#define FLASHRNN_FUSED_UNITS 64  // hidden units per block
#endif
#ifndef FLASHRNN_FUSED_NSLICE
#define FLASHRNN_FUSED_NSLICE 1  // blocks per (head, batch tile)
#endif
#ifndef FLASHRNN_FUSED_BT
#define FLASHRNN_FUSED_BT 16  // batch tile
#endif
#ifndef FLASHRNN_FUSED_FWD_WM
#define FLASHRNN_FUSED_FWD_WM 8  // forward: warps along gate rows
#endif
#ifndef FLASHRNN_FUSED_FWD_WK
#define FLASHRNN_FUSED_FWD_WK 1  // forward: warps along K (split-K)
#endif
#ifndef FLASHRNN_FUSED_BWD_WM
#define FLASHRNN_FUSED_BWD_WM 1
#endif
#ifndef FLASHRNN_FUSED_BWD_WK
#define FLASHRNN_FUSED_BWD_WK 8
#endif
#define FRNN_CELL FLASHRNN_CELL
#define FRNN_DTYPE FLASHRNN_DTYPE
#define FRNN_D FLASHRNN_HEAD_DIM
#define FRNN_U FLASHRNN_FUSED_UNITS
#define FRNN_NSLICE FLASHRNN_FUSED_NSLICE
#define FRNN_BT FLASHRNN_FUSED_BT
#define FRNN_FWD_WM FLASHRNN_FUSED_FWD_WM
#define FRNN_FWD_WK FLASHRNN_FUSED_FWD_WK
#define FRNN_BWD_WM FLASHRNN_FUSED_BWD_WM
#define FRNN_BWD_WK FLASHRNN_FUSED_BWD_WK

#define FRNN_NWARPS (FRNN_FWD_WM * FRNN_FWD_WK)
#define FRNN_NTHREADS (FRNN_NWARPS * 32)

#if FRNN_BWD_WM * FRNN_BWD_WK != FRNN_NWARPS
#error "FRNN_BWD_WM * FRNN_BWD_WK must equal FRNN_FWD_WM * FRNN_FWD_WK"
#endif
#if FRNN_BT % 8 != 0
#error "FRNN_BT must be a multiple of 8"
#endif
#if FRNN_U * FRNN_NSLICE < FRNN_D
#error "FRNN_U * FRNN_NSLICE must cover FRNN_D"
#endif

// ---------------------------------------------------------------- element type
#if FRNN_DTYPE == 0
typedef __nv_bfloat16 elem_t;
#define FRNN_KW 16
#define FRNN_ESIZE 2
#elif FRNN_DTYPE == 1
typedef __half elem_t;
#define FRNN_KW 16
#define FRNN_ESIZE 2
#else
typedef float elem_t;
#define FRNN_KW 8
#define FRNN_ESIZE 4
#endif

// ---------------------------------------------------------------- exchange words
// Blocks of one head publish h (forward) or the gate gradients (backward) of a step as tagged
// words: the value's bits in the low half, the step's tag in the high half, written with one
// store. A reader polls the words themselves until every tag is the step's, so one round trip
// through L2 both synchronises and moves the data (no separate barrier, no fence).
#if FRNN_DTYPE == 2
typedef unsigned long long xword_t;
#define FRNN_TAGSHIFT 32
#else
typedef uint32_t xword_t;
#define FRNN_TAGSHIFT 16
#endif
#define FRNN_TAGMASK ((1ull << FRNN_TAGSHIFT) - 1ull)

__device__ __forceinline__ float to_f(elem_t x) {
#if FRNN_DTYPE == 0
  return __bfloat162float(x);
#elif FRNN_DTYPE == 1
  return __half2float(x);
#else
  return x;
#endif
}
__device__ __forceinline__ elem_t from_f(float x) {
#if FRNN_DTYPE == 0
  return __float2bfloat16_rn(x);
#elif FRNN_DTYPE == 1
  return __float2half_rn(x);
#else
  return x;
#endif
}
__device__ __forceinline__ xword_t make_word(elem_t v, unsigned tag) {
#if FRNN_DTYPE == 2
  return ((unsigned long long)tag << 32) | (unsigned long long)__float_as_uint(v);
#else
  return ((uint32_t)tag << 16) | (uint32_t)(*reinterpret_cast<unsigned short*>(&v));
#endif
}
__device__ __forceinline__ void store_word(xword_t* p, xword_t w) {
#if FRNN_DTYPE == 2
  asm volatile("st.relaxed.gpu.global.b64 [%0], %1;" ::"l"(p), "l"(w) : "memory");
#else
  asm volatile("st.relaxed.gpu.global.b32 [%0], %1;" ::"l"(p), "r"(w) : "memory");
#endif
}

// ---------------------------------------------------------------- cells (cells_generated.cuh)
typedef flashrnn::CellDef<FRNN_CELL> Cell;
#define FRNN_G (Cell::kGates)
#define FRNN_S (Cell::kStates)
#define FRNN_GB (Cell::kBias)
// the forward stores the gate pre-activations for the backward: xg + rg per gate, or xg and rg
// apart for cells whose recurrent part enters separately (GRU)
#define FRNN_GC (Cell::kSeparateRecurrent ? 2 * Cell::kGates : Cell::kGates)

// ---------------------------------------------------------------- fast pointwise math
// FRNN_FAST_MATH (default 1): the cell code is instantiated with a float wrapper whose fr_exp,
// fr_sigmoid, fr_tanh and fr_logsigmoid (found by argument-dependent lookup) use ex2.approx /
// rcp.approx: a few instructions instead of ~20-40, absolute errors ~1e-7 (tanh as
// 1 - 2/(1 + e^2x), sigmoid as 1/(1 + e^-x)), far below bf16/fp16 rounding and tf32 products.
#ifndef FRNN_FAST_MATH
#define FRNN_FAST_MATH (FRNN_CELL != 2)
#endif
// prefetch distance (steps) of the per-step global inputs (forward: Wx; backward: states, their
// gradients, the cache): a step is shorter than a DRAM round trip, so one step ahead stalls
// (defaults: as deep as a register allowance of ~150 minus R's fragments and the accumulators
// allows, at most 4 / 3)
#define FRNN_CLAMP(x, lo, hi) ((x) < (lo) ? (lo) : ((x) > (hi) ? (hi) : (x)))
// (forward, one block per head: 1; measured on H100, 12x64: PF 4 1.65 ms, PF 1 1.23 ms; 1x768
// sliced: PF 4 2.09 ms, PF 1 2.24 ms)
#ifndef FRNN_FWD_PF
#if FRNN_NSLICE == 1
#define FRNN_FWD_PF 1
#else
#define FRNN_FWD_PF \
  FRNN_CLAMP((150 - 4 * F_MTW * F_KSW - 4 * F_NCH * F_MTW * FRNN_NT) / (F_PPT * FRNN_G), 1, 4)
#endif
#endif
#ifndef FRNN_BWD_PF
#define FRNN_BWD_PF                                                                     \
  FRNN_CLAMP((150 - 4 * B_MTW * B_KSW - 4 * B_NCH * B_MTW * FRNN_NT) /                  \
                 (FRNN_PPT * (2 * FRNN_S + FRNN_GC)), 1, 3)
#endif
// forward, one block per head: the input gates of the next FRNN_WX_STAGES - 1 steps are copied
// into a shared-memory ring with cp.async (16-byte chunks of a row's U units, so U * e % 16 == 0)
// instead of the register ring (measured on H100, LSTM 12x64 B16 bf16: one step ahead in
// registers, ~14% of the step stalled on that load; four steps ahead in registers was slower
// still). Default on where allowed; the host passes Wx 16-byte aligned.
#define FRNN_WX_RING_OK (FRNN_NSLICE == 1 && (FRNN_D * FRNN_ESIZE) % 16 == 0)
#ifndef FRNN_WX_RING
#define FRNN_WX_RING FRNN_WX_RING_OK
#endif
#if FRNN_WX_RING && !FRNN_WX_RING_OK
#error "FRNN_WX_RING needs FRNN_FUSED_NSLICE == 1 and head rows of whole 16-byte chunks"
#endif
#ifndef FRNN_WX_STAGES
#define FRNN_WX_STAGES 4
#endif
#if FRNN_WX_STAGES < 2
#error "FRNN_WX_STAGES must be at least 2"
#endif
// optional back-off (ns) between failed polls of the forward's tagged exchange
#ifndef FRNN_POLL_SLEEP
#define FRNN_POLL_SLEEP 0
#endif
// forward exchange format (NSLICE > 1):
//   0: one value per tagged word (32-bit words for 16-bit types, 64-bit for float32), rows in
//      unit order [D] words;
//   1: three 16-bit values + a 16-bit tag per 64-bit word (16-bit types, U % 6 == 0): each block
//      publishes its U units as U/6 16-byte chunks, rows [NSLICE][U/3] words (4/3 of the plain
//      bytes instead of 2x); the six values of a chunk are gathered from six lanes of one warp
//      with shuffles (the pointwise pairs then use 30 lanes of each warp, see F_LANES)
// default: 1 where allowed (measured on H100, LSTM 1x768 B16 bf16, bt 8: U 12 1.87 ms vs 2.08
// with 0; U 16, whose last chunk per slice was a third empty, lost: 2.40 vs 2.05)
#define FRNN_XCH1_OK (FRNN_DTYPE != 2 && FRNN_U % 6 == 0)
#ifndef FRNN_FWD_XCH
#define FRNN_FWD_XCH FRNN_XCH1_OK
#endif
#if FRNN_FWD_XCH == 1 && !FRNN_XCH1_OK
#error "FRNN_FWD_XCH=1 needs a 16-bit dtype and FRNN_FUSED_UNITS % 6 == 0"
#endif
// forward, NSLICE > 1: a block barrier before the poll, so that no warp polls while others still
// run the pointwise update (measured on H100, 1x768 B16 bf16, ms with / without: LSTM, packed
// exchange, 2.03 / 2.23; GRU, one value per word, 2.05 / 1.94): default on with the packed format
#ifndef FRNN_FWD_POLL_BAR
#define FRNN_FWD_POLL_BAR (FRNN_FWD_XCH == 1)
#endif
// load used to poll the forward exchange: 0 ld.volatile, 1 ld.relaxed.gpu
#ifndef FRNN_POLL_LD
#define FRNN_POLL_LD 0
#endif
// backward, NSLICE > 1: how the reader's poll of the step flags acquires the producers' data:
// 1 ld.acquire.gpu, 0 ld.relaxed.gpu and then one fence.acq_rel.gpu
#ifndef FRNN_BWD_ACQ
#define FRNN_BWD_ACQ 1
#endif
// backward, NSLICE > 1, on sm_90a (the build defines FRNN_SM90A): the operand rows are fetched by
// the bulk copy engine (cp.async.bulk, completing on an mbarrier) instead of per-thread cp.async;
// the launch groups up to FRNN_CLUSTER blocks of a head into a thread-block cluster and each
// block of a cluster fetches 1/C of the rows, multicast into the shared memory of all C blocks.
#ifndef FRNN_SM90A
#define FRNN_SM90A 0
#endif
#ifndef FRNN_BWD_BULK
#define FRNN_BWD_BULK (FRNN_SM90A && FRNN_NSLICE > 1)
#endif
#if FRNN_BWD_BULK && !FRNN_SM90A
#error "FRNN_BWD_BULK needs an sm_90a build (FRNN_SM90A)"
#endif
#ifndef FRNN_CLUSTER
#define FRNN_CLUSTER 16
#endif
// forward, NSLICE > 1, on sm_90a: a head whose NSLICE blocks fit one thread-block cluster (at most
// 16, a non-portable size above 8) may run as one cluster that exchanges h through distributed
// shared memory instead of L2: each block writes its units of h_t straight into the operand tile
// of every block of the cluster (st.async, 16-byte chunks where U and D allow), and the bytes
// themselves complete the receiver's mbarrier for that step (one per step parity, armed with the
// step's byte count). The build then holds both forward kernels; the launch takes the cluster
// one when the GPU holds the clusters of all (head, batch tile) pairs at once (frnn_fwd_cluster),
// else the L2 one.
#define FRNN_DSM_CHUNK_OK(e) (FRNN_U % (e) == 0 && FRNN_D % (e) == 0)
#if FRNN_ESIZE == 2
#define F_DSM_E (FRNN_DSM_CHUNK_OK(8) ? 8 : (FRNN_DSM_CHUNK_OK(4) ? 4 : (FRNN_DSM_CHUNK_OK(2) ? 2 : 0)))
#else
#define F_DSM_E (FRNN_DSM_CHUNK_OK(4) ? 4 : (FRNN_DSM_CHUNK_OK(2) ? 2 : 1))
#endif
#define FRNN_DSM_OK (FRNN_SM90A && FRNN_NSLICE > 1 && FRNN_NSLICE <= 16 && F_DSM_E > 0)
#ifndef FRNN_FWD_DSM
#define FRNN_FWD_DSM FRNN_DSM_OK
#endif
#if FRNN_FWD_DSM && !FRNN_DSM_OK
#error "FRNN_FWD_DSM needs an sm_90a build, 2 <= FRNN_FUSED_NSLICE <= 16 and U, D even (16-bit types)"
#endif
// backward, the same for its operand, the gate gradients (frnn_bwd_dsm): after the pointwise
// update each block stores its units' G gate gradients of step t straight into the operand tile of
// every block of the cluster (double-buffered by step parity, an mbarrier per buffer armed with
// the step's bytes): no flags, no fence, no L2 round trip. Taken at launch like the forward's
// (frnn_bwd_dsm_used), and only where a block receives at most FRNN_BWD_DSM_BYTES bytes per step
// (BT*G*D*e; the kernel is empty otherwise). Measured on H100, bf16, T 1024, backward kernel +
// reductions, ms, cluster / L2: Elman 3x256 B16 (4 KB) 1.01 / 1.87, GRU 3x256 B16 (12 KB) 2.16 /
// 2.55, LSTM 4x192 B16 (12 KB) 2.80 / 2.88, LSTM 3x256 B16 (16 KB) 2.64 / 2.60, LSTM 3x256 B64
// with BT 16 (32 KB) 5.96 / 5.73.
#ifndef FRNN_BWD_DSM
#define FRNN_BWD_DSM FRNN_DSM_OK
#endif
#ifndef FRNN_BWD_DSM_BYTES
#define FRNN_BWD_DSM_BYTES 12288
#endif
#if FRNN_BWD_DSM && !FRNN_DSM_OK
#error "FRNN_BWD_DSM needs an sm_90a build, 2 <= FRNN_FUSED_NSLICE <= 16 and U, D even (16-bit types)"
#endif
#if FRNN_BWD_DSM
// the backward's exchange within one cluster is built and taken
constexpr bool kBwdDsm = FRNN_BT * FRNN_G * FRNN_D * FRNN_ESIZE <= FRNN_BWD_DSM_BYTES;
#endif
// development: thread 0 of every 16th block of the backward (NSLICE > 1, bulk copies) prints the
// mean SM cycles per step from its flag publish to seeing all flags, from there to the data in
// shared memory, and from there to its next publish
#ifndef FRNN_BWD_TIMING
#define FRNN_BWD_TIMING 0
#endif
// development: lane 0 of each warp of blocks 0, 1, 16, 17, ... of the forward prints the mean SM
// cycles per step of each part of a step (TM_MARK(i) adds the time since the last mark to part i)
// and the poll's load rounds. ptxas may move a clock read across a barrier, so a barrier's wait
// can show in the next part (ncu placed 15% of the LSTM 1x768 B16 warp samples at the barrier after
// the GEMM, where this showed ~12 cycles and a ~900-cycle pointwise part).
#ifndef FRNN_FWD_TIMING
#define FRNN_FWD_TIMING 0
#endif
#if FRNN_FWD_TIMING
#define TM_MARK(i)                        \
  do {                                    \
    const long long tm_now_ = clock64();  \
    tm_part[i] += tm_now_ - tm_last;      \
    tm_last = tm_now_;                    \
  } while (0)
#else
#define TM_MARK(i) \
  do {             \
  } while (0)
#endif
namespace frnn_fm {
struct F {
  float v;
  F() = default;
  __device__ __forceinline__ F(float x) : v(x) {}
  __device__ __forceinline__ F(double x) : v((float)x) {}
};
__device__ __forceinline__ F operator+(F a, F b) { return F(a.v + b.v); }
__device__ __forceinline__ F operator-(F a, F b) { return F(a.v - b.v); }
__device__ __forceinline__ F operator*(F a, F b) { return F(a.v * b.v); }
__device__ __forceinline__ F operator/(F a, F b) { return F(a.v / b.v); }
__device__ __forceinline__ F operator-(F a) { return F(-a.v); }
__device__ __forceinline__ bool operator>=(F a, F b) { return a.v >= b.v; }
__device__ __forceinline__ bool operator<=(F a, F b) { return a.v <= b.v; }
__device__ __forceinline__ bool operator>(F a, F b) { return a.v > b.v; }
__device__ __forceinline__ bool operator<(F a, F b) { return a.v < b.v; }
__device__ __forceinline__ F fr_exp(F x) { return F(__expf(x.v)); }
__device__ __forceinline__ F fr_sigmoid(F x) { return F(__fdividef(1.f, 1.f + __expf(-x.v))); }
__device__ __forceinline__ F fr_tanh(F x) {
  return F(1.f - __fdividef(2.f, 1.f + __expf(2.f * x.v)));
}
__device__ __forceinline__ F fr_logsigmoid(F x) {
  return F(fminf(x.v, 0.f) - __logf(1.f + __expf(-fabsf(x.v))));
}
}  // namespace frnn_fm

template <int N>
__device__ __forceinline__ void fm_in(frnn_fm::F (&d)[N], const float (&s)[N]) {
#pragma unroll
  for (int i = 0; i < N; ++i) d[i] = frnn_fm::F(s[i]);
}
template <int N>
__device__ __forceinline__ void fm_out(float (&d)[N], const frnn_fm::F (&s)[N]) {
#pragma unroll
  for (int i = 0; i < N; ++i) d[i] = s[i].v;
}

__device__ __forceinline__ void cell_forward(const float (&xg)[FRNN_G], const float (&rg)[FRNN_G],
                                             const float (&s)[FRNN_S], float (&sn)[FRNN_S]) {
#if FRNN_FAST_MATH
  frnn_fm::F a[FRNN_G], b[FRNN_G], c[FRNN_S], d[FRNN_S];
  fm_in(a, xg); fm_in(b, rg); fm_in(c, s);
  Cell::forward(a, b, c, d);
  fm_out(sn, d);
#else
  Cell::forward(xg, rg, s, sn);
#endif
}

__device__ __forceinline__ void cell_backward(const float (&xg)[FRNN_G], const float (&rg)[FRNN_G],
                                              const float (&s)[FRNN_S], const float (&ds)[FRNN_S],
                                              float (&dxg)[FRNN_G], float (&drg)[FRNN_G],
                                              float (&dsp)[FRNN_S]) {
#if FRNN_FAST_MATH
  frnn_fm::F a[FRNN_G], b[FRNN_G], c[FRNN_S], e[FRNN_S], f[FRNN_G], g[FRNN_G], h[FRNN_S];
  fm_in(a, xg); fm_in(b, rg); fm_in(c, s); fm_in(e, ds);
  Cell::backward(a, b, c, e, f, g, h);
  fm_out(dxg, f); fm_out(drg, g); fm_out(dsp, h);
#else
  Cell::backward(xg, rg, s, ds, dxg, drg, dsp);
#endif
}

// ---------------------------------------------------------------- derived tiling
#define CDIV(a, b) (((a) + (b) - 1) / (b))
#define FRNN_NT (FRNN_BT / 8)
// forward GEMM: rows = G*U gate rows, K = D
#define F_M (FRNN_G * FRNN_U)
#define F_MT CDIV(F_M, 16)
#define F_MTW CDIV(F_MT, FRNN_FWD_WM)
#define F_KS CDIV(FRNN_D, FRNN_KW)
#define F_KSW CDIV(F_KS, FRNN_FWD_WK)
#define F_KPAD (F_KS * FRNN_KW)
// backward GEMM: rows = U units, K = G*D
#define B_M FRNN_U
#define B_MT CDIV(B_M, 16)
#define B_MTW CDIV(B_MT, FRNN_BWD_WM)
#define B_KS CDIV(FRNN_G * FRNN_D, FRNN_KW)
#define B_KSW CDIV(B_KS, FRNN_BWD_WK)
#define B_KPAD (B_KS * FRNN_KW)
// shared memory: operand tile [BT][KPAD + pad] of elem_t (the pad of 16 bytes keeps the fragment
// loads free of bank conflicts), gate partial sums [WK][MTW*WM*16][BT+1] of float.
// operand tiles hold tagged words (see "exchange" below); a row pad of 32 bytes keeps the
// fragment loads free of bank conflicts
#define FRNN_PADW (32 / (int)sizeof(xword_t))
#define F_SROW (F_KPAD + FRNN_PADW)
// the forward's tile now holds plain elements, rows padded by 16 bytes (the request keeps the
// tagged-word size above, F_SMEM_X >= BT * F_XROW * e, so the shared-memory formula is unchanged)
#define F_XROW (F_KPAD + 16 / (int)sizeof(elem_t))
#define F_SMEM_XPLAIN (FRNN_BT * F_XROW * (int)sizeof(elem_t))
// the backward's operand tile holds plain elements (its exchange synchronises with flags, see
// frnn_bwd), rows padded by 16 bytes against bank conflicts
#define B_XROW (B_KPAD + 16 / (int)sizeof(elem_t))
#define FRNN_GS (FRNN_BT + 1)
#define F_GROWS (F_MTW * FRNN_FWD_WM * 16)
#define B_GROWS (B_MTW * FRNN_BWD_WM * 16)
#define F_SMEM_X (FRNN_BT * F_SROW * (int)sizeof(xword_t))
#define B_SMEM_X (FRNN_BT * B_XROW * (int)sizeof(elem_t))
// gate partial sums of one step: [WK][GROWS][BT+1] floats; with NSLICE > 1 two of them, by step
// parity (a warp may run the next step's GEMM while slower warps still read this step's sums)
#define F_GSBUF (FRNN_FWD_WK * F_GROWS * FRNN_GS)
#define F_SMEM_GS ((FRNN_NSLICE > 1 ? 2 : 1) * F_GSBUF * 4)
// the input-gate ring (FRNN_WX_RING): [STAGES][BT][G][U] elements after the partial sums
#define F_SMEM_WX (FRNN_WX_RING ? FRNN_WX_STAGES * FRNN_BT * FRNN_G * FRNN_U * (int)sizeof(elem_t) : 0)
#define F_SMEM (F_SMEM_X + F_SMEM_GS + F_SMEM_WX)
#define B_SMEM (B_SMEM_X + FRNN_BWD_WK * B_GROWS * FRNN_GS * 4)
// frnn_bwd_dsm: two operand tiles (by step parity), then the partial sums
#define B_SMEM_DSM (B_SMEM + B_SMEM_X)
// pointwise work: (unit, batch) pairs per thread
#define FRNN_PPT CDIV(FRNN_U * FRNN_BT, FRNN_NTHREADS)
// the forward's pairs: lanes 0..F_LANES-1 of each warp, pair = warp*F_LANES + lane (+ rounds of
// F_LANES*NWARPS); with the packed exchange 30 lanes, so that every 6-unit chunk sits in one warp
#define F_PACK (FRNN_NSLICE > 1 && FRNN_FWD_XCH == 1)
#define F_LANES (F_PACK ? 30 : 32)
#define F_PPT CDIV(FRNN_U * FRNN_BT, F_LANES * FRNN_NWARPS)
// independent MMA accumulator chains per warp (split of its K steps), up to 8 tiles in flight
#define FRNN_NCH(mtw) ((mtw) * FRNN_NT >= 8 ? 1 : ((mtw) * FRNN_NT >= 4 ? 2 : 4))
#define F_NCH (F_KSW >= 2 * FRNN_NCH(F_MTW) ? FRNN_NCH(F_MTW) : 1)
#define B_NCH (B_KSW >= 2 * FRNN_NCH(B_MTW) ? FRNN_NCH(B_MTW) : 1)

// exported so that the host (and tests) can read what the kernel was built with
static_assert(F_SMEM_XPLAIN <= F_SMEM_X, "the plain forward tile fits the requested bytes");
static_assert(FRNN_FWD_WM == 1 || FRNN_FWD_WK < 16, "named barriers 1..FWD_WK (ids 0..15)");
extern "C" __host__ int frnn_smem_fwd() { return F_SMEM; }
extern "C" __host__ int frnn_smem_bwd() { return B_SMEM; }
extern "C" __host__ int frnn_nthreads() { return FRNN_NTHREADS; }
extern "C" __host__ int frnn_nslice() { return FRNN_NSLICE; }
extern "C" __host__ int frnn_bt() { return FRNN_BT; }
extern "C" __host__ int frnn_gc() { return FRNN_GC; }

// ---------------------------------------------------------------- tensor-core helpers
__device__ __forceinline__ uint32_t pack2(float lo, float hi) {
#if FRNN_DTYPE == 0
  __nv_bfloat162 v = __floats2bfloat162_rn(lo, hi);
  return *reinterpret_cast<uint32_t*>(&v);
#elif FRNN_DTYPE == 1
  __half2 v = __floats2half2_rn(lo, hi);
  return *reinterpret_cast<uint32_t*>(&v);
#else
  uint32_t r;
  asm("cvt.rna.tf32.f32 %0, %1;" : "=r"(r) : "f"(lo));
  return r;
#endif
}

__device__ __forceinline__ void mma(float* c, const uint32_t* a, const uint32_t* b) {
#if FRNN_DTYPE == 0
  asm volatile(
      "mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, "
      "{%8,%9}, {%0,%1,%2,%3};"
      : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
      : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]));
#elif FRNN_DTYPE == 1
  asm volatile(
      "mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, "
      "{%8,%9}, {%0,%1,%2,%3};"
      : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
      : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]));
#else
  asm volatile(
      "mma.sync.aligned.m16n8k8.row.col.f32.tf32.tf32.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, "
      "{%8,%9}, {%0,%1,%2,%3};"
      : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
      : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]));
#endif
}

// A fragment of the 16 x KW tile at (row0, k0) of a matrix given by an element functor.
template <class F>
__device__ __forceinline__ void load_afrag(uint32_t* a, int row0, int k0, F elem) {
  const int lane = threadIdx.x & 31, g = lane >> 2, q = lane & 3;
#if FRNN_DTYPE == 2
  a[0] = pack2(elem(row0 + g, k0 + q), 0.f);
  a[1] = pack2(elem(row0 + g + 8, k0 + q), 0.f);
  a[2] = pack2(elem(row0 + g, k0 + q + 4), 0.f);
  a[3] = pack2(elem(row0 + g + 8, k0 + q + 4), 0.f);
#else
  a[0] = pack2(elem(row0 + g, k0 + 2 * q), elem(row0 + g, k0 + 2 * q + 1));
  a[1] = pack2(elem(row0 + g + 8, k0 + 2 * q), elem(row0 + g + 8, k0 + 2 * q + 1));
  a[2] = pack2(elem(row0 + g, k0 + 2 * q + 8), elem(row0 + g, k0 + 2 * q + 9));
  a[3] = pack2(elem(row0 + g + 8, k0 + 2 * q + 8), elem(row0 + g + 8, k0 + 2 * q + 9));
#endif
}

// B fragment (KW x 8) at (k0, batch n0) from the operand tile xs[batch][k] of tagged words.
__device__ __forceinline__ void load_bfrag(uint32_t* b, const xword_t* xs, int srow, int n0, int k0) {
  const int lane = threadIdx.x & 31, g = lane >> 2, q = lane & 3;
  const xword_t* p = xs + (n0 + g) * srow + k0;
#if FRNN_DTYPE == 2
  b[0] = pack2(__uint_as_float((uint32_t)p[q]), 0.f);
  b[1] = pack2(__uint_as_float((uint32_t)p[q + 4]), 0.f);
#else
  uint2 lo = *reinterpret_cast<const uint2*>(p + 2 * q);
  uint2 hi = *reinterpret_cast<const uint2*>(p + 2 * q + 8);
  b[0] = __byte_perm(lo.x, lo.y, 0x5410);
  b[1] = __byte_perm(hi.x, hi.y, 0x5410);
#endif
}

// B fragment (KW x 8) at (k0, batch n0) from a tile xs[batch][k] of plain elements.
__device__ __forceinline__ void load_bfrag_plain(uint32_t* b, const elem_t* xs, int srow, int n0,
                                                 int k0) {
  const int lane = threadIdx.x & 31, g = lane >> 2, q = lane & 3;
  const elem_t* p = xs + (n0 + g) * srow + k0;
#if FRNN_DTYPE == 2
  b[0] = pack2(p[q], 0.f);
  b[1] = pack2(p[q + 4], 0.f);
#else
  b[0] = *reinterpret_cast<const uint32_t*>(p + 2 * q);
  b[1] = *reinterpret_cast<const uint32_t*>(p + 2 * q + 8);
#endif
}

// ---------------------------------------------------------------- flag exchange (backward)
__device__ __forceinline__ void cp_async16(void* smem_dst, const void* gsrc) {
  const unsigned d = (unsigned)__cvta_generic_to_shared(smem_dst);
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16;" ::"r"(d), "l"(gsrc) : "memory");
}
__device__ __forceinline__ void cp_async_commit() {
  asm volatile("cp.async.commit_group;" ::: "memory");
}
template <int N>
__device__ __forceinline__ void cp_async_wait() {
  asm volatile("cp.async.wait_group %0;" ::"n"(N) : "memory");
}
__device__ __forceinline__ void cp_async_wait_all() {
  asm volatile("cp.async.commit_group;\ncp.async.wait_group 0;" ::: "memory");
}
__device__ __forceinline__ unsigned ld_relaxed_u32(const unsigned* p) {
  unsigned v;
  asm volatile("ld.relaxed.gpu.global.u32 %0, [%1];" : "=r"(v) : "l"(p) : "memory");
  return v;
}
__device__ __forceinline__ unsigned ld_acquire_u32(const unsigned* p) {
  unsigned v;
  asm volatile("ld.acquire.gpu.global.u32 %0, [%1];" : "=r"(v) : "l"(p) : "memory");
  return v;
}
__device__ __forceinline__ void st_relaxed_u32(unsigned* p, unsigned v) {
  asm volatile("st.relaxed.gpu.global.u32 [%0], %1;" ::"l"(p), "r"(v) : "memory");
}
__device__ __forceinline__ void fence_acq_rel_gpu() {
  asm volatile("fence.acq_rel.gpu;" ::: "memory");
}
// backward, one warp: spin until all NSLICE step flags of the group are >= tag (all loads in
// flight at once)
__device__ __forceinline__ void poll_flags(const unsigned* flags, unsigned tag, int lane) {
  constexpr int NF = (FRNN_NSLICE + 31) / 32;
  bool ok;
  do {
    unsigned f[NF];
#pragma unroll
    for (int j = 0; j < NF; ++j)
      f[j] = lane + 32 * j < FRNN_NSLICE
                 ? (FRNN_BWD_ACQ ? ld_acquire_u32(flags + lane + 32 * j)
                                 : ld_relaxed_u32(flags + lane + 32 * j))
                 : tag;
    ok = true;
#pragma unroll
    for (int j = 0; j < NF; ++j) ok &= f[j] >= tag;
  } while (!__all_sync(0xffffffffu, ok));
}

#if FRNN_SM90A
// ---------------------------------------------------------------- bulk copies and clusters (sm_90a)
__device__ __forceinline__ unsigned smem_addr(const void* p) {
  return (unsigned)__cvta_generic_to_shared(p);
}
__device__ __forceinline__ unsigned cluster_rank() {
  unsigned r;
  asm volatile("mov.u32 %0, %%cluster_ctarank;" : "=r"(r));
  return r;
}
__device__ __forceinline__ unsigned cluster_size() {
  unsigned r;
  asm volatile("mov.u32 %0, %%cluster_nctarank;" : "=r"(r));
  return r;
}
__device__ __forceinline__ void cluster_sync_all() {
  asm volatile("barrier.cluster.arrive.release.aligned;\nbarrier.cluster.wait.acquire.aligned;" :::
                   "memory");
}
__device__ __forceinline__ void mbar_init(unsigned bar, unsigned count) {
  asm volatile("mbarrier.init.shared::cta.b64 [%0], %1;\nfence.mbarrier_init.release.cluster;" ::"r"(bar),
               "r"(count)
               : "memory");
}
__device__ __forceinline__ void mbar_arrive_expect_tx(unsigned bar, unsigned bytes) {
  asm volatile("mbarrier.arrive.expect_tx.shared::cta.b64 _, [%0], %1;" ::"r"(bar), "r"(bytes)
               : "memory");
}
__device__ __forceinline__ void mbar_wait(unsigned bar, unsigned parity) {
  asm volatile(
      "{\n.reg .pred p;\nFRNN_MBAR_WAIT:\n"
      "mbarrier.try_wait.parity.shared::cta.b64 p, [%0], %1;\n@!p bra FRNN_MBAR_WAIT;\n}" ::"r"(bar),
      "r"(parity)
      : "memory");
}
// global -> shared copy of `bytes` (a multiple of 16, both ends 16-byte aligned) completing on the
// mbarrier `bar`; with mask != 0 into the same offsets of every cluster block in the mask
__device__ __forceinline__ void bulk_copy(unsigned dst, const void* src, unsigned bytes,
                                          unsigned bar, unsigned short mask) {
  if (mask == 0) {
    asm volatile(
        "cp.async.bulk.shared::cluster.global.mbarrier::complete_tx::bytes [%0], [%1], %2, [%3];" ::
            "r"(dst), "l"(src), "r"(bytes), "r"(bar)
        : "memory");
  } else {
    asm volatile(
        "cp.async.bulk.shared::cluster.global.mbarrier::complete_tx::bytes.multicast::cluster"
        " [%0], [%1], %2, [%3], %4;" ::"r"(dst), "l"(src), "r"(bytes), "r"(bar), "h"(mask)
        : "memory");
  }
}
// lane 0 of the calling warp, once every flag is >= tag: rows crank, crank + csize, ... (< nb) of
// the operand, src_row apart in global memory, into the tile rows dst_row apart (all C blocks of
// the cluster with mask != 0); the mbarrier of each receiver expects all nb rows
__device__ __forceinline__ void fetch_rows(elem_t* xs, int dst_row, const elem_t* src, long src_row,
                                          int nb, unsigned row_bytes, unsigned bar, unsigned crank,
                                          unsigned csize, unsigned short mask) {
  // the rows were written by other blocks' ordinary stores; the copy engine reads them
  asm volatile("fence.proxy.async.global;" ::: "memory");
  for (int r = (int)crank; r < nb; r += (int)csize)
    bulk_copy(smem_addr(xs + (long)r * dst_row), src + r * src_row, row_bytes, bar, mask);
}
// the shared::cluster address of shared-memory address `addr` in cluster block `rank`
__device__ __forceinline__ unsigned cluster_addr(unsigned addr, unsigned rank) {
  unsigned r;
  asm volatile("mapa.shared::cluster.u32 %0, %1, %2;" : "=r"(r) : "r"(addr), "r"(rank));
  return r;
}
// store NWD 32-bit words at the shared::cluster address dst; their bytes complete the transaction
// count of the mbarrier at the shared::cluster address bar (in the same block as dst)
template <int NWD>
__device__ __forceinline__ void st_async_words(unsigned dst, const uint32_t (&w)[NWD], unsigned bar) {
  static_assert(NWD == 1 || NWD == 2 || NWD == 4, "st.async stores 1, 2 or 4 words");
  if constexpr (NWD == 4) {
    asm volatile(
        "st.async.shared::cluster.mbarrier::complete_tx::bytes.v4.b32 [%0], {%1, %2, %3, %4}, [%5];" ::
            "r"(dst), "r"(w[0]), "r"(w[1]), "r"(w[2]), "r"(w[3]), "r"(bar)
        : "memory");
  } else if constexpr (NWD == 2) {
    asm volatile("st.async.shared::cluster.mbarrier::complete_tx::bytes.v2.b32 [%0], {%1, %2}, [%3];" ::
                     "r"(dst), "r"(w[0]), "r"(w[1]), "r"(bar)
                 : "memory");
  } else {
    asm volatile("st.async.shared::cluster.mbarrier::complete_tx::bytes.b32 [%0], %1, [%2];" ::"r"(dst),
                 "r"(w[0]), "r"(bar)
                 : "memory");
  }
}
// wait for the phase of parity `parity` of a local mbarrier completed by other blocks' stores
__device__ __forceinline__ void mbar_wait_cluster(unsigned bar, unsigned parity) {
  asm volatile(
      "{\n.reg .pred p;\nFRNN_MBAR_WAIT_CL:\n"
      "mbarrier.try_wait.parity.acquire.cluster.shared::cta.b64 p, [%0], %1;\n"
      "@!p bra FRNN_MBAR_WAIT_CL;\n}" ::"r"(bar),
      "r"(parity)
      : "memory");
}
// The E lanes lane & ~(E-1) .. + E-1 of a warp hold E consecutive elements of one chunk of a tile
// row (e: this lane's element; `on` and col0, the chunk's first element in the tile, the same in
// all E lanes). Each gathers the chunk with shuffles and stores it at element col0 of the tile at
// shared-memory address buf in cluster ranks lane % E, lane % E + E, ... (< NSLICE), completing
// the transaction count of their mbarrier at the same address as `bar`.
template <int E>
__device__ __forceinline__ void dsm_send_chunk(elem_t e, bool on, int lane, unsigned buf, int col0,
                                               unsigned bar) {
  constexpr int NWD = E * FRNN_ESIZE / 4;
  const int base = lane & ~(E - 1);
  uint32_t v = 0;
  if (on) {
#if FRNN_ESIZE == 2
    v = *reinterpret_cast<const unsigned short*>(&e);
#else
    v = __float_as_uint(e);
#endif
  }
  uint32_t w[NWD];
#if FRNN_ESIZE == 2
  v |= __shfl_down_sync(0xffffffffu, v, 1) << 16;  // even lanes: elements k, k + 1
#pragma unroll
  for (int k = 0; k < NWD; ++k) w[k] = __shfl_sync(0xffffffffu, v, base + 2 * k);
#else
#pragma unroll
  for (int k = 0; k < NWD; ++k) w[k] = __shfl_sync(0xffffffffu, v, base + k);
#endif
  if (on) {
    const unsigned dst = buf + (unsigned)(col0 * FRNN_ESIZE);
    for (int r = lane - base; r < FRNN_NSLICE; r += E)
      st_async_words<NWD>(cluster_addr(dst, (unsigned)r), w, cluster_addr(bar, (unsigned)r));
  }
}
#endif

// ---------------------------------------------------------------- tagged tile exchange
__device__ __forceinline__ bool chunk_ok(uint4 c, unsigned tag) {
#if FRNN_DTYPE == 2
  return c.y == tag && c.w == tag;
#else
  return ((c.x ^ (tag << 16)) | (c.y ^ (tag << 16)) | (c.z ^ (tag << 16)) | (c.w ^ (tag << 16))) <
         (1u << 16);
#endif
}

__device__ __forceinline__ uint4 ld_poll16(const void* p) {
  uint4 v;
#if FRNN_POLL_LD == 1
  asm volatile("ld.relaxed.gpu.global.v4.u32 {%0,%1,%2,%3}, [%4];"
               : "=r"(v.x), "=r"(v.y), "=r"(v.z), "=r"(v.w) : "l"(p) : "memory");
#else
  asm volatile("ld.volatile.global.v4.u32 {%0,%1,%2,%3}, [%4];"
               : "=r"(v.x), "=r"(v.y), "=r"(v.z), "=r"(v.w) : "l"(p) : "memory");
#endif
  return v;
}

// forward exchange geometry (see FRNN_FWD_XCH)
#if FRNN_FWD_XCH == 1
typedef unsigned long long fxword_t;
#define FX_CPS (FRNN_U / 6)                 // 16-byte chunks per slice and row
#define FX_RW (FRNN_NSLICE * 2 * FX_CPS)    // words per row
#else
typedef xword_t fxword_t;
#define FX_RW FRNN_D
#endif
#define FX_WPC (16 / (int)sizeof(fxword_t))  // words per 16-byte chunk
static_assert(FX_RW % FX_WPC == 0, "exchange rows must be whole 16-byte chunks");

// The forward's warps of one column wk (FWD_WM of them) multiply the K range [f_klo, f_khi) of
// the operand; they poll and unpack just the exchange chunks [fx_clo, fx_chi) of each row that
// cover it, so a column starts its MMAs as soon as its producers have published.
__host__ __device__ constexpr int f_klo(int wk) { return wk * F_KSW * FRNN_KW; }
__host__ __device__ constexpr int f_khi(int wk) {
  return f_klo(wk + 1) < FRNN_D ? f_klo(wk + 1) : FRNN_D;
}
__host__ __device__ constexpr int fx_clo(int wk) {
#if FRNN_FWD_XCH == 1
  return f_klo(wk) / FRNN_U * FX_CPS;
#else
  return f_klo(wk) / FX_WPC;  // one value per word; f_klo(wk) % FX_WPC == 0 (KW is)
#endif
}
__host__ __device__ constexpr int fx_chi(int wk) {
#if FRNN_FWD_XCH == 1
  return f_khi(wk) <= f_klo(wk) ? fx_clo(wk) : ((f_khi(wk) - 1) / FRNN_U + 1) * FX_CPS;
#else
  return f_khi(wk) <= f_klo(wk) ? fx_clo(wk) : f_khi(wk) / FX_WPC;  // D % FX_WPC == 0
#endif
}
__host__ __device__ constexpr int fx_max_chunks() {
  int m = 0;
  for (int w = 0; w < FRNN_FWD_WK; ++w) m = fx_chi(w) - fx_clo(w) > m ? fx_chi(w) - fx_clo(w) : m;
  return m;
}

__device__ __forceinline__ bool fx_chunk_ok(uint4 c, unsigned tag) {
#if FRNN_FWD_XCH == 1
  return ((c.y ^ (tag << 16)) | (c.w ^ (tag << 16))) < (1u << 16);
#else
  return chunk_ok(c, tag);
#endif
}

// Unpack chunk cc of an exchange row into the plain tile row xr (elements), only the units in
// [klo, khi) (a chunk of the packed format may reach into the next warp column's range).
__device__ __forceinline__ void fx_chunk_store(elem_t* xr, int cc, uint4 v, int klo, int khi) {
#if FRNN_FWD_XCH == 1
  const int d0 = cc / FX_CPS * FRNN_U + 6 * (cc % FX_CPS);  // even, as are klo, khi and D
  const uint32_t w[3] = {v.x, __byte_perm(v.y, v.z, 0x5410), __byte_perm(v.z, v.w, 0x5432)};
  uint32_t* o = reinterpret_cast<uint32_t*>(xr + d0);  // 4-byte aligned
#pragma unroll
  for (int k = 0; k < 3; ++k)
    if (d0 + 2 * k >= klo && d0 + 2 * k < khi) o[k] = w[k];
#elif FRNN_DTYPE == 2
  *reinterpret_cast<float2*>(xr + 2 * cc) = make_float2(__uint_as_float(v.x), __uint_as_float(v.z));
#else
  *reinterpret_cast<uint2*>(xr + 4 * cc) =
      make_uint2(__byte_perm(v.x, v.y, 0x5410), __byte_perm(v.z, v.w, 0x5410));
#endif
}

// Copy warp column wk's chunks of rows [0, nb) of a global tile of exchange words (row stride
// row_stride words) into the plain smem tile, waiting until every word carries `tag`. The
// column's 32*FWD_WM threads (gt: index among them) each own fixed chunks and poll them in
// groups of FRNN_POLL_GROUP with all loads of a group in flight together (one L2 round trip per
// poll of a group, not one per chunk). Returns the number of load rounds.
#ifndef FRNN_POLL_GROUP
#define FRNN_POLL_GROUP 8
#endif
__device__ __forceinline__ int poll_range(elem_t* xs, const fxword_t* src, long row_stride,
                                           int nb, unsigned tag, int wk, int gt) {
  constexpr int GT = 32 * FRNN_FWD_WM;
  // chunks are numbered row * NCM + c with the largest column's count NCM (a compile-time divisor:
  // a division by the column's own count cost ~90 instructions per step, measured with ncu)
  constexpr int NCM = fx_max_chunks() > 0 ? fx_max_chunks() : 1;
  constexpr int CPT = CDIV(FRNN_BT * NCM, GT);
  constexpr int GRP = CPT < FRNN_POLL_GROUP ? CPT : FRNN_POLL_GROUP;
  const int clo = fx_clo(wk), nc = fx_chi(wk) - clo, klo = f_klo(wk), khi = f_khi(wk);
  int rounds = 0;
#pragma unroll 1
  for (int c0 = 0; c0 < CPT; c0 += GRP) {
    uint4 v[GRP];
    int row[GRP], cc[GRP];
    bool need[GRP];
#pragma unroll
    for (int j = 0; j < GRP; ++j) {
      const int idx = gt + (c0 + j) * GT;
      row[j] = idx / NCM;
      cc[j] = clo + idx % NCM;
      need[j] = c0 + j < CPT && row[j] < nb && cc[j] < clo + nc;
      v[j] = make_uint4(0, 0, 0, 0);
    }
    bool pending = true;
    while (pending) {
      ++rounds;
#pragma unroll
      for (int j = 0; j < GRP; ++j)
        if (need[j]) v[j] = ld_poll16(src + row[j] * row_stride + cc[j] * FX_WPC);
      pending = false;
#pragma unroll
      for (int j = 0; j < GRP; ++j) {
        if (need[j]) {
          if (fx_chunk_ok(v[j], tag)) {
            fx_chunk_store(xs + row[j] * F_XROW, cc[j], v[j], klo, khi);
            need[j] = false;
          } else {
            pending = true;
          }
        }
      }
#if FRNN_POLL_SLEEP > 0
      if (pending) __nanosleep(FRNN_POLL_SLEEP);
#endif
    }
  }
  return rounds;
}

// ---------------------------------------------------------------- parameters
struct FwdParams {
  const elem_t* wx;     // [B, T, G, N, D]
  const elem_t* R;      // [G, N, D, D]  (D_out, D_in)
  const elem_t* bias;   // [G, N, D]
  const elem_t* s0;     // [S, B, 1, N, D]
  elem_t* states;       // [S, B, T, N, D]
  elem_t* last;         // [S, B, 1, N, D]
  elem_t* cache;        // [B, T, GC, N, D] or null (inference)
  xword_t* xch;         // [2, Bpad, N, D] tagged words, zero at launch (NSLICE > 1)
  int B, T, N;
};

struct BwdParams {
  const elem_t* R;        // [G, N, D, D]
  const elem_t* s0;       // [S, B, 1, N, D]
  const elem_t* states;   // [S, B, T, N, D]  forward output
  const elem_t* cache;    // [B, T, GC, N, D]
  const elem_t* dstates;  // [S, B, T, N, D]  (gradient of the last state already added at T-1)
  elem_t* dgr;            // [B, T, G, N, D]  gradients of the recurrent-side pre-activations
  elem_t* dwx;            // [B, T, G, N, D]  input-side ones (only when they differ: GRU)
  elem_t* ds0;            // [S, B, 1, N, D]
  xword_t* xch;           // plain elements + flags (frnn_xch_bytes), zero at launch (NSLICE > 1)
  int B, T, N;
};

// ---------------------------------------------------------------- forward kernel
// The forward's body; DSM: the blocks of a head form one cluster and exchange h through
// distributed shared memory (frnn_fwd_dsm, see FRNN_FWD_DSM), else through L2 (frnn_fwd).
// The DSM tile is double-buffered by step parity: h_t lands in buffer t & 1 (h0 in buffer 1), and
// the mbarrier of buffer q sits in the pad of its row 0.
static_assert(2 * FRNN_BT * F_XROW * (int)sizeof(elem_t) <= F_SMEM_X,
              "two plain tiles fit the requested operand bytes");
template <bool DSM>
__device__ __forceinline__ void fwd_body(const FwdParams& p, unsigned char* smem) {
  // the pairs sit on 30 lanes with the packed L2 exchange, else on all 32
  constexpr int LANES = (!DSM && F_PACK) ? 30 : 32;
  constexpr int PPT = CDIV(FRNN_U * FRNN_BT, LANES * FRNN_NWARPS);
  elem_t* xs = reinterpret_cast<elem_t*>(smem);  // [BT][F_XROW] plain elements (DSM: two)
  float* gs = reinterpret_cast<float*>(smem + F_SMEM_X);
  fxword_t* xch = reinterpret_cast<fxword_t*>(p.xch);  // [2][Bpad][N][FX_RW] (NSLICE > 1)
#if FRNN_WX_RING
  elem_t* wxr = reinterpret_cast<elem_t*>(smem + F_SMEM_X + F_SMEM_GS);  // [STAGES][BT][G][U]
#endif

  const int slice = blockIdx.x % FRNN_NSLICE;
  const int grp = blockIdx.x / FRNN_NSLICE;
  const int n = grp % p.N;
  const int bt = grp / p.N;
  const int b0 = bt * FRNN_BT;
  const int nb = min(FRNN_BT, p.B - b0);
  const int u0 = slice * FRNN_U;
  const int B = p.B, T = p.T, N = p.N;
  const long ND = (long)N * FRNN_D;
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
  const int wm = warp % FRNN_FWD_WM, wk = warp / FRNN_FWD_WM;
  const long Bpad = (long)gridDim.x / (FRNN_NSLICE * N) * FRNN_BT;
  const elem_t* __restrict__ wxp = p.wx;
  elem_t* __restrict__ statesp = p.states;
  elem_t* __restrict__ cachep = p.cache;
#if FRNN_WX_RING
  // the ring's copies: this thread's 16-byte chunks (row bl, gate g, chunk k of the U units), their
  // source at step 0 and their place in a slot, fixed for the whole sequence
  constexpr int WX_CPR = FRNN_U * FRNN_ESIZE / 16;         // chunks per (row, gate)
  constexpr int WX_NCHUNK = FRNN_BT * FRNN_G * WX_CPR;
  constexpr int WX_CPT = CDIV(WX_NCHUNK, FRNN_NTHREADS);   // chunks per thread
  constexpr int WX_SLOT = FRNN_BT * FRNN_G * FRNN_U;       // elements per slot
  const elem_t* wx_src[WX_CPT];
  int wx_dst[WX_CPT];  // element offset in a slot, -1: no chunk
#pragma unroll
  for (int j = 0; j < WX_CPT; ++j) {
    const int c = threadIdx.x + j * FRNN_NTHREADS;
    const int bl = c / (FRNN_G * WX_CPR), g = (c / WX_CPR) % FRNN_G, k = c % WX_CPR;
    const int e0 = k * (16 / FRNN_ESIZE);
    const bool on = c < WX_NCHUNK && bl < nb;
    wx_dst[j] = on ? (bl * FRNN_G + g) * FRNN_U + e0 : -1;
    wx_src[j] = wxp + (on ? ((long)(b0 + bl) * T * FRNN_G + g) * ND + (long)n * FRNN_D + u0 + e0 : 0);
  }
  const long wx_step = (long)FRNN_G * ND;  // elements between the steps of one row
  // issue the copies of step ts into its slot, then commit one group (empty past the end, so that
  // every step commits exactly one)
  auto wx_issue = [&](int ts) {
    if (ts < T) {
      elem_t* slot = wxr + (ts % FRNN_WX_STAGES) * WX_SLOT;
      const long off = ts * wx_step;
#pragma unroll
      for (int j = 0; j < WX_CPT; ++j)
        if (wx_dst[j] >= 0) cp_async16(slot + wx_dst[j], wx_src[j] + off);
    }
    cp_async_commit();
  };
#endif

  // R slice as A fragments: row r = g*U + u (gate g of unit u0+u), column k = input unit
  uint32_t afr[F_MTW][F_KSW][4];
  {
    const elem_t* R = p.R;
    auto elem = [&](int r, int k) -> float {
      int g = r / FRNN_U, u = r % FRNN_U;
      if (r >= F_M || u0 + u >= FRNN_D || k >= FRNN_D) return 0.f;
      return to_f(R[(((long)g * N + n) * FRNN_D + (u0 + u)) * FRNN_D + k]);
    };
#pragma unroll
    for (int mt = 0; mt < F_MTW; ++mt)
#pragma unroll
      for (int ks = 0; ks < F_KSW; ++ks)
        load_afrag(afr[mt][ks], (wm * F_MTW + mt) * 16, (wk * F_KSW + ks) * FRNN_KW, elem);
  }

  // zero the operand tile (padding columns and missing batch rows stay zero)
  for (int i = threadIdx.x; i < F_SMEM_X / 16; i += FRNN_NTHREADS)
    reinterpret_cast<uint4*>(smem)[i] = make_uint4(0, 0, 0, 0);

  // pointwise ownership: pair = (unit u, batch row bl), unit fastest, on lanes 0..LANES-1
  float st[PPT][FRNN_S];
  float xb[PPT][FRNN_G], rb[PPT][FRNN_G];  // biases summed per gate and side
  elem_t wxn[FRNN_FWD_PF][PPT][FRNN_G];  // ring: slot t % PF holds step t
  bool valid[PPT];
  int pu[PPT], pb[PPT];
#pragma unroll
  for (int i = 0; i < PPT; ++i) {
    const int pr = warp * LANES + lane + i * LANES * FRNN_NWARPS;
    pu[i] = pr % FRNN_U;
    pb[i] = pr / FRNN_U;
    valid[i] = lane < LANES && pr < FRNN_U * FRNN_BT && u0 + pu[i] < FRNN_D && pb[i] < nb;
    const int d = u0 + pu[i], b = b0 + pb[i];
#pragma unroll
    for (int s = 0; s < FRNN_S; ++s)
      st[i][s] = valid[i] ? to_f(p.s0[((long)s * B + b) * ND + (long)n * FRNN_D + d]) : 0.f;
#pragma unroll
    for (int g = 0; g < FRNN_G; ++g) xb[i][g] = rb[i][g] = 0.f;
#pragma unroll
    for (int j = 0; j < FRNN_GB; ++j) {
      float v = valid[i] ? to_f(p.bias[((long)j * N + n) * FRNN_D + d]) : 0.f;
      if (Cell::bias_side(j) == 0) xb[i][Cell::bias_gate(j)] += v;
      else rb[i][Cell::bias_gate(j)] += v;
    }
#pragma unroll
    for (int j = 0; j < FRNN_FWD_PF; ++j)
#pragma unroll
      for (int g = 0; g < FRNN_G; ++g)
        wxn[j][i][g] = !FRNN_WX_RING && valid[i] && j < T
                           ? wxp[(((long)b * T + j) * FRNN_G + g) * ND + (long)n * FRNN_D + d]
                           : from_f(0.f);
  }
  __syncthreads();
  // h0 into the tile (DSM: buffer 1, which step 0 reads)
  elem_t* const xs0 = xs + (DSM ? FRNN_BT * F_XROW : 0);
  for (int idx = threadIdx.x; idx < nb * FRNN_D; idx += FRNN_NTHREADS) {
    const int r = idx / FRNN_D, k = idx % FRNN_D;
    xs0[r * F_XROW + k] = p.s0[(long)(b0 + r) * ND + (long)n * FRNN_D + k];
  }
#if FRNN_FWD_DSM
  // DSM: the bytes of h_t every block receives per step; the mbarriers of both buffers armed for
  // their first step before any block of the cluster may write (the cluster barrier below)
  const unsigned dsm_bytes = (unsigned)(nb * FRNN_D * FRNN_ESIZE);
  auto dsm_bar = [&](int q) { return smem_addr(xs + q * FRNN_BT * F_XROW + F_KPAD); };
  if constexpr (DSM) {
    if (threadIdx.x == 0) {
      for (int q = 0; q < 2; ++q) {
        mbar_init(dsm_bar(q), 1);
        mbar_arrive_expect_tx(dsm_bar(q), dsm_bytes);
      }
    }
    cluster_sync_all();
  }
#endif
#if FRNN_WX_RING
  for (int ts = 0; ts < FRNN_WX_STAGES - 1; ++ts) wx_issue(ts);
#endif
  __syncthreads();
#if FRNN_FWD_TIMING
  long long tm_part[7] = {0, 0, 0, 0, 0, 0, 0}, tm_last = clock64(), tm_rounds = 0;
#endif

  for (int t0 = 0; t0 < T; t0 += FRNN_FWD_PF) {
#pragma unroll
  for (int j = 0; j < FRNN_FWD_PF; ++j) {  // unrolled so that the ring slot j is a constant
    const int t = t0 + j;
    if (t >= T) break;
#if FRNN_NSLICE > 1
#if FRNN_FWD_DSM
    if (DSM && t > 0) {
      // h_{t-1} complete in buffer (t-1) & 1; then that buffer's mbarrier is armed for h_{t+1}
      // (no byte of h_{t+1} can arrive before this block has sent h_t)
      const int q = (t - 1) & 1;
      mbar_wait_cluster(dsm_bar(q), (unsigned)((t - 1) >> 1) & 1u);
      if (threadIdx.x == 0) mbar_arrive_expect_tx(dsm_bar(q), dsm_bytes);
      TM_MARK(1);
    }
#endif
    if (!DSM && t > 0) {
      if (FRNN_FWD_POLL_BAR) __syncthreads();
      TM_MARK(0);
      // h_{t-1} (parity (t-1)&1, tag t), just this warp column's K range; then only the column
      // synchronises (the tile's other ranges belong to other columns)
#if FRNN_FWD_TIMING
      tm_rounds +=
#endif
      poll_range(xs, xch + ((((t - 1) & 1) * Bpad + b0) * N + n) * (long)FX_RW, (long)N * FX_RW,
                 nb, (unsigned)(t & FRNN_TAGMASK), wk, wm * 32 + lane);
      if (FRNN_FWD_WM == 1) {
        __syncwarp();
      } else {
        asm volatile("bar.sync %0, %1;" ::"r"(1 + wk), "r"(32 * FRNN_FWD_WM) : "memory");
      }
      TM_MARK(1);
    }
    float* gst = gs + (t & 1) * F_GSBUF;  // this step's partial sums
#else
    float* gst = gs;
#endif
#if FRNN_WX_RING
    // the slot of step t - 1 is free (its readers passed the barrier that ended that step)
    wx_issue(t + FRNN_WX_STAGES - 1);
#endif
    // ---- recurrent GEMM: gate rows x batch (F_NCH independent accumulator chains over K)
    {
      float acc[F_NCH][F_MTW][FRNN_NT][4];
#pragma unroll
      for (int c = 0; c < F_NCH; ++c)
#pragma unroll
        for (int mt = 0; mt < F_MTW; ++mt)
#pragma unroll
          for (int nt = 0; nt < FRNN_NT; ++nt)
#pragma unroll
            for (int j = 0; j < 4; ++j) acc[c][mt][nt][j] = 0.f;
#pragma unroll
      for (int ks = 0; ks < F_KSW; ++ks) {
        const int k0 = (wk * F_KSW + ks) * FRNN_KW;
        if (F_KSW * FRNN_FWD_WK == F_KS || k0 < F_KPAD) {
#pragma unroll
          for (int nt = 0; nt < FRNN_NT; ++nt) {
            uint32_t bf[2];
            load_bfrag_plain(bf, DSM ? xs + ((t + 1) & 1) * FRNN_BT * F_XROW : xs, F_XROW, nt * 8, k0);
#pragma unroll
            for (int mt = 0; mt < F_MTW; ++mt) mma(acc[ks % F_NCH][mt][nt], afr[mt][ks], bf);
          }
        }
      }
#pragma unroll
      for (int c = 1; c < F_NCH; ++c)
#pragma unroll
        for (int mt = 0; mt < F_MTW; ++mt)
#pragma unroll
          for (int nt = 0; nt < FRNN_NT; ++nt)
#pragma unroll
            for (int j = 0; j < 4; ++j) acc[0][mt][nt][j] += acc[c][mt][nt][j];
      const int g = lane >> 2, q = lane & 3;
      float* gw = gst + wk * F_GROWS * FRNN_GS;
#pragma unroll
      for (int mt = 0; mt < F_MTW; ++mt)
#pragma unroll
        for (int nt = 0; nt < FRNN_NT; ++nt) {
          const int r = (wm * F_MTW + mt) * 16 + g, c = nt * 8 + 2 * q;
          gw[r * FRNN_GS + c] = acc[0][mt][nt][0];
          gw[r * FRNN_GS + c + 1] = acc[0][mt][nt][1];
          gw[(r + 8) * FRNN_GS + c] = acc[0][mt][nt][2];
          gw[(r + 8) * FRNN_GS + c + 1] = acc[0][mt][nt][3];
        }
    }
    TM_MARK(2);
#if FRNN_WX_RING
    cp_async_wait<FRNN_WX_STAGES - 1>();  // this thread's copies of step t have landed
#endif
    __syncthreads();
    TM_MARK(3);
    // ---- pointwise cell update: first every pair's math (independent chains), then the stores
    float sn[PPT][FRNN_S], xga[PPT][FRNN_G], rga[PPT][FRNN_G];
#pragma unroll
    for (int i = 0; i < PPT; ++i) {
      if (valid[i]) {
        const int u = pu[i], bl = pb[i];
#pragma unroll
        for (int g = 0; g < FRNN_G; ++g) {
          float a = 0.f;
#pragma unroll
          for (int w = 0; w < FRNN_FWD_WK; ++w)
            a += gst[(w * F_GROWS + g * FRNN_U + u) * FRNN_GS + bl];
          rga[i][g] = a + rb[i][g];
#if FRNN_WX_RING
          xga[i][g] = to_f(wxr[(((t % FRNN_WX_STAGES) * FRNN_BT + bl) * FRNN_G + g) * FRNN_U + u]) +
                      xb[i][g];
#else
          xga[i][g] = to_f(wxn[j][i][g]) + xb[i][g];
#endif
        }
        cell_forward(xga[i], rga[i], st[i], sn[i]);
      }
    }
    TM_MARK(4);
#if FRNN_FWD_DSM
    // DSM: send h_t of this block's units into buffer t & 1 of every block of the cluster: the E
    // lanes holding one chunk of E units of a row (E | U, E | 32) each gather the chunk with
    // shuffles and store it to ranks lane % E, lane % E + E, ...
    if (DSM && t + 1 < T) {
      constexpr int E = F_DSM_E;
      const unsigned buf = smem_addr(xs + (t & 1) * FRNN_BT * F_XROW), bar = dsm_bar(t & 1);
#pragma unroll
      for (int i = 0; i < PPT; ++i)  // valid[i] is the same for the E lanes of a chunk
        dsm_send_chunk<E>(from_f(sn[i][0]), valid[i], lane, buf,
                          pb[i] * F_XROW + u0 + pu[i] - (lane & (E - 1)), bar);
    }
#endif
#if F_PACK
    // publish h_t of this block's units before anything else (every block of the head waits for
    // it): lane 6c of a warp gathers the values of lanes 6c..6c+5 (one 6-unit chunk of a row) and
    // stores them as two words of 3 values + tag, one 16-byte store (each word single-copy atomic)
    if (!DSM) {
      const unsigned long long tg = (unsigned long long)((t + 1) & FRNN_TAGMASK) << 48;
#pragma unroll
      for (int i = 0; i < PPT; ++i) {
        unsigned x[6];
        x[0] = 0;
        if (valid[i]) {
          const elem_t v = from_f(sn[i][0]);
          x[0] = *reinterpret_cast<const unsigned short*>(&v);
        }
#pragma unroll
        for (int k = 1; k < 6; ++k) x[k] = __shfl_down_sync(0xffffffffu, x[0], k);
        const int pr = warp * LANES + lane + i * LANES * FRNN_NWARPS;
        if (lane < LANES && lane % 6 == 0 && pr < FRNN_U * FRNN_BT && pb[i] < nb) {
          const unsigned long long w0 = tg | x[0] | (x[1] << 16) | ((unsigned long long)x[2] << 32);
          const unsigned long long w1 = tg | x[3] | (x[4] << 16) | ((unsigned long long)x[5] << 32);
          fxword_t* dst = xch + (((t & 1) * Bpad + b0 + pb[i]) * N + n) * (long)FX_RW +
                          slice * 2 * FX_CPS + 2 * (pu[i] / 6);
          asm volatile("st.relaxed.gpu.global.v2.u64 [%0], {%1, %2};" ::"l"(dst), "l"(w0), "l"(w1)
                       : "memory");
        }
      }
    }
#endif
    TM_MARK(5);
#pragma unroll
    for (int i = 0; i < PPT; ++i) {
      if (!valid[i]) continue;
      const int u = pu[i], bl = pb[i], d = u0 + u, b = b0 + bl;
      if (!FRNN_WX_RING && t + FRNN_FWD_PF < T) {  // prefetch the input gates PF steps ahead
#pragma unroll
        for (int g = 0; g < FRNN_G; ++g)
          wxn[j][i][g] =
              wxp[(((long)b * T + t + FRNN_FWD_PF) * FRNN_G + g) * ND + (long)n * FRNN_D + d];
      }
      // the state as stored (and fed back) is rounded to the storage type, as in the reference
#pragma unroll
      for (int s = 0; s < FRNN_S; ++s) {
        elem_t v = from_f(sn[i][s]);
        st[i][s] = to_f(v);
        if (s == 0) {
#if FRNN_NSLICE == 1
          xs[bl * F_XROW + d] = v;
#elif !F_PACK
          if (!DSM)
            store_word(xch + ((t & 1) * Bpad + b) * ND + (long)n * FRNN_D + d,
                       make_word(v, (unsigned)((t + 1) & FRNN_TAGMASK)));
#endif
        }
        statesp[(((long)s * B + b) * T + t) * ND + (long)n * FRNN_D + d] = v;
      }
      if (cachep != nullptr) {
        elem_t* cp = cachep + ((long)b * T + t) * FRNN_GC * ND + (long)n * FRNN_D + d;
#pragma unroll
        for (int g = 0; g < FRNN_G; ++g) {
          if (Cell::kSeparateRecurrent) {
            cp[g * ND] = from_f(xga[i][g]);
            cp[(FRNN_G + g) * ND] = from_f(rga[i][g]);
          } else {
            cp[g * ND] = from_f(xga[i][g] + rga[i][g]);
          }
        }
      }
    }
#if FRNN_NSLICE == 1
    __syncthreads();
#endif
    TM_MARK(6);
  }
  }
#if FRNN_FWD_TIMING
  unsigned smid;
  asm volatile("mov.u32 %0, %%smid;" : "=r"(smid));
  if (lane == 0 && blockIdx.x % 16 < 2)
    printf("frnn_fwd block %3d sm %3u warp %d: cycles per step: barrier %4lld poll %4lld (rounds %.2f) "
           "GEMM %4lld barrier %4lld pointwise %4lld publish %4lld stores %4lld\n",
           blockIdx.x, smid, warp, tm_part[0] / T, tm_part[1] / T, (double)tm_rounds / T,
           tm_part[2] / T, tm_part[3] / T, tm_part[4] / T, tm_part[5] / T, tm_part[6] / T);
#endif
  // last states
#pragma unroll
  for (int i = 0; i < PPT; ++i) {
    if (!valid[i]) continue;
    const int d = u0 + pu[i], b = b0 + pb[i];
#pragma unroll
    for (int s = 0; s < FRNN_S; ++s)
      p.last[((long)s * B + b) * ND + (long)n * FRNN_D + d] = from_f(st[i][s]);
  }
#if FRNN_FWD_DSM
  if constexpr (DSM) cluster_sync_all();  // no block leaves while a peer may address its memory
#endif
}

extern "C" __global__ void __launch_bounds__(FRNN_NTHREADS, 1) frnn_fwd(FwdParams p) {
  extern __shared__ __align__(16) unsigned char smem[];
  fwd_body<false>(p, smem);
}
#if FRNN_FWD_DSM
extern "C" __global__ void __launch_bounds__(FRNN_NTHREADS, 1) frnn_fwd_dsm(FwdParams p) {
  extern __shared__ __align__(16) unsigned char smem[];
  fwd_body<true>(p, smem);
}
#endif

// ---------------------------------------------------------------- backward kernel
// Exchange (FRNN_NSLICE > 1): the gate gradients of a step are G*D wide per batch row (4x h for
// an LSTM), so the bytes each block reads count (the forward's packed tagged words, 4/3 of them,
// measured slower here). Blocks write plain elements to xdat [2 parity][Bpad][N][B_KPAD], then,
// after a block barrier, one thread publishes the step in its flag (fence.acq_rel + relaxed
// store; the gradient outputs are stored after it). A reader's warp 0 polls the NSLICE flags of
// its (head, batch tile) group with acquire loads (a few words, not the data), then each group of
// warps sharing a K range copies just that range with cp.async (16-byte chunks, bypassing L1)
// and synchronises only among itself (named barrier). On sm_90a (FRNN_BWD_BULK) the blocks of a
// head run in thread-block clusters instead, and after the poll each fetches 1/C of the rows with
// bulk copies multicast into all C blocks' tiles, on an mbarrier every warp waits for.
// DSM: the blocks of a head form one cluster and exchange the gate gradients through distributed
// shared memory (frnn_bwd_dsm, see FRNN_BWD_DSM): dgr_s lands in tile buffer s & 1, whose mbarrier
// sits in the pad of its row 0.
template <bool DSM>
__device__ __forceinline__ void bwd_body(const BwdParams& p, unsigned char* smem) {
  elem_t* xs = reinterpret_cast<elem_t*>(smem);
  float* gs = reinterpret_cast<float*>(smem + (DSM ? 2 : 1) * B_SMEM_X);

  const int slice = blockIdx.x % FRNN_NSLICE;
  const int grp = blockIdx.x / FRNN_NSLICE;
  const int n = grp % p.N;
  const int bt = grp / p.N;
  const int b0 = bt * FRNN_BT;
  const int nb = min(FRNN_BT, p.B - b0);
  const int u0 = slice * FRNN_U;
  const int B = p.B, T = p.T, N = p.N;
  const long ND = (long)N * FRNN_D;
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
  const int wm = warp % FRNN_BWD_WM, wk = warp / FRNN_BWD_WM;
  const long Bpad = (long)gridDim.x / (FRNN_NSLICE * N) * FRNN_BT;
  const elem_t* __restrict__ statesp = p.states;
  const elem_t* __restrict__ dstatesp = p.dstates;
  const elem_t* __restrict__ cachep = p.cache;
  elem_t* __restrict__ dgrp = p.dgr;
  elem_t* __restrict__ dwxp = p.dwx;
#if FRNN_NSLICE > 1
  elem_t* xdat = reinterpret_cast<elem_t*>(p.xch);
  unsigned* flags = reinterpret_cast<unsigned*>(xdat + 2 * Bpad * N * B_KPAD) +
                    ((long)bt * N + n) * FRNN_NSLICE;
#endif

  // R^T slice as A fragments: row r = unit u0+r (an input unit of R), column k = g*D + d_out
  uint32_t afr[B_MTW][B_KSW][4];
  {
    const elem_t* R = p.R;
    auto elem = [&](int r, int k) -> float {
      int g = k / FRNN_D, dout = k % FRNN_D;
      if (r >= B_M || u0 + r >= FRNN_D || k >= FRNN_G * FRNN_D) return 0.f;
      return to_f(R[(((long)g * N + n) * FRNN_D + dout) * FRNN_D + u0 + r]);
    };
#pragma unroll
    for (int mt = 0; mt < B_MTW; ++mt)
#pragma unroll
      for (int ks = 0; ks < B_KSW; ++ks)
        load_afrag(afr[mt][ks], (wm * B_MTW + mt) * 16, (wk * B_KSW + ks) * FRNN_KW, elem);
  }
  for (int i = threadIdx.x; i < (DSM ? 2 : 1) * B_SMEM_X / 16; i += FRNN_NTHREADS)
    reinterpret_cast<uint4*>(smem)[i] = make_uint4(0, 0, 0, 0);
#if FRNN_BWD_BULK
  // the mbarrier lives in the 16-byte pad of operand row 0 (no copy or GEMM touches the pads)
  const unsigned xbar = smem_addr(xs + B_KPAD);
  const unsigned crank = cluster_rank(), csize = cluster_size();
  const unsigned short cmask = csize > 1 ? (unsigned short)((1u << csize) - 1u) : 0;
  unsigned xphase = 0;
  if constexpr (!DSM) {
    __syncthreads();
    if (threadIdx.x == 0) mbar_init(xbar, 1);
    __syncthreads();
    cluster_sync_all();  // every block's mbarrier exists before any multicast reaches it
  }
#endif
#if FRNN_BWD_DSM
  // DSM: the bytes of dgr every block receives per step; both buffers' mbarriers armed for their
  // first step before any block of the cluster may write (the cluster barrier below)
  const unsigned dsm_bytes = (unsigned)(nb * FRNN_G * FRNN_D * FRNN_ESIZE);
  auto dsm_bar = [&](int q) { return smem_addr(xs + q * FRNN_BT * B_XROW + B_KPAD); };
  if constexpr (DSM) {
    __syncthreads();  // the tiles are zero
    if (threadIdx.x == 0) {
      for (int q = 0; q < 2; ++q) {
        mbar_init(dsm_bar(q), 1);
        mbar_arrive_expect_tx(dsm_bar(q), dsm_bytes);
      }
    }
    cluster_sync_all();
  }
#endif

#if FRNN_BWD_TIMING
  long long tm_pub = 0, tm_poll = 0, tm_data = 0, tm_wait = 0, tm_copy = 0, tm_comp = 0;
  long long tm_mark = 0, tm_gemm = 0, tm_pw = 0, tm_bar = 0;
#endif
  float carry[FRNN_PPT][FRNN_S];
  // ring of prefetched inputs: slot (T-1-t) % PF holds step t
  elem_t spn[FRNN_BWD_PF][FRNN_PPT][FRNN_S], dsn[FRNN_BWD_PF][FRNN_PPT][FRNN_S];
  elem_t cn[FRNN_BWD_PF][FRNN_PPT][FRNN_GC];
  bool valid[FRNN_PPT];
  int pu[FRNN_PPT] = {}, pb[FRNN_PPT] = {};  // set below, before load_step is first called
  auto load_step = [&](int j, int i, int t) {  // prefetch what step t needs (t >= 0) into slot j
    const int d = u0 + pu[i], b = b0 + pb[i];
#pragma unroll
    for (int s = 0; s < FRNN_S; ++s) {
      spn[j][i][s] = t > 0 ? statesp[(((long)s * B + b) * T + t - 1) * ND + (long)n * FRNN_D + d]
                        : p.s0[((long)s * B + b) * ND + (long)n * FRNN_D + d];
      dsn[j][i][s] = dstatesp[(((long)s * B + b) * T + t) * ND + (long)n * FRNN_D + d];
    }
#pragma unroll
    for (int c = 0; c < FRNN_GC; ++c)
      cn[j][i][c] = cachep[(((long)b * T + t) * FRNN_GC + c) * ND + (long)n * FRNN_D + d];
  };
#pragma unroll
  for (int i = 0; i < FRNN_PPT; ++i) {
    int pr = threadIdx.x + i * FRNN_NTHREADS;
    pu[i] = pr % FRNN_U;
    pb[i] = pr / FRNN_U;
    valid[i] = pr < FRNN_U * FRNN_BT && u0 + pu[i] < FRNN_D && pb[i] < nb;
#pragma unroll
    for (int s = 0; s < FRNN_S; ++s) {
      carry[i][s] = 0.f;
    }
#pragma unroll
    for (int j = 0; j < FRNN_BWD_PF; ++j)
      if (valid[i] && T - 1 - j >= 0) load_step(j, i, T - 1 - j);
  }
  __syncthreads();

  for (int k0 = 0; k0 <= T; k0 += FRNN_BWD_PF) {
#pragma unroll
  for (int j = 0; j < FRNN_BWD_PF; ++j) {  // unrolled so that the ring slot j is a constant
    const int t = T - 1 - (k0 + j);
    if (t < -1) break;
    // ---- recurrent gradient R^T dgr_{t+1} for this block's units (not at t = T-1)
    if (t < T - 1) {
#if FRNN_NSLICE > 1
      // dgr_{t+1}: parity (t+1)&1, published with flag value T-1-t. Warp 0 polls the NSLICE flags
      // (all loads in flight at once; polling them from every warp measured 17% slower: the
      // fences and the traffic on two L2 lines), then each column copies its K range and
      // synchronises only among itself. DSM: wait for buffer (t+1) & 1, then arm it for dgr_{t-1}
      // (no byte of that can arrive before this block has sent dgr_t).
      if constexpr (DSM) {
#if FRNN_BWD_DSM
        const int q = (t + 1) & 1;
        mbar_wait_cluster(dsm_bar(q), (unsigned)((T - 2 - t) >> 1) & 1u);
        if (threadIdx.x == 0) mbar_arrive_expect_tx(dsm_bar(q), dsm_bytes);
#endif
      } else {
        const unsigned tag = (unsigned)(T - 1 - t);
#if FRNN_BWD_BULK
        // one phase of the mbarrier per step: lane 0 of warp 0 expects all nb rows (its own and
        // the cluster peers' multicasts may land before or after), polls, then fetches its share
        if (warp == 0 && lane == 0) mbar_arrive_expect_tx(xbar, nb * (B_KPAD * (int)sizeof(elem_t)));
#endif
        if (warp == 0) {
          poll_flags(flags, tag, lane);
#if FRNN_BWD_TIMING
          tm_poll = clock64();
          tm_wait += tm_poll - tm_pub;
#endif
          if (!FRNN_BWD_ACQ) fence_acq_rel_gpu();
#if FRNN_BWD_BULK
          __syncwarp();  // every lane's acquired flag is ordered before lane 0's copy
          if (lane == 0)
            fetch_rows(xs, B_XROW, xdat + (((t + 1) & 1) * Bpad + b0) * N * B_KPAD + (long)n * B_KPAD,
                       (long)N * B_KPAD, nb, B_KPAD * (unsigned)sizeof(elem_t), xbar, crank, csize,
                       cmask);
#endif
        }
#if FRNN_BWD_BULK
        mbar_wait(xbar, xphase);
        xphase ^= 1u;
#if FRNN_BWD_TIMING
        tm_data = clock64();
        tm_copy += tm_data - tm_poll;
#endif
      }
#else
        __syncthreads();
        // this warp column's K range of the operand in 16-byte chunks [c_lo, c_lo + ncol), rows
        // numbered with the compile-time count NCOL (a runtime divisor took ~480 instructions per
        // warp and step for the copy, ~380 with this one: ncu on H100, LSTM 1x768; a compile-time
        // trip count as well made ptxas spill 72 bytes in the A100 sLSTM 256 fidelity build)
        constexpr int CH = 16 / (int)sizeof(elem_t);
        constexpr int NCOL = B_KSW * (FRNN_KW / CH);
        const int c_lo = wk * NCOL;
        const int ncol = min(NCOL, B_KPAD / CH - c_lo);
        const elem_t* src = xdat + (((t + 1) & 1) * Bpad + b0) * N * B_KPAD + (long)n * B_KPAD;
        for (int i = wm * 32 + lane; i < nb * NCOL; i += 32 * FRNN_BWD_WM) {
          const int r = i / NCOL, c = i % NCOL;
          if (c < ncol)
            cp_async16(xs + r * B_XROW + (c_lo + c) * CH,
                       src + (long)r * N * B_KPAD + (c_lo + c) * CH);
        }
        cp_async_wait_all();
        if (FRNN_BWD_WM == 1) {
          __syncwarp();
        } else {
          asm volatile("bar.sync %0, %1;" ::"r"(1 + wk), "r"(32 * FRNN_BWD_WM) : "memory");
        }
      }
#endif  // FRNN_BWD_BULK
#endif
      float acc[B_NCH][B_MTW][FRNN_NT][4];
#pragma unroll
      for (int c = 0; c < B_NCH; ++c)
#pragma unroll
        for (int mt = 0; mt < B_MTW; ++mt)
#pragma unroll
          for (int nt = 0; nt < FRNN_NT; ++nt)
#pragma unroll
            for (int j = 0; j < 4; ++j) acc[c][mt][nt][j] = 0.f;
#pragma unroll
      for (int ks = 0; ks < B_KSW; ++ks) {
        const int k0 = (wk * B_KSW + ks) * FRNN_KW;
        if (B_KSW * FRNN_BWD_WK == B_KS || k0 < B_KPAD) {
#pragma unroll
          for (int nt = 0; nt < FRNN_NT; ++nt) {
            uint32_t bf[2];
            load_bfrag_plain(bf, DSM ? xs + ((t + 1) & 1) * FRNN_BT * B_XROW : xs, B_XROW, nt * 8,
                             k0);
#pragma unroll
            for (int mt = 0; mt < B_MTW; ++mt) mma(acc[ks % B_NCH][mt][nt], afr[mt][ks], bf);
          }
        }
      }
#pragma unroll
      for (int c = 1; c < B_NCH; ++c)
#pragma unroll
        for (int mt = 0; mt < B_MTW; ++mt)
#pragma unroll
          for (int nt = 0; nt < FRNN_NT; ++nt)
#pragma unroll
            for (int j = 0; j < 4; ++j) acc[0][mt][nt][j] += acc[c][mt][nt][j];
      const int g = lane >> 2, q = lane & 3;
      float* gw = gs + wk * B_GROWS * FRNN_GS;
#pragma unroll
      for (int mt = 0; mt < B_MTW; ++mt)
#pragma unroll
        for (int nt = 0; nt < FRNN_NT; ++nt) {
          const int r = (wm * B_MTW + mt) * 16 + g, c = nt * 8 + 2 * q;
          gw[r * FRNN_GS + c] = acc[0][mt][nt][0];
          gw[r * FRNN_GS + c + 1] = acc[0][mt][nt][1];
          gw[(r + 8) * FRNN_GS + c] = acc[0][mt][nt][2];
          gw[(r + 8) * FRNN_GS + c + 1] = acc[0][mt][nt][3];
        }
      __syncthreads();
#if FRNN_BWD_TIMING
      tm_mark = clock64();
      tm_gemm += tm_mark - tm_data;
#endif
    }
    // ---- pointwise backward of step t (t = -1: write the initial-state gradients)
    if (t < 0) {
#pragma unroll
      for (int i = 0; i < FRNN_PPT; ++i) {
        if (!valid[i]) continue;
        const int u = pu[i], bl = pb[i], d = u0 + u, b = b0 + bl;
        float dhrec = 0.f;  // t = -1 < T-1 always ran the GEMM
#pragma unroll
        for (int w = 0; w < FRNN_BWD_WK; ++w) dhrec += gs[(w * B_GROWS + u) * FRNN_GS + bl];
#pragma unroll
        for (int s = 0; s < FRNN_S; ++s)
          p.ds0[((long)s * B + b) * ND + (long)n * FRNN_D + d] =
              from_f(carry[i][s] + (s == 0 ? dhrec : 0.f));
      }
      break;
    }
    float dxa[FRNN_PPT][FRNN_G], dra[FRNN_PPT][FRNN_G];
#pragma unroll
    for (int i = 0; i < FRNN_PPT; ++i) {
      if (valid[i]) {
        const int u = pu[i], bl = pb[i];
        float dhrec = 0.f;
        if (t < T - 1) {
#pragma unroll
          for (int w = 0; w < FRNN_BWD_WK; ++w) dhrec += gs[(w * B_GROWS + u) * FRNN_GS + bl];
        }
        float sp[FRNN_S], ds[FRNN_S], xg[FRNN_G], rg[FRNN_G];
#pragma unroll
        for (int s = 0; s < FRNN_S; ++s) {
          sp[s] = to_f(spn[j][i][s]);
          ds[s] = to_f(dsn[j][i][s]) + carry[i][s] + (s == 0 ? dhrec : 0.f);
        }
#pragma unroll
        for (int g = 0; g < FRNN_G; ++g) {
          xg[g] = to_f(cn[j][i][g]);
          rg[g] = Cell::kSeparateRecurrent ? to_f(cn[j][i][Cell::kSeparateRecurrent ? FRNN_G + g : 0])
                                           : 0.f;
        }
        if (t - FRNN_BWD_PF >= 0) load_step(j, i, t - FRNN_BWD_PF);
        cell_backward(xg, rg, sp, ds, dxa[i], dra[i], carry[i]);
      }
    }
    // the operand of the next GEMM first (with NSLICE > 1: exchange, barrier, flag), then the
    // gradient outputs, so that the producer's fence does not wait for them
#pragma unroll
    for (int i = 0; i < FRNN_PPT; ++i) {
      if (!valid[i]) continue;
      const int bl = pb[i], d = u0 + pu[i];
#pragma unroll
      for (int g = 0; g < FRNN_G; ++g) {
        const elem_t v = from_f(dra[i][g]);
#if FRNN_NSLICE == 1
        xs[bl * B_XROW + g * FRNN_D + d] = v;
#else
        if (!DSM) xdat[(((t & 1) * Bpad + b0 + bl) * N + n) * B_KPAD + g * FRNN_D + d] = v;
#endif
      }
    }
#if FRNN_BWD_DSM
    // DSM: send dgr_t of this block's units, gate by gate, into buffer t & 1 of every block of the
    // cluster (E-unit chunks of a row, as the forward's h)
    if constexpr (DSM) {
      constexpr int E = F_DSM_E;
      const unsigned buf = smem_addr(xs + (t & 1) * FRNN_BT * B_XROW), bar = dsm_bar(t & 1);
#pragma unroll
      for (int i = 0; i < FRNN_PPT; ++i)
#pragma unroll
        for (int g = 0; g < FRNN_G; ++g)
          dsm_send_chunk<E>(from_f(dra[i][g]), valid[i], lane, buf,
                            pb[i] * B_XROW + g * FRNN_D + u0 + pu[i] - (lane & (E - 1)), bar);
    }
#endif
#if FRNN_BWD_TIMING
    long long tm_pw_end = clock64();
    if (t < T - 1) tm_pw += tm_pw_end - tm_mark;
#endif
    __syncthreads();
#if FRNN_BWD_TIMING
    if (t < T - 1) tm_bar += clock64() - tm_pw_end;
#endif
#if FRNN_NSLICE > 1
    if (!DSM && threadIdx.x == 0) {
      fence_acq_rel_gpu();
      st_relaxed_u32(flags + slice, (unsigned)(T - t));
#if FRNN_BWD_TIMING
      const long long now = clock64();
      if (t < T - 1) tm_comp += now - tm_data;
      tm_pub = now;
#endif
    }
#endif
#pragma unroll
    for (int i = 0; i < FRNN_PPT; ++i) {
      if (!valid[i]) continue;
      const int d = u0 + pu[i], b = b0 + pb[i];
#pragma unroll
      for (int g = 0; g < FRNN_G; ++g) {
        dgrp[(((long)b * T + t) * FRNN_G + g) * ND + (long)n * FRNN_D + d] = from_f(dra[i][g]);
        if (Cell::kSeparateRecurrent)
          dwxp[(((long)b * T + t) * FRNN_G + g) * ND + (long)n * FRNN_D + d] = from_f(dxa[i][g]);
      }
    }
  }
  }
#if FRNN_BWD_TIMING
  if (threadIdx.x == 0 && blockIdx.x % 16 == 0)
    printf("frnn_bwd block %d: cycles per step: flags %lld, copy %lld, compute %lld (GEMM %lld, "
           "pointwise and stores %lld, barrier %lld, fence and flag %lld)\n",
           blockIdx.x, tm_wait / T, tm_copy / T, tm_comp / T, tm_gemm / T, tm_pw / T, tm_bar / T,
           (tm_comp - tm_gemm - tm_pw - tm_bar) / T);
#endif
#if FRNN_BWD_BULK || FRNN_BWD_DSM
  // no block leaves while a peer's multicast or DSM store may still target it
  if (FRNN_BWD_BULK || DSM) cluster_sync_all();
#endif
}

extern "C" __global__ void __launch_bounds__(FRNN_NTHREADS, 1) frnn_bwd(BwdParams p) {
  extern __shared__ __align__(16) unsigned char smem[];
  bwd_body<false>(p, smem);
}
#if FRNN_BWD_DSM
extern "C" __global__ void __launch_bounds__(FRNN_NTHREADS, 1) frnn_bwd_dsm(BwdParams p) {
  extern __shared__ __align__(16) unsigned char smem[];
  if constexpr (kBwdDsm) bwd_body<true>(p, smem);
}
#endif

// ---------------------------------------------------------------- host launchers
extern "C" __host__ int frnn_word_bytes() { return (int)sizeof(xword_t); }

// Bytes of the zeroed exchange buffer a launch needs (0: none) for batch B and N heads:
// forward [2][Bpad][N][D] tagged words (none when it runs in clusters, frnn_fwd_cluster); backward [2][Bpad][N][B_KPAD] elements, then
// [Bpad/BT][N][NSLICE] uint32 flags.
extern "C" int frnn_fwd_cluster(int B, int N);
extern "C" int frnn_bwd_dsm_used(int B, int N);
extern "C" __host__ long frnn_xch_bytes(int B, int N, int backward) {
  if (FRNN_NSLICE == 1 || (!backward && frnn_fwd_cluster(B, N) > 1) ||
      (backward && frnn_bwd_dsm_used(B, N)))
    return 0;
  const long bpad = (long)((B + FRNN_BT - 1) / FRNN_BT) * FRNN_BT;
  if (!backward) return 2 * bpad * N * (long)FX_RW * (long)sizeof(fxword_t);
  return 2 * bpad * N * B_KPAD * (long)sizeof(elem_t) + 4 * (bpad / FRNN_BT) * N * FRNN_NSLICE;
}

static int launch(const void* fn, void* params, int blocks, int smem, cudaStream_t stream) {
  cudaError_t e = cudaFuncSetAttribute(fn, cudaFuncAttributeMaxDynamicSharedMemorySize, smem);
  if (e != cudaSuccess) return (int)e;
  void* args[] = {params};
  if (FRNN_NSLICE > 1) {
    e = cudaLaunchCooperativeKernel(fn, dim3(blocks), dim3(FRNN_NTHREADS), args, (size_t)smem,
                                    stream);
  } else {
    e = cudaLaunchKernel(fn, dim3(blocks), dim3(FRNN_NTHREADS), args, (size_t)smem, stream);
  }
  if (e != cudaSuccess) return (int)e;
  return (int)cudaGetLastError();
}

static int nblocks(int B, int N) { return FRNN_NSLICE * N * ((B + FRNN_BT - 1) / FRNN_BT); }

#if FRNN_SM90A
// The launch configuration of `blocks` blocks in clusters of c (attribute at[1]; none for c = 1),
// cooperative when asked (at[0]).
struct ClusterLaunch {
  cudaLaunchConfig_t cfg = {};
  cudaLaunchAttribute at[2];
  ClusterLaunch(int blocks, int smem, int c, bool cooperative, cudaStream_t stream) {
    at[0].id = cudaLaunchAttributeCooperative;
    at[0].val.cooperative = 1;
    at[1].id = cudaLaunchAttributeClusterDimension;
    at[1].val.clusterDim.x = c;
    at[1].val.clusterDim.y = 1;
    at[1].val.clusterDim.z = 1;
    cfg.gridDim = dim3(blocks);
    cfg.blockDim = dim3(FRNN_NTHREADS);
    cfg.dynamicSmemBytes = (size_t)smem;
    cfg.stream = stream;
    cfg.attrs = cooperative ? at : at + 1;
    cfg.numAttrs = (cooperative ? 1 : 0) + (c > 1 ? 1 : 0);
  }
};

// How many clusters of c blocks of fn (a grid of `blocks`, `smem` bytes of dynamic shared memory
// each, both already allowed for fn) the current GPU holds at once; 0 when the query fails.
static int clusters_held(const void* fn, int blocks, int smem, int c) {
  ClusterLaunch l(blocks, smem, c, false, nullptr);
  int clusters = 0;
  if (cudaOccupancyMaxActiveClusters(&clusters, fn, &l.cfg) != cudaSuccess) {
    (void)cudaGetLastError();
    return 0;
  }
  return clusters;
}
#endif

#if FRNN_FWD_DSM || FRNN_BWD_DSM
// How many clusters of the NSLICE blocks of a head (fn: frnn_fwd_dsm or frnn_bwd_dsm, `smem` bytes
// of dynamic shared memory each) the current GPU can hold at once; asked once per device and
// kernel (known: the answers + 1 per device, 0: not asked yet).
static int dsm_max_clusters(const void* fn, int smem, int (&known)[64]) {
  int dev = 0;
  if (cudaGetDevice(&dev) != cudaSuccess || dev < 0 || dev >= 64) {
    (void)cudaGetLastError();
    return 0;
  }
  if (known[dev] == 0) {
    bool ok = cudaFuncSetAttribute(fn, cudaFuncAttributeMaxDynamicSharedMemorySize, smem) ==
              cudaSuccess;
    if (ok && FRNN_NSLICE > 8)
      ok = cudaFuncSetAttribute(fn, cudaFuncAttributeNonPortableClusterSizeAllowed, 1) == cudaSuccess;
    (void)cudaGetLastError();
    known[dev] = (ok ? clusters_held(fn, FRNN_NSLICE, smem, FRNN_NSLICE) : 0) + 1;
  }
  return known[dev] - 1;
}
#endif
#if FRNN_FWD_DSM || FRNN_BWD_DSM
// Launches fn as one cluster of NSLICE blocks per (head, batch tile), not cooperative.
static int launch_dsm(const void* fn, void* params, int blocks, int smem, cudaStream_t stream) {
  ClusterLaunch l(blocks, smem, FRNN_NSLICE, false, stream);
  cudaError_t e = cudaLaunchKernelExC(&l.cfg, fn, &params);
  if (e != cudaSuccess) return (int)e;
  return (int)cudaGetLastError();
}
#endif
#if FRNN_FWD_DSM
static int fwd_dsm_max_clusters() {
  static int known[64];
  return dsm_max_clusters((const void*)frnn_fwd_dsm, F_SMEM, known);
}
#endif
#if FRNN_BWD_DSM
static int bwd_dsm_max_clusters() {
  static int known[64];
  return dsm_max_clusters((const void*)frnn_bwd_dsm, B_SMEM_DSM, known);
}
#endif

// 1 when the backward kernel for batch B and N heads runs every (head, batch tile) as one cluster
// that exchanges the gate gradients through distributed shared memory, all clusters at once; else
// 0 (through L2).
extern "C" int frnn_bwd_dsm_used(int B, int N) {
#if FRNN_BWD_DSM
  return kBwdDsm && bwd_dsm_max_clusters() >= nblocks(B, N) / FRNN_NSLICE ? 1 : 0;
#else
  (void)B, (void)N;
  return 0;
#endif
}

// Blocks per cluster the forward kernel launches with on the current GPU for batch B and N heads:
// NSLICE when every (head, batch tile) runs as one cluster that exchanges h through distributed
// shared memory, all clusters at once (a second round of clusters would double the time), else 1.
extern "C" int frnn_fwd_cluster(int B, int N) {
#if FRNN_FWD_DSM
  return fwd_dsm_max_clusters() >= nblocks(B, N) / FRNN_NSLICE ? FRNN_NSLICE : 1;
#else
  (void)B, (void)N;
  return 1;
#endif
}

extern "C" int frnn_fwd_launch(const void* wx, const void* R, const void* bias, const void* s0,
                               void* states, void* last, void* cache, void* counters, int B,
                               int T, int N, void* stream) {
  FwdParams p;
  p.wx = (const elem_t*)wx; p.R = (const elem_t*)R; p.bias = (const elem_t*)bias;
  p.s0 = (const elem_t*)s0; p.states = (elem_t*)states; p.last = (elem_t*)last;
  p.cache = (elem_t*)cache; p.xch = (xword_t*)counters;
  p.B = B; p.T = T; p.N = N;
#if FRNN_FWD_DSM
  if (frnn_fwd_cluster(B, N) > 1)
    return launch_dsm((const void*)frnn_fwd_dsm, &p, nblocks(B, N), F_SMEM, (cudaStream_t)stream);
#endif
  return launch((const void*)frnn_fwd, &p, nblocks(B, N), F_SMEM, (cudaStream_t)stream);
}

#if FRNN_BWD_BULK
// Launches in clusters of C blocks (C <= FRNN_CLUSTER, dividing NSLICE, so that a cluster never
// spans two heads or batch tiles), the largest C for which the whole grid is co-resident; C = 1
// (no cluster) when none is. Cooperative as well, so that residency is guaranteed.
static int cluster_size_for(const void* fn, int blocks, int smem) {
  if (FRNN_CLUSTER > 8 &&
      cudaFuncSetAttribute(fn, cudaFuncAttributeNonPortableClusterSizeAllowed, 1) != cudaSuccess)
    (void)cudaGetLastError();
  for (int c = FRNN_CLUSTER; c > 1; c /= 2) {
    if (FRNN_NSLICE % c != 0 || blocks % c != 0) continue;
    if ((long)clusters_held(fn, blocks, smem, c) * c >= blocks) return c;
  }
  return 1;
}

static int launch_clustered(const void* fn, void* params, int blocks, int smem,
                            cudaStream_t stream) {
  cudaError_t e = cudaFuncSetAttribute(fn, cudaFuncAttributeMaxDynamicSharedMemorySize, smem);
  if (e != cudaSuccess) return (int)e;
  ClusterLaunch l(blocks, smem, cluster_size_for(fn, blocks, smem), true, stream);
  e = cudaLaunchKernelExC(&l.cfg, fn, &params);
  if (e != cudaSuccess) return (int)e;
  return (int)cudaGetLastError();
}
#endif

// Blocks per cluster the backward kernel launches with for batch B and N heads (1: no cluster;
// -1: its shared memory request failed); NSLICE with the exchange through distributed shared
// memory (frnn_bwd_dsm_used).
extern "C" int frnn_bwd_cluster(int B, int N) {
  if (frnn_bwd_dsm_used(B, N)) return FRNN_NSLICE;
#if FRNN_BWD_BULK
  if (cudaFuncSetAttribute((const void*)frnn_bwd, cudaFuncAttributeMaxDynamicSharedMemorySize,
                           B_SMEM) != cudaSuccess)
    return -1;
  return cluster_size_for((const void*)frnn_bwd, nblocks(B, N), B_SMEM);
#else
  return 1;
#endif
}

extern "C" int frnn_bwd_launch(const void* R, const void* s0, const void* states,
                               const void* cache, const void* dstates, void* dgr, void* dwx,
                               void* ds0, void* counters, int B, int T, int N, void* stream) {
  BwdParams p;
  p.R = (const elem_t*)R; p.s0 = (const elem_t*)s0; p.states = (const elem_t*)states;
  p.cache = (const elem_t*)cache; p.dstates = (const elem_t*)dstates; p.dgr = (elem_t*)dgr;
  p.dwx = (elem_t*)dwx; p.ds0 = (elem_t*)ds0; p.xch = (xword_t*)counters;
  p.B = B; p.T = T; p.N = N;
#if FRNN_BWD_DSM
  if (frnn_bwd_dsm_used(B, N))
    return launch_dsm((const void*)frnn_bwd_dsm, &p, nblocks(B, N), B_SMEM_DSM, (cudaStream_t)stream);
#endif
#if FRNN_BWD_BULK
  return launch_clustered((const void*)frnn_bwd, &p, nblocks(B, N), B_SMEM, (cudaStream_t)stream);
#else
  return launch((const void*)frnn_bwd, &p, nblocks(B, N), B_SMEM, (cudaStream_t)stream);
#endif
}
