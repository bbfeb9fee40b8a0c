//! The model thread's continuous (iteration-level) schedule: between two decode steps, waiting
//! inputs join the running batch ([`super::Admission`] decides how many) and finished inputs
//! reply and leave, so a short request never waits for a long batch to end.

use std::collections::VecDeque;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::Ordering;
use std::sync::mpsc::{Receiver, TryRecvError};
use std::sync::Arc;
use std::time::Instant;

use super::admission::{Admission, Load, Waiting};
use super::thread::{panic_message, record_batch, EngineBatch, EngineStats, Request};
use super::{on_compute_pool, start_rows, EngineError, MAX_CONSECUTIVE_PANICS};
use crate::generate::{GenerationConfig, Hypothesis, Running};
use crate::models::Seq2Seq;

/// An input in the running batch: where its result goes and its share of the batch's shape.
struct Ticket {
    request: Request,
    load: Load,
}

/// The inputs waiting to join, oldest first, with their settings.
type Queue = VecDeque<(Request, Arc<GenerationConfig>)>;

/// The state of the model thread's loop.
struct Loop<'m> {
    model: &'m dyn Seq2Seq,
    stats: &'m EngineStats,
    name: &'m str,
    admission: Admission,
    running: Running<'m, Ticket>,
    waiting: Queue,
    panics_in_a_row: usize,
}

/// Runs until every sender is gone and nothing is left, or after repeated faults.
pub(super) fn run(
    model: &dyn Seq2Seq,
    rx: Receiver<EngineBatch>,
    stats: &EngineStats,
    name: &str,
    admission: Admission,
) {
    let mut state = Loop {
        model,
        stats,
        name,
        admission,
        running: Running::new(1, model.special_tokens()),
        waiting: VecDeque::new(),
        panics_in_a_row: 0,
    };
    let mut open = true;
    loop {
        // Take the next batch from the queue once the waiting ones have joined: blocking when
        // idle, between steps otherwise (the channel's bound keeps the rest in the batcher).
        if state.waiting.is_empty() && open {
            let next = if state.running.is_empty() {
                rx.recv().map_err(|_| TryRecvError::Disconnected)
            } else {
                rx.try_recv()
            };
            match next {
                Ok(batch) => state.push(batch),
                Err(TryRecvError::Disconnected) => open = false,
                Err(TryRecvError::Empty) => {}
            }
        }
        if !open && state.waiting.is_empty() && state.running.is_empty() {
            return;
        }
        state.drop_cancelled();
        while state.admit_next() {}
        if !state.running.is_empty() {
            state.step();
        }
        if state.panics_in_a_row >= MAX_CONSECUTIVE_PANICS {
            tracing::error!(
                model = name,
                "{} steps in a row panicked; the model thread stops",
                state.panics_in_a_row
            );
            metrics::gauge!("copydesk_model_up", "model" => name.to_string()).set(0.0);
            return;
        }
    }
}

impl<'m> Loop<'m> {
    fn push(&mut self, batch: EngineBatch) {
        let cfg = batch.cfg;
        self.waiting
            .extend(batch.requests.into_iter().map(|r| (r, cfg.clone())));
    }

    /// Drops waiting and running inputs whose caller has gone.
    fn drop_cancelled(&mut self) {
        let before = self.waiting.len();
        self.waiting.retain(|(r, _)| !r.is_cancelled());
        let mut gone = before - self.waiting.len();
        match self.running.retain(|t| !t.request.is_cancelled()) {
            Ok(left) => gone += left.len(),
            Err(e) => self.fail_running(EngineError::Generate(e)),
        }
        self.stats
            .cancelled
            .fetch_add(gone as u64, Ordering::Relaxed);
    }

    /// The running batch's shape.
    fn load(&self) -> Load {
        self.running
            .tickets()
            .fold(Load::default(), |l, t| l.with(t.load))
    }

    /// Admits the oldest waiting inputs that share settings and fit; returns whether any did.
    fn admit_next(&mut self) -> bool {
        let Some((_, cfg)) = self.waiting.front() else {
            return false;
        };
        let cfg = cfg.clone();
        let same: Vec<Waiting> = self
            .waiting
            .iter()
            .take_while(|(_, c)| Arc::ptr_eq(c, &cfg))
            .map(|(r, c)| Waiting {
                load: Load::input(r.ids.len(), c.effective_max_length(), c.num_beams),
                beams: c.num_beams,
            })
            .collect();
        let n = self
            .admission
            .admit(self.load(), self.running.beams(), &same);
        if n == 0 {
            return false;
        }
        let joining: Vec<Ticket> = self
            .waiting
            .drain(..n)
            .zip(&same)
            .map(|((request, _), w)| Ticket {
                request,
                load: w.load,
            })
            .collect();
        self.join(joining, cfg);
        true
    }

