//! The model thread: one OS thread owns a loaded model and runs the batches it is sent, so
//! model compute never runs on async worker threads.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Instant;

use tokio::sync::oneshot;

use super::{continuous, run_batch, EngineError, Schedule, Scheduler};
use crate::generate::{GenerationConfig, Hypothesis};
use crate::models::Seq2Seq;

/// One input and where its result goes.
#[derive(Debug)]
pub struct Request {
    pub ids: Vec<u32>,
    pub reply: oneshot::Sender<Result<Hypothesis, EngineError>>,
}

impl Request {
    /// The caller dropped its receiver: nobody wants the result.
    pub fn is_cancelled(&self) -> bool {
        self.reply.is_closed()
    }
}

/// Requests that share generation settings, run as one padded batch.
#[derive(Debug)]
pub struct EngineBatch {
    pub requests: Vec<Request>,
    pub cfg: Arc<GenerationConfig>,
}

/// Counters of what the model thread did.
#[derive(Debug, Default)]
pub struct EngineStats {
    pub batches: AtomicU64,
    pub rows: AtomicU64,
    /// Rows × longest row, summed over batches.
    pub padded_tokens: AtomicU64,
    pub generated_tokens: AtomicU64,
    /// Rows dropped at the last moment because their caller had gone.
    pub cancelled: AtomicU64,
    pub busy_micros: AtomicU64,
    /// Largest number of rows seen in one batch.
    pub max_rows: AtomicU64,
}

/// Handle to a running model thread. Dropping every handle stops the thread after the batches
/// already sent.
#[derive(Clone)]
pub struct Engine {
    tx: SyncSender<EngineBatch>,
    stats: Arc<EngineStats>,
    alive: Arc<AtomicBool>,
    // Declared last: every handle's sender is dropped before the thread is joined.
    _thread: Arc<ModelThread>,
}

/// Batches in a row that may panic before the model thread gives up: a model that fails every
/// batch (a broken GPU context, say) is reported down so that the process gets restarted.
pub const MAX_CONSECUTIVE_PANICS: usize = 3;

/// Clears the alive flag when the model thread ends, however it ends.
struct AliveGuard(Arc<AtomicBool>);

impl Drop for AliveGuard {
    fn drop(&mut self) {
        self.0.store(false, Ordering::SeqCst);
    }
}

/// The model thread, joined when the last handle goes. By then every sender is gone, so the
/// thread ends by itself after the batch it is running (if any).
struct ModelThread(Option<JoinHandle<()>>);

impl Drop for ModelThread {
    fn drop(&mut self) {
        if let Some(t) = self.0.take() {
            // A panic that escaped the loop has been reported already (alive flag, log).
            let _ = t.join();
        }
    }
}

impl Engine {
    /// Starts the model thread with `schedule`. The channel holds one batch, so the next batch
    /// can be prepared while the current one computes (static) or join at the next step
    /// (continuous).
    pub fn spawn(
        model: Arc<dyn Seq2Seq>,
        name: &str,
        schedule: Schedule,
    ) -> std::io::Result<Engine> {
        let (tx, rx) = sync_channel::<EngineBatch>(1);
        let stats = Arc::new(EngineStats::default());
        let s = stats.clone();
        let label = name.to_string();
        let alive = Arc::new(AtomicBool::new(true));
        let guard = AliveGuard(alive.clone());
        let thread = std::thread::Builder::new()
            .name(format!("model-{name}"))
            .spawn(move || {
                let _guard = guard;
                match schedule.scheduler {
                    Scheduler::Static => model_loop(model.as_ref(), rx, &s, &label),
                    Scheduler::Continuous => {
                        continuous::run(model.as_ref(), rx, &s, &label, schedule.admission)
                    }
                }
            })?;
        Ok(Engine {
            tx,
            stats,
            alive,
            _thread: Arc::new(ModelThread(Some(thread))),
        })
    }

    /// Sends a batch; blocks while the model thread is busy and one batch is already waiting.
    pub fn send(&self, batch: EngineBatch) -> Result<(), EngineBatch> {
        self.tx.send(batch).map_err(|e| e.0)
    }

