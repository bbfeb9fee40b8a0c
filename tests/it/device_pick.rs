//! Choosing tokens where the logits are (`StepDecoder::step_pick`, what a GPU session does):
//! run here on the CPU through a decoder that hands its logits to `models::pick` as a tensor,
//! every golden case must still give transformers' ids and scores, for every architecture and
//! the processors the goldens use (bad words, minimum length, forced bos/eos, n-gram bans,
//! several eos ids, beams with length penalties and early stopping).

use std::sync::atomic::{AtomicUsize, Ordering};

use candle_core::{Device, Tensor};
use copydesk::engine::start_rows;
use copydesk::generate::{generate, GenerationConfig, Hypothesis, Processors};
use copydesk::models::pick::{pick, PickSpec};
use copydesk::models::{Seq2Seq, StepDecoder, StepLogits};

use crate::parity::check_generate_with;

/// Golden cases decoded with picked steps.
static PICKED_CASES: AtomicUsize = AtomicUsize::new(0);

/// A CPU session that chooses as a GPU session does: its logits go through [`pick`]. It counts
/// the steps that were picked and those that took the full rows.
struct ChoosesOnDevice<'a> {
    inner: Box<dyn StepDecoder + 'a>,
    picked: usize,
    full: usize,
}

impl<'a> ChoosesOnDevice<'a> {
    fn start(model: &'a dyn Seq2Seq, rows: &[&[u32]]) -> Self {
        Self {
            inner: start_rows(model, rows).unwrap(),
            picked: 0,
            full: 0,
        }
    }
}

impl StepDecoder for ChoosesOnDevice<'_> {
    fn step(&mut self, tokens: &[u32]) -> candle_core::Result<Vec<f32>> {
        self.full += 1;
        self.inner.step(tokens)
    }
    fn picks_on_device(&self) -> bool {
        true
    }
    fn step_pick(&mut self, tokens: &[u32], spec: &PickSpec) -> candle_core::Result<StepLogits> {
        self.picked += 1;
        let logits = self.inner.step(tokens)?;
        let logits = Tensor::from_vec(logits, (tokens.len(), self.vocab_size()), &Device::Cpu)?;
        Ok(StepLogits::Picked(pick(&logits, spec)?))
    }
    fn select_rows(&mut self, rows: &[u32]) -> candle_core::Result<()> {
        self.inner.select_rows(rows)
    }
    fn rows(&self) -> usize {
        self.inner.rows()
    }
    fn vocab_size(&self) -> usize {
        self.inner.vocab_size()
    }
    fn max_positions(&self) -> Option<usize> {
        self.inner.max_positions()
    }
}

fn choosing_on_device(
    model: &dyn Seq2Seq,
    rows: &[&[u32]],
    cfg: &GenerationConfig,
) -> Vec<Hypothesis> {
    let mut session = ChoosesOnDevice::start(model, rows);
    let special = model.special_tokens();
    let out = generate(&mut session, rows.len(), cfg, &special).unwrap();
    // A repetition penalty or renormalization rescales values: those cases take the full rows.
    let eos = [special.eos];
    let masks_only = Processors::new(cfg, &eos, cfg.effective_max_length()).masks_only();
    match masks_only {
        true => assert!(
            session.picked > 0 && session.full == 0,
            "steps took the full rows"
        ),
        false => assert!(
            session.picked == 0 && session.full > 0,
            "a rescaling step was picked"
        ),
    }
    PICKED_CASES.fetch_add(usize::from(masks_only), Ordering::Relaxed);
    out
}

#[test]
fn choosing_on_the_device_gives_transformers_ids_and_scores() {
    for name in [
        "marian-tied",
        "marian-untied",
        "marian-short-pos",
        "t5-tied-relu",
        "t5-gated-untied",
        "bart-tiny",
        "pegasus-tiny",
        "mbart50-tiny",
        "m2m100-tiny",
        "nllb-tiny",
    ] {
        check_generate_with(name, choosing_on_device);
    }
    let picked = PICKED_CASES.load(Ordering::Relaxed);
    eprintln!("{picked} golden cases (batched and row by row) decoded with picked steps");
    assert!(picked > 100);
}

#[test]
fn a_repetition_penalty_takes_the_full_rows() {
    let (model, defaults) = crate::parity::load("marian-tied");
    let model = model.seq2seq();
    let cfg = GenerationConfig {
        repetition_penalty: 1.3,
        max_new_tokens: Some(6),
        ..defaults
    };
    let input: &[u32] = &[5, 6, 7, 2];
    let mut session = ChoosesOnDevice::start(model, &[input]);
    let out = generate(&mut session, 1, &cfg, &model.special_tokens()).unwrap();
    assert_eq!((session.picked, session.full), (0, 6));
    let plain = copydesk::engine::run_batch(model, &[input], &cfg).unwrap();
    assert_eq!(out, plain);
}
