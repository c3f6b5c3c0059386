// The kernels' arguments (layouts of the package: Wx [B, T, G, N, D], R [G, N, D, D],
// b [Gb, N, D], states [S, B, T, N, D]).
//
// Each struct is written once, as a field list (FRNN_FWD_PARAMS, FRNN_BWD_PARAMS): it declares the
// struct here and, in exports.cuh, the table of every field's name, offset and size that the
// module exports, from which launches without the host code of launch.cuh pack the struct.
#pragma once
#include "traits.cuh"

namespace frnn {

// X(type, name) for each field, in order (types qualified: the lists are expanded outside the
// namespace too, exports.cuh)
#define FRNN_FWD_PARAMS(X)                                                                          \
  X(const frnn::elem_t*, wx)     /* [B, T, G, N, D] */                                                    \
  X(const frnn::elem_t*, R)      /* [G, N, D, D]  (D_out, D_in) */                                        \
  X(const frnn::elem_t*, bias)   /* [G, N, D] */                                                          \
  X(const frnn::elem_t*, s0)     /* [S, B, 1, N, D] */                                                    \
  X(frnn::elem_t*, states)       /* [S, B, T, N, D] */                                                    \
  X(frnn::elem_t*, last)         /* [S, B, 1, N, D] */                                                    \
  X(frnn::elem_t*, cache)        /* [B, T, GC, N, D] or null (inference) */                               \
  X(frnn::xword_t*, xch)         /* tagged words (tagged_exchange.cuh), NSLICE > 1 */                    \
  X(int, B)                                                                                         \
  X(int, T)                                                                                         \
  X(int, N)                                                                                         \
  X(unsigned, xbase)             /* tag base: step t publishes xbase + t + 1 (tagged_exchange.cuh) */

#define FRNN_BWD_PARAMS(X)                                                                          \
  X(const frnn::elem_t*, R)        /* [G, N, D, D] */                                                     \
  X(const frnn::elem_t*, s0)       /* [S, B, 1, N, D] */                                                  \
  X(const frnn::elem_t*, states)   /* [S, B, T, N, D]  forward output */                                  \
  X(const frnn::elem_t*, cache)    /* [B, T, GC, N, D] */                                                 \
  X(const frnn::elem_t*, dstates)  /* [S, B, T, N, D]  (gradient of the last state added at T-1) */       \
  X(frnn::elem_t*, dgr)            /* [B, T, G, N, D]  gradients of the recurrent-side pre-activations */ \
  X(frnn::elem_t*, dwx)            /* [B, T, G, N, D]  input-side ones (only when they differ: GRU) */    \
  X(frnn::elem_t*, ds0)            /* [S, B, 1, N, D] */                                                  \
  X(frnn::xword_t*, xch)           /* plain rows + flags (flag_exchange.cuh) */                           \
  X(int, B)                                                                                         \
  X(int, T)                                                                                         \
  X(int, N)                                                                                         \
  X(unsigned, xbase)               /* flag base: step t publishes xbase + T - t (flag_exchange.cuh) */

#define FRNN_DECLARE_FIELD(type, name) type name;

struct FwdParams {
  FRNN_FWD_PARAMS(FRNN_DECLARE_FIELD)
};

struct BwdParams {
  FRNN_BWD_PARAMS(FRNN_DECLARE_FIELD)
};

}  // namespace frnn
