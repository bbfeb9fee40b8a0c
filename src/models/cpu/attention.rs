//! The CPU f32 attention kernel behind [`crate::models::attention::multi_head`] and the caches:
//! plain slices in, a plain `Vec` out.
//!
//! Keys are stored channel-major (for each batch row, channel `c` of all positions is contiguous),
//! so one head's scores against all keys are sums of scaled key rows, vectorized across keys with
//! no horizontal reductions; values are position-major, so the weighted sum of one head's values
//! streams through them in order. Both are read in place, whatever their batch row order (a row
//! map lets beams share cross-attention keys/values).

use rayon::prelude::*;

/// Keys or values of `rows` stored rows: channel `c` (head `c / Dh`, lane `c % Dh`) of position
/// `j` of stored row `r` is at `data[r * row_stride + j * pos_stride + c * chan_stride]`. Batch
/// row `b` reads stored row `map[b]`, or `b` without a map, from its position `starts[b]` (0
/// without starts: rows that joined a running batch later have nothing before their start).
#[derive(Debug, Clone, Copy)]
pub(in crate::models) struct Seq<'a> {
    data: &'a [f32],
    rows: usize,
    /// Positions stored per row (a row attends to those from its start).
    pub(in crate::models) len: usize,
    row_stride: usize,
    pos_stride: usize,
    chan_stride: usize,
    map: Option<&'a [u32]>,
    starts: Option<&'a [u32]>,
}

impl<'a> Seq<'a> {
    /// Keys `(rows, D, cap)`: `len` of `cap` positions filled in every channel.
    pub(in crate::models) fn keys(
        data: &'a [f32],
        (rows, len, cap, dim): (usize, usize, usize, usize),
        map: Option<&'a [u32]>,
    ) -> Self {
        Self {
            data,
            rows,
            len,
            row_stride: dim * cap,
            pos_stride: 1,
            chan_stride: cap,
            map,
            starts: None,
        }
    }

    /// Values `(rows, cap, D)`: the first `len` of `cap` positions filled.
    pub(in crate::models) fn values(
        data: &'a [f32],
        (rows, len, cap, dim): (usize, usize, usize, usize),
        map: Option<&'a [u32]>,
    ) -> Self {
        Self {
            data,
            rows,
            len,
            row_stride: cap * dim,
            pos_stride: dim,
            chan_stride: 1,
            map,
            starts: None,
        }
    }

    /// The same view, batch row `b` attending only to positions `starts[b]..len`.
    pub(in crate::models) fn with_starts(self, starts: Option<&'a [u32]>) -> Self {
        Self { starts, ..self }
    }

    /// First position batch row `b` attends to.
    fn start(&self, b: usize) -> usize {
        self.starts.map_or(0, |s| (s[b] as usize).min(self.len))
    }

    /// Elements of one row that are read: up to the last channel of the last position.
    fn extent(&self, dim: usize) -> usize {
        if self.len == 0 || dim == 0 {
            0
        } else {
            (self.len - 1) * self.pos_stride + (dim - 1) * self.chan_stride + 1
        }
    }

    /// Checks that `batch` rows of width `dim` can be read.
    pub(in crate::models) fn check(&self, batch: usize, dim: usize) -> Result<(), String> {
        let served = self.map.map_or(self.rows, <[u32]>::len);
        let in_range = self
            .map
            .is_none_or(|m| m.iter().all(|&r| (r as usize) < self.rows))
            && self.starts.is_none_or(|s| s.len() == batch);
        let extent = self.extent(dim);
        let fits = self.rows == 0
            || (extent <= self.row_stride
                && (self.rows - 1) * self.row_stride + extent <= self.data.len());
        if served != batch || !in_range || !fits {
            return Err(format!(
                "attention: {batch} query rows against keys/values of {served} rows ({} stored, \
                 {} positions, width {dim})",
                self.rows, self.len
            ));
        }
        Ok(())
    }

    /// The elements of batch row `b` from its start position.
    fn row(&self, b: usize, dim: usize) -> &'a [f32] {
        let start = self.map.map_or(b, |m| m[b] as usize) * self.row_stride;
        &self.data[start + self.start(b) * self.pos_stride..start + self.extent(dim)]
    }
}

/// An additive bias `(B, H, Tq, Tk)` given by strides (zero where it broadcasts).
#[derive(Debug, Clone, Copy)]
pub(in crate::models) struct Bias<'a> {
    pub(in crate::models) data: &'a [f32],
    pub(in crate::models) strides: [usize; 4],
}

