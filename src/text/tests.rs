//! Tests of the sentence splitter, the place/age tables and plain text.

use super::*;

fn ss(text: &str) -> Vec<String> {
    split_sentences(text)
}

fn no_ws(s: &str) -> String {
    s.chars().filter(|c| !c.is_whitespace()).collect()
}

/// Splits and checks that no text is lost.
fn check(text: &str, expected: &[&str]) {
    let got = ss(text);
    assert_eq!(got, expected, "input: {text:?}");
    assert_eq!(no_ws(&got.concat()), no_ws(text), "text lost: {text:?}");
}

// ---- abbreviations ----

#[test]
fn abbreviations_that_never_end_a_sentence() {
    check(
        "Volgens o.a. de BBB en d.w.z. het CDA is het zo. Daarna niet.",
        &[
            "Volgens o.a. de BBB en d.w.z. het CDA is het zo.",
            "Daarna niet.",
        ],
    );
}

#[test]
fn bijv_and_ca() {
    check(
        "Dit geldt bijv. voor ca. 3000 boeren. Ook anderen doen mee.",
        &[
            "Dit geldt bijv. voor ca. 3000 boeren.",
            "Ook anderen doen mee.",
        ],
    );
}

#[test]
fn titles_before_capitalised_names() {
    check(
        "Mr. Visser en dr. Jansen waren er. Prof. De Vries ook.",
        &["Mr. Visser en dr. Jansen waren er.", "Prof. De Vries ook."],
    );
    check(
        "Drs. P. de Boer en ir. Smit spraken. Zij waren het eens.",
        &[
            "Drs. P. de Boer en ir. Smit spraken.",
            "Zij waren het eens.",
        ],
    );
}

#[test]
fn mln_and_mld_before_lower_case() {
    check(
        "Het kost 3 mln. euro en 2 mld. dollar. Dat is veel.",
        &["Het kost 3 mln. euro en 2 mld. dollar.", "Dat is veel."],
    );
}

#[test]
fn jl_can_end_a_sentence() {
    check(
        "Hij vertrok op 3 maart jl. De dag erna kwam hij terug.",
        &["Hij vertrok op 3 maart jl.", "De dag erna kwam hij terug."],
    );
    check(
        "Op 3 maart jl. werd hij ontslagen.",
        &["Op 3 maart jl. werd hij ontslagen."],
    );
}

#[test]
fn month_abbreviations() {
    check(
        "Op 5 jan. 2024 en 1 sept. jl. gebeurde het. Daarna niet.",
        &[
            "Op 5 jan. 2024 en 1 sept. jl. gebeurde het.",
            "Daarna niet.",
        ],
    );
    check(
        "Het begon op 1 okt. en eindigde op 3 dec. Toen was het klaar.",
        &[
            "Het begon op 1 okt. en eindigde op 3 dec.",
            "Toen was het klaar.",
        ],
    );
}

#[test]
fn zgn_mbt_tov_ipv() {
    check(
        "De zgn. Natura 2000-gebieden zijn m.b.t. de regels t.o.v. vorig jaar i.p.v. nu strenger. Klaar.",
        &[
            "De zgn. Natura 2000-gebieden zijn m.b.t. de regels t.o.v. vorig jaar i.p.v. nu strenger.",
            "Klaar.",
        ],
    );
}

#[test]
fn nl_is_never_final() {
    check(
        "Er is één probleem, nl. Het geld ontbreekt.",
        &["Er is één probleem, nl. Het geld ontbreekt."],
    );
}

#[test]
fn enz_and_etc_end_sentences_before_capitals() {
    check(
        "Appels, peren enz. De rest volgt.",
        &["Appels, peren enz.", "De rest volgt."],
    );
    check(
        "Appels, peren enz. en bananen.",
        &["Appels, peren enz. en bananen."],
    );
    check(
        "Jansen e.a. schreven het boek. Het verscheen in mei.",
        &["Jansen e.a. schreven het boek.", "Het verscheen in mei."],
    );
}

