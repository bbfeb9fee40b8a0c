//! `copydesk bench`: the same work, timed, on any hardware, as a report that can be put side by
//! side with reports from other machines and other engines (`benches/peers/`).
//!
//! - [`workload`]: the fixed, seeded workloads (wire, summ, article).
//! - [`synthetic`]: random-weight models with the exact shape of real ones; [`export`] writes
//!   them in the hub layout (with a generated tokenizer, [`vocab`]).
//! - [`runner`]: the timing loops; [`report`], [`compare`], [`machine`]: the report.
//! - [`subjects`]: the models the criterion benches use.

pub mod agreement;
pub mod compare;
pub mod export;
pub mod load;
pub mod machine;
pub mod report;
pub mod runner;
pub mod subjects;
pub mod synthetic;
pub mod vocab;
pub mod workload;

pub use report::Report;
pub use runner::Plan;
pub use synthetic::{SyntheticSpec, SYNTHETIC_MODELS};
pub use workload::{TokenWorkload, Workload};

use crate::batching::BatchPolicy;
use crate::generate::GenerationConfig;
use crate::models::Seq2Seq;
use crate::registry::Architecture;
use crate::service::{ArticleOptions, DecodeOptions, LoadOptions, Service, ServiceConfig};
use crate::Error;
use runner::Progress;

