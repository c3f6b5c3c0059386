// The forward kernel's body: all T steps of one (head, batch tile, slice) block.
//
// Per step: the recurrent GEMM of the block's G*U gate rows with h_{t-1} (gemm.cuh), the cell
// update of its units (cell.cuh), and h_t handed to the blocks of the head:
//   NSLICE == 1: into the block's own operand tile (shared memory);
//   NSLICE  > 1, frnn_fwd: tagged words through L2 (tagged_exchange.cuh). Each warp column wk
//     polls only the exchange chunks covering its K range, then syncs among itself (__syncwarp or
//     named barrier 1 + wk) and runs its MMAs; the partial sums are kept twice, by step parity,
//     so one block barrier (before the pointwise update) suffices per step, plus one before the
//     poll with FRNN_FWD_POLL_BAR. With the packed format the pairs sit on lanes 0..29 of each
//     warp, so that the six values of a chunk are in one warp: lane 6c gathers them and stores
//     the chunk right after the cell update, before the states are written.
//   NSLICE  > 1, frnn_fwd_dsm (FRNN_FWD_DSM): the blocks of the head form one cluster; the tile is
//     double-buffered by step parity (h_t in buffer t & 1, h0 in buffer 1; the mbarrier of
//     buffer q in the pad of its row 0). After its cell update a block sends its units of h_t
//     into buffer t & 1 of every block of the cluster (cluster.cuh: dsm_send_chunk); the bytes
//     complete the receiver's mbarrier, armed with the step's byte count right after the wait
//     for the previous use of that buffer (no byte of h_{t+1} can arrive before the receiver has
//     sent h_t, so the arming is always in time).
#pragma once
#include "cell.cuh"
#include "cluster.cuh"
#include "gemm.cuh"
#include "input_ring.cuh"
#include "mma.cuh"
#include "params.cuh"
#include "tagged_exchange.cuh"
#include "traits.cuh"

