//! Every key the hub's BART-family `config.json` / `generation_config.json` files set, and what
//! copydesk does with it: read by [`super::BartConfig`], read as a generation setting
//! ([`crate::generate::GenerationOverrides`]), or ignored for the reason given. A test reads the
//! committed hub configs (`tests/fixtures/hub-configs/`) and fails on a key in none of the lists.

/// Keys [`super::BartConfig`] reads (besides `model_type` / `architectures`, which pick the
/// family).
pub const MODEL_KEYS: &[&str] = &[
    "model_type",
    "architectures",
    "vocab_size",
    "decoder_vocab_size",
    "d_model",
    "encoder_layers",
    "decoder_layers",
    "encoder_attention_heads",
    "decoder_attention_heads",
    "encoder_ffn_dim",
    "decoder_ffn_dim",
    "activation_function",
    "max_position_embeddings",
    "scale_embedding",
    "pad_token_id",
    "eos_token_id",
    "decoder_start_token_id",
    "share_encoder_decoder_embeddings",
    "tie_word_embeddings",
];

/// Keys deliberately not read, with the reason.
pub const IGNORED_KEYS: &[(&str, &str)] = &[
    ("dropout", "training only: inference runs without dropout"),
    ("attention_dropout", "training only"),
    ("activation_dropout", "training only"),
    (
        "classif_dropout",
        "classification head (BartForSequenceClassification)",
    ),
    ("classifier_dropout", "classification head"),
    ("encoder_layerdrop", "training only"),
    ("decoder_layerdrop", "training only"),
    ("init_std", "initialisation of untrained weights"),
    ("gradient_checkpointing", "training only"),
    ("_num_labels", "classification head"),
    ("id2label", "classification head"),
    ("label2id", "classification head"),
    ("use_cache", "copydesk always decodes with a KV cache"),
    ("output_past", "legacy name of use_cache"),
    ("is_encoder_decoder", "always true for these families"),
    (
        "bos_token_id",
        "the decoder starts at decoder_start_token_id; <s> is forced by forced_bos_token_id and \
         added by the tokenizer",
    ),
    ("num_hidden_layers", "legacy alias of encoder_layers"),
    (
        "tokenizer_class",
        "the tokenizer is read from tokenizer_config.json beside the tokenizer files",
    ),
    (
        "normalize_before",
        "legacy layout switch current transformers ignores: model_type fixes the layout \
         (Family::layout; a test checks the hub files agree)",
    ),
    (
        "add_final_layer_norm",
        "legacy layout switch, as normalize_before",
    ),
    (
        "normalize_embedding",
        "legacy layout switch, as normalize_before",
    ),
    (
        "static_position_embeddings",
        "legacy layout switch, as normalize_before",
    ),
    (
        "extra_pos_embeddings",
        "legacy; the learned-position offset is BART's fixed 2",
    ),
    (
        "add_bias_logits",
        "legacy; final_logits_bias is read when the checkpoint has it",
    ),
    (
        "do_blenderbot_90_layernorm",
        "legacy Blenderbot switch, false in every file",
    ),
    (
        "force_bos_token_to_be_generated",
        "read as forced_bos_token_id = bos_token_id when that key is absent, as transformers \
         does (GenerationOverrides::from_model_config)",
    ),
    (
        "prefix",
        "used by transformers' pipelines only; copydesk's prompt template plays that part",
    ),
    (
        "task_specific_params",
        "used by transformers' pipelines only; the top-level generation keys (same values in \
         the BART-cnn files) are read instead",
    ),
    ("eos_token_ids", "legacy list form; eos_token_id is read"),
    (
        "replacing_rate",
        "distillation training metadata (distilbart)",
    ),
    ("student_encoder_layers", "distillation training metadata"),
    ("student_decoder_layers", "distillation training metadata"),
    ("transformers_version", "provenance"),
    ("_name_or_path", "provenance"),
    ("_from_model_config", "provenance"),
    (
        "torch_dtype",
        "weights load in the dtype asked for (--dtype)",
    ),
];

#[cfg(test)]
mod tests {
    use super::super::{Family, Positions};
    use super::*;
    use crate::generate::GenerationOverrides;
    use crate::models::Architecture;

