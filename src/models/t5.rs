//! T5 family (t5-small, flan-t5, T5 v1.1, madlad400): a pre-norm encoder-decoder with RMS norm,
//! unscaled attention and bucketed relative position biases.
//!
//! Weight names follow transformers' `T5ForConditionalGeneration` (`encoder.block.N.layer.M...`,
//! `shared`, `lm_head`). The position bias is computed by the first block of each stack and shared
//! by all blocks; cross-attention has none.

use candle_core::{DType, Device, Module, Result, Tensor};
use candle_nn::{Embedding, VarBuilder};
use serde::Deserialize;

use super::attention::multi_head;
use super::state::{CachedDecoder, DecodeState, Session};
use super::unpad::Unpadded;
use super::{
    causal_mask, first_id, padding_mask, Activation, Dense, Seq2Seq, SpecialTokens, StepDecoder,
};

/// `config.json` of a T5 checkpoint, with transformers' defaults for missing keys.
#[derive(Debug, Clone, Deserialize)]
pub struct T5Config {
    #[serde(default = "defaults::vocab_size")]
    pub vocab_size: usize,
    #[serde(default = "defaults::d_model")]
    pub d_model: usize,
    #[serde(default = "defaults::d_kv")]
    pub d_kv: usize,
    #[serde(default = "defaults::d_ff")]
    pub d_ff: usize,
    #[serde(default = "defaults::num_layers")]
    pub num_layers: usize,
    #[serde(default)]
    pub num_decoder_layers: Option<usize>,
    #[serde(default = "defaults::num_heads")]
    pub num_heads: usize,
    #[serde(default = "defaults::buckets")]
    pub relative_attention_num_buckets: usize,
    #[serde(default = "defaults::max_distance")]
    pub relative_attention_max_distance: usize,
    #[serde(default = "defaults::eps")]
    pub layer_norm_epsilon: f64,
    #[serde(default = "defaults::ff_proj")]
    pub feed_forward_proj: String,
    #[serde(default = "defaults::yes")]
    pub tie_word_embeddings: bool,
    #[serde(default = "defaults::pad", deserialize_with = "first_id")]
    pub pad_token_id: Option<u32>,
    #[serde(default = "defaults::eos", deserialize_with = "first_id")]
    pub eos_token_id: Option<u32>,
    #[serde(default, deserialize_with = "first_id")]
    pub decoder_start_token_id: Option<u32>,
}

mod defaults {
    pub fn vocab_size() -> usize {
        32128
    }
    pub fn d_model() -> usize {
        512
    }
    pub fn d_kv() -> usize {
        64
    }
    pub fn d_ff() -> usize {
        2048
    }
    pub fn num_layers() -> usize {
        6
    }
    pub fn num_heads() -> usize {
        8
    }
    pub fn buckets() -> usize {
        32
    }
    pub fn max_distance() -> usize {
        128
    }
    pub fn eps() -> f64 {
        1e-6
    }
    pub fn ff_proj() -> String {
        "relu".into()
    }
    pub fn yes() -> bool {
        true
    }
    pub fn pad() -> Option<u32> {
        Some(0)
    }
    pub fn eos() -> Option<u32> {
        Some(1)
    }
}

impl T5Config {
    /// `(gated, activation)` from `feed_forward_proj`, as transformers parses it.
    pub fn feed_forward(&self) -> std::result::Result<(bool, Activation), String> {
        let proj = self.feed_forward_proj.as_str();
        let (gated, act) = match proj.split_once('-') {
            Some(("gated", act)) => (true, act),
            None => (false, proj),
            _ => return Err(format!("unsupported feed_forward_proj {proj:?}")),
        };
        let act = match act {
            // transformers maps "gated-gelu" to the tanh approximation (gelu_new).
            "gelu" if gated => Activation::GeluNew,
            "gelu" => Activation::Gelu,
            "gelu_new" => Activation::GeluNew,
            "relu" => Activation::Relu,
            "silu" | "swish" => Activation::Swish,
            other => {
                return Err(format!(
                    "unsupported activation {other:?} in feed_forward_proj"
                ))
            }
        };
        Ok((gated, act))
    }

