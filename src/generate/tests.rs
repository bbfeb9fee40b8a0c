//! Decoding bookkeeping on a fake model whose logits are scripted from each row's history.

use super::*;
use candle_core::{Device, Result};

/// A model whose next-token logits are a function of the row's tokens so far.
struct Scripted<F: Fn(usize, &[u32]) -> Vec<f32> + Send> {
    /// Per row: the batch item it belongs to and its decoder tokens so far (start included).
    rows: Vec<(usize, Vec<u32>)>,
    script: F,
    vocab: usize,
    steps: usize,
    rows_computed: usize,
    /// Decoder positions the fake model can represent; `step` fails beyond them, as Marian does.
    positions: Option<usize>,
    /// Chooses tokens as a GPU session does ([`crate::models::pick`]); the steps it picked.
    picks: Option<usize>,
}

impl<F: Fn(usize, &[u32]) -> Vec<f32> + Send> Scripted<F> {
    fn new(batch: usize, vocab: usize, script: F) -> Self {
        Self {
            rows: (0..batch).map(|b| (b, Vec::new())).collect(),
            script,
            vocab,
            steps: 0,
            rows_computed: 0,
            positions: None,
            picks: None,
        }
    }

    fn with_positions(mut self, p: usize) -> Self {
        self.positions = Some(p);
        self
    }
}

impl<F: Fn(usize, &[u32]) -> Vec<f32> + Send> StepDecoder for Scripted<F> {
    fn step(&mut self, tokens: &[u32]) -> Result<Vec<f32>> {
        assert_eq!(tokens.len(), self.rows.len(), "one token per live row");
        self.steps += 1;
        self.rows_computed += tokens.len();
        let mut out = Vec::new();
        for ((item, hist), &t) in self.rows.iter_mut().zip(tokens) {
            if let Some(p) = self.positions {
                // The token fed now sits at position hist.len().
                if hist.len() >= p {
                    candle_core::bail!("position {} exceeds the table of {p}", hist.len());
                }
            }
            hist.push(t);
            let l = (self.script)(*item, hist);
            assert_eq!(l.len(), self.vocab);
            out.extend(l);
        }
        Ok(out)
    }

    fn picks_on_device(&self) -> bool {
        self.picks.is_some()
    }

    fn step_pick(
        &mut self,
        tokens: &[u32],
        spec: &crate::models::pick::PickSpec,
    ) -> Result<crate::models::StepLogits> {
        let logits = self.step(tokens)?;
        let logits =
            candle_core::Tensor::from_vec(logits, (tokens.len(), self.vocab), &Device::Cpu)?;
        *self.picks.get_or_insert(0) += 1;
        Ok(crate::models::StepLogits::Picked(
            crate::models::pick::pick(&logits, spec)?,
        ))
    }

    fn select_rows(&mut self, rows: &[u32]) -> Result<()> {
        self.rows = rows
            .iter()
            .map(|&r| self.rows[r as usize].clone())
            .collect();
        Ok(())
    }

    fn vocab_size(&self) -> usize {
        self.vocab
    }

    fn rows(&self) -> usize {
        self.rows.len()
    }

    fn max_positions(&self) -> Option<usize> {
        self.positions
    }
}

const START: u32 = 3;
const EOS: u32 = 0;

fn special() -> SpecialTokens {
    SpecialTokens {
        pad: START,
        eos: EOS,
        decoder_start: START,
    }
}

fn cfg(max_new: usize) -> GenerationConfig {
    GenerationConfig {
        max_new_tokens: Some(max_new),
        ..Default::default()
    }
}

/// Logits from probabilities (so log_softmax gives back their logs).
fn probs(p: &[f32]) -> Vec<f32> {
    p.iter().map(|x| x.ln()).collect()
}