/// The model a benchmark runs.
#[derive(Debug, Clone)]
pub enum ModelChoice {
    /// Seeded random weights with a real model's shape, built in-process.
    Synthetic(&'static SyntheticSpec),
    /// A `--model` argument (manifest name, hub id or directory).
    Spec(String),
}

/// A validated benchmark configuration.
#[derive(Debug, Clone)]
pub struct BenchConfig {
    pub model: ModelChoice,
    /// Summarizer for the article workload (`synthetic:NAME` allowed); none: translate only.
    pub summarizer: Option<String>,
    /// Empty: the model's natural workload (wire for translators, summ for summarizers).
    pub workloads: Vec<Workload>,
    pub plan: Plan,
    pub load: LoadOptions,
    /// As given on the command line, for the report.
    pub device_label: String,
    pub dtype_label: String,
    pub threads: usize,
    pub threads_via: String,
    /// Article workload: cap on generated tokens per sentence (random weights rarely stop).
    pub max_new_tokens: Option<usize>,
}

/// A model ready for the token-id workloads.
struct Subject {
    model: std::sync::Arc<dyn Seq2Seq>,
    generation: GenerationConfig,
    architecture: Architecture,
    /// Ids workloads may use: below the tokenizer's vocabulary size.
    vocab: u32,
    name: String,
    synthetic: Option<&'static str>,
}

fn open_subject(cfg: &BenchConfig) -> Result<Subject, Error> {
    match &cfg.model {
        ModelChoice::Synthetic(spec) => {
            let mut built = spec.build(cfg.load.dtype, &cfg.load.device, None)?;
            if cfg.load.quantize {
                crate::service::loader::quantize(&mut built.model)
                    .map_err(crate::engine::EngineError::from)?;
            }
            Ok(Subject {
                model: built.model,
                generation: built.generation,
                architecture: spec.architecture()?,
                vocab: spec.tokenizer_vocab,
                name: spec.name.to_string(),
                synthetic: Some(spec.name),
            })
        }
        ModelChoice::Spec(s) => {
            let loaded = crate::service::load(s, &cfg.load)?;
            let vocab = loaded.tokenizer.source_vocab_size() as u32;
            Ok(Subject {
                architecture: loaded.architecture(),
                model: loaded.model,
                generation: loaded.generation,
                vocab,
                name: s.clone(),
                synthetic: None,
            })
        }
    }
}

/// Runs the configured workloads and returns the report.
pub fn run(cfg: &BenchConfig, progress: Progress) -> Result<Report, Error> {
    if cfg.plan.runs == 0 {
        return Err(Error::invalid(
            "invalid_argument",
            "--runs must be at least 1",
        ));
    }
    progress(&format!("loading {}", model_label(&cfg.model)));
    let subject = open_subject(cfg)?;
    let workloads = if cfg.workloads.is_empty() {
        vec![if subject.architecture.translates() {
            Workload::Wire
        } else {
            Workload::Summ
        }]
    } else {
        cfg.workloads.clone()
    };
    if workloads.contains(&Workload::Article) && !subject.architecture.translates() {
        return Err(Error::invalid(
            "invalid_argument",
            "the article workload needs a translation (Marian) model as --model or --synthetic",
        ));
    }
    let works = token_workloads(&subject, &workloads)?;
    let mut results = Vec::new();
    let mut infos = Vec::new();
    for work in &works {
        infos.push(report::WorkloadInfo {
            name: work.workload.to_string(),
            inputs: work.inputs.len(),
            source_tokens: work.source_tokens(),
            new_tokens: Some(work.new_tokens),
            digest: Some(work.digest()),
        });
        results.extend(runner::token_cases(
            subject.model.as_ref(),
            &subject.generation,
            work,
            &cfg.plan,
            progress,
        )?);
    }
    if workloads.contains(&Workload::Article) {
        let (cases, info) = article_cases(cfg, progress)?;
        results.extend(cases);
        infos.push(info);
    }
    Ok(Report {
        format: report::FORMAT.into(),
        machine: machine::machine(&cfg.load.device, cfg.threads),
        software: machine::software(&cfg.dtype_label, cfg.threads, &cfg.device_label),
        settings: settings(cfg, &subject, infos),
        results,
    })
}

/// The exact settings of a run, for the report.
fn settings(
    cfg: &BenchConfig,
    subject: &Subject,
    workloads: Vec<report::WorkloadInfo>,
) -> report::Settings {
    report::Settings {
        model: subject.name.clone(),
        synthetic: subject.synthetic.map(str::to_string),
        weight_seed: subject.synthetic.map(|_| synthetic::WEIGHT_SEED),
        workloads,
        batch_sizes: cfg.plan.batch_sizes.clone(),
        beams: cfg.plan.beams,
        runs: cfg.plan.runs,
        warmup: cfg.plan.warmup,
        threads: cfg.threads,
        device: cfg.device_label.clone(),
        dtype: cfg.dtype_label.clone(),
        threads_via: Some(cfg.threads_via.clone()),
        peak_rss_scope: Some(
            if machine::reset_peak_rss() {
                "per case"
            } else {
                "process peak so far"
            }
            .into(),
        ),
    }
}

/// The token-id workloads among `workloads`, drawn for the subject's vocabulary and checked
/// against its input limit before anything runs.
fn token_workloads(subject: &Subject, workloads: &[Workload]) -> Result<Vec<TokenWorkload>, Error> {
    let special = subject.model.special_tokens();
    let mut out = Vec::new();
    for w in workloads {
        let Some(shape) = w.shape() else { continue };
        if let Some(max) = subject.model.max_source_positions() {
            if shape.max_len > max {
                return Err(Error::invalid(
                    "invalid_argument",
                    format!(
                        "the {w} workload has inputs of up to {} tokens but {} accepts at most {max}",
                        shape.max_len, subject.name
                    ),
                ));
            }
        }
        out.push(
            TokenWorkload::generate(&shape, *w, subject.vocab, &special)
                .map_err(|m| Error::invalid("invalid_argument", m))?,
        );
    }
    Ok(out)
}

fn model_label(m: &ModelChoice) -> String {
    match m {
        ModelChoice::Synthetic(s) => format!("synthetic {} (shape of {})", s.name, s.hub_repo),
        ModelChoice::Spec(s) => s.clone(),
    }
}

/// The article workload at each batch size (the batcher's row limit), through a fresh service.
fn article_cases(
    cfg: &BenchConfig,
    progress: Progress,
) -> Result<(Vec<report::CaseResult>, report::WorkloadInfo), Error> {
    let (translator, _tmp) = match &cfg.model {
        ModelChoice::Synthetic(spec) => {
            progress(&format!(
                "exporting synthetic {} for the service",
                spec.name
            ));
            let t = export::TempExport::new(spec)?;
            (t.spec(), Some(t))
        }
        ModelChoice::Spec(s) => (s.clone(), None),
    };
    let (summarizer, _tmp_s) = match &cfg.summarizer {
        Some(s) => {
            let (spec, guard) = export::resolve_model_arg(s)?;
            (Some(spec), guard)
        }
        None => (None, None),
    };
    let opts = ArticleOptions {
        summarize: summarizer.is_some(),
        prompt: None,
        decode: DecodeOptions {
            beams: Some(cfg.plan.beams),
            max_new_tokens: cfg.max_new_tokens,
            alternatives: 0,
            ..Default::default()
        },
        ..ArticleOptions::default()
    };
    let mut cases = Vec::new();
    let mut source_tokens = 0;
    for &batch in &cfg.plan.batch_sizes {
        progress(&format!(
            "article batch {batch} beams {}: {} warm-up + {} runs",
            cfg.plan.beams, cfg.plan.warmup, cfg.plan.runs
        ));
        let service = Service::start(&ServiceConfig {
            translator: Some(translator.clone()),
            summarizer: summarizer.clone(),
            load: cfg.load.clone(),
            policy: BatchPolicy {
                max_batch_size: batch.max(1),
                max_wait: std::time::Duration::from_millis(2),
                ..BatchPolicy::default()
            },
        })?;
        let case = runner::article_case(&service, &opts, &cfg.plan, batch)?;
        progress(&format!(
            "  {:.1} generated tokens/s (median {:.3}s)",
            case.generated_tokens_per_s, case.total_s.median
        ));
        source_tokens = case.source_tokens;
        cases.push(case);
    }
    Ok((
        cases,
        report::WorkloadInfo {
            name: Workload::Article.to_string(),
            inputs: workload::SAMPLE_ARTICLES.len(),
            source_tokens,
            new_tokens: None,
            digest: None,
        },
    ))
}

/// Applies `--threads` to candle's CPU thread pools: they read `RAYON_NUM_THREADS` (and
/// `CANDLE_NUM_THREADS`) once, when first used, so this must run before any tensor work.
/// Returns how the count was applied, for the report.
pub fn apply_threads(threads: Option<usize>) -> (usize, String) {
    match threads {
        Some(n) => {
            // Called at start-up on the main thread, before candle starts its pools.
            std::env::set_var("RAYON_NUM_THREADS", n.to_string());
            std::env::set_var("CANDLE_NUM_THREADS", n.to_string());
            (
                n,
                "RAYON_NUM_THREADS and CANDLE_NUM_THREADS set before start".into(),
            )
        }
        None => (
            candle_core::utils::get_num_threads(),
            "candle default (RAYON_NUM_THREADS or the physical cores)".into(),
        ),
    }
}
