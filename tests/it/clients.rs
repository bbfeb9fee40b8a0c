//! The wire protocol exactly as the official clients speak it (requests recorded from deepl
//! 1.32.0 and libretranslatepy 2.1.4 in `scripts/clients/recorded-requests.txt`: headers, JSON vs
//! form bodies, a form body on a GET), against a server with an API key. The real clients run in
//! `scripts/clients/run.sh` (optional, needs PyPI).

use axum::body::Body;
use axum::http::{header, Request, StatusCode};
use serde_json::{json, Value};

use crate::http::{app_with, call, config};
use copydesk::http::HttpConfig;

const KEY: &str = "fake-key-123";

fn keyed() -> HttpConfig {
    HttpConfig {
        api_keys: vec![KEY.to_string()],
        ..config()
    }
}

/// A request as deepl-python builds it.
fn deepl(
    method: &str,
    path: &str,
    content_type: Option<&str>,
    body: &str,
    key: &str,
) -> Request<Body> {
    let mut req = Request::builder()
        .method(method)
        .uri(path)
        .header(header::ACCEPT_ENCODING, "identity")
        .header(header::AUTHORIZATION, format!("DeepL-Auth-Key {key}"))
        .header(header::USER_AGENT, "deepl-python/1.32.0");
    if let Some(ct) = content_type {
        req = req.header(header::CONTENT_TYPE, ct);
    }
    req.body(Body::from(body.to_string())).unwrap()
}

