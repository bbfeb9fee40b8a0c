//! Tests of [`segment`] and the [`Document`] API, on hand-written copy, on
//! the shared samples, and on generated inputs (no-loss property).

use super::*;

const KABINET: &str = include_str!(concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/fixtures/samples/kabinet-stikstof.txt"
));
const ZORG: &str = include_str!(concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/fixtures/samples/zorgpremie.txt"
));

use BlockKind::{Paragraph as P, Subheading as S};

/// Every piece of text the document holds, in document order.
pub(super) fn pieces(doc: &Document) -> Vec<String> {
    let mut out = Vec::new();
    out.extend(doc.headline.clone());
    if let Some(d) = &doc.dateline {
        out.push(d.place.clone());
        out.push(d.agency.clone());
    }
    for b in &doc.blocks {
        out.extend(b.sentences.iter().cloned());
    }
    out.extend(doc.related_title.clone());
    for r in &doc.related {
        if let Some(d) = &r.dateline {
            out.push(d.place.clone());
            out.push(d.agency.clone());
        }
        out.extend(r.sentences.iter().cloned());
        out.extend(r.age.clone());
    }
    out
}

pub(super) fn datelines(doc: &Document) -> usize {
    usize::from(doc.dateline.is_some())
        + doc.related.iter().filter(|r| r.dateline.is_some()).count()
}

/// The no-loss invariant: the document's text, without whitespace, is the
/// input's text without whitespace, except for the brackets and dashes of
/// datelines (at most four characters per dateline) and a leading BOM.
fn assert_no_loss(input: &str, doc: &Document) {
    let got: Vec<char> = pieces(doc)
        .concat()
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect();
    let mut j = 0;
    let mut skipped = 0;
    for c in input.chars().filter(|c| !c.is_whitespace()) {
        if j < got.len() && got[j] == c {
            j += 1;
        } else if matches!(c, '(' | ')' | '-' | '–' | '—' | '‒' | '−' | '\u{feff}') {
            skipped += 1;
        } else {
            panic!(
                "lost {c:?} (after {} kept chars)\ninput: {input:?}\ndoc: {doc:#?}",
                j
            );
        }
    }
    assert_eq!(
        j,
        got.len(),
        "extra text in doc\ninput: {input:?}\ndoc: {doc:#?}"
    );
    assert!(
        skipped <= 4 * datelines(doc) + 1,
        "skipped {skipped}\ninput: {input:?}\ndoc: {doc:#?}"
    );
}

pub(super) fn seg(text: &str) -> Document {
    let doc = segment(text);
    assert_no_loss(text, &doc);
    doc
}

fn kinds(doc: &Document) -> Vec<BlockKind> {
    doc.blocks.iter().map(|b| b.kind).collect()
}

fn counts(doc: &Document) -> Vec<usize> {
    doc.blocks.iter().map(|b| b.sentences.len()).collect()
}

fn dl(place: &str, agency: &str) -> Option<Dateline> {
    Some(Dateline {
        place: place.into(),
        agency: agency.into(),
    })
}

// ---- the shared samples ----

#[test]
fn sample_kabinet_stikstof() {
    let doc = seg(KABINET);
    assert_eq!(
        doc.headline.as_deref(),
        Some("Kabinet trekt 2,4 miljard euro extra uit voor stikstofaanpak")
    );
    assert_eq!(doc.dateline, dl("DEN HAAG", "ANP"));
    assert_eq!(kinds(&doc), [P, P, S, P, P]);
    assert_eq!(counts(&doc), [3, 4, 1, 3, 2]);
    assert!(doc.blocks[0].sentences[0].starts_with("Het kabinet trekt de komende vier jaar"));
    assert_eq!(doc.blocks[1].sentences[3], "Ca. 3000 veehouders in de buurt van zgn. Natura 2000-gebieden komen in aanmerking voor de regeling.");
    assert_eq!(doc.blocks[2].sentences, ["Kritiek uit de Kamer"]);
    assert!(doc.blocks[3].sentences[1].contains("o.a. afkomstig"));
    assert_eq!(
        doc.blocks[4].sentences[0],
        "Provincies moeten vóór 1 juli 2026 hun gebiedsplannen indienen."
    );
    assert_eq!(doc.related_title.as_deref(), Some("Meer uit Binnenland"));
    let rel: Vec<_> = doc
        .related
        .iter()
        .map(|r| (r.dateline.clone(), r.sentences.len(), r.age.as_deref()))
        .collect();
    assert_eq!(
        rel,
        [
            (dl("UTRECHT", "ANP"), 2, Some("12 minuten geleden")),
            (dl("ROTTERDAM", "ANP"), 2, Some("40 minuten geleden")),
            (dl("AMSTERDAM", "ANP"), 2, Some("1 uur geleden")),
        ]
    );
    assert_eq!(
        doc.related[1].sentences[1],
        "Vooral de handel met Azië liep terug."
    );
    assert_eq!(doc.sentence_count(), 1 + 13 + 6);
}

