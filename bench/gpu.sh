#!/usr/bin/env bash
# GPU throughput and MFU: the trainer's choices against TRL's defaults (bench/gpu.py).
#
#   bash bench/gpu.sh --fetch-wheels   # here, once: the packages the GPU machine lacks, into .whl/
#   bash bench/gpu.sh                  # on the GPU machine (carry .whl); JSON to $OUT/gpu.json
#   bash bench/gpu.sh --dry-run        # anywhere: the same code, tiny, on the CPU
#
# The GPU machine has torch, transformers, peft and accelerate but neither TRL nor DeepSpeed, and
# cannot reach a package index: the missing wheels travel in .whl/ (ignored by git) and are
# installed under /tmp/site, ahead of the machine's own packages. Extra arguments go to
# bench/gpu.py. The run is bounded at 8 minutes; results are written after each variant.
set -euo pipefail
cd "$(dirname "$0")/.."

# Pinned as in pyproject.toml; pure-Python wheels except pydantic-core (CPython 3.12, x86-64).
WHEELS=(
  trl==1.16.0 transformers==5.24.0 peft==0.21.2 accelerate==1.15.0 datasets==5.2.0
  dill==0.4.1 multiprocess==0.70.19 pydantic==2.14.4 pydantic-core==2.50.5
  annotated-types==0.8.0 typing-inspection==0.4.5 liger-kernel==0.8.5
)

if [[ "${1:-}" == "--fetch-wheels" ]]; then
  grep -qxF '/.whl/' "$(git rev-parse --git-common-dir)/info/exclude" \
    || echo '/.whl/' >>"$(git rev-parse --git-common-dir)/info/exclude"
  python3 -m pip download --no-deps --only-binary=:all: --python-version 3.12 \
    --implementation cp --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 \
    --platform manylinux2014_x86_64 -d .whl "${WHEELS[@]}"
  exit 0
fi

PYTHON=${PYTHON:-python3}
if [[ " $* " != *" --dry-run "* ]]; then
  [[ -d .whl ]] || { echo "no .whl/: run 'bash bench/gpu.sh --fetch-wheels' first" >&2; exit 2; }
  "$PYTHON" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
    --target /tmp/site .whl/*.whl
  export PYTHONPATH=/tmp/site
fi
export PYTHONPATH="$PWD/api:$PWD/trainer-image:$PWD${PYTHONPATH:+:$PYTHONPATH}"
export HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 TOKENIZERS_PARALLELISM=false PYTHONUNBUFFERED=1
OUT=${OUT:-bench/results}
timeout 480 "$PYTHON" -m bench.gpu --out "$OUT/gpu.json" "$@"
