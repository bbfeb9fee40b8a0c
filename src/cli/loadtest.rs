//! `copydesk loadtest`.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use clap::Args;

use super::serve::{parse_duration, ServeArgs};
use crate::bench::load::hol::{self, HeadOfLine};
use crate::bench::load::{self, client::Client, Load, LoadPlan, PointResult, MIX};
use crate::http::{self, AppState};
use crate::Error;

/// Load the REST service with many clients and report throughput and latency.
///
/// Starts the server in-process on a free local port with the `serve` options below (`--host`
/// and `--port` are not used), or loads the one at --url. Each point runs for --duration:
/// `--clients N` closed-loop clients (each sends its next request when the last is answered),
/// then `--rates R` open-loop Poisson arrivals per second. Requests are `POST /v1/translate`
/// with sentences of the shared sample articles: headlines (1 sentence, 8 new tokens, 30%),
/// sentences (1, 40 tokens, 50%), paragraphs (3, 40 tokens each, 20%). Reports requests/s,
/// generated tokens/s, p50/p95/p99 latency, 429s, errors and how busy the models were.
#[derive(Debug, Args)]
pub struct LoadtestArgs {
    /// A running server to load instead of one in-process (http://host:port).
    #[arg(long, env = "COPYDESK_LOADTEST_URL")]
    pub url: Option<String>,
    /// API key to send (--url servers that need one).
    #[arg(long, env = "COPYDESK_LOADTEST_KEY", hide_env_values = true)]
    pub key: Option<String>,
    /// Closed-loop points: numbers of concurrent clients, comma-separated [default: 1,8,64,
    /// none with --head-of-line alone].
    #[arg(long, value_delimiter = ',')]
    pub clients: Option<Vec<usize>>,
    /// Open-loop points: Poisson arrival rates in requests/s, comma-separated.
    #[arg(long, value_delimiter = ',')]
    pub rates: Vec<f64>,
    /// Sending time per point (e.g. 20s, 2m); requests still in flight are then awaited.
    #[arg(long, default_value = "20s", value_parser = parse_duration)]
    pub duration: Duration,
    /// Also run the head-of-line scenario: a headline (8 new tokens) sent --hol-delay after a
    /// bulk request (32 sentences × 40 tokens) started, against each alone.
    #[arg(long)]
    pub head_of_line: bool,
    /// Head-of-line scenario: when the headline is sent after the bulk request.
    #[arg(long, default_value = "300ms", value_parser = parse_duration)]
    pub hol_delay: Duration,
    /// Head-of-line scenario: repetitions (medians are reported).
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..=100))]
    pub hol_runs: u32,
    /// Seed of the request mix and the arrival times.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Write the JSON report here.
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// Write the Markdown table here.
    #[arg(long, value_name = "FILE")]
    pub markdown: Option<PathBuf>,
    #[command(flatten)]
    pub server: ServeArgs,
}

impl LoadtestArgs {
    fn plan(&self) -> Result<LoadPlan, Error> {
        let bad = |m: String| Error::invalid("invalid_argument", m);
        let default_clients = if self.head_of_line && self.rates.is_empty() {
            vec![]
        } else {
            vec![1, 8, 64]
        };
        let clients = self.clients.clone().unwrap_or(default_clients);
        if let Some(&n) = clients.iter().find(|&&n| n == 0 || n > 10_000) {
            return Err(bad(format!("--clients {n}: use 1 to 10000")));
        }
        if let Some(&r) = self.rates.iter().find(|&&r| !(r > 0.0 && r <= 10_000.0)) {
            return Err(bad(format!(
                "--rates {r}: use more than 0 and at most 10000"
            )));
        }
        if self.duration.is_zero() {
            return Err(bad("--duration must be more than zero".into()));
        }
        let mut points: Vec<Load> = clients.iter().map(|&n| Load::Clients(n)).collect();
        points.extend(self.rates.iter().map(|&r| Load::Rate(r)));
        Ok(LoadPlan {
            points,
            duration: self.duration,
            seed: self.seed,
        })
    }
}

