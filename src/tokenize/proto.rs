//! A minimal protobuf wire-format reader for SentencePiece's `ModelProto`.
//!
//! Only the fields the tokenizers need are decoded; every other field is
//! skipped according to its wire type. Proto2 defaults are applied for fields
//! that are absent (e.g. `add_dummy_prefix = true`, `bos_id = 1`).

use std::path::Path;

use super::TokenizeError;

/// Type of a SentencePiece piece (`ModelProto.SentencePiece.Type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PieceType {
    Normal,
    Unknown,
    Control,
    UserDefined,
    Unused,
    Byte,
}

impl PieceType {
    fn from_wire(value: u64) -> Option<Self> {
        Some(match value {
            1 => Self::Normal,
            2 => Self::Unknown,
            3 => Self::Control,
            4 => Self::UserDefined,
            5 => Self::Unused,
            6 => Self::Byte,
            _ => return None,
        })
    }
}

/// One entry of the SentencePiece vocabulary; its id is its index.
#[derive(Debug, Clone, PartialEq)]
pub struct SpmPiece {
    pub piece: String,
    pub score: f32,
    pub kind: PieceType,
}

/// The subset of `TrainerSpec` that matters at inference time.
#[derive(Debug, Clone, PartialEq)]
pub struct TrainerSpec {
    /// 1 = UNIGRAM, 2 = BPE, 3 = WORD, 4 = CHAR.
    pub model_type: i32,
    pub vocab_size: i32,
    pub treat_whitespace_as_suffix: bool,
    pub byte_fallback: bool,
    pub unk_id: i32,
    pub bos_id: i32,
    pub eos_id: i32,
    pub pad_id: i32,
    pub unk_piece: String,
    pub bos_piece: String,
    pub eos_piece: String,
    pub pad_piece: String,
    /// Surface used by the decoder for `<unk>` (default `" ⁇ "`).
    pub unk_surface: String,
}

impl Default for TrainerSpec {
    fn default() -> Self {
        Self {
            model_type: 1,
            vocab_size: 8000,
            treat_whitespace_as_suffix: false,
            byte_fallback: false,
            unk_id: 0,
            bos_id: 1,
            eos_id: 2,
            pad_id: -1,
            unk_piece: "<unk>".into(),
            bos_piece: "<s>".into(),
            eos_piece: "</s>".into(),
            pad_piece: "<pad>".into(),
            unk_surface: " \u{2047} ".into(),
        }
    }
}

/// `NormalizerSpec` (also used for the optional denormalizer).
#[derive(Debug, Clone, PartialEq)]
pub struct NormalizerSpec {
    pub name: String,
    pub precompiled_charsmap: Vec<u8>,
    pub add_dummy_prefix: bool,
    pub remove_extra_whitespaces: bool,
    pub escape_whitespaces: bool,
}

impl Default for NormalizerSpec {
    fn default() -> Self {
        Self {
            name: String::new(),
            precompiled_charsmap: Vec::new(),
            add_dummy_prefix: true,
            remove_extra_whitespaces: true,
            escape_whitespaces: true,
        }
    }
}

/// A parsed SentencePiece model file (`*.model`, `*.spm`).
#[derive(Debug, Clone, PartialEq)]
pub struct SpmModel {
    pub pieces: Vec<SpmPiece>,
    pub trainer: TrainerSpec,
    pub normalizer: NormalizerSpec,
    pub denormalizer: Option<NormalizerSpec>,
    /// Where the model came from (file path, or `<bytes>`), for error messages.
    pub origin: String,
}

impl SpmModel {
    /// A model of these pieces with default trainer and normalizer specs, for tests.
    #[cfg(test)]
    pub(crate) fn of_pieces(pieces: &[(&str, f32, PieceType)]) -> SpmModel {
        SpmModel {
            pieces: pieces
                .iter()
                .map(|&(p, s, k)| SpmPiece {
                    piece: p.into(),
                    score: s,
                    kind: k,
                })
                .collect(),
            trainer: TrainerSpec::default(),
            normalizer: NormalizerSpec::default(),
            denormalizer: None,
            origin: "test".into(),
        }
    }

