//! The one place that knows the architectures: which `model_type` each is, how its
//! `config.json` reads, how to build it, its special tokens and vocabulary, what its tokenizer
//! files look like, and what a synthetic copy needs. Everything above (registry, service, bench)
//! calls these; a new architecture is a model file plus a variant here.

use std::sync::Arc;

use candle_core::Result;
use candle_nn::VarBuilder;
use serde::{Deserialize, Serialize};

use super::bart::{Bart, BartConfig, Family};
use super::t5::{T5Config, T5};
use super::{Seq2Seq, SpecialTokens};

/// A model family, as `config.json`'s `model_type` names it (and a manifest's `architecture`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Architecture {
    Marian,
    Bart,
    Pegasus,
    MBart,
    /// M2M100 and NLLB-200 (`model_type` `m2m_100`).
    #[serde(rename = "m2m_100")]
    M2M100,
    T5,
}

/// How a family's tokenizer ships, besides `tokenizer.json`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenizerFormat {
    /// `source.spm`, `target.spm`, `vocab.json` (and `target_vocab.json` when separate).
    MarianSpm,
    /// `spiece.model` (plus `<extra_id_N>` sentinels).
    T5Spiece,
    /// Byte-level BPE: `vocab.json` + `merges.txt` (BART, RoBERTa).
    ByteLevelBpe,
    /// `spiece.model` with its ids offset by 103 special tokens (Pegasus).
    PegasusSpiece,
    /// `sentencepiece.bpe.model` read as `MBart50Tokenizer` (ids offset under fairseq's four
    /// special tokens, language codes after the pieces).
    MBart50Spm,
    /// `sentencepiece.bpe.model` (a BPE SentencePiece model) + `vocab.json` with language tokens
    /// after the vocabulary (M2M100's slow `M2M100Tokenizer`; NLLB ships `tokenizer.json`).
    SpmBpeVocab,
}

impl Architecture {
    pub fn as_str(self) -> &'static str {
        match self {
            Architecture::Marian => "marian",
            Architecture::Bart => "bart",
            Architecture::Pegasus => "pegasus",
            Architecture::MBart => "mbart",
            Architecture::M2M100 => "m2m_100",
            Architecture::T5 => "t5",
        }
    }

    /// From config.json's `model_type`, else its `architectures` list (class names).
    /// `Err` carries what was found, for the error message.
    pub fn from_config_json(config: &serde_json::Value) -> std::result::Result<Self, String> {
        const FAMILIES: &[(Architecture, &str, &str)] = &[
            (Architecture::Marian, "marian", "Marian"),
            (Architecture::Bart, "bart", "Bart"),
            (Architecture::Pegasus, "pegasus", "Pegasus"),
            (Architecture::MBart, "mbart", "MBart"),
            (Architecture::M2M100, "m2m_100", "M2M100"),
            (Architecture::T5, "t5", "T5"),
        ];
        let model_type = config.get("model_type").and_then(|v| v.as_str());
        if let Some(&(a, _, _)) = FAMILIES.iter().find(|f| Some(f.1) == model_type) {
            return Ok(a);
        }
        let classes: Vec<&str> = config
            .get("architectures")
            .and_then(|v| v.as_array())
            .map(|a| a.iter().filter_map(|x| x.as_str()).collect())
            .unwrap_or_default();
        for class in &classes {
            if let Some(&(a, _, _)) = FAMILIES.iter().find(|f| class.starts_with(f.2)) {
                return Ok(a);
            }
        }
        Err(match (model_type, classes.is_empty()) {
            (Some(t), _) => t.to_string(),
            (None, false) => classes.join(", "),
            (None, true) => "none (config.json has neither model_type nor architectures)".into(),
        })
    }

    pub fn tokenizer_format(self) -> TokenizerFormat {
        match self {
            Architecture::Marian => TokenizerFormat::MarianSpm,
            Architecture::Bart => TokenizerFormat::ByteLevelBpe,
            Architecture::Pegasus => TokenizerFormat::PegasusSpiece,
            Architecture::MBart => TokenizerFormat::MBart50Spm,
            Architecture::M2M100 => TokenizerFormat::SpmBpeVocab,
            Architecture::T5 => TokenizerFormat::T5Spiece,
        }
    }

    /// The special tokens the family's real tokenizers hold at fixed ids (for a synthetic
    /// `tokenizer.json` of `vocab` ids), and the id inputs start with, if any.
    pub fn fixed_tokens(self, vocab: usize) -> (Vec<(u32, String)>, Option<u32>) {
        let named = |list: &[(u32, &str)]| list.iter().map(|&(i, t)| (i, t.to_string())).collect();
        let last = vocab.saturating_sub(1) as u32;
        match self {
            Architecture::Bart => (
                named(&[
                    (0, "<s>"),
                    (1, "<pad>"),
                    (2, "</s>"),
                    (3, "<unk>"),
                    (last, "<mask>"),
                ]),
                Some(0),
            ),
            // fairseq's dictionary order; language tokens follow the pieces.
            Architecture::M2M100 => (
                named(&[(0, "<s>"), (1, "<pad>"), (2, "</s>"), (3, "<unk>")]),
                None,
            ),
            // PegasusTokenizer: pad, eos, two mask tokens, <unk_2>..<unk_102>, then the
            // SentencePiece pieces offset by 103 (its <unk> at 105).
            Architecture::Pegasus => {
                let mut t: Vec<(u32, String)> =
                    named(&[(0, "<pad>"), (1, "</s>"), (2, "<mask_1>"), (3, "<mask_2>")]);
                t.extend((2..103).map(|i| (i + 2, format!("<unk_{i}>"))));
                t.push((105, "<unk>".into()));
                (t, None)
            }
            Architecture::Marian | Architecture::MBart | Architecture::T5 => {
                (named(&[(0, "<pad>"), (1, "</s>"), (2, "<unk>")]), None)
            }
        }
    }

    /// Whether the family's checkpoints translate (else they summarize); picks bench workloads.
    pub fn translates(self) -> bool {
        matches!(
            self,
            Architecture::Marian | Architecture::MBart | Architecture::M2M100
        )
    }

    /// The BART-family member, for the families that are one.
    pub fn family(self) -> Option<Family> {
        Some(match self {
            Architecture::Marian => Family::Marian,
            Architecture::Bart => Family::Bart,
            Architecture::Pegasus => Family::Pegasus,
            Architecture::MBart => Family::MBart,
            Architecture::M2M100 => Family::M2M100,
            Architecture::T5 => return None,
        })
    }

    /// Reads `config.json` as this family's config.
    pub fn read_config(self, json: &str) -> serde_json::Result<ModelConfig> {
        match self.family() {
            Some(family) => family.read_config(json).map(ModelConfig::Bart),
            None => Ok(ModelConfig::T5(serde_json::from_str(json)?)),
        }
    }
}

