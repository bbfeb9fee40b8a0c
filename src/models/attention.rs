//! Pieces of multi-head attention shared by the architectures.

use candle_core::{Result, Tensor, D};

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

/// `softmax(q kᵀ + bias) v` over heads; `bias` broadcasts to `(B, H, Tq, Tk)` and carries masks
/// (and, for T5, the relative position bias). `q` is expected to be scaled already.
pub fn attend(q: &Tensor, k: &Tensor, v: &Tensor, bias: Option<&Tensor>) -> Result<Tensor> {
    let scores = q.matmul(&k.t()?)?;
    let scores = match bias {
        Some(bias) => scores.broadcast_add(bias)?,
        None => scores,
    };
    let probs = candle_nn::ops::softmax_last_dim(&scores)?;
    probs.matmul(v)
}

/// Keys and values of the tokens decoded so far, `(B, H, T, Dh)` each.
#[derive(Debug, Clone, Default)]
pub struct KvCache {
    kv: Option<(Tensor, Tensor)>,
}

impl KvCache {
    /// Appends the new keys/values and returns the full ones.
    pub fn append(&mut self, k: Tensor, v: Tensor) -> Result<(Tensor, Tensor)> {
        let (k, v) = match self.kv.take() {
            None => (k, v),
            Some((pk, pv)) => (
                Tensor::cat(&[&pk, &k], D::Minus2)?,
                Tensor::cat(&[&pv, &v], D::Minus2)?,
            ),
        };
        self.kv = Some((k.clone(), v.clone()));
        Ok((k, v))
    }

    /// Number of cached positions.
    pub fn len(&self) -> usize {
        self.kv.as_ref().map_or(0, |(k, _)| k.dim(2).unwrap_or(0))
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Keeps rows `rows` (a u32 tensor of batch indices), in that order.
    pub fn select_rows(&mut self, rows: &Tensor) -> Result<()> {
        if let Some((k, v)) = self.kv.take() {
            self.kv = Some((k.index_select(rows, 0)?, v.index_select(rows, 0)?));
        }
        Ok(())
    }
}
