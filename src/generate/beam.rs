//! Beam search following transformers' (≥ 4.50) vectorized implementation, item by item:
//! top `2 × beams` continuations by accumulated log-probability, finished hypotheses scored with
//! `sum_logprobs / generated_len ^ length_penalty`, and the same early-stopping heuristic.

use std::cmp::Ordering;

use super::constraints::{self, Progress};
use super::processors::{argmax, log_softmax_in_place, top_k};
use super::{finish, Context, EarlyStopping, GenerationConfig, Hypothesis};

/// transformers' stand-in for "impossible" scores.
const NEG: f32 = -1.0e9;

#[derive(Debug, Clone)]
struct Beam {
    seq: Vec<u32>,
    score: f32,
    /// The running beam (index within the item) this one extends.
    parent: usize,
    /// Under phrase constraints: the progress of `seq`, kept so that a step adds one token to it
    /// instead of replaying the sequence (`None`: not tracked yet, or unconstrained).
    progress: Option<Progress>,
}

impl Beam {
    fn progress_in(&self, phrases: &[Vec<u32>]) -> Progress {
        self.progress
            .clone()
            .unwrap_or_else(|| Progress::of(&self.seq, phrases))
    }
}

#[derive(Debug)]
pub(super) struct Item {
    running: Vec<Beam>,
    /// Finished hypotheses, best first, at most `num_beams`.
    finished: Vec<Beam>,
    /// Under phrase constraints: the longest (then best) hypothesis that ended without holding
    /// every phrase, returned only when none holds them all.
    fallback: Option<Beam>,
    improvable: bool,
    pub(super) done: bool,
}

impl Item {
    /// The last token of each running beam, appended to `out`: the next step's input.
    pub(super) fn last_tokens(&self, start: u32, out: &mut Vec<u32>) {
        out.extend(self.running.iter().map(|r| *r.seq.last().unwrap_or(&start)));
    }

    /// The running beams' sequences (start included), in row order.
    pub(super) fn sequences(&self) -> impl Iterator<Item = &[u32]> + '_ {
        self.running.iter().map(|r| r.seq.as_slice())
    }

    /// The decoder rows the running beams continue, for an item whose rows start at
    /// `pos × beams`.
    pub(super) fn parent_rows(&self, pos: usize) -> impl Iterator<Item = u32> + '_ {
        let beams = self.running.len();
        self.running
            .iter()
            .map(move |r| (pos * beams + r.parent) as u32)
    }
}

#[derive(Debug, Clone, Copy)]
struct Candidate {
    beam: usize,
    token: u32,
    score: f32,
}

fn desc(a: f32, b: f32) -> Ordering {
    b.total_cmp(&a)
}

/// A beam's `k` best tokens and their scores, best first (ties: lower id first).
pub(super) type Tops = Vec<(u32, f32)>;

fn row_tops(row: &[f32], k: usize) -> Tops {
    top_k(row, k)
        .into_iter()
        .map(|t| (t, row[t as usize]))
        .collect()
}

/// The `k` best continuations of an item's beams from each beam's [`Tops`], best first (ties:
/// lower flat index first).
fn top_continuations(tops: &[Tops], running: &[Beam], k: usize) -> Vec<Candidate> {
    let mut all: Vec<Candidate> = Vec::with_capacity(k * tops.len());
    for (beam, (top, b)) in tops.iter().zip(running).enumerate() {
        all.extend(top.iter().take(k).map(|&(token, score)| Candidate {
            beam,
            token,
            score: b.score + score,
        }));
    }
    all.sort_by(|x, y| desc(x.score, y.score).then((x.beam, x.token).cmp(&(y.beam, y.token))));
    all.truncate(k);
    all
}

/// What an item's step needs to know.
pub(super) struct Step<'a> {
    cfg: &'a GenerationConfig,
    ctx: &'a Context,
    vocab: usize,
    /// Continuations considered per item (`2 × beams`, more with several eos ids).
    keep: usize,
    cur_len: usize,
}

