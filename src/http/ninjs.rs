//! IPTC ninjs on `POST /v1/articles`: a body of type `application/ninjs+json` is one news item,
//! and `Accept: application/ninjs+json` answers with English ninjs items instead of copydesk's
//! article JSON (one item for an item body, a list in request order otherwise).

use axum::extract::{FromRequest, Request};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::Value;

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
                options: None,
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
