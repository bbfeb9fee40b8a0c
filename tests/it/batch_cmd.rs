//! `copydesk batch` end to end on the fixture models: directories and JSONL, bad records, exit
//! codes, resume after SIGKILL (every id exactly once), torn lines, Ctrl-C, markdown output.

use std::collections::HashMap;
use std::io::Write;
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::common::{fixtures, model_dir};

/// `copydesk batch` with the fixture models, offline, short outputs.
fn batch_cmd(args: &[&str]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_copydesk"));
    cmd.arg("batch")
        .args(args)
        .arg("--translator")
        .arg(model_dir("marian-tied"))
        .arg("--summarizer")
        .arg(model_dir("t5-tied-relu"))
        .args(["--max-new-tokens", "4"])
        .env("HF_HUB_OFFLINE", "1")
        .env_remove("RUST_BACKTRACE")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    cmd
}

fn run(args: &[&str]) -> Output {
    batch_cmd(args).output().unwrap()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Every line of `path`, each of which must be a whole JSON object.
fn read_lines(path: &Path) -> Vec<Value> {
    let text = std::fs::read_to_string(path).unwrap();
    assert!(text.is_empty() || text.ends_with('\n'), "torn last line");
    text.lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect()
}

/// id → line; panics if an id appears twice.
fn by_id(lines: &[Value]) -> HashMap<String, Value> {
    let mut out = HashMap::new();
    for l in lines {
        let id = l["id"].as_str().unwrap().to_string();
        assert!(out.insert(id.clone(), l.clone()).is_none(), "{id} twice");
    }
    out
}

fn error_code(line: &Value) -> Option<&str> {
    line["error"]["code"].as_str()
}

/// `n` short Dutch records `r0..r{n-1}`.
fn write_records(path: &Path, n: usize) {
    let mut f = std::fs::File::create(path).unwrap();
    for i in 0..n {
        let text = format!("Het kabinet heeft vandaag {i} nieuwe maatregelen aangekondigd.");
        writeln!(
            f,
            "{}",
            serde_json::json!({"id": format!("r{i}"), "text": text})
        )
        .unwrap();
    }
}

fn line_count(path: &Path) -> usize {
    std::fs::read(path)
        .map(|b| b.iter().filter(|&&c| c == b'\n').count())
        .unwrap_or(0)
}

/// Waits until `path` has at least `n` lines (or the child ended); panics after 60 s.
fn wait_for_lines(child: &mut Child, path: &Path, n: usize) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while line_count(path) < n {
        if child.try_wait().unwrap().is_some() {
            return;
        }
        assert!(Instant::now() < deadline, "no progress in 60 s");
        std::thread::sleep(Duration::from_millis(2));
    }
}

