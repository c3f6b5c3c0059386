// Thread-block clusters (sm_90a): cluster rank and barrier, mbarriers, bulk copies (multicast
// within a cluster) and stores into the shared memory of other blocks of the cluster. Used only
// by the sm_90a variants of config.cuh (FRNN_BWD_BULK, FRNN_FWD_DSM, FRNN_BWD_DSM).
#pragma once
#include "mma.cuh"
#include "traits.cuh"

namespace frnn {

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
// the shared::cluster address of shared-memory address `addr` in cluster block `rank`
__device__ __forceinline__ unsigned cluster_addr(unsigned addr, unsigned rank) {
  unsigned r;
  asm volatile("mapa.shared::cluster.u32 %0, %1, %2;" : "=r"(r) : "r"(addr), "r"(rank));
  return r;
}

// ---------------------------------------------------------------- mbarriers
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
// wait for the phase of parity `parity` of a local mbarrier completed by other blocks' stores
__device__ __forceinline__ void mbar_wait_cluster(unsigned bar, unsigned parity) {
  asm volatile(
      "{\n.reg .pred p;\nFRNN_MBAR_WAIT_CL:\n"
      "mbarrier.try_wait.parity.acquire.cluster.shared::cta.b64 p, [%0], %1;\n"
      "@!p bra FRNN_MBAR_WAIT_CL;\n}" ::"r"(bar),
      "r"(parity)
      : "memory");
}

// ---------------------------------------------------------------- bulk copies
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

// ---------------------------------------------------------------- stores into peers' tiles
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
// The E lanes lane & ~(E-1) .. + E-1 of a warp hold E consecutive elements of one chunk of a tile
// row (e: this lane's element; `on` and col0, the chunk's first element in the tile, the same in
// all E lanes). Each gathers the chunk with shuffles and stores it at element col0 of the tile at
// shared-memory address buf in cluster ranks lane % E, lane % E + E, ... (< NSLICE), completing
// the transaction count of their mbarrier at the same address as `bar`.
template <int E>
__device__ __forceinline__ void dsm_send_chunk(elem_t e, bool on, int lane, unsigned buf, int col0,
                                               unsigned bar) {
  constexpr int NWD = E * kESize / 4;
  const int base = lane & ~(E - 1);
  uint32_t v = 0;
  if (on) v = bits(e);
  uint32_t w[NWD];
  if constexpr (kESize == 2) {
    v |= __shfl_down_sync(0xffffffffu, v, 1) << 16;  // even lanes: elements k, k + 1
#pragma unroll
    for (int k = 0; k < NWD; ++k) w[k] = __shfl_sync(0xffffffffu, v, base + 2 * k);
  } else {
#pragma unroll
    for (int k = 0; k < NWD; ++k) w[k] = __shfl_sync(0xffffffffu, v, base + k);
  }
  if (on) {
    const unsigned dst = buf + (unsigned)(col0 * kESize);
    for (int r = lane - base; r < kNSlice; r += E)
      st_async_words<NWD>(cluster_addr(dst, (unsigned)r), w, cluster_addr(bar, (unsigned)r));
  }
}

}  // namespace frnn
