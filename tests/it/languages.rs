//! Language identification where it shows: every sentence of an article says its language (a
//! short one takes the article's), and DeepL's `detected_source_language` is the detected one
//! when the client leaves `source_lang` out.

use axum::http::StatusCode;
use serde_json::{json, Value};

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

/// marian-tied for Dutch (the first translator) and fixture model `other` for `langs`.
fn translators(langs: &str, other: &str) -> copydesk::service::Service {
    let dir = |m: &str| crate::common::model_dir(m).to_string_lossy().into_owned();
    copydesk::service::Service::start(&copydesk::service::ServiceConfig {
        translator: Some(format!("{},{langs}={}", dir("marian-tied"), dir(other))),
        summarizer: None,
        load: copydesk::service::LoadOptions::default(),
        policy: BatchPolicy::default(),
    })
    .unwrap()
}

/// Dutch to marian-tied, French to marian-untied (`fr=DIR`): two fixture translators.
fn two_translators() -> copydesk::service::Service {
    translators("fr", "marian-untied")
}

const GERMAN: &str = "Die Bundesregierung hat am Dienstag neue Maßnahmen gegen die Inflation \
    beschlossen.";
const FRENCH: &str = "Le gouvernement français a présenté mardi un nouveau plan pour les \
    agriculteurs.";
