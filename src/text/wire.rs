//! Wire-copy structure: lines, datelines, ages, headline, subheadings and
//! the related section. [`segment`] ties them together.

use super::furniture::{
    char_len, ends_terminal, ends_with_punct, find_ages, is_related_title, parse_dateline,
    starts_with_age, strip_closers,
};
use super::sentences::{collapse_ws, is_opener, is_terminator, split_sentences};
use super::{Block, BlockKind, Document, RelatedItem};

/// Lines shorter than this (in chars) are never treated as hard-wrapped.
const WRAP_MIN: usize = 40;

/// A non-blank input line, trimmed, with the number of blank lines before it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Line<'a> {
    pub text: &'a str,
    pub blanks_before: usize,
}

/// Splits on `\n`, `\r\n` and lone `\r` (and U+2028/U+2029).
pub(crate) fn raw_lines(text: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut start = 0;
    let mut iter = text.char_indices().peekable();
    while let Some((i, c)) = iter.next() {
        if matches!(c, '\n' | '\r' | '\u{2028}' | '\u{2029}') {
            out.push(&text[start..i]);
            let mut next = i + c.len_utf8();
            if c == '\r' {
                if let Some(&(j, '\n')) = iter.peek() {
                    iter.next();
                    next = j + 1;
                }
            }
            start = next;
        }
    }
    out.push(&text[start..]);
    out
}

/// The non-blank lines of `text`, trimmed, with blank-line counts.
pub(crate) fn nonblank_lines(text: &str) -> Vec<Line<'_>> {
    let mut out = Vec::new();
    let mut blanks = 0usize;
    for raw in raw_lines(text) {
        let t = raw.trim();
        if t.is_empty() {
            blanks += 1;
        } else {
            out.push(Line {
                text: t,
                blanks_before: blanks,
            });
            blanks = 0;
        }
    }
    out
}

/// `- item`, `• item`, `* item`, `1. item`, `2) item`, `a) item`.
pub(crate) fn is_list_marker(s: &str) -> bool {
    let mut cs = s.chars();
    let Some(first) = cs.next() else {
        return false;
    };
    if matches!(first, '-' | '•' | '*' | '–' | '—' | '·' | '▪' | '►') {
        return cs.next().is_some_and(char::is_whitespace);
    }
    let head: String = s.chars().take_while(char::is_ascii_digit).collect();
    let rest = if !head.is_empty() && head.len() <= 3 {
        &s[head.len()..]
    } else if first.is_alphabetic() && s.chars().nth(1) == Some(')') {
        &s[first.len_utf8()..]
    } else {
        return false;
    };
    let mut rc = rest.chars();
    matches!(rc.next(), Some('.') | Some(')')) && rc.next().is_some_and(char::is_whitespace)
}

/// A line that starts a new structural unit and is never merged into the
/// line before it.
fn is_structural(s: &str) -> bool {
    parse_dateline(s).is_some() || starts_with_age(s) || is_list_marker(s) || is_related_title(s)
}

