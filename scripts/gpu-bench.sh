#!/usr/bin/env bash
# The GPU run of issue 19, prepared to run in one go on the GPU machine (nothing is built there):
# a parity check of the CUDA binary against the CPU on the fixture models, then the bench report
# (synthetic opus-mt-nl-en wire workload at batch 1-512, beam 4 at 8, f32 and bf16; the summ
# workload on synthetic flan-t5-small) and CTranslate2 on the same GPU for the same ids
# (float16, int8_float16), side by side. Dry-run on a CPU with DEVICE=cpu.
#
#   scripts/gpu-bench.sh                          # on the GPU machine, OUT=$OUT or target/gpu-bench
#   DEVICE=cpu DTYPES=f32 BATCHES=1,8 SUMM=0 scripts/gpu-bench.sh   # dry run here
#
# Through the device tool: carry target/cuda/release/copydesk.stripped.xz (23 MB; made by
# scripts/cuda-build.sh) and run `OUT=$OUT scripts/gpu-bench.sh`; about 8 minutes of GPU time
# are expected (the synthetic export and the batch-512 rows dominate). The reports go under
# benches/reports/ with benches/README.md's GPU rows.
#
# Environment: COPYDESK_BIN (default: target/cuda/release/copydesk.stripped, unpacked from its
# .xz if needed; with DEVICE=cpu target/debug/copydesk), DEVICE (cuda), BATCHES
# (1,8,32,128,512), DTYPES (f32,bf16), SUMM (1: run the summ workload), RUNS (1), WARMUP (1),
# PYTHON (python3; CTranslate2 rows only where it imports ctranslate2 with CUDA), OUT.
set -euo pipefail
cd "$(dirname "$0")/.."

DEVICE=${DEVICE:-cuda}
BATCHES=${BATCHES:-1,8,32,128,512}
DTYPES=${DTYPES:-f32,bf16}
SUMM=${SUMM:-1}
RUNS=${RUNS:-1}
WARMUP=${WARMUP:-1}
PYTHON=${PYTHON:-python3}
OUT=${OUT:-target/gpu-bench}
MODELS="$OUT/models"
mkdir -p "$OUT" "$MODELS"

if [[ -n "${COPYDESK_BIN:-}" ]]; then
    BIN=$COPYDESK_BIN
elif [[ "$DEVICE" == cpu ]]; then
    BIN=target/debug/copydesk
else
    BIN=target/cuda/release/copydesk.stripped
    if [[ ! -x "$BIN" && -f "$BIN.xz" ]]; then
        xz -d -k -f "$BIN.xz" && chmod +x "$BIN"
    fi
fi
[[ -x "$BIN" ]] || { echo "gpu-bench: no binary at $BIN (scripts/cuda-build.sh makes it)" >&2; exit 2; }

if [[ "$DEVICE" == cuda* ]]; then
    # The CUDA 13 runtime libraries of the machine's PyTorch environment (cublas, curand,
    # nvrtc, cudart); the driver's libcuda.so.1 is on the loader's path already.
    libs=$("$PYTHON" -c 'import nvidia, os; print(os.path.join(nvidia.__path__[0], "cu13", "lib"))' 2>/dev/null || true)
    if [[ -n "$libs" && -d "$libs" ]]; then
        export LD_LIBRARY_PATH="$libs${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
    else
        echo "gpu-bench: no CUDA 13 libraries under the Python nvidia packages; relying on LD_LIBRARY_PATH" >&2
    fi
    nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader | tee "$OUT/gpu.txt" || true
fi
echo "== $(date -u +%FT%TZ) binary $BIN, device $DEVICE" | tee "$OUT/log.txt"

