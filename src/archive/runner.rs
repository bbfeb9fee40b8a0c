//! The run loop: a reader thread streams records, up to `jobs` of them are in flight at once as
//! tasks on the shared [`Service`] (their sentences meet in the same batcher queue, so batches
//! stay large), and each result is appended to the output as soon as it is ready.

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Instant;

use serde_json::{json, Value};
use tokio::sync::{mpsc, watch};
use tokio::task::{Id, JoinSet};

use super::{
    markdown_name, write_markdown, LineError, LineTimings, OutputLine, OutputLog, Record,
    RecordReader, ResumeState,
};
use crate::service::ninjs::{english_item_now, ArticleInput, NinjsItem};
use crate::service::{ArticleOptions, Service};
use crate::Error;

/// What a run does with each record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Task {
    /// `{"translation", "token_ids", "score", ...}`: every sentence translated, lines kept.
    Translate,
    /// `{"summary", "token_ids", "score", ...}`.
    Summarize,
    /// What `copydesk article --json` prints.
    Article,
}

impl Task {
    pub fn name(self) -> &'static str {
        match self {
            Task::Translate => "translate",
            Task::Summarize => "summarize",
            Task::Article => "article",
        }
    }
}

/// What a run reports as it goes (the command line draws a progress bar from it).
pub trait RunObserver {
    fn record_ok(&mut self);
    fn record_failed(&mut self, code: &str);
    fn record_skipped(&mut self);
    /// Called a few times a second.
    fn tick(&mut self);
    /// A message for the person running it.
    fn println(&self, line: &str);
}

/// What each record goes through.
#[derive(Debug, Clone)]
pub struct TaskSpec {
    pub task: Task,
    /// Decoding options, prompt, and whether `article` summarizes.
    pub options: ArticleOptions,
}

/// Everything the loop needs besides the service.
pub struct RunSpec {
    pub task: TaskSpec,
    /// Records in flight at most.
    pub jobs: usize,
    /// Markdown output: the directory the `.md` files go to.
    pub markdown_dir: Option<PathBuf>,
}

/// What the reader thread sends.
enum Item {
    /// Already in the output.
    Skipped,
    Record(Record),
}

/// A record being processed.
struct InFlight {
    id: String,
    source: String,
    started: Instant,
    markdown: Option<String>,
}

/// A task's result: the JSON `result`, and the text of its markdown file.
struct TaskOutput {
    value: Value,
    markdown: String,
}

/// How a run ended.
pub struct Outcome {
    pub interrupted: bool,
}

/// Runs every record of `reader` not already in `state.done`, appending to `log`.
pub async fn run(
    service: &Service,
    spec: &RunSpec,
    reader: RecordReader,
    log: &mut OutputLog,
    state: ResumeState,
    progress: &mut dyn RunObserver,
) -> Result<Outcome, Error> {
    let mut interrupts = listen_for_interrupts()?;
    let mut used_names = state.files.clone();
    let mut feed = spawn_reader(reader, state, spec.jobs)?;
    let mut tasks: JoinSet<Result<TaskOutput, Error>> = JoinSet::new();
    let mut in_flight: HashMap<Id, InFlight> = HashMap::new();
    let mut tick = tokio::time::interval(std::time::Duration::from_millis(250));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let (mut feed_open, mut interrupted, mut signals) = (true, false, true);
    let task_name = spec.task.task.name();
    loop {
        tokio::select! {
            biased;
            changed = interrupts.changed(), if signals && !interrupted => {
                if changed.is_err() {
                    signals = false;
                    continue;
                }
                interrupted = true;
                feed.close();
                progress.println(&format!(
                    "batch: interrupted; finishing {} records in flight (Ctrl-C again to stop at once)",
                    tasks.len()
                ));
            }
            Some(joined) = tasks.join_next_with_id(), if !tasks.is_empty() => {
                let (id, result) = match joined {
                    Ok((id, r)) => (id, r),
                    Err(e) => (e.id(), Err(Error::internal(format!("the task failed: {e}")))),
                };
                if let Some(f) = in_flight.remove(&id) {
                    let line = finish_line(f, task_name, result, spec.markdown_dir.as_deref());
                    write(log, progress, &line)?;
                }
            }
            _ = tick.tick() => {
                progress.tick();
                log.maybe_sync()?;
            }
            item = feed.recv(), if feed_open && !interrupted && tasks.len() < spec.jobs => {
                match item {
                    None => feed_open = false,
                    Some(Item::Skipped) => progress.record_skipped(),
                    Some(Item::Record(Record { id, source, text: Err(e), .. })) => {
                        let error = LineError { code: e.code.to_string(), message: e.message };
                        let line = make_line(id, source, task_name, Err(error), Instant::now());
                        write(log, progress, &line)?;
                    }
                    Some(Item::Record(Record { id, source, text: Ok(text), item })) => {
                        let markdown = spec.markdown_dir.as_ref().map(|_| {
                            let name = markdown_name(&id, &used_names);
                            used_names.insert(name.clone());
                            name
                        });
                        let handle =
                            tasks.spawn(process(service.clone(), spec.task.clone(), text, item));
                        let started = Instant::now();
                        in_flight.insert(handle.id(), InFlight { id, source, started, markdown });
                    }
                }
            }
        }
        if tasks.is_empty() && (!feed_open || interrupted) {
            break;
        }
    }
    log.sync()?;
    Ok(Outcome { interrupted })
}

