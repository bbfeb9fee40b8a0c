//! An encoder's row-wise layers on the real positions of a padded batch alone.
//!
//! Everything in an encoder layer but the attention works row by row (dense layers, norms,
//! activations, residual sums), so the rows at padded positions are work whose results nothing
//! reads: attention gives padded keys exactly zero weight ([`super::padding_mask`]), and callers
//! read the encoder output at real positions only. [`Unpadded`] gathers the real rows of a
//! `(B, T, D)` batch into `(1, N, D)` for those layers and scatters them back, with zeros at
//! the padded positions, for the attention. Each real row is the same computation either way
//! (the packed and 8-bit CPU kernels give a row the same bits whatever rows come with it;
//! candle's GEMM, with portable kernels, may order its sums otherwise), so only the padded
//! positions of the output change: zeros instead of values nobody uses.
//!
//! A batch of inputs of 20 to 60 tokens padded to 60 is a third padding; one of equal lengths
//! has none, and then nothing is gathered.

use candle_core::{DType, Device, Result, Tensor};

/// Least share of padded positions (1/8) for which gathering pays for its copies.
const MIN_PADDED_EIGHTHS: usize = 1;

/// The real positions of a padded batch, or none when it runs as it is.
#[derive(Debug, Clone)]
pub struct Unpadded {
    /// Flat indices `b · T + t` of the real positions, in order; `None`: every position.
    index: Option<Tensor>,
    batch: usize,
    positions: usize,
}

impl Unpadded {
    /// From a `(B, T)` mask of ones (keep) and zeros (padding). Gathers only on the CPU (where
    /// the dense layers' time is the padded rows' cost) and when at least an eighth of the
    /// positions are padding.
    pub fn new(attention_mask: &Tensor) -> Result<Self> {
        let (batch, positions) = attention_mask.dims2()?;
        let all = Self {
            index: None,
            batch,
            positions,
        };
        if !matches!(attention_mask.device(), Device::Cpu) {
            return Ok(all);
        }
        let keep = attention_mask
            .to_dtype(DType::U32)?
            .flatten_all()?
            .to_vec1::<u32>()?;
        let index: Vec<u32> = (0..keep.len() as u32)
            .filter(|&i| keep[i as usize] != 0)
            .collect();
        let padded = keep.len() - index.len();
        if index.is_empty() || padded * 8 < keep.len() * MIN_PADDED_EIGHTHS {
            return Ok(all);
        }
        let n = index.len();
        Ok(Self {
            index: Some(Tensor::from_vec(index, n, attention_mask.device())?),
            ..all
        })
    }

    /// Whether the layers run on the real rows alone.
    pub fn gathers(&self) -> bool {
        self.index.is_some()
    }

    /// `(B, T, D)` → the real rows `(1, N, D)` (or `x` itself when nothing is gathered).
    pub fn pack(&self, x: &Tensor) -> Result<Tensor> {
        let Some(index) = &self.index else {
            return Ok(x.clone());
        };
        let d = x.dim(2)?;
        x.reshape((self.batch * self.positions, d))?
            .index_select(index, 0)?
            .unsqueeze(0)
    }

    /// The real rows `(1, N, D)` → `(B, T, D)` with zeros at the padded positions (or `x`
    /// itself when nothing is gathered).
    pub fn unpack(&self, x: &Tensor) -> Result<Tensor> {
        let Some(index) = &self.index else {
            return Ok(x.clone());
        };
        let d = x.dim(2)?;
        let rows = self.batch * self.positions;
        Tensor::zeros((rows, d), x.dtype(), x.device())?
            .index_add(index, &x.squeeze(0)?, 0)?
            .reshape((self.batch, self.positions, d))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mask(rows: &[&[u32]]) -> Tensor {
        let t = rows[0].len();
        let flat: Vec<u32> = rows.iter().flat_map(|r| r.iter().copied()).collect();
        Tensor::from_vec(flat, (rows.len(), t), &Device::Cpu).unwrap()
    }

    #[test]
    fn packs_the_real_rows_and_puts_them_back_with_zeros_at_padding() {
        let m = mask(&[&[1, 1, 1, 0], &[1, 0, 0, 0]]);
        let u = Unpadded::new(&m).unwrap();
        assert!(u.gathers());
        let x = Tensor::arange(1f32, 25.0, &Device::Cpu)
            .unwrap()
            .reshape((2, 4, 3))
            .unwrap();
        let packed = u.pack(&x).unwrap();
        assert_eq!(packed.dims(), &[1, 4, 3]);
        let rows: Vec<Vec<f32>> = packed.squeeze(0).unwrap().to_vec2().unwrap();
        assert_eq!(
            rows,
            [
                [1.0, 2.0, 3.0],
                [4.0, 5.0, 6.0],
                [7.0, 8.0, 9.0],
                [13.0, 14.0, 15.0]
            ]
        );
        let back: Vec<Vec<Vec<f32>>> = u.unpack(&packed).unwrap().to_vec3().unwrap();
        let want: Vec<Vec<Vec<f32>>> = x.to_vec3().unwrap();
        let z = vec![0f32; 3];
        assert_eq!(back[0][..3], want[0][..3]);
        assert_eq!(back[0][3], z);
        assert_eq!(back[1][0], want[1][0]);
        assert_eq!(back[1][1..], [z.clone(), z.clone(), z]);
    }

    #[test]
    fn little_or_no_padding_runs_the_batch_as_it_is() {
        // 1 padded position of 9: under an eighth.
        let few = mask(&[&[1, 1, 1], &[1, 1, 1], &[1, 1, 0]]);
        let none = mask(&[&[1, 1], &[1, 1]]);
        for m in [few, none] {
            let u = Unpadded::new(&m).unwrap();
            assert!(!u.gathers());
            let x = Tensor::ones(
                (m.dim(0).unwrap(), m.dim(1).unwrap(), 2),
                DType::F32,
                &Device::Cpu,
            )
            .unwrap();
            assert_eq!(u.pack(&x).unwrap().dims(), x.dims());
        }
    }
}
