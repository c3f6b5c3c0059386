#!/bin/bash
# One device call: host overhead of a fused call, then the full benchmarks/rnn_speed.py into $OUT/bench.
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit 1
export PYTHONPATH=/tmp/site:. PYTHONUNBUFFERED=1
OUT=${OUT:-/tmp/out}; mkdir -p "$OUT/bench"
t0=$(date +%s)
timeout 150 python3 benchmarks/fused_dev/check.py --prebuild-only 2>&1 | tail -1
timeout 60 python3 benchmarks/fused_dev/overhead.py 2>&1 | head -45
echo "== rnn_speed ($(( $(date +%s) - t0 )) s)"
timeout $(( 570 - ($(date +%s) - t0) )) python3 benchmarks/rnn_speed.py --out "$OUT/bench" "$@" 2>&1 | tee "$OUT/bench/rnn_speed_h100.log" | sed -n '/== summary/,$p'
echo "== done ($(( $(date +%s) - t0 )) s)"
