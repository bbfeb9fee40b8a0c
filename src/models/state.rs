//! Per-batch decode state shared by the architectures, kept outside the weights: the growing
//! self-attention cache and the cross-attention keys/values computed once from the encoder output.

use candle_core::{DType, Device, Result, Tensor};

use super::attention::{CrossKv, KvCache};
use super::{padding_mask, Dense, StepDecoder};

/// One decoder layer's state.
#[derive(Debug, Clone)]
pub struct LayerState {
    pub self_kv: KvCache,
    pub cross_kv: CrossKv,
}

/// The decode state of one batch.
#[derive(Debug, Clone)]
pub struct DecodeState {
    pub layers: Vec<LayerState>,
    /// Additive encoder padding mask `(B, 1, 1, S)` for cross-attention.
    pub cross_mask: Tensor,
    /// Positions decoded so far.
    pub past: usize,
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
        })
    }

    /// Keeps the rows `rows` (indices into the current rows, repeats allowed), in that order.
    pub fn select_rows(&mut self, rows: &[u32]) -> Result<()> {
        let identity = rows.len() == self.cross_mask.dim(0)?
            && rows.iter().enumerate().all(|(i, &r)| r as usize == i);
        if identity {
            return Ok(());
        }
        for l in &mut self.layers {
            l.self_kv.select_rows(rows)?;
            l.cross_kv.select_rows(rows)?;
        }
        let idx = Tensor::from_slice(rows, rows.len(), self.cross_mask.device())?;
        self.cross_mask = self.cross_mask.index_select(&idx, 0)?;
        Ok(())
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

impl<M: CachedDecoder> StepDecoder for Session<'_, M> {
    fn step(&mut self, tokens: &[u32]) -> Result<Vec<f32>> {
        let ids = Tensor::from_slice(tokens, (tokens.len(), 1), self.model.decode_device())?;
        let hidden = self.model.decode_hidden(&mut self.state, &ids)?;
        // On the CPU kernels the logits come back as the Vec the kernel wrote: no 4·B·V-byte copy.
        if let Some(logits) = self.model.lm_head().forward_vec(&hidden)? {
            return Ok(logits);
        }
        self.model
            .lm_head()
            .forward(&hidden)?
            .squeeze(1)?
            .to_dtype(DType::F32)?
            .flatten_all()?
            .to_vec1()
    }

    fn select_rows(&mut self, rows: &[u32]) -> Result<()> {
        self.state.select_rows(rows)
    }

    fn vocab_size(&self) -> usize {
        self.model.target_vocab_size()
    }

    fn max_positions(&self) -> Option<usize> {
        self.model.decoder_positions()
    }
}
