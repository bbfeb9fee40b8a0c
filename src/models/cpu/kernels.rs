//! CPU kernel for the dense layers while decoding: `y = x · Wᵀ + b` with few rows of `x` and a
//! row-major weight `W` (out × in), as checkpoints store it.
//!
//! A general GEMM packs the weight into panels on every call; with one to a few dozen rows of `x`
//! (one decoder step) that packing costs more than the product itself, and the 512 × 67028 output
//! projection dominates a step. Here every weight row is read once, straight from the checkpoint
//! layout, and multiplied with all rows of `x` while it is in cache: memory-bound at batch 1,
//! register-blocked FMA at larger batches. Rows of `W` are split across threads.

use rayon::prelude::*;

use super::packed::OutPtr;

/// Weight rows per parallel task.
const ROWS_PER_TASK: usize = 64;

/// `out[r * n + o] = bias[o] + Σ_k x[r * k_dim + k] · w[o * k_dim + k]` for `m` rows of `x`.
pub fn matmul_xwt(
    x: &[f32],
    w: &[f32],
    bias: Option<&[f32]>,
    m: usize,
    k: usize,
    n: usize,
) -> Vec<f32> {
    assert_eq!(x.len(), m * k, "x has the wrong length");
    assert_eq!(w.len(), n * k, "w has the wrong length");
    let mut out = vec![0f32; m * n];
    let ptr = OutPtr(out.as_mut_ptr());
    let tasks = n.div_ceil(ROWS_PER_TASK);
    (0..tasks).into_par_iter().for_each(|t| {
        let start = t * ROWS_PER_TASK;
        let end = (start + ROWS_PER_TASK).min(n);
        let mut o = start;
        while o < end {
            // Two weight rows at a time against four rows of x: eight independent FMA chains.
            let pair = o + 1 < end;
            let w0 = &w[o * k..(o + 1) * k];
            let w1 = if pair {
                &w[(o + 1) * k..(o + 2) * k]
            } else {
                w0
            };
            let b0 = bias.map_or(0.0, |b| b[o]);
            let b1 = if pair {
                bias.map_or(0.0, |b| b[o + 1])
            } else {
                0.0
            };
            let mut r = 0;
            while r + 4 <= m {
                let x4 = &x[r * k..(r + 4) * k];
                let (d0, d1) = if pair {
                    dot2x4(w0, w1, x4, k)
                } else {
                    (dot4(w0, x4, k), [0.0; 4])
                };
                for i in 0..4 {
                    // SAFETY: `out` holds `m × n` elements and outlives the parallel loop;
                    // r + i < m and o (o + 1 when `pair`) < end <= n, so both elements are inside
                    // it, and only this task writes columns start..end.
                    unsafe {
                        *ptr.at((r + i) * n + o) = d0[i] + b0;
                        if pair {
                            *ptr.at((r + i) * n + o + 1) = d1[i] + b1;
                        }
                    }
                }
                r += 4;
            }
            while r < m {
                let xr = &x[r * k..(r + 1) * k];
                // SAFETY: as above, with r < m.
                unsafe {
                    *ptr.at(r * n + o) = dot(w0, xr) + b0;
                    if pair {
                        *ptr.at(r * n + o + 1) = dot(w1, xr) + b1;
                    }
                }
                r += 1;
            }
            o += if pair { 2 } else { 1 };
        }
    });
    out
}

/// Dot products of one weight row (its first `k` values) with four rows of `x` (laid out one
/// after another, `k` values each).
fn dot4(w: &[f32], x4: &[f32], k: usize) -> [f32; 4] {
    // Checked once per call, so that the AVX2 kernel's reads stay inside the slices.
    let (w, x4) = (&w[..k], &x4[..4 * k]);
    #[cfg(target_arch = "x86_64")]
    {
        if super::isa::Isa::active().avx2() {
            // SAFETY: the active kernels include AVX2 + FMA, which `Isa::active` checked the CPU for; `w` holds `k` values and `x4`
            // `4 · k` (sliced so above).
            return unsafe { avx2::dot4(w, x4, k) };
        }
    }
    let mut out = [0f32; 4];
    for (i, o) in out.iter_mut().enumerate() {
        *o = dot(w, &x4[i * k..(i + 1) * k]);
    }
    out
}

