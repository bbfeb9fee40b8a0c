//! The CPU stores behind the decoder's caches: keys channel-major `(slots, D, cap)` (as the
//! kernel reads them) and values `(slots, cap, D)`, in slots that batch rows reach through a row
//! map. Rows that finish only leave the map (nothing is copied), and rows that join a running
//! batch take the slots of rows that have left before the store grows: a batch that keeps
//! changing (continuous scheduling) moves no more memory per step than a fixed one.

use candle_core::{Result, Tensor};

use super::{cpu_f32, kernel_path};
use crate::models::cpu::attention::Seq;

/// Smallest capacity, in positions, of a self-attention cache.
const MIN_CAPACITY: usize = 16;

/// Slots of `slots` that no batch row reads.
fn free_slots(slots: usize, map: &[u32]) -> Vec<u32> {
    let mut used = vec![false; slots];
    map.iter().for_each(|&s| used[s as usize] = true);
    (0..slots as u32).filter(|&s| !used[s as usize]).collect()
}

/// Keys and values in slots; see the module documentation.
#[derive(Debug, Clone)]
struct Slots {
    k: Vec<f32>,
    v: Vec<f32>,
    slots: usize,
    dim: usize,
    /// Positions filled (per slot, the first `len` of `cap`).
    len: usize,
    cap: usize,
    /// The slot each batch row reads.
    map: Vec<u32>,
}

impl Slots {
    fn empty(rows: usize, dim: usize) -> Self {
        Self {
            k: Vec::new(),
            v: Vec::new(),
            slots: rows,
            dim,
            len: 0,
            cap: 0,
            map: (0..rows as u32).collect(),
        }
    }

    /// Views for the kernel, batch row `b` from position `starts[b]` on.
    fn views<'a>(&'a self, starts: Option<&'a [u32]>) -> (Seq<'a>, Seq<'a>) {
        let shape = (self.slots, self.len, self.cap, self.dim);
        (
            Seq::keys(&self.k, shape, Some(&self.map)).with_starts(starts),
            Seq::values(&self.v, shape, Some(&self.map)).with_starts(starts),
        )
    }

    /// Makes room for `slots` slots of `cap` positions, keeping the filled ones.
    fn reshape(&mut self, slots: usize, cap: usize) {
        let (dim, len) = (self.dim, self.len);
        if cap == self.cap {
            self.k.resize(slots * dim * cap, 0.0);
            self.v.resize(slots * cap * dim, 0.0);
        } else {
            let mut k = vec![0f32; slots * dim * cap];
            let mut v = vec![0f32; slots * cap * dim];
            for s in 0..self.slots.min(slots) {
                for c in 0..dim {
                    let (src, dst) = ((s * dim + c) * self.cap, (s * dim + c) * cap);
                    k[dst..dst + len].copy_from_slice(&self.k[src..src + len]);
                }
                let (src, dst) = (s * self.cap * dim, s * cap * dim);
                v[dst..dst + len * dim].copy_from_slice(&self.v[src..src + len * dim]);
            }
            (self.k, self.v) = (k, v);
        }
        (self.slots, self.cap) = (slots, cap);
    }

    /// `n` slots for new batch rows, appended to the map: free ones first, then new ones.
    fn take_slots(&mut self, n: usize) -> Vec<u32> {
        let mut got = free_slots(self.slots, &self.map);
        got.truncate(n);
        let grown = self.slots + (n - got.len());
        got.extend(self.slots as u32..grown as u32);
        if grown > self.slots {
            self.reshape(grown, self.cap);
        }
        self.map.extend_from_slice(&got);
        got
    }

    /// Writes `t` positions of row-major `(t, D)` keys and values at position `at` of `slot`.
    fn write(&mut self, slot: usize, at: usize, (k, v): (&[f32], &[f32])) {
        let (dim, cap) = (self.dim, self.cap);
        let k_slot = &mut self.k[slot * dim * cap..(slot + 1) * dim * cap];
        for (j, pos) in k.chunks_exact(dim).enumerate() {
            for (c, &x) in pos.iter().enumerate() {
                k_slot[c * cap + at + j] = x;
            }
        }
        let dst = slot * cap * dim + at * dim;
        self.v[dst..dst + v.len()].copy_from_slice(v);
    }
}

/// The self-attention cache of the CPU kernel path: the capacity doubles when full, so
/// appending a step copies only the new positions.
#[derive(Debug, Clone)]
pub(super) struct CpuKv {
    s: Slots,
    /// Buffers of a previous reordering, reused by the next one (beams reorder every step).
    spare: (Vec<f32>, Vec<f32>),
}

