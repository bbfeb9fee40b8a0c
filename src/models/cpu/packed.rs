//! Dense products `y = x · Wᵀ + b` on CPUs with AVX-512 or AVX2 + FMA, for any number of rows of
//! `x`.
//!
//! The weight is packed once, when the model loads, into panels of [`NR`] output columns: panel
//! `p` holds `W[p·NR .. p·NR + NR, k]` for every `k` one after another, so the microkernel streams
//! it with aligned loads. Each call packs tiles of up to [`MR`] rows of `x` (`k`-major, so every
//! broadcast reads a constant offset), and a tile × panel product keeps `MR × NR` sums in 24
//! zmm registers: per `k`, two panel loads and `MR` broadcasts feed `2·MR` FMAs. On AVX2 the same
//! panels are walked half by half (16 columns, two ymm registers) in blocks of [`MR2`] rows of a
//! tile: `MR2 × 16` sums in 12 ymm registers, two loads and `MR2` broadcasts per `k`. Candle's
//! GEMM packs the weight on every call.
//!
//! Work is split into tasks of (row chunk, panel range) across rayon's pool, sized so the decode
//! steps' small products do not pay for more tasks than cores.
//!
//! [`quant`](super::quant) reuses the driver with 8-bit weights.

use rayon::prelude::*;

use super::isa::Isa;

/// Output columns per panel (two zmm registers).
pub const NR: usize = 32;
/// Rows of `x` per microkernel tile.
pub const MR: usize = 12;
/// Rows of a tile per AVX2 microkernel block.
pub const MR2: usize = 6;
/// Rows per task chunk: the tiles of a chunk reuse each panel while it is in L1/L2.
const CHUNK_ROWS: usize = MR * 8;
/// Least multiply-adds per task worth a rayon task.
const MIN_TASK_MACS: usize = 1 << 18;

/// Output pointer shared by parallel tasks that write disjoint elements.
#[derive(Clone, Copy)]
pub(crate) struct OutPtr(pub(crate) *mut f32);
// SAFETY: an `OutPtr` only carries an address; every write through it is an unsafe operation
// whose caller guarantees that no other task touches that element (here: each task writes its
// own (rows, panels) block; in `kernels`: each task its own weight rows' columns), and the
// buffer outlives the parallel loop that shares the pointer.
unsafe impl Send for OutPtr {}
// SAFETY: as for `Send`: shared copies of the address are written at disjoint elements only.
unsafe impl Sync for OutPtr {}

impl OutPtr {
    /// Element `i` of the output.
    pub(crate) fn at(self, i: usize) -> *mut f32 {
        self.0.wrapping_add(i)
    }
}

/// The two output-column masks of a panel with `cols` (1..=NR) valid columns.
pub(crate) fn column_masks(cols: usize) -> (u16, u16) {
    let lo = if cols >= 16 {
        0xFFFF
    } else {
        (1u16 << cols) - 1
    };
    let hi = match cols {
        32.. => 0xFFFF,
        17..=31 => (1u16 << (cols - 16)) - 1,
        _ => 0,
    };
    (lo, hi)
}

/// Calls `$kernel::<R>($args)` with `R = $rows` (1..=[`MR`]): the microkernels are generic over
/// a tile's row count so that their accumulators stay in registers.
macro_rules! with_tile_rows {
    ($rows:expr, $kernel:ident, $args:expr) => {
        match $rows {
            1 => $kernel::<1>($args),
            2 => $kernel::<2>($args),
            3 => $kernel::<3>($args),
            4 => $kernel::<4>($args),
            5 => $kernel::<5>($args),
            6 => $kernel::<6>($args),
            7 => $kernel::<7>($args),
            8 => $kernel::<8>($args),
            9 => $kernel::<9>($args),
            10 => $kernel::<10>($args),
            11 => $kernel::<11>($args),
            _ => $kernel::<{ $crate::models::cpu::packed::MR }>($args),
        }
    };
}
pub(crate) use with_tile_rows;

