#!/bin/bash
# One device call for a kernel change: variant timings, the fused GPU tests, one stall profile.
# Usage (repo root, wheels in .whl): bash benchmarks/fused_dev/gpu_iter.sh [ncu case args]
source "$(dirname "$0")/gpu_env.sh"
t0=$(date +%s)
(timeout 150 python3 benchmarks/fused_dev/check.py --prebuild-only > "$OUT/prebuild.log" 2>&1) &
timeout 240 python3 benchmarks/fused_dev/variants.py 2>&1 | tee "$OUT/variants.log" | sed -n "/^== variants/,\$p"
wait
echo "== tests ($(( $(date +%s) - t0 )) s)"
timeout 240 python3 -m pytest -q -m cuda -p no:cacheprovider tests/flashrnn_kernels/test_fused.py \
  tests/flashrnn_kernels/test_streams.py 2>&1 | tail -8
if [ $# -gt 0 ]; then
  echo "== profile $* ($(( $(date +%s) - t0 )) s)"
  timeout 90 ncu --section WarpStateStats --section SourceCounters -k regex:frnn_$([ "$5" = b ] && echo bwd || echo fwd) -s 2 -c 1 -f \
    -o "$OUT/prof" python3 benchmarks/fused_dev/ncu_case.py "$@" > "$OUT/ncu.log" 2>&1
  ncu -i "$OUT/prof.ncu-rep" --page source --csv --print-source sass > "$OUT/src_prof.csv" 2>>"$OUT/ncu.log"
  ncu -i "$OUT/prof.ncu-rep" --page details 2>&1 | grep -E "Duration|Warp Cycles Per Issued" | head -4
fi
echo "== done ($(( $(date +%s) - t0 )) s)"
