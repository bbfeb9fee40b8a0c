//! Decoding: greedy and beam search over a batch with transformers' semantics.
//!
//! The model side is a [`StepDecoder`]: feed one token per row, get logits back. Rows finish
//! independently; finished rows are dropped from the model's batch (`select_rows`), which gives the
//! same results as transformers (rows never interact) for less compute.

mod beam;
mod config;
mod processors;

pub use config::{EarlyStopping, GenerationConfig, GenerationOverrides};
pub use processors::{argmax, log_prob, log_softmax, Processors};

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

/// Decodes `batch` rows with `decoder`, whose session was started on those rows.
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
    let eos = if cfg.eos_token_ids.is_empty() {
        vec![special.eos]
    } else {
        cfg.eos_token_ids.clone()
    };
    // A row never runs past the model's position table: the start token sits at position 0, so
    // a table of `p` positions holds sequences of `p + 1` tokens.
    let requested = cfg.effective_max_length();
    let max_length = decoder
        .max_positions()
        .map_or(requested, |p| requested.min(p + 1));
    let ctx = Context {
        processors: Processors::new(cfg, &eos, max_length),
        max_length,
        start: special.decoder_start,
        eos,
    };
    let mut hyps = if cfg.num_beams > 1 {
        beam::search(decoder, batch, cfg, &ctx)?
    } else {
        greedy(decoder, batch, &ctx)?
    };
    for h in &mut hyps {
        // Start token, generated tokens, and the eos that was cut off.
        let len = 1 + h.tokens.len() + usize::from(h.ended_with_eos);
        h.hit_length = len >= max_length;
        h.truncated = h.hit_length && max_length < requested;
    }
    Ok(hyps)
}

/// What both search strategies need.
pub(crate) struct Context {
    pub processors: Processors,
    pub max_length: usize,
    pub start: u32,
    pub eos: Vec<u32>,
}

fn greedy(
    decoder: &mut dyn StepDecoder,
    batch: usize,
    ctx: &Context,
) -> Result<Vec<Hypothesis>, GenerateError> {
    let vocab = decoder.vocab_size();
    let mut seqs: Vec<Vec<u32>> = vec![vec![ctx.start]; batch];
    let mut scores = vec![0f32; batch];
    let mut ended = vec![false; batch];
    // Rows still decoding, as indices into the batch, in the decoder's current row order.
    let mut active: Vec<usize> = (0..batch).collect();
    while !active.is_empty() {
        let last: Vec<u32> = active
            .iter()
            .map(|&r| *seqs[r].last().unwrap_or(&ctx.start))
            .collect();
        let mut logits = decoder.step(&last)?;
        let mut still = Vec::with_capacity(active.len());
        let mut keep_rows = Vec::with_capacity(active.len());
        for (i, &r) in active.iter().enumerate() {
            let row = &mut logits[i * vocab..(i + 1) * vocab];
            ctx.processors.apply(&seqs[r], row);
            let next = argmax(row);
            scores[r] += log_prob(row, next);
            seqs[r].push(next as u32);
            if ctx.eos.contains(&(next as u32)) {
                ended[r] = true;
            } else if seqs[r].len() < ctx.max_length {
                still.push(r);
                keep_rows.push(i as u32);
            }
        }
        if still.is_empty() {
            break;
        }
        if still.len() != active.len() {
            decoder.select_rows(&keep_rows)?;
        }
        active = still;
    }
    Ok(seqs
        .into_iter()
        .zip(scores)
        .zip(ended)
        .map(|((seq, score), ended_with_eos)| finish(seq, score, ended_with_eos))
        .collect())
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
