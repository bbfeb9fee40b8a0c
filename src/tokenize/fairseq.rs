//! Emulation of transformers 4.57's slow fairseq-style multilingual tokenizers, for checkpoints
//! that ship no `tokenizer.json`. `sentencepiece.bpe.model` segments the text; inputs are
//! `<src language> <pieces> </s>`, special tokens in the text (`</s>`, `__de__`) split out first.
//!
//! - `M2M100Tokenizer` (facebook/m2m100_418M): `vocab.json` maps each piece to its id (missing
//!   pieces -> `<unk>`); the language tokens `__xx__` follow it at `len(vocab.json) + i`.
//! - `MBart50Tokenizer` (facebook/mbart-large-50-many-to-one-mmt): piece ids are the
//!   SentencePiece ids plus fairseq's offset 1 under `<s> <pad> </s> <unk>`; the language codes
//!   `nl_XX` follow the pieces, then `<mask>`.
//!
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

/// mBART-50's `FAIRSEQ_LANGUAGE_CODES`, in id order.
#[rustfmt::skip]
const MBART50_CODES: &[&str] = &[
    "ar_AR", "cs_CZ", "de_DE", "en_XX", "es_XX", "et_EE", "fi_FI", "fr_XX", "gu_IN", "hi_IN",
    "it_IT", "ja_XX", "kk_KZ", "ko_KR", "lt_LT", "lv_LV", "my_MM", "ne_NP", "nl_XX", "ro_RO",
    "ru_RU", "si_LK", "tr_TR", "vi_VN", "zh_CN", "af_ZA", "az_AZ", "bn_IN", "fa_IR", "he_IL",
    "hr_HR", "id_ID", "ka_GE", "km_KH", "mk_MK", "ml_IN", "mn_MN", "mr_IN", "pl_PL", "ps_AF",
    "pt_XX", "sv_SE", "sw_KE", "ta_IN", "te_IN", "th_TH", "tl_XX", "uk_UA", "ur_PK", "xh_ZA",
    "gl_ES", "sl_SI",
];

/// fairseq's offset of SentencePiece ids under its four special tokens (mBART-50).
const FAIRSEQ_OFFSET: u32 = 1;

/// How pieces map to ids.
#[derive(Debug, Clone)]
enum Pieces {
    /// M2M100's `vocab.json`.
    Json(JsonVocab),
    /// mBART-50: the SentencePiece id plus [`FAIRSEQ_OFFSET`]; SentencePiece's `<unk>` (0) is
    /// `<unk>`.
    SpmOffset,
}

#[derive(Debug, Clone)]
pub(crate) struct FairseqSlow {
    spm: SpmProcessor,
    pieces: Pieces,
    /// Ids from here on are joined with spaces when decoded unskipped (transformers' legacy
    /// added tokens: M2M100's language tokens lie past `vocab_size`).
    joined_from: u32,
    /// mBART-50 puts a space before a run of special tokens when decoding them.
    space_before_special: bool,
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

fn special(content: &str, id: u32) -> SpecialToken {
    SpecialToken {
        content: content.to_string(),
        id,
        lstrip: false,
        rstrip: false,
    }
}

/// The special tokens split out of input text (`fixed` and the language tokens) and the
/// language tokens (`names[i]` at id `first + i`), `None` without any.
fn specials_and_langs(
    mut fixed: Vec<SpecialToken>,
    names: impl IntoIterator<Item = String>,
    first: u32,
    style: Style,
) -> Option<(SpecialTokens, LangTokens)> {
    let lang_tokens: Vec<(String, u32)> = names.into_iter().zip(first..).collect();
    fixed.extend(lang_tokens.iter().map(|(t, id)| special(t, *id)));
    let langs = LangTokens::new(Placement::Prefix, style, lang_tokens)?;
    Some((SpecialTokens::new(fixed), langs))
}

impl FairseqSlow {
    /// Reads `sentencepiece.bpe.model` and `vocab.json` (with the `tokenizer_config.json`
    /// beside it for `language_codes`, `src_lang` and `clean_up_tokenization_spaces`).
    pub(crate) fn m2m100(spm_model: &Path, vocab_json: &Path) -> Result<Self, TokenizeError> {
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
        let fixed = vec![
            special("<s>", bos_id),
            special("</s>", eos_id),
            special("<pad>", pad_id),
            special("<unk>", unk_id),
        ];
        let names = codes.iter().map(|code| format!("__{code}__"));
        let (specials, langs) = specials_and_langs(fixed, names, size, Style::Fairseq)
            .ok_or_else(|| bad("no language tokens".into()))?;
        Ok(Self {
            spm,
            joined_from: size,
            space_before_special: false,
            specials,
            langs,
            default_lang: config_string(vocab_json, "src_lang")?.unwrap_or_else(|| "en".into()),
            eos_id,
            pad_id,
            unk_id,
            clean_up_tokenization_spaces: config_clean_up(vocab_json)?,
            pieces: Pieces::Json(vocab),
        })
    }

