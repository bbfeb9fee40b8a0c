//! Language identification of a text, over the languages wire copy carries (Dutch, English,
//! German, French, Spanish, Italian, and Afrikaans, the classic confusion with Dutch), with
//! `whatlang`'s trigram model restricted to them. Short or ambiguous text is reported as not
//! reliable, so callers can fall back to the language they expect.

use std::sync::OnceLock;

use whatlang::{Detector, Lang};

/// The languages considered, with their ISO 639-1 codes and English names.
const LANGUAGES: &[(Lang, &str, &str)] = &[
    (Lang::Nld, "nl", "Dutch"),
    (Lang::Eng, "en", "English"),
    (Lang::Deu, "de", "German"),
    (Lang::Fra, "fr", "French"),
    (Lang::Spa, "es", "Spanish"),
    (Lang::Ita, "it", "Italian"),
    (Lang::Afr, "af", "Afrikaans"),
];

/// A detected language.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Detected {
    /// ISO 639-1 code (`nl`, `en`, ...).
    pub code: &'static str,
    /// 0 to 1.
    pub confidence: f64,
    /// Enough text and a clear enough winner to act on.
    pub reliable: bool,
}

/// The most likely language of `text`, or `None` when it has no letters to go by.
pub fn detect_language(text: &str) -> Option<Detected> {
    static DETECTOR: OnceLock<Detector> = OnceLock::new();
    let detector =
        DETECTOR.get_or_init(|| Detector::with_allowlist(LANGUAGES.iter().map(|l| l.0).collect()));
    let info = detector.detect(text)?;
    let code = LANGUAGES.iter().find(|l| l.0 == info.lang())?.1;
    Some(Detected {
        code,
        confidence: info.confidence(),
        reliable: info.is_reliable(),
    })
}

/// The English name of a language code this module knows.
pub fn language_name(code: &str) -> Option<&'static str> {
    LANGUAGES.iter().find(|l| l.1 == code).map(|l| l.2)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_copy_sentences_are_told_apart() {
        let cases = [
            ("Het kabinet heeft vandaag nieuwe maatregelen aangekondigd tegen de stikstofuitstoot.", "nl"),
            ("The government announced new measures against nitrogen emissions on Tuesday.", "en"),
            ("Die Bundesregierung hat am Dienstag neue Maßnahmen gegen die Emissionen angekündigt.", "de"),
            ("Le gouvernement a annoncé mardi de nouvelles mesures contre les émissions d'azote.", "fr"),
        ];
        for (text, want) in cases {
            let d = detect_language(text).expect(text);
            assert_eq!(d.code, want, "{text}: {d:?}");
            assert!(d.confidence > 0.0 && d.confidence <= 1.0);
        }
        assert!(detect_language("12345 !!").is_none());
        assert_eq!(language_name("nl"), Some("Dutch"));
    }
}
