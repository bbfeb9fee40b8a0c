//! Inputs: the command line's paths become a fixed, sorted list of files ([`plan_inputs`]), and
//! [`RecordReader`] streams their records one at a time (a year of wire copy never sits in memory).

use std::collections::HashSet;
use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};

use serde_json::Value;

use super::{codes, Record, RecordError};
use crate::service::ninjs::read_item;
use crate::Error;

/// Deepest directory nesting walked.
const MAX_DEPTH: usize = 64;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InputKind {
    /// One article per file.
    Text,
    /// One JSON object per line.
    Jsonl,
    /// JSONL on standard input.
    Stdin,
    /// A `.json` file holding one ninjs item or a list of them (`--input-format ninjs`).
    Json,
    /// A directory that could not be listed: one error record.
    Unreadable(String),
}

/// One input file (or standard input) and the name its records' ids and sources start from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InputFile {
    pub path: PathBuf,
    /// Path relative to the directory given, or the path as given, with `/` separators.
    pub name: String,
    pub kind: InputKind,
}

/// How records are read from JSONL and checked.
#[derive(Debug, Clone)]
pub struct ReadOptions {
    pub id_field: String,
    pub text_field: String,
    /// Longest text accepted, in characters.
    pub max_chars: usize,
    /// JSON records are IPTC ninjs items (id: the item's `uri`), not `{id, text}` objects.
    pub ninjs: bool,
}

impl Default for ReadOptions {
    fn default() -> Self {
        Self {
            id_field: "id".into(),
            text_field: "text".into(),
            max_chars: 100_000,
            ninjs: false,
        }
    }
}

/// Expands the command line's inputs: files as given, directories walked recursively for `.txt`
/// and `.jsonl` files (hidden entries skipped, symlinked directories not followed), entries in
/// byte order of their names so every run sees the same sequence; `-` is standard input.
/// With `json`, `.json` files (ninjs items) are inputs too.
pub fn plan_inputs(args: &[PathBuf], json: bool) -> Result<Vec<InputFile>, Error> {
    if args.is_empty() {
        return Err(Error::invalid(
            "usage",
            "no inputs: give .txt or .jsonl files, directories, or - for JSONL on standard input",
        ));
    }
    let mut out = Vec::new();
    let mut stdin = false;
    for arg in args {
        if arg.as_os_str() == "-" {
            if std::mem::replace(&mut stdin, true) {
                return Err(Error::invalid("usage", "- (standard input) is given twice"));
            }
            out.push(InputFile {
                path: arg.clone(),
                name: "stdin".into(),
                kind: InputKind::Stdin,
            });
            continue;
        }
        let meta = std::fs::metadata(arg).map_err(|e| {
            Error::invalid("usage", format!("input {} not found: {e}", arg.display()))
        })?;
        if meta.is_dir() {
            walk(arg, Path::new(""), 0, json, &mut out);
        } else {
            let name = arg
                .strip_prefix(".")
                .unwrap_or(arg)
                .to_string_lossy()
                .into_owned();
            let kind = if has_ext(arg, "jsonl") {
                InputKind::Jsonl
            } else if json && has_ext(arg, "json") {
                InputKind::Json
            } else {
                InputKind::Text
            };
            out.push(InputFile {
                path: arg.clone(),
                name,
                kind,
            });
        }
    }
    Ok(out)
}

fn has_ext(p: &Path, ext: &str) -> bool {
    p.extension().is_some_and(|e| e.eq_ignore_ascii_case(ext))
}

fn slash_path(p: &Path) -> String {
    p.components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect::<Vec<_>>()
        .join("/")
}

