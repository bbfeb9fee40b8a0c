//! Faults on our side: a panic on the model thread fails that batch's jobs with `internal` (HTTP
//! 500, not a user error) and the next batch runs; a model that keeps panicking stops its thread,
//! and then `/ready` and `/health` answer 503 and `copydesk_model_up` drops to 0.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use candle_core::{DType, Device, Result, Tensor};
use serde_json::json;
use tower::ServiceExt;

use copydesk::batching::BatchPolicy;
use copydesk::engine::MAX_CONSECUTIVE_PANICS;
use copydesk::http::{router, AppState};
use copydesk::models::{Seq2Seq, SpecialTokens, StepDecoder};
use copydesk::service::{load, DecodeOptions, LoadOptions, ModelHandle, Service};

use crate::common::model_dir;
use crate::http::{config, get, post_json};

/// A fixture model whose encoder panics while `panics` is above zero (a kernel assertion, an
/// out-of-memory on a GPU).
struct Flaky {
    inner: Arc<dyn Seq2Seq>,
    panics: Arc<AtomicUsize>,
}

impl Seq2Seq for Flaky {
    fn encode(&self, input_ids: &Tensor, attention_mask: &Tensor) -> Result<Tensor> {
        if self
            .panics
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok()
        {
            panic!("injected fault");
        }
        self.inner.encode(input_ids, attention_mask)
    }
    fn start<'a>(&'a self, enc: &Tensor, mask: &Tensor) -> Result<Box<dyn StepDecoder + 'a>> {
        self.inner.start(enc, mask)
    }
    fn special_tokens(&self) -> SpecialTokens {
        self.inner.special_tokens()
    }
    fn max_source_positions(&self) -> Option<usize> {
        self.inner.max_source_positions()
    }
    fn device(&self) -> &Device {
        self.inner.device()
    }
    fn dtype(&self) -> DType {
        self.inner.dtype()
    }
    fn quantize(&mut self) -> Result<()> {
        candle_core::bail!("not for this test")
    }
}

fn flaky_worker(panics: &Arc<AtomicUsize>) -> ModelHandle {
    let dir = model_dir("marian-tied");
    let mut loaded = load(dir.to_str().unwrap(), &LoadOptions::default()).unwrap();
    loaded.model = Arc::new(Flaky {
        inner: loaded.model.clone(),
        panics: panics.clone(),
    });
    ModelHandle::start(loaded, BatchPolicy::default()).unwrap()
}

fn opts() -> DecodeOptions {
    DecodeOptions {
        beams: Some(1),
        max_new_tokens: Some(4),
        ..Default::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panicking_batch_fails_as_internal_and_the_next_one_runs() {
    let panics = Arc::new(AtomicUsize::new(1));
    let worker = flaky_worker(&panics);
    let texts = vec!["Het kabinet valt.".to_string()];
    let err = worker.generate(&texts, &opts()).await.unwrap_err();
    assert_eq!((err.kind(), err.exit_code()), ("internal", 1), "{err}");
    assert!(err.is_internal());
    let ok = worker.generate(&texts, &opts()).await.unwrap();
    assert!(!ok[0].token_ids.is_empty());
    assert!(worker.is_alive());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_model_that_keeps_panicking_is_reported_down() {
    let panics = Arc::new(AtomicUsize::new(0));
    let worker = flaky_worker(&panics);
    let service = Service {
        routes: vec![copydesk::service::routing::Route {
            langs: vec!["nl".into()],
            handle: worker.clone(),
        }],
        summarizer: None,
        prompts: copydesk::prompts::Prompts::builtin().unwrap(),
    };
    let app = router(AppState::ready(config(), service).await.unwrap());
    assert_eq!(
        app.clone().oneshot(get("/ready")).await.unwrap().status(),
        200
    );
    panics.store(usize::MAX, Ordering::SeqCst);
    let body = json!({"texts": ["Het kabinet valt."]});
    for _ in 0..MAX_CONSECUTIVE_PANICS {
        let res = app
            .clone()
            .oneshot(post_json("/v1/translate", &body))
            .await
            .unwrap();
        assert_eq!(res.status(), 500);
        let bytes = axum::body::to_bytes(res.into_body(), 1 << 16)
            .await
            .unwrap();
        let v: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(v["error"]["code"], "internal", "{v}");
    }
    let deadline = Instant::now() + Duration::from_secs(5);
    while worker.is_alive() {
        assert!(Instant::now() < deadline, "the model thread should stop");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    for path in ["/ready", "/health"] {
        let res = app.clone().oneshot(get(path)).await.unwrap();
        assert_eq!(res.status(), 503, "{path}");
    }
    let res = app
        .clone()
        .oneshot(post_json("/v1/translate", &body))
        .await
        .unwrap();
    assert_eq!(
        res.status(),
        500,
        "a dead model is our fault, not the user's"
    );
    let res = app.oneshot(get("/metrics")).await.unwrap();
    let bytes = axum::body::to_bytes(res.into_body(), 1 << 20)
        .await
        .unwrap();
    let text = String::from_utf8(bytes.to_vec()).unwrap();
    let up = text
        .lines()
        .find(|l| l.starts_with("copydesk_model_up{") && l.contains("marian-tied"))
        .unwrap_or_else(|| panic!("no copydesk_model_up in {text}"));
    assert!(up.ends_with(" 0"), "{up}");
}
