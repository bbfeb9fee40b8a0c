//! Every class of bad request through the router (`oneshot`): a JSON 4xx with a stable code and
//! a message naming the field, never a 5xx, and the server keeps serving.

use axum::http::StatusCode;
use serde_json::json;

use crate::http::{app, app_with, call, config, post, post_json};

/// One bad request: where it goes, what it holds, and what must come back.
struct Bad {
    path: &'static str,
    content_type: &'static str,
    body: Vec<u8>,
    status: u16,
    code: &'static str,
    mentions: &'static str,
}

fn bad(
    path: &'static str,
    body: &str,
    status: u16,
    code: &'static str,
    mentions: &'static str,
) -> Bad {
    Bad {
        path,
        content_type: "application/json",
        body: body.as_bytes().to_vec(),
        status,
        code,
        mentions,
    }
}

fn bad_requests() -> Vec<Bad> {
    let t = "/v1/translate";
    let many = json!({"texts": vec!["Hallo."; 9]}).to_string();
    let long = json!({"texts": ["a".repeat(401)]}).to_string();
    let huge = json!({"texts": ["a".repeat(5000)]}).to_string();
    let mut cases = vec![
        bad(
            t,
            "{\"texts\": [\"a\"",
            400,
            "malformed_json",
            "not valid JSON",
        ),
        bad(
            t,
            "{\"texts\": [\"a\"]} trailing",
            400,
            "malformed_json",
            "not valid JSON",
        ),
        bad(t, "", 400, "malformed_json", "not valid JSON"),
        bad(t, "{\"texts\": \"Hallo.\"}", 422, "invalid_field", "texts"),
        bad(t, "{\"texts\": [1]}", 422, "invalid_field", "texts[0]"),
        bad(
            t,
            "{\"text\": [\"a\"]}",
            422,
            "invalid_field",
            "unknown field `text`",
        ),
        bad(t, "{}", 422, "invalid_field", "missing field `texts`"),
        bad(t, "[]", 422, "invalid_field", "expected a JSON object"),
        bad(t, "{\"texts\": []}", 422, "empty_list", "texts"),
        bad(t, &many, 422, "too_many_texts", "at most 8"),
        bad(t, &long, 422, "text_too_long", "at most 400"),
        bad(t, &huge, 413, "payload_too_large", "--max-body-bytes"),
        bad(
            t,
            "{\"texts\": [\"a\"], \"model\": \"opus-mt-de-en\"}",
            422,
            "unknown_model",
            "marian-tied",
        ),
        bad(
            t,
            "{\"texts\": [\"a\"], \"source_lang\": \"de\"}",
            422,
            "unsupported_language",
            "source_lang",
        ),
        bad(
            t,
            "{\"texts\": [\"a\"], \"target_lang\": \"fr\"}",
            422,
            "unsupported_language",
            "target_lang",
        ),
        bad(
            t,
            "{\"texts\": [\"a\"], \"options\": {\"beams\": 0}}",
            422,
            "invalid_option",
            "options.beams",
        ),
        bad(
            t,
            "{\"texts\": [\"a\"], \"options\": {\"beams\": \"4\"}}",
            422,
            "invalid_field",
            "options: beams",
        ),
        bad(
            t,
            "{\"texts\": [\"a\"], \"options\": {\"max_new_tokens\": 100000}}",
            422,
            "invalid_option",
            "options.max_new_tokens",
        ),
        bad(
            t,
            "{\"texts\": [\"a\"], \"options\": {\"temperature\": 1}}",
            422,
            "invalid_field",
            "unknown field `temperature`",
        ),
        bad(
            "/v1/summarize",
            "{\"texts\": [\"a\"], \"prompt\": \"poem\"}",
            422,
            "unknown_prompt",
            "headline",
        ),
        bad(
            "/v1/summarize",
            "{\"texts\": [\"a\"], \"model\": \"t5-small\"}",
            422,
            "unknown_model",
            "t5-tied-relu",
        ),
        bad(
            "/v1/articles",
            "{\"articles\": []}",
            422,
            "empty_list",
            "articles",
        ),
        bad(
            "/v1/articles",
            "{\"articles\": [{\"id\": 3, \"text\": \"a\"}]}",
            422,
            "invalid_field",
            "articles: [0]: id",
        ),
        bad(
            "/v2/translate",
            "{\"text\": [\"a\"]}",
            400,
            "invalid_field",
            "target_lang",
        ),
        bad(
            "/v2/translate",
            "{\"text\": [\"a\"], \"target_lang\": \"DE\"}",
            400,
            "unsupported_language",
            "target_lang",
        ),
        bad(
            "/v2/translate",
            "{\"text\": [], \"target_lang\": \"EN\"}",
            400,
            "empty_list",
            "text",
        ),
        bad(
            "/translate",
            "{\"q\": \"a\", \"source\": \"nl\", \"target\": \"en\", \"format\": \"markdown\"}",
            422,
            "unsupported_format",
            "format",
        ),
        bad(
            "/translate",
            "{\"q\": 5, \"source\": \"nl\", \"target\": \"en\"}",
            422,
            "invalid_field",
            "a string or a list of strings",
        ),
    ];
    cases.push(Bad {
        body: b"{\"texts\": [\"caf\xe9\"]}".to_vec(),
        ..bad(t, "", 400, "invalid_utf8", "UTF-8")
    });
    cases.push(Bad {
        content_type: "text/plain",
        ..bad(
            t,
            "{\"texts\": [\"a\"]}",
            415,
            "unsupported_media_type",
            "application/json",
        )
    });
    cases.push(Bad {
        content_type: "application/xml",
        ..bad(
            "/v2/translate",
            "<text>a</text>",
            415,
            "unsupported_media_type",
            "form-urlencoded",
        )
    });
    cases
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_error_class_is_a_json_4xx_naming_the_field() {
    let (app, _) = app().await;
    for case in bad_requests() {
        let req = post(case.path, case.content_type, case.body.clone());
        let (status, _, v) = call(&app, req).await;
        let what = format!("{} {:?}", case.path, String::from_utf8_lossy(&case.body));
        assert_eq!(status.as_u16(), case.status, "{what}: {v}");
        assert_eq!(v["error"]["code"], case.code, "{what}: {v}");
        let message = v["error"]["message"].as_str().unwrap_or_default();
        assert!(
            message.contains(case.mentions),
            "{what}: {message:?} lacks {:?}",
            case.mentions
        );
    }
    // The server keeps serving.
    let (status, _, _) = call(
        &app,
        post_json("/v1/translate", &json!({"texts": ["Hallo."]})),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_summarizer_loaded_is_a_clear_4xx() {
    let (app, _) = app_with(config(), false).await;
    let (status, _, v) = call(&app, post_json("/v1/summarize", &json!({"texts": ["a"]}))).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(v["error"]["code"], "no_summarizer");
    let body = json!({"articles": [{"text": "Het kabinet valt."}], "summarize": true});
    let (status, _, v) = call(&app, post_json("/v1/articles", &body)).await;
    assert_eq!(
        (status, v["error"]["code"].clone()),
        (StatusCode::UNPROCESSABLE_ENTITY, json!("no_summarizer"))
    );
    // By default articles are then translated only.
    let body = json!({"articles": [{"text": "Het kabinet valt."}]});
    let (status, _, v) = call(&app, post_json("/v1/articles", &body)).await;
    assert_eq!(status, StatusCode::OK, "{v}");
    assert!(v["articles"][0]["summary"].is_null());
}