#[test]
fn ca_at_sentence_start() {
    check(
        "Ze zei het in een toelichting. Ca. 3000 veehouders doen mee.",
        &[
            "Ze zei het in een toelichting.",
            "Ca. 3000 veehouders doen mee.",
        ],
    );
}

#[test]
fn upper_case_acronym_is_not_an_abbreviation() {
    // `VS.` is "de VS" at the end of a sentence, not `vs.` (versus).
    check(
        "Hij woont in de VS. Daar werkt hij.",
        &["Hij woont in de VS.", "Daar werkt hij."],
    );
    check(
        "Ajax vs. Feyenoord eindigde gelijk.",
        &["Ajax vs. Feyenoord eindigde gelijk."],
    );
}

#[test]
fn dotted_acronym_can_end_a_sentence() {
    check(
        "Hij woont in de V.S. De president weet ervan.",
        &["Hij woont in de V.S.", "De president weet ervan."],
    );
}

// ---- initials ----

#[test]
fn initials_before_surnames() {
    check(
        "J.P. Balkenende sprak. W. Hoekstra luisterde.",
        &["J.P. Balkenende sprak.", "W. Hoekstra luisterde."],
    );
    check(
        "Volgens W. Hoekstra is dat zo.",
        &["Volgens W. Hoekstra is dat zo."],
    );
    check(
        "Dat zei J.P. Balkenende gisteren in Den Haag.",
        &["Dat zei J.P. Balkenende gisteren in Den Haag."],
    );
}

#[test]
fn abbreviated_first_names() {
    check(
        "Th. Thijssen schreef het. Chr. Jansen las het.",
        &["Th. Thijssen schreef het.", "Chr. Jansen las het."],
    );
}

// ---- numbers ----

#[test]
fn decimal_commas_and_thousands_points() {
    check(
        "De groei was 3,5 procent. Er kwamen 400.000 mensen en 1.250.000 anderen. Klaar.",
        &[
            "De groei was 3,5 procent.",
            "Er kwamen 400.000 mensen en 1.250.000 anderen.",
            "Klaar.",
        ],
    );
}

#[test]
fn times() {
    check(
        "Om 14.30 uur begon het. Om 16.00 uur was het klaar.",
        &["Om 14.30 uur begon het.", "Om 16.00 uur was het klaar."],
    );
    check(
        "Het begint om 14.30. Kom op tijd.",
        &["Het begint om 14.30.", "Kom op tijd."],
    );
}

#[test]
fn sentence_starting_with_a_number() {
    check(
        "Het waren er 3000. 200 kwamen later.",
        &["Het waren er 3000.", "200 kwamen later."],
    );
}

#[test]
fn numbered_lists() {
    check(
        "1. Eerst dit.\n2. Dan dat.",
        &["1. Eerst dit.", "2. Dan dat."],
    );
    check(
        "Twee punten. 1. Geld. 2. Tijd.",
        &["Twee punten.", "1. Geld.", "2. Tijd."],
    );
    check(
        "a. Eerste optie\nb. Tweede optie",
        &["a. Eerste optie b. Tweede optie"],
    );
}

// ---- ellipses ----

#[test]
fn ellipses() {
    check(
        "Het was… nou ja. Daarna ging hij.",
        &["Het was… nou ja.", "Daarna ging hij."],
    );
    check(
        "Hij wachtte en wachtte... Toen kwam ze.",
        &["Hij wachtte en wachtte...", "Toen kwam ze."],
    );
    check(
        "Hij wachtte ... en toen kwam ze.",
        &["Hij wachtte ... en toen kwam ze."],
    );
    check(
        "Hij wachtte… Toen kwam ze.",
        &["Hij wachtte…", "Toen kwam ze."],
    );
}

#[test]
fn leading_ellipsis_is_not_a_sentence() {
    check(
        "... En toen was het stil. Echt.",
        &["... En toen was het stil.", "Echt."],
    );
}

// ---- quotes and brackets ----

