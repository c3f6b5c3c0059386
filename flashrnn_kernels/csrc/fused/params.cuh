// The kernels' arguments (layouts of the package: Wx [B, T, G, N, D], R [G, N, D, D],
// b [Gb, N, D], states [S, B, T, N, D]).
#pragma once
#include "traits.cuh"

namespace frnn {

struct FwdParams {
  const elem_t* wx;     // [B, T, G, N, D]
  const elem_t* R;      // [G, N, D, D]  (D_out, D_in)
  const elem_t* bias;   // [G, N, D]
  const elem_t* s0;     // [S, B, 1, N, D]
  elem_t* states;       // [S, B, T, N, D]
  elem_t* last;         // [S, B, 1, N, D]
  elem_t* cache;        // [B, T, GC, N, D] or null (inference)
  xword_t* xch;         // tagged words (tagged_exchange.cuh), zero at launch (NSLICE > 1)
  int B, T, N;
};

struct BwdParams {
  const elem_t* R;        // [G, N, D, D]
  const elem_t* s0;       // [S, B, 1, N, D]
  const elem_t* states;   // [S, B, T, N, D]  forward output
  const elem_t* cache;    // [B, T, GC, N, D]
  const elem_t* dstates;  // [S, B, T, N, D]  (gradient of the last state already added at T-1)
  elem_t* dgr;            // [B, T, G, N, D]  gradients of the recurrent-side pre-activations
  elem_t* dwx;            // [B, T, G, N, D]  input-side ones (only when they differ: GRU)
  elem_t* ds0;            // [S, B, 1, N, D]
  xword_t* xch;           // plain rows + flags (flag_exchange.cuh), zero at launch (NSLICE > 1)
  int B, T, N;
};

}  // namespace frnn