impl CpuKv {
    pub(super) fn new(rows: usize, dim: usize) -> Self {
        Self {
            s: Slots::empty(rows, dim),
            spare: (Vec::new(), Vec::new()),
        }
    }

    pub(super) fn len(&self) -> usize {
        self.s.len
    }

    /// Appends `(B, T, D)` keys and values, batch row `b` into its slot.
    pub(super) fn push(&mut self, k: &Tensor, v: &Tensor) -> Result<()> {
        let (b, t, dim) = k.dims3()?;
        if (b, dim) != (self.s.map.len(), self.s.dim) || v.dims3()? != (b, t, dim) {
            candle_core::bail!(
                "KV cache holds {} rows of width {}, got keys {:?} and values {:?}",
                self.s.map.len(),
                self.s.dim,
                k.dims(),
                v.dims()
            );
        }
        if t * dim == 0 {
            return Ok(());
        }
        let len = self.s.len;
        if len + t > self.s.cap {
            let cap = (len + t).max(2 * self.s.cap).max(MIN_CAPACITY);
            self.s.reshape(self.s.slots, cap);
            // The spares no longer match the slot size; drop them rather than keep stale memory.
            self.spare = (Vec::new(), Vec::new());
        }
        let (k, v) = (k.contiguous()?, v.contiguous()?);
        let (ks, vs) = (k.storage_and_layout(), v.storage_and_layout());
        let (new_k, new_v) = (cpu_f32(&ks.0, ks.1)?, cpu_f32(&vs.0, vs.1)?);
        let rows = new_k.chunks_exact(t * dim).zip(new_v.chunks_exact(t * dim));
        for (r, kv) in rows.take(b).enumerate() {
            let slot = self.s.map[r] as usize;
            self.s.write(slot, len, kv);
        }
        self.s.len += t;
        Ok(())
    }

    /// Keeps batch rows `rows`, in that order: by the row map alone when no row repeats
    /// (finished rows leave, their slots free), into new buffers when rows repeat (beams).
    pub(super) fn select_rows(&mut self, rows: &[u32]) -> Result<()> {
        let current = self.s.map.len();
        if let Some(&bad) = rows.iter().find(|&&r| r as usize >= current) {
            candle_core::bail!("KV cache has {current} rows, asked for row {bad}");
        }
        let mut seen = vec![false; current];
        let repeats = rows
            .iter()
            .any(|&r| std::mem::replace(&mut seen[r as usize], true));
        if !repeats {
            self.s.map = rows.iter().map(|&r| self.s.map[r as usize]).collect();
            return Ok(());
        }
        // Into the spare buffers, which need no allocation or zeroing once grown. Positions
        // past `len` are never read, so only the filled parts are copied: for the keys one span
        // per slot (at most twice the filled part past the minimum capacity) rather than one
        // small copy per channel.
        let (dim, cap, len) = (self.s.dim, self.s.cap, self.s.len);
        let stride = cap * dim;
        let (mut k, mut v) = std::mem::take(&mut self.spare);
        k.resize(rows.len() * stride, 0.0);
        v.resize(rows.len() * stride, 0.0);
        let k_span = if len == 0 { 0 } else { (dim - 1) * cap + len };
        let v_span = len * dim;
        for (dst, &r) in rows.iter().enumerate() {
            let (src, dst) = (self.s.map[r as usize] as usize * stride, dst * stride);
            k[dst..dst + k_span].copy_from_slice(&self.s.k[src..src + k_span]);
            v[dst..dst + v_span].copy_from_slice(&self.s.v[src..src + v_span]);
        }
        self.spare = (
            std::mem::replace(&mut self.s.k, k),
            std::mem::replace(&mut self.s.v, v),
        );
        self.s.slots = rows.len();
        self.s.map = (0..rows.len() as u32).collect();
        Ok(())
    }

    /// Adds `n` batch rows with no positions of their own yet, in free slots where there are.
    pub(super) fn add_rows(&mut self, n: usize) {
        self.s.take_slots(n);
    }

    /// Drops the first `m` filled positions of every slot a row reads, keeping the capacity.
    pub(super) fn drop_front(&mut self, m: usize) {
        let m = m.min(self.s.len);
        if m == 0 {
            return;
        }
        let (cap, dim, keep) = (self.s.cap, self.s.dim, self.s.len - m);
        let mut slots = self.s.map.clone();
        slots.sort_unstable();
        slots.dedup();
        for s in slots.into_iter().map(|s| s as usize) {
            for c in 0..dim {
                let run = (s * dim + c) * cap;
                self.s.k.copy_within(run + m..run + m + keep, run);
            }
            let row = s * cap * dim;
            self.s
                .v
                .copy_within(row + m * dim..row + (m + keep) * dim, row);
        }
        self.s.len = keep;
    }

