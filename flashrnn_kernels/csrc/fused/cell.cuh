// The pointwise cell update of one (unit, batch row) pair (cells_generated.cuh), in fp32.
//
// FRNN_FAST_MATH (config.cuh): the cell code is instantiated with a float wrapper whose fr_exp,
// fr_sigmoid, fr_tanh and fr_logsigmoid (found by argument-dependent lookup) use ex2.approx /
// rcp.approx: a few instructions instead of ~20-40, absolute errors ~1e-7 (tanh as
// 1 - 2/(1 + e^2x), sigmoid as 1/(1 + e^-x)), far below bf16/fp16 rounding and tf32 products.
#pragma once
#include "traits.cuh"

namespace frnn {
namespace fm {
struct F {
  float v;
  F() = default;
  __device__ __forceinline__ F(float x) : v(x) {}
  __device__ __forceinline__ F(double x) : v((float)x) {}
};
__device__ __forceinline__ F operator+(F a, F b) { return F(a.v + b.v); }
__device__ __forceinline__ F operator-(F a, F b) { return F(a.v - b.v); }
__device__ __forceinline__ F operator*(F a, F b) { return F(a.v * b.v); }
__device__ __forceinline__ F operator/(F a, F b) { return F(a.v / b.v); }
__device__ __forceinline__ F operator-(F a) { return F(-a.v); }
__device__ __forceinline__ bool operator>=(F a, F b) { return a.v >= b.v; }
__device__ __forceinline__ bool operator<=(F a, F b) { return a.v <= b.v; }
__device__ __forceinline__ bool operator>(F a, F b) { return a.v > b.v; }
__device__ __forceinline__ bool operator<(F a, F b) { return a.v < b.v; }
__device__ __forceinline__ F fr_exp(F x) { return F(__expf(x.v)); }
__device__ __forceinline__ F fr_sigmoid(F x) { return F(__fdividef(1.f, 1.f + __expf(-x.v))); }
__device__ __forceinline__ F fr_tanh(F x) {
  return F(1.f - __fdividef(2.f, 1.f + __expf(2.f * x.v)));
}
__device__ __forceinline__ F fr_logsigmoid(F x) {
  return F(fminf(x.v, 0.f) - __logf(1.f + __expf(-fabsf(x.v))));
}

template <int N>
__device__ __forceinline__ void in(F (&d)[N], const float (&s)[N]) {
#pragma unroll
  for (int i = 0; i < N; ++i) d[i] = F(s[i]);
}
template <int N>
__device__ __forceinline__ void out(float (&d)[N], const F (&s)[N]) {
#pragma unroll
  for (int i = 0; i < N; ++i) d[i] = s[i].v;
}
}  // namespace fm

// new states sn from the gate pre-activations (input side xg, recurrent side rg) and states s
__device__ __forceinline__ void cell_forward(const float (&xg)[kG], const float (&rg)[kG],
                                             const float (&s)[kS], float (&sn)[kS]) {
  if constexpr (kFastMath) {
    fm::F a[kG], b[kG], c[kS], d[kS];
    fm::in(a, xg); fm::in(b, rg); fm::in(c, s);
    Cell::forward(a, b, c, d);
    fm::out(sn, d);
  } else {
    Cell::forward(xg, rg, s, sn);
  }
}

// gradients of both sides' pre-activations (dxg, drg) and of the previous states (dsp) from the
// states' gradients ds
__device__ __forceinline__ void cell_backward(const float (&xg)[kG], const float (&rg)[kG],
                                              const float (&s)[kS], const float (&ds)[kS],
                                              float (&dxg)[kG], float (&drg)[kG], float (&dsp)[kS]) {
  if constexpr (kFastMath) {
    fm::F a[kG], b[kG], c[kS], e[kS], f[kG], g[kG], h[kS];
    fm::in(a, xg); fm::in(b, rg); fm::in(c, s); fm::in(e, ds);
    Cell::backward(a, b, c, e, f, g, h);
    fm::out(dxg, f); fm::out(drg, g); fm::out(dsp, h);
  } else {
    Cell::backward(xg, rg, s, ds, dxg, drg, dsp);
  }
}

}  // namespace frnn
