//! House glossaries and the DeepL-shaped glossary API on the fixture translator: terms found in a
//! sentence are forced into its translation (constrained beam search), sentences without terms
//! translate exactly as without a glossary, each output says which terms it found and whether
//! they are in it, and the `glossary_missing` check flags a term that could not be placed.

use std::sync::Arc;

use axum::http::StatusCode;
use serde_json::{json, Value};

use copydesk::batching::BatchPolicy;
use copydesk::glossary::store::{GlossaryStore, HouseFile};
use copydesk::glossary::{Entry, Glossary, Selection};
use copydesk::http::{router, AppState, HttpConfig};
use copydesk::service::DecodeOptions;

use crate::http::{call, config, get, post, post_json, service};

const HOUSE: &str = "# house style\nTweede Kamer\tHouse of Representatives\nkabinet\tcabinet\n";

fn house() -> Selection {
    let entry = |s: &str, t: &str| Entry {
        source: s.into(),
        target: t.into(),
        case_sensitive: false,
        partial: false,
    };
    Selection::new(vec![Arc::new(Glossary {
        id: "house".into(),
        name: "house".into(),
        source_lang: "nl".into(),
        target_lang: "en".into(),
        created: 0,
        entries: vec![
            entry("Tweede Kamer", "House of Representatives"),
            entry("kabinet", "cabinet"),
        ],
    })])
}