# --- 1. parity: the device against the CPU on the fixture translators (greedy and beam 4) -------
sentences="$OUT/sentences.txt"
grep -v '^\s*$' tests/fixtures/samples/kabinet-stikstof.txt tests/fixtures/samples/zorgpremie.txt --no-filename > "$sentences"
for model in marian-tied marian-untied m2m100-tiny; do
    for beams in 1 4; do
        for dtype in ${DTYPES//,/ }; do
            base="$OUT/parity-$model-b$beams"
            "$BIN" translate --model "tests/fixtures/models/$model" --device cpu --dtype f32 \
                --beams "$beams" --max-new-tokens 24 --json < "$sentences" > "$base-cpu.jsonl"
            "$BIN" translate --model "tests/fixtures/models/$model" --device "$DEVICE" --dtype "$dtype" \
                --beams "$beams" --max-new-tokens 24 --json < "$sentences" > "$base-$DEVICE-$dtype.jsonl"
            "$PYTHON" - "$base-cpu.jsonl" "$base-$DEVICE-$dtype.jsonl" <<'EOF' | tee -a "$OUT/parity.txt"
import json, sys
a = [json.loads(l) for l in open(sys.argv[1])]
b = [json.loads(l) for l in open(sys.argv[2])]
same = sum(x["token_ids"] == y["token_ids"] for x, y in zip(a, b))
toks = sum(len(x["token_ids"]) for x in a)
agree = sum(p == q for x, y in zip(a, b) for p, q in zip(x["token_ids"], y["token_ids"]))
worst = max(abs(x["score"] - y["score"]) for x, y in zip(a, b))
print(f"{sys.argv[2].rsplit('/', 1)[-1]}: {same}/{len(a)} outputs identical to the CPU's, "
      f"{agree}/{toks} tokens agree, largest score difference {worst:.2e}")
EOF
        done
    done
done

# --- 2. the bench reports -------------------------------------------------------------------
"$BIN" bench --synthetic opus-mt-nl-en --export "$MODELS/opus-mt-nl-en" > /dev/null
reports=()
for dtype in ${DTYPES//,/ }; do
    "$BIN" bench --synthetic opus-mt-nl-en --device "$DEVICE" --dtype "$dtype" --workload wire \
        --batch-sizes "$BATCHES" --runs "$RUNS" --warmup "$WARMUP" \
        --out "$OUT/copydesk-wire-$dtype.json" --markdown "$OUT/copydesk-wire-$dtype.md"
    "$BIN" bench --synthetic opus-mt-nl-en --device "$DEVICE" --dtype "$dtype" --workload wire \
        --batch-sizes 8 --beams 4 --runs "$RUNS" --warmup "$WARMUP" \
        --out "$OUT/copydesk-wire-beam4-$dtype.json"
    reports+=("$OUT/copydesk-wire-$dtype.json")
    if [[ "$SUMM" == 1 ]]; then
        "$BIN" bench --synthetic flan-t5-small --device "$DEVICE" --dtype "$dtype" --workload summ \
            --batch-sizes 1,8 --runs "$RUNS" --warmup "$WARMUP" --out "$OUT/copydesk-summ-$dtype.json"
    fi
done

# --- 3. CTranslate2 on the same device, same ids ----------------------------------------------
engines=ctranslate2-float16,ctranslate2-int8_float16
[[ "$DEVICE" == cpu ]] && engines=ctranslate2-f32
if "$PYTHON" -c 'import ctranslate2, sys; sys.exit(0 if ctranslate2.get_cuda_device_count() or "'"$DEVICE"'" == "cpu" else 1)' 2>/dev/null; then
    "$PYTHON" benches/peers/run_peers.py --model "$MODELS/opus-mt-nl-en" --workload wire \
        --batch-sizes "$BATCHES" --runs "$RUNS" --warmup "$WARMUP" --device "${DEVICE%%:*}" \
        --engines "$engines" --out-dir "$OUT"
    for e in ${engines//,/ }; do reports+=("$OUT/$e.json"); done
else
    echo "gpu-bench: ctranslate2 with CUDA is not importable with $PYTHON: no CTranslate2 rows" | tee -a "$OUT/log.txt"
fi
"$BIN" bench --compare "${reports[@]}" | tee "$OUT/compare.md"
rm -rf "$MODELS"
echo "== $(date -u +%FT%TZ) done" | tee -a "$OUT/log.txt"