    /// Reads and parses a SentencePiece model file.
    pub fn from_file(path: impl AsRef<Path>) -> Result<Self, TokenizeError> {
        let path = path.as_ref();
        let bytes = std::fs::read(path).map_err(|source| TokenizeError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        Self::parse(&bytes, &path.display().to_string())
    }

    /// Parses a serialized `ModelProto`.
    #[cfg(test)]
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, TokenizeError> {
        Self::parse(bytes, "<bytes>")
    }

    fn parse(bytes: &[u8], origin: &str) -> Result<Self, TokenizeError> {
        let err = |message: String| TokenizeError::SpmModel {
            origin: origin.to_string(),
            message,
        };
        let mut model = SpmModel {
            pieces: Vec::new(),
            trainer: TrainerSpec::default(),
            normalizer: NormalizerSpec::default(),
            denormalizer: None,
            origin: origin.to_string(),
        };
        let mut reader = Reader::new(bytes);
        while let Some((field, value)) = reader.next_field().map_err(err)? {
            match (field, value) {
                (1, Value::Bytes(b)) => {
                    let index = model.pieces.len();
                    model
                        .pieces
                        .push(parse_piece(b).map_err(|m| err(format!("piece #{index}: {m}")))?);
                }
                (2, Value::Bytes(b)) => parse_trainer(b, &mut model.trainer)
                    .map_err(|m| err(format!("trainer_spec: {m}")))?,
                (3, Value::Bytes(b)) => parse_normalizer(b, &mut model.normalizer)
                    .map_err(|m| err(format!("normalizer_spec: {m}")))?,
                (5, Value::Bytes(b)) => {
                    let spec = model
                        .denormalizer
                        .get_or_insert_with(NormalizerSpec::default);
                    parse_normalizer(b, spec).map_err(|m| err(format!("denormalizer_spec: {m}")))?
                }
                (1 | 2 | 3 | 5, _) => {
                    return Err(err(format!("field {field} has the wrong wire type")))
                }
                _ => {}
            }
        }
        if model.pieces.is_empty() {
            return Err(err(
                "the model has no pieces (is this a SentencePiece model?)".into(),
            ));
        }
        Ok(model)
    }
}

fn parse_piece(bytes: &[u8]) -> Result<SpmPiece, String> {
    let mut piece = SpmPiece {
        piece: String::new(),
        score: 0.0,
        kind: PieceType::Normal,
    };
    let mut reader = Reader::new(bytes);
    while let Some((field, value)) = reader.next_field()? {
        match (field, value) {
            (1, Value::Bytes(b)) => piece.piece = utf8(b, "piece")?,
            (2, Value::Fixed32(v)) => piece.score = f32::from_bits(v),
            (3, Value::Varint(v)) => {
                piece.kind =
                    PieceType::from_wire(v).ok_or_else(|| format!("unknown piece type {v}"))?
            }
            (1..=3, _) => return Err(format!("field {field} has the wrong wire type")),
            _ => {}
        }
    }
    if piece.piece.is_empty() {
        return Err("empty piece".into());
    }
    Ok(piece)
}

fn parse_trainer(bytes: &[u8], spec: &mut TrainerSpec) -> Result<(), String> {
    let mut reader = Reader::new(bytes);
    while let Some((field, value)) = reader.next_field()? {
        match (field, value) {
            (3, Value::Varint(v)) => spec.model_type = v as i32,
            (4, Value::Varint(v)) => spec.vocab_size = v as i32,
            (24, Value::Varint(v)) => spec.treat_whitespace_as_suffix = v != 0,
            (35, Value::Varint(v)) => spec.byte_fallback = v != 0,
            // int32 values are sign-extended to 64 bits on the wire.
            (40, Value::Varint(v)) => spec.unk_id = v as i64 as i32,
            (41, Value::Varint(v)) => spec.bos_id = v as i64 as i32,
            (42, Value::Varint(v)) => spec.eos_id = v as i64 as i32,
            (43, Value::Varint(v)) => spec.pad_id = v as i64 as i32,
            (44, Value::Bytes(b)) => spec.unk_surface = utf8(b, "unk_surface")?,
            (45, Value::Bytes(b)) => spec.unk_piece = utf8(b, "unk_piece")?,
            (46, Value::Bytes(b)) => spec.bos_piece = utf8(b, "bos_piece")?,
            (47, Value::Bytes(b)) => spec.eos_piece = utf8(b, "eos_piece")?,
            (48, Value::Bytes(b)) => spec.pad_piece = utf8(b, "pad_piece")?,
            (3 | 4 | 24 | 35 | 40..=48, _) => {
                return Err(format!("field {field} has the wrong wire type"))
            }
            _ => {}
        }
    }
    Ok(())
}

fn parse_normalizer(bytes: &[u8], spec: &mut NormalizerSpec) -> Result<(), String> {
    let mut reader = Reader::new(bytes);
    while let Some((field, value)) = reader.next_field()? {
        match (field, value) {
            (1, Value::Bytes(b)) => spec.name = utf8(b, "name")?,
            (2, Value::Bytes(b)) => spec.precompiled_charsmap = b.to_vec(),
            (3, Value::Varint(v)) => spec.add_dummy_prefix = v != 0,
            (4, Value::Varint(v)) => spec.remove_extra_whitespaces = v != 0,
            (5, Value::Varint(v)) => spec.escape_whitespaces = v != 0,
            (1..=5, _) => return Err(format!("field {field} has the wrong wire type")),
            _ => {}
        }
    }
    Ok(())
}

fn utf8(bytes: &[u8], what: &str) -> Result<String, String> {
    String::from_utf8(bytes.to_vec()).map_err(|_| format!("{what} is not valid UTF-8"))
}

/// A decoded field value.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Value<'a> {
    Varint(u64),
    Fixed64(u64),
    Bytes(&'a [u8]),
    Fixed32(u32),
    /// A (deprecated) group; its content is skipped.
    Group,
}

/// Sequential reader over one message's bytes.
pub(crate) struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
    /// Nesting of groups being skipped (bounded, so hostile input cannot overflow the stack).
    depth: usize,
}

