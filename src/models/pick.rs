//! Token choice where the logits are: on a GPU, a decode step's `rows × vocab` logits (67 028
//! per row for opus-mt) stay on the device and only each row's best few tokens and its
//! log-sum-exp come back, instead of the whole matrix every step.
//!
//! The result is what the host-side search computes from the full rows: the `keep` largest
//! values after masking, ties broken towards the lower token id (as `argmax` and
//! [`crate::generate::Processors`] do on the host), and the row's log-sum-exp before or after
//! the masks, as the search needs.

use candle_core::{DType, Result, Tensor, D};

/// What a step needs from its logits.
#[derive(Debug, Clone, Default)]
pub struct PickSpec {
    /// Tokens kept per row, best first.
    pub keep: usize,
    /// `(row, token)` pairs whose logit is `-inf` before the choice (banned tokens, eos before
    /// the minimum length, repeated n-grams).
    pub masked: Vec<(u32, u32)>,
    /// Whether the log-sum-exp is taken after the masks (greedy search scores the processed
    /// row) or before them (beam search scores `log_softmax` of the raw row, then masks).
    pub lse_after_masks: bool,
}

/// The chosen tokens of every row: row `r`'s are `ids[r * keep..(r + 1) * keep]`, best first.
#[derive(Debug, Clone, PartialEq)]
pub struct Picked {
    pub keep: usize,
    pub ids: Vec<u32>,
    /// The logits of `ids` after masking (`-inf` once a row has no finite value left).
    pub values: Vec<f32>,
    /// Each row's log-sum-exp (`-inf` for a row that is all `-inf`).
    pub lse: Vec<f32>,
}

impl Picked {
    /// Row `r`'s chosen ids and values.
    pub fn row(&self, r: usize) -> (&[u32], &[f32]) {
        let span = r * self.keep..(r + 1) * self.keep;
        (&self.ids[span.clone()], &self.values[span])
    }
}

/// Chooses from `logits` `(rows, vocab)` (any float dtype, any device) on their device.
pub fn pick(logits: &Tensor, spec: &PickSpec) -> Result<Picked> {
    let (rows, vocab) = logits.dims2()?;
    let device = logits.device();
    // A fresh f32 copy: masks and choices are written into it in place.
    let x = match logits.dtype() {
        DType::F32 => logits.contiguous()?.copy()?,
        _ => logits.to_dtype(DType::F32)?.contiguous()?,
    };
    let lse_before = (!spec.lse_after_masks)
        .then(|| log_sum_exp(&x))
        .transpose()?;
    if !spec.masked.is_empty() {
        let at: Vec<u32> = spec
            .masked
            .iter()
            .filter(|&&(r, t)| (r as usize) < rows && (t as usize) < vocab)
            .map(|&(r, t)| r * vocab as u32 + t)
            .collect();
        let n = at.len();
        let flat = x.flatten_all()?;
        flat.scatter_set(
            &Tensor::from_vec(at, n, device)?,
            &Tensor::full(f32::NEG_INFINITY, n, device)?,
            0,
        )?;
    }
    let lse = match lse_before {
        Some(lse) => lse,
        None => log_sum_exp(&x)?,
    };
    let ids_all = Tensor::arange(0u32, vocab as u32, device)?.broadcast_as((rows, vocab))?;
    // Stands for "not the maximum": a broadcast scalar, not a rows × vocab buffer per step.
    let none = Tensor::new(vocab as u32, device)?.broadcast_as((rows, vocab))?;
    let gone = Tensor::full(f32::NEG_INFINITY, (rows, 1), device)?;
    let (mut ids, mut values) = (Vec::with_capacity(spec.keep), Vec::with_capacity(spec.keep));
    for _ in 0..spec.keep {
        let best = x.max_keepdim(D::Minus1)?;
        // The lowest id holding the maximum; `min(vocab - 1)` keeps a NaN row in range.
        let id = x
            .broadcast_eq(&best)?
            .where_cond(&ids_all, &none)?
            .min_keepdim(D::Minus1)?
            .minimum(vocab as u32 - 1)?;
        x.scatter_set(&id, &gone, 1)?;
        ids.push(id);
        values.push(best);
    }
    let (ids, values) = if spec.keep == 0 {
        (Vec::new(), Vec::new())
    } else {
        let ids = Tensor::cat(&ids, 1)?.flatten_all()?.to_vec1::<u32>()?;
        (ids, Tensor::cat(&values, 1)?.flatten_all()?.to_vec1()?)
    };
    let lse = lse
        .to_vec1::<f32>()?
        .into_iter()
        .map(|l| if l.is_nan() { f32::NEG_INFINITY } else { l })
        .collect();
    Ok(Picked {
        keep: spec.keep,
        ids,
        values,
        lse,
    })
}