/// Two weight rows (their first `k` values) against four rows of `x` (`k` values each).
fn dot2x4(w0: &[f32], w1: &[f32], x4: &[f32], k: usize) -> ([f32; 4], [f32; 4]) {
    let (w0, w1, x4) = (&w0[..k], &w1[..k], &x4[..4 * k]);
    #[cfg(target_arch = "x86_64")]
    {
        if super::isa::Isa::active().avx2() {
            // SAFETY: the active kernels include AVX2 + FMA, which `Isa::active` checked the CPU for; `w0` and `w1` hold `k` values and
            // `x4` `4 · k` (sliced so above).
            return unsafe { avx2::dot2x4(w0, w1, x4, k) };
        }
    }
    (dot4(w0, x4, k), dot4(w1, x4, k))
}

/// `Σ a[i] · b[i]` over two slices of the same length.
fn dot(a: &[f32], b: &[f32]) -> f32 {
    #[cfg(target_arch = "x86_64")]
    {
        if super::isa::Isa::active().avx2() {
            // SAFETY: the active kernels include AVX2 + FMA, which `Isa::active` checked the CPU for; `avx2::dot` reads only the shorter
            // slice's length of each, so any lengths are in bounds.
            return unsafe { avx2::dot(a, b) };
        }
    }
    let mut acc = [0f32; 8];
    let chunks = a.len() / 8;
    for c in 0..chunks {
        for l in 0..8 {
            acc[l] += a[c * 8 + l] * b[c * 8 + l];
        }
    }
    let tail: f32 = (chunks * 8..a.len()).map(|i| a[i] * b[i]).sum();
    acc.iter().sum::<f32>() + tail
}

/// `√(2/π)`, of the tanh approximation of GELU.
const GELU_C: f32 = 0.797_884_6;

/// GELU's tanh approximation in place, `0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³)))` (T5's
/// `gelu_new`, transformers' `NewGELUActivation`): vectorized on AVX2 machines, where `tanh`
/// comes from a polynomial `exp` (absolute error below 1e-6).
pub fn gelu_tanh(x: &mut [f32]) {
    #[cfg(target_arch = "x86_64")]
    {
        if super::isa::Isa::active().avx2() {
            // SAFETY: the active kernels include AVX2 + FMA, which `Isa::active` checked the
            // CPU for; `avx2::gelu_tanh` touches `x` only within its length.
            return unsafe { avx2::gelu_tanh(x) };
        }
    }
    for v in x {
        *v = gelu_one(*v);
    }
}

fn gelu_one(v: f32) -> f32 {
    0.5 * v * (1.0 + (GELU_C * (v + 0.044715 * v * v * v)).tanh())
}

/// `Σ exp(x - max)` over a row, in f64: the normalizer of a softmax. Vectorized with a
/// polynomial `exp` (relative error below 2e-7) on AVX2 machines.
pub fn sum_exp(row: &[f32], max: f32) -> f64 {
    #[cfg(target_arch = "x86_64")]
    {
        if super::isa::Isa::active().avx2() {
            // SAFETY: the active kernels include AVX2 + FMA, which `Isa::active` checked the CPU for; `avx2::sum_exp` reads `row` only
            // within its length.
            return unsafe { avx2::sum_exp(row, max) };
        }
    }
    row.iter().map(|&x| ((x - max) as f64).exp()).sum()
}

#[cfg(target_arch = "x86_64")]
mod avx2 {
    use std::arch::x86_64::*;