#[test]
fn sample_zorgpremie() {
    let doc = seg(ZORG);
    assert_eq!(
        doc.headline.as_deref(),
        Some("Zorgpremie stijgt volgend jaar met gemiddeld 9 euro per maand")
    );
    assert_eq!(doc.dateline, dl("AMSTERDAM", "ANP"));
    assert_eq!(kinds(&doc), [P, P, S, P, P]);
    assert_eq!(counts(&doc), [3, 2, 1, 3, 2]);
    assert_eq!(
        doc.blocks[0].sentences[0],
        "Verzekerden betalen volgend jaar gemiddeld ruim 9 euro per maand meer voor hun basisverzekering."
    );
    assert_eq!(doc.blocks[2].sentences, ["Eigen risico"]);
    assert!(doc.related_title.is_none() && doc.related.is_empty());
}

#[test]
fn samples_survive_crlf_blank_lines_and_bom() {
    for sample in [KABINET, ZORG] {
        let doc = seg(sample);
        assert_eq!(seg(&sample.replace('\n', "\r\n")), doc);
        assert_eq!(seg(&sample.replace('\n', "\n\n")), doc);
        assert_eq!(seg(&format!("\u{feff}{sample}")), doc);
        assert_eq!(seg(&format!("\n\n  {sample}\n\n")), doc);
    }
}

#[test]
fn samples_plain_text_roundtrip() {
    for sample in [KABINET, ZORG] {
        let doc = seg(sample);
        assert_eq!(segment(&doc.to_plain_text()), doc);
    }
}

/// Hard-wraps every line of `text` at `width` chars, with blank lines
/// between the original lines.
fn hard_wrap(text: &str, width: usize) -> String {
    let mut out = String::new();
    for line in text.lines() {
        let mut cur = String::new();
        for w in line.split_whitespace() {
            if !cur.is_empty() && cur.chars().count() + 1 + w.chars().count() > width {
                out.push_str(&cur);
                out.push('\n');
                cur.clear();
            }
            if !cur.is_empty() {
                cur.push(' ');
            }
            cur.push_str(w);
        }
        out.push_str(&cur);
        out.push_str("\n\n");
    }
    out
}

#[test]
fn hard_wrapped_sample_gives_the_same_sentences() {
    let doc = seg(ZORG);
    let wrapped = hard_wrap(ZORG, 60);
    assert!(wrapped.lines().count() > 15);
    let wdoc = seg(&wrapped);
    assert_eq!(wdoc, doc);
}

// ---- the Document API ----

#[test]
fn sentences_iterator_order_and_count() {
    let doc = seg(KABINET);
    let all: Vec<&str> = doc.sentences().collect();
    assert_eq!(all.len(), doc.sentence_count());
    assert_eq!(all[0], doc.headline.as_deref().unwrap());
    assert_eq!(all[1], doc.blocks[0].sentences[0]);
    assert_eq!(
        all[all.len() - 1],
        "Het werk is vanaf volgende maand te zien."
    );
}

#[test]
fn map_and_with_sentences_keep_the_shape() {
    let doc = seg(KABINET);
    let mut n = 0;
    let mapped = doc.map_sentences(|s| {
        n += 1;
        format!("{n}:{}", s.len())
    });
    assert_eq!(n, doc.sentence_count());
    assert_eq!(kinds(&mapped), kinds(&doc));
    assert_eq!(counts(&mapped), counts(&doc));
    assert_eq!(mapped.dateline, doc.dateline);
    assert_eq!(mapped.related_title, doc.related_title);
    assert_eq!(mapped.related[2].age, doc.related[2].age);
    assert_eq!(mapped.headline.as_deref(), Some("1:60"));
    let numbered: Vec<String> = (0..doc.sentence_count()).map(|i| i.to_string()).collect();
    let with = doc.with_sentences(&numbered);
    assert_eq!(with.sentences().collect::<Vec<_>>(), numbered);
    // Too few translations: the rest stays as it was.
    let partial = doc.with_sentences(&["Cabinet"]);
    assert_eq!(partial.headline.as_deref(), Some("Cabinet"));
    assert_eq!(partial.blocks, doc.blocks);
}

