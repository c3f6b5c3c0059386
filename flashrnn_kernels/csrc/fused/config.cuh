// The -D interface of the fused kernels, in one place: every define a build passes, the conditions
// it must meet, and the defaults of the variant switches the tiling model does not give.
// traits.cuh turns them into constexpr values.
#pragma once

// ================================================================ the tiling
// Solved by flashrnn_kernels/tiling/fused.cint: KernelConfig.defines() gives every define of this
// section (flashrnn_kernels/tiling/models.py: FUSED.defines says which model quantity each is).
// Each is required; the model is the one place their formulas live, and traits.cuh checks with
// static_assert what the kernels rely on.
#ifndef FLASHRNN_CELL  // the cell id of cells_generated.cuh
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
#ifndef FRNN_SMEM_FWD_R  // the fragments of R beyond the registers (0: all of R in registers)
#error "fused kernels: -DFRNN_SMEM_FWD_R missing (build with the tiling model's defines, KernelConfig.defines())"
#endif
#ifndef FRNN_SMEM_BWD_R
#error "fused kernels: -DFRNN_SMEM_BWD_R missing (build with the tiling model's defines, KernelConfig.defines())"
#endif
// K steps per warp whose A fragments of R sit in registers (the warp's other K steps: in shared
// memory, the regions above)
#ifndef FRNN_FWD_KSR
#error "fused kernels: -DFRNN_FWD_KSR missing (build with the tiling model's defines, KernelConfig.defines())"
#endif
#ifndef FRNN_BWD_KSR
#error "fused kernels: -DFRNN_BWD_KSR missing (build with the tiling model's defines, KernelConfig.defines())"
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
// Each value of each switch keeps the kernels correct, and a build may override any of them
// (backends.fused.kernels(config, defines=...)), also those whose value the tiling model gives
// (required, like the tiling). A value its condition excludes is an error. Why each default is
// what it is, with the measurements: docs/design/fused-kernel.md.

// FRNN_FAST_MATH: the cell update on approximate exp / rcp (cell.cuh). Default on except for sLSTM.
#ifndef FRNN_FAST_MATH
#define FRNN_FAST_MATH (FLASHRNN_CELL != 2)
#endif

// FRNN_WX_RING, FRNN_WX_STAGES (model: WX_RING, WX_STAGES): the forward with one block per head
// copies the input gates of the next STAGES - 1 steps into a shared-memory ring (input_ring.cuh)
// instead of prefetching them into registers; the host passes Wx 16-byte aligned.
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

// FRNN_FWD_PF, FRNN_BWD_PF (model: PF_F, PF_B): steps of prefetch of the per-step global inputs
// into registers (forward: Wx; backward: states, their gradients, the cache).
#ifndef FRNN_FWD_PF
#error "fused kernels: -DFRNN_FWD_PF missing (build with the tiling model's defines, KernelConfig.defines())"
#endif
#ifndef FRNN_BWD_PF
#error "fused kernels: -DFRNN_BWD_PF missing (build with the tiling model's defines, KernelConfig.defines())"
#endif

// FRNN_POLL_GROUP (model: POLL_GROUP): 16-byte polls a thread of the forward keeps in flight.
#ifndef FRNN_POLL_GROUP
#error "fused kernels: -DFRNN_POLL_GROUP missing (build with the tiling model's defines, KernelConfig.defines())"
#endif

// FRNN_FWD_XCH (model: PACK_F): the forward's exchange words through L2 (tagged_exchange.cuh):
// 0 one value per word; 1 three 16-bit values and a tag per 64-bit word (16-bit types,
// U % 6 == 0; the pointwise pairs then sit on 30 lanes of each warp).
#define FRNN_XCH1_OK (FLASHRNN_DTYPE != 2 && FLASHRNN_FUSED_UNITS % 6 == 0)
#ifndef FRNN_FWD_XCH
#error "fused kernels: -DFRNN_FWD_XCH missing (build with the tiling model's defines, KernelConfig.defines())"
#endif
#if FRNN_FWD_XCH == 1 && !FRNN_XCH1_OK
#error "FRNN_FWD_XCH=1 needs a 16-bit dtype and FLASHRNN_FUSED_UNITS % 6 == 0"
#endif

// FRNN_FWD_POLL_BAR: a block barrier before the forward's poll, so that no warp polls while
// others still run the pointwise update. Default on with the packed words.
#ifndef FRNN_FWD_POLL_BAR
#define FRNN_FWD_POLL_BAR (FRNN_FWD_XCH == 1)
#endif

// FRNN_BWD_ACQ: how the backward's poll of the step flags acquires the producers' data:
// 1 ld.acquire.gpu (default), 0 ld.relaxed.gpu and then one fence.acq_rel.gpu.
#ifndef FRNN_BWD_ACQ
#define FRNN_BWD_ACQ 1
#endif

// FRNN_BWD_BULK (sm_90a, NSLICE > 1; default on there): the backward's operand rows by the bulk
// copy engine, multicast within clusters of up to FRNN_CLUSTER blocks of a head (flag_exchange.cuh:
// BulkRows), instead of per-thread cp.async. FRNN_CLUSTER: default 16, a non-portable size that
// H100 schedules; the launch falls back to 8, 4, 2 or none.
#ifndef FRNN_BWD_BULK
#define FRNN_BWD_BULK (FRNN_SM90A && FLASHRNN_FUSED_NSLICE > 1)
#endif
#if FRNN_BWD_BULK && !FRNN_SM90A
#error "FRNN_BWD_BULK needs an sm_90a build (FRNN_SM90A)"
#endif
#ifndef FRNN_CLUSTER
#define FRNN_CLUSTER 16
#endif

// FRNN_FWD_DSM (sm_90a, 2 <= NSLICE <= 16, chunks of FRNN_DSM_E units; default on there): the
// build holds a second forward kernel, frnn_fwd_dsm, that runs a head as one thread-block cluster
// and exchanges h through distributed shared memory (forward.cuh); the launch takes it where the
// GPU holds the clusters of all (head, batch tile) pairs at once (frnn_fwd_cluster).
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

// FRNN_BWD_DSM (the same conditions and default): the same for the backward, frnn_bwd_dsm
// (backward.cuh), built only where a block receives at most FRNN_BWD_DSM_BYTES (model:
// DSM_B_BYTES_MAX) bytes per step, BT*G*D*e (the kernel is empty otherwise), and taken where the
// GPU holds all clusters at once (frnn_bwd_dsm_used).
#ifndef FRNN_BWD_DSM
#define FRNN_BWD_DSM FRNN_DSM_OK
#endif
#if FRNN_BWD_DSM && !FRNN_DSM_OK
#error "FRNN_BWD_DSM needs an sm_90a build, 2 <= FLASHRNN_FUSED_NSLICE <= 16 and U, D even (16-bit types)"
#endif
#ifndef FRNN_BWD_DSM_BYTES
#error "fused kernels: -DFRNN_BWD_DSM_BYTES missing (build with the tiling model's defines, KernelConfig.defines())"
#endif