    pub fn special_tokens(&self) -> SpecialTokens {
        let pad = self.pad_token_id.unwrap_or(0);
        SpecialTokens {
            pad,
            eos: self.eos_token_id.unwrap_or(1),
            decoder_start: self.decoder_start_token_id.unwrap_or(pad),
        }
    }
}

/// transformers' `_relative_position_bucket`, in f32 like torch.
pub fn relative_position_bucket(
    relative: i64,
    bidirectional: bool,
    num_buckets: usize,
    max_distance: usize,
) -> u32 {
    let mut buckets = num_buckets as i64;
    let mut base = 0i64;
    let mut rel = relative;
    if bidirectional {
        buckets /= 2;
        if rel > 0 {
            base += buckets;
        }
        rel = rel.abs();
    } else {
        rel = -rel.min(0);
    }
    let max_exact = buckets / 2;
    if rel < max_exact {
        return (base + rel) as u32;
    }
    let scale = ((max_distance as f64) / (max_exact as f64)).ln() as f32;
    let large =
        ((rel as f32 / max_exact as f32).ln() / scale * (buckets - max_exact) as f32) as i64;
    (base + (max_exact + large).min(buckets - 1)) as u32
}

/// RMS norm computed in f32 (as transformers' T5LayerNorm does), returned in the input dtype.
#[derive(Debug, Clone)]
struct RmsNorm {
    weight: Tensor,
    eps: f64,
}

impl RmsNorm {
    fn load(vb: VarBuilder, d: usize, eps: f64) -> Result<Self> {
        Ok(Self {
            weight: vb.get_with_hints(d, "weight", candle_nn::Init::Const(1.0))?,
            eps,
        })
    }

    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let dtype = x.dtype();
        let x32 = x.to_dtype(DType::F32)?;
        let var = x32.sqr()?.mean_keepdim(candle_core::D::Minus1)?;
        let normed = x32.broadcast_div(&(var + self.eps)?.sqrt()?)?;
        normed.to_dtype(dtype)?.broadcast_mul(&self.weight)
    }
}

#[derive(Debug, Clone)]
struct Attention {
    q: Dense,
    k: Dense,
    v: Dense,
    o: Dense,
    heads: usize,
    /// `(num_buckets, heads)` table, in the first block of each stack only.
    relative_bias: Option<Embedding>,
}

impl Attention {
    fn dense_mut(&mut self) -> [&mut Dense; 4] {
        [&mut self.q, &mut self.k, &mut self.v, &mut self.o]
    }

    fn load(vb: VarBuilder, cfg: &T5Config, with_bias: bool) -> Result<Self> {
        let inner = cfg.num_heads * cfg.d_kv;
        let relative_bias = if with_bias {
            let w = vb.get(
                (cfg.relative_attention_num_buckets, cfg.num_heads),
                "relative_attention_bias.weight",
            )?;
            Some(Embedding::new(w, cfg.num_heads))
        } else {
            None
        };
        Ok(Self {
            q: Dense::load(vb.pp("q"), cfg.d_model, inner, false)?,
            k: Dense::load(vb.pp("k"), cfg.d_model, inner, false)?,
            v: Dense::load(vb.pp("v"), cfg.d_model, inner, false)?,
            o: Dense::load(vb.pp("o"), inner, cfg.d_model, false)?,
            heads: cfg.num_heads,
            relative_bias,
        })
    }

    /// Keys and values `(B, T, H·Dkv)`.
    fn keys_values(&self, x: &Tensor) -> Result<(Tensor, Tensor)> {
        Ok((self.k.forward(x)?, self.v.forward(x)?))
    }
}

#[derive(Debug, Clone)]
struct FeedForward {
    wi: Dense,
    wi_gate: Option<Dense>,
    wo: Dense,
    act: Activation,
}

