//! 8-bit dense layers (`--dtype q8`): `y ≈ x · Wᵀ + b` with int8 weights and int8 activations.
//!
//! The scheme is CTranslate2's int8 on x86: every weight row (output feature) gets its own scale,
//! `W[n, k] ≈ s_n · q[n, k]` with `q` in `-127..=127`; every row of `x` is quantized on the fly
//! the same way (`x[r, k] ≈ t_r · p[r, k]`), and the integer product is rescaled by `t_r · s_n`.
//! Activations are fed to the hardware as unsigned bytes `p + 128`; the extra `128 · Σ_k q[n, k]`
//! is subtracted with a per-column sum computed at load.
//!
//! Weights are packed into panels of [`NR`] columns like [`PackedF32`](super::packed::PackedF32),
//! in groups of four `k` (one i32 lane = four bytes of one column), so AVX-512 VNNI's `vpdpbusd`
//! does 64 multiply-adds per instruction: four times the f32 kernel's rate, a quarter of its
//! weight bytes. On 256-bit registers (`quant/avx2.rs`) the same layout runs with AVX-VNNI's
//! `vpdpbusd`, or on plain AVX2 with `vpmaddubsw` + `vpmaddwd` on `|q|` and `p · sign(q)` (both
//! within ±127, so the 16-bit pair sums cannot saturate). A portable loop runs the same
//! arithmetic anywhere. The kernel is chosen when the weight is packed ([`Isa::q8`]).

mod avx2;

use super::isa::{Isa, Q8Kernel};
use super::packed::{column_masks, run, Kernel, OutPtr, MR, NR};

/// A row-major `n × k` f32 weight quantized to int8 per output row and packed.
#[derive(Debug)]
pub struct QuantI8 {
    kernel: Q8Kernel,
    n: usize,
    k: usize,
    /// `k` rounded up to a multiple of 4.
    k4: usize,
    /// Panel `p`, group `g` (k = 4g..4g+4): 128 bytes at `(p·k4/4 + g)·128`, column-major in
    /// groups of four bytes.
    data: Vec<Block>,
    /// Per output column (padded to whole panels): weight scale `s_n`.
    scales: Vec<f32>,
    /// Per output column: `128 · Σ_k q[n, k]`.
    offsets: Vec<i32>,
}

/// 64 bytes, 64-byte aligned: the storage unit of packed int8 panels.
#[derive(Debug, Clone, Copy)]
#[repr(C, align(64))]
struct Block([i8; 64]);

/// Rows of `x` quantized: k-major tiles of [`MR`] rows, four bytes (`p + 128`) per row and group.
pub struct QuantRows {
    /// Tile `t` starts at `k4·t·MR`; row `j` of a tile with `mr` rows, group `g`, at `(g·mr + j)·4`.
    bytes: Vec<u8>,
    /// Per row: `t_r`.
    scales: Vec<f32>,
    /// The bytes are `p` as signed bytes (the plain AVX2 kernel's form), not `p + 128`.
    signed: bool,
}

/// Symmetric scale of a row: `max |v| / 127`, 1 for an all-zero row.
#[inline(always)]
fn row_scale(row: &[f32]) -> f32 {
    let max = row.iter().fold(0f32, |m, v| m.max(v.abs()));
    if max > 0.0 && max.is_finite() {
        max / 127.0
    } else {
        1.0
    }
}

/// `v / scale` rounded to the nearest integer (ties to even, as the vector conversion does).
#[inline(always)]
fn quantize(v: f32, inv_scale: f32) -> i8 {
    (v * inv_scale).round_ties_even().clamp(-127.0, 127.0) as i8
}

