//! The OpenAPI document and the handlers agree: for a table of edge cases (empty, missing, wrong
//! type, at and over each limit, names and codes) a request body is accepted (200) exactly when
//! the server's own `/openapi.json` says it is valid. Bodies are checked with a JSON-schema
//! validator against the request schema the document gives for that route and content type.

use axum::Router;
use serde_json::{json, Value};

use crate::http::{app, app_with, call, config, get, post, post_json};

/// The server's document and a validator per (path, content type).
struct Doc(Value);

impl Doc {
    async fn of(app: &Router) -> Doc {
        let (status, _, doc) = call(app, get("/openapi.json")).await;
        assert_eq!(status, 200);
        Doc(doc)
    }

    fn allows(&self, path: &str, content_type: &str, body: &Value) -> bool {
        let content = &self.0["paths"][path]["post"]["requestBody"]["content"][content_type];
        let mut schema = content["schema"].clone();
        assert!(schema.is_object(), "no {content_type} body for {path}");
        schema["components"] = self.0["components"].clone();
        jsonschema::validator_for(&schema)
            .unwrap_or_else(|e| panic!("{path}: bad schema: {e}"))
            .is_valid(body)
    }
}

/// A request body as JSON, or as form fields (a repeated key is a list, as the server reads it).
enum Body {
    Json(Value),
    Form(Vec<(&'static str, String)>),
}

impl Body {
    fn instance(&self) -> Value {
        match self {
            Body::Json(v) => v.clone(),
            Body::Form(pairs) => {
                let mut map = serde_json::Map::new();
                for (k, v) in pairs {
                    match map.get_mut(*k) {
                        Some(Value::Array(items)) => items.push(json!(v)),
                        Some(first) => *first = json!([first.take(), v]),
                        None => {
                            map.insert(k.to_string(), json!(v));
                        }
                    }
                }
                Value::Object(map)
            }
        }
    }
}

fn json_case(path: &'static str, body: Value) -> (&'static str, Body) {
    (path, Body::Json(body))
}

fn form_case(path: &'static str, pairs: &[(&'static str, &str)]) -> (&'static str, Body) {
    let pairs = pairs.iter().map(|(k, v)| (*k, v.to_string())).collect();
    (path, Body::Form(pairs))
}

