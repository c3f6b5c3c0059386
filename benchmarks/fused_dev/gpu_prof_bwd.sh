#!/bin/bash
# One device call for the backward: variant timings, the per-kernel breakdown and a stall profile
# of the LSTM 1x768 B16 backward (Nsight Compute source counters to $OUT/src_prof.csv).
# Usage (repo root, wheels in .whl): bash benchmarks/fused_dev/gpu_prof_bwd.sh
source "$(dirname "$0")/gpu_env.sh"
t0=$(date +%s)
timeout 200 python3 benchmarks/fused_dev/variants.py 2>&1 | tee "$OUT/variants.log" | sed -n "/^== variants/,\$p"
timeout 100 python3 benchmarks/fused_dev/breakdown.py lstm 16 1 768 2>&1 | tail -16
echo "== profile ($(( $(date +%s) - t0 )) s)"
timeout 120 ncu --section WarpStateStats --section SourceCounters -k regex:frnn_bwd -s 2 -c 1 -f \
    -o "$OUT/prof" python3 benchmarks/fused_dev/ncu_case.py lstm 16 1 768 b 256 > "$OUT/ncu.log" 2>&1
ncu -i "$OUT/prof.ncu-rep" --page source --csv --print-source sass > "$OUT/src_prof.csv" 2>>"$OUT/ncu.log"
ncu -i "$OUT/prof.ncu-rep" --page details 2>&1 | grep -E "Duration|Warp Cycles Per Issued" | head -4
echo "== done ($(( $(date +%s) - t0 )) s)"