    /// The sum of the eight lanes of `v`. Touches no memory, so it is a safe function: the
    /// compiler lets only code compiled with AVX2 and FMA call it without `unsafe`.
    #[target_feature(enable = "avx2,fma")]
    fn hsum(v: __m256) -> f32 {
        let lo = _mm256_castps256_ps128(v);
        let hi = _mm256_extractf128_ps(v, 1);
        let s = _mm_add_ps(lo, hi);
        let s = _mm_add_ps(s, _mm_movehl_ps(s, s));
        let s = _mm_add_ss(s, _mm_shuffle_ps(s, s, 1));
        _mm_cvtss_f32(s)
    }

    /// `Σ a[i] · b[i]` over the shorter slice's length. Same accumulation order as one lane of
    /// [`dot4`], so a row gives the same result alone or in a batch.
    ///
    /// # Safety
    /// The CPU must support AVX2 and FMA. Any slice lengths are sound: reads stop at the shorter
    /// slice's end (callers pass equal lengths, which debug builds check).
    #[target_feature(enable = "avx2,fma")]
    pub unsafe fn dot(a: &[f32], b: &[f32]) -> f32 {
        debug_assert_eq!(a.len(), b.len(), "dot of slices of different lengths");
        let n = a.len().min(b.len());
        let (pa, pb) = (a.as_ptr(), b.as_ptr());
        let mut acc = _mm256_setzero_ps();
        let mut i = 0;
        while i + 8 <= n {
            // SAFETY: i + 8 <= n <= both lengths: elements i..i + 8 are inside both slices.
            let (va, vb) = unsafe { (_mm256_loadu_ps(pa.add(i)), _mm256_loadu_ps(pb.add(i))) };
            acc = _mm256_fmadd_ps(va, vb, acc);
            i += 8;
        }
        let mut s = hsum(acc);
        while i < n {
            // SAFETY: i < n <= both lengths.
            s += unsafe { *pa.add(i) * *pb.add(i) };
            i += 1;
        }
        s
    }

