//! Emulation of transformers 4.57's slow `MarianTokenizer`.
//!
//! Encoding: split on `</s>`, `<unk>`, `<pad>`; strip a leading `>>xx<<`
//! language code; run the source SentencePiece model; map every piece string
//! through `vocab.json` (missing pieces -> `<unk>`); append `</s>`.
//! Decoding: ids -> pieces through the target vocabulary, pieces -> text with
//! the target SentencePiece model, `▁` -> space, strip.

use std::path::Path;

use super::special::{clean_up_tokenization, py_strip, Chunk, SpecialTokens};
use super::spm::SpmProcessor;
use super::vocab::JsonVocab;
use super::{load_spm, TokenizeError};

const UNK: &str = "<unk>";
const PAD: &str = "<pad>";

#[derive(Debug, Clone)]
pub(crate) struct Marian {
    pub source: SpmProcessor,
    pub target: SpmProcessor,
    /// Source vocabulary (`vocab.json`): token -> id for encoding.
    pub encoder: JsonVocab,
    /// Target vocabulary when the vocabularies are separate.
    pub target_vocab: Option<JsonVocab>,
    /// `</s>`, `<unk>`, `<pad>` with their (source-side) ids.
    pub specials: SpecialTokens,
    pub eos_id: u32,
    pub unk_id: u32,
    pub pad_id: u32,
    pub clean_up_tokenization_spaces: bool,
}

impl Marian {
    pub(crate) fn load(
        source_spm: &Path,
        target_spm: &Path,
        vocab_json: &Path,
        target_vocab_json: Option<&Path>,
    ) -> Result<Self, TokenizeError> {
        let source = load_spm(source_spm)?;
        let target = load_spm(target_spm)?;
        let encoder = JsonVocab::from_file(vocab_json)?;
        let target_vocab = target_vocab_json.map(JsonVocab::from_file).transpose()?;
        for required in [UNK, PAD] {
            if !encoder.encoder.contains_key(required) {
                return Err(TokenizeError::Vocab {
                    path: vocab_json.to_path_buf(),
                    message: format!("{required} is not in the vocabulary"),
                });
            }
        }
        // `_add_tokens(all_special_tokens)`: tokens already in the vocabulary
        // keep their id, others are appended after it.
        let first_free = u32::try_from(encoder.len()).unwrap_or(u32::MAX);
        let (tokens, [eos_id, unk_id, pad_id]) =
            super::special::add_eos_unk_pad(|c| encoder.encoder.get(c).copied(), first_free);
        let clean_up_tokenization_spaces = super::config_clean_up(vocab_json)?;
        Ok(Self {
            source,
            target,
            encoder,
            target_vocab,
            specials: SpecialTokens::new(tokens),
            eos_id,
            unk_id,
            pad_id,
            clean_up_tokenization_spaces,
        })
    }

    /// `_convert_token_to_id_with_added_voc`.
    fn token_to_id(&self, token: &str) -> u32 {
        if let Some(t) = self.specials.by_content(token) {
            return t.id;
        }
        self.encoder
            .encoder
            .get(token)
            .copied()
            .unwrap_or(self.unk_id)
    }

    /// The source-side token strings (`MarianTokenizer.tokenize`).
    pub(crate) fn tokenize(&self, text: &str) -> Result<Vec<String>, String> {
        let mut out = Vec::new();
        for chunk in self.specials.split(text) {
            match chunk {
                Chunk::Special(i) => {
                    if let Some(t) = self.specials.get(i) {
                        out.push(t.content.clone());
                    }
                }
                Chunk::Text(t) => {
                    let (code, rest) = remove_language_code(&t);
                    if let Some(code) = code {
                        out.push(code.to_string());
                    }
                    out.extend(self.source.encode(rest)?.into_iter().map(|p| p.piece));
                }
            }
        }
        Ok(out)
    }

    /// `tokenizer(text)["input_ids"]`.
    pub(crate) fn encode(&self, text: &str) -> Result<Vec<u32>, String> {
        let mut ids: Vec<u32> = self
            .tokenize(text)?
            .iter()
            .map(|t| self.token_to_id(t))
            .collect();
        ids.push(self.eos_id);
        Ok(ids)
    }

    /// The target-side ids of `text` without `</s>` (`tokenizer(text_target=text)` less the eos):
    /// the target SentencePiece model, then the target vocabulary where there is one.
    pub(crate) fn encode_target(&self, text: &str) -> Result<Vec<u32>, String> {
        let vocab = self.target_vocab.as_ref().unwrap_or(&self.encoder);
        Ok(self
            .target
            .encode(text)?
            .into_iter()
            .map(|p| vocab.encoder.get(&p.piece).copied().unwrap_or(self.unk_id))
            .collect())
    }

    /// `_convert_id_to_token` / `convert_ids_to_tokens`.
    fn id_to_token(&self, id: u32) -> &str {
        if let Some(t) = self.specials.by_id(id) {
            return &t.content;
        }
        let decoder = match &self.target_vocab {
            Some(v) => &v.decoder,
            None => &self.encoder.decoder,
        };
        decoder.get(&id).map_or(UNK, String::as_str)
    }

    /// `tokenizer.decode(ids, skip_special_tokens=...)`.
    pub(crate) fn decode(&self, ids: &[u32], skip_special_tokens: bool) -> Result<String, String> {
        let tokens: Vec<&str> = ids
            .iter()
            .filter(|&&id| !(skip_special_tokens && self.specials.contains_id(id)))
            .map(|&id| self.id_to_token(id))
            .filter(|t| !(skip_special_tokens && self.specials.is_special(t)))
            .collect();
        if tokens.is_empty() {
            return Ok(String::new());
        }
        let text = self.convert_tokens_to_string(&tokens)?;
        Ok(if self.clean_up_tokenization_spaces {
            clean_up_tokenization(&text)
        } else {
            text
        })
    }

    /// `MarianTokenizer.convert_tokens_to_string` with the target model.
    fn convert_tokens_to_string(&self, tokens: &[&str]) -> Result<String, String> {
        let mut out = String::new();
        let mut current: Vec<&str> = Vec::new();
        for &token in tokens {
            if self.specials.is_special(token) {
                out.push_str(&self.target.decode_pieces(&current)?);
                out.push_str(token);
                out.push(' ');
                current.clear();
            } else {
                current.push(token);
            }
        }
        out.push_str(&self.target.decode_pieces(&current)?);
        let out = out.replace(super::normalizer::SPACE_SYMBOL, " ");
        Ok(py_strip(&out).to_string())
    }

    pub(crate) fn source_vocab_size(&self) -> usize {
        self.encoder.len()
    }

    pub(crate) fn target_vocab_size(&self) -> usize {
        self.target_vocab.as_ref().unwrap_or(&self.encoder).len()
    }
}

/// `MarianTokenizer.remove_language_code`: a leading `>>xx<<` becomes its own token.
fn remove_language_code(text: &str) -> (Option<&str>, &str) {
    if text.starts_with(">>") {
        if let Some(end) = text.find("<<") {
            return (Some(&text[..end + 2]), &text[end + 2..]);
        }
    }
    (None, text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn language_code() {
        assert_eq!(
            remove_language_code(">>nld<< Hallo"),
            (Some(">>nld<<"), " Hallo")
        );
        assert_eq!(remove_language_code(">><<"), (Some(">><<"), ""));
        assert_eq!(remove_language_code("a >>nl<<"), (None, "a >>nl<<"));
        assert_eq!(remove_language_code(">>nl"), (None, ">>nl"));
    }
}
