//! The `copydesk` command line: raw arguments become validated settings before anything runs.

mod article;
mod batch;
mod bench;
mod loadtest;
mod models;
mod segment;
mod serve;
mod summarize;
mod translate;

use clap::{Args, Parser, Subcommand};

use std::io::Write;
use std::time::Duration;

use crate::batching::BatchPolicy;
use crate::engine::{DeviceSpec, Precision, Scheduler};
use crate::registry::{HubOptions, DEFAULT_SUMMARIZER, DEFAULT_TRANSLATOR};
use crate::service::{DecodeOptions, LoadOptions, Service, ServiceConfig};
use crate::Error;

/// Dutch news wire copy to English: translation and summaries with local models.
///
/// Models are named by a manifest (`copydesk models list`), a Hugging Face hub id
/// (`org/name[@revision]`), or a local directory in the hub's layout. Hub downloads go to the
/// standard Hugging Face cache (HF_HOME / HF_HUB_CACHE); HF_HUB_OFFLINE=1 uses the cache only,
/// HF_TOKEN authenticates, HF_ENDPOINT selects a mirror.
///
/// Exit codes: 0 success, 1 runtime failure, 2 usage error or model unavailable.
#[derive(Debug, Parser)]
#[command(name = "copydesk", version, about, long_about)]
pub struct Cli {
    /// Log filter for diagnostics on standard error (e.g. info, debug, copydesk=trace).
    #[arg(long, global = true, env = "COPYDESK_LOG", default_value = "warn")]
    pub log: String,
    /// Log line format on standard error: plain or json (one object per line).
    #[arg(
        long,
        global = true,
        env = "COPYDESK_LOG_FORMAT",
        value_enum,
        default_value = "plain"
    )]
    pub log_format: LogFormat,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Translate Dutch texts to English (one output line per input).
    Translate(translate::TranslateArgs),
    /// Summarize texts with a T5-family model and a prompt template.
    Summarize(summarize::SummarizeArgs),
    /// Translate a wire-copy article with its structure, and summarize it.
    Article(article::ArticleArgs),
    /// Process a folder or JSONL archive into resumable JSONL (or markdown files).
    Batch(batch::BatchCli),
    /// Time the same work on any hardware: a comparable report (JSON/Markdown), synthetic
    /// full-size models, export for other engines, and side-by-side comparison.
    Bench(bench::BenchArgs),
    /// Serve the REST API: translation, summaries and articles with cross-request batching.
    Serve(serve::ServeArgs),
    /// Load the REST service with many clients: requests/s, tokens/s, latency percentiles.
    Loadtest(Box<loadtest::LoadtestArgs>),
    /// Show how wire copy is segmented: headline, dateline, blocks, sentences, related items.
    Segment(segment::SegmentArgs),
    /// List, inspect and download models.
    #[command(subcommand)]
    Models(models::ModelsCommand),
}

/// Log line format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    Plain,
    Json,
}

/// Where to run a model.
#[derive(Debug, Clone, Args)]
pub struct DeviceArgs {
    /// Device: auto, cpu, cuda, cuda:N or metal (cuda/metal need a build with that feature).
    #[arg(long, env = "COPYDESK_DEVICE", default_value = "cpu")]
    pub device: DeviceSpec,
    /// Precision: f32, f16, bf16, or q8 (8-bit dense weights with a scale per row and f32
    /// activations, like CTranslate2's int8: about 4x less weight memory traffic; CPU only;
    /// outputs can differ slightly from f32).
    #[arg(long, env = "COPYDESK_DTYPE", default_value = "f32")]
    pub dtype: Precision,
}

impl DeviceArgs {
    pub fn load_options(&self) -> Result<LoadOptions, Error> {
        Ok(LoadOptions {
            device: self.device.open()?,
            dtype: self.dtype.dtype,
            quantize: self.dtype.quantize,
            hub: HubOptions::from_env(),
        })
    }
}

