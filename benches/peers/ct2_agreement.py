"""CTranslate2 int8 against CTranslate2 float32 on a bench model's token workload, greedy.

The calibration for copydesk's `examples/q8_agreement.rs`: both compare 8-bit weights with f32
on the same ids (the `bench-workloads.json` that `copydesk bench --export` writes), counting
identical rows and the tokens reproduced before the first difference.

    target/venv/bin/python benches/peers/ct2_agreement.py \
        --model target/bench-models/opus-mt-nl-en --workload wire

Needs the CTranslate2 conversions `run_peers.py` makes next to the model (`MODEL-ct2-float32`,
`MODEL-ct2-int8`).
"""
import argparse
import json
from pathlib import Path


def decode(model_dir, quantization, rows, new_tokens, threads):
    import ctranslate2
    out = Path(f"{model_dir}-ct2-{quantization}")
    vocab_file = out / "shared_vocabulary.json"
    if not vocab_file.is_file():
        vocab_file = out / "source_vocabulary.json"
    vocab = json.loads(vocab_file.read_text())
    translator = ctranslate2.Translator(str(out), device="cpu", compute_type=quantization,
                                        intra_threads=threads)
    tokens = [[vocab[i] for i in r] for r in rows]
    result = []
    for start in range(0, len(tokens), 32):
        batch = translator.translate_batch(tokens[start:start + 32], beam_size=1,
                                           max_decoding_length=new_tokens,
                                           min_decoding_length=new_tokens)
        result += [r.hypotheses[0] for r in batch]
    return result


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", required=True, type=Path)
    p.add_argument("--workload", default="wire")
    p.add_argument("--threads", type=int, default=2)
    args = p.parse_args()
    spec = json.loads((args.model / "bench-workloads.json").read_text())
    work = next(w for w in spec["workloads"] if w["workload"] == args.workload)
    ref = decode(args.model, "float32", work["inputs"], work["new_tokens"], args.threads)
    cand = decode(args.model, "int8", work["inputs"], work["new_tokens"], args.threads)
    identical = sum(a == b for a, b in zip(ref, cand))
    prefix = 0
    for a, b in zip(ref, cand):
        for x, y in zip(a, b):
            if x != y:
                break
            prefix += 1
    total = sum(len(a) for a in ref)
    print(f"{args.model.name} {args.workload}: CTranslate2 int8 vs float32 greedy: "
          f"{identical}/{len(ref)} rows identical ({100 * identical / len(ref):.1f}%), "
          f"{prefix}/{total} tokens before the first difference ({100 * prefix / total:.1f}%)")


if __name__ == "__main__":
    main()
