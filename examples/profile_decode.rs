//! Profiling aid: one greedy decode of exactly N tokens on a model of opus-mt-nl-en's shape with
//! seeded random weights. `cargo run --release --example profile_decode -- [batch] [tokens] [repeats]`,
//! e.g. under `perf record -g`. `COPYDESK_DTYPE=q8` runs it with 8-bit weights.

use std::time::Instant;

use candle_core::{DType, Device};
use copydesk::engine::run_batch;
use copydesk::generate::GenerationConfig;
use copydesk::models::bart::{Bart, Family};
use copydesk::models::synthetic::SeededWeights;
use copydesk::models::Seq2Seq;

fn main() {
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let batch = args.first().copied().unwrap_or(1);
    let tokens = args.get(1).copied().unwrap_or(40);
    let repeats = args.get(2).copied().unwrap_or(3).max(1);
    let json = serde_json::json!({
        "vocab_size": 67028, "d_model": 512, "encoder_layers": 6, "decoder_layers": 6,
        "encoder_attention_heads": 8, "decoder_attention_heads": 8,
        "encoder_ffn_dim": 2048, "decoder_ffn_dim": 2048, "activation_function": "swish",
        "max_position_embeddings": 512, "scale_embedding": true,
        "pad_token_id": 67027, "eos_token_id": 0, "decoder_start_token_id": 67027
    });
    let cfg = Family::Marian
        .read_config(&json.to_string())
        .expect("config");
    let mut model = Bart::new(
        &cfg,
        SeededWeights { seed: 1, std: 0.05 }.var_builder(DType::F32, &Device::Cpu),
    )
    .expect("model");
    // `COPYDESK_DTYPE=q8`: 8-bit dense weights.
    if std::env::var("COPYDESK_DTYPE").is_ok_and(|d| d == "q8") {
        model.quantize().expect("quantize");
    }
    let gen = GenerationConfig {
        max_new_tokens: Some(tokens),
        min_new_tokens: Some(tokens),
        bad_words_ids: vec![vec![67027]],
        ..Default::default()
    };
    let rows: Vec<Vec<u32>> = (0..batch)
        .map(|b| {
            (0..40)
                .map(|i| 1 + ((b * 131 + i * 17) % 60000) as u32)
                .collect()
        })
        .collect();
    let refs: Vec<&[u32]> = rows.iter().map(Vec::as_slice).collect();
    run_batch(&model, &refs, &gen).expect("warm-up");
    let mut times: Vec<f64> = (0..repeats)
        .map(|_| {
            let t = Instant::now();
            run_batch(&model, &refs, &gen).expect("decode");
            t.elapsed().as_secs_f64()
        })
        .collect();
    times.sort_by(f64::total_cmp);
    let s = times[times.len() / 2];
    println!(
        "batch {batch}: {tokens} tokens in {s:.3} s (median of {repeats}) = {:.1} generated tokens/s",
        (batch * tokens) as f64 / s
    );
}
