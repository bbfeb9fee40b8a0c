//! The queue policy: which waiting jobs form the next batch. A plain struct, no threads, no
//! model, so it is tested directly.
//!
//! Rules: only jobs with the same generation settings share a batch; the padded size (rows ×
//! longest row) stays within the token budget and the row limit; jobs are taken from the oldest
//! job's settings group, preferring similar lengths (length buckets) to limit padding; a batch is
//! released when it is full or when its oldest job has waited `max_wait`; jobs whose caller has
//! gone away are dropped before they are computed.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use crate::engine::{Admission, Schedule, Scheduler};

/// Limits on batches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchPolicy {
    /// Rows × longest row, in source tokens.
    pub max_batch_tokens: usize,
    pub max_batch_size: usize,
    /// Longest a job waits for a batch to fill.
    pub max_wait: Duration,
    /// Width of a length bucket, in tokens: jobs whose lengths fall in the same bucket are
    /// batched together first.
    pub bucket_width: usize,
    /// How the model thread runs the batches: each to completion, or joined between decode
    /// steps.
    pub scheduler: Scheduler,
    /// Continuous scheduling: key/value positions per layer the running batch may reserve,
    /// rows × (longest source + longest output allowed).
    pub max_kv_tokens: usize,
    /// Continuous scheduling: source tokens encoded between two decode steps (a large request
    /// joins in parts of this size).
    pub max_prefill_tokens: usize,
}

impl BatchPolicy {
    /// The model thread's schedule under these limits.
    pub fn schedule(&self) -> Schedule {
        Schedule {
            scheduler: self.scheduler,
            admission: Admission {
                max_rows: self.max_batch_size,
                max_batch_tokens: self.max_batch_tokens,
                max_kv_tokens: self.max_kv_tokens,
                max_prefill_tokens: self.max_prefill_tokens,
            },
        }
    }
}

impl Default for BatchPolicy {
    fn default() -> Self {
        Self {
            max_batch_tokens: 8192,
            max_batch_size: 64,
            max_wait: Duration::from_millis(5),
            bucket_width: 16,
            scheduler: Scheduler::default(),
            max_kv_tokens: Admission::default().max_kv_tokens,
            max_prefill_tokens: Admission::default().max_prefill_tokens,
        }
    }
}

/// What the policy needs to know about a job.
pub trait Queued {
    /// Source length in tokens.
    fn tokens(&self) -> usize;
    /// Whether the two can run in one batch (the same generation settings).
    fn shares_batch_with(&self, other: &Self) -> bool;
    /// The caller went away: drop instead of computing.
    fn is_cancelled(&self) -> bool;
    fn enqueued_at(&self) -> Instant;
}

/// Waiting jobs, oldest first.
#[derive(Debug)]
pub struct BatchQueue<J> {
    jobs: VecDeque<J>,
    policy: BatchPolicy,
}

/// What the scheduler should do next.
#[derive(Debug, PartialEq)]
pub enum Decision<J> {
    /// Run these jobs now.
    Run(Vec<J>),
    /// Wait at most this long for more jobs, then ask again.
    Wait(Duration),
    /// Nothing queued.
    Idle,
}

impl<J: Queued> BatchQueue<J> {
    pub fn new(policy: BatchPolicy) -> Self {
        Self {
            jobs: VecDeque::new(),
            policy,
        }
    }

    pub fn push(&mut self, job: J) {
        self.jobs.push_back(job);
    }

    pub fn len(&self) -> usize {
        self.jobs.len()
    }

    pub fn is_empty(&self) -> bool {
        self.jobs.is_empty()
    }

    /// Removes cancelled jobs; returns them so the caller can count them.
    pub fn drop_cancelled(&mut self) -> Vec<J> {
        let (gone, keep): (Vec<J>, Vec<J>) = self.jobs.drain(..).partition(|j| j.is_cancelled());
        self.jobs = keep.into();
        gone
    }

    /// Picks the next batch at time `now`.
    pub fn decide(&mut self, now: Instant) -> Decision<J> {
        let Some(oldest) = self.jobs.front() else {
            return Decision::Idle;
        };
        let waited = now.saturating_duration_since(oldest.enqueued_at());
        let picked = self.pick();
        let full = picked.len() >= self.policy.max_batch_size || self.budget_full(&picked);
        if !full && waited < self.policy.max_wait {
            return Decision::Wait(self.policy.max_wait - waited);
        }
        let mut picked = picked;
        picked.sort_unstable();
        let mut out = Vec::with_capacity(picked.len());
        for (removed, i) in picked.into_iter().enumerate() {
            if let Some(j) = self.jobs.remove(i - removed) {
                out.push(j);
            }
        }
        Decision::Run(out)
    }

    fn budget_full(&self, picked: &[usize]) -> bool {
        // Full when no other job could still be added within the budget.
        let longest = picked
            .iter()
            .map(|&i| self.jobs[i].tokens())
            .max()
            .unwrap_or(0);
        (picked.len() + 1) * longest.max(1) > self.policy.max_batch_tokens
    }

