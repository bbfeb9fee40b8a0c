//! Parity with transformers 4.57: replays every `tests/fixtures/golden/*.json`
//! that has a `"tokenizer"` section (`encode`: `{text, ids[, src_lang]}`, `decode`:
//! `{ids, text[, skip_special_tokens]}`) against the tokenizer of its model
//! directory, and requires every case to match exactly.

use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::Seq2SeqTokenizer;

#[derive(Deserialize)]
struct Golden {
    model_dir: Option<String>,
    tokenizer: Option<TokenizerCases>,
}

#[derive(Deserialize)]
struct TokenizerCases {
    #[serde(default)]
    encode: Vec<EncodeCase>,
    #[serde(default)]
    decode: Vec<DecodeCase>,
}

#[derive(Deserialize)]
struct EncodeCase {
    text: String,
    ids: Vec<u32>,
    /// The source-language token transformers was given (`tok.src_lang`, mBART-50).
    src_lang: Option<String>,
}

#[derive(Deserialize)]
struct DecodeCase {
    ids: Vec<u32>,
    text: String,
    /// The generator decodes with `skip_special_tokens=True` unless it says otherwise.
    skip_special_tokens: Option<bool>,
}

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn read_json(path: &Path) -> Option<serde_json::Value> {
    let text = std::fs::read_to_string(path).ok()?;
    serde_json::from_str(&text).ok()
}

/// How transformers' `from_pretrained` would load the directory's tokenizer:
/// Marian files first, then `tokenizer.json` (fast), then M2M100's `sentencepiece.bpe.model` +
/// `vocab.json`, then `spiece.model` (slow T5).
pub(crate) fn load_for_dir(dir: &Path) -> Result<(Seq2SeqTokenizer, &'static str), String> {
    let config = read_json(&dir.join("tokenizer_config.json"));
    let source_spm = dir.join("source.spm");
    if source_spm.is_file() {
        let target_vocab = dir.join("target_vocab.json");
        let separate = config
            .as_ref()
            .and_then(|c| c.get("separate_vocabs"))
            .and_then(serde_json::Value::as_bool)
            .unwrap_or(target_vocab.is_file());
        let tok = Seq2SeqTokenizer::marian(
            &source_spm,
            &dir.join("target.spm"),
            &dir.join("vocab.json"),
            separate.then_some(target_vocab.as_path()),
        )
        .map_err(|e| e.to_string())?;
        return Ok((tok, "marian"));
    }
    let json = dir.join("tokenizer.json");
    if json.is_file() {
        let tok = Seq2SeqTokenizer::from_tokenizer_json(&json).map_err(|e| e.to_string())?;
        return Ok((tok, "tokenizer.json"));
    }
    let (bpe_model, vocab) = (dir.join("sentencepiece.bpe.model"), dir.join("vocab.json"));
    if bpe_model.is_file() && vocab.is_file() {
        let tok = Seq2SeqTokenizer::m2m100(&bpe_model, &vocab).map_err(|e| e.to_string())?;
        return Ok((tok, "sentencepiece.bpe.model + vocab.json"));
    }
    let spiece = dir.join("spiece.model");
    if spiece.is_file() {
        let tok = Seq2SeqTokenizer::t5_from_spiece(&spiece, super::t5_extra_ids(dir))
            .map_err(|e| e.to_string())?;
        return Ok((tok, "spiece.model"));
    }
    Err(format!("no tokenizer files in {}", dir.display()))
}

struct Outcome {
    encode_ok: usize,
    decode_ok: usize,
    failures: Vec<String>,
}

fn replay(tok: &Seq2SeqTokenizer, cases: &TokenizerCases) -> Outcome {
    let mut out = Outcome {
        encode_ok: 0,
        decode_ok: 0,
        failures: Vec::new(),
    };
    for case in &cases.encode {
        match tok.encode_in(&case.text, case.src_lang.as_deref()) {
            Ok(ids) if ids == case.ids => out.encode_ok += 1,
            Ok(ids) => out.failures.push(format!(
                "encode {:?}: expected {:?}, got {:?} (tokens {:?})",
                case.text,
                case.ids,
                ids,
                tok.tokenize(&case.text).unwrap_or_default()
            )),
            Err(e) => out
                .failures
                .push(format!("encode {:?}: error {e}", case.text)),
        }
    }
    for case in &cases.decode {
        let skip = case.skip_special_tokens.unwrap_or(true);
        match tok.decode(&case.ids, skip) {
            Ok(text) if text == case.text => out.decode_ok += 1,
            Ok(text) => out.failures.push(format!(
                "decode {:?} (skip_special_tokens={skip}): expected {:?}, got {:?}",
                case.ids, case.text, text
            )),
            Err(e) => out
                .failures
                .push(format!("decode {:?}: error {e}", case.ids)),
        }
    }
    out
}