impl<'a> Step<'a> {
    /// The step of an item at decoder length `cur_len` (start included).
    pub(super) fn new(
        cfg: &'a GenerationConfig,
        ctx: &'a Context,
        vocab: usize,
        cur_len: usize,
    ) -> Self {
        Self {
            cfg,
            ctx,
            vocab,
            keep: 2.max(1 + ctx.eos.len()) * cfg.num_beams,
            cur_len,
        }
    }

    /// Tokens considered per beam row.
    pub(super) fn keep(&self) -> usize {
        self.keep
    }

    /// Advances one item by one token: scores its beams' rows (`block`, `beams × vocab`), adds
    /// the candidates that finished, and keeps the best running ones. Returns whether every
    /// candidate hit a stopping criterion.
    pub(super) fn advance(&self, item: &mut Item, block: &mut [f32]) -> bool {
        for (row, beam) in block.chunks_mut(self.vocab).zip(&item.running) {
            log_softmax_in_place(row);
            self.ctx.processors.apply(&beam.seq, row);
        }
        let rows: Vec<&[f32]> = block.chunks(self.vocab).collect();
        let tops: Vec<Tops> = rows.iter().map(|row| row_tops(row, self.keep)).collect();
        if !self.cfg.force_words_ids.is_empty() {
            let cands = top_continuations(&tops, &item.running, self.keep);
            return self.advance_constrained(item, &rows, cands);
        }
        self.advance_tops(item, &tops)
    }

    /// [`Self::advance`] from each running beam's best tokens, scored by `log_softmax` and the
    /// processors (unconstrained search needs no more of the rows).
    pub(super) fn advance_tops(&self, item: &mut Item, tops: &[Tops]) -> bool {
        let beams = self.cfg.num_beams;
        let cands = top_continuations(tops, &item.running, self.keep);
        let hits: Vec<bool> = cands
            .iter()
            .map(|c| self.ctx.eos.contains(&c.token) || self.cur_len + 1 >= self.ctx.max_length)
            .collect();
        let extend = |c: &Candidate, score: f32| {
            let mut seq = item.running[c.beam].seq.clone();
            seq.push(c.token);
            Beam {
                seq,
                score,
                parent: c.beam,
                progress: None,
            }
        };
        // Finished hypotheses: only among the top `beams` candidates.
        let full = item.finished.len() == beams && self.cfg.early_stopping == EarlyStopping::Always;
        let mut new_finished = Vec::new();
        if item.improvable && !full {
            let norm = (self.cur_len as f32).powf(self.cfg.length_penalty as f32);
            for (c, _) in cands.iter().zip(&hits).take(beams).filter(|(_, &h)| h) {
                new_finished.push(extend(c, c.score / norm));
            }
        }
        // Next running beams: the best candidates that did not hit a stopping criterion.
        let mut order: Vec<(usize, f32)> = cands
            .iter()
            .zip(&hits)
            .enumerate()
            .map(|(i, (c, &h))| (i, if h { c.score + NEG } else { c.score }))
            .collect();
        order.sort_by(|x, y| desc(x.1, y.1).then(x.0.cmp(&y.0)));
        let running: Vec<Beam> = order[..beams]
            .iter()
            .map(|&(i, s)| extend(&cands[i], s))
            .collect();
        item.running = running;
        item.finished.extend(new_finished);
        item.finished.sort_by(|x, y| desc(x.score, y.score));
        item.finished.truncate(beams);
        hits.iter().all(|&h| h)
    }

