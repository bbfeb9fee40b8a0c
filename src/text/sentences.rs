//! Dutch sentence splitting.
//!
//! The splitter works on one paragraph of running text. It never drops or
//! reorders text: every sentence is a contiguous slice of the input with its
//! internal whitespace collapsed to single spaces, so concatenating the
//! sentences gives the input back modulo whitespace.
//!
//! Boundaries are proposed after runs of `.`, `!`, `?` and `…` (plus any
//! closing quotes or brackets that follow them) when whitespace follows, and
//! are then vetoed by Dutch-specific rules: abbreviations, initials, list
//! markers, and a lower-case continuation (`"Wat nu?" vroeg hij.`).

/// Abbreviations (lower-case, without the final period) that never end a
/// sentence: the period is always followed by more of the same sentence
/// (`mr. Rutte`, `ca. 3000`, `zgn. Natura 2000-gebieden`, `o.a. de BBB`).
const NEVER_FINAL: &[&str] = &[
    "a.d", "adv", "afb", "art", "bijv", "blz", "burg", "bv", "c.q", "ca", "d.d", "d.w.z", "dhr",
    "dr", "drs", "ds", "fa", "gebr", "gen", "hr", "i.o.m", "i.p.v", "i.s.m", "i.v.m", "ing", "ir",
    "jhr", "kol", "lt", "m.b.t", "m.b.v", "m.i", "m.n", "mevr", "mej", "mgr", "mr", "mw", "n.a.v",
    "nl", "nr", "o.a", "o.b.v", "o.l.v", "o.m", "p.p", "prof", "resp", "sgt", "st", "t.a.v",
    "t.b.v", "t.g.v", "t.o.v", "t.w", "tel", "vgl", "vs", "weth", "z.g", "zgn",
];

/// Abbreviations that may end a sentence (`op 3 maart jl.`, `enz.`): the
/// period is a boundary only when an upper-case letter follows.
const MAY_END: &[&str] = &[
    "a.s", "apr", "aug", "dec", "e.a", "e.d", "e.v", "enz", "etc", "evt", "excl", "feb", "febr",
    "fig", "gem", "incl", "jan", "jl", "jr", "jul", "jun", "max", "mil", "milj", "min", "mld",
    "mln", "mrd", "mrt", "n.v.t", "nov", "okt", "ong", "p", "pag", "sep", "sept", "sr", "vol",
    "z.s.m",
];

/// Capitalised abbreviations of first names that behave like initials.
const NAME_ABBREVIATIONS: &[&str] = &["Chr", "Fr", "Jac", "Joh", "Ph", "Th", "Wm"];

/// Dotted upper-case abbreviations that are names of things, not initials,
/// and can therefore end a sentence (`de V.S.`).
const DOTTED_ACRONYMS: &[&str] = &["B.V", "E.U", "N.V", "U.S", "U.S.A", "V.N", "V.S"];

/// Characters that end a sentence.
pub(crate) fn is_terminator(c: char) -> bool {
    matches!(c, '.' | '!' | '?' | '…')
}

/// Closing quotes and brackets that may follow a terminator and still belong
/// to the sentence (`"Wat nu?"`, `(zie hieronder.)`). `“` is a closing quote
/// in the Dutch/German `„…“` style.
pub(crate) fn is_closer(c: char) -> bool {
    matches!(
        c,
        '"' | '\'' | '”' | '’' | '“' | '»' | '«' | '›' | ')' | ']' | '}'
    )
}

/// Opening quotes and brackets that may precede the first word of a sentence.
pub(crate) fn is_opener(c: char) -> bool {
    matches!(
        c,
        '"' | '\'' | '„' | '“' | '‘' | '‚' | '«' | '»' | '‹' | '(' | '[' | '{' | '¿' | '¡'
    )
}

/// Splits one Dutch paragraph into sentences.
///
/// Never panics; empty or whitespace-only input gives an empty vector.
/// Blank lines inside the input are hard boundaries; single line breaks are
/// treated as spaces. Whitespace inside a sentence is collapsed to single
/// spaces and sentences are trimmed.
pub fn split_sentences(paragraph: &str) -> Vec<String> {
    sentence_ranges(paragraph)
        .into_iter()
        .map(|(s, e)| collapse_ws(&paragraph[s..e]))
        .filter(|s| !s.is_empty())
        .collect()
}

