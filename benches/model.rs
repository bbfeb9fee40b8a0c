//! Model compute: one encoder pass, one decoder step (batch 1 and 32), one beam step (4 beams),
//! attention alone, and the dense kernels alone (`dense/*`, in multiply-adds per second). Tiny fixture model by default; `COPYDESK_BENCH_MODEL=synthetic:opus-mt-nl-en`
//! (or any model argument) for a full-size one. `cargo bench --bench model`.

use candle_core::{DType, Device, Tensor};
use copydesk::bench::subjects::BenchSubjects;
use copydesk::bench::workload::{TokenWorkload, Workload};
use copydesk::engine::pad_batch;
use copydesk::generate::log_softmax;
use copydesk::models::attention::{attend, multi_head};
use copydesk::models::cpu::packed::PackedF32;
use copydesk::models::cpu::quant::QuantI8;
use copydesk::models::{Seq2Seq, StepDecoder};
use criterion::{criterion_group, criterion_main, BatchSize, BenchmarkId, Criterion, Throughput};

/// Decoder positions already filled before the timed step.
const PAST: usize = 10;

struct Fixture {
    model: std::sync::Arc<dyn Seq2Seq>,
    inputs: Vec<Vec<u32>>,
}

fn fixture() -> Fixture {
    let subjects = BenchSubjects::from_env().expect("bench models");
    let loaded = subjects.load_translator().expect("translator");
    let vocab = loaded.tokenizer.source_vocab_size() as u32;
    let shape = Workload::Wire.shape().expect("token workload");
    let special = loaded.model.special_tokens();
    let work = TokenWorkload::generate(&shape, Workload::Wire, vocab, &special).expect("inputs");
    Fixture {
        model: loaded.model,
        inputs: work.inputs,
    }
}

/// Encoder output and mask for the first `rows` wire inputs.
fn encoded(f: &Fixture, rows: usize) -> (Tensor, Tensor, usize) {
    let refs: Vec<&[u32]> = f.inputs.iter().take(rows).map(Vec::as_slice).collect();
    let tokens = refs.iter().map(|r| r.len()).sum();
    let (ids, mask) = pad_batch(&refs, f.model.special_tokens().pad, f.model.device()).unwrap();
    let enc = f.model.encode(&ids, &mask).unwrap();
    (enc, mask, tokens)
}

/// A decoding session on `rows` rows with `PAST` positions filled.
fn warm_session<'a>(
    model: &'a dyn Seq2Seq,
    enc: &Tensor,
    mask: &Tensor,
    rows: usize,
) -> Box<dyn StepDecoder + 'a> {
    let mut s = model.start(enc, mask).unwrap();
    let start = model.special_tokens().decoder_start;
    if rows != enc.dim(0).unwrap() {
        s.select_rows(&vec![0; rows]).unwrap();
    }
    for _ in 0..PAST {
        s.step(&vec![start; rows]).unwrap();
    }
    s
}

fn bench_model(c: &mut Criterion) {
    let f = fixture();
    let model = f.model.as_ref();
    let start = model.special_tokens().decoder_start;
    let mut g = c.benchmark_group("model");
    g.sample_size(10);
    for rows in [1usize, 8] {
        let refs: Vec<&[u32]> = f.inputs.iter().take(rows).map(Vec::as_slice).collect();
        let (ids, mask) = pad_batch(&refs, model.special_tokens().pad, model.device()).unwrap();
        let tokens: usize = refs.iter().map(|r| r.len()).sum();
        g.throughput(Throughput::Elements(tokens as u64));
        g.bench_with_input(BenchmarkId::new("encoder_pass", rows), &rows, |b, _| {
            b.iter(|| model.encode(&ids, &mask).unwrap())
        });
    }
    for rows in [1usize, 32] {
        let (enc, mask, _) = encoded(&f, rows);
        g.throughput(Throughput::Elements(rows as u64));
        g.bench_with_input(BenchmarkId::new("decoder_step", rows), &rows, |b, &rows| {
            b.iter_batched(
                || warm_session(model, &enc, &mask, rows),
                |mut s| s.step(&vec![start; rows]).unwrap(),
                BatchSize::PerIteration,
            )
        });
    }
    // One beam step for one input with 4 beams: the model step, log-softmax of every row, and
    // the reorder of the cache that follows the beam choice.
    let (enc, mask, _) = encoded(&f, 1);
    g.throughput(Throughput::Elements(4));
    g.bench_function("beam_step/4", |b| {
        b.iter_batched(
            || warm_session(model, &enc, &mask, 4),
            |mut s| {
                let logits = s.step(&[start; 4]).unwrap();
                let v = s.vocab_size();
                let best: Vec<f32> = (0..4)
                    .map(|r| log_softmax(&logits[r * v..(r + 1) * v])[0])
                    .collect();
                s.select_rows(&[1, 0, 3, 2]).unwrap();
                best
            },
            BatchSize::PerIteration,
        )
    });
    g.finish();
}

