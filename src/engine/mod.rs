//! Running a loaded model over batches of token ids: padding, masks, one encoder pass per batch,
//! then decoding, on a model thread of its own. Knows nothing of text or HTTP.

mod admission;
mod continuous;
mod thread;

pub use admission::{Admission, Load};
pub use thread::{Engine, EngineBatch, EngineStats, Request, MAX_CONSECUTIVE_PANICS};

use std::fmt;
use std::str::FromStr;

use candle_core::{DType, Device, Tensor};

use crate::generate::{generate, GenerateError, GenerationConfig, Hypothesis};
use crate::models::{Seq2Seq, StepDecoder};

#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error("{0}")]
    Generate(#[from] GenerateError),
    #[error("model error: {}", crate::models::describe(.0))]
    Model(#[from] candle_core::Error),
    #[error("device {device} is not available in this build: {reason}")]
    DeviceUnavailable { device: String, reason: String },
    /// The batch this input was part of failed; every job of the batch gets the same error.
    #[error("{0}")]
    Batch(std::sync::Arc<EngineError>),
    /// The model thread has stopped (shutdown).
    #[error("the model is shutting down")]
    Closed,
    /// The model thread panicked while running this input's batch; the next batch runs.
    #[error("the model thread failed on this batch: {0}")]
    Panicked(String),
    /// The model thread has stopped after repeated faults; the process needs a restart.
    #[error("the model thread has stopped after repeated faults; restart the process")]
    Down,
}

/// How the model thread schedules the batches it is sent (`--scheduler`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Scheduler {
    /// Each batch runs to completion; a batch that arrives meanwhile waits for it.
    Static,
    /// Iteration-level: between two decode steps, waiting inputs join the running batch (within
    /// the [`Admission`] limits) and finished ones leave.
    #[default]
    Continuous,
}

impl FromStr for Scheduler {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s.trim().to_ascii_lowercase().as_str() {
            "static" => Ok(Scheduler::Static),
            "continuous" => Ok(Scheduler::Continuous),
            _ => Err(format!("invalid scheduler {s:?}: use static or continuous")),
        }
    }
}

impl fmt::Display for Scheduler {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Scheduler::Static => "static",
            Scheduler::Continuous => "continuous",
        })
    }
}

/// What the model thread runs: the scheduler and, for the continuous one, its limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Schedule {
    pub scheduler: Scheduler,
    pub admission: Admission,
}

/// A device as the user names it (`--device`): parsed at the edge, opened at load.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeviceSpec {
    /// CUDA, then Metal, when compiled in and present, else the CPU.
    Auto,
    Cpu,
    Cuda(usize),
    Metal,
}

impl FromStr for DeviceSpec {
    type Err = String;

    fn from_str(spec: &str) -> Result<Self, String> {
        match spec.trim().to_ascii_lowercase().as_str() {
            "auto" => Ok(DeviceSpec::Auto),
            "cpu" => Ok(DeviceSpec::Cpu),
            "cuda" => Ok(DeviceSpec::Cuda(0)),
            "metal" => Ok(DeviceSpec::Metal),
            s => match s.strip_prefix("cuda:").map(str::parse::<usize>) {
                Some(Ok(n)) => Ok(DeviceSpec::Cuda(n)),
                _ => Err(format!(
                    "invalid device {spec:?}: use auto, cpu, cuda, cuda:N or metal"
                )),
            },
        }
    }
}

impl fmt::Display for DeviceSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DeviceSpec::Auto => f.write_str("auto"),
            DeviceSpec::Cpu => f.write_str("cpu"),
            DeviceSpec::Cuda(n) => write!(f, "cuda:{n}"),
            DeviceSpec::Metal => f.write_str("metal"),
        }
    }
}

impl DeviceSpec {
    /// Opens the device; CUDA and Metal need a build with that feature and the hardware.
    pub fn open(self) -> Result<Device, EngineError> {
        let unavailable = |e: candle_core::Error| EngineError::DeviceUnavailable {
            device: self.to_string(),
            reason: format!("{e} (build with --features cuda or --features metal)"),
        };
        match self {
            DeviceSpec::Cpu => Ok(Device::Cpu),
            DeviceSpec::Auto if candle_core::utils::cuda_is_available() => {
                Device::new_cuda(0).map_err(unavailable)
            }
            DeviceSpec::Auto if candle_core::utils::metal_is_available() => {
                Device::new_metal(0).map_err(unavailable)
            }
            DeviceSpec::Auto => Ok(Device::Cpu),
            DeviceSpec::Cuda(n) => Device::new_cuda(n).map_err(unavailable),
            DeviceSpec::Metal => Device::new_metal(0).map_err(unavailable),
        }
    }
}

/// Number format of a model (`--dtype`): a candle dtype for weights and activations, or `q8`:
/// 8-bit dense weights with f32 activations (CPU only).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Precision {
    pub dtype: DType,
    pub quantize: bool,
}

impl FromStr for Precision {
    type Err = String;

