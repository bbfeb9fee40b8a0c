//! A SentencePiece processor (unigram, and BPE through [`super::spm_bpe`]) reproducing
//! sentencepiece 0.2.0's `EncodeAsPieces` / `DecodePieces`, as the python `sentencepiece`
//! package used by transformers' slow tokenizers does it.

use std::collections::HashMap;

use super::normalizer::{SpmNormalizer, SPACE_SYMBOL};
use super::proto::{PieceType, SpmModel};
use super::spm_bpe::BpeModel;
use super::trie::ByteTrie;

/// `TrainerSpec.model_type` values this processor runs.
const UNIGRAM: i32 = 1;
const BPE: i32 = 2;

/// sentencepiece's `kUnkPenalty`.
const UNK_PENALTY: f32 = 10.0;

/// One encoded piece: its text and its id in the SentencePiece model.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EncodedPiece {
    pub piece: String,
    pub id: u32,
}

/// A loaded SentencePiece unigram or BPE model, ready to encode and decode.
#[derive(Debug, Clone)]
pub struct SpmProcessor {
    model: SpmModel,
    normalizer: SpmNormalizer,
    denormalizer: Option<SpmNormalizer>,
    /// NORMAL, USER_DEFINED and UNUSED pieces (the only ones segmentation can produce).
    trie: ByteTrie,
    /// piece -> id for NORMAL / USER_DEFINED / UNUSED pieces.
    pieces: HashMap<String, u32>,
    /// piece -> id for CONTROL / UNKNOWN / BYTE pieces.
    reserved: HashMap<String, u32>,
    /// USER_DEFINED pieces, which BPE keeps whole.
    user_defined: ByteTrie,
    unk_id: u32,
    min_score: f32,
    max_score: f32,
}

impl SpmProcessor {
    /// Compiles a parsed model; fails like `SentencePieceProcessor::Load` would.
    pub fn new(model: SpmModel) -> Result<Self, String> {
        if ![UNIGRAM, BPE].contains(&model.trainer.model_type) {
            return Err(format!(
                "model_type {} is not supported (only UNIGRAM = 1 and BPE = 2)",
                model.trainer.model_type
            ));
        }
        let mut trie = ByteTrie::new();
        let mut user_defined = ByteTrie::new();
        let mut pieces = HashMap::new();
        let mut reserved = HashMap::new();
        let mut unk_id = None;
        for (i, p) in model.pieces.iter().enumerate() {
            let id = u32::try_from(i).map_err(|_| "too many pieces".to_string())?;
            let normal = matches!(
                p.kind,
                PieceType::Normal | PieceType::UserDefined | PieceType::Unused
            );
            let map = if normal { &mut pieces } else { &mut reserved };
            if map.insert(p.piece.clone(), id).is_some() {
                return Err(format!("piece {:?} is defined twice", p.piece));
            }
            if normal {
                trie.insert(p.piece.as_bytes(), id);
            }
            match p.kind {
                PieceType::UserDefined => {
                    user_defined.insert(p.piece.as_bytes(), id);
                }
                PieceType::Unknown if unk_id.is_some() => {
                    return Err("more than one UNKNOWN piece".into());
                }
                PieceType::Unknown => unk_id = Some(id),
                PieceType::Byte if !model.trainer.byte_fallback => {
                    return Err(format!(
                        "byte piece {:?} found although byte_fallback is false",
                        p.piece
                    ));
                }
                PieceType::Byte if piece_to_byte(&p.piece).is_none() => {
                    return Err(format!("byte piece {:?} is invalid", p.piece));
                }
                _ => {}
            }
        }
        let unk_id = unk_id.ok_or("no UNKNOWN (<unk>) piece is defined")?;
        let mut min_score = f32::MAX;
        let mut max_score = f32::MIN_POSITIVE; // C++ FLT_MIN
        for p in model.pieces.iter().filter(|p| p.kind == PieceType::Normal) {
            min_score = min_score.min(p.score);
            max_score = max_score.max(p.score);
        }
        let normalizer = SpmNormalizer::new(
            &model.normalizer,
            model.trainer.treat_whitespace_as_suffix,
            user_defined.clone(),
        )
        .map_err(|e| format!("normalizer_spec: {e}"))?;
        let denormalizer = match &model.denormalizer {
            Some(spec) if !spec.precompiled_charsmap.is_empty() => Some(
                SpmNormalizer::new(spec, false, ByteTrie::new())
                    .map_err(|e| format!("denormalizer_spec: {e}"))?,
            ),
            _ => None,
        };
        Ok(Self {
            model,
            normalizer,
            denormalizer,
            trie,
            pieces,
            reserved,
            user_defined,
            unk_id,
            min_score,
            max_score,
        })
    }

