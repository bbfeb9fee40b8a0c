//! Hub models: the Hugging Face cache, hf-hub's blocking API, and error mapping.

use std::fmt;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};

use hf_hub::api::sync::{ApiBuilder, ApiError, ApiRepo};
use hf_hub::api::RepoInfo;
use hf_hub::{Cache, Repo, RepoType};

use super::error::{fetch_remedy, missing_remedy, RegistryError};
use super::local::{self, FileSource, Picked};
use super::manifest::Manifest;
use super::ModelFiles;

const DEFAULT_ENDPOINT: &str = "https://huggingface.co";

/// How to reach the hub and where the cache is.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct HubOptions {
    /// The hub cache directory (the one holding `models--org--name`).
    /// `None` only when no HOME is known; see [`HubOptions::cache_dir`].
    pub cache_dir: Option<PathBuf>,
    /// Use only cached files; never touch the network.
    pub offline: bool,
    pub token: Option<String>,
    /// Hub base URL (mirror); `None` is <https://huggingface.co>.
    pub endpoint: Option<String>,
    /// Show download progress bars on stderr.
    pub progress: bool,
}

impl fmt::Debug for HubOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HubOptions")
            .field("cache_dir", &self.cache_dir)
            .field("offline", &self.offline)
            .field("token", &self.token.as_ref().map(|_| "<redacted>"))
            .field("endpoint", &self.endpoint)
            .field("progress", &self.progress)
            .finish()
    }
}

impl HubOptions {
    /// From the environment, as the Python `huggingface_hub` reads it:
    /// cache `HF_HUB_CACHE` (or legacy `HUGGINGFACE_HUB_CACHE`), else
    /// `$HF_HOME/hub`, where `HF_HOME` defaults to `$XDG_CACHE_HOME/huggingface`
    /// or `~/.cache/huggingface`; `HF_HUB_OFFLINE` (1/true/yes/on); token
    /// `HF_TOKEN` (or legacy `HUGGING_FACE_HUB_TOKEN`), else the file at
    /// `HF_TOKEN_PATH` or `$HF_HOME/token`; `HF_ENDPOINT`. Progress bars when
    /// stderr is a terminal.
    pub fn from_env() -> Self {
        let mut opts = Self::from_lookup(|k| std::env::var(k).ok());
        opts.progress = std::io::stderr().is_terminal();
        opts
    }

    /// [`HubOptions::from_env`] over any variable lookup (for tests and embedding).
    /// Reads the token file if no token variable is set. `progress` is off.
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Self {
        let var = |k: &str| {
            get(k)
                .map(|v| v.trim().to_string())
                .filter(|v| !v.is_empty())
        };
        let home = var("HOME")
            .or_else(|| var("USERPROFILE"))
            .map(PathBuf::from);
        let hf_home = var("HF_HOME").map(PathBuf::from).or_else(|| {
            var("XDG_CACHE_HOME")
                .map(PathBuf::from)
                .or_else(|| home.map(|h| h.join(".cache")))
                .map(|c| c.join("huggingface"))
        });
        let cache_dir = var("HF_HUB_CACHE")
            .or_else(|| var("HUGGINGFACE_HUB_CACHE"))
            .map(PathBuf::from)
            .or_else(|| hf_home.as_ref().map(|h| h.join("hub")));
        let offline = var("HF_HUB_OFFLINE").is_some_and(|v| {
            matches!(v.to_ascii_lowercase().as_str(), "1" | "true" | "yes" | "on")
        });
        let token = var("HF_TOKEN")
            .or_else(|| var("HUGGING_FACE_HUB_TOKEN"))
            .or_else(|| {
                let path = var("HF_TOKEN_PATH")
                    .map(PathBuf::from)
                    .or_else(|| hf_home.map(|h| h.join("token")))?;
                let text = std::fs::read_to_string(path).ok()?;
                Some(text.trim().to_string()).filter(|t| !t.is_empty())
            });
        let endpoint = var("HF_ENDPOINT").map(|e| e.trim_end_matches('/').to_string());
        HubOptions {
            cache_dir,
            offline,
            token,
            endpoint,
            progress: false,
        }
    }

