//! Multi-head attention shared by the architectures, and the decoder's key/value stores.
//!
//! Queries, keys, values and results are `(B, T, H·Dh)`: heads side by side in the last
//! dimension, as the projections produce them and the output projection consumes them. f32
//! tensors on the CPU go through the kernel in `cpu/attention.rs` (see [`super::cpu`]), which
//! reads that layout in place (no head split/merge copies, no per-head GEMM calls) and runs over
//! query rows in parallel; the growing self-attention cache is then a plain buffer with room to
//! grow ([`KvCache`]), and the cross-attention keys/values are shared between beams through a row
//! map ([`CrossKv`]). Other devices and dtypes use candle ops on `(B, H, T, Dh)` tensors
//! ([`attend`]).

use candle_core::{DType, Layout, Result, Storage, Tensor, D};

use super::cpu::attention::{attend_rows, Bias, Seq};

/// `(B, T, H * Dh)` → `(B, H, T, Dh)`, contiguous.
pub fn split_heads(x: &Tensor, heads: usize) -> Result<Tensor> {
    let (b, t, d) = x.dims3()?;
    x.reshape((b, t, heads, d / heads))?
        .transpose(1, 2)?
        .contiguous()
}

/// `(B, H, T, Dh)` → `(B, T, H * Dh)`.
pub fn merge_heads(x: &Tensor) -> Result<Tensor> {
    let (b, h, t, dh) = x.dims4()?;
    x.transpose(1, 2)?.reshape((b, t, h * dh))
}

/// `softmax(q kᵀ + bias) v` on `(B, H, T, Dh)` tensors with candle ops; `bias` broadcasts to
/// `(B, H, Tq, Tk)` and carries masks (and, for T5, the relative position bias). `q` is expected
/// to be scaled already.
pub fn attend(q: &Tensor, k: &Tensor, v: &Tensor, bias: Option<&Tensor>) -> Result<Tensor> {
    let scores = q.matmul(&k.t()?)?;
    let scores = match bias {
        Some(bias) => scores.broadcast_add(bias)?,
        None => scores,
    };
    let probs = candle_nn::ops::softmax_last_dim(&scores)?;
    probs.matmul(v)
}

/// Multi-head attention on `(B, T, H·Dh)` tensors: `q` `(B, Tq, D)` (scaled already) against `k`,
/// `v` `(B, Tk, D)`, with `bias` broadcasting to `(B, H, Tq, Tk)`; returns `(B, Tq, D)`.
pub fn multi_head(
    q: &Tensor,
    k: &Tensor,
    v: &Tensor,
    heads: usize,
    bias: Option<&Tensor>,
) -> Result<Tensor> {
    if on_kernel(q, bias) && on_kernel(k, None) && on_kernel(v, None) {
        let kt = channel_major(k)?;
        let (rows, len, dim) = k.dims3()?;
        let v = v.contiguous()?;
        let vs = v.storage_and_layout();
        let shape = (rows, len, len, dim);
        let keys = Seq::keys(&kt, shape, None);
        let values = Seq::values(cpu_f32(&vs.0, vs.1)?, shape, None);
        return kernel_path(q, keys, values, heads, bias);
    }
    merge_heads(&attend(
        &split_heads(q, heads)?,
        &split_heads(k, heads)?,
        &split_heads(v, heads)?,
        bias,
    )?)
}

/// Whether `x` (and `bias`) take the CPU kernel path: f32 on the CPU.
fn on_kernel(x: &Tensor, bias: Option<&Tensor>) -> bool {
    let ok = |t: &Tensor| t.device().is_cpu() && t.dtype() == DType::F32;
    ok(x) && bias.is_none_or(ok)
}

/// The f32 values of a CPU tensor's storage from its layout's start (the caller indexes with the
/// layout's strides).
fn cpu_f32<'a>(storage: &'a Storage, layout: &Layout) -> Result<&'a [f32]> {
    let Storage::Cpu(cpu) = storage else {
        candle_core::bail!("attention kernel: tensor is not on the CPU");
    };
    Ok(&cpu.as_slice::<f32>()?[layout.start_offset()..])
}