    /// `exp(x)` for x ≤ 0 (Cephes-style range reduction and degree-6 polynomial); inputs below
    /// -87 flush to zero, as they would in f32 anyway. Touches no memory, hence safe (see
    /// [`hsum`]).
    #[target_feature(enable = "avx2,fma")]
    fn exp_neg(x: __m256) -> __m256 {
        let x = _mm256_max_ps(x, _mm256_set1_ps(-87.0));
        let n = _mm256_round_ps(
            _mm256_mul_ps(x, _mm256_set1_ps(std::f32::consts::LOG2_E)),
            _MM_FROUND_TO_NEAREST_INT,
        );
        // r = x - n ln 2, with ln 2 split in two for accuracy.
        let r = _mm256_fnmadd_ps(n, _mm256_set1_ps(0.693_359_4), x);
        let r = _mm256_fnmadd_ps(n, _mm256_set1_ps(-2.121_944_4e-4), r);
        let mut p = _mm256_set1_ps(1.987_569_1e-4);
        p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.398_199_9e-3));
        p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(8.333_452e-3));
        p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(4.166_579_6e-2));
        p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.666_666_5e-1));
        p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(0.5));
        p = _mm256_fmadd_ps(
            p,
            _mm256_mul_ps(r, r),
            _mm256_add_ps(r, _mm256_set1_ps(1.0)),
        );
        // Scale by 2^n through the exponent bits.
        let pow2 = _mm256_slli_epi32(
            _mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)),
            23,
        );
        let out = _mm256_mul_ps(p, _mm256_castsi256_ps(pow2));
        // Below the clamp the true value is under f32's normal range: return 0.
        _mm256_and_ps(out, _mm256_cmp_ps(x, _mm256_set1_ps(-87.0), _CMP_GT_OQ))
    }

    /// [`super::gelu_tanh`] with AVX2: `tanh(|y|) = (1 - e^{-2|y|}) / (1 + e^{-2|y|})`.
    ///
    /// # Safety
    /// The CPU must support AVX2 and FMA. Any `x` is sound: reads and writes stay within it.
    #[target_feature(enable = "avx2,fma")]
    pub unsafe fn gelu_tanh(x: &mut [f32]) {
        let n8 = x.len() / 8 * 8;
        let sign_bit = _mm256_set1_ps(-0.0);
        let (half, one, c, c3) = (
            _mm256_set1_ps(0.5),
            _mm256_set1_ps(1.0),
            _mm256_set1_ps(super::GELU_C),
            _mm256_set1_ps(super::GELU_C * 0.044715),
        );
        for i in (0..n8).step_by(8) {
            // SAFETY: i + 8 <= n8 <= x.len().
            let v = unsafe { _mm256_loadu_ps(x.as_ptr().add(i)) };
            // y = c·v + c·0.044715·v³
            let y = _mm256_fmadd_ps(
                _mm256_mul_ps(c3, v),
                _mm256_mul_ps(v, v),
                _mm256_mul_ps(c, v),
            );
            let a = _mm256_andnot_ps(sign_bit, y);
            let t = exp_neg(_mm256_mul_ps(a, _mm256_set1_ps(-2.0)));
            let th = _mm256_div_ps(_mm256_sub_ps(one, t), _mm256_add_ps(one, t));
            let th = _mm256_or_ps(th, _mm256_and_ps(y, sign_bit));
            let out = _mm256_mul_ps(_mm256_mul_ps(half, v), _mm256_add_ps(one, th));
            // SAFETY: as for the load.
            unsafe { _mm256_storeu_ps(x.as_mut_ptr().add(i), out) };
        }
        for v in &mut x[n8..] {
            *v = super::gelu_one(*v);
        }
    }

    /// [`super::sum_exp`] with AVX2.
    ///
    /// # Safety
    /// The CPU must support AVX2 and FMA. Any `row` is sound: reads stay within its length.
    #[target_feature(enable = "avx2,fma")]
    pub unsafe fn sum_exp(row: &[f32], max: f32) -> f64 {
        let p = row.as_ptr();
        let m = _mm256_set1_ps(max);
        let mut acc = _mm256_setzero_pd();
        let mut i = 0;
        while i + 8 <= row.len() {
            // SAFETY: i + 8 <= row.len(): elements i..i + 8 are inside `row`.
            let v = unsafe { _mm256_loadu_ps(p.add(i)) };
            let e = exp_neg(_mm256_sub_ps(v, m));
            acc = _mm256_add_pd(acc, _mm256_cvtps_pd(_mm256_castps256_ps128(e)));
            acc = _mm256_add_pd(acc, _mm256_cvtps_pd(_mm256_extractf128_ps(e, 1)));
            i += 8;
        }
        let mut lanes = [0f64; 4];
        // SAFETY: `lanes` is four f64, the 32 bytes an unaligned store writes.
        unsafe { _mm256_storeu_pd(lanes.as_mut_ptr(), acc) };
        let mut s: f64 = lanes.iter().sum();
        while i < row.len() {
            // SAFETY: i < row.len().
            s += ((unsafe { *p.add(i) } - max) as f64).exp();
            i += 1;
        }
        s
    }

    /// Two weight rows against four rows of x: eight accumulators keep both FMA units busy;
    /// each lane sums in the same order as [`dot`] and [`dot4`].
    ///
    /// # Safety
    /// The CPU must support AVX2 and FMA; `w0` and `w1` must hold at least `k` values each and
    /// `x4` at least `4 · k` (four rows of `k`, one after another). The values are read through
    /// raw pointers with no bounds checks (debug builds assert the lengths).
    #[target_feature(enable = "avx2,fma")]
    pub unsafe fn dot2x4(w0: &[f32], w1: &[f32], x4: &[f32], k: usize) -> ([f32; 4], [f32; 4]) {
        debug_assert!(
            w0.len() >= k && w1.len() >= k,
            "weight rows shorter than k = {k}"
        );
        debug_assert!(
            x4.len() >= 4 * k,
            "x4 holds {} values, not 4 · {k}",
            x4.len()
        );
        let (p0, p1, px) = (w0.as_ptr(), w1.as_ptr(), x4.as_ptr());
        let z = _mm256_setzero_ps();
        let (mut a0, mut a1, mut a2, mut a3) = (z, z, z, z);
        let (mut c0, mut c1, mut c2, mut c3) = (z, z, z, z);
        let mut i = 0;
        while i + 8 <= k {
            // SAFETY: i + 8 <= k: elements i..i + 8 of both weight rows (k values each, by the
            // contract) and of each x row r < 4 (at r · k + i, inside x4's 4 · k values).
            let (u, v, x0, x1, x2, x3) = unsafe {
                (
                    _mm256_loadu_ps(p0.add(i)),
                    _mm256_loadu_ps(p1.add(i)),
                    _mm256_loadu_ps(px.add(i)),
                    _mm256_loadu_ps(px.add(k + i)),
                    _mm256_loadu_ps(px.add(2 * k + i)),
                    _mm256_loadu_ps(px.add(3 * k + i)),
                )
            };
            a0 = _mm256_fmadd_ps(u, x0, a0);
            c0 = _mm256_fmadd_ps(v, x0, c0);
            a1 = _mm256_fmadd_ps(u, x1, a1);
            c1 = _mm256_fmadd_ps(v, x1, c1);
            a2 = _mm256_fmadd_ps(u, x2, a2);
            c2 = _mm256_fmadd_ps(v, x2, c2);
            a3 = _mm256_fmadd_ps(u, x3, a3);
            c3 = _mm256_fmadd_ps(v, x3, c3);
            i += 8;
        }
        let mut out0 = [hsum(a0), hsum(a1), hsum(a2), hsum(a3)];
        let mut out1 = [hsum(c0), hsum(c1), hsum(c2), hsum(c3)];
        while i < k {
            for r in 0..4 {
                // SAFETY: i < k and r < 4: inside both weight rows and x4, as above.
                let (xv, u, v) = unsafe { (*px.add(r * k + i), *p0.add(i), *p1.add(i)) };
                out0[r] += u * xv;
                out1[r] += v * xv;
            }
            i += 1;
        }
        (out0, out1)
    }

    /// One weight row against four rows of x: each loaded weight vector is used four times.
    ///
    /// # Safety
    /// The CPU must support AVX2 and FMA; `w` must hold at least `k` values and `x4` at least
    /// `4 · k`. The values are read through raw pointers with no bounds checks (debug builds
    /// assert the lengths).
    #[target_feature(enable = "avx2,fma")]
    pub unsafe fn dot4(w: &[f32], x4: &[f32], k: usize) -> [f32; 4] {
        debug_assert!(w.len() >= k, "weight row shorter than k = {k}");
        debug_assert!(
            x4.len() >= 4 * k,
            "x4 holds {} values, not 4 · {k}",
            x4.len()
        );
        let pw = w.as_ptr();
        let px = x4.as_ptr();
        let (mut a0, mut a1, mut a2, mut a3) = (
            _mm256_setzero_ps(),
            _mm256_setzero_ps(),
            _mm256_setzero_ps(),
            _mm256_setzero_ps(),
        );
        let mut i = 0;
        while i + 8 <= k {
            // SAFETY: i + 8 <= k: elements i..i + 8 of the weight row (k values) and of each x
            // row r < 4 (at r · k + i, inside x4's 4 · k values).
            let (wv, x0, x1, x2, x3) = unsafe {
                (
                    _mm256_loadu_ps(pw.add(i)),
                    _mm256_loadu_ps(px.add(i)),
                    _mm256_loadu_ps(px.add(k + i)),
                    _mm256_loadu_ps(px.add(2 * k + i)),
                    _mm256_loadu_ps(px.add(3 * k + i)),
                )
            };
            a0 = _mm256_fmadd_ps(wv, x0, a0);
            a1 = _mm256_fmadd_ps(wv, x1, a1);
            a2 = _mm256_fmadd_ps(wv, x2, a2);
            a3 = _mm256_fmadd_ps(wv, x3, a3);
            i += 8;
        }
        let mut out = [hsum(a0), hsum(a1), hsum(a2), hsum(a3)];
        while i < k {
            // SAFETY: i < k.
            let wv = unsafe { *pw.add(i) };
            for (r, o) in out.iter_mut().enumerate() {
                // SAFETY: i < k and r < 4: inside x4's 4 · k values.
                *o += wv * unsafe { *px.add(r * k + i) };
            }
            i += 1;
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::models::cpu::packed::tests::naive;

    #[test]
    fn gelu_tanh_matches_the_formula() {
        let mut x: Vec<f32> = (-400..=400).map(|i| i as f32 / 40.0).collect();
        x.extend([0.0, -0.0, 1e-6, -1e-6, 30.0, -30.0, 1e4, -1e4]);
        let want: Vec<f64> = x
            .iter()
            .map(|&v| {
                let v = v as f64;
                0.5 * v
                    * (1.0
                        + ((2.0 / std::f64::consts::PI).sqrt() * (v + 0.044715 * v.powi(3))).tanh())
            })
            .collect();
        crate::models::cpu::isa::for_each_isa("gelu_tanh", |isa| {
            let mut got = x.clone();
            // The active family decides the path; a forced family runs in `kernel_paths`.
            if isa == crate::models::cpu::isa::Isa::active() {
                gelu_tanh(&mut got);
            } else if isa.avx2() {
                // SAFETY: the family is available (checked by `for_each_isa`).
                unsafe { avx2::gelu_tanh(&mut got) };
            } else {
                got.iter_mut().for_each(|v| *v = gelu_one(*v));
            }
            for (i, (g, e)) in got.iter().zip(&want).enumerate() {
                assert!(
                    (*g as f64 - e).abs() <= 1e-6 * (1.0 + e.abs()),
                    "{} at {}: {g} vs {e}",
                    isa.name(),
                    x[i]
                );
            }
        });
    }

    #[test]
    fn sum_exp_is_accurate_including_infinities() {
        let row: Vec<f32> = (0..1003)
            .map(|i| ((i * 7919 % 2000) as f32 - 1500.0) / 37.0)
            .collect();
        let max = row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        let exact: f64 = row.iter().map(|&x| ((x - max) as f64).exp()).sum();
        let fast = sum_exp(&row, max);
        assert!(((fast - exact) / exact).abs() < 1e-6, "{fast} vs {exact}");
        let mut with_inf = row.clone();
        with_inf[3] = f32::NEG_INFINITY;
        with_inf[900] = f32::NEG_INFINITY;
        let exact: f64 = with_inf.iter().map(|&x| ((x - max) as f64).exp()).sum();
        assert!(((sum_exp(&with_inf, max) - exact) / exact).abs() < 1e-6);
    }

    #[test]
    fn matches_a_naive_product_for_odd_shapes() {
        let seq = |n: usize, s: f32| {
            (0..n)
                .map(|i| ((i * 37 % 101) as f32 - 50.0) * s)
                .collect::<Vec<f32>>()
        };
        for (m, k, n) in [
            (1, 512, 300),
            (3, 17, 5),
            (5, 64, 130),
            (9, 33, 1),
            (4, 8, 64),
        ] {
            let (x, w, b) = (seq(m * k, 0.01), seq(n * k, 0.02), seq(n, 0.1));
            let got = matmul_xwt(&x, &w, Some(&b), m, k, n);
            let want = naive(&x, &w, Some(&b), m, k, n);
            for (g, e) in got.iter().zip(&want) {
                assert!(
                    (g - e).abs() <= 1e-4 * e.abs().max(1.0),
                    "{m}x{k}x{n}: {g} vs {e}"
                );
            }
        }
    }
}
