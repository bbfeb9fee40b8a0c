//! The benchmark workloads: fixed, seeded inputs so every engine on every machine does the same
//! work.
//!
//! - **wire**: 64 inputs of 20–60 source ids (uniform, inclusive), exactly 40 generated tokens.
//! - **summ**: 8 inputs of 400 source ids, exactly 60 generated tokens.
//! - **article**: the shared sample articles, as text, end to end through the service.
//!
//! Token-id inputs are drawn uniformly from the vocabulary, never the pad or eos id. "Exactly N
//! generated tokens" is enforced by `min_new_tokens = max_new_tokens = N` (eos can never win) and
//! no forced eos.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::generate::GenerationConfig;
use crate::models::SpecialTokens;

/// Which work to time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Workload {
    Wire,
    Summ,
    Article,
}

impl Workload {
    pub const ALL: [Workload; 3] = [Workload::Wire, Workload::Summ, Workload::Article];

    pub fn as_str(self) -> &'static str {
        match self {
            Workload::Wire => "wire",
            Workload::Summ => "summ",
            Workload::Article => "article",
        }
    }

    /// The shape of a token-id workload; `None` for `article` (real text).
    pub fn shape(self) -> Option<TokenShape> {
        match self {
            Workload::Wire => Some(TokenShape {
                inputs: 64,
                min_len: 20,
                max_len: 60,
                new_tokens: 40,
                seed: 0x7769_7265, // "wire"
            }),
            Workload::Summ => Some(TokenShape {
                inputs: 8,
                min_len: 400,
                max_len: 400,
                new_tokens: 60,
                seed: 0x7375_6d6d, // "summ"
            }),
            Workload::Article => None,
        }
    }
}

impl fmt::Display for Workload {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Workload {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Workload::ALL
            .into_iter()
            .find(|w| w.as_str() == s.trim().to_ascii_lowercase())
            .ok_or_else(|| format!("unknown workload {s:?}: use wire, summ or article"))
    }
}

/// Sizes of a token-id workload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TokenShape {
    pub inputs: usize,
    /// Shortest and longest source, in ids, both inclusive.
    pub min_len: usize,
    pub max_len: usize,
    /// Tokens generated per input, exactly.
    pub new_tokens: usize,
    pub seed: u64,
}

/// The inputs of a token-id workload for one model's vocabulary.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TokenWorkload {
    pub workload: Workload,
    pub new_tokens: usize,
    pub inputs: Vec<Vec<u32>>,
}

impl TokenWorkload {
    /// Draws the inputs: lengths uniform in `min_len..=max_len`, ids uniform in `0..vocab`
    /// except `pad` and `eos`. Same arguments, same ids, everywhere.
    pub fn generate(
        shape: &TokenShape,
        workload: Workload,
        vocab: u32,
        special: &SpecialTokens,
    ) -> Result<Self, String> {
        let banned = [special.pad, special.eos];
        let banned_here = if special.pad == special.eos { 1 } else { 2 };
        let usable = vocab.saturating_sub(banned_here);
        if usable < 2 || shape.min_len == 0 || shape.min_len > shape.max_len {
            return Err(format!(
                "cannot draw {workload} inputs from a vocabulary of {vocab} ids"
            ));
        }
        let mut rng = SplitMix(shape.seed);
        let span = (shape.max_len - shape.min_len + 1) as u64;
        let inputs = (0..shape.inputs)
            .map(|_| {
                let len = shape.min_len + (rng.next() % span) as usize;
                (0..len)
                    .map(|_| loop {
                        let id = (rng.next() % u64::from(vocab)) as u32;
                        if !banned.contains(&id) {
                            break id;
                        }
                    })
                    .collect()
            })
            .collect();
        Ok(Self {
            workload,
            new_tokens: shape.new_tokens,
            inputs,
        })
    }

    /// Source ids over all inputs (no padding).
    pub fn source_tokens(&self) -> usize {
        self.inputs.iter().map(Vec::len).sum()
    }

    /// A short stable fingerprint of the ids (FNV-1a over lengths and ids), so reports can show
    /// that two engines ran the same inputs.
    pub fn digest(&self) -> String {
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        let mut eat = |x: u32| {
            for b in x.to_le_bytes() {
                h = (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3);
            }
        };
        eat(self.new_tokens as u32);
        for row in &self.inputs {
            eat(row.len() as u32);
            row.iter().for_each(|&id| eat(id));
        }
        format!("{h:016x}")
    }
}