#[test]
fn directories_and_jsonl_with_bad_records_mixed_in() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in");
    std::fs::create_dir_all(input.join("sub")).unwrap();
    for name in ["kabinet-stikstof.txt", "zorgpremie.txt"] {
        std::fs::copy(fixtures().join("samples").join(name), input.join(name)).unwrap();
    }
    std::fs::write(input.join("sub/empty.txt"), "  \n").unwrap();
    std::fs::write(input.join("sub/ignored.md"), "not an input").unwrap();
    std::fs::write(
        input.join("sub/feed.jsonl"),
        "{\"id\":\"a\",\"text\":\"Goedemorgen.\"}\nnot json\n{\"body\":\"geen tekst\"}\n{\"id\":\"a\",\"text\":\"Dubbel.\"}\n\n{\"text\":\"Zonder id.\"}\n",
    )
    .unwrap();
    let out_path = dir.path().join("out.jsonl");
    let out = run(&[input.to_str().unwrap(), "-o", out_path.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    let lines = by_id(&read_lines(&out_path));
    let mut ids: Vec<&str> = lines.keys().map(String::as_str).collect();
    ids.sort();
    assert_eq!(
        ids,
        [
            "a",
            "a#2",
            "kabinet-stikstof.txt",
            "sub/empty.txt",
            "sub/feed.jsonl:2",
            "sub/feed.jsonl:3",
            "sub/feed.jsonl:6",
            "zorgpremie.txt"
        ]
    );
    let codes: Vec<(&str, Option<&str>)> = [
        "a",
        "a#2",
        "sub/empty.txt",
        "sub/feed.jsonl:2",
        "sub/feed.jsonl:3",
        "sub/feed.jsonl:6",
    ]
    .iter()
    .map(|id| (*id, error_code(&lines[*id])))
    .collect();
    assert_eq!(
        codes,
        [
            ("a", None),
            ("a#2", Some("duplicate_id")),
            ("sub/empty.txt", None),
            ("sub/feed.jsonl:2", Some("invalid_json")),
            ("sub/feed.jsonl:3", Some("missing_text")),
            ("sub/feed.jsonl:6", None),
        ]
    );
    let article = &lines["kabinet-stikstof.txt"];
    assert_eq!(article["task"], "article");
    assert_eq!(article["source"], "kabinet-stikstof.txt");
    assert!(
        article["error"].is_null() && article["result"]["blocks"].as_array().unwrap().len() > 1
    );
    assert!(article["result"]["summary"].is_string(), "{article}");
    assert_eq!(article["result"]["dateline"]["place"], "DEN HAAG");
    assert!(article["timings"]["total_ms"].as_f64().unwrap() > 0.0);
    assert!(lines["sub/feed.jsonl:2"]["result"].is_null());
    let err = stderr(&out);
    assert!(err.contains("5 ok, 3 failed"), "{err}");
    assert!(
        err.contains("1 duplicate_id, 1 invalid_json, 1 missing_text"),
        "{err}"
    );
    // A blank record is an empty article, not an error.
    let empty = &lines["sub/empty.txt"]["result"];
    assert_eq!(empty["blocks"].as_array().map(Vec::len), Some(0), "{empty}");
    assert_eq!(empty["summary"], "", "{empty}");
}

#[test]
fn jsonl_on_stdin_translated_with_exit_0_and_model_errors_per_record() {
    let dir = tempfile::tempdir().unwrap();
    let out_path = dir.path().join("t.jsonl");
    let long = vec!["woord"; 300].join(" ");
    let input = "{\"id\":\"1\",\"text\":\"Het kabinet valt.\\n\\nDe Kamer debatteert.\"}\n{\"text\":\"Goedemorgen.\"}\n";
    let mut cmd = batch_cmd(&["-", "--task", "translate", "-o", out_path.to_str().unwrap()]);
    let mut child = cmd.stdin(Stdio::piped()).spawn().unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let lines = by_id(&read_lines(&out_path));
    assert_eq!(lines.len(), 2);
    let first = &lines["1"];
    assert_eq!(
        (first["task"].as_str(), first["source"].as_str()),
        (Some("translate"), Some("stdin:1"))
    );
    let translation = first["result"]["translation"].as_str().unwrap();
    assert_eq!(
        translation.matches("\n\n").count(),
        1,
        "paragraphs kept: {translation:?}"
    );
    assert!(!first["result"]["token_ids"].as_array().unwrap().is_empty());
    assert!(lines["stdin:2"]["result"]["translation"].is_string());

    // A sentence over the model's 128 positions is translated in pieces that fit, not failed.
    let out_path = dir.path().join("t2.jsonl");
    let input = format!(
        "{{\"id\":\"long\",\"text\":\"{long}\"}}\n{{\"id\":\"ok\",\"text\":\"Goedemorgen.\"}}\n"
    );
    let mut child = batch_cmd(&["-", "--task", "translate", "-o", out_path.to_str().unwrap()])
        .stdin(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let lines = by_id(&read_lines(&out_path));
    assert!(lines["long"]["error"].is_null(), "{}", lines["long"]);
    let ids = lines["long"]["result"]["token_ids"].as_array().unwrap();
    assert!(ids.len() > 4, "more than one piece of 4 new tokens");
    assert!(lines["ok"]["error"].is_null());
}

#[test]
fn an_existing_output_needs_resume_or_overwrite() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in.jsonl");
    write_records(&input, 3);
    let out_path = dir.path().join("out.jsonl");
    std::fs::write(&out_path, "keep me\n").unwrap();
    let args = [
        input.to_str().unwrap(),
        "--task",
        "summarize",
        "-o",
        out_path.to_str().unwrap(),
    ];
    let out = run(&args);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("--resume"), "{}", stderr(&out));
    assert_eq!(std::fs::read_to_string(&out_path).unwrap(), "keep me\n");
    let out = run(&[&args[..], &["--resume"]].concat());
    assert_eq!(out.status.code(), Some(2), "not batch output: refused");
    assert!(stderr(&out).contains("line 1"), "{}", stderr(&out));
    let out = run(&[&args[..], &["--overwrite"]].concat());
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let lines = by_id(&read_lines(&out_path));
    assert_eq!(lines.len(), 3);
    assert!(lines["r0"]["result"]["summary"].is_string());
    let out = run(&[&args[..], &["--resume", "--overwrite"]].concat());
    assert_eq!(out.status.code(), Some(2), "conflicting flags");
}

