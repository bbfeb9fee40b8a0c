use std::sync::Arc;

use super::store::{GlossaryStore, HouseFile};
use super::*;

fn entry(source: &str, target: &str) -> Entry {
    Entry {
        source: source.into(),
        target: target.into(),
        case_sensitive: false,
        partial: false,
    }
}

fn glossary(lang: &str, entries: Vec<Entry>) -> Arc<Glossary> {
    Arc::new(Glossary {
        id: format!("g-{lang}"),
        name: "test".into(),
        source_lang: lang.into(),
        target_lang: "en".into(),
        created: 0,
        entries,
    })
}

#[test]
fn tsv_with_header_comments_and_flags() {
    let text = "source\ttarget\n# house style\nTweede Kamer\tHouse of Representatives\n\n\
                De Wever\tDe Wever\tcase\nstikstof\tnitrogen\tpartial, nocase\r\n";
    let got = parse_entries(text, Format::Tsv).unwrap();
    assert_eq!(got.len(), 3);
    assert_eq!(got[0], entry("Tweede Kamer", "House of Representatives"));
    assert!(got[1].case_sensitive && !got[1].partial);
    assert!(got[2].partial && !got[2].case_sensitive);
}

#[test]
fn csv_quotes_and_deepl_language_columns() {
    let text =
        "\"Tweede Kamer\",\"House of Representatives\",nl,en\n\"A, \"\"B\"\"\",C\nX,Y,case\n";
    let got = parse_entries(text, Format::Csv).unwrap();
    assert_eq!(got[0], entry("Tweede Kamer", "House of Representatives"));
    assert_eq!(got[1].source, "A, \"B\"");
    assert!(got[2].case_sensitive);
}

#[test]
fn malformed_lines_are_errors_with_their_line() {
    let e = parse_entries("a\tb\nonly one\n", Format::Tsv).unwrap_err();
    assert_eq!(e.line, 2);
    let e = parse_entries("a\tb\na\tc\n", Format::Tsv).unwrap_err();
    assert!(e.message.contains("twice"), "{e}");
    let e = parse_entries("a\tb\tloud\n", Format::Tsv).unwrap_err();
    assert!(e.message.contains("unknown flag"), "{e}");
    let e = parse_entries("\"a,b\n", Format::Csv).unwrap_err();
    assert!(e.message.contains("not closed"), "{e}");
    assert!(parse_entries(" \t x\n", Format::Tsv).is_err());
}

#[test]
fn matching_is_whole_word_and_case_insensitive_by_default() {
    let mut case = entry("De Wever", "De Wever");
    case.case_sensitive = true;
    let mut partial = entry("stikstof", "nitrogen");
    partial.partial = true;
    let sel = Selection::new(vec![glossary(
        "nl",
        vec![entry("Kamer", "House"), case, partial],
    )]);
    let terms = |t: &str| -> Vec<String> {
        sel.find(t, Some("nl"))
            .iter()
            .map(|h| t[h.span.clone()].to_string())
            .collect()
    };
    assert_eq!(terms("De kamer stemt."), ["kamer"]);
    assert_eq!(terms("Kamerleden stemmen."), Vec::<String>::new());
    assert_eq!(terms("Premier De Wever, niet de wever."), ["De Wever"]);
    assert_eq!(terms("De stikstofuitstoot daalt."), ["stikstof"]);
    assert!(sel.find("De Kamer.", Some("fr")).is_empty());
    assert_eq!(sel.find("De Kamer.", None).len(), 1);
}

#[test]
fn longest_match_wins_and_earlier_glossary_wins_ties() {
    let first = glossary(
        "nl",
        vec![entry("Tweede Kamer", "House of Representatives")],
    );
    let second = glossary(
        "nl",
        vec![
            entry("Kamer", "Chamber"),
            entry("Tweede Kamer", "Second Chamber"),
        ],
    );
    let sel = Selection::new(vec![second.clone()]).with_first(first);
    let hits = sel.find("De Tweede Kamer en de Kamer.", Some("nl"));
    let targets: Vec<&str> = hits.iter().map(|h| h.entry.target.as_str()).collect();
    assert_eq!(targets, ["House of Representatives", "Chamber"]);
}

#[test]
fn honoured_ignores_case() {
    let e = entry("Tweede Kamer", "House of Representatives");
    assert!(e.honoured_in("the house of representatives voted"));
    assert!(!e.honoured_in("the Second Chamber voted"));
}

#[test]
fn house_file_pairs() {
    let f: HouseFile = "de-en=house.tsv".parse().unwrap();
    assert_eq!(
        (f.source_lang.as_str(), f.target_lang.as_str()),
        ("de", "en")
    );
    let f: HouseFile = "a=b.tsv".parse().unwrap();
    assert_eq!(f.source_lang, "nl");
    assert_eq!(f.path, std::path::PathBuf::from("a=b.tsv"));
    assert!("nl-en=".parse::<HouseFile>().is_err());
}

#[test]
fn created_glossaries_survive_a_restart_and_house_ones_are_read_only() {
    let dir = std::env::temp_dir().join(format!("copydesk-glossary-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let house = dir.join("house.csv");
    std::fs::write(&house, "Tweede Kamer,House of Representatives\n").unwrap();
    let files = [HouseFile {
        source_lang: "nl".into(),
        target_lang: "en".into(),
        path: house,
    }];
    let store = GlossaryStore::open(Some(&dir), &files).unwrap();
    assert!(store.persistent());
    let g = store
        .create("desk", ("NL", "EN"), vec![entry("kabinet", "cabinet")])
        .unwrap();
    assert_eq!(g.source_lang, "nl");
    assert_eq!(g.id.len(), 36, "{}", g.id);
    let other = store.create("desk", ("nl", "en"), Vec::new()).unwrap();
    assert_ne!(g.id, other.id);
    let house_id = store.house().find("de Tweede Kamer", None)[0]
        .entry
        .source
        .clone();
    assert_eq!(house_id, "Tweede Kamer");
    let house_g = store.list()[0].clone();
    assert!(house_g.id.starts_with(store::HOUSE_PREFIX));
    assert!(store.delete(&house_g.id).is_err());

    let reopened = GlossaryStore::open(Some(&dir), &files).unwrap();
    assert_eq!(reopened.get(&g.id).as_deref(), Some(&*g));
    assert_eq!(reopened.list().len(), 3);
    assert!(reopened.delete(&other.id).unwrap());
    assert!(!reopened.delete(&other.id).unwrap());
    let again = GlossaryStore::open(Some(&dir), &files).unwrap();
    assert!(again.get(&other.id).is_none());
    assert!(again.get(&g.id).is_some());

    std::fs::write(dir.join("glossaries").join("broken.json"), "{").unwrap();
    let e = GlossaryStore::open(Some(&dir), &files).unwrap_err();
    assert!(e.to_string().contains("broken.json"), "{e}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn without_a_data_directory_glossaries_live_in_memory() {
    let store = GlossaryStore::open(None, &[]).unwrap();
    assert!(!store.persistent());
    let g = store
        .create("x", ("nl", "en"), vec![entry("a", "b")])
        .unwrap();
    assert!(store.get(&g.id).is_some());
    assert!(store.house().is_empty());
}
