//! The model thread's continuous (iteration-level) schedule: between two decode steps, waiting
//! inputs join the running batch ([`super::Admission`] decides how many) and finished inputs
//! reply and leave, so a short request never waits for a long batch to end.

use std::collections::VecDeque;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::Ordering;
use std::sync::mpsc::{Receiver, TryRecvError};
use std::sync::Arc;
use std::time::Instant;

use super::admission::{Admission, Load};
use super::thread::{
    panic_message, record_batch, record_compute, reply_error, EngineBatch, EngineStats, Request,
};
use super::{on_compute_pool, start_rows, EngineError, MAX_CONSECUTIVE_PANICS};
use crate::generate::{GenerationConfig, Hypothesis, Running};
use crate::models::Seq2Seq;

/// An input in the running batch: where its result goes and its share of the batch's shape.
struct Ticket {
    request: Request,
    load: Load,
    /// Arrival number of its group.
    seq: u64,
}

/// Inputs sent together (one batch from the batcher: the same settings), waiting to join,
/// shortest source first so that each encoder pass pads little.
struct Group {
    requests: VecDeque<Request>,
    cfg: Arc<GenerationConfig>,
    /// Some of its inputs have joined already.
    joined: bool,
    /// Arrival number.
    seq: u64,
}

/// Decode steps between two parts of a request that has begun to join while a request that
/// arrived after it runs: that one joined at the next step, and its steps are not each held
/// up by another part's encoder pass (the large request's parts still come every this many
/// steps, so it is not starved). With no later request running, parts come every step.
const PART_INTERVAL: usize = 4;

/// Groups the model thread holds at most before it stops taking more from the batcher (whose
/// queue then holds the rest, where cancelled jobs are dropped without reaching the model).
const MAX_WAITING_GROUPS: usize = 4;