const ENGLISH: &str = "\"We will not accept this agreement in its current form\", the British \
    minister said.";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn article_sentences_are_routed_by_language() {
    let service = two_translators();
    let (tied, untied) = (
        crate::common::model_dir("marian-tied"),
        crate::common::model_dir("marian-untied"),
    );
    let article = format!(
        "Kabinet trekt extra geld uit\n\
         DEN HAAG (ANP) - Het kabinet trekt de komende vier jaar 2,4 miljard euro extra uit. \
         {ENGLISH} {FRENCH} {GERMAN} Rutte.\n"
    );
    let opts = ArticleOptions {
        decode: decode(),
        ..ArticleOptions::default()
    };
    let out = service.article(&article, &opts).await.unwrap();
    let s = &out.blocks[0].sentences;
    assert_eq!(s.len(), 5, "{s:?}");
    let v = serde_json::to_value(s).unwrap();
    let handling: Vec<&str> = (0..5).map(|i| v[i]["handling"].as_str().unwrap()).collect();
    assert_eq!(
        handling,
        [
            "translated",
            "copied",
            "translated",
            "untranslated",
            "translated"
        ]
    );
    let model = |i: usize| v[i]["model"].as_str().map(str::to_string);
    assert_eq!(model(0), Some(tied.to_string_lossy().into_owned()));
    assert_eq!(model(2), Some(untied.to_string_lossy().into_owned()));
    assert_eq!(
        model(4),
        Some(tied.to_string_lossy().into_owned()),
        "short: the article's"
    );
    assert_eq!((model(1), model(3)), (None, None));
    // English and German come back as they were; German says why.
    assert_eq!(s[1].text, s[1].source);
    assert_eq!(s[3].text, GERMAN);
    assert_eq!(v[3]["error"]["code"], "unsupported_language");
    // The French sentence is what the French translator makes of it alone.
    let alone = service.routes[1]
        .handle
        .generate(&[FRENCH.to_string()], &decode())
        .await
        .unwrap();
    assert_eq!(s[2].text, alone[0].text);
    // A named source language sends every sentence to its translator.
    let named = ArticleOptions {
        source_lang: Some("nl".into()),
        ..opts
    };
    let out = service.article(&article, &named).await.unwrap();
    assert!(out.blocks[0]
        .sentences
        .iter()
        .all(|s| s.model.as_deref() == Some(tied.to_string_lossy().as_ref())));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn v1_translate_routes_each_text() {
    let service = two_translators();
    let state = copydesk::http::AppState::ready(crate::http::config(), service)
        .await
        .unwrap();
    let app = copydesk::http::router(state);
    let texts = [
        "Het kabinet heeft nieuwe maatregelen aangekondigd.",
        "The government announced new measures on Tuesday.",
        FRENCH,
        GERMAN,
    ];
    let (status, _, v) = call(&app, post_json("/v1/translate", &json!({"texts": texts}))).await;
    assert_eq!(status, StatusCode::OK, "{v}");
    let routing = |i: usize| v["translations"][i]["routing"].clone();
    let handling: Vec<Value> = (0..4).map(|i| routing(i)["handling"].clone()).collect();
    assert_eq!(
        handling,
        [
            json!("translated"),
            json!("copied"),
            json!("translated"),
            json!("untranslated")
        ]
    );
    assert_eq!(routing(2)["language"], "fr");
    assert!(routing(2)["model"]
        .as_str()
        .unwrap()
        .ends_with("marian-untied"));
    assert_eq!(v["translations"][1]["text"], texts[1]);
    assert_eq!(v["translations"][3]["text"], GERMAN);
    assert_eq!(routing(3)["error"]["code"], "unsupported_language");
    assert_eq!(v["translations"][3]["finish_reason"], "passthrough");
    // Named: honoured, and a language no translator reads is the client's error.
    let body = json!({"texts": [FRENCH], "source_lang": "fr"});
    let (status, _, v) = call(&app, post_json("/v1/translate", &body)).await;
    assert_eq!(status, StatusCode::OK, "{v}");
    assert!(v["translations"][0]["routing"]["model"]
        .as_str()
        .unwrap()
        .ends_with("marian-untied"));
    let body = json!({"texts": [GERMAN], "source_lang": "de"});
    let (status, _, v) = call(&app, post_json("/v1/translate", &body)).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
    assert_eq!(v["error"]["code"], "unsupported_language");
    // /v1/articles: detected per sentence, or named for the whole article.
    let article = format!("DEN HAAG (ANP) - Het kabinet trekt extra geld uit. {FRENCH}");
    let second_model = |body: Value| {
        let app = app.clone();
        async move {
            let (status, _, v) = call(&app, post_json("/v1/articles", &body)).await;
            assert_eq!(status, StatusCode::OK, "{v}");
            v["articles"][0]["blocks"][0]["sentences"][1]["model"]
                .as_str()
                .unwrap()
                .to_string()
        }
    };
    let detected = second_model(json!({"articles": [{"text": article}], "summarize": false}));
    assert!(detected.await.ends_with("marian-untied"));
    let body = json!({"articles": [{"text": article}], "summarize": false, "source_lang": "nl"});
    assert!(second_model(body).await.ends_with("marian-tied"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deepl_and_libretranslate_route_too() {
    let service = two_translators();
    let french_alone = service.routes[1]
        .handle
        .translate_texts(&[FRENCH.to_string()], &decode())
        .await
        .unwrap();
    let state = copydesk::http::AppState::ready(crate::http::config(), service)
        .await
        .unwrap();
    let app = copydesk::http::router(state);
    let body = json!({"text": [FRENCH, GERMAN], "target_lang": "EN-GB"});
    let (status, _, v) = call(&app, post_json("/v2/translate", &body)).await;
    assert_eq!(status, StatusCode::OK, "{v}");
    assert_eq!(v["translations"][0]["detected_source_language"], "FR");
    assert_eq!(v["translations"][0]["text"], french_alone[0].text.as_str());
    assert_eq!(v["translations"][1]["detected_source_language"], "DE");
    assert_eq!(v["translations"][1]["text"], GERMAN);
    let body = json!({"q": FRENCH, "source": "fr", "target": "en"});
    let (status, _, v) = call(&app, post_json("/translate", &body)).await;
    assert_eq!(status, StatusCode::OK, "{v}");
    assert_eq!(v["translatedText"], french_alone[0].text.as_str());
    let body = json!({"q": GERMAN, "source": "de", "target": "en"});
    let (status, _, _) = call(&app, post_json("/translate", &body)).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_many_to_english_model_gets_each_sentences_language_token() {
    // mbart50-tiny reads German and French: its inputs start with de_DE / fr_XX; English is
    // forced first by its config.
    many_to_english_routing("mbart50-tiny", "fr_XX", None).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn m2m100_and_nllb_get_source_tokens_and_english_forced_first() {
    // Their configs force nothing: copydesk forces the target's token (ids from the goldens'
    // forced_bos_token_id, as transformers was run).
    many_to_english_routing("m2m100-tiny", "__fr__", Some(419)).await;
    many_to_english_routing("nllb-tiny", "fra_Latn", Some(497)).await;
}

/// `fixture` as the German and French translator after marian-tied: each foreign sentence of
/// an article gets its language token (`french_token` for French) and comes out as the model
/// makes it alone; `forced_english` is the English token copydesk must force first.
async fn many_to_english_routing(fixture: &str, french_token: &str, forced_english: Option<u32>) {
    let service = translators("de+fr", fixture);
    let mbart = &service.routes[1].handle;
    let tok = &mbart.loaded.tokenizer;
    assert!(tok.takes_language_token());
    if let Some(id) = forced_english {
        assert_eq!(tok.target_language_token("en"), Some(id));
        assert_eq!(mbart.loaded.generation.forced_bos_token_id, Some(id));
    }
    let ids = |text: &str, lang: &str| tok.encode_in(text, Some(lang)).unwrap();
    assert_eq!(
        ids(FRENCH, "fr")[0],
        tok.encode_in(FRENCH, Some(french_token)).unwrap()[0]
    );
    assert_ne!(ids(FRENCH, "fr")[0], ids(FRENCH, "de")[0]);
    let article = format!("DEN HAAG (ANP) - Het kabinet trekt extra geld uit. {FRENCH} {GERMAN}");
    let opts = ArticleOptions {
        decode: decode(),
        ..ArticleOptions::default()
    };
    let out = service.article(&article, &opts).await.unwrap();
    let s = &out.blocks[0].sentences;
    // Each sentence is what the model makes of it alone with its own language token.
    for (sentence, lang) in [(&s[1], "fr"), (&s[2], "de")] {
        assert!(sentence.model.as_deref().unwrap().ends_with(fixture));
        let alone = mbart
            .generate_in(
                std::slice::from_ref(&sentence.source),
                Some(lang),
                &decode(),
            )
            .await
            .unwrap();
        assert_eq!(sentence.text, alone[0].text, "{lang}");
    }
    // The language token matters (else the checks above could not tell): the two sentences
    // come out differently (ids, or at least scores) when said to be in the other language.
    let texts = &[FRENCH.to_string(), GERMAN.to_string()];
    let as_said = |lang: &'static str| async move {
        let out = mbart.generate_in(texts, Some(lang), &decode()).await;
        out.unwrap()
            .into_iter()
            .map(|h| (h.token_ids, h.score))
            .collect::<Vec<_>>()
    };
    let (as_french, as_german) = (as_said("fr").await, as_said("de").await);
    assert_ne!(
        as_french, as_german,
        "the language token changes the output"
    );
    if let Some(id) = forced_english {
        assert!(
            as_french.iter().all(|(ids, _)| ids[0] == id),
            "{as_french:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flagged_sentences_are_listed_first_for_review() {
    let service = service(false, BatchPolicy::default());
    let article = "DEN HAAG (ANP) - Het kabinet trekt de komende vier jaar 2,4 miljard euro \
                   extra uit voor de aanpak van stikstof.\n";
    let opts = ArticleOptions {
        decode: decode(),
        ..ArticleOptions::default()
    };
    let out = service.article(article, &opts).await.unwrap();
    let s = &out.blocks[0].sentences[0];
    let has_number = ["2.4", "2,4", "24"].iter().any(|n| s.text.contains(n));
    let codes: Vec<&str> = s.checks.iter().map(|f| f.code).collect();
    assert_eq!(codes.contains(&"number_missing"), !has_number, "{s:?}");
    assert!(s.confidence.is_some_and(|c| c < 0.0));
    // Every flagged sentence is in `review`, where it is.
    assert_eq!(out.review.len(), usize::from(!s.checks.is_empty()));
    if let Some(r) = out.review.first() {
        assert_eq!(r.at, "blocks[0].sentences[0]");
        assert_eq!((&r.source, &r.checks), (&s.source, &s.checks));
    }
    // In the JSON, review comes before the blocks.
    let json = serde_json::to_string(&out).unwrap();
    assert!(json.find("\"review\"").unwrap() < json.find("\"blocks\"").unwrap());
}
