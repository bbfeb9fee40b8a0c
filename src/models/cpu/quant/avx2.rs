//! The 8-bit kernels on 256-bit registers: AVX-VNNI (`vpdpbusd`) and plain AVX2
//! (`vpmaddubsw` + `vpmaddwd`). Both walk the AVX-512 panels 16 columns at a time; a group of
//! four `k` of 8 columns is one ymm register (four bytes per column).
//!
//! Plain AVX2 has no u8 × s8 dot product into 32 bits: `vpmaddubsw` sums pairs of u8 × s8
//! products into saturating 16 bits, and `(p + 128) · q` pairs can exceed 32767. So this kernel
//! multiplies `|q|` (unsigned, ≤ 127) by `p · sign(q)` (signed, |·| ≤ 127): the same products,
//! pair sums within ±32258, no saturation; `vpmaddwd` by ones then adds the pairs into 32 bits.
//! The sum is `Σ p · q` directly, so no offset is subtracted.

#![cfg(target_arch = "x86_64")]

use std::arch::x86_64::*;

use super::{OutPtr, QuantI8, QuantRows, MR, NR};
use crate::models::cpu::packed::{blocks_in, row_blocks, store16, Ahead};

/// Rows of a tile per block: VNNI keeps 2 accumulators a row (2·6 + 3 registers), AVX2 also
/// needs `|q|`, the ones and the products (2·4 + 6; 5 rows measured no faster).
const ROWS_VNNI: usize = 6;
const ROWS_AVX2: usize = 4;

/// Operands of one block: `R` rows of a quantized tile against 16 columns of a panel.
struct Block {
    /// Group 0 of the block's first row; row r, group g at `(g · x_rows + r) · 4`.
    x: *const u8,
    x_rows: usize,
    x_scales: *const f32,
    /// Group 0 of the 16 columns (64 bytes, 32-byte aligned); group g at `g · 128`.
    panel: *const u8,
    groups: usize,
    /// The 16 columns' scales and offsets (padded: always 16 readable).
    scales: *const f32,
    offsets: *const i32,
    bias: Option<*const f32>,
    dst: *mut f32,
    ldo: usize,
    /// Valid columns of the 16.
    cols: usize,
    /// Cache lines of the next panel to prefetch.
    ahead: Ahead,
}

/// The arguments of [`super::Kernel::block`].
pub(super) struct Job<'a> {
    pub w: &'a QuantI8,
    pub x: &'a QuantRows,
    pub rows: std::ops::Range<usize>,
    pub panels: std::ops::Range<usize>,
    pub out: OutPtr,
    pub bias: Option<&'a [f32]>,
}

/// Splits the job's `rows` × `panels` into blocks of up to `block_rows` rows and calls
/// `run(rows_in_block, block)`.
///
/// # Safety
/// The job must meet [`super::Kernel::block`]'s contract; `run` must be safe to call with
/// blocks that meet the kernels' contracts below (the caller's CPU check).
unsafe fn for_blocks(job: Job<'_>, block_rows: usize, mut run: impl FnMut(usize, Block)) {
    let Job {
        w,
        x,
        rows,
        panels,
        out,
        bias,
    } = job;
    let groups = w.k4 / 4;
    let all_panels = w.n.div_ceil(NR);
    // Blocks in a pass over a panel's 16-column half.
    let calls_per_half = blocks_in(&rows, block_rows);
    for p in panels {
        // SAFETY: p is a panel of the weight: 2·groups 64-byte blocks each.
        let panel = unsafe { w.data.as_ptr().add(p * groups * 2) } as *const u8;
        let cols = NR.min(w.n - p * NR);
        // The blocks of this panel's pass share out the next panel's 2·groups cache lines
        // (`Ahead`); panel p + 1 starts right after this one's 2·groups lines.
        let calls = calls_per_half * cols.div_ceil(16);
        let lines = 2 * groups;
        let next = (p + 1 < all_panels).then(|| panel.wrapping_add(lines * 64) as *const i8);
        let mut call = 0;
        for t in 0..rows.len().div_ceil(MR) {
            let r_tile = rows.start + t * MR;
            let mr = MR.min(rows.end - r_tile);
            for half in 0..cols.div_ceil(16) {
                let c0 = p * NR + half * 16;
                for (r0, rn) in row_blocks(mr, block_rows) {
                    let ahead = Ahead::share(next, lines, (call, calls), groups);
                    call += 1;
                    // SAFETY: every offset stays inside its buffer: rows r_tile + r0 < rows.end
                    // (k4 bytes and one scale each); column c0 < n (the bias's length), and the
                    // scales and offsets are padded to whole panels, so 16 values from c0 are
                    // there; half·64 bytes is inside the panel's group 0 (128 bytes).
                    let block = unsafe {
                        Block {
                            x: x.bytes.as_ptr().add(w.k4 * r_tile + r0 * 4),
                            x_rows: mr,
                            x_scales: x.scales.as_ptr().add(r_tile + r0),
                            panel: panel.add(half * 64),
                            groups,
                            scales: w.scales.as_ptr().add(c0),
                            offsets: w.offsets.as_ptr().add(c0),
                            bias: bias.map(|b| b.as_ptr().add(c0)),
                            dst: out.at((r_tile + r0) * w.n + c0),
                            ldo: w.n,
                            cols: 16.min(cols - half * 16),
                            ahead,
                        }
                    };
                    run(rn, block);
                }
            }
        }
    }
}