/// The state of the model thread's loop.
struct Loop<'m> {
    model: &'m dyn Seq2Seq,
    stats: &'m EngineStats,
    name: &'m str,
    admission: Admission,
    running: Running<'m, Ticket>,
    /// Waiting groups, oldest first; `turn` is the one whose inputs join next (round robin).
    waiting: VecDeque<Group>,
    turn: usize,
    /// Decode steps since a turn's part joined.
    steps_since_part: usize,
    /// Arrival number of the next group.
    next_seq: u64,
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
        turn: 0,
        steps_since_part: PART_INTERVAL,
        next_seq: 0,
        panics_in_a_row: 0,
    };
    let mut open = true;
    loop {
        // Take what the batcher has sent: blocking when idle, between steps otherwise.
        while open && state.waiting.len() < MAX_WAITING_GROUPS {
            let idle = state.waiting.is_empty() && state.running.is_empty();
            let next = if idle {
                rx.recv().map_err(|_| TryRecvError::Disconnected)
            } else {
                rx.try_recv()
            };
            match next {
                Ok(batch) => state.push(batch),
                Err(TryRecvError::Disconnected) => open = false,
                Err(TryRecvError::Empty) => break,
            }
        }
        if !open && state.waiting.is_empty() && state.running.is_empty() {
            return;
        }
        state.drop_cancelled();
        state.admit_next();
        if !state.running.is_empty() {
            state.step();
            state.steps_since_part += 1;
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
        let mut requests = batch.requests;
        requests.sort_by_key(|r| r.ids.len());
        self.waiting.push_back(Group {
            requests: requests.into(),
            cfg: batch.cfg,
            joined: false,
            seq: self.next_seq,
        });
        self.next_seq += 1;
    }

    /// Drops waiting and running inputs whose caller has gone.
    fn drop_cancelled(&mut self) {
        let mut gone = 0;
        for g in &mut self.waiting {
            let before = g.requests.len();
            g.requests.retain(|r| !r.is_cancelled());
            gone += before - g.requests.len();
        }
        self.drop_empty_groups();
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

    /// Removes groups with no input left, keeping the turn on the same group.
    fn drop_empty_groups(&mut self) {
        let mut i = 0;
        while i < self.waiting.len() {
            if self.waiting[i].requests.is_empty() {
                self.waiting.remove(i);
                if i < self.turn {
                    self.turn -= 1;
                }
            } else {
                i += 1;
            }
        }
        if self.turn >= self.waiting.len() {
            self.turn = 0;
        }
    }

    /// The group whose inputs join next: the one whose turn it is, at the next step, or
    /// every [`PART_INTERVAL`] steps while a request that arrived after it runs; in between,
    /// only a request none of which has joined yet, and only while the batch is at most half
    /// full with it.
    fn next_group(&mut self) -> Option<(usize, bool)> {
        let len = self.waiting.len();
        // A batch more than half full is saturated: free rows go to the oldest request first
        // (taking turns would only stretch every request's wait).
        if self.running.rows() > self.admission.max_rows / 2 {
            self.turn = 0;
        }
        let group = self.waiting.get(self.turn)?;
        let later_running = self.running.tickets().any(|t| t.seq > group.seq);
        let interval = if later_running { PART_INTERVAL } else { 1 };
        if self.running.is_empty() || self.steps_since_part >= interval {
            return Some((self.turn, true));
        }
        // Only while the batch has room to spare: when it is full, free rows go in turn order.
        let room = |g: &Group| {
            self.running.rows() + g.requests.len() * g.cfg.num_beams <= self.admission.max_rows / 2
        };
        (0..len)
            .map(|k| (self.turn + k) % len)
            .find(|&i| !self.waiting[i].joined && room(&self.waiting[i]))
            .map(|i| (i, false))
    }

    /// Lets the next inputs of a waiting group join ([`Self::next_group`]), as many as the
    /// admission limits allow (at most one encoder pass's worth). Groups take turns, so a
    /// request that arrives while a large one is still joining joins at the next step instead
    /// of after all of it, and none waits more than a round of turns.
    fn admit_next(&mut self) {
        let load = self.load();
        let Some((index, turn)) = self.next_group() else {
            return;
        };
        let group = &mut self.waiting[index];
        let (cfg, seq) = (group.cfg.clone(), group.seq);
        let waiting: Vec<Load> = group
            .requests
            .iter()
            .map(|r| Load::input(r.ids.len(), cfg.effective_max_length(), cfg.num_beams))
            .collect();
        let n = self.admission.admit(load, self.running.beams(), &waiting);
        if n == 0 {
            // No overtaking: the others wait too until rows have left.
            return;
        }
        let joining: Vec<Ticket> = group
            .requests
            .drain(..n)
            .zip(&waiting)
            .map(|(request, w)| Ticket {
                request,
                load: *w,
                seq,
            })
            .collect();
        group.joined = true;
        if turn {
            self.turn += 1;
            self.steps_since_part = 0;
        }
        self.drop_empty_groups();
        self.join(joining, cfg);
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
            Err(payload) => Err((self.panicked(payload.as_ref()), joining)),
        };
        self.count(rows, longest, started);
        record_batch(self.name, rows, rows * longest, started);
        tracing::debug!(
            model = self.name,
            rows,
            longest,
            running = self.running.len(),
            ms = started.elapsed().as_secs_f64() * 1e3,
            "inputs joined"
        );
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
        // Encoder passes and decode steps both count as compute, as a static batch does.
        record_compute(self.name, started);
        match result {
            Ok(Ok(done)) => {
                if !done.is_empty() {
                    tracing::debug!(
                        model = self.name,
                        finished = done.len(),
                        running = self.running.len(),
                        "inputs finished"
                    );
                }
                self.panics_in_a_row = 0;
                self.reply(done);
            }
            Ok(Err(e)) => self.fail_running(EngineError::Generate(e)),
            Err(payload) => {
                let err = self.panicked(payload.as_ref());
                self.fail_running(err);
            }
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

    /// Counts a caught panic, logs it, and gives the error its inputs get.
    fn panicked(&mut self, payload: &(dyn std::any::Any + Send)) -> EngineError {
        self.panics_in_a_row += 1;
        let msg = panic_message(payload);
        tracing::error!(model = self.name, "the model thread panicked: {msg}");
        EngineError::Panicked(msg)
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

fn fail(tickets: Vec<Ticket>, err: EngineError) {
    reply_error(tickets.into_iter().map(|t| t.request), err);
}
