//! Timing: token-id workloads straight through the engine's batch path (pad, encode once, decode),
//! with encode and decode timed apart; the article workload end to end through [`Service`].

use std::sync::atomic::Ordering;
use std::time::Instant;

use super::machine::{peak_rss_bytes, reset_peak_rss};
use super::report::{CaseResult, Stats};
use super::workload::{generation_config, TokenWorkload, SAMPLE_ARTICLES};
use crate::engine::{on_compute_pool, pad_batch, EngineError};
use crate::generate::{generate, GenerationConfig};
use crate::models::Seq2Seq;
use crate::service::{ArticleOptions, Service};
use crate::Error;

/// How each case is repeated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    pub batch_sizes: Vec<usize>,
    pub beams: usize,
    pub runs: usize,
    pub warmup: usize,
}

/// Where progress lines go (standard error for the command line).
pub type Progress<'a> = &'a dyn Fn(&str);

/// One pass over a workload's inputs.
#[derive(Debug, Clone, Copy, Default)]
struct Timing {
    total: f64,
    encode: f64,
    decode: f64,
    generated: usize,
}

/// Runs `inputs` in order, `batch` rows at a time (no reordering: every engine pads the same
/// batches), on the compute pool as the engine does, and checks that each input got exactly the
/// workload's number of tokens.
fn run_once(
    model: &dyn Seq2Seq,
    inputs: &[Vec<u32>],
    batch: usize,
    gen: &GenerationConfig,
    expect: usize,
) -> Result<Timing, Error> {
    on_compute_pool(|| {
        let special = model.special_tokens();
        let mut t = Timing::default();
        for chunk in inputs.chunks(batch.max(1)) {
            let rows: Vec<&[u32]> = chunk.iter().map(Vec::as_slice).collect();
            let t0 = Instant::now();
            let (ids, mask) =
                pad_batch(&rows, special.pad, model.device()).map_err(EngineError::from)?;
            let encoded = model.encode(&ids, &mask).map_err(EngineError::from)?;
            model.device().synchronize().map_err(EngineError::from)?;
            let t1 = Instant::now();
            let mut session = model.start(&encoded, &mask).map_err(EngineError::from)?;
            let hyps =
                generate(session.as_mut(), rows.len(), gen, &special).map_err(EngineError::from)?;
            let t2 = Instant::now();
            if let Some(h) = hyps.iter().find(|h| h.tokens.len() != expect) {
                return Err(Error::invalid(
                    "workload_mismatch",
                    format!(
                        "an input produced {} tokens instead of exactly {expect}; the workload's decoding settings were not honoured",
                        h.tokens.len()
                    ),
                ));
            }
            t.encode += (t1 - t0).as_secs_f64();
            t.decode += (t2 - t1).as_secs_f64();
            t.total += (t2 - t0).as_secs_f64();
            t.generated += hyps.iter().map(|h| h.tokens.len()).sum::<usize>();
        }
        Ok(t)
    })
}

/// Batch sizes to run for `n` inputs: each capped at `n`, duplicates dropped.
pub fn effective_batch_sizes(asked: &[usize], n: usize) -> Vec<usize> {
    let mut out: Vec<usize> = Vec::new();
    for &b in asked {
        let b = b.clamp(1, n.max(1));
        if !out.contains(&b) {
            out.push(b);
        }
    }
    out
}

/// Every case of a token-id workload.
pub fn token_cases(
    model: &dyn Seq2Seq,
    defaults: &GenerationConfig,
    work: &TokenWorkload,
    plan: &Plan,
    progress: Progress,
) -> Result<Vec<CaseResult>, Error> {
    let gen = generation_config(defaults, plan.beams, work.new_tokens);
    let mut out = Vec::new();
    for batch in effective_batch_sizes(&plan.batch_sizes, work.inputs.len()) {
        progress(&format!(
            "{} batch {batch} beams {}: {} warm-up + {} runs",
            work.workload, plan.beams, plan.warmup, plan.runs
        ));
        reset_peak_rss();
        for _ in 0..plan.warmup {
            run_once(model, &work.inputs, batch, &gen, work.new_tokens)?;
        }
        let mut runs = Vec::with_capacity(plan.runs);
        for _ in 0..plan.runs {
            runs.push(run_once(model, &work.inputs, batch, &gen, work.new_tokens)?);
        }
        let first_token_s = if batch == 1 {
            first_token(model, defaults, work, plan)?
        } else {
            None
        };
        let total: Vec<f64> = runs.iter().map(|r| r.total).collect();
        let total_s = Stats::of(&total)
            .ok_or_else(|| Error::invalid("invalid_argument", "--runs must be at least 1"))?;
        let median = |f: fn(&Timing) -> f64| {
            Stats::of(&runs.iter().map(f).collect::<Vec<_>>()).map(|s| s.median)
        };
        let generated = runs[0].generated;
        let source = work.source_tokens();
        let case = CaseResult {
            workload: work.workload.to_string(),
            batch_size: batch,
            beams: plan.beams,
            inputs: work.inputs.len(),
            source_tokens: source,
            generated_tokens: generated,
            runs: plan.runs,
            total_s,
            encode_s: median(|t| t.encode),
            decode_s: median(|t| t.decode),
            first_token_s,
            generated_tokens_per_s: generated as f64 / total_s.median,
            source_tokens_per_s: source as f64 / total_s.median,
            peak_rss_bytes: peak_rss_bytes(),
        };
        progress(&format!(
            "  {:.1} generated tokens/s (median {:.3}s)",
            case.generated_tokens_per_s, total_s.median
        ));
        out.push(case);
    }
    Ok(out)
}

