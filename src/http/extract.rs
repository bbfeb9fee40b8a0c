//! Reading request bodies: size limit (413), content type (415), UTF-8 and JSON syntax (400),
//! and fields of the wrong type or missing (422), each error naming the field.

use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::{header, HeaderMap, StatusCode};
use serde::de::DeserializeOwned;

use super::errors::ApiError;

/// A JSON body parsed into `T`, with errors in the API's shape.
pub struct ApiJson<T>(pub T);

/// A body that may be JSON or `application/x-www-form-urlencoded` (the compatibility routes).
pub enum JsonOrForm {
    Json(serde_json::Value),
    /// Key/value pairs in order; a key may repeat.
    Form(Vec<(String, String)>),
}

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        match body_kind(req.headers()) {
            BodyKind::Json => {}
            BodyKind::Form | BodyKind::Other => return Err(unsupported("application/json")),
        }
        let bytes = read_body(req, state).await?;
        parse_json(&bytes).map(ApiJson)
    }
}

impl<S: Send + Sync> FromRequest<S> for JsonOrForm {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        let kind = body_kind(req.headers());
        if kind == BodyKind::Other {
            return Err(unsupported(
                "application/json or application/x-www-form-urlencoded",
            ));
        }
        let bytes = read_body(req, state).await?;
        let text = utf8(&bytes)?;
        match kind {
            BodyKind::Form => Ok(JsonOrForm::Form(
                form_urlencoded::parse(text.as_bytes())
                    .map(|(k, v)| (k.into_owned(), v.into_owned()))
                    .collect(),
            )),
            _ => parse_json(&bytes).map(JsonOrForm::Json),
        }
    }
}

#[derive(Debug, PartialEq, Eq, Clone, Copy)]
enum BodyKind {
    Json,
    Form,
    Other,
}

/// JSON when the content type says so or is missing.
fn body_kind(headers: &HeaderMap) -> BodyKind {
    let Some(ct) = headers.get(header::CONTENT_TYPE) else {
        return BodyKind::Json;
    };
    let essence = ct
        .to_str()
        .unwrap_or("")
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    if essence == "application/json" || essence.ends_with("+json") {
        BodyKind::Json
    } else if essence == "application/x-www-form-urlencoded" {
        BodyKind::Form
    } else {
        BodyKind::Other
    }
}

fn unsupported(expected: &str) -> ApiError {
    ApiError::new(
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "unsupported_media_type",
        format!("the body must be {expected} (set the Content-Type header)"),
    )
}

/// The whole body, within the configured size limit.
pub(super) async fn read_body<S: Send + Sync>(req: Request, state: &S) -> Result<Bytes, ApiError> {
    Bytes::from_request(req, state).await.map_err(|rejection| {
        if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "payload_too_large",
                "the request body is larger than the server accepts (--max-body-bytes)",
            )
        } else {
            ApiError::malformed("unreadable_body", rejection.body_text())
        }
    })
}

fn utf8(bytes: &[u8]) -> Result<&str, ApiError> {
    std::str::from_utf8(bytes).map_err(|e| {
        ApiError::malformed(
            "invalid_utf8",
            format!(
                "the body is not valid UTF-8 (invalid byte at offset {})",
                e.valid_up_to()
            ),
        )
    })
}

/// Parses JSON; syntax errors are 400, values of the wrong shape 422 with the field's path.
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let text = utf8(bytes)?;
    if text.trim_start().starts_with('[') {
        return Err(ApiError::invalid(
            "invalid_field",
            "expected a JSON object, not a list",
        ));
    }
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let value: T = serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        match inner.classify() {
            serde_json::error::Category::Data => {
                let msg = inner.to_string();
                if path == "." {
                    ApiError::invalid("invalid_field", msg)
                } else {
                    ApiError::invalid("invalid_field", msg).at(&path)
                }
            }
            _ => ApiError::malformed(
                "malformed_json",
                format!("the body is not valid JSON: {inner}"),
            ),
        }
    })?;
    de.end().map_err(|e| {
        ApiError::malformed("malformed_json", format!("the body is not valid JSON: {e}"))
    })?;
    Ok(value)
}

/// Reads an already parsed JSON value as `T`; errors are 422 with the field's path.
pub fn from_value<T: DeserializeOwned>(value: serde_json::Value) -> Result<T, ApiError> {
    if value.is_array() {
        return Err(ApiError::invalid(
            "invalid_field",
            "expected a JSON object, not a list",
        ));
    }
    serde_path_to_error::deserialize(value).map_err(|e| {
        let path = e.path().to_string();
        let err = ApiError::invalid("invalid_field", e.into_inner().to_string());
        if path == "." {
            err
        } else {
            err.at(&path)
        }
    })
}

/// One string or a list of strings (`"q": "x"` or `"q": ["x", "y"]`).
#[derive(Debug, Clone)]
pub enum OneOrMany {
    One(String),
    Many(Vec<String>),
}

impl OneOrMany {
    pub fn into_vec(self) -> Vec<String> {
        match self {
            OneOrMany::One(s) => vec![s],
            OneOrMany::Many(v) => v,
        }
    }

    pub fn is_many(&self) -> bool {
        matches!(self, OneOrMany::Many(_))
    }
}

impl<'de> serde::Deserialize<'de> for OneOrMany {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl<'de> serde::de::Visitor<'de> for Visitor {
            type Value = OneOrMany;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a string or a list of strings")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<OneOrMany, E> {
                Ok(OneOrMany::One(v.to_string()))
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> Result<OneOrMany, A::Error> {
                let mut out = Vec::new();
                while let Some(s) = seq.next_element::<String>()? {
                    out.push(s);
                }
                Ok(OneOrMany::Many(out))
            }
        }
        d.deserialize_any(Visitor)
    }
}
