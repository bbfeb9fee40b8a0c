//! Per-batch decode state shared by the architectures, kept outside the weights: the growing
//! self-attention cache and the cross-attention keys/values computed once from the encoder output.

use candle_core::{DType, Device, Result, Tensor};

use super::attention::{CrossKv, KvCache};
use super::pick::{pick, PickSpec};
use super::{padding_mask, Dense, StepDecoder, StepLogits};

/// One decoder layer's state.
#[derive(Debug)]
pub struct LayerState {
    pub self_kv: KvCache,
    pub cross_kv: CrossKv,
}

/// `starts` when some row joined later, `None` when every row starts at 0.
fn joined(starts: &[u32]) -> Option<&[u32]> {
    starts.iter().any(|&s| s > 0).then_some(starts)
}

/// The decode state of one batch.
#[derive(Debug)]
pub struct DecodeState {
    pub layers: Vec<LayerState>,
    /// Additive encoder padding mask `(B, 1, 1, S)` for cross-attention.
    pub cross_mask: Tensor,
    /// Positions cached so far (the longest-running row's count).
    pub past: usize,
    /// Per row, the first cached position that is its own: 0 for every row of a batch that
    /// started together; rows that joined a running batch ([`Self::append`]) start later and
    /// attend only from there, so their positions count from their own first token.
    starts: Vec<u32>,
}

impl DecodeState {
    /// A fresh state from each layer's cross-attention keys/values, `(B, S, D)` each.
    pub fn new(
        cross_kv: Vec<(Tensor, Tensor)>,
        heads: usize,
        attention_mask: &Tensor,
        dtype: DType,
    ) -> Result<Self> {
        Ok(Self {
            layers: cross_kv
                .into_iter()
                .map(|(k, v)| {
                    Ok(LayerState {
                        self_kv: KvCache::default(),
                        cross_kv: CrossKv::new(k, v, heads)?,
                    })
                })
                .collect::<Result<_>>()?,
            cross_mask: padding_mask(attention_mask, dtype)?,
            past: 0,
            starts: vec![0; attention_mask.dim(0)?],
        })
    }

    /// Rows in the batch.
    pub fn rows(&self) -> usize {
        self.starts.len()
    }

    /// Each row's first own position, when some row joined later (`None`: every row starts at
    /// 0, the case of a batch that started together).
    pub fn starts(&self) -> Option<&[u32]> {
        joined(&self.starts)
    }

    /// Each layer's state to update in a decode step, with [`Self::starts`] to read beside it.
    pub fn layers_and_starts(&mut self) -> (&mut [LayerState], Option<&[u32]>) {
        (&mut self.layers, joined(&self.starts))
    }

    /// Each row's own position count (its next position), when rows differ ([`Self::starts`]).
    pub fn row_positions(&self) -> Option<Vec<u32>> {
        self.starts()
            .map(|s| s.iter().map(|&s| self.past as u32 - s).collect())
    }

    /// Appends the rows of `other`, a state of the same model that has decoded nothing yet: they
    /// decode their first position at the next step, alongside rows already running.
    pub fn append(&mut self, other: DecodeState) -> Result<()> {
        if other.past != 0 || other.layers.len() != self.layers.len() {
            candle_core::bail!(
                "joining rows must be fresh and of the same model ({} cached positions, {} layers \
                 vs {})",
                other.past,
                other.layers.len(),
                self.layers.len()
            );
        }
        let added = other.rows();
        for (l, o) in self.layers.iter_mut().zip(other.layers) {
            l.self_kv.add_rows(added)?;
            l.cross_kv.append(o.cross_kv)?;
        }
        let len = self.cross_mask.dim(3)?.max(other.cross_mask.dim(3)?);
        let pad = |m: &Tensor| -> Result<Tensor> {
            let (b, _, _, s) = m.dims4()?;
            if s == len {
                return Ok(m.clone());
            }
            let hidden = Tensor::full(f32::MIN, (b, 1, 1, len - s), m.device())?;
            Tensor::cat(&[m, &hidden.to_dtype(m.dtype())?], 3)
        };
        self.cross_mask = Tensor::cat(&[pad(&self.cross_mask)?, pad(&other.cross_mask)?], 0)?;
        self.starts
            .extend(std::iter::repeat_n(self.past as u32, added));
        Ok(())
    }

    /// Drops cached positions no row attends to any more, once they are at least half the
    /// cache (rows that started early have left): a batch that keeps taking rows does not
    /// grow without bound.
    fn drop_unread(&mut self) -> Result<()> {
        let unread = self.starts.iter().copied().min().unwrap_or(0) as usize;
        if unread == 0 || 2 * unread < self.past {
            return Ok(());
        }
        for l in &mut self.layers {
            l.self_kv.drop_front(unread)?;
        }
        self.starts.iter_mut().for_each(|s| *s -= unread as u32);
        self.past -= unread;
        Ok(())
    }