/// Median time for the first input alone to get its first token (encode + one step).
fn first_token(
    model: &dyn Seq2Seq,
    defaults: &GenerationConfig,
    work: &TokenWorkload,
    plan: &Plan,
) -> Result<Option<f64>, Error> {
    let Some(first) = work.inputs.first() else {
        return Ok(None);
    };
    let gen = generation_config(defaults, plan.beams, 1);
    let one = std::slice::from_ref(first);
    let mut times = Vec::new();
    for i in 0..plan.warmup + plan.runs {
        let t = run_once(model, one, 1, &gen, 1)?;
        if i >= plan.warmup {
            times.push(t.total);
        }
    }
    Ok(Stats::of(&times).map(|s| s.median))
}

/// Generated-token counters of the service's engines.
fn generated_so_far(service: &Service) -> u64 {
    service
        .workers()
        .map(|w| {
            w.batcher
                .engine()
                .stats()
                .generated_tokens
                .load(Ordering::Relaxed)
        })
        .sum()
}

/// Translator tokens of every sentence of the sample articles.
fn article_source_tokens(service: &Service) -> Result<usize, Error> {
    let tokenizer = &service.translator()?.loaded.tokenizer;
    let mut n = 0;
    for (_, text) in SAMPLE_ARTICLES {
        for s in crate::text::segment(text).sentences() {
            n += tokenizer.encode(s)?.len();
        }
    }
    Ok(n)
}

/// The article workload at one batch size: every sample article through `Service::article`.
pub fn article_case(
    service: &Service,
    opts: &ArticleOptions,
    plan: &Plan,
    batch: usize,
) -> Result<CaseResult, Error> {
    let rt = crate::service::local_runtime()?;
    let once = || -> Result<(f64, u64), Error> {
        let before = generated_so_far(service);
        let t0 = Instant::now();
        rt.block_on(async {
            for (_, text) in SAMPLE_ARTICLES {
                service.article(text, opts).await?;
            }
            Ok::<(), Error>(())
        })?;
        Ok((
            t0.elapsed().as_secs_f64(),
            generated_so_far(service) - before,
        ))
    };
    reset_peak_rss();
    for _ in 0..plan.warmup {
        once()?;
    }
    let mut times = Vec::new();
    let mut generated = 0;
    for _ in 0..plan.runs {
        let (t, g) = once()?;
        times.push(t);
        generated = g as usize;
    }
    let total_s = Stats::of(&times)
        .ok_or_else(|| Error::invalid("invalid_argument", "--runs must be at least 1"))?;
    let source = article_source_tokens(service)?;
    Ok(CaseResult {
        workload: "article".into(),
        batch_size: batch,
        beams: plan.beams,
        inputs: SAMPLE_ARTICLES.len(),
        source_tokens: source,
        generated_tokens: generated,
        runs: plan.runs,
        total_s,
        encode_s: None,
        decode_s: None,
        first_token_s: None,
        generated_tokens_per_s: generated as f64 / total_s.median,
        source_tokens_per_s: source as f64 / total_s.median,
        peak_rss_bytes: peak_rss_bytes(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batch_sizes_are_capped_and_deduplicated() {
        assert_eq!(effective_batch_sizes(&[1, 8, 32], 64), vec![1, 8, 32]);
        assert_eq!(effective_batch_sizes(&[1, 8, 32], 8), vec![1, 8]);
        assert_eq!(effective_batch_sizes(&[0, 1], 8), vec![1]);
    }
}
