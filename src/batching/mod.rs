//! Cross-request batching: jobs from any number of callers are queued per model and released as
//! shared padded batches under the policy in [`policy`]. A scheduler thread applies the policy and
//! hands batches to the model thread, one batch ahead; with the continuous scheduler
//! ([`crate::engine::Scheduler`]) the model thread lets them join its running batch between
//! decode steps, under [`crate::engine::Admission`].

pub mod policy;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{channel, Receiver, RecvTimeoutError, Sender};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::oneshot;

pub use policy::{BatchPolicy, BatchQueue, Decision, Queued};

use crate::engine::{Engine, EngineBatch, EngineError, Request};
use crate::generate::{GenerationConfig, Hypothesis};

/// A queued input.
#[derive(Debug)]
struct Job {
    request: Request,
    cfg: Arc<GenerationConfig>,
    enqueued: Instant,
}

impl Queued for Job {
    fn tokens(&self) -> usize {
        self.request.ids.len()
    }
    fn shares_batch_with(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.cfg, &other.cfg) || self.cfg == other.cfg
    }
    fn is_cancelled(&self) -> bool {
        self.request.is_cancelled()
    }
    fn enqueued_at(&self) -> Instant {
        self.enqueued
    }
}

/// Queue counters, for metrics and tests.
#[derive(Debug, Default)]
pub struct QueueStats {
    pub submitted: AtomicU64,
    pub queued: AtomicU64,
    /// Jobs dropped before computing because their caller went away.
    pub cancelled: AtomicU64,
}

/// Where one input's result will arrive; dropping it cancels the job.
pub type Pending = oneshot::Receiver<Result<Hypothesis, EngineError>>;

/// Handle to one model's queue. Cheap to clone; the scheduler stops when the last handle goes.
#[derive(Clone)]
pub struct Batcher {
    tx: Sender<Job>,
    engine: Engine,
    stats: Arc<QueueStats>,
}

impl Batcher {
    pub fn spawn(engine: Engine, policy: BatchPolicy, name: &str) -> std::io::Result<Batcher> {
        let (tx, rx) = channel::<Job>();
        let stats = Arc::new(QueueStats::default());
        let (e, s) = (engine.clone(), stats.clone());
        std::thread::Builder::new()
            .name(format!("batcher-{name}"))
            .spawn(move || schedule(rx, e, policy, &s))?;
        Ok(Batcher { tx, engine, stats })
    }

    /// Queues inputs that share `cfg`; results arrive in the returned receivers, in order.
    pub fn submit(&self, inputs: Vec<Vec<u32>>, cfg: GenerationConfig) -> Vec<Pending> {
        let cfg = Arc::new(cfg);
        let now = Instant::now();
        inputs
            .into_iter()
            .map(|ids| {
                let (reply, rx) = oneshot::channel();
                let job = Job {
                    request: Request { ids, reply },
                    cfg: cfg.clone(),
                    enqueued: now,
                };
                self.stats.submitted.fetch_add(1, Ordering::Relaxed);
                self.stats.queued.fetch_add(1, Ordering::Relaxed);
                if let Err(std::sync::mpsc::SendError(job)) = self.tx.send(job) {
                    self.stats.queued.fetch_sub(1, Ordering::Relaxed);
                    let _ = job.request.reply.send(Err(EngineError::Closed));
                }
                rx
            })
            .collect()
    }

    pub fn queue_stats(&self) -> &QueueStats {
        &self.stats
    }

    pub fn engine(&self) -> &Engine {
        &self.engine
    }
}

fn schedule(rx: Receiver<Job>, engine: Engine, policy: BatchPolicy, stats: &QueueStats) {
    let mut queue: BatchQueue<Job> = BatchQueue::new(policy);
    let mut open = true;
    loop {
        while let Ok(job) = rx.try_recv() {
            queue.push(job);
        }
        let gone = queue.drop_cancelled().len() as u64;
        if gone > 0 {
            stats.cancelled.fetch_add(gone, Ordering::Relaxed);
            stats.queued.fetch_sub(gone, Ordering::Relaxed);
        }
        // Once every handle is gone, flush what is left without waiting.
        let now = if open {
            Instant::now()
        } else {
            Instant::now() + policy.max_wait
        };
        match queue.decide(now) {
            Decision::Run(jobs) => {
                stats.queued.fetch_sub(jobs.len() as u64, Ordering::Relaxed);
                let cfg = jobs[0].cfg.clone();
                let requests = jobs.into_iter().map(|j| j.request).collect();
                if let Err(batch) = engine.send(EngineBatch { requests, cfg }) {
                    for r in batch.requests {
                        let _ = r.reply.send(Err(EngineError::Down));
                    }
                }
            }
            Decision::Wait(d) if open => match rx.recv_timeout(d.max(Duration::from_micros(50))) {
                Ok(job) => queue.push(job),
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => open = false,
            },
            Decision::Wait(_) => {}
            Decision::Idle if open => match rx.recv() {
                Ok(job) => queue.push(job),
                Err(_) => open = false,
            },
            Decision::Idle => return,
        }
    }
}
