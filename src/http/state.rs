//! What every handler shares: the configuration, the service once it is loaded and warm, the
//! readiness phase, the API keys and the admission limit (a semaphore).

use std::sync::atomic::{AtomicU64, AtomicU8, Ordering};
use std::sync::{Arc, OnceLock};

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use tokio::sync::Semaphore;

use super::auth::ApiKeys;
use super::errors::ApiError;
use super::openapi::{document, DocFacts};
use super::validate::Validator;
use super::HttpConfig;
use crate::service::{DecodeOptions, Service, ServiceConfig};
use crate::Error;

/// Where the server is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Models loading or warming up: `/ready` says 503.
    Loading,
    Ready,
    /// Shutting down: in-flight requests finish, `/ready` says 503.
    Draining,
}

/// Shared state of one server. Cheap to clone.
#[derive(Clone)]
pub struct AppState {
    inner: Arc<Inner>,
}

struct Inner {
    cfg: HttpConfig,
    service: OnceLock<Service>,
    /// Characters translated through DeepL's route (its `/v2/usage`).
    characters: AtomicU64,
    /// The OpenAPI document for the loaded service (made once it is installed).
    document: OnceLock<String>,
    /// Files translated through LibreTranslate's `/translate_file`.
    files: super::libre_files::FileStore,
    phase: AtomicU8,
    permits: Arc<Semaphore>,
    keys: ApiKeys,
}

impl AppState {
    /// A server with no models yet: `/health` works, everything else answers 503 until
    /// [`AppState::load`] or [`AppState::install`] has finished.
    pub fn new(cfg: HttpConfig) -> AppState {
        AppState {
            inner: Arc::new(Inner {
                permits: Arc::new(Semaphore::new(cfg.max_concurrent_requests)),
                keys: ApiKeys::new(cfg.api_keys.clone()),
                cfg,
                service: OnceLock::new(),
                document: OnceLock::new(),
                files: Default::default(),
                characters: AtomicU64::new(0),
                phase: AtomicU8::new(Phase::Loading as u8),
            }),
        }
    }

    /// A ready server around an already started service (warmed up first).
    pub async fn ready(cfg: HttpConfig, service: Service) -> Result<AppState, Error> {
        let state = AppState::new(cfg);
        state.install(service).await?;
        Ok(state)
    }

    /// Loads the models off the async threads, warms them up and turns ready.
    pub async fn load(&self, cfg: ServiceConfig) -> Result<(), Error> {
        let service = tokio::task::spawn_blocking(move || Service::start(&cfg))
            .await
            .map_err(|e| Error::internal(format!("model loading stopped: {e}")))??;
        self.install(service).await
    }

    /// Takes a started service, runs one tiny generation per model, and turns ready.
    pub async fn install(&self, service: Service) -> Result<(), Error> {
        warm_up(&service).await?;
        if self.inner.service.set(service).is_err() {
            return Err(Error::internal("the service is already installed"));
        }
        let _ = self.inner.phase.compare_exchange(
            Phase::Loading as u8,
            Phase::Ready as u8,
            Ordering::SeqCst,
            Ordering::SeqCst,
        );
        tracing::info!("models loaded and warm; ready");
        Ok(())
    }

    pub fn config(&self) -> &HttpConfig {
        &self.inner.cfg
    }

    pub fn keys(&self) -> &ApiKeys {
        &self.inner.keys
    }

    pub fn phase(&self) -> Phase {
        match self.inner.phase.load(Ordering::SeqCst) {
            0 => Phase::Loading,
            1 => Phase::Ready,
            _ => Phase::Draining,
        }
    }

    /// Stops reporting ready; called when shutdown begins.
    pub fn begin_drain(&self) {
        self.inner
            .phase
            .store(Phase::Draining as u8, Ordering::SeqCst);
    }

    /// The loaded service, or 503 while loading.
    pub fn service(&self) -> Result<&Service, ApiError> {
        match self.inner.service.get() {
            Some(s) if self.phase() != Phase::Loading => Ok(s),
            _ => Err(ApiError::not_ready()),
        }
    }

    /// Files translated through `/translate_file`.
    pub fn files(&self) -> &super::libre_files::FileStore {
        &self.inner.files
    }

    /// The house glossaries and the created ones.
    pub fn glossaries(&self) -> &crate::glossary::store::GlossaryStore {
        &self.inner.cfg.glossaries
    }

    /// Characters translated through DeepL's route since start.
    pub fn characters(&self) -> &AtomicU64 {
        &self.inner.characters
    }

    /// The OpenAPI document of this server: its limits, and once loaded its models and prompts.
    pub fn openapi_document(&self) -> String {
        let limits = self.inner.cfg.limits;
        match self.inner.service.get() {
            Some(service) => self
                .inner
                .document
                .get_or_init(|| document(&DocFacts::of(limits, Some(service))))
                .clone(),
            None => document(&DocFacts::of(limits, None)),
        }
    }

    /// The service whatever the phase (metrics).
    pub fn loaded_service(&self) -> Option<&Service> {
        self.inner.service.get()
    }

    pub fn validator<'a>(&'a self, service: &'a Service) -> Validator<'a> {
        Validator {
            limits: &self.inner.cfg.limits,
            defaults: &self.inner.cfg.defaults,
            glossaries: &self.inner.cfg.glossaries,
            service,
        }
    }

    /// Requests holding an admission permit now.
    pub fn in_flight(&self) -> usize {
        self.inner.cfg.max_concurrent_requests - self.inner.permits.available_permits()
    }
}

/// One tiny generation per model, so the first request does not pay for lazy setup.
async fn warm_up(service: &Service) -> Result<(), Error> {
    let opts = DecodeOptions {
        beams: Some(1),
        max_new_tokens: Some(1),
        alternatives: 0,
        ..Default::default()
    };
    let text = vec!["Goedemorgen.".to_string()];
    for worker in service.workers() {
        worker.generate(&text, &opts).await?;
    }
    Ok(())
}

/// Admission for inference routes: at most `max_concurrent_requests` at once (429 with
/// `Retry-After` beyond), each bounded by `request_timeout` (504). A request that times out is
/// dropped, and with it the receivers of its queued jobs, so the batcher skips them.
pub async fn admit(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let cfg = state.config();
    let Ok(permit) = state.inner.permits.clone().try_acquire_owned() else {
        return ApiError::overloaded(cfg.max_concurrent_requests).into_response();
    };
    let timeout = cfg.request_timeout;
    let out = tokio::time::timeout(timeout, next.run(req)).await;
    drop(permit);
    match out {
        Ok(response) => response,
        Err(_) => {
            tracing::warn!("request timed out after {timeout:?}; its jobs were dropped");
            ApiError::timeout(timeout).into_response()
        }
    }
}
