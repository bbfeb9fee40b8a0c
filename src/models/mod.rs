//! Model architectures: pure compute on candle tensors.
//!
//! Each architecture reads the hub's `config.json` as is, keeps its weights immutable (so one
//! loaded model can be shared between threads), and keeps the per-batch decode state (self-attention
//! KV cache, cross-attention keys/values computed once from the encoder output, padding mask)
//! outside the weights, in a session object that implements [`StepDecoder`].

pub mod attention;
pub mod bart;
pub mod config;
pub mod cpu;
pub mod pick;
pub mod state;
pub mod synthetic;
pub mod t5;
pub mod unpad;
pub mod weights;

pub use config::{Architecture, ModelConfig, TokenizerFormat};

use std::sync::Arc;

use candle_core::{DType, Device, Result, Tensor, D};

use cpu::packed::PackedF32;
use cpu::quant::QuantI8;

/// A candle error as one line for people: without the backtrace candle attaches when
/// `RUST_BACKTRACE` is set.
pub fn describe(e: &candle_core::Error) -> String {
    match e {
        candle_core::Error::WithBacktrace { inner, .. } => describe(inner),
        candle_core::Error::Context { inner, context } => format!("{context}: {}", describe(inner)),
        candle_core::Error::WithPath { inner, path } => {
            format!("{}: {}", path.display(), describe(inner))
        }
        other => other.to_string(),
    }
}

/// Additive attention mask `(B, 1, 1, S)` from a `(B, S)` mask of ones (keep) and zeros (padding).
///
/// Masked positions get the most negative finite f32, as transformers does, so a softmax row that
/// sees at least one real key gives exactly zero weight to padding.
pub fn padding_mask(attention_mask: &Tensor, dtype: DType) -> Result<Tensor> {
    let (b, s) = attention_mask.dims2()?;
    let keep = attention_mask.to_dtype(DType::F32)?;
    let neg = ((keep.ones_like()? - &keep)? * f32::MIN as f64)?;
    neg.reshape((b, 1, 1, s))?.to_dtype(dtype)
}

/// Additive causal mask `(1, 1, T, P + T)` for `T` new queries after `P` cached positions.
pub fn causal_mask(t: usize, past: usize, dtype: DType, device: &Device) -> Result<Tensor> {
    let total = past + t;
    let mask: Vec<f32> = (0..t)
        .flat_map(|i| (0..total).map(move |j| if j > past + i { f32::MIN } else { 0.0 }))
        .collect();
    Tensor::from_vec(mask, (1, 1, t, total), device)?.to_dtype(dtype)
}

/// Activation functions named as in transformers' `ACT2FN`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Activation {
    #[serde(alias = "silu")]
    Swish,
    Gelu,
    #[serde(alias = "gelu_pytorch_tanh", alias = "gelu_fast")]
    GeluNew,
    Relu,
}

impl Activation {
    pub fn apply(self, x: &Tensor) -> Result<Tensor> {
        if self == Activation::GeluNew && x.device().is_cpu() && x.dtype() == DType::F32 {
            let mut v = x.flatten_all()?.to_vec1::<f32>()?;
            cpu::kernels::gelu_tanh(&mut v);
            return Tensor::from_vec(v, x.shape(), x.device());
        }
        match self {
            Activation::Swish => candle_nn::ops::silu(x),
            Activation::Gelu => x.gelu_erf(),
            Activation::GeluNew => x.gelu(),
            Activation::Relu => x.relu(),
        }
    }
}

/// Up to this many rows, unpacked dense layers on CPU use [`cpu::kernels::matmul_xwt`] (decode steps).
const FEW_ROWS: usize = 64;

/// The f32 values of a contiguous CPU tensor, borrowed from its storage.
fn cpu_f32<'a>(
    storage: &'a candle_core::Storage,
    layout: &candle_core::Layout,
) -> Option<&'a [f32]> {
    let candle_core::Storage::Cpu(cpu) = storage else {
        return None;
    };
    let (start, end) = layout.contiguous_offsets()?;
    cpu.as_slice::<f32>().ok().map(|v| &v[start..end])
}

/// How a dense layer holds its weight.
#[derive(Debug, Clone)]
enum DenseWeight {
    /// The `(out, in)` tensor as loaded (GPU, f16/bf16, CPUs without AVX-512).
    Tensor(Tensor),
    /// f32 on an AVX-512 CPU: packed into panels once (the unpacked copy is dropped unless shared).
    Packed(Arc<PackedF32>),
    /// 8-bit weights ([`Dense::quantize`]), CPU only.
    Q8(Arc<QuantI8>),
}

