//! MarianMT (the Helsinki-NLP opus-mt models): a post-norm Transformer encoder-decoder with
//! sinusoidal positions.
//!
//! Weight names follow transformers' `MarianMTModel` state dict (`model.encoder.layers.N...`,
//! `model.shared`, `lm_head`, `final_logits_bias`). Positions are computed, not read: transformers
//! does not save them in new checkpoints and recomputes them at load time.

use candle_core::{DType, Device, Module, Result, Tensor};
use candle_nn::{Embedding, LayerNorm, VarBuilder};
use serde::Deserialize;

use super::attention::multi_head;
use super::state::{CachedDecoder, DecodeState, LayerState, Session};
use super::{
    causal_mask, first_id, padding_mask, Activation, Dense, Seq2Seq, SpecialTokens, StepDecoder,
};

const LAYER_NORM_EPS: f64 = 1e-5;

/// `config.json` of a Marian checkpoint, with transformers' defaults for missing keys.
#[derive(Debug, Clone, Deserialize)]
pub struct MarianConfig {
    #[serde(default = "defaults::vocab_size")]
    pub vocab_size: usize,
    #[serde(default)]
    pub decoder_vocab_size: Option<usize>,
    #[serde(default = "defaults::d_model")]
    pub d_model: usize,
    #[serde(default = "defaults::layers")]
    pub encoder_layers: usize,
    #[serde(default = "defaults::layers")]
    pub decoder_layers: usize,
    #[serde(default = "defaults::heads")]
    pub encoder_attention_heads: usize,
    #[serde(default = "defaults::heads")]
    pub decoder_attention_heads: usize,
    #[serde(default = "defaults::ffn")]
    pub encoder_ffn_dim: usize,
    #[serde(default = "defaults::ffn")]
    pub decoder_ffn_dim: usize,
    #[serde(default = "defaults::activation")]
    pub activation_function: Activation,
    #[serde(default = "defaults::max_positions")]
    pub max_position_embeddings: usize,
    #[serde(default)]
    pub scale_embedding: bool,
    #[serde(default = "defaults::pad", deserialize_with = "first_id")]
    pub pad_token_id: Option<u32>,
    #[serde(default = "defaults::eos", deserialize_with = "first_id")]
    pub eos_token_id: Option<u32>,
    #[serde(default = "defaults::pad", deserialize_with = "first_id")]
    pub decoder_start_token_id: Option<u32>,
    #[serde(default = "defaults::yes")]
    pub share_encoder_decoder_embeddings: bool,
    #[serde(default = "defaults::yes")]
    pub tie_word_embeddings: bool,
}

mod defaults {
    use super::Activation;
    pub fn vocab_size() -> usize {
        58101
    }
    pub fn d_model() -> usize {
        1024
    }
    pub fn layers() -> usize {
        12
    }
    pub fn heads() -> usize {
        16
    }
    pub fn ffn() -> usize {
        4096
    }
    pub fn activation() -> Activation {
        Activation::Gelu
    }
    pub fn max_positions() -> usize {
        1024
    }
    pub fn pad() -> Option<u32> {
        Some(58100)
    }
    pub fn eos() -> Option<u32> {
        Some(0)
    }
    pub fn yes() -> bool {
        true
    }
}

impl MarianConfig {
    pub fn target_vocab_size(&self) -> usize {
        self.decoder_vocab_size.unwrap_or(self.vocab_size)
    }

    pub fn special_tokens(&self) -> SpecialTokens {
        let pad = self.pad_token_id.unwrap_or(58100);
        SpecialTokens {
            pad,
            eos: self.eos_token_id.unwrap_or(0),
            decoder_start: self.decoder_start_token_id.unwrap_or(pad),
        }
    }
}

/// Sinusoidal position table `(n, dim)` as transformers builds it: sines of all frequencies in the
/// first half of the columns, cosines in the second half.
fn sinusoidal_positions(n: usize, dim: usize, device: &Device) -> Result<Tensor> {
    let half = dim.div_ceil(2);
    let mut table = vec![0f32; n * dim];
    for pos in 0..n {
        for j in 0..dim {
            let i = if j < half { 2 * j } else { 2 * (j - half) + 1 };
            let angle = pos as f64 / 10000f64.powf((2 * (i / 2)) as f64 / dim as f64);
            table[pos * dim + j] = if j < half { angle.sin() } else { angle.cos() } as f32;
        }
    }
    Tensor::from_vec(table, (n, dim), device)
}

#[derive(Debug, Clone)]
struct Attention {
    q: Dense,
    k: Dense,
    v: Dense,
    out: Dense,
    heads: usize,
    scale: f64,
}

