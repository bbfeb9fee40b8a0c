//! `copydesk batch`: translate or summarize whole archives into one resumable JSONL file (or a
//! folder of markdown files), with per-record errors, progress, and shared batching.

mod progress;

use std::path::{Path, PathBuf};

use clap::{Args, Subcommand, ValueEnum};

use super::{with_service, ArticleModelArgs, BatchingArgs, DecodeArgs, DeviceArgs, GlossaryArgs};
use crate::archive::inputs::count_records;
use crate::archive::{plan_inputs, InputFile, OpenMode, OutputLog, ReadOptions, RecordReader};
use crate::service::{ArticleOptions, Service, ServiceConfig};
use crate::Error;

use crate::archive::runner::{self, RunSpec, Task, TaskSpec};
use crate::archive::shard::Shard;

mod merge;
use progress::Progress;

/// Exit code when some records failed.
pub const EXIT_PARTIAL: i32 = 3;
/// Exit code after Ctrl-C.
pub const EXIT_INTERRUPTED: i32 = 130;
/// The output log inside a markdown output directory.
pub const MARKDOWN_INDEX: &str = "index.jsonl";

/// `--task`, with its help (the archive runner's [`Task`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum TaskArg {
    /// `{"translation", "token_ids", "score", "finish_reason", "truncated"}`: every sentence
    /// translated, lines kept.
    Translate,
    /// `{"summary", "token_ids", "score", "finish_reason", "truncated"}`.
    Summarize,
    /// What `copydesk article --json` prints.
    Article,
}

impl From<TaskArg> for Task {
    fn from(t: TaskArg) -> Task {
        match t {
            TaskArg::Translate => Task::Translate,
            TaskArg::Summarize => Task::Summarize,
            TaskArg::Article => Task::Article,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum InputFormat {
    /// .txt files are articles; JSONL lines are {id, text} objects (see --id-field,
    /// --text-field).
    Text,
    /// JSONL lines and .json files (one item or a list) are IPTC ninjs items (1.x, 2.x, 3.x);
    /// the id is the item's uri; `article` results also hold the English item (`ninjs`).
    Ninjs,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// One JSON line per record in the file OUT.
    Jsonl,
    /// One `.md` per record in the directory OUT, and the JSON lines (with `result.file`
    /// naming the file) in OUT/index.jsonl.
    Markdown,
}

/// Process a folder or JSONL archive: every record translated, summarized, or both.
///
/// Output lines: {"id", "source", "task", "result", "error": {"code", "message"} | null,
/// "timings"}, written as records finish (each line carries its id). Many records are in flight
/// at once, so the sentences of many articles share the model's padded batches.
///
/// Ids: a .txt file's path relative to the directory given (or as given); a JSONL record's id
/// field, else <file>:<line> (stdin:<line> for standard input). A repeated id is reported as
/// <id>#2 with error duplicate_id.
///
/// Nothing lost, nothing twice: each line is appended whole and synced every few seconds; a
/// killed run loses only the records in flight. --resume skips every id already in OUT and cuts
/// off a torn last line. Bad records (invalid_json, invalid_ninjs, missing_text, input_too_long, unreadable,
/// duplicate_id, model errors) become error lines and the run goes on. A blank record is not an
/// error: every task can run on it, and it gets an empty result without a model call.
///
/// Exit codes: 0 all records ok, 3 some records in OUT failed, 2 usage error or model
/// unavailable, 1 runtime failure (e.g. OUT cannot be written), 130 interrupted by Ctrl-C (the
/// records in flight are finished and written first; a second Ctrl-C stops at once).
///
/// Sharding (`--shard K/N`, e.g. a Kubernetes Indexed Job with `--shard /N`): each of N processes
/// reads the whole input and handles the records whose id hashes to K (a fixed FNV-1a hash), into
/// its own resumable OUT; `copydesk batch merge` checks the parts hold every record once and
/// joins them.
#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct BatchCli {
    #[command(subcommand)]
    pub command: Option<BatchCommand>,
    #[command(flatten)]
    pub run: BatchArgs,
}

#[derive(Debug, Subcommand)]
pub enum BatchCommand {
    /// Join the outputs of a sharded run after checking that every record is in exactly one.
    Merge(merge::MergeArgs),
}

/// The arguments of a batch run.
#[derive(Debug, Args)]
pub struct BatchArgs {
    /// .txt files (one article each), .jsonl files (one record per line), directories (walked
    /// recursively for both, in sorted order), or - for JSONL on standard input.
    pub inputs: Vec<PathBuf>,
    /// What to do with each record.
    #[arg(
        long,
        value_enum,
        env = "COPYDESK_BATCH_TASK",
        default_value = "article"
    )]
    pub task: TaskArg,
    /// Output file (jsonl) or directory (markdown).
    #[arg(long, short, env = "COPYDESK_BATCH_OUTPUT", value_name = "OUT")]
    pub output: Option<PathBuf>,
    #[arg(
        long,
        value_enum,
        env = "COPYDESK_BATCH_FORMAT",
        default_value = "jsonl"
    )]
    pub format: Format,
    /// Continue an earlier run: skip ids already in OUT.
    #[arg(long, conflicts_with = "overwrite")]
    pub resume: bool,
    /// With --resume: redo the records that failed (their error lines are removed).
    #[arg(long, requires = "resume")]
    pub retry_errors: bool,
    /// Replace an existing OUT.
    #[arg(long)]
    pub overwrite: bool,
    /// What JSON records are.
    #[arg(
        long,
        value_enum,
        env = "COPYDESK_BATCH_INPUT_FORMAT",
        default_value = "text"
    )]
    pub input_format: InputFormat,
    /// JSONL field holding the record id.
    #[arg(long, env = "COPYDESK_BATCH_ID_FIELD", default_value = "id")]
    pub id_field: String,
    /// JSONL field holding the text.
    #[arg(long, env = "COPYDESK_BATCH_TEXT_FIELD", default_value = "text")]
    pub text_field: String,
    /// Longest text accepted, in characters; longer records fail with input_too_long.
    #[arg(long, env = "COPYDESK_BATCH_MAX_CHARS", default_value_t = 100_000,
          value_parser = clap::value_parser!(u64).range(1..))]
    pub max_chars: u64,
    /// This process's shard of the records: `K/N` (0-based), or `N` with K from
    /// JOB_COMPLETION_INDEX (a Kubernetes Indexed Job).
    #[arg(long, env = "COPYDESK_BATCH_SHARD", value_name = "K/N")]
    pub shard: Option<String>,
    /// Records in flight at once (their sentences share batches).
    #[arg(long, env = "COPYDESK_BATCH_JOBS", default_value_t = 32,
          value_parser = clap::value_parser!(u32).range(1..=4096))]
    pub jobs: u32,
    #[command(flatten)]
    pub models: ArticleModelArgs,
    #[command(flatten)]
    pub device: DeviceArgs,
    #[command(flatten)]
    pub decode: DecodeArgs,
    #[command(flatten)]
    pub batching: BatchingArgs,
    #[command(flatten)]
    pub glossary: GlossaryArgs,
}