/// Quantizes one row of activations into `out` (`row.len()` bytes: `p` as signed bytes for the
/// plain AVX2 kernel, `p + 128` for the others); returns `t_r`.
fn quantize_row(row: &[f32], out: &mut [u8], kernel: Q8Kernel) -> f32 {
    // Checked once per row, so that the AVX-512 stores stay inside `out`.
    let out = &mut out[..row.len()];
    #[cfg(target_arch = "x86_64")]
    if kernel == Q8Kernel::Avx512Vnni {
        // SAFETY: the kernel exists only where the CPU has AVX-512F and VNNI (`with_kernel`
        // checks), and `out` holds row.len() bytes (sliced so above).
        return unsafe { vnni::quantize_row(row, out) };
    }
    #[cfg(target_arch = "x86_64")]
    if matches!(kernel, Q8Kernel::Avx2 | Q8Kernel::AvxVnni) {
        // SAFETY: these kernels exist only where the CPU has AVX2 and FMA (`with_kernel`
        // checks).
        return unsafe { quantize_row_avx2(row, out, kernel == Q8Kernel::Avx2) };
    }
    quantize_row_plain(row, out, false)
}

/// [`quantize_row_plain`] with AVX2: max |v|, then 32 values per pass (the scalar loop's
/// rounding is a libm call per value).
///
/// # Safety
/// The CPU must support AVX2 and FMA.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn quantize_row_avx2(row: &[f32], out: &mut [u8], signed: bool) -> f32 {
    let scale = row_scale(row);
    let inv = 1.0 / scale;
    let n32 = avx2::quantize_32s(row, out, inv, signed);
    quantize_values(&row[n32..], &mut out[n32..], inv, signed);
    scale
}

/// `signed`: store `p` as a signed byte, else `p + 128`.
#[inline(always)]
fn quantize_row_plain(row: &[f32], out: &mut [u8], signed: bool) -> f32 {
    let scale = row_scale(row);
    quantize_values(row, out, 1.0 / scale, signed);
    scale
}

/// `row`'s values times `inv`, quantized into `out` one by one (`p`, or `p + 128` unless
/// `signed`): the whole row in the portable loop, the tail after the vector loops.
#[inline(always)]
fn quantize_values(row: &[f32], out: &mut [u8], inv: f32, signed: bool) {
    let offset = if signed { 0 } else { 128 };
    for (o, &v) in out.iter_mut().zip(row) {
        *o = (quantize(v, inv) as i16 + offset) as u8;
    }
}

impl QuantI8 {
    /// Quantizes and packs `w` (`n × k`, row-major) for the active kernels ([`Isa::active`]).
    pub fn new(w: &[f32], n: usize, k: usize) -> Self {
        Self::with_kernel(w, n, k, Isa::active().q8())
    }

    /// The kernel this weight runs.
    pub fn kernel(&self) -> Q8Kernel {
        self.kernel
    }

    /// Quantizes and packs `w` for `kernel`; a kernel the CPU cannot run falls back to the
    /// best one it can.
    pub fn with_kernel(w: &[f32], n: usize, k: usize, kernel: Q8Kernel) -> Self {
        assert_eq!(w.len(), n * k, "w has the wrong length");
        let kernel = if kernel.available() {
            kernel
        } else {
            Isa::detected().q8()
        };
        let panels = n.div_ceil(NR);
        let k4 = k.div_ceil(4) * 4;
        let groups = k4 / 4;
        let mut data = vec![Block([0; 64]); panels * groups * 2];
        let mut scales = vec![0f32; panels * NR];
        let mut offsets = vec![0i32; panels * NR];
        for col in 0..n {
            let row = &w[col * k..(col + 1) * k];
            let scale = row_scale(row);
            let inv = 1.0 / scale;
            let (p, c) = (col / NR, col % NR);
            let mut sum = 0i32;
            for (kk, &v) in row.iter().enumerate() {
                let q = quantize(v, inv);
                sum += q as i32;
                let g = kk / 4;
                // Byte (c, kk) of the panel's group g: lane c of the two 64-byte halves.
                let block = &mut data[(p * groups + g) * 2 + c / 16];
                block.0[(c % 16) * 4 + kk % 4] = q;
            }
            scales[col] = scale;
            offsets[col] = 128 * sum;
        }
        Self {
            kernel,
            n,
            k,
            k4,
            data,
            scales,
            offsets,
        }
    }

    /// `x` (`m × k`, row-major) times the weight, plus `bias`: `m × n`, row-major.
    pub fn matmul(&self, x: &[f32], m: usize, bias: Option<&[f32]>) -> Vec<f32> {
        run(self, x, m, bias)
    }
}