impl Attention {
    fn dense_mut(&mut self) -> [&mut Dense; 4] {
        [&mut self.q, &mut self.k, &mut self.v, &mut self.out]
    }

    fn load(vb: VarBuilder, d_model: usize, heads: usize) -> Result<Self> {
        Ok(Self {
            q: Dense::load(vb.pp("q_proj"), d_model, d_model, true)?,
            k: Dense::load(vb.pp("k_proj"), d_model, d_model, true)?,
            v: Dense::load(vb.pp("v_proj"), d_model, d_model, true)?,
            out: Dense::load(vb.pp("out_proj"), d_model, d_model, true)?,
            heads,
            scale: ((d_model / heads) as f64).powf(-0.5),
        })
    }

    /// Scaled queries `(B, T, D)`.
    fn query(&self, x: &Tensor) -> Result<Tensor> {
        self.q.forward(x)? * self.scale
    }

    /// Keys and values `(B, T, D)`.
    fn keys_values(&self, x: &Tensor) -> Result<(Tensor, Tensor)> {
        Ok((self.k.forward(x)?, self.v.forward(x)?))
    }

    fn finish(&self, context: &Tensor) -> Result<Tensor> {
        self.out.forward(context)
    }
}

#[derive(Debug, Clone)]
struct FeedForward {
    fc1: Dense,
    fc2: Dense,
    act: Activation,
}

impl FeedForward {
    fn load(vb: &VarBuilder, d_model: usize, ffn: usize, act: Activation) -> Result<Self> {
        Ok(Self {
            fc1: Dense::load(vb.pp("fc1"), d_model, ffn, true)?,
            fc2: Dense::load(vb.pp("fc2"), ffn, d_model, true)?,
            act,
        })
    }

    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        self.fc2.forward(&self.act.apply(&self.fc1.forward(x)?)?)
    }
}

fn layer_norm(vb: VarBuilder, d_model: usize) -> Result<LayerNorm> {
    candle_nn::layer_norm(d_model, LAYER_NORM_EPS, vb)
}

#[derive(Debug, Clone)]
struct EncoderLayer {
    self_attn: Attention,
    self_attn_norm: LayerNorm,
    ffn: FeedForward,
    final_norm: LayerNorm,
}

impl EncoderLayer {
    fn load(vb: VarBuilder, cfg: &MarianConfig) -> Result<Self> {
        let d = cfg.d_model;
        Ok(Self {
            self_attn: Attention::load(vb.pp("self_attn"), d, cfg.encoder_attention_heads)?,
            self_attn_norm: layer_norm(vb.pp("self_attn_layer_norm"), d)?,
            ffn: FeedForward::load(&vb, d, cfg.encoder_ffn_dim, cfg.activation_function)?,
            final_norm: layer_norm(vb.pp("final_layer_norm"), d)?,
        })
    }

    fn forward(&self, x: &Tensor, mask: &Tensor) -> Result<Tensor> {
        let q = self.self_attn.query(x)?;
        let (k, v) = self.self_attn.keys_values(x)?;
        let heads = self.self_attn.heads;
        let attn = self
            .self_attn
            .finish(&multi_head(&q, &k, &v, heads, Some(mask))?)?;
        let x = self.self_attn_norm.forward(&(x + attn)?)?;
        let ff = self.ffn.forward(&x)?;
        self.final_norm.forward(&(x + ff)?)
    }
}

#[derive(Debug, Clone)]
struct DecoderLayer {
    self_attn: Attention,
    self_attn_norm: LayerNorm,
    cross_attn: Attention,
    cross_attn_norm: LayerNorm,
    ffn: FeedForward,
    final_norm: LayerNorm,
}

impl DecoderLayer {
    fn load(vb: VarBuilder, cfg: &MarianConfig) -> Result<Self> {
        let d = cfg.d_model;
        let heads = cfg.decoder_attention_heads;
        Ok(Self {
            self_attn: Attention::load(vb.pp("self_attn"), d, heads)?,
            self_attn_norm: layer_norm(vb.pp("self_attn_layer_norm"), d)?,
            cross_attn: Attention::load(vb.pp("encoder_attn"), d, heads)?,
            cross_attn_norm: layer_norm(vb.pp("encoder_attn_layer_norm"), d)?,
            ffn: FeedForward::load(&vb, d, cfg.decoder_ffn_dim, cfg.activation_function)?,
            final_norm: layer_norm(vb.pp("final_layer_norm"), d)?,
        })
    }