    /// mBART-50's slow tokenizer from `sentencepiece.bpe.model` alone (with the
    /// `tokenizer_config.json` beside it for `src_lang` and `clean_up_tokenization_spaces`).
    pub(crate) fn mbart50(spm_model: &Path) -> Result<Self, TokenizeError> {
        let spm = load_spm(spm_model)?;
        let bad = |message: String| TokenizeError::SpmModel {
            origin: spm_model.display().to_string(),
            message,
        };
        let size = u32::try_from(spm.len()).map_err(|_| bad("too many pieces".into()))?;
        let mask_id = size + MBART50_CODES.len() as u32 + FAIRSEQ_OFFSET;
        let fixed = vec![
            special("<s>", 0),
            special("<pad>", 1),
            special("</s>", 2),
            special("<unk>", 3),
            SpecialToken {
                lstrip: true,
                ..special("<mask>", mask_id)
            },
        ];
        let first = size + FAIRSEQ_OFFSET;
        let (specials, langs) = specials_and_langs(
            fixed,
            MBART50_CODES.iter().map(|c| c.to_string()),
            first,
            Style::MBart,
        )
        .ok_or_else(|| bad("no language tokens".into()))?;
        Ok(Self {
            spm,
            pieces: Pieces::SpmOffset,
            joined_from: mask_id + 1,
            space_before_special: true,
            specials,
            langs,
            default_lang: config_string(spm_model, "src_lang")?.unwrap_or_else(|| "en_XX".into()),
            eos_id: 2,
            pad_id: 1,
            unk_id: 3,
            clean_up_tokenization_spaces: config_clean_up(spm_model)?,
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
        if let Some(t) = self.specials.by_content(token) {
            return t.id;
        }
        match &self.pieces {
            Pieces::Json(v) => v.encoder.get(token).copied().unwrap_or(self.unk_id),
            Pieces::SpmOffset => match self.spm.piece_to_id(token) {
                0 => self.unk_id,
                id => id + FAIRSEQ_OFFSET,
            },
        }
    }

    fn id_to_token(&self, id: u32) -> &str {
        match &self.pieces {
            Pieces::Json(v) => v.decoder.get(&id).map_or("<unk>", String::as_str),
            Pieces::SpmOffset => id
                .checked_sub(FAIRSEQ_OFFSET)
                .and_then(|i| self.spm.id_to_piece(i))
                .unwrap_or("<unk>"),
        }
    }

    /// The ids of `text` without language token or eos.
    pub(crate) fn encode_body(&self, text: &str) -> Result<Vec<u32>, String> {
        Ok(self
            .tokenize(text)?
            .iter()
            .map(|t| self.token_to_id(t))
            .collect())
    }

    /// `tokenizer(text)["input_ids"]` with `src_lang = lang` (`None`: the configured one).
    pub(crate) fn encode(&self, text: &str, lang: Option<&str>) -> Result<Vec<u32>, String> {
        let body = self.encode_body(text)?;
        self.langs
            .frame(lang.unwrap_or(&self.default_lang), body, self.eos_id)
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
                None => self.id_to_token(id),
            };
            if skip_special_tokens && self.specials.is_special(token) {
                continue;
            }
            if special.is_some_and(|t| t.id >= self.joined_from) {
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

    /// `convert_tokens_to_string`: special tokens verbatim (mBART-50: a space before a run of
    /// them), the rest through the SentencePiece decoder, stripped.
    fn tokens_to_string(&self, tokens: &[&str]) -> Result<String, String> {
        let mut out = String::new();
        let mut current: Vec<&str> = Vec::new();
        let mut prev_special = false;
        for &token in tokens {
            if self.specials.is_special(token) {
                if self.space_before_special && !prev_special {
                    out.push(' ');
                }
                out.push_str(&self.spm.decode_pieces(&current)?);
                out.push_str(token);
                current.clear();
                prev_special = true;
            } else {
                current.push(token);
                prev_special = false;
            }
        }
        out.push_str(&self.spm.decode_pieces(&current)?);
        Ok(py_strip(&out).to_string())
    }

    /// Every id: M2M100's `len(vocab.json)` plus the language tokens; mBART-50's pieces,
    /// offset, language codes and `<mask>`.
    pub(crate) fn vocab_size(&self) -> usize {
        match &self.pieces {
            Pieces::Json(v) => v.len() + self.langs.len(),
            Pieces::SpmOffset => self.joined_from as usize,
        }
    }
}