#[test]
fn greedy_rows_finish_independently_and_are_dropped() {
    // Item 0 says 1 then eos; item 1 says 2 2 2 ... until the length limit.
    let script = |item: usize, hist: &[u32]| match (item, hist.len()) {
        (0, 1) => probs(&[0.1, 0.7, 0.1, 0.1]),
        (0, _) => probs(&[0.6, 0.2, 0.1, 0.1]),
        _ => probs(&[0.1, 0.1, 0.7, 0.1]),
    };
    let mut m = Scripted::new(2, 4, script);
    let out = generate(&mut m, 2, &cfg(4), &special()).unwrap();
    assert_eq!(out[0].tokens, vec![1]);
    assert!(out[0].ended_with_eos);
    assert!((out[0].score - (0.7f32.ln() + 0.6f32.ln())).abs() < 1e-5);
    assert_eq!(out[1].tokens, vec![2, 2, 2, 2]);
    assert!(!out[1].ended_with_eos);
    // Row 0 stopped after 2 steps, row 1 ran 4: 6 rows computed, not 8.
    assert_eq!(m.rows_computed, 6);
}

#[test]
fn greedy_respects_min_new_tokens_and_forced_eos() {
    let script = |_: usize, _: &[u32]| probs(&[0.5, 0.2, 0.2, 0.1]);
    let c = GenerationConfig {
        min_new_tokens: Some(2),
        forced_eos_token_id: Some(EOS),
        ..cfg(3)
    };
    let mut m = Scripted::new(1, 4, script);
    let out = generate(&mut m, 1, &c, &special()).unwrap();
    // eos banned for two tokens: token 1 (first max among the rest) twice, then eos.
    assert_eq!(out[0].tokens, vec![1, 1]);
    assert!(out[0].ended_with_eos);
}

#[test]
fn beam_finds_the_better_sequence_greedy_misses() {
    // Step 1: token 1 (0.6) looks better than token 2 (0.4); but after 1 everything is flat,
    // while after 2 eos is nearly certain.
    let script = |_: usize, hist: &[u32]| match hist {
        [_] => probs(&[0.0001, 0.5999, 0.4, 0.0]),
        [_, 1] => probs(&[0.25, 0.25, 0.25, 0.25]),
        [_, 2] => probs(&[0.99, 0.005, 0.005, 0.0]),
        _ => probs(&[0.97, 0.01, 0.01, 0.01]),
    };
    let greedy_out = generate(&mut Scripted::new(1, 4, script), 1, &cfg(5), &special()).unwrap();
    assert_eq!(greedy_out[0].tokens, vec![1]);
    let beam_cfg = GenerationConfig {
        num_beams: 2,
        length_penalty: 1.0,
        ..cfg(5)
    };
    let out = generate(&mut Scripted::new(1, 4, script), 1, &beam_cfg, &special()).unwrap();
    assert_eq!(out[0].tokens, vec![2]);
    let expected = (0.4f32.ln() + 0.99f32.ln()) / 2.0;
    assert!(
        (out[0].score - expected).abs() < 1e-5,
        "{} vs {expected}",
        out[0].score
    );
}

#[test]
fn length_penalty_changes_the_winner() {
    // Short hypothesis: eos at once (p 0.55). Long one: 1 then eos (0.43 × 0.9): worse sum, better mean.
    let script = |_: usize, hist: &[u32]| match hist {
        [_] => probs(&[0.55, 0.43, 0.01, 0.01]),
        [_, 1] => probs(&[0.9, 0.05, 0.03, 0.02]),
        _ => probs(&[0.25, 0.25, 0.25, 0.25]),
    };
    let run = |lp: f64| {
        let c = GenerationConfig {
            num_beams: 2,
            length_penalty: lp,
            ..cfg(4)
        };
        generate(&mut Scripted::new(1, 4, script), 1, &c, &special()).unwrap()
    };
    let raw = run(0.0);
    assert_eq!(raw[0].tokens, Vec::<u32>::new());
    assert!((raw[0].score - 0.55f32.ln()).abs() < 1e-5);
    let mean = run(1.0);
    assert_eq!(mean[0].tokens, vec![1]);
    assert!((mean[0].score - (0.43f32.ln() + 0.9f32.ln()) / 2.0).abs() < 1e-5);
}