/// The decoding settings of a token-id workload on top of a model's defaults: the model's bad
/// words, renormalization and length penalty stay; beams as asked; exactly `new_tokens` tokens
/// (eos suppressed, no forced eos); no repetition rules.
pub fn generation_config(
    defaults: &GenerationConfig,
    beams: usize,
    new_tokens: usize,
) -> GenerationConfig {
    GenerationConfig {
        num_beams: beams,
        max_new_tokens: Some(new_tokens),
        min_new_tokens: Some(new_tokens),
        min_length: 0,
        forced_eos_token_id: None,
        no_repeat_ngram_size: 0,
        repetition_penalty: 1.0,
        ..defaults.clone()
    }
}

/// splitmix64: the same sequence on every platform.
struct SplitMix(u64);

impl SplitMix {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
}

/// The shared sample articles (`tests/fixtures/samples/`), embedded: name and text.
pub const SAMPLE_ARTICLES: [(&str, &str); 2] = [
    (
        "kabinet-stikstof",
        include_str!("../../tests/fixtures/samples/kabinet-stikstof.txt"),
    ),
    (
        "zorgpremie",
        include_str!("../../tests/fixtures/samples/zorgpremie.txt"),
    ),
];

#[cfg(test)]
mod tests {
    use super::*;

    fn marian_special() -> SpecialTokens {
        SpecialTokens {
            pad: 67027,
            eos: 0,
            decoder_start: 67027,
        }
    }

    #[test]
    fn wire_inputs_are_seeded_in_range_and_never_pad_or_eos() {
        let shape = Workload::Wire.shape().unwrap();
        let a = TokenWorkload::generate(&shape, Workload::Wire, 67028, &marian_special()).unwrap();
        let b = TokenWorkload::generate(&shape, Workload::Wire, 67028, &marian_special()).unwrap();
        assert_eq!(a, b);
        assert_eq!(a.digest(), b.digest());
        assert_eq!(a.inputs.len(), 64);
        assert_eq!(a.new_tokens, 40);
        let lens: Vec<usize> = a.inputs.iter().map(Vec::len).collect();
        assert!(lens.iter().all(|l| (20..=60).contains(l)), "{lens:?}");
        // Uniform over 41 lengths: 64 draws hit both halves and are not all equal.
        assert!(lens.iter().any(|&l| l < 35) && lens.iter().any(|&l| l > 45));
        for id in a.inputs.iter().flatten() {
            assert!(*id < 67028 && *id != 67027 && *id != 0, "{id}");
        }
    }

    #[test]
    fn pad_and_eos_are_avoided_even_in_a_tiny_vocabulary() {
        let special = SpecialTokens {
            pad: 0,
            eos: 1,
            decoder_start: 0,
        };
        let shape = Workload::Summ.shape().unwrap();
        let w = TokenWorkload::generate(&shape, Workload::Summ, 4, &special).unwrap();
        assert_eq!(w.inputs.len(), 8);
        assert!(w.inputs.iter().all(|r| r.len() == 400));
        let ids: std::collections::BTreeSet<u32> = w.inputs.iter().flatten().copied().collect();
        assert_eq!(ids.into_iter().collect::<Vec<_>>(), vec![2, 3]);
        assert_eq!(w.source_tokens(), 3200);
        assert!(TokenWorkload::generate(&shape, Workload::Summ, 2, &special).is_err());
    }

    #[test]
    fn different_vocabularies_give_different_digests() {
        let shape = Workload::Wire.shape().unwrap();
        let a = TokenWorkload::generate(&shape, Workload::Wire, 67028, &marian_special()).unwrap();
        let b = TokenWorkload::generate(&shape, Workload::Wire, 32100, &marian_special()).unwrap();
        assert_ne!(a.digest(), b.digest());
    }

    #[test]
    fn generation_config_forces_exact_lengths() {
        let defaults = GenerationConfig {
            num_beams: 4,
            max_length: 512,
            forced_eos_token_id: Some(0),
            bad_words_ids: vec![vec![67027]],
            no_repeat_ngram_size: 3,
            ..Default::default()
        };
        let g = generation_config(&defaults, 1, 40);
        assert_eq!(g.num_beams, 1);
        assert_eq!(
            (g.effective_min_length(), g.effective_max_length()),
            (41, 41)
        );
        assert_eq!(g.forced_eos_token_id, None);
        assert_eq!(g.no_repeat_ngram_size, 0);
        assert_eq!(g.bad_words_ids, vec![vec![67027]]);
    }

    #[test]
    fn workload_names_parse() {
        assert_eq!("Wire".parse::<Workload>().unwrap(), Workload::Wire);
        assert!("wires".parse::<Workload>().is_err());
    }
}