    /// [`Self::advance`] under phrase constraints ([`constraints`]): an eos candidate among the
    /// top `beams` finishes only when its beam holds every phrase; the running beams are the best
    /// other candidates plus each beam's progress tokens, taken from the banks in turn. A beam
    /// that already holds every phrase offers its best token (transformers' `push_progress`) and
    /// finishes when that token is eos, so that it is not lost for a low score.
    fn advance_constrained(&self, item: &mut Item, rows: &[&[f32]], cands: Vec<Candidate>) -> bool {
        let beams = self.cfg.num_beams;
        let phrases = &self.cfg.force_words_ids;
        let full = item.finished.len() == beams && self.cfg.early_stopping == EarlyStopping::Always;
        let open = item.improvable && !full;
        let norm = (self.cur_len as f32).powf(self.cfg.length_penalty as f32);
        let extend = |c: &Candidate| {
            let mut seq = item.running[c.beam].seq.clone();
            seq.push(c.token);
            seq
        };
        let ended = |c: &Candidate| Beam {
            seq: extend(c),
            score: c.score / norm,
            parent: c.beam,
            progress: None,
        };
        let progress: Vec<Progress> = item
            .running
            .iter()
            .map(|b| b.progress_in(phrases))
            .collect();
        let mut new_finished: Vec<Beam> = Vec::new();
        // Candidates that stay running, with their progress; a sequence is its beam and token.
        let mut pool: Vec<(Candidate, Progress)> = Vec::new();
        let mut fallback = item.fallback.take();
        for (rank, c) in cands.iter().enumerate() {
            if self.ctx.eos.contains(&c.token) {
                if rank >= beams {
                    continue;
                }
                if progress[c.beam].completed() {
                    if open {
                        new_finished.push(ended(c));
                    }
                } else {
                    // The one that got furthest (at the length limit: the running beams, as
                    // transformers' `finalize` returns them), the best of those.
                    let done = ended(c);
                    let better = |f: &Beam| (f.seq.len(), f.score) < (done.seq.len(), done.score);
                    if fallback.as_ref().is_none_or(better) {
                        fallback = Some(done);
                    }
                }
            } else if pool.len() < beams {
                pool.push((*c, progress[c.beam].after(c.token, phrases)));
            }
        }
        item.fallback = fallback;
        for (b, (beam, p)) in item.running.iter().zip(&progress).enumerate() {
            if beam.score <= NEG / 2.0 {
                continue;
            }
            let tokens = match p.completed() {
                true => vec![argmax(rows[b]) as u32],
                false => p.advance_tokens(phrases),
            };
            for token in tokens {
                let score = beam.score + rows[b].get(token as usize).copied().unwrap_or(NEG);
                if !score.is_finite() || score <= NEG / 2.0 {
                    continue;
                }
                let c = Candidate {
                    beam: b,
                    token,
                    score,
                };
                let same = |x: &Candidate| x.beam == b && x.token == token;
                if self.ctx.eos.contains(&token) {
                    let known = new_finished
                        .iter()
                        .any(|f| f.parent == b && f.seq.last() == Some(&token));
                    if p.completed() && open && !known {
                        new_finished.push(ended(&c));
                    }
                } else if !pool.iter().any(|(x, _)| same(x)) {
                    pool.push((c, p.after(token, phrases)));
                }
            }
        }
        // Best first within a bank, then the banks in turn.
        pool.sort_by(|x, y| desc(x.0.score, y.0.score));
        let banks: Vec<usize> = pool.iter().map(|(_, p)| p.bank(phrases)).collect();
        let mut running: Vec<Beam> = constraints::bank_order(&banks)
            .into_iter()
            .take(beams)
            .map(|i| Beam {
                seq: extend(&pool[i].0),
                score: pool[i].0.score,
                parent: pool[i].0.beam,
                progress: Some(pool[i].1.clone()),
            })
            .collect();
        // Fewer live candidates than beams (a tiny vocabulary): pad with dead copies.
        while running.len() < beams {
            let mut dead = running
                .last()
                .cloned()
                .unwrap_or_else(|| item.running[0].clone());
            dead.score = NEG;
            running.push(dead);
        }
        item.running = running;
        item.finished.extend(new_finished);
        item.finished.sort_by(|x, y| desc(x.score, y.score));
        item.finished.truncate(beams);
        self.cur_len + 1 >= self.ctx.max_length
    }

