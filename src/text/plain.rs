//! Plain multi-paragraph text: split into sentences while remembering the
//! line structure, and put translated sentences back into it.

use serde::{Deserialize, Serialize};

use super::sentences::split_sentences;
use super::wire::{is_wrapped, logical_lines, nonblank_lines};

/// A run of non-blank lines of plain text, split into sentences.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Paragraph {
    /// Blank lines between the previous paragraph (or the start of the
    /// text) and this one.
    #[serde(default)]
    pub blank_lines_before: usize,
    /// The paragraph's lines, each split into sentences. Lines that merely
    /// continue the line before (hard-wrapped text, a line starting in
    /// lower case after one ending mid-sentence) are merged into it.
    #[serde(default)]
    pub lines: Vec<Vec<String>>,
}

impl Paragraph {
    /// Number of sentences in the paragraph.
    pub fn sentence_count(&self) -> usize {
        self.lines.iter().map(Vec::len).sum()
    }
}

/// Splits arbitrary text into paragraphs (separated by blank lines), lines
/// and Dutch sentences. Never panics; empty or whitespace-only text gives
/// no paragraphs. Whitespace inside a line is collapsed; trailing blank
/// lines are not kept.
pub fn split_text(text: &str) -> Vec<Paragraph> {
    let lines = nonblank_lines(text.trim_start_matches('\u{feff}'));
    let wrapped = is_wrapped(&lines);
    let mut out: Vec<Paragraph> = Vec::new();
    for (first, last) in logical_lines(&lines, wrapped) {
        let joined = lines[first..=last]
            .iter()
            .map(|l| l.text)
            .collect::<Vec<_>>()
            .join(" ");
        let sentences = split_sentences(&joined);
        let blanks = lines[first].blanks_before;
        match out.last_mut() {
            Some(p) if blanks == 0 => p.lines.push(sentences),
            _ => out.push(Paragraph {
                blank_lines_before: blanks,
                lines: vec![sentences],
            }),
        }
    }
    out
}

/// All sentences of [`split_text`]'s result, in order.
pub fn text_sentences(paragraphs: &[Paragraph]) -> impl Iterator<Item = &str> + '_ {
    paragraphs
        .iter()
        .flat_map(|p| p.lines.iter().flatten().map(String::as_str))
}

/// Number of sentences in [`split_text`]'s result.
pub fn text_sentence_count(paragraphs: &[Paragraph]) -> usize {
    paragraphs.iter().map(Paragraph::sentence_count).sum()
}

/// Rebuilds text from `paragraphs` with `translated[i]` in place of the i-th
/// sentence of [`text_sentences`]: sentences of a line are joined by one
/// space, lines by `\n`, and paragraphs keep their blank lines. Missing
/// translations fall back to the original sentence; extras are ignored.
pub fn join_text<S: AsRef<str>>(paragraphs: &[Paragraph], translated: &[S]) -> String {
    let mut it = translated.iter();
    let mut out = String::new();
    for (pi, p) in paragraphs.iter().enumerate() {
        if pi > 0 {
            out.push('\n');
        }
        for _ in 0..p.blank_lines_before {
            out.push('\n');
        }
        for (li, line) in p.lines.iter().enumerate() {
            if li > 0 {
                out.push('\n');
            }
            let mut first = true;
            for s in line {
                let t = it.next().map_or(s.as_str(), |t| t.as_ref()).trim();
                if t.is_empty() {
                    continue;
                }
                if !first {
                    out.push(' ');
                }
                out.push_str(t);
                first = false;
            }
        }
    }
    out
}