fn texts(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| s.to_string()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn glossary_terms_are_forced_and_other_sentences_are_unchanged() {
    let service = service(false, BatchPolicy::default());
    let input = texts(&[
        "De Tweede Kamer stemt over het kabinet.",
        "Het weer is mooi in Utrecht.",
        "Het kabinet valt.",
    ]);
    for beams in [1, 4] {
        let plain = DecodeOptions {
            beams: Some(beams),
            max_new_tokens: Some(40),
            ..Default::default()
        };
        let with = DecodeOptions {
            glossary: house(),
            ..plain.clone()
        };
        let before = service.translate_texts(&input, &plain).await.unwrap();
        let after = service.translate_texts(&input, &with).await.unwrap();
        // The fixture model is random: without the glossary it never says these terms.
        assert!(
            !before[0].text.contains("House of Representatives"),
            "{}",
            before[0].text
        );
        assert!(!before[2].text.contains("cabinet"), "{}", before[2].text);
        let terms = |g: &copydesk::service::Generated| -> Vec<(String, bool)> {
            g.terms
                .iter()
                .map(|t| (t.target.clone(), t.applied))
                .collect()
        };
        assert_eq!(
            terms(&after[0]),
            [
                ("House of Representatives".into(), true),
                ("cabinet".into(), true)
            ],
            "beams {beams}: {}",
            after[0].text
        );
        assert!(after[0].text.contains("House of Representatives"));
        assert!(after[2].text.contains("cabinet"), "{}", after[2].text);
        assert_eq!(terms(&after[2]), [("cabinet".into(), true)]);
        // No term: the same ids and score as without the glossary.
        assert!(after[1].terms.is_empty());
        assert_eq!(after[1].token_ids, before[1].token_ids);
        assert_eq!(after[1].score, before[1].score);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_term_that_cannot_fit_is_reported_missing() {
    let service = service(false, BatchPolicy::default());
    let opts = DecodeOptions {
        beams: Some(2),
        max_new_tokens: Some(3),
        glossary: house(),
        ..Default::default()
    };
    let out = service
        .translate_texts(&texts(&["De Tweede Kamer stemt."]), &opts)
        .await
        .unwrap();
    // The search's furthest hypothesis, not an empty one: two tokens and the eos Marian's
    // forced_eos_token_id puts at the last position.
    assert_eq!(out[0].token_ids.len(), 2);
    assert_eq!(
        out[0].finish_reason,
        copydesk::service::FinishReason::Length
    );
    assert_eq!(out[0].terms.len(), 1);
    assert!(!out[0].terms[0].applied, "{:?}", out[0]);
    let flags =
        copydesk::text::checks::check_translation(&out[0].source, &out[0].text, out[0].scores());
    let flag = flags
        .iter()
        .find(|f| f.code == "glossary_missing")
        .expect("flagged");
    assert_eq!(flag.code, "glossary_missing");
    assert!(flag
        .message
        .contains("Tweede Kamer → House of Representatives"));
}

/// A server whose house glossary is a file, keeping created glossaries under `data`.
async fn app(data: &std::path::Path) -> axum::Router {
    let file = data.join("house.tsv");
    std::fs::write(&file, HOUSE).unwrap();
    let files = [HouseFile {
        source_lang: "nl".into(),
        target_lang: "en".into(),
        path: file,
    }];
    let mut cfg = HttpConfig {
        glossaries: Arc::new(GlossaryStore::open(Some(data), &files).unwrap()),
        ..config()
    };
    // Room for three forced terms.
    cfg.defaults.max_new_tokens = Some(40);
    let service = service(true, BatchPolicy::default());
    router(AppState::ready(cfg, service).await.unwrap())
}

fn codes(v: &Value) -> Vec<String> {
    v["checks"]
        .as_array()
        .map(|c| {
            c.iter()
                .map(|f| f["code"].as_str().unwrap().to_string())
                .collect()
        })
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn house_glossary_through_v1_translate_and_articles() {
    let dir = tempfile::tempdir().unwrap();
    let app = app(dir.path()).await;
    let body =
        json!({"texts": ["Het kabinet valt.", "Goedemorgen."], "options": {"max_new_tokens": 30}});
    let (status, _, v) = call(&app, post_json("/v1/translate", &body)).await;
    assert_eq!(status, StatusCode::OK, "{v}");
    let first = &v["translations"][0];
    assert!(
        first["text"].as_str().unwrap().contains("cabinet"),
        "{first}"
    );
    assert_eq!(
        first["glossary"],
        json!([{"source": "kabinet", "target": "cabinet", "applied": true}])
    );
    assert!(!codes(first).contains(&"glossary_missing".to_string()));
    assert!(v["translations"][1].get("glossary").is_none());
    // Too short to place the term: flagged.
    let body = json!({"texts": ["De Tweede Kamer stemt."], "options": {"max_new_tokens": 2}});
    let (_, _, v) = call(&app, post_json("/v1/translate", &body)).await;
    assert!(
        codes(&v["translations"][0]).contains(&"glossary_missing".to_string()),
        "{v}"
    );
    assert_eq!(v["translations"][0]["glossary"][0]["applied"], false);
    // Articles: per sentence.
    let body = json!({"articles": [{"text": "Kabinet valt\n\nDEN HAAG (ANP) - Het kabinet is gevallen. De Tweede Kamer debatteert morgen."}], "summarize": false, "options": {"max_new_tokens": 30}});
    let (status, _, v) = call(&app, post_json("/v1/articles", &body)).await;
    assert_eq!(status, StatusCode::OK, "{v}");
    let sentences: Vec<Value> = v["articles"][0]["blocks"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|b| b["sentences"].as_array().cloned().unwrap_or_default())
        .collect();
    let with_terms: Vec<&Value> = sentences
        .iter()
        .filter(|s| s.get("glossary").is_some())
        .collect();
    assert_eq!(with_terms.len(), 2, "{v}");
    for s in with_terms {
        assert_eq!(s["glossary"][0]["applied"], true, "{s}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deepl_glossary_routes_create_list_use_and_delete() {
    let dir = tempfile::tempdir().unwrap();
    let server = app(dir.path()).await;
    let form = "application/x-www-form-urlencoded";
    // Created as deepl-python does (JSON, TSV entries).
    let body = json!({"name": "desk", "source_lang": "nl", "target_lang": "en",
                      "entries_format": "tsv", "entries": "weer\tweather report\nUtrecht\tUtrecht"});
    let (status, _, created) = call(&server, post_json("/v2/glossaries", &body)).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    assert_eq!(created["entry_count"], 2);
    assert_eq!(created["ready"], true);
    let id = created["glossary_id"].as_str().unwrap().to_string();
    let t = created["creation_time"].as_str().unwrap();
    assert!(t.ends_with(".000Z") && t.len() == 24, "{t}");
    // A CSV one from a form body.
    let csv = "name=csv&source_lang=NL&target_lang=EN&entries_format=csv&entries=%22De+Wever%22%2CDe+Wever";
    let (status, _, v) = call(&server, post("/v2/glossaries", form, csv)).await;
    assert_eq!(status, StatusCode::CREATED, "{v}");
    let csv_id = v["glossary_id"].as_str().unwrap().to_string();
    // Listed with the house glossary; one, its entries as TSV.
    let (_, _, list) = call(&server, get("/v2/glossaries")).await;
    let ids: Vec<&str> = list["glossaries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["glossary_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids.len(), 3, "{list}");
    assert!(ids[0].starts_with("house-nl-en-"));
    let (status, _, info) = call(&server, get(&format!("/v2/glossaries/{id}"))).await;
    assert_eq!(
        (status, info["name"].as_str()),
        (StatusCode::OK, Some("desk"))
    );
    let (status, headers, tsv) = call(&server, get(&format!("/v2/glossaries/{id}/entries"))).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(headers["content-type"], "text/tab-separated-values");
    assert_eq!(tsv, "weer\tweather report\nUtrecht\tUtrecht\n");
    // Used on /v2/translate, on top of the house glossary.
    let body = json!({"text": ["Het weer in Utrecht is goed voor het kabinet."], "source_lang": "NL",
                      "target_lang": "EN-GB", "glossary_id": id});
    let (status, _, v) = call(&server, post_json("/v2/translate", &body)).await;
    assert_eq!(status, StatusCode::OK, "{v}");
    let text = v["translations"][0]["text"].as_str().unwrap();
    for term in ["weather report", "Utrecht", "cabinet"] {
        assert!(text.contains(term), "{term} not in {text:?}");
    }
    // And on /v1/translate.
    let body =
        json!({"texts": ["Het weer is goed."], "glossary": id, "options": {"max_new_tokens": 20}});
    let (_, _, v) = call(&server, post_json("/v1/translate", &body)).await;
    assert_eq!(
        v["translations"][0]["glossary"][0]["target"], "weather report",
        "{v}"
    );
    // Errors in DeepL's shape.
    let body = json!({"text": ["Het weer."], "target_lang": "EN", "glossary_id": "nope"});
    let (status, _, v) = call(&server, post_json("/v2/translate", &body)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{v}");
    assert!(v["message"].as_str().unwrap().contains("nope"), "{v}");
    let (status, _, v) = call(&server, get("/v2/glossaries/nope")).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{v}");
    assert!(v["message"]
        .as_str()
        .unwrap()
        .starts_with("Glossary not found"));
    let bad = json!({"name": "x", "source_lang": "nl", "target_lang": "en", "entries": "only-one-column"});
    let (status, _, v) = call(&server, post_json("/v2/glossaries", &bad)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{v}");
    assert!(v["message"].as_str().unwrap().contains("line 1"), "{v}");
    let bad = json!({"name": "x", "source_lang": "de", "target_lang": "en", "entries": "a\tb"});
    let (status, _, _) = call(&server, post_json("/v2/glossaries", &bad)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (_, _, pairs) = call(&server, get("/v2/glossary-language-pairs")).await;
    assert_eq!(
        pairs,
        json!({"supported_languages": [{"source_lang": "nl", "target_lang": "en"}]})
    );
    // The house glossary cannot be deleted; a created one can, once.
    let delete = |path: String| {
        axum::http::Request::delete(path)
            .body(axum::body::Body::empty())
            .unwrap()
    };
    let (status, _, _) = call(&server, delete(format!("/v2/glossaries/{}", ids[0]))).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, _, _) = call(&server, delete(format!("/v2/glossaries/{csv_id}"))).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _, _) = call(&server, delete(format!("/v2/glossaries/{csv_id}"))).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    // A restart keeps the created glossary.
    let again = app(dir.path()).await;
    let (status, _, info) = call(&again, get(&format!("/v2/glossaries/{id}"))).await;
    assert_eq!(
        (status, info["entry_count"].as_u64()),
        (StatusCode::OK, Some(2))
    );
    let (status, _, _) = call(&again, get(&format!("/v2/glossaries/{csv_id}"))).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}
