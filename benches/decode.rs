//! Decoding throughput on a model of opus-mt-nl-en's exact shape with seeded random weights built
//! in-process (no download): one batch-1 and one batch-32 greedy decode of exactly 40 new tokens
//! over sources of 20–60 tokens. `cargo bench --bench decode`; tokens/s = 40 × batch / time.

use candle_core::{DType, Device};
use copydesk::engine::run_batch;
use copydesk::generate::GenerationConfig;
use copydesk::models::marian::{Marian, MarianConfig};
use copydesk::models::synthetic::SeededWeights;
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};

const NEW_TOKENS: usize = 40;

fn opus_mt_nl_en() -> MarianConfig {
    serde_json::from_value(serde_json::json!({
        "vocab_size": 67028, "d_model": 512, "encoder_layers": 6, "decoder_layers": 6,
        "encoder_attention_heads": 8, "decoder_attention_heads": 8,
        "encoder_ffn_dim": 2048, "decoder_ffn_dim": 2048, "activation_function": "swish",
        "max_position_embeddings": 512, "scale_embedding": true,
        "pad_token_id": 67027, "eos_token_id": 0, "decoder_start_token_id": 67027
    }))
    .expect("valid config")
}

/// Seeded source ids: lengths uniform in 20..60, ids never pad or eos.
fn inputs(n: usize, vocab: u32) -> Vec<Vec<u32>> {
    let mut s = 0x5eed_u64;
    let mut next = move || {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        s
    };
    (0..n)
        .map(|_| {
            let len = 20 + (next() % 41) as usize;
            let mut row: Vec<u32> = (0..len - 1)
                .map(|_| 1 + (next() % (vocab as u64 - 2)) as u32)
                .collect();
            row.push(0);
            row
        })
        .collect()
}

fn bench_decode(c: &mut Criterion) {
    let cfg = opus_mt_nl_en();
    let vb = SeededWeights { seed: 1, std: 0.05 }.var_builder(DType::F32, &Device::Cpu);
    let model = Marian::new(&cfg, vb).expect("model");
    let gen = GenerationConfig {
        max_new_tokens: Some(NEW_TOKENS),
        min_new_tokens: Some(NEW_TOKENS),
        bad_words_ids: vec![vec![67027]],
        ..Default::default()
    };
    let mut group = c.benchmark_group("marian_opus_mt_shape_greedy_40_tokens");
    group.sample_size(10);
    for batch in [1usize, 32] {
        let rows = inputs(batch, cfg.vocab_size as u32);
        let refs: Vec<&[u32]> = rows.iter().map(Vec::as_slice).collect();
        group.throughput(Throughput::Elements((batch * NEW_TOKENS) as u64));
        group.bench_with_input(BenchmarkId::new("batch", batch), &refs, |b, refs| {
            b.iter(|| run_batch(&model, refs, &gen).expect("decode"))
        });
    }
    group.finish();
}

criterion_group!(benches, bench_decode);
criterion_main!(benches);
