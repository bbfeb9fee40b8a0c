#!/usr/bin/env bash
# The summ workload (8 inputs of 400 source tokens, exactly 60 generated tokens each) on the
# synthetic full-size summarizers, copydesk against transformers and CTranslate2 in one session
# on this machine. Used to pick the default English summarizer (README) and for the BART-family
# figures in benches/README.md. With WORKLOAD=wire it runs a translator the same way (the
# m2m100_418M row: SUMMARIZERS=m2m100_418M WORKLOAD=wire).
#
# Knobs (environment): SUMMARIZERS (distilbart-cnn-12-6,bart-large-cnn,pegasus-xsum,
# flan-t5-base), WORKLOAD (summ), BATCHES (1,8), THREADS (2), RUNS (1), WARMUP (0), PYTHON, MODELS, OUT, ENGINES,
# DTYPES, as in run_all.sh; KEEP=1 keeps the exported models (removed after each by default).
set -euo pipefail
cd "$(dirname "$0")/../.."
SUMMARIZERS=${SUMMARIZERS:-distilbart-cnn-12-6,bart-large-cnn,pegasus-xsum,flan-t5-base}
WORKLOAD=${WORKLOAD:-summ}
BATCHES=${BATCHES:-1,8}
THREADS=${THREADS:-2}
RUNS=${RUNS:-1}
WARMUP=${WARMUP:-0}
PYTHON=${PYTHON:-target/venv/bin/python}
MODELS=${MODELS:-target/bench-models}
OUT=${OUT:-target/bench-reports/summarizers}
ENGINES=${ENGINES:-transformers,ctranslate2-f32,ctranslate2-int8}
DTYPES=${DTYPES:-f32,q8}
BIN=target/release/copydesk
COMMON=(--threads "$THREADS" --runs "$RUNS" --warmup "$WARMUP")

COPYDESK_GIT_COMMIT="$(git rev-parse --short=12 HEAD)$(git diff --quiet HEAD -- 2>/dev/null || echo -dirty)" \
  cargo build --release --locked --bin copydesk
echo "== load before: $(cut -d' ' -f1-3 /proc/loadavg)"
for m in ${SUMMARIZERS//,/ }; do
  "$BIN" bench --synthetic "$m" --export "$MODELS/$m" >/dev/null
  reports=()
  for d in ${DTYPES//,/ }; do
    "$BIN" bench --synthetic "$m" --dtype "$d" --workload "$WORKLOAD" --batch-sizes "$BATCHES" \
      "${COMMON[@]}" --out "$OUT/$m/copydesk-$d.json" --markdown "$OUT/$m/copydesk-$d.md" >/dev/null
    reports+=("$OUT/$m/copydesk-$d.json")
  done
  if [ -n "$ENGINES" ]; then
    "$PYTHON" benches/peers/run_peers.py --model "$MODELS/$m" --workload "$WORKLOAD" \
      --batch-sizes "$BATCHES" "${COMMON[@]}" --engines "$ENGINES" --out-dir "$OUT/$m"
    for e in ${ENGINES//,/ }; do reports+=("$OUT/$m/$e.json"); done
  fi
  echo "== $m"
  "$BIN" bench --compare "${reports[@]}" | tee "$OUT/$m/compare.md"
  # Full-size exports take gigabytes each (and their CTranslate2 copies as much again).
  [ "${KEEP:-0}" = 1 ] || rm -rf "$MODELS/$m" "$MODELS/$m"-ct2-*
done
echo "== load after: $(cut -d' ' -f1-3 /proc/loadavg)"
