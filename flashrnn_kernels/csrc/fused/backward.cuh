// The backward kernel's body: all T steps of one (head, batch tile, slice) block, from t = T-1
// down to the initial states.
//
// Per step: the recurrent gradient R^T dgr_{t+1} for the block's U units (gemm.cuh), the cell's
// backward for its units (cell.cuh), and its units' gate gradients dgr_t handed to the blocks of
// the head (the operand of the next step):
//   NSLICE == 1: into the block's own operand tile (shared memory);
//   NSLICE  > 1, frnn_bwd: plain rows behind step flags through L2 (flag_exchange.cuh);
//   NSLICE  > 1, frnn_bwd_dsm (FRNN_BWD_DSM): the blocks of the head form one cluster; dgr_s lands
//     in tile buffer s & 1, whose mbarrier sits in the pad of its row 0; a block sends its units'
//     G gate gradients, gate by gate, into buffer t & 1 of every block of the cluster
//     (cluster.cuh: dsm_send_chunk), and the receiver arms that buffer's mbarrier with the step's
//     bytes right after waiting for its previous use.
// dR and db are reduced afterwards (outside these kernels) from the per-step gate gradients.
#pragma once
#include "cell.cuh"
#include "cluster.cuh"
#include "flag_exchange.cuh"
#include "gemm.cuh"
#include "mma.cuh"
#include "params.cuh"
#include "traits.cuh"