    pub fn stats(&self) -> &EngineStats {
        &self.stats
    }

    /// Whether the model thread is still running (false once it has given up after repeated
    /// faults, or ended).
    pub fn is_alive(&self) -> bool {
        self.alive.load(Ordering::SeqCst)
    }
}

/// The message of a caught panic.
pub(super) fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "a panic without a message".to_string()
    }
}

fn model_loop(model: &dyn Seq2Seq, rx: Receiver<EngineBatch>, stats: &EngineStats, name: &str) {
    let mut panics_in_a_row = 0;
    while let Ok(batch) = rx.recv() {
        let (alive, gone): (Vec<Request>, Vec<Request>) =
            batch.requests.into_iter().partition(|r| !r.is_cancelled());
        stats
            .cancelled
            .fetch_add(gone.len() as u64, Ordering::Relaxed);
        if alive.is_empty() {
            continue;
        }
        let started = Instant::now();
        let inputs: Vec<&[u32]> = alive.iter().map(|r| r.ids.as_slice()).collect();
        let longest = inputs.iter().map(|i| i.len()).max().unwrap_or(0);
        let result = match catch_unwind(AssertUnwindSafe(|| run_batch(model, &inputs, &batch.cfg)))
        {
            Ok(r) => {
                panics_in_a_row = 0;
                r
            }
            Err(payload) => {
                panics_in_a_row += 1;
                let msg = panic_message(payload.as_ref());
                tracing::error!(model = name, "the model thread panicked on a batch: {msg}");
                Err(EngineError::Panicked(msg))
            }
        };
        stats.batches.fetch_add(1, Ordering::Relaxed);
        stats.rows.fetch_add(alive.len() as u64, Ordering::Relaxed);
        stats
            .max_rows
            .fetch_max(alive.len() as u64, Ordering::Relaxed);
        stats
            .padded_tokens
            .fetch_add((alive.len() * longest) as u64, Ordering::Relaxed);
        stats
            .busy_micros
            .fetch_add(started.elapsed().as_micros() as u64, Ordering::Relaxed);
        record_batch(name, alive.len(), alive.len() * longest, started);
        match result {
            Ok(hyps) => {
                let generated: usize = hyps.iter().map(|h| h.tokens.len()).sum();
                stats
                    .generated_tokens
                    .fetch_add(generated as u64, Ordering::Relaxed);
                for (r, h) in alive.into_iter().zip(hyps) {
                    let _ = r.reply.send(Ok(h));
                }
            }
            Err(e) => reply_error(alive, e),
        }
        if panics_in_a_row >= MAX_CONSECUTIVE_PANICS {
            tracing::error!(
                model = name,
                "{panics_in_a_row} batches in a row panicked; the model thread stops"
            );
            metrics::gauge!("copydesk_model_up", "model" => name.to_string()).set(0.0);
            return;
        }
    }
}

/// Every one of `requests` gets `err`: a panic's message as is, other errors shared.
pub(super) fn reply_error(requests: impl IntoIterator<Item = Request>, err: EngineError) {
    let each = |shared: &Arc<EngineError>| match shared.as_ref() {
        EngineError::Panicked(msg) => EngineError::Panicked(msg.clone()),
        _ => EngineError::Batch(shared.clone()),
    };
    let shared = Arc::new(err);
    for r in requests {
        let _ = r.reply.send(Err(each(&shared)));
    }
}

/// Per-batch histograms for `/metrics` (no-ops unless a metrics recorder is installed).
pub(super) fn record_batch(model: &str, rows: usize, padded_tokens: usize, started: Instant) {
    let label = [("model", model.to_string())];
    metrics::histogram!("copydesk_batch_size_rows", &label).record(rows as f64);
    metrics::histogram!("copydesk_batch_tokens", &label).record(padded_tokens as f64);
    record_compute(model, started);
}

/// Model compute since `started` for `/metrics` (a batch, an encoder pass or a decode step).
pub(super) fn record_compute(model: &str, started: Instant) {
    metrics::histogram!("copydesk_inference_duration_seconds", "model" => model.to_string())
        .record(started.elapsed().as_secs_f64());
}