/// Deepest group nesting accepted.
const MAX_GROUP_DEPTH: usize = 64;

impl<'a> Reader<'a> {
    pub(crate) fn new(buf: &'a [u8]) -> Self {
        Self {
            buf,
            pos: 0,
            depth: 0,
        }
    }

    pub(crate) fn varint(&mut self) -> Result<u64, String> {
        let mut result = 0u64;
        for i in 0..10 {
            let byte = *self
                .buf
                .get(self.pos)
                .ok_or_else(|| format!("truncated varint at byte {}", self.pos))?;
            self.pos += 1;
            result |= u64::from(byte & 0x7f) << (7 * i);
            if byte & 0x80 == 0 {
                return Ok(result);
            }
        }
        Err(format!(
            "varint longer than 10 bytes ending at byte {}",
            self.pos
        ))
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], String> {
        let end = self
            .pos
            .checked_add(n)
            .filter(|&end| end <= self.buf.len())
            .ok_or_else(|| {
                format!(
                    "field of {n} bytes at byte {} runs past the end ({} bytes)",
                    self.pos,
                    self.buf.len()
                )
            })?;
        let slice = &self.buf[self.pos..end];
        self.pos = end;
        Ok(slice)
    }

    /// Returns the next `(field number, value)`, or `None` at the end.
    pub(crate) fn next_field(&mut self) -> Result<Option<(u32, Value<'a>)>, String> {
        if self.pos >= self.buf.len() {
            return Ok(None);
        }
        let key = self.varint()?;
        let field =
            u32::try_from(key >> 3).map_err(|_| format!("field number {} too large", key >> 3))?;
        if field == 0 {
            return Err(format!("field number 0 at byte {}", self.pos));
        }
        let value = match key & 7 {
            0 => Value::Varint(self.varint()?),
            1 => {
                let b = self.take(8)?;
                let mut a = [0u8; 8];
                a.copy_from_slice(b);
                Value::Fixed64(u64::from_le_bytes(a))
            }
            2 => {
                let len = self.varint()?;
                let len = usize::try_from(len).map_err(|_| format!("length {len} too large"))?;
                Value::Bytes(self.take(len)?)
            }
            3 => {
                self.skip_group(field)?;
                Value::Group
            }
            4 => return Err(format!("unexpected end-group for field {field}")),
            5 => {
                let b = self.take(4)?;
                let mut a = [0u8; 4];
                a.copy_from_slice(b);
                Value::Fixed32(u32::from_le_bytes(a))
            }
            w => return Err(format!("unknown wire type {w} for field {field}")),
        };
        Ok(Some((field, value)))
    }

    fn skip_group(&mut self, field: u32) -> Result<(), String> {
        if self.depth >= MAX_GROUP_DEPTH {
            return Err(format!("groups nested deeper than {MAX_GROUP_DEPTH}"));
        }
        self.depth += 1;
        let result = self.skip_group_body(field);
        self.depth -= 1;
        result
    }

    fn skip_group_body(&mut self, field: u32) -> Result<(), String> {
        loop {
            if self.pos >= self.buf.len() {
                return Err(format!("unterminated group for field {field}"));
            }
            let key = self.varint()?;
            if key & 7 == 4 {
                return if (key >> 3) == u64::from(field) {
                    Ok(())
                } else {
                    Err(format!("mismatched end-group for field {field}"))
                };
            }
            // Re-dispatch the value through next_field's logic.
            self.pos -= varint_len(key);
            self.next_field()?;
        }
    }
}

fn varint_len(mut v: u64) -> usize {
    let mut n = 1;
    while v >= 0x80 {
        v >>= 7;
        n += 1;
    }
    n
}