fn walk(root: &Path, rel: &Path, depth: usize, json: bool, out: &mut Vec<InputFile>) {
    let dir = root.join(rel);
    let unreadable = |msg: String| InputFile {
        path: dir.clone(),
        name: if rel.as_os_str().is_empty() {
            dir.to_string_lossy().into_owned()
        } else {
            format!("{}/", slash_path(rel))
        },
        kind: InputKind::Unreadable(msg),
    };
    if depth > MAX_DEPTH {
        out.push(unreadable(format!(
            "{} is nested more than {MAX_DEPTH} levels deep",
            dir.display()
        )));
        return;
    }
    let entries = match std::fs::read_dir(&dir).and_then(|it| it.collect::<Result<Vec<_>, _>>()) {
        Ok(e) => e,
        Err(e) => {
            out.push(unreadable(format!("cannot list {}: {e}", dir.display())));
            return;
        }
    };
    let mut entries: Vec<_> = entries
        .into_iter()
        .filter(|e| !e.file_name().to_string_lossy().starts_with('.'))
        .collect();
    entries.sort_by_key(|e| e.file_name());
    for entry in entries {
        let rel = rel.join(entry.file_name());
        let path = entry.path();
        let Ok(ft) = entry.file_type() else { continue };
        if ft.is_dir() {
            walk(root, &rel, depth + 1, json, out);
            continue;
        }
        // Symlinks to files are read; symlinks to directories are not followed (no loops).
        let is_file = ft.is_file() || (ft.is_symlink() && path.is_file());
        let kind = if has_ext(&path, "txt") {
            InputKind::Text
        } else if has_ext(&path, "jsonl") {
            InputKind::Jsonl
        } else if json && has_ext(&path, "json") {
            InputKind::Json
        } else {
            continue;
        };
        if is_file {
            out.push(InputFile {
                path,
                name: slash_path(&rel),
                kind,
            });
        }
    }
}

/// How many records the inputs hold (for progress), or `None` with standard input.
pub fn count_records(files: &[InputFile]) -> Option<u64> {
    let mut n = 0;
    for f in files {
        n += match f.kind {
            InputKind::Stdin => return None,
            InputKind::Jsonl => match File::open(&f.path) {
                Ok(file) => BufReader::new(file)
                    .split(b'\n')
                    .map_while(Result::ok)
                    .filter(|l| !is_blank(l))
                    .count() as u64,
                Err(_) => 1,
            },
            _ => 1,
        };
    }
    Some(n)
}

fn is_blank(line: &[u8]) -> bool {
    line.iter().all(u8::is_ascii_whitespace)
}

/// The JSONL file being read.
struct Lines {
    name: String,
    reader: Box<dyn BufRead + Send>,
    line: usize,
}

/// Streams the records of planned inputs, in order, with ids made unique (see the module docs of
/// [`crate::archive`]).
pub struct RecordReader {
    files: std::vec::IntoIter<InputFile>,
    opts: ReadOptions,
    current: Option<Lines>,
    /// Records of a `.json` file not yet returned.
    pending: std::collections::VecDeque<Record>,
    stdin: Option<Box<dyn BufRead + Send>>,
    seen: HashSet<String>,
    /// Only this shard's records are returned (all are read, so ids are made unique alike).
    shard: Option<super::shard::Shard>,
}

impl RecordReader {
    pub fn new(files: Vec<InputFile>, opts: ReadOptions) -> Self {
        Self {
            files: files.into_iter(),
            opts,
            current: None,
            pending: Default::default(),
            stdin: None,
            seen: HashSet::new(),
            shard: None,
        }
    }

    /// Returns only the records of `shard` (see [`super::shard`]).
    pub fn with_shard(mut self, shard: Option<super::shard::Shard>) -> Self {
        self.shard = shard;
        self
    }

    /// Reads `-` from `reader` instead of the process's standard input (for tests).
    #[cfg(test)]
    pub fn with_stdin(mut self, reader: Box<dyn BufRead + Send>) -> Self {
        self.stdin = Some(reader);
        self
    }

    fn next_raw(&mut self) -> Option<Record> {
        loop {
            if let Some(rec) = self.pending.pop_front() {
                return Some(rec);
            }
            if let Some(lines) = &mut self.current {
                match next_line(lines, &self.opts) {
                    Some(rec) => return Some(rec),
                    None => self.current = None,
                }
            }
            let file = self.files.next()?;
            let error = |code, msg: String| Record {
                id: file.name.clone(),
                source: file.name.clone(),
                text: Err(RecordError::new(code, msg)),
                item: None,
            };
            match &file.kind {
                InputKind::Text => return Some(read_text_file(&file, &self.opts)),
                InputKind::Json => self.pending = read_json_file(&file, &self.opts).into(),
                InputKind::Unreadable(msg) => return Some(error(codes::UNREADABLE, msg.clone())),
                InputKind::Jsonl => match File::open(&file.path) {
                    Ok(f) => self.current = Some(lines(&file.name, Box::new(BufReader::new(f)))),
                    Err(e) => {
                        let msg = format!("cannot open {}: {e}", file.path.display());
                        return Some(error(codes::UNREADABLE, msg));
                    }
                },
                InputKind::Stdin => {
                    let reader = self
                        .stdin
                        .take()
                        .unwrap_or_else(|| Box::new(BufReader::new(std::io::stdin())));
                    self.current = Some(lines(&file.name, reader));
                }
            }
        }
    }