    /// The cache directory, or `no_cache_dir` when none could be determined.
    pub fn cache_dir(&self) -> Result<PathBuf, RegistryError> {
        self.cache_dir.clone().ok_or(RegistryError::NoCacheDir)
    }

    /// The hub base URL in use.
    pub fn endpoint(&self) -> &str {
        self.endpoint.as_deref().unwrap_or(DEFAULT_ENDPOINT)
    }
}

pub(crate) enum Mode {
    Resolve,
    Pull,
}

/// `<cache>/models--org--name`.
pub(crate) fn repo_folder(cache: &Path, repo: &str) -> PathBuf {
    cache.join(format!("models--{}", repo.replace('/', "--")))
}

fn is_commit(rev: &str) -> bool {
    rev.len() == 40 && rev.bytes().all(|b| b.is_ascii_hexdigit())
}

/// The commit and snapshot directory the cache has for `revision`: through
/// `refs/<revision>`, or directly when `revision` is a commit sha.
pub(crate) fn cached_snapshot(
    cache: &Path,
    repo: &str,
    revision: &str,
) -> Option<(String, PathBuf)> {
    let folder = repo_folder(cache, repo);
    let commit = match std::fs::read_to_string(folder.join("refs").join(revision)) {
        Ok(c) => c.trim().to_string(),
        Err(_) if is_commit(revision) => revision.to_string(),
        Err(_) => return None,
    };
    let snapshot = folder.join("snapshots").join(&commit);
    snapshot.is_dir().then_some((commit, snapshot))
}

/// Facts about one resolution, for messages.
struct Ctx<'a> {
    repo: &'a str,
    revision: &'a str,
    label: &'a str,
    cache: PathBuf,
    endpoint: String,
    offline: bool,
    has_token: bool,
}

enum Mapped {
    /// The hub says the file does not exist (404 EntryNotFound, or a bare 404).
    Absent,
    Fail(RegistryError),
}

