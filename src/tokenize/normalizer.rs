//! SentencePiece text normalization, reproducing `normalizer.cc` of
//! sentencepiece 0.2.0: longest-match rewriting with the precompiled charsmap
//! (e.g. `nmt_nfkc`), removal of extra whitespace, the dummy prefix and the
//! escaping of spaces as `▁`.
//!
//! `tokenizers::normalizers::Precompiled` is not used here because it matches
//! the charsmap per grapheme cluster, which differs from sentencepiece's
//! byte-level longest-prefix match for some combining sequences.

use std::borrow::Cow;

use super::proto::NormalizerSpec;
use super::trie::{ByteTrie, DoubleArray};

/// `▁` (U+2581), sentencepiece's escaped space.
pub const SPACE_SYMBOL: &str = "\u{2581}";

/// sentencepiece's `kMaxTrieResultsSize`.
const MAX_TRIE_RESULTS: usize = 32;

/// A compiled [`NormalizerSpec`].
#[derive(Debug, Clone)]
pub(crate) struct SpmNormalizer {
    add_dummy_prefix: bool,
    remove_extra_whitespaces: bool,
    escape_whitespaces: bool,
    treat_whitespace_as_suffix: bool,
    charsmap: Option<(DoubleArray, Vec<u8>)>,
    /// User-defined symbols, which are copied verbatim.
    user_defined: ByteTrie,
}

impl SpmNormalizer {
    pub(crate) fn new(
        spec: &NormalizerSpec,
        treat_whitespace_as_suffix: bool,
        user_defined: ByteTrie,
    ) -> Result<Self, String> {
        let charsmap = if spec.precompiled_charsmap.is_empty() {
            None
        } else {
            Some(decode_charsmap(&spec.precompiled_charsmap)?)
        };
        Ok(Self {
            add_dummy_prefix: spec.add_dummy_prefix,
            remove_extra_whitespaces: spec.remove_extra_whitespaces,
            escape_whitespaces: spec.escape_whitespaces,
            treat_whitespace_as_suffix,
            charsmap,
            user_defined,
        })
    }

    /// Normalizes one prefix of `input`: returns the replacement text and the
    /// number of input bytes it consumed (always > 0 for non-empty input).
    fn normalize_prefix<'a>(&'a self, input: &'a str) -> Result<(&'a str, usize), String> {
        let bytes = input.as_bytes();
        if let Some((len, _)) = self.user_defined.longest_prefix(bytes) {
            let text = input
                .get(..len)
                .ok_or("user-defined symbol ends inside a character")?;
            return Ok((text, len));
        }
        if let Some((trie, normalized)) = &self.charsmap {
            // Results come shortest first; sentencepiece keeps the longest.
            if let Some(&(value, len)) = trie.common_prefix_search(bytes, MAX_TRIE_RESULTS).last() {
                if len > 0 {
                    if !input.is_char_boundary(len) {
                        return Err("charsmap rule ends inside a character".into());
                    }
                    let start = value as usize;
                    let tail = normalized
                        .get(start..)
                        .ok_or_else(|| format!("charsmap value {start} is out of range"))?;
                    let end = tail.iter().position(|&b| b == 0).unwrap_or(tail.len());
                    let text = std::str::from_utf8(&tail[..end])
                        .map_err(|_| format!("charsmap replacement at {start} is not UTF-8"))?;
                    return Ok((text, len));
                }
            }
        }
        let len = input.chars().next().map_or(0, char::len_utf8);
        Ok((&input[..len], len))
    }

    /// `Normalizer::Normalize`.
    pub(crate) fn normalize<'a>(&self, input: &'a str) -> Result<Cow<'a, str>, String> {
        let mut out = String::with_capacity(input.len() + 8);
        let mut rest = input;
        if self.remove_extra_whitespaces {
            while !rest.is_empty() {
                let (text, consumed) = self.normalize_prefix(rest)?;
                if text != " " {
                    break;
                }
                rest = &rest[consumed..];
            }
        }
        if rest.is_empty() {
            return Ok(Cow::Owned(out));
        }
        let space = if self.escape_whitespaces {
            SPACE_SYMBOL
        } else {
            " "
        };
        if !self.treat_whitespace_as_suffix && self.add_dummy_prefix {
            out.push_str(space);
        }
        let mut is_prev_space = self.remove_extra_whitespaces;
        while !rest.is_empty() {
            let (mut text, consumed) = self.normalize_prefix(rest)?;
            if is_prev_space {
                text = text.trim_start_matches(' ');
            }
            if !text.is_empty() {
                if self.escape_whitespaces {
                    for (i, part) in text.split(' ').enumerate() {
                        if i > 0 {
                            out.push_str(SPACE_SYMBOL);
                        }
                        out.push_str(part);
                    }
                } else {
                    out.push_str(text);
                }
                is_prev_space = text.ends_with(' ');
            }
            rest = &rest[consumed..];
            if !self.remove_extra_whitespaces {
                is_prev_space = false;
            }
        }
        if self.remove_extra_whitespaces {
            while out.ends_with(space) {
                out.truncate(out.len() - space.len());
            }
        }
        if self.treat_whitespace_as_suffix && self.add_dummy_prefix {
            out.push_str(space);
        }
        Ok(Cow::Owned(out))
    }
}

