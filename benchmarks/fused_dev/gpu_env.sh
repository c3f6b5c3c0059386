# Sourced by the gpu_*.sh scripts: the carried wheels (lark, platformdirs) into /tmp/site, the
# repository on PYTHONPATH, unbuffered Python output, and $OUT (the device call's output folder).
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit 1
export PYTHONPATH=/tmp/site:. PYTHONUNBUFFERED=1
OUT=${OUT:-/tmp/out}; mkdir -p "$OUT"