impl Ctx<'_> {
    fn not_cached(&self, file: &str) -> RegistryError {
        RegistryError::NotCached {
            repo: self.repo.into(),
            revision: self.revision.into(),
            file: file.into(),
            cache: self.cache.clone(),
            remedy: fetch_remedy(self.label, self.offline),
        }
    }

    fn map_error(&self, e: ApiError, file: &str) -> Mapped {
        let failed = |cause: String| RegistryError::DownloadFailed {
            repo: self.repo.into(),
            revision: self.revision.into(),
            file: file.into(),
            endpoint: self.endpoint.clone(),
            cause,
        };
        match e {
            ApiError::RequestError(err) => {
                let text = err.to_string();
                match (*err).into_response() {
                    None => Mapped::Fail(self.unreachable(file, text)),
                    Some(resp) => {
                        let code = resp.header("x-error-code").unwrap_or_default().to_string();
                        let message = resp.header("x-error-message").unwrap_or_default().to_string();
                        self.map_status(resp.status(), &code, &message, file)
                    }
                }
            }
            ApiError::TooManyRetries(inner) => self.map_error(*inner, file),
            ApiError::MissingHeader(h) => Mapped::Fail(failed(format!(
                "the server sent no `{h}` header; HF_ENDPOINT must name a Hugging Face hub or a compatible mirror"
            ))),
            ApiError::IoError(source) => Mapped::Fail(RegistryError::io(&self.cache, source)),
            ApiError::LockAcquisition(lock) => Mapped::Fail(failed(format!(
                "another process is downloading it (lock {}); wait and retry, or delete the lock if it is stale",
                lock.display()
            ))),
            other => Mapped::Fail(failed(other.to_string())),
        }
    }

    fn map_status(&self, status: u16, code: &str, message: &str, file: &str) -> Mapped {
        let mut detail = format!("HTTP {status}");
        for extra in [code, message] {
            if !extra.is_empty() {
                detail.push_str(&format!(", {extra}"));
            }
        }
        let not_found = || RegistryError::ModelNotFound {
            repo: self.repo.into(),
            revision: self.revision.into(),
            endpoint: self.endpoint.clone(),
            detail: detail.clone(),
            hint: if self.has_token {
                String::new()
            } else {
                "; if it is private or gated, set HF_TOKEN".into()
            },
        };
        let denied = |remedy: &str| RegistryError::AccessDenied {
            repo: self.repo.into(),
            revision: self.revision.into(),
            file: file.into(),
            status,
            remedy: remedy.into(),
        };
        Mapped::Fail(match (status, code) {
            (404, "EntryNotFound") | (404, "") => return Mapped::Absent,
            (404, _) | (401, "RepoNotFound" | "RevisionNotFound") => not_found(),
            (401 | 403, "GatedRepo") => denied(
                "the model is gated: accept its conditions on its hub page, then set HF_TOKEN to a token of that account",
            ),
            (401 | 403, _) if self.has_token => denied("the hub refused the token from HF_TOKEN (or the token file); check that it is valid and has access"),
            (401 | 403, _) => denied("the repository needs authentication; set HF_TOKEN to a token with access"),
            (429, _) | (500..=599, _) => self.unreachable(file, detail.clone()),
            _ => RegistryError::DownloadFailed {
                repo: self.repo.into(),
                revision: self.revision.into(),
                file: file.into(),
                endpoint: self.endpoint.clone(),
                cause: detail.clone(),
            },
        })
    }

    fn unreachable(&self, file: &str, cause: String) -> RegistryError {
        RegistryError::HubUnreachable {
            repo: self.repo.into(),
            revision: self.revision.into(),
            file: file.into(),
            endpoint: self.endpoint.clone(),
            cause,
            remedy: fetch_remedy(self.label, false),
        }
    }

    /// The commit and file list of the revision; `None` when the server has no
    /// such API (a plain mirror), in which case files are probed one by one.
    fn repo_info(&self, api: &ApiRepo) -> Result<Option<RepoInfo>, RegistryError> {
        match api.info() {
            Ok(info) => Ok(Some(info)),
            Err(ApiError::IoError(e)) => {
                tracing::warn!(
                    "unreadable repository listing from {}: {e}; probing files instead",
                    self.endpoint
                );
                Ok(None)
            }
            Err(e) => match self.map_error(e, "(repository listing)") {
                Mapped::Absent => Ok(None),
                Mapped::Fail(e) => Err(e),
            },
        }
    }
}

/// Cache first, then (with `api`) the hub.
struct HubSource<'a> {
    ctx: &'a Ctx<'a>,
    api: Option<ApiRepo>,
    snapshot: Option<PathBuf>,
    listing: Option<Vec<String>>,
    downloaded: Vec<String>,
}

impl FileSource for HubSource<'_> {
    fn listing(&mut self) -> Result<Option<Vec<String>>, RegistryError> {
        Ok(self.listing.clone())
    }

    fn get(&mut self, name: &str, required: bool) -> Result<Option<PathBuf>, RegistryError> {
        if let Some(snapshot) = &self.snapshot {
            let path = snapshot.join(name);
            if path.is_file() {
                tracing::debug!(file = name, path = %path.display(), "cached");
                return Ok(Some(path));
            }
        }
        let Some(api) = &self.api else {
            return if required {
                Err(self.missing(name))
            } else {
                Ok(None)
            };
        };
        tracing::info!(
            "downloading {name} of {}@{}",
            self.ctx.repo,
            self.ctx.revision
        );
        match api.download(name) {
            Ok(path) => {
                self.downloaded.push(name.to_string());
                Ok(Some(path))
            }
            Err(e) => match self.ctx.map_error(e, name) {
                Mapped::Absent if required => Err(self.missing(name)),
                Mapped::Absent => Ok(None),
                Mapped::Fail(e) => Err(e),
            },
        }
    }

    fn missing(&self, what: &str) -> RegistryError {
        if self.api.is_none() {
            return self.ctx.not_cached(what);
        }
        RegistryError::FileMissing {
            location: format!(
                "hub repository {}@{} ({})",
                self.ctx.repo, self.ctx.revision, self.ctx.endpoint
            ),
            file: what.to_string(),
            remedy: missing_remedy(false),
        }
    }
}

