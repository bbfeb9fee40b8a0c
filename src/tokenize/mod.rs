//! Text side of the seq2seq models: source text -> ids, target ids -> text.
//!
//! Marian checkpoints (two SentencePiece models plus `vocab.json`) and T5
//! checkpoints that only ship `spiece.model` are handled by an exact
//! reimplementation of transformers 4.57's *slow* tokenizers
//! (`MarianTokenizer`, `T5Tokenizer`) on top of a SentencePiece 0.2.0
//! emulation ([`SpmProcessor`]). Checkpoints with a `tokenizer.json` use the
//! `tokenizers` crate directly, which is what transformers' fast tokenizers run.

mod hf;
mod marian;
mod normalizer;
mod proto;
mod special;
mod spm;
mod t5;
mod trie;
mod vocab;

#[cfg(test)]
mod parity_tests;

use std::path::{Path, PathBuf};

use tokenizers::Tokenizer;

pub use normalizer::SPACE_SYMBOL;
pub use proto::{NormalizerSpec, PieceType, SpmModel, SpmPiece, TrainerSpec};
pub use spm::{EncodedPiece, SpmProcessor};

/// Errors from loading or running a tokenizer.
#[derive(Debug, thiserror::Error)]
pub enum TokenizeError {
    #[error("cannot read {}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("invalid SentencePiece model {origin}: {message}")]
    SpmModel { origin: String, message: String },
    #[error("invalid vocabulary {}: {message}", path.display())]
    Vocab { path: PathBuf, message: String },
    #[error("invalid tokenizer file {}: {message}", path.display())]
    TokenizerFile { path: PathBuf, message: String },
    #[error("cannot encode text with the {tokenizer} tokenizer: {message}")]
    Encode { tokenizer: String, message: String },
    #[error("cannot decode ids with the {tokenizer} tokenizer: {message}")]
    Decode { tokenizer: String, message: String },
}

/// `extra_ids` of a T5 checkpoint's `tokenizer_config.json` in `dir` (T5Tokenizer's default: 100).
pub fn t5_extra_ids(dir: &Path) -> usize {
    std::fs::read_to_string(dir.join("tokenizer_config.json"))
        .ok()
        .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
        .and_then(|c| c.get("extra_ids").and_then(serde_json::Value::as_u64))
        .map_or(100, |n| n as usize)
}

/// Loads and compiles a SentencePiece model file.
pub(crate) fn load_spm(path: &Path) -> Result<SpmProcessor, TokenizeError> {
    let model = SpmModel::from_file(path)?;
    SpmProcessor::new(model).map_err(|message| TokenizeError::SpmModel {
        origin: path.display().to_string(),
        message,
    })
}

/// A boolean setting of the `tokenizer_config.json` next to `file`, as
/// `from_pretrained` would read it; `default` when the file or key is absent.
pub(crate) fn config_flag(file: &Path, key: &str, default: bool) -> Result<bool, TokenizeError> {
    let Some(dir) = file.parent() else {
        return Ok(default);
    };
    let path = dir.join("tokenizer_config.json");
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(default),
        Err(source) => return Err(TokenizeError::Io { path, source }),
    };
    let json: serde_json::Value =
        serde_json::from_str(&text).map_err(|e| TokenizeError::TokenizerFile {
            path: path.clone(),
            message: e.to_string(),
        })?;
    Ok(json
        .get(key)
        .and_then(serde_json::Value::as_bool)
        .unwrap_or(default))
}

/// `clean_up_tokenization_spaces` (transformers 4.57 default: false).
pub(crate) fn config_clean_up(file: &Path) -> Result<bool, TokenizeError> {
    config_flag(file, "clean_up_tokenization_spaces", false)
}

#[derive(Debug, Clone)]
enum Backend {
    Marian(Box<marian::Marian>),
    T5(Box<t5::T5Slow>),
    Json {
        eos: u32,
        pad: u32,
        unk: u32,
        clean_up_tokenization_spaces: bool,
    },
}

/// The text side of a seq2seq model: encode source text to ids (with `</s>`
/// appended), decode target ids.
#[derive(Debug, Clone)]
pub struct Seq2SeqTokenizer {
    backend: Backend,
    source: Tokenizer,
    target: Tokenizer,
}