namespace frnn {

template <bool DSM>
__device__ __forceinline__ void fwd_body(const FwdParams& p, unsigned char* smem) {
  using Gm = FwdGemm;
  // the pairs sit on 30 lanes with the packed L2 exchange, else on all 32
  constexpr int LANES = (!DSM && kFwdPack) ? 30 : 32;
  constexpr int PPT = cdiv(kU * kBT, LANES * kWarps);
  elem_t* xs = reinterpret_cast<elem_t*>(smem);  // [BT][XROW] plain elements (DSM: two)
  float* gs = reinterpret_cast<float*>(smem + kFwdTileBytes);
  fxword_t* xch = reinterpret_cast<fxword_t*>(p.xch);  // [2][Bpad][N][kXchRow] (NSLICE > 1)
  xword_t* xw = reinterpret_cast<xword_t*>(p.xch);     // the same, one value per word

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
  const elem_t* __restrict__ wxp = p.wx;
  elem_t* __restrict__ statesp = p.states;
  elem_t* __restrict__ cachep = p.cache;
  InputRing<kWxRing> ring(reinterpret_cast<elem_t*>(smem + kFwdTileBytes + kFwdSumsBytes), wxp, b0,
                          nb, T, n, u0, ND);

  // R slice as A fragments: row r = g*U + u (gate g of unit u0+u), column k = input unit
  uint32_t afr[Gm::kMTW][Gm::kKSRA][4];
  unsigned char* const rsm = smem + kFwdTileBytes + kFwdSumsBytes + kFwdRingBytes;  // R beyond the registers
  {
    const elem_t* R = p.R;
    auto elem = [&](int r, int k) -> float {
      int g = r / kU, u = r % kU;
      if (r >= Gm::kM || u0 + u >= kD || k >= kD) return 0.f;
      return to_f(R[(((long)g * N + n) * kD + (u0 + u)) * kD + k]);
    };
    load_r<Gm>(afr, rsm, wm, wk, elem);
  }

  // zero the operand tile (padding columns and missing batch rows stay zero)
  for (int i = threadIdx.x; i < kFwdTileBytes / 16; i += kThreads)
    reinterpret_cast<uint4*>(smem)[i] = make_uint4(0, 0, 0, 0);

  // pointwise ownership: pair = (unit u, batch row bl), unit fastest, on lanes 0..LANES-1
  float st[PPT][kS];
  float xb[PPT][kG], rb[PPT][kG];  // biases summed per gate and side
  elem_t wxn[kFwdPF][PPT][kG];     // register ring (without the input ring): slot t % PF holds step t
  bool valid[PPT];
  int pu[PPT], pb[PPT];
#pragma unroll
  for (int i = 0; i < PPT; ++i) {
    const int pr = warp * LANES + lane + i * LANES * kWarps;
    pu[i] = pr % kU;
    pb[i] = pr / kU;
    valid[i] = lane < LANES && pr < kU * kBT && u0 + pu[i] < kD && pb[i] < nb;
    const int d = u0 + pu[i], b = b0 + pb[i];
#pragma unroll
    for (int s = 0; s < kS; ++s)
      st[i][s] = valid[i] ? to_f(p.s0[((long)s * B + b) * ND + (long)n * kD + d]) : 0.f;
#pragma unroll
    for (int g = 0; g < kG; ++g) xb[i][g] = rb[i][g] = 0.f;
#pragma unroll
    for (int j = 0; j < kGB; ++j) {
      float v = valid[i] ? to_f(p.bias[((long)j * N + n) * kD + d]) : 0.f;
      if (Cell::bias_side(j) == 0) xb[i][Cell::bias_gate(j)] += v;
      else rb[i][Cell::bias_gate(j)] += v;
    }
#pragma unroll
    for (int j = 0; j < kFwdPF; ++j)
#pragma unroll
      for (int g = 0; g < kG; ++g)
        wxn[j][i][g] = !kWxRing && valid[i] && j < T
                           ? wxp[(((long)b * T + j) * kG + g) * ND + (long)n * kD + d]
                           : from_f(0.f);
  }
  __syncthreads();
  // h0 into the tile (DSM: buffer 1, which step 0 reads)
  elem_t* const xs0 = xs + (DSM ? kBT * Gm::kXRow : 0);
  for (int idx = threadIdx.x; idx < nb * kD; idx += kThreads) {
    const int r = idx / kD, k = idx % kD;
    xs0[r * Gm::kXRow + k] = p.s0[(long)(b0 + r) * ND + (long)n * kD + k];
  }
  // DSM: the bytes of h_t every block receives per step; the mbarriers of both buffers armed for
  // their first step before any block of the cluster may write (the cluster barrier below)
  const unsigned dsm_bytes = (unsigned)(nb * kD * kESize);
  auto dsm_bar = [&](int q) { return smem_addr(xs + q * kBT * Gm::kXRow + Gm::kKPad); };
  if constexpr (DSM) {
    if (threadIdx.x == 0) {
      for (int q = 0; q < 2; ++q) {
        mbar_init(dsm_bar(q), 1);
        mbar_arrive_expect_tx(dsm_bar(q), dsm_bytes);
      }
    }
    cluster_sync_all();
  }
  for (int ts = 0; ts < kWxStages - 1; ++ts) ring.issue(ts);
  __syncthreads();

  for (int t0 = 0; t0 < T; t0 += kFwdPF) {
#pragma unroll
  for (int j = 0; j < kFwdPF; ++j) {  // unrolled so that the register ring's slot j is a constant
    const int t = t0 + j;
    if (t >= T) break;
    if constexpr (kNSlice > 1) {
      if constexpr (DSM) {
        if (t > 0) {
          // h_{t-1} complete in buffer (t-1) & 1; then that buffer's mbarrier is armed for h_{t+1}
          const int q = (t - 1) & 1;
          mbar_wait_cluster(dsm_bar(q), (unsigned)((t - 1) >> 1) & 1u);
          if (threadIdx.x == 0) mbar_arrive_expect_tx(dsm_bar(q), dsm_bytes);
        }
      } else if (t > 0) {
        if (kFwdPollBar) __syncthreads();
        // h_{t-1} (parity (t-1)&1, tag xbase + t), just this warp column's K range; then only
        // the column synchronises (the tile's other ranges belong to other columns)
        poll_range(xs, xch + ((((t - 1) & 1) * Bpad + b0) * N + n) * (long)kXchRow, (long)N * kXchRow,
                   nb, (unsigned)((p.xbase + t) & kTagMask), wk, wm * 32 + lane);
        if (Gm::kWM == 1) {
          __syncwarp();
        } else {
          named_barrier(1 + wk, 32 * Gm::kWM);
        }
      }
    }
    float* gst = kNSlice > 1 ? gs + (t & 1) * Gm::kSums : gs;  // this step's partial sums
    // the ring's slot of step t - 1 is free (its readers passed the barrier that ended that step)
    ring.issue(t + kWxStages - 1);
    // ---- recurrent GEMM: gate rows x batch
    gemm_partial_sums<Gm>(afr, rsm, DSM ? xs + ((t + 1) & 1) * kBT * Gm::kXRow : xs, gst, wm, wk, lane);
    ring.wait();  // this thread's copies of step t have landed
    __syncthreads();
    // ---- pointwise cell update: first every pair's math (independent chains), then the stores
    float sn[PPT][kS], xga[PPT][kG], rga[PPT][kG];
#pragma unroll
    for (int i = 0; i < PPT; ++i) {
      if (valid[i]) {
        const int u = pu[i], bl = pb[i];
#pragma unroll
        for (int g = 0; g < kG; ++g) {
          rga[i][g] = column_sum<Gm>(gst, g * kU + u, bl) + rb[i][g];
          if constexpr (kWxRing) {
            xga[i][g] = to_f(ring.at(t, bl, g, u)) + xb[i][g];
          } else {
            xga[i][g] = to_f(wxn[j][i][g]) + xb[i][g];
          }
        }
        cell_forward(xga[i], rga[i], st[i], sn[i]);
      }
    }
    if constexpr (DSM) {
      // send h_t of this block's units into buffer t & 1 of every block of the cluster
      if (t + 1 < T) {
        constexpr int E = kDsmE;
        const unsigned buf = smem_addr(xs + (t & 1) * kBT * Gm::kXRow), bar = dsm_bar(t & 1);
#pragma unroll
        for (int i = 0; i < PPT; ++i)  // valid[i] is the same for the E lanes of a chunk
          dsm_send_chunk<E>(from_f(sn[i][0]), valid[i], lane, buf,
                            pb[i] * Gm::kXRow + u0 + pu[i] - (lane & (E - 1)), bar);
      }
    }
    if constexpr (kFwdPack && !DSM) {
      // publish h_t of this block's units before anything else (every block of the head waits for it)
      const unsigned long long tg = (unsigned long long)((p.xbase + t + 1) & kTagMask) << 48;
#pragma unroll
      for (int i = 0; i < PPT; ++i) {
        unsigned x0 = 0;
        if (valid[i]) x0 = bits(from_f(sn[i][0]));
        const int pr = warp * LANES + lane + i * LANES * kWarps;
        fx_publish_packed(x0, lane < LANES && lane % 6 == 0 && pr < kU * kBT && pb[i] < nb, tg, [&] {
          return xch + (((t & 1) * Bpad + b0 + pb[i]) * N + n) * (long)kXchRow +
                 slice * 2 * kXchChunksPerSlice + 2 * (pu[i] / 6);
        });
      }
    }
#pragma unroll
    for (int i = 0; i < PPT; ++i) {
      if (!valid[i]) continue;
      const int u = pu[i], bl = pb[i], d = u0 + u, b = b0 + bl;
      if (!kWxRing && t + kFwdPF < T) {  // prefetch the input gates PF steps ahead
#pragma unroll
        for (int g = 0; g < kG; ++g)
          wxn[j][i][g] = wxp[(((long)b * T + t + kFwdPF) * kG + g) * ND + (long)n * kD + d];
      }
      // the state as stored (and fed back) is rounded to the storage type, as in the reference
#pragma unroll
      for (int s = 0; s < kS; ++s) {
        elem_t v = from_f(sn[i][s]);
        st[i][s] = to_f(v);
        if (s == 0) {
          if constexpr (kNSlice == 1) {
            xs[bl * Gm::kXRow + d] = v;
          } else if constexpr (!kFwdPack && !DSM) {
            store_word(xw + ((t & 1) * Bpad + b) * ND + (long)n * kD + d,
                       make_word(v, (unsigned)((p.xbase + t + 1) & kTagMask)));
          }
        }
        statesp[(((long)s * B + b) * T + t) * ND + (long)n * kD + d] = v;
      }
      if (cachep != nullptr) {
        elem_t* cp = cachep + ((long)b * T + t) * kGC * ND + (long)n * kD + d;
#pragma unroll
        for (int g = 0; g < kG; ++g) {
          if (Cell::kSeparateRecurrent) {
            cp[g * ND] = from_f(xga[i][g]);
            cp[(kG + g) * ND] = from_f(rga[i][g]);
          } else {
            cp[g * ND] = from_f(xga[i][g] + rga[i][g]);
          }
        }
      }
    }
    if constexpr (kNSlice == 1) __syncthreads();
  }
  }
  // last states
#pragma unroll
  for (int i = 0; i < PPT; ++i) {
    if (!valid[i]) continue;
    const int d = u0 + pu[i], b = b0 + pb[i];
#pragma unroll
    for (int s = 0; s < kS; ++s)
      p.last[((long)s * B + b) * ND + (long)n * kD + d] = from_f(st[i][s]);
  }
  if constexpr (DSM) cluster_sync_all();  // no block leaves while a peer may address its memory
}

}  // namespace frnn
