// The -D interface of the fused kernels, in one place: every define a build may pass, its default
// and the conditions it must meet. traits.cuh turns them into constexpr values; README.md says
// where each comes from.
#pragma once

// ================================================================ the tiling
// Solved by flashrnn_kernels/tiling/fused.cint: KernelConfig.defines() gives every define of this
// section (flashrnn_kernels/tiling/models.py: FUSED.defines says which model quantity each is).
// Each is required; the model is the one place their formulas live, and traits.cuh checks with
// static_assert what the kernels rely on.
#ifndef FLASHRNN_CELL  // 0 LSTM, 1 GRU, 2 sLSTM, 3 Elman (cells_generated.cuh)
#error "fused kernels: -DFLASHRNN_CELL missing (build with the tiling model's defines, KernelConfig.defines())"
#endif
#ifndef FLASHRNN_DTYPE  // 0 bfloat16, 1 float16, 2 float32 (tf32 tensor cores)
#error "fused kernels: -DFLASHRNN_DTYPE missing (build with the tiling model's defines, KernelConfig.defines())"
#endif
#ifndef FLASHRNN_HEAD_DIM  // D
#error "fused kernels: -DFLASHRNN_HEAD_DIM missing (build with the tiling model's defines, KernelConfig.defines())"
#endif
#ifndef FLASHRNN_FUSED_UNITS  // U: hidden units per block
#error "fused kernels: -DFLASHRNN_FUSED_UNITS missing (build with the tiling model's defines, KernelConfig.defines())"
#endif
#ifndef FLASHRNN_FUSED_NSLICE  // blocks per (head, batch tile)
#error "fused kernels: -DFLASHRNN_FUSED_NSLICE missing (build with the tiling model's defines, KernelConfig.defines())"
#endif
#ifndef FLASHRNN_FUSED_BT  // batch tile
#error "fused kernels: -DFLASHRNN_FUSED_BT missing (build with the tiling model's defines, KernelConfig.defines())"
#endif
#ifndef FLASHRNN_FUSED_FWD_WM  // forward: warps along gate rows
#error "fused kernels: -DFLASHRNN_FUSED_FWD_WM missing (build with the tiling model's defines, KernelConfig.defines())"
#endif
#ifndef FLASHRNN_FUSED_FWD_WK  // forward: warps along K (split-K)
#error "fused kernels: -DFLASHRNN_FUSED_FWD_WK missing (build with the tiling model's defines, KernelConfig.defines())"
#endif
#ifndef FLASHRNN_FUSED_BWD_WM  // backward: warps along units
#error "fused kernels: -DFLASHRNN_FUSED_BWD_WM missing (build with the tiling model's defines, KernelConfig.defines())"
#endif
#ifndef FLASHRNN_FUSED_BWD_WK  // backward: warps along K
#error "fused kernels: -DFLASHRNN_FUSED_BWD_WK missing (build with the tiling model's defines, KernelConfig.defines())"
#endif
// shared memory, bytes per block: each kernel's request and its regions (traits.cuh)
#ifndef FRNN_SMEM_FWD
#error "fused kernels: -DFRNN_SMEM_FWD missing (build with the tiling model's defines, KernelConfig.defines())"
#endif
#ifndef FRNN_SMEM_FWD_TILE
#error "fused kernels: -DFRNN_SMEM_FWD_TILE missing (build with the tiling model's defines, KernelConfig.defines())"
#endif
#ifndef FRNN_SMEM_FWD_SUMS
#error "fused kernels: -DFRNN_SMEM_FWD_SUMS missing (build with the tiling model's defines, KernelConfig.defines())"
#endif
#ifndef FRNN_SMEM_FWD_RING
#error "fused kernels: -DFRNN_SMEM_FWD_RING missing (build with the tiling model's defines, KernelConfig.defines())"
#endif
#ifndef FRNN_SMEM_BWD
#error "fused kernels: -DFRNN_SMEM_BWD missing (build with the tiling model's defines, KernelConfig.defines())"
#endif
#ifndef FRNN_SMEM_BWD_TILE
#error "fused kernels: -DFRNN_SMEM_BWD_TILE missing (build with the tiling model's defines, KernelConfig.defines())"
#endif
#ifndef FRNN_SMEM_BWD_SUMS
#error "fused kernels: -DFRNN_SMEM_BWD_SUMS missing (build with the tiling model's defines, KernelConfig.defines())"
#endif
#ifndef FRNN_SMEM_BWD_DSM
#error "fused kernels: -DFRNN_SMEM_BWD_DSM missing (build with the tiling model's defines, KernelConfig.defines())"
#endif
// independent MMA accumulator chains per warp (any value >= 1 is correct)
#ifndef FRNN_FWD_NCH
#error "fused kernels: -DFRNN_FWD_NCH missing (build with the tiling model's defines, KernelConfig.defines())"
#endif
#ifndef FRNN_BWD_NCH
#error "fused kernels: -DFRNN_BWD_NCH missing (build with the tiling model's defines, KernelConfig.defines())"
#endif

