//! The `copydesk` binary end to end on the fixture models: outputs equal transformers' goldens,
//! structure is kept, and user errors give clear messages and exit code 2.

use std::io::Write;
use std::process::{Command, Output, Stdio};

use serde_json::Value;

use crate::common::{fixtures, golden, golden_ids, model_dir, token_ids, MODEL_DEFAULTS_CASE};

/// Runs the binary offline against an empty cache, with `stdin` piped in and no `COPYDESK_*`
/// settings from the environment the tests run in.
pub fn copydesk(args: &[&str], stdin: &str) -> Output {
    let cache = tempfile::tempdir().unwrap();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_copydesk"));
    for (k, _) in std::env::vars().filter(|(k, _)| k.starts_with("COPYDESK_")) {
        cmd.env_remove(k);
    }
    let mut child = cmd
        .args(args)
        .env("HF_HUB_OFFLINE", "1")
        .env("HF_HOME", cache.path())
        .env_remove("HF_HUB_CACHE")
        .env_remove("RUST_BACKTRACE")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

fn stdout_json_lines(out: &Output) -> Vec<Value> {
    assert!(
        out.status.success(),
        "failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout.clone())
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn check_against_golden(model: &str, case_name: &str, cmd: &[&str], eos: u32) {
    let g = golden(model);
    let case = g.case(case_name);
    let dir = model_dir(model);
    let max_new = case.kwargs["max_new_tokens"].to_string();
    let beams = case.kwargs["num_beams"].to_string();
    let mut args: Vec<&str> = cmd.to_vec();
    args.extend([
        "--model",
        dir.to_str().unwrap(),
        "--json",
        "--beams",
        &beams,
        "--max-new-tokens",
        &max_new,
    ]);
    let out = copydesk(&args, &case.texts.join("\n"));
    let lines = stdout_json_lines(&out);
    assert_eq!(lines.len(), case.texts.len());
    for (line, (seq, score)) in lines.iter().zip(case.sequences.iter().zip(&case.scores)) {
        assert_eq!(token_ids(line), golden_ids(seq, eos), "{model} {case_name}");
        let s = line["score"].as_f64().unwrap() as f32;
        assert!(
            (s - score).abs() < 1e-3,
            "{model} {case_name}: score {s} vs {score}"
        );
    }
}

#[test]
fn translate_json_matches_transformers_greedy_and_beam() {
    check_against_golden("marian-tied", "greedy_single_short", &["translate"], 0);
    check_against_golden("marian-tied", "greedy_batch4_padded", &["translate"], 0);
    check_against_golden("marian-tied", "beam4_single_a", &["translate"], 0);
    check_against_golden("marian-tied", "beam4_batch3_padded", &["translate"], 0);
}

#[test]
fn summarize_json_matches_transformers() {
    // The goldens' texts already carry the "summarize: " prefix: use the raw template.
    check_against_golden(
        "t5-tied-relu",
        "greedy_single_long",
        &["summarize", "--prompt", "raw"],
        1,
    );
    check_against_golden(
        "t5-tied-relu",
        "beam4_single_a",
        &["summarize", "--prompt", "raw"],
        1,
    );
}

/// `copydesk summarize --model DIR` with no decoding flags: the model's own defaults
/// (generation_config.json: beams, min_length, length_penalty, no_repeat_ngram_size,
/// forced_bos_token_id, ...) give transformers' ids for the golden case run with them.
fn check_model_defaults(model: &str, eos: u32) {
    let g = golden(model);
    let case = g.case(MODEL_DEFAULTS_CASE);
    let dir = model_dir(model);
    let args = ["summarize", "--model", dir.to_str().unwrap(), "--json"];
    let out = copydesk(&args, &case.texts.join("\n"));
    let lines = stdout_json_lines(&out);
    assert_eq!(lines.len(), case.texts.len());
    for (line, seq) in lines.iter().zip(&case.sequences) {
        assert_eq!(token_ids(line), golden_ids(seq, eos), "{model}");
        assert!(!line["summary"].as_str().unwrap().contains("<s>"), "{line}");
    }
}

#[test]
fn bart_and_pegasus_summarize_with_their_own_defaults() {
    check_model_defaults("bart-tiny", 2);
    check_model_defaults("pegasus-tiny", 1);
}

#[test]
fn plain_translate_prints_one_line_per_input_and_keeps_empty_lines() {
    let dir = model_dir("marian-tied");
    let out = copydesk(
        &[
            "translate",
            "--model",
            dir.to_str().unwrap(),
            "--max-new-tokens",
            "4",
        ],
        "Het kabinet valt.\n\nDank u.\n",
    );
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 3);
    assert_eq!(lines[1], "");
    assert!(!lines[0].is_empty() && !lines[2].is_empty());
}

fn segment_shape(v: &Value) -> Vec<(String, usize)> {
    v["blocks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| {
            (
                b["kind"].as_str().unwrap().to_string(),
                b["sentences"].as_array().unwrap().len(),
            )
        })
        .collect()
}

#[test]
fn article_keeps_the_segment_structure_of_every_sample() {
    let translator = model_dir("marian-tied");
    let summarizer = model_dir("t5-tied-relu");
    for sample in ["kabinet-stikstof.txt", "zorgpremie.txt"] {
        let path = fixtures().join("samples").join(sample);
        let path = path.to_str().unwrap();
        let seg = &stdout_json_lines(&copydesk(&["segment", "--json", path], ""))[0];
        let art = &stdout_json_lines(&copydesk(
            &[
                "article",
                path,
                "--json",
                "--translator",
                translator.to_str().unwrap(),
                "--summarizer",
                summarizer.to_str().unwrap(),
                "--max-new-tokens",
                "6",
            ],
            "",
        ))[0];
        assert_eq!(segment_shape(seg), segment_shape(art), "{sample}");
        assert!(!segment_shape(seg).is_empty());
        assert_eq!(
            seg["related"].as_array().unwrap().len(),
            art["related"].as_array().unwrap().len()
        );
        for block in art["blocks"].as_array().unwrap() {
            for s in block["sentences"].as_array().unwrap() {
                assert!(s["source"].is_string() && s["text"].is_string());
            }
        }
        if let Some(d) = seg["dateline"].as_object() {
            assert_eq!(art["dateline"]["place"], d["place"]);
        }
        assert!(art["summary"].is_string());
        assert!(art["headline_en"].is_string());
        assert!(art["models"]["translator"]["name"].is_string());
        assert!(art["timings"]["total_ms"].as_f64().unwrap() > 0.0);
    }
}

#[test]
fn stikstof_dateline_is_translated_in_the_markdown() {
    let path = fixtures().join("samples/kabinet-stikstof.txt");
    let out = copydesk(
        &[
            "article",
            path.to_str().unwrap(),
            "--format",
            "markdown",
            "--no-summary",
            "--translator",
            model_dir("marian-tied").to_str().unwrap(),
            "--max-new-tokens",
            "3",
        ],
        "",
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.starts_with("# "), "{text}");
    assert!(text.contains("THE HAGUE (ANP) - "), "{text}");
    assert!(!text.contains("## Summary"));
}

fn assert_usage_error(out: &Output, needles: &[&str]) {
    assert_eq!(
        out.status.code(),
        Some(2),
        "stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let err = String::from_utf8_lossy(&out.stderr);
    for n in needles {
        assert!(err.contains(n), "stderr lacks {n:?}: {err}");
    }
    assert!(
        !err.contains("panicked") && !err.contains("stack backtrace"),
        "{err}"
    );
}

#[test]
fn missing_models_explain_what_to_do() {
    // The default translator is a hub model; offline with an empty cache it cannot load.
    let out = copydesk(&["translate", "Hallo"], "");
    assert_usage_error(
        &out,
        &[
            "Helsinki-NLP/opus-mt-nl-en",
            "config.json",
            "copydesk models pull",
            "HF_HUB_OFFLINE",
        ],
    );
    let out = copydesk(&["translate", "--model", "no-such-model", "Hallo"], "");
    assert_usage_error(&out, &["no-such-model", "opus-mt-nl-en"]);
    let out = copydesk(&["translate", "--model", "org/absent@main", "Hallo"], "");
    assert_usage_error(&out, &["org/absent"]);
}

#[test]
fn q8_translates_with_eight_bit_weights() {
    let dir = model_dir("marian-tied");
    let dir = dir.to_str().unwrap();
    let text = "Het kabinet heeft nieuwe maatregelen aangekondigd.";
    let run = |dtype: &str| -> serde_json::Value {
        let out = copydesk(
            &[
                "translate",
                "--model",
                dir,
                "--dtype",
                dtype,
                "--json",
                text,
            ],
            "",
        );
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).unwrap()
    };
    let (f32_out, q8_out) = (run("f32"), run("q8"));
    assert_eq!(q8_out["source"], text);
    let ids = q8_out["token_ids"].as_array().unwrap();
    assert!(!ids.is_empty(), "{q8_out}");
    // The scores are log-probabilities of similar sequences, not bit-identical ones.
    let (a, b) = (
        f32_out["score"].as_f64().unwrap(),
        q8_out["score"].as_f64().unwrap(),
    );
    assert!(b < 0.0 && (a - b).abs() < 1.0, "f32 {a}, q8 {b}");
}

#[test]
fn bad_flags_and_inputs_are_usage_errors() {
    let dir = model_dir("marian-tied");
    let dir = dir.to_str().unwrap();
    assert_usage_error(
        &copydesk(&["translate", "--model", dir, "--dtype", "f8", "x"], ""),
        &["f8", "q8"],
    );
    assert_usage_error(
        &copydesk(&["translate", "--model", dir, "--device", "tpu", "x"], ""),
        &["tpu"],
    );
    assert_usage_error(
        &copydesk(&["translate", "--model", dir, "--beams", "0", "x"], ""),
        &["beams"],
    );
    // The fixture accepts at most 128 positions: a longer text is translated in pieces cut
    // between words, neither rejected nor truncated.
    let long = "woord ".repeat(400);
    let out = copydesk(
        &[
            "translate",
            "--json",
            "--max-new-tokens",
            "2",
            "--model",
            dir,
            &long,
        ],
        "",
    );
    let line = &stdout_json_lines(&out)[0];
    // At most 2 new tokens a piece: more than 2 in all means several pieces were translated.
    let tokens = line["token_ids"].as_array().unwrap().len();
    assert!(tokens > 2, "400 words in 128-token pieces: {line}");
    let summarizer = model_dir("t5-tied-relu");
    assert_usage_error(
        &copydesk(
            &[
                "summarize",
                "--model",
                summarizer.to_str().unwrap(),
                "--prompt",
                "poem",
                "x",
            ],
            "",
        ),
        &["poem", "summarize", "headline"],
    );
}

#[test]
fn models_list_shows_the_manifests() {
    let out = copydesk(&["models", "list"], "");
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    for name in ["opus-mt-nl-en", "flan-t5-base", "t5-small", "m2m100-418m"] {
        assert!(text.contains(name), "{text}");
    }
    // NLLB-200's CC-BY-NC-4.0 weights are marked, and only they.
    let marked: Vec<&str> = text
        .lines()
        .filter(|l| l.contains("NON-COMMERCIAL USE ONLY"))
        .collect();
    assert_eq!(marked.len(), 1, "{text}");
    assert!(marked[0].starts_with("nllb-200-distilled-600m") && marked[0].contains("cc-by-nc-4.0"));
}