/// Collapses runs of whitespace to one space and trims both ends.
pub(crate) fn collapse_ws(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for word in s.split_whitespace() {
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(word);
    }
    out
}

fn is_line_break(c: char) -> bool {
    matches!(c, '\n' | '\r' | '\u{2028}' | '\u{2029}')
}

fn has_alnum(s: &str) -> bool {
    s.chars().any(char::is_alphanumeric)
}

/// Byte ranges of the sentences in `text` (untrimmed, contiguous pieces).
fn sentence_ranges(text: &str) -> Vec<(usize, usize)> {
    let chars: Vec<(usize, char)> = text.char_indices().collect();
    let n = chars.len();
    let byte_at = |i: usize| if i < n { chars[i].0 } else { text.len() };
    let mut ranges: Vec<(usize, usize)> = Vec::new();
    let mut start = 0usize; // byte offset of the current sentence
    let mut i = 0usize;
    while i < n {
        let c = chars[i].1;
        if is_line_break(c) {
            // A blank line (line break, optional whitespace, line break) is
            // a hard break; `\r\n` counts as one line break.
            let mut k = i + 1;
            let mut breaks = 1;
            while k < n && chars[k].1.is_whitespace() {
                let crlf = chars[k].1 == '\n' && chars[k - 1].1 == '\r';
                if is_line_break(chars[k].1) && !crlf {
                    breaks += 1;
                }
                k += 1;
            }
            if breaks > 1 && !text[start..chars[i].0].trim().is_empty() {
                ranges.push((start, chars[i].0));
                start = chars[i].0;
            }
            i = k;
            continue;
        }
        if !is_terminator(c) {
            i += 1;
            continue;
        }
        // Take the whole run of terminators and closers: `?!`, `..."`, `.)`.
        let run_start = i;
        let mut j = i;
        let mut closers = false;
        while j < n && (is_terminator(chars[j].1) || is_closer(chars[j].1)) {
            if is_closer(chars[j].1) {
                closers = true;
            }
            j += 1;
        }
        if j < n && !chars[j].1.is_whitespace() {
            // `400.000`, `www.anp.nl`, `personeel.30`: no boundary here.
            i = j;
            continue;
        }
        let mut k = j;
        while k < n && chars[k].1.is_whitespace() {
            k += 1;
        }
        if k >= n {
            break; // the rest is the last sentence
        }
        let run: String = chars[run_start..j].iter().map(|&(_, ch)| ch).collect();
        let end = byte_at(j);
        if is_boundary(text, &chars, start, run_start, &run, closers, k)
            && has_alnum(&text[start..end])
        {
            ranges.push((start, end));
            start = end;
        }
        i = j;
    }
    if start < text.len() && !text[start..].trim().is_empty() {
        if !has_alnum(&text[start..]) && !ranges.is_empty() {
            // Stray punctuation at the end joins the previous sentence.
            if let Some(last) = ranges.last_mut() {
                last.1 = text.len();
            }
        } else {
            ranges.push((start, text.len()));
        }
    }
    ranges
}

/// How the text after a candidate boundary starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum NextStart {
    Upper,
    Lower,
    Digit,
    Other,
}

fn next_start(chars: &[(usize, char)], k: usize) -> NextStart {
    let n = chars.len();
    let mut p = k;
    let mut apostrophe = false;
    while p < n && is_opener(chars[p].1) {
        apostrophe = matches!(chars[p].1, '\'' | '’' | '‘');
        p += 1;
    }
    let Some(&(_, c)) = chars.get(p) else {
        return NextStart::Other;
    };
    if c.is_uppercase() {
        NextStart::Upper
    } else if c.is_lowercase() {
        // `'s Avonds`, `'t Is`, `'s-Hertogenbosch` start sentences in Dutch.
        let after = chars.get(p + 1).map(|&(_, ch)| ch);
        let elided = matches!(c, 's' | 't' | 'n') && after.is_none_or(|ch| !ch.is_alphabetic());
        if p > k && apostrophe && elided {
            NextStart::Upper
        } else {
            NextStart::Lower
        }
    } else if c.is_numeric() {
        NextStart::Digit
    } else {
        NextStart::Other
    }
}

