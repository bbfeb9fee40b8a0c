//! Test doubles for hub resolution: a Hugging Face cache laid out on disk, and
//! a minimal hub (resolve + revision API) served on 127.0.0.1.

use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};
use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use super::hub;

/// The commit every fake repository is at.
pub(crate) const SHA: &str = "0123456789abcdef0123456789abcdef01234567";

/// Lays out `models--org--name/{blobs,refs,snapshots}` as huggingface_hub does.
pub(crate) fn fake_cache(
    cache: &Path,
    repo: &str,
    sha: &str,
    refs: &[&str],
    files: &[(&str, &str)],
) -> PathBuf {
    let folder = hub::repo_folder(cache, repo);
    let snapshot = folder.join("snapshots").join(sha);
    std::fs::create_dir_all(&snapshot).unwrap();
    std::fs::create_dir_all(folder.join("blobs")).unwrap();
    for (name, body) in files {
        let blob = folder.join("blobs").join(etag(body.as_bytes()));
        std::fs::write(&blob, body).unwrap();
        #[cfg(unix)]
        std::os::unix::fs::symlink(
            Path::new("../../blobs").join(blob.file_name().unwrap()),
            snapshot.join(name),
        )
        .unwrap();
        #[cfg(not(unix))]
        std::fs::copy(&blob, snapshot.join(name)).unwrap();
    }
    for r in refs {
        std::fs::create_dir_all(folder.join("refs")).unwrap();
        std::fs::write(folder.join("refs").join(r), sha).unwrap();
    }
    snapshot
}

pub(crate) fn etag(body: &[u8]) -> String {
    let mut h = DefaultHasher::new();
    body.hash(&mut h);
    format!("{:016x}{:08x}", h.finish(), body.len())
}

pub(crate) struct FakeRepo {
    pub(crate) repo: &'static str,
    pub(crate) files: Vec<(&'static str, Vec<u8>)>,
    /// Answer every request with this status and X-Error-Code.
    pub(crate) fail: Option<(u16, &'static str)>,
    /// No `/api/models` listing (a plain file mirror).
    pub(crate) no_api: bool,
}

pub(crate) fn repo(repo: &'static str, files: &[(&'static str, &str)]) -> FakeRepo {
    FakeRepo {
        repo,
        files: files
            .iter()
            .map(|(n, b)| (*n, b.as_bytes().to_vec()))
            .collect(),
        fail: None,
        no_api: false,
    }
}

pub(crate) struct FakeHub {
    pub(crate) endpoint: String,
    log: Arc<Mutex<Vec<String>>>,
}

impl FakeHub {
    pub(crate) fn requests(&self) -> Vec<String> {
        self.log.lock().map(|l| l.clone()).unwrap_or_default()
    }
}

/// ureq 2 sends even loopback requests through *_PROXY variables.
pub(crate) fn proxied() -> bool {
    [
        "ALL_PROXY",
        "all_proxy",
        "HTTPS_PROXY",
        "https_proxy",
        "HTTP_PROXY",
        "http_proxy",
    ]
    .iter()
    .any(|k| std::env::var_os(k).is_some_and(|v| !v.is_empty()))
}

/// Starts a fake hub; `None` (test skipped) when a proxy variable would divert ureq.
pub(crate) fn serve(repos: Vec<FakeRepo>) -> Option<FakeHub> {
    if proxied() {
        eprintln!("skipped: a *_PROXY variable is set");
        return None;
    }
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind loopback");
    let endpoint = format!("http://{}", listener.local_addr().expect("addr"));
    let log = Arc::new(Mutex::new(Vec::new()));
    let thread_log = Arc::clone(&log);
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let _ = handle(stream, &repos, &thread_log);
        }
    });
    Some(FakeHub { endpoint, log })
}

fn handle(
    mut stream: TcpStream,
    repos: &[FakeRepo],
    log: &Mutex<Vec<String>>,
) -> std::io::Result<()> {
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut line = String::new();
    reader.read_line(&mut line)?;
    let path = line.split_whitespace().nth(1).unwrap_or("").to_string();
    let (mut range, mut auth) = (None, String::new());
    loop {
        let mut h = String::new();
        if reader.read_line(&mut h)? == 0 || h.trim().is_empty() {
            break;
        }
        if let Some((k, v)) = h.trim().split_once(':') {
            match k.to_ascii_lowercase().as_str() {
                "range" => range = v.trim().strip_prefix("bytes=").map(str::to_string),
                "authorization" => auth = v.trim().to_string(),
                _ => {}
            }
        }
    }
    if let Ok(mut l) = log.lock() {
        l.push(format!("{path} auth={auth}"));
    }
    let (status, headers, body) = route(&path, range.as_deref(), repos);
    let mut out = format!(
        "HTTP/1.1 {status} X\r\nContent-Length: {}\r\nConnection: close\r\n",
        body.len()
    );
    for (k, v) in headers {
        out.push_str(&format!("{k}: {v}\r\n"));
    }
    out.push_str("\r\n");
    stream.write_all(out.as_bytes())?;
    stream.write_all(&body)?;
    stream.flush()
}

type Response = (u16, Vec<(&'static str, String)>, Vec<u8>);

fn route(path: &str, range: Option<&str>, repos: &[FakeRepo]) -> Response {
    let err =
        |status: u16, code: &str| (status, vec![("X-Error-Code", code.to_string())], Vec::new());
    let (api, rest) = match path.strip_prefix("/api/models/") {
        Some(rest) => (true, rest),
        None => (false, path.trim_start_matches('/')),
    };
    let Some(r) = repos
        .iter()
        .find(|r| rest.starts_with(&format!("{}/", r.repo)))
    else {
        return err(401, "RepoNotFound");
    };
    if let Some((status, code)) = r.fail {
        return err(status, code);
    }
    let tail = &rest[r.repo.len() + 1..];
    let (kind, tail) = tail.split_once('/').unwrap_or((tail, ""));
    let (rev, file) = tail.split_once('/').unwrap_or((tail, ""));
    if rev != "main" && rev != SHA {
        return err(404, "RevisionNotFound");
    }
    if api && r.no_api {
        return err(404, "");
    }
    if api && kind == "revision" {
        let siblings: Vec<_> = r
            .files
            .iter()
            .map(|(n, _)| serde_json::json!({ "rfilename": n }))
            .collect();
        let body = serde_json::json!({ "sha": SHA, "siblings": siblings }).to_string();
        return (
            200,
            vec![("Content-Type", "application/json".into())],
            body.into_bytes(),
        );
    }
    let Some((_, data)) = r
        .files
        .iter()
        .find(|(n, _)| *n == file)
        .filter(|_| kind == "resolve")
    else {
        return err(404, "EntryNotFound");
    };
    let len = data.len();
    let (start, end) = match range.and_then(|r| r.split_once('-')) {
        Some((a, b)) => (
            a.parse().unwrap_or(0),
            b.parse().unwrap_or(len - 1).min(len - 1),
        ),
        None => (0, len - 1),
    };
    let headers = vec![
        ("X-Repo-Commit", SHA.to_string()),
        ("ETag", format!("\"{}\"", etag(data))),
        ("Content-Range", format!("bytes {start}-{end}/{len}")),
    ];
    (
        if range.is_some() { 206 } else { 200 },
        headers,
        data[start..=end].to_vec(),
    )
}
