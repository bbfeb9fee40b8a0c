//! SentencePiece's BPE segmentation (`model_type: BPE`, sentencepiece 0.2.0's `bpe::Model`):
//! the normalized text is split into characters (user-defined symbols whole and frozen), then
//! the adjacent pair whose concatenation is a piece with the highest score is merged, the
//! leftmost first among equal scores, until no pair is a piece. A merged symbol that is an
//! UNUSED piece is split back into the two symbols it was made of.

use std::cmp::Ordering;
use std::collections::{BinaryHeap, HashMap};
use std::ops::Range;

use super::proto::{PieceType, SpmModel};
use super::trie::ByteTrie;

/// What the segmentation reads from the compiled model.
pub(super) struct BpeModel<'a> {
    pub model: &'a SpmModel,
    /// NORMAL, USER_DEFINED and UNUSED pieces.
    pub pieces: &'a HashMap<String, u32>,
    pub user_defined: &'a ByteTrie,
    pub unk_id: u32,
}

#[derive(Debug, Clone, Copy)]
struct Symbol {
    range: (usize, usize),
    prev: Option<usize>,
    next: Option<usize>,
    frozen: bool,
}

/// A candidate merge of symbols `left` and `right` into a piece of `size` bytes.
#[derive(Debug, Clone, Copy)]
struct Pair {
    score: f32,
    left: usize,
    right: usize,
    size: usize,
}

impl PartialEq for Pair {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}
impl Eq for Pair {}
impl PartialOrd for Pair {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Pair {
    /// The greater pair merges first: higher score, then the smaller left position.
    fn cmp(&self, other: &Self) -> Ordering {
        self.score
            .total_cmp(&other.score)
            .then(other.left.cmp(&self.left))
    }
}

fn one_char_len(lead: u8) -> usize {
    match lead {
        0xF0..=0xFF => 4,
        0xE0..=0xEF => 3,
        0xC0..=0xDF => 2,
        _ => 1,
    }
}

impl BpeModel<'_> {
    fn piece_id(&self, text: &str) -> Option<u32> {
        self.pieces.get(text).copied()
    }

    /// Segments `normalized` into `(byte range, id)`; characters that are no piece get `unk_id`.
    pub fn segment(&self, normalized: &str) -> Vec<(Range<usize>, u32)> {
        let bytes = normalized.as_bytes();
        let mut symbols: Vec<Symbol> = Vec::new();
        let mut at = 0;
        while at < bytes.len() {
            let (len, frozen) = match self.user_defined.longest_prefix(&bytes[at..]) {
                Some((len, _)) => (len, true),
                None => (one_char_len(bytes[at]).min(bytes.len() - at), false),
            };
            let index = symbols.len();
            symbols.push(Symbol {
                range: (at, at + len),
                prev: index.checked_sub(1),
                next: (at + len < bytes.len()).then_some(index + 1),
                frozen,
            });
            at += len;
        }
        let mut agenda = BinaryHeap::new();
        // merged piece -> byte length of its left part, for UNUSED pieces to be split back.
        let mut rev_merge: HashMap<(usize, usize), usize> = HashMap::new();
        let mut propose = |symbols: &[Symbol],
                           agenda: &mut BinaryHeap<Pair>,
                           left: Option<usize>,
                           right: Option<usize>| {
            let (Some(l), Some(r)) = (left, right) else {
                return;
            };
            let (a, b) = (symbols[l], symbols[r]);
            if a.frozen || b.frozen {
                return;
            }
            let merged = &normalized[a.range.0..b.range.1];
            let Some(id) = self.piece_id(merged) else {
                return;
            };
            let piece = &self.model.pieces[id as usize];
            agenda.push(Pair {
                score: piece.score,
                left: l,
                right: r,
                size: merged.len(),
            });
            if piece.kind == PieceType::Unused {
                rev_merge.insert((a.range.0, b.range.1), a.range.1 - a.range.0);
            }
        };
        for i in 1..symbols.len() {
            propose(&symbols, &mut agenda, Some(i - 1), Some(i));
        }
        while let Some(top) = agenda.pop() {
            let (l, r) = (symbols[top.left], symbols[top.right]);
            let (l_len, r_len) = (l.range.1 - l.range.0, r.range.1 - r.range.0);
            // Stale: one side was merged away or grew since this pair was proposed.
            if l_len == 0 || r_len == 0 || l_len + r_len != top.size {
                continue;
            }
            symbols[top.left].range.1 = r.range.1;
            symbols[top.left].next = r.next;
            if let Some(n) = r.next {
                symbols[n].prev = Some(top.left);
            }
            symbols[top.right].range = (r.range.1, r.range.1);
            let prev = symbols[top.left].prev;
            let next = symbols[top.left].next;
            propose(&symbols, &mut agenda, prev, Some(top.left));
            propose(&symbols, &mut agenda, Some(top.left), next);
        }
        let mut out = Vec::new();
        let mut index = (!symbols.is_empty()).then_some(0);
        while let Some(i) = index {
            let s = symbols[i];
            self.resegment(normalized, s.range.0..s.range.1, &rev_merge, &mut out);
            index = s.next;
        }
        out
    }

    /// Emits `range`, split back into its parts while it is an UNUSED piece.
    fn resegment(
        &self,
        normalized: &str,
        range: Range<usize>,
        rev_merge: &HashMap<(usize, usize), usize>,
        out: &mut Vec<(Range<usize>, u32)>,
    ) {
        let id = self.piece_id(&normalized[range.clone()]);
        let unused = id.is_some_and(|id| self.model.pieces[id as usize].kind == PieceType::Unused);
        match rev_merge.get(&(range.start, range.end)) {
            Some(&left) if unused => {
                let mid = range.start + left;
                self.resegment(normalized, range.start..mid, rev_merge, out);
                self.resegment(normalized, mid..range.end, rev_merge, out);
            }
            _ => out.push((range, id.unwrap_or(self.unk_id))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tokenize::SpmProcessor;

    /// `text` (already normalized) segmented by a BPE model of `pieces`, as `piece:id`.
    fn segment(pieces: &[(&str, f32, PieceType)], text: &str) -> Vec<String> {
        let mut model = SpmModel::of_pieces(pieces);
        model.trainer.model_type = 2;
        let processor = SpmProcessor::new(model).unwrap();
        processor
            .bpe()
            .segment(text)
            .into_iter()
            .map(|(r, id)| format!("{}:{id}", &text[r]))
            .collect()
    }

    #[test]
    fn merges_by_score_leftmost_first_and_splits_unused_pieces() {
        use PieceType::*;
        let pieces = [
            ("<unk>", 0.0, Unknown),
            ("a", -1.0, Normal),
            ("b", -1.0, Normal),
            ("ab", -2.0, Normal),
            ("ba", -3.0, Normal),
            ("abab", -4.0, Unused),
            ("<x>", 0.0, UserDefined),
            ("c", -1.0, Normal),
        ];
        // "ab" outranks "ba": a|b|a -> ab|a (leftmost), not a|ba.
        assert_eq!(segment(&pieces, "aba"), ["ab:3", "a:1"]);
        // abab is merged (ab + ab) but UNUSED, so it is split back.
        assert_eq!(segment(&pieces, "abab"), ["ab:3", "ab:3"]);
        // A user-defined symbol stays whole and never merges; unknown characters get unk.
        assert_eq!(segment(&pieces, "a<x>bé"), ["a:1", "<x>:6", "b:2", "é:0"]);
        assert_eq!(segment(&pieces, ""), Vec::<String>::new());
    }
}
