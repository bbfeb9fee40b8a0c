//! The desk page at `/`: a review page for editors (paste wire copy, read it side by side,
//! edit, copy or download the English). Static files embedded in the binary, no CDN, so it
//! works air-gapped; the page calls `/v1/articles` with the key the editor enters.

use axum::http::header::{CACHE_CONTROL, CONTENT_SECURITY_POLICY, CONTENT_TYPE};
use axum::response::{IntoResponse, Response};

const INDEX: &str = include_str!("desk/index.html");
const SCRIPT: &str = include_str!("desk/desk.js");
const STYLE: &str = include_str!("desk/desk.css");

/// Only this server's own files and API: nothing from outside, no inline script.
const POLICY: &str = "default-src 'self'; img-src 'self' data: blob:; object-src 'none'";

fn file(content_type: &'static str, body: &'static str) -> Response {
    (
        [
            (CONTENT_TYPE, content_type),
            (CACHE_CONTROL, "no-cache"),
            (CONTENT_SECURITY_POLICY, POLICY),
        ],
        body,
    )
        .into_response()
}

/// `GET /`.
pub async fn index() -> Response {
    file("text/html; charset=utf-8", INDEX)
}

/// `GET /desk/desk.js`.
pub async fn script() -> Response {
    file("text/javascript; charset=utf-8", SCRIPT)
}

/// `GET /desk/desk.css`.
pub async fn style() -> Response {
    file("text/css; charset=utf-8", STYLE)
}
