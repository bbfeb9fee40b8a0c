//! Emulation of transformers 4.57's slow `M2M100Tokenizer` (facebook/m2m100_418M ships no
//! `tokenizer.json`): `sentencepiece.bpe.model` (a BPE SentencePiece model) segments the text,
//! `vocab.json` maps each piece to its id (missing pieces -> `<unk>`), and the language tokens
//! `__xx__` follow the vocabulary at `len(vocab.json) + i` in fairseq's code order. Inputs are
//! `__src__ <pieces> </s>`; special tokens in the text (`</s>`, `__de__`) are split out first.
//! Decoding: ids -> pieces, pieces -> text with the SentencePiece model, stripped.

use std::path::Path;

use super::langs::{LangTokens, Placement, Style};
use super::special::{clean_up_tokenization, py_strip, Chunk, SpecialToken, SpecialTokens};
use super::spm::SpmProcessor;
use super::vocab::JsonVocab;
use super::{config_clean_up, config_string, load_spm, TokenizeError};

/// `FAIRSEQ_LANGUAGE_CODES["m2m100"]`, in the order that fixes their ids.
#[rustfmt::skip]
const M2M100_CODES: &[&str] = &[
    "af", "am", "ar", "ast", "az", "ba", "be", "bg", "bn", "br", "bs", "ca", "ceb", "cs", "cy",
    "da", "de", "el", "en", "es", "et", "fa", "ff", "fi", "fr", "fy", "ga", "gd", "gl", "gu",
    "ha", "he", "hi", "hr", "ht", "hu", "hy", "id", "ig", "ilo", "is", "it", "ja", "jv", "ka",
    "kk", "km", "kn", "ko", "lb", "lg", "ln", "lo", "lt", "lv", "mg", "mk", "ml", "mn", "mr",
    "ms", "my", "ne", "nl", "no", "ns", "oc", "or", "pa", "pl", "ps", "pt", "ro", "ru", "sd",
    "si", "sk", "sl", "so", "sq", "sr", "ss", "su", "sv", "sw", "ta", "th", "tl", "tn", "tr",
    "uk", "ur", "uz", "vi", "wo", "xh", "yi", "yo", "zh", "zu",
];

/// `FAIRSEQ_LANGUAGE_CODES["wmt21"]`.
const WMT21_CODES: &[&str] = &["en", "ha", "is", "ja", "cs", "ru", "zh", "de"];

#[derive(Debug, Clone)]
pub(crate) struct M2M100Slow {
    spm: SpmProcessor,
    vocab: JsonVocab,
    /// `<s>`, `</s>`, `<pad>`, `<unk>` and the language tokens, split out of input text.
    specials: SpecialTokens,
    pub langs: LangTokens,
    /// The language of inputs encoded without one (`src_lang`, default `en`).
    default_lang: String,
    pub eos_id: u32,
    pub pad_id: u32,
    pub unk_id: u32,
    clean_up_tokenization_spaces: bool,
}

impl M2M100Slow {
    /// Reads `sentencepiece.bpe.model` and `vocab.json` (with the `tokenizer_config.json`
    /// beside it for `language_codes`, `src_lang` and `clean_up_tokenization_spaces`).
    pub(crate) fn load(spm_model: &Path, vocab_json: &Path) -> Result<Self, TokenizeError> {
        let spm = load_spm(spm_model)?;
        let vocab = JsonVocab::from_file(vocab_json)?;
        let bad = |message: String| TokenizeError::Vocab {
            path: vocab_json.to_path_buf(),
            message,
        };
        let id = |t: &str| {
            vocab
                .encoder
                .get(t)
                .copied()
                .ok_or_else(|| bad(format!("{t} is not in the vocabulary")))
        };
        let (bos_id, eos_id, pad_id, unk_id) =
            (id("<s>")?, id("</s>")?, id("<pad>")?, id("<unk>")?);
        let codes = match config_string(vocab_json, "language_codes")?.as_deref() {
            None | Some("m2m100") => M2M100_CODES,
            Some("wmt21") => WMT21_CODES,
            Some(other) => return Err(bad(format!("unknown language_codes {other:?}"))),
        };
        let size = u32::try_from(vocab.len()).map_err(|_| bad("too many tokens".into()))?;
        let lang_tokens: Vec<(String, u32)> = codes
            .iter()
            .zip(size..)
            .map(|(code, id)| (format!("__{code}__"), id))
            .collect();
        let special = |content: &str, id: u32| SpecialToken {
            content: content.to_string(),
            id,
            lstrip: false,
            rstrip: false,
        };
        let mut tokens = vec![
            special("<s>", bos_id),
            special("</s>", eos_id),
            special("<pad>", pad_id),
            special("<unk>", unk_id),
        ];
        tokens.extend(lang_tokens.iter().map(|(t, id)| special(t, *id)));
        let langs = LangTokens::new(Placement::Prefix, Style::Fairseq, lang_tokens)
            .ok_or_else(|| bad("no language tokens".into()))?;
        Ok(Self {
            spm,
            specials: SpecialTokens::new(tokens),
            langs,
            default_lang: config_string(vocab_json, "src_lang")?.unwrap_or_else(|| "en".into()),
            eos_id,
            pad_id,
            unk_id,
            clean_up_tokenization_spaces: config_clean_up(vocab_json)?,
            vocab,
        })
    }