/// A packed weight and its microkernel; [`run`] drives it over rows and panels.
pub(crate) trait Kernel: Sync {
    /// `x` in the kernel's form: tiles of [`MR`] rows, `k`-major.
    type Rows: Sync;
    fn n(&self) -> usize;
    fn k(&self) -> usize;
    /// Brings `m` rows of `x` (`m × k`, row-major) into the kernel's form, once per call.
    fn pack_rows(&self, x: &[f32], m: usize) -> Self::Rows;
    /// Computes rows `rows` (a chunk starting at a tile boundary) against panels `panels`,
    /// panel by panel (each panel meets every row tile while it is in cache), writing `out`
    /// (row stride `n`) with `bias` added.
    ///
    /// The implementations check the CPU themselves (or exist only where it has the features),
    /// so the caller's part is the memory:
    ///
    /// # Safety
    /// - `x` came from `self.pack_rows(_, m)`, `rows` lies inside `0..m` and `rows.start` is a
    ///   multiple of [`MR`];
    /// - `panels` lies inside `0..self.n().div_ceil(NR)`;
    /// - `bias`, when given, holds `self.n()` values;
    /// - `out` points to a live buffer of at least `m × self.n()` f32, row-major with row stride
    ///   `self.n()`, and nothing else reads or writes its elements in rows `rows` and columns
    ///   `p·NR .. min(p·NR + NR, n)` of every panel `p` in `panels` during the call. Those
    ///   elements may be uninitialized: they are only written.
    unsafe fn block(
        &self,
        x: &Self::Rows,
        rows: std::ops::Range<usize>,
        panels: std::ops::Range<usize>,
        out: OutPtr,
        bias: Option<&[f32]>,
    );
}

/// Rows of `x` (`m × k`) as k-major tiles of [`MR`] rows: tile `t` starts at `k·t·MR` and holds
/// row `t·MR + j`'s element `kk` at `kk·mr + j` (`mr` the tile's rows). Values go through `map`.
pub(crate) fn tile_rows<T: Copy + Default + Send>(
    x: &[f32],
    m: usize,
    k: usize,
    map: impl Fn(usize, f32) -> T + Sync,
) -> Vec<T> {
    let mut out = vec![T::default(); m * k];
    let fill = |(t, tile): (usize, &mut [T])| {
        let mr = tile.len() / k.max(1);
        for j in 0..mr {
            let r = t * MR + j;
            for (kk, &v) in x[r * k..(r + 1) * k].iter().enumerate() {
                tile[kk * mr + j] = map(r, v);
            }
        }
    };
    if m * k >= 1 << 16 {
        out.par_chunks_mut(k * MR).enumerate().for_each(fill);
    } else {
        out.chunks_mut(k * MR).enumerate().for_each(fill);
    }
    out
}

/// `m × n` output of `kernel` over `m` rows of `x` (`m × k`, row-major).
pub(crate) fn run<K: Kernel>(kernel: &K, x: &[f32], m: usize, bias: Option<&[f32]>) -> Vec<f32> {
    let n = kernel.n();
    assert_eq!(x.len(), m * kernel.k(), "x has the wrong length");
    if let Some(b) = bias {
        assert_eq!(b.len(), n, "bias has the wrong length");
    }
    if m == 0 || n == 0 {
        return vec![0f32; m * n];
    }
    let rows = kernel.pack_rows(x, m);
    // Not zeroed: the tasks write every element (`m·n` floats a step for the LM head).
    let mut out: Vec<f32> = Vec::with_capacity(m * n);
    let ptr = OutPtr(out.as_mut_ptr());
    let panels = n.div_ceil(NR);
    let chunks = m.div_ceil(CHUNK_ROWS);
    let threads = rayon::current_num_threads().max(1);
    let macs_per_panel = m.min(CHUNK_ROWS) * NR * kernel.k();
    // Enough tasks to keep every thread busy (4 per thread when the work allows), none tiny.
    let wanted = (threads * 4).div_ceil(chunks).max(1);
    let by_size = (panels * macs_per_panel / MIN_TASK_MACS).max(1);
    let groups = wanted.min(by_size).min(panels);
    let per_group = panels.div_ceil(groups);
    let groups = panels.div_ceil(per_group);
    let task = |t: usize| {
        let (c, g) = (t / groups, t % groups);
        let rs = c * CHUNK_ROWS..((c + 1) * CHUNK_ROWS).min(m);
        let ps = g * per_group..((g + 1) * per_group).min(panels);
        // SAFETY: `rows` is `kernel.pack_rows(x, m)`; `rs` lies inside 0..m and starts at
        // c·CHUNK_ROWS, a multiple of MR; `ps` lies inside 0..panels; a bias has n values
        // (asserted above); `out` has room for m·n values and outlives the tasks (both loops
        // below return when every task has run), and distinct tasks t have distinct (c, g), so
        // their (rows, panels) blocks are disjoint: this task alone writes rows `rs` of panels
        // `ps`.
        unsafe { kernel.block(&rows, rs, ps, ptr, bias) };
    };
    let tasks = chunks * groups;
    if tasks == 1 || threads == 1 {
        (0..tasks).for_each(task);
    } else {
        (0..tasks).into_par_iter().for_each(task);
    }
    // SAFETY: the tasks covered every (row chunk, panel group) block, and each block's kernel
    // stores every row of it for every valid column of its panels: all m·n elements are written.
    unsafe { out.set_len(m * n) };
    out
}