#[test]
fn question_in_quotes_with_attribution() {
    check(
        "\"Wat nu?\" vroeg hij. Niemand wist het.",
        &["\"Wat nu?\" vroeg hij.", "Niemand wist het."],
    );
    check("„Wat nu?” vroeg zij.", &["„Wat nu?” vroeg zij."]);
    check("„Wat nu?“ vroeg zij.", &["„Wat nu?“ vroeg zij."]);
    check(
        "'Wat nu?' vroeg hij. 'Geen idee!' riep zij.",
        &["'Wat nu?' vroeg hij.", "'Geen idee!' riep zij."],
    );
}

#[test]
fn question_in_quotes_followed_by_new_sentence() {
    check(
        "\"Wat nu?\" Hij keek rond.",
        &["\"Wat nu?\"", "Hij keek rond."],
    );
}

#[test]
fn sentence_ending_in_closing_quote_or_bracket() {
    check(
        "Hij zei: \"Ik kom.\" Daarna kwam hij.",
        &["Hij zei: \"Ik kom.\"", "Daarna kwam hij."],
    );
    check(
        "Het gebeurde (zie kader.) Daarna was het stil.",
        &["Het gebeurde (zie kader.)", "Daarna was het stil."],
    );
    check(
        "Ze noemde het „hard nodig.” Het kabinet zweeg.",
        &["Ze noemde het „hard nodig.”", "Het kabinet zweeg."],
    );
}

#[test]
fn quote_opening_next_sentence() {
    check(
        "Hij stopte. \"Het is genoeg\", zei hij.",
        &["Hij stopte.", "\"Het is genoeg\", zei hij."],
    );
}

#[test]
fn exclamation_and_question_marks() {
    check(
        "Wat een dag! Niemand had het verwacht. Echt?! Ja.",
        &["Wat een dag!", "Niemand had het verwacht.", "Echt?!", "Ja."],
    );
    check(
        "Yahoo! heeft een nieuw plan.",
        &["Yahoo! heeft een nieuw plan."],
    );
}

#[test]
fn dutch_elisions() {
    check(
        "Het was druk. 's Avonds werd het rustig.",
        &["Het was druk.", "'s Avonds werd het rustig."],
    );
    check("Dat is 't. Klaar.", &["Dat is 't.", "Klaar."]);
    check(
        "Hij woont in Brabant. 's-Hertogenbosch is zijn stad.",
        &["Hij woont in Brabant.", "'s-Hertogenbosch is zijn stad."],
    );
}

#[test]
fn urls_and_domains() {
    check(
        "Kijk op www.anp.nl voor meer. Of bel.",
        &["Kijk op www.anp.nl voor meer.", "Of bel."],
    );
    check(
        "Meer info op anp.nl. Daarna niets.",
        &["Meer info op anp.nl.", "Daarna niets."],
    );
}

// ---- whitespace, empty, unicode ----

#[test]
fn empty_and_whitespace_only() {
    assert!(ss("").is_empty());
    assert!(ss("   \n\t \r\n ").is_empty());
}

#[test]
fn no_final_punctuation() {
    check("Geen punt aan het eind", &["Geen punt aan het eind"]);
}

#[test]
fn blank_line_is_a_hard_break_single_newline_is_not() {
    check(
        "Geen punt hier\n\nNieuwe alinea",
        &["Geen punt hier", "Nieuwe alinea"],
    );
    check(
        "Een zin die\ndoorloopt. Klaar.",
        &["Een zin die doorloopt.", "Klaar."],
    );
}

#[test]
fn whitespace_is_collapsed() {
    check(
        "  Een   zin\tmet \u{a0}spaties.  Nog één.  ",
        &["Een zin met spaties.", "Nog één."],
    );
}

#[test]
fn punctuation_only() {
    check("...", &["..."]);
    check(". . .", &[". . ."]);
    check("Hallo. )", &["Hallo. )"]);
    check("?! Ja.", &["?! Ja."]);
}

