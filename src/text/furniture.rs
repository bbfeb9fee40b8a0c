//! Wire furniture recognised in the text: datelines (`DEN HAAG (ANP) - `),
//! related-item ages (`30 minuten geleden`) and related-section titles.

use super::places::{age_number, is_age_unit, RELATED_PREFIXES};
use super::sentences::{collapse_ws, is_closer, is_opener, is_terminator};
use super::Dateline;

/// Agencies that make a mixed-case place (`Den Haag (ANP) -`) acceptable.
const KNOWN_AGENCIES: &[&str] = &[
    "ANP",
    "AFP",
    "AP",
    "BELGA",
    "BLOOMBERG",
    "DPA",
    "EFE",
    "ANSA",
    "NOVUM",
    "NTB",
    "REUTERS",
    "RTR",
    "TT",
];

/// Lower-case words allowed inside a mixed-case place (`Bergen op Zoom`).
const PLACE_PARTICLES: &[&str] = &[
    "aan", "al", "am", "an", "bij", "de", "den", "der", "el", "in", "la", "le", "op", "sur", "van",
];

pub(crate) fn char_len(s: &str) -> usize {
    s.chars().count()
}

/// The text without trailing closing quotes and brackets.
pub(crate) fn strip_closers(s: &str) -> &str {
    s.trim_end_matches(is_closer)
}

/// Ends with `.`, `!`, `?` or `…`, possibly followed by closing quotes.
pub(crate) fn ends_terminal(s: &str) -> bool {
    strip_closers(s)
        .chars()
        .next_back()
        .is_some_and(is_terminator)
}

/// Ends with punctuation that a heading never ends with.
pub(crate) fn ends_with_punct(s: &str) -> bool {
    strip_closers(s)
        .chars()
        .next_back()
        .is_some_and(|c| is_terminator(c) || matches!(c, ',' | ';' | ':'))
}

/// Parses a dateline at the start of `s`: `PLACE (AGENCY) -`. Returns the
/// dateline and the byte offset where the text after it (and after the
/// whitespace that follows the dash) begins.
pub fn parse_dateline(s: &str) -> Option<(Dateline, usize)> {
    let open = s.find('(')?;
    if open == 0 || open > 80 {
        return None;
    }
    let close = open + s[open..].find(')')?;
    let place = collapse_ws(&s[..open]);
    let agency = collapse_ws(&s[open + 1..close]);
    if !valid_agency(&agency) || !valid_place(&place, &agency) {
        return None;
    }
    let after = &s[close + 1..];
    let dash_at = after.len() - after.trim_start().len();
    let mut end = close + 1 + dash_at;
    let mut dashes = 0;
    for c in s[end..].chars() {
        if matches!(c, '-' | '–' | '—' | '‒' | '−') && dashes < 2 {
            dashes += 1;
            end += c.len_utf8();
        } else {
            break;
        }
    }
    if dashes == 0 {
        return None;
    }
    let rest = &s[end..];
    end += rest.len() - rest.trim_start().len();
    Some((Dateline { place, agency }, end))
}

fn valid_agency(a: &str) -> bool {
    !a.is_empty()
        && char_len(a) <= 30
        && a.chars().any(char::is_uppercase)
        && a.chars().all(|c| {
            c.is_uppercase() || c.is_ascii_digit() || matches!(c, '/' | ' ' | '-' | '&' | '.')
        })
}

fn valid_place(p: &str, agency: &str) -> bool {
    let letters = p.chars().filter(|c| c.is_alphabetic()).count();
    if letters < 2 || char_len(p) > 50 || p.split(' ').count() > 6 {
        return false;
    }
    let first_ok = p
        .chars()
        .next()
        .is_some_and(|c| c.is_uppercase() || matches!(c, '\'' | '’'));
    let chars_ok = p
        .chars()
        .all(|c| c.is_alphabetic() || matches!(c, ' ' | '-' | '\'' | '’' | '.' | '/'));
    if !first_ok || !chars_ok {
        return false;
    }
    if !p.chars().any(char::is_lowercase) {
        return true;
    }
    // Mixed case (`Den Haag (ANP) -`) only with a known agency.
    let known = agency
        .split('/')
        .next()
        .is_some_and(|a| KNOWN_AGENCIES.contains(&a.trim()));
    known
        && p.split([' ', '-']).all(|w| {
            w.chars().next().is_some_and(|c| !c.is_lowercase()) || PLACE_PARTICLES.contains(&w)
        })
}