    fn forward(&self, x: &Tensor, layer: &mut LayerState, state: &SharedState) -> Result<Tensor> {
        let q = self.self_attn.query(x)?;
        let (k, v) = self.self_attn.keys_values(x)?;
        let heads = self.self_attn.heads;
        let attn = layer
            .self_kv
            .attend(&q, &k, &v, heads, state.causal.as_ref())?;
        let x = self
            .self_attn_norm
            .forward(&(x + self.self_attn.finish(&attn)?)?)?;

        let q = self.cross_attn.query(&x)?;
        let cross = layer.cross_kv.attend(&q, Some(&state.cross_mask))?;
        let x = self
            .cross_attn_norm
            .forward(&(x + self.cross_attn.finish(&cross)?)?)?;

        let ff = self.ffn.forward(&x)?;
        self.final_norm.forward(&(x + ff)?)
    }
}

/// Per-step inputs shared by all layers.
struct SharedState {
    causal: Option<Tensor>,
    cross_mask: Tensor,
}

/// The weights of a Marian model; immutable after loading.
#[derive(Debug, Clone)]
pub struct Marian {
    cfg: MarianConfig,
    encoder_embed: Embedding,
    decoder_embed: Embedding,
    positions: Tensor,
    embed_scale: f64,
    encoder: Vec<EncoderLayer>,
    decoder: Vec<DecoderLayer>,
    lm_head: Dense,
    device: Device,
    dtype: DType,
}

impl Marian {
    pub fn new(cfg: &MarianConfig, vb: VarBuilder) -> Result<Self> {
        let d = cfg.d_model;
        let (src_v, tgt_v) = (cfg.vocab_size, cfg.target_vocab_size());
        let model = vb.pp("model");
        let first_present = |names: &[&str], rows: usize| -> Result<Tensor> {
            let name = names
                .iter()
                .find(|n| vb.contains_tensor(n))
                .copied()
                .unwrap_or(names[0]);
            vb.get((rows, d), name)
        };
        let (enc_w, dec_w) = if cfg.share_encoder_decoder_embeddings {
            let shared = first_present(
                &[
                    "model.shared.weight",
                    "model.encoder.embed_tokens.weight",
                    "model.decoder.embed_tokens.weight",
                ],
                src_v,
            )?;
            (shared.clone(), shared)
        } else {
            // transformers gives both separate tables `vocab_size` rows (copies of the shared
            // one); a checkpoint whose decoder table was resized has `decoder_vocab_size` rows.
            let dec = first_present(&["model.decoder.embed_tokens.weight"], src_v)
                .or_else(|_| first_present(&["model.decoder.embed_tokens.weight"], tgt_v))?;
            (
                first_present(&["model.encoder.embed_tokens.weight"], src_v)?,
                dec,
            )
        };
        let lm_weight = if cfg.tie_word_embeddings || !vb.contains_tensor("lm_head.weight") {
            dec_w.clone()
        } else {
            vb.get((tgt_v, d), "lm_head.weight")?
        };
        let bias = if vb.contains_tensor("final_logits_bias") {
            vb.get((1, tgt_v), "final_logits_bias")?.reshape(tgt_v)?
        } else {
            Tensor::zeros(tgt_v, vb.dtype(), vb.device())?
        };
        let encoder = (0..cfg.encoder_layers)
            .map(|i| EncoderLayer::load(model.pp("encoder.layers").pp(i), cfg))
            .collect::<Result<Vec<_>>>()?;
        let decoder = (0..cfg.decoder_layers)
            .map(|i| DecoderLayer::load(model.pp("decoder.layers").pp(i), cfg))
            .collect::<Result<Vec<_>>>()?;
        let positions = sinusoidal_positions(cfg.max_position_embeddings, d, vb.device())?
            .to_dtype(vb.dtype())?;
        Ok(Self {
            cfg: cfg.clone(),
            encoder_embed: Embedding::new(enc_w, d),
            decoder_embed: Embedding::new(dec_w, d),
            positions,
            embed_scale: if cfg.scale_embedding {
                (d as f64).sqrt()
            } else {
                1.0
            },
            encoder,
            decoder,
            lm_head: Dense::new(lm_weight, Some(bias))?,
            device: vb.device().clone(),
            dtype: vb.dtype(),
        })
    }