    /// `f32`, `f16`, `bf16` or `q8` (also spelled `float32`, `float16`, `bfloat16`, `int8`).
    fn from_str(spec: &str) -> Result<Self, String> {
        let (dtype, quantize) = match spec.trim().to_ascii_lowercase().as_str() {
            "f32" | "float32" => (DType::F32, false),
            "f16" | "float16" => (DType::F16, false),
            "bf16" | "bfloat16" => (DType::BF16, false),
            "q8" | "int8" => (DType::F32, true),
            _ => {
                return Err(format!(
                    "invalid dtype {spec:?}: use f32, f16, bf16 or q8 (8-bit weights, CPU)"
                ))
            }
        };
        Ok(Precision { dtype, quantize })
    }
}

impl fmt::Display for Precision {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = match (self.quantize, self.dtype) {
            (true, _) => "q8",
            (false, DType::F16) => "f16",
            (false, DType::BF16) => "bf16",
            (false, _) => "f32",
        };
        f.write_str(name)
    }
}

/// Human name of a device, for reports and `/v1/models`.
pub fn device_name(device: &Device) -> String {
    match device {
        Device::Cpu => "cpu".into(),
        Device::Cuda(_) => "cuda".into(),
        Device::Metal(_) => "metal".into(),
    }
}

/// Right-pads `inputs` with `pad` into `(B, S)` ids and a `(B, S)` mask.
pub fn pad_batch(
    inputs: &[&[u32]],
    pad: u32,
    device: &Device,
) -> candle_core::Result<(Tensor, Tensor)> {
    let s = inputs.iter().map(|x| x.len()).max().unwrap_or(0);
    let mut ids = Vec::with_capacity(inputs.len() * s);
    let mut mask = Vec::with_capacity(inputs.len() * s);
    for x in inputs {
        ids.extend_from_slice(x);
        ids.extend(std::iter::repeat_n(pad, s - x.len()));
        mask.extend(std::iter::repeat_n(1u32, x.len()));
        mask.extend(std::iter::repeat_n(0u32, s - x.len()));
    }
    let shape = (inputs.len(), s);
    Ok((
        Tensor::from_vec(ids, shape, device)?,
        Tensor::from_vec(mask, shape, device)?,
    ))
}

/// Runs `work` on a worker of rayon's pool (in place when already on one). Model work goes
/// through here: the CPU kernels' parallel loops then share work with the other workers from
/// inside, instead of waking them from outside and putting the caller to sleep around every
/// dense layer (1.2-1.3× the tokens/s on 2 cores).
pub fn on_compute_pool<R: Send>(work: impl FnOnce() -> R + Send) -> R {
    rayon::scope(|_| work())
}

/// Encodes `inputs` as one padded batch and starts a decoding session on it.
pub fn start_rows<'m>(
    model: &'m dyn Seq2Seq,
    inputs: &[&[u32]],
) -> Result<Box<dyn StepDecoder + 'm>, EngineError> {
    let (ids, mask) = pad_batch(inputs, model.special_tokens().pad, model.device())?;
    let encoded = model.encode(&ids, &mask)?;
    Ok(model.start(&encoded, &mask)?)
}

/// Encodes one padded batch once and decodes it.
pub fn run_batch(
    model: &dyn Seq2Seq,
    inputs: &[&[u32]],
    cfg: &GenerationConfig,
) -> Result<Vec<Hypothesis>, EngineError> {
    if inputs.is_empty() {
        return Ok(Vec::new());
    }
    on_compute_pool(|| {
        let mut session = start_rows(model, inputs)?;
        let special = model.special_tokens();
        Ok(generate(session.as_mut(), inputs.len(), cfg, &special)?)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn padding_and_mask() {
        let (ids, mask) = pad_batch(&[&[4, 5, 6], &[7]], 9, &Device::Cpu).unwrap();
        assert_eq!(
            ids.to_vec2::<u32>().unwrap(),
            vec![vec![4, 5, 6], vec![7, 9, 9]]
        );
        assert_eq!(
            mask.to_vec2::<u32>().unwrap(),
            vec![vec![1, 1, 1], vec![1, 0, 0]]
        );
    }

    #[test]
    fn devices_and_dtypes_parse() {
        assert_eq!("CPU".parse(), Ok(DeviceSpec::Cpu));
        assert_eq!("cuda:1".parse(), Ok(DeviceSpec::Cuda(1)));
        assert!(matches!(DeviceSpec::Cpu.open(), Ok(Device::Cpu)));
        let bad = "tpu".parse::<DeviceSpec>().unwrap_err();
        assert!(bad.contains("auto, cpu, cuda"), "{bad}");
        assert!("cuda:x".parse::<DeviceSpec>().is_err());
        let bf16: Precision = "bf16".parse().unwrap();
        assert_eq!((bf16.dtype, bf16.quantize), (DType::BF16, false));
        let q8: Precision = "Q8".parse().unwrap();
        assert_eq!(
            (q8.dtype, q8.quantize, q8.to_string()),
            (DType::F32, true, "q8".into())
        );
        assert!("int4".parse::<Precision>().unwrap_err().contains("q8"));
        assert_eq!(DeviceSpec::Cuda(0).to_string(), "cuda:0");
    }
}