    pub fn model(&self) -> &SpmModel {
        &self.model
    }

    pub fn len(&self) -> usize {
        self.model.pieces.len()
    }

    /// `PieceToId`: reserved pieces first, then normal ones, else `unk_id`.
    pub fn piece_to_id(&self, piece: &str) -> u32 {
        self.reserved
            .get(piece)
            .or_else(|| self.pieces.get(piece))
            .copied()
            .unwrap_or(self.unk_id)
    }

    /// `IdToPiece`.
    pub fn id_to_piece(&self, id: u32) -> Option<&str> {
        self.model.pieces.get(id as usize).map(|p| p.piece.as_str())
    }

    fn kind(&self, id: u32) -> PieceType {
        self.model
            .pieces
            .get(id as usize)
            .map_or(PieceType::Unknown, |p| p.kind)
    }

    /// The normalized form of `text` (`SentencePieceProcessor::Normalize`).
    #[cfg(test)]
    pub fn normalize(&self, text: &str) -> Result<String, String> {
        self.normalizer.normalize(text).map(|c| c.into_owned())
    }

    /// `EncodeAsPieces`: normalization, segmentation (unigram Viterbi or BPE merges), merging
    /// of adjacent unknown pieces (or byte fallback).
    pub fn encode(&self, text: &str) -> Result<Vec<EncodedPiece>, String> {
        let normalized = self.normalizer.normalize(text)?;
        let segments = if self.model.trainer.model_type == BPE {
            self.bpe().segment(&normalized)
        } else {
            self.viterbi(&normalized)?
        };
        let byte_fallback = self.model.trainer.byte_fallback;
        let mut out: Vec<EncodedPiece> = Vec::with_capacity(segments.len());
        let mut prev_unk = false;
        for (range, id) in segments {
            let piece = &normalized[range];
            let is_unk = self.kind(id) == PieceType::Unknown;
            if is_unk && byte_fallback {
                for b in piece.bytes() {
                    let name = format!("<0x{b:02X}>");
                    let id = self.piece_to_id(&name);
                    out.push(EncodedPiece { piece: name, id });
                }
            } else if is_unk && prev_unk {
                if let Some(last) = out.last_mut() {
                    last.piece.push_str(piece);
                }
            } else {
                out.push(EncodedPiece {
                    piece: piece.to_string(),
                    id,
                });
            }
            prev_unk = is_unk;
        }
        Ok(out)
    }

