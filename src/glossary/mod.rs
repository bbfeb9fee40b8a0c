//! House glossaries: source terms with the English an editor wants for them (`Tweede Kamer` →
//! `House of Representatives`, names kept as they are), read from files (TSV or CSV, DeepL's
//! entry formats plus a flags column) or created through the DeepL-shaped API, matched in source
//! sentences, and checked in the output.
//!
//! Matching: an entry matches case-insensitively and on whole words unless its flags say
//! otherwise (`case`: exact case; `partial`: also inside words); the longest match wins where
//! entries overlap. The terms found in a sentence become decoding constraints (the target
//! term's tokens must appear in the output; [`crate::generate::GenerationConfig::force_words_ids`]).

pub mod store;

use std::sync::Arc;

use serde::{Deserialize, Serialize};

pub use crate::text::checks::TermUse;

/// One glossary entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    pub source: String,
    pub target: String,
    /// Match the source term only in exactly this case.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub case_sensitive: bool,
    /// Match the source term inside words too (default: whole words only).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub partial: bool,
}

/// A glossary for one language pair.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Glossary {
    pub id: String,
    pub name: String,
    /// Lowercase ISO code of the source language (`nl`).
    pub source_lang: String,
    /// Lowercase ISO code of the target language (`en`).
    pub target_lang: String,
    /// When it was created (or its file loaded), seconds since the Unix epoch.
    pub created: u64,
    pub entries: Vec<Entry>,
}

/// Entry file formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// `source<TAB>target[<TAB>flags]` per line (DeepL's `tsv`).
    Tsv,
    /// `source,target[,flags]` per line, fields quoted with `"` where needed (DeepL's `csv`,
    /// whose optional third and fourth columns are the language codes).
    Csv,
}

impl Format {
    /// The format named by DeepL's `entries_format` (`tsv`, `csv`).
    pub fn named(name: &str) -> Option<Format> {
        match name.to_ascii_lowercase().as_str() {
            "tsv" => Some(Format::Tsv),
            "csv" => Some(Format::Csv),
            _ => None,
        }
    }

    /// The format of a file by its extension (`.csv`: CSV, anything else TSV).
    pub fn of_path(path: &std::path::Path) -> Format {
        match path.extension().and_then(|e| e.to_str()) {
            Some(e) if e.eq_ignore_ascii_case("csv") => Format::Csv,
            _ => Format::Tsv,
        }
    }
}

/// A malformed entry list: the line and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("glossary line {line}: {message}")]
pub struct ParseError {
    pub line: usize,
    pub message: String,
}

/// The entries of `text` in `format`. Blank lines and lines starting with `#` are skipped, and so
/// is a first line `source<sep>target` (a header); a source term given twice is an error (which
/// target would win is not the file's to leave open).
pub fn parse_entries(text: &str, format: Format) -> Result<Vec<Entry>, ParseError> {
    let mut out: Vec<Entry> = Vec::new();
    for (n, raw) in text.lines().enumerate() {
        let line = n + 1;
        let raw = raw.trim_end_matches('\r');
        if raw.trim().is_empty() || raw.trim_start().starts_with('#') {
            continue;
        }
        let fields = match format {
            Format::Tsv => raw.split('\t').map(str::to_string).collect(),
            Format::Csv => csv_fields(raw).map_err(|message| ParseError { line, message })?,
        };
        let bad = |message: String| ParseError { line, message };
        if out.is_empty() && is_header(&fields) {
            continue;
        }
        let [source, target, rest @ ..] = fields.as_slice() else {
            return Err(bad("expected a source term and a target term".into()));
        };
        let (source, target) = (source.trim(), target.trim());
        if source.is_empty() || target.is_empty() {
            return Err(bad("a source or target term is empty".into()));
        }
        let mut entry = Entry {
            source: source.to_string(),
            target: target.to_string(),
            case_sensitive: false,
            partial: false,
        };
        apply_flags(&mut entry, rest, format).map_err(bad)?;
        if out.iter().any(|e| e.source == entry.source) {
            return Err(bad(format!("{source:?} is given twice")));
        }
        out.push(entry);
    }
    Ok(out)
}

fn is_header(fields: &[String]) -> bool {
    matches!(fields, [s, t, ..] if s.trim().eq_ignore_ascii_case("source")
        && t.trim().eq_ignore_ascii_case("target"))
}

/// The flags column: words among `case` / `nocase` and `word` / `partial`, separated by spaces,
/// commas or `|`. In CSV, columns that are two language codes (DeepL's) are accepted and ignored.
fn apply_flags(entry: &mut Entry, rest: &[String], format: Format) -> Result<(), String> {
    let langs = format == Format::Csv
        && rest.len() == 2
        && rest.iter().all(|l| {
            let l = l.trim();
            (2..=3).contains(&l.len()) && l.chars().all(|c| c.is_ascii_alphabetic())
        });
    if langs || rest.is_empty() {
        return Ok(());
    }
    if rest.len() > 1 {
        return Err(format!("{} columns; at most 3 expected", rest.len() + 2));
    }
    for flag in rest[0]
        .split([' ', ',', '|'])
        .map(str::trim)
        .filter(|f| !f.is_empty())
    {
        match flag.to_ascii_lowercase().as_str() {
            "case" => entry.case_sensitive = true,
            "nocase" => entry.case_sensitive = false,
            "partial" => entry.partial = true,
            "word" => entry.partial = false,
            other => {
                return Err(format!(
                    "unknown flag {other:?} (case, nocase, word or partial)"
                ))
            }
        }
    }
    Ok(())
}

