//! IPTC ninjs on `POST /v1/articles`: a body of type `application/ninjs+json` is one news item,
//! and `Accept: application/ninjs+json` answers with English ninjs items instead of copydesk's
//! article JSON (one item for an item body, a list in request order otherwise).

use axum::extract::{FromRequest, Request};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{json, Value};

use super::errors::ApiError;
use super::extract::{parse_json, read_body, ApiJson};
use super::types::{ArticleIn, ArticlesRequest};
use crate::service::ninjs::NINJS_MEDIA_TYPE;

/// The body of `POST /v1/articles`: copydesk's request, or one ninjs item.
pub struct ArticlesBody {
    pub request: ArticlesRequest,
    /// The body was a ninjs item (answer with one item, not a list).
    pub single_item: bool,
}

fn essence(value: Option<&HeaderValue>) -> String {
    value
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase()
}

impl<S: Send + Sync> FromRequest<S> for ArticlesBody {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        if essence(req.headers().get(header::CONTENT_TYPE)) != NINJS_MEDIA_TYPE {
            let ApiJson(request) = ApiJson::from_request(req, state).await?;
            return Ok(Self {
                request,
                single_item: false,
            });
        }
        let bytes = read_body(req, state).await?;
        let item: Value = parse_json(&bytes)?;
        Ok(Self {
            request: ArticlesRequest {
                articles: vec![ArticleIn {
                    id: None,
                    text: None,
                    ninjs: Some(item),
                }],
                summarize: None,
                prompt: None,
                source_lang: None,
                options: None,
                glossary: None,
            },
            single_item: true,
        })
    }
}

/// True when the client asks for ninjs (`Accept: application/ninjs+json`, alone or in a list).
pub fn wants_ninjs(headers: &HeaderMap) -> bool {
    headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|range| essence(HeaderValue::from_str(range).ok().as_ref()) == NINJS_MEDIA_TYPE)
}

/// English items as `application/ninjs+json`.
pub fn ninjs_response(mut items: Vec<Value>, single_item: bool) -> Response {
    let body = if single_item && items.len() == 1 {
        items.remove(0)
    } else {
        Value::Array(items)
    };
    (
        StatusCode::OK,
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static(NINJS_MEDIA_TYPE),
        )],
        body.to_string(),
    )
        .into_response()
}

/// What the handlers require of a ninjs item, for the OpenAPI document (the rest of ninjs is
/// allowed and ignored): a `uri`, and the fields read of the right type.
pub fn item_schema() -> Value {
    let text = json!({"type": ["string", "null"]});
    let entries = json!({
        "type": "array",
        "items": {"type": "object", "required": ["value"], "properties": {"value": {"type": "string"}}}
    });
    let standard = json!({
        "type": "object",
        "properties": {"version": {"type": ["string", "null"], "pattern": "^[1-3](\\.[0-9]+)*$"}}
    });
    json!({
        "type": "object",
        "description": "An IPTC ninjs item, version 1.x, 2.x or 3.x (declared in `$standard` / \
                        `standard`, else told by its field names).",
        "required": ["uri"],
        "properties": {
            "uri": {"type": "string", "pattern": "\\S"},
            "headline": text, "located": text, "slugline": text, "language": text,
            "headlines": entries, "bodies": entries,
            "$standard": standard, "standard": standard
        },
        "patternProperties": {"^body_": {"type": "string"}}
    })
}

/// Puts [`item_schema`] into the document: the `ninjs` of an article and the ninjs body.
pub fn document_items(doc: &mut Value) {
    doc["components"]["schemas"]["NinjsItem"] = item_schema();
    let item = json!({"$ref": "#/components/schemas/NinjsItem"});
    if let Some(props) = doc.pointer_mut("/components/schemas/ArticleIn/properties") {
        let description = props["ninjs"]["description"].clone();
        props["ninjs"] = json!({"oneOf": [item, {"type": "null"}], "description": description});
    }
    let body = "/paths/~1v1~1articles/post/requestBody/content/application~1ninjs+json/schema";
    if let Some(schema) = doc.pointer_mut(body) {
        *schema = item;
    }
}