    /// What BPE segmentation reads of this model.
    pub(super) fn bpe(&self) -> BpeModel<'_> {
        BpeModel {
            model: &self.model,
            pieces: &self.pieces,
            user_defined: &self.user_defined,
            unk_id: self.unk_id,
        }
    }

    /// `Model::EncodeOptimized` of unigram_model.cc, with the same float
    /// arithmetic (scores are `f32`; user-defined bonuses are computed in `f64`).
    fn viterbi(&self, normalized: &str) -> Result<Vec<(std::ops::Range<usize>, u32)>, String> {
        #[derive(Clone, Copy)]
        struct Best {
            id: u32,
            score: f32,
            starts_at: Option<usize>,
        }
        let bytes = normalized.as_bytes();
        let size = bytes.len();
        if size == 0 {
            return Ok(Vec::new());
        }
        let unk_score = self.min_score - UNK_PENALTY;
        let mut best = vec![
            Best {
                id: 0,
                score: 0.0,
                starts_at: None
            };
            size + 1
        ];
        let mut starts_at = 0usize;
        while starts_at < size {
            let till_here = best[starts_at].score;
            let mblen = one_char_len(bytes[starts_at]).min(size - starts_at);
            let mut has_single_node = false;
            for (len, id) in self.trie.prefixes(&bytes[starts_at..]) {
                let piece = &self.model.pieces[id as usize];
                if piece.kind == PieceType::Unused {
                    continue;
                }
                let key_pos = starts_at + len;
                let target = &mut best[key_pos];
                // `IsUserDefined ? (length * max_score_ - 0.1) : score` is a double in C++.
                let score: f64 = if piece.kind == PieceType::UserDefined {
                    f64::from(len as f32 * self.max_score) - 0.1
                } else {
                    f64::from(piece.score)
                };
                let candidate = score + f64::from(till_here);
                if target.starts_at.is_none() || candidate > f64::from(target.score) {
                    target.score = candidate as f32;
                    target.starts_at = Some(starts_at);
                    target.id = id;
                }
                if len == mblen {
                    has_single_node = true;
                }
            }
            if !has_single_node {
                let target = &mut best[starts_at + mblen];
                let candidate = unk_score + till_here;
                if target.starts_at.is_none() || candidate > target.score {
                    target.score = candidate;
                    target.starts_at = Some(starts_at);
                    target.id = self.unk_id;
                }
            }
            starts_at += mblen;
        }
        let mut out = Vec::new();
        let mut ends_at = size;
        while ends_at > 0 {
            let node = best[ends_at];
            let start = node
                .starts_at
                .filter(|&s| s < ends_at)
                .ok_or("segmentation lattice is broken")?;
            if !normalized.is_char_boundary(start) {
                return Err("segmentation does not fall on character boundaries".into());
            }
            out.push((start..ends_at, node.id));
            ends_at = start;
        }
        out.reverse();
        Ok(out)
    }

    /// `DecodePieces`: joins pieces back into text.
    pub fn decode_pieces<S: AsRef<str>>(&self, pieces: &[S]) -> Result<String, String> {
        let spec = &self.model.normalizer;
        let strip_bos_ws = spec.add_dummy_prefix || spec.remove_extra_whitespaces;
        let unk_piece = self.id_to_piece(self.unk_id).unwrap_or("<unk>");
        let mut text = String::new();
        let mut is_bos_ws = true;
        let mut bos_ws_seen = false;
        let mut pending_bytes: Vec<u8> = Vec::new();
        for piece in pieces {
            let piece = piece.as_ref();
            let id = self.piece_to_id(piece);
            let kind = self.kind(id);
            if kind == PieceType::Byte {
                pending_bytes.push(piece_to_byte(piece).ok_or("invalid byte piece")?);
                continue;
            }
            flush_bytes(&mut pending_bytes, &mut text);
            if bos_ws_seen || !text.is_empty() {
                is_bos_ws = false;
            }
            let (surface, seen): (Cow, bool) = match kind {
                PieceType::Control => (Cow::Borrowed(""), false),
                PieceType::Unknown if piece == unk_piece => (
                    Cow::Borrowed(self.model.trainer.unk_surface.as_str()),
                    false,
                ),
                PieceType::Unknown => (Cow::Borrowed(piece), false),
                _ => {
                    let mut p = piece;
                    let mut has_bos_ws = false;
                    if is_bos_ws && strip_bos_ws {
                        if let Some(rest) = p.strip_prefix(SPACE_SYMBOL) {
                            p = rest;
                            has_bos_ws = true;
                        }
                        if spec.remove_extra_whitespaces {
                            has_bos_ws = false;
                        }
                    }
                    (Cow::Owned(p.replace(SPACE_SYMBOL, " ")), has_bos_ws)
                }
            };
            bos_ws_seen = seen;
            text.push_str(&surface);
        }
        flush_bytes(&mut pending_bytes, &mut text);
        match &self.denormalizer {
            Some(d) => d.normalize(&text).map(|c| c.into_owned()),
            None => Ok(text),
        }
    }
}

type Cow<'a> = std::borrow::Cow<'a, str>;