#[test]
fn beam_batch_items_are_independent() {
    let script = |item: usize, hist: &[u32]| match (item, hist.len()) {
        (0, 1) => probs(&[0.05, 0.8, 0.1, 0.05]),
        (0, _) => probs(&[0.9, 0.04, 0.03, 0.03]),
        (_, n) if n < 3 => probs(&[0.01, 0.09, 0.8, 0.1]),
        _ => probs(&[0.7, 0.1, 0.1, 0.1]),
    };
    let c = GenerationConfig {
        num_beams: 3,
        ..cfg(6)
    };
    let both = generate(&mut Scripted::new(2, 4, script), 2, &c, &special()).unwrap();
    let alone0 = generate(&mut Scripted::new(1, 4, script), 1, &c, &special()).unwrap();
    let script1 = move |_: usize, hist: &[u32]| script(1, hist);
    let alone1 = generate(&mut Scripted::new(1, 4, script1), 1, &c, &special()).unwrap();
    assert_eq!(both[0], alone0[0]);
    assert_eq!(both[1], alone1[0]);
    assert_eq!(both[0].tokens, vec![1]);
    assert_eq!(both[1].tokens, vec![2, 2]);
}

#[test]
fn no_repeat_ngram_blocks_loops_in_beam_search() {
    // The model loves "1 2 1 2 ..."; with no_repeat_ngram_size 2 "1 2" cannot occur twice.
    let script = |_: usize, hist: &[u32]| match hist.last() {
        Some(1) => probs(&[0.01, 0.01, 0.97, 0.01]),
        _ => probs(&[0.01, 0.97, 0.01, 0.01]),
    };
    let c = GenerationConfig {
        num_beams: 2,
        no_repeat_ngram_size: 2,
        ..cfg(6)
    };
    let out = generate(&mut Scripted::new(1, 4, script), 1, &c, &special()).unwrap();
    let toks = &out[0].tokens;
    let mut bigrams: Vec<(u32, u32)> = toks.windows(2).map(|w| (w[0], w[1])).collect();
    let n = bigrams.len();
    bigrams.sort();
    bigrams.dedup();
    assert_eq!(bigrams.len(), n, "repeated bigram in {toks:?}");
}

#[test]
fn invalid_settings_are_errors_not_panics() {
    let script = |_: usize, _: &[u32]| probs(&[0.25; 4]);
    let bad = GenerationConfig {
        num_beams: 0,
        ..cfg(3)
    };
    assert!(matches!(
        generate(&mut Scripted::new(1, 4, script), 1, &bad, &special()),
        Err(GenerateError::Invalid(_))
    ));
    let none = GenerationConfig {
        max_new_tokens: Some(0),
        ..cfg(3)
    };
    assert!(generate(&mut Scripted::new(1, 4, script), 1, &none, &special()).is_err());
}

#[test]
fn the_position_table_ends_rows_as_length_and_says_truncated() {
    // A runaway model (never eos) with 5 decoder positions, asked for 100 new tokens.
    let script = |_: usize, _: &[u32]| probs(&[0.05, 0.8, 0.1, 0.05]);
    for beams in [1, 3] {
        let c = GenerationConfig {
            num_beams: beams,
            ..cfg(100)
        };
        let mut m = Scripted::new(2, 4, script).with_positions(5);
        let out = generate(&mut m, 2, &c, &special()).expect("clamped, not an error");
        for h in &out {
            // Positions 0..4 hold the start token and four generated tokens; the fifth
            // generated token is read off position 4.
            assert_eq!(h.tokens.len(), 5, "beams {beams}");
            assert!(
                !h.ended_with_eos && h.hit_length && h.truncated,
                "beams {beams}"
            );
        }
    }
    // Within the table nothing is clamped and nothing says truncated.
    let mut m = Scripted::new(1, 4, script).with_positions(5);
    let out = generate(&mut m, 1, &cfg(3), &special()).unwrap();
    assert_eq!(out[0].tokens.len(), 3);
    assert!(out[0].hit_length && !out[0].truncated);
    // A forced eos lands on the clamped last position, as with transformers' max_length.
    let c = GenerationConfig {
        forced_eos_token_id: Some(EOS),
        ..cfg(100)
    };
    let mut m = Scripted::new(1, 4, script).with_positions(5);
    let out = generate(&mut m, 1, &c, &special()).unwrap();
    assert_eq!(out[0].tokens.len(), 4);
    assert!(out[0].ended_with_eos && out[0].hit_length && out[0].truncated);
}

