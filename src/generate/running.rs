//! Decoding one step at a time over a batch whose inputs come and go (iteration-level
//! batching): inputs join between two steps with their own settings (length limits, processors,
//! length penalty), finished inputs leave at once, and each input's result is what it would be
//! alone. [`super::generate`] is this with every input admitted at the start.

use std::sync::Arc;

use super::beam::{self, Item};
use super::processors::argmax;
use super::{finish, log_prob, Context, GenerateError, GenerationConfig, Hypothesis, Processors};
use crate::models::pick::{PickSpec, Picked};
use crate::models::{SpecialTokens, StepDecoder, StepLogits};

/// One input's search.
enum Search {
    /// Greedy: the row's tokens so far (start included) and their log-probability.
    Greedy { seq: Vec<u32>, score: f32 },
    /// Beam search: the item and its decoder length so far (start included).
    Beam { item: Item, cur_len: usize },
}

/// One input in the batch: `beams` consecutive decoder rows.
struct Group<T> {
    ticket: T,
    cfg: Arc<GenerationConfig>,
    ctx: Arc<Context>,
    search: Search,
}

/// A batch being decoded, which takes inputs between steps. `T` is the caller's ticket for an
/// input, handed back with its result.
pub struct Running<'m, T> {
    decoder: Option<Box<dyn StepDecoder + 'm>>,
    groups: Vec<Group<T>>,
    beams: usize,
    special: SpecialTokens,
}

/// A finished input: its ticket and its result.
pub type Finished<T> = (T, Hypothesis);

/// Inputs that could not join, handed back with the reason; the batch is as it was.
#[derive(Debug)]
pub struct Rejected<T> {
    pub error: GenerateError,
    pub tickets: Vec<T>,
}

impl<'m, T> Running<'m, T> {
    /// An empty batch for inputs searched with `beams` beams (1: greedy); beam width is the one
    /// setting every input of a batch shares.
    pub fn new(beams: usize, special: SpecialTokens) -> Self {
        Self {
            decoder: None,
            groups: Vec::new(),
            beams: beams.max(1),
            special,
        }
    }

    /// Inputs in the batch.
    pub fn len(&self) -> usize {
        self.groups.len()
    }

    pub fn is_empty(&self) -> bool {
        self.groups.is_empty()
    }

    /// Decoder rows in the batch (inputs × beams).
    pub fn rows(&self) -> usize {
        self.groups.len() * self.beams
    }

    /// Beam width of the batch.
    pub fn beams(&self) -> usize {
        self.beams
    }

    /// The tickets of the inputs in the batch, in row order.
    pub fn tickets(&self) -> impl Iterator<Item = &T> {
        self.groups.iter().map(|g| &g.ticket)
    }

    /// Admits inputs whose decoder session has just been started on them, one row per input in
    /// `inputs`' order, all with `cfg`. They decode their first token at the next step.
    pub fn admit(
        &mut self,
        decoder: Box<dyn StepDecoder + 'm>,
        tickets: Vec<T>,
        cfg: Arc<GenerationConfig>,
    ) -> Result<(), Rejected<T>> {
        if let Err(error) = self.join_rows(decoder, tickets.len(), &cfg) {
            return Err(Rejected { error, tickets });
        }
        let Some(decoder) = self.decoder.as_deref() else {
            return Ok(());
        };
        let ctx = Arc::new(context(&cfg, &self.special, decoder));
        for ticket in tickets {
            let search = if self.beams > 1 {
                Search::Beam {
                    item: beam::new_item(self.beams, ctx.start),
                    cur_len: 1,
                }
            } else {
                Search::Greedy {
                    seq: vec![ctx.start],
                    score: 0.0,
                }
            };
            self.groups.push(Group {
                ticket,
                cfg: cfg.clone(),
                ctx: ctx.clone(),
                search,
            });
        }
        Ok(())
    }

