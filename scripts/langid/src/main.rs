//! Language-identification evaluation for copydesk.
//!
//! Usage: cargo run --release -- ../../tests/fixtures/langid/news.tsv [--sizes DIR] [--misses]
//!
//! Input: TSV with columns `lang<TAB>kind<TAB>text`, lang in {nl,en,de,fr,es,it,af},
//! kind in {sentence,headline}. Blank lines and lines starting with '#' are skipped,
//! as is a header line whose first field is `lang`.
//!
//! `--sizes DIR`: DIR holds stripped release binaries named size-base, size-whatlang,
//! size-whichlang and size-lingua (minimal programs; see tests/fixtures/langid/README.md);
//! the size column is then `size-<crate> - size-base`. Without it the column reads n/m.
//! `--misses`: also list every wrong detection per detector.

use std::collections::BTreeMap;
use std::time::Instant;

const LANGS: [&str; 7] = ["nl", "en", "de", "fr", "es", "it", "af"];
const REPS: u32 = 5;

struct Row {
    lang: String,
    kind: String,
    text: String,
}

struct Detector {
    name: &'static str,
    version: &'static str,
    size_key: &'static str,
    note: &'static str,
    detect: Box<dyn Fn(&str) -> &'static str>,
}

fn whatlang_code(l: whatlang::Lang) -> &'static str {
    use whatlang::Lang::*;
    match l {
        Nld => "nl",
        Eng => "en",
        Deu => "de",
        Fra => "fr",
        Spa => "es",
        Ita => "it",
        Afr => "af",
        _ => "other",
    }
}

fn whichlang_code(l: whichlang::Lang) -> &'static str {
    use whichlang::Lang::*;
    match l {
        Nld => "nl",
        Eng => "en",
        Deu => "de",
        Fra => "fr",
        Spa => "es",
        Ita => "it",
        Por => "pt",
        Swe => "sv",
        Tur => "tr",
        Vie => "vi",
        _ => "other",
    }
}

fn lingua_code(l: lingua::Language) -> &'static str {
    use lingua::Language::*;
    match l {
        Dutch => "nl",
        English => "en",
        German => "de",
        French => "fr",
        Spanish => "es",
        Italian => "it",
        Afrikaans => "af",
        #[allow(unreachable_patterns)]
        _ => "other",
    }
}

fn detectors() -> Vec<Detector> {
    use whatlang::Lang as W;
    let wl = whatlang::Detector::with_allowlist(vec![
        W::Nld,
        W::Eng,
        W::Deu,
        W::Fra,
        W::Spa,
        W::Ita,
        W::Afr,
    ]);
    use lingua::Language as L;
    let langs = [
        L::Dutch,
        L::English,
        L::German,
        L::French,
        L::Spanish,
        L::Italian,
        L::Afrikaans,
    ];
    let lg_high = lingua::LanguageDetectorBuilder::from_languages(&langs)
        .with_preloaded_language_models()
        .build();
    let lg_low = lingua::LanguageDetectorBuilder::from_languages(&langs)
        .with_preloaded_language_models()
        .with_low_accuracy_mode()
        .build();
    vec![
        Detector {
            name: "whatlang (allowlist of 7)",
            version: "0.18.0",
            size_key: "whatlang",
            note: "",
            detect: Box::new(move |t| wl.detect_lang(t).map(whatlang_code).unwrap_or("none")),
        },
        Detector {
            name: "whichlang",
            version: "0.1.1",
            size_key: "whichlang",
            note: "no Afrikaans in its fixed set: every af line counts as a miss",
            detect: Box::new(|t| whichlang_code(whichlang::detect_language(t))),
        },
        Detector {
            name: "lingua (7 langs, high accuracy)",
            version: "1.8.0",
            size_key: "lingua",
            note: "",
            detect: Box::new(move |t| {
                lg_high.detect_language_of(t).map(lingua_code).unwrap_or("none")
            }),
        },
        Detector {
            name: "lingua (7 langs, low accuracy mode)",
            version: "1.8.0",
            size_key: "lingua",
            note: "",
            detect: Box::new(move |t| {
                lg_low.detect_language_of(t).map(lingua_code).unwrap_or("none")
            }),
        },
    ]
}

fn read_rows(path: &str) -> Vec<Row> {
    let data = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("read {path}: {e}"));
    let mut rows = Vec::new();
    for (i, line) in data.lines().enumerate() {
        let line = line.trim_end_matches('\r');
        if line.trim().is_empty() || line.starts_with('#') {
            continue;
        }
        let mut f = line.splitn(3, '\t');
        let (lang, kind, text) = match (f.next(), f.next(), f.next()) {
            (Some(a), Some(b), Some(c)) => (a.trim(), b.trim(), c.trim()),
            _ => panic!("{path}:{}: expected 3 tab-separated fields", i + 1),
        };
        if lang == "lang" {
            continue;
        }
        assert!(LANGS.contains(&lang), "{path}:{}: unknown lang {lang}", i + 1);
        assert!(
            kind == "sentence" || kind == "headline",
            "{path}:{}: unknown kind {kind}",
            i + 1
        );
        rows.push(Row { lang: lang.into(), kind: kind.into(), text: text.into() });
    }
    rows
}

