#!/bin/bash
# One device call: the GPU tests of flashrnn_kernels, the host-overhead probe, the full benchmark.
source "$(dirname "$0")/gpu_env.sh"
mkdir -p "$OUT/bench"
t0=$(date +%s)
timeout 150 python3 benchmarks/fused_dev/check.py --prebuild-only 2>&1 | tail -1
timeout 60 python3 benchmarks/fused_dev/dispatch_probe.py 2>&1 | head -4
echo "== tests ($(( $(date +%s) - t0 )) s)"
timeout 300 python3 -m pytest -q -m cuda -p no:cacheprovider tests/flashrnn_kernels/test_fused.py \
  tests/flashrnn_kernels/test_streams.py tests/flashrnn_kernels/test_rnn_gpu.py 2>&1 | tail -3
timeout 60 python3 benchmarks/fused_dev/breakdown.py lstm 16 1 768 2>&1 | tail -8
echo "== rnn_speed ($(( $(date +%s) - t0 )) s)"
timeout $(( 580 - ($(date +%s) - t0) )) python3 benchmarks/rnn_speed.py --out "$OUT/bench" "$@" 2>&1 \
  | tee "$OUT/bench/rnn_speed_h100.log" | sed -n '/== summary/,$p'
echo "== done ($(( $(date +%s) - t0 )) s)"
