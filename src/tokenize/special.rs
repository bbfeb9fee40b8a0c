//! Splitting text on special ("added") tokens the way transformers'
//! slow `PreTrainedTokenizer.tokenize` does, plus small helpers shared by the
//! slow-tokenizer emulations (python whitespace, `clean_up_tokenization`).

use std::collections::HashMap;

use super::trie::ByteTrie;

/// A special token recognised in input text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SpecialToken {
    pub content: String,
    pub id: u32,
    /// Eat whitespace on the left / right of the token (T5's `<extra_id_N>`).
    pub lstrip: bool,
    pub rstrip: bool,
}

/// A piece of input text: plain text for the model, or a special token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Chunk {
    Text(String),
    /// Index into the token list given to [`SpecialTokens::new`].
    Special(usize),
}

#[derive(Debug, Clone)]
pub(crate) struct SpecialTokens {
    tokens: Vec<SpecialToken>,
    trie: ByteTrie,
    /// id -> index (python's `_added_tokens_decoder`: the last token wins).
    ids: HashMap<u32, usize>,
}

impl SpecialTokens {
    pub(crate) fn new(tokens: Vec<SpecialToken>) -> Self {
        let mut trie = ByteTrie::new();
        let mut ids = HashMap::new();
        for (i, t) in tokens.iter().enumerate() {
            if !t.content.is_empty() {
                trie.insert(t.content.as_bytes(), i as u32);
            }
            ids.insert(t.id, i);
        }
        Self { tokens, trie, ids }
    }

    pub(crate) fn get(&self, index: usize) -> Option<&SpecialToken> {
        self.tokens.get(index)
    }

    pub(crate) fn by_content(&self, content: &str) -> Option<&SpecialToken> {
        self.trie
            .longest_prefix(content.as_bytes())
            .filter(|&(len, _)| len == content.len())
            .and_then(|(_, i)| self.tokens.get(i as usize))
    }

    pub(crate) fn contains_id(&self, id: u32) -> bool {
        self.ids.contains_key(&id)
    }

    pub(crate) fn by_id(&self, id: u32) -> Option<&SpecialToken> {
        self.ids.get(&id).and_then(|&i| self.tokens.get(i))
    }

    pub(crate) fn is_special(&self, token: &str) -> bool {
        self.by_content(token).is_some()
    }

    /// `Trie.split` (leftmost match, longest at that position) followed by the
    /// `lstrip`/`rstrip` handling of `tokenize`. Empty text chunks are dropped.
    ///
    /// For token sets in which no token's first character occurs later inside
    /// another token (true for `</s>`, `<unk>`, `<pad>`, `<extra_id_N>`), this
    /// is exactly the cut transformers' `Trie` makes.
    pub(crate) fn split(&self, text: &str) -> Vec<Chunk> {
        let mut parts: Vec<Chunk> = Vec::new();
        let bytes = text.as_bytes();
        let mut start = 0usize;
        let mut pos = 0usize;
        while pos < bytes.len() {
            if text.is_char_boundary(pos) {
                if let Some((len, index)) = self.trie.longest_prefix(&bytes[pos..]) {
                    if pos > start {
                        parts.push(Chunk::Text(text[start..pos].to_string()));
                    }
                    parts.push(Chunk::Special(index as usize));
                    pos += len;
                    start = pos;
                    continue;
                }
            }
            pos += 1;
        }
        if start < bytes.len() {
            parts.push(Chunk::Text(text[start..].to_string()));
        }
        // Whitespace stripping around tokens, in list order as python does it.
        for i in 0..parts.len() {
            let Chunk::Special(index) = parts[i] else {
                continue;
            };
            let Some(token) = self.tokens.get(index) else {
                continue;
            };
            if token.rstrip {
                if let Some(Chunk::Text(right)) = parts.get_mut(i + 1) {
                    *right = right.trim_start_matches(py_isspace).to_string();
                }
            }
            if token.lstrip && i > 0 {
                if let Some(Chunk::Text(left)) = parts.get_mut(i - 1) {
                    *left = left.trim_end_matches(py_isspace).to_string();
                }
            }
        }
        parts.retain(|c| !matches!(c, Chunk::Text(t) if t.is_empty()));
        parts
    }
}

/// Python's `str.isspace` for one character.
pub(crate) fn py_isspace(c: char) -> bool {
    c.is_whitespace() || ('\u{1c}'..='\u{1f}').contains(&c)
}

/// Python's `str.strip()` (no arguments).
pub(crate) fn py_strip(s: &str) -> &str {
    s.trim_matches(py_isspace)
}

/// `PreTrainedTokenizerBase.clean_up_tokenization`.
pub(crate) fn clean_up_tokenization(text: &str) -> String {
    text.replace(" .", ".")
        .replace(" ?", "?")
        .replace(" !", "!")
        .replace(" ,", ",")
        .replace(" ' ", "'")
        .replace(" n't", "n't")
        .replace(" 'm", "'m")
        .replace(" 's", "'s")
        .replace(" 've", "'ve")
        .replace(" 're", "'re")
}

/// transformers' `_add_tokens([eos, unk, pad])`: a token already in the vocabulary (`lookup`)
/// keeps its id, the others get the next ids after `first_free`, in that order. Returns the three
/// tokens and their ids `(eos, unk, pad)`.
pub(crate) fn add_eos_unk_pad(
    lookup: impl Fn(&str) -> Option<u32>,
    first_free: u32,
) -> (Vec<SpecialToken>, [u32; 3]) {
    let mut next_id = first_free;
    let tokens: Vec<SpecialToken> = ["</s>", "<unk>", "<pad>"]
        .into_iter()
        .map(|content| {
            let id = lookup(content).unwrap_or_else(|| {
                next_id = next_id.saturating_add(1);
                next_id - 1
            });
            SpecialToken {
                content: content.to_string(),
                id,
                lstrip: false,
                rstrip: false,
            }
        })
        .collect();
    let ids = [tokens[0].id, tokens[1].id, tokens[2].id];
    (tokens, ids)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tok(content: &str, id: u32, strip: bool) -> SpecialToken {
        SpecialToken {
            content: content.into(),
            id,
            lstrip: strip,
            rstrip: strip,
        }
    }

    #[test]
    fn splits_leftmost_longest() {
        let s = SpecialTokens::new(vec![
            tok("</s>", 0, false),
            tok("<unk>", 1, false),
            tok("<extra_id_1>", 5, true),
            tok("<extra_id_10>", 6, true),
        ]);
        assert_eq!(
            s.split("a</s>b<unk></s>"),
            vec![
                Chunk::Text("a".into()),
                Chunk::Special(0),
                Chunk::Text("b".into()),
                Chunk::Special(1),
                Chunk::Special(0)
            ]
        );
        assert_eq!(
            s.split("x  <extra_id_10> \ty <extra_id_1>"),
            vec![
                Chunk::Text("x".into()),
                Chunk::Special(3),
                Chunk::Text("y".into()),
                Chunk::Special(2)
            ]
        );
        assert_eq!(s.split("é<</s"), vec![Chunk::Text("é<</s".into())]);
        assert!(s.split("").is_empty());
        assert!(s.by_content("<unk>").is_some());
        assert!(s.by_content("<unk").is_none());
    }

    #[test]
    fn python_whitespace() {
        assert_eq!(py_strip("\u{1f} a \u{a0}\u{3000}"), "a");
        assert!(!py_isspace('\u{200b}'));
        assert_eq!(clean_up_tokenization("Hi , it 's me ."), "Hi, it's me.");
    }
}
