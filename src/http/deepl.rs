//! DeepL's API v2, so DeepL's official clients work unchanged against copydesk: `POST
//! /v2/translate` (JSON or form), `GET /v2/usage`, `GET /v2/languages`. Keys as DeepL takes
//! them (`Authorization: DeepL-Auth-Key K`, also `Bearer K`, or the form field `auth_key`);
//! errors in DeepL's shape and status codes (`{"message"}`, 403 for a bad key, 400 for a bad
//! request, 413, 429 with `Retry-After`; never 456).

use std::sync::atomic::Ordering;

use axum::body::Body;
use axum::extract::{Query, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use utoipa::ToSchema;

use super::compat::{self, body_value, CompatJob, StringOrList};
use super::errors::{ApiError, InferenceErrors};
use super::extract::{from_value, JsonOrForm, OneOrMany};
use super::state::AppState;
use super::validate::{served_source, target_lang};
use crate::service::{Splitting, TextHandling};

/// What `/v2/usage` reports as the limit: copydesk meters nothing.
const CHARACTER_LIMIT: u64 = 1_000_000_000_000;

/// A DeepL flag: JSON `true`/`false`, or form `"1"`/`"0"` (also `"true"`/`"false"`).
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(untagged)]
pub enum Flag {
    Bool(bool),
    Text(String),
}

impl Flag {
    fn parse(flag: &Option<Flag>, field: &str) -> Result<Option<bool>, ApiError> {
        match flag {
            None => Ok(None),
            Some(Flag::Bool(b)) => Ok(Some(*b)),
            Some(Flag::Text(t)) => match t.as_str() {
                "1" | "true" => Ok(Some(true)),
                "0" | "false" => Ok(Some(false)),
                _ => Err(
                    ApiError::invalid("invalid_field", format!("{t:?} is not 0 or 1")).at(field),
                ),
            },
        }
    }
}