/// `(rows, len, D)` → `(rows, D, len)` values of a CPU f32 tensor: keys as the kernel reads them.
fn channel_major(k: &Tensor) -> Result<Vec<f32>> {
    let (rows, len, dim) = k.dims3()?;
    let k = k.contiguous()?;
    let ks = k.storage_and_layout();
    let x = &cpu_f32(&ks.0, ks.1)?[..rows * len * dim];
    let mut out = vec![0f32; rows * len * dim];
    for (src, dst) in x
        .chunks_exact(len * dim)
        .zip(out.chunks_exact_mut(len * dim))
    {
        for (j, pos) in src.chunks_exact(dim).enumerate() {
            for (c, &x) in pos.iter().enumerate() {
                dst[c * len + j] = x;
            }
        }
    }
    Ok(out)
}

/// Runs the kernel for `q` `(B, Tq, D)` against `keys`/`values`, with candle plumbing.
fn kernel_path(
    q: &Tensor,
    keys: Seq,
    values: Seq,
    heads: usize,
    bias: Option<&Tensor>,
) -> Result<Tensor> {
    let q = q.contiguous()?;
    let (b, tq, dim) = q.dims3()?;
    if heads == 0 || dim % heads != 0 {
        candle_core::bail!("attention: model dimension {dim} is not a multiple of {heads} heads");
    }
    keys.check(b, dim).map_err(candle_core::Error::Msg)?;
    values.check(b, dim).map_err(candle_core::Error::Msg)?;
    if keys.len != values.len {
        candle_core::bail!("attention: {} keys but {} values", keys.len, values.len);
    }
    let bias = match bias {
        Some(t) => Some(t.broadcast_as((b, heads, tq, keys.len))?),
        None => None,
    };
    let bias_guard = bias.as_ref().map(|t| t.storage_and_layout());
    let bias_view = match &bias_guard {
        Some((storage, layout)) => {
            let s = layout.stride();
            Some(Bias {
                data: cpu_f32(storage, layout)?,
                strides: [s[0], s[1], s[2], s[3]],
            })
        }
        None => None,
    };
    let qs = q.storage_and_layout();
    let q_data = &cpu_f32(&qs.0, qs.1)?[..b * tq * dim];
    let out = attend_rows(q_data, (tq, dim, heads), keys, values, bias_view);
    Tensor::from_vec(out, (b, tq, dim), q.device())
}

/// Keys and values of the tokens decoded so far (self-attention).
#[derive(Debug, Clone, Default)]
pub struct KvCache {
    store: Option<Store>,
}

#[derive(Debug, Clone)]
enum Store {
    /// `(B, H, T, Dh)` tensors, grown by concatenation (GPU, f16/bf16).
    Tensors(Tensor, Tensor),
    /// f32 on the CPU.
    Cpu(CpuKv),
}

/// Additive mask `(B, 1, 1, len)` hiding each row's positions before its start.
fn start_mask(starts: &[u32], len: usize, like: &Tensor) -> Result<Tensor> {
    let mask: Vec<f32> = starts
        .iter()
        .flat_map(|&s| (0..len).map(move |j| if j < s as usize { f32::MIN } else { 0.0 }))
        .collect();
    Tensor::from_vec(mask, (starts.len(), 1, 1, len), like.device())?.to_dtype(like.dtype())
}

impl KvCache {
    /// Appends the new keys/values `k`, `v` `(B, T, D)` and attends `q` `(B, T, D)` to all cached
    /// positions, as [`multi_head`] does; returns `(B, T, D)`. With `starts`, row `b` attends
    /// only to positions from `starts[b]` on (a row that joined the batch later).
    pub fn attend(
        &mut self,
        (q, k, v): (&Tensor, &Tensor, &Tensor),
        heads: usize,
        bias: Option<&Tensor>,
        starts: Option<&[u32]>,
    ) -> Result<Tensor> {
        let kernel = on_kernel(q, bias) && on_kernel(k, None) && on_kernel(v, None);
        match self.store.take() {
            Some(Store::Cpu(mut cache)) if kernel => {
                cache.push(k, v)?;
                let out = cache.attend(q, heads, bias, starts);
                self.store = Some(Store::Cpu(cache));
                out
            }
            None if kernel => {
                let (b, _, dim) = k.dims3()?;
                self.store = Some(Store::Cpu(CpuKv::new(b, dim)));
                self.attend((q, k, v), heads, bias, starts)
            }
            store => {
                let (k, v) = (split_heads(k, heads)?, split_heads(v, heads)?);
                let (k, v) = match store {
                    None => (k, v),
                    Some(Store::Tensors(pk, pv)) => (
                        Tensor::cat(&[&pk, &k], D::Minus2)?,
                        Tensor::cat(&[&pv, &v], D::Minus2)?,
                    ),
                    Some(Store::Cpu(_)) => {
                        candle_core::bail!("KV cache: inputs changed device or dtype mid-decode")
                    }
                };
                let masked = match starts {
                    Some(s) => {
                        let mask = start_mask(s, k.dim(2)?, &k)?;
                        Some(match bias {
                            Some(b) => b.broadcast_add(&mask)?,
                            None => mask,
                        })
                    }
                    None => bias.cloned(),
                };
                let out = attend(&split_heads(q, heads)?, &k, &v, masked.as_ref())?;
                self.store = Some(Store::Tensors(k, v));
                merge_heads(&out)
            }
        }
    }

