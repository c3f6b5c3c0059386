// Alternating backend: interface of the pointwise step kernels (no torch, no CUDA C++ syntax).
// The argument structs are plain C layouts, written once as field lists (FRNN_ALT_*(X)):
// flashrnn_kernels/backends/alternating.py mirrors them with ctypes and calls the extern "C"
// launchers frnn_alt_forward / frnn_alt_backward (alternating.cu, nvcc builds) with a pointer to
// them, or launches the kernels with them by value (NVRTC builds), after checking its mirror
// against the layouts the cubin exports (alternating.cu).
//
// One time step of the alternating scheme: the caller computes rh = R h_prev for all heads with
// one batched GEMM, then one launch of forward_step applies the cell (cells_generated.cuh).
// backward_step mirrors it; the caller does the GEMMs dh += R^T dg and, at the end, dR and db.
// fused_forward_step does a forward step in one launch: R h_prev on tensor cores (h_prev read
// from s_prev), rh written for the backward, then the cell; float16 / bfloat16, sm_80 and later,
// D a multiple of kFusedK; given the step's input x_t and W_ih (inference), it computes the input
// side too, so that a whole step is one launch. fused_backward_step likewise computes dh_rec = R^T dg_next itself
// (from rt and dg_next) before the cell's backward.
#pragma once

#include "fixed_width.cuh"
#ifndef __CUDACC_RTC__
#include <cuda_runtime_api.h>
#endif

namespace flashrnn {
namespace alternating {

enum DType : int { kFloat32 = 0, kFloat16 = 1, kBFloat16 = 2 };

// A strided view of up to 4 dimensions; strides in elements. Which index is which is fixed per
// operand (see the comments in the Args structs).
#define FRNN_ALT_DECLARE_FIELD(type, name) type name;

typedef int64_t Strides[4];
#define FRNN_ALT_VIEW(X) \
  X(void*, ptr)          \
  X(flashrnn::alternating::Strides, st)

struct View {
  FRNN_ALT_VIEW(FRNN_ALT_DECLARE_FIELD)
};

// X(type, name) for each field, in order (types qualified: the lists are expanded outside the
// namespace too, alternating.cu)
#define FRNN_ALT_FORWARD_ARGS(X)                                                 \
  X(int, B) X(int, N) X(int, D)                                                  \
  X(flashrnn::alternating::View, wx)     /* (b, g, n, d): Wx[:, t]                            dtype */  \
  X(flashrnn::alternating::View, rh)     /* (n, b, g, d): R h_prev for this step (no bias)    dtype */  \
  X(flashrnn::alternating::View, bias)   /* (j, n, d):    b [Gb, N, D]                        dtype */  \
  X(flashrnn::alternating::View, s_prev) /* (k, b, n, d): states at t-1 (or the initial)      dtype */  \
  X(flashrnn::alternating::View, s_out)  /* (k, b, n, d): states at t                         dtype, written */ \
  X(flashrnn::alternating::View, h_next) /* (n, b, d):    h at t, input of the next GEMM      dtype, written (ptr may be null) */ \
  X(flashrnn::alternating::View, r)      /* (g, n, o, i): R, unit stride in i; read by the fused step only (else ptr null) dtype */ \
  /* The fused step's own input product (ptr of x null: wx holds the input side). With x, the step   */ \
  /* computes Wx = W_ih x_t + b_ih itself (rounded to dtype, as a GEMM's output), adds b_hh to R h   */ \
  /* and reads neither wx nor, where their ptr is null, bias and rh (no backward follows).          */ \
  X(int, I)                              /* input size, a multiple of 8 */                                       \
  X(flashrnn::alternating::View, x)      /* (b, i):       x_t, unit stride in i, 16-byte aligned rows  dtype */  \
  X(flashrnn::alternating::View, w_ih)   /* (g, n, o, i): W_ih, unit stride in i                       dtype */  \
  X(flashrnn::alternating::View, b_ih)   /* (g, n, d):    input bias (ptr may be null)                 dtype */  \
  X(flashrnn::alternating::View, b_hh)   /* (g, n, d):    recurrent bias, added to R h (ptr may be null) dtype */

#define FRNN_ALT_BACKWARD_ARGS(X)                                                              \
  X(int, B) X(int, N) X(int, D)                                                                \
  X(flashrnn::alternating::View, wx) X(flashrnn::alternating::View, rh) X(flashrnn::alternating::View, bias) X(flashrnn::alternating::View, s_prev) /* as forward (recomputed) */          \
  X(flashrnn::alternating::View, grad_s) /* (k, b, n, d): incoming gradient of the states at t            dtype */    \
  X(flashrnn::alternating::View, carry)  /* (k, n, b, d): gradient carried from t+1 into states at t      float32 */  \
  X(flashrnn::alternating::View, dh_rec) /* (n, b, d):    R^T dg of step t+1 (ptr null at the last step)  dtype */    \
  X(flashrnn::alternating::View, dwx)    /* (b, g, n, d): gradient of Wx[:, t]                           written */   \
  X(flashrnn::alternating::View, dg)     /* (n, b, g, d): gradient of the recurrent pre-activation       written */   \
  X(flashrnn::alternating::View, rt)     /* (g, n, i, o): R transposed, unit stride in o; fused step only (else ptr null) dtype */ \
  X(flashrnn::alternating::View, dg_next) /* (n, b, g, d): dg of step t+1, unit stride in d (ptr null at the last step); fused step only dtype */

struct ForwardStepArgs {
  FRNN_ALT_FORWARD_ARGS(FRNN_ALT_DECLARE_FIELD)
};

struct BackwardStepArgs {
  FRNN_ALT_BACKWARD_ARGS(FRNN_ALT_DECLARE_FIELD)
};

#ifndef __CUDACC_RTC__
// Launch on `stream` in blocks of `threads` (a multiple of 32, at most 1024); returns the launch's
// error code (cudaSuccess if fine). `cell` is a FLASHRNN_CELL_* id, `dtype` a DType.
cudaError_t forward_step(int cell, int dtype, const ForwardStepArgs& args, int threads, cudaStream_t stream);
cudaError_t backward_step(int cell, int dtype, const BackwardStepArgs& args, int threads,
                          cudaStream_t stream);
// The fused steps; `overlap`: launched as programmatic dependents of the work before them on the
// stream (sm_90+: a step's grid starts, and loads R, while the previous step runs).
cudaError_t fused_forward_step(int cell, int dtype, const ForwardStepArgs& args, cudaStream_t stream, int overlap);
cudaError_t fused_backward_step(int cell, int dtype, const BackwardStepArgs& args, cudaStream_t stream,
                                int overlap);
#endif

}  // namespace alternating
}  // namespace flashrnn