    /// Checks `cfg` and adds `decoder`'s `n` rows (expanded to beams) to the batch's decoder.
    fn join_rows(
        &mut self,
        mut decoder: Box<dyn StepDecoder + 'm>,
        n: usize,
        cfg: &GenerationConfig,
    ) -> Result<(), GenerateError> {
        cfg.validate().map_err(GenerateError::Invalid)?;
        if cfg.num_beams != self.beams {
            return Err(GenerateError::Invalid(format!(
                "an input with {} beams cannot join a batch searched with {}",
                cfg.num_beams, self.beams
            )));
        }
        if n != decoder.rows() {
            return Err(GenerateError::Invalid(format!(
                "{n} inputs for a decoder of {} rows",
                decoder.rows()
            )));
        }
        if n == 0 {
            return Ok(());
        }
        if self.beams > 1 {
            let expand: Vec<u32> = (0..n as u32)
                .flat_map(|b| std::iter::repeat_n(b, self.beams))
                .collect();
            decoder.select_rows(&expand)?;
        }
        match &mut self.decoder {
            Some(running) => running.append(decoder)?,
            None => self.decoder = Some(decoder),
        }
        Ok(())
    }

    /// The tickets of every input, the batch emptied (when its decoder failed).
    pub fn into_tickets(self) -> Vec<T> {
        self.groups.into_iter().map(|g| g.ticket).collect()
    }

    /// Decodes one token for every input; returns the inputs that finished, which have left.
    pub fn step(&mut self) -> Result<Vec<Finished<T>>, GenerateError> {
        let Some(decoder) = self.decoder.as_mut() else {
            return Ok(Vec::new());
        };
        let start = self.special.decoder_start;
        let mut last = Vec::with_capacity(self.groups.len() * self.beams);
        for g in &self.groups {
            match &g.search {
                Search::Greedy { seq, .. } => last.push(*seq.last().unwrap_or(&start)),
                Search::Beam { item, .. } => item.last_tokens(start, &mut last),
            }
        }
        let vocab = decoder.vocab_size();
        let spec = match decoder.picks_on_device() {
            true => pick_spec(&self.groups, vocab),
            false => None,
        };
        let mut logits = match &spec {
            Some(spec) => decoder.step_pick(&last, spec)?,
            None => StepLogits::Full(decoder.step(&last)?),
        };
        let block = self.beams * vocab;
        let mut keep_rows = Vec::with_capacity(last.len());
        let mut done = Vec::with_capacity(self.groups.len());
        for (pos, g) in self.groups.iter_mut().enumerate() {
            let finished = match &mut logits {
                StepLogits::Full(all) => {
                    advance(g, &mut all[pos * block..(pos + 1) * block], vocab)
                }
                StepLogits::Picked(p) => advance_picked(g, p, pos * self.beams, vocab),
            };
            if !finished {
                match &g.search {
                    Search::Greedy { .. } => keep_rows.push(pos as u32),
                    Search::Beam { item, .. } => keep_rows.extend(item.parent_rows(pos)),
                }
            }
            done.push(finished);
        }
        let mut out = Vec::new();
        let mut still = Vec::with_capacity(self.groups.len());
        for (g, finished) in std::mem::take(&mut self.groups).into_iter().zip(done) {
            if finished {
                out.push(conclude(g));
            } else {
                still.push(g);
            }
        }
        self.groups = still;
        self.keep(&keep_rows)?;
        Ok(out)
    }

    /// Removes the inputs whose ticket fails `keep` (their caller has gone); returns them.
    pub fn retain(&mut self, keep: impl Fn(&T) -> bool) -> Result<Vec<T>, GenerateError> {
        if self.groups.iter().all(|g| keep(&g.ticket)) {
            return Ok(Vec::new());
        }
        let beams = self.beams as u32;
        let mut rows = Vec::new();
        let mut gone = Vec::new();
        let mut still = Vec::new();
        for (pos, g) in std::mem::take(&mut self.groups).into_iter().enumerate() {
            if keep(&g.ticket) {
                rows.extend((0..beams).map(|k| pos as u32 * beams + k));
                still.push(g);
            } else {
                gone.push(g.ticket);
            }
        }
        self.groups = still;
        self.keep(&rows)?;
        Ok(gone)
    }