#[test]
fn try_map_sentences_stops_at_the_first_error() {
    let doc = seg(ZORG);
    let mut calls = 0;
    let res: Result<Document, String> = doc.try_map_sentences(|s| {
        calls += 1;
        if calls == 3 {
            Err(format!("fail on {s}"))
        } else {
            Ok(s.to_uppercase())
        }
    });
    assert!(res.unwrap_err().starts_with("fail on Dat blijkt"));
    assert_eq!(calls, 3);
}

#[test]
fn english_furniture() {
    let doc = seg(KABINET).with_english_furniture();
    assert_eq!(doc.dateline, dl("THE HAGUE", "ANP"));
    assert_eq!(doc.related_title.as_deref(), Some("More from Domestic"));
    assert_eq!(doc.related[0].age.as_deref(), Some("12 minutes ago"));
    assert_eq!(doc.related[2].age.as_deref(), Some("1 hour ago"));
    assert_eq!(doc.blocks, seg(KABINET).blocks);
}

#[test]
fn json_shape() {
    let doc = seg(KABINET);
    let v: serde_json::Value = serde_json::to_value(&doc).unwrap();
    let keys: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
    assert_eq!(keys.len(), 5);
    for k in ["headline", "dateline", "blocks", "related_title", "related"] {
        assert!(keys.contains(&k), "{k}");
    }
    assert_eq!(
        v["dateline"],
        serde_json::json!({"place": "DEN HAAG", "agency": "ANP"})
    );
    assert_eq!(
        v["blocks"][2],
        serde_json::json!({"kind": "subheading", "sentences": ["Kritiek uit de Kamer"]})
    );
    assert_eq!(v["blocks"][0]["kind"], "paragraph");
    assert_eq!(v["related"][2]["age"], "1 uur geleden");
    assert_eq!(v["related"][0].as_object().unwrap().len(), 3);
    let back: Document = serde_json::from_value(v).unwrap();
    assert_eq!(back, doc);
    let empty = serde_json::to_string(&segment("")).unwrap();
    assert_eq!(
        empty,
        r#"{"headline":null,"dateline":null,"blocks":[],"related_title":null,"related":[]}"#
    );
}

// ---- datelines ----

#[test]
fn dateline_dash_variants() {
    for (text, place, agency) in [
        ("DEN HAAG (ANP) - Het kabinet valt.", "DEN HAAG", "ANP"),
        ("AMSTERDAM (ANP) – Het regent.", "AMSTERDAM", "ANP"),
        ("AMSTERDAM (ANP) — Het regent.", "AMSTERDAM", "ANP"),
        ("AMSTERDAM (ANP) -- Het regent.", "AMSTERDAM", "ANP"),
        ("AMSTERDAM (ANP)- Het regent.", "AMSTERDAM", "ANP"),
        ("AMSTERDAM(ANP) -Het regent.", "AMSTERDAM", "ANP"),
        ("BRUSSEL (ANP/BELGA) - Het regent.", "BRUSSEL", "ANP/BELGA"),
        ("PARIJS (ANP/AFP) - Het regent.", "PARIJS", "ANP/AFP"),
        (
            "'S-HERTOGENBOSCH (ANP) - Het regent.",
            "'S-HERTOGENBOSCH",
            "ANP",
        ),
        (
            "SINT-PETERSBURG (ANP/RTR) - Het regent.",
            "SINT-PETERSBURG",
            "ANP/RTR",
        ),
        ("Den Haag (ANP) - Het regent.", "Den Haag", "ANP"),
        (
            "Bergen op Zoom (ANP) - Het regent.",
            "Bergen op Zoom",
            "ANP",
        ),
    ] {
        let doc = seg(text);
        assert_eq!(doc.dateline, dl(place, agency), "{text}");
        assert_eq!(doc.blocks.len(), 1, "{text}");
        assert_eq!(doc.blocks[0].sentences.len(), 1, "{text}");
        assert!(doc.blocks[0].sentences[0].starts_with("Het "), "{text}");
    }
}

