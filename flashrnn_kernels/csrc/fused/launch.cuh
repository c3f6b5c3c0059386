// Host side (C ABI, no torch headers): what the build holds, the exchange buffer a launch needs,
// which kernel and cluster shape a launch takes on the current GPU (occupancy queries, once per
// device), and the launchers. fused_rnn.cu includes this after defining the kernels.
#pragma once
#include <cuda_runtime.h>

#include <atomic>

#include "flag_exchange.cuh"
#include "params.cuh"
#include "tagged_exchange.cuh"
#include "traits.cuh"

// ---------------------------------------------------------------- what the build holds
extern "C" __host__ int frnn_nthreads() { return frnn::kThreads; }
extern "C" __host__ int frnn_nslice() { return frnn::kNSlice; }
extern "C" __host__ int frnn_bt() { return frnn::kBT; }
extern "C" __host__ int frnn_gc() { return frnn::kGC; }
extern "C" __host__ int frnn_word_bytes() { return (int)sizeof(frnn::xword_t); }

extern "C" int frnn_fwd_cluster(int B, int N);
extern "C" int frnn_bwd_dsm_used(int B, int N);

// Bytes of the exchange buffer a launch needs (0: none) for batch B and N heads: forward tagged
// words (none when it runs in clusters, frnn_fwd_cluster), backward plain rows and flags (none
// with frnn_bwd_dsm_used). Zeroed before its first launch, then kept: each launch takes the tag
// base `xbase` after the last launch's tags (forward: the last base + T, the backward likewise), so
// that no word left in it passes a poll (tagged_exchange.cuh, flag_exchange.cuh).
extern "C" __host__ long frnn_xch_bytes(int B, int N, int backward) {
  if (frnn::kNSlice == 1 || (!backward && frnn_fwd_cluster(B, N) > 1) ||
      (backward && frnn_bwd_dsm_used(B, N)))
    return 0;
  const long bpad = (long)((B + frnn::kBT - 1) / frnn::kBT) * frnn::kBT;
  if (!backward) return frnn::tagged_xch_bytes(bpad, N);
  return frnn::flag_xch_bytes(bpad, N);
}

namespace frnn {

static int launch(const void* fn, void* params, int blocks, int smem, cudaStream_t stream) {
  cudaError_t e = cudaFuncSetAttribute(fn, cudaFuncAttributeMaxDynamicSharedMemorySize, smem);
  if (e != cudaSuccess) return (int)e;
  void* args[] = {params};
  if (kNSlice > 1) {  // every block of a head resident
    e = cudaLaunchCooperativeKernel(fn, dim3(blocks), dim3(kThreads), args, (size_t)smem, stream);
  } else {
    e = cudaLaunchKernel(fn, dim3(blocks), dim3(kThreads), args, (size_t)smem, stream);
  }
  if (e != cudaSuccess) return (int)e;
  return (int)cudaGetLastError();
}

static int nblocks(int B, int N) { return kNSlice * N * ((B + kBT - 1) / kBT); }

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
    cfg.blockDim = dim3(kThreads);
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
    if (ok && kNSlice > 8)
      ok = cudaFuncSetAttribute(fn, cudaFuncAttributeNonPortableClusterSizeAllowed, 1) == cudaSuccess;
    (void)cudaGetLastError();
    known[dev] = (ok ? clusters_held(fn, kNSlice, smem, kNSlice) : 0) + 1;
  }
  return known[dev] - 1;
}
// Launches fn as one cluster of NSLICE blocks per (head, batch tile), not cooperative.
static int launch_dsm(const void* fn, void* params, int blocks, int smem, cudaStream_t stream) {
  ClusterLaunch l(blocks, smem, kNSlice, false, stream);
  cudaError_t e = cudaLaunchKernelExC(&l.cfg, fn, &params);
  if (e != cudaSuccess) return (int)e;
  return (int)cudaGetLastError();
}
#endif
#if FRNN_FWD_DSM
static int fwd_dsm_max_clusters() {
  static int known[64];
  return dsm_max_clusters((const void*)frnn_fwd_dsm, kFwdSmem, known);
}
#endif
#if FRNN_BWD_DSM
static int bwd_dsm_max_clusters() {
  static int known[64];
  return dsm_max_clusters((const void*)frnn_bwd_dsm, kBwdSmemDsm, known);
}
#endif

#if FRNN_BWD_BULK
// Launches in clusters of C blocks (C <= FRNN_CLUSTER, dividing NSLICE, so that a cluster never
// spans two heads or batch tiles), the largest C for which the whole grid is co-resident; C = 1
// (no cluster) when none is. Cooperative as well, so that residency is guaranteed.
static int cluster_size_for(const void* fn, int blocks, int smem) {
  if (FRNN_CLUSTER > 8 &&
      cudaFuncSetAttribute(fn, cudaFuncAttributeNonPortableClusterSizeAllowed, 1) != cudaSuccess)
    (void)cudaGetLastError();
  for (int c = FRNN_CLUSTER; c > 1; c /= 2) {
    if (kNSlice % c != 0 || blocks % c != 0) continue;
    if ((long)clusters_held(fn, blocks, smem, c) * c >= blocks) return c;
  }
  return 1;
}