    /// A repeated id becomes `<id>#<k>` with a `duplicate_id` error.
    fn dedupe(&mut self, mut rec: Record) -> Record {
        if self.seen.insert(rec.id.clone()) {
            return rec;
        }
        let original = std::mem::take(&mut rec.id);
        let derived = (2..)
            .map(|k| format!("{original}#{k}"))
            .find(|d| !self.seen.contains(d))
            .unwrap_or_default();
        self.seen.insert(derived.clone());
        rec.text = Err(RecordError::new(
            codes::DUPLICATE_ID,
            format!(
                "id {original:?} is already used by an earlier record; this one ({}) was not processed",
                rec.source
            ),
        ));
        rec.id = derived;
        rec
    }
}

impl Iterator for RecordReader {
    type Item = Record;

    fn next(&mut self) -> Option<Record> {
        loop {
            let rec = self.next_raw()?;
            let rec = self.dedupe(rec);
            if self.shard.is_none_or(|s| s.owns(&rec.id)) {
                return Some(rec);
            }
        }
    }
}

fn lines(name: &str, reader: Box<dyn BufRead + Send>) -> Lines {
    Lines {
        name: name.to_string(),
        reader,
        line: 0,
    }
}

/// The next non-blank line's record, or `None` at the end (or after a read error, reported once).
fn next_line(lines: &mut Lines, opts: &ReadOptions) -> Option<Record> {
    // Room for a text at the limit in 4-byte characters, escaped, plus other fields.
    let limit = (opts.max_chars as u64)
        .saturating_mul(8)
        .saturating_add(1 << 16);
    let mut buf = Vec::new();
    loop {
        buf.clear();
        lines.line += 1;
        let at = format!("{}:{}", lines.name, lines.line);
        let complete = match read_bounded_line(&mut lines.reader, &mut buf, limit) {
            Ok(None) => return None,
            Ok(Some(complete)) => complete,
            Err(e) => {
                lines.reader = Box::new(std::io::empty());
                return Some(Record {
                    id: at.clone(),
                    source: at,
                    text: Err(RecordError::new(
                        codes::UNREADABLE,
                        format!("read error, the rest of {} is skipped: {e}", lines.name),
                    )),
                    item: None,
                });
            }
        };
        if !complete {
            return Some(Record {
                id: at.clone(),
                source: at,
                text: Err(RecordError::new(
                    codes::TOO_LONG,
                    format!("line is longer than {limit} bytes (--max-chars)"),
                )),
                item: None,
            });
        }
        if !is_blank(&buf) {
            return Some(parse_line(&at, &buf, opts));
        }
    }
}

/// Reads one line into `buf` (without its newline), at most `limit` bytes; a longer line is
/// skipped to its end and reported as incomplete. `None` at the end of input.
fn read_bounded_line(
    reader: &mut Box<dyn BufRead + Send>,
    buf: &mut Vec<u8>,
    limit: u64,
) -> std::io::Result<Option<bool>> {
    let n = reader.by_ref().take(limit).read_until(b'\n', buf)?;
    if n == 0 {
        return Ok(None);
    }
    if buf.last() == Some(&b'\n') {
        buf.pop();
        return Ok(Some(true));
    }
    if (n as u64) < limit {
        return Ok(Some(true)); // last line without a newline
    }
    // Over the limit: skip the rest of the line.
    loop {
        let chunk = reader.fill_buf()?;
        if chunk.is_empty() {
            return Ok(Some(false));
        }
        match chunk.iter().position(|&b| b == b'\n') {
            Some(i) => {
                reader.consume(i + 1);
                return Ok(Some(false));
            }
            None => {
                let len = chunk.len();
                reader.consume(len);
            }
        }
    }
}

