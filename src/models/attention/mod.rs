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

use candle_core::{DType, Layout, Result, Storage, Tensor};

mod slots;

use super::cpu::attention::{attend_rows, Bias, Seq};
use slots::{CpuCross, CpuKv};

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

/// Keys and values of the tokens decoded so far (self-attention). Not `Clone`: the tensor path
/// writes into its buffers in place, so a shallow copy would share them.
#[derive(Debug, Default)]
pub struct KvCache {
    store: Option<Store>,
}

#[derive(Debug)]
enum Store {
    /// Other devices and dtypes (GPU, f16/bf16): `(B, H, capacity, Dh)` buffers whose first
    /// `len` positions are filled; a step writes its keys in place, and a full buffer doubles
    /// (a step copies its own keys, not the whole cache).
    Tensors(Buffers),
    /// f32 on the CPU.
    Cpu(CpuKv),
}

#[derive(Debug)]
struct Buffers {
    k: Tensor,
    v: Tensor,
    len: usize,
}

/// Smallest capacity a buffer starts with, in positions.
const MIN_CAPACITY: usize = 16;

impl Buffers {
    /// Buffers holding `k`, `v` `(B, H, T, Dh)`.
    fn new(k: &Tensor, v: &Tensor) -> Result<Buffers> {
        let cap = k.dim(2)?.max(MIN_CAPACITY).next_power_of_two();
        let mut b = Buffers {
            k: empty_like(k, cap)?,
            v: empty_like(v, cap)?,
            len: 0,
        };
        b.push(k, v)?;
        Ok(b)
    }

    fn capacity(&self) -> usize {
        self.k.dim(2).unwrap_or(0)
    }

    /// Appends `k`, `v` `(B, H, T, Dh)` after the filled positions, doubling when full.
    fn push(&mut self, k: &Tensor, v: &Tensor) -> Result<()> {
        let t = k.dim(2)?;
        if self.len + t > self.capacity() {
            let cap = (self.len + t).max(2 * self.capacity()).next_power_of_two();
            self.regrow(0, cap)?;
        }
        self.k.slice_set(&k.contiguous()?, 2, self.len)?;
        self.v.slice_set(&v.contiguous()?, 2, self.len)?;
        self.len += t;
        Ok(())
    }

    /// New buffers of `cap` positions holding the filled positions from `from` on.
    fn regrow(&mut self, from: usize, cap: usize) -> Result<()> {
        let keep = self.len - from;
        let k = empty_like(&self.k, cap)?;
        let v = empty_like(&self.v, cap)?;
        if keep > 0 {
            k.slice_set(&self.k.narrow(2, from, keep)?.contiguous()?, 2, 0)?;
            v.slice_set(&self.v.narrow(2, from, keep)?.contiguous()?, 2, 0)?;
        }
        (self.k, self.v, self.len) = (k, v, keep);
        Ok(())
    }

    /// The filled positions (views, no copy).
    fn filled(&self) -> Result<(Tensor, Tensor)> {
        Ok((
            self.k.narrow(2, 0, self.len)?,
            self.v.narrow(2, 0, self.len)?,
        ))
    }
}

