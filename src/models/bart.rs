//! The BART family: one parameterised Transformer encoder-decoder for MarianMT (the Helsinki-NLP
//! opus-mt models), BART / DistilBART and Pegasus, which share transformers' `BartModel` layout and
//! state-dict names (`model.encoder.layers.N...`, `model.shared`, `lm_head`, `final_logits_bias`)
//! and differ in a few switches ([`Family::layout`]):
//!
//! | family  | positions                 | norms                         | `layernorm_embedding` |
//! |---------|---------------------------|-------------------------------|-----------------------|
//! | Marian  | sinusoid (computed)       | post-LayerNorm                | no                    |
//! | BART    | learned, offset 2         | post-LayerNorm                | yes                   |
//! | Pegasus | sinusoid (computed)       | pre-LayerNorm + final norms   | no                    |
//! | mBART   | learned, offset 2         | pre-LayerNorm + final norms   | yes                   |
//! | M2M100  | fairseq sinusoid, by pad  | pre-LayerNorm + final norms   | no                    |
//!
//! M2M100 (and NLLB-200, which is an M2M100 checkpoint) counts positions as fairseq does: from
//! `pad + 1`, over the non-pad tokens only, pad tokens reading the table's zeroed row `pad`.
//!
//! Sinusoid positions are computed, not read: transformers does not save them in new checkpoints
//! and recomputes them at load time. Embedding scale (`scale_embedding`), activation, sizes and
//! special ids come from `config.json`, with each family's transformers defaults for missing keys.

use candle_core::{DType, Device, Module, Result, Tensor};
use candle_nn::{Embedding, LayerNorm, VarBuilder};
use serde::Deserialize;

pub mod keys;

use super::attention::multi_head;
use super::state::{CachedDecoder, DecodeState, LayerState, Session};
use super::unpad::Unpadded;
use super::{
    causal_mask, first_id, padding_mask, Activation, Dense, Seq2Seq, SpecialTokens, StepDecoder,
};

const LAYER_NORM_EPS: f64 = 1e-5;

/// Which member of the family a checkpoint is: fixes what its `config.json` does not say.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Family {
    #[default]
    Marian,
    Bart,
    Pegasus,
    /// mBART / mBART-50 (the many-to-one translation checkpoints).
    MBart,
    /// M2M100 and NLLB-200 (`model_type` `m2m_100`).
    M2M100,
}

/// How positions enter the embeddings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Positions {
    /// The sinusoid table transformers computes (sines in the first half of the columns).
    Sinusoid,
    /// A learned table `embed_positions` per stack whose row `offset + position` is read.
    Learned { offset: usize },
    /// fairseq's sinusoid (M2M100): a different frequency spacing, row `pad` zeroed, and each
    /// token at row `pad + n + past` where `n` counts the non-pad tokens up to it; pad tokens
    /// read row `pad`.
    Fairseq,
}

/// The architectural switches of a family member.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Layout {
    pub positions: Positions,
    /// LayerNorm before each sublayer (residual added after), else after the residual.
    pub pre_norm: bool,
    /// A LayerNorm on the embeddings (`layernorm_embedding`) of each stack.
    pub layernorm_embedding: bool,
    /// A LayerNorm after the last layer of each stack (`encoder.layer_norm`, `decoder.layer_norm`).
    pub final_norm: bool,
    /// A `final_logits_bias` buffer on the LM head (every member but M2M100).
    pub logits_bias: bool,
}

impl Family {
    pub fn layout(self) -> Layout {
        match self {
            Family::Marian => Layout {
                positions: Positions::Sinusoid,
                pre_norm: false,
                layernorm_embedding: false,
                final_norm: false,
                logits_bias: true,
            },
            Family::Bart => Layout {
                positions: Positions::Learned { offset: 2 },
                pre_norm: false,
                layernorm_embedding: true,
                final_norm: false,
                logits_bias: true,
            },
            Family::Pegasus => Layout {
                positions: Positions::Sinusoid,
                pre_norm: true,
                layernorm_embedding: false,
                final_norm: true,
                logits_bias: true,
            },
            Family::MBart => Layout {
                positions: Positions::Learned { offset: 2 },
                pre_norm: true,
                layernorm_embedding: true,
                final_norm: true,
                logits_bias: true,
            },
            Family::M2M100 => Layout {
                positions: Positions::Fairseq,
                pre_norm: true,
                layernorm_embedding: false,
                final_norm: true,
                logits_bias: false,
            },
        }
    }

