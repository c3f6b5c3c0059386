// The recurrent GEMM of one step, shared by both kernels: each warp multiplies its MTW row tiles
// of R (A fragments: the first KSR K steps in registers, the others in shared memory) by the
// operand tile (B fragments from shared memory) over its KSW K steps and stores its partial sums;
// the pointwise update then sums the WK warp columns.
#pragma once
#include "mma.cuh"
#include "traits.cuh"

namespace frnn {

// Warp (wm, wk)'s part of the shared-memory region of R: [MTW][KSS][32] uint4 (traits.cuh: Gemm).
template <class Gm>
__device__ __forceinline__ uint4* r_fragments(void* region, int wm, int wk) {
  return reinterpret_cast<uint4*>(region) + (wk * Gm::kWM + wm) * Gm::kMTW * Gm::kKSS * 32;
}

// Warp (wm, wk)'s A fragments of its rows and K steps of the matrix elem(row, k): K steps below KSR
// into registers, the others into its part of the shared-memory region (read back every step).
template <class Gm, class F>
__device__ __forceinline__ void load_r(uint32_t (&afr)[Gm::kMTW][Gm::kKSRA][4], void* region, int wm,
                                       int wk, F elem) {
#pragma unroll
  for (int mt = 0; mt < Gm::kMTW; ++mt)
#pragma unroll
    for (int ks = 0; ks < Gm::kKSR; ++ks)
      load_afrag(afr[mt][ks], (wm * Gm::kMTW + mt) * 16, (wk * Gm::kKSW + ks) * kKW, elem);
  if constexpr (Gm::kKSS > 0) {
    uint4* aw = r_fragments<Gm>(region, wm, wk);
    const int lane = threadIdx.x & 31;
    for (int mt = 0; mt < Gm::kMTW; ++mt)
      for (int s = 0; s < Gm::kKSS; ++s) {
        uint32_t a[4];
        load_afrag(a, (wm * Gm::kMTW + mt) * 16, (wk * Gm::kKSW + Gm::kKSR + s) * kKW, elem);
        aw[(mt * Gm::kKSS + s) * 32 + lane] = make_uint4(a[0], a[1], a[2], a[3]);
      }
  }
}

// Warp (wm, wk) of a Gm-shaped GEMM (traits.cuh: Gemm): the output tiles [MTW][BT/8] of rows
// (wm*MTW + mt)*16.. times the tile xs [BT][XROW] over K steps wk*KSW.., accumulated in NCH
// independent chains (step ks into chain ks % NCH, up to 8 tiles in flight), summed, and stored
// as the partial sums of column wk: gs[wk][row][batch], [GROWS][BT+1] floats per column. The A
// fragments: afr (registers) for K steps below KSR, the region of R (load_r) for the others.
template <class Gm>
__device__ __forceinline__ void gemm_partial_sums(const uint32_t (&afr)[Gm::kMTW][Gm::kKSRA][4],
                                                  void* region, const elem_t* xs, float* gs, int wm,
                                                  int wk, int lane) {
  const uint4* aw = r_fragments<Gm>(region, wm, wk);
  float acc[Gm::kNCH][Gm::kMTW][kNTile][4];
#pragma unroll
  for (int c = 0; c < Gm::kNCH; ++c)
#pragma unroll
    for (int mt = 0; mt < Gm::kMTW; ++mt)
#pragma unroll
      for (int nt = 0; nt < kNTile; ++nt)
#pragma unroll
        for (int j = 0; j < 4; ++j) acc[c][mt][nt][j] = 0.f;
#pragma unroll
  for (int ks = 0; ks < Gm::kKSW; ++ks) {
    const int k0 = (wk * Gm::kKSW + ks) * kKW;
    if (Gm::kKSW * Gm::kWK == Gm::kKS || k0 < Gm::kKPad) {  // the last column may have fewer steps
      uint32_t as[Gm::kMTW][4];  // this K step's fragments from shared memory (ks >= KSR)
      if (ks >= Gm::kKSR) {
#pragma unroll
        for (int mt = 0; mt < Gm::kMTW; ++mt) {
          const uint4 v = aw[(mt * Gm::kKSS + ks - Gm::kKSR) * 32 + lane];
          as[mt][0] = v.x, as[mt][1] = v.y, as[mt][2] = v.z, as[mt][3] = v.w;
        }
      }
#pragma unroll
      for (int nt = 0; nt < kNTile; ++nt) {
        uint32_t bf[2];
        load_bfrag(bf, xs, Gm::kXRow, nt * 8, k0);
#pragma unroll
        for (int mt = 0; mt < Gm::kMTW; ++mt)
          mma(acc[ks % Gm::kNCH][mt][nt], ks < Gm::kKSR ? afr[mt][ks < Gm::kKSR ? ks : 0] : as[mt], bf);
      }
    }
  }
#pragma unroll
  for (int c = 1; c < Gm::kNCH; ++c)
#pragma unroll
    for (int mt = 0; mt < Gm::kMTW; ++mt)
#pragma unroll
      for (int nt = 0; nt < kNTile; ++nt)
#pragma unroll
        for (int j = 0; j < 4; ++j) acc[0][mt][nt][j] += acc[c][mt][nt][j];
  const int g = lane >> 2, q = lane & 3;
  float* gw = gs + wk * Gm::kGRows * kGS;
#pragma unroll
  for (int mt = 0; mt < Gm::kMTW; ++mt)
#pragma unroll
    for (int nt = 0; nt < kNTile; ++nt) {
      const int r = (wm * Gm::kMTW + mt) * 16 + g, c = nt * 8 + 2 * q;
      gw[r * kGS + c] = acc[0][mt][nt][0];
      gw[r * kGS + c + 1] = acc[0][mt][nt][1];
      gw[(r + 8) * kGS + c] = acc[0][mt][nt][2];
      gw[(r + 8) * kGS + c + 1] = acc[0][mt][nt][3];
    }
}

// The sum over the WK warp columns of the partial sums of output row `row`, batch row `col`.
template <class Gm>
__device__ __forceinline__ float column_sum(const float* gs, int row, int col) {
  float a = 0.f;
#pragma unroll
  for (int w = 0; w < Gm::kWK; ++w) a += gs[(w * Gm::kGRows + row) * kGS + col];
  return a;
}

}  // namespace frnn
