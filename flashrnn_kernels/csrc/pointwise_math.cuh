// Scalar math used by the generated cell code (cells_generated.cuh), in float and double.
// Accurate library functions (expf, tanhf, log1pf), not the fast intrinsics: kernels are checked
// against a float64 reference and must stay within twice the error of PyTorch in the same dtype.
#pragma once

#include <cuda_runtime.h>

namespace flashrnn {

__device__ __forceinline__ float fr_exp(float x) { return expf(x); }
__device__ __forceinline__ double fr_exp(double x) { return exp(x); }

__device__ __forceinline__ float fr_tanh(float x) { return tanhf(x); }
__device__ __forceinline__ double fr_tanh(double x) { return tanh(x); }

__device__ __forceinline__ float fr_sigmoid(float x) { return 1.0f / (1.0f + expf(-x)); }
__device__ __forceinline__ double fr_sigmoid(double x) { return 1.0 / (1.0 + exp(-x)); }

// log(sigmoid(x)) = min(x, 0) - log1p(exp(-|x|)), finite for every finite x
__device__ __forceinline__ float fr_logsigmoid(float x) {
  return fminf(x, 0.0f) - log1pf(expf(-fabsf(x)));
}
__device__ __forceinline__ double fr_logsigmoid(double x) {
  return fmin(x, 0.0) - log1p(exp(-fabs(x)));
}

}  // namespace flashrnn