/// `log(sum(exp(x)))` per row, shifted by the row's maximum.
fn log_sum_exp(x: &Tensor) -> Result<Tensor> {
    let max = x.max_keepdim(D::Minus1)?;
    let sum = x.broadcast_sub(&max)?.exp()?.sum_keepdim(D::Minus1)?;
    (sum.log()? + max)?.squeeze(D::Minus1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Device;

    /// The host's rule: masked values `-inf`, then value descending, ties by lower id.
    fn reference(row: &[f32], masked: &[u32], keep: usize) -> (Vec<u32>, Vec<f32>, f64, f64) {
        let lse = |r: &[f32]| {
            let m = r.iter().copied().fold(f32::NEG_INFINITY, f32::max) as f64;
            m + r.iter().map(|&v| (v as f64 - m).exp()).sum::<f64>().ln()
        };
        let before = lse(row);
        let mut r = row.to_vec();
        for &t in masked {
            r[t as usize] = f32::NEG_INFINITY;
        }
        let mut order: Vec<u32> = (0..r.len() as u32).collect();
        order.sort_by(|&a, &b| r[b as usize].total_cmp(&r[a as usize]).then(a.cmp(&b)));
        order.truncate(keep);
        let values = order.iter().map(|&i| r[i as usize]).collect();
        (order, values, before, lse(&r))
    }

    fn logits(rows: usize, vocab: usize) -> Vec<f32> {
        // Few distinct values, so that ties are common (as in bf16 logits).
        let mut s = 7u64;
        (0..rows * vocab)
            .map(|_| {
                s = s
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                ((s >> 33) % 13) as f32 * 0.5 - 3.0
            })
            .collect()
    }

    #[test]
    fn picks_what_the_host_picks_with_masks_and_ties() {
        let (rows, vocab, keep) = (5, 37, 8);
        let data = logits(rows, vocab);
        let masked = vec![
            (0, 3),
            (0, 4),
            (2, 36),
            (2, 0),
            (4, 5),
            (4, 5),
            (9, 1),
            (1, 99),
        ];
        for dtype in [DType::F32, DType::BF16, DType::F16] {
            let t = Tensor::from_vec(data.clone(), (rows, vocab), &Device::Cpu)
                .unwrap()
                .to_dtype(dtype)
                .unwrap();
            for after in [false, true] {
                let spec = PickSpec {
                    keep,
                    masked: masked.clone(),
                    lse_after_masks: after,
                };
                let p = pick(&t, &spec).unwrap();
                let host = t.to_dtype(DType::F32).unwrap().to_vec2::<f32>().unwrap();
                for (r, row) in host.iter().enumerate() {
                    let m: Vec<u32> = masked
                        .iter()
                        .filter(|&&(mr, t)| mr as usize == r && (t as usize) < vocab)
                        .map(|&(_, t)| t)
                        .collect();
                    let (ids, values, before, after_lse) = reference(row, &m, keep);
                    assert_eq!(p.row(r), (&ids[..], &values[..]), "{dtype:?} row {r}");
                    let want = if after { after_lse } else { before };
                    assert!(
                        (p.lse[r] as f64 - want).abs() < 1e-5,
                        "{dtype:?} row {r} lse"
                    );
                }
            }
        }
        // The input is left as it was.
        let t = Tensor::from_vec(data.clone(), (rows, vocab), &Device::Cpu).unwrap();
        let spec = PickSpec {
            keep,
            masked,
            lse_after_masks: true,
        };
        pick(&t, &spec).unwrap();
        assert_eq!(t.flatten_all().unwrap().to_vec1::<f32>().unwrap(), data);
    }

    #[test]
    fn a_row_with_every_token_masked_gives_minus_infinity() {
        let t = Tensor::from_vec(vec![1.0f32, 2.0, 0.5, 0.5], (2, 2), &Device::Cpu).unwrap();
        let spec = PickSpec {
            keep: 3,
            masked: vec![(0, 0), (0, 1)],
            lse_after_masks: true,
        };
        let p = pick(&t, &spec).unwrap();
        assert_eq!(p.lse[0], f32::NEG_INFINITY);
        assert!(p.row(0).1.iter().all(|v| *v == f32::NEG_INFINITY));
        assert!(p.row(0).0.iter().all(|&i| i < 2));
        // Row 1: a tie, the lower id first, then nothing finite.
        assert_eq!(p.row(1).0[..2], [0, 1]);
        assert_eq!(p.row(1).1, [0.5, 0.5, f32::NEG_INFINITY]);
        assert!((p.lse[1] - (0.5 + 2f32.ln())).abs() < 1e-6);
    }
}