#[test]
fn not_datelines() {
    for text in [
        "Het kabinet (CDA) - zo zegt men - valt.",
        "Volgens het kabinet (ANP) - niet.",
        "DEN HAAG (ANP) zegt iets.",
        "(ANP) - Het regent.",
        "Den Haag (gemeente) - Het regent.",
    ] {
        let doc = seg(text);
        assert!(doc.dateline.is_none(), "{text}");
    }
}

#[test]
fn dateline_on_its_own_line() {
    let doc = seg("Titel van het stuk\nDEN HAAG (ANP) -\nHet kabinet valt. Dat is nieuw.");
    assert_eq!(doc.headline.as_deref(), Some("Titel van het stuk"));
    assert_eq!(doc.dateline, dl("DEN HAAG", "ANP"));
    assert_eq!(counts(&doc), [2]);
}

#[test]
fn dateline_without_headline() {
    let doc = seg("DEN HAAG (ANP) - Het kabinet valt. Dat is nieuw.\nTweede alinea.");
    assert!(doc.headline.is_none());
    assert_eq!(doc.dateline, dl("DEN HAAG", "ANP"));
    assert_eq!(counts(&doc), [2, 1]);
}

// ---- related sections ----

#[test]
fn related_ages_glued_on_one_line() {
    let text = "Kop\nMADRID (ANP/RTR) - Piloten staken.\nMeer uit Buitenland\n\
                PARIJS (ANP/AFP) - De regering bezuinigt op personeel.30 minuten geledenMADRID (ANP/RTR) - Een staking legt alles plat. Ook treinen.2 uur geleden";
    let doc = seg(text);
    assert_eq!(doc.related_title.as_deref(), Some("Meer uit Buitenland"));
    assert_eq!(doc.related.len(), 2);
    assert_eq!(doc.related[0].dateline, dl("PARIJS", "ANP/AFP"));
    assert_eq!(
        doc.related[0].sentences,
        ["De regering bezuinigt op personeel."]
    );
    assert_eq!(doc.related[0].age.as_deref(), Some("30 minuten geleden"));
    assert_eq!(doc.related[1].dateline, dl("MADRID", "ANP/RTR"));
    assert_eq!(doc.related[1].sentences.len(), 2);
    assert_eq!(doc.related[1].age.as_deref(), Some("2 uur geleden"));
}

#[test]
fn related_ages_at_line_start_and_alone() {
    let text = "Kop\nMADRID (ANP/RTR) - Piloten staken.\nMeer uit Buitenland\n\
                PARIJS (ANP/AFP) - Eén.\n1 minuut geleden BRUSSEL (ANP/BELGA) - Twee.\n\
                3 dagen geledenROME (ANP) - Drie.\ngisteren";
    let doc = seg(text);
    let ages: Vec<_> = doc.related.iter().map(|r| r.age.as_deref()).collect();
    assert_eq!(
        ages,
        [
            Some("1 minuut geleden"),
            Some("3 dagen geleden"),
            Some("gisteren")
        ]
    );
    let places: Vec<_> = doc
        .related
        .iter()
        .map(|r| r.dateline.as_ref().unwrap().place.as_str())
        .collect();
    assert_eq!(places, ["PARIJS", "BRUSSEL", "ROME"]);
}

#[test]
fn related_item_without_age_and_age_in_sentence() {
    let text = "Kop\nUTRECHT (ANP) - Eerst.\nMeer uit Binnenland\n\
                UTRECHT (ANP) - Hij vertrok 2 uur geleden uit Utrecht.\n12 minuten geleden\n\
                ZWOLLE (ANP) - Geen leeftijd hier.";
    let doc = seg(text);
    assert_eq!(doc.related.len(), 2);
    assert_eq!(
        doc.related[0].sentences,
        ["Hij vertrok 2 uur geleden uit Utrecht."]
    );
    assert_eq!(doc.related[0].age.as_deref(), Some("12 minuten geleden"));
    assert_eq!(doc.related[1].dateline, dl("ZWOLLE", "ANP"));
    assert_eq!(doc.related[1].age, None);
}

#[test]
fn related_ages_before_items() {
    let text = "Kop\nUTRECHT (ANP) - Eerst.\nMeer uit Binnenland\n5 minuten geleden\n\
                ZWOLLE (ANP) - Een.\n1 uur geleden\nEDE (ANP) - Twee.";
    let doc = segment(text);
    let rel: Vec<_> = doc
        .related
        .iter()
        .map(|r| {
            (
                r.dateline.as_ref().unwrap().place.as_str(),
                r.age.as_deref(),
            )
        })
        .collect();
    assert_eq!(
        rel,
        [
            ("ZWOLLE", Some("5 minuten geleden")),
            ("EDE", Some("1 uur geleden"))
        ]
    );
}

