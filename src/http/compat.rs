//! What the compatibility routes (DeepL's in `deepl`, LibreTranslate's in `libre`) share: bodies
//! that are JSON or form fields, and strings that may be lists.

use serde_json::Value;
use utoipa::ToSchema;

use super::errors::ApiError;
use super::extract::JsonOrForm;
use super::state::AppState;
use crate::service::{Generated, TextHandling};

/// A string or a list of strings (documentation of `extract::OneOrMany`).
#[derive(ToSchema)]
#[allow(dead_code)]
#[serde(untagged)]
pub enum StringOrList {
    One(String),
    Many(Vec<String>),
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

pub(super) fn body_value(body: JsonOrForm) -> Value {
    match body {
        JsonOrForm::Json(v) => v,
        JsonOrForm::Form(pairs) => form_object(pairs),
    }
}

/// What a compatibility route asks for, after its own fields are read.
pub(super) struct CompatJob<'a> {
    /// The field the texts came in, for error messages.
    pub field: &'a str,
    pub texts: Vec<String>,
    /// The source language the client named (`None`: detect each text's).
    pub source_lang: Option<String>,
    pub how: TextHandling,
    /// Alternatives to return besides the best.
    pub alternatives: usize,
    /// DeepL's `glossary_id`.
    pub glossary_id: Option<String>,
}

/// The shared path of the compatibility routes: the texts checked as `/v1/translate` checks
/// them, then translated as `how` says.
pub(super) async fn translate(
    state: &AppState,
    job: CompatJob<'_>,
) -> Result<Vec<Generated>, ApiError> {
    let service = state.service()?;
    let validator = state.validator(service);
    let mut checked = validator.translation(job.field, job.texts, None, None)?;
    checked.decode.alternatives = job.alternatives;
    let source = job.source_lang.as_ref().map(|l| l.to_ascii_lowercase());
    let glossary = job.glossary_id.as_deref();
    checked.decode.glossary = validator.glossary("glossary_id", glossary, source.as_deref())?;
    let langs: Vec<Option<String>> = checked
        .texts
        .iter()
        .map(|t| match &job.source_lang {
            Some(l) => Some(l.to_ascii_lowercase()),
            None => crate::service::routing::routing_lang(t, None),
        })
        .collect();
    Ok(service
        .translate_handled(&checked.texts, &langs, &checked.decode, job.how)
        .await?)
}