/// Guesses whether the text is hard-wrapped (lines broken mid-sentence).
pub(crate) fn is_wrapped(lines: &[Line<'_>]) -> bool {
    let mut wrap_like = 0usize;
    let mut term_like = 0usize;
    for (i, pair) in lines.windows(2).enumerate() {
        let (a, b) = (pair[0], pair[1]);
        if i == 0 || b.blanks_before > 0 || char_len(a.text) < WRAP_MIN {
            continue;
        }
        if ends_terminal(a.text) {
            term_like += 1;
        } else if !is_structural(b.text) && !a.text.ends_with(':') {
            wrap_like += 1;
        }
    }
    wrap_like >= 1 && wrap_like * 2 >= term_like
}

/// Whether line `next` continues line `prev` (same logical line).
pub(crate) fn joins(prev: &Line<'_>, next: &Line<'_>, wrapped: bool) -> bool {
    if next.blanks_before > 0 || is_structural(next.text) {
        return false;
    }
    if wrapped && char_len(prev.text) >= WRAP_MIN {
        return true;
    }
    if ends_terminal(prev.text) {
        return false;
    }
    let starts_lower = next
        .text
        .chars()
        .find(|c| !is_opener(*c))
        .is_some_and(char::is_lowercase);
    starts_lower || prev.text.ends_with([',', ';'])
}

/// Logical lines: inclusive ranges of indices into `lines`.
pub(crate) fn logical_lines(lines: &[Line<'_>], wrapped: bool) -> Vec<(usize, usize)> {
    let mut out: Vec<(usize, usize)> = Vec::new();
    for i in 0..lines.len() {
        match out.last_mut() {
            Some(last) if joins(&lines[i - 1], &lines[i], wrapped) => last.1 = i,
            _ => out.push((i, i)),
        }
    }
    out
}

struct Unit {
    first: usize,
    last: usize,
    text: String,
}

fn is_prose(t: &str) -> bool {
    ends_terminal(t) || char_len(t) > 80
}

fn first_word_char_ok(t: &str) -> bool {
    t.chars()
        .find(|c| c.is_alphanumeric())
        .is_some_and(|c| c.is_uppercase() || c.is_numeric())
}

fn is_headline(units: &[Unit], lines: &[Line<'_>]) -> bool {
    let (Some(h), Some(next)) = (units.first(), units.get(1)) else {
        return false;
    };
    let t = h.text.as_str();
    if parse_dateline(t).is_some()
        || is_list_marker(t)
        || is_related_title(t)
        || char_len(t) > 160
        || t.split_whitespace().count() > 25
        || !first_word_char_ok(t)
    {
        return false;
    }
    let last = strip_closers(t).chars().next_back();
    let next_dateline = parse_dateline(&next.text).is_some();
    match last {
        None => false,
        Some('?' | '!') => next_dateline,
        Some(c) if is_terminator(c) || matches!(c, ',' | ';' | ':') => false,
        Some(_) => next_dateline || lines[next.first].blanks_before > 0 || is_prose(&next.text),
    }
}

fn is_subheading(t: &str, next: Option<&str>) -> bool {
    char_len(t) <= 80
        && t.split_whitespace().count() <= 12
        && !ends_with_punct(t)
        && first_word_char_ok(t)
        && !is_list_marker(t)
        && next.is_some_and(is_prose)
}

/// Where the related section starts: (unit index, has a title line).
fn related_start(units: &[Unit], lines: &[Line<'_>], from: usize) -> Option<(usize, bool)> {
    if from >= units.len() {
        return None;
    }
    // Index of the last line with an age / with an age or a dateline.
    let last_age = lines.iter().rposition(|l| !find_ages(l.text).is_empty());
    let last_item = lines
        .iter()
        .rposition(|l| parse_dateline(l.text).is_some())
        .max(last_age);
    for i in from..units.len() {
        let u = &units[i];
        if u.first == u.last
            && i + 1 < units.len()
            && last_item.is_some_and(|l| l >= units[i + 1].first)
            && is_related_title(&u.text)
        {
            return Some((i, true));
        }
    }
    let last_age = last_age?;
    units
        .iter()
        .enumerate()
        .skip(from)
        .find(|(_, u)| u.first <= last_age && parse_dateline(&u.text).is_some())
        .map(|(i, _)| (i, false))
}

enum Ev<'a> {
    Text(&'a str),
    Age(&'a str),
}

/// Related items as (text pieces, age).
type RawItems<'a> = Vec<(Vec<&'a str>, Option<&'a str>)>;

/// Turns a run of text pieces (between two ages) into items: a new item
/// starts at each dateline, or at a short title-like line followed by a
/// dateline. `first_age` goes to the first new item, `last_age` to the last.
fn flush<'a>(
    run: &mut Vec<&'a str>,
    items: &mut RawItems<'a>,
    first_age: Option<&'a str>,
    last_age: Option<&'a str>,
) {
    let n0 = items.len();
    let mut k = 0;
    while k < run.len() {
        let p = run[k];
        let next = run.get(k + 1).copied();
        let title = parse_dateline(p).is_none()
            && char_len(p) <= 100
            && !ends_terminal(p)
            && next.is_some_and(|n| parse_dateline(n).is_some());
        if k == 0 || title || parse_dateline(p).is_some() {
            let mut item = vec![p];
            if let (true, Some(n)) = (title, next) {
                // A title line keeps the dateline line that follows it.
                item.push(n);
                k += 1;
            }
            items.push((item, None));
        } else if let Some(last) = items.last_mut() {
            last.0.push(p);
        }
        k += 1;
    }
    if items.len() > n0 {
        if first_age.is_some() {
            items[n0].1 = first_age;
        }
        if let (Some(a), Some(last)) = (last_age, items.last_mut()) {
            last.1 = Some(a);
        }
    } else if first_age.is_some() || last_age.is_some() {
        items.push((Vec::new(), first_age.or(last_age)));
    }
    run.clear();
}

/// Parses the lines of a related section (after its title).
fn parse_related(lines: &[Line<'_>]) -> Vec<RelatedItem> {
    let mut events: Vec<Ev<'_>> = Vec::new();
    for l in lines {
        let mut pos = 0;
        for (s, e) in find_ages(l.text) {
            let piece = l.text[pos..s].trim();
            if !piece.is_empty() {
                events.push(Ev::Text(piece));
            }
            events.push(Ev::Age(&l.text[s..e]));
            pos = e;
        }
        let piece = l.text[pos..].trim();
        if !piece.is_empty() {
            events.push(Ev::Text(piece));
        }
    }
    let ages_before = matches!(events.first(), Some(Ev::Age(_)));
    // Items as (pieces, age). Text runs between ages are split into items
    // at datelines; the age goes to the item it follows (or, when the
    // section starts with an age, to the item after it).
    let mut items: RawItems<'_> = Vec::new();
    let mut run: Vec<&str> = Vec::new();
    let mut pending_age: Option<&str> = None;
    for ev in &events {
        match *ev {
            Ev::Text(t) => run.push(t),
            Ev::Age(a) if ages_before => {
                if !run.is_empty() || pending_age.is_some() {
                    flush(&mut run, &mut items, pending_age, None);
                }
                pending_age = Some(a);
            }
            Ev::Age(a) => flush(&mut run, &mut items, None, Some(a)),
        }
    }
    if !run.is_empty() || pending_age.is_some() {
        flush(&mut run, &mut items, pending_age, None);
    }
    items
        .into_iter()
        .map(|(pieces, age)| {
            let mut dateline = None;
            let mut sentences = Vec::new();
            for (k, p) in pieces.iter().enumerate() {
                let mut text = *p;
                if k == 0 {
                    if let Some((d, off)) = parse_dateline(p) {
                        dateline = Some(d);
                        text = &p[off..];
                    }
                }
                sentences.extend(split_sentences(text));
            }
            RelatedItem {
                dateline,
                sentences,
                age: age.map(collapse_ws),
            }
        })
        .collect()
}

/// Segments wire copy (or any text) into a [`Document`].
///
/// Never fails and never panics; empty or whitespace-only input gives an
/// empty document. Paragraphs are separated by line breaks (single or
/// blank); hard-wrapped text is detected and its lines are merged. The
/// first line is the headline when it looks like one (short, no final
/// period, followed by a dateline or by prose). A dateline opening the
/// first paragraph is removed from its first sentence. A `Meer uit ...`
/// line followed by dateline-led items starts the related section, in
/// which each age (`30 minuten geleden`) belongs to the item before it.
pub fn segment(text: &str) -> Document {
    segment_with(text, true)
}

/// Like [`segment`] for a body whose headline is kept elsewhere (a news item's own headline
/// field): the first line is never taken as a headline.
pub fn segment_body(text: &str) -> Document {
    segment_with(text, false)
}

fn segment_with(text: &str, find_headline: bool) -> Document {
    let lines = nonblank_lines(text.trim_start_matches('\u{feff}'));
    let mut doc = Document::default();
    if lines.is_empty() {
        return doc;
    }
    let wrapped = is_wrapped(&lines);
    let units: Vec<Unit> = logical_lines(&lines, wrapped)
        .into_iter()
        .map(|(first, last)| Unit {
            first,
            last,
            text: lines[first..=last]
                .iter()
                .map(|l| l.text)
                .collect::<Vec<_>>()
                .join(" "),
        })
        .collect();
    let mut idx = 0;
    if find_headline && is_headline(&units, &lines) {
        doc.headline = Some(collapse_ws(&units[0].text));
        idx = 1;
    }
    // Body texts, the first one with its dateline removed.
    let mut body: Vec<String> = Vec::new();
    if let Some(u) = units.get(idx) {
        match parse_dateline(&u.text) {
            Some((d, off)) => {
                doc.dateline = Some(d);
                let rest = u.text[off..].trim();
                let next_plain = units.get(idx + 1).is_some_and(|n| !is_structural(&n.text));
                if rest.is_empty() && next_plain {
                    // The dateline stands alone on its line.
                    body.push(units[idx + 1].text.clone());
                    idx += 2;
                } else {
                    body.push(rest.to_string());
                    idx += 1;
                }
            }
            None => {
                body.push(u.text.clone());
                idx += 1;
            }
        }
    }
    let related = related_start(&units, &lines, idx);
    let body_end = related.map_or(units.len(), |(i, _)| i);
    body.extend(
        units[idx.min(body_end)..body_end]
            .iter()
            .map(|u| u.text.clone()),
    );
    for (k, t) in body.iter().enumerate() {
        let first_with_dateline = k == 0 && doc.dateline.is_some();
        let next = body.get(k + 1).map(String::as_str);
        if !first_with_dateline && is_subheading(t, next) {
            doc.blocks.push(Block {
                kind: BlockKind::Subheading,
                sentences: vec![collapse_ws(t)],
            });
        } else {
            let sentences = split_sentences(t);
            if !sentences.is_empty() {
                doc.blocks.push(Block {
                    kind: BlockKind::Paragraph,
                    sentences,
                });
            }
        }
    }
    if let Some((i, has_title)) = related {
        let mut first_line = units[i].first;
        if has_title {
            doc.related_title = Some(collapse_ws(&units[i].text));
            first_line = units[i].last + 1;
        }
        doc.related = parse_related(&lines[first_line.min(lines.len())..]);
    }
    doc
}