// bytes per element, as the conditions below need it
#define FRNN_ESIZE (FLASHRNN_DTYPE == 2 ? 4 : 2)

// ================================================================ the target
// FRNN_SM90A: set for sm_90a builds; enables the thread-block cluster variants below
#ifndef FRNN_SM90A
#define FRNN_SM90A 0
#endif

// ================================================================ design variants
// Each value of each switch keeps the kernels correct; the defaults are what measured fastest.
// A switch set to a value its condition excludes is an error.

// FRNN_FAST_MATH: the cell code runs on a float wrapper whose fr_exp, fr_sigmoid, fr_tanh and
// fr_logsigmoid use ex2.approx / rcp.approx (cell.cuh). Default on except for sLSTM.
#ifndef FRNN_FAST_MATH
#define FRNN_FAST_MATH (FLASHRNN_CELL != 2)
#endif

// FRNN_WX_RING: the forward with one block per head copies the input gates of the next
// FRNN_WX_STAGES - 1 steps with cp.async into a shared-memory ring (16-byte chunks of a row's
// units) instead of prefetching them into registers. Measured on H100, LSTM 12x64 B16 bf16: one
// step ahead in registers, ~14% of the step stalled on that load; four steps ahead in registers
// was slower still. Default on where allowed; the host passes Wx 16-byte aligned.
#define FRNN_WX_RING_OK (FLASHRNN_FUSED_NSLICE == 1 && (FLASHRNN_HEAD_DIM * FRNN_ESIZE) % 16 == 0)
#ifndef FRNN_WX_RING
#error "fused kernels: -DFRNN_WX_RING missing (build with the tiling model's defines, KernelConfig.defines())"
#endif
#if FRNN_WX_RING && !FRNN_WX_RING_OK
#error "FRNN_WX_RING needs FLASHRNN_FUSED_NSLICE == 1 and head rows of whole 16-byte chunks"
#endif
#ifndef FRNN_WX_STAGES
#error "fused kernels: -DFRNN_WX_STAGES missing (build with the tiling model's defines, KernelConfig.defines())"
#endif

// FRNN_FWD_PF, FRNN_BWD_PF: steps of prefetch of the per-step global inputs (forward: Wx;
// backward: states, their gradients, the cache); a step is shorter than a DRAM round trip, so
// one step ahead stalls; the model makes them as deep as its register allowance allows.
#ifndef FRNN_FWD_PF
#error "fused kernels: -DFRNN_FWD_PF missing (build with the tiling model's defines, KernelConfig.defines())"
#endif
#ifndef FRNN_BWD_PF
#error "fused kernels: -DFRNN_BWD_PF missing (build with the tiling model's defines, KernelConfig.defines())"
#endif

// FRNN_POLL_GROUP: 16-byte polls of the forward's exchange a thread keeps in flight.
#ifndef FRNN_POLL_GROUP
#error "fused kernels: -DFRNN_POLL_GROUP missing (build with the tiling model's defines, KernelConfig.defines())"
#endif

// FRNN_FWD_XCH: the forward's exchange format (NSLICE > 1):
//   0: one value per tagged word (32-bit words for 16-bit types, 64-bit for float32), rows in
//      unit order [D] words;
//   1: three 16-bit values + a 16-bit tag per 64-bit word (16-bit types, U % 6 == 0): each block
//      publishes its U units as U/6 16-byte chunks, rows [NSLICE][U/3] words (4/3 of the plain
//      bytes instead of 2x); the six values of a chunk are gathered from six lanes of one warp
//      with shuffles (the pointwise pairs then use 30 lanes of each warp).
// Default 1 where allowed. Measured on H100, LSTM 1x768 B16 bf16, bt 8: U 12 1.87 ms vs 2.08
// with 0; U 16, whose last chunk per slice was a third empty, lost: 2.40 vs 2.05.
#define FRNN_XCH1_OK (FLASHRNN_DTYPE != 2 && FLASHRNN_FUSED_UNITS % 6 == 0)
#ifndef FRNN_FWD_XCH
#error "fused kernels: -DFRNN_FWD_XCH missing (build with the tiling model's defines, KernelConfig.defines())"
#endif
#if FRNN_FWD_XCH == 1 && !FRNN_XCH1_OK
#error "FRNN_FWD_XCH=1 needs a 16-bit dtype and FLASHRNN_FUSED_UNITS % 6 == 0"
#endif

// FRNN_FWD_POLL_BAR: forward, NSLICE > 1: a block barrier before the poll, so that no warp polls
// while others still run the pointwise update. Measured on H100, 1x768 B16 bf16, ms with /
// without: LSTM, packed exchange, 2.03 / 2.23; GRU, one value per word, 2.05 / 1.94. Default on
// with the packed format.
#ifndef FRNN_FWD_POLL_BAR
#define FRNN_FWD_POLL_BAR (FRNN_FWD_XCH == 1)
#endif