/// [`super::Kernel::block`] on 256-bit registers: AVX-VNNI when `with_vnni`, else plain AVX2.
///
/// # Safety
/// The CPU must support AVX2 and FMA, and AVX-VNNI when `with_vnni`; the job meets
/// [`super::Kernel::block`]'s contract.
pub(super) unsafe fn block(job: Job<'_>, with_vnni: bool) {
    // SAFETY: the contract passed on; each block meets the kernels' contract for its row count
    // (see `for_blocks`), and the CPU has the features (this function's contract).
    unsafe {
        if with_vnni {
            for_blocks(job, ROWS_VNNI, |r, b| match r {
                1 => vnni::<1>(b),
                2 => vnni::<2>(b),
                3 => vnni::<3>(b),
                4 => vnni::<4>(b),
                5 => vnni::<5>(b),
                _ => vnni::<ROWS_VNNI>(b),
            })
        } else {
            for_blocks(job, ROWS_AVX2, |r, b| match r {
                1 => avx2::<1>(b),
                2 => avx2::<2>(b),
                3 => avx2::<3>(b),
                _ => avx2::<ROWS_AVX2>(b),
            })
        }
    }
}

/// The block's `R × 16` products with AVX-VNNI, rescaled, plus bias, stored.
///
/// # Safety
/// - The CPU must support AVX2, FMA and AVX-VNNI.
/// - `b.x` readable at `(g · b.x_rows + r) · 4 .. + 4` for `g < b.groups`, `r < R`;
///   `b.x_scales` for `R` values; `b.panel + g · 128` readable for 64 bytes, 32-byte aligned;
///   `b.scales`, `b.offsets` for 16 values; `b.bias` for `b.cols` (1..=16).
/// - For each `r < R`, `b.dst + r · b.ldo` valid for writes of `b.cols` f32 that no other
///   thread touches during the call.
#[target_feature(enable = "avx2,fma,avxvnni")]
unsafe fn vnni<const R: usize>(b: Block) {
    let mut lo = [_mm256_setzero_si256(); R];
    let mut hi = [_mm256_setzero_si256(); R];
    for g in 0..b.groups {
        // SAFETY: group g of the panel (two aligned 32-byte loads) and of the block's rows.
        let (w0, w1, xg) = unsafe {
            let wp = b.panel.add(g * 128);
            (
                _mm256_load_si256(wp as *const __m256i),
                _mm256_load_si256(wp.add(32) as *const __m256i),
                b.x.add(g * b.x_rows * 4),
            )
        };
        for r in 0..R {
            // SAFETY: r < R: row r's four bytes of group g, read unaligned.
            let xv = _mm256_set1_epi32(unsafe { (xg.add(r * 4) as *const i32).read_unaligned() });
            lo[r] = _mm256_dpbusd_avx_epi32(lo[r], xv, w0);
            hi[r] = _mm256_dpbusd_avx_epi32(hi[r], xv, w1);
        }
    }
    // SAFETY: the offsets hold 16 values (padded panels).
    let (o0, o1) = unsafe {
        (
            _mm256_loadu_si256(b.offsets as *const __m256i),
            _mm256_loadu_si256(b.offsets.add(8) as *const __m256i),
        )
    };
    for r in 0..R {
        lo[r] = _mm256_sub_epi32(lo[r], o0);
        hi[r] = _mm256_sub_epi32(hi[r], o1);
    }
    // SAFETY: this function's contract is `store`'s.
    unsafe { store(&b, &lo, &hi) }
}

