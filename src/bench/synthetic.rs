//! Synthetic full-size models: the exact architecture of a real checkpoint (its hub
//! `config.json`) with seeded random weights, built in-process with no download. The seed and
//! scale are fixed, so every machine builds bit-identical weights.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use candle_core::{DType, Device, Shape, Tensor};
use candle_nn::var_builder::SimpleBackend;
use candle_nn::{Init, VarBuilder};

use crate::engine::EngineError;
use crate::generate::{GenerationConfig, GenerationOverrides};
use crate::models::synthetic::SeededWeights;
use crate::models::{Architecture, ModelConfig, Seq2Seq};
use crate::Error;

/// Seed of every synthetic model's weights ("copydesk").
pub const WEIGHT_SEED: u64 = 0x636f_7079_6465_736b;
/// Standard deviation of the random weights: large enough that logits are well separated.
pub const WEIGHT_STD: f32 = 0.05;

/// A real model's shape: its hub config files, embedded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SyntheticSpec {
    pub name: &'static str,
    /// The hub repository whose shape this is.
    pub hub_repo: &'static str,
    pub config_json: &'static str,
    /// `None` where the hub repository has none (its config.json holds the defaults).
    pub generation_config_json: Option<&'static str>,
    /// Number of tokens of the real tokenizer (T5: 32000 SentencePiece pieces + 100 sentinels;
    /// the embedding has 32128 rows).
    pub tokenizer_vocab: u32,
}

macro_rules! hub_config {
    ($dir:literal, $file:literal) => {
        include_str!(concat!(
            "../../tests/fixtures/hub-configs/",
            $dir,
            "/",
            $file
        ))
    };
}

/// The synthetic models `--synthetic` knows.
pub const SYNTHETIC_MODELS: [SyntheticSpec; 9] = [
    SyntheticSpec {
        name: "opus-mt-nl-en",
        hub_repo: "Helsinki-NLP/opus-mt-nl-en",
        config_json: hub_config!("opus-mt-nl-en", "config.json"),
        generation_config_json: Some(hub_config!("opus-mt-nl-en", "generation_config.json")),
        tokenizer_vocab: 67028,
    },
    SyntheticSpec {
        name: "flan-t5-small",
        hub_repo: "google/flan-t5-small",
        config_json: hub_config!("flan-t5-small", "config.json"),
        generation_config_json: Some(hub_config!("flan-t5-small", "generation_config.json")),
        tokenizer_vocab: 32100,
    },
    SyntheticSpec {
        name: "flan-t5-base",
        hub_repo: "google/flan-t5-base",
        config_json: hub_config!("flan-t5-base", "config.json"),
        generation_config_json: Some(hub_config!("flan-t5-base", "generation_config.json")),
        tokenizer_vocab: 32100,
    },
    SyntheticSpec {
        name: "t5-small",
        hub_repo: "google-t5/t5-small",
        config_json: hub_config!("t5-small", "config.json"),
        generation_config_json: Some(hub_config!("t5-small", "generation_config.json")),
        tokenizer_vocab: 32100,
    },
    SyntheticSpec {
        name: "distilbart-cnn-12-6",
        hub_repo: "sshleifer/distilbart-cnn-12-6",
        config_json: hub_config!("distilbart-cnn-12-6", "config.json"),
        generation_config_json: None,
        tokenizer_vocab: 50264,
    },
    SyntheticSpec {
        name: "bart-large-cnn",
        hub_repo: "facebook/bart-large-cnn",
        config_json: hub_config!("bart-large-cnn", "config.json"),
        generation_config_json: Some(hub_config!("bart-large-cnn", "generation_config.json")),
        tokenizer_vocab: 50264,
    },
    SyntheticSpec {
        name: "pegasus-xsum",
        hub_repo: "google/pegasus-xsum",
        config_json: hub_config!("pegasus-xsum", "config.json"),
        generation_config_json: Some(hub_config!("pegasus-xsum", "generation_config.json")),
        tokenizer_vocab: 96103,
    },
    SyntheticSpec {
        name: "pegasus-cnn_dailymail",
        hub_repo: "google/pegasus-cnn_dailymail",
        config_json: hub_config!("pegasus-cnn_dailymail", "config.json"),
        generation_config_json: Some(hub_config!(
            "pegasus-cnn_dailymail",
            "generation_config.json"
        )),
        tokenizer_vocab: 96103,
    },
    // 128004 vocab.json tokens, 100 language tokens and 8 made-up words.
    SyntheticSpec {
        name: "m2m100_418M",
        hub_repo: "facebook/m2m100_418M",
        config_json: hub_config!("m2m100_418M", "config.json"),
        generation_config_json: Some(hub_config!("m2m100_418M", "generation_config.json")),
        tokenizer_vocab: 128112,
    },
];

