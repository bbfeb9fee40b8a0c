#!/usr/bin/env bash
# One benchmark session on this machine: export the synthetic models, time copydesk and the peer
# engines (transformers, CTranslate2 float32 and int8) on the same inputs with the same thread
# count, and print the comparisons. See benches/README.md.
#
# Knobs (environment): THREADS (2), RUNS (3), WARMUP (1), PYTHON (target/venv/bin/python),
# MODELS (target/bench-models), OUT (target/bench-reports), ENGINES (all three peers).
set -euo pipefail
cd "$(dirname "$0")/../.."
THREADS=${THREADS:-2}
RUNS=${RUNS:-3}
WARMUP=${WARMUP:-1}
PYTHON=${PYTHON:-target/venv/bin/python}
MODELS=${MODELS:-target/bench-models}
OUT=${OUT:-target/bench-reports}
ENGINES=${ENGINES:-transformers,ctranslate2-f32,ctranslate2-int8}
BIN=target/release/copydesk
COMMON=(--threads "$THREADS" --runs "$RUNS" --warmup "$WARMUP")

# The report records the commit the binary was built from.
COPYDESK_GIT_COMMIT="$(git rev-parse --short=12 HEAD)$(git diff --quiet HEAD -- 2>/dev/null || echo -dirty)" \
  cargo build --release --locked --bin copydesk
for m in opus-mt-nl-en flan-t5-small; do
  "$BIN" bench --synthetic "$m" --export "$MODELS/$m"
done

echo "== load before: $(cut -d' ' -f1-3 /proc/loadavg)"
# wire: opus-mt-nl-en's shape, batches 1, 8, 32; summ: flan-t5-small's shape, batches 1, 8.
"$BIN" bench --synthetic opus-mt-nl-en --workload wire --batch-sizes 1,8,32 "${COMMON[@]}" \
  --out "$OUT/wire/copydesk.json" --markdown "$OUT/wire/copydesk.md" >/dev/null
"$PYTHON" benches/peers/run_peers.py --model "$MODELS/opus-mt-nl-en" --workload wire \
  --batch-sizes 1,8,32 "${COMMON[@]}" --engines "$ENGINES" --out-dir "$OUT/wire"
"$BIN" bench --synthetic flan-t5-small --workload summ --batch-sizes 1,8 "${COMMON[@]}" \
  --out "$OUT/summ/copydesk.json" --markdown "$OUT/summ/copydesk.md" >/dev/null
"$PYTHON" benches/peers/run_peers.py --model "$MODELS/flan-t5-small" --workload summ \
  --batch-sizes 1,8 "${COMMON[@]}" --engines "$ENGINES" --out-dir "$OUT/summ"
echo "== load after: $(cut -d' ' -f1-3 /proc/loadavg)"

for w in wire summ; do
  reports=("$OUT/$w/copydesk.json")
  for e in ${ENGINES//,/ }; do reports+=("$OUT/$w/$e.json"); done
  echo "== $w"
  "$BIN" bench --compare "${reports[@]}" | tee "$OUT/$w/compare.md"
done