/// A row-major `n × k` f32 weight packed into panels of [`NR`] columns.
#[derive(Debug)]
pub struct PackedF32 {
    /// [`Isa::Avx512`] or an AVX2 family.
    isa: Isa,
    n: usize,
    k: usize,
    /// Panel `p` (2·k `Lanes`), 64-byte aligned: for AVX-512 row `kk` holds both halves
    /// (`Lanes` `(p·k + kk)·2 + half`); for AVX2 each half is contiguous (`Lanes`
    /// `(p·2 + half)·k + kk`), so a 16-column pass streams whole cache lines.
    data: Vec<Lanes>,
}

/// 16 f32 lanes, 64-byte aligned: the storage unit of packed panels.
#[derive(Debug, Clone, Copy)]
#[repr(C, align(64))]
pub(crate) struct Lanes(pub(crate) [f32; 16]);

impl PackedF32 {
    /// Whether the active kernels ([`Isa::active`]) include the packed one.
    pub fn supported() -> bool {
        Isa::active().avx2()
    }

    /// Packs `w` (`n × k`, row-major) for the active kernels; `None` when they are portable.
    pub fn new(w: &[f32], n: usize, k: usize) -> Option<Self> {
        Self::with_isa(w, n, k, Isa::active())
    }

    /// Packs `w` for the kernels of `isa`; `None` when `isa` has none (portable) or the CPU
    /// cannot run it.
    pub fn with_isa(w: &[f32], n: usize, k: usize, isa: Isa) -> Option<Self> {
        assert_eq!(w.len(), n * k, "w has the wrong length");
        if !isa.avx2() || !isa.available() {
            return None;
        }
        let panels = n.div_ceil(NR);
        let mut packed = Self {
            isa,
            n,
            k,
            data: vec![Lanes([0.0; 16]); panels * k * 2],
        };
        for p in 0..panels {
            for c in 0..NR.min(n - p * NR) {
                let row = &w[(p * NR + c) * k..(p * NR + c + 1) * k];
                for (kk, &v) in row.iter().enumerate() {
                    let i = packed.lanes_index(p, kk, c);
                    packed.data[i].0[c % 16] = v;
                }
            }
        }
        Some(packed)
    }

    /// Which `Lanes` of `data` holds panel `p`, row `kk`, column `c` (lane `c % 16`).
    fn lanes_index(&self, p: usize, kk: usize, c: usize) -> usize {
        if self.isa == Isa::Avx512 {
            (p * self.k + kk) * 2 + c / 16
        } else {
            (p * 2 + c / 16) * self.k + kk
        }
    }

    /// `x` (`m × k`, row-major) times the weight, plus `bias`: `m × n`, row-major.
    pub fn matmul(&self, x: &[f32], m: usize, bias: Option<&[f32]>) -> Vec<f32> {
        run(self, x, m, bias)
    }

    /// The weight back in its row-major `n × k` layout.
    pub fn unpack(&self) -> Vec<f32> {
        let mut w = vec![0f32; self.n * self.k];
        for (col, row) in w.chunks_mut(self.k.max(1)).enumerate().take(self.n) {
            let (p, c) = (col / NR, col % NR);
            for (kk, v) in row.iter_mut().enumerate() {
                *v = self.data[self.lanes_index(p, kk, c)].0[c % 16];
            }
        }
        w
    }
}

