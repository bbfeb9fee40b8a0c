//! CPU kernel for the dense layers while decoding: `y = x · Wᵀ + b` with few rows of `x` and a
//! row-major weight `W` (out × in), as checkpoints store it.
//!
//! A general GEMM packs the weight into panels on every call; with one to a few dozen rows of `x`
//! (one decoder step) that packing costs more than the product itself, and the 512 × 67028 output
//! projection dominates a step. Here every weight row is read once, straight from the checkpoint
//! layout, and multiplied with all rows of `x` while it is in cache: memory-bound at batch 1,
//! register-blocked FMA at larger batches. Rows of `W` are split across threads.

use rayon::prelude::*;

/// Weight rows per parallel task.
const ROWS_PER_TASK: usize = 64;

/// Output pointer shared by tasks that write disjoint columns.
#[derive(Clone, Copy)]
struct OutPtr(*mut f32);
// SAFETY: tasks write disjoint output elements (their own weight rows' columns).
unsafe impl Send for OutPtr {}
unsafe impl Sync for OutPtr {}

impl OutPtr {
    /// Element `i` of the output. Callers write only elements no other task writes.
    fn at(&self, i: usize) -> *mut f32 {
        self.0.wrapping_add(i)
    }
}

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
        for o in start..end {
            let wr = &w[o * k..(o + 1) * k];
            let b = bias.map_or(0.0, |b| b[o]);
            let mut r = 0;
            while r + 4 <= m {
                let d = dot4(wr, &x[r * k..(r + 4) * k], k);
                for (i, v) in d.iter().enumerate() {
                    // SAFETY: (r + i, o) is inside `out`, and only this task writes column o.
                    unsafe { *ptr.at((r + i) * n + o) = v + b };
                }
                r += 4;
            }
            while r < m {
                let v = dot(wr, &x[r * k..(r + 1) * k]);
                // SAFETY: as above.
                unsafe { *ptr.at(r * n + o) = v + b };
                r += 1;
            }
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

    fn naive(x: &[f32], w: &[f32], bias: Option<&[f32]>, m: usize, k: usize, n: usize) -> Vec<f32> {
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