/// Limits of `config()`: 8 texts, 400 characters.
fn cases() -> Vec<(&'static str, Body)> {
    let at_limit = "Hallo. ".repeat(58)[..400].to_string();
    let over = format!("{at_limit}x");
    let eight = vec!["Hallo."; 8];
    let nine = vec!["Hallo."; 9];
    let t = "/v1/translate";
    let s = "/v1/summarize";
    let a = "/v1/articles";
    let mut cases = vec![
        json_case(t, json!({"texts": ["Het kabinet valt."]})),
        json_case(t, json!({"texts": [""]})),
        json_case(t, json!({"texts": ["Hallo.", "  \n "]})),
        json_case(t, json!({"texts": ["Hal\u{7}lo.\u{b}Dag."]})),
        json_case(t, json!({"texts": []})),
        json_case(t, json!({})),
        json_case(t, json!({"texts": "Hallo."})),
        json_case(t, json!({"texts": [3]})),
        json_case(t, json!({"texts": ["a"], "colour": 1})),
        json_case(t, json!({"texts": eight})),
        json_case(t, json!({"texts": nine})),
        json_case(t, json!({"texts": [at_limit]})),
        json_case(t, json!({"texts": [over]})),
        json_case(
            t,
            json!({"texts": ["a"], "source_lang": "NL", "target_lang": "en-GB"}),
        ),
        json_case(
            t,
            json!({"texts": ["a"], "source_lang": null, "target_lang": "EN_us"}),
        ),
        json_case(t, json!({"texts": ["a"], "source_lang": "de"})),
        json_case(t, json!({"texts": ["a"], "source_lang": "AUTO"})),
        json_case(t, json!({"texts": ["a"], "source_lang": "auto "})),
        json_case(t, json!({"texts": ["a"], "source_lang": " nl"})),
        json_case(t, json!({"texts": ["a"], "target_lang": "fr"})),
        json_case(t, json!({"texts": ["a"], "model": "opus-mt-de-en"})),
        json_case(t, json!({"texts": ["a"], "options": {"beams": 0}})),
        json_case(t, json!({"texts": ["a"], "options": {"beams": 16}})),
        json_case(t, json!({"texts": ["a"], "options": {"beams": 17}})),
        json_case(t, json!({"texts": ["a"], "options": {"beams": 2.0}})),
        json_case(t, json!({"texts": ["a"], "options": {"beams": 1.5}})),
        json_case(t, json!({"texts": ["a"], "options": {"beams": "2"}})),
        json_case(
            t,
            json!({"texts": ["a"], "options": {"max_new_tokens": 1024}}),
        ),
        json_case(
            t,
            json!({"texts": ["a"], "options": {"max_new_tokens": 1025}}),
        ),
        json_case(t, json!({"texts": ["a"], "options": {"max_new_tokens": 0}})),
        json_case(t, json!({"texts": ["a"], "options": {"top_k": 3}})),
        json_case(
            s,
            json!({"texts": ["Het kabinet valt."], "prompt": "brief"}),
        ),
        json_case(s, json!({"texts": [""], "prompt": null})),
        json_case(s, json!({"texts": ["a"], "prompt": "poem"})),
        json_case(s, json!({"texts": ["a"], "model": "t5-small"})),
        json_case(s, json!({"texts": nine})),
        json_case(a, json!({"articles": [{"text": ""}], "summarize": false})),
        json_case(
            a,
            json!({"articles": [{"text": "Het kabinet valt.", "id": "x".repeat(256)}]}),
        ),
        json_case(
            a,
            json!({"articles": [{"text": "a", "id": "x".repeat(257)}]}),
        ),
        json_case(a, json!({"articles": [{"text": "a", "id": 3}]})),
        json_case(a, json!({"articles": []})),
        json_case(a, json!({"articles": [{"id": "n"}]})),
        json_case(a, json!({"articles": [{"text": null}]})),
        json_case(
            a,
            json!({"articles": [{"ninjs": {"uri": "urn:x:1", "headline": "Het kabinet valt"}}]}),
        ),
        json_case(
            a,
            json!({"articles": [{"text": "a", "ninjs": {"uri": "urn:x:1"}}]}),
        ),
        json_case(a, json!({"articles": [{"text": "a", "ninjs": null}]})),
        json_case(a, json!({"articles": [{"ninjs": {"uri": " "}}]})),
        json_case(
            a,
            json!({"articles": [{"ninjs": {"uri": "urn:x:1", "headline": 3}}]}),
        ),
        json_case(
            a,
            json!({"articles": [{"ninjs": {"uri": "urn:x:1", "body_text": []}}]}),
        ),
        json_case(
            a,
            json!({"articles": [{"ninjs": {"uri": "urn:x:1", "standard": {"version": "4.0"}}}]}),
        ),
        json_case(
            a,
            json!({"articles": [{"ninjs": {"uri": "urn:x:1", "bodies": [{"role": "main"}]}}]}),
        ),
        json_case(a, json!({"articles": [{"text": "a"}], "prompt": "poem"})),
        json_case(
            "/v2/translate",
            json!({"text": ["Hallo."], "target_lang": "EN-GB"}),
        ),
        json_case("/v2/translate", json!({"text": "", "target_lang": "EN"})),
        json_case("/v2/translate", json!({"text": [], "target_lang": "EN"})),
        json_case("/v2/translate", json!({"text": ["a"]})),
        json_case("/v2/translate", json!({"text": ["a"], "target_lang": "DE"})),
        json_case(
            "/v2/translate",
            json!({"text": ["a"], "target_lang": "EN-US", "source_lang": "NL"}),
        ),
        json_case(
            "/translate",
            json!({"q": "Hallo.", "source": "auto", "target": "en"}),
        ),
        json_case(
            "/translate",
            json!({"q": ["Hallo.", ""], "source": "nl", "target": "en"}),
        ),
        json_case(
            "/translate",
            json!({"q": "a", "source": "nl", "target": "en", "format": "html"}),
        ),
        json_case(
            "/translate",
            json!({"q": "a", "source": "", "target": "en"}),
        ),
        json_case(
            "/translate",
            json!({"q": [], "source": "nl", "target": "en"}),
        ),
        form_case(
            "/v2/translate",
            &[("text", "Hallo."), ("text", ""), ("target_lang", "EN-GB")],
        ),
        form_case("/v2/translate", &[("target_lang", "EN-GB")]),
        form_case("/detect", &[("q", "Het kabinet valt.")]),
        form_case(
            "/translate",
            &[
                ("q", "Het kabinet valt."),
                ("source", "nl"),
                ("target", "en"),
                ("alternatives", "3"),
            ],
        ),
        form_case(
            "/translate",
            &[
                ("q", "a"),
                ("source", "nl"),
                ("target", "en"),
                ("alternatives", "03"),
            ],
        ),
        json_case(
            "/translate",
            json!({"q": ["Het kabinet valt.", "Dank u."], "source": "nl", "target": "en", "alternatives": 2}),
        ),
        json_case(
            "/translate",
            json!({"q": "a", "source": "nl", "target": "en", "alternatives": 16}),
        ),
        json_case(
            "/translate",
            json!({"q": "a", "source": "nl", "target": "en", "alternatives": 2.0}),
        ),
        form_case("/detect", &[("api_key", "")]),
        json_case("/detect", json!({"q": ["Het kabinet valt.", "De Kamer."]})),
        json_case("/detect", json!({"q": []})),
        json_case("/detect", json!({"q": "x".repeat(401)})),
        form_case(
            "/v2/translate",
            &[
                ("text", "a"),
                ("target_lang", "EN"),
                ("preserve_formatting", "0"),
                ("split_sentences", "nonewlines"),
            ],
        ),
        form_case(
            "/v2/translate",
            &[("text", "a"), ("source_lang", ""), ("target_lang", "EN")],
        ),
        form_case(
            "/translate",
            &[("q", "Hallo."), ("source", "nl"), ("target", "en")],
        ),
        form_case("/translate", &[("source", "nl"), ("target", "en")]),
        form_case(
            "/translate",
            &[
                ("q", "a"),
                ("source", "nl"),
                ("target", "en"),
                ("format", ""),
            ],
        ),
    ];
    cases.push(json_case(t, json!({"texts": ["a"], "model": null})));
    cases
}

