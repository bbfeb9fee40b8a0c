//! The benchmark report: `machine`, `software`, `settings` and `results`, as JSON (the format the
//! peer script writes too) and as Markdown.

use crate::models::cpu::isa::KernelReport;
use std::fmt::Write as _;

use serde::{Deserialize, Serialize};

/// Version tag of the report format.
pub const FORMAT: &str = "copydesk-bench/1";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Report {
    #[serde(default)]
    pub format: String,
    pub machine: Machine,
    pub software: Software,
    pub settings: Settings,
    pub results: Vec<CaseResult>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Machine {
    pub os: String,
    pub arch: String,
    pub cpu_model: String,
    pub logical_cpus: usize,
    #[serde(default)]
    pub physical_cores: Option<usize>,
    /// CPU threads the run used.
    pub cores_used: usize,
    #[serde(default)]
    pub isa_flags: Vec<String>,
    #[serde(default)]
    pub memory_bytes: Option<u64>,
    #[serde(default)]
    pub gpu: Option<Gpu>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Gpu {
    pub name: String,
    #[serde(default)]
    pub memory_bytes: Option<u64>,
    #[serde(default)]
    pub driver: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Software {
    /// `copydesk`, `transformers`, `ctranslate2`.
    pub engine: String,
    pub version: String,
    #[serde(default)]
    pub git_commit: Option<String>,
    /// The compute library under the engine (`candle`, `torch`, ...).
    pub backend: String,
    pub backend_version: String,
    #[serde(default)]
    pub features: Vec<String>,
    /// Weight/compute type (`f32`, `int8`, ...).
    pub dtype: String,
    pub threads: usize,
    pub device: String,
    /// Which CPU kernels ran (copydesk on the CPU; `COPYDESK_KERNELS` can force lower ones).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kernels: Option<KernelReport>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Settings {
    /// The `--model` argument or the synthetic model's name.
    pub model: String,
    /// Set when the weights are synthetic: the model whose shape they have.
    #[serde(default)]
    pub synthetic: Option<String>,
    #[serde(default)]
    pub weight_seed: Option<u64>,
    pub workloads: Vec<WorkloadInfo>,
    pub batch_sizes: Vec<usize>,
    pub beams: usize,
    pub runs: usize,
    pub warmup: usize,
    pub threads: usize,
    pub device: String,
    pub dtype: String,
    /// How `threads` was applied.
    #[serde(default)]
    pub threads_via: Option<String>,
    /// Whether peak RSS is per case (the kernel counter was reset before each case) or the
    /// process-wide peak so far.
    #[serde(default)]
    pub peak_rss_scope: Option<String>,
}

/// What a workload was, so reports can show that they ran the same inputs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WorkloadInfo {
    pub name: String,
    pub inputs: usize,
    pub source_tokens: usize,
    /// Exactly this many tokens per input (token-id workloads).
    #[serde(default)]
    pub new_tokens: Option<usize>,
    /// Fingerprint of the input ids (token-id workloads).
    #[serde(default)]
    pub digest: Option<String>,
}

/// Median, min and max of a set of timings, in seconds.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Stats {
    pub median: f64,
    pub min: f64,
    pub max: f64,
}

impl Stats {
    /// `None` for no samples.
    pub fn of(samples: &[f64]) -> Option<Stats> {
        let mut v: Vec<f64> = samples.iter().copied().filter(|x| x.is_finite()).collect();
        if v.is_empty() {
            return None;
        }
        v.sort_by(f64::total_cmp);
        let n = v.len();
        let median = if n % 2 == 1 {
            v[n / 2]
        } else {
            (v[n / 2 - 1] + v[n / 2]) / 2.0
        };
        Some(Stats {
            median,
            min: v[0],
            max: v[n - 1],
        })
    }
}

/// One case: a workload at a batch size and beam width.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CaseResult {
    pub workload: String,
    pub batch_size: usize,
    pub beams: usize,
    pub inputs: usize,
    /// Source tokens over all inputs, without padding.
    pub source_tokens: usize,
    /// Generated tokens over all inputs, per run.
    pub generated_tokens: usize,
    pub runs: usize,
    pub total_s: Stats,
    /// Median time in the encoder, per run (when the engine can tell).
    #[serde(default)]
    pub encode_s: Option<f64>,
    /// Median time decoding (cross-attention set-up and every step), per run.
    #[serde(default)]
    pub decode_s: Option<f64>,
    /// Median time from a single input to its first generated token (batch 1 only).
    #[serde(default)]
    pub first_token_s: Option<f64>,
    pub generated_tokens_per_s: f64,
    pub source_tokens_per_s: f64,
    #[serde(default)]
    pub peak_rss_bytes: Option<u64>,
}

