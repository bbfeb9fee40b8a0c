//! Source-language tokens of multilingual checkpoints: transformers sets `src_lang` at run time
//! and rewrites the template, so the tokenizer files hold the codes but not the language of a
//! given input. mBART-50 (`MBart50Tokenizer`): `nl_XX <text> </s>`; mBART (`MBartTokenizer`):
//! `<text> </s> nl_XX`; M2M100: `__nl__ <text> </s>`; NLLB-200: `nld_Latn <text> </s>` (with
//! `legacy_behaviour`: `<text> </s> nld_Latn`). The same tokens name the target language, which
//! these models are told by forcing it as the first generated token.

use std::collections::HashMap;

use tokenizers::Tokenizer;

/// Where the source-language token goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Placement {
    /// Before the text (mBART-50, M2M100, NLLB).
    Prefix,
    /// After `</s>` (mBART, legacy NLLB).
    Suffix,
}

/// How a family spells its language tokens.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Style {
    /// `nl_XX`: two lower-case letters, `_`, two upper-case letters.
    MBart,
    /// `__nl__` (fairseq's M2M100 codes: ISO 639-1, some 639-3).
    Fairseq,
    /// `nld_Latn`: ISO 639-3, `_`, ISO 15924 script.
    Nllb,
}

impl Style {
    fn is_code(self, token: &str) -> bool {
        let b = token.as_bytes();
        match self {
            Style::MBart => {
                b.len() == 5
                    && b[..2].iter().all(u8::is_ascii_lowercase)
                    && b[2] == b'_'
                    && b[3..].iter().all(u8::is_ascii_uppercase)
            }
            Style::Fairseq => token
                .strip_prefix("__")
                .and_then(|t| t.strip_suffix("__"))
                .is_some_and(|c| {
                    (2..=3).contains(&c.len()) && c.bytes().all(|x| x.is_ascii_lowercase())
                }),
            Style::Nllb => {
                b.len() == 8
                    && b[..3].iter().all(u8::is_ascii_lowercase)
                    && b[3] == b'_'
                    && b[4].is_ascii_uppercase()
                    && b[5..].iter().all(u8::is_ascii_lowercase)
            }
        }
    }
}

/// ISO 639-1 -> the ISO 639-3 code NLLB-200 uses (its individual-language codes where the
/// macrolanguage code is not in its list: Arabic `arb`, Persian `pes`, Malay `zsm`, ...).
#[rustfmt::skip]
const NLLB_CODES: &[(&str, &str)] = &[
    ("af", "afr"), ("am", "amh"), ("ar", "arb"), ("az", "azj"), ("be", "bel"), ("bg", "bul"),
    ("bn", "ben"), ("bs", "bos"), ("ca", "cat"), ("cs", "ces"), ("cy", "cym"), ("da", "dan"),
    ("de", "deu"), ("el", "ell"), ("en", "eng"), ("eo", "epo"), ("es", "spa"), ("et", "est"),
    ("eu", "eus"), ("fa", "pes"), ("fi", "fin"), ("fr", "fra"), ("ga", "gle"), ("gl", "glg"),
    ("gu", "guj"), ("he", "heb"), ("hi", "hin"), ("hr", "hrv"), ("hu", "hun"), ("hy", "hye"),
    ("id", "ind"), ("is", "isl"), ("it", "ita"), ("ja", "jpn"), ("ka", "kat"), ("kk", "kaz"),
    ("ko", "kor"), ("lb", "ltz"), ("lt", "lit"), ("lv", "lvs"), ("mk", "mkd"), ("mn", "khk"),
    ("mr", "mar"), ("ms", "zsm"), ("nb", "nob"), ("nl", "nld"), ("nn", "nno"), ("no", "nob"),
    ("pa", "pan"), ("pl", "pol"), ("pt", "por"), ("ro", "ron"), ("ru", "rus"), ("sk", "slk"),
    ("sl", "slv"), ("so", "som"), ("sq", "als"), ("sr", "srp"), ("sv", "swe"), ("sw", "swh"),
    ("ta", "tam"), ("te", "tel"), ("th", "tha"), ("tl", "tgl"), ("tr", "tur"), ("uk", "ukr"),
    ("ur", "urd"), ("vi", "vie"), ("xh", "xho"), ("yo", "yor"), ("zh", "zho"), ("zu", "zul"),
];

/// The language tokens of a tokenizer, by token (`nl_XX`, `__nl__`, `nld_Latn`).
#[derive(Debug, Clone)]
pub(crate) struct LangTokens {
    pub placement: Placement,
    style: Style,
    codes: HashMap<String, u32>,
}

impl LangTokens {
    /// The tokens among `tokens` that are language codes in `style`; `None` when there are none.
    pub(crate) fn new(
        placement: Placement,
        style: Style,
        tokens: impl IntoIterator<Item = (String, u32)>,
    ) -> Option<LangTokens> {
        let codes: HashMap<String, u32> = tokens
            .into_iter()
            .filter(|(t, _)| style.is_code(t))
            .collect();
        (!codes.is_empty()).then_some(LangTokens {
            placement,
            style,
            codes,
        })
    }