    /// Keeps the rows `rows` (indices into the current rows, repeats allowed), in that order.
    pub fn select_rows(&mut self, rows: &[u32]) -> Result<()> {
        let identity = rows.len() == self.cross_mask.dim(0)?
            && rows.iter().enumerate().all(|(i, &r)| r as usize == i);
        if identity {
            return Ok(());
        }
        if let Some(&bad) = rows.iter().find(|&&r| r as usize >= self.starts.len()) {
            candle_core::bail!(
                "decode state has {} rows, asked for row {bad}",
                self.starts.len()
            );
        }
        for l in &mut self.layers {
            l.self_kv.select_rows(rows)?;
            l.cross_kv.select_rows(rows)?;
        }
        let idx = Tensor::from_slice(rows, rows.len(), self.cross_mask.device())?;
        self.cross_mask = self.cross_mask.index_select(&idx, 0)?;
        self.starts = rows.iter().map(|&r| self.starts[r as usize]).collect();
        self.drop_unread()
    }
}

/// An architecture that decodes tokens against a [`DecodeState`].
pub trait CachedDecoder: Sync {
    /// Decodes `tokens` `(B, T)` after the cached positions; returns the hidden states `(B, T, D)`
    /// that the LM head reads (final norm and scaling applied).
    fn decode_hidden(&self, state: &mut DecodeState, tokens: &Tensor) -> Result<Tensor>;
    /// The output projection to vocabulary logits.
    fn lm_head(&self) -> &Dense;
    /// Decodes `tokens` `(B, T)` after the cached positions; returns logits `(B, T, V)`.
    fn decode(&self, state: &mut DecodeState, tokens: &Tensor) -> Result<Tensor> {
        let hidden = self.decode_hidden(state, tokens)?;
        self.lm_head().forward(&hidden)
    }
    fn target_vocab_size(&self) -> usize;
    fn decode_device(&self) -> &Device;
    /// Decoder positions the model can represent, when it has a limit (learned or sinusoid
    /// tables; relative positions have none).
    fn decoder_positions(&self) -> Option<usize> {
        None
    }
}

/// A decoding session: a model and one batch's state.
pub struct Session<'a, M: CachedDecoder> {
    pub model: &'a M,
    pub state: DecodeState,
}

impl<M: CachedDecoder> Session<'_, M> {
    /// One step's logits: the CPU kernels' Vec as written (no 4·B·V-byte copy), the tokens
    /// chosen where the logits are for a `spec` (asked for on GPUs, see `picks_on_device`), or
    /// the full rows copied to the host.
    fn logits(&mut self, tokens: &[u32], spec: Option<&PickSpec>) -> Result<StepLogits> {
        let ids = Tensor::from_slice(tokens, (tokens.len(), 1), self.model.decode_device())?;
        let hidden = self.model.decode_hidden(&mut self.state, &ids)?;
        if let Some(logits) = self.model.lm_head().forward_vec(&hidden)? {
            return Ok(StepLogits::Full(logits));
        }
        let logits = self.model.lm_head().forward(&hidden)?.squeeze(1)?;
        match spec {
            Some(spec) => Ok(StepLogits::Picked(pick(&logits, spec)?)),
            None => Ok(StepLogits::Full(
                logits.to_dtype(DType::F32)?.flatten_all()?.to_vec1()?,
            )),
        }
    }
}

impl<M: CachedDecoder> StepDecoder for Session<'_, M> {
    fn step(&mut self, tokens: &[u32]) -> Result<Vec<f32>> {
        match self.logits(tokens, None)? {
            StepLogits::Full(v) => Ok(v),
            StepLogits::Picked(_) => candle_core::bail!("a step without a pick picked"),
        }
    }

    fn picks_on_device(&self) -> bool {
        !self.model.decode_device().is_cpu()
    }

    fn step_pick(&mut self, tokens: &[u32], spec: &PickSpec) -> Result<StepLogits> {
        self.logits(tokens, Some(spec))
    }

    fn select_rows(&mut self, rows: &[u32]) -> Result<()> {
        self.state.select_rows(rows)
    }

    fn append(&mut self, other: Box<dyn StepDecoder + '_>) -> Result<()> {
        match other.into_state() {
            Some(state) => self.state.append(state),
            None => candle_core::bail!("joining rows come from a different kind of decoder"),
        }
    }

    fn into_state(self: Box<Self>) -> Option<DecodeState> {
        Some(self.state)
    }

    fn rows(&self) -> usize {
        self.state.rows()
    }

    fn vocab_size(&self) -> usize {
        self.model.target_vocab_size()
    }

    fn max_positions(&self) -> Option<usize> {
        self.model.decoder_positions()
    }
}