/// Zeros shaped like `x` `(B, H, _, Dh)` with `cap` positions.
fn empty_like(x: &Tensor, cap: usize) -> Result<Tensor> {
    let (b, h, _, dh) = x.dims4()?;
    Tensor::zeros((b, h, cap, dh), x.dtype(), x.device())
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
                let buffers = match store {
                    None => Buffers::new(&k, &v)?,
                    Some(Store::Tensors(mut b)) => {
                        b.push(&k, &v)?;
                        b
                    }
                    Some(Store::Cpu(_)) => {
                        candle_core::bail!("KV cache: inputs changed device or dtype mid-decode")
                    }
                };
                let (k, v) = buffers.filled()?;
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
                self.store = Some(Store::Tensors(buffers));
                merge_heads(&out)
            }
        }
    }

    /// Number of cached positions.
    pub fn len(&self) -> usize {
        match &self.store {
            None => 0,
            Some(Store::Tensors(b)) => b.len,
            Some(Store::Cpu(c)) => c.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Keeps batch rows `rows` (indices into the current rows, repeats allowed), in that order.
    pub fn select_rows(&mut self, rows: &[u32]) -> Result<()> {
        match &mut self.store {
            None => {}
            Some(Store::Tensors(b)) => {
                let idx = Tensor::from_slice(rows, rows.len(), b.k.device())?;
                b.k = b.k.index_select(&idx, 0)?;
                b.v = b.v.index_select(&idx, 0)?;
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
            Some(Store::Tensors(b)) => {
                let (_, h, cap, dh) = b.k.dims4()?;
                let zeros = Tensor::zeros((n, h, cap, dh), b.k.dtype(), b.k.device())?;
                b.k = Tensor::cat(&[&b.k, &zeros], 0)?;
                b.v = Tensor::cat(&[&b.v, &zeros], 0)?;
            }
            Some(Store::Cpu(c)) => c.add_rows(n),
        }
        Ok(())
    }

    /// Drops the first `m` positions of every row (no row attends to them any more).
    pub fn drop_front(&mut self, m: usize) -> Result<()> {
        match &mut self.store {
            None => {}
            Some(Store::Tensors(b)) => {
                let cap = b.capacity();
                b.regrow(m, cap)?;
            }
            Some(Store::Cpu(c)) => c.drop_front(m),
        }
        Ok(())
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
    /// f32 on the CPU, in slots read through a row map.
    Cpu(CpuCross),
}

impl CrossKv {
    /// From `(B, S, D)` keys and values.
    pub fn new(k: Tensor, v: Tensor, heads: usize) -> Result<Self> {
        let store = if on_kernel(&k, None) && on_kernel(&v, None) {
            CrossStore::Cpu(CpuCross::new(&k, &v)?)
        } else {
            CrossStore::Tensors(split_heads(&k, heads)?, split_heads(&v, heads)?)
        };
        Ok(Self { heads, store })
    }

    /// Attends `q` `(B, T, D)` to the keys/values, as [`multi_head`] does; returns `(B, T, D)`.
    pub fn attend(&self, q: &Tensor, bias: Option<&Tensor>) -> Result<Tensor> {
        match &self.store {
            CrossStore::Cpu(c) => {
                if !on_kernel(q, bias) {
                    candle_core::bail!("cross-attention: queries moved off the CPU f32 path");
                }
                c.attend(q, self.heads, bias)
            }
            CrossStore::Tensors(k, v) => {
                merge_heads(&attend(&split_heads(q, self.heads)?, k, v, bias)?)
            }
        }
    }

    /// Appends the rows of `other` (the keys/values of inputs that join a running batch) after
    /// this one's; both are padded with zeros to the longer source, which the caller's padding
    /// mask hides.
    pub fn append(&mut self, other: CrossKv) -> Result<()> {
        match (&mut self.store, other.store) {
            (CrossStore::Cpu(a), CrossStore::Cpu(b)) => a.append(&b)?,
            (CrossStore::Tensors(k, v), CrossStore::Tensors(k2, v2)) => {
                let len = k.dim(2)?.max(k2.dim(2)?);
                let pad = |t: &Tensor| {
                    let have = t.dim(2)?;
                    t.pad_with_zeros(2, 0, len - have)
                };
                *k = Tensor::cat(&[pad(k)?, pad(&k2)?], 0)?;
                *v = Tensor::cat(&[pad(v)?, pad(&v2)?], 0)?;
            }
            _ => candle_core::bail!("cross-attention: rows from another device or dtype"),
        }
        Ok(())
    }

    /// Keeps batch rows `rows` (indices into the current rows, repeats allowed), in that order.
    pub fn select_rows(&mut self, rows: &[u32]) -> Result<()> {
        match &mut self.store {
            CrossStore::Cpu(c) => c.select_rows(rows),
            CrossStore::Tensors(k, v) => {
                let current = k.dim(0)?;
                if let Some(&bad) = rows.iter().find(|&&r| r as usize >= current) {
                    candle_core::bail!("cross-attention has {current} rows, asked for row {bad}");
                }
                let idx = Tensor::from_slice(rows, rows.len(), k.device())?;
                *k = k.index_select(&idx, 0)?;
                *v = v.index_select(&idx, 0)?;
                Ok(())
            }
        }
    }
}

#[cfg(test)]
mod tests;