#[test]
fn max_length_counts_the_start_token() {
    // transformers: max_length 4 = the start token and three generated tokens.
    let script = |_: usize, _: &[u32]| probs(&[0.05, 0.8, 0.1, 0.05]);
    let c = GenerationConfig {
        max_length: 4,
        ..Default::default()
    };
    let out = generate(&mut Scripted::new(1, 4, script), 1, &c, &special()).unwrap();
    assert_eq!(out[0].tokens, vec![1, 1, 1]);
    assert!(!out[0].truncated);
}

#[test]
fn every_eos_id_ends_a_row() {
    // Token 2 is a second eos id: the row ends there, and it is not part of the output.
    let script = |_: usize, hist: &[u32]| match hist.len() {
        1 => probs(&[0.1, 0.7, 0.1, 0.1]),
        _ => probs(&[0.1, 0.1, 0.7, 0.1]),
    };
    let c = GenerationConfig {
        eos_token_ids: vec![EOS, 2],
        ..cfg(10)
    };
    for beams in [1, 2] {
        let c = GenerationConfig {
            num_beams: beams,
            ..c.clone()
        };
        let out = generate(&mut Scripted::new(1, 4, script), 1, &c, &special()).unwrap();
        assert_eq!(out[0].tokens, vec![1], "beams {beams}");
        assert!(out[0].ended_with_eos, "beams {beams}");
    }
}

#[test]
fn beam_returns_the_n_best_in_order() {
    // Every step prefers 1, then 2, then eos: finished hypotheses of different lengths.
    let script = |_: usize, hist: &[u32]| match hist.len() {
        1 => probs(&[0.2, 0.5, 0.3, 0.0001]),
        _ => probs(&[0.6, 0.25, 0.15, 0.0001]),
    };
    let c = GenerationConfig {
        num_beams: 3,
        num_return_sequences: 3,
        ..cfg(4)
    };
    let out = generate(&mut Scripted::new(1, 4, script), 1, &c, &special()).unwrap();
    let best = &out[0];
    assert_eq!(best.alternatives.len(), 2);
    let mut seen = vec![best.tokens.clone()];
    let mut last = best.score;
    for alt in &best.alternatives {
        assert!(alt.score <= last, "best first: {} after {last}", alt.score);
        assert!(!seen.contains(&alt.tokens), "distinct: {:?}", alt.tokens);
        seen.push(alt.tokens.clone());
        last = alt.score;
    }
    // The best is what a single-sequence search at the same width returns.
    let single = GenerationConfig {
        num_return_sequences: 1,
        ..c.clone()
    };
    let one = generate(&mut Scripted::new(1, 4, script), 1, &single, &special()).unwrap();
    assert_eq!(
        (one[0].tokens.clone(), one[0].score),
        (best.tokens.clone(), best.score)
    );
    assert!(one[0].alternatives.is_empty());
    // More sequences than beams is an error, as in transformers.
    let too_many = GenerationConfig {
        num_return_sequences: 4,
        ..c
    };
    assert!(generate(&mut Scripted::new(1, 4, script), 1, &too_many, &special()).is_err());
}

/// A model that wants `4 5 eos`, whatever came before, and gives every other token a little.
fn prefers_4_5(_: usize, hist: &[u32]) -> Vec<f32> {
    let mut p = vec![0.02f32; 10];
    let said = |t: u32| hist.contains(&t);
    let want = if !said(4) {
        4
    } else if !said(5) {
        5
    } else {
        0
    };
    p[want] = 0.82;
    probs(&p)
}

fn holds(seq: &[u32], phrase: &[u32]) -> bool {
    seq.windows(phrase.len()).any(|w| w == phrase)
}

#[test]
fn forced_phrases_appear_in_the_output() {
    let base = GenerationConfig {
        num_beams: 3,
        ..cfg(8)
    };
    let plain = generate(&mut Scripted::new(1, 10, prefers_4_5), 1, &base, &special()).unwrap();
    assert_eq!(plain[0].tokens, [4, 5]);
    for phrases in [vec![vec![7, 8]], vec![vec![7, 8], vec![9]], vec![vec![6]]] {
        let c = GenerationConfig {
            force_words_ids: phrases.clone(),
            ..base.clone()
        };
        let out = generate(&mut Scripted::new(1, 10, prefers_4_5), 1, &c, &special()).unwrap();
        let h = &out[0];
        assert!(h.ended_with_eos, "{phrases:?}: {h:?}");
        for p in &phrases {
            assert!(holds(&h.tokens, p), "{p:?} missing from {:?}", h.tokens);
        }
        // The model's own words are kept around the forced ones.
        assert!(
            holds(&h.tokens, &[4]) && holds(&h.tokens, &[5]),
            "{:?}",
            h.tokens
        );
    }
}

