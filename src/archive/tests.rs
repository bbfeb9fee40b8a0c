//! Unit tests for input walking, record parsing and the output log.

use std::collections::HashSet;
use std::fs;
use std::io::Cursor;
use std::path::{Path, PathBuf};

use super::inputs::{count_records, parse_line};
use super::*;
use inputs::InputKind;

fn opts() -> ReadOptions {
    ReadOptions::default()
}

fn write(root: &Path, rel: &str, contents: &[u8]) {
    let p = root.join(rel);
    fs::create_dir_all(p.parent().unwrap()).unwrap();
    fs::write(p, contents).unwrap();
}

fn error_code(r: &Record) -> Option<&'static str> {
    r.text.as_ref().err().map(|e| e.code)
}

#[test]
fn directories_are_walked_recursively_in_sorted_order() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    for rel in [
        "b.txt",
        "a/z.txt",
        "a/b/c.jsonl",
        "A.txt",
        "notes.md",
        ".hidden.txt",
        ".git/x.txt",
    ] {
        write(root, rel, b"Tekst.");
    }
    let files = plan_inputs(&[root.to_path_buf()], false).unwrap();
    let names: Vec<&str> = files.iter().map(|f| f.name.as_str()).collect();
    assert_eq!(names, ["A.txt", "a/b/c.jsonl", "a/z.txt", "b.txt"]);
    assert_eq!(files[1].kind, InputKind::Jsonl);
    assert_eq!(files[0].kind, InputKind::Text);
    // The same inputs give the same plan.
    assert_eq!(plan_inputs(&[root.to_path_buf()], false).unwrap(), files);
}

#[test]
fn file_arguments_keep_their_path_and_stdin_is_once() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "x.jsonl", b"{}\n");
    write(dir.path(), "y.article", b"Tekst.");
    let x = dir.path().join("x.jsonl");
    let y = dir.path().join("y.article");
    let files = plan_inputs(&[x.clone(), y.clone(), PathBuf::from("-")], false).unwrap();
    assert_eq!(files[0].name, x.to_string_lossy());
    assert_eq!(files[0].kind, InputKind::Jsonl);
    assert_eq!(
        files[1].kind,
        InputKind::Text,
        "any other file is one article"
    );
    assert_eq!(files[2].kind, InputKind::Stdin);
    let twice = plan_inputs(&[PathBuf::from("-"), PathBuf::from("-")], false).unwrap_err();
    assert_eq!(twice.kind(), "usage");
    let missing = plan_inputs(&[dir.path().join("nope.txt")], false).unwrap_err();
    assert_eq!((missing.kind(), missing.exit_code()), ("usage", 2));
    assert_eq!(plan_inputs(&[], false).unwrap_err().kind(), "usage");
}

#[test]
fn records_are_counted_without_blank_lines() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "a.jsonl",
        b"{\"text\":\"a\"}\n\n  \n{\"text\":\"b\"}\nbad",
    );
    write(dir.path(), "b.txt", b"Tekst.");
    let files = plan_inputs(&[dir.path().to_path_buf()], false).unwrap();
    assert_eq!(count_records(&files), Some(4));
    let mut with_stdin = files.clone();
    with_stdin.extend(plan_inputs(&[PathBuf::from("-")], false).unwrap());
    assert_eq!(count_records(&with_stdin), None);
}