    /// The language tokens of `tokenizer` when its class (`tokenizer_config.json`'s
    /// `tokenizer_class`) is one that uses them; `legacy` is NLLB's `legacy_behaviour`.
    pub(crate) fn detect(
        tokenizer: &Tokenizer,
        class: Option<&str>,
        legacy: bool,
    ) -> Option<LangTokens> {
        let (placement, style) = match class? {
            c if c.starts_with("MBart50") => (Placement::Prefix, Style::MBart),
            c if c.starts_with("MBart") => (Placement::Suffix, Style::MBart),
            c if c.starts_with("M2M100") => (Placement::Prefix, Style::Fairseq),
            c if c.starts_with("Nllb") && legacy => (Placement::Suffix, Style::Nllb),
            c if c.starts_with("Nllb") => (Placement::Prefix, Style::Nllb),
            _ => return None,
        };
        let added = tokenizer.get_added_tokens_decoder();
        Self::new(
            placement,
            style,
            added.into_iter().map(|(id, t)| (t.content, id)),
        )
    }

    /// How many language tokens there are.
    pub(crate) fn len(&self) -> usize {
        self.codes.len()
    }

    /// `body` (the text's ids) with `lang`'s token and `</s>` (`eos`) where this tokenizer puts
    /// them: `lang body </s>` or `body </s> lang`.
    pub(crate) fn frame(&self, lang: &str, body: Vec<u32>, eos: u32) -> Result<Vec<u32>, String> {
        let code = self
            .id(lang)
            .ok_or_else(|| format!("the tokenizer has no language token for {lang:?}"))?;
        let mut ids = Vec::with_capacity(body.len() + 2);
        match self.placement {
            Placement::Prefix => {
                ids.push(code);
                ids.extend(body);
                ids.push(eos);
            }
            Placement::Suffix => {
                ids.extend(body);
                ids.extend([eos, code]);
            }
        }
        Ok(ids)
    }

    /// The token id for `lang`: a token (`nl_XX`) or a language code (`nl`; for mBART and NLLB
    /// the first token of that language in sorted order, `nld_Latn`).
    pub(crate) fn id(&self, lang: &str) -> Option<u32> {
        if let Some(&id) = self.codes.get(lang) {
            return Some(id);
        }
        let lang = lang.to_ascii_lowercase();
        let prefix = match self.style {
            Style::Fairseq => return self.codes.get(&format!("__{lang}__")).copied(),
            Style::MBart => format!("{lang}_"),
            Style::Nllb => {
                let three = NLLB_CODES
                    .iter()
                    .find(|(two, _)| *two == lang)
                    .map_or(lang.as_str(), |(_, three)| three);
                format!("{three}_")
            }
        };
        let mut matching: Vec<(&String, &u32)> = self
            .codes
            .iter()
            .filter(|(t, _)| t.starts_with(&prefix))
            .collect();
        matching.sort();
        matching.first().map(|(_, &id)| id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tokens(list: &[(&str, u32)]) -> Vec<(String, u32)> {
        list.iter().map(|&(t, i)| (t.to_string(), i)).collect()
    }

    #[test]
    fn language_codes_per_style() {
        assert!(Style::MBart.is_code("nl_XX") && Style::MBart.is_code("de_DE"));
        for t in ["<s>", "nl", "NL_xx", "__nl__"] {
            assert!(!Style::MBart.is_code(t), "{t}");
        }
        assert!(Style::Fairseq.is_code("__nl__") && Style::Fairseq.is_code("__ast__"));
        for t in ["__NL__", "_nl_", "__madeupword0000__", "nl_XX"] {
            assert!(!Style::Fairseq.is_code(t), "{t}");
        }
        assert!(Style::Nllb.is_code("nld_Latn") && Style::Nllb.is_code("zho_Hans"));
        for t in ["nl_XX", "nld_latn", "nld_LATN", "<mask>"] {
            assert!(!Style::Nllb.is_code(t), "{t}");
        }
    }

    #[test]
    fn ids_by_token_or_language_code() {
        let mbart = tokens(&[("nl_XX", 7), ("de_DE", 8), ("en_XX", 9), ("<s>", 0)]);
        let t = LangTokens::new(Placement::Prefix, Style::MBart, mbart).unwrap();
        assert_eq!(
            (t.id("nl"), t.id("de_DE"), t.id("DE"), t.id("fr")),
            (Some(7), Some(8), Some(8), None)
        );
        let fairseq = tokens(&[("__nl__", 128071), ("__en__", 128022), ("__ast__", 128006)]);
        let t = LangTokens::new(Placement::Prefix, Style::Fairseq, fairseq).unwrap();
        assert_eq!(
            (t.id("nl"), t.id("EN"), t.id("ast"), t.id("n")),
            (Some(128071), Some(128022), Some(128006), None)
        );
        let nllb = tokens(&[
            ("nld_Latn", 5),
            ("zho_Hant", 7),
            ("zho_Hans", 6),
            ("arb_Arab", 8),
        ]);
        let t = LangTokens::new(Placement::Prefix, Style::Nllb, nllb).unwrap();
        assert_eq!(
            (t.id("nl"), t.id("zh"), t.id("ar"), t.id("nld"), t.id("de")),
            (Some(5), Some(6), Some(8), Some(5), None)
        );
        assert!(LangTokens::new(Placement::Prefix, Style::Nllb, tokens(&[("<s>", 0)])).is_none());
    }
}