#[test]
fn sigkill_then_resume_gives_every_id_exactly_once() {
    const N: usize = 400;
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in.jsonl");
    write_records(&input, N);
    let out_path = dir.path().join("out.jsonl");
    let args = [
        input.to_str().unwrap(),
        "--task",
        "translate",
        "--jobs",
        "2",
        "-o",
        out_path.to_str().unwrap(),
    ];
    let mut first = batch_cmd(&args).spawn().unwrap();
    wait_for_lines(&mut first, &out_path, 40);
    first.kill().unwrap();
    first.wait().unwrap();
    let after_kill = line_count(&out_path);
    assert!(after_kill < N, "killed mid-run ({after_kill} lines)");
    // A write cut short by a crash.
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .open(&out_path)
        .unwrap();
    f.write_all(b"{\"id\":\"r399\",\"source\":\"in.js").unwrap();
    drop(f);

    let resume_args = [&args[..], &["--resume"]].concat();
    let mut second = batch_cmd(&resume_args).spawn().unwrap();
    wait_for_lines(&mut second, &out_path, after_kill + 40);
    second.kill().unwrap();
    let second = second.wait_with_output().unwrap();
    assert!(
        stderr(&second).contains("torn last line"),
        "{}",
        stderr(&second)
    );
    assert!(line_count(&out_path) < N, "killed mid-run again");

    let third = run(&resume_args);
    assert_eq!(third.status.code(), Some(0), "{}", stderr(&third));
    let lines = by_id(&read_lines(&out_path));
    let expected: std::collections::HashSet<String> = (0..N).map(|i| format!("r{i}")).collect();
    assert_eq!(
        lines
            .keys()
            .cloned()
            .collect::<std::collections::HashSet<_>>(),
        expected
    );
    assert!(lines.values().all(|l| l["error"].is_null()));
    let err = stderr(&third);
    assert!(err.contains("skipped"), "{err}");
}

#[test]
fn ctrl_c_finishes_the_records_in_flight_and_exits_130() {
    const N: usize = 400;
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in.jsonl");
    write_records(&input, N);
    let out_path = dir.path().join("out.jsonl");
    let args = [
        input.to_str().unwrap(),
        "--task",
        "translate",
        "--jobs",
        "2",
        "-o",
        out_path.to_str().unwrap(),
    ];
    let mut child = batch_cmd(&args).spawn().unwrap();
    wait_for_lines(&mut child, &out_path, 20);
    // SAFETY: kill(2) takes no pointers, so it cannot touch our memory; the pid is our own
    // child's, not yet waited for, so it cannot have been reused for another process.
    assert_eq!(unsafe { libc::kill(child.id() as i32, libc::SIGINT) }, 0);
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(130), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains("interrupted") && err.contains("--resume"),
        "{err}"
    );
    let done = by_id(&read_lines(&out_path)).len();
    assert!((20..N).contains(&done), "{done} lines");

    let out = run(&[&args[..], &["--resume"]].concat());
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(by_id(&read_lines(&out_path)).len(), N);
}

#[test]
fn markdown_output_has_one_file_per_article() {
    let dir = tempfile::tempdir().unwrap();
    let samples = fixtures().join("samples");
    let out_dir = dir.path().join("md");
    let args = [
        samples.to_str().unwrap(),
        "--format",
        "markdown",
        "-o",
        out_dir.to_str().unwrap(),
    ];
    let out = run(&args);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    for name in ["kabinet-stikstof.md", "zorgpremie.md"] {
        let md = std::fs::read_to_string(out_dir.join(name)).unwrap();
        assert!(md.starts_with("# "), "{md}");
        assert!(md.contains("## Summary"), "{md}");
    }
    let index = by_id(&read_lines(&out_dir.join("index.jsonl")));
    assert_eq!(index["zorgpremie.txt"]["result"]["file"], "zorgpremie.md");

    let again = run(&args);
    assert_eq!(
        again.status.code(),
        Some(2),
        "a non-empty directory is not overwritten"
    );
    let resumed = run(&[&args[..], &["--resume"]].concat());
    assert_eq!(resumed.status.code(), Some(0));
    assert!(
        stderr(&resumed).contains("0 ok, 0 failed, 2 skipped"),
        "{}",
        stderr(&resumed)
    );
    assert_eq!(read_lines(&out_dir.join("index.jsonl")).len(), 2);
}

#[test]
fn retry_errors_redoes_failed_records_once() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in");
    std::fs::create_dir_all(&input).unwrap();
    std::fs::write(input.join("a.txt"), "Het kabinet valt.").unwrap();
    std::fs::write(input.join("b.txt"), b"caf\xe9").unwrap(); // not UTF-8: unreadable
    let out_path = dir.path().join("out.jsonl");
    let args = [
        input.to_str().unwrap(),
        "--task",
        "translate",
        "-o",
        out_path.to_str().unwrap(),
    ];
    assert_eq!(run(&args).status.code(), Some(3));
    std::fs::write(input.join("b.txt"), "De Kamer debatteert.").unwrap();
    let out = run(&[&args[..], &["--resume"]].concat());
    assert_eq!(out.status.code(), Some(3), "the error line is kept");
    let out = run(&[&args[..], &["--resume", "--retry-errors"]].concat());
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let lines = by_id(&read_lines(&out_path));
    assert_eq!(lines.len(), 2);
    assert!(lines["b.txt"]["result"]["translation"].is_string());
}