/// DeepL's request, as JSON or form fields. Other DeepL fields (`formality`, `model_type`,
/// `outline_detection`, ...) are accepted and ignored.
#[derive(Debug, Deserialize, ToSchema)]
pub struct DeeplRequest {
    /// Texts: a JSON list (or string), or the form field `text` repeated.
    #[schema(value_type = StringOrList)]
    pub text: OneOrMany,
    /// `EN`, `EN-GB` or `EN-US`.
    pub target_lang: String,
    /// `NL` or absent (then it is detected; copydesk serves Dutch).
    pub source_lang: Option<String>,
    /// `1` (default: at sentence ends and line breaks), `nonewlines` (sentence ends only) or
    /// `0` (each text as one sequence).
    pub split_sentences: Option<String>,
    /// Accepted; copydesk never reformats its output, so formatting is always preserved.
    #[schema(value_type = Option<bool>)]
    pub preserve_formatting: Option<Flag>,
    /// `html` or `xml`: tags are kept and the text between them is translated.
    pub tag_handling: Option<String>,
    /// Accepted and ignored (the models translate sentence by sentence).
    #[allow(dead_code)] // documented in the schema; nothing reads it
    pub context: Option<String>,
    /// Accepted; `billed_characters` is always in the reply.
    #[schema(value_type = Option<bool>)]
    pub show_billed_characters: Option<Flag>,
    /// The key, as a form field (DeepL's older clients).
    /// A glossary from `/v2/glossaries` (DeepL requires `source_lang` with it).
    pub glossary_id: Option<String>,
    pub auth_key: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct DeeplTranslation {
    pub detected_source_language: String,
    pub text: String,
    /// Characters of the source text.
    pub billed_characters: usize,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct DeeplResponse {
    pub translations: Vec<DeeplTranslation>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct DeeplUsage {
    /// Characters translated by this server since it started.
    pub character_count: u64,
    pub character_limit: u64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct DeeplLanguage {
    pub language: String,
    pub name: String,
    /// Target languages only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub supports_formality: Option<bool>,
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct LanguagesQuery {
    /// `source` (default) or `target`.
    #[serde(rename = "type")]
    pub kind: Option<String>,
}

fn handling(req: &DeeplRequest) -> Result<TextHandling, ApiError> {
    let splitting = match req.split_sentences.as_deref() {
        None | Some("1") => Splitting::Sentences,
        Some("0") => Splitting::Off,
        Some("nonewlines") => Splitting::NoNewlines,
        Some(s) => {
            return Err(ApiError::invalid(
                "invalid_field",
                format!("{s:?}: use 0, 1 or nonewlines"),
            )
            .at("split_sentences"))
        }
    };
    let markup = match req.tag_handling.as_deref() {
        None => false,
        Some("html" | "xml") => true,
        Some(t) => {
            return Err(
                ApiError::invalid("invalid_field", format!("{t:?}: use html or xml"))
                    .at("tag_handling"),
            )
        }
    };
    Flag::parse(&req.preserve_formatting, "preserve_formatting")?;
    Flag::parse(&req.show_billed_characters, "show_billed_characters")?;
    Ok(TextHandling { splitting, markup })
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
pub async fn translate(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: JsonOrForm,
) -> Result<Json<DeeplResponse>, ApiError> {
    let req: DeeplRequest = from_value(body_value(body))?;
    state
        .keys()
        .check(&headers, true, req.auth_key.as_deref())?;
    let service = state.service()?;
    served_source(service, "source_lang", req.source_lang.as_deref(), false)?;
    let named = req.source_lang.clone();
    target_lang("target_lang", Some(&req.target_lang))?;
    let how = handling(&req)?;
    let job = CompatJob {
        field: "text",
        texts: req.text.into_vec(),
        source_lang: req.source_lang.clone(),
        how,
        alternatives: 0,
        glossary_id: req.glossary_id.clone(),
    };
    let out = compat::translate(&state, job).await?;
    let translations: Vec<DeeplTranslation> = out
        .into_iter()
        .map(|g| DeeplTranslation {
            detected_source_language: detected_source(named.as_deref(), &g.source),
            billed_characters: g.source.chars().count(),
            text: g.text,
        })
        .collect();
    let billed: usize = translations.iter().map(|t| t.billed_characters).sum();
    state
        .characters()
        .fetch_add(billed as u64, Ordering::Relaxed);
    Ok(Json(DeeplResponse { translations }))
}

/// DeepL's `detected_source_language`: the language the client named; else the detected
/// language of the text, which also picks its translator (reliable detections only; short or
/// unclear text reports `NL` and goes to the first translator).
fn detected_source(named: Option<&str>, text: &str) -> String {
    if let Some(l) = named {
        return l.to_ascii_uppercase();
    }
    match crate::text::detect_language(text) {
        Some(d) if d.reliable => d.code.to_ascii_uppercase(),
        _ => "NL".into(),
    }
}

/// DeepL's usage report: the characters this server has translated since it started.
#[utoipa::path(
    get,
    path = "/v2/usage",
    tag = "compatibility",
    responses((status = 200, body = DeeplUsage), (status = 403, description = "Missing or invalid key")),
    security((), ("bearer" = []), ("deepl" = []))
)]
pub async fn usage(State(state): State<AppState>) -> Json<DeeplUsage> {
    Json(DeeplUsage {
        character_count: state.characters().load(Ordering::Relaxed),
        character_limit: CHARACTER_LIMIT,
    })
}

/// DeepL's language lists: Dutch in, English (British and American spellings) out.
#[utoipa::path(
    get,
    path = "/v2/languages",
    tag = "compatibility",
    params(LanguagesQuery),
    responses((status = 200, body = Vec<DeeplLanguage>), (status = 400, description = "Unknown type")),
    security((), ("bearer" = []), ("deepl" = []))
)]
pub async fn languages(
    Query(q): Query<LanguagesQuery>,
    body: axum::body::Bytes,
) -> Result<Json<Vec<DeeplLanguage>>, ApiError> {
    // DeepL's Python client sends `type=target` as a form body on its GET.
    let kind = q.kind.or_else(|| {
        form_urlencoded::parse(&body)
            .find(|(k, _)| k == "type")
            .map(|(_, v)| v.into_owned())
    });
    let lang = |code: &str, name: &str, formality: Option<bool>| DeeplLanguage {
        language: code.into(),
        name: name.into(),
        supports_formality: formality,
    };
    match kind.as_deref().unwrap_or("source") {
        "source" => Ok(Json(vec![lang("NL", "Dutch", None)])),
        "target" => Ok(Json(vec![
            lang("EN-GB", "English (British)", Some(false)),
            lang("EN-US", "English (American)", Some(false)),
        ])),
        other => Err(ApiError::invalid(
            "invalid_field",
            format!("{other:?}: use source or target"),
        )
        .at("type")),
    }
}

/// Middleware for every `/v2` route: copydesk's errors in DeepL's shape, `{"message"}` (the
/// copydesk `error` object is kept beside it), 403 for a missing or bad key and 400 for an
/// invalid request, as DeepL's clients expect.
pub async fn deepl_errors(req: Request, next: Next) -> Response {
    let response = next.run(req).await;
    let status = response.status();
    if !status.is_client_error() && !status.is_server_error() {
        return response;
    }
    let (mut parts, body) = response.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, 1 << 20).await else {
        return (status, Json(json!({"message": "error"}))).into_response();
    };
    let error: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    let message = error["error"]["message"]
        .as_str()
        .unwrap_or(status.canonical_reason().unwrap_or("error"))
        .to_string();
    parts.status = match status {
        StatusCode::UNAUTHORIZED => StatusCode::FORBIDDEN,
        StatusCode::UNPROCESSABLE_ENTITY => StatusCode::BAD_REQUEST,
        s => s,
    };
    parts.headers.remove(header::WWW_AUTHENTICATE);
    parts.headers.remove(header::CONTENT_LENGTH);
    parts.headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    let body = json!({"message": message, "error": error["error"]});
    Response::from_parts(parts, Body::from(body.to_string()))
}
