//! Model resolution: turns `--model` (a manifest name, a hub id `org/name[@rev]`,
//! or a local directory) into the files a loader needs.
//!
//! Hub files go through hf-hub's blocking API into the standard Hugging Face
//! cache (`HF_HUB_CACHE`, else `$HF_HOME/hub`, else `~/.cache/huggingface/hub`),
//! honouring `HF_HUB_OFFLINE`, `HF_TOKEN` (or the token file) and `HF_ENDPOINT`;
//! see [`HubOptions::from_env`]. [`resolve`] uses cached files first and
//! downloads only what is missing; [`pull`] asks the hub for the current commit
//! and fetches whatever that commit's cache snapshot lacks.

// Errors carry repo, revision, file and remedy text for the user; they are rare
// and I/O-bound, so their size does not matter.
#![allow(clippy::result_large_err)]

mod error;
#[cfg(test)]
mod fake_hub;
mod hub;
#[cfg(test)]
mod hub_tests;
mod local;
mod manifest;

use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use serde::Serialize;

use crate::generate::GenerationOverrides;
pub use crate::models::weights::WeightFiles;

pub use error::RegistryError;
pub use hub::HubOptions;
pub use local::read_architecture;
pub use manifest::{
    manifest, manifest_names, manifests, parse_manifest, Architecture, Manifest, ManifestSource,
    Task, DEFAULT_SUMMARIZER, DEFAULT_TRANSLATOR,
};

/// What `--model` named.
#[derive(Debug, Clone, PartialEq)]
#[allow(clippy::large_enum_variant)] // one per run; keeps `ModelSpec::Manifest(m)` simple to match
pub enum ModelSpec {
    /// An embedded manifest (`opus-mt-nl-en`, `flan-t5-base`, ...).
    Manifest(Manifest),
    /// A hub repository at a revision (branch, tag or commit; default `main`).
    Hub { repo: String, revision: String },
    /// A directory laid out like a hub repository.
    Local(PathBuf),
}

impl ModelSpec {
    /// An existing directory is `Local`; a manifest name is `Manifest`;
    /// `org/name[@revision]` is `Hub`; anything else is an
    /// `invalid_model_spec` error that lists the manifest names.
    pub fn parse(s: &str) -> Result<ModelSpec, RegistryError> {
        let s = s.trim();
        let invalid = |reason: &str| RegistryError::InvalidModelSpec {
            spec: s.to_string(),
            reason: reason.to_string(),
            known: manifest_names(),
        };
        if s.is_empty() {
            return Err(invalid("empty model name"));
        }
        let path = expand_home(s);
        if path.is_dir() {
            return Ok(ModelSpec::Local(path));
        }
        if looks_like_path(s) {
            return Err(if path.exists() {
                invalid("that is a file; pass the model directory that contains config.json")
            } else {
                invalid("no such directory")
            });
        }
        if let Some(m) = manifest(s)? {
            return Ok(ModelSpec::Manifest(m));
        }
        if let Some((repo, revision)) = parse_hub_spec(s) {
            return Ok(ModelSpec::Hub { repo, revision });
        }
        Err(invalid(
            "not a known model name, a hub id `org/name[@revision]`, or an existing directory",
        ))
    }

    /// How to name this model back to the user (and in `copydesk models pull <...>`).
    pub fn label(&self) -> String {
        match self {
            ModelSpec::Manifest(m) => m.name.clone(),
            ModelSpec::Hub { repo, revision } if revision == "main" => repo.clone(),
            ModelSpec::Hub { repo, revision } => format!("{repo}@{revision}"),
            ModelSpec::Local(p) => p.display().to_string(),
        }
    }

    pub fn manifest(&self) -> Option<&Manifest> {
        match self {
            ModelSpec::Manifest(m) => Some(m),
            _ => None,
        }
    }
}

impl FromStr for ModelSpec {
    type Err = RegistryError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        ModelSpec::parse(s)
    }
}

impl fmt::Display for ModelSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.label())
    }
}

/// Tokenizer files on disk.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "format", rename_all = "snake_case")]
pub enum TokenizerFiles {
    /// MarianMT's SentencePiece pair plus vocabulary (`target_vocab.json` when
    /// the model has separate vocabularies).
    Marian {
        source_spm: PathBuf,
        target_spm: PathBuf,
        vocab: PathBuf,
        target_vocab: Option<PathBuf>,
    },
    TokenizerJson(PathBuf),
    /// SentencePiece model (`spiece.model`), used when there is no tokenizer.json.
    Spiece(PathBuf),
    /// Pegasus's `spiece.model` (ids offset by its special tokens), when there is no
    /// tokenizer.json.
    PegasusSpiece(PathBuf),
    /// Byte-level BPE (`vocab.json` + `merges.txt`), used when there is no tokenizer.json.
    BytePairs {
        vocab: PathBuf,
        merges: PathBuf,
    },
    /// A BPE SentencePiece model (`sentencepiece.bpe.model`) + `vocab.json` (M2M100), used when
    /// there is no tokenizer.json.
    SpmVocab {
        spm: PathBuf,
        vocab: PathBuf,
    },
    /// mBART-50's `sentencepiece.bpe.model`, used when there is no tokenizer.json.
    MBart50Spm(PathBuf),
}