/// A dense layer `y = x Wᵀ + b` that flattens leading dimensions into one matrix product.
#[derive(Debug, Clone)]
pub struct Dense {
    weight: DenseWeight,
    bias: Option<Tensor>,
    in_dim: usize,
    out_dim: usize,
}

impl Dense {
    /// A dense layer over `weight` `(out, in)`; f32 CPU weights are packed for the CPU kernel.
    pub fn new(weight: Tensor, bias: Option<Tensor>) -> Result<Self> {
        let (out_dim, in_dim) = weight.dims2()?;
        let packed =
            if weight.device().is_cpu() && weight.dtype() == DType::F32 && PackedF32::supported() {
                let (storage, layout) = weight.storage_and_layout();
                cpu_f32(&storage, layout).and_then(|w| PackedF32::new(w, out_dim, in_dim))
            } else {
                None
            };
        let weight = match packed {
            Some(p) => DenseWeight::Packed(Arc::new(p)),
            None => DenseWeight::Tensor(weight),
        };
        Ok(Self {
            weight,
            bias,
            in_dim,
            out_dim,
        })
    }

    /// Loads `weight` `(out, in)` and, when `bias`, `bias` `(out)` under `vb`.
    pub fn load(
        vb: candle_nn::VarBuilder,
        in_dim: usize,
        out_dim: usize,
        bias: bool,
    ) -> Result<Self> {
        let weight = vb.get((out_dim, in_dim), "weight")?;
        let bias = if bias {
            Some(vb.get(out_dim, "bias")?)
        } else {
            None
        };
        Self::new(weight, bias)
    }

    /// Converts the weight to 8 bits per value with a scale per output row ([`QuantI8`]);
    /// activations stay f32 between layers. CPU and f32 only.
    pub fn quantize(&mut self) -> Result<()> {
        let w: Vec<f32> = match &self.weight {
            DenseWeight::Q8(_) => return Ok(()),
            DenseWeight::Packed(p) => p.unpack(),
            DenseWeight::Tensor(t) => {
                if !t.device().is_cpu() || t.dtype() != DType::F32 {
                    candle_core::bail!("8-bit weights need f32 weights on the CPU");
                }
                t.flatten_all()?.to_vec1()?
            }
        };
        let q = QuantI8::new(&w, self.out_dim, self.in_dim);
        self.weight = DenseWeight::Q8(Arc::new(q));
        Ok(())
    }

    /// [`Self::forward`] as a row-major `rows × out` Vec when a CPU kernel computes it (the
    /// buffer the kernel wrote, no copy); `None` on the tensor path.
    pub fn forward_vec(&self, x: &Tensor) -> Result<Option<Vec<f32>>> {
        if !x.device().is_cpu() || x.dtype() != DType::F32 {
            return Ok(None);
        }
        // Input, weight and bias are all read in place from their storage.
        let x = x.contiguous()?;
        let (x_storage, x_layout) = x.storage_and_layout();
        let Some(xs) = cpu_f32(&x_storage, x_layout) else {
            return Ok(None);
        };
        let k = x.dim(D::Minus1)?;
        let rows = xs.len() / k.max(1);
        let bias = self.bias.as_ref().map(|b| b.storage_and_layout());
        let b = match &bias {
            Some((storage, layout)) => match cpu_f32(storage, layout) {
                Some(b) => Some(b),
                None => return Ok(None),
            },
            None => None,
        };
        Ok(match &self.weight {
            DenseWeight::Packed(p) => Some(p.matmul(xs, rows, b)),
            DenseWeight::Q8(q) => Some(q.matmul(xs, rows, b)),
            // The few-rows kernel on the weight's stored layout: decode steps on CPUs without
            // AVX-512.
            DenseWeight::Tensor(w) if rows <= FEW_ROWS && w.dtype() == DType::F32 => {
                let weight = w.storage_and_layout();
                cpu_f32(&weight.0, weight.1)
                    .map(|w| cpu::kernels::matmul_xwt(xs, w, b, rows, k, self.out_dim))
            }
            DenseWeight::Tensor(_) => None,
        })
    }

