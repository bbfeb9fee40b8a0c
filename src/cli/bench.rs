//! `copydesk bench`.

use std::path::{Path, PathBuf};

use clap::Args;

use super::{print_lines, DeviceArgs};
use crate::bench::compare::compare;
use crate::bench::export::{export, WorkloadsFile};
use crate::bench::synthetic::SYNTHETIC_MODELS;
use crate::bench::workload::Workload;
use crate::bench::{self, BenchConfig, ModelChoice, Plan, Report, SyntheticSpec};
use crate::Error;

/// Time the same work on any hardware and write a comparable report.
///
/// Token-id workloads (fixed, seeded; identical for every engine): `wire` is 64 inputs of 20–60
/// source tokens with exactly 40 generated tokens each; `summ` is 8 inputs of 400 source tokens
/// with exactly 60 generated tokens. `article` runs the shared sample articles end to end
/// (segment, translate, summarize with --summarizer) through the same service the server uses.
///
/// `--synthetic NAME` builds seeded random weights with the exact shape of a real model
/// (opus-mt-nl-en, the FLAN-T5 and T5 sizes, distilbart-cnn-12-6, bart-large-cnn, pegasus-xsum,
/// pegasus-cnn_dailymail; an unknown NAME lists them), no download; `--export DIR` writes
/// that model in the hub layout for the server, the batch command and other engines
/// (benches/peers/). `--compare a.json b.json` prints reports side by side with ratios.
#[derive(Debug, Args)]
pub struct BenchArgs {
    /// Model to time: manifest name, hub id, local directory, or synthetic:NAME.
    #[arg(long, env = "COPYDESK_BENCH_MODEL")]
    pub model: Option<String>,
    /// Synthetic model with the shape of NAME (wins over --model).
    #[arg(long, env = "COPYDESK_BENCH_SYNTHETIC", value_name = "NAME")]
    pub synthetic: Option<String>,
    /// Workloads, comma-separated: wire, summ, article. Default: wire for a translator, summ
    /// for a summarizer.
    #[arg(long, env = "COPYDESK_BENCH_WORKLOAD", value_delimiter = ',')]
    pub workload: Vec<Workload>,
    /// Summarizer for the article workload (model or synthetic:NAME); without it the article
    /// workload translates only.
    #[arg(long, env = "COPYDESK_BENCH_SUMMARIZER")]
    pub summarizer: Option<String>,
    /// Batch sizes (rows per padded batch), comma-separated.
    #[arg(
        long,
        env = "COPYDESK_BENCH_BATCH_SIZES",
        value_delimiter = ',',
        default_value = "1,8,32"
    )]
    pub batch_sizes: Vec<usize>,
    /// Beam width (1 = greedy).
    #[arg(long, env = "COPYDESK_BENCH_BEAMS", default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=64))]
    pub beams: u32,
    #[command(flatten)]
    pub device: DeviceArgs,
    /// CPU threads for the model (sets RAYON_NUM_THREADS / CANDLE_NUM_THREADS before start).
    /// Default: candle's default (RAYON_NUM_THREADS, else the physical cores).
    #[arg(long, env = "COPYDESK_THREADS", value_parser = clap::value_parser!(u32).range(1..=1024))]
    pub threads: Option<u32>,
    /// Timed runs per case.
    #[arg(long, env = "COPYDESK_BENCH_RUNS", default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub runs: u32,
    /// Untimed runs before the timed ones.
    #[arg(long, env = "COPYDESK_BENCH_WARMUP", default_value_t = 1, value_parser = clap::value_parser!(u32).range(0..=100))]
    pub warmup: u32,
    /// Article workload: most tokens per generated sentence (random weights rarely emit eos).
    #[arg(long, env = "COPYDESK_MAX_NEW_TOKENS", value_parser = clap::value_parser!(u32).range(1..=4096))]
    pub max_new_tokens: Option<u32>,
    /// Write the JSON report here.
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// Write the Markdown report here.
    #[arg(long, value_name = "FILE")]
    pub markdown: Option<PathBuf>,
    /// Write the synthetic model in the hub layout to DIR and exit.
    #[arg(long, value_name = "DIR")]
    pub export: Option<PathBuf>,
    /// Write the wire and summ input ids for the model to FILE (JSON) and exit.
    #[arg(long, value_name = "FILE")]
    pub workloads_file: Option<PathBuf>,
    /// Print these reports side by side (first ÷ each other) and exit.
    #[arg(long, num_args = 2.., value_name = "REPORT")]
    pub compare: Vec<PathBuf>,
}