impl Kernel for QuantI8 {
    type Rows = QuantRows;
    fn n(&self) -> usize {
        self.n
    }
    fn k(&self) -> usize {
        self.k
    }

    fn pack_rows(&self, x: &[f32], m: usize) -> QuantRows {
        let (k, k4) = (self.k, self.k4);
        // The plain AVX2 kernel multiplies signed bytes `p`; the others take `p + 128`. Either
        // way padding is the form of 0.
        let signed = self.kernel == Q8Kernel::Avx2;
        let zero = if signed { 0 } else { 128u8 };
        let mut bytes = vec![zero; m * k4];
        let mut scales = vec![0f32; m];
        let mut row_bytes = vec![zero; k4];
        for (t, tile) in bytes.chunks_mut(k4 * MR).enumerate() {
            let mr = tile.len() / k4;
            for j in 0..mr {
                let r = t * MR + j;
                scales[r] = quantize_row(&x[r * k..(r + 1) * k], &mut row_bytes[..k], self.kernel);
                // Group g's four bytes go to (g·mr + j)·4.
                for (g, four) in row_bytes.chunks_exact(4).enumerate() {
                    tile[(g * mr + j) * 4..(g * mr + j) * 4 + 4].copy_from_slice(four);
                }
            }
        }
        QuantRows {
            bytes,
            scales,
            signed,
        }
    }

    /// # Safety
    /// As [`Kernel::block`].
    unsafe fn block(
        &self,
        x: &QuantRows,
        rows: std::ops::Range<usize>,
        panels: std::ops::Range<usize>,
        out: OutPtr,
        bias: Option<&[f32]>,
    ) {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: a kernel is kept only where the CPU runs it (`with_kernel` checks): AVX-512F
        // and VNNI, AVX2 + FMA + AVX-VNNI, or AVX2 + FMA; the memory requirements are this
        // function's own contract, passed on unchanged.
        unsafe {
            let ymm = |vnni| {
                let job = avx2::Job {
                    w: self,
                    x,
                    rows: rows.clone(),
                    panels: panels.clone(),
                    out,
                    bias,
                };
                avx2::block(job, vnni)
            };
            match self.kernel {
                Q8Kernel::Avx512Vnni => return vnni::block(self, x, rows, panels, out, bias),
                Q8Kernel::AvxVnni => return ymm(true),
                Q8Kernel::Avx2 => return ymm(false),
                Q8Kernel::Portable => {}
            }
        }
        // SAFETY: this function's contract, passed on unchanged (the portable loop needs no
        // CPU features).
        unsafe { portable_block(self, x, rows, panels, out, bias) };
    }
}

/// Where one tile × panel product writes: first output element, row stride, valid columns.
#[cfg(target_arch = "x86_64")]
struct Dst {
    ptr: *mut f32,
    ldo: usize,
    cols: usize,
}

/// The same arithmetic as the VNNI kernel, one element at a time. It reads through bounds-checked
/// slices; only the output is written through a raw pointer.
///
/// # Safety
/// As [`Kernel::block`] (for `w`); no CPU features are needed.
unsafe fn portable_block(
    w: &QuantI8,
    x: &QuantRows,
    rows: std::ops::Range<usize>,
    panels: std::ops::Range<usize>,
    out: OutPtr,
    bias: Option<&[f32]>,
) {
    let groups = w.k4 / 4;
    for p in panels {
        for (i, r) in rows.clone().enumerate() {
            let (t, j) = (i / MR, i % MR);
            let mr = MR.min(rows.len() - t * MR);
            let tile = &x.bytes[w.k4 * (rows.start + t * MR)..];
            for c in 0..NR.min(w.n - p * NR) {
                let col = p * NR + c;
                let mut acc = 0i32;
                for g in 0..groups {
                    let block = &w.data[(p * groups + g) * 2 + c / 16].0;
                    for b in 0..4 {
                        let wv = block[(c % 16) * 4 + b] as i32;
                        let xb = tile[(g * mr + j) * 4 + b] ^ if x.signed { 0x80 } else { 0 };
                        acc += wv * xb as i32;
                    }
                }
                let scale = w.scales[col] * x.scales[r];
                let b = bias.map_or(0.0, |b| b[col]);
                // SAFETY: r is in `rows` and col in panel p's columns, a block of the output
                // that the contract makes valid and this call's alone.
                unsafe { *out.at(r * w.n + col) = (acc - w.offsets[col]) as f32 * scale + b };
            }
        }
    }
}