/// Validated settings: everything checked before a model is loaded.
struct Plan {
    files: Vec<InputFile>,
    shard: Option<Shard>,
    read: ReadOptions,
    log_path: PathBuf,
    mode: OpenMode,
    service: ServiceConfig,
    run: RunSpec,
}

impl Plan {
    fn from_args(args: BatchArgs) -> Result<Plan, Error> {
        let ninjs = args.input_format == InputFormat::Ninjs;
        // Checked here rather than by clap, which cannot require them only without `merge`.
        if args.inputs.is_empty() {
            return Err(Error::invalid(
                "usage",
                "name the inputs: files, directories, or - for standard input (see --help)",
            ));
        }
        let Some(output) = args.output.clone() else {
            return Err(Error::invalid(
                "usage",
                "name the output: -o OUT (see --help)",
            ));
        };
        let files = plan_inputs(&args.inputs, ninjs)?;
        let index = std::env::var("JOB_COMPLETION_INDEX").ok();
        let shard = args
            .shard
            .as_deref()
            .map(|s| Shard::parse(s, index.as_deref()))
            .transpose()
            .map_err(|m| Error::invalid("usage", m))?;
        let mode = match (args.resume, args.overwrite) {
            (true, _) => OpenMode::Resume {
                retry_errors: args.retry_errors,
            },
            (false, true) => OpenMode::Overwrite,
            (false, false) => OpenMode::New,
        };
        let (log_path, markdown_dir) = output_paths(&output, args.format, mode)?;
        let task = Task::from(args.task);
        let summarize = match task {
            Task::Translate => false,
            Task::Summarize => true,
            Task::Article => !args.models.no_summary,
        };
        let service = ServiceConfig {
            translator: (task != Task::Summarize).then(|| args.models.translator.clone()),
            summarizer: summarize.then(|| args.models.summarizer.clone()),
            load: args.device.load_options()?,
            policy: args.batching.policy(),
        };
        Ok(Plan {
            files,
            shard,
            read: ReadOptions {
                id_field: args.id_field,
                text_field: args.text_field,
                max_chars: usize::try_from(args.max_chars).unwrap_or(usize::MAX),
                ninjs,
            },
            log_path,
            mode,
            service,
            run: RunSpec {
                task: TaskSpec {
                    task,
                    options: ArticleOptions {
                        summarize,
                        prompt: args.models.prompt,
                        decode: args.glossary.decode(&args.decode)?,
                        summarize_from: args.models.summarize_from,
                        source_lang: args.models.source_lang,
                    },
                },
                jobs: args.jobs as usize,
                markdown_dir,
            },
        })
    }