#[test]
fn a_phrase_the_model_already_says_changes_nothing() {
    let base = GenerationConfig {
        num_beams: 3,
        ..cfg(8)
    };
    let plain = generate(&mut Scripted::new(1, 10, prefers_4_5), 1, &base, &special()).unwrap();
    let c = GenerationConfig {
        force_words_ids: vec![vec![4, 5]],
        ..base
    };
    let forced = generate(&mut Scripted::new(1, 10, prefers_4_5), 1, &c, &special()).unwrap();
    assert_eq!(forced[0].tokens, plain[0].tokens);
    assert!((forced[0].score - plain[0].score).abs() < 1e-6);
}

#[test]
fn a_phrase_that_cannot_fit_leaves_the_best_attempt() {
    // Two new tokens allowed, a three-token phrase: no hypothesis can hold it; the result is
    // still a sequence of the allowed length, not an error.
    let c = GenerationConfig {
        num_beams: 2,
        force_words_ids: vec![vec![7, 8, 9]],
        ..cfg(2)
    };
    let out = generate(&mut Scripted::new(1, 10, prefers_4_5), 1, &c, &special()).unwrap();
    assert_eq!(out[0].tokens.len(), 2);
    let greedy = GenerationConfig { num_beams: 1, ..c };
    let e = generate(
        &mut Scripted::new(1, 10, prefers_4_5),
        1,
        &greedy,
        &special(),
    );
    assert!(e.is_err(), "force_words_ids needs beams");
}

/// Logits with ties and a few strongly preferred tokens, varying by item and position.
fn tied(item: usize, hist: &[u32]) -> Vec<f32> {
    let n = hist.len();
    (0..6u32)
        .map(|t| ((item * 7 + n * 3 + t as usize * 5) % 4) as f32 * 0.75 - (t == 0) as u8 as f32)
        .collect()
}

#[test]
fn choosing_on_the_device_gives_what_the_full_rows_give() {
    let configs = [
        cfg(5),
        GenerationConfig {
            min_new_tokens: Some(3),
            forced_eos_token_id: Some(EOS),
            ..cfg(6)
        },
        // Two of six tokens banned and eos held back: with 4 beams (8 candidates per beam) a
        // row runs out of finite values, which then follow in id order.
        GenerationConfig {
            bad_words_ids: vec![vec![1], vec![4], vec![2, 5]],
            min_new_tokens: Some(2),
            num_beams: 4,
            ..cfg(6)
        },
        GenerationConfig {
            no_repeat_ngram_size: 2,
            num_beams: 2,
            length_penalty: 0.5,
            forced_bos_token_id: Some(2),
            ..cfg(7)
        },
        GenerationConfig {
            num_beams: 3,
            num_return_sequences: 3,
            eos_token_ids: vec![EOS, 5],
            ..cfg(4)
        },
    ];
    for (i, c) in configs.iter().enumerate() {
        let mut full = Scripted::new(3, 6, tied);
        let want = generate(&mut full, 3, c, &special()).unwrap();
        let mut picked = Scripted::new(3, 6, tied);
        picked.picks = Some(0);
        let got = generate(&mut picked, 3, c, &special()).unwrap();
        assert_eq!(
            picked.picks,
            Some(full.steps),
            "config {i}: every step picked"
        );
        let flat = |h: &[Hypothesis]| -> Vec<(Vec<u32>, f32)> {
            h.iter()
                .flat_map(|h| std::iter::once(h).chain(&h.alternatives))
                .map(|h| (h.tokens.clone(), h.score))
                .collect()
        };
        for (a, b) in flat(&got).iter().zip(flat(&want)) {
            assert_eq!(a.0, b.0, "config {i}: ids");
            assert!(
                (a.1 - b.1).abs() < 1e-5 || a.1 == b.1,
                "config {i}: {} vs {}",
                a.1,
                b.1
            );
        }
        assert_eq!(flat(&got).len(), flat(&want).len());
    }
}