#[cfg(target_arch = "x86_64")]
mod vnni {
    use std::arch::x86_64::*;

    use super::{column_masks, Dst, OutPtr, QuantI8, QuantRows, MR, NR};
    use crate::models::cpu::packed::with_tile_rows;

    /// [`super::quantize_row`] with AVX-512: max |v|, then 16 values per conversion.
    ///
    /// # Safety
    /// The CPU must support AVX-512F, and `out` must hold at least `row.len()` bytes: whole
    /// groups of 16 are stored through raw pointers with no bounds checks (debug builds assert
    /// the length).
    #[target_feature(enable = "avx512f")]
    pub(super) unsafe fn quantize_row(row: &[f32], out: &mut [u8]) -> f32 {
        debug_assert!(
            out.len() >= row.len(),
            "{} bytes for {} values",
            out.len(),
            row.len()
        );
        let n16 = row.len() / 16 * 16;
        let mut max = _mm512_setzero_ps();
        for i in (0..n16).step_by(16) {
            // SAFETY: i + 16 <= n16 <= row.len().
            let v = unsafe { _mm512_loadu_ps(row.as_ptr().add(i)) };
            max = _mm512_max_ps(max, _mm512_abs_ps(v));
        }
        let mut m = _mm512_reduce_max_ps(max);
        for &v in &row[n16..] {
            m = m.max(v.abs());
        }
        let scale = if m > 0.0 && m.is_finite() {
            m / 127.0
        } else {
            1.0
        };
        let inv = 1.0 / scale;
        let vinv = _mm512_set1_ps(inv);
        let (lo, hi) = (_mm512_set1_epi32(-127), _mm512_set1_epi32(127));
        let shift = _mm512_set1_epi32(128);
        for i in (0..n16).step_by(16) {
            // SAFETY: i + 16 <= n16 <= row.len().
            let v = unsafe { _mm512_loadu_ps(row.as_ptr().add(i)) };
            let q = _mm512_cvtps_epi32(_mm512_mul_ps(v, vinv));
            let q = _mm512_add_epi32(_mm512_min_epi32(_mm512_max_epi32(q, lo), hi), shift);
            // SAFETY: bytes i..i + 16 of `out`, which holds at least row.len() >= n16 bytes (the
            // contract); the store is unaligned.
            unsafe {
                _mm_storeu_si128(
                    out.as_mut_ptr().add(i) as *mut __m128i,
                    _mm512_cvtepi32_epi8(q),
                )
            };
        }
        super::quantize_values(&row[n16..], &mut out[n16..], inv, false);
        scale
    }