impl SyntheticSpec {
    /// Looks a synthetic model up by name.
    pub fn find(name: &str) -> Result<&'static SyntheticSpec, Error> {
        let name = name.trim();
        SYNTHETIC_MODELS
            .iter()
            .find(|s| s.name == name)
            .ok_or_else(|| {
                let known: Vec<&str> = SYNTHETIC_MODELS.iter().map(|s| s.name).collect();
                Error::invalid(
                    "unknown_synthetic_model",
                    format!("no synthetic model {name:?}; known: {}", known.join(", ")),
                )
            })
    }

    fn bad(&self, e: impl std::fmt::Display) -> Error {
        Error::internal(format!("embedded config of {} is invalid: {e}", self.name))
    }

    /// The architecture the embedded config.json names (its `model_type`).
    pub fn architecture(&self) -> Result<Architecture, Error> {
        let json: serde_json::Value =
            serde_json::from_str(self.config_json).map_err(|e| self.bad(e))?;
        Architecture::from_config_json(&json).map_err(|e| self.bad(format!("model_type {e}")))
    }

    /// The embedded config.json, read as its architecture's config.
    pub fn config(&self) -> Result<ModelConfig, Error> {
        self.architecture()?
            .read_config(self.config_json)
            .map_err(|e| self.bad(e))
    }

    /// The model's decoding defaults, as `copydesk` reads them: `generation_config.json`, then
    /// `config.json`.
    pub fn generation(&self) -> Result<GenerationConfig, Error> {
        let from_config =
            GenerationOverrides::from_model_config(self.config_json).map_err(|e| self.bad(e))?;
        let o = match self.generation_config_json {
            Some(json) => serde_json::from_str::<GenerationOverrides>(json)
                .map_err(|e| self.bad(e))?
                .or(&from_config),
            None => from_config,
        };
        let mut cfg = GenerationConfig::default();
        cfg.apply(&o);
        Ok(cfg)
    }

    /// Builds the model with seeded weights. With `record`, every tensor the model asks for is
    /// also kept there by name (f32, on the CPU when built there), for export.
    pub fn build(
        &'static self,
        dtype: DType,
        device: &Device,
        record: Option<Recorded>,
    ) -> Result<SyntheticModel, Error> {
        let config = self.config()?;
        let backend = SyntheticBackend {
            weights: SeededWeights {
                seed: WEIGHT_SEED,
                std: WEIGHT_STD,
            },
            zero_rows: config.zero_embedding_rows(),
            record,
        };
        let vb = VarBuilder::from_backend(Box::new(backend), dtype, device.clone());
        let model = config.build(vb).map_err(EngineError::from)?;
        Ok(SyntheticModel {
            spec: self,
            model,
            generation: self.generation()?,
        })
    }
}

/// A built synthetic model with its decoding defaults.
#[derive(Clone)]
pub struct SyntheticModel {
    pub spec: &'static SyntheticSpec,
    pub model: Arc<dyn Seq2Seq>,
    pub generation: GenerationConfig,
}

/// Tensors handed out by name, in creation dtype (f32) on the build device.
pub type Recorded = Arc<Mutex<BTreeMap<String, Tensor>>>;