impl Seq2SeqTokenizer {
    /// A Marian (OPUS-MT) tokenizer: `source.spm`, `target.spm`, `vocab.json`
    /// and, for checkpoints with separate vocabularies (`"separate_vocabs":
    /// true` in `tokenizer_config.json`), `target_vocab.json`. A
    /// `tokenizer_config.json` next to `vocab.json` is honoured for
    /// `clean_up_tokenization_spaces`.
    pub fn marian(
        source_spm: &Path,
        target_spm: &Path,
        vocab_json: &Path,
        target_vocab_json: Option<&Path>,
    ) -> Result<Self, TokenizeError> {
        let m = marian::Marian::load(source_spm, target_spm, vocab_json, target_vocab_json)?;
        let specials: Vec<(String, u32)> =
            [("</s>", m.eos_id), ("<unk>", m.unk_id), ("<pad>", m.pad_id)]
                .iter()
                .map(|&(s, id)| (s.to_string(), id))
                .collect();
        let source_entries = hf::json_vocab_entries(&m.encoder, &m.source).map_err(|message| {
            TokenizeError::Vocab {
                path: vocab_json.to_path_buf(),
                message,
            }
        })?;
        let source = hf::spm_tokenizer(
            &m.source,
            source_entries,
            m.unk_id,
            &specials,
            Some(("</s>", m.eos_id)),
        )
        .map_err(|message| TokenizeError::TokenizerFile {
            path: source_spm.to_path_buf(),
            message,
        })?;
        let target_vocab = m.target_vocab.as_ref().unwrap_or(&m.encoder);
        let target_vocab_path = target_vocab_json.unwrap_or(vocab_json);
        let tid = |s: &str, fallback: u32| target_vocab.encoder.get(s).copied().unwrap_or(fallback);
        let target_specials: Vec<(String, u32)> =
            [("</s>", m.eos_id), ("<unk>", m.unk_id), ("<pad>", m.pad_id)]
                .iter()
                .map(|&(s, id)| (s.to_string(), tid(s, id)))
                .collect();
        let target_entries =
            hf::json_vocab_entries(target_vocab, &m.target).map_err(|message| {
                TokenizeError::Vocab {
                    path: target_vocab_path.to_path_buf(),
                    message,
                }
            })?;
        let target_eos = tid("</s>", m.eos_id);
        let target = hf::spm_tokenizer(
            &m.target,
            target_entries,
            tid("<unk>", m.unk_id),
            &target_specials,
            Some(("</s>", target_eos)),
        )
        .map_err(|message| TokenizeError::TokenizerFile {
            path: target_spm.to_path_buf(),
            message,
        })?;
        Ok(Self {
            backend: Backend::Marian(Box::new(m)),
            source,
            target,
        })
    }

    /// A tokenizer from a `tokenizer.json` (e.g. T5's, whose post-processor
    /// appends `</s>`), used for both source and target.
    pub fn from_tokenizer_json(path: &Path) -> Result<Self, TokenizeError> {
        let bad = |message: String| TokenizeError::TokenizerFile {
            path: path.to_path_buf(),
            message,
        };
        if !path.is_file() {
            return Err(TokenizeError::Io {
                path: path.to_path_buf(),
                source: std::io::Error::new(std::io::ErrorKind::NotFound, "no such file"),
            });
        }
        let mut tokenizer = Tokenizer::from_file(path).map_err(|e| bad(e.to_string()))?;
        // transformers disables truncation and padding unless asked for them.
        tokenizer
            .with_truncation(None)
            .map_err(|e| bad(e.to_string()))?;
        tokenizer.with_padding(None);
        let id = |token: &str| {
            tokenizer
                .token_to_id(token)
                .ok_or_else(|| bad(format!("{token} is not in the vocabulary")))
        };
        let backend = Backend::Json {
            eos: id("</s>")?,
            pad: id("<pad>")?,
            unk: id("<unk>")?,
            clean_up_tokenization_spaces: config_clean_up(path)?,
        };
        Ok(Self {
            backend,
            source: tokenizer.clone(),
            target: tokenizer,
        })
    }

    /// A T5 tokenizer from `spiece.model` alone, reproducing transformers'
    /// slow `T5Tokenizer`: `</s>` appended, `extra_ids` `<extra_id_N>`
    /// sentinels at the top of the vocabulary. A `tokenizer_config.json` next
    /// to the model is honoured for `legacy` (default true),
    /// `add_prefix_space` and `clean_up_tokenization_spaces`.
    pub fn t5_from_spiece(spiece_model: &Path, extra_ids: usize) -> Result<Self, TokenizeError> {
        let t5 = t5::T5Slow::load(spiece_model, extra_ids)?;
        let mut specials: Vec<(String, u32)> = Vec::new();
        for (i, p) in t5.sp.model().pieces.iter().enumerate() {
            if matches!(p.kind, PieceType::Control | PieceType::UserDefined) {
                specials.push((p.piece.clone(), i as u32));
            }
        }
        for i in 0..extra_ids {
            let id = (t5.sp.len() + extra_ids - 1 - i) as u32;
            specials.push((format!("<extra_id_{i}>"), id));
        }
        for (s, id) in [
            ("</s>", t5.eos_id),
            ("<unk>", t5.unk_id),
            ("<pad>", t5.pad_id),
        ] {
            if !specials.iter().any(|(c, _)| c == s) {
                specials.push((s.to_string(), id));
            }
        }
        let entries = hf::spm_vocab_entries(&t5.sp, extra_ids);
        let tokenizer = hf::spm_tokenizer(
            &t5.sp,
            entries,
            t5.sp.unk_id(),
            &specials,
            Some(("</s>", t5.eos_id)),
        )
        .map_err(|message| TokenizeError::SpmModel {
            origin: spiece_model.display().to_string(),
            message,
        })?;
        Ok(Self {
            backend: Backend::T5(Box::new(t5)),
            source: tokenizer.clone(),
            target: tokenizer,
        })
    }