    /// Attends `q` `(B, T, D)` to the cached positions (row `b` from `starts[b]` on).
    pub(super) fn attend(
        &self,
        q: &Tensor,
        heads: usize,
        bias: Option<&Tensor>,
        starts: Option<&[u32]>,
    ) -> Result<Tensor> {
        let (keys, values) = self.s.views(starts);
        kernel_path(q, keys, values, heads, bias)
    }
}

/// Cross-attention keys and values of the CPU kernel path, computed once per input. Rows
/// select by the map alone (beams share slots); inputs that join take free slots, padded with
/// zeros to the store's source length, which the caller's padding mask hides.
#[derive(Debug, Clone)]
pub(super) struct CpuCross {
    s: Slots,
}

impl CpuCross {
    /// From `(B, S, D)` keys and values.
    pub(super) fn new(k: &Tensor, v: &Tensor) -> Result<Self> {
        let (rows, len, dim) = k.dims3()?;
        if v.dims3()? != (rows, len, dim) {
            candle_core::bail!("cross-attention keys {:?}, values {:?}", k.dims(), v.dims());
        }
        let mut s = Slots::empty(rows, dim);
        s.reshape(rows, len);
        s.len = len;
        let (k, v) = (k.contiguous()?, v.contiguous()?);
        let (ks, vs) = (k.storage_and_layout(), v.storage_and_layout());
        let (kd, vd) = (cpu_f32(&ks.0, ks.1)?, cpu_f32(&vs.0, vs.1)?);
        let n = len * dim;
        for r in 0..rows {
            s.write(r, 0, (&kd[r * n..(r + 1) * n], &vd[r * n..(r + 1) * n]));
        }
        Ok(Self { s })
    }

    pub(super) fn attend(&self, q: &Tensor, heads: usize, bias: Option<&Tensor>) -> Result<Tensor> {
        let (keys, values) = self.s.views(None);
        kernel_path(q, keys, values, heads, bias)
    }

    /// Keeps batch rows `rows` (repeats allowed), by the map alone.
    pub(super) fn select_rows(&mut self, rows: &[u32]) -> Result<()> {
        let current = self.s.map.len();
        if let Some(&bad) = rows.iter().find(|&&r| r as usize >= current) {
            candle_core::bail!("cross-attention has {current} rows, asked for row {bad}");
        }
        self.s.map = rows.iter().map(|&r| self.s.map[r as usize]).collect();
        Ok(())
    }

    /// Appends the batch rows of `other` after this one's.
    pub(super) fn append(&mut self, other: &CpuCross) -> Result<()> {
        if other.s.dim != self.s.dim {
            candle_core::bail!(
                "cross-attention widths {} and {} differ",
                self.s.dim,
                other.s.dim
            );
        }
        if other.s.len > self.s.cap {
            self.s.reshape(self.s.slots, other.s.len);
        }
        self.s.len = self.s.len.max(other.s.len);
        // One slot per slot of `other` that its rows read, in the order first read.
        let mut used: Vec<u32> = other.s.map.clone();
        used.sort_unstable();
        used.dedup();
        let start = self.s.map.len();
        let got = self.s.take_slots(used.len());
        self.s.map.truncate(start);
        let (dim, n) = (other.s.dim, other.s.len);
        for (&from, &to) in used.iter().zip(&got) {
            let (from, to) = (from as usize, to as usize);
            // Clear what a previous occupant left past `other`'s length.
            let (cap, ocap) = (self.s.cap, other.s.cap);
            for c in 0..dim {
                let dst = (to * dim + c) * cap;
                let src = (from * dim + c) * ocap;
                self.s.k[dst..dst + n].copy_from_slice(&other.s.k[src..src + n]);
                self.s.k[dst + n..dst + cap].fill(0.0);
            }
            let dst = to * cap * dim;
            let src = from * ocap * dim;
            self.s.v[dst..dst + n * dim].copy_from_slice(&other.s.v[src..src + n * dim]);
            self.s.v[dst + n * dim..dst + cap * dim].fill(0.0);
        }
        self.s.map.extend(other.s.map.iter().map(|&r| {
            let i = used.binary_search(&r).unwrap_or(0);
            got[i]
        }));
        Ok(())
    }
}