// cluster_size_for of the backward kernel, asked once per device and grid size (the occupancy
// queries cost tens of microseconds): per device the last grid size asked and its answer, packed
// as (blocks << 8) | C in one word (0: none yet) so that a reader sees both of one answer.
static int bwd_cluster_size(const void* fn, int blocks, int smem) {
  static std::atomic<long long> known[64];
  int dev = 0;
  if (cudaGetDevice(&dev) != cudaSuccess || dev < 0 || dev >= 64) {
    (void)cudaGetLastError();
    return cluster_size_for(fn, blocks, smem);
  }
  const long long k = known[dev].load(std::memory_order_relaxed);
  if (k != 0 && (k >> 8) == blocks) return (int)(k & 0xff);
  const int c = cluster_size_for(fn, blocks, smem);
  known[dev].store(((long long)blocks << 8) | c, std::memory_order_relaxed);
  return c;
}

static int launch_clustered(const void* fn, void* params, int blocks, int smem,
                            cudaStream_t stream) {
  cudaError_t e = cudaFuncSetAttribute(fn, cudaFuncAttributeMaxDynamicSharedMemorySize, smem);
  if (e != cudaSuccess) return (int)e;
  ClusterLaunch l(blocks, smem, bwd_cluster_size(fn, blocks, smem), true, stream);
  e = cudaLaunchKernelExC(&l.cfg, fn, &params);
  if (e != cudaSuccess) return (int)e;
  return (int)cudaGetLastError();
}
#endif

}  // namespace frnn

// ---------------------------------------------------------------- which kernel a launch takes
// 1 when the backward kernel for batch B and N heads runs every (head, batch tile) as one cluster
// that exchanges the gate gradients through distributed shared memory, all clusters at once; else
// 0 (through L2).
extern "C" int frnn_bwd_dsm_used(int B, int N) {
#if FRNN_BWD_DSM
  return frnn::kBwdDsmFits && frnn::bwd_dsm_max_clusters() >= frnn::nblocks(B, N) / frnn::kNSlice ? 1 : 0;
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
  return frnn::fwd_dsm_max_clusters() >= frnn::nblocks(B, N) / frnn::kNSlice ? frnn::kNSlice : 1;
#else
  (void)B, (void)N;
  return 1;
#endif
}

// Blocks per cluster the backward kernel launches with for batch B and N heads (1: no cluster;
// -1: its shared memory request failed); NSLICE with the exchange through distributed shared
// memory (frnn_bwd_dsm_used).
extern "C" int frnn_bwd_cluster(int B, int N) {
  if (frnn_bwd_dsm_used(B, N)) return frnn::kNSlice;
#if FRNN_BWD_BULK
  if (cudaFuncSetAttribute((const void*)frnn_bwd, cudaFuncAttributeMaxDynamicSharedMemorySize,
                           frnn::kBwdSmem) != cudaSuccess)
    return -1;
  return frnn::bwd_cluster_size((const void*)frnn_bwd, frnn::nblocks(B, N), frnn::kBwdSmem);
#else
  return 1;
#endif
}

// ---------------------------------------------------------------- launchers
extern "C" int frnn_fwd_launch(const void* wx, const void* R, const void* bias, const void* s0,
                               void* states, void* last, void* cache, void* counters, int B,
                               int T, int N, unsigned xbase, void* stream) {
  using frnn::elem_t;
  frnn::FwdParams p;
  p.wx = (const elem_t*)wx; p.R = (const elem_t*)R; p.bias = (const elem_t*)bias;
  p.s0 = (const elem_t*)s0; p.states = (elem_t*)states; p.last = (elem_t*)last;
  p.cache = (elem_t*)cache; p.xch = (frnn::xword_t*)counters;
  p.B = B; p.T = T; p.N = N; p.xbase = xbase;
  const int blocks = frnn::nblocks(B, N);
#if FRNN_FWD_DSM
  if (frnn_fwd_cluster(B, N) > 1)
    return frnn::launch_dsm((const void*)frnn_fwd_dsm, &p, blocks, frnn::kFwdSmem, (cudaStream_t)stream);
#endif
  return frnn::launch((const void*)frnn_fwd, &p, blocks, frnn::kFwdSmem, (cudaStream_t)stream);
}

extern "C" int frnn_bwd_launch(const void* R, const void* s0, const void* states,
                               const void* cache, const void* dstates, void* dgr, void* dwx,
                               void* ds0, void* counters, int B, int T, int N, unsigned xbase,
                               void* stream) {
  using frnn::elem_t;
  frnn::BwdParams p;
  p.R = (const elem_t*)R; p.s0 = (const elem_t*)s0; p.states = (const elem_t*)states;
  p.cache = (const elem_t*)cache; p.dstates = (const elem_t*)dstates; p.dgr = (elem_t*)dgr;
  p.dwx = (elem_t*)dwx; p.ds0 = (elem_t*)ds0; p.xch = (frnn::xword_t*)counters;
  p.B = B; p.T = T; p.N = N; p.xbase = xbase;
  const int blocks = frnn::nblocks(B, N);
#if FRNN_BWD_DSM
  if (frnn_bwd_dsm_used(B, N))
    return frnn::launch_dsm((const void*)frnn_bwd_dsm, &p, blocks, frnn::kBwdSmemDsm, (cudaStream_t)stream);
#endif
#if FRNN_BWD_BULK
  return frnn::launch_clustered((const void*)frnn_bwd, &p, blocks, frnn::kBwdSmem, (cudaStream_t)stream);
#else
  return frnn::launch((const void*)frnn_bwd, &p, blocks, frnn::kBwdSmem, (cudaStream_t)stream);
#endif
}
