//! `copydesk batch merge`: the outputs of the shards of one run, checked to hold every record
//! exactly once (and, given the input, exactly the input's records), concatenated into one
//! JSONL file.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use crate::Error;

/// What a merge found and wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Merged {
    pub records: usize,
    pub parts: usize,
}

/// Shows at most a few ids of a list.
fn some(ids: &[String]) -> String {
    let shown: Vec<&str> = ids.iter().take(5).map(String::as_str).collect();
    let more = ids.len().saturating_sub(shown.len());
    match more {
        0 => shown.join(", "),
        _ => format!("{} and {more} more", shown.join(", ")),
    }
}

fn io(path: &Path, e: std::io::Error) -> Error {
    Error::Io {
        context: format!("cannot read {}", path.display()),
        source: e,
    }
}

/// The lines of one part and their ids; a torn last line (a shard still running, or killed and
/// not resumed) is an error.
fn read_part(path: &Path) -> Result<Vec<(String, String)>, Error> {
    let text = std::fs::read_to_string(path).map_err(|e| io(path, e))?;
    if !text.is_empty() && !text.ends_with('\n') {
        return Err(Error::invalid(
            "torn_part",
            format!(
                "{} ends in a torn line: finish that shard (--resume) before merging",
                path.display()
            ),
        ));
    }
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .enumerate()
        .map(|(i, line)| {
            let id = serde_json::from_str::<serde_json::Value>(line)
                .ok()
                .and_then(|v| v.get("id")?.as_str().map(str::to_string))
                .ok_or_else(|| {
                    Error::invalid(
                        "not_a_batch_output",
                        format!(
                            "{} line {}: not a copydesk batch line",
                            path.display(),
                            i + 1
                        ),
                    )
                })?;
            Ok((id, line.to_string()))
        })
        .collect()
}

/// Merges `parts` into `out`. With `expected` (the input's record ids), every one of them must
/// be in exactly one part and no other id may be; without, no id may appear twice. Nothing is
/// written unless the check passes.
pub fn merge(parts: &[PathBuf], expected: Option<&[String]>, out: &Path) -> Result<Merged, Error> {
    let mut seen: HashSet<String> = HashSet::new();
    let mut twice: Vec<String> = Vec::new();
    let mut lines: Vec<String> = Vec::new();
    for part in parts {
        for (id, line) in read_part(part)? {
            if !seen.insert(id.clone()) {
                twice.push(id);
            }
            lines.push(line);
        }
    }
    let mut problems: Vec<String> = Vec::new();
    if !twice.is_empty() {
        problems.push(format!("in more than one line: {}", some(&twice)));
    }
    if let Some(expected) = expected {
        let wanted: HashSet<&String> = expected.iter().collect();
        let missing: Vec<String> = expected
            .iter()
            .filter(|id| !seen.contains(*id))
            .cloned()
            .collect();
        let extra: Vec<String> = seen
            .iter()
            .filter(|id| !wanted.contains(id))
            .cloned()
            .collect();
        if !missing.is_empty() {
            problems.push(format!(
                "{} input records in no part: {}",
                missing.len(),
                some(&missing)
            ));
        }
        if !extra.is_empty() {
            problems.push(format!(
                "{} ids not in the input: {}",
                extra.len(),
                some(&extra)
            ));
        }
    }
    if !problems.is_empty() {
        return Err(Error::invalid(
            "shards_mismatch",
            format!(
                "the parts do not hold every record exactly once: {}",
                problems.join("; ")
            ),
        ));
    }
    let tmp = out.with_extension("merging");
    let mut body = lines.join("\n");
    if !body.is_empty() {
        body.push('\n');
    }
    let write = |e: std::io::Error| Error::Io {
        context: format!("cannot write {}", out.display()),
        source: e,
    };
    std::fs::write(&tmp, body).map_err(write)?;
    std::fs::rename(&tmp, out).map_err(write)?;
    Ok(Merged {
        records: lines.len(),
        parts: parts.len(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn part(dir: &Path, name: &str, ids: &[&str], torn: bool) -> PathBuf {
        let path = dir.join(name);
        let mut text: String = ids
            .iter()
            .map(|id| format!("{{\"id\":\"{id}\",\"result\":{{}}}}\n"))
            .collect();
        if torn {
            text.push_str("{\"id\":\"half");
        }
        std::fs::write(&path, text).unwrap();
        path
    }

    #[test]
    fn exactly_once_or_nothing_written() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("all.jsonl");
        let a = part(dir.path(), "a", &["r1", "r3"], false);
        let b = part(dir.path(), "b", &["r2"], false);
        let expected: Vec<String> = ["r1", "r2", "r3"].map(String::from).into();
        let done = merge(&[a.clone(), b.clone()], Some(&expected), &out).unwrap();
        assert_eq!(
            done,
            Merged {
                records: 3,
                parts: 2
            }
        );
        assert_eq!(std::fs::read_to_string(&out).unwrap().lines().count(), 3);
        std::fs::remove_file(&out).unwrap();
        let twice = part(dir.path(), "c", &["r2"], false);
        let e = merge(&[a.clone(), b.clone(), twice], Some(&expected), &out).unwrap_err();
        assert!(e.to_string().contains("more than one line: r2"), "{e}");
        let short: Vec<String> = ["r1", "r2", "r3", "r4"].map(String::from).into();
        let e = merge(&[a.clone(), b.clone()], Some(&short), &out).unwrap_err();
        assert!(e.to_string().contains("in no part: r4"), "{e}");
        let torn = part(dir.path(), "d", &["r2"], true);
        assert_eq!(
            merge(&[a, torn], None, &out).unwrap_err().kind(),
            "torn_part"
        );
        assert!(!out.exists(), "nothing written on a failed check");
    }
}