/// Everything a loader needs, as local paths.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ModelFiles {
    /// Display name: the hub repository, or the directory given.
    pub dir_name: String,
    /// Commit sha when known (hub and cache), else `None`.
    pub revision: Option<String>,
    /// Directory holding config.json (a cache snapshot for hub models).
    pub root: PathBuf,
    /// From config.json (and consistent with the manifest, if any).
    pub architecture: Architecture,
    pub config: PathBuf,
    pub generation_config: Option<PathBuf>,
    pub weights: WeightFiles,
    pub tokenizer: TokenizerFiles,
    pub manifest: Option<Manifest>,
    /// Files fetched over the network by this call (empty when all were cached).
    pub downloaded: Vec<String>,
}

impl ModelFiles {
    pub(crate) fn from_picked(
        dir_name: String,
        revision: Option<String>,
        root: PathBuf,
        p: local::Picked,
        manifest: Option<Manifest>,
        downloaded: Vec<String>,
    ) -> ModelFiles {
        ModelFiles {
            dir_name,
            revision,
            root,
            architecture: p.architecture,
            config: p.config,
            generation_config: p.generation_config,
            weights: p.weights,
            tokenizer: p.tokenizer,
            manifest,
            downloaded,
        }
    }

    /// Decoding defaults: the manifest's, then generation_config.json's, then config.json's.
    pub fn generation_defaults(&self) -> Result<GenerationOverrides, RegistryError> {
        let read = |p: &Path, model_config: bool| -> Result<GenerationOverrides, RegistryError> {
            let text = std::fs::read_to_string(p).map_err(|e| RegistryError::io(p, e))?;
            let parsed = if model_config {
                GenerationOverrides::from_model_config(&text)
            } else {
                serde_json::from_str(&text)
            };
            parsed.map_err(|e| RegistryError::bad_config(p, format!("generation settings: {e}")))
        };
        let from_config = read(&self.config, true)?;
        let from_generation = match &self.generation_config {
            Some(p) => read(p, false)?,
            None => GenerationOverrides::default(),
        };
        let from_manifest = self
            .manifest
            .as_ref()
            .map(|m| m.generation.clone())
            .unwrap_or_default();
        Ok(from_manifest.or(&from_generation.or(&from_config)))
    }
}

/// Local paths for `spec`, downloading missing hub files unless offline.
pub fn resolve(spec: &ModelSpec, opts: &HubOptions) -> Result<ModelFiles, RegistryError> {
    dispatch(spec, opts, hub::Mode::Resolve)
}

/// Like [`resolve`], but always asks the hub which commit the revision names
/// and fetches whatever that commit's snapshot lacks; `downloaded` in the
/// result reports what was fetched. Fails with kind `offline` under
/// `HF_HUB_OFFLINE`. Local directories are only checked.
pub fn pull(spec: &ModelSpec, opts: &HubOptions) -> Result<ModelFiles, RegistryError> {
    dispatch(spec, opts, hub::Mode::Pull)
}

fn dispatch(
    spec: &ModelSpec,
    opts: &HubOptions,
    mode: hub::Mode,
) -> Result<ModelFiles, RegistryError> {
    let label = spec.label();
    match spec {
        ModelSpec::Local(dir) => local::resolve_dir(dir, None),
        ModelSpec::Manifest(m) => match &m.source {
            ManifestSource::Local { path } => local::resolve_dir(path, Some(m.clone())),
            ManifestSource::Hub { repo, revision } => {
                hub::resolve_hub(repo, revision, Some(m), &label, opts, mode)
            }
        },
        ModelSpec::Hub { repo, revision } => {
            hub::resolve_hub(repo, revision, None, &label, opts, mode)
        }
    }
}

/// `org/name` split in two, when both parts are valid hub names.
pub(crate) fn split_hub_id(id: &str) -> Option<(&str, &str)> {
    let (org, name) = id.split_once('/')?;
    let ok = |p: &str| {
        !p.is_empty()
            && p.len() <= 96
            && p.chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
            && !p.starts_with(['-', '.'])
            && !p.ends_with(['-', '.'])
            && !p.contains("--")
            && !p.contains("..")
    };
    (ok(org) && ok(name)).then_some((org, name))
}

/// `org/name[@revision]` → (repo, revision), revision defaulting to `main`.
fn parse_hub_spec(s: &str) -> Option<(String, String)> {
    let (id, revision) = match s.split_once('@') {
        Some((id, rev)) => (id, rev),
        None => (s, "main"),
    };
    let rev_ok = !revision.is_empty()
        && !revision
            .chars()
            .any(|c| c.is_whitespace() || c.is_control())
        && !revision
            .split('/')
            .any(|c| c.is_empty() || c == "." || c == "..");
    split_hub_id(id)?;
    rev_ok.then(|| (id.to_string(), revision.to_string()))
}