    /// Opens the output, runs every record, prints the summary; returns the exit code.
    async fn execute(self, service: &Service) -> Result<i32, Error> {
        if let Some(dir) = &self.run.markdown_dir {
            std::fs::create_dir_all(dir).map_err(|e| Error::Io {
                context: format!("cannot create {}", dir.display()),
                source: e,
            })?;
        }
        let (mut log, state) = OutputLog::open(&self.log_path, self.mode)?;
        // A shard's share is not known before reading.
        let total = count_records(&self.files).filter(|_| self.shard.is_none());
        announce(&self, total, &state);
        let previous_failed = state.failed as u64;
        let engines = service
            .workers()
            .map(|w| w.batcher.engine().clone())
            .collect();
        let mut progress = Progress::new(total, engines);
        let reader = RecordReader::new(self.files, self.read).with_shard(self.shard);
        let outcome = runner::run(service, &self.run, reader, &mut log, state, &mut progress).await;
        progress.finish(outcome.as_ref().is_ok_and(|o| o.interrupted));
        let outcome = outcome?;
        Ok(if outcome.interrupted {
            EXIT_INTERRUPTED
        } else if progress.failed + previous_failed > 0 {
            EXIT_PARTIAL
        } else {
            0
        })
    }
}

fn announce(plan: &Plan, total: Option<u64>, state: &crate::archive::ResumeState) {
    let records = total.map_or("records".to_string(), |n| format!("{n} records"));
    let mut line = format!(
        "batch: {} of {} input files → {}",
        records,
        plan.files.len(),
        plan.log_path.display()
    );
    if let Some(s) = plan.shard {
        line += &format!(" (shard {}/{})", s.index, s.count);
    }
    if matches!(plan.mode, OpenMode::Resume { .. }) {
        line += &format!(
            " (resuming: {} done, {} failed",
            state.ok + state.failed,
            state.failed
        );
        if state.retried > 0 {
            line += &format!(", {} failed records to retry", state.retried);
        }
        if state.torn_bytes > 0 {
            line += &format!(", a torn last line of {} bytes cut off", state.torn_bytes);
        }
        line += ")";
    }
    eprintln!("{line}");
}

/// The output log's path and, for markdown, the directory; refuses to touch an existing output
/// unless resuming or overwriting.
fn output_paths(
    out: &Path,
    format: Format,
    mode: OpenMode,
) -> Result<(PathBuf, Option<PathBuf>), Error> {
    let exists = |what: &str| {
        Error::invalid(
            "output_exists",
            format!(
                "{} {what}; use --resume to continue that run or --overwrite to replace it",
                out.display()
            ),
        )
    };
    match format {
        Format::Jsonl => {
            if out.is_dir() {
                return Err(Error::invalid(
                    "usage",
                    format!(
                        "{} is a directory; --format jsonl writes one file (--format markdown writes a directory)",
                        out.display()
                    ),
                ));
            }
            if mode == OpenMode::New && out.exists() {
                return Err(exists("already exists"));
            }
            Ok((out.to_path_buf(), None))
        }
        Format::Markdown => {
            if out.exists() && !out.is_dir() {
                return Err(Error::invalid(
                    "usage",
                    format!(
                        "{} is a file; --format markdown writes into a directory",
                        out.display()
                    ),
                ));
            }
            let nonempty = std::fs::read_dir(out).is_ok_and(|mut d| d.next().is_some());
            if mode == OpenMode::New && nonempty {
                return Err(exists("is a directory that is not empty"));
            }
            Ok((out.join(MARKDOWN_INDEX), Some(out.to_path_buf())))
        }
    }
}

/// Runs `copydesk batch`; exits with 3 or 130 itself once everything is written.
pub fn run(cli: BatchCli) -> Result<(), Error> {
    if let Some(BatchCommand::Merge(args)) = cli.command {
        return merge::run(args);
    }
    let plan = Plan::from_args(cli.run)?;
    let cfg = plan.service.clone();
    let code = with_service(cfg, async |s| plan.execute(s).await)?;
    if code != 0 {
        std::process::exit(code);
    }
    Ok(())
}