/// Byte ranges of item ages in one line of a related section:
/// `30 minuten geleden`, `1 uur geleden`, `gisteren`. An age must stand at
/// the start of the line or after a sentence end (`personeel.30 minuten
/// geleden`), and be followed by the end of the line, a dateline, or text
/// glued to it that starts with a capital (`geledenMADRID (ANP/RTR) -`).
pub(crate) fn find_ages(line: &str) -> Vec<(usize, usize)> {
    let mut found: Vec<(usize, usize)> = Vec::new();
    for (g, _) in line.match_indices("geleden") {
        let end = g + "geleden".len();
        if let Some(start) = age_start_before(line, g) {
            if age_context_ok(line, start, end) {
                found.push((start, end));
            }
        }
    }
    for word in ["gisteren", "Gisteren", "vandaag", "Vandaag"] {
        for (p, _) in line.match_indices(word) {
            let mut start = p;
            let before = &line[..p];
            if before.ends_with("eer") || before.ends_with("Eer") {
                start = p - 3;
            }
            let end = p + word.len();
            if age_context_ok(line, start, end) {
                found.push((start, end));
            }
        }
    }
    found.sort_unstable();
    // Drop overlaps (cannot normally happen) so ranges are increasing.
    let mut out: Vec<(usize, usize)> = Vec::with_capacity(found.len());
    for r in found {
        if out.last().is_none_or(|l| r.0 >= l.1) {
            out.push(r);
        }
    }
    out
}

/// Given `geleden` at byte `g`, finds the start of `<number> <unit> `.
fn age_start_before(line: &str, g: usize) -> Option<usize> {
    let before = &line[..g];
    let b1 = before.trim_end();
    if b1.len() == before.len() {
        return None; // `geleden` glued to the unit
    }
    let unit_start = b1
        .char_indices()
        .rev()
        .take_while(|&(_, c)| c.is_alphabetic())
        .last()
        .map(|(i, _)| i)?;
    if !is_age_unit(&b1[unit_start..].to_lowercase()) {
        return None;
    }
    let before_unit = &b1[..unit_start];
    let b2 = before_unit.trim_end();
    if b2.len() == before_unit.len() {
        return None;
    }
    let digits_start = b2
        .char_indices()
        .rev()
        .take_while(|&(_, c)| c.is_ascii_digit())
        .last()
        .map(|(i, _)| i);
    let num_start = match digits_start {
        Some(i) => i,
        None => b2
            .char_indices()
            .rev()
            .take_while(|&(_, c)| c.is_alphabetic())
            .last()
            .map(|(i, _)| i)?,
    };
    age_number(&b2[num_start..].to_lowercase())?;
    Some(num_start)
}

fn age_context_ok(line: &str, start: usize, end: usize) -> bool {
    let left = line[..start].trim_end();
    let left_ok = match left.chars().next_back() {
        None => true,
        Some(c) => {
            (is_terminator(c) || is_closer(c)) && !line[..start].ends_with(char::is_alphanumeric)
        }
    };
    if !left_ok {
        return false;
    }
    let right = &line[end..];
    if right.trim().is_empty() {
        return true;
    }
    if right.starts_with(char::is_whitespace) {
        return parse_dateline(right.trim_start()).is_some();
    }
    right
        .chars()
        .next()
        .is_some_and(|c| c.is_uppercase() || is_opener(c) || c.is_ascii_digit())
}

pub(crate) fn starts_with_age(s: &str) -> bool {
    find_ages(s).first().is_some_and(|&(a, _)| a == 0)
}

/// `Meer uit Binnenland`, `Lees ook`, ...
pub(crate) fn is_related_title(s: &str) -> bool {
    let s = s.trim();
    if s.is_empty() || char_len(s) > 60 || ends_with_punct(s) {
        return false;
    }
    let lower = s.to_lowercase();
    RELATED_PREFIXES.iter().any(|(p, _)| {
        lower
            .strip_prefix(p)
            .is_some_and(|r| r.is_empty() || r.starts_with(char::is_whitespace))
    })
}
