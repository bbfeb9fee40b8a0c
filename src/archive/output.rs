//! The output log: one JSON line per record, each appended whole with a single write, synced
//! regularly, and read back on `--resume` (ids already done are skipped, a torn last line left by
//! a crash is cut off). An advisory lock keeps two runs from appending to the same file.

use std::collections::HashSet;
use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::Error;

/// How often appended lines are synced to disk (a killed process loses nothing written; this
/// bounds what a power cut loses).
const SYNC_EVERY: Duration = Duration::from_secs(2);

/// One output line.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OutputLine {
    pub id: String,
    /// Where the record came from: `dir/file.txt`, `file.jsonl:12`, `stdin:3`.
    pub source: String,
    pub task: String,
    pub result: Option<Value>,
    pub error: Option<LineError>,
    pub timings: LineTimings,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LineError {
    pub code: String,
    pub message: String,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct LineTimings {
    /// From taking the record to writing its line.
    pub total_ms: f64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OpenMode {
    /// The file must not exist yet.
    New,
    /// Start over: an existing file is emptied.
    Overwrite,
    /// Continue: skip ids present; with `retry_errors`, error lines are removed and redone.
    Resume { retry_errors: bool },
}

/// What an earlier run left in the file.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ResumeState {
    /// Ids to skip.
    pub done: HashSet<String>,
    pub ok: usize,
    pub failed: usize,
    /// Bytes of a torn last line that were cut off.
    pub torn_bytes: u64,
    /// Error lines removed to be redone (`--retry-errors`).
    pub retried: usize,
    /// `result.file` of the lines kept (markdown output: file names taken).
    pub files: HashSet<String>,
}

/// The open output file.
pub struct OutputLog {
    file: File,
    path: PathBuf,
    last_sync: Instant,
    dirty: bool,
}

fn io_error(path: &Path, what: &str) -> impl FnOnce(std::io::Error) -> Error {
    let context = format!("cannot {what} {}", path.display());
    move |source| Error::Io { context, source }
}

impl OutputLog {
    /// Opens `path` for appending in `mode`; for [`OpenMode::Resume`], also says what is done.
    pub fn open(path: &Path, mode: OpenMode) -> Result<(OutputLog, ResumeState), Error> {
        let mut opts = OpenOptions::new();
        opts.read(true).append(true);
        match mode {
            OpenMode::New => opts.create_new(true),
            OpenMode::Overwrite | OpenMode::Resume { .. } => opts.create(true),
        };
        let file = opts.open(path).map_err(|e| {
            if e.kind() == std::io::ErrorKind::AlreadyExists {
                Error::invalid(
                    "output_exists",
                    format!(
                        "{} already exists; use --resume to continue that run or --overwrite to replace it",
                        path.display()
                    ),
                )
            } else {
                io_error(path, "open")(e)
            }
        })?;
        lock(&file, path)?;
        let mut log = OutputLog {
            file,
            path: path.to_path_buf(),
            last_sync: Instant::now(),
            dirty: false,
        };
        let state = match mode {
            OpenMode::New => ResumeState::default(),
            OpenMode::Overwrite => {
                log.file.set_len(0).map_err(io_error(path, "empty"))?;
                ResumeState::default()
            }
            OpenMode::Resume { retry_errors } => log.resume(retry_errors)?,
        };
        Ok((log, state))
    }

    fn resume(&mut self, retry_errors: bool) -> Result<ResumeState, Error> {
        let mut bytes = Vec::new();
        self.file
            .read_to_end(&mut bytes)
            .map_err(io_error(&self.path, "read"))?;
        let whole = bytes.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
        let mut state = ResumeState {
            torn_bytes: (bytes.len() - whole) as u64,
            ..ResumeState::default()
        };
        if state.torn_bytes > 0 {
            self.file
                .set_len(whole as u64)
                .map_err(io_error(&self.path, "repair"))?;
            self.file.sync_all().map_err(io_error(&self.path, "sync"))?;
        }
        let mut kept = Vec::with_capacity(whole);
        for (n, line) in bytes[..whole].split(|&b| b == b'\n').enumerate() {
            if line.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            let (id, error, file) = parse_done(line).ok_or_else(|| {
                Error::invalid(
                    "invalid_output",
                    format!(
                        "line {} of {} is not a copydesk batch line; fix or remove it, or use --overwrite",
                        n + 1,
                        self.path.display()
                    ),
                )
            })?;
            if error && retry_errors {
                state.retried += 1;
                continue;
            }
            if error {
                state.failed += 1;
            } else {
                state.ok += 1;
            }
            state.done.insert(id);
            state.files.extend(file);
            kept.extend_from_slice(line);
            kept.push(b'\n');
        }
        if state.retried > 0 {
            self.replace_contents(&kept)?;
        }
        Ok(state)
    }

    /// Atomically replaces the file (write a sibling, sync, rename) and reopens it.
    fn replace_contents(&mut self, contents: &[u8]) -> Result<(), Error> {
        let tmp = sibling(&self.path, ".resume-tmp");
        let write = || -> std::io::Result<()> {
            let mut f = File::create(&tmp)?;
            f.write_all(contents)?;
            f.sync_all()?;
            std::fs::rename(&tmp, &self.path)
        };
        write().map_err(io_error(&self.path, "rewrite"))?;
        let file = OpenOptions::new()
            .read(true)
            .append(true)
            .open(&self.path)
            .map_err(io_error(&self.path, "reopen"))?;
        lock(&file, &self.path)?;
        self.file = file;
        Ok(())
    }

    /// Appends one line with a single write (a killed process never leaves half a line unless
    /// the write itself is cut short, which `--resume` repairs).
    pub fn append(&mut self, line: &OutputLine) -> Result<(), Error> {
        let mut text = serde_json::to_string(line)
            .map_err(|e| Error::internal(format!("cannot encode a line: {e}")))?;
        text.push('\n');
        self.file
            .write_all(text.as_bytes())
            .map_err(io_error(&self.path, "write to"))?;
        self.dirty = true;
        self.maybe_sync()
    }

    /// Syncs when the last sync is a while ago.
    pub fn maybe_sync(&mut self) -> Result<(), Error> {
        if self.dirty && self.last_sync.elapsed() >= SYNC_EVERY {
            self.sync()?;
        }
        Ok(())
    }

    /// Syncs appended lines to disk.
    pub fn sync(&mut self) -> Result<(), Error> {
        if self.dirty {
            self.file
                .sync_data()
                .map_err(io_error(&self.path, "sync"))?;
            self.dirty = false;
        }
        self.last_sync = Instant::now();
        Ok(())
    }
}

/// Id, whether it failed, and `result.file` of an output line; `None` if it is not one.
fn parse_done(line: &[u8]) -> Option<(String, bool, Option<String>)> {
    let v: Value = serde_json::from_slice(line).ok()?;
    let id = v.get("id")?.as_str()?.to_string();
    let error = !v.get("error").is_none_or(Value::is_null);
    let file = v
        .get("result")
        .and_then(|r| r.get("file"))
        .and_then(Value::as_str)
        .map(str::to_string);
    Some((id, error, file))
}

fn sibling(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(suffix);
    path.with_file_name(name)
}

/// Takes an exclusive advisory lock on `file` without waiting (`flock(LOCK_EX | LOCK_NB)` on
/// Linux), held until the file is closed.
#[cfg(unix)]
fn lock(file: &File, path: &Path) -> Result<(), Error> {
    match file.try_lock() {
        Ok(()) => Ok(()),
        Err(std::fs::TryLockError::WouldBlock) => Err(Error::invalid(
            "output_locked",
            format!(
                "{} is being written by another copydesk batch run",
                path.display()
            ),
        )),
        Err(std::fs::TryLockError::Error(e)) => Err(io_error(path, "lock")(e)),
    }
}

#[cfg(not(unix))]
fn lock(_file: &File, _path: &Path) -> Result<(), Error> {
    Ok(())
}

/// A file name under the markdown output directory for `id`: the id's path without `.txt`, plus
/// `.md`, when that is a clean relative path not yet `used`; otherwise a cleaned-up name with a
/// stable hash of the id appended.
pub fn markdown_name(id: &str, used: &HashSet<String>) -> String {
    let stem = id.strip_suffix(".txt").unwrap_or(id);
    let parts: Vec<String> = stem.split('/').map(clean_component).collect();
    let base = parts.join("/");
    let plain = format!("{base}.md");
    if base == stem && !used.contains(&plain) {
        return plain;
    }
    let hashed = format!("{base}-{:08x}", crate::text::fnv1a(id) as u32);
    (1..)
        .map(|k| match k {
            1 => format!("{hashed}.md"),
            k => format!("{hashed}-{k}.md"),
        })
        .find(|n| !used.contains(n))
        .unwrap_or(plain)
}

fn clean_component(part: &str) -> String {
    let cleaned: String = part
        .chars()
        .take(100)
        .enumerate()
        .map(|(i, c)| match c {
            '.' if i == 0 => '_',
            c if c.is_alphanumeric() || matches!(c, '.' | '-' | '_') => c,
            _ => '_',
        })
        .collect();
    if cleaned.is_empty() {
        "_".into()
    } else {
        cleaned
    }
}

/// Writes `dir/name` whole: a hidden sibling is written, then renamed into place.
pub fn write_markdown(dir: &Path, name: &str, contents: &str) -> std::io::Result<()> {
    let path = dir.join(name);
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)?;
    }
    let file_name = path.file_name().unwrap_or_default().to_string_lossy();
    let tmp = path.with_file_name(format!(".{file_name}.tmp"));
    std::fs::write(&tmp, contents)?;
    std::fs::rename(&tmp, &path)
}
