//! `GET /openapi.json`: the OpenAPI document, generated from the handlers and types.

use std::sync::OnceLock;

use axum::response::{IntoResponse, Response};
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use super::{compat, metrics, routes};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "copydesk",
        description = "Dutch wire copy to English: translation and summaries on local models, with \
                       cross-request batching. Errors are `{\"error\": {\"code\", \"message\"}}`."
    ),
    paths(
        routes::translate,
        routes::summarize,
        routes::articles,
        routes::models,
        routes::health,
        routes::ready,
        metrics::render,
        spec,
        compat::deepl_translate,
        compat::libre_translate,
        compat::languages,
    ),
    modifiers(&Security),
    tags(
        (name = "v1", description = "The copydesk API"),
        (name = "compatibility", description = "DeepL- and LibreTranslate-compatible routes"),
        (name = "operations", description = "Health, readiness, metrics and this document"),
    )
)]
pub struct ApiDoc;

/// The security schemes the routes refer to (used only when the server has API keys).
struct Security;

impl Modify for Security {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
        components.add_security_scheme(
            "deepl",
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(
                "Authorization",
                "`DeepL-Auth-Key <key>` (on /v2 routes)",
            ))),
        );
    }
}

/// The document as JSON text (built once).
pub fn document() -> &'static str {
    static DOC: OnceLock<String> = OnceLock::new();
    DOC.get_or_init(|| {
        let mut doc = ApiDoc::openapi();
        doc.info.version = env!("CARGO_PKG_VERSION").to_string();
        serde_json::to_string_pretty(&doc).unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"))
    })
}

/// This OpenAPI document.
#[utoipa::path(
    get,
    path = "/openapi.json",
    tag = "operations",
    responses((status = 200, description = "The OpenAPI 3.1 document", content_type = "application/json")),
    security((), ("bearer" = []))
)]
pub async fn spec() -> Response {
    (
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        document(),
    )
        .into_response()
}