impl BenchArgs {
    fn model_choice(&self) -> Result<ModelChoice, Error> {
        let synthetic = self.synthetic.as_deref().or_else(|| {
            self.model
                .as_deref()
                .and_then(|m| m.trim().strip_prefix("synthetic:"))
        });
        match (synthetic, &self.model) {
            (Some(name), _) => Ok(ModelChoice::Synthetic(SyntheticSpec::find(name)?)),
            (None, Some(m)) => Ok(ModelChoice::Spec(m.clone())),
            (None, None) => Err(Error::invalid(
                "invalid_argument",
                format!(
                    "name a model: --model M or --synthetic NAME ({})",
                    SYNTHETIC_MODELS.map(|s| s.name).join(", ")
                ),
            )),
        }
    }

    fn config(&self, threads: usize, threads_via: String) -> Result<BenchConfig, Error> {
        if self.batch_sizes.is_empty() || self.batch_sizes.contains(&0) {
            return Err(Error::invalid(
                "invalid_argument",
                "--batch-sizes must be positive numbers, e.g. 1,8,32",
            ));
        }
        Ok(BenchConfig {
            model: self.model_choice()?,
            summarizer: self.summarizer.clone(),
            workloads: self.workload.clone(),
            plan: Plan {
                batch_sizes: self.batch_sizes.clone(),
                beams: self.beams as usize,
                runs: self.runs as usize,
                warmup: self.warmup as usize,
            },
            load: self.device.load_options()?,
            device_label: self.device.device.to_string(),
            dtype_label: self.device.dtype.to_string(),
            threads,
            threads_via,
            max_new_tokens: self.max_new_tokens.map(|n| n as usize),
        })
    }
}

pub fn run(args: BenchArgs) -> Result<(), Error> {
    if !args.compare.is_empty() {
        let reports = args
            .compare
            .iter()
            .map(|p| read_report(p))
            .collect::<Result<Vec<_>, _>>()?;
        let table = compare(&reports).map_err(|m| Error::invalid("invalid_argument", m))?;
        return print_lines([table.trim_end().to_string()]);
    }
    if let Some(dir) = &args.export {
        return run_export(&args, dir);
    }
    // Before any tensor work: candle's pools read the thread count once.
    let (threads, via) = bench::apply_threads(args.threads.map(|n| n as usize));
    let cfg = args.config(threads, via)?;
    if let Some(path) = &args.workloads_file {
        return write_workloads(&cfg, path);
    }
    let progress = |line: &str| eprintln!("bench: {line}");
    let report = bench::run(&cfg, &progress)?;
    if let Some(path) = &args.out {
        write(path, &report.to_json())?;
    }
    if let Some(path) = &args.markdown {
        write(path, &report.to_markdown())?;
    }
    print_lines([report.to_markdown().trim_end().to_string()])
}

fn run_export(args: &BenchArgs, dir: &Path) -> Result<(), Error> {
    let ModelChoice::Synthetic(spec) = args.model_choice()? else {
        return Err(Error::invalid(
            "invalid_argument",
            "--export writes a synthetic model: add --synthetic NAME",
        ));
    };
    let done = export(spec, dir)?;
    print_lines([format!(
        "wrote synthetic {} (shape of {}, {} tensors, {} parameters) to {}: {}",
        spec.name,
        spec.hub_repo,
        done.tensors,
        done.parameters,
        done.dir.display(),
        done.files.join(", ")
    )])
}

fn write_workloads(cfg: &BenchConfig, path: &Path) -> Result<(), Error> {
    let file = match &cfg.model {
        ModelChoice::Synthetic(spec) => {
            let special = spec.config()?.special_tokens();
            WorkloadsFile::new(spec.name, spec.tokenizer_vocab, &special)?
        }
        ModelChoice::Spec(m) => {
            let loaded = crate::service::load(m, &cfg.load)?;
            let vocab = loaded.tokenizer.source_vocab_size() as u32;
            WorkloadsFile::new(m, vocab, &loaded.model.special_tokens())?
        }
    };
    file.write(path)
}

fn read_report(path: &Path) -> Result<Report, Error> {
    let text = std::fs::read_to_string(path).map_err(|e| Error::Io {
        context: format!("cannot read {}", path.display()),
        source: e,
    })?;
    Report::from_json(&text)
        .map_err(|m| Error::invalid("invalid_report", format!("{}: {m}", path.display())))
}

fn write(path: &Path, text: &str) -> Result<(), Error> {
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).map_err(|e| Error::Io {
            context: format!("cannot create {}", parent.display()),
            source: e,
        })?;
    }
    std::fs::write(path, text).map_err(|e| Error::Io {
        context: format!("cannot write {}", path.display()),
        source: e,
    })
}
