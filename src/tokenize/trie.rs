//! Byte tries: a small owned trie for vocabulary pieces, and a read-only view
//! of a darts-clone double array (the format of SentencePiece's precompiled
//! normalization charsmap).

/// A byte trie mapping keys to `u32` values, built from the vocabulary.
#[derive(Debug, Clone, Default)]
pub(crate) struct ByteTrie {
    nodes: Vec<TrieNode>,
}

#[derive(Debug, Clone, Default)]
struct TrieNode {
    /// Sorted by byte.
    children: Vec<(u8, u32)>,
    value: Option<u32>,
}

impl ByteTrie {
    pub(crate) fn new() -> Self {
        Self {
            nodes: vec![TrieNode::default()],
        }
    }

    /// Inserts `key`; returns false (and keeps the old value) if present.
    pub(crate) fn insert(&mut self, key: &[u8], value: u32) -> bool {
        let mut node = 0usize;
        for &b in key {
            node = match self.nodes[node]
                .children
                .binary_search_by_key(&b, |&(c, _)| c)
            {
                Ok(i) => self.nodes[node].children[i].1 as usize,
                Err(i) => {
                    let next = self.nodes.len();
                    self.nodes.push(TrieNode::default());
                    self.nodes[node].children.insert(i, (b, next as u32));
                    next
                }
            };
        }
        if self.nodes[node].value.is_some() {
            return false;
        }
        self.nodes[node].value = Some(value);
        true
    }

    /// All keys that are prefixes of `text`, as `(byte length, value)`, shortest first.
    pub(crate) fn prefixes<'a>(
        &'a self,
        text: &'a [u8],
    ) -> impl Iterator<Item = (usize, u32)> + 'a {
        let mut node = 0usize;
        let mut i = 0usize;
        std::iter::from_fn(move || {
            while i < text.len() {
                let b = text[i];
                let children = &self.nodes.get(node)?.children;
                let idx = children.binary_search_by_key(&b, |&(c, _)| c).ok()?;
                node = children[idx].1 as usize;
                i += 1;
                if let Some(v) = self.nodes[node].value {
                    return Some((i, v));
                }
            }
            None
        })
    }

    /// The longest key that is a prefix of `text`: `(byte length, value)`.
    pub(crate) fn longest_prefix(&self, text: &[u8]) -> Option<(usize, u32)> {
        self.prefixes(text).last()
    }
}

/// Read-only darts-clone double array (units are little-endian `u32`).
#[derive(Debug, Clone)]
pub(crate) struct DoubleArray {
    units: Vec<u32>,
}

impl DoubleArray {
    pub(crate) fn from_le_bytes(bytes: &[u8]) -> Result<Self, String> {
        if bytes.is_empty() || !bytes.chunks_exact(4).remainder().is_empty() {
            return Err(format!(
                "double-array trie of {} bytes is not a whole number of 4-byte units",
                bytes.len()
            ));
        }
        let units = bytes
            .chunks_exact(4)
            .map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect();
        Ok(Self { units })
    }

    fn has_leaf(unit: u32) -> bool {
        (unit >> 8) & 1 == 1
    }
    fn value(unit: u32) -> u32 {
        unit & ((1u32 << 31) - 1)
    }
    fn label(unit: u32) -> u32 {
        unit & ((1u32 << 31) | 0xff)
    }
    fn offset(unit: u32) -> u32 {
        (unit >> 10) << ((unit & (1u32 << 9)) >> 6)
    }

    /// darts' `commonPrefixSearch`: `(value, byte length)` for every key that
    /// is a prefix of `key`, shortest first, at most `max_results` of them.
    /// Out-of-range unit indices (a corrupt array) end the search.
    pub(crate) fn common_prefix_search(&self, key: &[u8], max_results: usize) -> Vec<(u32, usize)> {
        let mut results = Vec::new();
        let Some(&root) = self.units.first() else {
            return results;
        };
        let mut node_pos = Self::offset(root) as usize;
        for (i, &b) in key.iter().enumerate() {
            node_pos ^= b as usize;
            let Some(&unit) = self.units.get(node_pos) else {
                return results;
            };
            if Self::label(unit) != u32::from(b) {
                return results;
            }
            node_pos ^= Self::offset(unit) as usize;
            if Self::has_leaf(unit) {
                let Some(&leaf) = self.units.get(node_pos) else {
                    return results;
                };
                if results.len() < max_results {
                    results.push((Self::value(leaf), i + 1));
                }
            }
        }
        results
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn byte_trie_prefixes_in_length_order() {
        let mut t = ByteTrie::new();
        assert!(t.insert(b"ab", 2));
        assert!(t.insert(b"a", 1));
        assert!(t.insert(b"abcd", 4));
        assert!(!t.insert(b"a", 9));
        let got: Vec<_> = t.prefixes(b"abcde").collect();
        assert_eq!(got, vec![(1, 1), (2, 2), (4, 4)]);
        assert_eq!(t.longest_prefix(b"abc"), Some((2, 2)));
        assert_eq!(t.longest_prefix(b"x"), None);
        assert_eq!(t.prefixes(b"").count(), 0);
    }

    #[test]
    fn double_array_never_panics_on_corrupt_units() {
        // Real charsmaps are exercised by the nmt_nfkc parity test; here only
        // malformed arrays: everything out of range or mislabelled ends the search.
        let da = DoubleArray::from_le_bytes(&[0u8; 16]).unwrap();
        assert!(da.common_prefix_search(b"abc", 32).is_empty());
        assert!(DoubleArray::from_le_bytes(&[0u8; 3]).is_err());
        assert!(DoubleArray::from_le_bytes(&[]).is_err());
        let da = DoubleArray::from_le_bytes(&u32::MAX.to_le_bytes()).unwrap();
        assert!(da.common_prefix_search(b"\xff\xfe", 32).is_empty());
    }
}
