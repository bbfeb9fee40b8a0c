//! Errors of model resolution, each with a stable machine-readable kind.

use std::path::PathBuf;

use thiserror::Error;

/// Everything that can go wrong while turning `--model` into files on disk.
///
/// Messages are written for the person at the terminal: they name the model
/// (repository and revision, or directory), the file concerned, and what to
/// do next. [`RegistryError::kind`] gives a stable tag for scripts and tests.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum RegistryError {
    /// `--model` is neither a directory, a manifest name nor a hub id.
    #[error("invalid model `{spec}`: {reason}; known models: {known}", known = .known.join(", "))]
    InvalidModelSpec {
        spec: String,
        reason: String,
        known: Vec<String>,
    },

    /// A manifest does not parse or is inconsistent.
    #[error("bad model manifest `{name}`: {reason}")]
    BadManifest { name: String, reason: String },

    /// The hub says the repository (or the revision) does not exist.
    #[error("model {repo}@{revision} was not found on the hub at {endpoint} ({detail}); check the repository name and revision{hint}")]
    ModelNotFound {
        repo: String,
        revision: String,
        endpoint: String,
        detail: String,
        hint: String,
    },

    /// A needed file is absent from a local directory or from the hub repository.
    #[error("{location} has no `{file}`: {remedy}")]
    FileMissing {
        location: String,
        file: String,
        remedy: String,
    },

    /// Offline (`HF_HUB_OFFLINE`) and the file is not in the cache.
    #[error("`{file}` of {repo}@{revision} is not in the Hugging Face cache ({cache}): {remedy}")]
    NotCached {
        repo: String,
        revision: String,
        file: String,
        cache: PathBuf,
        remedy: String,
    },

    /// Network failure, timeout, or a server error (5xx, 429) from the hub.
    #[error("cannot reach the Hugging Face hub at {endpoint} to fetch `{file}` of {repo}@{revision}: {cause}; {remedy}")]
    HubUnreachable {
        repo: String,
        revision: String,
        file: String,
        endpoint: String,
        cause: String,
        remedy: String,
    },

    /// 401/403: gated or private repository, or a rejected token.
    #[error("access to `{file}` of {repo}@{revision} was refused (HTTP {status}): {remedy}")]
    AccessDenied {
        repo: String,
        revision: String,
        file: String,
        status: u16,
        remedy: String,
    },

    /// config.json names a model family copydesk cannot run.
    #[error("{location}: unsupported model architecture `{found}`; copydesk runs `marian` (MarianMT) and `t5` (T5, FLAN-T5) models")]
    UnsupportedArchitecture { location: String, found: String },

    /// A JSON file of the model (config.json, a shard index) is unusable.
    #[error("cannot use {path}: {reason}")]
    BadConfig { path: PathBuf, reason: String },

    /// Any other download failure.
    #[error("downloading `{file}` of {repo}@{revision} from {endpoint} failed: {cause}")]
    DownloadFailed {
        repo: String,
        revision: String,
        file: String,
        endpoint: String,
        cause: String,
    },

    /// `pull` was asked for while `HF_HUB_OFFLINE` forbids the network.
    #[error("cannot pull `{spec}`: HF_HUB_OFFLINE is set, which forbids network access; unset HF_HUB_OFFLINE (or run `copydesk models pull {spec}` on a machine with network access that shares this Hugging Face cache)")]
    OfflinePull { spec: String },

    /// File-system error.
    #[error("I/O error on {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    /// No HF_HUB_CACHE, HF_HOME or HOME to locate the cache.
    #[error("cannot locate the Hugging Face cache: set HF_HUB_CACHE or HF_HOME (HOME is not set either)")]
    NoCacheDir,
}

impl RegistryError {
    /// Stable tag for this error; never changes for a given variant.
    pub fn kind(&self) -> &'static str {
        match self {
            RegistryError::InvalidModelSpec { .. } => "invalid_model_spec",
            RegistryError::BadManifest { .. } => "bad_manifest",
            RegistryError::ModelNotFound { .. } => "model_not_found",
            RegistryError::FileMissing { .. } => "file_missing",
            RegistryError::NotCached { .. } => "not_cached",
            RegistryError::HubUnreachable { .. } => "hub_unreachable",
            RegistryError::AccessDenied { .. } => "access_denied",
            RegistryError::UnsupportedArchitecture { .. } => "unsupported_architecture",
            RegistryError::BadConfig { .. } => "bad_config",
            RegistryError::DownloadFailed { .. } => "download_failed",
            RegistryError::OfflinePull { .. } => "offline",
            RegistryError::Io { .. } => "io",
            RegistryError::NoCacheDir => "no_cache_dir",
        }
    }

    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        RegistryError::Io {
            path: path.into(),
            source,
        }
    }

    pub(crate) fn bad_config(path: impl Into<PathBuf>, reason: impl Into<String>) -> Self {
        RegistryError::BadConfig {
            path: path.into(),
            reason: reason.into(),
        }
    }
}

/// What to tell the user when a hub model's file cannot be had here.
/// `spec` is what they passed to `--model`.
pub(crate) fn fetch_remedy(spec: &str, offline: bool) -> String {
    if offline {
        format!(
            "HF_HUB_OFFLINE is set, so nothing is downloaded; run `copydesk models pull {spec}` \
             on a machine with network access that shares this cache (HF_HOME / HF_HUB_CACHE), \
             unset HF_HUB_OFFLINE to download it now, or pass a local model directory with --model <DIR>"
        )
    } else {
        format!(
            "run `copydesk models pull {spec}` where the hub (or a mirror named by HF_ENDPOINT) \
             is reachable, or pass a local model directory with --model <DIR>; \
             with HF_HUB_OFFLINE=1 copydesk uses only files already in the cache"
        )
    }
}

/// Remedy for a file that does not exist at all (local directory or hub repo).
pub(crate) fn missing_remedy(is_local: bool) -> String {
    if is_local {
        "a model directory needs config.json, weights (model.safetensors, \
         model.safetensors.index.json with its shards, or pytorch_model.bin) and a tokenizer \
         (tokenizer.json, spiece.model, or source.spm + target.spm + vocab.json for Marian)"
            .to_string()
    } else {
        "the repository does not provide it at this revision; pick another revision \
         (`org/name@<revision>`) or pass a local model directory with --model <DIR>"
            .to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_are_stable() {
        let e = RegistryError::OfflinePull { spec: "x".into() };
        assert_eq!(e.kind(), "offline");
        assert_eq!(RegistryError::NoCacheDir.kind(), "no_cache_dir");
        let e = RegistryError::InvalidModelSpec {
            spec: "??".into(),
            reason: "nope".into(),
            known: vec!["a".into(), "b".into()],
        };
        assert_eq!(e.kind(), "invalid_model_spec");
        assert!(e.to_string().contains("known models: a, b"), "{e}");
    }

    #[test]
    fn remedies_mention_pull_and_offline() {
        let r = fetch_remedy("opus-mt-nl-en", true);
        assert!(r.contains("copydesk models pull opus-mt-nl-en"));
        assert!(r.contains("HF_HUB_OFFLINE"));
        assert!(r.contains("--model <DIR>"));
        let r = fetch_remedy("org/name@v1", false);
        assert!(r.contains("copydesk models pull org/name@v1"));
        assert!(r.contains("HF_ENDPOINT"));
    }
}
