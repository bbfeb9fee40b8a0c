#!/usr/bin/env python3
"""Run copydesk's wire and summ workloads on peer engines and write copydesk bench reports.

The model is a checkpoint in the Hugging Face layout, normally written by
`copydesk bench --synthetic NAME --export DIR` (seeded random weights with a real model's shape);
the inputs are the exact token ids copydesk uses (DIR/bench-workloads.json, or
`copydesk bench --model M --workloads-file FILE` for any other model). Each engine runs in a
subprocess of its own, so thread pools do not interfere:

- transformers: PyTorch fp32, `torch.inference_mode()`, `use_cache=True`, encoder timed apart;
- ctranslate2-f32 / ctranslate2-int8: the checkpoint converted with CTranslate2's
  TransformersConverter to float32 and to int8.

Every engine generates exactly N tokens per input (`min_new_tokens = max_new_tokens`, no forced
eos), in batches taken in input order, with the same thread count. Reports go to
OUT_DIR/<engine>.json in the format `copydesk bench --compare` reads. See benches/README.md.
"""

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

FORMAT = "copydesk-bench/1"
ENGINES = ["transformers", "ctranslate2-f32", "ctranslate2-int8",
           "ctranslate2-float16", "ctranslate2-int8_float16"]  # the last two: --device cuda
X86_FLAGS = ["sse4_2", "avx", "avx2", "fma", "f16c", "avx_vnni", "avx512f", "avx512bw",
             "avx512vl", "avx512_vnni", "avx512_bf16", "amx_tile", "amx_bf16", "amx_int8"]
ARM_FLAGS = ["asimd", "asimddp", "fphp", "bf16", "i8mm", "sve", "sve2"]


# ----------------------------------------------------------------------------- report pieces

def cpuinfo_field(text, key):
    for line in text.splitlines():
        k, sep, v = line.partition(":")
        if sep and k.strip() == key:
            return v.strip()
    return None


def machine(threads):
    try:
        info = Path("/proc/cpuinfo").read_text()
    except OSError:
        info = ""
    model = next((v for v in (cpuinfo_field(info, k) for k in
                              ("model name", "Model", "Hardware", "CPU part")) if v), None)
    cores, package = set(), ""
    for line in info.splitlines():
        k, _, v = line.partition(":")
        if k.strip() == "physical id":
            package = v.strip()
        elif k.strip() == "core id":
            cores.add((package, v.strip()))
    flags = set((cpuinfo_field(info, "flags") or cpuinfo_field(info, "Features") or "").split())
    return {
        "os": platform.system().lower(),
        "arch": platform.machine(),
        "cpu_model": model or platform.processor() or "unknown",
        "logical_cpus": os.cpu_count() or 1,
        "physical_cores": len(cores) or None,
        "cores_used": threads,
        "isa_flags": [f for f in X86_FLAGS + ARM_FLAGS if f in flags],
        "memory_bytes": kib_field("/proc/meminfo", "MemTotal"),
        "gpu": gpu(),
    }


def gpu():
    """The GPU as nvidia-smi names it (with the driver), or None."""
    try:
        out = subprocess.run(["nvidia-smi", "--query-gpu=name,driver_version,memory.total",
                              "--format=csv,noheader"], capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.SubprocessError):
        return None
    line = out.stdout.strip().splitlines()[0] if out.returncode == 0 and out.stdout.strip() else ""
    if not line:
        return None
    name, driver, memory = [x.strip() for x in (line.split(",") + ["", ""])[:3]]
    return {"name": name, "driver": driver, "memory": memory}


def kib_field(path, key):
    try:
        for line in Path(path).read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


def reset_peak_rss():
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return True
    except OSError:
        return False


def peak_rss_bytes():
    return kib_field("/proc/self/status", "VmHWM")


def digest(workload):
    """FNV-1a over little-endian u32s, exactly as copydesk's `TokenWorkload::digest`."""
    h = 0xCBF29CE484222325
    mask = (1 << 64) - 1

    def eat(x):
        nonlocal h
        for b in int(x).to_bytes(4, "little"):
            h = ((h ^ b) * 0x100000001B3) & mask

    eat(workload["new_tokens"])
    for row in workload["inputs"]:
        eat(len(row))
        for i in row:
            eat(i)
    return f"{h:016x}"