fn looks_like_path(s: &str) -> bool {
    s.starts_with(['/', '.', '~'])
        || s.contains('\\')
        || s.ends_with('/')
        || s.as_bytes().get(1) == Some(&b':')
}

fn expand_home(s: &str) -> PathBuf {
    if let Some(rest) = s.strip_prefix("~/") {
        if let Some(home) = std::env::var_os("HOME").filter(|h| !h.is_empty()) {
            return PathBuf::from(home).join(rest);
        }
    }
    PathBuf::from(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manifest_names_parse_to_manifests() {
        for name in manifest_names() {
            match ModelSpec::parse(&name).unwrap() {
                ModelSpec::Manifest(m) => assert_eq!(m.name, name),
                other => panic!("{name} parsed as {other:?}"),
            }
        }
        let spec: ModelSpec = " opus-mt-nl-en ".parse().unwrap();
        assert_eq!(spec.label(), "opus-mt-nl-en");
    }

    #[test]
    fn hub_ids() {
        let hub = |s: &str| match ModelSpec::parse(s) {
            Ok(ModelSpec::Hub { repo, revision }) => (repo, revision),
            other => panic!("{s}: {other:?}"),
        };
        assert_eq!(
            hub("Helsinki-NLP/opus-mt-nl-en"),
            ("Helsinki-NLP/opus-mt-nl-en".into(), "main".into())
        );
        assert_eq!(
            hub("google/flan-t5-base@v1.0"),
            ("google/flan-t5-base".into(), "v1.0".into())
        );
        let sha = "3ff195ce084fc29184151ac7c473c65c16a51b7e";
        assert_eq!(hub(&format!("org/name@{sha}")).1, sha);
        assert_eq!(hub("org/name@refs/pr/1").1, "refs/pr/1");
        let spec = ModelSpec::parse("org/my_model.v2@dev").unwrap();
        assert_eq!(spec.label(), "org/my_model.v2@dev");
        assert_eq!(ModelSpec::parse("org/x").unwrap().label(), "org/x");
    }

    #[test]
    fn garbage_is_rejected_with_the_manifest_list() {
        for s in [
            "",
            "   ",
            "gpt2",
            "a/b/c",
            "org/",
            "/name-only-slash-start-missing",
            "org/na me",
            "org/name@",
            "org/name@a b",
            "org/-bad",
            "org--x/y",
            "org/x@../y",
            "flan-t5-basee",
        ] {
            let e = ModelSpec::parse(s).expect_err(s);
            assert_eq!(e.kind(), "invalid_model_spec", "{s}");
            let msg = e.to_string();
            assert!(
                msg.contains("opus-mt-nl-en") && msg.contains("flan-t5-base"),
                "{msg}"
            );
        }
        let e = ModelSpec::parse("./no/such/dir").unwrap_err();
        assert!(e.to_string().contains("no such directory"), "{e}");
    }

    #[test]
    fn directories_win_and_files_are_refused() {
        let d = tempfile::tempdir().unwrap();
        let s = d.path().to_str().unwrap();
        assert_eq!(
            ModelSpec::parse(s).unwrap(),
            ModelSpec::Local(d.path().to_path_buf())
        );
        assert_eq!(ModelSpec::parse(s).unwrap().label(), s);
        let file = d.path().join("config.json");
        std::fs::write(&file, "{}").unwrap();
        let e = ModelSpec::parse(file.to_str().unwrap()).unwrap_err();
        assert_eq!(e.kind(), "invalid_model_spec");
        assert!(e.to_string().contains("is a file"), "{e}");
        // a relative `org/name` that exists as a directory is local
        let cwd_rel = d.path().join("org").join("model");
        std::fs::create_dir_all(&cwd_rel).unwrap();
        let spec = ModelSpec::parse(cwd_rel.to_str().unwrap()).unwrap();
        assert!(matches!(spec, ModelSpec::Local(_)));
    }

    #[test]
    fn resolve_local_spec_and_local_manifest() {
        let d = tempfile::tempdir().unwrap();
        local::tests::write(
            d.path(),
            &[
                ("config.json", local::tests::T5_CONFIG),
                ("model.safetensors", "w"),
                ("spiece.model", "s"),
            ],
        );
        let opts = HubOptions {
            offline: true,
            ..HubOptions::default()
        };
        let f = resolve(&ModelSpec::Local(d.path().into()), &opts).unwrap();
        assert_eq!(f.architecture, Architecture::T5);
        assert!(f.downloaded.is_empty() && f.revision.is_none());
        let f = pull(&ModelSpec::Local(d.path().into()), &opts).unwrap();
        assert_eq!(f.dir_name, d.path().display().to_string());

        let text = format!(
            "name = \"mine\"\ntask = \"summarize\"\narchitecture = \"t5\"\npath = {:?}\nprompt = \"summarize\"\n[generation]\nnum_beams = 2\n",
            d.path().display().to_string()
        );
        let m = parse_manifest("mine", &text).unwrap();
        let f = resolve(&ModelSpec::Manifest(m), &opts).unwrap();
        assert_eq!(f.generation_defaults().unwrap().num_beams, Some(2));
    }
}