/// The block's `R × 16` products with plain AVX2 (see the module docs), rescaled, plus bias.
///
/// # Safety
/// As [`vnni`], with AVX2 and FMA only.
#[target_feature(enable = "avx2,fma")]
unsafe fn avx2<const R: usize>(b: Block) {
    let mut lo = [_mm256_setzero_si256(); R];
    let mut hi = [_mm256_setzero_si256(); R];
    let ones = _mm256_set1_epi16(1);
    let mut prefetches = b.ahead.start();
    for g in 0..b.groups {
        prefetches.step(g);
        // SAFETY: as in `vnni`.
        let (w0, w1, xg) = unsafe {
            let wp = b.panel.add(g * 128);
            (
                _mm256_load_si256(wp as *const __m256i),
                _mm256_load_si256(wp.add(32) as *const __m256i),
                b.x.add(g * b.x_rows * 4),
            )
        };
        let (a0, a1) = (_mm256_abs_epi8(w0), _mm256_abs_epi8(w1));
        for r in 0..R {
            // SAFETY: as in `vnni`. The bytes are `p` as signed bytes (`QuantRows::signed`).
            let four = unsafe { (xg.add(r * 4) as *const i32).read_unaligned() };
            let p = _mm256_set1_epi32(four);
            let d0 = _mm256_maddubs_epi16(a0, _mm256_sign_epi8(p, w0));
            let d1 = _mm256_maddubs_epi16(a1, _mm256_sign_epi8(p, w1));
            lo[r] = _mm256_add_epi32(lo[r], _mm256_madd_epi16(d0, ones));
            hi[r] = _mm256_add_epi32(hi[r], _mm256_madd_epi16(d1, ones));
        }
    }
    // SAFETY: this function's contract is `store`'s.
    unsafe { store(&b, &lo, &hi) }
}

/// Quantizes the values of `row` in whole groups of 32 into `out` (`p` as signed bytes when
/// `signed`, else `p + 128`), as [`super::quantize`] does for finite values: `v · inv` rounded
/// to the nearest integer, ties to even (the conversion's default rounding), within ±127.
/// Returns how many values it did; the caller does the rest.
#[target_feature(enable = "avx2,fma")]
pub(super) fn quantize_32s(row: &[f32], out: &mut [u8], inv: f32, signed: bool) -> usize {
    let n32 = row.len().min(out.len()) / 32 * 32;
    let vinv = _mm256_set1_ps(inv);
    let floor = _mm256_set1_epi8(-127);
    let flip = _mm256_set1_epi8(if signed { 0 } else { -128 });
    // `packs` works within 128-bit lanes: this puts the four groups of 8 back in order.
    let order = _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7);
    for (src, dst) in row[..n32]
        .chunks_exact(32)
        .zip(out[..n32].chunks_exact_mut(32))
    {
        let q = |i: usize| {
            // SAFETY: i ≤ 24: values i..i + 8 of the 32 in `src`, read unaligned.
            let v = unsafe { _mm256_loadu_ps(src.as_ptr().add(i)) };
            _mm256_cvtps_epi32(_mm256_mul_ps(v, vinv))
        };
        let lo = _mm256_packs_epi32(q(0), q(8));
        let hi = _mm256_packs_epi32(q(16), q(24));
        let bytes = _mm256_permutevar8x32_epi32(_mm256_packs_epi16(lo, hi), order);
        // |v · inv| ≤ 127 but for rounding at the edge and non-finite values (which the
        // saturating packs take to -128): clamp to -127 as the other kernels do.
        let bytes = _mm256_xor_si256(_mm256_max_epi8(bytes, floor), flip);
        // SAFETY: `dst` is 32 bytes; the store is unaligned.
        unsafe { _mm256_storeu_si256(dst.as_mut_ptr() as *mut __m256i, bytes) };
    }
    n32
}

