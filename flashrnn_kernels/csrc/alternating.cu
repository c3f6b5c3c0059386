// Alternating backend: one pointwise kernel per time step (forward and backward), for every cell
// of cells_generated.cuh and float32 / float16 / bfloat16 storage (arithmetic in float32).
// Compiles with nvcc alone: no torch headers, no defines needed (every cell and dtype is
// instantiated). The block size is an argument of the launchers (the alternating tiling model,
// flashrnn_kernels/tiling/alternating.cint, chooses it per problem), at most kMaxThreads.
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include "alternating.h"
#include "cells_generated.cuh"
#include "export_table.cuh"

namespace flashrnn {
namespace alternating {
namespace {

constexpr int kMaxThreads = 1024;  // threads per block at most (every CUDA GPU allows this many)

template <typename T> __device__ __forceinline__ float load(const T* p);
template <> __device__ __forceinline__ float load<float>(const float* p) { return *p; }
template <> __device__ __forceinline__ float load<__half>(const __half* p) { return __half2float(*p); }
template <> __device__ __forceinline__ float load<__nv_bfloat16>(const __nv_bfloat16* p) {
  return __bfloat162float(*p);
}

template <typename T> __device__ __forceinline__ void store(T* p, float v);
template <> __device__ __forceinline__ void store<float>(float* p, float v) { *p = v; }
template <> __device__ __forceinline__ void store<__half>(__half* p, float v) { *p = __float2half_rn(v); }
template <> __device__ __forceinline__ void store<__nv_bfloat16>(__nv_bfloat16* p, float v) {
  *p = __float2bfloat16_rn(v);
}

template <typename T>
__device__ __forceinline__ T* at(const View& v, int64_t i0, int64_t i1, int64_t i2, int64_t i3 = 0) {
  return static_cast<T*>(v.ptr) + i0 * v.st[0] + i1 * v.st[1] + i2 * v.st[2] + i3 * v.st[3];
}

// Gate pre-activations of element (b, n, d): input side xg (Wx + input biases) and recurrent side
// rg (R h + recurrent biases), in float32.
template <int CELL, typename T>
__device__ __forceinline__ void gather_gates(const View& wx, const View& rh, const View& bias, int b, int n,
                                             int d, float (&xg)[CellDef<CELL>::kGates],
                                             float (&rg)[CellDef<CELL>::kGates]) {
  using C = CellDef<CELL>;
#pragma unroll
  for (int g = 0; g < C::kGates; ++g) {
    xg[g] = load(at<const T>(wx, b, g, n, d));
    rg[g] = load(at<const T>(rh, n, b, g, d));
  }
#pragma unroll
  for (int j = 0; j < C::kBias; ++j) {
    const float v = load(at<const T>(bias, j, n, d));
    if (C::bias_side(j) == 0) {
      xg[C::bias_gate(j)] += v;
    } else {
      rg[C::bias_gate(j)] += v;
    }
  }
}

}  // namespace

// The kernels have external linkage: NVRTC builds look them up by their lowered names.
template <int CELL, typename T>
__global__ void __launch_bounds__(kMaxThreads) forward_kernel(const ForwardStepArgs a) {
  using C = CellDef<CELL>;
  const int64_t idx = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (idx >= static_cast<int64_t>(a.B) * a.N * a.D) return;
  const int d = static_cast<int>(idx % a.D);
  const int n = static_cast<int>((idx / a.D) % a.N);
  const int b = static_cast<int>(idx / (static_cast<int64_t>(a.D) * a.N));

  float xg[C::kGates], rg[C::kGates], s[C::kStates], s_new[C::kStates];
  gather_gates<CELL, T>(a.wx, a.rh, a.bias, b, n, d, xg, rg);
#pragma unroll
  for (int k = 0; k < C::kStates; ++k) s[k] = load(at<const T>(a.s_prev, k, b, n, d));

  C::template forward<float>(xg, rg, s, s_new);

#pragma unroll
  for (int k = 0; k < C::kStates; ++k) store(at<T>(a.s_out, k, b, n, d), s_new[k]);
  store(at<T>(a.h_next, n, b, d), s_new[0]);
}

template <int CELL, typename T>
__global__ void __launch_bounds__(kMaxThreads) backward_kernel(const BackwardStepArgs a) {
  using C = CellDef<CELL>;
  const int64_t idx = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (idx >= static_cast<int64_t>(a.B) * a.N * a.D) return;
  const int d = static_cast<int>(idx % a.D);
  const int n = static_cast<int>((idx / a.D) % a.N);
  const int b = static_cast<int>(idx / (static_cast<int64_t>(a.D) * a.N));

  float xg[C::kGates], rg[C::kGates], s[C::kStates], ds[C::kStates];
  gather_gates<CELL, T>(a.wx, a.rh, a.bias, b, n, d, xg, rg);
#pragma unroll
  for (int k = 0; k < C::kStates; ++k) {
    s[k] = load(at<const T>(a.s_prev, k, b, n, d));
    ds[k] = load(at<const T>(a.grad_s, k, b, n, d)) + *at<const float>(a.carry, k, n, b, d);
  }
  if (a.dh_rec.ptr != nullptr) ds[0] += load(at<const T>(a.dh_rec, n, b, d));

  float dxg[C::kGates], drg[C::kGates], ds_prev[C::kStates];
  C::template backward<float>(xg, rg, s, ds, dxg, drg, ds_prev);

#pragma unroll
  for (int g = 0; g < C::kGates; ++g) {
    store(at<T>(a.dwx, b, g, n, d), dxg[g]);
    store(at<T>(a.dg, n, b, g, d), drg[g]);
  }
#pragma unroll
  for (int k = 0; k < C::kStates; ++k) *at<float>(a.carry, k, n, b, d) = ds_prev[k];
}

#ifndef __CUDACC_RTC__  // host launchers: nvcc builds only
namespace {

inline unsigned blocks_for(int B, int N, int D, int threads) {
  const int64_t total = static_cast<int64_t>(B) * N * D;
  return static_cast<unsigned>((total + threads - 1) / threads);
}

template <int CELL, typename T>
cudaError_t launch_forward(const ForwardStepArgs& a, int threads, cudaStream_t stream) {
  forward_kernel<CELL, T><<<blocks_for(a.B, a.N, a.D, threads), threads, 0, stream>>>(a);
  return cudaGetLastError();
}

template <int CELL, typename T>
cudaError_t launch_backward(const BackwardStepArgs& a, int threads, cudaStream_t stream) {
  backward_kernel<CELL, T><<<blocks_for(a.B, a.N, a.D, threads), threads, 0, stream>>>(a);
  return cudaGetLastError();
}

template <int CELL>
cudaError_t forward_dtype(int dtype, const ForwardStepArgs& a, int threads, cudaStream_t stream) {
  switch (dtype) {
    case kFloat32: return launch_forward<CELL, float>(a, threads, stream);
    case kFloat16: return launch_forward<CELL, __half>(a, threads, stream);
    case kBFloat16: return launch_forward<CELL, __nv_bfloat16>(a, threads, stream);
    default: return cudaErrorInvalidValue;
  }
}

template <int CELL>
cudaError_t backward_dtype(int dtype, const BackwardStepArgs& a, int threads, cudaStream_t stream) {
  switch (dtype) {
    case kFloat32: return launch_backward<CELL, float>(a, threads, stream);
    case kFloat16: return launch_backward<CELL, __half>(a, threads, stream);
    case kBFloat16: return launch_backward<CELL, __nv_bfloat16>(a, threads, stream);
    default: return cudaErrorInvalidValue;
  }
}

bool threads_ok(int threads) { return threads >= 32 && threads <= kMaxThreads && threads % 32 == 0; }

}  // namespace

cudaError_t forward_step(int cell, int dtype, const ForwardStepArgs& a, int threads, cudaStream_t stream) {
  if (!threads_ok(threads)) return cudaErrorInvalidValue;
  if (static_cast<int64_t>(a.B) * a.N * a.D == 0) return cudaSuccess;
  switch (cell) {
    case FLASHRNN_CELL_LSTM: return forward_dtype<FLASHRNN_CELL_LSTM>(dtype, a, threads, stream);
    case FLASHRNN_CELL_GRU: return forward_dtype<FLASHRNN_CELL_GRU>(dtype, a, threads, stream);
    case FLASHRNN_CELL_SLSTM: return forward_dtype<FLASHRNN_CELL_SLSTM>(dtype, a, threads, stream);
    case FLASHRNN_CELL_ELMAN: return forward_dtype<FLASHRNN_CELL_ELMAN>(dtype, a, threads, stream);
    case FLASHRNN_CELL_ELMAN_RELU: return forward_dtype<FLASHRNN_CELL_ELMAN_RELU>(dtype, a, threads, stream);
    default: return cudaErrorInvalidValue;
  }
}

cudaError_t backward_step(int cell, int dtype, const BackwardStepArgs& a, int threads, cudaStream_t stream) {
  if (!threads_ok(threads)) return cudaErrorInvalidValue;
  if (static_cast<int64_t>(a.B) * a.N * a.D == 0) return cudaSuccess;
  switch (cell) {
    case FLASHRNN_CELL_LSTM: return backward_dtype<FLASHRNN_CELL_LSTM>(dtype, a, threads, stream);
    case FLASHRNN_CELL_GRU: return backward_dtype<FLASHRNN_CELL_GRU>(dtype, a, threads, stream);
    case FLASHRNN_CELL_SLSTM: return backward_dtype<FLASHRNN_CELL_SLSTM>(dtype, a, threads, stream);
    case FLASHRNN_CELL_ELMAN: return backward_dtype<FLASHRNN_CELL_ELMAN>(dtype, a, threads, stream);
    case FLASHRNN_CELL_ELMAN_RELU: return backward_dtype<FLASHRNN_CELL_ELMAN_RELU>(dtype, a, threads, stream);
    default: return cudaErrorInvalidValue;
  }
}

#endif  // __CUDACC_RTC__
}  // namespace alternating
}  // namespace flashrnn

