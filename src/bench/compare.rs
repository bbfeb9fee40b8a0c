//! `--compare a.json b.json [...]`: reports side by side, generated tokens/s per case, with the
//! ratio of the first report to each other one (above 1: the first is faster).

use std::fmt::Write as _;

use super::report::{CaseResult, Report};

/// Ratio of throughputs `a / b`; `None` when `b` is not positive.
pub fn ratio(a: f64, b: f64) -> Option<f64> {
    (b > 0.0 && a.is_finite() && b.is_finite()).then(|| a / b)
}

/// Column names: each report's label, made unique.
fn labels(reports: &[Report]) -> Vec<String> {
    let base: Vec<String> = reports.iter().map(Report::label).collect();
    base.iter()
        .enumerate()
        .map(|(i, l)| {
            if base.iter().filter(|x| *x == l).count() > 1 {
                format!("{l} #{}", i + 1)
            } else {
                l.clone()
            }
        })
        .collect()
}

/// Every case key in order of first appearance across the reports.
fn case_keys(reports: &[Report]) -> Vec<(String, usize, usize)> {
    let mut keys: Vec<(String, usize, usize)> = Vec::new();
    for r in reports {
        for c in &r.results {
            if !keys.contains(&c.key()) {
                keys.push(c.key());
            }
        }
    }
    keys
}

fn find<'a>(r: &'a Report, key: &(String, usize, usize)) -> Option<&'a CaseResult> {
    r.results.iter().find(|c| &c.key() == key)
}

/// Warnings about reports that did not do comparable work.
fn notes(reports: &[Report], names: &[String]) -> Vec<String> {
    let mut out = Vec::new();
    let first = &reports[0];
    for (r, name) in reports.iter().zip(names).skip(1) {
        for w in &first.settings.workloads {
            let other = r.settings.workloads.iter().find(|x| x.name == w.name);
            if let (Some(a), Some(b)) = (&w.digest, other.and_then(|o| o.digest.as_ref())) {
                if a != b {
                    out.push(format!(
                        "{name}: workload {} has different inputs (ids {b} vs {a})",
                        w.name
                    ));
                }
            }
        }
        if r.settings.threads != first.settings.threads {
            out.push(format!(
                "{name}: {} threads vs {}",
                r.settings.threads, first.settings.threads
            ));
        }
        if r.machine.cpu_model != first.machine.cpu_model || r.machine.gpu != first.machine.gpu {
            out.push(format!(
                "{name}: ran on a different machine ({})",
                r.machine.cpu_model
            ));
        }
    }
    out
}

/// The Markdown comparison of `reports` (at least two).
pub fn compare(reports: &[Report]) -> Result<String, String> {
    if reports.len() < 2 {
        return Err("--compare needs at least two reports".into());
    }
    let names = labels(reports);
    let mut out = String::new();
    let _ = writeln!(
        out,
        "Generated tokens/s; ratios are {} ÷ each other engine (above 1: {} is faster).\n",
        names[0], names[0]
    );
    let mut header = String::from("| workload | batch | beams |");
    let mut rule = String::from("| --- | ---: | ---: |");
    for n in &names {
        let _ = write!(header, " {n} |");
        rule.push_str(" ---: |");
    }
    for n in &names[1..] {
        let _ = write!(header, " {} ÷ {n} |", names[0]);
        rule.push_str(" ---: |");
    }
    let _ = writeln!(out, "{header}\n{rule}");
    for key in case_keys(reports) {
        let tps: Vec<Option<f64>> = reports
            .iter()
            .map(|r| find(r, &key).map(|c| c.generated_tokens_per_s))
            .collect();
        let mut row = format!("| {} | {} | {} |", key.0, key.1, key.2);
        for t in &tps {
            let _ = write!(row, " {} |", t.map_or("-".into(), |v| format!("{v:.1}")));
        }
        for t in &tps[1..] {
            let r = match (tps[0], *t) {
                (Some(a), Some(b)) => ratio(a, b),
                _ => None,
            };
            let _ = write!(row, " {} |", r.map_or("-".into(), |v| format!("{v:.2}×")));
        }
        let _ = writeln!(out, "{row}");
    }
    let notes = notes(reports, &names);
    if !notes.is_empty() {
        out.push_str("\nNotes:\n");
        for n in notes {
            let _ = writeln!(out, "- {n}");
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::super::report::tests::sample;
    use super::*;

    #[test]
    fn ratios_and_missing_cases() {
        let a = sample("copydesk", &[("wire", 1, 60.0), ("wire", 8, 200.0)]);
        let mut b = sample("ctranslate2", &[("wire", 1, 30.0), ("wire", 32, 400.0)]);
        b.software.dtype = "int8".into();
        let out = compare(&[a, b]).unwrap();
        assert!(out.contains("copydesk f32 ÷ ctranslate2 int8"), "{out}");
        assert!(
            out.contains("| wire | 1 | 1 | 60.0 | 30.0 | 2.00× |"),
            "{out}"
        );
        assert!(out.contains("| wire | 8 | 1 | 200.0 | - | - |"), "{out}");
        assert!(out.contains("| wire | 32 | 1 | - | 400.0 | - |"), "{out}");
        assert!(!out.contains("Notes"), "{out}");
    }

    #[test]
    fn different_inputs_threads_and_labels_are_flagged() {
        let a = sample("copydesk", &[("wire", 1, 60.0)]);
        let mut b = sample("copydesk", &[("wire", 1, 20.0)]);
        b.settings.workloads[0].digest = Some("beef".into());
        b.settings.threads = 4;
        let out = compare(&[a.clone(), b]).unwrap();
        assert!(out.contains("copydesk f32 #1 ÷ copydesk f32 #2"), "{out}");
        assert!(out.contains("3.00×"), "{out}");
        assert!(
            out.contains("different inputs") && out.contains("4 threads vs 2"),
            "{out}"
        );
        assert!(compare(&[a]).is_err());
        assert_eq!(ratio(1.0, 0.0), None);
    }
}