/// A parsed `config.json` of one of the families.
#[derive(Debug, Clone)]
pub enum ModelConfig {
    /// Marian, BART and Pegasus: one parameterised block ([`Family`]).
    Bart(BartConfig),
    T5(T5Config),
}

impl ModelConfig {
    pub fn architecture(&self) -> Architecture {
        match self {
            ModelConfig::Bart(c) => match c.family {
                Family::Marian => Architecture::Marian,
                Family::Bart => Architecture::Bart,
                Family::Pegasus => Architecture::Pegasus,
                Family::MBart => Architecture::MBart,
                Family::M2M100 => Architecture::M2M100,
            },
            ModelConfig::T5(_) => Architecture::T5,
        }
    }

    /// Builds the model from the weights under `vb`.
    pub fn build(&self, vb: VarBuilder) -> Result<Arc<dyn Seq2Seq>> {
        Ok(match self {
            ModelConfig::Bart(c) => Arc::new(Bart::new(c, vb)?),
            ModelConfig::T5(c) => Arc::new(T5::new(c, vb)?),
        })
    }

    pub fn special_tokens(&self) -> SpecialTokens {
        match self {
            ModelConfig::Bart(c) => c.special_tokens(),
            ModelConfig::T5(c) => c.special_tokens(),
        }
    }

    /// Rows of the input embedding.
    pub fn vocab_size(&self) -> usize {
        match self {
            ModelConfig::Bart(c) => c.vocab_size,
            ModelConfig::T5(c) => c.vocab_size,
        }
    }

    /// Embedding rows that are zero in real checkpoints of this family (a synthetic copy zeroes
    /// them too): Marian's pad row, which the decoder starts from (CTranslate2 replaces it by a
    /// zero vector).
    pub fn zero_embedding_rows(&self) -> Vec<(&'static str, usize)> {
        match self {
            ModelConfig::Bart(c) if c.family == Family::Marian => {
                let pad = c.special_tokens().pad as usize;
                vec![
                    ("model.shared.weight", pad),
                    ("model.encoder.embed_tokens.weight", pad),
                    ("model.decoder.embed_tokens.weight", pad),
                ]
            }
            ModelConfig::Bart(_) | ModelConfig::T5(_) => Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn architecture_from_config() {
        let j = |s: &str| serde_json::from_str::<serde_json::Value>(s).unwrap();
        let a = Architecture::from_config_json;
        assert_eq!(
            a(&j(r#"{"model_type":"marian"}"#)),
            Ok(Architecture::Marian)
        );
        assert_eq!(a(&j(r#"{"model_type":"t5"}"#)), Ok(Architecture::T5));
        assert_eq!(
            a(&j(r#"{"architectures":["MarianMTModel"]}"#)),
            Ok(Architecture::Marian)
        );
        assert_eq!(
            a(&j(r#"{"architectures":["T5ForConditionalGeneration"]}"#)),
            Ok(Architecture::T5)
        );
        assert_eq!(a(&j(r#"{"model_type":"bart"}"#)), Ok(Architecture::Bart));
        assert_eq!(
            a(&j(
                r#"{"architectures":["PegasusForConditionalGeneration"]}"#
            )),
            Ok(Architecture::Pegasus)
        );
        assert_eq!(a(&j(r#"{"model_type":"mbart"}"#)), Ok(Architecture::MBart));
        assert_eq!(
            a(&j(r#"{"model_type":"m2m_100"}"#)),
            Ok(Architecture::M2M100)
        );
        assert_eq!(
            a(&j(
                r#"{"architectures":["M2M100ForConditionalGeneration"]}"#
            )),
            Ok(Architecture::M2M100)
        );
        assert_eq!(
            a(&j(r#"{"model_type":"nllb-moe"}"#)),
            Err("nllb-moe".into())
        );
        assert_eq!(
            a(&j(r#"{"architectures":["GPT2LMHeadModel"]}"#)),
            Err("GPT2LMHeadModel".into())
        );
        assert!(a(&j("{}")).unwrap_err().starts_with("none"));
    }
}