    /// transformers' `MarianConfig` / `BartConfig` / `PegasusConfig` / `M2M100Config` defaults
    /// that differ between them (the other keys share one default): `(vocab_size, pad, eos, decoder_start)`,
    /// `None` for a start id that defaults to the config's pad id.
    fn default_ids(self) -> (usize, u32, u32, Option<u32>) {
        match self {
            Family::Marian => (58101, 58100, 0, None),
            Family::Bart => (50265, 1, 2, Some(2)),
            Family::MBart => (50265, 1, 2, Some(2)),
            Family::Pegasus => (50265, 0, 1, None),
            Family::M2M100 => (128112, 1, 2, Some(2)),
        }
    }

    /// Reads `config.json` as this family's config, with the family's defaults for missing keys.
    pub fn read_config(self, json: &str) -> serde_json::Result<BartConfig> {
        let mut value: serde_json::Value = serde_json::from_str(json)?;
        let (vocab, pad, eos, start) = self.default_ids();
        if let Some(map) = value.as_object_mut() {
            map.entry("vocab_size").or_insert(vocab.into());
            map.entry("pad_token_id").or_insert(pad.into());
            map.entry("eos_token_id").or_insert(eos.into());
            let pad_now = map.get("pad_token_id").cloned().unwrap_or(pad.into());
            map.entry("decoder_start_token_id")
                .or_insert(start.map_or(pad_now, Into::into));
        }
        let mut cfg: BartConfig = serde_json::from_value(value)?;
        cfg.family = self;
        Ok(cfg)
    }
}

/// `config.json` of a BART-family checkpoint. Read it with [`Family::read_config`], which fills
/// in the family's default ids; the serde defaults are transformers' shared ones.
#[derive(Debug, Clone, Deserialize)]
pub struct BartConfig {
    #[serde(skip)]
    pub family: Family,
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
    #[serde(default, deserialize_with = "first_id")]
    pub pad_token_id: Option<u32>,
    #[serde(default, deserialize_with = "first_id")]
    pub eos_token_id: Option<u32>,
    #[serde(default, deserialize_with = "first_id")]
    pub decoder_start_token_id: Option<u32>,
    #[serde(default = "defaults::yes")]
    pub share_encoder_decoder_embeddings: bool,
    #[serde(default = "defaults::yes")]
    pub tie_word_embeddings: bool,
}

mod defaults {
    use super::Activation;
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
    pub fn yes() -> bool {
        true
    }
}

impl BartConfig {
    pub fn target_vocab_size(&self) -> usize {
        self.decoder_vocab_size.unwrap_or(self.vocab_size)
    }