/// Appends decoded byte pieces: valid UTF-8 sequences as text, every
/// malformed byte as U+FFFD.
fn flush_bytes(bytes: &mut Vec<u8>, text: &mut String) {
    let mut rest: &[u8] = bytes;
    while !rest.is_empty() {
        match std::str::from_utf8(rest) {
            Ok(s) => {
                text.push_str(s);
                break;
            }
            Err(e) => {
                let valid = e.valid_up_to();
                // valid_up_to is a UTF-8 boundary, so this cannot fail.
                text.push_str(std::str::from_utf8(&rest[..valid]).unwrap_or_default());
                text.push('\u{FFFD}');
                rest = &rest[valid + 1..];
            }
        }
    }
    bytes.clear();
}

/// `<0xAB>` -> 0xAB.
fn piece_to_byte(piece: &str) -> Option<u8> {
    let hex = piece.strip_prefix("<0x")?.strip_suffix('>')?;
    if hex.len() != 2 {
        return None;
    }
    u8::from_str_radix(hex, 16).ok()
}

/// sentencepiece's `OneCharLen` (by the lead byte's high nibble).
fn one_char_len(lead: u8) -> usize {
    const LEN: [usize; 16] = [1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 3, 4];
    LEN[(lead >> 4) as usize]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn model(pieces: &[(&str, f32, PieceType)]) -> SpmModel {
        SpmModel::of_pieces(pieces)
    }

    fn toy() -> SpmProcessor {
        use PieceType::*;
        SpmProcessor::new(model(&[
            ("<unk>", 0.0, Unknown),
            ("<s>", 0.0, Control),
            ("</s>", 0.0, Control),
            ("▁", -2.0, Normal),
            ("▁de", -1.0, Normal),
            ("d", -3.0, Normal),
            ("e", -3.0, Normal),
            ("▁kat", -2.0, Normal),
            ("k", -4.0, Normal),
            ("a", -4.0, Normal),
            ("t", -4.0, Normal),
            ("<", -5.0, Normal),
            ("s", -5.0, Normal),
            (">", -5.0, Normal),
        ]))
        .unwrap()
    }

    #[test]
    fn encode_merges_unknown_runs_and_ignores_control_pieces() {
        let sp = toy();
        let got: Vec<_> = sp
            .encode("de kat €€ x")
            .unwrap()
            .into_iter()
            .map(|p| p.piece)
            .collect();
        assert_eq!(got, vec!["▁de", "▁kat", "▁", "€€", "▁", "x"]);
        let got: Vec<_> = sp
            .encode("<s>")
            .unwrap()
            .into_iter()
            .map(|p| (p.piece, p.id))
            .collect();
        assert_eq!(
            got,
            vec![
                ("▁".into(), 3),
                ("<".into(), 11),
                ("s".into(), 12),
                (">".into(), 13)
            ]
        );
        assert!(sp.encode("").unwrap().is_empty());
        assert!(sp.encode("   ").unwrap().is_empty());
    }

    #[test]
    fn decode_rules() {
        let sp = toy();
        assert_eq!(sp.decode_pieces(&["▁de", "▁kat"]).unwrap(), "de kat");
        assert_eq!(sp.decode_pieces(&["▁", "▁de"]).unwrap(), "de");
        assert_eq!(sp.decode_pieces(&["</s>", "▁de"]).unwrap(), "de");
        assert_eq!(sp.decode_pieces(&["▁de", "<unk>", "€"]).unwrap(), "de ⁇ €");
        assert_eq!(sp.decode_pieces::<&str>(&[]).unwrap(), "");
    }

    #[test]
    fn load_errors() {
        use PieceType::*;
        assert!(SpmProcessor::new(model(&[("a", 0.0, Normal)])).is_err());
        assert!(SpmProcessor::new(model(&[
            ("<unk>", 0.0, Unknown),
            ("a", 0.0, Normal),
            ("a", 0.0, Normal)
        ]))
        .is_err());
        assert!(
            SpmProcessor::new(model(&[("<unk>", 0.0, Unknown), ("<0x41>", 0.0, Byte)])).is_err()
        );
    }

    #[test]
    fn bytes_flush() {
        let mut s = String::new();
        flush_bytes(&mut vec![0xe2, 0x82, 0xac, 0xff, b'a'], &mut s);
        assert_eq!(s, "€\u{FFFD}a");
        assert_eq!(piece_to_byte("<0x0A>"), Some(10));
        assert_eq!(piece_to_byte("<0x0>"), None);
    }
}
