//! Emulation of transformers 4.57's slow `T5Tokenizer` for checkpoints that
//! ship only `spiece.model`: legacy mode (the default) and, when
//! `tokenizer_config.json` says `"legacy": false`, the newer mode.
//!
//! Ids are the SentencePiece ids; `<extra_id_N>` sentinels sit at the top of
//! the vocabulary (`<extra_id_0>` is the last id) and eat surrounding
//! whitespace; `</s>` is appended unless the ids already end with it.

use std::path::Path;

use super::normalizer::SPACE_SYMBOL;
use super::special::{clean_up_tokenization, py_strip, Chunk, SpecialToken, SpecialTokens};
use super::spm::SpmProcessor;
use super::{config_flag, SpmModel, TokenizeError};

const UNK: &str = "<unk>";

#[derive(Debug, Clone)]
pub(crate) struct T5Slow {
    pub sp: SpmProcessor,
    pub specials: SpecialTokens,
    pub extra_ids: usize,
    pub eos_id: u32,
    pub unk_id: u32,
    pub pad_id: u32,
    pub clean_up_tokenization_spaces: bool,
    /// `legacy=False`: no dummy prefix in the model, `▁` prepended by hand.
    pub legacy: bool,
    pub add_prefix_space: bool,
    /// `len(sp_model.encode("<unk>"))`, used by the non-legacy `_tokenize`.
    unk_token_length: usize,
}

impl T5Slow {
    pub(crate) fn load(spiece_model: &Path, extra_ids: usize) -> Result<Self, TokenizeError> {
        let bad = |message: String| TokenizeError::SpmModel {
            origin: spiece_model.display().to_string(),
            message,
        };
        let legacy = config_flag(spiece_model, "legacy", true)?;
        let add_prefix_space = config_flag(spiece_model, "add_prefix_space", true)?;
        let mut model = SpmModel::from_file(spiece_model)?;
        if !legacy {
            // `get_spm_processor`: the model is loaded with add_dummy_prefix = False.
            model.normalizer.add_dummy_prefix = false;
        }
        let sp = SpmProcessor::new(model).map_err(bad)?;
        let unk_token_length = sp.encode(UNK).map_err(bad)?.len();
        let sp_len = u32::try_from(sp.len()).map_err(|_| bad("too many pieces".into()))?;
        let extra = u32::try_from(extra_ids).map_err(|_| bad("too many extra ids".into()))?;
        let top = sp_len
            .checked_add(extra)
            .ok_or_else(|| bad("vocabulary too large".into()))?;
        let mut tokens = Vec::with_capacity(extra_ids + 3);
        for i in 0..extra {
            tokens.push(SpecialToken {
                content: format!("<extra_id_{i}>"),
                id: top - 1 - i,
                lstrip: true,
                rstrip: true,
            });
        }
        // `_add_tokens([eos, unk, pad])`: existing pieces keep their id.
        let position = |content: &str| {
            let pieces = &sp.model().pieces;
            pieces
                .iter()
                .position(|p| p.piece == content)
                .map(|i| i as u32)
        };
        let (added, [eos_id, unk_id, pad_id]) = super::special::add_eos_unk_pad(position, top);
        tokens.extend(added);
        let clean_up_tokenization_spaces = super::config_clean_up(spiece_model)?;
        Ok(Self {
            sp,
            specials: SpecialTokens::new(tokens),
            extra_ids,
            eos_id,
            unk_id,
            pad_id,
            clean_up_tokenization_spaces,
            legacy,
            add_prefix_space,
            unk_token_length,
        })
    }

    fn token_to_id(&self, token: &str) -> u32 {
        match self.specials.by_content(token) {
            Some(t) => t.id,
            None => self.sp.piece_to_id(token),
        }
    }

    /// `T5Tokenizer.tokenize`.
    pub(crate) fn tokenize(&self, text: &str) -> Result<Vec<String>, String> {
        if self.legacy || text.is_empty() {
            return self.base_tokenize(text);
        }
        let mut text = text.replace(SPACE_SYMBOL, " ");
        if self.add_prefix_space {
            text.insert_str(0, SPACE_SYMBOL);
        }
        let mut tokens = self.base_tokenize(&text)?;
        if tokens.len() > 1 && tokens[0] == SPACE_SYMBOL && self.specials.is_special(&tokens[1]) {
            tokens.remove(0);
        }
        Ok(tokens)
    }

