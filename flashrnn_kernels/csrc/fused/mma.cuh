// Element conversions and the tensor-core helpers: mma.sync m16n8k16 (bf16, fp16) or m16n8k8
// (tf32) with fp32 accumulators, and the A / B fragment loads.
#pragma once
#include "traits.cuh"

namespace frnn {

__device__ __forceinline__ float to_f(elem_t x) {
#if FLASHRNN_DTYPE == 0
  return __bfloat162float(x);
#elif FLASHRNN_DTYPE == 1
  return __half2float(x);
#else
  return x;
#endif
}
__device__ __forceinline__ elem_t from_f(float x) {
#if FLASHRNN_DTYPE == 0
  return __float2bfloat16_rn(x);
#elif FLASHRNN_DTYPE == 1
  return __float2half_rn(x);
#else
  return x;
#endif
}
// the 16 bits of a 16-bit element, or the 32 of a float
__device__ __forceinline__ uint32_t bits(elem_t x) {
#if FLASHRNN_DTYPE == 2
  return __float_as_uint(x);
#else
  return *reinterpret_cast<const unsigned short*>(&x);
#endif
}

// two values as one 32-bit MMA operand register (tf32: one value)
__device__ __forceinline__ uint32_t pack2(float lo, float hi) {
#if FLASHRNN_DTYPE == 0
  __nv_bfloat162 v = __floats2bfloat162_rn(lo, hi);
  return *reinterpret_cast<uint32_t*>(&v);
#elif FLASHRNN_DTYPE == 1
  __half2 v = __floats2half2_rn(lo, hi);
  return *reinterpret_cast<uint32_t*>(&v);
#else
  uint32_t r;
  asm("cvt.rna.tf32.f32 %0, %1;" : "=r"(r) : "f"(lo));
  return r;
#endif
}

// c += a * b for one 16 x 8 tile
__device__ __forceinline__ void mma(float* c, const uint32_t* a, const uint32_t* b) {
#if FLASHRNN_DTYPE == 0
  asm volatile(
      "mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, "
      "{%8,%9}, {%0,%1,%2,%3};"
      : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
      : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]));
#elif FLASHRNN_DTYPE == 1
  asm volatile(
      "mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, "
      "{%8,%9}, {%0,%1,%2,%3};"
      : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
      : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]));
#else
  asm volatile(
      "mma.sync.aligned.m16n8k8.row.col.f32.tf32.tf32.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, "
      "{%8,%9}, {%0,%1,%2,%3};"
      : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
      : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]));
#endif
}

// A fragment of the 16 x KW tile at (row0, k0) of a matrix given by an element functor.
template <class F>
__device__ __forceinline__ void load_afrag(uint32_t* a, int row0, int k0, F elem) {
  const int lane = threadIdx.x & 31, g = lane >> 2, q = lane & 3;
#if FLASHRNN_DTYPE == 2
  a[0] = pack2(elem(row0 + g, k0 + q), 0.f);
  a[1] = pack2(elem(row0 + g + 8, k0 + q), 0.f);
  a[2] = pack2(elem(row0 + g, k0 + q + 4), 0.f);
  a[3] = pack2(elem(row0 + g + 8, k0 + q + 4), 0.f);
#else
  a[0] = pack2(elem(row0 + g, k0 + 2 * q), elem(row0 + g, k0 + 2 * q + 1));
  a[1] = pack2(elem(row0 + g + 8, k0 + 2 * q), elem(row0 + g + 8, k0 + 2 * q + 1));
  a[2] = pack2(elem(row0 + g, k0 + 2 * q + 8), elem(row0 + g, k0 + 2 * q + 9));
  a[3] = pack2(elem(row0 + g + 8, k0 + 2 * q + 8), elem(row0 + g + 8, k0 + 2 * q + 9));
#endif
}

// B fragment (KW x 8) at (k0, batch n0) from a tile xs[batch][k] of plain elements, srow apart.
__device__ __forceinline__ void load_bfrag(uint32_t* b, const elem_t* xs, int srow, int n0, int k0) {
  const int lane = threadIdx.x & 31, g = lane >> 2, q = lane & 3;
  const elem_t* p = xs + (n0 + g) * srow + k0;
#if FLASHRNN_DTYPE == 2
  b[0] = pack2(p[q], 0.f);
  b[1] = pack2(p[q + 4], 0.f);
#else
  b[0] = *reinterpret_cast<const uint32_t*>(p + 2 * q);
  b[1] = *reinterpret_cast<const uint32_t*>(p + 2 * q + 8);
#endif
}

}  // namespace frnn