    /// Keeps decoder rows `rows`, or drops the decoder when no input is left.
    fn keep(&mut self, rows: &[u32]) -> Result<(), GenerateError> {
        if self.groups.is_empty() {
            self.decoder = None;
        } else if let Some(d) = self.decoder.as_mut() {
            d.select_rows(rows)?;
        }
        Ok(())
    }
}

/// What an input's search needs, from its settings and the model's position limit: a row
/// never runs past the model's position table (the start token sits at position 0, so a table
/// of `p` positions holds sequences of `p + 1` tokens).
fn context(cfg: &GenerationConfig, special: &SpecialTokens, decoder: &dyn StepDecoder) -> Context {
    let eos = if cfg.eos_token_ids.is_empty() {
        vec![special.eos]
    } else {
        cfg.eos_token_ids.clone()
    };
    let requested = cfg.effective_max_length();
    let max_length = decoder
        .max_positions()
        .map_or(requested, |p| requested.min(p + 1));
    Context {
        processors: Processors::new(cfg, &eos, max_length),
        max_length,
        start: special.decoder_start,
        eos,
    }
}

/// Advances one input by one token from its rows of logits; returns whether it finished.
fn advance<T>(g: &mut Group<T>, rows: &mut [f32], vocab: usize) -> bool {
    let ctx = &g.ctx;
    match &mut g.search {
        Search::Greedy { seq, score } => {
            ctx.processors.apply(seq, rows);
            let next = argmax(rows);
            *score += log_prob(rows, next);
            seq.push(next as u32);
            ctx.eos.contains(&(next as u32)) || seq.len() >= ctx.max_length
        }
        Search::Beam { item, cur_len } => {
            let step = beam::Step::new(&g.cfg, ctx, vocab, *cur_len);
            let all_hit = step.advance(item, rows);
            *cur_len += 1;
            beam::Step::new(&g.cfg, ctx, vocab, *cur_len).settle(item);
            all_hit || item.done
        }
    }
}

/// What a step needs when the decoder chooses tokens on its device ([`PickSpec`]): each row's
/// masks and enough tokens for greedy or beam search. `None` when an input needs its full rows
/// (a repetition penalty or renormalization rescales values; phrase constraints read tokens
/// outside the best ones).
fn pick_spec<T>(groups: &[Group<T>], vocab: usize) -> Option<PickSpec> {
    let mut spec = PickSpec {
        keep: 1,
        masked: Vec::new(),
        lse_after_masks: true,
    };
    let mut row = 0u32;
    let mut mask = |spec: &mut PickSpec, p: &Processors, seq: &[u32]| {
        p.for_each_masked(seq, |t| spec.masked.push((row, t)));
        row += 1;
    };
    for g in groups {
        let p = &g.ctx.processors;
        if !p.masks_only() || !g.cfg.force_words_ids.is_empty() {
            return None;
        }
        match &g.search {
            Search::Greedy { seq, .. } => mask(&mut spec, p, seq),
            Search::Beam { item, cur_len } => {
                // Beam scores are `log_softmax` of the raw row, masked afterwards.
                spec.lse_after_masks = false;
                let step = beam::Step::new(&g.cfg, &g.ctx, vocab, *cur_len);
                spec.keep = spec.keep.max(step.keep());
                item.sequences().for_each(|seq| mask(&mut spec, p, seq));
            }
        }
    }
    Some(spec)
}