impl Bias<'_> {
    /// Adds row `(b, h, i)` of the bias, from key `from` on, to `scores`.
    fn add_to(&self, (b, h, i): (usize, usize, usize), from: usize, scores: &mut [f32]) {
        let [sb, sh, sq, sk] = self.strides;
        let start = b * sb + h * sh + i * sq + from * sk;
        if sk == 1 {
            let row = &self.data[start..start + scores.len()];
            scores.iter_mut().zip(row).for_each(|(s, &x)| *s += x);
        } else {
            for (j, s) in scores.iter_mut().enumerate() {
                *s += self.data[start + j * sk];
            }
        }
    }
}

/// Query rows below this much work (multiply-adds) run on the calling thread.
const SEQUENTIAL_WORK: usize = 1 << 15;
/// Work per parallel task, at least.
const TASK_WORK: usize = 1 << 15;

/// `softmax(q kᵀ + bias) v` for every batch row and head: `q` is `(B, Tq, D)` row-major (scaled
/// already) with `D = heads · Dh`, keys from `keys` (channel-major), values from `values`
/// (position-major); returns `(B, Tq, D)`. The caller has checked the views with
/// [`Seq::check`]. Each score row is a standard softmax: subtract the row maximum, exponentiate,
/// divide by the sum. Query rows run in parallel when there is enough work.
pub(in crate::models) fn attend_rows(
    q: &[f32],
    (tq, dim, heads): (usize, usize, usize),
    keys: Seq,
    values: Seq,
    bias: Option<Bias>,
) -> Vec<f32> {
    let mut out = vec![0f32; q.len()];
    if q.is_empty() {
        return out;
    }
    let job = RowJob {
        q,
        tq,
        dim,
        heads,
        keys,
        values,
        bias,
    };
    let per_block = 2 * dim * keys.len.max(1) * QUERY_BLOCK;
    let block = dim * QUERY_BLOCK;
    if per_block * (q.len() / block) < SEQUENTIAL_WORK {
        let mut scores = Vec::new();
        for (n, out_rows) in out.chunks_mut(block).enumerate() {
            job.run(n * QUERY_BLOCK, out_rows, &mut scores);
        }
    } else {
        out.par_chunks_mut(block)
            .enumerate()
            .with_min_len(TASK_WORK.div_ceil(per_block))
            .for_each_init(Vec::new, |scores, (n, out_rows)| {
                job.run(n * QUERY_BLOCK, out_rows, scores)
            });
    }
    out
}

/// Query rows of one batch row whose scores are computed together: each key loaded serves all
/// of them (the encoder's self-attention has hundreds of queries per row).
const QUERY_BLOCK: usize = 4;

/// The inputs of [`attend_rows`], shared by its query rows.
#[derive(Clone, Copy)]
struct RowJob<'a> {
    q: &'a [f32],
    tq: usize,
    dim: usize,
    heads: usize,
    keys: Seq<'a>,
    values: Seq<'a>,
    bias: Option<Bias<'a>>,
}