impl Kernel for PackedF32 {
    type Rows = Vec<f32>;
    fn n(&self) -> usize {
        self.n
    }
    fn k(&self) -> usize {
        self.k
    }
    fn pack_rows(&self, x: &[f32], m: usize) -> Vec<f32> {
        tile_rows(x, m, self.k, |_, v| v)
    }
    /// # Safety
    /// As [`Kernel::block`].
    unsafe fn block(
        &self,
        x: &Vec<f32>,
        rows: std::ops::Range<usize>,
        panels: std::ops::Range<usize>,
        out: OutPtr,
        bias: Option<&[f32]>,
    ) {
        #[cfg(target_arch = "x86_64")]
        {
            // SAFETY: a `PackedF32` exists only for a family the CPU runs (`with_isa` checks
            // `available`): AVX-512F for `Isa::Avx512`, AVX2 + FMA for the others; the memory
            // requirements are this function's own contract, passed on unchanged.
            unsafe {
                if self.isa == Isa::Avx512 {
                    avx512::block(self, x, rows, panels, out, bias)
                } else {
                    avx2::block(self, x, rows, panels, out, bias)
                }
            }
        }
        #[cfg(not(target_arch = "x86_64"))]
        unreachable!("packed weights exist only on x86_64");
    }
}

#[cfg(target_arch = "x86_64")]
mod avx2;
#[cfg(target_arch = "x86_64")]
pub(crate) use avx2::{blocks_in, row_blocks, store16, Ahead};

#[cfg(target_arch = "x86_64")]
mod avx512 {
    use std::arch::x86_64::*;

    use super::{column_masks, OutPtr, PackedF32, MR, NR};

    /// Runs every panel of `panels` against the tiles of `rows` (from [`super::tile_rows`]).
    ///
    /// # Safety
    /// The CPU must support AVX-512F, and the arguments must meet [`super::Kernel::block`]'s
    /// contract for `w`: `x` is `w`'s packing of `m` rows, `rows` inside `0..m` starting at a
    /// multiple of [`MR`], `panels` inside `w`'s panels, a bias of `w.n` values, and `out` a
    /// buffer of `m × w.n` f32 whose `rows` × `panels` block only this call touches.
    pub(super) unsafe fn block(
        w: &PackedF32,
        x: &[f32],
        rows: std::ops::Range<usize>,
        panels: std::ops::Range<usize>,
        out: OutPtr,
        bias: Option<&[f32]>,
    ) {
        let k = w.k;
        let panel_count = w.n.div_ceil(NR);
        debug_assert!(rows.start.is_multiple_of(MR), "rows start inside a tile");
        debug_assert!(
            x.len() >= k * rows.end,
            "x holds fewer than {} rows",
            rows.end
        );
        debug_assert!(panels.end <= panel_count, "panels beyond the weight's");
        debug_assert!(
            bias.is_none_or(|b| b.len() == w.n),
            "bias has the wrong length"
        );
        // SAFETY: rows.start ≤ rows.end, and `x` holds k values per row up to rows.end.
        let xt = unsafe { x.as_ptr().add(k * rows.start) };
        for p in panels {
            // SAFETY: p < panel_count, and `data` holds 2·k `Lanes` (2·k·16 = k·NR f32) per panel.
            let panel = unsafe { w.data.as_ptr().add(p * k * 2) } as *const f32;
            let cols = NR.min(w.n - p * NR);
            // SAFETY: p·NR < n, the bias's length.
            let b = bias.map(|b| unsafe { b.as_ptr().add(p * NR) });
            for t in 0..rows.len().div_ceil(MR) {
                let mr = MR.min(rows.len() - t * MR);
                let dst = out.at((rows.start + t * MR) * w.n + p * NR);
                // The first tile pulls the next panel towards L2 while it computes.
                let prefetch = (t == 0 && p + 1 < panel_count).then(|| {
                    // SAFETY: panel p + 1 exists, k·NR f32 after panel p.
                    unsafe { panel.add(k * NR) }
                });
                let args = Tile {
                    // SAFETY: the tile starts at row rows.start + t·MR < rows.end (inside `x`).
                    xt: unsafe { xt.add(k * t * MR) },
                    panel,
                    k,
                    dst,
                    ldo: w.n,
                    cols,
                    bias: b,
                    prefetch,
                };
                // SAFETY: the CPU has AVX-512F (this function's contract), and `args` meets
                // `kernel`'s contract for R = mr: `xt` is the tile's k × mr packed values (tile
                // t holds mr = min(MR, rows left) rows), `panel` is panel p (k·NR f32, 64-byte
                // aligned as `Lanes` are), `dst` is row rows.start + t·MR, column p·NR of `out`
                // with rows mr and columns `cols` (≤ n - p·NR) in this call's block, `b` holds
                // the panel's `cols` bias values, and `prefetch` is panel p + 1.
                unsafe { with_tile_rows!(mr, kernel, args) }
            }
        }
    }