impl CaseResult {
    /// `(workload, batch size, beams)`: how cases are matched across reports.
    pub fn key(&self) -> (String, usize, usize) {
        (self.workload.clone(), self.batch_size, self.beams)
    }
}

impl Report {
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"))
    }

    pub fn from_json(text: &str) -> Result<Report, String> {
        serde_json::from_str(text).map_err(|e| format!("not a copydesk bench report: {e}"))
    }

    /// A short name for tables: engine and dtype (`copydesk f32`, `ctranslate2 int8`).
    pub fn label(&self) -> String {
        format!("{} {}", self.software.engine, self.software.dtype)
    }

    /// The report as Markdown: the machine, software and settings, then one row per case.
    pub fn to_markdown(&self) -> String {
        let m = &self.machine;
        let s = &self.software;
        let st = &self.settings;
        let mut out = String::new();
        let _ = writeln!(out, "# Benchmark: {}\n", self.label());
        let _ = writeln!(
            out,
            "- machine: {} ({}/{}), {} logical CPUs{}, {} threads used, memory {}",
            m.cpu_model,
            m.os,
            m.arch,
            m.logical_cpus,
            m.physical_cores
                .map(|c| format!(" / {c} cores"))
                .unwrap_or_default(),
            m.cores_used,
            m.memory_bytes.map(gib).unwrap_or_else(|| "?".into())
        );
        let _ = writeln!(out, "- ISA: {}", m.isa_flags.join(" "));
        if let Some(k) = &self.software.kernels {
            let _ = writeln!(
                out,
                "- kernels: dense_f32 {}, dense_q8 {}, attention {}",
                k.dense_f32, k.dense_q8, k.attention
            );
        }
        if let Some(g) = &m.gpu {
            let _ = writeln!(
                out,
                "- GPU: {} ({}, driver {})",
                g.name,
                g.memory_bytes.map(gib).unwrap_or_else(|| "?".into()),
                g.driver.as_deref().unwrap_or("?")
            );
        }
        let _ = writeln!(
            out,
            "- software: {} {} (commit {}), {} {}, features [{}], {} on {}, {} threads",
            s.engine,
            s.version,
            s.git_commit.as_deref().unwrap_or("?"),
            s.backend,
            s.backend_version,
            s.features.join(", "),
            s.dtype,
            s.device,
            s.threads
        );
        let _ = writeln!(
            out,
            "- model: {}{}; beams {}, runs {} after {} warm-up",
            st.model,
            st.synthetic
                .as_ref()
                .map(|n| format!(" (synthetic, shape of {n})"))
                .unwrap_or_default(),
            st.beams,
            st.runs,
            st.warmup
        );
        for w in &st.workloads {
            let _ = writeln!(
                out,
                "- workload {}: {} inputs, {} source tokens{}{}",
                w.name,
                w.inputs,
                w.source_tokens,
                w.new_tokens
                    .map(|n| format!(", exactly {n} new tokens each"))
                    .unwrap_or_default(),
                w.digest
                    .as_ref()
                    .map(|d| format!(" (ids {d})"))
                    .unwrap_or_default()
            );
        }
        out.push('\n');
        out.push_str(&self.results_table());
        out
    }

    /// The results as a Markdown table.
    pub fn results_table(&self) -> String {
        let mut out = String::from(
            "| workload | batch | beams | gen tok/s | src tok/s | total s (median [min, max]) | encode s | decode s | first token s | peak RSS |\n\
             | --- | ---: | ---: | ---: | ---: | --- | ---: | ---: | ---: | ---: |\n",
        );
        for r in &self.results {
            let _ = writeln!(
                out,
                "| {} | {} | {} | {:.1} | {:.1} | {:.3} [{:.3}, {:.3}] | {} | {} | {} | {} |",
                r.workload,
                r.batch_size,
                r.beams,
                r.generated_tokens_per_s,
                r.source_tokens_per_s,
                r.total_s.median,
                r.total_s.min,
                r.total_s.max,
                opt_s(r.encode_s),
                opt_s(r.decode_s),
                r.first_token_s
                    .map_or_else(|| "-".into(), |x| format!("{x:.4}")),
                r.peak_rss_bytes.map(mib).unwrap_or_else(|| "-".into()),
            );
        }
        out
    }
}