impl FeedForward {
    fn load(vb: VarBuilder, cfg: &T5Config) -> Result<Self> {
        let (gated, act) = cfg.feed_forward().map_err(candle_core::Error::Msg)?;
        let (d, ff) = (cfg.d_model, cfg.d_ff);
        let (wi, wi_gate) = if gated {
            (
                Dense::load(vb.pp("wi_0"), d, ff, false)?,
                Some(Dense::load(vb.pp("wi_1"), d, ff, false)?),
            )
        } else {
            (Dense::load(vb.pp("wi"), d, ff, false)?, None)
        };
        Ok(Self {
            wi,
            wi_gate,
            wo: Dense::load(vb.pp("wo"), ff, d, false)?,
            act,
        })
    }

    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let h = self.act.apply(&self.wi.forward(x)?)?;
        let h = match &self.wi_gate {
            Some(g) => (h * g.forward(x)?)?,
            None => h,
        };
        self.wo.forward(&h)
    }
}

#[derive(Debug, Clone)]
struct Block {
    self_attn: Attention,
    self_norm: RmsNorm,
    cross: Option<(Attention, RmsNorm)>,
    ff: FeedForward,
    ff_norm: RmsNorm,
}

impl Block {
    /// The block's dense layers: attention projections, then the feed-forward ones.
    fn dense_mut(&mut self) -> Vec<&mut Dense> {
        let mut out: Vec<&mut Dense> = self.self_attn.dense_mut().into();
        if let Some((cross, _)) = &mut self.cross {
            out.extend(cross.dense_mut());
        }
        out.push(&mut self.ff.wi);
        out.extend(self.ff.wi_gate.as_mut());
        out.push(&mut self.ff.wo);
        out
    }

    fn load(vb: VarBuilder, cfg: &T5Config, first: bool, decoder: bool) -> Result<Self> {
        let eps = cfg.layer_norm_epsilon;
        let layer = vb.pp("layer");
        let cross = if decoder {
            let l = layer.pp(1);
            Some((
                Attention::load(l.pp("EncDecAttention"), cfg, false)?,
                RmsNorm::load(l.pp("layer_norm"), cfg.d_model, eps)?,
            ))
        } else {
            None
        };
        let ff_layer = layer.pp(if decoder { 2 } else { 1 });
        Ok(Self {
            self_attn: Attention::load(layer.pp(0).pp("SelfAttention"), cfg, first)?,
            self_norm: RmsNorm::load(layer.pp(0).pp("layer_norm"), cfg.d_model, eps)?,
            cross,
            ff: FeedForward::load(ff_layer.pp("DenseReluDense"), cfg)?,
            ff_norm: RmsNorm::load(ff_layer.pp("layer_norm"), cfg.d_model, eps)?,
        })
    }
}

/// The weights of a T5 model; immutable after loading.
#[derive(Debug, Clone)]
pub struct T5 {
    cfg: T5Config,
    embed: Embedding,
    encoder: Vec<Block>,
    encoder_norm: RmsNorm,
    decoder: Vec<Block>,
    decoder_norm: RmsNorm,
    lm_head: Dense,
    device: Device,
    dtype: DType,
}

impl T5 {
    pub fn new(cfg: &T5Config, vb: VarBuilder) -> Result<Self> {
        cfg.feed_forward().map_err(candle_core::Error::Msg)?;
        let d = cfg.d_model;
        let name = [
            "shared.weight",
            "encoder.embed_tokens.weight",
            "decoder.embed_tokens.weight",
        ]
        .into_iter()
        .find(|n| vb.contains_tensor(n))
        .unwrap_or("shared.weight");
        let shared = vb.get((cfg.vocab_size, d), name)?;
        let dec_layers = cfg.num_decoder_layers.unwrap_or(cfg.num_layers);
        let stack = |prefix: &str, n: usize, decoder: bool| -> Result<Vec<Block>> {
            (0..n)
                .map(|i| Block::load(vb.pp(prefix).pp("block").pp(i), cfg, i == 0, decoder))
                .collect()
        };
        let lm_head = if cfg.tie_word_embeddings || !vb.contains_tensor("lm_head.weight") {
            shared.clone()
        } else {
            vb.get((cfg.vocab_size, d), "lm_head.weight")?
        };
        Ok(Self {
            cfg: cfg.clone(),
            embed: Embedding::new(shared, d),
            encoder: stack("encoder", cfg.num_layers, false)?,
            encoder_norm: RmsNorm::load(
                vb.pp("encoder.final_layer_norm"),
                d,
                cfg.layer_norm_epsilon,
            )?,
            decoder: stack("decoder", dec_layers, true)?,
            decoder_norm: RmsNorm::load(
                vb.pp("decoder.final_layer_norm"),
                d,
                cfg.layer_norm_epsilon,
            )?,
            lm_head: Dense::new(lm_head, None)?,
            device: vb.device().clone(),
            dtype: vb.dtype(),
        })
    }