/// Seeded weights, with some embedding rows zeroed, optionally recording what was handed out.
struct SyntheticBackend {
    weights: SeededWeights,
    zero_rows: Vec<(&'static str, usize)>,
    record: Option<Recorded>,
}

impl SimpleBackend for SyntheticBackend {
    fn get(
        &self,
        s: Shape,
        name: &str,
        h: Init,
        dtype: DType,
        dev: &Device,
    ) -> candle_core::Result<Tensor> {
        let mut t = self.weights.get(s, name, h, DType::F32, dev)?;
        for &(_, row) in self.zero_rows.iter().filter(|(n, _)| *n == name) {
            let (rows, cols) = t.dims2()?;
            if row < rows {
                let zero = Tensor::zeros((1, cols), DType::F32, dev)?;
                t = t.slice_assign(&[row..row + 1, 0..cols], &zero)?;
            }
        }
        if let Some(rec) = &self.record {
            let mut map = rec
                .lock()
                .map_err(|_| candle_core::Error::Msg("weight recorder poisoned".into()))?;
            map.insert(name.to_string(), t.clone());
        }
        t.to_dtype(dtype)
    }

    fn get_unchecked(&self, name: &str, dtype: DType, dev: &Device) -> candle_core::Result<Tensor> {
        self.weights.get_unchecked(name, dtype, dev)
    }

    fn contains_tensor(&self, name: &str) -> bool {
        self.weights.contains_tensor(name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::models::bart::BartConfig;
    use crate::models::t5::T5Config;
    use candle_core::IndexOp;

    fn marian(name: &str) -> BartConfig {
        match SyntheticSpec::find(name).unwrap().config().unwrap() {
            ModelConfig::Bart(c) => c,
            other => panic!("{name}: {other:?}"),
        }
    }

    fn t5(name: &str) -> T5Config {
        match SyntheticSpec::find(name).unwrap().config().unwrap() {
            ModelConfig::T5(c) => c,
            other => panic!("{name}: {other:?}"),
        }
    }

    fn row(t: &Tensor, i: usize) -> Vec<f32> {
        t.i(i).unwrap().to_vec1().unwrap()
    }

    #[test]
    fn every_spec_parses_with_the_real_shapes() {
        let opus = SyntheticSpec::find("opus-mt-nl-en").unwrap();
        let c = marian("opus-mt-nl-en");
        assert_eq!(
            (c.vocab_size, c.d_model, c.encoder_layers, c.decoder_layers),
            (67028, 512, 6, 6)
        );
        assert_eq!(
            (
                c.encoder_attention_heads,
                c.encoder_ffn_dim,
                c.max_position_embeddings
            ),
            (8, 2048, 512)
        );
        assert!(c.scale_embedding && c.share_encoder_decoder_embeddings);
        assert_eq!(c.special_tokens().pad, 67027);
        assert_eq!(opus.generation().unwrap().bad_words_ids, vec![vec![67027]]);
        let small = t5("flan-t5-small");
        assert_eq!(
            (small.d_model, small.num_layers, small.num_heads),
            (512, 8, 6)
        );
        assert!(!small.tie_word_embeddings);
        let base = t5("flan-t5-base");
        assert_eq!((base.d_model, base.num_layers, base.d_ff), (768, 12, 2048));
        let small_t5 = t5("t5-small");
        assert!(small_t5.tie_word_embeddings);
        assert!(!small_t5.feed_forward().unwrap().0);
        assert!(SyntheticSpec::find("opus-mt-en-nl").is_err());
    }

    #[test]
    fn recording_backend_zeroes_the_marian_pad_row_and_keeps_the_rest() {
        let backend = SyntheticBackend {
            weights: SeededWeights { seed: 3, std: 0.5 },
            zero_rows: vec![("model.shared.weight", 2)],
            record: Some(Recorded::default()),
        };
        let t = backend
            .get(
                Shape::from((4, 3)),
                "model.shared.weight",
                Init::Const(0.0),
                DType::F32,
                &Device::Cpu,
            )
            .unwrap();
        assert_eq!(row(&t, 2), vec![0.0; 3]);
        assert!(row(&t, 1).iter().all(|x| *x != 0.0));
        let rec = backend.record.as_ref().unwrap().lock().unwrap();
        assert_eq!(row(&rec["model.shared.weight"], 2), vec![0.0; 3]);
    }
}