// FRNN_BWD_ACQ: backward, NSLICE > 1: how the reader's poll of the step flags acquires the
// producers' data: 1 ld.acquire.gpu (default), 0 ld.relaxed.gpu and then one fence.acq_rel.gpu.
#ifndef FRNN_BWD_ACQ
#define FRNN_BWD_ACQ 1
#endif

// FRNN_BWD_BULK: backward, NSLICE > 1, sm_90a: the operand rows are fetched by the bulk copy
// engine (cp.async.bulk, completing on an mbarrier) instead of per-thread cp.async; the launch
// groups up to FRNN_CLUSTER blocks of a head into a thread-block cluster and each block of a
// cluster fetches 1/C of the rows, multicast into the shared memory of all C blocks.
#ifndef FRNN_BWD_BULK
#define FRNN_BWD_BULK (FRNN_SM90A && FLASHRNN_FUSED_NSLICE > 1)
#endif
#if FRNN_BWD_BULK && !FRNN_SM90A
#error "FRNN_BWD_BULK needs an sm_90a build (FRNN_SM90A)"
#endif
// FRNN_CLUSTER: most blocks per cluster for FRNN_BWD_BULK (16 is a non-portable size that H100
// schedules; the launch falls back to 8, 4, 2 or none).
#ifndef FRNN_CLUSTER
#define FRNN_CLUSTER 16
#endif

// FRNN_FWD_DSM: forward, NSLICE > 1, sm_90a: a head whose NSLICE blocks fit one thread-block
// cluster (at most 16, a non-portable size above 8) may run as one cluster that exchanges h
// through distributed shared memory instead of L2: each block writes its units of h_t straight
// into the operand tile of every block of the cluster (st.async, chunks of FRNN_DSM_E units), and
// the bytes themselves complete the receiver's mbarrier for that step (one per step parity, armed
// with the step's byte count). The build then holds both forward kernels; the launch takes the
// cluster one when the GPU holds the clusters of all (head, batch tile) pairs at once
// (frnn_fwd_cluster), else the L2 one.
// FRNN_DSM_E: units per chunk of such a store (E divides U, D and 32; 0: none fits).
#define FRNN_DSM_CHUNK_OK(e) (FLASHRNN_FUSED_UNITS % (e) == 0 && FLASHRNN_HEAD_DIM % (e) == 0)
#if FRNN_ESIZE == 2
#define FRNN_DSM_E \
  (FRNN_DSM_CHUNK_OK(8) ? 8 : (FRNN_DSM_CHUNK_OK(4) ? 4 : (FRNN_DSM_CHUNK_OK(2) ? 2 : 0)))
#else
#define FRNN_DSM_E (FRNN_DSM_CHUNK_OK(4) ? 4 : (FRNN_DSM_CHUNK_OK(2) ? 2 : 1))
#endif
#define FRNN_DSM_OK \
  (FRNN_SM90A && FLASHRNN_FUSED_NSLICE > 1 && FLASHRNN_FUSED_NSLICE <= 16 && FRNN_DSM_E > 0)
#ifndef FRNN_FWD_DSM
#define FRNN_FWD_DSM FRNN_DSM_OK
#endif
#if FRNN_FWD_DSM && !FRNN_DSM_OK
#error "FRNN_FWD_DSM needs an sm_90a build, 2 <= FLASHRNN_FUSED_NSLICE <= 16 and U, D even (16-bit types)"
#endif

// FRNN_BWD_DSM: the same for the backward's operand, the gate gradients (frnn_bwd_dsm): after the
// pointwise update each block stores its units' G gate gradients of step t straight into the
// operand tile of every block of the cluster (double-buffered by step parity, an mbarrier per
// buffer armed with the step's bytes): no flags, no fence, no L2 round trip. Taken at launch like
// the forward's (frnn_bwd_dsm_used), and only where a block receives at most FRNN_BWD_DSM_BYTES
// bytes per step (BT*G*D*e; the kernel is empty otherwise). Measured on H100, bf16, T 1024,
// backward kernel + reductions, ms, cluster / L2: Elman 3x256 B16 (4 KB) 1.01 / 1.87, GRU 3x256
// B16 (12 KB) 2.16 / 2.55, LSTM 4x192 B16 (12 KB) 2.80 / 2.88, LSTM 3x256 B16 (16 KB) 2.64 /
// 2.60, LSTM 3x256 B64 with BT 16 (32 KB) 5.96 / 5.73.
#ifndef FRNN_BWD_DSM
#define FRNN_BWD_DSM FRNN_DSM_OK
#endif
#if FRNN_BWD_DSM && !FRNN_DSM_OK
#error "FRNN_BWD_DSM needs an sm_90a build, 2 <= FLASHRNN_FUSED_NSLICE <= 16 and U, D even (16-bit types)"
#endif
#ifndef FRNN_BWD_DSM_BYTES
#error "fused kernels: -DFRNN_BWD_DSM_BYTES missing (build with the tiling model's defines, KernelConfig.defines())"
#endif
