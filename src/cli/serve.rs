//! `copydesk serve`: flags become a checked [`ServeConfig`] before anything starts; then the
//! socket is bound (its address printed), the models load and warm up while `/health` already
//! answers, and SIGTERM/SIGINT drain in-flight requests before a clean exit.

use std::net::{SocketAddr, ToSocketAddrs};
use std::path::PathBuf;
use std::time::Duration;

use clap::Args;
use tokio::net::TcpListener;

use super::{BatchingArgs, DecodeArgs, DeviceArgs, GlossaryArgs};
use crate::glossary::store::GlossaryStore;
use crate::http::{self, AppState, HttpConfig, Limits};
use crate::registry::DEFAULT_TRANSLATOR;
use crate::service::ServiceConfig;
use crate::Error;

/// Serve the REST API (see GET /openapi.json once it runs).
///
/// Sentences and prompts of concurrent requests are merged into shared batches per model
/// (--max-batch-tokens, --max-batch-size, --max-wait-ms). Beyond --max-concurrent-requests the
/// server answers 429; a request running longer than --request-timeout gets 504 and its queued
/// work is dropped. The listening address is printed on standard output (use --port 0 for a
/// free port). /ready answers 200 once the models are loaded and warm.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address to listen on.
    #[arg(long, env = "COPYDESK_HOST", default_value = "127.0.0.1")]
    pub host: String,
    /// Port; 0 picks a free one.
    #[arg(long, env = "COPYDESK_PORT", default_value_t = 8080)]
    pub port: u16,
    /// Translation models: comma-separated `[LANG[+LANG]=]MODEL` entries (manifest name, hub id
    /// org/name[@revision] or local directory), all loaded at start. Each text or sentence goes
    /// to the one for its language (manifest `source_lang(s)`, or the `LANG=` prefix; a
    /// directory with neither reads Dutch); the first also takes text of unknown language.
    #[arg(long, env = "COPYDESK_TRANSLATOR", default_value = DEFAULT_TRANSLATOR)]
    pub translator: String,
    /// Summarization model (none: /v1/summarize answers 422 and articles are not summarized).
    #[arg(long, env = "COPYDESK_SUMMARIZER")]
    pub summarizer: Option<String>,
    #[command(flatten)]
    pub device: DeviceArgs,
    #[command(flatten)]
    pub decode: DecodeArgs,
    #[command(flatten)]
    pub batching: BatchingArgs,
    #[command(flatten)]
    pub glossary: GlossaryArgs,
    /// Where glossaries created through `POST /v2/glossaries` are kept (one JSON file each
    /// under `DIR/glossaries/`), so that a restart keeps them. Without it they live in memory
    /// and are lost when the server stops.
    #[arg(long, env = "COPYDESK_DATA_DIR", value_name = "DIR")]
    pub data_dir: Option<std::path::PathBuf>,
    /// Longest a job waits for its batch to fill, in milliseconds.
    #[arg(long, env = "COPYDESK_MAX_WAIT_MS", default_value_t = 5, value_parser = clap::value_parser!(u64).range(0..=60_000))]
    pub max_wait_ms: u64,
    /// Inference requests served at once; beyond, 429 with Retry-After.
    #[arg(long, env = "COPYDESK_MAX_CONCURRENT_REQUESTS", default_value_t = 128, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub max_concurrent_requests: u32,
    /// Most texts (or articles) in one request.
    #[arg(long, env = "COPYDESK_MAX_TEXTS_PER_REQUEST", default_value_t = 128, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub max_texts_per_request: u32,
    /// Most characters in one text.
    #[arg(long, env = "COPYDESK_MAX_CHARS_PER_TEXT", default_value_t = 20_000, value_parser = clap::value_parser!(u32).range(1..=10_000_000))]
    pub max_chars_per_text: u32,
    /// Largest request body in bytes; beyond, 413.
    #[arg(long, env = "COPYDESK_MAX_BODY_BYTES", default_value_t = 2 * 1024 * 1024, value_parser = clap::value_parser!(u64).range(1..=1 << 30))]
    pub max_body_bytes: u64,
    /// Longest an inference request may run (e.g. 60s, 500ms, 2m); beyond, 504.
    #[arg(long, env = "COPYDESK_REQUEST_TIMEOUT", default_value = "60s", value_parser = parse_duration)]
    pub request_timeout: Duration,
    /// Longest shutdown waits for in-flight requests.
    #[arg(long, env = "COPYDESK_DRAIN_TIMEOUT", default_value = "30s", value_parser = parse_duration)]
    pub drain_timeout: Duration,
    /// Accepted API key (repeatable; comma-separated in the environment). With any key set,
    /// all routes but /health, /ready and /metrics need `Authorization: Bearer <key>`.
    #[arg(
        long = "api-key",
        env = "COPYDESK_API_KEY",
        value_delimiter = ',',
        hide_env_values = true
    )]
    pub api_keys: Vec<String>,
    /// File with accepted API keys, one per line (blank lines and # comments ignored).
    #[arg(long, env = "COPYDESK_API_KEY_FILE")]
    pub api_key_file: Option<PathBuf>,
}

/// Everything `serve` needs, checked.
#[derive(Debug, Clone)]
pub struct ServeConfig {
    pub addr: SocketAddr,
    pub service: ServiceConfig,
    pub http: HttpConfig,
}

