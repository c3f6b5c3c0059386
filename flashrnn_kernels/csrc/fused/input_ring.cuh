// The forward's input-gate ring (FRNN_WX_RING, one block per head): the input gates Wx of the
// next STAGES - 1 steps are copied with cp.async into shared memory [STAGES][BT][G][U] (16-byte
// chunks of a row's U units), one commit group per step.
#pragma once
#include "memory.cuh"
#include "traits.cuh"

namespace frnn {

template <bool ON>
struct InputRing {
  static constexpr int kChunksPerRow = kU * kESize / 16;  // per (batch row, gate)
  static constexpr int kChunks = kBT * kG * kChunksPerRow;
  static constexpr int kPerThread = cdiv(kChunks, kThreads);
  static constexpr int kSlot = kBT * kG * kU;  // elements per slot
  static_assert(ON && kU * kESize % 16 == 0, "the ring copies rows of whole 16-byte chunks");

  elem_t* ring;
  int T;
  long step;  // elements between the steps of one row
  // this thread's chunks (row bl, gate g, chunk k of the U units): their source at step 0 and
  // their place in a slot (-1: no chunk), fixed for the whole sequence
  // (at least one slot: the template is defined, though never used, for tilings whose rows are not
  // whole chunks, and NVRTC, unlike nvcc, rejects arrays of size zero)
  const elem_t* src[kPerThread > 0 ? kPerThread : 1];
  int dst[kPerThread > 0 ? kPerThread : 1];

  // ring: its shared memory; the block's rows b0 .. b0 + nb - 1, head n, units from u0; ND = N*D
  __device__ __forceinline__ InputRing(elem_t* ring_, const elem_t* wx, int b0, int nb, int T_, int n,
                                       int u0, long ND)
      : ring(ring_), T(T_) {
    const int T = T_;
#pragma unroll
    for (int j = 0; j < kPerThread; ++j) {
      const int c = threadIdx.x + j * kThreads;
      const int bl = c / (kG * kChunksPerRow), g = (c / kChunksPerRow) % kG, k = c % kChunksPerRow;
      const int e0 = k * (16 / kESize);
      const bool on = c < kChunks && bl < nb;
      dst[j] = on ? (bl * kG + g) * kU + e0 : -1;
      src[j] = wx + (on ? ((long)(b0 + bl) * T * kG + g) * ND + (long)n * kD + u0 + e0 : 0);
    }
    step = (long)kG * ND;
  }
  // issue the copies of step ts into its slot, then commit one group (empty past the end, so that
  // every step commits exactly one)
  __device__ __forceinline__ void issue(int ts) {
    if (ts < T) {
      elem_t* slot = ring + (ts % kWxStages) * kSlot;
      const long off = ts * step;
#pragma unroll
      for (int j = 0; j < kPerThread; ++j)
        if (dst[j] >= 0) cp_async16(slot + dst[j], src[j] + off);
    }
    cp_async_commit();
  }
  // this thread's copies of the oldest step in flight have landed
  __device__ __forceinline__ void wait() { cp_async_wait<kWxStages - 1>(); }
  // the input gate g of unit u, batch row bl at step t (once every thread's wait() for it and a
  // block barrier have passed)
  __device__ __forceinline__ elem_t at(int t, int bl, int g, int u) const {
    return ring[(((t % kWxStages) * kBT + bl) * kG + g) * kU + u];
  }
};

template <>
struct InputRing<false> {  // off: the forward prefetches Wx into registers instead (at() is not called)
  __device__ __forceinline__ InputRing(elem_t*, const elem_t*, int, int, int, int, int, long) {}
  __device__ __forceinline__ void issue(int) {}
  __device__ __forceinline__ void wait() {}
  __device__ __forceinline__ elem_t at(int, int, int, int) const { return elem_t(); }
};

}  // namespace frnn