#[test]
fn related_section_without_title() {
    let text = "Kop\nUTRECHT (ANP) - Eerst. Dan meer.\nTweede alinea.\n\
                ZWOLLE (ANP) - Een item.\n10 minuten geledenEDE (ANP) - Nog een.\n1 uur geleden";
    let doc = seg(text);
    assert!(doc.related_title.is_none());
    assert_eq!(counts(&doc), [2, 1]);
    assert_eq!(doc.related.len(), 2);
    assert_eq!(doc.related[1].age.as_deref(), Some("1 uur geleden"));
}

#[test]
fn related_item_with_its_own_title_line() {
    let text = "Kop\nUTRECHT (ANP) - Eerst.\nMeer uit Binnenland\nVrachtwagen gekanteld op A12\n\
                UTRECHT (ANP) - Op de A12 is een vrachtwagen gekanteld.\n12 minuten geleden";
    let doc = seg(text);
    assert_eq!(doc.related.len(), 1);
    assert_eq!(doc.related[0].sentences[0], "Vrachtwagen gekanteld op A12");
    assert_eq!(doc.related[0].age.as_deref(), Some("12 minuten geleden"));
}

#[test]
fn meer_uit_without_items_is_body_text() {
    let doc = seg("Kop\nUTRECHT (ANP) - Eerst.\nMeer uit de kast\nDaarna kwam de rest. Echt.");
    assert!(doc.related_title.is_none());
    assert_eq!(kinds(&doc), [P, S, P]);
}

// ---- headlines and subheadings ----

#[test]
fn plain_text_has_no_headline() {
    let doc = seg("Dit is gewoon tekst. Twee zinnen.\n\nEn een tweede alinea.");
    assert!(doc.headline.is_none() && doc.dateline.is_none());
    assert_eq!(counts(&doc), [2, 1]);
    assert_eq!(kinds(&doc), [P, P]);
    let one = seg("Hallo wereld");
    assert!(one.headline.is_none());
    assert_eq!(one.blocks[0].sentences, ["Hallo wereld"]);
}

#[test]
fn plain_text_with_a_clear_title() {
    let doc = seg("Een korte titel\n\nDit is de tekst eronder. Met twee zinnen.");
    assert_eq!(doc.headline.as_deref(), Some("Een korte titel"));
    assert_eq!(counts(&doc), [2]);
}

#[test]
fn question_headline_needs_a_dateline() {
    let doc = seg("Wat nu?\nNiemand weet het.");
    assert!(doc.headline.is_none());
    let doc = seg("Wat kost de zorg nog?\nDEN HAAG (ANP) - Veel.");
    assert_eq!(doc.headline.as_deref(), Some("Wat kost de zorg nog?"));
}

#[test]
fn short_sentences_are_not_subheadings() {
    let doc = seg("Kop\nDEN HAAG (ANP) - Eerst.\nDat is alles.\nNog een korte zin.");
    assert_eq!(kinds(&doc), [P, P, P]);
}

#[test]
fn subheading_needs_prose_after_it() {
    let doc = seg("Kop\nDEN HAAG (ANP) - Eerst.\nAppels\nPeren\nBananen");
    assert_eq!(kinds(&doc), [P, P, P, P]);
    let doc = seg("Kop\nDEN HAAG (ANP) - Eerst.\nEen tussenkop\nDe tekst eronder.");
    assert_eq!(kinds(&doc), [P, S, P]);
}

#[test]
fn list_items_are_paragraphs() {
    let doc =
        seg("Kop\nDEN HAAG (ANP) - De punten:\n- Geld\n- Tijd\n1. Meer geld.\n2) Minder tijd");
    assert_eq!(kinds(&doc), [P, P, P, P, P]);
    assert_eq!(doc.blocks[3].sentences, ["1. Meer geld."]);
}

#[test]
fn continuation_lines_are_joined() {
    let doc = seg("Kop\nDEN HAAG (ANP) - Het kabinet zegt dat\nhet zo is. Klaar.");
    assert_eq!(doc.blocks.len(), 1);
    assert_eq!(
        doc.blocks[0].sentences,
        ["Het kabinet zegt dat het zo is.", "Klaar."]
    );
}
