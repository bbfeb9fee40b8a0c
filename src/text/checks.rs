//! Per-sentence checks of a translation, for the editor's review: the failures of machine
//! translation of news that no engine flags. Each flag has a stable code:
//!
//! | code | flags |
//! |---|---|
//! | `number_missing` | a number of the source (`180`, `2,4`, `1.000`) absent from the output, compared by value across Dutch and English formats (`1,0842` = `1.0842`, `1.000` = `1,000`) and by digits |
//! | `name_missing` | a capitalised word inside the source sentence (a name: `De Wever`, `Schiphol`) absent from the output, unless it is a place the wire tables translate |
//! | `not_english` | the output is reliably detected as another language than English |
//! | `repetition` | a word three times in a row, or the same three words three times (a decoding loop) |
//! | `length_ratio` | output length out of 0.5–2.2× the source's (sources of 20 characters or more) |
//! | `low_confidence` | the model's mean log-probability per token below −2.5 |
//! | `glossary_missing` | a glossary term found in the source whose target term is not in the output ([`Scores::terms`]) |
//!
//! Thresholds are constants here, tested on fixture sentences written for each failure.

use serde::Serialize;

use super::lang::detect_language;
use super::places::english_place;

/// Output/source length outside this range is flagged.
pub const LENGTH_RATIO: (f64, f64) = (0.5, 2.2);
/// Sources shorter than this (characters) are not length-checked.
const LENGTH_MIN_CHARS: usize = 20;
/// Mean log-probability per generated token below this is flagged.
pub const MIN_MEAN_LOGPROB: f64 = -2.5;

/// One flagged problem.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Flag {
    pub code: &'static str,
    pub message: String,
}

/// What is known about the translation besides the texts.
#[derive(Debug, Clone, Copy, Default)]
pub struct Scores<'a> {
    /// Sum of the generated tokens' log-probabilities.
    pub score: f32,
    /// Generated tokens.
    pub tokens: usize,
    /// The glossary terms found in the source and whether each is in the output.
    pub terms: &'a [TermUse],
}

/// How a glossary term fared in one translated sentence or text.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct TermUse {
    /// The source term as the glossary gives it.
    pub source: String,
    /// The glossary's target term.
    pub target: String,
    /// Whether the target term is in the output.
    pub applied: bool,
}

impl Scores<'_> {
    /// Mean log-probability per token, when anything was generated.
    pub fn mean_logprob(&self) -> Option<f64> {
        (self.tokens > 0).then(|| f64::from(self.score) / self.tokens as f64)
    }
}

