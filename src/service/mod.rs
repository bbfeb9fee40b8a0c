//! Orchestration shared by the command line, the HTTP server and the benchmarks.

pub mod loader;

pub use loader::{load, LoadOptions, LoadedModel};

use serde::Serialize;

use crate::engine::{run_all, BatchBudget};
use crate::generate::GenerationConfig;
use crate::Error;

/// Per-request decoding options on top of a model's defaults.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DecodeOptions {
    pub beams: Option<usize>,
    pub max_new_tokens: Option<usize>,
}

impl DecodeOptions {
    /// The model's defaults with these options applied, validated.
    pub fn resolve(&self, defaults: &GenerationConfig) -> Result<GenerationConfig, Error> {
        let mut cfg = defaults.clone();
        if let Some(b) = self.beams {
            cfg.num_beams = b;
        }
        if let Some(n) = self.max_new_tokens {
            cfg.max_new_tokens = Some(n);
        }
        cfg.validate()
            .map_err(|m| Error::invalid("invalid_argument", m))?;
        Ok(cfg)
    }
}

/// One generated text with its ids and score.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Generated {
    pub source: String,
    pub text: String,
    /// Generated ids after the decoder start token, without eos or padding.
    pub token_ids: Vec<u32>,
    pub score: f32,
    pub input_tokens: usize,
}

/// Runs `model` over whole texts (each text is one sequence), in token-budgeted padded batches.
/// Empty texts give empty outputs without touching the model.
pub fn generate_texts(
    model: &LoadedModel,
    texts: &[String],
    opts: &DecodeOptions,
    budget: &BatchBudget,
) -> Result<Vec<Generated>, Error> {
    let cfg = opts.resolve(&model.generation)?;
    let mut ids = Vec::new();
    let mut which = Vec::new();
    for (i, t) in texts.iter().enumerate() {
        if !t.trim().is_empty() {
            ids.push(model.tokenizer.encode(t)?);
            which.push(i);
        }
    }
    let hyps = run_all(model.model.as_ref(), &ids, &cfg, budget).map_err(|e| match e {
        crate::engine::EngineError::TooLong { index, tokens, max } => Error::invalid(
            "input_too_long",
            format!(
                "text {} has {tokens} tokens but {} accepts at most {max}; split it into sentences or paragraphs (copydesk article does this for whole articles)",
                which[index] + 1,
                model.name
            ),
        ),
        other => other.into(),
    })?;
    let mut out: Vec<Generated> = texts
        .iter()
        .map(|t| Generated {
            source: t.clone(),
            text: String::new(),
            token_ids: Vec::new(),
            score: 0.0,
            input_tokens: 0,
        })
        .collect();
    for ((i, h), src) in which.iter().zip(hyps).zip(&ids) {
        let o = &mut out[*i];
        o.text = model.tokenizer.decode(&h.tokens, true)?;
        o.token_ids = h.tokens;
        o.score = h.score;
        o.input_tokens = src.len();
    }
    Ok(out)
}
