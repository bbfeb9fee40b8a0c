//! Opening checkpoint files as a candle `VarBuilder`.

use std::path::{Path, PathBuf};

use candle_core::{DType, Device, Result};
use candle_nn::VarBuilder;

/// Where a checkpoint's tensors live (the registry finds them, the loader opens them).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "format", content = "paths", rename_all = "snake_case")]
pub enum WeightFiles {
    /// One or more `.safetensors` files (the shards named by `model.safetensors.index.json`,
    /// sorted), memory-mapped.
    Safetensors(Vec<PathBuf>),
    /// A PyTorch `pytorch_model.bin` (zip + pickle), read into memory.
    PytorchBin(PathBuf),
}

impl WeightFiles {
    /// Opens the tensors; they are converted to `dtype` on `device` as they are read.
    pub fn var_builder(&self, dtype: DType, device: &Device) -> Result<VarBuilder<'static>> {
        match self {
            WeightFiles::Safetensors(files) => {
                for f in files {
                    check_exists(f)?;
                }
                // SAFETY: the files are memory-mapped read-only; they are model files in a cache or
                // a local directory that nothing in this process writes to while they are mapped.
                unsafe { VarBuilder::from_mmaped_safetensors(files, dtype, device) }
            }
            WeightFiles::PytorchBin(file) => {
                check_exists(file)?;
                VarBuilder::from_pth(file, dtype, device)
            }
        }
    }
}

fn check_exists(path: &Path) -> Result<()> {
    if path.is_file() {
        Ok(())
    } else {
        Err(candle_core::Error::Msg(format!(
            "weights file {} does not exist",
            path.display()
        )))
    }
}