namespace frnn {

template <bool DSM>
__device__ __forceinline__ void bwd_body(const BwdParams& p, unsigned char* smem) {
  using Gm = BwdGemm;
  elem_t* xs = reinterpret_cast<elem_t*>(smem);
  float* gs = reinterpret_cast<float*>(smem + (DSM ? 2 : 1) * kBwdTileBytes);

  const int slice = blockIdx.x % kNSlice;
  const int grp = blockIdx.x / kNSlice;
  const int n = grp % p.N;
  const int bt = grp / p.N;
  const int b0 = bt * kBT;
  const int nb = min(kBT, p.B - b0);
  const int u0 = slice * kU;
  const int B = p.B, T = p.T, N = p.N;
  const long ND = (long)N * kD;
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
  const int wm = warp % Gm::kWM, wk = warp / Gm::kWM;
  const long Bpad = (long)gridDim.x / (kNSlice * N) * kBT;
  const elem_t* __restrict__ statesp = p.states;
  const elem_t* __restrict__ dstatesp = p.dstates;
  const elem_t* __restrict__ cachep = p.cache;
  elem_t* __restrict__ dgrp = p.dgr;
  elem_t* __restrict__ dwxp = p.dwx;
  elem_t* xdat = reinterpret_cast<elem_t*>(p.xch);  // NSLICE > 1: the exchange rows, then flags
  unsigned* flags = reinterpret_cast<unsigned*>(xdat + 2 * Bpad * N * Gm::kKPad) +
                    ((long)bt * N + n) * kNSlice;  // this (batch tile, head)'s NSLICE flags

  // R^T slice as A fragments: row r = unit u0+r (an input unit of R), column k = g*D + d_out
  uint32_t afr[Gm::kMTW][Gm::kKSRA][4];
  unsigned char* const rsm = smem + (DSM ? 2 : 1) * kBwdTileBytes + kBwdSumsBytes;  // R beyond the registers
  {
    const elem_t* R = p.R;
    auto elem = [&](int r, int k) -> float {
      int g = k / kD, dout = k % kD;
      if (r >= Gm::kM || u0 + r >= kD || k >= kG * kD) return 0.f;
      return to_f(R[(((long)g * N + n) * kD + dout) * kD + u0 + r]);
    };
    load_r<Gm>(afr, rsm, wm, wk, elem);
  }
  for (int i = threadIdx.x; i < (DSM ? 2 : 1) * kBwdTileBytes / 16; i += kThreads)
    reinterpret_cast<uint4*>(smem)[i] = make_uint4(0, 0, 0, 0);
  BulkRows<kBwdBulk> bulk(xs);
  if constexpr (!DSM) bulk.init();
  // DSM: the bytes of dgr every block receives per step; both buffers' mbarriers armed for their
  // first step before any block of the cluster may write (the cluster barrier below)
  const unsigned dsm_bytes = (unsigned)(nb * kG * kD * kESize);
  auto dsm_bar = [&](int q) { return smem_addr(xs + q * kBT * Gm::kXRow + Gm::kKPad); };
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

  float carry[kPPT][kS];
  // ring of prefetched inputs: slot (T-1-t) % PF holds step t
  elem_t spn[kBwdPF][kPPT][kS], dsn[kBwdPF][kPPT][kS];
  elem_t cn[kBwdPF][kPPT][kGC];
  bool valid[kPPT];
  int pu[kPPT] = {}, pb[kPPT] = {};  // set below, before load_step is first called
  auto load_step = [&](int j, int i, int t) {  // prefetch what step t needs (t >= 0) into slot j
    const int d = u0 + pu[i], b = b0 + pb[i];
#pragma unroll
    for (int s = 0; s < kS; ++s) {
      spn[j][i][s] = t > 0 ? statesp[(((long)s * B + b) * T + t - 1) * ND + (long)n * kD + d]
                           : p.s0[((long)s * B + b) * ND + (long)n * kD + d];
      dsn[j][i][s] = dstatesp[(((long)s * B + b) * T + t) * ND + (long)n * kD + d];
    }
#pragma unroll
    for (int c = 0; c < kGC; ++c)
      cn[j][i][c] = cachep[(((long)b * T + t) * kGC + c) * ND + (long)n * kD + d];
  };
#pragma unroll
  for (int i = 0; i < kPPT; ++i) {
    int pr = threadIdx.x + i * kThreads;
    pu[i] = pr % kU;
    pb[i] = pr / kU;
    valid[i] = pr < kU * kBT && u0 + pu[i] < kD && pb[i] < nb;
#pragma unroll
    for (int s = 0; s < kS; ++s) {
      carry[i][s] = 0.f;
    }
#pragma unroll
    for (int j = 0; j < kBwdPF; ++j)
      if (valid[i] && T - 1 - j >= 0) load_step(j, i, T - 1 - j);
  }
  __syncthreads();

  for (int k0 = 0; k0 <= T; k0 += kBwdPF) {
#pragma unroll
  for (int j = 0; j < kBwdPF; ++j) {  // unrolled so that the ring slot j is a constant
    const int t = T - 1 - (k0 + j);
    if (t < -1) break;
    // ---- recurrent gradient R^T dgr_{t+1} for this block's units (not at t = T-1)
    if (t < T - 1) {
      if constexpr (kNSlice > 1) {
        if constexpr (DSM) {
          // wait for buffer (t+1) & 1, then arm it for dgr_{t-1} (no byte of that can arrive
          // before this block has sent dgr_t)
          const int q = (t + 1) & 1;
          mbar_wait_cluster(dsm_bar(q), (unsigned)((T - 2 - t) >> 1) & 1u);
          if (threadIdx.x == 0) mbar_arrive_expect_tx(dsm_bar(q), dsm_bytes);
        } else {
          // dgr_{t+1}: parity (t+1)&1, published with flag value xbase + T-1-t
          const unsigned tag = p.xbase + (unsigned)(T - 1 - t);
          if constexpr (kBwdBulk) {
            if (warp == 0 && lane == 0) bulk.expect(nb);
            if (warp == 0) {
              poll_flags(flags, tag, lane);
              __syncwarp();  // every lane's acquired flag is ordered before lane 0's copy
              if (lane == 0)
                bulk.fetch(xs, xdat + (((t + 1) & 1) * Bpad + b0) * N * Gm::kKPad + (long)n * Gm::kKPad, N, nb);
            }
            bulk.wait();
          } else {
            if (warp == 0) poll_flags(flags, tag, lane);
            __syncthreads();
            // this warp column's K range of the operand in 16-byte chunks [c_lo, c_lo + ncol), rows
            // numbered with the compile-time count NCOL (a runtime divisor took ~480 instructions
            // per warp and step for the copy, ~380 with this one: ncu on H100, LSTM 1x768; a
            // compile-time trip count as well made ptxas spill 72 bytes in the A100 sLSTM 256
            // fidelity build)
            constexpr int CH = 16 / (int)sizeof(elem_t);
            constexpr int NCOL = Gm::kKSW * (kKW / CH);
            const int c_lo = wk * NCOL;
            const int ncol = min(NCOL, Gm::kKPad / CH - c_lo);
            const elem_t* src = xdat + (((t + 1) & 1) * Bpad + b0) * N * Gm::kKPad + (long)n * Gm::kKPad;
            for (int i = wm * 32 + lane; i < nb * NCOL; i += 32 * Gm::kWM) {
              const int r = i / NCOL, c = i % NCOL;
              if (c < ncol)
                cp_async16(xs + r * Gm::kXRow + (c_lo + c) * CH, src + (long)r * N * Gm::kKPad + (c_lo + c) * CH);
            }
            cp_async_wait_all();
            if (Gm::kWM == 1) {
              __syncwarp();
            } else {
              named_barrier(1 + wk, 32 * Gm::kWM);
            }
          }
        }
      }
      gemm_partial_sums<Gm>(afr, rsm, DSM ? xs + ((t + 1) & 1) * kBT * Gm::kXRow : xs, gs, wm, wk, lane);
      __syncthreads();
    }
    // ---- pointwise backward of step t (t = -1: write the initial-state gradients)
    if (t < 0) {
#pragma unroll
      for (int i = 0; i < kPPT; ++i) {
        if (!valid[i]) continue;
        const int u = pu[i], bl = pb[i], d = u0 + u, b = b0 + bl;
        const float dhrec = column_sum<Gm>(gs, u, bl);  // t = -1 < T-1 always ran the GEMM
#pragma unroll
        for (int s = 0; s < kS; ++s)
          p.ds0[((long)s * B + b) * ND + (long)n * kD + d] =
              from_f(carry[i][s] + (s == 0 ? dhrec : 0.f));
      }
      break;
    }
    float dxa[kPPT][kG], dra[kPPT][kG];
#pragma unroll
    for (int i = 0; i < kPPT; ++i) {
      if (valid[i]) {
        const int u = pu[i], bl = pb[i];
        float dhrec = 0.f;
        if (t < T - 1) dhrec = column_sum<Gm>(gs, u, bl);
        float sp[kS], ds[kS], xg[kG], rg[kG];
#pragma unroll
        for (int s = 0; s < kS; ++s) {
          sp[s] = to_f(spn[j][i][s]);
          ds[s] = to_f(dsn[j][i][s]) + carry[i][s] + (s == 0 ? dhrec : 0.f);
        }
#pragma unroll
        for (int g = 0; g < kG; ++g) {
          xg[g] = to_f(cn[j][i][g]);
          rg[g] = Cell::kSeparateRecurrent ? to_f(cn[j][i][Cell::kSeparateRecurrent ? kG + g : 0]) : 0.f;
        }
        if (t - kBwdPF >= 0) load_step(j, i, t - kBwdPF);
        cell_backward(xg, rg, sp, ds, dxa[i], dra[i], carry[i]);
      }
    }
    // the operand of the next GEMM first (with NSLICE > 1: exchange, barrier, flag), then the
    // gradient outputs, so that the producer's fence does not wait for them
#pragma unroll
    for (int i = 0; i < kPPT; ++i) {
      if (!valid[i]) continue;
      const int bl = pb[i], d = u0 + pu[i];
#pragma unroll
      for (int g = 0; g < kG; ++g) {
        const elem_t v = from_f(dra[i][g]);
        if constexpr (kNSlice == 1) {
          xs[bl * Gm::kXRow + g * kD + d] = v;
        } else {
          if (!DSM) xdat[(((t & 1) * Bpad + b0 + bl) * N + n) * Gm::kKPad + g * kD + d] = v;
        }
      }
    }
    if constexpr (DSM) {
      // send dgr_t of this block's units, gate by gate, into buffer t & 1 of every block of the
      // cluster (E-unit chunks of a row, as the forward's h)
      constexpr int E = kDsmE;
      const unsigned buf = smem_addr(xs + (t & 1) * kBT * Gm::kXRow), bar = dsm_bar(t & 1);
#pragma unroll
      for (int i = 0; i < kPPT; ++i)
#pragma unroll
        for (int g = 0; g < kG; ++g)
          dsm_send_chunk<E>(from_f(dra[i][g]), valid[i], lane, buf,
                            pb[i] * Gm::kXRow + g * kD + u0 + pu[i] - (lane & (E - 1)), bar);
    }
    __syncthreads();
    if constexpr (kNSlice > 1) {
      if (!DSM && threadIdx.x == 0) {  // the block's rows of step t are in place
        fence_acq_rel_gpu();
        st_relaxed_u32(flags + slice, p.xbase + (unsigned)(T - t));
      }
    }
#pragma unroll
    for (int i = 0; i < kPPT; ++i) {
      if (!valid[i]) continue;
      const int d = u0 + pu[i], b = b0 + pb[i];
#pragma unroll
      for (int g = 0; g < kG; ++g) {
        dgrp[(((long)b * T + t) * kG + g) * ND + (long)n * kD + d] = from_f(dra[i][g]);
        if (Cell::kSeparateRecurrent)
          dwxp[(((long)b * T + t) * kG + g) * ND + (long)n * kD + d] = from_f(dxa[i][g]);
      }
    }
  }
  }
  // no block leaves while a peer's multicast or DSM store may still target it
  if constexpr (kBwdBulk || DSM) cluster_sync_all();
}

}  // namespace frnn