    const HUB_DIRS: &[&str] = &[
        "opus-mt-nl-en",
        "bart-large-cnn",
        "distilbart-cnn-12-6",
        "bart-large-xsum",
        "pegasus-xsum",
        "pegasus-cnn_dailymail",
        "m2m100_418M",
        "nllb-200-distilled-600M",
    ];

    fn read(dir: &str, file: &str) -> Option<serde_json::Map<String, serde_json::Value>> {
        let path = format!(
            "{}/tests/fixtures/hub-configs/{dir}/{file}",
            env!("CARGO_MANIFEST_DIR")
        );
        let text = std::fs::read_to_string(path).ok()?;
        serde_json::from_str(&text).ok()
    }

    #[test]
    fn every_key_of_the_hub_configs_is_read_or_ignored_with_a_reason() {
        let mut unknown = Vec::new();
        for dir in HUB_DIRS {
            for file in ["config.json", "generation_config.json"] {
                for key in read(dir, file).iter().flat_map(|m| m.keys()) {
                    let known = MODEL_KEYS.contains(&key.as_str())
                        || GenerationOverrides::KEYS.contains(&key.as_str())
                        || IGNORED_KEYS.iter().any(|(k, _)| k == key);
                    if !known {
                        unknown.push(format!("{dir}/{file}: {key}"));
                    }
                }
            }
        }
        assert!(
            unknown.is_empty(),
            "keys neither read nor ignored: {unknown:?}"
        );
        assert!(read("bart-large-cnn", "config.json").is_some());
    }

    #[test]
    fn legacy_layout_switches_agree_with_the_family_layout() {
        for dir in HUB_DIRS {
            let config = read(dir, "config.json").unwrap();
            let value = serde_json::Value::Object(config.clone());
            let arch = Architecture::from_config_json(&value).unwrap();
            let family = arch.family().expect("a BART-family config");
            let layout = family.layout();
            let flag = |k: &str| config.get(k).and_then(serde_json::Value::as_bool);
            let checks = [
                ("normalize_before", layout.pre_norm),
                ("add_final_layer_norm", layout.final_norm),
                ("normalize_embedding", layout.layernorm_embedding),
                (
                    "static_position_embeddings",
                    layout.positions == Positions::Sinusoid,
                ),
            ];
            for (key, want) in checks {
                if let Some(v) = flag(key) {
                    assert_eq!(v, want, "{dir}: {key}");
                }
            }
            // The config reads, with the real shapes.
            let cfg = family.read_config(&value.to_string()).unwrap();
            assert!(cfg.d_model >= 512 && cfg.vocab_size > 50000, "{dir}");
        }
    }

    #[test]
    fn hub_special_ids_and_generation_defaults() {
        let cfg = |dir: &str, family: Family| {
            let text = serde_json::Value::Object(read(dir, "config.json").unwrap()).to_string();
            family.read_config(&text).unwrap().special_tokens()
        };
        let bart = cfg("bart-large-cnn", Family::Bart);
        assert_eq!((bart.pad, bart.eos, bart.decoder_start), (1, 2, 2));
        let pegasus = cfg("pegasus-cnn_dailymail", Family::Pegasus);
        assert_eq!((pegasus.pad, pegasus.eos, pegasus.decoder_start), (0, 1, 0));
        for dir in ["m2m100_418M", "nllb-200-distilled-600M"] {
            let m2m = cfg(dir, Family::M2M100);
            assert_eq!((m2m.pad, m2m.eos, m2m.decoder_start), (1, 2, 2), "{dir}");
        }
        let text = serde_json::Value::Object(read("bart-large-cnn", "config.json").unwrap());
        let g = GenerationOverrides::from_model_config(&text.to_string()).unwrap();
        assert_eq!(g.forced_bos_token_id, Some(Some(0)));
        assert_eq!(
            (g.min_length, g.max_length, g.num_beams),
            (Some(56), Some(142), Some(4))
        );
        assert_eq!(
            (g.length_penalty, g.no_repeat_ngram_size),
            (Some(2.0), Some(3))
        );
    }
}