def stats(samples):
    v = sorted(samples)
    n = len(v)
    median = v[n // 2] if n % 2 else (v[n // 2 - 1] + v[n // 2]) / 2
    return {"median": median, "min": v[0], "max": v[-1]}


def median(samples):
    return stats(samples)["median"] if samples else None


def effective_batch_sizes(asked, n):
    out = []
    for b in asked:
        b = min(max(b, 1), max(n, 1))
        if b not in out:
            out.append(b)
    return out


# ----------------------------------------------------------------------------- engines

class Transformers:
    label = "transformers"

    def __init__(self, model_dir, threads):
        import torch
        import transformers
        torch.set_num_threads(threads)
        torch.set_num_interop_threads(1)
        self.torch = torch
        self.model = transformers.AutoModelForSeq2SeqLM.from_pretrained(
            model_dir, dtype=torch.float32).eval()
        self.pad = self.model.config.pad_token_id
        self.software = {
            "engine": "transformers", "version": transformers.__version__,
            "git_commit": None, "backend": "torch", "backend_version": torch.__version__,
            "features": [f for f, on in (("mkldnn", torch.backends.mkldnn.is_available()),
                                         ("mkl", torch.backends.mkl.is_available())) if on],
            "dtype": "f32", "threads": threads, "device": "cpu",
        }

    def run(self, rows, beams, new_tokens):
        """One padded batch: returns (encode_s, decode_s, generated lengths)."""
        torch = self.torch
        width = max(len(r) for r in rows)
        ids = torch.tensor([r + [self.pad] * (width - len(r)) for r in rows], dtype=torch.long)
        mask = torch.tensor([[1] * len(r) + [0] * (width - len(r)) for r in rows],
                            dtype=torch.long)
        with torch.inference_mode():
            t0 = time.perf_counter()
            enc = self.model.get_encoder()(input_ids=ids, attention_mask=mask, return_dict=True)
            t1 = time.perf_counter()
            out = self.model.generate(
                encoder_outputs=enc, attention_mask=mask, num_beams=beams, do_sample=False,
                max_new_tokens=new_tokens, min_new_tokens=new_tokens, forced_eos_token_id=None,
                no_repeat_ngram_size=0, repetition_penalty=1.0, use_cache=True)
            t2 = time.perf_counter()
        # Sequences start with the decoder start token.
        return t1 - t0, t2 - t1, [len(s) - 1 for s in out.tolist()]


class CTranslate2:
    def __init__(self, model_dir, threads, quantization, ct2_root, device="cpu"):
        import ctranslate2
        from ctranslate2.converters import TransformersConverter
        out = Path(ct2_root) / f"{Path(model_dir).name}-ct2-{quantization}"
        source = Path(model_dir) / "model.safetensors"
        stale = (not (out / "model.bin").is_file()
                 or (source.is_file() and source.stat().st_mtime > (out / "model.bin").stat().st_mtime))
        if stale:
            print(f"peers: converting {model_dir} to CTranslate2 {quantization} in {out}",
                  file=sys.stderr)
            # GPU compute types run from float16 weights.
            stored = "float16" if quantization == "int8_float16" else quantization
            TransformersConverter(str(model_dir)).convert(
                str(out), quantization=stored, force=True)
        vocab_file = out / "shared_vocabulary.json"
        if not vocab_file.is_file():
            vocab_file = out / "source_vocabulary.json"
        self.vocab = json.loads(vocab_file.read_text())
        self.translator = ctranslate2.Translator(
            str(out), device=device, compute_type=quantization, inter_threads=1,
            intra_threads=threads)
        self.label = f"ctranslate2-{'f32' if quantization == 'float32' else quantization}"
        self.software = {
            "engine": "ctranslate2", "version": ctranslate2.__version__, "git_commit": None,
            "backend": "ctranslate2", "backend_version": ctranslate2.__version__,
            "features": sorted(ctranslate2.get_supported_compute_types(device)),
            "dtype": "f32" if quantization == "float32" else quantization,
            "threads": threads, "device": device,
        }

    def run(self, rows, beams, new_tokens):
        tokens = [[self.vocab[i] for i in r] for r in rows]
        t0 = time.perf_counter()
        res = self.translator.translate_batch(
            tokens, beam_size=beams, num_hypotheses=1, max_decoding_length=new_tokens,
            min_decoding_length=new_tokens, max_batch_size=0)
        t1 = time.perf_counter()
        return None, t1 - t0, [len(r.hypotheses[0]) for r in res]


def open_engine(name, args):
    if name == "transformers":
        return Transformers(args.model, args.threads)
    quantization = name.removeprefix("ctranslate2-").replace("f32", "float32")
    return CTranslate2(args.model, args.threads, quantization, args.ct2_dir, args.device)


# ----------------------------------------------------------------------------- timing

def run_once(engine, inputs, batch, beams, new_tokens):
    enc = dec = 0.0
    generated = 0
    has_encode = True
    for start in range(0, len(inputs), batch):
        e, d, lens = engine.run(inputs[start:start + batch], beams, new_tokens)
        bad = [n for n in lens if n != new_tokens]
        if bad:
            raise SystemExit(f"{engine.label}: an input produced {bad[0]} tokens, not {new_tokens}")
        has_encode &= e is not None
        enc += e or 0.0
        dec += d
        generated += sum(lens)
    return {"total": enc + dec, "encode": enc if has_encode else None, "decode": dec,
            "generated": generated}


def cases(engine, work, args):
    inputs, new_tokens = work["inputs"], work["new_tokens"]
    source = sum(len(r) for r in inputs)
    out = []
    for batch in effective_batch_sizes(args.batch_sizes, len(inputs)):
        print(f"peers: {engine.label} {work['workload']} batch {batch} beams {args.beams}",
              file=sys.stderr)
        reset_peak_rss()
        for _ in range(args.warmup):
            run_once(engine, inputs, batch, args.beams, new_tokens)
        runs = [run_once(engine, inputs, batch, args.beams, new_tokens) for _ in range(args.runs)]
        first = None
        if batch == 1:
            times = [run_once(engine, inputs[:1], 1, args.beams, 1)["total"]
                     for _ in range(args.warmup + args.runs)][args.warmup:]
            first = median(times)
        total = stats([r["total"] for r in runs])
        generated = runs[0]["generated"]
        encodes = [r["encode"] for r in runs if r["encode"] is not None]
        out.append({
            "workload": work["workload"], "batch_size": batch, "beams": args.beams,
            "inputs": len(inputs), "source_tokens": source, "generated_tokens": generated,
            "runs": args.runs, "total_s": total, "encode_s": median(encodes),
            "decode_s": median([r["decode"] for r in runs]), "first_token_s": first,
            "generated_tokens_per_s": generated / total["median"],
            "source_tokens_per_s": source / total["median"],
            "peak_rss_bytes": peak_rss_bytes(),
        })
        print(f"peers:   {out[-1]['generated_tokens_per_s']:.1f} generated tokens/s",
              file=sys.stderr)
    return out


def run_engine(name, args):
    """Child process: one engine, all workloads, one report."""
    engine = open_engine(name, args)
    workloads = json.loads(Path(args.workloads).read_text())
    chosen = [w for w in workloads["workloads"] if w["workload"] in args.workload]
    results = []
    for work in chosen:
        results += cases(engine, work, args)
    synthetic = {}
    prov = Path(args.model) / "synthetic.json"
    if prov.is_file():
        synthetic = json.loads(prov.read_text())
    report = {
        "format": FORMAT,
        "machine": machine(args.threads),
        "software": engine.software,
        "settings": {
            "model": synthetic.get("synthetic", str(args.model)),
            "synthetic": synthetic.get("synthetic"),
            "weight_seed": synthetic.get("weights", {}).get("seed"),
            "workloads": [{"name": w["workload"], "inputs": len(w["inputs"]),
                           "source_tokens": sum(len(r) for r in w["inputs"]),
                           "new_tokens": w["new_tokens"], "digest": digest(w)} for w in chosen],
            "batch_sizes": args.batch_sizes, "beams": args.beams, "runs": args.runs,
            "warmup": args.warmup, "threads": args.threads, "device": args.device,
            "dtype": engine.software["dtype"],
            "threads_via": "torch.set_num_threads" if name == "transformers"
            else "ctranslate2 intra_threads (inter_threads 1)",
            "peak_rss_scope": "per case" if reset_peak_rss() else "process peak so far",
        },
        "results": results,
    }
    out = Path(args.out_dir) / f"{engine.label}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2))
    print(f"peers: wrote {out}", file=sys.stderr)


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", required=True, type=Path,
                   help="checkpoint directory (copydesk bench --synthetic NAME --export DIR)")
    p.add_argument("--workloads", type=Path,
                   help="input ids (default: MODEL/bench-workloads.json)")
    p.add_argument("--engines", default=",".join(ENGINES),
                   help=f"comma-separated, from {', '.join(ENGINES)}")
    p.add_argument("--workload", default="wire,summ", help="comma-separated: wire, summ")
    p.add_argument("--batch-sizes", default="1,8,32")
    p.add_argument("--beams", type=int, default=1)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--warmup", type=int, default=1)
    p.add_argument("--out-dir", type=Path, default=Path("target/bench-reports"))
    p.add_argument("--ct2-dir", type=Path, help="where converted models go (default: next to MODEL)")
    p.add_argument("--device", default="cpu", choices=["cpu", "cuda"],
                   help="CTranslate2's device (transformers runs on the CPU)")
    p.add_argument("--engine", help=argparse.SUPPRESS)  # child mode
    args = p.parse_args(argv)
    args.workloads = args.workloads or args.model / "bench-workloads.json"
    args.ct2_dir = args.ct2_dir or args.model.parent
    args.workload = [w.strip() for w in args.workload.split(",") if w.strip()]
    args.batch_sizes = [int(b) for b in args.batch_sizes.split(",")]
    if args.runs < 1 or args.threads < 1 or args.beams < 1 or min(args.batch_sizes) < 1:
        p.error("--runs, --threads, --beams and --batch-sizes must be positive")
    return args


def main(argv):
    args = parse_args(argv)
    if args.engine:
        run_engine(args.engine, args)
        return 0
    engines = [e.strip() for e in args.engines.split(",") if e.strip()]
    unknown = [e for e in engines if e not in ENGINES]
    if unknown:
        raise SystemExit(f"unknown engine(s) {unknown}; choose from {ENGINES}")
    env = dict(os.environ, OMP_NUM_THREADS=str(args.threads))
    for name in engines:
        rc = subprocess.call([sys.executable, __file__, *argv, "--engine", name], env=env)
        if rc != 0:
            print(f"peers: {name} failed (exit {rc})", file=sys.stderr)
            return rc
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
