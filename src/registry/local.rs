//! Picking a model's files from whatever holds them (a directory, the cache,
//! the hub) and checking its config.json.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use super::error::{missing_remedy, RegistryError};
use super::manifest::{Architecture, Manifest};
use super::{ModelFiles, TokenizerFiles, WeightFiles};
use crate::models::TokenizerFormat;

pub(crate) const CONFIG: &str = "config.json";
pub(crate) const GENERATION_CONFIG: &str = "generation_config.json";
pub(crate) const SAFETENSORS: &str = "model.safetensors";
pub(crate) const SAFETENSORS_INDEX: &str = "model.safetensors.index.json";
pub(crate) const PYTORCH_BIN: &str = "pytorch_model.bin";
pub(crate) const WEIGHT_CANDIDATES: &str =
    "model.safetensors, model.safetensors.index.json or pytorch_model.bin";

/// Something that can hand out a model's files as local paths.
pub(crate) trait FileSource {
    /// File names known to exist, when the source can list them; `None` means
    /// "unknown, ask for each file".
    fn listing(&mut self) -> Result<Option<Vec<String>>, RegistryError>;
    /// A local path for `name`. `Ok(None)` when the source lacks it and it is
    /// not `required`; a required file that is absent is an error naming it.
    fn get(&mut self, name: &str, required: bool) -> Result<Option<PathBuf>, RegistryError>;
    /// The error for a required file (or alternatives) that is absent.
    fn missing(&self, what: &str) -> RegistryError;
}

/// Model files picked from a source; the caller adds display name and revision.
pub(crate) struct Picked {
    pub architecture: Architecture,
    pub config: PathBuf,
    pub generation_config: Option<PathBuf>,
    pub weights: WeightFiles,
    pub tokenizer: TokenizerFiles,
}

struct Picker<'a, S: FileSource> {
    src: &'a mut S,
    listing: Option<BTreeSet<String>>,
    optional: BTreeSet<String>,
}

impl<S: FileSource> Picker<'_, S> {
    /// `Ok(None)` when known absent (or absent on probing).
    fn try_get(&mut self, name: &str) -> Result<Option<PathBuf>, RegistryError> {
        match &self.listing {
            Some(l) if !l.contains(name) => Ok(None),
            Some(_) => {
                let required = !self.optional.contains(name);
                self.src.get(name, required)
            }
            None => self.src.get(name, false),
        }
    }

    fn require(&mut self, name: &str) -> Result<PathBuf, RegistryError> {
        match self.try_get(name)? {
            Some(p) => Ok(p),
            None => Err(self.src.missing(name)),
        }
    }
}

/// Picks config, weights and tokenizer. With a manifest that lists `files`,
/// only those (and its `optional_files`) are considered.
pub(crate) fn pick<S: FileSource>(
    src: &mut S,
    manifest: Option<&Manifest>,
) -> Result<Picked, RegistryError> {
    let (listing, optional) = match manifest.and_then(|m| m.files.as_ref()) {
        Some(files) => {
            let optional: BTreeSet<String> = manifest
                .map(|m| m.optional_files.iter().cloned().collect())
                .unwrap_or_default();
            (
                Some(
                    files
                        .iter()
                        .cloned()
                        .chain(optional.iter().cloned())
                        .collect(),
                ),
                optional,
            )
        }
        None => (
            src.listing()?.map(|l| l.into_iter().collect()),
            BTreeSet::new(),
        ),
    };
    let mut p = Picker {
        src,
        listing,
        optional,
    };

    let config = p.require(CONFIG)?;
    let architecture = read_architecture(&config)?;
    if let Some(m) = manifest {
        if m.architecture != architecture {
            return Err(RegistryError::BadManifest {
                name: m.name.clone(),
                reason: format!(
                    "it says architecture `{}` but {} describes a `{}` model",
                    m.architecture.as_str(),
                    config.display(),
                    architecture.as_str()
                ),
            });
        }
    }
    let generation_config = p.try_get(GENERATION_CONFIG)?;

    let weights = if let Some(w) = p.try_get(SAFETENSORS)? {
        WeightFiles::Safetensors(vec![w])
    } else if let Some(index) = p.try_get(SAFETENSORS_INDEX)? {
        let mut shards = Vec::new();
        for shard in shard_names(&index)? {
            shards.push(
                p.src
                    .get(&shard, true)?
                    .ok_or_else(|| p.src.missing(&shard))?,
            );
        }
        WeightFiles::Safetensors(shards)
    } else if let Some(w) = p.try_get(PYTORCH_BIN)? {
        WeightFiles::PytorchBin(w)
    } else {
        return Err(p.src.missing(WEIGHT_CANDIDATES));
    };

    let tokenizer = pick_tokenizer(&mut p, architecture)?;
    Ok(Picked {
        architecture,
        config,
        generation_config,
        weights,
        tokenizer,
    })
}

