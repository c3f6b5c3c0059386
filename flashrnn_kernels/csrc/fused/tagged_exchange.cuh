// The forward's exchange through L2 (NSLICE > 1): tagged words.
//
// Blocks of one head publish their units of h_t as tagged words: the value's bits and the step's
// tag in one store. A reader polls the words themselves until every tag is the step's, so one
// round trip through L2 both synchronises and moves the data (no separate barrier, no fence).
// Step t's words carry the tag xbase + t + 1 (FwdParams::xbase, masked to the tag's bits): the
// host keeps the buffer from launch to launch and passes the base after the last launch's tags,
// so that every word left in it (or zero, after the host zeroed it) has a tag below all that this
// launch polls for, as long as xbase + T stays within the tag's bits (the host zeroes the buffer
// and restarts at 0 before that). The buffer is [2 (step parity)][Bpad][N][row] words;
// FRNN_FWD_XCH (config.cuh) picks the row format:
//   0: one value per word (32-bit words for 16-bit types, 64-bit for float32), rows [D] words;
//   1: three 16-bit values + a 16-bit tag per 64-bit word, each block's U units as U/6 16-byte
//      chunks, rows [NSLICE][U/3] words.
// Either way the reader unpacks into a tile of plain elements [BT][XROW].
#pragma once
#include "memory.cuh"
#include "mma.cuh"
#include "traits.cuh"

