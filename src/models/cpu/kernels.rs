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
                    // SAFETY: (r + i, o) and (r + i, o + 1) are inside `out`, and only this task
                    // writes these columns.
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
                // SAFETY: as above.
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

/// Dot products of one weight row with four rows of `x` (laid out one after another).
fn dot4(w: &[f32], x4: &[f32], k: usize) -> [f32; 4] {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma")
        {
            // SAFETY: the CPU supports the features the function is compiled for.
            return unsafe { avx2::dot4(w, x4, k) };
        }
    }
    let mut out = [0f32; 4];
    for (i, o) in out.iter_mut().enumerate() {
        *o = dot(w, &x4[i * k..(i + 1) * k]);
    }
    out
}

/// Two weight rows against four rows of `x`.
fn dot2x4(w0: &[f32], w1: &[f32], x4: &[f32], k: usize) -> ([f32; 4], [f32; 4]) {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma")
        {
            // SAFETY: the CPU supports the features the function is compiled for.
            return unsafe { avx2::dot2x4(w0, w1, x4, k) };
        }
    }
    (dot4(w0, x4, k), dot4(w1, x4, k))
}

fn dot(a: &[f32], b: &[f32]) -> f32 {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma")
        {
            // SAFETY: the CPU supports the features the function is compiled for.
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

/// `Σ exp(x - max)` over a row, in f64: the normalizer of a softmax. Vectorized with a
/// polynomial `exp` (relative error below 2e-7) on AVX2 machines.
pub fn sum_exp(row: &[f32], max: f32) -> f64 {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma")
        {
            // SAFETY: the CPU supports the features the function is compiled for.
            return unsafe { avx2::sum_exp(row, max) };
        }
    }
    row.iter().map(|&x| ((x - max) as f64).exp()).sum()
}

#[cfg(target_arch = "x86_64")]
mod avx2 {
    use std::arch::x86_64::*;

    #[target_feature(enable = "avx2,fma")]
    unsafe fn hsum(v: __m256) -> f32 {
        let lo = _mm256_castps256_ps128(v);
        let hi = _mm256_extractf128_ps(v, 1);
        let s = _mm_add_ps(lo, hi);
        let s = _mm_add_ps(s, _mm_movehl_ps(s, s));
        let s = _mm_add_ss(s, _mm_shuffle_ps(s, s, 1));
        _mm_cvtss_f32(s)
    }

    /// Same accumulation order as one lane of [`dot4`], so a row gives the same result alone
    /// or in a batch.
    #[target_feature(enable = "avx2,fma")]
    pub unsafe fn dot(a: &[f32], b: &[f32]) -> f32 {
        let n = a.len().min(b.len());
        let (pa, pb) = (a.as_ptr(), b.as_ptr());
        let mut acc = _mm256_setzero_ps();
        let mut i = 0;
        while i + 8 <= n {
            acc = _mm256_fmadd_ps(_mm256_loadu_ps(pa.add(i)), _mm256_loadu_ps(pb.add(i)), acc);
            i += 8;
        }
        let mut s = hsum(acc);
        while i < n {
            s += *pa.add(i) * *pb.add(i);
            i += 1;
        }
        s
    }

    /// `exp(x)` for x ≤ 0 (Cephes-style range reduction and degree-6 polynomial); inputs below
    /// -87 flush to zero, as they would in f32 anyway.
    #[target_feature(enable = "avx2,fma")]
    unsafe fn exp_neg(x: __m256) -> __m256 {
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

    #[target_feature(enable = "avx2,fma")]
    pub unsafe fn sum_exp(row: &[f32], max: f32) -> f64 {
        let p = row.as_ptr();
        let m = _mm256_set1_ps(max);
        let mut acc = _mm256_setzero_pd();
        let mut i = 0;
        while i + 8 <= row.len() {
            let e = exp_neg(_mm256_sub_ps(_mm256_loadu_ps(p.add(i)), m));
            acc = _mm256_add_pd(acc, _mm256_cvtps_pd(_mm256_castps256_ps128(e)));
            acc = _mm256_add_pd(acc, _mm256_cvtps_pd(_mm256_extractf128_ps(e, 1)));
            i += 8;
        }
        let mut lanes = [0f64; 4];
        _mm256_storeu_pd(lanes.as_mut_ptr(), acc);
        let mut s: f64 = lanes.iter().sum();
        while i < row.len() {
            s += ((*p.add(i) - max) as f64).exp();
            i += 1;
        }
        s
    }

    /// Two weight rows against four rows of x: eight accumulators keep both FMA units busy;
    /// each lane sums in the same order as [`dot`] and [`dot4`].
    #[target_feature(enable = "avx2,fma")]
    pub unsafe fn dot2x4(w0: &[f32], w1: &[f32], x4: &[f32], k: usize) -> ([f32; 4], [f32; 4]) {
        let (p0, p1, px) = (w0.as_ptr(), w1.as_ptr(), x4.as_ptr());
        let z = _mm256_setzero_ps();
        let (mut a0, mut a1, mut a2, mut a3) = (z, z, z, z);
        let (mut c0, mut c1, mut c2, mut c3) = (z, z, z, z);
        let mut i = 0;
        while i + 8 <= k {
            let u = _mm256_loadu_ps(p0.add(i));
            let v = _mm256_loadu_ps(p1.add(i));
            let x0 = _mm256_loadu_ps(px.add(i));
            a0 = _mm256_fmadd_ps(u, x0, a0);
            c0 = _mm256_fmadd_ps(v, x0, c0);
            let x1 = _mm256_loadu_ps(px.add(k + i));
            a1 = _mm256_fmadd_ps(u, x1, a1);
            c1 = _mm256_fmadd_ps(v, x1, c1);
            let x2 = _mm256_loadu_ps(px.add(2 * k + i));
            a2 = _mm256_fmadd_ps(u, x2, a2);
            c2 = _mm256_fmadd_ps(v, x2, c2);
            let x3 = _mm256_loadu_ps(px.add(3 * k + i));
            a3 = _mm256_fmadd_ps(u, x3, a3);
            c3 = _mm256_fmadd_ps(v, x3, c3);
            i += 8;
        }
        let mut out0 = [hsum(a0), hsum(a1), hsum(a2), hsum(a3)];
        let mut out1 = [hsum(c0), hsum(c1), hsum(c2), hsum(c3)];
        while i < k {
            for r in 0..4 {
                let xv = *px.add(r * k + i);
                out0[r] += *p0.add(i) * xv;
                out1[r] += *p1.add(i) * xv;
            }
            i += 1;
        }
        (out0, out1)
    }

    /// One weight row against four rows of x: each loaded weight vector is used four times.
    #[target_feature(enable = "avx2,fma")]
    pub unsafe fn dot4(w: &[f32], x4: &[f32], k: usize) -> [f32; 4] {
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
            let wv = _mm256_loadu_ps(pw.add(i));
            a0 = _mm256_fmadd_ps(wv, _mm256_loadu_ps(px.add(i)), a0);
            a1 = _mm256_fmadd_ps(wv, _mm256_loadu_ps(px.add(k + i)), a1);
            a2 = _mm256_fmadd_ps(wv, _mm256_loadu_ps(px.add(2 * k + i)), a2);
            a3 = _mm256_fmadd_ps(wv, _mm256_loadu_ps(px.add(3 * k + i)), a3);
            i += 8;
        }
        let mut out = [hsum(a0), hsum(a1), hsum(a2), hsum(a3)];
        while i < k {
            let wv = *pw.add(i);
            for (r, o) in out.iter_mut().enumerate() {
                *o += wv * *px.add(r * k + i);
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
