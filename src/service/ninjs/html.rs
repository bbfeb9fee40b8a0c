//! Just enough HTML for news bodies: block elements become paragraphs or headings, inline markup
//! is dropped, character references are decoded. Reading never fails: text outside any block is
//! a paragraph of its own, and an unclosed tag ends the text.

/// A block of a body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HtmlBlock {
    /// `<h1>` … `<h6>`.
    pub heading: bool,
    /// The block's text, whitespace collapsed.
    pub text: String,
}

/// Elements whose start or end ends the current block.
const BLOCKS: &[&str] = &[
    "p",
    "div",
    "br",
    "li",
    "ul",
    "ol",
    "blockquote",
    "section",
    "article",
    "header",
    "footer",
    "figure",
    "figcaption",
    "table",
    "tr",
    "td",
    "th",
    "pre",
    "hr",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
];

/// Elements whose content is not text.
const SKIPPED: &[&str] = &["script", "style", "head", "template"];

/// The blocks of an HTML (or XHTML) fragment, in order, blank ones left out.
pub fn html_blocks(html: &str) -> Vec<HtmlBlock> {
    let mut blocks = Vec::new();
    let mut text = String::new();
    let mut heading = false;
    let mut rest = html;
    while let Some(lt) = rest.find('<') {
        text.push_str(&rest[..lt]);
        let after = &rest[lt + 1..];
        if let Some(body) = after.strip_prefix("!--") {
            rest = body.find("-->").map_or("", |e| &body[e + 3..]);
            continue;
        }
        let Some(gt) = after.find('>') else {
            rest = "";
            break;
        };
        let tag = &after[..gt];
        rest = &after[gt + 1..];
        let closing = tag.starts_with('/');
        let name: String = tag
            .trim_start_matches('/')
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric())
            .collect::<String>()
            .to_ascii_lowercase();
        if !closing && SKIPPED.contains(&name.as_str()) && !tag.ends_with('/') {
            let end = format!("</{name}");
            rest = find_ascii_ci(rest, &end)
                .and_then(|i| rest[i..].find('>').map(|g| &rest[i + g + 1..]))
                .unwrap_or("");
            continue;
        }
        if BLOCKS.contains(&name.as_str()) {
            push_block(&mut blocks, &text, heading);
            text.clear();
            heading = !closing && is_heading(&name);
        }
    }
    text.push_str(rest);
    push_block(&mut blocks, &text, heading);
    blocks
}

fn is_heading(name: &str) -> bool {
    matches!(name, "h1" | "h2" | "h3" | "h4" | "h5" | "h6")
}

fn find_ascii_ci(hay: &str, needle: &str) -> Option<usize> {
    hay.as_bytes()
        .windows(needle.len())
        .position(|w| w.eq_ignore_ascii_case(needle.as_bytes()))
}

fn push_block(blocks: &mut Vec<HtmlBlock>, raw: &str, heading: bool) {
    let text = decode_entities(raw)
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    if !text.is_empty() {
        blocks.push(HtmlBlock { heading, text });
    }
}

/// Decodes the character references news bodies use: the XML five, `&nbsp;` and a few
/// typographic names, and numeric `&#…;` / `&#x…;`. Anything else is kept as written.
pub fn decode_entities(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(amp) = rest.find('&') {
        out.push_str(&rest[..amp]);
        let after = &rest[amp + 1..];
        let decoded = after
            .find(';')
            .filter(|&semi| semi <= 10)
            .and_then(|semi| entity(&after[..semi]).map(|c| (c, semi)));
        match decoded {
            Some((c, semi)) => {
                out.push(c);
                rest = &after[semi + 1..];
            }
            None => {
                out.push('&');
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

fn entity(name: &str) -> Option<char> {
    if let Some(num) = name.strip_prefix('#') {
        let code = match num.strip_prefix(['x', 'X']) {
            Some(hex) => u32::from_str_radix(hex, 16).ok()?,
            None => num.parse().ok()?,
        };
        return char::from_u32(code);
    }
    Some(match name {
        "amp" => '&',
        "lt" => '<',
        "gt" => '>',
        "quot" => '"',
        "apos" => '\'',
        "nbsp" => '\u{a0}',
        "ndash" => '–',
        "mdash" => '—',
        "lsquo" => '‘',
        "rsquo" => '’',
        "ldquo" => '“',
        "rdquo" => '”',
        "hellip" => '…',
        "euro" => '€',
        _ => return None,
    })
}

/// Escapes text for an HTML or XHTML element.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            _ => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b(heading: bool, text: &str) -> HtmlBlock {
        HtmlBlock {
            heading,
            text: text.into(),
        }
    }

    #[test]
    fn blocks_headings_inline_markup_and_entities() {
        let html = "<p>DEN HAAG (ANP) - Het <b>kabinet</b> valt.</p>\n<h2>Kritiek &amp; lof</h2>\
                    <p>Zij zei: &ldquo;Nee&rdquo;.<br/>Tweede&#32;regel &#x20AC;5</p>\
                    <!-- <p>weg</p> --><script>var x = '<p>';</script>los";
        assert_eq!(
            html_blocks(html),
            vec![
                b(false, "DEN HAAG (ANP) - Het kabinet valt."),
                b(true, "Kritiek & lof"),
                b(false, "Zij zei: “Nee”."),
                b(false, "Tweede regel €5"),
                b(false, "los"),
            ]
        );
    }

    #[test]
    fn broken_markup_keeps_the_text_it_can() {
        assert_eq!(
            html_blocks("<p>a &bogus; b & c"),
            vec![b(false, "a &bogus; b & c")]
        );
        assert_eq!(html_blocks("<p>tekst</p><p"), vec![b(false, "tekst")]);
        assert!(html_blocks("<p> </p><div></div>").is_empty());
        assert_eq!(decode_entities("&#xZZ; &#1114112;"), "&#xZZ; &#1114112;");
    }

    #[test]
    fn escape_round_trips_through_decode() {
        let s = "a < b & \"c\" > d";
        assert_eq!(decode_entities(&escape(s)), s);
    }
}
