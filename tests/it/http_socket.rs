//! The REST service on a real socket (ephemeral port): 64 concurrent clients get exactly what
//! the CLI prints, in batches shared across requests; 429 beyond the concurrency limit while the
//! accepted requests complete; a disconnected client's jobs are never computed; shutdown drains;
//! and the `copydesk serve` binary exits 0 on SIGTERM after finishing its in-flight request.

use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Command, Stdio};
use std::sync::atomic::Ordering::Relaxed;
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use copydesk::batching::BatchPolicy;
use copydesk::http::{AppState, HttpConfig, Phase};
use copydesk::service::{ModelHandle, Service};

use crate::common::model_dir;
use crate::http::{config, service, MAX_NEW_TOKENS};

/// A server on 127.0.0.1:0 in its own runtime.
pub struct Server {
    rt: tokio::runtime::Runtime,
    addr: SocketAddr,
    state: AppState,
    service: Service,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    done: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
}

impl Server {
    /// The fixture translator behind batches that wait at most `max_wait` to fill.
    fn start(cfg: HttpConfig, max_wait: Duration) -> Server {
        let policy = BatchPolicy {
            max_wait,
            ..BatchPolicy::default()
        };
        Server::with_service(cfg, service(false, policy))
    }

    /// `service` behind `cfg`.
    pub fn with_service(cfg: HttpConfig, service: Service) -> Server {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let state = rt.block_on(AppState::ready(cfg, service.clone())).unwrap();
        let listener = rt
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .unwrap();
        let addr = listener.local_addr().unwrap();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let shutdown = async {
            let _ = stopped.await;
        };
        let done = rt.spawn(copydesk::http::serve(listener, state.clone(), shutdown));
        Server {
            rt,
            addr,
            state,
            service,
            stop: Some(stop),
            done: Some(done),
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    fn worker(&self) -> &ModelHandle {
        self.service.first_translator().unwrap()
    }

    /// Rows the model thread computed, and jobs dropped unseen (queue and engine).
    fn rows(&self) -> u64 {
        self.worker().batcher.engine().stats().rows.load(Relaxed)
    }

    fn cancelled(&self) -> u64 {
        self.worker().batcher.queue_stats().cancelled.load(Relaxed)
            + self
                .worker()
                .batcher
                .engine()
                .stats()
                .cancelled
                .load(Relaxed)
    }

    /// Begins shutdown; returns how long `serve` took to return.
    fn shut_down(&mut self) -> (Duration, std::io::Result<()>) {
        let started = Instant::now();
        let _ = self.stop.take().unwrap().send(());
        let done = self.done.take().unwrap();
        let result = self.rt.block_on(async {
            tokio::time::timeout(Duration::from_secs(20), done)
                .await
                .expect("serve returns")
                .unwrap()
        });
        (started.elapsed(), result)
    }
}

/// Polls `ok` every 10 ms for at most `limit`.
fn wait_until(limit: Duration, mut ok: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if ok() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    ok()
}

/// Status, `Retry-After` and JSON body of a POST.
fn post(url: &str, body: &Value) -> (u16, Option<String>, Value) {
    let agent = ureq::AgentBuilder::new()
        .timeout(Duration::from_secs(30))
        .build();
    let result = agent
        .post(url)
        .set("Content-Type", "application/json")
        .send_string(&body.to_string());
    let response = match result {
        Ok(r) => r,
        Err(ureq::Error::Status(_, r)) => r,
        Err(e) => panic!("POST {url}: {e}"),
    };
    let status = response.status();
    let retry = response.header("retry-after").map(str::to_string);
    (status, retry, response.into_json().unwrap_or(Value::Null))
}

fn get_text(url: &str) -> Option<(u16, String)> {
    let agent = ureq::AgentBuilder::new()
        .timeout(Duration::from_secs(5))
        .build();
    match agent.get(url).call() {
        Ok(r) => Some((r.status(), r.into_string().unwrap_or_default())),
        Err(ureq::Error::Status(code, r)) => Some((code, r.into_string().unwrap_or_default())),
        Err(_) => None,
    }
}

fn sentences(n: usize) -> Vec<String> {
    let words = [
        "nieuwe",
        "strenge",
        "maatregelen",
        "tegen",
        "de",
        "hoge",
        "stikstofuitstoot",
    ];
    (0..n)
        .map(|i| {
            format!(
                "Op dag {i} heeft het kabinet {} aangekondigd.",
                words[..i % words.len() + 1].join(" ")
            )
        })
        .collect()
}

#[test]
fn sixty_four_concurrent_clients_get_the_cli_outputs_in_shared_batches() {
    let inputs = sentences(64);
    let dir = model_dir("marian-tied").to_string_lossy().into_owned();
    let max_new = MAX_NEW_TOKENS.to_string();
    let mut args = vec!["translate", "--model", &dir, "--max-new-tokens", &max_new];
    args.extend(inputs.iter().map(String::as_str));
    let out = crate::cli::copydesk(&args, "");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let expected: Vec<String> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect();
    assert_eq!(expected.len(), 64);

    let server = Server::start(config(), Duration::from_millis(50));
    let url = server.url("/v1/translate");
    let start = Arc::new(Barrier::new(inputs.len()));
    let clients: Vec<_> = inputs
        .iter()
        .map(|text| {
            let (url, text, start) = (url.clone(), text.clone(), start.clone());
            std::thread::spawn(move || {
                start.wait();
                post(&url, &json!({"texts": [text]}))
            })
        })
        .collect();
    for (i, client) in clients.into_iter().enumerate() {
        let (status, _, v) = client.join().unwrap();
        assert_eq!(status, 200, "client {i}: {v}");
        assert_eq!(v["translations"][0]["text"], expected[i], "client {i}");
    }
    // Every request had one row: a batch of more rows mixed requests.
    let stats = server.worker().batcher.engine().stats();
    let max_rows = stats.max_rows.load(Relaxed);
    assert!(max_rows > 1, "largest batch had {max_rows} row(s)");
    assert!(
        stats.batches.load(Relaxed) < 64,
        "fewer batches than requests"
    );
    assert_eq!(
        server.rows(),
        64 + 1,
        "every sentence once, plus the warm-up"
    );
}

#[test]
fn beyond_the_concurrency_limit_is_429_and_accepted_requests_complete() {
    let cfg = HttpConfig {
        max_concurrent_requests: 2,
        ..config()
    };
    let server = Server::start(cfg, Duration::from_millis(1500));
    let url = server.url("/v1/translate");
    let accepted: Vec<_> = sentences(2)
        .into_iter()
        .map(|text| {
            let url = url.clone();
            std::thread::spawn(move || post(&url, &json!({"texts": [text]})))
        })
        .collect();
    assert!(wait_until(Duration::from_secs(5), || server
        .state
        .in_flight()
        == 2));
    let (status, retry, v) = post(&url, &json!({"texts": ["Het kabinet valt."]}));
    assert_eq!(status, 429, "{v}");
    assert_eq!(v["error"]["code"], "overloaded");
    assert_eq!(retry.as_deref(), Some("1"));
    for client in accepted {
        let (status, _, v) = client.join().unwrap();
        assert_eq!(status, 200, "{v}");
        assert_eq!(v["translations"].as_array().unwrap().len(), 1);
    }
    assert_eq!(server.state.in_flight(), 0);
    // Both accepted requests were answered from one shared batch.
    assert_eq!(
        server
            .worker()
            .batcher
            .engine()
            .stats()
            .max_rows
            .load(Relaxed),
        2
    );
}

#[test]
fn a_disconnected_clients_jobs_are_not_computed() {
    let server = Server::start(config(), Duration::from_millis(1000));
    let body =
        json!({"texts": ["Het kabinet valt.", "De premier sprak.", "Hij vertrok."]}).to_string();
    let mut stream = TcpStream::connect(server.addr).unwrap();
    write!(
        stream,
        "POST /v1/translate HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let queue = server.worker().batcher.queue_stats();
    assert!(wait_until(Duration::from_secs(5), || queue
        .queued
        .load(Relaxed)
        == 3));
    stream.shutdown(std::net::Shutdown::Both).unwrap();
    drop(stream);
    assert!(
        wait_until(Duration::from_secs(5), || server.cancelled() == 3),
        "cancelled: {}",
        server.cancelled()
    );
    std::thread::sleep(Duration::from_millis(100));
    assert_eq!(server.rows(), 1, "only the warm-up row was computed");
    assert_eq!(queue.queued.load(Relaxed), 0);
}

#[test]
fn shutdown_drains_in_flight_requests() {
    let cfg = HttpConfig {
        drain_timeout: Duration::from_secs(10),
        ..config()
    };
    let mut server = Server::start(cfg, Duration::from_millis(800));
    let url = server.url("/v1/translate");
    let client = std::thread::spawn(move || post(&url, &json!({"texts": ["Het kabinet valt."]})));
    assert!(wait_until(Duration::from_secs(5), || server
        .state
        .in_flight()
        == 1));
    let (took, result) = server.shut_down();
    result.unwrap();
    let (status, _, v) = client.join().unwrap();
    assert_eq!(status, 200, "the in-flight request finished: {v}");
    assert!(took < Duration::from_secs(5), "drained in {took:?}");
    assert_eq!(server.state.phase(), Phase::Draining);
    assert!(
        TcpStream::connect(server.addr).is_err(),
        "no longer accepting"
    );
}

#[test]
fn the_drain_timeout_bounds_shutdown() {
    let cfg = HttpConfig {
        drain_timeout: Duration::from_millis(200),
        ..config()
    };
    let mut server = Server::start(cfg, Duration::from_secs(5));
    let url = server.url("/v1/translate");
    let client = std::thread::spawn(move || {
        let agent = ureq::AgentBuilder::new()
            .timeout(Duration::from_secs(20))
            .build();
        agent
            .post(&url)
            .set("Content-Type", "application/json")
            .send_string(&json!({"texts": ["Het kabinet valt."]}).to_string())
            .map(|r| r.status())
            .map_err(|e| e.to_string())
    });
    assert!(wait_until(Duration::from_secs(5), || server
        .state
        .in_flight()
        == 1));
    let (took, result) = server.shut_down();
    result.unwrap();
    assert!(
        took < Duration::from_secs(2),
        "stopped waiting after {took:?}"
    );
    drop(server); // the runtime goes, and the unfinished request with it
    assert!(
        client.join().unwrap().is_err(),
        "the unfinished request got no answer"
    );
}

/// A running `copydesk serve`, its base URL, and its standard error read in the background (a
/// full pipe would stall the server's logging).
struct Child {
    process: std::process::Child,
    base: String,
    stderr: Option<std::thread::JoinHandle<String>>,
}

impl Child {
    fn logs(&mut self) -> String {
        self.stderr
            .take()
            .map(|t| t.join().unwrap())
            .unwrap_or_default()
    }
}

/// Starts `copydesk serve` on port 0 and reads the address it prints.
fn spawn_serve(extra: &[&str]) -> Child {
    let dir = model_dir("marian-tied").to_string_lossy().into_owned();
    let mut child = Command::new(env!("CARGO_BIN_EXE_copydesk"))
        .args([
            "serve",
            "--port",
            "0",
            "--translator",
            &dir,
            "--max-new-tokens",
            "8",
        ])
        .args(extra)
        .env("HF_HUB_OFFLINE", "1")
        .env_remove("COPYDESK_API_KEY")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let base = line
        .trim()
        .strip_prefix("copydesk listening on ")
        .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
        .to_string();
    let mut err = child.stderr.take().unwrap();
    let stderr = std::thread::spawn(move || {
        let mut logs = String::new();
        let _ = std::io::Read::read_to_string(&mut err, &mut logs);
        logs
    });
    Child {
        process: child,
        base,
        stderr: Some(stderr),
    }
}

#[test]
fn the_binary_drains_and_exits_0_on_sigterm() {
    let mut child = spawn_serve(&[
        "--max-wait-ms",
        "1500",
        "--log",
        "info",
        "--log-format",
        "json",
    ]);
    let base = child.base.clone();
    let ready = wait_until(Duration::from_secs(30), || {
        get_text(&format!("{base}/ready")).is_some_and(|(s, _)| s == 200)
    });
    if !ready {
        let _ = child.process.kill();
        let status = child.process.wait().unwrap();
        panic!(
            "/ready never turned 200 (exit {status:?}): {}",
            child.logs()
        );
    }
    let url = format!("{base}/v1/translate");
    let client = std::thread::spawn(move || post(&url, &json!({"texts": ["Het kabinet valt."]})));
    let in_flight = wait_until(Duration::from_secs(5), || {
        get_text(&format!("{base}/metrics"))
            .is_some_and(|(_, m)| m.contains("copydesk_http_requests_in_flight 1"))
    });
    assert!(in_flight, "the request never showed as in flight");
    let pid = i32::try_from(child.process.id()).unwrap();
    // SAFETY: kill(2) takes no pointers, so it cannot touch our memory; `pid` is our own child,
    // not yet waited for, so it cannot have been reused for another process.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGTERM) }, 0);
    let (status, _, v) = client.join().unwrap();
    assert_eq!(status, 200, "in-flight request finished: {v}");
    let deadline = Instant::now() + Duration::from_secs(15);
    let exit = loop {
        if let Some(s) = child.process.try_wait().unwrap() {
            break s;
        }
        assert!(Instant::now() < deadline, "did not exit after SIGTERM");
        std::thread::sleep(Duration::from_millis(20));
    };
    let logs = child.logs();
    assert!(exit.success(), "exit {exit:?}: {logs}");
    let lines: Vec<Value> = logs
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|_| panic!("not JSON: {l}")))
        .collect();
    assert!(lines
        .iter()
        .any(|l| l["fields"]["message"] == "finished processing request"));
    assert!(get_text(&format!("{base}/health")).is_none(), "port closed");
}

#[test]
fn the_binary_checks_its_flags_before_starting() {
    let run = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_copydesk"))
            .arg("serve")
            .args(args)
            .env_remove("COPYDESK_API_KEY")
            .output()
            .unwrap()
    };
    for (args, mentions) in [
        (&["--request-timeout", "0s"][..], "--request-timeout"),
        (&["--request-timeout", "soon"][..], "invalid duration"),
        (&["--api-key", "two words"][..], "API keys"),
        (
            &["--api-key-file", "/nonexistent/keys"][..],
            "--api-key-file",
        ),
        (
            &["--max-concurrent-requests", "0"][..],
            "max-concurrent-requests",
        ),
        (&["--device", "tpu"][..], "invalid device"),
    ] {
        let out = run(args);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.contains(mentions), "{args:?}: {err}");
    }
}