    pub fn config(&self) -> &T5Config {
        &self.cfg
    }

    /// Position bias `(1, H, q, k)` for queries at `q_start..q_start+q` against keys `0..k`.
    fn position_bias(
        &self,
        attn: &Attention,
        q_start: usize,
        q: usize,
        k: usize,
        bidirectional: bool,
    ) -> Result<Tensor> {
        let table = attn.relative_bias.as_ref().ok_or_else(|| {
            candle_core::Error::Msg("first block has no relative_attention_bias".into())
        })?;
        let buckets: Vec<u32> = (q_start..q_start + q)
            .flat_map(|i| {
                (0..k).map(move |j| {
                    relative_position_bucket(
                        j as i64 - i as i64,
                        bidirectional,
                        self.cfg.relative_attention_num_buckets,
                        self.cfg.relative_attention_max_distance,
                    )
                })
            })
            .collect();
        let ids = Tensor::from_vec(buckets, (q, k), &self.device)?;
        // (q, k, H) → (1, H, q, k)
        table
            .forward(&ids)?
            .permute((2, 0, 1))?
            .unsqueeze(0)?
            .contiguous()
    }

    pub fn encode(&self, input_ids: &Tensor, attention_mask: &Tensor) -> Result<Tensor> {
        let s = input_ids.dim(1)?;
        let mask = padding_mask(attention_mask, self.dtype)?;
        let bias = self
            .position_bias(&self.encoder[0].self_attn, 0, s, s, true)?
            .broadcast_add(&mask)?;
        // The real rows alone through everything but the attention (see `Unpadded`).
        let rows = Unpadded::new(attention_mask)?;
        let mut x = rows.pack(&self.embed.forward(input_ids)?)?;
        for block in &self.encoder {
            let h = block.self_norm.forward(&x)?;
            let a = &block.self_attn;
            let q = rows.unpack(&a.q.forward(&h)?)?;
            let (k, v) = a.keys_values(&h)?;
            let (k, v) = (rows.unpack(&k)?, rows.unpack(&v)?);
            let ctx = rows.pack(&multi_head(&q, &k, &v, a.heads, Some(&bias))?)?;
            x = (x + a.o.forward(&ctx)?)?;
            x = (&x + block.ff.forward(&block.ff_norm.forward(&x)?)?)?;
        }
        rows.unpack(&self.encoder_norm.forward(&x)?)
    }

    /// Prepares decoding: cross-attention keys/values are computed here, once per batch.
    pub fn init_state(&self, encoder_out: &Tensor, attention_mask: &Tensor) -> Result<DecodeState> {
        let kv = self
            .decoder
            .iter()
            .map(|b| match &b.cross {
                Some((cross, _)) => cross.keys_values(encoder_out),
                None => Err(candle_core::Error::Msg(
                    "decoder block without cross-attention".into(),
                )),
            })
            .collect::<Result<Vec<_>>>()?;
        DecodeState::new(kv, self.cfg.num_heads, attention_mask, self.dtype)
    }

    /// Decodes `tokens` `(B, T)` after the cached positions; returns logits `(B, T, V)`.
    pub fn decode(&self, state: &mut DecodeState, tokens: &Tensor) -> Result<Tensor> {
        CachedDecoder::decode(self, state, tokens)
    }