/// The models and summary choices of an article run (`article`; `batch`, whose translate task
/// uses only the translator and summarize task only the summarizer).
#[derive(Debug, Clone, Args)]
pub struct ArticleModelArgs {
    /// Translation models: comma-separated `[LANG[+LANG]=]MODEL` entries. Each sentence goes to
    /// the one for its detected language (English is copied through, a language none reads is
    /// left untranslated with an error); the first also takes text of unknown language.
    #[arg(long, env = "COPYDESK_TRANSLATOR", default_value = DEFAULT_TRANSLATOR)]
    pub translator: String,
    /// The articles' source language, when known: every sentence goes to its translator (no
    /// detection). Default: route each sentence by its detected language.
    #[arg(long, env = "COPYDESK_SOURCE_LANG")]
    pub source_lang: Option<String>,
    /// Summarization model.
    #[arg(long, env = "COPYDESK_SUMMARIZER", default_value = DEFAULT_SUMMARIZER)]
    pub summarizer: String,
    /// Prompt template for summaries.
    #[arg(long, env = "COPYDESK_PROMPT")]
    pub prompt: Option<String>,
    /// Articles: translate only, no summary.
    #[arg(long)]
    pub no_summary: bool,
    /// Articles: summarize the Dutch source (`nl`; the summary is then translated) or the English
    /// translation (`en`). Default: what the summarizer reads (nl for t5-dutch-cnn, else en).
    #[arg(long, env = "COPYDESK_SUMMARIZE_FROM", value_parser = ["nl", "en"])]
    pub summarize_from: Option<String>,
}

/// Decoding overrides; unset values come from the model's generation config.
#[derive(Debug, Clone, Args)]
pub struct DecodeArgs {
    /// Beam width (1 = greedy). Default: the model's num_beams.
    #[arg(long, env = "COPYDESK_BEAMS", value_parser = clap::value_parser!(u32).range(1..=64))]
    pub beams: Option<u32>,
    /// Most tokens to generate per text. Default: the model's max_length.
    #[arg(long, env = "COPYDESK_MAX_NEW_TOKENS", value_parser = clap::value_parser!(u32).range(1..=4096))]
    pub max_new_tokens: Option<u32>,
}

/// House glossaries, for the commands that translate.
#[derive(Debug, Clone, Default, Args)]
pub struct GlossaryArgs {
    /// A house glossary, `[SRC-TGT=]FILE` (pair default `nl-en`; repeatable, or comma-separated
    /// in the environment): TSV lines `source<TAB>target[<TAB>flags]`, or CSV for a `.csv` file
    /// (DeepL's glossary formats). Terms match whole words, any case; flags `case` (exact case)
    /// and `partial` (inside words too). A term found in a sentence is forced into its
    /// translation (constrained beam search, at least 2 beams for that sentence); each sentence
    /// reports the terms it found and the `glossary_missing` check flags any left out.
    #[arg(
        long = "glossary",
        value_name = "[SRC-TGT=]FILE",
        env = "COPYDESK_GLOSSARY",
        value_delimiter = ','
    )]
    pub files: Vec<crate::glossary::store::HouseFile>,
}

impl GlossaryArgs {
    /// `decode`'s options with the glossaries read from the files (a missing or malformed file
    /// is an error naming it).
    pub fn decode(&self, decode: &DecodeArgs) -> Result<DecodeOptions, Error> {
        Ok(DecodeOptions {
            glossary: crate::glossary::store::GlossaryStore::open(None, &self.files)?.house(),
            ..decode.options()
        })
    }
}

/// How sentences of concurrent work share the model's padded batches.
#[derive(Debug, Clone, Args)]
pub struct BatchingArgs {
    /// Padded-batch budget: rows × longest row, in source tokens.
    #[arg(long, env = "COPYDESK_MAX_BATCH_TOKENS", default_value_t = 8192, value_parser = clap::value_parser!(u32).range(1..))]
    pub max_batch_tokens: u32,
    /// Most rows in one padded batch (continuous: in the running batch, inputs × beams).
    #[arg(long, env = "COPYDESK_MAX_BATCH_SIZE", default_value_t = 64, value_parser = clap::value_parser!(u32).range(1..))]
    pub max_batch_size: u32,
    /// How the model runs batches: `continuous` lets waiting texts join the running batch
    /// between two decode steps (a headline does not wait for a bulk request to finish);
    /// `static` runs each batch to completion.
    #[arg(long, env = "COPYDESK_SCHEDULER", default_value = "continuous")]
    pub scheduler: Scheduler,
    /// Continuous scheduling: key/value positions per layer the running batch may reserve,
    /// rows × (longest source + longest output allowed).
    #[arg(long, env = "COPYDESK_MAX_KV_TOKENS", default_value_t = 65536, value_parser = clap::value_parser!(u32).range(1..))]
    pub max_kv_tokens: u32,
    /// Continuous scheduling: source tokens (texts × longest) encoded between two decode
    /// steps; a large request joins in parts of this size, so running rows and new requests
    /// wait for one part, not all of it.
    #[arg(long, env = "COPYDESK_MAX_PREFILL_TOKENS", default_value_t = 256, value_parser = clap::value_parser!(u32).range(1..))]
    pub max_prefill_tokens: u32,
}