#[cfg(test)]
mod tests {
    use super::*;

    fn varint(mut v: u64, out: &mut Vec<u8>) {
        loop {
            let b = (v & 0x7f) as u8;
            v >>= 7;
            if v == 0 {
                out.push(b);
                break;
            }
            out.push(b | 0x80);
        }
    }
    fn key(field: u32, wire: u8, out: &mut Vec<u8>) {
        varint((u64::from(field) << 3) | u64::from(wire), out);
    }
    fn bytes_field(field: u32, data: &[u8], out: &mut Vec<u8>) {
        key(field, 2, out);
        varint(data.len() as u64, out);
        out.extend_from_slice(data);
    }
    fn piece(s: &str, score: f32, kind: Option<u64>) -> Vec<u8> {
        let mut p = Vec::new();
        bytes_field(1, s.as_bytes(), &mut p);
        key(2, 5, &mut p);
        p.extend_from_slice(&score.to_le_bytes());
        if let Some(k) = kind {
            key(3, 0, &mut p);
            varint(k, &mut p);
        }
        p
    }

    #[test]
    fn parses_hand_made_model() {
        let mut m = Vec::new();
        bytes_field(1, &piece("<unk>", 0.0, Some(2)), &mut m);
        bytes_field(1, &piece("</s>", 0.0, Some(3)), &mut m);
        bytes_field(1, &piece("\u{2581}de", -2.5, None), &mut m);
        // unknown top-level field (self_test_data) and an unknown fixed64 field
        bytes_field(4, b"\x0a\x00", &mut m);
        key(99, 1, &mut m);
        m.extend_from_slice(&[1, 2, 3, 4, 5, 6, 7, 8]);
        let mut t = Vec::new();
        key(40, 0, &mut t);
        varint(0, &mut t);
        key(43, 0, &mut t);
        varint(-1i64 as u64, &mut t); // negative int32: 10-byte varint
        key(35, 0, &mut t);
        varint(1, &mut t);
        bytes_field(2, &t, &mut m);
        let mut n = Vec::new();
        bytes_field(1, b"nmt_nfkc", &mut n);
        bytes_field(2, &[9, 8, 7], &mut n);
        key(3, 0, &mut n);
        varint(0, &mut n);
        bytes_field(3, &n, &mut m);

        let model = SpmModel::from_bytes(&m).unwrap();
        assert_eq!(model.pieces.len(), 3);
        assert_eq!(model.pieces[0].kind, PieceType::Unknown);
        assert_eq!(model.pieces[1].kind, PieceType::Control);
        assert_eq!(model.pieces[2].kind, PieceType::Normal);
        assert_eq!(model.pieces[2].piece, "\u{2581}de");
        assert_eq!(model.pieces[2].score, -2.5);
        assert_eq!(model.trainer.pad_id, -1);
        assert_eq!(model.trainer.unk_id, 0);
        assert_eq!(model.trainer.eos_id, 2); // default
        assert!(model.trainer.byte_fallback);
        assert_eq!(model.normalizer.name, "nmt_nfkc");
        assert_eq!(model.normalizer.precompiled_charsmap, vec![9, 8, 7]);
        assert!(!model.normalizer.add_dummy_prefix);
        assert!(model.normalizer.remove_extra_whitespaces); // default
        assert!(model.denormalizer.is_none());
    }

    #[test]
    fn rejects_truncated_and_garbage_input() {
        let mut m = Vec::new();
        bytes_field(1, &piece("a", 0.0, None), &mut m);
        let truncated = &m[..m.len() - 2];
        let e = SpmModel::from_bytes(truncated).unwrap_err().to_string();
        assert!(e.contains("<bytes>"), "{e}");
        assert!(SpmModel::from_bytes(b"").is_err());
        assert!(SpmModel::from_bytes(&[0xff; 12]).is_err());
        assert!(SpmModel::from_bytes(b"{\"not\": \"a model\"}").is_err());
    }

    #[test]
    fn skips_groups() {
        let mut m = Vec::new();
        key(7, 3, &mut m);
        key(1, 0, &mut m);
        varint(5, &mut m);
        key(7, 4, &mut m);
        bytes_field(1, &piece("<unk>", 0.0, Some(2)), &mut m);
        let model = SpmModel::from_bytes(&m).unwrap();
        assert_eq!(model.pieces.len(), 1);
        // Deeply nested groups are rejected, not a stack overflow.
        let mut deep = Vec::new();
        for _ in 0..10_000 {
            key(7, 3, &mut deep);
        }
        assert!(SpmModel::from_bytes(&deep).is_err());
    }
}