    /// The decoder stack up to the LM head's input `(B, T, D)`.
    fn decode_hidden(&self, state: &mut DecodeState, tokens: &Tensor) -> Result<Tensor> {
        let t = tokens.dim(1)?;
        let total = state.past + t;
        let mut bias =
            self.position_bias(&self.decoder[0].self_attn, state.past, t, total, false)?;
        if t > 1 {
            bias = bias.broadcast_add(&causal_mask(t, state.past, self.dtype, &self.device)?)?;
        }
        // Rows that joined later attend from their start: the relative bias is the same for them.
        let cross_mask = state.cross_mask.clone();
        let (layers, starts) = state.layers_and_starts();
        let mut x = self.embed.forward(tokens)?;
        for (block, ls) in self.decoder.iter().zip(layers.iter_mut()) {
            let h = block.self_norm.forward(&x)?;
            let a = &block.self_attn;
            let q = a.q.forward(&h)?;
            let (k, v) = a.keys_values(&h)?;
            let ctx = ls
                .self_kv
                .attend((&q, &k, &v), a.heads, Some(&bias), starts)?;
            x = (x + a.o.forward(&ctx)?)?;
            if let Some((cross, norm)) = &block.cross {
                let h = norm.forward(&x)?;
                let q = cross.q.forward(&h)?;
                let ctx = ls.cross_kv.attend(&q, Some(&cross_mask))?;
                x = (x + cross.o.forward(&ctx)?)?;
            }
            x = (&x + block.ff.forward(&block.ff_norm.forward(&x)?)?)?;
        }
        state.past = total;
        let mut x = self.decoder_norm.forward(&x)?;
        if self.cfg.tie_word_embeddings {
            x = (x * (self.cfg.d_model as f64).powf(-0.5))?;
        }
        Ok(x)
    }
}

impl CachedDecoder for T5 {
    fn decode_hidden(&self, state: &mut DecodeState, tokens: &Tensor) -> Result<Tensor> {
        T5::decode_hidden(self, state, tokens)
    }

    fn lm_head(&self) -> &Dense {
        &self.lm_head
    }

    fn target_vocab_size(&self) -> usize {
        self.cfg.vocab_size
    }

    fn decode_device(&self) -> &Device {
        &self.device
    }
}

impl Seq2Seq for T5 {
    fn encode(&self, input_ids: &Tensor, attention_mask: &Tensor) -> Result<Tensor> {
        T5::encode(self, input_ids, attention_mask)
    }

    fn start<'a>(
        &'a self,
        encoder_out: &Tensor,
        attention_mask: &Tensor,
    ) -> Result<Box<dyn StepDecoder + 'a>> {
        Ok(Box::new(Session {
            model: self,
            state: self.init_state(encoder_out, attention_mask)?,
        }))
    }

    fn special_tokens(&self) -> SpecialTokens {
        self.cfg.special_tokens()
    }

    fn max_source_positions(&self) -> Option<usize> {
        None
    }

    fn device(&self) -> &Device {
        &self.device
    }

    fn quantize(&mut self) -> Result<()> {
        let blocks = self.encoder.iter_mut().chain(self.decoder.iter_mut());
        blocks
            .flat_map(Block::dense_mut)
            .chain([&mut self.lm_head])
            .try_for_each(Dense::quantize)
    }

    fn dtype(&self) -> DType {
        self.dtype
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_match_transformers_reference_values() {
        // Values from transformers' _relative_position_bucket with 32 buckets, max_distance 128.
        let bi = |r| relative_position_bucket(r, true, 32, 128);
        let uni = |r| relative_position_bucket(r, false, 32, 128);
        assert_eq!((bi(0), bi(1), bi(-1), bi(7), bi(-7)), (0, 17, 1, 23, 7));
        assert_eq!(
            (bi(8), bi(12), bi(-20), bi(200), bi(-200)),
            (24, 25, 10, 31, 15)
        );
        assert_eq!(
            (
                uni(0),
                uni(1),
                uni(-1),
                uni(-15),
                uni(-16),
                uni(-50),
                uni(-1000)
            ),
            (0, 0, 1, 15, 16, 24, 31)
        );
    }
}
