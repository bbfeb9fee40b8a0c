//! Source-language tokens of multilingual checkpoints whose `tokenizer.json` holds the codes
//! but not the language of a given input: transformers sets `src_lang` at run time and rewrites
//! the template. mBART-50 (`MBart50Tokenizer`): `nl_XX <text> </s>`; mBART (`MBartTokenizer`):
//! `<text> </s> nl_XX`.

use std::collections::HashMap;

use tokenizers::Tokenizer;

/// Where the source-language token goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Placement {
    /// Before the text (mBART-50).
    Prefix,
    /// After `</s>` (mBART).
    Suffix,
}

/// The language tokens of a tokenizer, by token (`nl_XX`).
#[derive(Debug, Clone)]
pub(crate) struct LangTokens {
    pub placement: Placement,
    codes: HashMap<String, u32>,
}

/// `ll_CC`: two lower-case letters, `_`, two upper-case letters or `XX`.
fn is_code(token: &str) -> bool {
    let b = token.as_bytes();
    b.len() == 5
        && b[..2].iter().all(u8::is_ascii_lowercase)
        && b[2] == b'_'
        && b[3..].iter().all(u8::is_ascii_uppercase)
}

impl LangTokens {
    /// The language tokens of `tokenizer` when its class (`tokenizer_config.json`'s
    /// `tokenizer_class`) is one that uses them.
    pub(crate) fn detect(tokenizer: &Tokenizer, class: Option<&str>) -> Option<LangTokens> {
        let placement = match class? {
            c if c.starts_with("MBart50") => Placement::Prefix,
            c if c.starts_with("MBart") => Placement::Suffix,
            _ => return None,
        };
        let codes: HashMap<String, u32> = tokenizer
            .get_added_tokens_decoder()
            .into_iter()
            .filter(|(_, t)| is_code(&t.content))
            .map(|(id, t)| (t.content, id))
            .collect();
        (!codes.is_empty()).then_some(LangTokens { placement, codes })
    }

    /// The token id for `lang`: a token (`nl_XX`) or a language code (`nl`, the first token of
    /// that language in sorted order).
    pub(crate) fn id(&self, lang: &str) -> Option<u32> {
        if let Some(&id) = self.codes.get(lang) {
            return Some(id);
        }
        let prefix = format!("{}_", lang.to_ascii_lowercase());
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

    #[test]
    fn language_codes() {
        assert!(is_code("nl_XX") && is_code("de_DE"));
        assert!(!is_code("<s>") && !is_code("nl") && !is_code("NL_xx") && !is_code("__nl__"));
        let t = LangTokens {
            placement: Placement::Prefix,
            codes: [("nl_XX", 7), ("de_DE", 8), ("en_XX", 9)]
                .map(|(t, i)| (t.to_string(), i))
                .into(),
        };
        assert_eq!(
            (t.id("nl"), t.id("de_DE"), t.id("DE"), t.id("fr")),
            (Some(7), Some(8), Some(8), None)
        );
    }
}
