//! `--export DIR`: a synthetic model written in the Hugging Face hub layout, so the server, the
//! batch command, transformers and CTranslate2 load the identical weights.
//!
//! Files: `config.json` and `generation_config.json` (the real hub files), `model.safetensors`
//! (every tensor the model reads, named as transformers saves them: a tied Marian stores
//! `model.shared.weight` and `final_logits_bias`), the tokenizer files (see [`super::vocab`]),
//! `bench-workloads.json` (the wire and summ inputs for this vocabulary, read by the peer
//! script) and `synthetic.json` (provenance).

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use candle_core::{DType, Device};
use serde::{Deserialize, Serialize};

use super::synthetic::{Recorded, SyntheticSpec, WEIGHT_SEED, WEIGHT_STD};
use super::vocab;
use super::workload::{TokenWorkload, Workload};
use crate::engine::EngineError;
use crate::models::TokenizerFormat;
use crate::Error;

/// File name of the workload inputs next to an exported model.
pub const WORKLOADS_FILE: &str = "bench-workloads.json";

/// The token-id workloads for one model, as written to [`WORKLOADS_FILE`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WorkloadsFile {
    pub model: String,
    /// Ids are drawn below this.
    pub vocab: u32,
    pub pad_token_id: u32,
    pub eos_token_id: u32,
    pub workloads: Vec<TokenWorkload>,
}

impl WorkloadsFile {
    /// The wire and summ workloads for a vocabulary.
    pub fn new(
        model: &str,
        vocab: u32,
        special: &crate::models::SpecialTokens,
    ) -> Result<Self, Error> {
        let workloads = [Workload::Wire, Workload::Summ]
            .into_iter()
            .filter_map(|w| w.shape().map(|s| (w, s)))
            .map(|(w, shape)| TokenWorkload::generate(&shape, w, vocab, special))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|m| Error::invalid("invalid_argument", m))?;
        Ok(Self {
            model: model.to_string(),
            vocab,
            pad_token_id: special.pad,
            eos_token_id: special.eos,
            workloads,
        })
    }

    pub fn write(&self, path: &Path) -> Result<(), Error> {
        let bytes = serde_json::to_vec(self).map_err(|e| Error::internal(e.to_string()))?;
        write_file(path, &bytes)
    }
}

/// What an export wrote.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Exported {
    pub dir: PathBuf,
    pub files: Vec<String>,
    pub tensors: usize,
    pub parameters: usize,
}

/// Writes `spec`'s synthetic model into `dir` (created if needed; existing files replaced).
pub fn export(spec: &'static SyntheticSpec, dir: &Path) -> Result<Exported, Error> {
    std::fs::create_dir_all(dir).map_err(|e| Error::Io {
        context: format!("cannot create {}", dir.display()),
        source: e,
    })?;
    let recorded = Recorded::default();
    let built = spec.build(DType::F32, &Device::Cpu, Some(recorded.clone()))?;
    drop(built);
    let tensors: HashMap<String, candle_core::Tensor> = recorded
        .lock()
        .map_err(|_| Error::internal("weight recorder poisoned"))?
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let parameters = tensors.values().map(|t| t.elem_count()).sum();
    let weights = dir.join("model.safetensors");
    candle_core::safetensors::save(&tensors, &weights).map_err(EngineError::from)?;
    let mut files = vec!["model.safetensors".to_string()];
    let mut put = |name: &str, bytes: &[u8]| -> Result<(), Error> {
        write_file(&dir.join(name), bytes)?;
        files.push(name.to_string());
        Ok(())
    };
    put("config.json", spec.config_json.as_bytes())?;
    if let Some(json) = spec.generation_config_json {
        put("generation_config.json", json.as_bytes())?;
    }
    let config = spec.config()?;
    let special = config.special_tokens();
    let tokenizer_files = match config.architecture().tokenizer_format() {
        TokenizerFormat::MarianSpm => {
            vocab::marian_files(config.vocab_size(), special.eos, special.pad)
        }
        // 32000 SentencePiece pieces + 100 sentinels, as the real T5 tokenizers.
        TokenizerFormat::T5Spiece => {
            let extra = 100;
            vocab::t5_files(spec.tokenizer_vocab as usize - extra, extra)
        }
        TokenizerFormat::ByteLevelBpe
        | TokenizerFormat::PegasusSpiece
        | TokenizerFormat::MBart50Spm
        | TokenizerFormat::SpmBpeVocab => {
            let (fixed, bos) = config.architecture().fixed_tokens(config.vocab_size());
            vocab::tokenizer_json_files(config.vocab_size(), &fixed, bos)
        }
    };
    for (name, bytes) in tokenizer_files.map_err(Error::internal)? {
        put(&name, &bytes)?;
    }
    let provenance = serde_json::json!({
        "synthetic": spec.name,
        "shape_of": spec.hub_repo,
        "weights": {"generator": "copydesk SeededWeights (splitmix64, Box-Muller)",
                    "seed": WEIGHT_SEED, "std": WEIGHT_STD},
        "copydesk_version": env!("CARGO_PKG_VERSION"),
    });
    put("synthetic.json", provenance.to_string().as_bytes())?;
    WorkloadsFile::new(spec.name, spec.tokenizer_vocab, &special)?
        .write(&dir.join(WORKLOADS_FILE))?;
    files.push(WORKLOADS_FILE.to_string());
    Ok(Exported {
        dir: dir.to_path_buf(),
        files,
        tensors: tensors.len(),
        parameters,
    })
}

fn write_file(path: &Path, bytes: &[u8]) -> Result<(), Error> {
    std::fs::write(path, bytes).map_err(|e| Error::Io {
        context: format!("cannot write {}", path.display()),
        source: e,
    })
}

/// A synthetic model exported to a temporary directory for loading through the registry;
/// removed on drop.
#[derive(Debug)]
pub struct TempExport {
    pub dir: PathBuf,
}

impl TempExport {
    pub fn new(spec: &'static SyntheticSpec) -> Result<Self, Error> {
        let dir = std::env::temp_dir().join(format!(
            "copydesk-synthetic-{}-{}",
            spec.name,
            std::process::id()
        ));
        let guard = TempExport { dir };
        export(spec, &guard.dir)?;
        Ok(guard)
    }

    /// The directory as a `--model` argument.
    pub fn spec(&self) -> String {
        self.dir.display().to_string()
    }
}

impl Drop for TempExport {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A `--model` value that may name a synthetic model as `synthetic:NAME`; synthetic ones are
/// exported to a temporary directory (kept alive by the returned guard).
pub fn resolve_model_arg(arg: &str) -> Result<(String, Option<TempExport>), Error> {
    match arg.trim().strip_prefix("synthetic:") {
        Some(name) => {
            let tmp = TempExport::new(SyntheticSpec::find(name)?)?;
            Ok((tmp.spec(), Some(tmp)))
        }
        None => Ok((arg.to_string(), None)),
    }
}
