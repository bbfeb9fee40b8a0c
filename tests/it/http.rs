//! The REST service in-process with `oneshot`: routing, every error class, the compatibility
//! routes, API keys, metrics and the OpenAPI document, on the tiny fixture models. Outputs are
//! compared with the same `Service` called directly (one code path).

use std::time::Duration;

use axum::body::Body;
use axum::http::{header, Request, StatusCode};
use axum::Router;
use serde_json::{json, Value};
use tower::ServiceExt;

use copydesk::batching::BatchPolicy;
use copydesk::http::{router, AppState, HttpConfig, Limits};
use copydesk::service::{ArticleOptions, DecodeOptions, LoadOptions, Service, ServiceConfig};

use crate::common::{fixtures, model_dir};

pub const MAX_NEW_TOKENS: usize = 12;

/// The fixture translator (and summarizer) behind their own queues.
pub fn service(summarizer: bool, policy: BatchPolicy) -> Service {
    let dir = |m: &str| Some(model_dir(m).to_string_lossy().into_owned());
    Service::start(&ServiceConfig {
        translator: dir("marian-tied"),
        summarizer: if summarizer {
            dir("t5-tied-relu")
        } else {
            None
        },
        load: LoadOptions::default(),
        policy,
    })
    .expect("fixture models load")
}

/// Limits small enough to test, and short generations.
pub fn config() -> HttpConfig {
    HttpConfig {
        limits: Limits {
            max_texts_per_request: 8,
            max_chars_per_text: 400,
        },
        max_body_bytes: 4096,
        defaults: DecodeOptions {
            beams: None,
            max_new_tokens: Some(MAX_NEW_TOKENS),
            ..Default::default()
        },
        ..HttpConfig::default()
    }
}

pub fn decode() -> DecodeOptions {
    config().defaults
}

pub async fn app_with(cfg: HttpConfig, summarizer: bool) -> (Router, Service) {
    let service = service(summarizer, BatchPolicy::default());
    let state = AppState::ready(cfg, service.clone()).await.unwrap();
    (router(state), service)
}

pub async fn app() -> (Router, Service) {
    app_with(config(), true).await
}

pub fn post(path: &str, content_type: &str, body: impl Into<Body>) -> Request<Body> {
    Request::post(path)
        .header(header::CONTENT_TYPE, content_type)
        .body(body.into())
        .unwrap()
}

pub fn post_json(path: &str, body: &Value) -> Request<Body> {
    post(path, "application/json", body.to_string())
}

pub fn get(path: &str) -> Request<Body> {
    Request::get(path).body(Body::empty()).unwrap()
}

/// Status, headers and body (JSON when it parses, else a string).
pub async fn call(app: &Router, req: Request<Body>) -> (StatusCode, axum::http::HeaderMap, Value) {
    let res = app.clone().oneshot(req).await.unwrap();
    let (parts, body) = res.into_parts();
    let bytes = axum::body::to_bytes(body, usize::MAX).await.unwrap();
    let value = serde_json::from_slice(&bytes)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()));
    (parts.status, parts.headers, value)
}

fn texts(v: &Value, list: &str) -> Vec<String> {
    v[list]
        .as_array()
        .unwrap_or_else(|| panic!("no {list} in {v}"))
        .iter()
        .map(|t| t["text"].as_str().unwrap().to_string())
        .collect()
}