/// The word before position `i` (exclusive), without leading openers.
fn token_before<'a>(text: &'a str, chars: &[(usize, char)], i: usize) -> (&'a str, usize) {
    let mut s = i;
    while s > 0 && !chars[s - 1].1.is_whitespace() {
        s -= 1;
    }
    while s < i && is_opener(chars[s].1) {
        s += 1;
    }
    let from = chars.get(s).map_or(text.len(), |&(b, _)| b);
    let to = chars.get(i).map_or(text.len(), |&(b, _)| b);
    (&text[from..to], s)
}

/// `J`, `J.P`, `W` (single capitals separated by periods).
fn is_initials(tok: &str) -> bool {
    let mut expect_letter = true;
    let mut any = false;
    for c in tok.chars() {
        if expect_letter {
            if !c.is_uppercase() {
                return false;
            }
            any = true;
        } else if c != '.' && c != '-' {
            return false;
        }
        expect_letter = !expect_letter;
    }
    any && !expect_letter
}

/// `z.s.m`, `a.s`, `anp.nl`: lower-case pieces joined by periods.
fn is_dotted_lower(tok: &str) -> bool {
    tok.contains('.')
        && tok
            .split('.')
            .all(|p| !p.is_empty() && p.chars().count() <= 4 && p.chars().all(char::is_lowercase))
}

/// Only whitespace between the start of the line (or text) and char `s`.
fn at_line_start(chars: &[(usize, char)], s: usize) -> bool {
    chars[..s]
        .iter()
        .rev()
        .take_while(|&&(_, c)| !is_line_break(c))
        .all(|&(_, c)| c.is_whitespace())
}

fn is_boundary(
    text: &str,
    chars: &[(usize, char)],
    sentence_start: usize,
    run_start: usize,
    run: &str,
    closers: bool,
    k: usize,
) -> bool {
    let next = next_start(chars, k);
    if next == NextStart::Lower {
        return false; // `"Wat nu?" vroeg hij.`, `bla … en toen`
    }
    let single_period = run == "." && !closers;
    if !single_period {
        return true;
    }
    let (tok, tok_start) = token_before(text, chars, run_start);
    if tok.is_empty() {
        return true;
    }
    let lower = tok.to_lowercase();
    let all_caps = tok.chars().filter(|c| c.is_alphabetic()).count() >= 2
        && !tok.chars().any(char::is_lowercase);
    // Numbered or lettered list markers at the start of a line: `1. Eerst`.
    let short_marker = (tok.chars().all(|c| c.is_ascii_digit()) && tok.len() <= 3)
        || (tok.chars().count() == 1 && tok.chars().all(char::is_alphabetic));
    let tok_byte = chars.get(tok_start).map_or(text.len(), |&(b, _)| b);
    let at_sentence_start = text
        .get(sentence_start..tok_byte)
        .is_some_and(|s| s.trim().is_empty());
    if short_marker && (at_line_start(chars, tok_start) || at_sentence_start) {
        return false;
    }
    // Dutch elisions (`'t`, `'s`, `'n`) are words, not abbreviations.
    let elided = tok_start > 0
        && matches!(chars[tok_start - 1].1, '\'' | '’' | '‘')
        && matches!(tok, "t" | "s" | "n");
    if elided {
        return true;
    }
    if DOTTED_ACRONYMS.contains(&tok) {
        return next == NextStart::Upper;
    }
    if is_initials(tok) || NAME_ABBREVIATIONS.contains(&tok) {
        return next != NextStart::Upper;
    }
    if !all_caps && NEVER_FINAL.contains(&lower.as_str()) {
        return false;
    }
    if !all_caps && MAY_END.contains(&lower.as_str()) {
        return next == NextStart::Upper;
    }
    if is_dotted_lower(tok) || (tok.chars().count() == 1 && tok.chars().all(char::is_lowercase)) {
        return next == NextStart::Upper;
    }
    true
}