fn pick_tokenizer<S: FileSource>(
    p: &mut Picker<'_, S>,
    arch: Architecture,
) -> Result<TokenizerFiles, RegistryError> {
    let format = arch.tokenizer_format();
    if format == TokenizerFormat::MarianSpm {
        if let Some(source_spm) = p.try_get("source.spm")? {
            return Ok(TokenizerFiles::Marian {
                source_spm,
                target_spm: p.require("target.spm")?,
                vocab: p.require("vocab.json")?,
                target_vocab: p.try_get("target_vocab.json")?,
            });
        }
    }
    if let Some(t) = p.try_get("tokenizer.json")? {
        return Ok(TokenizerFiles::TokenizerJson(t));
    }
    match format {
        TokenizerFormat::T5Spiece => {
            if let Some(t) = p.try_get("spiece.model")? {
                return Ok(TokenizerFiles::Spiece(t));
            }
        }
        TokenizerFormat::ByteLevelBpe => {
            if let Some(vocab) = p.try_get("vocab.json")? {
                let merges = p.require("merges.txt")?;
                return Ok(TokenizerFiles::BytePairs { vocab, merges });
            }
        }
        TokenizerFormat::PegasusSpiece => {
            if let Some(t) = p.try_get("spiece.model")? {
                return Ok(TokenizerFiles::PegasusSpiece(t));
            }
        }
        TokenizerFormat::SpmBpeVocab => {
            if let Some(spm) = p.try_get("sentencepiece.bpe.model")? {
                let vocab = p.require("vocab.json")?;
                return Ok(TokenizerFiles::SpmVocab { spm, vocab });
            }
        }
        TokenizerFormat::MBart50Spm => {
            if let Some(t) = p.try_get("sentencepiece.bpe.model")? {
                return Ok(TokenizerFiles::MBart50Spm(t));
            }
        }
        TokenizerFormat::MarianSpm => {}
    }
    Err(p.src.missing(match format {
        TokenizerFormat::MarianSpm => "source.spm + target.spm + vocab.json (or tokenizer.json)",
        TokenizerFormat::T5Spiece | TokenizerFormat::PegasusSpiece => {
            "tokenizer.json or spiece.model"
        }
        TokenizerFormat::ByteLevelBpe => "tokenizer.json or vocab.json + merges.txt",
        TokenizerFormat::SpmBpeVocab => "tokenizer.json or sentencepiece.bpe.model + vocab.json",
        TokenizerFormat::MBart50Spm => "tokenizer.json or sentencepiece.bpe.model",
    }))
}

fn read_json(path: &Path) -> Result<serde_json::Value, RegistryError> {
    let text = std::fs::read_to_string(path).map_err(|e| RegistryError::io(path, e))?;
    serde_json::from_str(&text)
        .map_err(|e| RegistryError::bad_config(path, format!("invalid JSON: {e}")))
}

/// The architecture a config.json describes; unsupported families are an error.
pub fn read_architecture(config: &Path) -> Result<Architecture, RegistryError> {
    let json = read_json(config)?;
    if !json.is_object() {
        return Err(RegistryError::bad_config(config, "expected a JSON object"));
    }
    Architecture::from_config_json(&json).map_err(|found| RegistryError::UnsupportedArchitecture {
        location: config.display().to_string(),
        found,
    })
}

/// Shard file names of a safetensors index, deduplicated and sorted.
fn shard_names(index: &Path) -> Result<Vec<String>, RegistryError> {
    let json = read_json(index)?;
    let map = json
        .get("weight_map")
        .and_then(|m| m.as_object())
        .ok_or_else(|| RegistryError::bad_config(index, "no `weight_map` object"))?;
    let mut names = BTreeSet::new();
    for v in map.values() {
        let name = v
            .as_str()
            .ok_or_else(|| RegistryError::bad_config(index, "non-string shard name"))?;
        if name.is_empty() || name.contains(['/', '\\']) || name == ".." {
            return Err(RegistryError::bad_config(
                index,
                format!("unsafe shard name {name:?}"),
            ));
        }
        names.insert(name.to_string());
    }
    if names.is_empty() {
        return Err(RegistryError::bad_config(index, "empty `weight_map`"));
    }
    Ok(names.into_iter().collect())
}

