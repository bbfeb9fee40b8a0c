//! `GET /openapi.json`: the OpenAPI document, generated from the handlers and types.

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use super::state::AppState;
use super::validate::Limits;
use super::{deepl, glossaries, libre, libre_files, metrics, routes};
use crate::service::Service;

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
        deepl::translate,
        deepl::usage,
        deepl::languages,
        glossaries::create,
        glossaries::list,
        glossaries::get,
        glossaries::entries,
        glossaries::delete,
        glossaries::language_pairs,
        libre::translate,
        libre::detect,
        libre::languages,
        libre::frontend_settings,
        libre_files::translate_file,
        libre_files::download_file,
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

/// What the document says about one server: its limits and what it has loaded, so that the
/// document allows exactly what the handlers accept.
#[derive(Debug, Clone, Default)]
pub struct DocFacts {
    pub limits: Limits,
    /// Whether the models are loaded (before that, only the limits are known).
    pub loaded: bool,
    pub translator: Option<String>,
    pub summarizer: Option<String>,
    pub prompts: Vec<String>,
}

impl DocFacts {
    /// The facts of a server with `service` loaded (or, while loading, only its limits).
    pub fn of(limits: Limits, service: Option<&Service>) -> DocFacts {
        let name = |w: Option<&crate::service::ModelHandle>| w.map(|w| w.loaded.name.clone());
        DocFacts {
            limits,
            loaded: service.is_some(),
            translator: service.and_then(|s| name(s.first_translator())),
            summarizer: service.and_then(|s| name(s.summarizer.as_ref())),
            prompts: service
                .map(|s| s.prompts.names().into_iter().map(str::to_string).collect())
                .unwrap_or_default(),
        }
    }
}

/// The document for a server with these facts, as JSON text.
pub fn document(facts: &DocFacts) -> String {
    let mut doc = ApiDoc::openapi();
    doc.info.version = env!("CARGO_PKG_VERSION").to_string();
    let mut value = match serde_json::to_value(&doc) {
        Ok(v) => v,
        Err(e) => return format!("{{\"error\": \"{e}\"}}"),
    };
    super::openapi_facts::apply(&mut value, facts);
    serde_json::to_string_pretty(&value).unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"))
}

/// This OpenAPI document: the routes, with this server's limits, models and prompts.
#[utoipa::path(
    get,
    path = "/openapi.json",
    tag = "operations",
    responses((status = 200, description = "The OpenAPI 3.1 document", content_type = "application/json")),
    security((), ("bearer" = []))
)]
pub async fn spec(State(state): State<AppState>) -> Response {
    (
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        state.openapi_document(),
    )
        .into_response()
}