async fn check(app: &Router, doc: &Doc, cases: Vec<(&'static str, Body)>) -> usize {
    let mut accepted = 0;
    for (path, body) in cases {
        let (req, ct) = match &body {
            Body::Json(v) => (post_json(path, v), "application/json"),
            Body::Form(pairs) => {
                let text = form_urlencoded::Serializer::new(String::new())
                    .extend_pairs(pairs)
                    .finish();
                let ct = "application/x-www-form-urlencoded";
                (post(path, ct, text), ct)
            }
        };
        let allowed = doc.allows(path, ct, &body.instance());
        let (status, _, v) = call(app, req).await;
        assert_eq!(
            status == 200,
            allowed,
            "{path} {ct} {}: the document says {}, the server answered {status} {v}",
            body.instance(),
            if allowed { "valid" } else { "invalid" }
        );
        assert!(!status.is_server_error(), "{path}: {status} {v}");
        accepted += usize::from(allowed);
    }
    accepted
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_document_allows_exactly_what_the_handlers_accept() {
    let (app, _) = app().await;
    let doc = Doc::of(&app).await;
    let texts = &doc.0["components"]["schemas"]["TranslateRequest"]["properties"]["texts"];
    assert_eq!(
        (
            texts["maxItems"].clone(),
            texts["items"]["maxLength"].clone()
        ),
        (json!(8), json!(400))
    );
    let accepted = check(&app, &doc, cases()).await;
    assert!(accepted >= 20, "only {accepted} cases were valid");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_summarizer_the_document_says_so() {
    let (app, _) = app_with(config(), false).await;
    let doc = Doc::of(&app).await;
    assert!(doc.0["paths"].get("/v1/summarize").is_none());
    let cases = vec![
        json_case(
            "/v1/articles",
            json!({"articles": [{"text": "a"}], "summarize": true}),
        ),
        json_case(
            "/v1/articles",
            json!({"articles": [{"text": "a"}], "summarize": false}),
        ),
        json_case("/v1/articles", json!({"articles": [{"text": "a"}]})),
    ];
    assert_eq!(check(&app, &doc, cases).await, 2);
}
