// The backward's exchange through L2 (NSLICE > 1): plain rows behind step flags.
//
// The gate gradients of a step are G*D wide per batch row (4x h for an LSTM), so the bytes each
// block reads count (the forward's packed tagged words, 4/3 of them, measured slower here).
// Blocks write plain elements to [2 (step parity)][Bpad][N][KPAD], then, after a block barrier,
// one thread publishes the step in its flag (fence.acq_rel + relaxed store; the gradient outputs
// are stored after it, so that the fence does not wait for them): step t stores xbase + T - t
// (BwdParams::xbase), and a reader waits until the flags are at least the value of the step it
// needs. The host keeps the buffer from launch to launch and passes the last launch's final value
// as the base, so that no flag left in it passes a poll of this launch. Flags [Bpad/BT][N][NSLICE]
// uint32 follow the data. A reader's warp 0 polls the NSLICE flags of its (head, batch tile)
// with acquire loads (a few words, not the data; polling them from every warp measured 17%
// slower: the fences and the traffic on two L2 lines), then each group of warps sharing a K range
// copies just that range with cp.async and synchronises only among itself (named barrier), or,
// on sm_90a, the bulk copy engine fetches the rows (BulkRows below).
#pragma once
#include "cluster.cuh"
#include "memory.cuh"
#include "traits.cuh"

namespace frnn {

// Bytes of the buffer: the data per padded batch row and head (both step parities), the flags per
// batch tile and head, and for Bpad batch rows and N heads the data, then the flags (exports.cuh
// exports the first two for launches without this host code).
constexpr long kFlagXchRowBytes = 2 * (long)BwdGemm::kKPad * (long)sizeof(elem_t);
constexpr long kFlagXchTileBytes = 4 * (long)kNSlice;
__host__ __device__ constexpr long flag_xch_bytes(long bpad, int N) {
  return bpad * N * kFlagXchRowBytes + (bpad / kBT) * N * kFlagXchTileBytes;
}
// One warp: spin until all NSLICE step flags of the group are >= tag (all loads in flight at
// once); FRNN_BWD_ACQ picks how they acquire the producers' data.
__device__ __forceinline__ void poll_flags(const unsigned* flags, unsigned tag, int lane) {
  constexpr int NF = (kNSlice + 31) / 32;
  bool ok;
  do {
    unsigned f[NF];
#pragma unroll
    for (int j = 0; j < NF; ++j)
      f[j] = lane + 32 * j < kNSlice
                 ? (kBwdAcquire ? ld_acquire_u32(flags + lane + 32 * j)
                                : ld_relaxed_u32(flags + lane + 32 * j))
                 : tag;
    ok = true;
#pragma unroll
    for (int j = 0; j < NF; ++j) ok &= f[j] >= tag;
  } while (!__all_sync(0xffffffffu, ok));
  if (!kBwdAcquire) fence_acq_rel_gpu();
}

// FRNN_BWD_BULK: after the flag poll, lane 0 of warp 0 of cluster block r issues bulk copies
// multicast into all C blocks' tiles for rows r, r + C, ...: every row is read from L2 once per
// cluster. They complete on an mbarrier in the 16-byte pad of tile row 0 (no copy or GEMM
// touches the pads), which each block arms with the bytes of all rows once per step. The tile is
// single-buffered: a peer writes step t's rows only after this block's flag for step t, which
// follows its last read of the tile.
template <bool ON>
struct BulkRows {  // off: copy_rows
  __device__ __forceinline__ explicit BulkRows(elem_t*) {}
  __device__ __forceinline__ void init() {}
  __device__ __forceinline__ void expect(int) {}
  __device__ __forceinline__ void fetch(elem_t*, const elem_t*, int, int) {}
  __device__ __forceinline__ void wait() {}
};
template <>
struct BulkRows<true> {
  unsigned bar, crank, csize;
  unsigned short mask;  // the cluster's blocks (0: no cluster)
  unsigned phase = 0;
  __device__ __forceinline__ explicit BulkRows(elem_t* xs)
      : bar(smem_addr(xs + BwdGemm::kKPad)),
        crank(cluster_rank()),
        csize(cluster_size()),
        mask(csize > 1 ? (unsigned short)((1u << csize) - 1u) : 0) {}
  // every block's mbarrier exists before any multicast reaches it
  __device__ __forceinline__ void init() {
    __syncthreads();
    if (threadIdx.x == 0) mbar_init(bar, 1);
    __syncthreads();
    cluster_sync_all();
  }
  // one thread, once per step: this block receives all nb rows (its own and the cluster peers'
  // multicasts may land before or after)
  __device__ __forceinline__ void expect(int nb) {
    mbar_arrive_expect_tx(bar, nb * (BwdGemm::kKPad * (int)sizeof(elem_t)));
  }
  // lane 0 of warp 0, after the flag poll: this block's share of the rows of the buffer at src
  __device__ __forceinline__ void fetch(elem_t* xs, const elem_t* src, int N, int nb) {
    fetch_rows(xs, BwdGemm::kXRow, src, (long)N * BwdGemm::kKPad, nb,
               BwdGemm::kKPad * (unsigned)sizeof(elem_t), bar, crank, csize, mask);
  }
  __device__ __forceinline__ void wait() {
    mbar_wait(bar, phase);
    phase ^= 1u;
  }
};

}  // namespace frnn
