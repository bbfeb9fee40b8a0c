//! What the compatibility routes (DeepL's in `deepl`, LibreTranslate's in `libre`) share: bodies
//! that are JSON or form fields, and strings that may be lists.

use serde_json::Value;
use utoipa::ToSchema;

use super::extract::JsonOrForm;

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