#[test]
fn golden_tokenizer_parity() {
    let golden_dir = root().join("tests/fixtures/golden");
    let Ok(entries) = std::fs::read_dir(&golden_dir) else {
        eprintln!(
            "no golden directory at {}; nothing to check",
            golden_dir.display()
        );
        return;
    };
    let mut files: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    files.sort();
    let mut report = Vec::new();
    let mut failed = false;
    for file in files {
        let text = std::fs::read_to_string(&file)
            .unwrap_or_else(|e| panic!("cannot read {}: {e}", file.display()));
        let golden: Golden = serde_json::from_str(&text)
            .unwrap_or_else(|e| panic!("cannot parse {}: {e}", file.display()));
        let Some(cases) = golden.tokenizer else {
            continue;
        };
        let name = file
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        let dir = match &golden.model_dir {
            Some(d) => root().join(d),
            None => root().join("tests/fixtures/models").join(&name),
        };
        let (tok, kind) =
            load_for_dir(&dir).unwrap_or_else(|e| panic!("{name}: cannot load the tokenizer: {e}"));
        let mut paths = vec![(kind.to_string(), Ok(tok), true)];
        if kind == "tokenizer.json" {
            paths.extend(other_load_paths(&dir));
        }
        for (label, tok, required) in paths {
            let tok = tok.unwrap_or_else(|e| panic!("{name}: {label}: {e}"));
            let outcome = replay(&tok, &cases);
            report.push(format!(
                "{name} ({label}): encode {}/{}, decode {}/{}",
                outcome.encode_ok,
                cases.encode.len(),
                outcome.decode_ok,
                cases.decode.len()
            ));
            if required && !outcome.failures.is_empty() {
                failed = true;
                let shown = outcome.failures.iter().take(20);
                report.extend(shown.map(|f| format!("  {name}: {f}")));
            }
        }
    }
    eprintln!("{}", report.join("\n"));
    assert!(!failed, "tokenizer parity failures:\n{}", report.join("\n"));
}

/// The other ways a directory with a `tokenizer.json` can be read, each checked against the
/// same golden: `(label, tokenizer, must match)`. BART's vocab.json + merges.txt and Pegasus's
/// spiece.model are load paths of their own (the golden's texts are ones on which transformers'
/// slow and fast tokenizers agree); T5's spiece.model is checked for information only.
fn other_load_paths(dir: &Path) -> Vec<(String, Result<Seq2SeqTokenizer, String>, bool)> {
    let model_type = read_json(&dir.join("config.json"))
        .and_then(|c| c.get("model_type")?.as_str().map(str::to_string));
    let (merges, spiece) = (dir.join("merges.txt"), dir.join("spiece.model"));
    let text = |e: super::TokenizeError| e.to_string();
    let mut out = Vec::new();
    if merges.is_file() {
        let tok = Seq2SeqTokenizer::byte_level_bpe(&dir.join("vocab.json"), &merges);
        out.push(("vocab.json + merges.txt".into(), tok.map_err(text), true));
    }
    let bpe_model = dir.join("sentencepiece.bpe.model");
    let slow = match model_type.as_deref() {
        Some("pegasus") if spiece.is_file() => Some((
            "spiece.model, PegasusTokenizer",
            Seq2SeqTokenizer::pegasus_from_spiece(&spiece),
            true,
        )),
        Some("mbart") if bpe_model.is_file() => Some((
            "sentencepiece.bpe.model, MBart50Tokenizer",
            Seq2SeqTokenizer::mbart50_from_spm(&bpe_model),
            true,
        )),
        Some("t5") if spiece.is_file() => Some((
            "spiece.model, informational",
            Seq2SeqTokenizer::t5_from_spiece(&spiece, super::t5_extra_ids(dir)),
            false,
        )),
        _ => None,
    };
    out.extend(slow.map(|(label, tok, required)| (label.into(), tok.map_err(text), required)));
    out
}

#[test]
fn tokenizer_is_send_and_sync() {
    fn check<T: Send + Sync + Clone>() {}
    check::<Seq2SeqTokenizer>();
}

#[test]
fn missing_files_are_errors_naming_the_file() {
    let missing = root().join("tests/fixtures/does-not-exist/source.spm");
    let err = Seq2SeqTokenizer::marian(&missing, &missing, &missing, None)
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(err.contains("does-not-exist"), "{err}");
    let err = Seq2SeqTokenizer::from_tokenizer_json(&missing)
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(err.contains("does-not-exist"), "{err}");
    let err = Seq2SeqTokenizer::t5_from_spiece(&missing, 100)
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(err.contains("does-not-exist"), "{err}");
}