    /// Runs every panel of `panels` against the tiles of `rows`.
    ///
    /// # Safety
    /// The CPU must support AVX-512F and AVX-512 VNNI, and the arguments must meet
    /// [`super::Kernel::block`]'s contract for `w`: `x` is `w`'s packing of `m` rows, `rows`
    /// inside `0..m` starting at a multiple of [`MR`], `panels` inside `w`'s panels, a bias of
    /// `w.n` values, and `out` a buffer of `m × w.n` f32 whose `rows` × `panels` block only
    /// this call touches.
    pub(super) unsafe fn block(
        w: &QuantI8,
        x: &QuantRows,
        rows: std::ops::Range<usize>,
        panels: std::ops::Range<usize>,
        out: OutPtr,
        bias: Option<&[f32]>,
    ) {
        let groups = w.k4 / 4;
        let panel_count = w.n.div_ceil(NR);
        debug_assert!(rows.start.is_multiple_of(MR), "rows start inside a tile");
        debug_assert!(
            x.scales.len() >= rows.end,
            "x holds fewer than {} rows",
            rows.end
        );
        debug_assert!(
            x.bytes.len() >= w.k4 * rows.end,
            "x holds fewer than {} rows",
            rows.end
        );
        debug_assert!(panels.end <= panel_count, "panels beyond the weight's");
        debug_assert!(
            bias.is_none_or(|b| b.len() == w.n),
            "bias has the wrong length"
        );
        for p in panels {
            // SAFETY: p < panel_count, and `data` holds 2·groups 64-byte blocks per panel.
            let panel = unsafe { w.data.as_ptr().add(p * groups * 2) } as *const u8;
            let cols = NR.min(w.n - p * NR);
            for t in 0..rows.len().div_ceil(MR) {
                let r0 = rows.start + t * MR;
                let mr = MR.min(rows.end - r0);
                // SAFETY: each `add` stays inside its buffer: r0 < rows.end <= m, and `x` holds
                // k4 bytes and one scale per row; `scales` and `offsets` are padded to whole
                // panels (NR per panel, p < panel_count); p·NR < n, the bias's length; panel
                // p + 1 (groups·128 bytes after panel p) exists when it is prefetched.
                let tile = unsafe {
                    Tile {
                        x: x.bytes.as_ptr().add(w.k4 * r0),
                        x_scales: x.scales.as_ptr().add(r0),
                        panel,
                        groups,
                        scales: w.scales.as_ptr().add(p * NR),
                        offsets: w.offsets.as_ptr().add(p * NR),
                        bias: bias.map(|b| b.as_ptr().add(p * NR)),
                        prefetch: (t == 0 && p + 1 < panel_count).then(|| panel.add(groups * 128)),
                        dst: Dst {
                            ptr: out.at(r0 * w.n + p * NR),
                            ldo: w.n,
                            cols,
                        },
                    }
                };
                // SAFETY: the CPU has AVX-512F and VNNI (this function's contract), and `tile`
                // meets `kernel`'s contract for R = mr: `x` is the tile's groups × mr × 4 bytes
                // (tile t holds mr = min(MR, rows left) rows) and `x_scales` its mr scales,
                // `panel` is panel p (groups·128 bytes, 64-byte aligned as `Block`s are),
                // `scales`/`offsets`/`bias` hold the panel's `cols` columns, and `dst` is row r0,
                // column p·NR of `out`, with rows mr and columns `cols` (≤ n - p·NR) in this
                // call's block.
                unsafe { with_tile_rows!(mr, kernel, tile) }
            }
        }
    }

    /// One tile × panel product's operands.
    struct Tile {
        /// `groups × R × 4` bytes of the tile.
        x: *const u8,
        x_scales: *const f32,
        /// `groups × 128` bytes, 64-byte aligned.
        panel: *const u8,
        groups: usize,
        /// The panel's `NR` column scales and offsets.
        scales: *const f32,
        offsets: *const i32,
        bias: Option<*const f32>,
        prefetch: Option<*const u8>,
        dst: Dst,
    }