/// Splits a precompiled charsmap blob: `<u32 trie size><trie><normalized strings>`.
fn decode_charsmap(blob: &[u8]) -> Result<(DoubleArray, Vec<u8>), String> {
    if blob.len() <= 4 {
        return Err("precompiled charsmap is truncated".into());
    }
    let size = u32::from_le_bytes([blob[0], blob[1], blob[2], blob[3]]) as usize;
    let rest = &blob[4..];
    if size >= blob.len() || size > rest.len() {
        return Err(format!(
            "precompiled charsmap trie size {size} exceeds the blob ({} bytes)",
            blob.len()
        ));
    }
    let trie = DoubleArray::from_le_bytes(&rest[..size])?;
    Ok((trie, rest[size..].to_vec()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plain(add_dummy_prefix: bool, remove_extra: bool, escape: bool) -> SpmNormalizer {
        let spec = NormalizerSpec {
            name: "identity".into(),
            precompiled_charsmap: Vec::new(),
            add_dummy_prefix,
            remove_extra_whitespaces: remove_extra,
            escape_whitespaces: escape,
        };
        SpmNormalizer::new(&spec, false, ByteTrie::new()).unwrap()
    }

    #[test]
    fn whitespace_rules() {
        let n = plain(true, true, true);
        assert_eq!(n.normalize("  Hallo   wereld  ").unwrap(), "▁Hallo▁wereld");
        assert_eq!(n.normalize("   ").unwrap(), "");
        assert_eq!(n.normalize("").unwrap(), "");
        // Only ' ' counts as space without a charsmap.
        assert_eq!(n.normalize("a\tb").unwrap(), "▁a\tb");
        let n = plain(false, false, true);
        assert_eq!(n.normalize(" a  b ").unwrap(), "▁a▁▁b▁");
        let n = plain(true, true, false);
        assert_eq!(n.normalize("a  b").unwrap(), " a b");
    }

    #[test]
    fn user_defined_symbols_are_verbatim() {
        let mut ud = ByteTrie::new();
        ud.insert("<x>".as_bytes(), 0);
        let spec = NormalizerSpec::default();
        let n = SpmNormalizer::new(&spec, false, ud).unwrap();
        assert_eq!(n.normalize("a <x> b").unwrap(), "▁a▁<x>▁b");
    }

    #[test]
    fn corrupt_charsmap_is_an_error() {
        let spec = NormalizerSpec {
            precompiled_charsmap: vec![200, 0, 0, 0, 1, 2],
            ..NormalizerSpec::default()
        };
        assert!(SpmNormalizer::new(&spec, false, ByteTrie::new()).is_err());
    }
}