#[test]
fn bart_summarizes_a_batch_with_transformers_ids() {
    // The golden case run with bart-tiny's own generation defaults: no decoding flags here.
    let golden = crate::common::golden("bart-tiny");
    let case = golden.case(crate::common::MODEL_DEFAULTS_CASE);
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in.jsonl");
    let records: Vec<String> = case
        .texts
        .iter()
        .enumerate()
        .map(|(i, t)| serde_json::json!({"id": format!("s{i}"), "text": t}).to_string() + "\n")
        .collect();
    std::fs::write(&input, records.concat()).unwrap();
    let out_path = dir.path().join("out.jsonl");
    let out = Command::new(env!("CARGO_BIN_EXE_copydesk"))
        .args(["batch", input.to_str().unwrap(), "--task", "summarize"])
        .arg("--summarizer")
        .arg(model_dir("bart-tiny"))
        .arg("-o")
        .arg(&out_path)
        .env("HF_HUB_OFFLINE", "1")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let lines = by_id(&read_lines(&out_path));
    for (i, seq) in case.sequences.iter().enumerate() {
        let got = &lines[&format!("s{i}")]["result"];
        let want = crate::common::golden_ids(seq, 2);
        assert_eq!(crate::common::token_ids(got), want, "record s{i}");
        assert!(!got["summary"].as_str().unwrap().is_empty());
    }
}

fn refs(a: &[String]) -> Vec<&str> {
    a.iter().map(String::as_str).collect()
}

#[test]
fn three_shards_one_killed_and_resumed_then_merged_hold_every_id_once() {
    const N: usize = 240;
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in.jsonl");
    write_records(&input, N);
    let part = |k: usize| dir.path().join(format!("part-{k}.jsonl"));
    let args = |k: usize| -> Vec<String> {
        let mut a: Vec<String> = [
            input.to_str().unwrap(),
            "--task",
            "translate",
            "--jobs",
            "2",
        ]
        .map(String::from)
        .into();
        a.extend(["-o".into(), part(k).to_string_lossy().into_owned()]);
        a
    };
    // Shard 1 takes K from JOB_COMPLETION_INDEX, as a Kubernetes Indexed Job sets it.
    let mut children: Vec<Child> = (0..3)
        .map(|k| {
            let mut a = args(k);
            let shard = if k == 1 {
                "/3".to_string()
            } else {
                format!("{k}/3")
            };
            a.extend(["--shard".into(), shard]);
            let mut cmd = batch_cmd(&refs(&a));
            if k == 1 {
                cmd.env("JOB_COMPLETION_INDEX", "1");
            }
            cmd.spawn().unwrap()
        })
        .collect();
    // Shard 2 is killed mid-run, then resumed.
    wait_for_lines(&mut children[2], &part(2), 10);
    children[2].kill().unwrap();
    children[2].wait().unwrap();
    let killed_at = line_count(&part(2));
    for c in children.iter_mut().take(2) {
        let status = c.wait().unwrap();
        assert_eq!(status.code(), Some(0));
    }
    let mut again = args(2);
    again.extend(["--shard".into(), "2/3".into(), "--resume".into()]);
    let resumed = run(&refs(&again));
    assert_eq!(resumed.status.code(), Some(0), "{}", stderr(&resumed));
    assert!(
        stderr(&resumed).contains("shard 2/3"),
        "{}",
        stderr(&resumed)
    );
    // Each shard holds only its own ids, and the three are disjoint and complete.
    let mut all = Vec::new();
    for k in 0..3 {
        let lines = read_lines(&part(k));
        assert!(
            !lines.is_empty() && lines.len() < N,
            "shard {k}: {}",
            lines.len()
        );
        all.extend(lines);
    }
    assert!(killed_at <= line_count(&part(2)));
    let ids = by_id(&all);
    assert_eq!(ids.len(), N);
    let merged = dir.path().join("all.jsonl");
    let out = Command::new(env!("CARGO_BIN_EXE_copydesk"))
        .args(["batch", "merge"])
        .args((0..3).map(part))
        .arg("--input")
        .arg(&input)
        .arg("-o")
        .arg(&merged)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(by_id(&read_lines(&merged)).len(), N);
    // A missing part is caught, and nothing is written.
    let short = dir.path().join("short.jsonl");
    let out = Command::new(env!("CARGO_BIN_EXE_copydesk"))
        .args(["batch", "merge"])
        .args([part(0), part(1)])
        .arg("--input")
        .arg(&input)
        .arg("-o")
        .arg(&short)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("in no part"), "{}", stderr(&out));
    assert!(!short.exists());
}
