//! Text side of the seq2seq models: source text -> ids, target ids -> text.
//!
//! Marian checkpoints (two SentencePiece models plus `vocab.json`) and T5
//! checkpoints that only ship `spiece.model` are handled by an exact
//! reimplementation of transformers 4.57's *slow* tokenizers
//! (`MarianTokenizer`, `T5Tokenizer`) on top of a SentencePiece 0.2.0
//! emulation ([`SpmProcessor`]). Checkpoints with a `tokenizer.json` use the
//! `tokenizers` crate directly, which is what transformers' fast tokenizers run.

mod bpe;
mod fairseq;
mod langs;
mod marian;
mod normalizer;
mod pegasus;
mod proto;
mod special;
mod spm;
mod spm_bpe;
mod t5;
mod trie;
mod vocab;

#[cfg(test)]
mod parity_tests;

use std::path::{Path, PathBuf};

use tokenizers::Tokenizer;

#[cfg(test)]
pub(crate) use proto::PieceType;
pub use proto::SpmModel;
pub use spm::SpmProcessor;

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
    Ok(tokenizer_config(file)?
        .and_then(|c| c.get(key).and_then(serde_json::Value::as_bool))
        .unwrap_or(default))
}

/// A string setting of the `tokenizer_config.json` next to `file`, if present.
pub(crate) fn config_string(file: &Path, key: &str) -> Result<Option<String>, TokenizeError> {
    Ok(tokenizer_config(file)?
        .and_then(|c| c.get(key).and_then(|v| v.as_str()).map(str::to_string)))
}

/// The `tokenizer_config.json` next to `file`; `None` when there is none.
pub(crate) fn tokenizer_config(file: &Path) -> Result<Option<serde_json::Value>, TokenizeError> {
    let path = file.with_file_name("tokenizer_config.json");
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(source) => return Err(TokenizeError::Io { path, source }),
    };
    serde_json::from_str(&text)
        .map(Some)
        .map_err(|e| TokenizeError::TokenizerFile {
            path,
            message: e.to_string(),
        })
}

/// `clean_up_tokenization_spaces` (transformers 4.57 default: false).
pub(crate) fn config_clean_up(file: &Path) -> Result<bool, TokenizeError> {
    config_flag(file, "clean_up_tokenization_spaces", false)
}

#[derive(Debug, Clone)]
enum Backend {
    Marian(Box<marian::Marian>),
    T5(Box<t5::T5Slow>),
    Pegasus(Box<pegasus::PegasusSlow>),
    /// M2M100's and mBART-50's slow tokenizers.
    Fairseq(Box<fairseq::FairseqSlow>),
    /// A `tokenizer.json`, used for both source and target.
    Json {
        eos: u32,
        pad: u32,
        unk: u32,
        clean_up_tokenization_spaces: bool,
        tokenizer: Box<Tokenizer>,
        /// Source-language tokens, for multilingual checkpoints that take one (mBART-50, NLLB).
        langs: Option<langs::LangTokens>,
    },
}