#[test]
fn unicode_letters() {
    check(
        "Het Ĳsselmeer is groot. Één keer per jaar. Ça va! 😀 Leuk.",
        &[
            "Het Ĳsselmeer is groot.",
            "Één keer per jaar.",
            "Ça va!",
            "😀 Leuk.",
        ],
    );
    check(
        "Patiëntenfederatie Nederland: „hard nodig”. Zo.",
        &["Patiëntenfederatie Nederland: „hard nodig”.", "Zo."],
    );
}

#[test]
fn crlf_inside_paragraph() {
    check(
        "Eerste zin.\r\nTweede zin.\r\n\r\nDerde",
        &["Eerste zin.", "Tweede zin.", "Derde"],
    );
    check("Een regel\r\ndoorloopt", &["Een regel doorloopt"]);
    check("Oude Mac\r\rNieuwe alinea", &["Oude Mac", "Nieuwe alinea"]);
    check("Kop\r\n \r\nTekst", &["Kop", "Tekst"]);
}

#[test]
fn multi_sentence_quote_is_split() {
    // Debatable, but deliberate: a quote of several sentences is split at
    // its sentence ends; the attribution stays with the last part.
    check(
        "\"We kunnen niet langer wachten. De natuur gaat achteruit\", zei ze.",
        &[
            "\"We kunnen niet langer wachten.",
            "De natuur gaat achteruit\", zei ze.",
        ],
    );
}

// ---- places, ages, related titles ----

#[test]
fn english_places() {
    for (nl, en) in [
        ("DEN HAAG", "THE HAGUE"),
        ("BRUSSEL", "BRUSSELS"),
        ("ANTWERPEN", "ANTWERP"),
        ("PARIJS", "PARIS"),
        ("LONDEN", "LONDON"),
        ("MOSKOU", "MOSCOW"),
        ("WENEN", "VIENNA"),
        ("KOPENHAGEN", "COPENHAGEN"),
        ("ATHENE", "ATHENS"),
        ("ROME", "ROME"),
        ("MÜNCHEN", "MUNICH"),
        ("GENÈVE", "GENEVA"),
        ("VENETIË", "VENICE"),
        ("’S-GRAVENHAGE", "THE HAGUE"),
        ("DEN  HAAG", "THE HAGUE"),
        ("Den Haag", "The Hague"),
        ("Brussel", "Brussels"),
        ("UTRECHT", "UTRECHT"),
        ("Utrecht", "Utrecht"),
        ("", ""),
    ] {
        assert_eq!(english_place(nl), en, "{nl}");
    }
    assert!(places::PLACES.len() >= 40);
    // Every key is in normalised form, so every entry can be found.
    for (nl, en) in places::PLACES {
        assert_eq!(english_place(nl), en.to_uppercase(), "{nl}");
    }
}

#[test]
fn english_ages() {
    for (nl, en) in [
        ("30 minuten geleden", "30 minutes ago"),
        ("1 minuut geleden", "1 minute ago"),
        ("1 uur geleden", "1 hour ago"),
        ("2 uur geleden", "2 hours ago"),
        ("3 uren geleden", "3 hours ago"),
        ("1 dag geleden", "1 day ago"),
        ("4 dagen geleden", "4 days ago"),
        ("2 weken geleden", "2 weeks ago"),
        ("een uur geleden", "1 hour ago"),
        ("gisteren", "yesterday"),
        ("Gisteren", "Yesterday"),
        ("eergisteren", "the day before yesterday"),
        ("12  minuten   geleden", "12 minutes ago"),
        ("zomaar iets", "zomaar iets"),
        ("", ""),
    ] {
        assert_eq!(english_age(nl), en, "{nl}");
    }
}

#[test]
fn english_related_titles() {
    assert_eq!(
        english_related_title("Meer uit Binnenland"),
        "More from Domestic"
    );
    assert_eq!(
        english_related_title("Meer uit Buitenland"),
        "More from World"
    );
    assert_eq!(
        english_related_title("Meer uit Zeeland"),
        "More from Zeeland"
    );
    assert_eq!(english_related_title("Lees ook"), "Read also");
    assert_eq!(english_related_title("Iets anders"), "Iets anders");
}