    /// Indices of the jobs for the next batch: the oldest job, then others that can share its
    /// batch, nearest length bucket first, within the budget.
    fn pick(&self) -> Vec<usize> {
        let p = &self.policy;
        let bucket = |len: usize| len / p.bucket_width.max(1);
        let first_len = self.jobs[0].tokens();
        let mut candidates: Vec<usize> = (1..self.jobs.len())
            .filter(|&i| self.jobs[i].shares_batch_with(&self.jobs[0]))
            .collect();
        candidates.sort_by_key(|&i| (bucket(self.jobs[i].tokens()).abs_diff(bucket(first_len)), i));
        let mut picked = vec![0];
        let mut longest = first_len.max(1);
        for i in candidates {
            if picked.len() >= p.max_batch_size {
                break;
            }
            let l = self.jobs[i].tokens().max(1);
            if (picked.len() + 1) * longest.max(l) <= p.max_batch_tokens {
                picked.push(i);
                longest = longest.max(l);
            }
        }
        picked
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, PartialEq)]
    struct J {
        id: usize,
        len: usize,
        key: u64,
        cancelled: bool,
        at: Instant,
    }

    impl Queued for J {
        fn tokens(&self) -> usize {
            self.len
        }
        fn shares_batch_with(&self, other: &Self) -> bool {
            self.key == other.key
        }
        fn is_cancelled(&self) -> bool {
            self.cancelled
        }
        fn enqueued_at(&self) -> Instant {
            self.at
        }
    }

    fn policy() -> BatchPolicy {
        BatchPolicy {
            max_batch_tokens: 100,
            max_batch_size: 4,
            max_wait: Duration::from_millis(10),
            bucket_width: 10,
            ..BatchPolicy::default()
        }
    }

    fn job(id: usize, len: usize, at: Instant) -> J {
        J {
            id,
            len,
            key: 1,
            cancelled: false,
            at,
        }
    }

    fn ids(d: Decision<J>) -> Vec<usize> {
        match d {
            Decision::Run(v) => v.into_iter().map(|j| j.id).collect(),
            other => panic!("expected a batch, got {other:?}"),
        }
    }

    #[test]
    fn waits_for_more_jobs_until_max_wait() {
        let t0 = Instant::now();
        let mut q = BatchQueue::new(policy());
        q.push(job(0, 5, t0));
        assert_eq!(
            q.decide(t0 + Duration::from_millis(4)),
            Decision::Wait(Duration::from_millis(6))
        );
        assert_eq!(ids(q.decide(t0 + Duration::from_millis(10))), vec![0]);
        assert_eq!(q.decide(t0), Decision::Idle);
    }

    #[test]
    fn a_full_batch_leaves_at_once() {
        let t0 = Instant::now();
        let mut q = BatchQueue::new(policy());
        for i in 0..6 {
            q.push(job(i, 5, t0));
        }
        assert_eq!(ids(q.decide(t0)), vec![0, 1, 2, 3]);
        assert_eq!(q.len(), 2);
    }

    #[test]
    fn token_budget_counts_padding() {
        let t0 = Instant::now();
        let mut q = BatchQueue::new(policy());
        q.push(job(0, 40, t0));
        q.push(job(1, 45, t0));
        q.push(job(2, 30, t0));
        // 2 × 45 = 90 fits; 3 × 45 = 135 does not → budget full, leaves now.
        assert_eq!(ids(q.decide(t0)), vec![0, 1]);
        assert_eq!(ids(q.decide(t0 + Duration::from_secs(1))), vec![2]);
    }

    #[test]
    fn similar_lengths_are_batched_together() {
        let t0 = Instant::now();
        let mut q = BatchQueue::new(BatchPolicy {
            max_batch_size: 2,
            ..policy()
        });
        q.push(job(0, 10, t0));
        q.push(job(1, 48, t0));
        q.push(job(2, 12, t0));
        q.push(job(3, 47, t0));
        assert_eq!(ids(q.decide(t0)), vec![0, 2]);
        assert_eq!(ids(q.decide(t0)), vec![1, 3]);
    }

    #[test]
    fn different_settings_never_share_a_batch() {
        let t0 = Instant::now();
        let mut q = BatchQueue::new(policy());
        q.push(job(0, 5, t0));
        q.push(J {
            key: 2,
            ..job(1, 5, t0)
        });
        q.push(job(2, 5, t0));
        let later = t0 + Duration::from_secs(1);
        assert_eq!(ids(q.decide(later)), vec![0, 2]);
        assert_eq!(ids(q.decide(later)), vec![1]);
    }

    #[test]
    fn cancelled_jobs_are_dropped() {
        let t0 = Instant::now();
        let mut q = BatchQueue::new(policy());
        q.push(job(0, 5, t0));
        q.push(J {
            cancelled: true,
            ..job(1, 5, t0)
        });
        q.push(job(2, 5, t0));
        assert_eq!(q.drop_cancelled().len(), 1);
        assert_eq!(ids(q.decide(t0 + Duration::from_secs(1))), vec![0, 2]);
    }

    #[test]
    fn an_oversized_job_still_runs_alone() {
        let t0 = Instant::now();
        let mut q = BatchQueue::new(policy());
        q.push(job(0, 500, t0));
        q.push(job(1, 5, t0));
        assert_eq!(ids(q.decide(t0)), vec![0]);
    }
}