/// `500ms`, `30s`, `2m`, or plain seconds (`1.5`).
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let (number, scale) = if let Some(n) = s.strip_suffix("ms") {
        (n, 0.001)
    } else if let Some(n) = s.strip_suffix('s') {
        (n, 1.0)
    } else if let Some(n) = s.strip_suffix('m') {
        (n, 60.0)
    } else {
        (s, 1.0)
    };
    match number.trim().parse::<f64>() {
        Ok(v) if v.is_finite() && v >= 0.0 && v * scale <= 86_400.0 => {
            Ok(Duration::from_secs_f64(v * scale))
        }
        _ => Err(format!(
            "invalid duration {s:?}: use e.g. 500ms, 30s or 2m (at most a day)"
        )),
    }
}

impl ServeArgs {
    /// Checks the flags and reads the key file; nothing is loaded or bound yet.
    pub fn config(&self) -> Result<ServeConfig, Error> {
        let addr = (self.host.as_str(), self.port)
            .to_socket_addrs()
            .ok()
            .and_then(|mut a| a.next())
            .ok_or_else(|| {
                Error::invalid(
                    "invalid_argument",
                    format!(
                        "--host {:?} is not an address or a resolvable name",
                        self.host
                    ),
                )
            })?;
        if self.request_timeout.is_zero() {
            return Err(Error::invalid(
                "invalid_argument",
                "--request-timeout must be more than zero",
            ));
        }
        let mut policy = self.batching.policy();
        policy.max_wait = Duration::from_millis(self.max_wait_ms);
        Ok(ServeConfig {
            addr,
            service: ServiceConfig {
                translator: Some(self.translator.clone()),
                summarizer: self.summarizer.clone(),
                load: self.device.load_options()?,
                policy,
            },
            http: HttpConfig {
                limits: Limits {
                    max_texts_per_request: self.max_texts_per_request as usize,
                    max_chars_per_text: self.max_chars_per_text as usize,
                },
                max_body_bytes: self.max_body_bytes as usize,
                max_concurrent_requests: self.max_concurrent_requests as usize,
                request_timeout: self.request_timeout,
                drain_timeout: self.drain_timeout,
                api_keys: self.keys()?,
                defaults: self.decode.options(),
                glossaries: std::sync::Arc::new(GlossaryStore::open(
                    self.data_dir.as_deref(),
                    &self.glossary.files,
                )?),
            },
        })
    }

    /// Keys from the flags and the key file, checked.
    fn keys(&self) -> Result<Vec<String>, Error> {
        let mut keys: Vec<String> = self.api_keys.iter().map(|k| k.trim().to_string()).collect();
        if let Some(path) = &self.api_key_file {
            let text = std::fs::read_to_string(path).map_err(|e| {
                Error::invalid(
                    "invalid_argument",
                    format!("cannot read --api-key-file {}: {e}", path.display()),
                )
            })?;
            let from_file: Vec<String> = text
                .lines()
                .map(str::trim)
                .filter(|l| !l.is_empty() && !l.starts_with('#'))
                .map(str::to_string)
                .collect();
            if from_file.is_empty() {
                return Err(Error::invalid(
                    "invalid_argument",
                    format!("--api-key-file {} holds no keys", path.display()),
                ));
            }
            keys.extend(from_file);
        }
        if let Some(bad) = keys
            .iter()
            .find(|k| k.is_empty() || k.contains(char::is_whitespace))
        {
            return Err(Error::invalid(
                "invalid_argument",
                format!(
                    "API keys must be non-empty and without spaces (found {} characters)",
                    bad.len()
                ),
            ));
        }
        Ok(keys)
    }
}

pub fn run(args: ServeArgs) -> Result<(), Error> {
    let cfg = args.config()?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("copydesk-http")
        .build()
        .map_err(|e| Error::Io {
            context: "cannot start the runtime".into(),
            source: e,
        })?;
    let result = rt.block_on(serve(cfg));
    rt.shutdown_timeout(Duration::from_secs(1));
    result
}

async fn serve(cfg: ServeConfig) -> Result<(), Error> {
    let io = |context: String| move |source| Error::Io { context, source };
    let listener = TcpListener::bind(cfg.addr)
        .await
        .map_err(io(format!("cannot listen on {}", cfg.addr)))?;
    let addr = listener
        .local_addr()
        .map_err(io("cannot read the listening address".into()))?;
    super::print_lines([format!("copydesk listening on http://{addr}")])?;
    tracing::info!(%addr, "listening; loading models");
    let state = AppState::new(cfg.http);
    let mut server = tokio::spawn(http::serve(listener, state.clone(), shutdown_signal()));
    tokio::select! {
        loaded = state.load(cfg.service) => {
            if let Err(e) = loaded {
                server.abort();
                return Err(e);
            }
        }
        done = &mut server => return finished(done),
    }
    finished(server.await)
}

fn finished(done: Result<std::io::Result<()>, tokio::task::JoinError>) -> Result<(), Error> {
    match done {
        Ok(Ok(())) => {
            tracing::info!("stopped");
            Ok(())
        }
        Ok(Err(e)) => Err(Error::Io {
            context: "the server failed".into(),
            source: e,
        }),
        Err(e) => Err(Error::internal(format!("the server task failed: {e}"))),
    }
}

/// Completes on the first SIGINT (Ctrl-C) or SIGTERM; a second one exits at once (130).
async fn shutdown_signal() {
    signalled().await;
    tokio::spawn(async {
        signalled().await;
        tracing::warn!("second signal: exiting without waiting for in-flight requests");
        std::process::exit(130);
    });
}

/// Completes on SIGINT (Ctrl-C) or SIGTERM.
async fn signalled() {
    let interrupt = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = interrupt => {}
        _ = terminate => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("30s"), Ok(Duration::from_secs(30)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("1.5"), Ok(Duration::from_millis(1500)));
        assert!(parse_duration("-1s").is_err());
        assert!(parse_duration("soon").is_err());
        assert!(parse_duration("2d").is_err());
    }
}