impl RowJob<'_> {
    /// Query rows `r0..` (as many as `out_rows` holds, at most [`QUERY_BLOCK`]) into
    /// `out_rows`, all heads; `scores` is scratch.
    fn run(&self, r0: usize, out_rows: &mut [f32], scores: &mut Vec<f32>) {
        #[cfg(target_arch = "x86_64")]
        {
            if super::isa::Isa::active().avx2() {
                // SAFETY: the active kernels include AVX2 + FMA, which `Isa::active` checked the CPU for, `run_avx2`'s whole contract.
                return unsafe { self.run_avx2(r0, out_rows, scores) };
            }
        }
        self.run_generic(r0, out_rows, scores)
    }

    /// [`Self::run_generic`] compiled for AVX2 (its loops vectorize 8 lanes wide).
    ///
    /// # Safety
    /// The CPU must support AVX2 and FMA. Nothing else: the body is safe code (bounds-checked
    /// slices), only compiled with those instructions enabled.
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2,fma")]
    unsafe fn run_avx2(&self, r0: usize, out_rows: &mut [f32], scores: &mut Vec<f32>) {
        self.run_generic(r0, out_rows, scores)
    }

    /// The rows in runs that share a batch row: a full block at once, the others one by one.
    #[inline(always)]
    fn run_generic(&self, r0: usize, out_rows: &mut [f32], scores: &mut Vec<f32>) {
        let n = out_rows.len() / self.dim;
        let same_row = n == QUERY_BLOCK && r0 / self.tq == (r0 + n - 1) / self.tq;
        if same_row {
            return self.rows::<QUERY_BLOCK>(r0, out_rows, scores);
        }
        for (k, out_row) in out_rows.chunks_exact_mut(self.dim).enumerate() {
            self.rows::<1>(r0 + k, out_row, scores);
        }
    }

    /// `Q` query rows from `r0`, all of batch row `r0 / tq`. Every score is the same sum in
    /// the same order whatever `Q`, so a row's result does not depend on its neighbours.
    #[inline(always)]
    fn rows<const Q: usize>(&self, r0: usize, out_rows: &mut [f32], scores: &mut Vec<f32>) {
        let dim = self.dim;
        let heads = self.heads;
        let dh = dim / heads;
        let b = r0 / self.tq;
        let from = self.keys.start(b);
        let len = self.keys.len - from;
        let (kt, v) = (self.keys.row(b, dim), self.values.row(b, dim));
        // The scores of query k, head h start at `(k · heads + h) · len`.
        scores.clear();
        scores.resize(Q * heads * len, 0.0);
        if len == 0 {
            out_rows.fill(0.0);
            return;
        }
        let cap = self.keys.chan_stride;
        for h in 0..heads {
            let qs: [&[f32]; Q] = std::array::from_fn(|k| {
                let at = (r0 + k) * dim + h * dh;
                &self.q[at..at + dh]
            });
            let spans: [usize; Q] = std::array::from_fn(|k| (k * heads + h) * len);
            head_scores(qs, (&kt[h * dh * cap..], cap), (scores, spans, len));
            for (k, &at) in spans.iter().enumerate() {
                let s = &mut scores[at..at + len];
                if let Some(bias) = &self.bias {
                    bias.add_to((b, h, (r0 + k) % self.tq), from, s);
                }
                softmax_in_place(s);
            }
        }
        let stride = self.values.pos_stride;
        let outs = out_rows.chunks_exact_mut(dh);
        for (n, (p, o)) in scores.chunks_exact(len).zip(outs).enumerate() {
            let h = n % heads;
            if dh == 64 {
                let o: &mut [f32; 64] = o.try_into().unwrap();
                weighted_sum_64(p, &v[h * dh..], stride, o);
            } else {
                weighted_sum(p, &v[h * dh..], stride, o);
            }
        }
    }
}

/// One head's scores of `Q` queries, `out[spans[k] + j] = Σ_d qs[k][d] · kt[d · cap + j]` for
/// `j < len`: blocks of keys kept in registers (64 keys for one query, 16 for a block of
/// queries, then 8), then one key at a time. Each sum runs over `d` in order from 0, whatever
/// the block.
#[inline(always)]
fn head_scores<const Q: usize>(
    qs: [&[f32]; Q],
    (kt, cap): (&[f32], usize),
    (out, spans, len): (&mut [f32], [usize; Q], usize),
) {
    let mut j = 0;
    if Q == 1 {
        while j + 64 <= len {
            key_block::<Q, 8>(qs, (&kt[j..], cap), out, spans.map(|s| s + j));
            j += 64;
        }
    }
    while j + 16 <= len {
        key_block::<Q, 2>(qs, (&kt[j..], cap), out, spans.map(|s| s + j));
        j += 16;
    }
    if j + 8 <= len {
        key_block::<Q, 1>(qs, (&kt[j..], cap), out, spans.map(|s| s + j));
        j += 8;
    }
    for (q, at) in qs.iter().zip(spans) {
        for jj in j..len {
            out[at + jj] = q
                .iter()
                .enumerate()
                .fold(0.0, |acc, (d, &a)| acc + a * kt[d * cap + jj]);
        }
    }
}

