// Alternating backend: interface of the pointwise step kernels (no torch, no CUDA C++ syntax).
// The argument structs are plain C layouts: flashrnn_kernels/backends/alternating.py mirrors them
// with ctypes and calls the extern "C" launchers frnn_alt_forward / frnn_alt_backward
// (alternating.cu) with a pointer to them.
//
// One time step of the alternating scheme: the caller computes rh = R h_prev for all heads with
// one batched GEMM, then one launch of forward_step applies the cell (cells_generated.cuh).
// backward_step mirrors it; the caller does the GEMMs dh += R^T dg and, at the end, dR and db.
#pragma once

#include <cstdint>
#include <cuda_runtime_api.h>

namespace flashrnn {
namespace alternating {

enum DType : int { kFloat32 = 0, kFloat16 = 1, kBFloat16 = 2 };

// A strided view of up to 4 dimensions; strides in elements. Which index is which is fixed per
// operand (see the comments in the Args structs).
struct View {
  void* ptr;
  int64_t st[4];
};

struct ForwardStepArgs {
  int B, N, D;
  View wx;      // (b, g, n, d): Wx[:, t]                            dtype
  View rh;      // (n, b, g, d): R h_prev for this step (no bias)    dtype
  View bias;    // (j, n, d):    b [Gb, N, D]                        dtype
  View s_prev;  // (k, b, n, d): states at t-1 (or the initial)      dtype
  View s_out;   // (k, b, n, d): states at t                         dtype, written
  View h_next;  // (n, b, d):    h at t, input of the next GEMM      dtype, written
};

struct BackwardStepArgs {
  int B, N, D;
  View wx, rh, bias, s_prev;  // as in ForwardStepArgs (the forward is recomputed)
  View grad_s;  // (k, b, n, d): incoming gradient of the states at t            dtype
  View carry;   // (k, n, b, d): gradient carried from t+1 into states at t      float32, in/out
  View dh_rec;  // (n, b, d):    R^T dg of step t+1 (ptr null at the last step)  dtype
  View dwx;     // (b, g, n, d): gradient of Wx[:, t]                           dtype, written
  View dg;      // (n, b, g, d): gradient of the recurrent pre-activation       dtype, written
};

// Launch on `stream` in blocks of `threads` (a multiple of 32, at most 1024); returns the launch's
// error code (cudaSuccess if fine). `cell` is a FLASHRNN_CELL_* id, `dtype` a DType.
cudaError_t forward_step(int cell, int dtype, const ForwardStepArgs& args, int threads, cudaStream_t stream);
cudaError_t backward_step(int cell, int dtype, const BackwardStepArgs& args, int threads,
                          cudaStream_t stream);

}  // namespace alternating
}  // namespace flashrnn