/// Attention alone at the shapes of a decoder step and of an encoder pass (8 heads of 64).
fn bench_attention(c: &mut Criterion) {
    let mut g = c.benchmark_group("attention");
    let dev = Device::Cpu;
    for (name, b, tq, tk) in [
        ("decode_step", 32usize, 1usize, 60usize),
        ("encoder", 8, 60, 60),
    ] {
        let q = Tensor::randn(0f32, 1.0, (b, 8, tq, 64), &dev).unwrap();
        let k = Tensor::randn(0f32, 1.0, (b, 8, tk, 64), &dev).unwrap();
        let v = Tensor::randn(0f32, 1.0, (b, 8, tk, 64), &dev).unwrap();
        let bias = Tensor::zeros((b, 1, 1, tk), DType::F32, &dev).unwrap();
        g.throughput(Throughput::Elements((b * tq) as u64));
        g.bench_function(name, |bn| {
            bn.iter(|| attend(&q, &k, &v, Some(&bias)).unwrap())
        });
    }
    // The CPU kernel (what f32 models on the CPU run) at flan-t5-small's summ shapes: the
    // encoder's self-attention over 400 tokens, and a decode step's cross-attention to them.
    for (name, b, tq, tk) in [
        ("kernel_encoder_400", 1usize, 400usize, 400usize),
        ("kernel_cross_step_b8", 8, 1, 400),
    ] {
        let q = Tensor::randn(0f32, 1.0, (b, tq, 6 * 64), &dev).unwrap();
        let k = Tensor::randn(0f32, 1.0, (b, tk, 6 * 64), &dev).unwrap();
        let v = Tensor::randn(0f32, 1.0, (b, tk, 6 * 64), &dev).unwrap();
        let bias = Tensor::randn(0f32, 1.0, (1, 6, tq, tk), &dev).unwrap();
        g.throughput(Throughput::Elements((b * tq) as u64));
        g.bench_function(name, |bn| {
            bn.iter(|| multi_head(&q, &k, &v, 6, Some(&bias)).unwrap())
        });
    }
    g.finish();
}

/// The dense kernels alone (the CPU's best family, or `COPYDESK_KERNELS`) at opus-mt's shapes:
/// a decode step's projection at batch 1 and 32, its feed-forward pair, the LM head (137 MB:
/// streamed from memory),
/// and an encoder pass's projection over 32 inputs of 60 tokens. Throughput is in multiply-adds.
fn bench_dense(c: &mut Criterion) {
    let mut g = c.benchmark_group("dense");
    let values = |len: usize, seed: u32| -> Vec<f32> {
        (0..len as u32)
            .map(|i| {
                ((i.wrapping_mul(2654435761).wrapping_add(seed) >> 8) % 2001) as f32 / 1000.0 - 1.0
            })
            .collect()
    };
    for (name, m, k, n) in [
        ("step_b1_512x512", 1usize, 512usize, 512usize),
        ("step_b32_512x512", 32, 512, 512),
        ("step_b32_ffn_up", 32, 512, 2048),
        ("step_b32_ffn_down", 32, 2048, 512),
        ("step_b1_head", 1, 512, 67028),
        ("step_b32_head", 32, 512, 67028),
        ("encoder_1920x512x512", 1920, 512, 512),
    ] {
        let w = values(n * k, 1);
        let x = values(m * k, 2);
        let bias = values(n, 3);
        g.throughput(Throughput::Elements((m * k * n) as u64));
        if let Some(p) = PackedF32::new(&w, n, k) {
            g.bench_function(format!("f32/{name}"), |b| {
                b.iter(|| p.matmul(&x, m, Some(&bias)))
            });
        }
        let q = QuantI8::new(&w, n, k);
        g.bench_function(format!("q8_{}/{name}", q.kernel().name()), |b| {
            b.iter(|| q.matmul(&x, m, Some(&bias)))
        });
    }
    g.finish();
}

criterion_group!(benches, bench_model, bench_attention, bench_dense);
criterion_main!(benches);