    pub fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let mut out_dims = x.dims().to_vec();
        let in_dim = x.dim(D::Minus1)?;
        if let Some(last) = out_dims.last_mut() {
            *last = self.out_dim;
        }
        if let Some(y) = self.forward_vec(x)? {
            return Tensor::from_vec(y, out_dims, x.device());
        }
        let DenseWeight::Tensor(weight) = &self.weight else {
            candle_core::bail!("packed and 8-bit dense weights need f32 inputs on the CPU");
        };
        let rows = x.elem_count() / in_dim.max(1);
        let y = x.reshape((rows, in_dim))?.matmul(&weight.t()?)?;
        let y = match &self.bias {
            Some(b) => y.broadcast_add(b)?,
            None => y,
        };
        y.reshape(out_dims)
    }
}

/// Token ids a seq2seq model needs to decode.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpecialTokens {
    pub pad: u32,
    pub eos: u32,
    pub decoder_start: u32,
}

/// What a step gave: every row's logits, or the tokens chosen on the device.
#[derive(Debug, Clone, PartialEq)]
pub enum StepLogits {
    /// `rows × vocab` row-major f32.
    Full(Vec<f32>),
    Picked(pick::Picked),
}

/// One decoding session over a batch: the per-batch state lives here, not in the weights.
pub trait StepDecoder: Send {
    /// Feeds one token per row and returns the next-token logits, `rows × vocab` row-major f32.
    fn step(&mut self, tokens: &[u32]) -> Result<Vec<f32>>;
    /// Whether [`Self::step_pick`] chooses tokens where the logits are (they are not on the
    /// host), so that a caller that can say what it needs should ask for a pick.
    fn picks_on_device(&self) -> bool {
        false
    }
    /// [`Self::step`] for a caller that needs only each row's best tokens ([`pick::PickSpec`]):
    /// a decoder whose logits are on another device (a GPU) chooses there and sends back
    /// [`StepLogits::Picked`]; the others give the full rows.
    fn step_pick(&mut self, tokens: &[u32], spec: &pick::PickSpec) -> Result<StepLogits> {
        let _ = spec;
        Ok(StepLogits::Full(self.step(tokens)?))
    }
    /// Keeps the rows `rows` (indices into the current rows, repeats allowed), in that order.
    fn select_rows(&mut self, rows: &[u32]) -> Result<()>;
    /// Appends the rows of `other`, a session of the same model that has not stepped yet, after
    /// this one's rows: they decode their first token at the next step (iteration-level
    /// batching). Each row's results stay what they would be alone.
    fn append(&mut self, other: Box<dyn StepDecoder + '_>) -> Result<()> {
        drop(other);
        candle_core::bail!("this decoder cannot take rows while it runs")
    }
    /// The per-batch state, for [`Self::append`] (decoders without one give `None`).
    fn into_state(self: Box<Self>) -> Option<state::DecodeState> {
        None
    }
    /// Rows in the batch.
    fn rows(&self) -> usize;
    /// Size of the output vocabulary (length of one row of logits).
    fn vocab_size(&self) -> usize;
    /// Decoder positions the model can represent (its position table), when it has a limit.
    fn max_positions(&self) -> Option<usize> {
        None
    }
}

/// An encoder-decoder model: encode a padded batch once, then decode step by step.
pub trait Seq2Seq: Send + Sync {
    /// `input_ids` and `attention_mask` are `(B, S)` u32; returns the encoder output `(B, S, D)`.
    fn encode(&self, input_ids: &Tensor, attention_mask: &Tensor) -> Result<Tensor>;
    /// Starts decoding against an encoder output (rows may have been repeated for beams).
    fn start<'a>(
        &'a self,
        encoder_out: &Tensor,
        attention_mask: &Tensor,
    ) -> Result<Box<dyn StepDecoder + 'a>>;
    fn special_tokens(&self) -> SpecialTokens;
    /// Longest source the model accepts, in tokens (positions), when it has such a limit.
    fn max_source_positions(&self) -> Option<usize>;
    fn device(&self) -> &Device;
    fn dtype(&self) -> DType;
    /// Converts every dense layer to 8-bit weights ([`Dense::quantize`]).
    fn quantize(&mut self) -> Result<()>;
}

/// Reads an id that transformers' configs write either as an int or as a list of ints.
pub(crate) fn first_id<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> std::result::Result<Option<u32>, D::Error> {
    #[derive(serde::Deserialize)]
    #[serde(untagged)]
    enum OneOrMany {
        One(u32),
        Many(Vec<u32>),
    }
    let v: Option<OneOrMany> = serde::Deserialize::deserialize(d)?;
    Ok(match v {
        None => None,
        Some(OneOrMany::One(x)) => Some(x),
        Some(OneOrMany::Many(v)) => v.first().copied(),
    })
}
