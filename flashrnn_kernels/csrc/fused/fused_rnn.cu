// Fused persistent RNN kernels (forward and backward) for LSTM, GRU, sLSTM and Elman cells: the
// one translation unit nvcc builds (no torch headers; the host calls the extern "C" functions of
// launch.cuh).
//
// One launch runs all T steps. The recurrent matrix R of a head is split over NSLICE thread
// blocks; each block owns U hidden units (all gates of them) and keeps its slice of R in
// registers as tensor-core A fragments for the whole sequence. Per step a block multiplies its
// slice with the previous hidden state (forward) or with the gate gradients of the later step
// (backward), applies the cell's pointwise update for its units and hands its part of the next
// operand to the blocks of its head. README.md beside this file says which header holds what.
//
// Every tiling define comes from the model flashrnn_kernels/tiling/fused.cint (config.cuh); the
// compile test builds these problems' configurations:
// flashrnn-test-problem: lstm 16 1 768 bfloat16 both
// flashrnn-test-problem: gru 16 12 64 float32 both
#include "backward.cuh"
#include "forward.cuh"
#include "exports.cuh"
#include "traits.cuh"

// Forward through shared memory (NSLICE == 1) or L2 (NSLICE > 1, a cooperative launch).
extern "C" __global__ void __launch_bounds__(frnn::kThreads, 1) frnn_fwd(frnn::FwdParams p) {
  extern __shared__ __align__(16) unsigned char smem[];
  frnn::fwd_body<false>(p, smem);
}
#if FRNN_FWD_DSM
// Forward of a head as one thread-block cluster, h through distributed shared memory.
extern "C" __global__ void __launch_bounds__(frnn::kThreads, 1) frnn_fwd_dsm(frnn::FwdParams p) {
  extern __shared__ __align__(16) unsigned char smem[];
  frnn::fwd_body<true>(p, smem);
}
#endif

// Backward through shared memory (NSLICE == 1) or L2 (NSLICE > 1, a cooperative launch, on sm_90a
// in clusters with FRNN_BWD_BULK).
extern "C" __global__ void __launch_bounds__(frnn::kThreads, 1) frnn_bwd(frnn::BwdParams p) {
  extern __shared__ __align__(16) unsigned char smem[];
  frnn::bwd_body<false>(p, smem);
}
#if FRNN_BWD_DSM
// Backward of a head as one thread-block cluster, the gate gradients through distributed shared
// memory; empty where a block would receive more than FRNN_BWD_DSM_BYTES per step.
extern "C" __global__ void __launch_bounds__(frnn::kThreads, 1) frnn_bwd_dsm(frnn::BwdParams p) {
  extern __shared__ __align__(16) unsigned char smem[];
  if constexpr (frnn::kBwdDsmFits) frnn::bwd_body<true>(p, smem);
}
#endif

#ifndef __CUDACC_RTC__  // host launchers: nvcc builds only (NVRTC builds launch from Python)
#include "launch.cuh"
#endif
