//! A decode that runs into the model's position table ends as `length` and says `truncated`, on
//! every path (CLI translate and article, REST, batch): never an error. The fixture
//! `marian-short-pos` has a 16-position table, `max_length: 512` in its generation_config.json,
//! and never emits eos by itself.

use std::process::Command;

use serde_json::{json, Value};
use tower::ServiceExt;

use copydesk::batching::BatchPolicy;
use copydesk::http::{router, AppState};
use copydesk::service::{LoadOptions, Service, ServiceConfig};

use crate::cli::copydesk;
use crate::common::{golden, model_dir};
use crate::http::{config, post_json};

const MODEL: &str = "marian-short-pos";
const TEXT: &str = "Het kabinet valt.";

/// transformers' ids for TEXT at max_length 17 (the table's limit), after the start token and
/// without the (forced) eos.
fn golden_ids() -> Vec<Value> {
    let g = golden(MODEL);
    let case = g
        .generate
        .iter()
        .find(|c| c.name == "greedy_position_limit")
        .unwrap();
    assert_eq!(case.texts, vec![TEXT.to_string()]);
    let seq = &case.sequences[0];
    assert_eq!(seq.len(), 17);
    seq[1..seq.len() - 1].iter().map(|&t| json!(t)).collect()
}

fn model() -> String {
    model_dir(MODEL).to_string_lossy().into_owned()
}

fn assert_truncated(v: &Value, what: &str) {
    assert_eq!(v["finish_reason"], "length", "{what}: {v}");
    assert_eq!(v["truncated"], true, "{what}: {v}");
}

#[test]
fn cli_translate_clamps_default_and_explicit_lengths() {
    for extra in [&[][..], &["--max-new-tokens", "1000"][..]] {
        let mut args = vec!["translate", "--json", "--beams", "1", "--model"];
        let m = model();
        args.push(&m);
        args.extend_from_slice(extra);
        args.push(TEXT);
        let out = copydesk(&args, "");
        assert!(
            out.status.success(),
            "{extra:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let line: Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_truncated(&line, "translate");
        assert_eq!(line["token_ids"].as_array().unwrap(), &golden_ids());
    }
}

#[test]
fn cli_article_keeps_every_sentence() {
    let m = model();
    let article = "Kabinet valt\n\nDEN HAAG (ANP) - Het kabinet valt. Dank u.\n";
    let out = copydesk(
        &["article", "--json", "--no-summary", "--translator", &m],
        article,
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    let sentences: Vec<&Value> = v["blocks"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|b| b["sentences"].as_array().unwrap())
        .collect();
    assert_eq!(sentences.len(), 2, "{v}");
    for s in sentences {
        assert_eq!(s["truncated"], true, "{s}");
        assert!(!s["text"].as_str().unwrap().is_empty());
    }
    assert_eq!(v["headline_truncated"], true, "{v}");
}

#[test]
fn batch_records_are_results_not_errors() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in.jsonl");
    std::fs::write(&input, format!("{{\"id\": \"a\", \"text\": \"{TEXT}\"}}\n")).unwrap();
    let output = dir.path().join("out.jsonl");
    let out = Command::new(env!("CARGO_BIN_EXE_copydesk"))
        .args([
            "batch",
            "--task",
            "translate",
            "--beams",
            "1",
            "--translator",
        ])
        .arg(model())
        .arg(&input)
        .arg("-o")
        .arg(&output)
        .env("HF_HUB_OFFLINE", "1")
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let line: Value = serde_json::from_str(&std::fs::read_to_string(&output).unwrap()).unwrap();
    assert!(line["error"].is_null(), "{line}");
    assert_truncated(&line["result"], "batch");
    assert_eq!(
        line["result"]["token_ids"].as_array().unwrap(),
        &golden_ids()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rest_clamps_max_new_tokens_and_says_so() {
    let service = Service::start(&ServiceConfig {
        translator: Some(model()),
        summarizer: None,
        load: LoadOptions::default(),
        policy: BatchPolicy::default(),
    })
    .unwrap();
    let state = AppState::ready(config(), service).await.unwrap();
    let app = router(state);
    let body = json!({"texts": [TEXT], "options": {"beams": 1, "max_new_tokens": 1000}});
    let res = app
        .oneshot(post_json("/v1/translate", &body))
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let bytes = axum::body::to_bytes(res.into_body(), 1 << 20)
        .await
        .unwrap();
    let v: Value = serde_json::from_slice(&bytes).unwrap();
    assert_truncated(&v["translations"][0], "rest");
    assert_eq!(v["usage"]["output_tokens"], golden_ids().len());
}