/// Scores of `Q` queries against `8 · C` consecutive keys, written at `out[at[k]..]`: `Q · C`
/// independent sums of 8 lanes in flight.
#[inline(always)]
fn key_block<const Q: usize, const C: usize>(
    qs: [&[f32]; Q],
    (kt, cap): (&[f32], usize),
    out: &mut [f32],
    at: [usize; Q],
) {
    let mut acc = [[[0f32; 8]; C]; Q];
    for d in 0..qs[0].len() {
        let k = &kt[d * cap..d * cap + 8 * C];
        for (q, acc) in qs.iter().zip(acc.iter_mut()) {
            let a = q[d];
            for (c, lanes) in acc.iter_mut().enumerate() {
                let k: &[f32; 8] = k[8 * c..8 * c + 8].try_into().unwrap();
                for l in 0..8 {
                    lanes[l] += a * k[l];
                }
            }
        }
    }
    for (acc, at) in acc.iter().zip(at) {
        for (c, lanes) in acc.iter().enumerate() {
            out[at + 8 * c..at + 8 * c + 8].copy_from_slice(lanes);
        }
    }
}

/// `out = Σ_j p[j] · v[j · stride ..][..64]`, accumulated in registers.
#[inline(always)]
fn weighted_sum_64(p: &[f32], v: &[f32], stride: usize, out: &mut [f32; 64]) {
    let mut acc = [0f32; 64];
    for (j, &pj) in p.iter().enumerate() {
        let vj: &[f32; 64] = v[j * stride..j * stride + 64].try_into().unwrap();
        for l in 0..64 {
            acc[l] += pj * vj[l];
        }
    }
    *out = acc;
}

/// `out = Σ_j p[j] · v[j · stride ..][..out.len()]`, any head width.
#[inline(always)]
fn weighted_sum(p: &[f32], v: &[f32], stride: usize, out: &mut [f32]) {
    out.fill(0.0);
    let n = out.len();
    for (j, &pj) in p.iter().enumerate() {
        axpy(pj, &v[j * stride..j * stride + n], out);
    }
}

/// `y += a · x`.
#[inline(always)]
fn axpy(a: f32, x: &[f32], y: &mut [f32]) {
    y.iter_mut().zip(x).for_each(|(y, &x)| *y += a * x);
}

/// `x ← exp(x - max) / Σ exp(x - max)`, the standard softmax. Element `j` is summed in lane
/// `j % 8`, the tail too, so masked positions at the end (exactly 0 after `exp`) leave the sum
/// bit for bit unchanged: a row padded to a longer batch gets the same weights as alone.
#[inline(always)]
pub(in crate::models) fn softmax_in_place(x: &mut [f32]) {
    let max = x
        .iter()
        .fold(f32::NEG_INFINITY, |m, &v| if v > m { v } else { m });
    x.iter_mut().for_each(|v| *v = exp(*v - max));
    let mut lanes = [0f32; 8];
    let chunks = x.chunks_exact(8);
    let tail = chunks.remainder();
    for c in chunks {
        for l in 0..8 {
            lanes[l] += c[l];
        }
    }
    for (l, &t) in tail.iter().enumerate() {
        lanes[l] += t;
    }
    let sum = lanes.iter().sum::<f32>();
    x.iter_mut().for_each(|v| *v /= sum);
}

/// `eˣ` for `x ≤ 0` (a score minus its row maximum), branch-free so that it vectorizes: within
/// 2 ulp of `f32::exp`, exactly 1 at 0, and exactly 0 below -87 (masked positions, which sit
/// near `f32::MIN`); NaN stays NaN.
#[inline(always)]
pub(in crate::models) fn exp(x: f32) -> f32 {
    const LOG2E: f32 = std::f32::consts::LOG2_E;
    // ln 2 split so that n · LN2_HI is exact for |n| < 2¹² (Cody–Waite).
    const LN2_HI: f32 = 0.693_359_4;
    const LN2_LO: f32 = -2.121_944_4e-4;
    // Adding and subtracting 1.5 · 2²³ rounds to the nearest integer.
    const ROUND: f32 = 12_582_912.0;
    let xc = x.clamp(-87.0, 0.0);
    let n = (xc * LOG2E + ROUND) - ROUND;
    let r = (xc - n * LN2_HI) - n * LN2_LO;
    // exp(r) on |r| ≤ ln2 / 2, Taylor to degree 7.
    let p = 1.0 / 5040.0;
    let p = p * r + 1.0 / 720.0;
    let p = p * r + 1.0 / 120.0;
    let p = p * r + 1.0 / 24.0;
    let p = p * r + 1.0 / 6.0;
    let p = p * r + 0.5;
    let p = p * r + 1.0;
    let p = p * r + 1.0;
    let scale = f32::from_bits(((n as i32 + 127) << 23) as u32);
    if x < -87.0 {
        0.0
    } else if x.is_nan() {
        x
    } else {
        p * scale
    }
}