    /// One tile × panel product's operands.
    struct Tile {
        /// `k × R` packed rows of `x`.
        xt: *const f32,
        /// `k × NR` panel, 64-byte aligned.
        panel: *const f32,
        k: usize,
        /// Output element (first row, first column of the panel); row stride `ldo`.
        dst: *mut f32,
        ldo: usize,
        /// Valid columns of the panel.
        cols: usize,
        bias: Option<*const f32>,
        /// Next panel to prefetch (same layout), if any.
        prefetch: Option<*const f32>,
    }

    /// The `R × NR` product of one tile and one panel, plus bias, stored to `t.dst`.
    ///
    /// # Safety
    /// - The CPU must support AVX-512F.
    /// - `t.xt` must be valid for reads of `t.k · R` f32 and `t.panel` for reads of `t.k · NR`
    ///   f32, 64-byte aligned (aligned loads); `t.prefetch`, when given, a panel of the same
    ///   size.
    /// - `t.cols` must be in `1..=NR`; `t.bias`, when given, valid for reads of `t.cols` f32.
    /// - For each `r < R`, `t.dst + r · t.ldo` must be valid for writes of `t.cols` f32 that no
    ///   other thread reads or writes during the call.
    #[target_feature(enable = "avx512f")]
    unsafe fn kernel<const R: usize>(t: Tile) {
        debug_assert!(
            (t.panel as usize).is_multiple_of(64),
            "panel not 64-byte aligned"
        );
        debug_assert!((1..=NR).contains(&t.cols), "{} columns in a panel", t.cols);
        let mut lo = [_mm512_setzero_ps(); R];
        let mut hi = [_mm512_setzero_ps(); R];
        // Without a next panel, prefetch the current one again (harmless, keeps the loop simple).
        let next = t.prefetch.unwrap_or(t.panel);
        for kk in 0..t.k {
            // SAFETY: kk < k: the prefetches and loads stay inside row kk (NR f32, 64-byte
            // aligned: NR·4 = 128 bytes per row) of the panels, the x reads inside the tile's
            // row kk (R values at kk·R).
            let (w0, w1, xr) = unsafe {
                _mm_prefetch::<_MM_HINT_T1>(next.add(kk * NR) as *const i8);
                _mm_prefetch::<_MM_HINT_T1>(next.add(kk * NR + 16) as *const i8);
                (
                    _mm512_load_ps(t.panel.add(kk * NR)),
                    _mm512_load_ps(t.panel.add(kk * NR + 16)),
                    t.xt.add(kk * R),
                )
            };
            for r in 0..R {
                // SAFETY: r < R, inside the tile's row kk.
                let xv = _mm512_set1_ps(unsafe { *xr.add(r) });
                lo[r] = _mm512_fmadd_ps(xv, w0, lo[r]);
                hi[r] = _mm512_fmadd_ps(xv, w1, hi[r]);
            }
        }
        // Lanes at and beyond `cols` are masked off: masked loads and stores do not touch
        // them, so the second half's address may lie past the end (hence `wrapping_add`).
        let (m0, m1) = column_masks(t.cols);
        let (b0, b1) = match t.bias {
            // SAFETY: the masks enable only the first `cols` lanes, which the bias holds.
            Some(b) => unsafe {
                (
                    _mm512_maskz_loadu_ps(m0, b),
                    _mm512_maskz_loadu_ps(m1, b.wrapping_add(16)),
                )
            },
            None => (_mm512_setzero_ps(), _mm512_setzero_ps()),
        };
        for r in 0..R {
            let d = t.dst.wrapping_add(r * t.ldo);
            // SAFETY: row r < R of the output block: the masks enable its first `cols`
            // elements, which are valid and this call's alone.
            unsafe {
                _mm512_mask_storeu_ps(d, m0, _mm512_add_ps(lo[r], b0));
                _mm512_mask_storeu_ps(d.wrapping_add(16), m1, _mm512_add_ps(hi[r], b1));
            }
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) fn naive(
        x: &[f32],
        w: &[f32],
        bias: Option<&[f32]>,
        m: usize,
        k: usize,
        n: usize,
    ) -> Vec<f32> {
        let mut out = vec![0f32; m * n];
        for r in 0..m {
            for o in 0..n {
                let s: f64 = (0..k)
                    .map(|i| x[r * k + i] as f64 * w[o * k + i] as f64)
                    .sum();
                out[r * n + o] = s as f32 + bias.map_or(0.0, |b| b[o]);
            }
        }
        out
    }

    /// Deterministic test values in [-1, 1].
    pub(crate) fn values(len: usize, seed: u32) -> Vec<f32> {
        (0..len)
            .map(|i| (((i as u32).wrapping_mul(2654435761) ^ seed) % 2001) as f32 / 1000.0 - 1.0)
            .collect()
    }

    #[test]
    fn column_masks_cover_exactly_the_valid_columns() {
        assert_eq!(column_masks(32), (0xFFFF, 0xFFFF));
        assert_eq!(column_masks(16), (0xFFFF, 0));
        assert_eq!(column_masks(17), (0xFFFF, 1));
        assert_eq!(column_masks(3), (0b111, 0));
    }

    #[test]
    fn matches_a_naive_product_for_every_tile_and_panel_shape() {
        crate::models::cpu::isa::for_each_isa("dense_f32", |isa| {
            if isa.avx2() {
                matches_naive(isa)
            }
        });
    }

    fn matches_naive(isa: Isa) {
        // Rows around MR, MR2 and CHUNK_ROWS, columns around 8, 16 and NR, odd k.
        for &(m, k, n) in &[
            (5, 3, 8),
            (7, 5, 9),
            (6, 11, 17),
            (1, 7, 1),
            (3, 33, 31),
            (12, 64, 32),
            (13, 17, 33),
            (97, 40, 70),
            (200, 9, 65),
            // One row (a decode step at batch 1) over several panels.
            (1, 19, 100),
            (1, 40, 64),
            (1, 5, 129),
        ] {
            let x = values(m * k, 1);
            let w = values(n * k, 2);
            let b = values(n, 3);
            let packed = PackedF32::with_isa(&w, n, k, isa).unwrap();
            for bias in [None, Some(&b[..])] {
                let got = packed.matmul(&x, m, bias);
                let want = naive(&x, &w, bias, m, k, n);
                for (i, (g, e)) in got.iter().zip(&want).enumerate() {
                    assert!(
                        (g - e).abs() <= 1e-4 * (1.0 + e.abs()),
                        "{}: {m}x{k}x{n} at {i}: {g} vs {e}",
                        isa.name()
                    );
                }
            }
        }
    }

    #[test]
    fn a_row_alone_gives_the_same_bits_as_in_a_batch() {
        crate::models::cpu::isa::for_each_isa("dense_f32", |isa| {
            let (m, k, n) = (13, 37, 150);
            let (x, w, b) = (values(m * k, 4), values(n * k, 5), values(n, 6));
            let Some(packed) = PackedF32::with_isa(&w, n, k, isa) else {
                return;
            };
            let all = packed.matmul(&x, m, Some(&b));
            for r in 0..m {
                let one = packed.matmul(&x[r * k..(r + 1) * k], 1, Some(&b));
                assert_eq!(one, all[r * n..(r + 1) * n], "{}: row {r}", isa.name());
            }
        });
    }

    #[test]
    fn zero_rows_give_an_empty_output() {
        if let Some(p) = PackedF32::new(&values(64, 1), 8, 8) {
            assert!(p.matmul(&[], 0, None).is_empty());
        }
    }
}