/// The text side of a seq2seq model: encode source text to ids (with `</s>`
/// appended), decode target ids.
#[derive(Debug, Clone)]
pub struct Seq2SeqTokenizer {
    backend: Backend,
    /// Text put before every input (`>>eng<< ` for multi-target OPUS-MT models).
    input_prefix: Option<String>,
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
        Ok(Self::new(Backend::Marian(Box::new(m))))
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
        let tokenizer = Tokenizer::from_file(path).map_err(|e| bad(e.to_string()))?;
        Self::from_tokenizer(tokenizer, path)
    }

    /// BART's byte-level BPE tokenizer from `vocab.json` and `merges.txt` (checkpoints without
    /// a `tokenizer.json`), as transformers converts the slow `BartTokenizer`; a
    /// `tokenizer_config.json` next to them is honoured for `clean_up_tokenization_spaces`.
    pub fn byte_level_bpe(vocab_json: &Path, merges_txt: &Path) -> Result<Self, TokenizeError> {
        Self::from_tokenizer(bpe::byte_level(vocab_json, merges_txt)?, vocab_json)
    }

    /// Wraps a fast tokenizer read from `path` (whose directory may hold a
    /// `tokenizer_config.json`).
    fn from_tokenizer(mut tokenizer: Tokenizer, path: &Path) -> Result<Self, TokenizeError> {
        let bad = |message: String| TokenizeError::TokenizerFile {
            path: path.to_path_buf(),
            message,
        };
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
        let class = config_string(path, "tokenizer_class")?;
        let backend = Backend::Json {
            eos: id("</s>")?,
            pad: id("<pad>")?,
            unk: id("<unk>")?,
            clean_up_tokenization_spaces: config_clean_up(path)?,
            langs: langs::LangTokens::detect(
                &tokenizer,
                class.as_deref(),
                config_flag(path, "legacy_behaviour", false)?,
            ),
            tokenizer: Box::new(tokenizer),
        };
        Ok(Self::new(backend))
    }

    /// A T5 tokenizer from `spiece.model` alone, reproducing transformers'
    /// slow `T5Tokenizer`: `</s>` appended, `extra_ids` `<extra_id_N>`
    /// sentinels at the top of the vocabulary. A `tokenizer_config.json` next
    /// to the model is honoured for `legacy` (default true),
    /// `add_prefix_space` and `clean_up_tokenization_spaces`.
    pub fn t5_from_spiece(spiece_model: &Path, extra_ids: usize) -> Result<Self, TokenizeError> {
        let t5 = t5::T5Slow::load(spiece_model, extra_ids)?;
        Ok(Self::new(Backend::T5(Box::new(t5))))
    }

    /// A Pegasus tokenizer from `spiece.model` alone, reproducing transformers' slow
    /// `PegasusTokenizer` (ids offset by `offset`, 103, special tokens; `</s>` appended). A
    /// `tokenizer_config.json` next to it is honoured for `offset`, `mask_token_sent`,
    /// `mask_token` and `clean_up_tokenization_spaces`.
    pub fn pegasus_from_spiece(spiece_model: &Path) -> Result<Self, TokenizeError> {
        Ok(Self::new(Backend::Pegasus(Box::new(
            pegasus::PegasusSlow::load(spiece_model)?,
        ))))
    }

    fn new(backend: Backend) -> Self {
        Self {
            backend,
            input_prefix: None,
        }
    }

    /// Puts `prefix` before every input text: a multi-target OPUS-MT model's `>>eng<<`.
    pub fn with_input_prefix(mut self, prefix: &str) -> Self {
        self.input_prefix = Some(format!("{prefix} "));
        self
    }

    fn prefixed<'a>(&self, text: &'a str) -> std::borrow::Cow<'a, str> {
        match &self.input_prefix {
            Some(p) => format!("{p}{text}").into(),
            None => text.into(),
        }
    }

    /// An M2M100 tokenizer from `sentencepiece.bpe.model` and `vocab.json`, reproducing
    /// transformers' slow `M2M100Tokenizer` (language tokens `__xx__` after the vocabulary).
    pub fn m2m100(spm_model: &Path, vocab_json: &Path) -> Result<Self, TokenizeError> {
        Ok(Self::new(Backend::Fairseq(Box::new(
            fairseq::FairseqSlow::m2m100(spm_model, vocab_json)?,
        ))))
    }

    /// mBART-50's tokenizer from `sentencepiece.bpe.model` alone (checkpoints without a
    /// `tokenizer.json`), reproducing transformers' slow `MBart50Tokenizer`. A
    /// `tokenizer_config.json` naming another class (mBART-25's `MBartTokenizer`) is refused.
    pub fn mbart50_from_spm(spm_model: &Path) -> Result<Self, TokenizeError> {
        if let Some(class) = config_string(spm_model, "tokenizer_class")? {
            if !class.starts_with("MBart50") {
                return Err(TokenizeError::TokenizerFile {
                    path: spm_model.to_path_buf(),
                    message: format!(
                        "only MBart50Tokenizer reads sentencepiece.bpe.model alone; {class} needs \
                         a tokenizer.json"
                    ),
                });
            }
        }
        Ok(Self::new(Backend::Fairseq(Box::new(
            fairseq::FairseqSlow::mbart50(spm_model)?,
        ))))
    }

    fn name(&self) -> &'static str {
        match self.backend {
            Backend::Marian(_) => "Marian",
            Backend::T5(_) => "T5",
            Backend::Pegasus(_) => "Pegasus",
            Backend::Fairseq(_) => "fairseq SentencePiece",
            Backend::Json { .. } => "tokenizer.json",
        }
    }

    /// Source text -> input ids, `</s>` appended.
    pub fn encode(&self, text: &str) -> Result<Vec<u32>, TokenizeError> {
        self.encode_plain(&self.prefixed(text))
    }

    /// [`Self::encode`] without the input prefix.
    fn encode_plain(&self, text: &str) -> Result<Vec<u32>, TokenizeError> {
        let err = |message: String| TokenizeError::Encode {
            tokenizer: self.name().to_string(),
            message,
        };
        match &self.backend {
            Backend::Marian(m) => m.encode(text).map_err(err),
            Backend::T5(t) => t.encode(text).map_err(err),
            Backend::Pegasus(t) => t.encode(text).map_err(err),
            Backend::Fairseq(t) => t.encode(text, None).map_err(err),
            Backend::Json { tokenizer, .. } => tokenizer
                .encode(text, true)
                .map(|e| e.get_ids().to_vec())
                .map_err(|e| err(e.to_string())),
        }
    }

    /// Target-side ids of a phrase as it would appear inside an output (no eos, no input
    /// prefix, no language token): what a decoding constraint forces.
    pub fn encode_target_phrase(&self, text: &str) -> Result<Vec<u32>, TokenizeError> {
        let err = |message: String| TokenizeError::Encode {
            tokenizer: self.name().to_string(),
            message,
        };
        let mut ids = match &self.backend {
            Backend::Marian(m) => return m.encode_target(text).map_err(err),
            Backend::Fairseq(t) => return t.encode_body(text).map_err(err),
            Backend::Json { tokenizer, .. } => tokenizer
                .encode(text, false)
                .map(|e| e.get_ids().to_vec())
                .map_err(|e| err(e.to_string()))?,
            _ => self.encode_plain(text)?,
        };
        if ids.last() == Some(&self.eos_id()) {
            ids.pop();
        }
        Ok(ids)
    }

    fn lang_tokens(&self) -> Option<&langs::LangTokens> {
        match &self.backend {
            Backend::Json { langs, .. } => langs.as_ref(),
            Backend::Fairseq(t) => Some(&t.langs),
            _ => None,
        }
    }

    /// The language token of `lang` (`en` -> `__en__`, `eng_Latn`, `en_XX`) for checkpoints
    /// whose inputs start with their language, so that outputs start with theirs: the token
    /// to force first when translating into `lang`.
    pub fn target_language_token(&self, lang: &str) -> Option<u32> {
        self.lang_tokens()
            .filter(|l| l.placement == langs::Placement::Prefix)
            .and_then(|l| l.id(lang))
    }

    /// Whether inputs carry a source-language token (mBART-50's `nl_XX`), so that
    /// [`Self::encode_in`] needs the language.
    pub fn takes_language_token(&self) -> bool {
        self.lang_tokens().is_some()
    }

    /// Source text -> input ids, with the source-language token for `lang` (a code like `nl`
    /// or the token itself, `nl_XX`) where the model takes one; [`Self::encode`] otherwise or
    /// when `lang` is `None`.
    pub fn encode_in(&self, text: &str, lang: Option<&str>) -> Result<Vec<u32>, TokenizeError> {
        let text = &*self.prefixed(text);
        if let Backend::Fairseq(t) = &self.backend {
            return t
                .encode(text, lang)
                .map_err(|message| TokenizeError::Encode {
                    tokenizer: self.name().to_string(),
                    message,
                });
        }
        let (
            Backend::Json {
                tokenizer,
                eos,
                langs: Some(langs),
                ..
            },
            Some(lang),
        ) = (&self.backend, lang)
        else {
            return self.encode_plain(text);
        };
        let err = |message: String| TokenizeError::Encode {
            tokenizer: self.name().to_string(),
            message,
        };
        let body = tokenizer
            .encode(text, false)
            .map_err(|e| err(e.to_string()))?
            .get_ids()
            .to_vec();
        langs.frame(lang, body, *eos).map_err(err)
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
            Backend::Pegasus(t) => t.decode(ids, skip_special_tokens).map_err(err),
            Backend::Fairseq(t) => t.decode(ids, skip_special_tokens).map_err(err),
            Backend::Json {
                clean_up_tokenization_spaces,
                tokenizer,
                ..
            } => {
                let text = tokenizer
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
            Backend::Pegasus(t) => t.eos_id,
            Backend::Fairseq(t) => t.eos_id,
            Backend::Json { eos, .. } => *eos,
        }
    }

    pub fn pad_id(&self) -> u32 {
        match &self.backend {
            Backend::Marian(m) => m.pad_id,
            Backend::T5(t) => t.pad_id,
            Backend::Pegasus(t) => t.pad_id,
            Backend::Fairseq(t) => t.pad_id,
            Backend::Json { pad, .. } => *pad,
        }
    }

    pub fn unk_id(&self) -> u32 {
        match &self.backend {
            Backend::Marian(m) => m.unk_id,
            Backend::T5(t) => t.unk_id,
            Backend::Pegasus(t) => t.unk_id,
            Backend::Fairseq(t) => t.unk_id,
            Backend::Json { unk, .. } => *unk,
        }
    }

    /// Number of source-side tokens (`len(vocab.json)` for Marian, pieces plus
    /// sentinels for T5, the vocabulary with added tokens for `tokenizer.json`).
    pub fn source_vocab_size(&self) -> usize {
        match &self.backend {
            Backend::Marian(m) => m.source_vocab_size(),
            Backend::T5(t) => t.vocab_size(),
            Backend::Pegasus(t) => t.vocab_size(),
            Backend::Fairseq(t) => t.vocab_size(),
            Backend::Json { tokenizer, .. } => tokenizer.get_vocab_size(true),
        }
    }

    pub fn target_vocab_size(&self) -> usize {
        match &self.backend {
            Backend::Marian(m) => m.target_vocab_size(),
            Backend::T5(t) => t.vocab_size(),
            Backend::Pegasus(t) => t.vocab_size(),
            Backend::Fairseq(t) => t.vocab_size(),
            Backend::Json { tokenizer, .. } => tokenizer.get_vocab_size(true),
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
            Backend::Pegasus(t) => t.tokenize(text).map_err(err),
            Backend::Fairseq(t) => t.tokenize(text).map_err(err),
            Backend::Json { tokenizer, .. } => tokenizer
                .encode(text, true)
                .map(|e| e.get_tokens().to_vec())
                .map_err(|e| err(e.to_string())),
        }
    }
}