// The layouts of the argument structs, for launches without the launchers below (NVRTC builds,
// which Python launches through the CUDA driver with its ctypes mirror, checked against these).
// At global scope with extern "C": the symbols keep these names in the cubin, and nvcc's host
// registration of device variables finds them.
namespace alt = flashrnn::alternating;
extern "C" __device__ const FrnnExport frnn_alt_facts[] = {{"max_threads", alt::kMaxThreads, 0}, {"", 0, 0}};
extern "C" __device__ const FrnnExport frnn_alt_view[] = {
    FRNN_ALT_VIEW(FRNN_EXPORT_FIELD){"", sizeof(alt::View), alignof(alt::View)}};
extern "C" __device__ const FrnnExport frnn_alt_forward_args[] = {
    FRNN_ALT_FORWARD_ARGS(FRNN_EXPORT_FIELD){"", sizeof(alt::ForwardStepArgs), alignof(alt::ForwardStepArgs)}};
extern "C" __device__ const FrnnExport frnn_alt_backward_args[] = {
    FRNN_ALT_BACKWARD_ARGS(FRNN_EXPORT_FIELD){"", sizeof(alt::BackwardStepArgs), alignof(alt::BackwardStepArgs)}};

#ifndef __CUDACC_RTC__
// ---- C launchers, called through ctypes (flashrnn_kernels/backends/alternating.py): the step's
// arguments by pointer, the block size, and the stream; the CUDA error code comes back (0: none)
extern "C" int frnn_alt_forward(int cell, int dtype, int threads,
                                const flashrnn::alternating::ForwardStepArgs* args, void* stream) {
  return static_cast<int>(
      flashrnn::alternating::forward_step(cell, dtype, *args, threads, static_cast<cudaStream_t>(stream)));
}

extern "C" int frnn_alt_backward(int cell, int dtype, int threads,
                                 const flashrnn::alternating::BackwardStepArgs* args, void* stream) {
  return static_cast<int>(
      flashrnn::alternating::backward_step(cell, dtype, *args, threads, static_cast<cudaStream_t>(stream)));
}
#endif  // __CUDACC_RTC__