// ---- plain text ----

#[test]
fn split_text_keeps_line_structure() {
    let text = "Eerste zin. Tweede zin.\nNieuwe regel.\n\n\nNa twee witregels.";
    let paras = split_text(text);
    assert_eq!(paras.len(), 2);
    assert_eq!(paras[0].blank_lines_before, 0);
    assert_eq!(
        paras[0].lines,
        vec![vec!["Eerste zin.", "Tweede zin."], vec!["Nieuwe regel."]]
    );
    assert_eq!(paras[1].blank_lines_before, 2);
    assert_eq!(text_sentence_count(&paras), 4);
    let original: Vec<&str> = text_sentences(&paras).collect();
    assert_eq!(join_text(&paras, &original), text);
}

#[test]
fn join_text_with_translations() {
    let paras = split_text("Goedemorgen. Hoe gaat het?\n\nTot ziens.");
    let tr = ["Good morning.", "How are you?", "Goodbye."];
    assert_eq!(
        join_text(&paras, &tr),
        "Good morning. How are you?\n\nGoodbye."
    );
    // Missing translations fall back to the original; extras are ignored.
    assert_eq!(
        join_text(&paras, &tr[..1]),
        "Good morning. Hoe gaat het?\n\nTot ziens."
    );
    let extra = ["a", "b", "c", "d"];
    assert_eq!(join_text(&paras, &extra), "a b\n\nc");
}

#[test]
fn split_text_merges_continuation_lines() {
    let paras = split_text("Dit is een zin die\nhier verder gaat. Klaar.\nNieuwe regel.");
    assert_eq!(
        paras[0].lines,
        vec![
            vec!["Dit is een zin die hier verder gaat.", "Klaar."],
            vec!["Nieuwe regel."]
        ]
    );
}

#[test]
fn split_text_merges_hard_wrapped_text() {
    let text = "Het kabinet trekt de komende vier jaar 2,4 miljard euro extra\n\
                uit om de uitstoot van stikstof terug te dringen. Dat heeft de\n\
                minister dinsdag bekendgemaakt.\n\n\
                Volgens de minister is het bedrag nodig om boeren die willen\n\
                stoppen een eerlijk aanbod te doen.";
    let paras = split_text(text);
    assert_eq!(paras.len(), 2);
    assert_eq!(paras[0].lines.len(), 1);
    assert_eq!(paras[0].lines[0].len(), 2);
    assert_eq!(paras[1].lines, vec![vec![
        "Volgens de minister is het bedrag nodig om boeren die willen stoppen een eerlijk aanbod te doen."
    ]]);
}

#[test]
fn split_text_crlf_empty_and_leading_blanks() {
    assert!(split_text("").is_empty());
    assert!(split_text(" \r\n \n").is_empty());
    let paras = split_text("\r\n\r\nEen.\r\nTwee.\r\n\r\nDrie.\r\n");
    assert_eq!(paras.len(), 2);
    assert_eq!(paras[0].blank_lines_before, 2);
    assert_eq!(paras[0].lines, vec![vec!["Een."], vec!["Twee."]]);
    assert_eq!(paras[1].blank_lines_before, 1);
    let s: Vec<&str> = text_sentences(&paras).collect();
    assert_eq!(join_text(&paras, &s), "\n\nEen.\nTwee.\n\nDrie.");
}

#[test]
fn paragraph_serde_roundtrip() {
    let paras = split_text("Een. Twee.\n\nDrie.");
    let json = serde_json::to_string(&paras).unwrap();
    assert_eq!(
        json,
        r#"[{"blank_lines_before":0,"lines":[["Een.","Twee."]]},{"blank_lines_before":1,"lines":[["Drie."]]}]"#
    );
    let back: Vec<Paragraph> = serde_json::from_str(&json).unwrap();
    assert_eq!(back, paras);
}
