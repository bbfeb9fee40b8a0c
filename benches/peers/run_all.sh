#!/usr/bin/env bash
# One benchmark session on this machine: export the synthetic models, time copydesk and the peer
# engines (transformers, CTranslate2 float32 and int8) on the same inputs with the same thread
# count, and print the comparisons. See benches/README.md.
#
# Knobs (environment): THREADS (2), RUNS (3), WARMUP (1), PYTHON (target/venv/bin/python),
# MODELS (target/bench-models), OUT (target/bench-reports), ENGINES (all three peers),
# DTYPES (copydesk's precisions: f32,q8).
set -euo pipefail
cd "$(dirname "$0")/../.."
THREADS=${THREADS:-2}
RUNS=${RUNS:-3}
WARMUP=${WARMUP:-1}
PYTHON=${PYTHON:-target/venv/bin/python}
MODELS=${MODELS:-target/bench-models}
OUT=${OUT:-target/bench-reports}
ENGINES=${ENGINES:-transformers,ctranslate2-f32,ctranslate2-int8}
DTYPES=${DTYPES:-f32,q8}
BIN=target/release/copydesk
COMMON=(--threads "$THREADS" --runs "$RUNS" --warmup "$WARMUP")

# The report records the commit the binary was built from.
COPYDESK_GIT_COMMIT="$(git rev-parse --short=12 HEAD)$(git diff --quiet HEAD -- 2>/dev/null || echo -dirty)" \
  cargo build --release --locked --bin copydesk
for m in opus-mt-nl-en flan-t5-small; do
  "$BIN" bench --synthetic "$m" --export "$MODELS/$m"
done

echo "== load before: $(cut -d' ' -f1-3 /proc/loadavg)"
# wire: opus-mt-nl-en's shape, batches 1, 8, 32; beam: the same with 4 beams at batch 8;
# summ: flan-t5-small's shape, batches 1, 8. Each copydesk precision gets its own report.
copydesk() { # workload dir, model, bench arguments...
  local dir=$1 model=$2
  shift 2
  for d in ${DTYPES//,/ }; do
    "$BIN" bench --synthetic "$model" --dtype "$d" "$@" "${COMMON[@]}" \
      --out "$OUT/$dir/copydesk-$d.json" --markdown "$OUT/$dir/copydesk-$d.md" >/dev/null
  done
}
copydesk wire opus-mt-nl-en --workload wire --batch-sizes 1,8,32
"$PYTHON" benches/peers/run_peers.py --model "$MODELS/opus-mt-nl-en" --workload wire \
  --batch-sizes 1,8,32 "${COMMON[@]}" --engines "$ENGINES" --out-dir "$OUT/wire"
copydesk beam opus-mt-nl-en --workload wire --batch-sizes 8 --beams 4
"$PYTHON" benches/peers/run_peers.py --model "$MODELS/opus-mt-nl-en" --workload wire \
  --batch-sizes 8 --beams 4 "${COMMON[@]}" --engines "$ENGINES" --out-dir "$OUT/beam"
copydesk summ flan-t5-small --workload summ --batch-sizes 1,8
"$PYTHON" benches/peers/run_peers.py --model "$MODELS/flan-t5-small" --workload summ \
  --batch-sizes 1,8 "${COMMON[@]}" --engines "$ENGINES" --out-dir "$OUT/summ"
echo "== load after: $(cut -d' ' -f1-3 /proc/loadavg)"

for w in wire beam summ; do
  reports=()
  for d in ${DTYPES//,/ }; do reports+=("$OUT/$w/copydesk-$d.json"); done
  for e in ${ENGINES//,/ }; do reports+=("$OUT/$w/$e.json"); done
  echo "== $w"
  "$BIN" bench --compare "${reports[@]}" | tee "$OUT/$w/compare.md"
done