#[test]
fn jsonl_ids_come_from_the_id_field_or_the_line() {
    let r = parse_line("a.jsonl:3", br#"{"id":"nl-1","text":"Hallo."}"#, &opts());
    assert_eq!((r.id.as_str(), r.text.as_deref()), ("nl-1", Ok("Hallo.")));
    assert_eq!(r.source, "a.jsonl:3");
    let r = parse_line("a.jsonl:3", br#"{"id":17,"text":"Hallo."}"#, &opts());
    assert_eq!(r.id, "17");
    for line in [
        &br#"{"text":"Hallo."}"#[..],
        br#"{"id":null,"text":"Hallo."}"#,
    ] {
        let r = parse_line("a.jsonl:3", line, &opts());
        assert_eq!(r.id, "a.jsonl:3");
        assert!(r.text.is_ok());
    }
    for bad in [
        &br#"{"id":"","text":"x"}"#[..],
        br#"{"id":[1],"text":"x"}"#,
        br#"{"id":true,"text":"x"}"#,
    ] {
        let r = parse_line("a.jsonl:3", bad, &opts());
        assert_eq!(
            (r.id.as_str(), error_code(&r)),
            ("a.jsonl:3", Some(codes::INVALID_ID))
        );
    }
    let custom = ReadOptions {
        id_field: "guid".into(),
        text_field: "body".into(),
        ..opts()
    };
    let r = parse_line(
        "s:1",
        br#"{"guid":"g","body":"Tekst.","id":"other"}"#,
        &custom,
    );
    assert_eq!((r.id.as_str(), r.text.as_deref()), ("g", Ok("Tekst.")));
}

#[test]
fn bad_lines_become_error_records() {
    let cases: [(&[u8], &str); 6] = [
        (b"not json", codes::INVALID_JSON),
        (b"[1,2]", codes::INVALID_JSON),
        (b"{\"text\":\"caf\xe9\"}", codes::INVALID_JSON),
        (br#"{"id":"a"}"#, codes::MISSING_TEXT),
        (br#"{"id":"a","text":42}"#, codes::MISSING_TEXT),
        (br#"{"id":"a","text":"abcdefghijk"}"#, codes::TOO_LONG),
    ];
    let small = ReadOptions {
        max_chars: 10,
        ..opts()
    };
    for (line, code) in cases {
        let r = parse_line("f:9", line, &small);
        assert_eq!(
            error_code(&r),
            Some(code),
            "{}",
            String::from_utf8_lossy(line)
        );
        assert!(!r.text.unwrap_err().message.is_empty());
    }
    // A blank text is a record like any other (an empty result, no model call).
    assert_eq!(
        parse_line("f:2", br#"{"id":"a","text":"  \n "}"#, &small)
            .text
            .as_deref(),
        Ok("  \n ")
    );
    // The limit counts characters, not bytes.
    let r = parse_line("f:1", "{\"text\":\"éééééééééé\"}".as_bytes(), &small);
    assert!(r.text.is_ok());
}

#[test]
fn reader_streams_all_inputs_in_order_with_unique_ids() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    write(root, "a.txt", "Het kabinet valt.\n".as_bytes());
    write(root, "b.jsonl", b"{\"id\":\"x\",\"text\":\"een\"}\n\n{\"id\":\"x\",\"text\":\"twee\"}\n{\"id\":\"x#2\",\"text\":\"drie\"}\nkapot\n");
    write(root, "c/empty.txt", b"");
    write(root, "c/latin1.txt", b"caf\xe9");
    let mut files = plan_inputs(&[root.to_path_buf()], false).unwrap();
    files.extend(plan_inputs(&[PathBuf::from("-")], false).unwrap());
    let stdin = Cursor::new(b"{\"text\":\"van stdin\"}\n{\"id\":\"x\",\"text\":\"vier\"}".to_vec());
    let records: Vec<Record> = RecordReader::new(files, opts())
        .with_stdin(Box::new(stdin))
        .collect();
    let got: Vec<(&str, &str, Option<&str>)> = records
        .iter()
        .map(|r| (r.id.as_str(), r.source.as_str(), error_code(r)))
        .collect();
    assert_eq!(
        got,
        [
            ("a.txt", "a.txt", None),
            ("x", "b.jsonl:1", None),
            ("x#2", "b.jsonl:3", Some(codes::DUPLICATE_ID)),
            ("x#2#2", "b.jsonl:4", Some(codes::DUPLICATE_ID)),
            ("b.jsonl:5", "b.jsonl:5", Some(codes::INVALID_JSON)),
            ("c/empty.txt", "c/empty.txt", None),
            ("c/latin1.txt", "c/latin1.txt", Some(codes::UNREADABLE)),
            ("stdin:1", "stdin:1", None),
            ("x#3", "stdin:2", Some(codes::DUPLICATE_ID)),
        ]
    );
    assert_eq!(records[0].text.as_deref(), Ok("Het kabinet valt.\n"));
    let ids: HashSet<&str> = records.iter().map(|r| r.id.as_str()).collect();
    assert_eq!(ids.len(), records.len(), "ids are unique");
}

#[test]
fn an_overlong_line_is_skipped_without_reading_it_whole() {
    let small = ReadOptions {
        max_chars: 10,
        ..opts()
    };
    let mut data = b"{\"text\":\"".to_vec();
    data.extend(std::iter::repeat_n(b'a', 200_000));
    data.extend(b"\"}\n{\"id\":\"next\",\"text\":\"kort\"}\n");
    let files = plan_inputs(&[PathBuf::from("-")], false).unwrap();
    let records: Vec<Record> = RecordReader::new(files, small)
        .with_stdin(Box::new(Cursor::new(data)))
        .collect();
    assert_eq!(records.len(), 2);
    assert_eq!(error_code(&records[0]), Some(codes::TOO_LONG));
    assert_eq!(records[1].id, "next");
    assert_eq!(records[1].text.as_deref(), Ok("kort"));
}

fn line(id: &str, error: Option<&str>) -> OutputLine {
    OutputLine {
        id: id.into(),
        source: format!("{id}.txt"),
        task: "translate".into(),
        result: error
            .is_none()
            .then(|| serde_json::json!({"translation": "x"})),
        error: error.map(|c| LineError {
            code: c.into(),
            message: "m".into(),
        }),
        timings: LineTimings::default(),
    }
}

#[test]
fn a_new_output_is_never_overwritten_by_accident() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("out.jsonl");
    let (mut log, state) = OutputLog::open(&path, OpenMode::New).unwrap();
    assert_eq!(state, ResumeState::default());
    log.append(&line("a", None)).unwrap();
    drop(log);
    let err = OutputLog::open(&path, OpenMode::New).err().unwrap();
    assert_eq!((err.kind(), err.exit_code()), ("output_exists", 2));
    let (_, state) = OutputLog::open(&path, OpenMode::Overwrite).unwrap();
    assert!(state.done.is_empty());
    assert_eq!(fs::read(&path).unwrap(), b"");
}

#[test]
fn resume_cuts_a_torn_line_and_knows_what_is_done() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("out.jsonl");
    let (mut log, _) = OutputLog::open(&path, OpenMode::New).unwrap();
    log.append(&line("a", None)).unwrap();
    log.append(&line("b", Some("empty_text"))).unwrap();
    drop(log);
    let whole = fs::read(&path).unwrap();
    let mut torn = whole.clone();
    torn.extend_from_slice(br#"{"id":"c","source":"c.t"#);
    fs::write(&path, &torn).unwrap();

    let mode = OpenMode::Resume {
        retry_errors: false,
    };
    let (mut log, state) = OutputLog::open(&path, mode).unwrap();
    assert_eq!(state.torn_bytes, (torn.len() - whole.len()) as u64);
    assert_eq!((state.ok, state.failed), (1, 1));
    assert_eq!(
        state.done,
        HashSet::from(["a".to_string(), "b".to_string()])
    );
    assert_eq!(fs::read(&path).unwrap(), whole, "the torn line is cut off");
    log.append(&line("c", None)).unwrap();
    drop(log);
    let text = fs::read_to_string(&path).unwrap();
    let ids: Vec<String> = text
        .lines()
        .map(|l| serde_json::from_str::<OutputLine>(l).unwrap().id)
        .collect();
    assert_eq!(ids, ["a", "b", "c"]);
}

#[test]
fn retry_errors_removes_error_lines_to_redo_them() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("out.jsonl");
    let (mut log, _) = OutputLog::open(&path, OpenMode::New).unwrap();
    for (id, e) in [("a", None), ("b", Some("model_error")), ("c", None)] {
        log.append(&line(id, e)).unwrap();
    }
    drop(log);
    let mode = OpenMode::Resume { retry_errors: true };
    let (mut log, state) = OutputLog::open(&path, mode).unwrap();
    assert_eq!((state.retried, state.failed, state.ok), (1, 0, 2));
    assert!(!state.done.contains("b"));
    log.append(&line("b", None)).unwrap();
    drop(log);
    let lines: Vec<OutputLine> = fs::read_to_string(&path)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let ids: Vec<&str> = lines.iter().map(|l| l.id.as_str()).collect();
    assert_eq!(ids, ["a", "c", "b"]);
    assert!(lines.iter().all(|l| l.error.is_none()));
}

#[test]
fn resume_refuses_a_file_that_is_not_batch_output() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("notes.txt");
    fs::write(&path, "{\"id\":\"a\"}\nhello world\n").unwrap();
    let mode = OpenMode::Resume {
        retry_errors: false,
    };
    let e = OutputLog::open(&path, mode).err().unwrap();
    assert_eq!(e.kind(), "invalid_output");
    assert!(e.to_string().contains("line 2"), "{e}");
}

#[cfg(unix)]
#[test]
fn two_runs_cannot_append_to_one_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("out.jsonl");
    let (_log, _) = OutputLog::open(&path, OpenMode::New).unwrap();
    let mode = OpenMode::Resume {
        retry_errors: false,
    };
    let e = OutputLog::open(&path, mode).err().unwrap();
    assert_eq!(e.kind(), "output_locked");
}

#[test]
fn markdown_names_are_clean_stable_and_unique() {
    let none = HashSet::new();
    assert_eq!(
        markdown_name("2024/01/kabinet.txt", &none),
        "2024/01/kabinet.md"
    );
    assert_eq!(markdown_name("nl-123", &none), "nl-123.md");
    let odd = markdown_name("../etc/passwd x", &none);
    assert!(
        odd.starts_with("_./etc/passwd_x-") && odd.ends_with(".md"),
        "{odd}"
    );
    assert!(!odd.split('/').any(|c| c == ".." || c.is_empty()));
    assert_eq!(markdown_name("../etc/passwd x", &none), odd, "stable");
    assert_eq!(markdown_name("a_b", &none), "a_b.md");
    assert_ne!(markdown_name("a b", &none), "a_b.md");
    let taken = HashSet::from(["kabinet.md".to_string()]);
    let second = markdown_name("kabinet", &taken);
    assert!(
        second.starts_with("kabinet-") && second != "kabinet.md",
        "{second}"
    );
    assert!(!markdown_name("/abs", &none).starts_with('/'));
}

#[test]
fn markdown_files_are_written_whole_into_subdirectories() {
    let dir = tempfile::tempdir().unwrap();
    write_markdown(dir.path(), "a/b.md", "# Kop\n").unwrap();
    assert_eq!(
        fs::read_to_string(dir.path().join("a/b.md")).unwrap(),
        "# Kop\n"
    );
    let leftovers: Vec<_> = fs::read_dir(dir.path().join("a")).unwrap().collect();
    assert_eq!(leftovers.len(), 1, "no temporary file left behind");
}
