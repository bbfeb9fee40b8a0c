//! Cutting text that is longer than a model's input window into pieces that fit: between
//! words, and inside a word only when one word alone is too long. Nothing is dropped: the pieces
//! joined with single spaces hold every word of the text, in order.

use crate::Error;

/// Splits `text` into the fewest consecutive pieces, filled greedily word by word, for which
/// `fits` holds.
pub(crate) fn pieces(
    text: &str,
    fits: &mut dyn FnMut(&str) -> Result<bool, Error>,
) -> Result<Vec<String>, Error> {
    let mut out: Vec<String> = Vec::new();
    let mut part = String::new();
    for word in text.split_whitespace() {
        let candidate = if part.is_empty() {
            word.to_string()
        } else {
            format!("{part} {word}")
        };
        if fits(&candidate)? {
            part = candidate;
            continue;
        }
        if !part.is_empty() {
            out.push(std::mem::take(&mut part));
        }
        if fits(word)? {
            part = word.to_string();
        } else {
            let mut cut = cut_word(word, fits)?;
            part = cut.pop().unwrap_or_default();
            out.extend(cut);
        }
    }
    if !part.is_empty() {
        out.push(part);
    }
    Ok(out)
}

/// A word that alone does not fit, cut between characters into pieces that do (at least one
/// character each, so this always ends).
fn cut_word(
    word: &str,
    fits: &mut dyn FnMut(&str) -> Result<bool, Error>,
) -> Result<Vec<String>, Error> {
    let chars: Vec<char> = word.chars().collect();
    let mut out = Vec::new();
    let mut start = 0;
    while start < chars.len() {
        // The longest prefix of the rest that fits, by bisection.
        let (mut lo, mut hi) = (start + 1, chars.len());
        while lo < hi {
            let mid = (lo + hi).div_ceil(2);
            let piece: String = chars[start..mid].iter().collect();
            if fits(&piece)? {
                lo = mid;
            } else {
                hi = mid - 1;
            }
        }
        out.push(chars[start..lo].iter().collect());
        start = lo;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn by_chars(max: usize) -> impl FnMut(&str) -> Result<bool, Error> {
        move |s: &str| Ok(s.chars().count() <= max)
    }

    #[test]
    fn words_are_packed_greedily_and_nothing_is_lost() {
        let text = "het kabinet  valt vandaag\nna lang overleg";
        let out = pieces(text, &mut by_chars(12)).unwrap();
        assert_eq!(out, ["het kabinet", "valt vandaag", "na lang", "overleg"]);
        assert_eq!(
            out.join(" "),
            text.split_whitespace().collect::<Vec<_>>().join(" ")
        );
    }

    #[test]
    fn a_word_too_long_alone_is_cut_between_characters() {
        let out = pieces("ab stikstofcrisisoverleg cd", &mut by_chars(5)).unwrap();
        assert_eq!(out, ["ab", "stiks", "tofcr", "isiso", "verle", "g cd"]);
        assert!(pieces("", &mut by_chars(5)).unwrap().is_empty());
    }
}