/// A plain directory of model files.
pub(crate) struct DirSource {
    pub root: PathBuf,
}

impl FileSource for DirSource {
    fn listing(&mut self) -> Result<Option<Vec<String>>, RegistryError> {
        list_dir(&self.root).map(Some)
    }

    fn get(&mut self, name: &str, required: bool) -> Result<Option<PathBuf>, RegistryError> {
        let path = self.root.join(name);
        if path.is_file() {
            Ok(Some(path))
        } else if required {
            Err(self.missing(name))
        } else {
            Ok(None)
        }
    }

    fn missing(&self, what: &str) -> RegistryError {
        RegistryError::FileMissing {
            location: format!("model directory {}", self.root.display()),
            file: what.to_string(),
            remedy: missing_remedy(true),
        }
    }
}

/// Names of the regular files (or links to them) in `dir`.
pub(crate) fn list_dir(dir: &Path) -> Result<Vec<String>, RegistryError> {
    let mut names = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(|e| RegistryError::io(dir, e))? {
        let entry = entry.map_err(|e| RegistryError::io(dir, e))?;
        if entry.path().is_file() {
            if let Some(n) = entry.file_name().to_str() {
                names.push(n.to_string());
            }
        }
    }
    names.sort();
    Ok(names)
}

/// Resolves a local directory. A cache repository folder
/// (`models--org--name` with `refs/main` and `snapshots/`) means its `main` snapshot.
pub(crate) fn resolve_dir(
    dir: &Path,
    manifest: Option<Manifest>,
) -> Result<ModelFiles, RegistryError> {
    let mut root = dir.to_path_buf();
    let mut revision = None;
    if !dir.join(CONFIG).exists() && dir.join("snapshots").is_dir() {
        if let Ok(commit) = std::fs::read_to_string(dir.join("refs").join("main")) {
            let commit = commit.trim().to_string();
            root = dir.join("snapshots").join(&commit);
            revision = Some(commit);
        }
    }
    let mut src = DirSource { root: root.clone() };
    let picked = pick(&mut src, manifest.as_ref())?;
    Ok(ModelFiles::from_picked(
        dir.display().to_string(),
        revision,
        root,
        picked,
        manifest,
        Vec::new(),
    ))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) const MARIAN_CONFIG: &str = r#"{"model_type": "marian", "architectures": ["MarianMTModel"], "num_beams": 6, "max_length": 512, "pad_token_id": 67027}"#;
    pub(crate) const T5_CONFIG: &str =
        r#"{"model_type": "t5", "architectures": ["T5ForConditionalGeneration"]}"#;

    pub(crate) fn write(dir: &Path, files: &[(&str, &str)]) {
        for (name, body) in files {
            std::fs::write(dir.join(name), body).expect("write test file");
        }
    }

    fn dir_with(files: &[(&str, &str)]) -> tempfile::TempDir {
        let d = tempfile::tempdir().expect("tempdir");
        write(d.path(), files);
        d
    }

    #[test]
    fn marian_dir_with_pytorch_bin() {
        let d = dir_with(&[
            ("config.json", MARIAN_CONFIG),
            ("pytorch_model.bin", "w"),
            ("source.spm", "s"),
            ("target.spm", "t"),
            ("vocab.json", "{}"),
        ]);
        let f = resolve_dir(d.path(), None).unwrap();
        assert_eq!(f.architecture, Architecture::Marian);
        assert_eq!(
            f.weights,
            WeightFiles::PytorchBin(d.path().join("pytorch_model.bin"))
        );
        assert!(f.generation_config.is_none());
        match &f.tokenizer {
            TokenizerFiles::Marian {
                source_spm,
                target_vocab,
                ..
            } => {
                assert_eq!(source_spm, &d.path().join("source.spm"));
                assert!(target_vocab.is_none());
            }
            other => panic!("expected Marian tokenizer, got {other:?}"),
        }
        let g = f.generation_defaults().unwrap();
        assert_eq!(
            (g.num_beams, g.max_length, g.eos_token_id),
            (Some(6), Some(512), None)
        );
    }

    #[test]
    fn safetensors_preferred_over_bin_and_tokenizer_json_over_spiece() {
        let d = dir_with(&[
            ("config.json", T5_CONFIG),
            ("generation_config.json", "{}"),
            ("model.safetensors", "w"),
            ("pytorch_model.bin", "w"),
            ("tokenizer.json", "{}"),
            ("spiece.model", "s"),
        ]);
        let f = resolve_dir(d.path(), None).unwrap();
        assert_eq!(
            f.weights,
            WeightFiles::Safetensors(vec![d.path().join("model.safetensors")])
        );
        assert_eq!(
            f.tokenizer,
            TokenizerFiles::TokenizerJson(d.path().join("tokenizer.json"))
        );
        assert_eq!(
            f.generation_config,
            Some(d.path().join("generation_config.json"))
        );
    }

    #[test]
    fn t5_with_spiece_only_and_marian_with_tokenizer_json() {
        let d = dir_with(&[
            ("config.json", T5_CONFIG),
            ("pytorch_model.bin", "w"),
            ("spiece.model", "s"),
        ]);
        let f = resolve_dir(d.path(), None).unwrap();
        assert_eq!(
            f.tokenizer,
            TokenizerFiles::Spiece(d.path().join("spiece.model"))
        );
        let d = dir_with(&[
            ("config.json", MARIAN_CONFIG),
            ("model.safetensors", "w"),
            ("tokenizer.json", "{}"),
            ("target_vocab.json", "{}"),
        ]);
        let f = resolve_dir(d.path(), None).unwrap();
        assert_eq!(
            f.tokenizer,
            TokenizerFiles::TokenizerJson(d.path().join("tokenizer.json"))
        );
    }

    #[test]
    fn marian_separate_target_vocab() {
        let d = dir_with(&[
            ("config.json", MARIAN_CONFIG),
            ("model.safetensors", "w"),
            ("source.spm", "s"),
            ("target.spm", "t"),
            ("vocab.json", "{}"),
            ("target_vocab.json", "{}"),
        ]);
        let f = resolve_dir(d.path(), None).unwrap();
        match f.tokenizer {
            TokenizerFiles::Marian { target_vocab, .. } => {
                assert_eq!(target_vocab, Some(d.path().join("target_vocab.json")))
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn sharded_safetensors() {
        let index = r#"{"metadata": {}, "weight_map": {"a": "model-00002-of-00002.safetensors",
            "b": "model-00001-of-00002.safetensors", "c": "model-00001-of-00002.safetensors"}}"#;
        let d = dir_with(&[
            ("config.json", T5_CONFIG),
            ("model.safetensors.index.json", index),
            ("model-00001-of-00002.safetensors", "1"),
            ("model-00002-of-00002.safetensors", "2"),
            ("tokenizer.json", "{}"),
        ]);
        let f = resolve_dir(d.path(), None).unwrap();
        assert_eq!(
            f.weights,
            WeightFiles::Safetensors(vec![
                d.path().join("model-00001-of-00002.safetensors"),
                d.path().join("model-00002-of-00002.safetensors"),
            ])
        );
        std::fs::remove_file(d.path().join("model-00002-of-00002.safetensors")).unwrap();
        let e = resolve_dir(d.path(), None).unwrap_err();
        assert_eq!(e.kind(), "file_missing");
        assert!(
            e.to_string().contains("model-00002-of-00002.safetensors"),
            "{e}"
        );
        write(
            d.path(),
            &[(
                "model.safetensors.index.json",
                r#"{"weight_map": {"a": "../evil"}}"#,
            )],
        );
        assert_eq!(
            resolve_dir(d.path(), None).unwrap_err().kind(),
            "bad_config"
        );
    }

    #[test]
    fn missing_pieces_are_named() {
        let d = dir_with(&[("pytorch_model.bin", "w")]);
        let e = resolve_dir(d.path(), None).unwrap_err();
        assert_eq!(e.kind(), "file_missing");
        let msg = e.to_string();
        assert!(
            msg.contains("config.json") && msg.contains(&d.path().display().to_string()),
            "{msg}"
        );

        let d = dir_with(&[("config.json", T5_CONFIG), ("tokenizer.json", "{}")]);
        let msg = resolve_dir(d.path(), None).unwrap_err().to_string();
        assert!(
            msg.contains("model.safetensors") && msg.contains("pytorch_model.bin"),
            "{msg}"
        );

        let d = dir_with(&[("config.json", T5_CONFIG), ("model.safetensors", "w")]);
        let msg = resolve_dir(d.path(), None).unwrap_err().to_string();
        assert!(msg.contains("tokenizer.json or spiece.model"), "{msg}");

        let d = dir_with(&[
            ("config.json", MARIAN_CONFIG),
            ("model.safetensors", "w"),
            ("source.spm", "s"),
        ]);
        let msg = resolve_dir(d.path(), None).unwrap_err().to_string();
        assert!(msg.contains("target.spm"), "{msg}");
    }

    #[test]
    fn unsupported_or_broken_config() {
        let d = dir_with(&[
            ("config.json", r#"{"model_type": "nllb-moe"}"#),
            ("model.safetensors", "w"),
        ]);
        let e = resolve_dir(d.path(), None).unwrap_err();
        assert_eq!(e.kind(), "unsupported_architecture");
        assert!(e.to_string().contains("nllb-moe"));
        // M2M100 without tokenizer.json needs its SentencePiece model and vocab.json.
        write(d.path(), &[("config.json", r#"{"model_type": "m2m_100"}"#)]);
        let msg = resolve_dir(d.path(), None).unwrap_err().to_string();
        assert!(
            msg.contains("sentencepiece.bpe.model + vocab.json"),
            "{msg}"
        );
        write(d.path(), &[("sentencepiece.bpe.model", "s")]);
        let msg = resolve_dir(d.path(), None).unwrap_err().to_string();
        assert!(msg.contains("vocab.json"), "{msg}");
        // mBART-50 without tokenizer.json reads sentencepiece.bpe.model alone.
        write(d.path(), &[("config.json", r#"{"model_type": "mbart"}"#)]);
        let files = resolve_dir(d.path(), None).unwrap();
        assert!(matches!(files.tokenizer, TokenizerFiles::MBart50Spm(_)));
        // A Pegasus directory with a spiece.model but no tokenizer.json reads it as Pegasus's.
        write(
            d.path(),
            &[
                ("config.json", r#"{"model_type": "pegasus"}"#),
                ("spiece.model", "s"),
            ],
        );
        let f = resolve_dir(d.path(), None).unwrap();
        assert_eq!(
            f.tokenizer,
            TokenizerFiles::PegasusSpiece(d.path().join("spiece.model"))
        );
        write(d.path(), &[("config.json", "{not json")]);
        assert_eq!(
            resolve_dir(d.path(), None).unwrap_err().kind(),
            "bad_config"
        );
    }

    #[test]
    fn manifest_file_list_restricts_and_checks_architecture() {
        let d = dir_with(&[
            ("config.json", T5_CONFIG),
            ("model.safetensors", "w"),
            ("pytorch_model.bin", "w"),
            ("tokenizer.json", "{}"),
        ]);
        let mut m = crate::registry::manifest("flan-t5-base").unwrap().unwrap();
        m.files = Some(vec![
            "config.json".into(),
            "pytorch_model.bin".into(),
            "tokenizer.json".into(),
        ]);
        let f = resolve_dir(d.path(), Some(m)).unwrap();
        assert_eq!(
            f.weights,
            WeightFiles::PytorchBin(d.path().join("pytorch_model.bin"))
        );
        assert!(f.manifest.is_some());
        let marian = crate::registry::manifest("opus-mt-nl-en").unwrap().unwrap();
        let e = resolve_dir(d.path(), Some(marian)).unwrap_err();
        assert_eq!(e.kind(), "bad_manifest");
    }

    #[test]
    fn cache_repo_folder_means_main_snapshot() {
        let d = tempfile::tempdir().unwrap();
        let snap = d.path().join("snapshots").join("abc123");
        std::fs::create_dir_all(&snap).unwrap();
        std::fs::create_dir_all(d.path().join("refs")).unwrap();
        write(d.path(), &[("refs/main", "abc123")]);
        write(
            &snap,
            &[
                ("config.json", T5_CONFIG),
                ("model.safetensors", "w"),
                ("spiece.model", "s"),
            ],
        );
        let f = resolve_dir(d.path(), None).unwrap();
        assert_eq!(f.revision.as_deref(), Some("abc123"));
        assert_eq!(f.config, snap.join("config.json"));
    }
}