/// The flags for `target` as the translation of `source` (empty when nothing is wrong).
pub fn check_translation(source: &str, target: &str, scores: Scores<'_>) -> Vec<Flag> {
    let mut flags = Vec::new();
    let found = numbers(target, Format::English);
    let missing: Vec<String> = numbers(source, Format::Dutch)
        .into_iter()
        .filter(|n| !found.iter().any(|f| f.matches(n)))
        .map(|n| n.text)
        .collect();
    if !missing.is_empty() {
        flags.push(Flag {
            code: "number_missing",
            message: format!("not in the translation: {}", missing.join(", ")),
        });
    }
    // Words of a name phrase absent from the output, unless the phrase is a place the wire
    // tables translate (`Den Haag` → `The Hague`).
    let names: Vec<&str> = names(source)
        .into_iter()
        .filter(|phrase| english_place(&phrase.join(" ")) == phrase.join(" "))
        .flatten()
        .filter(|w| w.chars().count() >= 3 && !target.contains(*w))
        .collect();
    if !names.is_empty() {
        flags.push(Flag {
            code: "name_missing",
            message: format!("not in the translation: {}", names.join(", ")),
        });
    }
    if let Some(d) = detect_language(target).filter(|d| d.reliable && d.code != "en") {
        flags.push(Flag {
            code: "not_english",
            message: format!("the translation reads as {} ({:.2})", d.code, d.confidence),
        });
    }
    if let Some(loop_) = repetition(target) {
        flags.push(Flag {
            code: "repetition",
            message: format!("repeated: {loop_:?}"),
        });
    }
    let (s, t) = (source.chars().count(), target.chars().count());
    let ratio = t as f64 / s.max(1) as f64;
    if s >= LENGTH_MIN_CHARS && !(LENGTH_RATIO.0..=LENGTH_RATIO.1).contains(&ratio) {
        flags.push(Flag {
            code: "length_ratio",
            message: format!("{t} characters for a source of {s} ({ratio:.2}×)"),
        });
    }
    if let Some(m) = scores.mean_logprob().filter(|&m| m < MIN_MEAN_LOGPROB) {
        flags.push(Flag {
            code: "low_confidence",
            message: format!("mean log-probability {m:.2} per token"),
        });
    }
    let missing: Vec<String> = scores
        .terms
        .iter()
        .filter(|t| !t.applied)
        .map(|t| format!("{} → {}", t.source, t.target))
        .collect();
    if !missing.is_empty() {
        flags.push(Flag {
            code: "glossary_missing",
            message: format!(
                "glossary terms not in the translation: {}",
                missing.join(", ")
            ),
        });
    }
    flags
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Format {
    /// `1.000,5`: `.` groups thousands, `,` is the decimal mark.
    Dutch,
    /// `1,000.5`.
    English,
}

/// A number as written, its value (when it reads as one) and its digits.
#[derive(Debug, Clone)]
struct Number {
    text: String,
    value: Option<f64>,
    digits: String,
}

impl Number {
    fn matches(&self, other: &Number) -> bool {
        let same_value =
            matches!((self.value, other.value), (Some(a), Some(b)) if (a - b).abs() < 1e-9);
        same_value || self.digits == other.digits
    }
}

/// The numbers of `text`: runs of digits with `.`/`,` between them.
fn numbers(text: &str, format: Format) -> Vec<Number> {
    let chars: Vec<char> = text.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        if !chars[i].is_ascii_digit() {
            i += 1;
            continue;
        }
        let start = i;
        while i < chars.len()
            && (chars[i].is_ascii_digit()
                || (matches!(chars[i], '.' | ',')
                    && chars.get(i + 1).is_some_and(char::is_ascii_digit)))
        {
            i += 1;
        }
        let text: String = chars[start..i].iter().collect();
        let digits: String = text.chars().filter(char::is_ascii_digit).collect();
        out.push(Number {
            value: value(&text, format),
            text,
            digits,
        });
    }
    out
}

/// The value of a written number: the group separator of `format` followed by three digits
/// groups thousands; the other mark is decimal.
fn value(text: &str, format: Format) -> Option<f64> {
    let (group, decimal) = match format {
        Format::Dutch => ('.', ','),
        Format::English => (',', '.'),
    };
    let mut plain = String::new();
    let parts: Vec<&str> = text.split(group).collect();
    let grouped = parts.len() > 1
        && parts[1..]
            .iter()
            .all(|p| p.split(decimal).next().is_some_and(|g| g.len() == 3));
    for (k, part) in parts.iter().enumerate() {
        if k > 0 && !grouped {
            plain.push('.');
        }
        plain.push_str(part);
    }
    plain.replace(decimal, ".").parse().ok()
}

/// Runs of capitalised words inside `text` (names: `De Wever`, `Den Haag`), not counting a
/// sentence's or quote's first word or all-capitals words (datelines, agencies).
fn names(text: &str) -> Vec<Vec<&str>> {
    let mut out: Vec<Vec<&str>> = Vec::new();
    let mut current: Vec<&str> = Vec::new();
    let mut after_stop = true;
    for word in text.split_whitespace() {
        let core = word.trim_matches(|c: char| !c.is_alphanumeric());
        let capital = core.chars().next().is_some_and(char::is_uppercase);
        let all_caps = core
            .chars()
            .filter(|c| c.is_alphabetic())
            .all(char::is_uppercase);
        let opens = word.starts_with(['"', '“', '(', '\'']);
        if capital && !all_caps && !after_stop && !opens {
            current.push(core);
        } else if !current.is_empty() {
            out.push(std::mem::take(&mut current));
        }
        after_stop = word.ends_with(['.', '!', '?', ':']);
        let closes = word.ends_with([',', ';', '.', '!', '?', ':', ')', '"', '”']);
        if closes && !current.is_empty() {
            out.push(std::mem::take(&mut current));
        }
    }
    if !current.is_empty() {
        out.push(current);
    }
    out
}