    /// Encodes `joining` as one padded batch and adds it to the running batch.
    fn join(&mut self, joining: Vec<Ticket>, cfg: Arc<GenerationConfig>) {
        let started = Instant::now();
        if self.running.is_empty() {
            self.running = Running::new(cfg.num_beams, self.model.special_tokens());
        }
        let inputs: Vec<&[u32]> = joining.iter().map(|t| t.request.ids.as_slice()).collect();
        let longest = inputs.iter().map(|i| i.len()).max().unwrap_or(0);
        let rows = joining.len();
        let model = self.model;
        // The encoder pass, where a fault fails only the joining inputs.
        let session = catch_unwind(AssertUnwindSafe(|| {
            on_compute_pool(|| start_rows(model, &inputs))
        }));
        drop(inputs);
        let admitted = match session {
            Ok(Ok(session)) => self
                .running
                .admit(session, joining, cfg)
                .map_err(|r| (EngineError::Generate(r.error), r.tickets)),
            Ok(Err(e)) => Err((e, joining)),
            Err(payload) => {
                self.panics_in_a_row += 1;
                let msg = panic_message(payload.as_ref());
                tracing::error!(model = self.name, "the model thread panicked: {msg}");
                Err((EngineError::Panicked(msg), joining))
            }
        };
        self.count(rows, longest, started);
        record_batch(self.name, rows, rows * longest, started);
        match admitted {
            Ok(()) => self.panics_in_a_row = 0,
            // These inputs did not join (the running batch is as it was): they get the error.
            Err((e, tickets)) => fail(tickets, e),
        }
    }

    /// One decode step for every running input; replies to those that finished.
    fn step(&mut self) {
        let started = Instant::now();
        let running = &mut self.running;
        let result = catch_unwind(AssertUnwindSafe(|| on_compute_pool(|| running.step())));
        self.stats
            .busy_micros
            .fetch_add(started.elapsed().as_micros() as u64, Ordering::Relaxed);
        match result {
            Ok(Ok(done)) => {
                self.panics_in_a_row = 0;
                self.reply(done);
            }
            Ok(Err(e)) => self.fail_running(EngineError::Generate(e)),
            Err(payload) => self.panicked(payload.as_ref()),
        }
    }

    fn reply(&self, done: Vec<(Ticket, Hypothesis)>) {
        let generated: usize = done.iter().map(|(_, h)| h.tokens.len()).sum();
        self.stats
            .generated_tokens
            .fetch_add(generated as u64, Ordering::Relaxed);
        for (t, h) in done {
            let _ = t.request.reply.send(Ok(h));
        }
    }

    fn count(&self, rows: usize, longest: usize, started: Instant) {
        let s = self.stats;
        s.batches.fetch_add(1, Ordering::Relaxed);
        s.rows.fetch_add(rows as u64, Ordering::Relaxed);
        s.padded_tokens
            .fetch_add((rows * longest) as u64, Ordering::Relaxed);
        s.max_rows
            .fetch_max(self.running.len() as u64, Ordering::Relaxed);
        s.busy_micros
            .fetch_add(started.elapsed().as_micros() as u64, Ordering::Relaxed);
    }

    fn panicked(&mut self, payload: &(dyn std::any::Any + Send)) {
        self.panics_in_a_row += 1;
        let msg = panic_message(payload);
        tracing::error!(model = self.name, "the model thread panicked: {msg}");
        self.fail_running(EngineError::Panicked(msg));
    }

    /// Every running input gets `err`; the batch starts over empty.
    fn fail_running(&mut self, err: EngineError) {
        let running = std::mem::replace(
            &mut self.running,
            Running::new(1, self.model.special_tokens()),
        );
        fail(running.into_tickets(), err);
    }
}

/// Every one of `tickets` gets `err` (a panic's message as is, other errors shared).
fn fail(tickets: Vec<Ticket>, err: EngineError) {
    let shared = match err {
        EngineError::Panicked(msg) => {
            for t in tickets {
                let _ = t
                    .request
                    .reply
                    .send(Err(EngineError::Panicked(msg.clone())));
            }
            return;
        }
        e => Arc::new(e),
    };
    for t in tickets {
        let _ = t
            .request
            .reply
            .send(Err(EngineError::Batch(shared.clone())));
    }
}
