//! Prometheus metrics, all named `copydesk_*` with their unit in the name: requests by route and
//! status, request duration, queue depth, batches (rows and padded tokens per batch, recorded by
//! the model thread), generated tokens, inference time, cancelled jobs, in-flight requests.

use std::sync::OnceLock;
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::header;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use metrics::{
    counter, describe_counter, describe_gauge, describe_histogram, gauge, histogram, Unit,
};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

use super::state::{AppState, Phase};
use crate::service::ModelHandle;

const SECONDS: &[f64] = &[
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
];
const ROWS: &[f64] = &[1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0];
const TOKENS: &[f64] = &[
    16.0, 64.0, 256.0, 512.0, 1024.0, 2048.0, 4096.0, 8192.0, 16384.0,
];

static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();

/// Installs the Prometheus recorder once per process. `None` when another recorder was
/// installed first (then `/metrics` says so instead of failing).
pub fn install() -> Option<&'static PrometheusHandle> {
    HANDLE
        .get_or_init(|| {
            let builder = PrometheusBuilder::new()
                .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), SECONDS)
                .and_then(|b| {
                    b.set_buckets_for_metric(Matcher::Full("copydesk_batch_size_rows".into()), ROWS)
                })
                .and_then(|b| {
                    b.set_buckets_for_metric(Matcher::Full("copydesk_batch_tokens".into()), TOKENS)
                })
                .ok()?;
            let recorder = builder.build_recorder();
            let handle = recorder.handle();
            if metrics::set_global_recorder(recorder).is_err() {
                tracing::warn!("another metrics recorder is installed; /metrics stays empty");
                return None;
            }
            describe();
            Some(handle)
        })
        .as_ref()
}

fn describe() {
    describe_counter!(
        "copydesk_http_requests_total",
        Unit::Count,
        "HTTP requests by route, method and status"
    );
    describe_histogram!(
        "copydesk_http_request_duration_seconds",
        Unit::Seconds,
        "HTTP request duration by route, method and status"
    );
    describe_gauge!(
        "copydesk_http_requests_in_flight",
        Unit::Count,
        "Inference requests being served"
    );
    describe_gauge!("copydesk_ready", "1 when the models are loaded and warm");
    describe_gauge!(
        "copydesk_model_up",
        "1 while the model's thread runs, 0 once it has stopped (restart the process)"
    );
    describe_gauge!(
        "copydesk_queue_depth_jobs",
        Unit::Count,
        "Jobs (sentences, prompts) waiting for a batch, per model"
    );
    describe_counter!(
        "copydesk_jobs_submitted_total",
        Unit::Count,
        "Jobs queued, per model"
    );
    describe_counter!(
        "copydesk_jobs_cancelled_total",
        Unit::Count,
        "Jobs dropped before compute because their request went away, per model and stage"
    );
    describe_counter!(
        "copydesk_batches_total",
        Unit::Count,
        "Batches computed, per model"
    );
    describe_counter!(
        "copydesk_batch_rows_total",
        Unit::Count,
        "Rows computed in batches, per model"
    );
    describe_counter!(
        "copydesk_generated_tokens_total",
        Unit::Count,
        "Tokens generated, per model"
    );
    describe_histogram!(
        "copydesk_batch_size_rows",
        Unit::Count,
        "Rows per batch, per model"
    );
    describe_histogram!(
        "copydesk_batch_tokens",
        Unit::Count,
        "Padded tokens (rows x longest row) per batch, per model"
    );
    describe_histogram!(
        "copydesk_inference_duration_seconds",
        Unit::Seconds,
        "Compute time per batch, per model"
    );
}

/// Middleware: counts every response by route (the matched pattern), method and status.
pub async fn track(req: Request, next: Next) -> Response {
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_string(), |p| p.as_str().to_string());
    let method = req.method().as_str().to_string();
    let started = Instant::now();
    let response = next.run(req).await;
    let labels = [
        ("route", route),
        ("method", method),
        ("status", response.status().as_u16().to_string()),
    ];
    counter!("copydesk_http_requests_total", &labels).increment(1);
    histogram!("copydesk_http_request_duration_seconds", &labels)
        .record(started.elapsed().as_secs_f64());
    response
}

/// Sets the gauges and counters that are read from the queues and model threads.
fn sample(state: &AppState) {
    gauge!("copydesk_http_requests_in_flight").set(state.in_flight() as f64);
    gauge!("copydesk_ready").set(f64::from(u8::from(state.phase() == Phase::Ready)));
    let Some(service) = state.loaded_service() else {
        return;
    };
    for worker in service.workers() {
        sample_worker(worker);
    }
}

fn sample_worker(worker: &ModelHandle) {
    use std::sync::atomic::Ordering::Relaxed;
    let model = worker.loaded.name.clone();
    let q = worker.batcher.queue_stats();
    let e = worker.batcher.engine().stats();
    let label = [("model", model.clone())];
    gauge!("copydesk_model_up", &label).set(f64::from(u8::from(worker.is_alive())));
    gauge!("copydesk_queue_depth_jobs", &label).set(q.queued.load(Relaxed) as f64);
    counter!("copydesk_jobs_submitted_total", &label).absolute(q.submitted.load(Relaxed));
    counter!("copydesk_batches_total", &label).absolute(e.batches.load(Relaxed));
    counter!("copydesk_batch_rows_total", &label).absolute(e.rows.load(Relaxed));
    counter!("copydesk_generated_tokens_total", &label).absolute(e.generated_tokens.load(Relaxed));
    for (stage, n) in [
        ("queue", q.cancelled.load(Relaxed)),
        ("engine", e.cancelled.load(Relaxed)),
    ] {
        let labels = [("model", model.clone()), ("stage", stage.to_string())];
        counter!("copydesk_jobs_cancelled_total", &labels).absolute(n);
    }
}

/// `GET /metrics`: Prometheus text format.
#[utoipa::path(
    get,
    path = "/metrics",
    tag = "operations",
    responses((status = 200, description = "Prometheus text exposition format", content_type = "text/plain"))
)]
pub async fn render(State(state): State<AppState>) -> Response {
    sample(&state);
    let body = match install() {
        Some(handle) => {
            handle.run_upkeep();
            handle.render()
        }
        None => "# another metrics recorder is installed in this process\n".to_string(),
    };
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        body,
    )
        .into_response()
}