/// Rescales the integer sums (`lo`: columns 0..8, `hi`: 8..16), adds the bias and stores the
/// valid columns.
///
/// # Safety
/// AVX2 and FMA; `b` as in [`vnni`].
#[target_feature(enable = "avx2,fma")]
unsafe fn store<const R: usize>(b: &Block, lo: &[__m256i; R], hi: &[__m256i; R]) {
    let lanes = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    let m0 = _mm256_cmpgt_epi32(_mm256_set1_epi32(b.cols.min(8) as i32), lanes);
    let m1 = _mm256_cmpgt_epi32(_mm256_set1_epi32(b.cols.saturating_sub(8) as i32), lanes);
    // SAFETY: the scales hold 16 values; the bias is read only in the `cols` lanes the masks
    // enable (masked-off lanes are not read).
    let (s0, s1, b0, b1) = unsafe {
        let (b0, b1) = match b.bias {
            Some(p) => (
                _mm256_maskload_ps(p, m0),
                _mm256_maskload_ps(p.wrapping_add(8), m1),
            ),
            None => (_mm256_setzero_ps(), _mm256_setzero_ps()),
        };
        (
            _mm256_loadu_ps(b.scales),
            _mm256_loadu_ps(b.scales.add(8)),
            b0,
            b1,
        )
    };
    for r in 0..R {
        // SAFETY: r < R: one of the block's row scales.
        let xs = _mm256_set1_ps(unsafe { *b.x_scales.add(r) });
        let y0 = _mm256_fmadd_ps(_mm256_cvtepi32_ps(lo[r]), _mm256_mul_ps(s0, xs), b0);
        let y1 = _mm256_fmadd_ps(_mm256_cvtepi32_ps(hi[r]), _mm256_mul_ps(s1, xs), b1);
        let d = b.dst.wrapping_add(r * b.ldo);
        // SAFETY: row r of the block: its `cols` valid elements are this call's alone; (m0, m1)
        // enable lanes 0..cols of the two halves.
        unsafe { store16(d, b.cols, (m0, m1), (y0, y1)) }
    }
}

#[cfg(test)]
mod tests {
    use super::super::{quantize_row_avx2, quantize_row_plain};
    use crate::models::cpu::isa::Isa;

    #[test]
    fn the_vector_quantizer_gives_the_scalar_loops_bytes() {
        if !Isa::Avx2.available() {
            println!("skipped: quantize_row_avx2 needs {}", Isa::Avx2.needs());
            return;
        }
        for len in [0usize, 1, 31, 32, 33, 64, 100, 517] {
            // Halves after scaling (ties: both directions of ties-to-even), the row's maximum
            // at ±127, zeros, and values that scale to just under and over a half.
            let row: Vec<f32> = (0..len)
                .map(|i| match i % 7 {
                    0 => 127.0,
                    1 => -(i as f32 % 127.0) - 0.5,
                    2 => (i as f32 % 126.0) + 0.5,
                    3 => 0.0,
                    4 => -0.0,
                    5 => (i as f32 % 50.0) + 0.499_99,
                    _ => -(i as f32 % 50.0) - 0.500_01,
                })
                .map(|v| v * 0.03)
                .collect();
            for signed in [false, true] {
                let (mut a, mut b) = (vec![0u8; len], vec![0u8; len]);
                // SAFETY: AVX2 and FMA are available (checked above).
                let sa = unsafe { quantize_row_avx2(&row, &mut a, signed) };
                let sb = quantize_row_plain(&row, &mut b, signed);
                assert_eq!(sa.to_bits(), sb.to_bits(), "scale, {len} values");
                assert_eq!(a, b, "{len} values, signed {signed}");
            }
        }
    }
}