const SENTENCES: [&str; 3] = [
    "De regering heeft vandaag nieuwe maatregelen aangekondigd.",
    "Het kabinet valt.",
    "De premier sprak in Den Haag met de pers.\n\nDaarna vertrok hij naar Brussel.",
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn translate_equals_the_service_called_directly() {
    let (app, service) = app().await;
    let body = json!({"texts": SENTENCES, "source_lang": "nl", "target_lang": "en"});
    let (status, _, v) = call(&app, post_json("/v1/translate", &body)).await;
    assert_eq!(status, StatusCode::OK, "{v}");
    let input: Vec<String> = SENTENCES.iter().map(|s| s.to_string()).collect();
    let direct = service.translate_texts(&input, &decode()).await.unwrap();
    let expected: Vec<String> = direct.iter().map(|g| g.text.clone()).collect();
    assert_eq!(texts(&v, "translations"), expected);
    assert!(expected[2].contains("\n\n"), "paragraph break kept");
    assert_eq!(
        v["model"],
        model_dir("marian-tied").to_string_lossy().as_ref()
    );
    let input_tokens: usize = direct.iter().map(|g| g.input_tokens).sum();
    assert_eq!(v["usage"]["input_tokens"], input_tokens);
    assert!(v["usage"]["output_tokens"].as_u64().unwrap() > 0);
    // Per-request options are applied: greedy differs from the default beam search in general,
    // and always equals the service with the same options.
    let body = json!({"texts": [SENTENCES[0]], "options": {"beams": 1, "max_new_tokens": 5}});
    let (status, _, v) = call(&app, post_json("/v1/translate", &body)).await;
    assert_eq!(status, StatusCode::OK, "{v}");
    let opts = DecodeOptions {
        beams: Some(1),
        max_new_tokens: Some(5),
        ..Default::default()
    };
    let direct = service.translate_texts(&input[..1], &opts).await.unwrap();
    assert_eq!(texts(&v, "translations"), vec![direct[0].text.clone()]);
    assert!(v["usage"]["output_tokens"].as_u64().unwrap() <= 5);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn summarize_and_articles_equal_the_service() {
    let cfg = HttpConfig {
        limits: Limits {
            max_texts_per_request: 8,
            max_chars_per_text: 20_000,
        },
        max_body_bytes: 1 << 20,
        ..config()
    };
    let (app, service) = app_with(cfg, true).await;
    let body = json!({"texts": [SENTENCES[0]], "prompt": "summarize"});
    let (status, _, v) = call(&app, post_json("/v1/summarize", &body)).await;
    assert_eq!(status, StatusCode::OK, "{v}");
    // A Dutch text is translated by the loaded translator first, then summarized.
    let direct = service
        .summarize_in(
            &[SENTENCES[0].to_string()],
            None,
            Some("summarize"),
            &decode(),
        )
        .await
        .unwrap();
    assert_eq!(texts(&v, "summaries"), vec![direct[0].0.text.clone()]);
    assert_eq!(
        v["summaries"][0]["routing"]["handling"], "translated",
        "{v}"
    );
    assert_eq!(v["summaries"][0]["detected_language"]["code"], "nl");
    // Named English: summarized as given.
    let body = json!({"texts": [SENTENCES[0]], "prompt": "summarize", "source_lang": "en"});
    let (status, _, v) = call(&app, post_json("/v1/summarize", &body)).await;
    assert_eq!(status, StatusCode::OK, "{v}");
    let as_given = service
        .summarize(&[SENTENCES[0].to_string()], Some("summarize"), &decode())
        .await
        .unwrap();
    assert_eq!(texts(&v, "summaries"), vec![as_given[0].text.clone()]);
    assert!(v["summaries"][0].get("routing").is_none());
    assert_eq!(
        v["model"],
        model_dir("t5-tied-relu").to_string_lossy().as_ref()
    );

    let article = std::fs::read_to_string(fixtures().join("samples/zorgpremie.txt")).unwrap();
    let body = json!({"articles": [{"id": "a1", "text": article}, {"text": SENTENCES[1]}]});
    let (status, _, v) = call(&app, post_json("/v1/articles", &body)).await;
    assert_eq!(status, StatusCode::OK, "{v}");
    let opts = ArticleOptions {
        summarize: true,
        decode: decode(),
        ..ArticleOptions::default()
    };
    let mut direct = serde_json::to_value(service.article(&article, &opts).await.unwrap()).unwrap();
    let mut got = v["articles"][0].clone();
    assert_eq!(got["id"], "a1");
    assert!(v["articles"][1].get("id").is_none());
    for x in [&mut direct, &mut got] {
        let o = x.as_object_mut().unwrap();
        o.remove("timings");
        o.remove("id");
    }
    assert_eq!(got, direct);
    assert!(got["summary"].is_string());
    // Without a summary.
    let body = json!({"articles": [{"text": SENTENCES[1]}], "summarize": false});
    let (status, _, v) = call(&app, post_json("/v1/articles", &body)).await;
    assert_eq!(status, StatusCode::OK, "{v}");
    assert!(v["articles"][0]["summary"].is_null());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn operational_routes() {
    let (app, _) = app().await;
    let (status, _, v) = call(&app, get("/health")).await;
    assert_eq!((status, v), (StatusCode::OK, json!({"status": "ok"})));
    let (status, _, v) = call(&app, get("/ready")).await;
    assert_eq!((status, v), (StatusCode::OK, json!({"status": "ready"})));
    let (status, _, v) = call(&app, get("/v1/models")).await;
    assert_eq!(status, StatusCode::OK);
    let tasks: Vec<&str> = v["models"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["task"].as_str().unwrap())
        .collect();
    assert_eq!(tasks, ["translate", "summarize"]);
    assert_eq!(v["models"][0]["architecture"], "marian");
    assert_eq!(v["models"][1]["architecture"], "t5");
    assert_eq!(v["models"][0]["device"], "cpu");
    assert_eq!(v["models"][0]["dtype"], "f32");

    let (status, _, v) = call(&app, get("/openapi.json")).await;
    assert_eq!(status, StatusCode::OK);
    let paths = v["paths"].as_object().unwrap();
    for (path, method) in [
        ("/v1/translate", "post"),
        ("/v1/summarize", "post"),
        ("/v1/articles", "post"),
        ("/v1/models", "get"),
        ("/health", "get"),
        ("/ready", "get"),
        ("/metrics", "get"),
        ("/openapi.json", "get"),
        ("/v2/translate", "post"),
        ("/detect", "post"),
        ("/frontend/settings", "get"),
        ("/translate_file", "post"),
        ("/download_file/{name}", "get"),
        ("/v2/usage", "get"),
        ("/v2/languages", "get"),
        ("/v2/glossaries", "post"),
        ("/v2/glossaries", "get"),
        ("/v2/glossaries/{glossary_id}", "get"),
        ("/v2/glossaries/{glossary_id}", "delete"),
        ("/v2/glossaries/{glossary_id}/entries", "get"),
        ("/v2/glossary-language-pairs", "get"),
        ("/translate", "post"),
        ("/languages", "get"),
    ] {
        assert!(
            paths.get(path).and_then(|p| p.get(method)).is_some(),
            "{method} {path} missing"
        );
    }
    assert_eq!(
        paths.len(),
        21,
        "every documented path is served: {:?}",
        paths.keys()
    );
    assert!(v["components"]["schemas"]["TranslateRequest"].is_object());

    let (status, _, v) = call(&app, get("/nope")).await;
    assert_eq!(
        (status, v["error"]["code"].clone()),
        (StatusCode::NOT_FOUND, json!("not_found"))
    );
    let (status, _, v) = call(&app, get("/v1/translate")).await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(v["error"]["code"], "method_not_allowed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn not_ready_until_loaded() {
    let state = AppState::new(config());
    let app = router(state.clone());
    let (status, _, v) = call(&app, get("/ready")).await;
    assert_eq!(
        (status, v),
        (
            StatusCode::SERVICE_UNAVAILABLE,
            json!({"status": "loading"})
        )
    );
    let (status, _, _) = call(&app, get("/health")).await;
    assert_eq!(status, StatusCode::OK);
    let (status, headers, v) = call(
        &app,
        post_json("/v1/translate", &json!({"texts": ["Hallo."]})),
    )
    .await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(v["error"]["code"], "not_ready");
    assert!(headers.contains_key(header::RETRY_AFTER));
    state
        .install(service(false, BatchPolicy::default()))
        .await
        .unwrap();
    let (status, _, _) = call(&app, get("/ready")).await;
    assert_eq!(status, StatusCode::OK);
    // The warm-up ran one tiny generation.
    let svc = state.loaded_service().unwrap();
    let stats = svc.first_translator().unwrap().batcher.engine().stats();
    assert_eq!(stats.rows.load(std::sync::atomic::Ordering::Relaxed), 1);
    state.begin_drain();
    let (status, _, v) = call(&app, get("/ready")).await;
    assert_eq!(
        (status, v),
        (
            StatusCode::SERVICE_UNAVAILABLE,
            json!({"status": "draining"})
        )
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deepl_and_libretranslate_shapes() {
    let (app, service) = app().await;
    let input: Vec<String> = SENTENCES[..2].iter().map(|s| s.to_string()).collect();
    let direct: Vec<String> = service
        .translate_texts(&input, &decode())
        .await
        .unwrap()
        .into_iter()
        .map(|g| g.text)
        .collect();
    let deepl = |v: &Value| -> Vec<String> {
        v["translations"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| {
                assert_eq!(t["detected_source_language"], "NL");
                t["text"].as_str().unwrap().to_string()
            })
            .collect()
    };
    let body = json!({"text": input, "target_lang": "EN-GB", "source_lang": "NL"});
    let (status, _, v) = call(&app, post_json("/v2/translate", &body)).await;
    assert_eq!(status, StatusCode::OK, "{v}");
    assert_eq!(deepl(&v), direct);
    let form = format!(
        "text={}&text={}&target_lang=EN-US&split_sentences=1",
        input[0].replace(' ', "+"),
        input[1].replace(' ', "+")
    );
    let (status, _, v) = call(
        &app,
        post("/v2/translate", "application/x-www-form-urlencoded", form),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{v}");
    assert_eq!(deepl(&v), direct);
    let body = json!({"text": input[1], "target_lang": "en"});
    let (_, _, v) = call(&app, post_json("/v2/translate", &body)).await;
    assert_eq!(deepl(&v), direct[1..]);

    let body = json!({"q": input[0], "source": "nl", "target": "en", "format": "text"});
    let (status, _, v) = call(&app, post_json("/translate", &body)).await;
    assert_eq!(status, StatusCode::OK, "{v}");
    assert_eq!(v, json!({"translatedText": direct[0]}));
    let body = json!({"q": input, "source": "auto", "target": "en"});
    let (_, _, v) = call(&app, post_json("/translate", &body)).await;
    assert_eq!(v["translatedText"], json!(direct));
    assert_eq!(v["detectedLanguage"][1]["language"], "nl");
    let form = format!("q={}&source=nl&target=en", input[1].replace(' ', "+"));
    let (_, _, v) = call(
        &app,
        post("/translate", "application/x-www-form-urlencoded", form),
    )
    .await;
    assert_eq!(v, json!({"translatedText": direct[1]}));
    let (status, _, v) = call(&app, get("/languages")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        v[0],
        json!({"code": "nl", "name": "Dutch", "targets": ["en"]})
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_keys_guard_everything_but_health_ready_and_metrics() {
    let cfg = HttpConfig {
        api_keys: vec!["k-one".into(), "k-two".into()],
        ..config()
    };
    let (app, _) = app_with(cfg, false).await;
    let with = |mut req: Request<Body>, auth: &str| {
        req.headers_mut()
            .insert(header::AUTHORIZATION, auth.parse().unwrap());
        req
    };
    let translate = || post_json("/v1/translate", &json!({"texts": ["Hallo."]}));
    // LibreTranslate serves its language list and UI settings without a key, and the desk
    // page is static (its requests carry the key the editor enters).
    for path in [
        "/",
        "/desk/desk.js",
        "/desk/desk.css",
        "/health",
        "/ready",
        "/metrics",
        "/languages",
        "/frontend/settings",
    ] {
        assert_eq!(call(&app, get(path)).await.0, StatusCode::OK, "{path}");
    }
    for path in ["/v1/models", "/openapi.json"] {
        let (status, headers, v) = call(&app, get(path)).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{path}");
        assert_eq!(v["error"]["code"], "unauthorized");
        assert_eq!(headers[header::WWW_AUTHENTICATE], "Bearer");
        assert_eq!(
            call(&app, with(get(path), "Bearer k-two")).await.0,
            StatusCode::OK
        );
    }
    assert_eq!(call(&app, translate()).await.0, StatusCode::UNAUTHORIZED);
    assert_eq!(
        call(&app, with(translate(), "Bearer k-three")).await.0,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        call(&app, with(translate(), "DeepL-Auth-Key k-one"))
            .await
            .0,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        call(&app, with(translate(), "Bearer k-one")).await.0,
        StatusCode::OK
    );

    let deepl = || {
        post_json(
            "/v2/translate",
            &json!({"text": ["Hallo."], "target_lang": "EN"}),
        )
    };
    // DeepL answers a missing or wrong key with 403 and `{"message"}`.
    let (status, _, v) = call(&app, deepl()).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(v["message"].as_str().is_some_and(|m| !m.is_empty()), "{v}");
    assert_eq!(
        call(&app, with(deepl(), "DeepL-Auth-Key k-one")).await.0,
        StatusCode::OK
    );
    let form = |key: &str| {
        post(
            "/v2/translate",
            "application/x-www-form-urlencoded",
            format!("text=Hallo.&target_lang=EN-GB&auth_key={key}"),
        )
    };
    assert_eq!(call(&app, form("k-two")).await.0, StatusCode::OK);
    assert_eq!(call(&app, form("nope")).await.0, StatusCode::FORBIDDEN);
    for path in ["/v2/usage", "/v2/languages"] {
        assert_eq!(
            call(&app, get(path)).await.0,
            StatusCode::FORBIDDEN,
            "{path}"
        );
        let req = with(get(path), "DeepL-Auth-Key k-one");
        assert_eq!(call(&app, req).await.0, StatusCode::OK, "{path}");
    }
    assert_eq!(
        call(&app, with(deepl(), "Bearer k-two")).await.0,
        StatusCode::OK
    );

    let libre = |key: Option<&str>| {
        let mut body = json!({"q": "Hallo.", "source": "nl", "target": "en"});
        if let Some(k) = key {
            body["api_key"] = json!(k);
        }
        post_json("/translate", &body)
    };
    assert_eq!(call(&app, libre(None)).await.0, StatusCode::UNAUTHORIZED);
    assert_eq!(
        call(&app, libre(Some("nope"))).await.0,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(call(&app, libre(Some("k-two"))).await.0, StatusCode::OK);
    assert_eq!(
        call(&app, with(libre(None), "Bearer k-one")).await.0,
        StatusCode::OK
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_are_prometheus_text() {
    let (app, _) = app().await;
    call(
        &app,
        post_json("/v1/translate", &json!({"texts": SENTENCES})),
    )
    .await;
    call(&app, post_json("/v1/translate", &json!({"texts": []}))).await;
    let res = app.clone().oneshot(get("/metrics")).await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert!(res.headers()[header::CONTENT_TYPE]
        .to_str()
        .unwrap()
        .starts_with("text/plain"));
    let bytes = axum::body::to_bytes(res.into_body(), usize::MAX)
        .await
        .unwrap();
    let text = String::from_utf8(bytes.to_vec()).unwrap();
    if copydesk::http::metrics::install().is_none() {
        // Another recorder owns this process: the route still answers.
        return;
    }
    for name in [
        "copydesk_http_requests_total{route=\"/v1/translate\",method=\"POST\",status=\"200\"}",
        "copydesk_http_requests_total{route=\"/v1/translate\",method=\"POST\",status=\"422\"}",
        "copydesk_http_request_duration_seconds_bucket",
        "copydesk_queue_depth_jobs{model=",
        "copydesk_batch_size_rows_bucket",
        "copydesk_batch_tokens_bucket",
        "copydesk_inference_duration_seconds_bucket",
        "copydesk_generated_tokens_total",
        "copydesk_jobs_cancelled_total",
        "copydesk_http_requests_in_flight",
        "copydesk_ready 1",
    ] {
        assert!(text.contains(name), "{name} missing from /metrics");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_over_its_timeout_is_504_and_its_jobs_are_dropped() {
    let policy = BatchPolicy {
        max_wait: Duration::from_millis(1500),
        ..BatchPolicy::default()
    };
    let svc = service(false, policy);
    let cfg = HttpConfig {
        request_timeout: Duration::from_millis(200),
        ..config()
    };
    let state = AppState::ready(cfg, svc.clone()).await.unwrap();
    let app = router(state);
    let body = json!({"texts": ["Het kabinet valt.", "De premier sprak."]});
    let (status, _, v) = call(&app, post_json("/v1/translate", &body)).await;
    assert_eq!(status, StatusCode::GATEWAY_TIMEOUT, "{v}");
    assert_eq!(v["error"]["code"], "timeout");
    let worker = svc.first_translator().unwrap();
    let cancelled = || {
        worker
            .batcher
            .queue_stats()
            .cancelled
            .load(std::sync::atomic::Ordering::Relaxed)
            + worker
                .batcher
                .engine()
                .stats()
                .cancelled
                .load(std::sync::atomic::Ordering::Relaxed)
    };
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while cancelled() < 2 && std::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(cancelled(), 2, "both jobs dropped before compute");
    // Only the warm-up row was computed.
    assert_eq!(
        worker
            .batcher
            .engine()
            .stats()
            .rows
            .load(std::sync::atomic::Ordering::Relaxed),
        1
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bart_summarizes_over_rest_and_in_articles() {
    let service = Service::start(&ServiceConfig {
        translator: Some(model_dir("marian-tied").to_string_lossy().into_owned()),
        summarizer: Some(model_dir("bart-tiny").to_string_lossy().into_owned()),
        load: LoadOptions::default(),
        policy: BatchPolicy::default(),
    })
    .unwrap();
    // No decoding defaults: the model's own generation_config.json applies, as in the golden.
    let cfg = HttpConfig {
        limits: Limits {
            max_texts_per_request: 8,
            max_chars_per_text: 20_000,
        },
        max_body_bytes: 1 << 20,
        ..HttpConfig::default()
    };
    let state = AppState::ready(cfg, service.clone()).await.unwrap();
    let app = router(state);
    let golden = crate::common::golden("bart-tiny");
    let case = golden.case(crate::common::MODEL_DEFAULTS_CASE);
    let (status, _, v) = call(
        &app,
        post_json(
            "/v1/summarize",
            &json!({"texts": case.texts, "source_lang": "en"}),
        ),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{v}");
    let tok = &service.summarizer.as_ref().unwrap().loaded.tokenizer;
    let want: Vec<String> = case
        .sequences
        .iter()
        .map(|s| tok.decode(s, true).unwrap())
        .collect();
    assert_eq!(texts(&v, "summaries"), want);
    // An article (translated by Marian, summarized by BART) gets a summary.
    let article = std::fs::read_to_string(fixtures().join("samples/zorgpremie.txt")).unwrap();
    let body = json!({"articles": [{"id": "a1", "text": article}]});
    let (status, _, v) = call(&app, post_json("/v1/articles", &body)).await;
    assert_eq!(status, StatusCode::OK, "{v}");
    assert!(
        !v["articles"][0]["summary"].as_str().unwrap().is_empty(),
        "{v}"
    );
}
