//! Decoding: greedy and beam search over a batch with transformers' semantics.
//!
//! The model side is a [`StepDecoder`]: feed one token per row, get logits back. Rows finish
//! independently; finished rows are dropped from the model's batch (`select_rows`), which gives the
//! same results as transformers (rows never interact) for less compute.

mod beam;
mod config;
mod constraints;
mod processors;
mod running;

pub use config::{EarlyStopping, GenerationConfig, GenerationOverrides};
pub use processors::{argmax, log_prob, log_softmax, Processors};
pub use running::{Finished, Rejected, Running};

use crate::models::{SpecialTokens, StepDecoder};

/// One generated sequence.
#[derive(Debug, Clone, PartialEq)]
pub struct Hypothesis {
    /// Generated ids after the decoder start token, without the final eos.
    pub tokens: Vec<u32>,
    /// Greedy: sum of log-probabilities of the chosen tokens (eos included). Beam: transformers'
    /// length-penalized sequence score.
    pub score: f32,
    /// Whether the sequence ended with eos (rather than running out of length).
    pub ended_with_eos: bool,
    /// It reached the length limit in effect (its last token, if eos, was then forced).
    pub hit_length: bool,
    /// It reached the model's position limit, before the length it was asked for.
    pub truncated: bool,
    /// With `num_return_sequences` > 1 (beam search): the next best hypotheses, best first.
    pub alternatives: Vec<Hypothesis>,
}

#[derive(Debug, thiserror::Error)]
pub enum GenerateError {
    #[error("invalid generation settings: {0}")]
    Invalid(String),
    #[error("model error during decoding: {}", crate::models::describe(.0))]
    Model(#[from] candle_core::Error),
}

/// Decodes `batch` rows with `decoder`, whose session was started on those rows: every row
/// admitted at once to a [`Running`] batch, stepped until all have finished.
pub fn generate(
    decoder: &mut dyn StepDecoder,
    batch: usize,
    cfg: &GenerationConfig,
    special: &SpecialTokens,
) -> Result<Vec<Hypothesis>, GenerateError> {
    cfg.validate().map_err(GenerateError::Invalid)?;
    if batch == 0 {
        return Ok(Vec::new());
    }
    let mut run = Running::new(cfg.num_beams, special.clone());
    let rows = Box::new(running::Borrowed(decoder));
    run.admit(rows, (0..batch).collect(), std::sync::Arc::new(cfg.clone()))
        .map_err(|r| r.error)?;
    let mut out: Vec<Option<Hypothesis>> = vec![None; batch];
    while !run.is_empty() {
        for (row, h) in run.step()? {
            out[row] = Some(h);
        }
    }
    Ok(out.into_iter().flatten().collect())
}

/// What an input's search needs.
pub(crate) struct Context {
    pub processors: Processors,
    pub max_length: usize,
    pub start: u32,
    pub eos: Vec<u32>,
}

/// Strips the start token and a final eos.
pub(crate) fn finish(mut seq: Vec<u32>, score: f32, ended_with_eos: bool) -> Hypothesis {
    if ended_with_eos {
        seq.pop();
    }
    seq.remove(0);
    Hypothesis {
        tokens: seq,
        score,
        ended_with_eos,
        hit_length: false,
        truncated: false,
        alternatives: Vec::new(),
    }
}

#[cfg(test)]
mod tests;