pub fn run(args: LoadtestArgs) -> Result<(), Error> {
    let plan = args.plan()?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| Error::Io {
            context: "cannot start the runtime".into(),
            source: e,
        })?;
    let (results, head_of_line) = rt.block_on(drive(&args, &plan))?;
    let mut markdown = if results.is_empty() {
        String::new()
    } else {
        load::markdown(&results)
    };
    if let Some(h) = &head_of_line {
        if !markdown.is_empty() {
            markdown.push('\n');
        }
        markdown.push_str(&hol::markdown(h));
    }
    let report = serde_json::json!({
        "format": "copydesk-loadtest/1",
        "machine": crate::bench::machine::machine(&candle_core::Device::Cpu,
            std::thread::available_parallelism().map_or(1, usize::from)),
        "target": args.url.clone().unwrap_or_else(|| format!("in-process: {}", args.server.translator)),
        "settings": {"duration_s": plan.duration.as_secs_f64(), "seed": plan.seed,
            "scheduler": args.url.is_none().then(|| args.server.batching.scheduler.to_string()),
            "mix": MIX.map(|(name, sentences, tokens, percent)| serde_json::json!(
                {"name": name, "sentences": sentences, "max_new_tokens": tokens, "percent": percent}))},
        "results": results,
        "head_of_line": head_of_line,
    });
    let write = |path: &PathBuf, text: String| {
        std::fs::write(path, text).map_err(|e| Error::Io {
            context: format!("cannot write {}", path.display()),
            source: e,
        })
    };
    if let Some(p) = &args.out {
        write(p, serde_json::to_string_pretty(&report).unwrap_or_default())?;
    }
    if let Some(p) = &args.markdown {
        write(p, markdown.clone())?;
    }
    super::print_lines([markdown])
}

/// Starts the in-process server (or reaches --url) and runs the plan against it.
async fn drive(
    args: &LoadtestArgs,
    plan: &LoadPlan,
) -> Result<(Vec<PointResult>, Option<HeadOfLine>), Error> {
    let bad_url = |m: String| Error::invalid("invalid_argument", m);
    let (client, _server) = match &args.url {
        Some(url) => (Client::new(url, args.key.clone()).map_err(bad_url)?, None),
        None => {
            let cfg = args.server.config()?;
            let key = cfg.http.api_keys.first().cloned();
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
                .await
                .map_err(|e| Error::Io {
                    context: "cannot listen on 127.0.0.1".into(),
                    source: e,
                })?;
            let addr = listener.local_addr().map_err(|e| Error::Io {
                context: "cannot read the listening address".into(),
                source: e,
            })?;
            let state = AppState::new(cfg.http);
            let server = tokio::spawn(http::serve(listener, state.clone(), std::future::pending()));
            eprintln!("loadtest: loading {}", args.server.translator);
            state.load(cfg.service).await?;
            let client = Client::new(&format!("http://{addr}"), key).map_err(bad_url)?;
            (client, Some(AbortOnDrop(server)))
        }
    };
    client
        .wait_ready(Duration::from_secs(600))
        .await
        .map_err(|context| Error::Io {
            context,
            source: std::io::Error::new(std::io::ErrorKind::TimedOut, "not ready"),
        })?;
    let client = Arc::new(client);
    let points = load::run(client.clone(), plan).await;
    let head_of_line = if args.head_of_line {
        eprintln!(
            "loadtest: head of line, {} runs (headline {:?} into the bulk request)",
            args.hol_runs, args.hol_delay
        );
        let pool = load::sentences();
        Some(hol::run(client, &pool, args.hol_delay, args.hol_runs as usize).await)
    } else {
        None
    };
    Ok((points, head_of_line))
}

/// The in-process server, stopped when the run ends.
struct AbortOnDrop(tokio::task::JoinHandle<std::io::Result<()>>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}