/// The fields of one CSV line (RFC 4180 quoting: `"` around a field, `""` inside one).
fn csv_fields(line: &str) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    let mut field = String::new();
    let mut chars = line.chars().peekable();
    let mut quoted = false;
    let mut at_start = true;
    while let Some(c) = chars.next() {
        match (quoted, c) {
            (false, '"') if at_start => quoted = true,
            (true, '"') if chars.peek() == Some(&'"') => {
                chars.next();
                field.push('"');
            }
            (true, '"') => quoted = false,
            (false, ',') => {
                out.push(std::mem::take(&mut field));
                at_start = true;
                continue;
            }
            (_, c) => field.push(c),
        }
        at_start = false;
    }
    if quoted {
        return Err("a quoted field is not closed".into());
    }
    out.push(field);
    Ok(out)
}

/// The entries as DeepL's TSV (what `GET /v2/glossaries/{id}/entries` returns).
pub fn to_tsv(entries: &[Entry]) -> String {
    entries
        .iter()
        .map(|e| format!("{}\t{}\n", e.source, e.target))
        .collect()
}

/// A glossary term found in a source sentence.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hit<'g> {
    pub entry: &'g Entry,
    /// Byte range of the match in the sentence.
    pub span: std::ops::Range<usize>,
}

impl Entry {
    /// Every match of this entry's source term in `text`, in order; `folded` is `text`
    /// lower-cased (once per text, not per entry).
    fn matches(&self, text: &str, folded: &str) -> Vec<std::ops::Range<usize>> {
        let needle_folded;
        // Folding keeps byte offsets only when it keeps lengths; else match in exact case.
        let (hay, needle) = match self.case_sensitive || folded.len() != text.len() {
            true => (text, self.source.as_str()),
            false => {
                needle_folded = fold(&self.source);
                match needle_folded.len() == self.source.len() {
                    true => (folded, needle_folded.as_str()),
                    false => (text, self.source.as_str()),
                }
            }
        };
        let mut out = Vec::new();
        let mut from = 0;
        while let Some(at) = hay[from..].find(needle) {
            let span = from + at..from + at + needle.len();
            if self.partial || whole_word(text, &span) {
                out.push(span.clone());
            }
            from = span.start + needle.chars().next().map_or(1, char::len_utf8);
        }
        out
    }

    /// Whether `output` contains this entry's target term (case-insensitively: a term at the
    /// start of a sentence may be capitalised).
    pub fn honoured_in(&self, output: &str) -> bool {
        fold(output).contains(&fold(&self.target))
    }
}

fn fold(s: &str) -> String {
    s.to_lowercase()
}

/// Whether `span` of `text` starts and ends at word boundaries.
fn whole_word(text: &str, span: &std::ops::Range<usize>) -> bool {
    let before = text[..span.start].chars().next_back();
    let after = text[span.end..].chars().next();
    !before.is_some_and(char::is_alphanumeric) && !after.is_some_and(char::is_alphanumeric)
}

/// The glossaries that apply to a request: the house glossaries and any the request names.
#[derive(Debug, Clone, Default)]
pub struct Selection {
    glossaries: Vec<Arc<Glossary>>,
}

impl PartialEq for Selection {
    fn eq(&self, other: &Self) -> bool {
        self.glossaries.len() == other.glossaries.len()
            && self
                .glossaries
                .iter()
                .zip(&other.glossaries)
                .all(|(a, b)| Arc::ptr_eq(a, b) || a == b)
    }
}

impl Selection {
    pub fn new(glossaries: Vec<Arc<Glossary>>) -> Self {
        Self { glossaries }
    }

    pub fn is_empty(&self) -> bool {
        self.glossaries.iter().all(|g| g.entries.is_empty())
    }

    /// This selection with `more` applied before it (a request's glossary wins over the house
    /// glossary where both have a term).
    pub fn with_first(&self, more: Arc<Glossary>) -> Selection {
        let mut glossaries = vec![more];
        glossaries.extend(self.glossaries.iter().cloned());
        Selection { glossaries }
    }

    /// The terms of `text` for source language `lang` (every glossary when `None`): the longest
    /// match first where matches overlap, the earlier glossary's entry where two give the same
    /// source term; in text order.
    pub fn find<'s>(&'s self, text: &str, lang: Option<&str>) -> Vec<Hit<'s>> {
        let mut all: Vec<Hit<'s>> = Vec::new();
        let primary = lang.map(|l| l.split(['-', '_']).next().unwrap_or(l));
        let applies = |g: &Glossary| primary.is_none_or(|l| g.source_lang.eq_ignore_ascii_case(l));
        let folded = fold(text);
        for g in self.glossaries.iter().filter(|g| applies(g)) {
            for entry in &g.entries {
                all.extend(
                    entry
                        .matches(text, &folded)
                        .into_iter()
                        .map(|span| Hit { entry, span }),
                );
            }
        }
        // Longest first, then earlier; a stable sort keeps the earlier glossary first on ties.
        all.sort_by_key(|h| (std::cmp::Reverse(h.span.len()), h.span.start));
        let mut kept: Vec<Hit<'s>> = Vec::new();
        for h in all {
            let overlaps = kept
                .iter()
                .any(|k| k.span.start < h.span.end && h.span.start < k.span.end);
            if !overlaps {
                kept.push(h);
            }
        }
        kept.sort_by_key(|h| h.span.start);
        kept
    }
}

#[cfg(test)]
mod tests;