namespace frnn {

// ---------------------------------------------------------------- words
// xword_t (traits.cuh): the value's bits in the low half, the tag in the high half
constexpr int kTagShift = 4 * kWordBytes;
constexpr unsigned long long kTagMask = (1ull << kTagShift) - 1ull;

__device__ __forceinline__ xword_t make_word(elem_t v, unsigned tag) {
#if FLASHRNN_DTYPE == 2
  return ((unsigned long long)tag << 32) | (unsigned long long)__float_as_uint(v);
#else
  return ((uint32_t)tag << 16) | (uint32_t)(*reinterpret_cast<unsigned short*>(&v));
#endif
}
__device__ __forceinline__ void store_word(xword_t* p, xword_t w) {
#if FLASHRNN_DTYPE == 2
  st_relaxed_b64(p, w);
#else
  st_relaxed_b32(p, w);
#endif
}
// every word of a 16-byte chunk of one-value words carries `tag`
__device__ __forceinline__ bool chunk_ok(uint4 c, unsigned tag) {
#if FLASHRNN_DTYPE == 2
  return c.y == tag && c.w == tag;
#else
  return ((c.x ^ (tag << 16)) | (c.y ^ (tag << 16)) | (c.z ^ (tag << 16)) | (c.w ^ (tag << 16))) <
         (1u << 16);
#endif
}

// ---------------------------------------------------------------- row format
constexpr int kXchChunksPerSlice = kU / 6;  // packed format: 16-byte chunks per slice and row
#if FRNN_FWD_XCH == 1
using fxword_t = unsigned long long;
constexpr int kXchRow = kNSlice * 2 * kXchChunksPerSlice;  // words per row
#else
using fxword_t = xword_t;
constexpr int kXchRow = kD;
#endif
constexpr int kXchWordsPerChunk = 16 / (int)sizeof(fxword_t);
static_assert(kNSlice == 1 || kXchRow % kXchWordsPerChunk == 0,
              "exchange rows must be whole 16-byte chunks (D % (16 / word bytes) == 0)");

// Bytes of the buffer per padded batch row and head (both step parities), and for Bpad batch rows
// and N heads (exports.cuh exports the first for launches without this host code).
constexpr long kTaggedXchRowBytes = 2 * (long)kXchRow * (long)sizeof(fxword_t);
__host__ __device__ constexpr long tagged_xch_bytes(long bpad, int N) {
  return bpad * N * kTaggedXchRowBytes;
}

// The forward's warps of one column wk (FWD_WM of them) multiply the K range [f_klo, f_khi) of
// the operand; they poll and unpack just the exchange chunks [fx_clo, fx_chi) of each row that
// cover it, so a column starts its MMAs as soon as its producers have published.
__host__ __device__ constexpr int f_klo(int wk) { return wk * FwdGemm::kKSW * kKW; }
__host__ __device__ constexpr int f_khi(int wk) { return f_klo(wk + 1) < kD ? f_klo(wk + 1) : kD; }
__host__ __device__ constexpr int fx_clo(int wk) {
#if FRNN_FWD_XCH == 1
  return f_klo(wk) / kU * kXchChunksPerSlice;
#else
  return f_klo(wk) / kXchWordsPerChunk;  // one value per word; f_klo(wk) % words == 0 (KW is)
#endif
}
__host__ __device__ constexpr int fx_chi(int wk) {
#if FRNN_FWD_XCH == 1
  return f_khi(wk) <= f_klo(wk) ? fx_clo(wk) : ((f_khi(wk) - 1) / kU + 1) * kXchChunksPerSlice;
#else
  return f_khi(wk) <= f_klo(wk) ? fx_clo(wk) : f_khi(wk) / kXchWordsPerChunk;  // D % words == 0
#endif
}
__host__ __device__ constexpr int fx_max_chunks() {
  int m = 0;
  for (int w = 0; w < FwdGemm::kWK; ++w) m = fx_chi(w) - fx_clo(w) > m ? fx_chi(w) - fx_clo(w) : m;
  return m;
}

__device__ __forceinline__ bool fx_chunk_ok(uint4 c, unsigned tag) {
#if FRNN_FWD_XCH == 1
  return ((c.y ^ (tag << 16)) | (c.w ^ (tag << 16))) < (1u << 16);
#else
  return chunk_ok(c, tag);
#endif
}

// Unpack chunk cc of an exchange row into the plain tile row xr (elements), only the units in
// [klo, khi) (a chunk of the packed format may reach into the next warp column's range).
__device__ __forceinline__ void fx_chunk_store(elem_t* xr, int cc, uint4 v, int klo, int khi) {
#if FRNN_FWD_XCH == 1
  const int d0 = cc / kXchChunksPerSlice * kU + 6 * (cc % kXchChunksPerSlice);  // even, as are klo, khi, D
  const uint32_t w[3] = {v.x, __byte_perm(v.y, v.z, 0x5410), __byte_perm(v.z, v.w, 0x5432)};
  uint32_t* o = reinterpret_cast<uint32_t*>(xr + d0);  // 4-byte aligned
#pragma unroll
  for (int k = 0; k < 3; ++k)
    if (d0 + 2 * k >= klo && d0 + 2 * k < khi) o[k] = w[k];
#elif FLASHRNN_DTYPE == 2
  *reinterpret_cast<float2*>(xr + 2 * cc) = make_float2(__uint_as_float(v.x), __uint_as_float(v.z));
#else
  *reinterpret_cast<uint2*>(xr + 4 * cc) =
      make_uint2(__byte_perm(v.x, v.y, 0x5410), __byte_perm(v.z, v.w, 0x5410));
#endif
}

// ---------------------------------------------------------------- publish
// Packed format: lanes 6c..6c+5 of a warp hold the bits x of the six values of one chunk (zero
// where there is none); lane 6c, when `store`, writes them as two words of 3 values + tag bits
// `tg` with one 16-byte store (each word single-copy atomic) at dst() .
template <class Dst>
__device__ __forceinline__ void fx_publish_packed(unsigned x0, bool store, unsigned long long tg,
                                                  Dst dst) {
  unsigned x[6];
  x[0] = x0;
#pragma unroll
  for (int k = 1; k < 6; ++k) x[k] = __shfl_down_sync(0xffffffffu, x[0], k);
  if (store) {
    const unsigned long long w0 = tg | x[0] | (x[1] << 16) | ((unsigned long long)x[2] << 32);
    const unsigned long long w1 = tg | x[3] | (x[4] << 16) | ((unsigned long long)x[5] << 32);
    st_relaxed_v2u64(dst(), w0, w1);
  }
}

// ---------------------------------------------------------------- poll
// Copy warp column wk's chunks of rows [0, nb) of a global tile of exchange words (row stride
// row_stride words) into the plain smem tile, waiting until every word carries `tag`. The
// column's 32*FWD_WM threads (gt: index among them) each own fixed chunks and poll them in
// groups of kPollGroup with all loads of a group in flight together (one L2 round trip per poll
// of a group, not one per chunk).
__device__ __forceinline__ void poll_range(elem_t* xs, const fxword_t* src, long row_stride, int nb,
                                           unsigned tag, int wk, int gt) {
  constexpr int GT = 32 * FwdGemm::kWM;
  // chunks are numbered row * NCM + c with the largest column's count NCM (a compile-time divisor:
  // a division by the column's own count cost ~90 instructions per step, measured with ncu)
  constexpr int NCM = fx_max_chunks() > 0 ? fx_max_chunks() : 1;
  constexpr int CPT = cdiv(kBT * NCM, GT);
  constexpr int GRP = CPT < kPollGroup ? CPT : kPollGroup;
  const int clo = fx_clo(wk), nc = fx_chi(wk) - clo, klo = f_klo(wk), khi = f_khi(wk);
#pragma unroll 1
  for (int c0 = 0; c0 < CPT; c0 += GRP) {
    uint4 v[GRP];
    int row[GRP], cc[GRP];
    bool need[GRP];
#pragma unroll
    for (int j = 0; j < GRP; ++j) {
      const int idx = gt + (c0 + j) * GT;
      row[j] = idx / NCM;
      cc[j] = clo + idx % NCM;
      need[j] = c0 + j < CPT && row[j] < nb && cc[j] < clo + nc;
      v[j] = make_uint4(0, 0, 0, 0);
    }
    bool pending = true;
    while (pending) {
#pragma unroll
      for (int j = 0; j < GRP; ++j)
        if (need[j]) v[j] = ld_volatile16(src + row[j] * row_stride + cc[j] * kXchWordsPerChunk);
      pending = false;
#pragma unroll
      for (int j = 0; j < GRP; ++j) {
        if (need[j]) {
          if (fx_chunk_ok(v[j], tag)) {
            fx_chunk_store(xs + row[j] * FwdGemm::kXRow, cc[j], v[j], klo, khi);
            need[j] = false;
          } else {
            pending = true;
          }
        }
      }
    }
  }
}

}  // namespace frnn
