//! Language identification where it shows: every sentence of an article says its language (a
//! short one takes the article's), and DeepL's `detected_source_language` is the detected one
//! when the client leaves `source_lang` out.

use axum::http::StatusCode;
use serde_json::json;

use copydesk::batching::BatchPolicy;
use copydesk::service::ArticleOptions;

use crate::http::{app, call, decode, post_json, service};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn article_sentences_carry_their_language() {
    let service = service(false, BatchPolicy::default());
    let article = "Kabinet trekt extra geld uit voor stikstofaanpak\n\
        DEN HAAG (ANP) - Het kabinet trekt de komende vier jaar 2,4 miljard euro extra uit. \
        \"We will not accept this agreement in its current form\", the British minister said. \
        Rutte.\n";
    let opts = ArticleOptions {
        decode: decode(),
        ..ArticleOptions::default()
    };
    let out = service.article(article, &opts).await.unwrap();
    assert_eq!(out.language.unwrap().code, "nl");
    let langs: Vec<(&str, bool)> = out.blocks[0]
        .sentences
        .iter()
        .map(|s| {
            let l = s.language.unwrap();
            (l.code, l.from_context)
        })
        .collect();
    assert_eq!(
        langs,
        [("nl", false), ("en", false), ("nl", true)],
        "{:?}",
        out.blocks
    );
    let v = serde_json::to_value(&out).unwrap();
    assert_eq!(v["blocks"][0]["sentences"][1]["language"]["code"], "en");
    assert_eq!(
        v["blocks"][0]["sentences"][2]["language"]["from_context"],
        true
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deepl_reports_the_detected_source_language() {
    let (app, _) = app().await;
    let texts = [
        "The government announced new measures on Tuesday.",
        "Het kabinet heeft nieuwe maatregelen aangekondigd.",
        "Ja.",
    ];
    let body = json!({"text": texts, "target_lang": "EN-GB"});
    let (status, _, v) = call(&app, post_json("/v2/translate", &body)).await;
    assert_eq!(status, StatusCode::OK, "{v}");
    let got: Vec<&str> = v["translations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["detected_source_language"].as_str().unwrap())
        .collect();
    assert_eq!(got, ["EN", "NL", "NL"]);
    // Named by the client: reported as named.
    let body = json!({"text": [texts[0]], "target_lang": "EN-GB", "source_lang": "NL"});
    let (_, _, v) = call(&app, post_json("/v2/translate", &body)).await;
    assert_eq!(v["translations"][0]["detected_source_language"], "NL");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn v1_translate_reports_each_texts_language_unless_named() {
    let (app, _) = app().await;
    let texts = ["The government announced new measures on Tuesday.", "Ja."];
    let (status, _, v) = call(&app, post_json("/v1/translate", &json!({"texts": texts}))).await;
    assert_eq!(status, StatusCode::OK, "{v}");
    assert_eq!(v["translations"][0]["detected_language"]["code"], "en");
    assert!(
        v["translations"][0]["detected_language"]["confidence"]
            .as_f64()
            .unwrap()
            > 0.5
    );
    let body = json!({"texts": texts, "source_lang": "auto"});
    let (_, _, auto) = call(&app, post_json("/v1/translate", &body)).await;
    assert_eq!(auto["translations"], v["translations"]);
    let body = json!({"texts": texts, "source_lang": "nl"});
    let (_, _, named) = call(&app, post_json("/v1/translate", &body)).await;
    assert!(
        named["translations"][0].get("detected_language").is_none(),
        "{named}"
    );
}
