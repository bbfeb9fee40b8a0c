//! Property-style tests: odd and generated inputs never panic and never
//! lose text.

use super::tests_wire::seg;
use super::*;

// ---- odd input ----

#[test]
fn empty_and_whitespace_only_documents() {
    for text in ["", " ", "\n\n", "\r\n\t \u{a0}\r", "\u{feff}"] {
        let doc = segment(text);
        assert!(doc.is_empty(), "{text:?}");
        assert_eq!(doc.sentence_count(), 0);
    }
}

#[test]
fn unicode_and_odd_characters() {
    for text in [
        "Ĳzer\u{2028}Één. Twee…\u{2029}„Drie?”",
        "😀😀😀\n(\n)\n-\n–\n\"\n'\n…",
        "ÉÉN (ÄÖ) – ü. ß. 日本語のテキスト。次の文。",
        "A (B) -\nC (D) -\n1 uur geleden\ngisteren",
        "Meer uit\n(ANP) -\n12 minuten geleden12 minuten geleden",
        "\r\r\n\n\r",
        "...\n...\n... (...) - ...",
        "geleden 1 uur geleden uur geleden\ngisteren gisteren eergisteren",
    ] {
        let _ = seg(text);
        let paras = split_text(text);
        let s: Vec<&str> = text_sentences(&paras).collect();
        let joined = join_text(&paras, &s);
        let a: String = joined.chars().filter(|c| !c.is_whitespace()).collect();
        let b: String = text.chars().filter(|c| !c.is_whitespace()).collect();
        assert_eq!(a, b, "{text:?}");
    }
}

// ---- generated inputs ----

/// xorshift64*: a small deterministic generator for property tests.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn pick<'a>(&mut self, xs: &[&'a str]) -> &'a str {
        xs[self.below(xs.len())]
    }
}

const WORDS: &[&str] = &[
    "het",
    "kabinet",
    "De",
    "minister",
    "Van",
    "der",
    "Wal",
    "zei",
    "dat",
    "o.a.",
    "ca.",
    "bijv.",
    "mr.",
    "dr.",
    "J.P.",
    "W.",
    "Balkenende",
    "3,5",
    "400.000",
    "14.30",
    "uur",
    "jl.",
    "mln.",
    "euro",
    "Azië",
    "één",
    "vóór",
    "\"Wat",
    "nu?\"",
    "„hard",
    "nodig”",
    "'s",
    "Avonds",
    "(Landbouw)",
    "...",
    "…",
    "zgn.",
    "d.w.z.",
    "2026.",
    "VS.",
    "V.S.",
    "enz.",
    "sept.",
    "'t",
    "😀",
    "日本",
    "geleden",
    "gisteren",
    "Meer",
    "uit",
    "(ANP)",
    "-",
    "–",
    "?",
    "!",
    "!\"",
    "1.",
    "a.",
    "St.",
];

const ENDS: &[&str] = &[
    ".", ".", ".", "?", "!", "…", "...", ".\"", "?\"", ".)", "", ":",
];

fn gen_sentence(r: &mut Rng) -> String {
    let n = 1 + r.below(12);
    let mut words: Vec<String> = (0..n).map(|_| r.pick(WORDS).to_string()).collect();
    if r.below(2) == 0 {
        words[0] = r
            .pick(&["Het", "De", "Dat", "Volgens", "Ca.", "Om", "Er"])
            .to_string();
    }
    let mut s = words.join(" ");
    s.push_str(r.pick(ENDS));
    s
}

fn gen_paragraph(r: &mut Rng) -> String {
    let n = 1 + r.below(5);
    (0..n)
        .map(|_| gen_sentence(r))
        .collect::<Vec<_>>()
        .join(r.pick(&[" ", "  ", " \t"]))
}

const PLACES_GEN: &[&str] = &[
    "DEN HAAG",
    "AMSTERDAM",
    "MADRID",
    "BRUSSEL",
    "'S-HERTOGENBOSCH",
];
const AGENCIES: &[&str] = &["ANP", "ANP/RTR", "ANP/AFP", "ANP/BELGA"];
const DASHES: &[&str] = &[" - ", " – ", " -- ", "- ", " — "];
const AGES: &[&str] = &[
    "30 minuten geleden",
    "1 uur geleden",
    "2 uur geleden",
    "gisteren",
    "5 dagen geleden",
];

fn gen_dateline(r: &mut Rng) -> String {
    format!(
        "{} ({}){}",
        r.pick(PLACES_GEN),
        r.pick(AGENCIES),
        r.pick(DASHES)
    )
}

