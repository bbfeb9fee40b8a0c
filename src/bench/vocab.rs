//! Tokenizer files for exported synthetic models, with the real model's vocabulary size: a
//! SentencePiece unigram model written from scratch (protobuf wire format) with deterministic,
//! made-up pieces, plus the files transformers' tokenizers expect next to it (Marian:
//! `source.spm`, `target.spm`, `vocab.json`; T5: `spiece.model`), or the same pieces as a
//! unigram `tokenizer.json` (BART, Pegasus).
//!
//! The pieces are single characters (with and without the `▁` word marker), letter pairs, and
//! seeded syllable strings, so any text tokenizes (unknown characters become `<unk>`) into a
//! plausible number of tokens. The texts they decode to are gibberish, like the weights.

use std::collections::HashSet;

const WORD: char = '\u{2581}';
const CHARS: &str = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789\
                     .,;:!?'\"()-/%&€$@#+*=[]–—‘’“”éëèêïíöóüúàáçñ";
const ONSETS: [&str; 21] = [
    "b", "d", "f", "g", "h", "j", "k", "l", "m", "n", "p", "r", "s", "t", "v", "w", "z", "st",
    "tr", "sch", "gr",
];
const NUCLEI: [&str; 12] = [
    "a", "e", "i", "o", "u", "aa", "ee", "oo", "ij", "ui", "ou", "ie",
];
const CODAS: [&str; 9] = ["", "", "n", "r", "s", "t", "k", "l", "nd"];

/// Kinds of SentencePiece pieces (`ModelProto.SentencePiece.Type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Normal = 1,
    Unknown = 2,
    Control = 3,
}

/// `n` distinct made-up pieces, the same on every machine.
pub fn normal_pieces(n: usize) -> Vec<String> {
    let mut out: Vec<String> = Vec::with_capacity(n);
    let mut seen: HashSet<String> = HashSet::with_capacity(n);
    let mut push = |p: String, out: &mut Vec<String>| {
        if out.len() < n && seen.insert(p.clone()) {
            out.push(p);
        }
    };
    push(WORD.to_string(), &mut out);
    for c in CHARS.chars() {
        push(c.to_string(), &mut out);
        push(format!("{WORD}{c}"), &mut out);
    }
    for a in 'a'..='z' {
        for b in 'a'..='z' {
            push(format!("{a}{b}"), &mut out);
            push(format!("{WORD}{a}{b}"), &mut out);
        }
    }
    let mut state = 0x0076_6f63_6162_u64; // "vocab"
    let mut next = move |m: usize| {
        state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        ((z ^ (z >> 31)) % m as u64) as usize
    };
    while out.len() < n {
        let syllables = 1 + next(3);
        let mut p = String::new();
        if next(3) > 0 {
            p.push(WORD);
        }
        for _ in 0..syllables {
            p.push_str(ONSETS[next(ONSETS.len())]);
            p.push_str(NUCLEI[next(NUCLEI.len())]);
            p.push_str(CODAS[next(CODAS.len())]);
        }
        push(p, &mut out);
    }
    out
}

/// Ids of the special pieces in a SentencePiece model (`-1` = none).
#[derive(Debug, Clone, Copy)]
pub struct SpmIds {
    pub unk: i32,
    pub bos: i32,
    pub eos: i32,
    pub pad: i32,
}

/// A serialized SentencePiece `ModelProto` (unigram, identity normalizer with the usual
/// whitespace handling). Scores fall slowly with the id, so longer pieces win.
pub fn spm_model(pieces: &[(String, Kind)], ids: SpmIds) -> Vec<u8> {
    let mut out = Vec::with_capacity(pieces.len() * 16);
    for (i, (piece, kind)) in pieces.iter().enumerate() {
        let mut p = Vec::with_capacity(piece.len() + 12);
        bytes_field(1, piece.as_bytes(), &mut p);
        let score = match kind {
            Kind::Normal => -2.0 - 1e-4 * i as f32,
            _ => 0.0,
        };
        key(2, 5, &mut p);
        p.extend_from_slice(&score.to_le_bytes());
        varint_field(3, *kind as i64, &mut p);
        bytes_field(1, &p, &mut out);
    }
    let mut trainer = Vec::new();
    varint_field(3, 1, &mut trainer); // UNIGRAM
    varint_field(4, pieces.len() as i64, &mut trainer);
    varint_field(40, ids.unk.into(), &mut trainer);
    varint_field(41, ids.bos.into(), &mut trainer);
    varint_field(42, ids.eos.into(), &mut trainer);
    varint_field(43, ids.pad.into(), &mut trainer);
    bytes_field(2, &trainer, &mut out);
    let mut normalizer = Vec::new();
    bytes_field(1, b"identity", &mut normalizer);
    varint_field(3, 1, &mut normalizer); // add_dummy_prefix
    varint_field(4, 1, &mut normalizer); // remove_extra_whitespaces
    varint_field(5, 1, &mut normalizer); // escape_whitespaces
    bytes_field(3, &normalizer, &mut out);
    out
}