    /// `PreTrainedTokenizer.tokenize`: split on special tokens, `_tokenize` the rest.
    fn base_tokenize(&self, text: &str) -> Result<Vec<String>, String> {
        let mut out = Vec::new();
        for chunk in self.specials.split(text) {
            match chunk {
                Chunk::Special(i) => {
                    if let Some(t) = self.specials.get(i) {
                        out.push(t.content.clone());
                    }
                }
                Chunk::Text(t) => out.extend(self.sp_tokenize(&t)?),
            }
        }
        Ok(out)
    }

    /// `T5Tokenizer._tokenize`.
    fn sp_tokenize(&self, text: &str) -> Result<Vec<String>, String> {
        let pieces = |t: &str| -> Result<Vec<String>, String> {
            Ok(self.sp.encode(t)?.into_iter().map(|p| p.piece).collect())
        };
        if self.legacy || !(text.starts_with(SPACE_SYMBOL) || text.starts_with(' ')) {
            return pieces(text);
        }
        let mut tokens = pieces(&format!("{UNK}{text}"))?;
        if tokens.len() >= self.unk_token_length {
            tokens.drain(..self.unk_token_length);
        }
        Ok(tokens)
    }

    pub(crate) fn encode(&self, text: &str) -> Result<Vec<u32>, String> {
        let mut ids: Vec<u32> = self
            .tokenize(text)?
            .iter()
            .map(|t| self.token_to_id(t))
            .collect();
        // `_add_eos_if_not_present`
        if ids.last() != Some(&self.eos_id) {
            ids.push(self.eos_id);
        }
        Ok(ids)
    }

    fn sp_len(&self) -> u32 {
        self.sp.len() as u32
    }

    /// Sentinels with ids past the SentencePiece vocabulary are "legacy added
    /// tokens": decoded on their own and joined with spaces.
    fn is_legacy_added(&self, token: &str) -> bool {
        self.specials
            .by_content(token)
            .is_some_and(|t| t.content.starts_with("<extra_id_") && t.id >= self.sp_len())
    }

    pub(crate) fn decode(&self, ids: &[u32], skip_special_tokens: bool) -> Result<String, String> {
        let mut tokens: Vec<&str> = Vec::with_capacity(ids.len());
        for &id in ids {
            if skip_special_tokens && self.specials.contains_id(id) {
                continue;
            }
            let token = match self.specials.by_id(id) {
                Some(t) => t.content.as_str(),
                None => self.sp.id_to_piece(id).ok_or_else(|| {
                    format!(
                        "piece id {id} is out of range (vocabulary has {} pieces)",
                        self.sp.len()
                    )
                })?,
            };
            tokens.push(token);
        }
        let mut sub_texts: Vec<String> = Vec::new();
        let mut current: Vec<&str> = Vec::new();
        for token in tokens {
            if skip_special_tokens && self.specials.is_special(token) {
                continue;
            }
            if self.is_legacy_added(token) {
                if !current.is_empty() {
                    let s = self.convert_tokens_to_string(&current)?;
                    if !s.is_empty() {
                        sub_texts.push(s);
                    }
                    current.clear();
                }
                sub_texts.push(token.to_string());
            } else {
                current.push(token);
            }
        }
        if !current.is_empty() {
            sub_texts.push(self.convert_tokens_to_string(&current)?);
        }
        let text = sub_texts.join(" ");
        Ok(if self.clean_up_tokenization_spaces {
            clean_up_tokenization(&text)
        } else {
            text
        })
    }

    /// `T5Tokenizer.convert_tokens_to_string`.
    fn convert_tokens_to_string(&self, tokens: &[&str]) -> Result<String, String> {
        let mut tokens = tokens.to_vec();
        if let Some(first) = tokens.first_mut() {
            if let Some(rest) = first.strip_prefix(SPACE_SYMBOL) {
                if self.add_prefix_space {
                    *first = rest;
                }
            }
        }
        let mut out = String::new();
        let mut current: Vec<&str> = Vec::new();
        let mut prev_is_special = false;
        for token in tokens {
            if self.specials.is_special(token) {
                if !prev_is_special {
                    out.push(' ');
                }
                out.push_str(&self.sp.decode_pieces(&current)?);
                out.push_str(token);
                prev_is_special = true;
                current.clear();
            } else {
                current.push(token);
                prev_is_special = false;
            }
        }
        out.push_str(&self.sp.decode_pieces(&current)?);
        Ok(py_strip(&out).to_string())
    }

    /// `len(tokenizer)`: SentencePiece pieces plus the sentinels.
    pub(crate) fn vocab_size(&self) -> usize {
        self.sp.len() + self.extra_ids
    }
}