    /// The token strings of `text` (`M2M100Tokenizer.tokenize`: no language token, no `</s>`).
    pub(crate) fn tokenize(&self, text: &str) -> Result<Vec<String>, String> {
        let mut out = Vec::new();
        for chunk in self.specials.split(text) {
            match chunk {
                Chunk::Special(i) => out.extend(self.specials.get(i).map(|t| t.content.clone())),
                Chunk::Text(t) => out.extend(self.spm.encode(&t)?.into_iter().map(|p| p.piece)),
            }
        }
        Ok(out)
    }

    fn token_to_id(&self, token: &str) -> u32 {
        match self.specials.by_content(token) {
            Some(t) => t.id,
            None => self
                .vocab
                .encoder
                .get(token)
                .copied()
                .unwrap_or(self.unk_id),
        }
    }

    /// `tokenizer(text)["input_ids"]` with `src_lang = lang` (`None`: the configured one).
    pub(crate) fn encode(&self, text: &str, lang: Option<&str>) -> Result<Vec<u32>, String> {
        let lang = lang.unwrap_or(&self.default_lang);
        let code = self
            .langs
            .id(lang)
            .ok_or_else(|| format!("the tokenizer has no language token for {lang:?}"))?;
        let mut ids = vec![code];
        ids.extend(self.tokenize(text)?.iter().map(|t| self.token_to_id(t)));
        ids.push(self.eos_id);
        Ok(ids)
    }

    /// `tokenizer.decode(ids, skip_special_tokens=...)`. Unskipped language tokens are joined
    /// with spaces, as transformers joins added tokens past the vocabulary.
    pub(crate) fn decode(&self, ids: &[u32], skip_special_tokens: bool) -> Result<String, String> {
        let mut parts: Vec<String> = Vec::new();
        let mut current: Vec<&str> = Vec::new();
        for &id in ids {
            let special = self.specials.by_id(id);
            if skip_special_tokens && special.is_some() {
                continue;
            }
            let token = match special {
                Some(t) => t.content.as_str(),
                None => self.vocab.decoder.get(&id).map_or("<unk>", String::as_str),
            };
            if skip_special_tokens && self.specials.is_special(token) {
                continue;
            }
            if special.is_some_and(|t| t.id >= self.vocab.len() as u32) {
                if !current.is_empty() {
                    parts.push(self.tokens_to_string(&current)?);
                    current.clear();
                }
                parts.push(token.to_string());
            } else {
                current.push(token);
            }
        }
        if !current.is_empty() {
            parts.push(self.tokens_to_string(&current)?);
        }
        parts.retain(|p| !p.is_empty());
        let text = parts.join(" ");
        Ok(if self.clean_up_tokenization_spaces {
            clean_up_tokenization(&text)
        } else {
            text
        })
    }

    /// `M2M100Tokenizer.convert_tokens_to_string`: special tokens verbatim, the rest through
    /// the SentencePiece decoder, stripped.
    fn tokens_to_string(&self, tokens: &[&str]) -> Result<String, String> {
        let mut out = String::new();
        let mut current: Vec<&str> = Vec::new();
        for &token in tokens {
            if self.specials.is_special(token) {
                out.push_str(&self.spm.decode_pieces(&current)?);
                out.push_str(token);
                current.clear();
            } else {
                current.push(token);
            }
        }
        out.push_str(&self.spm.decode_pieces(&current)?);
        Ok(py_strip(&out).to_string())
    }

    /// `len(vocab.json)` plus the language tokens.
    pub(crate) fn vocab_size(&self) -> usize {
        self.vocab.len() + self.langs.len()
    }
}