fn opt_s(v: Option<f64>) -> String {
    v.map_or_else(|| "-".into(), |x| format!("{x:.3}"))
}

fn gib(b: u64) -> String {
    format!("{:.1} GiB", b as f64 / (1u64 << 30) as f64)
}

fn mib(b: u64) -> String {
    format!("{:.0} MiB", b as f64 / (1u64 << 20) as f64)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) fn sample(engine: &str, tok_s: &[(&str, usize, f64)]) -> Report {
        Report {
            format: FORMAT.into(),
            machine: Machine {
                os: "linux".into(),
                arch: "x86_64".into(),
                cpu_model: "Test CPU".into(),
                logical_cpus: 2,
                physical_cores: Some(2),
                cores_used: 2,
                isa_flags: vec!["avx2".into()],
                memory_bytes: Some(8 << 30),
                gpu: None,
            },
            software: Software {
                engine: engine.into(),
                version: "0.1.0".into(),
                git_commit: Some("abc".into()),
                backend: "candle".into(),
                backend_version: "0.11.1".into(),
                features: vec![],
                dtype: "f32".into(),
                threads: 2,
                device: "cpu".into(),
                kernels: None,
            },
            settings: Settings {
                model: "opus-mt-nl-en".into(),
                synthetic: Some("opus-mt-nl-en".into()),
                weight_seed: Some(1),
                workloads: vec![WorkloadInfo {
                    name: "wire".into(),
                    inputs: 64,
                    source_tokens: 2560,
                    new_tokens: Some(40),
                    digest: Some("00ff".into()),
                }],
                batch_sizes: vec![1, 8],
                beams: 1,
                runs: 3,
                warmup: 1,
                threads: 2,
                device: "cpu".into(),
                dtype: "f32".into(),
                threads_via: None,
                peak_rss_scope: None,
            },
            results: tok_s
                .iter()
                .map(|&(w, b, tps)| CaseResult {
                    workload: w.into(),
                    batch_size: b,
                    beams: 1,
                    inputs: 64,
                    source_tokens: 2560,
                    generated_tokens: 2560,
                    runs: 3,
                    total_s: Stats {
                        median: 10.0,
                        min: 9.0,
                        max: 11.5,
                    },
                    encode_s: Some(0.5),
                    decode_s: None,
                    first_token_s: (b == 1).then_some(0.02),
                    generated_tokens_per_s: tps,
                    source_tokens_per_s: tps,
                    peak_rss_bytes: Some(300 << 20),
                })
                .collect(),
        }
    }

    #[test]
    fn json_round_trip() {
        let r = sample("copydesk", &[("wire", 1, 50.0), ("wire", 8, 200.0)]);
        let back = Report::from_json(&r.to_json()).unwrap();
        assert_eq!(back, r);
        assert!(Report::from_json("{\"machine\": 1}").is_err());
    }

    #[test]
    fn reports_missing_optional_fields_still_parse() {
        let mut v: serde_json::Value = serde_json::from_str(&sample("x", &[]).to_json()).unwrap();
        v.as_object_mut().unwrap().remove("format");
        v["machine"].as_object_mut().unwrap().remove("gpu");
        let r = Report::from_json(&v.to_string()).unwrap();
        assert_eq!(r.format, "");
        assert_eq!(r.machine.gpu, None);
    }

    #[test]
    fn stats_median_min_max() {
        let s = Stats::of(&[3.0, 1.0, 2.0]).unwrap();
        assert_eq!((s.median, s.min, s.max), (2.0, 1.0, 3.0));
        assert_eq!(Stats::of(&[4.0, 1.0]).unwrap().median, 2.5);
        assert_eq!(Stats::of(&[]), None);
    }

    #[test]
    fn markdown_lists_every_case() {
        let md = sample("copydesk", &[("wire", 1, 50.0), ("summ", 8, 20.0)]).to_markdown();
        assert!(md.contains("| wire | 1 | 1 | 50.0 |"), "{md}");
        assert!(md.contains("| summ | 8 | 1 | 20.0 |"), "{md}");
        assert!(md.contains("Test CPU") && md.contains("avx2"));
    }
}