fn varint(v: u64, out: &mut Vec<u8>) {
    let mut v = v;
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn key(field: u32, wire: u8, out: &mut Vec<u8>) {
    varint(u64::from(field) << 3 | u64::from(wire), out);
}

/// int32/enum fields: negative values are sign-extended to 64 bits, as protobuf does.
fn varint_field(field: u32, v: i64, out: &mut Vec<u8>) {
    key(field, 0, out);
    varint(v as u64, out);
}

fn bytes_field(field: u32, data: &[u8], out: &mut Vec<u8>) {
    key(field, 2, out);
    varint(data.len() as u64, out);
    out.extend_from_slice(data);
}

/// Marian tokenizer files for a vocabulary of `vocab` ids with `</s>` at `eos`, `<pad>` at
/// `pad` and `<unk>` at the first free id: `(file name, contents)`.
pub fn marian_files(vocab: usize, eos: u32, pad: u32) -> Result<Vec<(String, Vec<u8>)>, String> {
    let (eos, pad) = (eos as usize, pad as usize);
    if eos == pad || eos >= vocab || pad >= vocab || vocab < 4 {
        return Err(format!(
            "cannot lay out a vocabulary of {vocab} with eos {eos} and pad {pad}"
        ));
    }
    let unk = (0..vocab)
        .find(|i| *i != eos && *i != pad)
        .unwrap_or_default();
    let mut normals = normal_pieces(vocab - 3).into_iter();
    let tokens: Vec<String> = (0..vocab)
        .map(|i| match i {
            _ if i == eos => "</s>".to_string(),
            _ if i == pad => "<pad>".to_string(),
            _ if i == unk => "<unk>".to_string(),
            _ => normals.next().unwrap_or_default(),
        })
        .collect();
    let vocab_json: serde_json::Map<String, serde_json::Value> = tokens
        .iter()
        .enumerate()
        .map(|(i, t)| (t.clone(), serde_json::Value::from(i)))
        .collect();
    // The SentencePiece model only turns text into piece strings; vocab.json gives the ids.
    let mut pieces = vec![
        ("<unk>".to_string(), Kind::Unknown),
        ("<s>".to_string(), Kind::Control),
        ("</s>".to_string(), Kind::Control),
    ];
    pieces.extend(
        tokens
            .iter()
            .filter(|t| !matches!(t.as_str(), "</s>" | "<pad>" | "<unk>"))
            .map(|t| (t.clone(), Kind::Normal)),
    );
    let spm = spm_model(
        &pieces,
        SpmIds {
            unk: 0,
            bos: 1,
            eos: 2,
            pad: -1,
        },
    );
    let config = serde_json::json!({
        "tokenizer_class": "MarianTokenizer",
        "source_lang": "nl",
        "target_lang": "en",
        "separate_vocabs": false,
        "model_max_length": 512,
        "eos_token": "</s>",
        "unk_token": "<unk>",
        "pad_token": "<pad>",
        "clean_up_tokenization_spaces": false,
        "sp_model_kwargs": {},
    });
    Ok(vec![
        ("source.spm".into(), spm.clone()),
        ("target.spm".into(), spm),
        ("vocab.json".into(), json_bytes(&vocab_json)?),
        ("tokenizer_config.json".into(), json_bytes(&config)?),
        ("special_tokens_map.json".into(), special_tokens_map()?),
    ])
}

/// T5 tokenizer files: `spiece.model` with `pieces` pieces (`<pad>` 0, `</s>` 1, `<unk>` 2), and
/// `extra_ids` sentinels added by the tokenizer on top.
pub fn t5_files(pieces: usize, extra_ids: usize) -> Result<Vec<(String, Vec<u8>)>, String> {
    if pieces < 4 {
        return Err(format!("a T5 vocabulary needs more than {pieces} pieces"));
    }
    let mut all = vec![
        ("<pad>".to_string(), Kind::Control),
        ("</s>".to_string(), Kind::Control),
        ("<unk>".to_string(), Kind::Unknown),
    ];
    all.extend(
        normal_pieces(pieces - 3)
            .into_iter()
            .map(|p| (p, Kind::Normal)),
    );
    let spm = spm_model(
        &all,
        SpmIds {
            unk: 2,
            bos: -1,
            eos: 1,
            pad: 0,
        },
    );
    let extra: Vec<String> = (0..extra_ids).map(|i| format!("<extra_id_{i}>")).collect();
    let config = serde_json::json!({
        "tokenizer_class": "T5Tokenizer",
        "extra_ids": extra_ids,
        "additional_special_tokens": extra,
        "model_max_length": 512,
        "eos_token": "</s>",
        "unk_token": "<unk>",
        "pad_token": "<pad>",
        "legacy": true,
        "clean_up_tokenization_spaces": false,
        "sp_model_kwargs": {},
    });
    Ok(vec![
        ("spiece.model".into(), spm),
        ("tokenizer_config.json".into(), json_bytes(&config)?),
        ("special_tokens_map.json".into(), special_tokens_map()?),
    ])
}

/// A unigram `tokenizer.json` of `vocab` ids: the family's `fixed` special tokens at their ids,
/// made-up pieces elsewhere; inputs get `</s>` appended (and `<s>` prepended when `bos`).
pub fn tokenizer_json_files(
    vocab: usize,
    fixed: &[(u32, String)],
    bos: Option<u32>,
) -> Result<Vec<(String, Vec<u8>)>, String> {
    let token = |id: u32| fixed.iter().find(|(i, _)| *i == id).map(|(_, t)| t.clone());
    let id_of = |name: &str| fixed.iter().find(|(_, t)| t == name).map(|(i, _)| *i);
    let (Some(eos), Some(unk)) = (id_of("</s>"), id_of("<unk>")) else {
        return Err("a tokenizer.json vocabulary needs </s> and <unk>".into());
    };
    if fixed.iter().any(|(i, _)| *i as usize >= vocab) {
        return Err(format!("special ids beyond a vocabulary of {vocab}"));
    }
    let mut normals = normal_pieces(vocab - fixed.len()).into_iter();
    let pieces: Vec<serde_json::Value> = (0..vocab as u32)
        .map(|i| {
            let piece = token(i).unwrap_or_else(|| normals.next().unwrap_or_default());
            serde_json::json!([piece, -1.0 - f64::from(i) / vocab as f64])
        })
        .collect();
    let special = |id: u32| {
        serde_json::json!({"id": id, "content": token(id), "single_word": false, "lstrip": false,
                           "rstrip": false, "normalized": false, "special": true})
    };
    let piece = |id: u32| serde_json::json!({"SpecialToken": {"id": token(id), "type_id": 0}});
    let mut single: Vec<serde_json::Value> = bos.map(piece).into_iter().collect();
    single.push(serde_json::json!({"Sequence": {"id": "A", "type_id": 0}}));
    single.push(piece(eos));
    let ends: serde_json::Map<String, serde_json::Value> = bos
        .into_iter()
        .chain([eos])
        .map(|i| {
            let t = token(i).unwrap_or_default();
            (
                t.clone(),
                serde_json::json!({"id": t, "ids": [i], "tokens": [t]}),
            )
        })
        .collect();
    let metaspace = serde_json::json!({"type": "Metaspace", "replacement": WORD.to_string(),
                                       "prepend_scheme": "always", "split": true});
    let tokenizer = serde_json::json!({
        "version": "1.0", "truncation": null, "padding": null,
        "added_tokens": fixed.iter().map(|(i, _)| special(*i)).collect::<Vec<_>>(),
        "normalizer": null,
        "pre_tokenizer": metaspace,
        "post_processor": {"type": "TemplateProcessing", "single": single,
                           "pair": [{"Sequence": {"id": "A", "type_id": 0}},
                                    {"Sequence": {"id": "B", "type_id": 0}}],
                           "special_tokens": ends},
        "decoder": metaspace,
        "model": {"type": "Unigram", "unk_id": unk, "vocab": pieces, "byte_fallback": false},
    });
    let mut config = serde_json::json!({
        "tokenizer_class": "PreTrainedTokenizerFast",
        "model_max_length": 1024,
        "eos_token": "</s>",
        "unk_token": "<unk>",
        "pad_token": "<pad>",
        "clean_up_tokenization_spaces": false,
    });
    let mut map: serde_json::Value =
        serde_json::from_slice(&special_tokens_map()?).map_err(|e| e.to_string())?;
    // Converters (CTranslate2's) read the bos token from the tokenizer: the one inputs start
    // with, else the family's `<s>` (M2M100's inputs start with a language token instead).
    let named_bos = || {
        fixed
            .iter()
            .find(|(_, t)| t == "<s>")
            .map(|(_, t)| t.clone())
    };
    if let Some(b) = bos.and_then(token).or_else(named_bos) {
        config["bos_token"] = b.clone().into();
        map["bos_token"] = b.into();
    }
    Ok(vec![
        ("tokenizer.json".into(), json_bytes(&tokenizer)?),
        ("tokenizer_config.json".into(), json_bytes(&config)?),
        ("special_tokens_map.json".into(), json_bytes(&map)?),
    ])
}

fn special_tokens_map() -> Result<Vec<u8>, String> {
    json_bytes(&serde_json::json!({
        "eos_token": "</s>",
        "unk_token": "<unk>",
        "pad_token": "<pad>",
    }))
}

fn json_bytes<T: serde::Serialize>(v: &T) -> Result<Vec<u8>, String> {
    serde_json::to_vec_pretty(v).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tokenize::{PieceType, SpmModel};

    #[test]
    fn pieces_are_distinct_and_deterministic() {
        let a = normal_pieces(5000);
        assert_eq!(a, normal_pieces(5000));
        let set: HashSet<&String> = a.iter().collect();
        assert_eq!(set.len(), 5000);
        assert!(a.contains(&"\u{2581}a".to_string()) && a.contains(&"z".to_string()));
    }

    #[test]
    fn written_model_parses_back() {
        let files = t5_files(300, 10).unwrap();
        let spm = SpmModel::from_bytes(&files[0].1).unwrap();
        assert_eq!(spm.pieces.len(), 300);
        assert_eq!(spm.pieces[0].piece, "<pad>");
        assert_eq!(spm.pieces[2].kind, PieceType::Unknown);
        assert_eq!(spm.pieces[3].kind, PieceType::Normal);
        assert_eq!(
            (
                spm.trainer.pad_id,
                spm.trainer.eos_id,
                spm.trainer.unk_id,
                spm.trainer.bos_id
            ),
            (0, 1, 2, -1)
        );
        assert!(spm.pieces[3].score > spm.pieces[200].score);
        assert_eq!(spm.normalizer.name, "identity");
    }

    #[test]
    fn tokenizer_json_loads_with_the_specials_in_place() {
        let fixed: Vec<(u32, String)> = [(0, "<s>"), (1, "<pad>"), (2, "</s>"), (3, "<unk>")]
            .map(|(i, t)| (i, t.to_string()))
            .into();
        let files = tokenizer_json_files(400, &fixed, Some(0)).unwrap();
        let dir = std::env::temp_dir().join(format!("copydesk-vocab-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        for (name, bytes) in &files {
            std::fs::write(dir.join(name), bytes).unwrap();
        }
        let tok =
            crate::tokenize::Seq2SeqTokenizer::from_tokenizer_json(&dir.join("tokenizer.json"))
                .unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
        assert_eq!((tok.eos_id(), tok.pad_id(), tok.unk_id()), (2, 1, 3));
        assert_eq!(tok.source_vocab_size(), 400);
        let ids = tok.encode("Het kabinet").unwrap();
        assert!(ids.len() > 3, "{ids:?}");
        assert_eq!((ids[0], ids[ids.len() - 1]), (0, 2));
        assert!(ids[1..ids.len() - 1].iter().all(|&i| i > 3 && i < 400));
    }

    #[test]
    fn marian_vocab_has_every_id_once_with_specials_in_place() {
        let files = marian_files(500, 0, 499).unwrap();
        let vocab: serde_json::Map<String, serde_json::Value> =
            serde_json::from_slice(&files[2].1).unwrap();
        assert_eq!(vocab.len(), 500);
        assert_eq!(vocab["</s>"], 0);
        assert_eq!(vocab["<unk>"], 1);
        assert_eq!(vocab["<pad>"], 499);
        let mut ids: Vec<u64> = vocab.values().map(|v| v.as_u64().unwrap()).collect();
        ids.sort();
        assert_eq!(ids, (0..500).collect::<Vec<u64>>());
        assert!(marian_files(500, 3, 3).is_err());
    }
}
