//! Progress of a batch run on standard error: an `indicatif` bar on a terminal, otherwise a plain
//! log line every few seconds; and the summary at the end.

use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::archive::runner::RunObserver;
use crate::engine::Engine;

/// Seconds between log lines when standard error is not a terminal.
const LOG_EVERY: Duration = Duration::from_secs(5);

/// Counts of one run, and how they are shown.
pub struct Progress {
    bar: Option<ProgressBar>,
    total: Option<u64>,
    start: Instant,
    last_log: Instant,
    engines: Vec<Engine>,
    tokens_at_start: u64,
    pub ok: u64,
    pub failed: u64,
    pub skipped: u64,
    failures: BTreeMap<String, u64>,
}

impl Progress {
    /// `total`: records in the inputs, when known; `engines`: the model threads whose generated
    /// tokens are counted.
    pub fn new(total: Option<u64>, engines: Vec<Engine>) -> Progress {
        let bar = std::io::stderr().is_terminal().then(|| {
            let bar = match total {
                Some(n) => ProgressBar::with_draw_target(Some(n), ProgressDrawTarget::stderr()),
                None => ProgressBar::new_spinner(),
            };
            let template = match total {
                Some(_) => "{bar:25} {pos}/{len} {wide_msg}",
                None => "{spinner} {pos} records {wide_msg}",
            };
            if let Ok(style) = ProgressStyle::with_template(template) {
                bar.set_style(style);
            }
            bar
        });
        let mut p = Progress {
            bar,
            total,
            start: Instant::now(),
            last_log: Instant::now(),
            engines,
            tokens_at_start: 0,
            ok: 0,
            failed: 0,
            skipped: 0,
            failures: BTreeMap::new(),
        };
        p.tokens_at_start = p.tokens();
        p
    }

    fn tokens(&self) -> u64 {
        self.engines
            .iter()
            .map(|e| e.stats().generated_tokens.load(Ordering::Relaxed))
            .sum()
    }

    fn done(&self) -> u64 {
        self.ok + self.failed + self.skipped
    }

    fn advance(&self) {
        if let Some(bar) = &self.bar {
            bar.set_position(self.done());
        }
    }

    /// Records and tokens per second over this run, and the estimated time left.
    fn rates(&self) -> (f64, f64, Option<Duration>) {
        let secs = self.start.elapsed().as_secs_f64().max(1e-3);
        let processed = (self.ok + self.failed) as f64;
        let per_sec = processed / secs;
        let tokens = self.tokens().saturating_sub(self.tokens_at_start) as f64 / secs;
        let eta = self.total.and_then(|t| {
            let left = t.saturating_sub(self.done()) as f64;
            (per_sec > 0.0).then(|| Duration::from_secs_f64(left / per_sec))
        });
        (per_sec, tokens, eta)
    }

    fn status(&self) -> String {
        let (per_sec, tokens, eta) = self.rates();
        let mut s = format!("{per_sec:.1} records/s, {tokens:.0} tokens/s");
        if self.failed > 0 {
            s += &format!(", {} failed", self.failed);
        }
        if self.skipped > 0 {
            s += &format!(", {} skipped", self.skipped);
        }
        if let Some(eta) = eta {
            s += &format!(", ETA {}", clock(eta));
        }
        s
    }

    /// Clears the bar and prints the summary.
    pub fn finish(&self, interrupted: bool) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
        let wall = self.start.elapsed();
        let (per_sec, tokens, _) = self.rates();
        eprintln!(
            "batch: {} ok, {} failed, {} skipped (already in the output) in {}; {per_sec:.2} records/s, {tokens:.0} generated tokens/s",
            self.ok,
            self.failed,
            self.skipped,
            clock(wall)
        );
        let (batches, rows) = self.engines.iter().fold((0, 0), |(b, r), e| {
            let s = e.stats();
            (
                b + s.batches.load(Ordering::Relaxed),
                r + s.rows.load(Ordering::Relaxed),
            )
        });
        if batches > 0 {
            eprintln!(
                "batch: {batches} model batches, {:.1} sequences per batch on average",
                rows as f64 / batches as f64
            );
        }
        if !self.failures.is_empty() {
            let list: Vec<String> = self
                .failures
                .iter()
                .map(|(code, n)| format!("{n} {code}"))
                .collect();
            eprintln!("batch: failures: {}", list.join(", "));
        }
        if interrupted {
            eprintln!("batch: interrupted; run again with --resume to continue");
        }
    }
}

/// `1h02m03s`, `2m03s`, `4.2s`.
impl RunObserver for Progress {
    fn record_ok(&mut self) {
        self.ok += 1;
        self.advance();
    }

    fn record_failed(&mut self, code: &str) {
        self.failed += 1;
        *self.failures.entry(code.to_string()).or_default() += 1;
        self.advance();
    }

    fn record_skipped(&mut self) {
        self.skipped += 1;
        self.advance();
    }

    /// Refreshes the bar, or logs a line when one is due.
    fn tick(&mut self) {
        if let Some(bar) = &self.bar {
            bar.set_message(self.status());
            bar.tick();
        } else if self.last_log.elapsed() >= LOG_EVERY {
            self.last_log = Instant::now();
            let of = self.total.map(|t| format!("/{t}")).unwrap_or_default();
            eprintln!("batch: {}{of} records, {}", self.done(), self.status());
        }
    }

    /// Prints a line without breaking the bar.
    fn println(&self, line: &str) {
        match &self.bar {
            Some(bar) => bar.println(line),
            None => eprintln!("{line}"),
        }
    }
}

fn clock(d: Duration) -> String {
    let s = d.as_secs();
    match s {
        0..60 => format!("{:.1}s", d.as_secs_f64()),
        60..3600 => format!("{}m{:02}s", s / 60, s % 60),
        _ => format!("{}h{:02}m{:02}s", s / 3600, s / 60 % 60, s % 60),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clock_formats() {
        assert_eq!(clock(Duration::from_millis(4200)), "4.2s");
        assert_eq!(clock(Duration::from_secs(123)), "2m03s");
        assert_eq!(clock(Duration::from_secs(3723)), "1h02m03s");
    }
}