fn cpu_name() -> String {
    if let Ok(out) = std::process::Command::new("lscpu").env("LC_ALL", "C").output() {
        let s = String::from_utf8_lossy(&out.stdout);
        if let Some(l) = s.lines().find(|l| l.starts_with("Model name:")) {
            return l["Model name:".len()..].trim().to_string();
        }
    }
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|v| v.trim().to_string())
        })
        .unwrap_or_else(|| "unknown".into())
}

fn pct(ok: usize, n: usize) -> String {
    if n == 0 {
        "-".into()
    } else {
        format!("{:.1}", 100.0 * ok as f64 / n as f64)
    }
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut path = None;
    let mut sizes_dir = None;
    let mut show_misses = false;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--sizes" => sizes_dir = it.next().cloned(),
            "--misses" => show_misses = true,
            _ => path = Some(a.clone()),
        }
    }
    let path = path.unwrap_or_else(|| "../../tests/fixtures/langid/news.tsv".into());
    let rows = read_rows(&path);

    let size_of = |key: &str| -> Option<u64> {
        let d = sizes_dir.as_ref()?;
        std::fs::metadata(format!("{d}/size-{key}")).ok().map(|m| m.len())
    };
    let base = size_of("base");

    let mut counts: BTreeMap<(String, String), usize> = BTreeMap::new();
    for r in &rows {
        *counts.entry((r.lang.clone(), r.kind.clone())).or_default() += 1;
    }

    println!("# Language identification on {path}\n");
    println!("CPU: {}", cpu_name());
    println!(
        "Lines: {} ({} sentences, {} headlines); accuracy in %, S = sentences, H = headlines",
        rows.len(),
        rows.iter().filter(|r| r.kind == "sentence").count(),
        rows.iter().filter(|r| r.kind == "headline").count()
    );
    print!("Per language (S/H):");
    for l in LANGS {
        print!(
            " {l} {}/{}",
            counts.get(&(l.into(), "sentence".into())).unwrap_or(&0),
            counts.get(&(l.into(), "headline".into())).unwrap_or(&0)
        );
    }
    println!("\n");

    print!("| crate | version |");
    for l in LANGS {
        print!(" {l} S | {l} H |");
    }
    println!(" overall | nl→af | af→nl | µs/detection (median) | release size delta |");
    print!("|---|---|");
    for _ in LANGS {
        print!("---:|---:|");
    }
    println!("---:|---:|---:|---:|---:|");

    let mut notes = Vec::new();
    let mut misses_out = String::new();
    for det in detectors() {
        // Warm-up pass (also the accuracy pass: detectors are deterministic).
        let preds: Vec<&'static str> = rows.iter().map(|r| (det.detect)(&r.text)).collect();
        // Timing pass: mean of REPS calls per line, median over lines.
        let mut times: Vec<f64> = rows
            .iter()
            .map(|r| {
                let t0 = Instant::now();
                for _ in 0..REPS {
                    std::hint::black_box((det.detect)(std::hint::black_box(&r.text)));
                }
                t0.elapsed().as_secs_f64() * 1e6 / REPS as f64
            })
            .collect();
        times.sort_by(|a, b| a.partial_cmp(b).unwrap());
        let median = if times.is_empty() { 0.0 } else { times[times.len() / 2] };

        let mut ok: BTreeMap<(String, String), usize> = BTreeMap::new();
        let (mut nl_af, mut af_nl, mut total_ok) = (0, 0, 0);
        for (r, p) in rows.iter().zip(&preds) {
            if *p == r.lang {
                *ok.entry((r.lang.clone(), r.kind.clone())).or_default() += 1;
                total_ok += 1;
            } else {
                if r.lang == "nl" && *p == "af" {
                    nl_af += 1;
                }
                if r.lang == "af" && *p == "nl" {
                    af_nl += 1;
                }
                misses_out.push_str(&format!(
                    "- {}: [{} {}] → {}: {}\n",
                    det.name, r.lang, r.kind, p, r.text
                ));
            }
        }
        print!("| {} | {} |", det.name, det.version);
        for l in LANGS {
            for k in ["sentence", "headline"] {
                let key = (l.to_string(), k.to_string());
                print!(" {} |", pct(*ok.get(&key).unwrap_or(&0), *counts.get(&key).unwrap_or(&0)));
            }
        }
        let size = match (base, size_of(det.size_key)) {
            (Some(b), Some(s)) => format!("{:+.2} MiB", (s as f64 - b as f64) / 1048576.0),
            _ => "n/m".into(),
        };
        println!(
            " {} | {} | {} | {:.1} | {} |",
            pct(total_ok, rows.len()),
            nl_af,
            af_nl,
            median,
            size
        );
        if !det.note.is_empty() {
            notes.push(format!("- {}: {}", det.name, det.note));
        }
    }
    if !notes.is_empty() {
        println!("\nNotes:\n{}", notes.join("\n"));
    }
    if show_misses {
        println!("\n## Misses\n\n{misses_out}");
    }
}
