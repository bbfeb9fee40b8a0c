//! Compatibility routes, so tools already integrated with DeepL or LibreTranslate work unchanged:
//! `POST /v2/translate` (DeepL), `POST /translate` and `GET /languages` (LibreTranslate). They run
//! the same validation and the same `Service::translate_texts` as `/v1/translate`.

use axum::extract::State;
use axum::http::HeaderMap;
use axum::Json;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

use super::errors::{ApiError, ErrorBody, InferenceErrors};
use super::extract::{from_value, JsonOrForm, OneOrMany};
use super::state::AppState;
use super::validate::{source_lang, target_lang};

/// A string or a list of strings (documentation of [`OneOrMany`]).
#[derive(ToSchema)]
#[allow(dead_code)]
#[serde(untagged)]
pub enum StringOrList {
    One(String),
    Many(Vec<String>),
}

/// DeepL's request, as JSON or form fields; other DeepL fields are accepted and ignored.
#[derive(Debug, Deserialize, ToSchema)]
pub struct DeeplRequest {
    /// Texts: a JSON list (or string), or the form field `text` repeated.
    #[schema(value_type = StringOrList)]
    pub text: OneOrMany,
    /// `EN`, `EN-GB` or `EN-US`.
    pub target_lang: String,
    /// `NL` or absent.
    pub source_lang: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct DeeplTranslation {
    pub detected_source_language: String,
    pub text: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct DeeplResponse {
    pub translations: Vec<DeeplTranslation>,
}

/// LibreTranslate's request, as JSON or form fields.
#[derive(Debug, Deserialize, ToSchema)]
pub struct LibreRequest {
    /// The text, or a list of texts.
    #[schema(value_type = StringOrList)]
    pub q: OneOrMany,
    /// `nl` or `auto`.
    pub source: String,
    /// `en`.
    pub target: String,
    /// `text` (the default); `html` is not supported.
    pub format: Option<String>,
    /// The API key, as LibreTranslate clients send it (an `Authorization` header also works).
    pub api_key: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct LibreResponse {
    /// A string for a string `q`, a list for a list.
    #[serde(rename = "translatedText")]
    #[schema(value_type = StringOrList)]
    pub translated_text: Value,
    /// With `source: auto`: `{"confidence": 100.0, "language": "nl"}` (a list for a list `q`).
    #[serde(rename = "detectedLanguage", skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub detected_language: Option<Value>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Language {
    pub code: String,
    pub name: String,
    pub targets: Vec<String>,
}

/// Form fields as a JSON object: a repeated key becomes a list, a single one a string.
fn form_object(pairs: Vec<(String, String)>) -> Value {
    let mut map = serde_json::Map::new();
    for (k, v) in pairs {
        match map.get_mut(&k) {
            Some(Value::Array(items)) => items.push(Value::String(v)),
            Some(first) => *first = Value::Array(vec![first.take(), Value::String(v)]),
            None => {
                map.insert(k, Value::String(v));
            }
        }
    }
    Value::Object(map)
}

fn body_value(body: JsonOrForm) -> Value {
    match body {
        JsonOrForm::Json(v) => v,
        JsonOrForm::Form(pairs) => form_object(pairs),
    }
}

/// DeepL-compatible translation.
#[utoipa::path(
    post,
    path = "/v2/translate",
    tag = "compatibility",
    request_body(content(
        (DeeplRequest = "application/json"),
        (DeeplRequest = "application/x-www-form-urlencoded"),
    )),
    responses((status = 200, body = DeeplResponse), InferenceErrors),
    security((), ("bearer" = []), ("deepl" = []))
)]
pub async fn deepl_translate(
    State(state): State<AppState>,
    body: JsonOrForm,
) -> Result<Json<DeeplResponse>, ApiError> {
    let req: DeeplRequest = from_value(body_value(body))?;
    source_lang("source_lang", req.source_lang.as_deref(), &["nl"])?;
    target_lang("target_lang", Some(&req.target_lang))?;
    let service = state.service()?;
    let job = state
        .validator(service)
        .translation("text", req.text.into_vec(), None, None)?;
    let out = service.translate_texts(&job.texts, &job.decode).await?;
    let translations = out
        .into_iter()
        .map(|g| DeeplTranslation {
            detected_source_language: "NL".into(),
            text: g.text,
        })
        .collect();
    Ok(Json(DeeplResponse { translations }))
}

/// LibreTranslate-compatible translation.
#[utoipa::path(
    post,
    path = "/translate",
    tag = "compatibility",
    request_body(content(
        (LibreRequest = "application/json"),
        (LibreRequest = "application/x-www-form-urlencoded"),
    )),
    responses((status = 200, body = LibreResponse), InferenceErrors),
    security((), ("bearer" = []))
)]
pub async fn libre_translate(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: JsonOrForm,
) -> Result<Json<LibreResponse>, ApiError> {
    let req: LibreRequest = from_value(body_value(body))?;
    if !state.keys().allows(&headers, false, req.api_key.as_deref()) {
        return Err(ApiError::unauthorized());
    }
    let auto = req.source.trim().eq_ignore_ascii_case("auto");
    source_lang("source", Some(&req.source), &["nl", "auto"])?;
    target_lang("target", Some(&req.target))?;
    if let Some(f) = req
        .format
        .as_deref()
        .filter(|f| !f.eq_ignore_ascii_case("text"))
    {
        return Err(ApiError::invalid(
            "unsupported_format",
            format!("{f:?} is not supported; only \"text\""),
        )
        .at("format"));
    }
    let many = req.q.is_many();
    let service = state.service()?;
    let job = state
        .validator(service)
        .translation("q", req.q.into_vec(), None, None)?;
    let out = service.translate_texts(&job.texts, &job.decode).await?;
    let detected = serde_json::json!({"confidence": 100.0, "language": "nl"});
    let (translated_text, detected_language) = if many {
        let n = out.len();
        (
            Value::Array(out.into_iter().map(|g| Value::String(g.text)).collect()),
            auto.then(|| Value::Array(vec![detected; n])),
        )
    } else {
        let text = out.into_iter().next().map(|g| g.text).unwrap_or_default();
        (Value::String(text), auto.then_some(detected))
    };
    Ok(Json(LibreResponse {
        translated_text,
        detected_language,
    }))
}

/// LibreTranslate's language list: Dutch to English.
#[utoipa::path(
    get,
    path = "/languages",
    tag = "compatibility",
    responses((status = 200, body = Vec<Language>), (status = 401, body = ErrorBody)),
    security((), ("bearer" = []))
)]
pub async fn languages() -> Json<Vec<Language>> {
    Json(vec![
        Language {
            code: "nl".into(),
            name: "Dutch".into(),
            targets: vec!["en".into()],
        },
        Language {
            code: "en".into(),
            name: "English".into(),
            targets: Vec::new(),
        },
    ])
}