/// [`advance`] from the tokens chosen on the device, rows from `first`.
fn advance_picked<T>(g: &mut Group<T>, picked: &Picked, first: usize, vocab: usize) -> bool {
    let ctx = &g.ctx;
    match &mut g.search {
        Search::Greedy { seq, score } => {
            let (next, log_prob) = match ctx.processors.forced(seq, vocab) {
                // The processed row is 0 there and -inf elsewhere.
                Some(t) => (t, 0.0),
                None => {
                    let (ids, values) = picked.row(first);
                    (ids[0], values[0] - picked.lse[first])
                }
            };
            *score += if log_prob.is_nan() {
                f32::NEG_INFINITY
            } else {
                log_prob
            };
            seq.push(next);
            ctx.eos.contains(&next) || seq.len() >= ctx.max_length
        }
        Search::Beam { item, cur_len } => {
            let step = beam::Step::new(&g.cfg, ctx, vocab, *cur_len);
            let tops: Vec<beam::Tops> = item
                .sequences()
                .enumerate()
                .map(|(b, seq)| beam_tops(ctx, picked, first + b, seq, (step.keep(), vocab)))
                .collect();
            let all_hit = step.advance_tops(item, &tops);
            *cur_len += 1;
            beam::Step::new(&g.cfg, ctx, vocab, *cur_len).settle(item);
            all_hit || item.done
        }
    }
}

/// Row `r`'s best `keep` tokens scored as the host scores them (`log_softmax`, then the
/// processors), with the `-inf` ones in id order as the host's top-k orders ties.
fn beam_tops(
    ctx: &Context,
    picked: &Picked,
    r: usize,
    seq: &[u32],
    (keep, vocab): (usize, usize),
) -> beam::Tops {
    let mut tops: beam::Tops = match ctx.processors.forced(seq, vocab) {
        Some(t) => vec![(t, 0.0)],
        None => {
            let (ids, values) = picked.row(r);
            ids.iter()
                .zip(values)
                .take(keep)
                .filter(|(_, v)| **v > f32::NEG_INFINITY)
                .map(|(&t, &v)| (t, v - picked.lse[r]))
                .collect()
        }
    };
    if tops.len() < keep {
        let rest = (0..vocab as u32)
            .filter(|t| !tops.iter().any(|(c, _)| c == t))
            .take(keep - tops.len())
            .collect::<Vec<_>>();
        tops.extend(rest.into_iter().map(|t| (t, f32::NEG_INFINITY)));
    }
    tops
}

/// The result of a finished input, with its length flags.
fn conclude<T>(g: Group<T>) -> Finished<T> {
    let max_length = g.ctx.max_length;
    let mut h = match g.search {
        Search::Greedy { seq, score } => {
            let ended = seq.len() > 1 && g.ctx.eos.contains(seq.last().unwrap_or(&g.ctx.start));
            finish(seq, score, ended)
        }
        Search::Beam { item, .. } => beam::best(item, &g.cfg, &g.ctx),
    };
    // Start token, generated tokens, and the eos that was cut off.
    let len = 1 + h.tokens.len() + usize::from(h.ended_with_eos);
    h.hit_length = len >= max_length;
    // Clamped to the model's positions below what the input asked for.
    h.truncated = h.hit_length && max_length < g.cfg.effective_max_length();
    (g.ticket, h)
}

/// A borrowed decoder as an owned one, for [`super::generate`]'s callers.
pub(super) struct Borrowed<'a>(pub &'a mut dyn StepDecoder);

impl StepDecoder for Borrowed<'_> {
    fn step(&mut self, tokens: &[u32]) -> candle_core::Result<Vec<f32>> {
        self.0.step(tokens)
    }
    fn picks_on_device(&self) -> bool {
        self.0.picks_on_device()
    }
    fn step_pick(&mut self, tokens: &[u32], spec: &PickSpec) -> candle_core::Result<StepLogits> {
        self.0.step_pick(tokens, spec)
    }
    fn select_rows(&mut self, rows: &[u32]) -> candle_core::Result<()> {
        self.0.select_rows(rows)
    }
    fn vocab_size(&self) -> usize {
        self.0.vocab_size()
    }
    fn max_positions(&self) -> Option<usize> {
        self.0.max_positions()
    }
    fn rows(&self) -> usize {
        self.0.rows()
    }
}
