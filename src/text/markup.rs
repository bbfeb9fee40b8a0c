//! Text with HTML or XML tags, as DeepL's `tag_handling` and LibreTranslate's `format: html`
//! send it: split into tags (kept as they are) and the text between them (translated). A `<`
//! that opens no tag (not followed by a name, or no `>` after it) is text.

/// A piece of marked-up text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Markup<'a> {
    /// A tag, comment or declaration, `<` to `>` inclusive.
    Tag(&'a str),
    /// Text between tags, with its surrounding white space.
    Text(&'a str),
}

/// Splits `text` into tags and text runs, in order; concatenated they give back `text`.
pub fn split_markup(text: &str) -> Vec<Markup<'_>> {
    let mut out = Vec::new();
    let mut rest = text;
    while !rest.is_empty() {
        let tag = tag_start(rest)
            .and_then(|open| rest[open..].find('>').map(|close| (open, open + close + 1)));
        match tag {
            Some((open, close)) => {
                if open > 0 {
                    out.push(Markup::Text(&rest[..open]));
                }
                out.push(Markup::Tag(&rest[open..close]));
                rest = &rest[close..];
            }
            None => {
                out.push(Markup::Text(rest));
                rest = "";
            }
        }
    }
    out
}

/// Where the first tag of `text` starts: a `<` followed by a letter, `/`, `!` or `?` (so
/// `3 < 4` is text, as in HTML).
fn tag_start(text: &str) -> Option<usize> {
    text.match_indices('<').map(|(i, _)| i).find(|&i| {
        text[i + 1..]
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || matches!(c, '/' | '!' | '?'))
    })
}

/// A text run as (leading white space, core, trailing white space).
pub fn trim_parts(run: &str) -> (&str, &str, &str) {
    let core = run.trim();
    if core.is_empty() {
        return (run, "", "");
    }
    let start = run.len() - run.trim_start().len();
    let end = start + core.len();
    (&run[..start], core, &run[end..])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_and_text_alternate_and_nothing_is_lost() {
        let text = "<p>Het <b>kabinet</b> valt.</p> 3 < 4 <br/>";
        let parts = split_markup(text);
        assert_eq!(
            parts,
            [
                Markup::Tag("<p>"),
                Markup::Text("Het "),
                Markup::Tag("<b>"),
                Markup::Text("kabinet"),
                Markup::Tag("</b>"),
                Markup::Text(" valt."),
                Markup::Tag("</p>"),
                Markup::Text(" 3 < 4 "),
                Markup::Tag("<br/>"),
            ]
        );
        let back: String = parts
            .iter()
            .map(|p| match p {
                Markup::Tag(s) | Markup::Text(s) => *s,
            })
            .collect();
        assert_eq!(back, text);
        assert_eq!(split_markup("a < b"), [Markup::Text("a < b")]);
        assert_eq!(trim_parts("  De Kamer \n"), ("  ", "De Kamer", " \n"));
        assert_eq!(trim_parts("   "), ("   ", "", ""));
    }
}
