//! The REST service behind `copydesk serve` (axum). Handlers validate requests at the edge and
//! call the same [`crate::service::Service`] as the command line; model compute runs on the
//! model threads, never on the async workers. Concurrent requests share batches per model.
//!
//! Routes: `/v1/translate`, `/v1/summarize`, `/v1/articles`, `/v1/models`, `/health`, `/ready`,
//! `/metrics`, `/openapi.json`, DeepL's `/v2/translate` and `/v2/glossaries`, LibreTranslate's
//! `/translate` and `/languages`.

mod auth;
mod compat;
mod deepl;
mod desk;
mod errors;
mod extract;
mod glossaries;
mod libre;
mod libre_files;
pub mod metrics;
mod ninjs;
pub mod openapi;
mod openapi_facts;
mod routes;
mod state;
pub mod types;
mod validate;

use std::future::{Future, IntoFuture};
use std::sync::Arc;
use std::time::Duration;

use axum::extract::DefaultBodyLimit;
use axum::middleware::{from_fn, from_fn_with_state};
use axum::routing::{get, post};
use axum::Router;
use tokio::net::TcpListener;
use tokio::sync::Notify;
use tower_http::trace::{DefaultMakeSpan, DefaultOnFailure, DefaultOnResponse, TraceLayer};
use tracing::Level;

pub use auth::ApiKeys;
pub use errors::{ApiError, ErrorBody, ErrorDetail};
pub use state::{AppState, Phase};
pub use validate::{Limits, MAX_BEAMS, MAX_NEW_TOKENS};

use crate::glossary::store::GlossaryStore;
use crate::service::DecodeOptions;

/// Settings of the HTTP layer (the models and batching are in `ServiceConfig`).
#[derive(Debug, Clone)]
pub struct HttpConfig {
    pub limits: Limits,
    /// Largest request body (413 beyond).
    pub max_body_bytes: usize,
    /// Inference requests served at once (429 with `Retry-After` beyond).
    pub max_concurrent_requests: usize,
    /// Longest an inference request may take (504 beyond; its jobs are dropped).
    pub request_timeout: Duration,
    /// Longest shutdown waits for in-flight requests.
    pub drain_timeout: Duration,
    /// Accepted API keys; empty means no authentication.
    pub api_keys: Vec<String>,
    /// Decoding defaults under each request's `options`.
    pub defaults: DecodeOptions,
    /// The house glossaries and those created through `/v2/glossaries`.
    pub glossaries: Arc<GlossaryStore>,
}

impl Default for HttpConfig {
    fn default() -> Self {
        Self {
            limits: Limits::default(),
            max_body_bytes: 2 * 1024 * 1024,
            max_concurrent_requests: 128,
            request_timeout: Duration::from_secs(60),
            drain_timeout: Duration::from_secs(30),
            api_keys: Vec::new(),
            defaults: DecodeOptions::default(),
            glossaries: Arc::new(GlossaryStore::default()),
        }
    }
}

/// All routes with their middleware: metrics and tracing outside, then API keys on the
/// protected routes, then admission (concurrency limit and timeout) on the inference routes.
pub fn router(state: AppState) -> Router {
    metrics::install();
    let admission = from_fn_with_state(state.clone(), state::admit);
    let inference = Router::new()
        .route("/v1/translate", post(routes::translate))
        .route("/v1/summarize", post(routes::summarize))
        .route("/v1/articles", post(routes::articles))
        .route_layer(admission.clone());
    let protected = Router::new()
        .route("/v1/models", get(routes::models))
        .route("/openapi.json", get(openapi::spec))
        .merge(inference)
        .route_layer(from_fn_with_state(state.clone(), auth::require_key));
    // LibreTranslate clients may send the key in the body: that route checks it itself.
    let libre = Router::new()
        .route("/translate", post(libre::translate))
        .route("/detect", post(libre::detect))
        .route("/translate_file", post(libre_files::translate_file))
        .route_layer(admission.clone());
    // DeepL's routes check keys as DeepL does (the translate route also reads `auth_key`), and
    // answer errors in DeepL's shape.
    let deepl = Router::new()
        .route("/v2/translate", post(deepl::translate))
        .route_layer(admission.clone())
        .merge(
            Router::new()
                .route("/v2/usage", get(deepl::usage))
                .route("/v2/languages", get(deepl::languages))
                .route(
                    "/v2/glossaries",
                    post(glossaries::create).get(glossaries::list),
                )
                .route(
                    "/v2/glossaries/{glossary_id}",
                    get(glossaries::get).delete(glossaries::delete),
                )
                .route(
                    "/v2/glossaries/{glossary_id}/entries",
                    get(glossaries::entries),
                )
                .route(
                    "/v2/glossary-language-pairs",
                    get(glossaries::language_pairs),
                )
                .route_layer(from_fn_with_state(state.clone(), auth::require_key)),
        )
        .layer(from_fn(deepl::deepl_errors));
    let public = Router::new()
        .route("/", get(desk::index))
        .route("/desk/desk.js", get(desk::script))
        .route("/desk/desk.css", get(desk::style))
        .route("/health", get(routes::health))
        .route("/languages", get(libre::languages))
        .route("/frontend/settings", get(libre::frontend_settings))
        .route("/download_file/{name}", get(libre_files::download_file))
        .route("/ready", get(routes::ready))
        .route("/metrics", get(metrics::render));
    Router::new()
        .merge(protected)
        .merge(libre)
        .merge(deepl)
        .merge(public)
        .fallback(errors::not_found)
        .method_not_allowed_fallback(errors::method_not_allowed)
        .layer(DefaultBodyLimit::max(state.config().max_body_bytes))
        .layer(
            TraceLayer::new_for_http()
                .make_span_with(DefaultMakeSpan::new().level(Level::INFO))
                .on_response(DefaultOnResponse::new().level(Level::INFO))
                // 5xx answers are logged where they arise; 503 from /ready is not a failure.
                .on_failure(DefaultOnFailure::new().level(Level::DEBUG)),
        )
        .layer(from_fn(metrics::track))
        .with_state(state)
}

/// Serves until `shutdown` completes, then stops accepting, lets in-flight requests finish for
/// at most the drain timeout, and returns.
pub async fn serve(
    listener: TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let drain = state.config().drain_timeout;
    let begun = Arc::new(Notify::new());
    let signal = {
        let (state, begun) = (state.clone(), begun.clone());
        async move {
            shutdown.await;
            tracing::info!("shutting down: draining in-flight requests (at most {drain:?})");
            state.begin_drain();
            begun.notify_one();
        }
    };
    let server = axum::serve(listener, router(state))
        .with_graceful_shutdown(signal)
        .into_future();
    tokio::select! {
        result = server => result,
        _ = async { begun.notified().await; tokio::time::sleep(drain).await } => {
            tracing::warn!("drain timeout of {drain:?} reached; dropping the requests still running");
            Ok(())
        }
    }
}
