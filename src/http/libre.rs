//! LibreTranslate's API, so its clients (libretranslatepy, its web UI, the plugins that speak
//! it) work unchanged: `POST /translate`, `POST /detect`, `GET /languages` and
//! `GET /frontend/settings`. The key may come in the body (`api_key`), as LibreTranslate's
//! clients send it, or in an `Authorization` header.

use axum::extract::State;
use axum::http::HeaderMap;
use axum::Json;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use utoipa::ToSchema;

use super::compat::{self, body_value, CompatJob, StringOrList};
use super::errors::{ApiError, InferenceErrors};
use super::extract::{from_value, JsonOrForm, OneOrMany};
use super::state::AppState;
use super::validate::{served_source, target_lang, MAX_BEAMS};
use crate::service::TextHandling;
use crate::text::{detect_language, Detected};

/// LibreTranslate's request, as JSON or form fields.
#[derive(Debug, Deserialize, ToSchema)]
pub struct LibreRequest {
    /// The text, or a list of texts.
    #[schema(value_type = StringOrList)]
    pub q: OneOrMany,
    /// `nl` or `auto` (detect; copydesk serves Dutch).
    pub source: String,
    /// `en`.
    pub target: String,
    /// `text` (the default) or `html` (tags are kept, the text between them is translated).
    pub format: Option<String>,
    /// The API key, as LibreTranslate clients send it (an `Authorization` header also works).
    pub api_key: Option<String>,
    /// Alternative translations to return besides the best (beam search n-best), 0 to 15; a
    /// number, or a string of one in a form.
    #[schema(value_type = Option<u32>, minimum = 0, maximum = 15)]
    pub alternatives: Option<Value>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct LibreResponse {
    /// A string for a string `q`, a list for a list.
    #[serde(rename = "translatedText")]
    #[schema(value_type = StringOrList)]
    pub translated_text: Value,
    /// With `source: auto`: `{"confidence": 0-100, "language": "nl"}` (a list for a list `q`).
    #[serde(rename = "detectedLanguage", skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub detected_language: Option<Value>,
    /// With `alternatives` > 0: the alternatives (a list of lists for a list `q`).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Vec<String>>)]
    pub alternatives: Option<Value>,
}

/// `POST /detect`.
#[derive(Debug, Deserialize, ToSchema)]
pub struct DetectRequest {
    /// The text (a list is read as one text).
    #[schema(value_type = StringOrList)]
    pub q: OneOrMany,
    pub api_key: Option<String>,
}

/// One candidate language, confidence 0 to 100 as LibreTranslate gives it.
#[derive(Debug, Serialize, ToSchema)]
pub struct DetectedLanguage {
    pub language: String,
    pub confidence: f64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Language {
    pub code: String,
    pub name: String,
    pub targets: Vec<String>,
}

/// The server's source language, reported when detection has too little to go by.
const SOURCE: &str = "nl";

/// What `source: auto` reports for `text`: the detected language when detection is reliable,
/// else the server's source language.
fn detected(text: &str) -> DetectedLanguage {
    match detect_language(text) {
        Some(Detected {
            code,
            confidence,
            reliable: true,
        }) => DetectedLanguage {
            language: code.to_string(),
            confidence: (confidence * 100.0).round(),
        },
        other => DetectedLanguage {
            language: SOURCE.to_string(),
            confidence: other
                .filter(|d| d.code == SOURCE)
                .map_or(0.0, |d| (d.confidence * 100.0).round()),
        },
    }
}

/// `alternatives`: 0 to `MAX_BEAMS - 1`, as a JSON number or a form string.
fn alternatives(v: Option<&Value>) -> Result<usize, ApiError> {
    let n = match v {
        None | Some(Value::Null) => return Ok(0),
        Some(Value::Number(n)) => n.as_u64().or_else(|| {
            n.as_f64()
                .filter(|f| f.fract() == 0.0 && *f >= 0.0)
                .map(|f| f as u64)
        }),
        // In a form: the plain decimal digits of the number.
        Some(Value::String(s)) => s.parse::<u64>().ok().filter(|n| n.to_string() == *s),
        Some(_) => None,
    };
    let max = u64::from(MAX_BEAMS - 1);
    match n {
        Some(n) if n <= max => Ok(n as usize),
        _ => Err(
            ApiError::invalid("invalid_option", format!("a whole number from 0 to {max}"))
                .at("alternatives"),
        ),
    }
}

fn format(format: Option<&str>) -> Result<TextHandling, ApiError> {
    match format {
        None | Some("text") => Ok(TextHandling::default()),
        Some("html") => Ok(TextHandling {
            markup: true,
            ..TextHandling::default()
        }),
        Some(f) => Err(ApiError::invalid(
            "unsupported_format",
            format!("{f:?} is not supported; use \"text\" or \"html\""),
        )
        .at("format")),
    }
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
pub async fn translate(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: JsonOrForm,
) -> Result<Json<LibreResponse>, ApiError> {
    let req: LibreRequest = from_value(body_value(body))?;
    state
        .keys()
        .check(&headers, false, req.api_key.as_deref())?;
    let auto = req.source.eq_ignore_ascii_case("auto");
    served_source(state.service()?, "source", Some(&req.source), true)?;
    target_lang("target", Some(&req.target))?;
    let how = format(req.format.as_deref())?;
    let wanted = alternatives(req.alternatives.as_ref())?;
    let many = req.q.is_many();
    let texts = req.q.into_vec();
    // Detection only where the client asked for it.
    let detections: Vec<Value> = match auto {
        true => texts.iter().map(|t| json!(detected(t))).collect(),
        false => Vec::new(),
    };
    let job = CompatJob {
        field: "q",
        texts,
        source_lang: (!auto).then(|| req.source.clone()),
        how,
        alternatives: wanted,
        glossary_id: None,
    };
    let out = compat::translate(&state, job).await?;
    let alts: Vec<Value> = out.iter().map(|g| json!(g.alternatives)).collect();
    let (translated_text, detected_language, alternatives) = if many {
        (
            Value::Array(out.into_iter().map(|g| Value::String(g.text)).collect()),
            auto.then_some(Value::Array(detections)),
            Value::Array(alts),
        )
    } else {
        let text = out.into_iter().next().map(|g| g.text).unwrap_or_default();
        (
            Value::String(text),
            auto.then(|| detections.into_iter().next().unwrap_or(Value::Null)),
            alts.into_iter().next().unwrap_or(json!([])),
        )
    };
    Ok(Json(LibreResponse {
        translated_text,
        detected_language,
        alternatives: (wanted > 0).then_some(alternatives),
    }))
}

/// LibreTranslate-compatible language detection: the most likely language of `q` among Dutch,
/// English, German, French, Spanish, Italian and Afrikaans.
#[utoipa::path(
    post,
    path = "/detect",
    tag = "compatibility",
    request_body(content(
        (DetectRequest = "application/json"),
        (DetectRequest = "application/x-www-form-urlencoded"),
    )),
    responses((status = 200, body = Vec<DetectedLanguage>), InferenceErrors),
    security((), ("bearer" = []))
)]
pub async fn detect(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: JsonOrForm,
) -> Result<Json<Vec<DetectedLanguage>>, ApiError> {
    let req: DetectRequest = from_value(body_value(body))?;
    state
        .keys()
        .check(&headers, false, req.api_key.as_deref())?;
    let limits = state.config().limits;
    let texts = req.q.into_vec();
    if texts.is_empty() || texts.len() > limits.max_texts_per_request {
        return Err(ApiError::invalid(
            "invalid_field",
            format!("between 1 and {} texts", limits.max_texts_per_request),
        )
        .at("q"));
    }
    if let Some(i) = texts
        .iter()
        .position(|t| t.chars().count() > limits.max_chars_per_text)
    {
        return Err(ApiError::invalid(
            "text_too_long",
            format!(
                "a text may have at most {} characters",
                limits.max_chars_per_text
            ),
        )
        .at(&format!("q[{i}]")));
    }
    let text = texts.join("\n");
    Ok(Json(
        detect_language(&text)
            .map(|d| DetectedLanguage {
                language: d.code.to_string(),
                confidence: (d.confidence * 100.0).round(),
            })
            .into_iter()
            .collect(),
    ))
}

/// LibreTranslate's language list: Dutch to English. Public, as LibreTranslate serves it.
#[utoipa::path(
    get,
    path = "/languages",
    tag = "compatibility",
    responses((status = 200, body = Vec<Language>))
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

/// What LibreTranslate's web UI reads when it starts.
#[utoipa::path(
    get,
    path = "/frontend/settings",
    tag = "compatibility",
    responses((status = 200, description = "LibreTranslate's frontend settings", content_type = "application/json"))
)]
pub async fn frontend_settings(State(state): State<AppState>) -> Json<Value> {
    Json(json!({
        "charLimit": state.config().limits.max_chars_per_text,
        "frontendTimeout": 500,
        "apiKeys": state.keys().required(),
        "keyRequired": state.keys().required(),
        "suggestions": false,
        "filesTranslation": true,
        "supportedFilesFormat": [".txt"],
        "language": {
            "source": {"code": "nl", "name": "Dutch"},
            "target": {"code": "en", "name": "English"}
        }
    }))
}
