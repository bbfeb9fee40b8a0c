//! 8-bit weights (`--dtype q8`): how closely greedy decoding follows f32 on the fixture models.
//!
//! The fixture models are tiny and random, so their next-token margins are small and 8-bit
//! rounding flips some argmaxes. Measured (`--nocapture` prints it): 78-86% of f32's tokens come
//! out before the first difference, 60-78% of rows identical. The floor (70%) guards against a
//! broken kernel, which lands near 0%. Real weights: `real_models::real_marian_q8_follows_f32`.

use copydesk::bench::agreement::Agreement;
use copydesk::engine::run_batch;
use copydesk::generate::GenerationConfig;
use copydesk::service::{load, LoadOptions};

use crate::common::{golden, model_dir, unpad};

pub fn agreement(model: &str) -> Agreement {
    let dir = model_dir(model);
    let dir = dir.to_str().unwrap();
    let f32_model = load(dir, &LoadOptions::default()).unwrap();
    let q8_model = load(
        dir,
        &LoadOptions {
            quantize: true,
            ..LoadOptions::default()
        },
    )
    .unwrap();
    let inputs: Vec<Vec<u32>> = golden(model)
        .generate
        .iter()
        .flat_map(|c| {
            c.input_ids
                .iter()
                .zip(&c.attention_mask)
                .map(|(ids, mask)| unpad(ids, mask))
        })
        .collect();
    let refs: Vec<&[u32]> = inputs.iter().map(Vec::as_slice).collect();
    let gen = GenerationConfig {
        max_new_tokens: Some(20),
        ..Default::default()
    };
    let tokens = |m: &copydesk::service::LoadedModel| -> Vec<Vec<u32>> {
        run_batch(m.model.as_ref(), &refs, &gen)
            .unwrap()
            .into_iter()
            .map(|h| h.tokens)
            .collect()
    };
    let a = Agreement::of(&tokens(&f32_model), &tokens(&q8_model));
    println!("{model}: q8 vs f32 greedy: {a}");
    a
}

#[test]
fn q8_greedy_follows_f32_on_the_marian_fixtures() {
    for model in ["marian-tied", "marian-untied"] {
        let a = agreement(model);
        assert!(a.rows >= 20, "{model}: {a}");
        assert!(a.prefix_rate() >= 0.7, "{model}: {a}");
    }
}

#[test]
fn q8_greedy_follows_f32_on_the_t5_fixtures() {
    for model in ["t5-tied-relu", "t5-gated-untied"] {
        let a = agreement(model);
        assert!(a.prefix_rate() >= 0.7, "{model}: {a}");
    }
}
