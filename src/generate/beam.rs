//! Beam search following transformers' (≥ 4.50) vectorized implementation, item by item:
//! top `2 × beams` continuations by accumulated log-probability, finished hypotheses scored with
//! `sum_logprobs / generated_len ^ length_penalty`, and the same early-stopping heuristic.

use std::cmp::Ordering;

use super::processors::{log_softmax_in_place, top_k};
use super::{finish, Context, EarlyStopping, GenerateError, GenerationConfig, Hypothesis};
use crate::models::StepDecoder;

/// transformers' stand-in for "impossible" scores.
const NEG: f32 = -1.0e9;

#[derive(Debug, Clone)]
struct Beam {
    seq: Vec<u32>,
    score: f32,
    /// The running beam (index within the item) this one extends.
    parent: usize,
}

#[derive(Debug)]
struct Item {
    running: Vec<Beam>,
    /// Finished hypotheses, best first, at most `num_beams`.
    finished: Vec<Beam>,
    improvable: bool,
    done: bool,
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

/// The `k` best continuations of an item's beams, best first (ties: lower flat index first).
fn top_continuations(rows: &[&[f32]], running: &[Beam], k: usize) -> Vec<Candidate> {
    let mut all: Vec<Candidate> = Vec::with_capacity(k * rows.len());
    for (beam, (row, b)) in rows.iter().zip(running).enumerate() {
        all.extend(top_k(row, k).into_iter().map(|t| Candidate {
            beam,
            token: t,
            score: b.score + row[t as usize],
        }));
    }
    all.sort_by(|x, y| desc(x.score, y.score).then((x.beam, x.token).cmp(&(y.beam, y.token))));
    all.truncate(k);
    all
}

/// What every item's step needs to know.
struct Step<'a> {
    cfg: &'a GenerationConfig,
    ctx: &'a Context,
    vocab: usize,
    /// Continuations considered per item (`2 × beams`, more with several eos ids).
    keep: usize,
    cur_len: usize,
}

impl Step<'_> {
    /// Advances one item by one token: scores its beams' rows (`block`, `beams × vocab`), adds
    /// the candidates that finished, and keeps the best running ones. Returns whether every
    /// candidate hit a stopping criterion.
    fn advance(&self, item: &mut Item, block: &mut [f32]) -> bool {
        let beams = self.cfg.num_beams;
        for (row, beam) in block.chunks_mut(self.vocab).zip(&item.running) {
            log_softmax_in_place(row);
            self.ctx.processors.apply(&beam.seq, row);
        }
        let rows: Vec<&[f32]> = block.chunks(self.vocab).collect();
        let cands = top_continuations(&rows, &item.running, self.keep);
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

    /// After the step (`cur_len` already counts the new token): whether the item can still
    /// improve on its finished hypotheses (transformers' early-stopping heuristic) or is done.
    fn settle(&self, item: &mut Item) {
        let beams = self.cfg.num_beams;
        let lp = self.cfg.length_penalty as f32;
        let best_len = if self.cfg.early_stopping == EarlyStopping::Never && lp > 0.0 {
            self.ctx.max_length - 1
        } else {
            self.cur_len - 1
        };
        let best_possible = item.running[0].score / (best_len as f32).powf(lp);
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

fn new_item(beams: usize, start: u32) -> Item {
    Item {
        running: (0..beams)
            .map(|k| Beam {
                seq: vec![start],
                score: if k == 0 { 0.0 } else { NEG },
                parent: k,
            })
            .collect(),
        finished: Vec::new(),
        improvable: true,
        done: false,
    }
}

pub(super) fn search(
    decoder: &mut dyn StepDecoder,
    batch: usize,
    cfg: &GenerationConfig,
    ctx: &Context,
) -> Result<Vec<Hypothesis>, GenerateError> {
    let beams = cfg.num_beams;
    let mut step = Step {
        cfg,
        ctx,
        vocab: decoder.vocab_size(),
        keep: 2.max(1 + ctx.eos.len()) * beams,
        cur_len: 1,
    };
    let mut items: Vec<Item> = (0..batch).map(|_| new_item(beams, ctx.start)).collect();
    let expand: Vec<u32> = (0..batch as u32)
        .flat_map(|b| std::iter::repeat_n(b, beams))
        .collect();
    decoder.select_rows(&expand)?;
    let mut active: Vec<usize> = (0..batch).collect();
    while !active.is_empty() {
        let last: Vec<u32> = active
            .iter()
            .flat_map(|&b| {
                items[b]
                    .running
                    .iter()
                    .map(|r| *r.seq.last().unwrap_or(&ctx.start))
            })
            .collect();
        let mut logits = decoder.step(&last)?;
        let block = beams * step.vocab;
        let mut all_hit = true;
        for (pos, &b) in active.iter().enumerate() {
            let rows = &mut logits[pos * block..(pos + 1) * block];
            all_hit &= step.advance(&mut items[b], rows);
        }
        step.cur_len += 1;
        let mut rows = Vec::new();
        let mut still = Vec::new();
        for (pos, &b) in active.iter().enumerate() {
            let item = &mut items[b];
            step.settle(item);
            if !item.done {
                still.push(b);
                rows.extend(item.running.iter().map(|r| (pos * beams + r.parent) as u32));
            }
        }
        if all_hit || still.is_empty() {
            break;
        }
        decoder.select_rows(&rows)?;
        active = still;
    }
    let finish_beam = |h: Beam| {
        let eos = h.seq.last().is_some_and(|t| ctx.eos.contains(t)) && h.seq.len() > 1;
        finish(h.seq, h.score, eos)
    };
    Ok(items
        .into_iter()
        .map(|item| {
            // Finished hypotheses best first, then running beams when too few finished.
            let mut ranked = item
                .finished
                .into_iter()
                .chain(item.running)
                .take(cfg.num_return_sequences)
                .map(finish_beam);
            let mut best = ranked
                .next()
                .unwrap_or_else(|| finish(vec![ctx.start], NEG, false));
            best.alternatives = ranked.collect();
            best
        })
        .collect())
}