    fn name(&self) -> &'static str {
        match self.backend {
            Backend::Marian(_) => "Marian",
            Backend::T5(_) => "T5",
            Backend::Json { .. } => "tokenizer.json",
        }
    }

    /// Source text -> input ids, `</s>` appended.
    pub fn encode(&self, text: &str) -> Result<Vec<u32>, TokenizeError> {
        let err = |message: String| TokenizeError::Encode {
            tokenizer: self.name().to_string(),
            message,
        };
        match &self.backend {
            Backend::Marian(m) => m.encode(text).map_err(err),
            Backend::T5(t) => t.encode(text).map_err(err),
            Backend::Json { .. } => self
                .source
                .encode(text, true)
                .map(|e| e.get_ids().to_vec())
                .map_err(|e| err(e.to_string())),
        }
    }

    pub fn encode_batch(&self, texts: &[&str]) -> Result<Vec<Vec<u32>>, TokenizeError> {
        texts.iter().map(|t| self.encode(t)).collect()
    }

    /// Target ids -> text, like transformers' `tokenizer.decode(ids, skip_special_tokens=...)`.
    pub fn decode(&self, ids: &[u32], skip_special_tokens: bool) -> Result<String, TokenizeError> {
        let err = |message: String| TokenizeError::Decode {
            tokenizer: self.name().to_string(),
            message,
        };
        match &self.backend {
            Backend::Marian(m) => m.decode(ids, skip_special_tokens).map_err(err),
            Backend::T5(t) => t.decode(ids, skip_special_tokens).map_err(err),
            Backend::Json {
                clean_up_tokenization_spaces,
                ..
            } => {
                let text = self
                    .target
                    .decode(ids, skip_special_tokens)
                    .map_err(|e| err(e.to_string()))?;
                Ok(if *clean_up_tokenization_spaces {
                    special::clean_up_tokenization(&text)
                } else {
                    text
                })
            }
        }
    }

    pub fn eos_id(&self) -> u32 {
        match &self.backend {
            Backend::Marian(m) => m.eos_id,
            Backend::T5(t) => t.eos_id,
            Backend::Json { eos, .. } => *eos,
        }
    }

    pub fn pad_id(&self) -> u32 {
        match &self.backend {
            Backend::Marian(m) => m.pad_id,
            Backend::T5(t) => t.pad_id,
            Backend::Json { pad, .. } => *pad,
        }
    }

    pub fn unk_id(&self) -> u32 {
        match &self.backend {
            Backend::Marian(m) => m.unk_id,
            Backend::T5(t) => t.unk_id,
            Backend::Json { unk, .. } => *unk,
        }
    }

    /// Number of source-side tokens (`len(vocab.json)` for Marian, pieces plus
    /// sentinels for T5, the vocabulary with added tokens for `tokenizer.json`).
    pub fn source_vocab_size(&self) -> usize {
        match &self.backend {
            Backend::Marian(m) => m.source_vocab_size(),
            Backend::T5(t) => t.vocab_size(),
            Backend::Json { .. } => self.source.get_vocab_size(true),
        }
    }

    pub fn target_vocab_size(&self) -> usize {
        match &self.backend {
            Backend::Marian(m) => m.target_vocab_size(),
            Backend::T5(t) => t.vocab_size(),
            Backend::Json { .. } => self.target.get_vocab_size(true),
        }
    }

    /// The source-side token strings of `text` (no `</s>`), as the slow
    /// tokenizer's `tokenize` returns them; for `tokenizer.json`, the tokens
    /// of the encoding (with `</s>`).
    pub fn tokenize(&self, text: &str) -> Result<Vec<String>, TokenizeError> {
        let err = |message: String| TokenizeError::Encode {
            tokenizer: self.name().to_string(),
            message,
        };
        match &self.backend {
            Backend::Marian(m) => m.tokenize(text).map_err(err),
            Backend::T5(t) => t.tokenize(text).map_err(err),
            Backend::Json { .. } => self
                .source
                .encode(text, true)
                .map(|e| e.get_tokens().to_vec())
                .map_err(|e| err(e.to_string())),
        }
    }

    /// A `tokenizers` tokenizer for the source side. For `tokenizer.json` it
    /// is the file's tokenizer; for SentencePiece checkpoints it is the
    /// converted fast equivalent (see the `hf` module notes), not the exact
    /// path [`Self::encode`] takes.
    pub fn source(&self) -> &Tokenizer {
        &self.source
    }

    /// A `tokenizers` tokenizer for the target side (see [`Self::source`]).
    pub fn target(&self) -> &Tokenizer {
        &self.target
    }
}
