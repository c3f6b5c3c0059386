#!/bin/bash
# One device call: GPU tests, Nsight Compute stall profiles of two forwards, the state-tracking demo.
# Usage (repo root, wheels for lark/platformdirs in .whl): bash benchmarks/fused_dev/gpu_verify.sh
source "$(dirname "$0")/gpu_env.sh"
nvidia-smi --query-gpu=name,driver_version,clocks.max.sm --format=csv
t0=$(date +%s)
echo "== hwmodels"; timeout 60 python3 -m pytest -q -m cuda tests/hwmodels -p no:cacheprovider 2>&1 | tail -3
echo "== prebuild"; timeout 150 python3 benchmarks/fused_dev/check.py --prebuild-only 2>&1 | tail -2
echo "== profiles ($(( $(date +%s) - t0 )) s)"
NCU="ncu --section WarpStateStats --section SourceCounters --section SpeedOfLight --section LaunchStats -k regex:frnn_fwd -s 2 -c 1 -f"
timeout 90 $NCU -o "$OUT/r12x64" python3 benchmarks/fused_dev/ncu_case.py lstm 16 12 64 f 256 > "$OUT/ncu.log" 2>&1
timeout 90 $NCU -o "$OUT/r1x768" python3 benchmarks/fused_dev/ncu_case.py lstm 16 1 768 f 256 >> "$OUT/ncu.log" 2>&1
for r in r12x64 r1x768; do
  ncu -i "$OUT/$r.ncu-rep" --page source --csv --print-source sass > "$OUT/src_$r.csv" 2>>"$OUT/ncu.log"
  ncu -i "$OUT/$r.ncu-rep" --page details 2>&1 | grep -E "Duration|Stall|Warp Cycles|Issued|Eligible|Registers|Block Size|Grid Size|SM Frequency" | head -30
done
tail -5 "$OUT/ncu.log"
echo "== GPU tests ($(( $(date +%s) - t0 )) s)"
timeout 280 python3 -m pytest -q -m cuda -p no:cacheprovider --durations=8 tests/flashrnn_kernels/test_fused.py \
  tests/flashrnn_kernels/test_streams.py tests/flashrnn_kernels/test_rnn_gpu.py tests/test_examples.py 2>&1 | tail -40
echo "== state tracking ($(( $(date +%s) - t0 )) s)"
timeout 120 python3 examples/state_tracking.py --device cuda --backend fused 2>&1 | tail -25
echo "== done ($(( $(date +%s) - t0 )) s)"
