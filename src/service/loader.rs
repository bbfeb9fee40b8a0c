//! Turning a `--model` argument into a ready model: resolve files (registry), build the tokenizer,
//! load the weights on the chosen device, read the generation defaults.

use std::path::Path;
use std::sync::Arc;

use candle_core::{DType, Device};

use crate::engine::device_name;
use crate::generate::GenerationConfig;
use crate::models::ModelConfig;
use crate::models::{describe, Seq2Seq};
use crate::registry::{self, Architecture, HubOptions, ModelFiles, ModelSpec, TokenizerFiles};
use crate::tokenize::{t5_extra_ids, Seq2SeqTokenizer};
use crate::Error;

/// Where and how to load models.
#[derive(Debug, Clone)]
pub struct LoadOptions {
    pub device: Device,
    pub dtype: DType,
    /// 8-bit dense weights over f32 activations (`--dtype q8`), CPU only.
    pub quantize: bool,
    pub hub: HubOptions,
}

impl Default for LoadOptions {
    fn default() -> Self {
        Self {
            device: Device::Cpu,
            dtype: DType::F32,
            quantize: false,
            hub: HubOptions::from_env(),
        }
    }
}

/// A model ready to run, with everything needed around it.
#[derive(Clone)]
pub struct LoadedModel {
    /// What the user asked for (manifest name, hub id or directory).
    pub name: String,
    pub files: ModelFiles,
    pub model: Arc<dyn Seq2Seq>,
    pub tokenizer: Arc<Seq2SeqTokenizer>,
    /// The model's decoding defaults (manifest, then generation_config.json, then config.json).
    pub generation: GenerationConfig,
}

impl std::fmt::Debug for LoadedModel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoadedModel")
            .field("name", &self.name)
            .field("files", &self.files)
            .finish()
    }
}

impl LoadedModel {
    pub fn revision(&self) -> Option<&str> {
        self.files.revision.as_deref()
    }

    pub fn device_name(&self) -> String {
        device_name(self.model.device())
    }

    pub fn architecture(&self) -> Architecture {
        self.files.architecture
    }

    /// The summary styles the manifest says the model was trained for (empty: any prompt).
    pub fn styles(&self) -> &[String] {
        self.files
            .manifest
            .as_ref()
            .map_or(&[], |m| m.styles.as_slice())
    }

    /// The manifest the model was loaded by, if it was named by one.
    pub fn manifest(&self) -> Option<&crate::registry::Manifest> {
        self.files.manifest.as_ref()
    }

    /// The language the model reads, as its manifest says (`source_lang`), if it says.
    pub fn reads(&self) -> Option<&str> {
        self.files
            .manifest
            .as_ref()
            .and_then(|m| m.source_lang.as_deref())
    }

    /// The prompt template the manifest names, if any.
    pub fn prompt(&self) -> Option<&str> {
        self.files
            .manifest
            .as_ref()
            .and_then(|m| m.prompt.as_deref())
    }
}

/// Converts a freshly built model's dense layers to 8-bit weights.
pub fn quantize(model: &mut Arc<dyn Seq2Seq>) -> candle_core::Result<()> {
    match Arc::get_mut(model) {
        Some(m) => m.quantize(),
        None => candle_core::bail!("the model is already shared"),
    }
}

/// Resolves and loads `spec`.
pub fn load(spec: &str, opts: &LoadOptions) -> Result<LoadedModel, Error> {
    let parsed = ModelSpec::parse(spec)?;
    let files = registry::resolve(&parsed, &opts.hub)?;
    load_files(spec, files, opts)
}

/// Loads a model whose files are already on disk.
pub fn load_files(name: &str, files: ModelFiles, opts: &LoadOptions) -> Result<LoadedModel, Error> {
    let fail = |message: String| Error::Load {
        model: name.to_string(),
        message,
    };
    let mismatch =
        |e: &candle_core::Error| fail(format!("weights do not match config.json: {}", describe(e)));
    let mut tokenizer = tokenizer(&files.tokenizer)?;
    if let Some(token) = files
        .manifest
        .as_ref()
        .and_then(|m| m.target_token.as_deref())
    {
        tokenizer = tokenizer.with_input_prefix(token);
    }
    let tokenizer = Arc::new(tokenizer);
    let vb = files
        .weights
        .var_builder(opts.dtype, &opts.device)
        .map_err(|e| fail(format!("cannot open weights: {}", describe(&e))))?;
    let config = read_config(&files).map_err(fail)?;
    let mut model = config.build(vb).map_err(|e| mismatch(&e))?;
    if opts.quantize {
        quantize(&mut model)
            .map_err(|e| fail(format!("cannot use 8-bit weights: {}", describe(&e))))?;
    }
    let mut generation = generation_config(&files)?;
    if generation.forced_bos_token_id.is_none() {
        // Many-to-many checkpoints (M2M100, NLLB) are told the target language by its token
        // as the first output; their configs leave that to the caller.
        let target = files
            .manifest
            .as_ref()
            .and_then(|m| m.target_lang.as_deref());
        generation.forced_bos_token_id = tokenizer.target_language_token(target.unwrap_or("en"));
    }
    Ok(LoadedModel {
        name: name.to_string(),
        files,
        model,
        tokenizer,
        generation,
    })
}

fn tokenizer(files: &TokenizerFiles) -> Result<Seq2SeqTokenizer, Error> {
    Ok(match files {
        TokenizerFiles::Marian {
            source_spm,
            target_spm,
            vocab,
            target_vocab,
        } => Seq2SeqTokenizer::marian(source_spm, target_spm, vocab, target_vocab.as_deref())?,
        TokenizerFiles::TokenizerJson(path) => Seq2SeqTokenizer::from_tokenizer_json(path)?,
        TokenizerFiles::PegasusSpiece(path) => Seq2SeqTokenizer::pegasus_from_spiece(path)?,
        TokenizerFiles::BytePairs { vocab, merges } => {
            Seq2SeqTokenizer::byte_level_bpe(vocab, merges)?
        }
        TokenizerFiles::SpmVocab { spm, vocab } => Seq2SeqTokenizer::m2m100(spm, vocab)?,
        TokenizerFiles::MBart50Spm(path) => Seq2SeqTokenizer::mbart50_from_spm(path)?,
        TokenizerFiles::Spiece(path) => {
            let dir = path.parent().unwrap_or(Path::new("."));
            Seq2SeqTokenizer::t5_from_spiece(path, t5_extra_ids(dir))?
        }
    })
}

/// The model's config.json, read as its architecture's config.
pub fn read_config(files: &ModelFiles) -> Result<ModelConfig, String> {
    let path = &files.config;
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    files
        .architecture
        .read_config(&text)
        .map_err(|e| format!("invalid {}: {e}", path.display()))
}

/// A model's decoding defaults: its manifest, then generation_config.json, then config.json.
pub fn generation_config(files: &ModelFiles) -> Result<GenerationConfig, Error> {
    let mut generation = GenerationConfig::default();
    generation.apply(&files.generation_defaults()?);
    Ok(generation)
}
