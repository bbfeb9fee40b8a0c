//! The `/v1` API and the health routes. Handlers are short: validate at the edge, call the shared
//! [`crate::service::Service`] (the same code path as the command line), shape the answer.

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use tokio::task::JoinSet;

use super::errors::{ApiError, ErrorBody, InferenceErrors};
use super::extract::ApiJson;
use super::ninjs::{ninjs_response, wants_ninjs, ArticlesBody};
use super::state::{AppState, Phase};
use super::types::{
    ArticleResult, ArticlesRequest, ArticlesResponse, ModelInfo, ModelsResponse, Status,
    SummarizeRequest, SummarizeResponse, TranslateRequest, TranslateResponse,
};
use super::validate::ArticlesJob;
use crate::service::ninjs::{english_item_now, ArticleInput};
use crate::service::routing::{routing_lang, Handling, Item, Unit};
use crate::service::KernelReport;
use crate::service::{ArticleOutput, ModelHandle, Service};
use crate::text::checks::check_translation;
use crate::Error;

/// Translate Dutch texts to English. Each text is segmented into sentences; the sentences of
/// all concurrent requests are translated in shared batches and each text is reassembled with
/// its line breaks.
#[utoipa::path(
    post,
    path = "/v1/translate",
    tag = "v1",
    request_body = TranslateRequest,
    responses((status = 200, body = TranslateResponse), InferenceErrors),
    security((), ("bearer" = []))
)]
pub async fn translate(
    State(state): State<AppState>,
    ApiJson(req): ApiJson<TranslateRequest>,
) -> Result<Json<TranslateResponse>, ApiError> {
    let service = state.service()?;
    let detect = req
        .source_lang
        .as_deref()
        .is_none_or(|l| l.eq_ignore_ascii_case("auto"));
    let given = req.source_lang.as_deref().map(str::to_ascii_lowercase);
    let job = state.validator(service).translate(req)?;
    // Each text goes to the translator for its language: the one given, else the detected one.
    let items: Vec<Item> = job
        .texts
        .iter()
        .map(|t| Item {
            text: t.clone(),
            lang: match detect {
                true => routing_lang(t, None),
                false => given.clone(),
            },
        })
        .collect();
    let routed = service
        .translate_routed(&items, Unit::Text, &job.decode)
        .await?;
    let (out, routings): (Vec<_>, Vec<_>) = routed.into_iter().unzip();
    let checks: Vec<_> = out
        .iter()
        .zip(&routings)
        .map(|(g, r)| match r.handling {
            Handling::Translated => check_translation(&g.source, &g.text, g.scores()),
            _ => Vec::new(),
        })
        .collect();
    let mut response = TranslateResponse::new(out, job.model);
    let each = response.translations.iter_mut().zip(&job.texts);
    for (((t, source), routing), checks) in each.zip(routings).zip(checks) {
        if detect {
            t.detected_language = crate::text::detect_whole(source);
        }
        t.routing = Some(routing);
        t.checks = checks;
    }
    Ok(Json(response))
}

/// Summarize texts with the loaded T5-family model and a prompt template.
#[utoipa::path(
    post,
    path = "/v1/summarize",
    tag = "v1",
    request_body = SummarizeRequest,
    responses((status = 200, body = SummarizeResponse), InferenceErrors),
    security((), ("bearer" = []))
)]
pub async fn summarize(
    State(state): State<AppState>,
    ApiJson(req): ApiJson<SummarizeRequest>,
) -> Result<Json<SummarizeResponse>, ApiError> {
    let service = state.service()?;
    let job = state.validator(service).summarize(req)?;
    let lang = job.source_lang.as_deref();
    let out = service
        .summarize_in(&job.texts, lang, job.prompt.as_deref(), &job.decode)
        .await?;
    let (out, routings): (Vec<_>, Vec<_>) = out.into_iter().unzip();
    let mut response = SummarizeResponse::new(out, job.model);
    for ((t, source), routing) in response.summaries.iter_mut().zip(&job.texts).zip(routings) {
        if lang.is_none() {
            t.detected_language = crate::text::detect_whole(source);
        }
        t.routing = routing;
    }
    Ok(Json(response))
}

/// Translate (and by default summarize) whole wire-copy articles, keeping their structure.
///
/// The body may also be one IPTC ninjs item (`Content-Type: application/ninjs+json`), and
/// articles may be given as ninjs items (`ninjs` instead of `text`). With
/// `Accept: application/ninjs+json` the answer is the English ninjs item (one for an item body,
/// a list in request order otherwise), in the ninjs version each input was read in.
#[utoipa::path(
    post,
    path = "/v1/articles",
    tag = "v1",
    request_body(content(
        (ArticlesRequest = "application/json"),
        (Object = "application/ninjs+json"),
    )),
    responses(
        (status = 200, content(
            (ArticlesResponse = "application/json"),
            (Object = "application/ninjs+json"),
        )),
        InferenceErrors
    ),
    security((), ("bearer" = []))
)]
pub async fn articles(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: ArticlesBody,
) -> Result<Response, ApiError> {
    let service = state.service()?;
    let job = state.validator(service).articles(body.request)?;
    let results = run_articles(service, job).await?;
    if wants_ninjs(&headers) {
        let items = results
            .iter()
            .map(|(_, input, out)| english_item_now(input, out))
            .collect();
        return Ok(ninjs_response(items, body.single_item));
    }
    let articles = results
        .into_iter()
        .map(|(id, _, article)| ArticleResult { id, article })
        .collect();
    Ok(Json(ArticlesResponse { articles }).into_response())
}