    /// The `R × NR` product of one quantized tile and one panel, rescaled, plus bias, stored to
    /// `t.dst`.
    ///
    /// # Safety
    /// - The CPU must support AVX-512F and AVX-512 VNNI.
    /// - `t.x` must be valid for reads of `t.groups · R · 4` bytes and `t.x_scales` of `R` f32;
    ///   `t.panel` for reads of `t.groups · 128` bytes, 64-byte aligned (aligned loads);
    ///   `t.prefetch`, when given, a panel of the same size.
    /// - `t.dst.cols` must be in `1..=NR`; `t.scales`, `t.offsets` and `t.bias` (when given)
    ///   valid for reads of `t.dst.cols` values.
    /// - For each `r < R`, `t.dst.ptr + r · t.dst.ldo` must be valid for writes of `t.dst.cols`
    ///   f32 that no other thread reads or writes during the call.
    #[target_feature(enable = "avx512f,avx512vnni")]
    unsafe fn kernel<const R: usize>(t: Tile) {
        debug_assert!(
            (t.panel as usize).is_multiple_of(64),
            "panel not 64-byte aligned"
        );
        debug_assert!(
            (1..=NR).contains(&t.dst.cols),
            "{} columns in a panel",
            t.dst.cols
        );
        let mut lo = [_mm512_setzero_si512(); R];
        let mut hi = [_mm512_setzero_si512(); R];
        let next = t.prefetch.unwrap_or(t.panel);
        for g in 0..t.groups {
            // SAFETY: g < groups: the prefetches and loads stay inside group g (128 bytes at
            // g·128, 64-byte aligned) of the panels, and the tile's group g (R · 4 bytes at
            // g·R·4) is inside it.
            let (w0, w1, xg) = unsafe {
                _mm_prefetch::<_MM_HINT_T1>(next.add(g * 128) as *const i8);
                _mm_prefetch::<_MM_HINT_T1>(next.add(g * 128 + 64) as *const i8);
                (
                    _mm512_load_si512(t.panel.add(g * 128) as *const __m512i),
                    _mm512_load_si512(t.panel.add(g * 128 + 64) as *const __m512i),
                    t.x.add(g * R * 4),
                )
            };
            for r in 0..R {
                // SAFETY: r < R: row r's four bytes of the group, read unaligned.
                let four = unsafe { (xg.add(r * 4) as *const i32).read_unaligned() };
                let xv = _mm512_set1_epi32(four);
                lo[r] = _mm512_dpbusd_epi32(lo[r], xv, w0);
                hi[r] = _mm512_dpbusd_epi32(hi[r], xv, w1);
            }
        }
        // Lanes at and beyond `cols` are masked off: masked loads and stores do not touch
        // them, so the second half's address may lie past the end (hence `wrapping_add`).
        let (m0, m1) = column_masks(t.dst.cols);
        // SAFETY: the masks enable only the first `cols` lanes, which scales and offsets hold.
        let (s0, s1, o0, o1) = unsafe {
            (
                _mm512_maskz_loadu_ps(m0, t.scales),
                _mm512_maskz_loadu_ps(m1, t.scales.wrapping_add(16)),
                _mm512_maskz_loadu_epi32(m0, t.offsets),
                _mm512_maskz_loadu_epi32(m1, t.offsets.wrapping_add(16)),
            )
        };
        let (b0, b1) = match t.bias {
            // SAFETY: as for the scales: the bias holds the first `cols` lanes.
            Some(b) => unsafe {
                (
                    _mm512_maskz_loadu_ps(m0, b),
                    _mm512_maskz_loadu_ps(m1, b.wrapping_add(16)),
                )
            },
            None => (_mm512_setzero_ps(), _mm512_setzero_ps()),
        };
        for r in 0..R {
            // SAFETY: r < R: one of the tile's scales.
            let xs = _mm512_set1_ps(unsafe { *t.x_scales.add(r) });
            let v0 = _mm512_cvtepi32_ps(_mm512_sub_epi32(lo[r], o0));
            let v1 = _mm512_cvtepi32_ps(_mm512_sub_epi32(hi[r], o1));
            let y0 = _mm512_fmadd_ps(v0, _mm512_mul_ps(s0, xs), b0);
            let y1 = _mm512_fmadd_ps(v1, _mm512_mul_ps(s1, xs), b1);
            let d = t.dst.ptr.wrapping_add(r * t.dst.ldo);
            // SAFETY: row r < R of the output block: the masks enable its first `cols`
            // elements, which are valid and this call's alone.
            unsafe {
                _mm512_mask_storeu_ps(d, m0, y0);
                _mm512_mask_storeu_ps(d.wrapping_add(16), m1, y1);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::models::cpu::packed::tests::{naive, values};

    /// The exact integer arithmetic of the scheme, written out plainly.
    fn reference(
        x: &[f32],
        w: &[f32],
        bias: Option<&[f32]>,
        m: usize,
        k: usize,
        n: usize,
    ) -> Vec<f32> {
        let mut out = vec![0f32; m * n];
        for r in 0..m {
            let xs = row_scale(&x[r * k..(r + 1) * k]);
            for c in 0..n {
                let ws = row_scale(&w[c * k..(c + 1) * k]);
                let acc: i32 = (0..k)
                    .map(|i| {
                        quantize(x[r * k + i], 1.0 / xs) as i32
                            * quantize(w[c * k + i], 1.0 / ws) as i32
                    })
                    .sum();
                out[r * n + c] = acc as f32 * (ws * xs) + bias.map_or(0.0, |b| b[c]);
            }
        }
        out
    }

    fn check(m: usize, k: usize, n: usize, kernel: Q8Kernel) {
        let x = values(m * k, 1);
        let w = values(n * k, 2);
        let b = values(n, 3);
        let q = QuantI8::with_kernel(&w, n, k, kernel);
        assert_eq!(q.kernel(), kernel);
        for bias in [None, Some(&b[..])] {
            let got = q.matmul(&x, m, bias);
            let want = reference(&x, &w, bias, m, k, n);
            for (i, (g, e)) in got.iter().zip(&want).enumerate() {
                assert!(
                    (g - e).abs() <= 1e-4 * (1.0 + e.abs()),
                    "{}: {m}x{k}x{n} at {i}: {g} vs {e}",
                    kernel.name()
                );
            }
            // And close to the f32 product: the quantization error stays small.
            let exact = naive(&x, &w, bias, m, k, n);
            let scale = exact.iter().fold(0f32, |a, v| a.max(v.abs()));
            for (g, e) in got.iter().zip(&exact) {
                assert!((g - e).abs() <= 0.03 * scale, "{m}x{k}x{n}: {g} vs f32 {e}");
            }
        }
    }

    #[test]
    fn matches_the_integer_reference_for_every_tile_and_panel_shape() {
        crate::models::cpu::isa::for_each_isa("dense_q8", |isa| for_shapes(isa.q8()));
    }

    fn for_shapes(kernel: Q8Kernel) {
        for &(m, k, n) in &[
            (1, 7, 1),
            (5, 4, 8),
            (7, 9, 9),
            (6, 13, 17),
            (4, 130, 24),
            (3, 33, 31),
            (12, 64, 32),
            (13, 18, 33),
            (97, 40, 70),
            (200, 9, 65),
        ] {
            check(m, k, n, kernel);
        }
    }

    #[test]
    fn portable_loop_matches_every_kernel_exactly() {
        crate::models::cpu::isa::for_each_isa("dense_q8", |isa| portable_matches(isa.q8()));
    }

    fn portable_matches(kernel: Q8Kernel) {
        let (m, k, n) = (14, 37, 45);
        let x = values(m * k, 4);
        let w = values(n * k, 5);
        let q = QuantI8::with_kernel(&w, n, k, kernel);
        let rows = q.pack_rows(&x, m);
        let mut a = vec![0f32; m * n];
        // SAFETY: `a` holds m × n elements; one call writes all of them.
        unsafe {
            portable_block(
                &q,
                &rows,
                0..m,
                0..n.div_ceil(NR),
                OutPtr(a.as_mut_ptr()),
                None,
            )
        };
        let b = q.matmul(&x, m, None);
        assert_eq!(a, b, "{}", kernel.name());
    }

    #[test]
    fn extreme_values_do_not_saturate() {
        // Pairs of ±127 × ±127: 2 · 127 · 127 per 16-bit pair, the most the AVX2 trick sums.
        let k = 64;
        let w: Vec<f32> = (0..2 * k)
            .map(|i| if i % 4 < 2 { 1.0 } else { -1.0 })
            .collect();
        let x: Vec<f32> = (0..2 * k)
            .map(|i| if i < k || i % 4 < 2 { 1.0 } else { -1.0 })
            .collect();
        crate::models::cpu::isa::for_each_isa("dense_q8", |isa| {
            let q = QuantI8::with_kernel(&w, 2, k, isa.q8());
            let got = q.matmul(&x, 2, None);
            assert_eq!(got, reference(&x, &w, None, 2, k, 2), "{}", isa.q8().name());
            assert_eq!(got, [0.0, 0.0, 64.0, 64.0], "{}", isa.q8().name());
        });
    }

    #[test]
    fn zero_rows_and_zero_weights_are_exact() {
        let q = QuantI8::new(&[0.0; 64], 8, 8);
        assert_eq!(q.matmul(&[0.0; 16], 2, None), vec![0.0; 16]);
        assert!(q.matmul(&[], 0, None).is_empty());
    }
}
