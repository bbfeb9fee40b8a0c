//! Emulation of transformers 4.57's slow `PegasusTokenizer` for checkpoints that ship only
//! `spiece.model` (google/pegasus-cnn_dailymail, for one).
//!
//! The first `offset` (103) ids are special: `<pad>` 0, `</s>` 1, `<mask_1>` 2, `<mask_2>` 3,
//! then `<unk_2>` … `<unk_102>`; SentencePiece piece `k` has id `k + offset` (so `<unk>` is
//! 105). Special tokens are split out of the text as they are; `</s>` is always appended.

use std::path::Path;

use super::special::{clean_up_tokenization, py_strip, Chunk, SpecialToken, SpecialTokens};
use super::spm::SpmProcessor;
use super::TokenizeError;

#[derive(Debug, Clone)]
pub(crate) struct PegasusSlow {
    sp: SpmProcessor,
    specials: SpecialTokens,
    offset: u32,
    pub eos_id: u32,
    pub pad_id: u32,
    pub unk_id: u32,
    clean_up_tokenization_spaces: bool,
}

/// `tokenizer_config.json` values the tokenizer reads (transformers' defaults when absent).
struct Settings {
    offset: u32,
    mask_token_sent: Option<String>,
    mask_token: String,
}

fn settings(spiece_model: &Path) -> Result<Settings, TokenizeError> {
    let json = super::tokenizer_config(spiece_model)?.unwrap_or_default();
    let text = |key: &str| json.get(key).and_then(serde_json::Value::as_str);
    Ok(Settings {
        offset: json
            .get("offset")
            .and_then(serde_json::Value::as_u64)
            .map_or(103, |o| o.min(u32::MAX as u64) as u32),
        // `null` in the file turns the sentence mask off; absent means the default.
        mask_token_sent: match json.get("mask_token_sent") {
            Some(serde_json::Value::Null) => None,
            _ => Some(text("mask_token_sent").unwrap_or("<mask_1>").to_string()),
        },
        mask_token: text("mask_token").unwrap_or("<mask_2>").to_string(),
    })
}

impl PegasusSlow {
    pub(crate) fn load(spiece_model: &Path) -> Result<Self, TokenizeError> {
        let s = settings(spiece_model)?;
        let sp = super::load_spm(spiece_model)?;
        // `_added_tokens_decoder`, in PegasusTokenizer's order.
        let mut contents = vec!["<pad>".to_string(), "</s>".to_string()];
        if let Some(sent) = &s.mask_token_sent {
            contents.push(sent.clone());
            contents.push(s.mask_token.clone());
        }
        contents.extend((2..s.offset).map(|i| format!("<unk_{i}>")));
        let mut tokens: Vec<SpecialToken> = contents
            .into_iter()
            .enumerate()
            .map(|(id, content)| SpecialToken {
                content,
                id: id as u32,
                lstrip: false,
                rstrip: false,
            })
            .collect();
        // `<unk>` is the piece's own id, offset, and a special token too.
        let unk_id = sp.piece_to_id("<unk>").saturating_add(s.offset);
        tokens.push(SpecialToken {
            content: "<unk>".into(),
            id: unk_id,
            lstrip: false,
            rstrip: false,
        });
        Ok(Self {
            sp,
            specials: SpecialTokens::new(tokens),
            offset: s.offset,
            eos_id: 1,
            pad_id: 0,
            unk_id,
            clean_up_tokenization_spaces: super::config_clean_up(spiece_model)?,
        })
    }

    /// `PegasusTokenizer.tokenize`: split on special tokens, SentencePiece on the rest.
    pub(crate) fn tokenize(&self, text: &str) -> Result<Vec<String>, String> {
        Ok(self.pieces(text)?.into_iter().map(|(p, _)| p).collect())
    }

    fn pieces(&self, text: &str) -> Result<Vec<(String, u32)>, String> {
        let mut out = Vec::new();
        for chunk in self.specials.split(text) {
            match chunk {
                Chunk::Special(i) => {
                    if let Some(t) = self.specials.get(i) {
                        out.push((t.content.clone(), t.id));
                    }
                }
                Chunk::Text(t) => out.extend(
                    self.sp
                        .encode(&t)?
                        .into_iter()
                        .map(|p| (p.piece, p.id.saturating_add(self.offset))),
                ),
            }
        }
        Ok(out)
    }

    /// Input ids with `</s>` appended (`build_inputs_with_special_tokens`).
    pub(crate) fn encode(&self, text: &str) -> Result<Vec<u32>, String> {
        let mut ids: Vec<u32> = self.pieces(text)?.into_iter().map(|(_, id)| id).collect();
        ids.push(self.eos_id);
        Ok(ids)
    }

    pub(crate) fn decode(&self, ids: &[u32], skip_special_tokens: bool) -> Result<String, String> {
        let mut tokens: Vec<&str> = Vec::with_capacity(ids.len());
        for &id in ids {
            let token = match self.specials.by_id(id) {
                Some(_) if skip_special_tokens => continue,
                Some(t) => t.content.as_str(),
                None => id
                    .checked_sub(self.offset)
                    .and_then(|k| self.sp.id_to_piece(k))
                    .ok_or_else(|| {
                        format!(
                            "id {id} is out of range (vocabulary has {})",
                            self.vocab_size()
                        )
                    })?,
            };
            tokens.push(token);
        }
        // `convert_tokens_to_string`: special tokens verbatim, SentencePiece between them.
        let mut out = String::new();
        let mut current: Vec<&str> = Vec::new();
        for token in tokens {
            if self.specials.is_special(token) {
                out.push_str(&self.sp.decode_pieces(&current)?);
                out.push_str(token);
                current.clear();
            } else {
                current.push(token);
            }
        }
        out.push_str(&self.sp.decode_pieces(&current)?);
        let text = py_strip(&out);
        Ok(if self.clean_up_tokenization_spaces {
            clean_up_tokenization(text)
        } else {
            text.to_string()
        })
    }

    /// `len(tokenizer)`: the pieces plus the offset.
    pub(crate) fn vocab_size(&self) -> usize {
        self.sp.len() + self.offset as usize
    }
}