    /// Number of cached positions.
    pub fn len(&self) -> usize {
        match &self.store {
            None => 0,
            Some(Store::Tensors(k, _)) => k.dim(2).unwrap_or(0),
            Some(Store::Cpu(c)) => c.len,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Keeps batch rows `rows` (indices into the current rows, repeats allowed), in that order.
    pub fn select_rows(&mut self, rows: &[u32]) -> Result<()> {
        match &mut self.store {
            None => {}
            Some(Store::Tensors(k, v)) => {
                let idx = Tensor::from_slice(rows, rows.len(), k.device())?;
                *k = k.index_select(&idx, 0)?;
                *v = v.index_select(&idx, 0)?;
            }
            Some(Store::Cpu(c)) => c.select_rows(rows)?,
        }
        Ok(())
    }

    /// Adds `n` rows after the current ones with nothing cached: rows that join a running
    /// batch (their positions before the next one are never read, see [`Self::attend`]).
    pub fn add_rows(&mut self, n: usize) -> Result<()> {
        match &mut self.store {
            None => {}
            Some(Store::Tensors(k, v)) => {
                let (_, h, t, dh) = k.dims4()?;
                let zeros = Tensor::zeros((n, h, t, dh), k.dtype(), k.device())?;
                *k = Tensor::cat(&[&*k, &zeros], 0)?;
                *v = Tensor::cat(&[&*v, &zeros], 0)?;
            }
            Some(Store::Cpu(c)) => c.add_rows(n),
        }
        Ok(())
    }

    /// Drops the first `m` positions of every row (no row attends to them any more).
    pub fn drop_front(&mut self, m: usize) -> Result<()> {
        match &mut self.store {
            None => {}
            Some(Store::Tensors(k, v)) => {
                let t = k.dim(2)?;
                *k = k.narrow(2, m, t - m)?.contiguous()?;
                *v = v.narrow(2, m, t - m)?.contiguous()?;
            }
            Some(Store::Cpu(c)) => c.drop_front(m),
        }
        Ok(())
    }
}

/// Smallest capacity, in positions, of a CPU cache.
const MIN_CAPACITY: usize = 16;

/// Keys `(rows, D, cap)` (channel-major, as the kernel reads them) and values `(rows, cap, D)`
/// with `len` of `cap` positions filled; the capacity doubles when full, so appending a step
/// copies only the new positions.
#[derive(Debug, Clone)]
struct CpuKv {
    k: Vec<f32>,
    v: Vec<f32>,
    /// Buffers of a previous reordering, reused by the next one (beams reorder every step).
    spare: (Vec<f32>, Vec<f32>),
    rows: usize,
    dim: usize,
    len: usize,
    cap: usize,
}

impl CpuKv {
    fn new(rows: usize, dim: usize) -> Self {
        Self {
            k: Vec::new(),
            v: Vec::new(),
            spare: (Vec::new(), Vec::new()),
            rows,
            dim,
            len: 0,
            cap: 0,
        }
    }

    /// Appends `(B, T, D)` keys and values.
    fn push(&mut self, k: &Tensor, v: &Tensor) -> Result<()> {
        let (b, t, dim) = k.dims3()?;
        if (b, dim) != (self.rows, self.dim) || v.dims3()? != (b, t, dim) {
            candle_core::bail!(
                "KV cache holds {} rows of width {}, got keys {:?} and values {:?}",
                self.rows,
                self.dim,
                k.dims(),
                v.dims()
            );
        }
        if t * dim == 0 {
            return Ok(());
        }
        if self.len + t > self.cap {
            self.grow((self.len + t).max(2 * self.cap).max(MIN_CAPACITY));
        }
        let (k, v) = (k.contiguous()?, v.contiguous()?);
        let (ks, vs) = (k.storage_and_layout(), v.storage_and_layout());
        let (new_k, new_v) = (cpu_f32(&ks.0, ks.1)?, cpu_f32(&vs.0, vs.1)?);
        let (cap, len) = (self.cap, self.len);
        let rows = new_k.chunks_exact(t * dim).zip(new_v.chunks_exact(t * dim));
        for (r, (src_k, src_v)) in rows.take(b).enumerate() {
            let k_row = &mut self.k[r * dim * cap..(r + 1) * dim * cap];
            for (j, pos) in src_k.chunks_exact(dim).enumerate() {
                for (c, &x) in pos.iter().enumerate() {
                    k_row[c * cap + len + j] = x;
                }
            }
            let dst = r * cap * dim + len * dim;
            self.v[dst..dst + t * dim].copy_from_slice(src_v);
        }
        self.len += t;
        Ok(())
    }

    /// Reallocates for `cap` positions per row, keeping the filled ones.
    fn grow(&mut self, cap: usize) {
        let mut k = vec![0f32; self.rows * self.dim * cap];
        let mut v = vec![0f32; self.rows * cap * self.dim];
        let (dim, len) = (self.dim, self.len);
        for r in 0..self.rows {
            for c in 0..dim {
                let (src, dst) = ((r * dim + c) * self.cap, (r * dim + c) * cap);
                k[dst..dst + len].copy_from_slice(&self.k[src..src + len]);
            }
            let (src, dst) = (r * self.cap * dim, r * cap * dim);
            v[dst..dst + len * dim].copy_from_slice(&self.v[src..src + len * dim]);
        }
        (self.k, self.v, self.cap) = (k, v, cap);
        // The spares no longer match the row size; drop them rather than keep stale memory.
        self.spare = (Vec::new(), Vec::new());
    }

    /// Keeps rows `rows`, in that order: in place when they only drop rows (finished sequences),
    /// into new buffers when they repeat or reorder rows (beams).
    fn select_rows(&mut self, rows: &[u32]) -> Result<()> {
        if let Some(&bad) = rows.iter().find(|&&r| r as usize >= self.rows) {
            candle_core::bail!("KV cache has {} rows, asked for row {bad}", self.rows);
        }
        let stride = self.cap * self.dim;
        if rows.windows(2).all(|w| w[0] < w[1]) {
            // Strictly increasing, so row i comes from row rows[i] >= i, which no earlier copy
            // has overwritten.
            for (dst, &src) in rows.iter().enumerate() {
                let src = src as usize;
                if src != dst {
                    for buf in [&mut self.k, &mut self.v] {
                        buf.copy_within(src * stride..(src + 1) * stride, dst * stride);
                    }
                }
            }
            self.k.truncate(rows.len() * stride);
            self.v.truncate(rows.len() * stride);
        } else {
            // Into the spare buffers, which need no allocation or zeroing once grown. Positions
            // past `len` are never read, so only the filled parts are copied: for the keys one
            // span per row (at most twice the filled part past the minimum capacity) rather than
            // one small copy per channel.
            let (mut k, mut v) = std::mem::take(&mut self.spare);
            k.resize(rows.len() * stride, 0.0);
            v.resize(rows.len() * stride, 0.0);
            let k_span = match self.len {
                0 => 0,
                len => (self.dim - 1) * self.cap + len,
            };
            let v_span = self.len * self.dim;
            for (dst, &src) in rows.iter().enumerate() {
                let (src, dst) = (src as usize * stride, dst * stride);
                k[dst..dst + k_span].copy_from_slice(&self.k[src..src + k_span]);
                v[dst..dst + v_span].copy_from_slice(&self.v[src..src + v_span]);
            }
            self.spare = (
                std::mem::replace(&mut self.k, k),
                std::mem::replace(&mut self.v, v),
            );
        }
        self.rows = rows.len();
        Ok(())
    }

    /// Attends `q` `(B, T, D)` to the cached positions (row `b` from `starts[b]` on).
    fn attend(
        &self,
        q: &Tensor,
        heads: usize,
        bias: Option<&Tensor>,
        starts: Option<&[u32]>,
    ) -> Result<Tensor> {
        let shape = (self.rows, self.len, self.cap, self.dim);
        let keys = Seq::keys(&self.k, shape, None).with_starts(starts);
        let values = Seq::values(&self.v, shape, None).with_starts(starts);
        kernel_path(q, keys, values, heads, bias)
    }

    /// Adds `n` rows with no positions of their own yet.
    fn add_rows(&mut self, n: usize) {
        self.rows += n;
        let size = self.rows * self.cap * self.dim;
        self.k.resize(size, 0.0);
        self.v.resize(size, 0.0);
    }

    /// Drops the first `m` filled positions of every row, keeping the capacity.
    fn drop_front(&mut self, m: usize) {
        let m = m.min(self.len);
        if m == 0 {
            return;
        }
        let (cap, dim, keep) = (self.cap, self.dim, self.len - m);
        for r in 0..self.rows {
            for c in 0..dim {
                let run = (r * dim + c) * cap;
                self.k.copy_within(run + m..run + m + keep, run);
            }
            let row = r * cap * dim;
            self.v
                .copy_within(row + m * dim..row + (m + keep) * dim, row);
        }
        self.len = keep;
    }
}

/// A placeholder tensor, replaced before anything reads it.
fn empty() -> Result<Tensor> {
    Tensor::zeros(0, DType::F32, &candle_core::Device::Cpu)
}

impl CrossStore {
    /// Source positions of a CPU store.
    fn cpu_len(&self) -> usize {
        match self {
            CrossStore::Cpu { shape, .. } => shape.1,
            CrossStore::Tensors(..) => 0,
        }
    }

    /// A CPU store with only the stored rows its map reads (in the order first read), padded
    /// with zeros to `len` positions.
    fn compact_cpu(self, len: usize) -> Result<CrossStore> {
        let CrossStore::Cpu { kt, v, shape, map } = self else {
            return Ok(self);
        };
        let (_, have, dim) = shape;
        let mut kept: Vec<u32> = Vec::new();
        let map: Vec<u32> = map
            .iter()
            .map(|&r| match kept.iter().position(|&k| k == r) {
                Some(i) => i as u32,
                None => {
                    kept.push(r);
                    (kept.len() - 1) as u32
                }
            })
            .collect();
        let mut out = vec![0f32; kept.len() * dim * len];
        for (dst, &src) in kept.iter().enumerate() {
            for c in 0..dim {
                let from = (src as usize * dim + c) * have;
                let to = (dst * dim + c) * len;
                out[to..to + have].copy_from_slice(&kt[from..from + have]);
            }
        }
        let idx = Tensor::from_slice(&kept, kept.len(), v.device())?;
        let v = v.index_select(&idx, 0)?.pad_with_zeros(1, 0, len - have)?;
        Ok(CrossStore::Cpu {
            kt: out,
            v: v.contiguous()?,
            shape: (kept.len(), len, dim),
            map,
        })
    }
}

/// Keys and values computed once per batch from the encoder output (cross-attention).
///
/// On the CPU path the keys are kept channel-major and batch rows read both through a row map,
/// so selecting rows (beams repeat and reorder rows every step) copies nothing.
#[derive(Debug, Clone)]
pub struct CrossKv {
    heads: usize,
    store: CrossStore,
}

#[derive(Debug, Clone)]
enum CrossStore {
    /// `(B, H, S, Dh)` tensors, rows selected by copying (GPU, f16/bf16).
    Tensors(Tensor, Tensor),
    /// f32 on the CPU: keys `(B, D, S)`, values `(B, S, D)` and the stored row each batch row
    /// reads.
    Cpu {
        kt: Vec<f32>,
        v: Tensor,
        shape: (usize, usize, usize),
        map: Vec<u32>,
    },
}

impl CrossKv {
    /// From `(B, S, D)` keys and values.
    pub fn new(k: Tensor, v: Tensor, heads: usize) -> Result<Self> {
        let store = if on_kernel(&k, None) && on_kernel(&v, None) {
            let (rows, len, dim) = k.dims3()?;
            if v.dims3()? != (rows, len, dim) {
                candle_core::bail!("cross-attention keys {:?}, values {:?}", k.dims(), v.dims());
            }
            CrossStore::Cpu {
                kt: channel_major(&k)?,
                v: v.contiguous()?,
                shape: (rows, len, dim),
                map: (0..rows as u32).collect(),
            }
        } else {
            CrossStore::Tensors(split_heads(&k, heads)?, split_heads(&v, heads)?)
        };
        Ok(Self { heads, store })
    }

    /// Attends `q` `(B, T, D)` to the keys/values, as [`multi_head`] does; returns `(B, T, D)`.
    pub fn attend(&self, q: &Tensor, bias: Option<&Tensor>) -> Result<Tensor> {
        match &self.store {
            CrossStore::Cpu { kt, v, shape, map } => {
                let (rows, len, dim) = *shape;
                if !on_kernel(q, bias) {
                    candle_core::bail!("cross-attention: queries moved off the CPU f32 path");
                }
                let vs = v.storage_and_layout();
                let shape = (rows, len, len, dim);
                let keys = Seq::keys(kt, shape, Some(map));
                let values = Seq::values(cpu_f32(&vs.0, vs.1)?, shape, Some(map));
                kernel_path(q, keys, values, self.heads, bias)
            }
            CrossStore::Tensors(k, v) => {
                merge_heads(&attend(&split_heads(q, self.heads)?, k, v, bias)?)
            }
        }
    }

    /// Appends the rows of `other` (the keys/values of inputs that join a running batch) after
    /// this one's; both are padded with zeros to the longer source, which the caller's padding
    /// mask hides. Stored rows no batch row reads any more (finished inputs) are dropped here.
    pub fn append(&mut self, other: CrossKv) -> Result<()> {
        let store = std::mem::replace(&mut self.store, CrossStore::Tensors(empty()?, empty()?));
        self.store = match (store, other.store) {
            (a @ CrossStore::Cpu { .. }, b @ CrossStore::Cpu { .. }) => {
                let len = a.cpu_len().max(b.cpu_len());
                let (a, b) = (a.compact_cpu(len)?, b.compact_cpu(len)?);
                let (
                    CrossStore::Cpu { kt, v, shape, map },
                    CrossStore::Cpu {
                        kt: kt2,
                        v: v2,
                        shape: shape2,
                        map: map2,
                    },
                ) = (a, b)
                else {
                    unreachable!("compact_cpu keeps the CPU store")
                };
                if shape.2 != shape2.2 {
                    candle_core::bail!(
                        "cross-attention widths {} and {} differ",
                        shape.2,
                        shape2.2
                    );
                }
                let rows = shape.0;
                CrossStore::Cpu {
                    kt: [kt, kt2].concat(),
                    v: Tensor::cat(&[&v, &v2], 0)?,
                    shape: (rows + shape2.0, len, shape.2),
                    map: map
                        .into_iter()
                        .chain(map2.iter().map(|&r| r + rows as u32))
                        .collect(),
                }
            }
            (CrossStore::Tensors(k, v), CrossStore::Tensors(k2, v2)) => {
                let len = k.dim(2)?.max(k2.dim(2)?);
                let pad = |t: Tensor| {
                    let have = t.dim(2)?;
                    t.pad_with_zeros(2, 0, len - have)
                };
                CrossStore::Tensors(
                    Tensor::cat(&[pad(k)?, pad(k2)?], 0)?,
                    Tensor::cat(&[pad(v)?, pad(v2)?], 0)?,
                )
            }
            _ => candle_core::bail!("cross-attention: rows from another device or dtype"),
        };
        Ok(())
    }

    /// Keeps batch rows `rows` (indices into the current rows, repeats allowed), in that order.
    pub fn select_rows(&mut self, rows: &[u32]) -> Result<()> {
        let current = match &self.store {
            CrossStore::Cpu { map, .. } => map.len(),
            CrossStore::Tensors(k, _) => k.dim(0)?,
        };
        if let Some(&bad) = rows.iter().find(|&&r| r as usize >= current) {
            candle_core::bail!("cross-attention has {current} rows, asked for row {bad}");
        }
        match &mut self.store {
            CrossStore::Cpu { map, .. } => *map = rows.iter().map(|&r| map[r as usize]).collect(),
            CrossStore::Tensors(k, v) => {
                let idx = Tensor::from_slice(rows, rows.len(), k.device())?;
                *k = k.index_select(&idx, 0)?;
                *v = v.index_select(&idx, 0)?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;