/// A request as libretranslatepy builds it (urllib, form body, no Authorization header).
fn libre(method: &str, path: &str, body: &str) -> Request<Body> {
    Request::builder()
        .method(method)
        .uri(path)
        .header(header::ACCEPT_ENCODING, "identity")
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .header(header::USER_AGENT, "Python-urllib/3.11")
        .header(header::CONNECTION, "close")
        .body(Body::from(body.to_string()))
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_deepl_client_requests() {
    let (app, service) = app_with(keyed(), false).await;
    let json_ct = Some("application/json");
    let body = r#"{"target_lang": "EN-GB", "text": ["Het kabinet valt."], "show_billed_characters": true}"#;
    let (status, _, v) = call(&app, deepl("POST", "/v2/translate", json_ct, body, KEY)).await;
    assert_eq!(status, StatusCode::OK, "{v}");
    let direct = service
        .translate_texts(&["Het kabinet valt.".to_string()], &crate::http::decode())
        .await
        .unwrap();
    assert_eq!(
        v["translations"],
        json!([{"detected_source_language": "NL", "text": direct[0].text, "billed_characters": 17}])
    );
    // Options the client adds, as it sends them.
    for extra in [
        r#""split_sentences": "0""#,
        r#""split_sentences": "nonewlines""#,
        r#""preserve_formatting": true"#,
        r#""formality": "default""#,
        r#""context": "Politiek nieuws.""#,
        r#""source_lang": "NL""#,
    ] {
        let body = format!(
            r#"{{"target_lang": "EN-US", "text": ["Het kabinet valt.\nDe Kamer debatteert."], "show_billed_characters": true, {extra}}}"#
        );
        let (status, _, v) = call(&app, deepl("POST", "/v2/translate", json_ct, &body, KEY)).await;
        assert_eq!(status, StatusCode::OK, "{extra}: {v}");
        let billed = "Het kabinet valt.\nDe Kamer debatteert.".chars().count();
        assert_eq!(v["translations"][0]["billed_characters"], billed, "{v}");
    }
    // tag_handling: the tags come back around translated text.
    let body = r#"{"target_lang": "EN-GB", "text": ["<p>Het kabinet <b>valt</b>.</p>"], "tag_handling": "html", "show_billed_characters": true}"#;
    let (_, _, v) = call(&app, deepl("POST", "/v2/translate", json_ct, body, KEY)).await;
    let text = v["translations"][0]["text"].as_str().unwrap();
    assert!(text.starts_with("<p>") && text.ends_with("</p>"), "{text}");
    assert!(text.contains("<b>") && text.contains("</b>"), "{text}");
    assert!(
        !text.contains("kabinet"),
        "the text between tags is translated: {text}"
    );
    // Usage counts what was billed; languages read `type` from a form body on a GET.
    let (status, _, v) = call(&app, deepl("GET", "/v2/usage", None, "", KEY)).await;
    assert_eq!(status, StatusCode::OK);
    let tagged = "<p>Het kabinet <b>valt</b>.</p>".chars().count();
    assert_eq!(v["character_count"], 17 + 6 * 38 + tagged);
    assert!(v["character_limit"].as_u64().unwrap() > 0);
    let (_, _, v) = call(&app, deepl("GET", "/v2/languages", None, "", KEY)).await;
    assert_eq!(v, json!([{"language": "NL", "name": "Dutch"}]));
    let form = Some("application/x-www-form-urlencoded");
    let (_, _, v) = call(
        &app,
        deepl("GET", "/v2/languages", form, "type=target", KEY),
    )
    .await;
    let targets: Vec<&str> = v
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["language"].as_str().unwrap())
        .collect();
    assert_eq!(targets, ["EN-GB", "EN-US"]);
    assert_eq!(v[0]["supports_formality"], false);
    // DeepL's errors: 403 for a wrong key (the client's AuthorizationException), 400 for a bad
    // request, a string `message` in both.
    let (status, headers, v) =
        call(&app, deepl("POST", "/v2/translate", json_ct, body, "wrong")).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(headers.get(header::WWW_AUTHENTICATE).is_none());
    assert!(v["message"].is_string(), "{v}");
    let bad = r#"{"target_lang": "DE", "text": ["a"], "show_billed_characters": true}"#;
    let (status, _, v) = call(&app, deepl("POST", "/v2/translate", json_ct, bad, KEY)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        v["message"].as_str().unwrap().contains("target_lang"),
        "{v}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_libretranslate_client_requests() {
    let (app, _) = app_with(keyed(), false).await;
    let body = format!("q=Het+kabinet+valt.&source=nl&target=en&api_key={KEY}");
    let (status, _, v) = call(&app, libre("POST", "/translate", &body)).await;
    assert_eq!(status, StatusCode::OK, "{v}");
    assert!(v["translatedText"].is_string());
    let body = format!("q=Het+kabinet+heeft+vandaag+nieuwe+maatregelen+aangekondigd.&source=auto&target=en&api_key={KEY}");
    let (_, _, v) = call(&app, libre("POST", "/translate", &body)).await;
    assert_eq!(v["detectedLanguage"]["language"], "nl", "{v}");
    let confidence = v["detectedLanguage"]["confidence"].as_f64().unwrap();
    assert!((0.0..=100.0).contains(&confidence));
    // The language list: a GET with a form body, with or without a key.
    for body in [format!("api_key={KEY}"), String::new()] {
        let (status, _, v) = call(&app, libre("GET", "/languages", &body)).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(v[0]["code"], "nl");
        assert_eq!(v[0]["targets"], json!(["en"]));
    }
    let body =
        format!("q=Het+kabinet+heeft+vandaag+nieuwe+maatregelen+aangekondigd.&api_key={KEY}");
    let (status, _, v) = call(&app, libre("POST", "/detect", &body)).await;
    assert_eq!(status, StatusCode::OK, "{v}");
    assert_eq!(v[0]["language"], "nl");
    let english = format!(
        "q=The+government+announced+new+measures+against+emissions+on+Tuesday.&api_key={KEY}"
    );
    let (_, _, v) = call(&app, libre("POST", "/detect", &english)).await;
    assert_eq!(v[0]["language"], "en", "{v}");
    let (status, _, _) = call(&app, libre("POST", "/detect", "q=Hallo")).await;
    assert_eq!(
        status,
        StatusCode::UNAUTHORIZED,
        "detect needs the key like translate"
    );
    // format=html keeps the tags.
    let body = format!(
        "q=%3Cp%3EHet+kabinet+valt.%3C%2Fp%3E&source=nl&target=en&format=html&api_key={KEY}"
    );
    let (_, _, v) = call(&app, libre("POST", "/translate", &body)).await;
    let text = v["translatedText"].as_str().unwrap();
    assert!(text.starts_with("<p>") && text.ends_with("</p>"), "{text}");
    // alternatives: the n-best of a widened beam, distinct from the best.
    let body = format!("q=Het+kabinet+valt.&source=nl&target=en&alternatives=2&api_key={KEY}");
    let (status, _, v) = call(&app, libre("POST", "/translate", &body)).await;
    assert_eq!(status, StatusCode::OK, "{v}");
    let alts = v["alternatives"].as_array().unwrap();
    assert_eq!(alts.len(), 2, "{v}");
    assert!(alts.iter().all(|a| a != &v["translatedText"]), "{v}");
    assert_ne!(alts[0], alts[1]);
    // A .txt file, as LibreTranslate's web UI uploads it; the link serves the translation with
    // the file's lines kept.
    let upload = |name: &str, content: &str| {
        let boundary = "XyZ";
        let part = |field: &str, extra: &str, value: &str| {
            format!("--{boundary}\r\nContent-Disposition: form-data; name=\"{field}\"{extra}\r\n\r\n{value}\r\n")
        };
        let body = [
            part(
                "file",
                &format!("; filename=\"{name}\"\r\nContent-Type: text/plain"),
                content,
            ),
            part("source", "", "nl"),
            part("target", "", "en"),
            part("api_key", "", KEY),
            format!("--{boundary}--\r\n"),
        ]
        .concat();
        Request::post("/translate_file")
            .header(header::HOST, "desk.example:8080")
            .header(
                header::CONTENT_TYPE,
                format!("multipart/form-data; boundary={boundary}"),
            )
            .body(Body::from(body))
            .unwrap()
    };
    let (status, _, v) = call(
        &app,
        upload("kabinet.txt", "Het kabinet valt.\nDe Kamer debatteert."),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{v}");
    let url = v["translatedFileUrl"].as_str().unwrap();
    let path = url.strip_prefix("http://desk.example:8080").expect(url);
    assert!(
        path.starts_with("/download_file/") && path.ends_with("-kabinet.txt"),
        "{url}"
    );
    let res =
        tower::ServiceExt::oneshot(app.clone(), Request::get(path).body(Body::empty()).unwrap())
            .await
            .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let bytes = axum::body::to_bytes(res.into_body(), 1 << 20)
        .await
        .unwrap();
    let text = String::from_utf8(bytes.to_vec()).unwrap();
    assert_eq!(text.lines().count(), 2, "lines kept: {text:?}");
    let (status, _, v) = call(&app, upload("kabinet.pdf", "%PDF")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{v}");
    assert!(
        v["error"]["message"].as_str().unwrap().contains(".txt"),
        "{v}"
    );
    let missing = Request::get("/download_file/nope")
        .body(Body::empty())
        .unwrap();
    assert_eq!(call(&app, missing).await.0, StatusCode::NOT_FOUND);
    let (_, _, settings) = call(&app, libre("GET", "/frontend/settings", "")).await;
    assert_eq!(settings["keyRequired"], true);
    assert_eq!(settings["supportedFilesFormat"], json!([".txt"]));
    assert_eq!(settings["charLimit"], 400);
    let _: Value = settings;
}