/// A decoding loop in `text`: a word three times in a row, or three words three times.
fn repetition(text: &str) -> Option<String> {
    let words: Vec<String> = text
        .split_whitespace()
        .map(|w| {
            w.trim_matches(|c: char| !c.is_alphanumeric())
                .to_lowercase()
        })
        .filter(|w| !w.is_empty())
        .collect();
    if let Some(w) = words.windows(3).find(|w| w[0] == w[1] && w[1] == w[2]) {
        return Some(w[0].clone());
    }
    let trigrams: Vec<String> = words.windows(3).map(|w| w.join(" ")).collect();
    trigrams
        .iter()
        .find(|t| trigrams.iter().filter(|u| u == t).count() >= 3)
        .cloned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn codes(source: &str, target: &str) -> Vec<&'static str> {
        check_translation(source, target, Scores::default())
            .into_iter()
            .map(|f| f.code)
            .collect()
    }

    #[test]
    fn good_translations_pass() {
        let ok = [
            (
                "De koers steeg naar 1,0842 dollar.",
                "The rate rose to 1.0842 dollars.",
            ),
            (
                "Het kabinet trekt 12 miljoen euro uit.",
                "The cabinet is allocating 12 million euros.",
            ),
            (
                "Er kwamen 1.000 demonstranten naar het Malieveld.",
                "Some 1,000 protesters came to the Malieveld.",
            ),
            (
                "Premier Schoof sprak in Den Haag met Rutte.",
                "Prime Minister Schoof spoke with Rutte in The Hague.",
            ),
            (
                "De inflatie daalde in 2026 tot 2,4 procent.",
                "Inflation fell to 2.4 percent in 2026.",
            ),
        ];
        for (s, t) in ok {
            assert_eq!(codes(s, t), Vec::<&str>::new(), "{s} → {t}");
        }
    }

    #[test]
    fn each_failure_is_flagged() {
        assert_eq!(
            codes(
                "De vergadering duurde 180 uur.",
                "The meeting lasted 18 hours."
            ),
            ["number_missing"]
        );
        assert_eq!(
            codes(
                "Volgens De Wever is het akkoord dood.",
                "According to The Weaver, the deal is dead."
            ),
            ["name_missing"]
        );
        assert_eq!(
            codes(
                "Het kabinet heeft vandaag nieuwe maatregelen aangekondigd.",
                "Het kabinet heeft vandaag nieuwe maatregelen aangekondigd."
            ),
            ["not_english"]
        );
        assert!(codes(
            "Het kabinet valt over de stikstof.",
            "The cabinet falls falls falls over the nitrogen."
        )
        .contains(&"repetition"));
        assert!(codes(
            "Het kabinet heeft vandaag nieuwe maatregelen aangekondigd voor boeren.",
            "Cabinet."
        )
        .contains(&"length_ratio"));
        let unsure = check_translation(
            "Dank u.",
            "Thank you.",
            Scores {
                score: -12.0,
                tokens: 3,
                terms: &[],
            },
        );
        assert_eq!(unsure[0].code, "low_confidence");
        let term = |applied| TermUse {
            source: "Tweede Kamer".into(),
            target: "House of Representatives".into(),
            applied,
        };
        let with = |terms: &[TermUse]| {
            let scores = Scores {
                score: -1.0,
                tokens: 3,
                terms,
            };
            check_translation("De Tweede Kamer.", "The Second Chamber.", scores)
        };
        let missing = with(&[term(false)]);
        let flag = missing.iter().find(|f| f.code == "glossary_missing");
        assert!(flag.is_some_and(|f| f
            .message
            .contains("Tweede Kamer → House of Representatives")));
        assert!(with(&[term(true)])
            .iter()
            .all(|f| f.code != "glossary_missing"));
        assert!(with(&[]).iter().all(|f| f.code != "glossary_missing"));
        assert!(check_translation(
            "Dank u.",
            "Thank you.",
            Scores {
                score: -1.0,
                tokens: 3,
                terms: &[],
            }
        )
        .is_empty());
    }

    #[test]
    fn number_formats() {
        assert_eq!(value("1.000", Format::Dutch), Some(1000.0));
        assert_eq!(value("2,4", Format::Dutch), Some(2.4));
        assert_eq!(value("1,000", Format::English), Some(1000.0));
        assert_eq!(value("1.0842", Format::English), Some(1.0842));
        assert_eq!(value("12.30", Format::Dutch), Some(12.3));
        assert_eq!(numbers("om 12.30 uur, 3 keer", Format::Dutch).len(), 2);
    }
}