impl DecodeArgs {
    pub fn options(&self) -> DecodeOptions {
        DecodeOptions {
            beams: self.beams.map(|b| b as usize),
            max_new_tokens: self.max_new_tokens.map(|n| n as usize),
            alternatives: 0,
            ..Default::default()
        }
    }
}

impl BatchingArgs {
    pub fn policy(&self) -> BatchPolicy {
        BatchPolicy {
            max_batch_tokens: self.max_batch_tokens as usize,
            max_batch_size: self.max_batch_size as usize,
            max_wait: Duration::from_millis(2),
            scheduler: self.scheduler,
            max_kv_tokens: self.max_kv_tokens as usize,
            max_prefill_tokens: self.max_prefill_tokens as usize,
            ..BatchPolicy::default()
        }
    }
}

/// Runs a parsed command line.
pub fn run(cli: Cli) -> Result<(), Error> {
    match cli.command {
        Command::Translate(args) => translate::run(args),
        Command::Summarize(args) => summarize::run(args),
        Command::Article(args) => article::run(args),
        Command::Batch(args) => batch::run(args),
        Command::Bench(args) => bench::run(args),
        Command::Serve(args) => serve::run(args),
        Command::Loadtest(args) => loadtest::run(*args),
        Command::Segment(args) => segment::run(args),
        Command::Models(cmd) => models::run(cmd),
    }
}

/// Texts from the arguments, or one per line of standard input when there are none.
pub(crate) fn texts_or_stdin(texts: Vec<String>) -> Result<Vec<String>, Error> {
    if !texts.is_empty() {
        return Ok(texts);
    }
    use std::io::BufRead;
    std::io::stdin()
        .lock()
        .lines()
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| Error::Io {
            context: "cannot read standard input".into(),
            source: e,
        })
}

/// Loads the models and runs `work` on a small async runtime (model compute runs on the model
/// threads, not here).
pub(crate) fn with_service<T>(
    cfg: ServiceConfig,
    work: impl AsyncFnOnce(&Service) -> Result<T, Error>,
) -> Result<T, Error> {
    let rt = crate::service::local_runtime()?;
    let service = Service::start(&cfg)?;
    rt.block_on(work(&service))
}

/// Reads a file argument, or standard input for `-` or none.
pub(crate) fn read_input(path: Option<&std::path::Path>) -> Result<String, Error> {
    use std::io::Read;
    match path {
        Some(p) if p.as_os_str() != "-" => std::fs::read_to_string(p).map_err(|e| Error::Io {
            context: format!("cannot read {}", p.display()),
            source: e,
        }),
        _ => {
            let mut s = String::new();
            std::io::stdin()
                .read_to_string(&mut s)
                .map_err(|e| Error::Io {
                    context: "cannot read standard input".into(),
                    source: e,
                })?;
            Ok(s)
        }
    }
}

/// Writes lines to standard output.
pub(crate) fn print_lines<I: IntoIterator<Item = String>>(lines: I) -> Result<(), Error> {
    let mut out = std::io::stdout().lock();
    for l in lines {
        writeln!(out, "{l}").map_err(|e| Error::Io {
            context: "cannot write to standard output".into(),
            source: e,
        })?;
    }
    Ok(())
}

/// What a generated text is, which names its field in JSON output.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Output {
    Translation,
    Summary,
}

#[derive(serde::Serialize)]
struct GeneratedLine<'a> {
    source: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    translation: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    summary: Option<&'a str>,
    token_ids: &'a [u32],
    score: f32,
    finish_reason: crate::service::FinishReason,
    truncated: bool,
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    glossary: &'a [crate::glossary::TermUse],
}

/// Prints generated texts: one per line, or with `json` one object per line,
/// `{"source", "translation" | "summary", "token_ids", "score", "finish_reason", "truncated"}`.
pub(crate) fn print_generated(
    out: &[crate::service::Generated],
    json: bool,
    kind: Output,
) -> Result<(), Error> {
    let lines = out.iter().map(|g| {
        if !json {
            return Ok(g.text.clone());
        }
        let text = Some(g.text.as_str());
        json_line(&GeneratedLine {
            source: &g.source,
            translation: text.filter(|_| matches!(kind, Output::Translation)),
            summary: text.filter(|_| matches!(kind, Output::Summary)),
            token_ids: &g.token_ids,
            score: g.score,
            finish_reason: g.finish_reason,
            truncated: g.truncated,
            glossary: &g.terms,
        })
    });
    print_lines(lines.collect::<Result<Vec<_>, _>>()?)
}

/// One JSON line per item.
pub(crate) fn json_line<T: serde::Serialize>(v: &T) -> Result<String, Error> {
    serde_json::to_string(v).map_err(|e| Error::internal(e.to_string()))
}