    /// The special ids; an id set to `null` falls back to the family default.
    pub fn special_tokens(&self) -> SpecialTokens {
        let (_, pad, eos, start) = self.family.default_ids();
        let pad = self.pad_token_id.unwrap_or(pad);
        SpecialTokens {
            pad,
            eos: self.eos_token_id.unwrap_or(eos),
            decoder_start: self.decoder_start_token_id.or(start).unwrap_or(pad),
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

/// A residual sublayer with its LayerNorm before (pre-norm) or after (post-norm) it.
#[derive(Debug, Clone)]
struct Residual {
    norm: LayerNorm,
    pre_norm: bool,
}

impl Residual {
    fn load(vb: VarBuilder, d_model: usize, pre_norm: bool) -> Result<Self> {
        Ok(Self {
            norm: layer_norm(vb, d_model)?,
            pre_norm,
        })
    }

    /// `x + f(norm(x))` (pre-norm) or `norm(x + f(x))` (post-norm).
    fn apply(&self, x: &Tensor, f: impl FnOnce(&Tensor) -> Result<Tensor>) -> Result<Tensor> {
        if self.pre_norm {
            x + f(&self.norm.forward(x)?)?
        } else {
            self.norm.forward(&(x + f(x)?)?)
        }
    }
}

#[derive(Debug, Clone)]
struct EncoderLayer {
    self_attn: Attention,
    self_attn_norm: Residual,
    ffn: FeedForward,
    final_norm: Residual,
}

impl EncoderLayer {
    fn load(vb: VarBuilder, cfg: &BartConfig) -> Result<Self> {
        let d = cfg.d_model;
        let pre = cfg.family.layout().pre_norm;
        Ok(Self {
            self_attn: Attention::load(vb.pp("self_attn"), d, cfg.encoder_attention_heads)?,
            self_attn_norm: Residual::load(vb.pp("self_attn_layer_norm"), d, pre)?,
            ffn: FeedForward::load(&vb, d, cfg.encoder_ffn_dim, cfg.activation_function)?,
            final_norm: Residual::load(vb.pp("final_layer_norm"), d, pre)?,
        })
    }

    /// `x`: the real rows of the batch (`rows`); the attention sees them in place.
    fn forward(&self, x: &Tensor, mask: &Tensor, rows: &Unpadded) -> Result<Tensor> {
        let attn = &self.self_attn;
        let x = self.self_attn_norm.apply(x, |h| {
            let q = rows.unpack(&attn.query(h)?)?;
            let (k, v) = attn.keys_values(h)?;
            let (k, v) = (rows.unpack(&k)?, rows.unpack(&v)?);
            attn.finish(&rows.pack(&multi_head(&q, &k, &v, attn.heads, Some(mask))?)?)
        })?;
        self.final_norm.apply(&x, |h| self.ffn.forward(h))
    }
}

#[derive(Debug, Clone)]
struct DecoderLayer {
    self_attn: Attention,
    self_attn_norm: Residual,
    cross_attn: Attention,
    cross_attn_norm: Residual,
    ffn: FeedForward,
    final_norm: Residual,
}

impl DecoderLayer {
    fn load(vb: VarBuilder, cfg: &BartConfig) -> Result<Self> {
        let d = cfg.d_model;
        let heads = cfg.decoder_attention_heads;
        let pre = cfg.family.layout().pre_norm;
        Ok(Self {
            self_attn: Attention::load(vb.pp("self_attn"), d, heads)?,
            self_attn_norm: Residual::load(vb.pp("self_attn_layer_norm"), d, pre)?,
            cross_attn: Attention::load(vb.pp("encoder_attn"), d, heads)?,
            cross_attn_norm: Residual::load(vb.pp("encoder_attn_layer_norm"), d, pre)?,
            ffn: FeedForward::load(&vb, d, cfg.decoder_ffn_dim, cfg.activation_function)?,
            final_norm: Residual::load(vb.pp("final_layer_norm"), d, pre)?,
        })
    }

    fn forward(&self, x: &Tensor, layer: &mut LayerState, state: &SharedState) -> Result<Tensor> {
        let attn = &self.self_attn;
        let x = self.self_attn_norm.apply(x, |h| {
            let q = attn.query(h)?;
            let (k, v) = attn.keys_values(h)?;
            let context = layer.self_kv.attend(
                (&q, &k, &v),
                attn.heads,
                state.causal.as_ref(),
                state.starts,
            )?;
            attn.finish(&context)
        })?;
        let cross = &self.cross_attn;
        let x = self.cross_attn_norm.apply(&x, |h| {
            let q = cross.query(h)?;
            cross.finish(&layer.cross_kv.attend(&q, Some(&state.cross_mask))?)
        })?;
        self.final_norm.apply(&x, |h| self.ffn.forward(h))
    }
}

/// fairseq's sinusoid table `(n, dim)` (M2M100's `get_embedding`), in `f32` as transformers
/// computes it: `half = dim / 2` frequencies `exp(-j ln(10000) / (half - 1))`, sines then
/// cosines, a zero column when `dim` is odd, row `pad` zeroed.
fn fairseq_positions(n: usize, dim: usize, pad: usize, device: &Device) -> Result<Tensor> {
    let half = dim / 2;
    let step = (10000f64.ln() / (half.max(2) - 1) as f64) as f32;
    let freqs: Vec<f32> = (0..half).map(|j| (j as f32 * -step).exp()).collect();
    let mut table = vec![0f32; n * dim];
    for pos in (0..n).filter(|&p| p != pad) {
        let row = &mut table[pos * dim..(pos + 1) * dim];
        for (j, f) in freqs.iter().enumerate() {
            let angle = pos as f32 * f;
            row[j] = angle.sin();
            row[half + j] = angle.cos();
        }
    }
    Tensor::from_vec(table, (n, dim), device)
}

/// fairseq's position ids (`create_position_ids_from_input_ids`), computed where `ids` live (no
/// copy to the host per decode step): `(cumsum(ids != pad) + past) * (ids != pad) + pad`, i.e.
/// `pad + n + past` for the `n`-th non-pad token of a row and `pad` for a pad token. The counts
/// are small integers, exact in `f32`.
fn fairseq_position_ids(ids: &Tensor, pad: u32, past: &Tensor) -> Result<Tensor> {
    let not_pad = ids.ne(pad)?.to_dtype(DType::F32)?;
    let counted = not_pad
        .cumsum(1)?
        .broadcast_add(&past.to_dtype(DType::F32)?)?;
    (counted * &not_pad)?
        .affine(1.0, f64::from(pad))?
        .to_dtype(DType::U32)
}

/// Where a stack's positions start: the same for every row, or per row (`(B,)`, the decoder
/// of a batch that took rows while running).
enum Offset {
    Same(usize),
    Rows(Vec<u32>),
}

/// Per-step inputs shared by all layers.
struct SharedState<'a> {
    causal: Option<Tensor>,
    cross_mask: Tensor,
    /// Per row, the first cached position it attends to ([`DecodeState::starts`]).
    starts: Option<&'a [u32]>,
}

/// The encoder's and the decoder's position tables, row `p` for position `p`: one computed
/// sinusoid shared by both, or each stack's learned table past its offset. fairseq's table
/// keeps its first `pad + 1` rows (positions start after them).
fn position_tables(vb: &VarBuilder, cfg: &BartConfig) -> Result<(Tensor, Tensor)> {
    let (n, d) = (cfg.max_position_embeddings, cfg.d_model);
    match cfg.family.layout().positions {
        Positions::Sinusoid => {
            let table = sinusoidal_positions(n, d, vb.device())?.to_dtype(vb.dtype())?;
            Ok((table.clone(), table))
        }
        Positions::Fairseq => {
            let pad = cfg.special_tokens().pad as usize;
            let table = fairseq_positions(n + pad + 1, d, pad, vb.device())?;
            let table = table.to_dtype(vb.dtype())?;
            Ok((table.clone(), table))
        }
        Positions::Learned { offset } => {
            let learned = |stack: &str| {
                vb.pp("model")
                    .pp(stack)
                    .get((n + offset, d), "embed_positions.weight")?
                    .narrow(0, offset, n)
            };
            Ok((learned("encoder")?, learned("decoder")?))
        }
    }
}

/// What one stack (encoder or decoder) adds around its layers.
#[derive(Debug, Clone)]
struct Stack {
    embed: Embedding,
    /// Row `p` is position `p` (a learned table's offset already skipped); for fairseq
    /// positions, the whole table, indexed by [`fairseq_position_ids`].
    positions: Tensor,
    /// The pad id, when positions are fairseq's (padding-aware).
    fairseq_pad: Option<u32>,
    layernorm_embedding: Option<LayerNorm>,
    final_norm: Option<LayerNorm>,
}

impl Stack {
    /// The `name` stack (`encoder` or `decoder`) over its token table and position table.
    fn load(
        vb: &VarBuilder,
        cfg: &BartConfig,
        (table, positions): (Tensor, Tensor),
        name: &str,
    ) -> Result<Self> {
        let d = cfg.d_model;
        let layout = cfg.family.layout();
        let stack = vb.pp("model").pp(name);
        let optional_norm = |on: bool, name: &str| -> Result<Option<LayerNorm>> {
            on.then(|| layer_norm(stack.pp(name), d)).transpose()
        };
        Ok(Self {
            embed: Embedding::new(table, d),
            positions,
            fairseq_pad: (layout.positions == Positions::Fairseq).then(|| cfg.special_tokens().pad),
            layernorm_embedding: optional_norm(layout.layernorm_embedding, "layernorm_embedding")?,
            final_norm: optional_norm(layout.final_norm, "layer_norm")?,
        })
    }

    /// Token embeddings (scaled) plus positions `offset..offset + T` (per row: rows that
    /// joined a running batch count from their own start), then the embedding norm.
    fn embed(&self, ids: &Tensor, offset: Offset, scale: f64) -> Result<Tensor> {
        let (b, t) = ids.dims2()?;
        let reserved = self.fairseq_pad.map_or(0, |pad| pad as usize + 1);
        let max = self.positions.dim(0)? - reserved;
        let furthest = match &offset {
            Offset::Same(o) => *o,
            Offset::Rows(rows) => rows.iter().copied().max().unwrap_or(0) as usize,
        };
        if furthest + t > max {
            return Err(candle_core::Error::Msg(format!(
                "sequence of {} positions exceeds the model's {max} max_position_embeddings",
                furthest + t,
            )));
        }
        let x = (self.embed.forward(ids)? * scale)?;
        let d = self.positions.dim(1)?;
        let gather = |rows: &Tensor| -> Result<Tensor> {
            self.positions
                .index_select(&rows.flatten_all()?, 0)?
                .reshape((b, t, d))
        };
        let x = match (self.fairseq_pad, offset) {
            (Some(pad), offset) => {
                let past = match offset {
                    Offset::Same(o) => Tensor::full(o as u32, (b, 1), ids.device())?,
                    Offset::Rows(rows) => Tensor::from_vec(rows, (b, 1), ids.device())?,
                };
                (x + gather(&fairseq_position_ids(ids, pad, &past)?)?)?
            }
            (None, Offset::Same(o)) => x.broadcast_add(&self.positions.narrow(0, o, t)?)?,
            (None, Offset::Rows(rows)) => {
                let ids: Vec<u32> = rows.iter().flat_map(|&p| p..p + t as u32).collect();
                (x + gather(&Tensor::from_vec(ids, (b, t), self.positions.device())?)?)?
            }
        };
        match &self.layernorm_embedding {
            Some(norm) => norm.forward(&x),
            None => Ok(x),
        }
    }

    fn finish(&self, x: Tensor) -> Result<Tensor> {
        match &self.final_norm {
            Some(norm) => norm.forward(&x),
            None => Ok(x),
        }
    }
}

/// The weights of a BART-family model; immutable after loading.
#[derive(Debug, Clone)]
pub struct Bart {
    cfg: BartConfig,
    encoder_stack: Stack,
    decoder_stack: Stack,
    embed_scale: f64,
    encoder: Vec<EncoderLayer>,
    decoder: Vec<DecoderLayer>,
    lm_head: Dense,
    device: Device,
    dtype: DType,
}

impl Bart {
    pub fn new(cfg: &BartConfig, vb: VarBuilder) -> Result<Self> {
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
        let bias = if cfg.family.layout().logits_bias && vb.contains_tensor("final_logits_bias") {
            vb.get((1, tgt_v), "final_logits_bias")?.reshape(tgt_v)?
        } else {
            Tensor::zeros(tgt_v, vb.dtype(), vb.device())?
        };
        let (enc_pos, dec_pos) = position_tables(&vb, cfg)?;
        let encoder = (0..cfg.encoder_layers)
            .map(|i| EncoderLayer::load(model.pp("encoder.layers").pp(i), cfg))
            .collect::<Result<Vec<_>>>()?;
        let decoder = (0..cfg.decoder_layers)
            .map(|i| DecoderLayer::load(model.pp("decoder.layers").pp(i), cfg))
            .collect::<Result<Vec<_>>>()?;
        Ok(Self {
            cfg: cfg.clone(),
            encoder_stack: Stack::load(&vb, cfg, (enc_w, enc_pos), "encoder")?,
            decoder_stack: Stack::load(&vb, cfg, (dec_w, dec_pos), "decoder")?,
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

    pub fn config(&self) -> &BartConfig {
        &self.cfg
    }

    /// Runs the encoder over a padded batch.
    pub fn encode(&self, input_ids: &Tensor, attention_mask: &Tensor) -> Result<Tensor> {
        let mask = padding_mask(attention_mask, self.dtype)?;
        let rows = Unpadded::new(attention_mask)?;
        let mut x = rows.pack(&self.encoder_stack.embed(
            input_ids,
            Offset::Same(0),
            self.embed_scale,
        )?)?;
        for layer in &self.encoder {
            x = layer.forward(&x, &mask, &rows)?;
        }
        rows.unpack(&self.encoder_stack.finish(x)?)
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
        let offset = match state.row_positions() {
            Some(rows) => Offset::Rows(rows),
            None => Offset::Same(state.past),
        };
        let mut x = self.decoder_stack.embed(tokens, offset, self.embed_scale)?;
        let causal = if t > 1 {
            Some(causal_mask(t, state.past, self.dtype, &self.device)?)
        } else {
            None
        };
        let cross_mask = state.cross_mask.clone();
        let (layers, starts) = state.layers_and_starts();
        let shared = SharedState {
            causal,
            cross_mask,
            starts,
        };
        for (layer, ls) in self.decoder.iter().zip(layers.iter_mut()) {
            x = layer.forward(&x, ls, &shared)?;
        }
        state.past += t;
        self.decoder_stack.finish(x)
    }
}

impl CachedDecoder for Bart {
    fn decode_hidden(&self, state: &mut DecodeState, tokens: &Tensor) -> Result<Tensor> {
        Bart::decode_hidden(self, state, tokens)
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

impl Seq2Seq for Bart {
    fn encode(&self, input_ids: &Tensor, attention_mask: &Tensor) -> Result<Tensor> {
        Bart::encode(self, input_ids, attention_mask)
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