fn finish(
    ctx: &Ctx<'_>,
    picked: Picked,
    manifest: Option<&Manifest>,
    downloaded: Vec<String>,
) -> ModelFiles {
    let root = picked
        .config
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default();
    let revision = root
        .file_name()
        .and_then(|n| n.to_str())
        .map(str::to_string)
        .or_else(|| Some(ctx.revision.to_string()));
    ModelFiles::from_picked(
        ctx.repo.to_string(),
        revision,
        root,
        picked,
        manifest.cloned(),
        downloaded,
    )
}

pub(crate) fn resolve_hub(
    repo: &str,
    revision: &str,
    manifest: Option<&Manifest>,
    label: &str,
    opts: &HubOptions,
    mode: Mode,
) -> Result<ModelFiles, RegistryError> {
    let ctx = Ctx {
        repo,
        revision,
        label,
        cache: opts.cache_dir()?,
        endpoint: opts.endpoint().to_string(),
        offline: opts.offline,
        has_token: opts.token.is_some(),
    };
    let cached = cached_snapshot(&ctx.cache, repo, revision);
    match mode {
        Mode::Resolve => {
            let listing = match &cached {
                Some((_, snapshot)) => Some(local::list_dir(snapshot)?),
                None => None,
            };
            let mut src = HubSource {
                ctx: &ctx,
                api: None,
                snapshot: cached.as_ref().map(|(_, s)| s.clone()),
                listing,
                downloaded: Vec::new(),
            };
            match local::pick(&mut src, manifest) {
                Ok(picked) => return Ok(finish(&ctx, picked, manifest, Vec::new())),
                Err(e) if opts.offline || e.kind() != "not_cached" => return Err(e),
                Err(e) => tracing::debug!("not fully cached ({e}); asking the hub"),
            }
        }
        Mode::Pull if opts.offline => {
            return Err(RegistryError::OfflinePull {
                spec: label.to_string(),
            })
        }
        Mode::Pull => {}
    }

    let mut builder = ApiBuilder::from_cache(Cache::new(ctx.cache.clone()))
        .with_token(opts.token.clone())
        .with_progress(opts.progress)
        .with_retries(2)
        .with_user_agent("copydesk", env!("CARGO_PKG_VERSION"));
    if let Some(endpoint) = &opts.endpoint {
        builder = builder.with_endpoint(endpoint.clone());
    }
    let api = builder
        .build()
        .map_err(|e| match ctx.map_error(e, "(client setup)") {
            Mapped::Fail(e) => e,
            Mapped::Absent => {
                ctx.unreachable("(client setup)", "cannot build the HTTP client".into())
            }
        })?;
    let api = api.repo(Repo::with_revision(
        repo.to_string(),
        RepoType::Model,
        revision.to_string(),
    ));

    let mut snapshot = cached.map(|(_, s)| s);
    let mut listing = None;
    let has_file_list = manifest.is_some_and(|m| m.files.is_some());
    if matches!(mode, Mode::Pull) || !has_file_list {
        if let Some(info) = ctx.repo_info(&api)? {
            snapshot = Some(
                repo_folder(&ctx.cache, repo)
                    .join("snapshots")
                    .join(&info.sha),
            );
            listing = Some(info.siblings.into_iter().map(|s| s.rfilename).collect());
        }
    }
    let mut src = HubSource {
        ctx: &ctx,
        api: Some(api),
        snapshot,
        listing,
        downloaded: Vec::new(),
    };
    let picked = local::pick(&mut src, manifest)?;
    let downloaded = std::mem::take(&mut src.downloaded);
    Ok(finish(&ctx, picked, manifest, downloaded))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn lookup(vars: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |k| map.get(k).cloned()
    }

    #[test]
    fn options_from_variables() {
        let o = HubOptions::from_lookup(lookup(&[("HOME", "/home/u")]));
        assert_eq!(
            o.cache_dir,
            Some(PathBuf::from("/home/u/.cache/huggingface/hub"))
        );
        assert!(!o.offline && o.endpoint.is_none());
        assert_eq!(o.endpoint(), "https://huggingface.co");

        let o = HubOptions::from_lookup(lookup(&[
            ("HOME", "/home/u"),
            ("HF_HOME", "/data/hf"),
            ("HF_HUB_OFFLINE", "1"),
            ("HF_TOKEN", " hf_abc "),
            ("HF_ENDPOINT", "https://mirror.example/"),
        ]));
        assert_eq!(o.cache_dir, Some(PathBuf::from("/data/hf/hub")));
        assert!(o.offline);
        assert_eq!(o.token.as_deref(), Some("hf_abc"));
        assert_eq!(o.endpoint(), "https://mirror.example");
        assert!(
            !format!("{o:?}").contains("hf_abc"),
            "token must not be printed"
        );

        let o = HubOptions::from_lookup(lookup(&[
            ("HF_HUB_CACHE", "/c"),
            ("HF_HOME", "/h"),
            ("HF_HUB_OFFLINE", "0"),
        ]));
        assert_eq!(o.cache_dir, Some(PathBuf::from("/c")));
        assert!(!o.offline);
        let o = HubOptions::from_lookup(lookup(&[
            ("XDG_CACHE_HOME", "/x"),
            ("HF_HUB_OFFLINE", "TRUE"),
        ]));
        assert_eq!(o.cache_dir, Some(PathBuf::from("/x/huggingface/hub")));
        assert!(o.offline);
        let o = HubOptions::from_lookup(lookup(&[]));
        assert_eq!(o.cache_dir().unwrap_err().kind(), "no_cache_dir");
    }

    #[test]
    fn token_file_is_read_when_no_variable() {
        let d = tempfile::tempdir().unwrap();
        std::fs::write(d.path().join("token"), "hf_from_file\n").unwrap();
        let home = d.path().to_str().unwrap();
        let o = HubOptions::from_lookup(lookup(&[("HF_HOME", home)]));
        assert_eq!(o.token.as_deref(), Some("hf_from_file"));
        let o = HubOptions::from_lookup(lookup(&[("HF_HOME", home), ("HF_TOKEN", "hf_env")]));
        assert_eq!(o.token.as_deref(), Some("hf_env"));
        let other = d.path().join("other-token");
        std::fs::write(&other, "hf_other").unwrap();
        let o = HubOptions::from_lookup(lookup(&[
            ("HF_HOME", home),
            ("HF_TOKEN_PATH", other.to_str().unwrap()),
        ]));
        assert_eq!(o.token.as_deref(), Some("hf_other"));
    }

    #[test]
    fn snapshot_lookup_by_ref_and_by_sha() {
        let d = tempfile::tempdir().unwrap();
        let sha = "0123456789abcdef0123456789abcdef01234567";
        let folder = repo_folder(d.path(), "org/name");
        assert!(folder.ends_with("models--org--name"));
        std::fs::create_dir_all(folder.join("snapshots").join(sha)).unwrap();
        assert_eq!(cached_snapshot(d.path(), "org/name", "main"), None);
        assert_eq!(
            cached_snapshot(d.path(), "org/name", sha).map(|c| c.0),
            Some(sha.to_string())
        );
        std::fs::create_dir_all(folder.join("refs")).unwrap();
        std::fs::write(folder.join("refs").join("main"), format!("{sha}\n")).unwrap();
        assert_eq!(
            cached_snapshot(d.path(), "org/name", "main").map(|c| c.0),
            Some(sha.to_string())
        );
        assert_eq!(cached_snapshot(d.path(), "org/other", "main"), None);
    }
}