fn write(
    log: &mut OutputLog,
    progress: &mut dyn RunObserver,
    line: &OutputLine,
) -> Result<(), Error> {
    log.append(line)?;
    match &line.error {
        None => progress.record_ok(),
        Some(e) => progress.record_failed(&e.code),
    }
    Ok(())
}

fn make_line(
    id: String,
    source: String,
    task: &str,
    result: Result<Value, LineError>,
    started: Instant,
) -> OutputLine {
    let (result, error) = match result {
        Ok(v) => (Some(v), None),
        Err(e) => (None, Some(e)),
    };
    OutputLine {
        id,
        source,
        task: task.to_string(),
        result,
        error,
        timings: LineTimings {
            total_ms: started.elapsed().as_secs_f64() * 1000.0,
        },
    }
}

/// The output line of a finished record; with markdown output, its file is written first.
fn finish_line(
    f: InFlight,
    task: &str,
    result: Result<TaskOutput, Error>,
    markdown_dir: Option<&std::path::Path>,
) -> OutputLine {
    let result = match (result, markdown_dir, &f.markdown) {
        (Err(e), _, _) => Err(LineError {
            code: e.kind().to_string(),
            message: e.to_string(),
        }),
        (Ok(out), Some(dir), Some(name)) => match write_markdown(dir, name, &out.markdown) {
            Ok(()) => Ok(json!({ "file": name })),
            Err(e) => Err(LineError {
                code: "write_failed".into(),
                message: format!("cannot write {}: {e}", dir.join(name).display()),
            }),
        },
        (Ok(out), _, _) => Ok(out.value),
    };
    make_line(f.id, f.source, task, result, f.started)
}

/// Runs one record through the service: a ninjs item (`item`, whose plain text `text` is) is
/// translated or summarized as its text, and its article result also holds the English item
/// (`ninjs`).
async fn process(
    service: Service,
    spec: TaskSpec,
    text: String,
    item: Option<Box<NinjsItem>>,
) -> Result<TaskOutput, Error> {
    let opts = &spec.options;
    let first = |v: Vec<crate::service::Generated>| {
        v.into_iter()
            .next()
            .ok_or_else(|| Error::internal("the model returned no output"))
    };
    match spec.task {
        Task::Translate => {
            let g = first(service.translate_texts(&[text], &opts.decode).await?)?;
            Ok(TaskOutput {
                value: json!({"translation": g.text, "token_ids": g.token_ids, "score": g.score,
                    "finish_reason": g.finish_reason, "truncated": g.truncated}),
                markdown: format!("{}\n", g.text.trim_end()),
            })
        }
        Task::Summarize => {
            let prompt = opts.prompt.as_deref();
            let g = first(service.summarize(&[text], prompt, &opts.decode).await?)?;
            Ok(TaskOutput {
                value: json!({"summary": g.text, "token_ids": g.token_ids, "score": g.score,
                    "finish_reason": g.finish_reason, "truncated": g.truncated}),
                markdown: format!("{}\n", g.text.trim_end()),
            })
        }
        Task::Article => {
            let input = match item {
                Some(item) => ArticleInput::Item(item),
                None => ArticleInput::Text(text),
            };
            let out = service.article_input(&input, opts).await?;
            let mut value =
                serde_json::to_value(&out).map_err(|e| Error::internal(e.to_string()))?;
            if let (ArticleInput::Item(_), Some(map)) = (&input, value.as_object_mut()) {
                map.insert("ninjs".into(), english_item_now(&input, &out));
            }
            Ok(TaskOutput {
                value,
                markdown: out.render(true),
            })
        }
    }
}

/// Streams records from a thread (reading files or standard input never stalls the loop); ids
/// already done become [`Item::Skipped`]. Stops when the receiver is closed.
fn spawn_reader(
    reader: RecordReader,
    state: ResumeState,
    jobs: usize,
) -> Result<mpsc::Receiver<Item>, Error> {
    let (tx, rx) = mpsc::channel(jobs.max(16));
    std::thread::Builder::new()
        .name("batch-reader".into())
        .spawn(move || {
            for rec in reader {
                let item = if state.done.contains(&rec.id) {
                    Item::Skipped
                } else {
                    Item::Record(rec)
                };
                if tx.blocking_send(item).is_err() {
                    break;
                }
            }
        })
        .map_err(|e| Error::Io {
            context: "cannot start the reader thread".into(),
            source: e,
        })?;
    Ok(rx)
}

/// Counts Ctrl-C presses; the second one exits the process at once with 130 (every line already
/// written is whole).
fn listen_for_interrupts() -> Result<watch::Receiver<u32>, Error> {
    let (tx, rx) = watch::channel(0u32);
    let again = || {
        eprintln!("batch: interrupted again; exiting now");
        std::process::exit(130);
    };
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let mut sig = signal(SignalKind::interrupt()).map_err(|e| Error::Io {
            context: "cannot listen for Ctrl-C".into(),
            source: e,
        })?;
        tokio::spawn(async move {
            let mut n = 0;
            while sig.recv().await.is_some() {
                n += 1;
                if n > 1 {
                    again();
                }
                let _ = tx.send(n);
            }
        });
    }
    #[cfg(not(unix))]
    tokio::spawn(async move {
        let mut n = 0;
        while tokio::signal::ctrl_c().await.is_ok() {
            n += 1;
            if n > 1 {
                again();
            }
            let _ = tx.send(n);
        }
    });
    Ok(rx)
}