    /// After the step (`cur_len` already counts the new token): whether the item can still
    /// improve on its finished hypotheses (transformers' early-stopping heuristic) or is done.
    pub(super) fn settle(&self, item: &mut Item) {
        let beams = self.cfg.num_beams;
        let lp = self.cfg.length_penalty as f32;
        let best_len = if self.cfg.early_stopping == EarlyStopping::Never && lp > 0.0 {
            self.ctx.max_length - 1
        } else {
            self.cur_len - 1
        };
        let best_running = item.running.iter().map(|b| b.score).fold(NEG, f32::max);
        let best_possible = best_running / (best_len as f32).powf(lp);
        let worst_finished = if item.finished.len() == beams {
            item.finished
                .iter()
                .map(|h| h.score)
                .fold(f32::INFINITY, f32::min)
        } else {
            NEG
        };
        item.improvable &= best_possible > worst_finished;
        let full = item.finished.len() == beams && self.cfg.early_stopping == EarlyStopping::Always;
        item.done = !item.improvable || full;
    }
}

pub(super) fn new_item(beams: usize, start: u32) -> Item {
    Item {
        running: (0..beams)
            .map(|k| Beam {
                seq: vec![start],
                score: if k == 0 { 0.0 } else { NEG },
                parent: k,
                progress: None,
            })
            .collect(),
        finished: Vec::new(),
        fallback: None,
        improvable: true,
        done: false,
    }
}

/// The best hypothesis of a finished item, with the next best as alternatives: finished
/// hypotheses best first, then running beams when too few finished.
pub(super) fn best(item: Item, cfg: &GenerationConfig, ctx: &Context) -> Hypothesis {
    let finish_beam = |h: Beam| {
        let eos = h.seq.last().is_some_and(|t| ctx.eos.contains(t)) && h.seq.len() > 1;
        finish(h.seq, h.score, eos)
    };
    let mut ranked = ranked(item, cfg)
        .into_iter()
        .take(cfg.num_return_sequences)
        .map(finish_beam);
    let mut best = ranked
        .next()
        .unwrap_or_else(|| finish(vec![ctx.start], NEG, false));
    best.alternatives = ranked.collect();
    best
}

/// The hypotheses of a finished item, best first: the finished ones, then the running beams.
/// Under phrase constraints, running beams that hold every phrase compete with the finished ones
/// on their length-penalized score (transformers' `finalize`), before those that do not.
fn ranked(item: Item, cfg: &GenerationConfig) -> Vec<Beam> {
    let phrases = &cfg.force_words_ids;
    if phrases.is_empty() {
        return item.finished.into_iter().chain(item.running).collect();
    }
    let lp = cfg.length_penalty as f32;
    let (holding, other): (Vec<Beam>, Vec<Beam>) = item
        .running
        .into_iter()
        .filter(|b| b.score > NEG / 2.0)
        .partition(|b| b.progress_in(phrases).completed());
    let mut done: Vec<Beam> = item.finished;
    done.extend(holding.into_iter().map(|mut b| {
        b.score /= ((b.seq.len() - 1) as f32).powf(lp);
        b
    }));
    done.sort_by(|x, y| desc(x.score, y.score));
    // None holds every phrase: the hypotheses that got furthest, the best of those first (at the
    // length limit the running beams, as transformers' `finalize` returns them).
    let mut rest: Vec<Beam> = other
        .into_iter()
        .map(|mut b| {
            b.score /= ((b.seq.len() - 1) as f32).powf(lp);
            b
        })
        .chain(item.fallback)
        .collect();
    rest.sort_by(|x, y| y.seq.len().cmp(&x.seq.len()).then(desc(x.score, y.score)));
    done.extend(rest);
    done
}