    /// Every dense layer: both stacks' attention and feed-forward projections and the LM head.
    fn dense_layers_mut(&mut self) -> Vec<&mut Dense> {
        let mut out = Vec::new();
        for l in &mut self.encoder {
            out.extend(l.self_attn.dense_mut());
            out.extend([&mut l.ffn.fc1, &mut l.ffn.fc2]);
        }
        for l in &mut self.decoder {
            out.extend(l.self_attn.dense_mut());
            out.extend(l.cross_attn.dense_mut());
            out.extend([&mut l.ffn.fc1, &mut l.ffn.fc2]);
        }
        out.push(&mut self.lm_head);
        out
    }

    pub fn config(&self) -> &MarianConfig {
        &self.cfg
    }

    fn embed(&self, table: &Embedding, ids: &Tensor, offset: usize) -> Result<Tensor> {
        let t = ids.dim(1)?;
        if offset + t > self.cfg.max_position_embeddings {
            return Err(candle_core::Error::Msg(format!(
                "sequence of {} positions exceeds the model's {} max_position_embeddings",
                offset + t,
                self.cfg.max_position_embeddings
            )));
        }
        let x = (table.forward(ids)? * self.embed_scale)?;
        x.broadcast_add(&self.positions.narrow(0, offset, t)?)
    }

    /// Runs the encoder over a padded batch.
    pub fn encode(&self, input_ids: &Tensor, attention_mask: &Tensor) -> Result<Tensor> {
        let mask = padding_mask(attention_mask, self.dtype)?;
        let mut x = self.embed(&self.encoder_embed, input_ids, 0)?;
        for layer in &self.encoder {
            x = layer.forward(&x, &mask)?;
        }
        Ok(x)
    }

    /// Prepares decoding: cross-attention keys/values are computed here, once per batch.
    pub fn init_state(&self, encoder_out: &Tensor, attention_mask: &Tensor) -> Result<DecodeState> {
        let kv = self
            .decoder
            .iter()
            .map(|l| l.cross_attn.keys_values(encoder_out))
            .collect::<Result<Vec<_>>>()?;
        let heads = self.cfg.decoder_attention_heads;
        DecodeState::new(kv, heads, attention_mask, self.dtype)
    }

    /// Decodes `tokens` `(B, T)` after the state's cached positions; returns logits `(B, T, V)`.
    pub fn decode(&self, state: &mut DecodeState, tokens: &Tensor) -> Result<Tensor> {
        CachedDecoder::decode(self, state, tokens)
    }

    /// The decoder stack up to the LM head's input `(B, T, D)`.
    fn decode_hidden(&self, state: &mut DecodeState, tokens: &Tensor) -> Result<Tensor> {
        let t = tokens.dim(1)?;
        let mut x = self.embed(&self.decoder_embed, tokens, state.past)?;
        let shared = SharedState {
            causal: if t > 1 {
                Some(causal_mask(t, state.past, self.dtype, &self.device)?)
            } else {
                None
            },
            cross_mask: state.cross_mask.clone(),
        };
        for (layer, ls) in self.decoder.iter().zip(state.layers.iter_mut()) {
            x = layer.forward(&x, ls, &shared)?;
        }
        state.past += t;
        Ok(x)
    }
}

impl CachedDecoder for Marian {
    fn decode_hidden(&self, state: &mut DecodeState, tokens: &Tensor) -> Result<Tensor> {
        Marian::decode_hidden(self, state, tokens)
    }

    fn lm_head(&self) -> &Dense {
        &self.lm_head
    }

    fn target_vocab_size(&self) -> usize {
        self.cfg.target_vocab_size()
    }

    fn decode_device(&self) -> &Device {
        &self.device
    }

    fn decoder_positions(&self) -> Option<usize> {
        Some(self.cfg.max_position_embeddings)
    }
}

impl Seq2Seq for Marian {
    fn encode(&self, input_ids: &Tensor, attention_mask: &Tensor) -> Result<Tensor> {
        Marian::encode(self, input_ids, attention_mask)
    }

    fn start<'a>(
        &'a self,
        encoder_out: &Tensor,
        attention_mask: &Tensor,
    ) -> Result<Box<dyn StepDecoder + 'a>> {
        let state = self.init_state(encoder_out, attention_mask)?;
        Ok(Box::new(Session { model: self, state }))
    }

    fn special_tokens(&self) -> SpecialTokens {
        self.cfg.special_tokens()
    }

    fn max_source_positions(&self) -> Option<usize> {
        Some(self.cfg.max_position_embeddings)
    }

    fn device(&self) -> &Device {
        &self.device
    }

    fn quantize(&mut self) -> Result<()> {
        self.dense_layers_mut()
            .into_iter()
            .try_for_each(Dense::quantize)
    }

    fn dtype(&self) -> DType {
        self.dtype
    }
}