/// Every article of a job, in request order. One task per article so their sentences share
/// batches; dropping the set (timeout, disconnect, an error) aborts the rest.
async fn run_articles(
    service: &Service,
    job: ArticlesJob,
) -> Result<Vec<(Option<String>, ArticleInput, ArticleOutput)>, ApiError> {
    let n = job.articles.len();
    let mut tasks = JoinSet::new();
    for (i, (id, input)) in job.articles.into_iter().enumerate() {
        let (service, opts) = (service.clone(), job.options.clone());
        tasks.spawn(async move {
            let result = service.article_input(&input, &opts).await;
            (i, id, input, result)
        });
    }
    let mut slots: Vec<Option<_>> = (0..n).map(|_| None).collect();
    while let Some(joined) = tasks.join_next().await {
        let (i, id, input, result) = joined
            .map_err(|e| ApiError::from(Error::internal(format!("an article task failed: {e}"))))?;
        slots[i] = Some((id, input, result?));
    }
    Ok(slots.into_iter().flatten().collect())
}

/// The loaded models.
#[utoipa::path(
    get,
    path = "/v1/models",
    tag = "v1",
    responses(
        (status = 200, body = ModelsResponse),
        (status = 401, description = "Missing or invalid API key", body = ErrorBody),
        (status = 503, description = "Models not loaded yet", body = ErrorBody),
    ),
    security((), ("bearer" = []))
)]
pub async fn models(State(state): State<AppState>) -> Result<Json<ModelsResponse>, ApiError> {
    let service = state.service()?;
    let info = |w: &ModelHandle, task: &str, langs: &[String]| ModelInfo {
        name: w.loaded.name.clone(),
        task: task.to_string(),
        architecture: w.loaded.architecture().as_str().to_string(),
        revision: w.loaded.revision().map(str::to_string),
        device: w.loaded.device_name(),
        dtype: format!("{:?}", w.loaded.model.dtype()).to_ascii_lowercase(),
        max_input_tokens: w.loaded.model.max_source_positions(),
        kernels: (w.loaded.device_name() == "cpu").then(KernelReport::active),
        source_langs: langs.to_vec(),
        license: w.loaded.manifest().and_then(|m| m.license.clone()),
        non_commercial: w.loaded.manifest().is_some_and(|m| m.non_commercial()),
    };
    let mut models: Vec<ModelInfo> = service
        .routes
        .iter()
        .map(|r| info(&r.handle, "translate", &r.langs))
        .collect();
    if let Some(w) = &service.summarizer {
        models.push(info(w, "summarize", &[]));
    }
    Ok(Json(ModelsResponse { models }))
}

/// The process is alive: 200 unless a loaded model's thread has stopped (then restart it).
#[utoipa::path(
    get,
    path = "/health",
    tag = "operations",
    responses(
        (status = 200, body = Status),
        (status = 503, description = "A model thread has stopped; restart the process", body = Status),
    )
)]
pub async fn health(State(state): State<AppState>) -> (StatusCode, Json<Status>) {
    match down(&state) {
        Some(status) => (StatusCode::SERVICE_UNAVAILABLE, Json(status)),
        None => (
            StatusCode::OK,
            Json(Status {
                status: "ok".into(),
            }),
        ),
    }
}

/// `Some` when a loaded model's thread has stopped.
fn down(state: &AppState) -> Option<Status> {
    let down = state.loaded_service()?.down_models();
    (!down.is_empty()).then(|| Status {
        status: format!("model down: {}", down.join(", ")),
    })
}

/// 200 once the models are loaded and warm; 503 while loading, while shutting down, and once a
/// model's thread has stopped.
#[utoipa::path(
    get,
    path = "/ready",
    tag = "operations",
    responses(
        (status = 200, body = Status),
        (status = 503, description = "Loading, draining, or a model is down", body = Status),
    )
)]
pub async fn ready(State(state): State<AppState>) -> (StatusCode, Json<Status>) {
    if let Some(status) = down(&state) {
        return (StatusCode::SERVICE_UNAVAILABLE, Json(status));
    }
    let (code, status) = match state.phase() {
        Phase::Ready => (StatusCode::OK, "ready"),
        Phase::Loading => (StatusCode::SERVICE_UNAVAILABLE, "loading"),
        Phase::Draining => (StatusCode::SERVICE_UNAVAILABLE, "draining"),
    };
    (
        code,
        Json(Status {
            status: status.into(),
        }),
    )
}