/// A wire-like document built from random parts.
fn gen_document(r: &mut Rng) -> String {
    let mut lines: Vec<String> = Vec::new();
    if r.below(4) != 0 {
        lines.push(
            r.pick(&[
                "Kabinet trekt geld uit",
                "Zorgpremie stijgt",
                "Wat nu?",
                "Titel",
            ])
            .into(),
        );
    }
    let first = gen_paragraph(r);
    lines.push(if r.below(4) != 0 {
        format!("{}{first}", gen_dateline(r))
    } else {
        first
    });
    for _ in 0..r.below(6) {
        if r.below(4) == 0 {
            lines.push(
                r.pick(&[
                    "Kritiek uit de Kamer",
                    "Eigen risico",
                    "Appels",
                    "1 uur geleden",
                ])
                .into(),
            );
        }
        lines.push(gen_paragraph(r));
    }
    if r.below(2) == 0 {
        lines.push(
            r.pick(&["Meer uit Binnenland", "Meer uit Buitenland", "Lees ook"])
                .into(),
        );
        let mut line = String::new();
        for _ in 0..1 + r.below(4) {
            line.push_str(&gen_dateline(r));
            line.push_str(&gen_paragraph(r));
            let age = r.pick(AGES);
            match r.below(3) {
                0 => line.push_str(age),
                1 => {
                    lines.push(std::mem::take(&mut line));
                    line.push_str(age);
                }
                _ => {
                    lines.push(std::mem::take(&mut line));
                    lines.push(age.into());
                }
            }
        }
        lines.push(line);
    }
    let sep = r.pick(&["\n", "\n", "\r\n", "\n\n", "\n \n"]);
    lines.join(sep)
}

/// Random soup of the characters the parser cares about.
fn gen_soup(r: &mut Rng) -> String {
    const ATOMS: &[&str] = &[
        "a",
        "B",
        " ",
        "\n",
        "\r\n",
        ".",
        "?",
        "!",
        "…",
        "\"",
        "'",
        "„",
        "”",
        "(",
        ")",
        "-",
        "–",
        "1",
        "30",
        " minuten geleden",
        " uur geleden",
        "gisteren",
        "ANP",
        "DEN HAAG",
        "Meer uit X",
        "é",
        "Ĳ",
        "😀",
        "\u{a0}",
        "\t",
        "o.a.",
        "J.",
        ",",
        ":",
    ];
    (0..r.below(60)).map(|_| r.pick(ATOMS)).collect()
}

fn check_generated(text: &str) {
    let doc = seg(text);
    assert_eq!(doc.sentences().count(), doc.sentence_count());
    for b in &doc.blocks {
        assert!(!b.sentences.is_empty());
        for s in &b.sentences {
            assert!(!s.trim().is_empty() && s.trim() == s, "{s:?} in {text:?}");
        }
    }
    // Sentence splitting alone loses nothing either.
    let sents = split_sentences(text);
    let a: String = sents
        .concat()
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect();
    let b: String = text.chars().filter(|c| !c.is_whitespace()).collect();
    assert_eq!(a, b, "{text:?}");
    // split_text / join_text reproduce the text modulo whitespace.
    let paras = split_text(text);
    let s: Vec<&str> = text_sentences(&paras).collect();
    assert_eq!(s.len(), text_sentence_count(&paras));
    let joined = join_text(&paras, &s);
    let c: String = joined.chars().filter(|c| !c.is_whitespace()).collect();
    assert_eq!(c, b, "{text:?}");
    // ... and keep the paragraphs and their blank lines.
    let blanks = |ps: &[Paragraph]| ps.iter().map(|p| p.blank_lines_before).collect::<Vec<_>>();
    assert_eq!(blanks(&split_text(&joined)), blanks(&paras), "{text:?}");
    // The JSON form round-trips.
    let json = serde_json::to_string(&doc).unwrap();
    assert_eq!(serde_json::from_str::<Document>(&json).unwrap(), doc);
}

#[test]
fn generated_documents_lose_nothing() {
    let mut r = Rng(0x9E37_79B9_7F4A_7C15);
    for _ in 0..1500 {
        check_generated(&gen_document(&mut r));
    }
}

#[test]
fn generated_character_soup_loses_nothing() {
    let mut r = Rng(0xD1B5_4A32_D192_ED03);
    for _ in 0..3000 {
        check_generated(&gen_soup(&mut r));
    }
}

#[test]
fn generated_documents_keep_related_items_and_ages() {
    let mut r = Rng(42);
    let mut with_related = 0;
    for _ in 0..500 {
        let text = gen_document(&mut r);
        let doc = seg(&text);
        let expected_ages = AGES.iter().map(|a| text.matches(a).count()).sum::<usize>();
        if doc.related_title.is_some() {
            with_related += 1;
            let ages = doc.related.iter().filter(|r| r.age.is_some()).count();
            assert!(ages <= expected_ages, "{text:?}");
            assert!(
                doc.related
                    .iter()
                    .all(|r| r.dateline.is_some() || r.sentences.is_empty()),
                "{text:?}\n{doc:#?}"
            );
        }
    }
    assert!(with_related > 100);
}