/// One JSONL line as a record; `at` (`file:line`) is its source and its fallback id.
pub fn parse_line(at: &str, line: &[u8], opts: &ReadOptions) -> Record {
    let fail = |id: &str, code, msg: String| Record {
        id: id.to_string(),
        source: at.to_string(),
        text: Err(RecordError::new(code, msg)),
        item: None,
    };
    let value: Value = match std::str::from_utf8(line)
        .map_err(|e| format!("line is not UTF-8: {e}"))
        .and_then(|s| serde_json::from_str(s).map_err(|e| format!("not valid JSON: {e}")))
    {
        Ok(v) => v,
        Err(msg) => return fail(at, codes::INVALID_JSON, msg),
    };
    if opts.ninjs {
        return ninjs_record(at, &value, opts);
    }
    let Value::Object(map) = value else {
        return fail(
            at,
            codes::INVALID_JSON,
            "line is JSON but not an object".into(),
        );
    };
    let id = match map.get(&opts.id_field) {
        None | Some(Value::Null) => at.to_string(),
        Some(Value::String(s)) if !s.trim().is_empty() => s.clone(),
        Some(Value::Number(n)) => n.to_string(),
        Some(other) => {
            let msg = format!(
                "field {:?} must be a non-empty string or a number, not {other}",
                opts.id_field
            );
            return fail(at, codes::INVALID_ID, msg);
        }
    };
    let text = match map.get(&opts.text_field) {
        Some(Value::String(s)) => check_text(s.clone(), opts),
        Some(_) => Err(RecordError::new(
            codes::MISSING_TEXT,
            format!("field {:?} is not a string", opts.text_field),
        )),
        None => Err(RecordError::new(
            codes::MISSING_TEXT,
            format!("no field {:?} (see --text-field)", opts.text_field),
        )),
    };
    Record {
        id,
        source: at.to_string(),
        text,
        item: None,
    }
}

/// Rejects texts over the limit. A blank text is a record like any other: it gets an empty
/// result without a model call.
pub fn check_text(text: String, opts: &ReadOptions) -> Result<String, RecordError> {
    let chars = text.chars().count();
    if chars > opts.max_chars {
        return Err(RecordError::new(
            codes::TOO_LONG,
            format!(
                "the text has {chars} characters; the limit is {} (--max-chars)",
                opts.max_chars
            ),
        ));
    }
    Ok(text)
}

/// A ninjs item as a record: its `uri` is the id (`at` when it has none), its headline and body
/// the text.
fn ninjs_record(at: &str, value: &Value, opts: &ReadOptions) -> Record {
    let id = value
        .get("uri")
        .and_then(Value::as_str)
        .filter(|u| !u.trim().is_empty())
        .unwrap_or(at)
        .to_string();
    match read_item(value) {
        Ok(item) => Record {
            id,
            source: at.to_string(),
            text: check_text(item.plain_text(), opts),
            item: Some(Box::new(item)),
        },
        Err(e) => Record {
            id,
            source: at.to_string(),
            text: Err(RecordError::new(codes::INVALID_NINJS, e.to_string())),
            item: None,
        },
    }
}

/// The records of a `.json` file: one ninjs item, or a list of them (`file#<index>` is then
/// each one's source).
fn read_json_file(file: &InputFile, opts: &ReadOptions) -> Vec<Record> {
    let fail = |code, msg: String| {
        vec![Record {
            id: file.name.clone(),
            source: file.name.clone(),
            text: Err(RecordError::new(code, msg)),
            item: None,
        }]
    };
    let text = match read_checked(&file.path, opts) {
        Ok(t) => t,
        Err(e) => return fail(e.code, e.message),
    };
    match serde_json::from_str::<Value>(text.trim_start_matches('\u{feff}')) {
        Ok(Value::Array(items)) => items
            .iter()
            .enumerate()
            .map(|(i, v)| ninjs_record(&format!("{}#{i}", file.name), v, opts))
            .collect(),
        Ok(v) => vec![ninjs_record(&file.name, &v, opts)],
        Err(e) => fail(codes::INVALID_JSON, format!("not valid JSON: {e}")),
    }
}

fn read_text_file(file: &InputFile, opts: &ReadOptions) -> Record {
    let text = read_checked(&file.path, opts).and_then(|t| check_text(t, opts));
    Record {
        id: file.name.clone(),
        source: file.name.clone(),
        text,
        item: None,
    }
}

fn read_checked(path: &Path, opts: &ReadOptions) -> Result<String, RecordError> {
    let unreadable = |e: std::io::Error| {
        RecordError::new(
            codes::UNREADABLE,
            format!("cannot read {}: {e}", path.display()),
        )
    };
    let len = std::fs::metadata(path).map_err(unreadable)?.len();
    if len > (opts.max_chars as u64).saturating_mul(4) {
        return Err(RecordError::new(
            codes::TOO_LONG,
            format!(
                "the file has {len} bytes; the limit is {} characters (--max-chars)",
                opts.max_chars
            ),
        ));
    }
    let bytes = std::fs::read(path).map_err(unreadable)?;
    String::from_utf8(bytes).map_err(|e| {
        RecordError::new(
            codes::UNREADABLE,
            format!("{} is not UTF-8 text: {e}", path.display()),
        )
    })
}