#[test]
fn garbage_model_files_are_errors() {
    let dir = std::env::temp_dir().join(format!("copydesk-tok-garbage-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let bad = dir.join("spiece.model");
    std::fs::write(&bad, b"\x0a\xff\xff\xff\xff\x0fnot a model").expect("write");
    let err = Seq2SeqTokenizer::t5_from_spiece(&bad, 100)
        .err()
        .map(|e| e.to_string());
    let json = dir.join("tokenizer.json");
    std::fs::write(&json, b"{\"not\": \"a tokenizer\"}").expect("write");
    let err_json = Seq2SeqTokenizer::from_tokenizer_json(&json)
        .err()
        .map(|e| e.to_string());
    let _ = std::fs::remove_dir_all(&dir);
    let err = err.unwrap_or_default();
    assert!(err.contains("spiece.model"), "{err}");
    let err_json = err_json.unwrap_or_default();
    assert!(err_json.contains("tokenizer.json"), "{err_json}");
}

/// The nmt_nfkc charsmap of the fixture model, against `sp.normalize(...)`
/// from sentencepiece 0.2.0 (skipped when the fixture is absent).
#[test]
fn nmt_nfkc_normalization_matches_sentencepiece() {
    let path = root().join("tests/fixtures/models/marian-tied/source.spm");
    if !path.is_file() {
        eprintln!("{} missing; skipped", path.display());
        return;
    }
    let sp = super::load_spm(&path).expect("fixture model loads");
    let cases = [
        ("ＦＵＬＬ－ＷＩＤＴＨ １２３", "▁FULL-WIDTH▁123"),
        ("ﬁnanciën", "▁financiën"),
        ("e\u{301}e\u{301}n", "▁één"),
        ("  a \t b\n", "▁a▁b"),
        ("½ ²", "▁1⁄2▁2"),
        ("\u{1112}\u{1161}\u{11ab}", "▁한"),
        ("Zero\u{200b}width", "▁Zero▁width"),
        ("", ""),
    ];
    for (input, expected) in cases {
        assert_eq!(
            sp.normalize(input).expect("normalizes"),
            expected,
            "{input:?}"
        );
    }
}

#[test]
fn an_input_prefix_goes_before_every_input() {
    // A multi-target OPUS-MT model's `>>eng<<`: the Marian tokenizer makes the leading code its
    // own token, exactly as for a text that starts with it.
    let dir = root().join("tests/fixtures/models/marian-tied");
    let (plain, _) = load_for_dir(&dir).unwrap();
    let prefixed = plain.clone().with_input_prefix(">>eng<<");
    let text = "Het kabinet trekt extra geld uit.";
    let want = plain.encode(&format!(">>eng<< {text}")).unwrap();
    assert_eq!(prefixed.encode(text).unwrap(), want);
    assert_eq!(prefixed.encode_in(text, Some("nl")).unwrap(), want);
    assert_eq!(want.len(), plain.encode(text).unwrap().len() + 1);
}

#[test]
fn mbart50_without_tokenizer_json_reads_its_sentencepiece_model_and_only_as_mbart50() {
    let dir = root().join("tests/fixtures/models/mbart50-tiny");
    let tmp = tempfile::tempdir().unwrap();
    for f in [
        "config.json",
        "sentencepiece.bpe.model",
        "tokenizer_config.json",
    ] {
        std::fs::copy(dir.join(f), tmp.path().join(f)).unwrap();
    }
    let spm = tmp.path().join("sentencepiece.bpe.model");
    let fast = Seq2SeqTokenizer::from_tokenizer_json(&dir.join("tokenizer.json")).unwrap();
    let slow = Seq2SeqTokenizer::mbart50_from_spm(&spm).unwrap();
    let text = "Het kabinet trekt 2,4 miljard euro uit.";
    for lang in ["nl", "de_DE", "fr"] {
        assert_eq!(
            slow.encode_in(text, Some(lang)).unwrap(),
            fast.encode_in(text, Some(lang)).unwrap()
        );
    }
    assert_eq!(
        slow.target_language_token("en"),
        fast.target_language_token("en")
    );
    // mBART-25's tokenizer class is not read this way.
    let config = r#"{"tokenizer_class": "MBartTokenizer"}"#;
    std::fs::write(tmp.path().join("tokenizer_config.json"), config).unwrap();
    let err = Seq2SeqTokenizer::mbart50_from_spm(&spm)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("MBartTokenizer needs a tokenizer.json"),
        "{err}"
    );
}

#[test]
fn target_phrases_match_transformers_text_target() {
    // golden/target-phrases.json: `tokenizer(text_target=term, add_special_tokens=False)` (the
    // target SentencePiece model and vocabulary for Marian, no language token for M2M100/NLLB).
    let path = root().join("tests/fixtures/golden/target-phrases.json");
    let golden = read_json(&path).expect("golden/target-phrases.json");
    let models = golden["models"].as_object().expect("models");
    assert_eq!(models.len(), 5);
    for (name, model) in models {
        let dir = root().join("tests/fixtures/models").join(name);
        let (tok, _) = load_for_dir(&dir).unwrap();
        let with_prefix = tok.clone().with_input_prefix(">>eng<<");
        for case in model["cases"].as_array().expect("cases") {
            let text = case["text"].as_str().unwrap();
            let want: Vec<u32> = serde_json::from_value(case["ids"].clone()).unwrap();
            assert_eq!(
                tok.encode_target_phrase(text).unwrap(),
                want,
                "{name}: {text:?}"
            );
            // The input prefix is for inputs only.
            assert_eq!(with_prefix.encode_target_phrase(text).unwrap(), want);
        }
    }
}
