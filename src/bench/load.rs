//! The load benchmark (`copydesk loadtest`): many clients against `POST /v1/translate` of a
//! running server, measured from outside as a client sees it.
//!
//! Requests are wire copy from the shared sample articles in three shapes drawn with fixed
//! odds from a seeded generator: a headline (one sentence, 8 new tokens, 30%), a sentence (one,
//! 40 tokens, 50%) and a paragraph (three sentences, 40 tokens each, 20%); random-weight models
//! rarely end early, so `max_new_tokens` sets each output's length. A point of the run is
//! either `N` closed-loop clients (each sends its next request when the last one is answered)
//! or an open-loop Poisson arrival rate (requests start on schedule whether or not earlier ones
//! are done, as independent editors' tools do). Each point reports requests/s, generated
//! tokens/s, latency percentiles, 429s and errors, and — from the server's `/metrics` — the
//! share of the point's wall time the models spent computing (queueing is the rest of the
//! latency).

pub mod client;
pub mod hol;

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::Serialize;

use self::client::{Client, Reply};
use super::workload::SAMPLE_ARTICLES;

/// One point of the run.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Load {
    /// Closed loop: this many clients, each with one request in flight.
    Clients(usize),
    /// Open loop: Poisson arrivals at this many requests per second.
    Rate(f64),
}

/// The shapes of request in the mix: (name, sentences, new tokens per sentence, weight in %).
pub const MIX: [(&str, usize, u32, u32); 3] = [
    ("headline", 1, 8, 30),
    ("sentence", 1, 40, 50),
    ("paragraph", 3, 40, 20),
];

/// What to run.
#[derive(Debug, Clone)]
pub struct LoadPlan {
    pub points: Vec<Load>,
    /// Sending time per point (requests in flight at the end are awaited and counted).
    pub duration: Duration,
    pub seed: u64,
}

/// The measurements of one point.
#[derive(Debug, Clone, Serialize)]
pub struct PointResult {
    pub load: Load,
    pub sent: usize,
    pub ok: usize,
    /// 429 answers (the server's concurrency limit).
    pub rejected: usize,
    /// Any other failure (status and message of the first one in `first_error`).
    pub errors: usize,
    pub first_error: Option<String>,
    pub wall_s: f64,
    pub requests_per_s: f64,
    pub generated_tokens_per_s: f64,
    pub latency_p50_s: f64,
    pub latency_p95_s: f64,
    pub latency_p99_s: f64,
    /// Seconds of batch compute on the server during the point (`/metrics`), when readable.
    pub server_compute_s: Option<f64>,
    /// `server_compute_s` / `wall_s`: how busy the models were.
    pub server_busy: Option<f64>,
}

/// A small seeded generator (xorshift64*), the same on every machine.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Self(seed.max(1))
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// Uniform in [0, 1).
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// An exponential gap with mean `1 / rate` seconds.
    pub fn exponential(&mut self, rate: f64) -> Duration {
        Duration::from_secs_f64(-(1.0 - self.unit()).ln() / rate)
    }
}

/// Every sentence of the sample articles, in order.
pub fn sentences() -> Vec<String> {
    SAMPLE_ARTICLES
        .iter()
        .flat_map(|(_, text)| {
            let doc = crate::text::segment(text);
            doc.sentences().map(str::to_string).collect::<Vec<_>>()
        })
        .collect()
}

/// One request of the mix: its JSON body.
pub fn request(rng: &mut Rng, pool: &[String]) -> serde_json::Value {
    let total: u32 = MIX.iter().map(|m| m.3).sum();
    let mut pick = (rng.unit() * f64::from(total)) as u32;
    let &(_, n, tokens, _) = MIX
        .iter()
        .find(|m| {
            let hit = pick < m.3;
            pick = pick.saturating_sub(m.3);
            hit
        })
        .unwrap_or(&MIX[1]);
    let start = (rng.next_u64() % pool.len() as u64) as usize;
    let texts: Vec<&String> = (0..n).map(|i| &pool[(start + i) % pool.len()]).collect();
    serde_json::json!({"texts": texts, "options": {"max_new_tokens": tokens}})
}

/// The `q` quantile of sorted `values` (nearest rank), 0 when empty.
pub fn quantile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1]
}

/// The tally of one point while it runs.
#[derive(Debug, Default)]
struct Tally {
    latencies: Vec<f64>,
    tokens: u64,
    rejected: usize,
    errors: usize,
    first_error: Option<String>,
}

impl Tally {
    fn add(&mut self, reply: Reply, latency: f64) {
        match reply {
            Reply::Ok { output_tokens } => {
                self.latencies.push(latency);
                self.tokens += output_tokens;
            }
            Reply::Rejected => self.rejected += 1,
            Reply::Failed(e) => {
                self.errors += 1;
                self.first_error.get_or_insert(e);
            }
        }
    }
}

/// Runs every point of `plan` against `client`, one after the other.
pub async fn run(client: Arc<Client>, plan: &LoadPlan) -> Vec<PointResult> {
    let pool = Arc::new(sentences());
    let mut out = Vec::new();
    for (i, &load) in plan.points.iter().enumerate() {
        eprintln!("loadtest: {load:?} for {:?}", plan.duration);
        let seed = plan.seed.wrapping_add(i as u64);
        out.push(point(client.clone(), pool.clone(), load, plan.duration, seed).await);
    }
    out
}

type Shared = Arc<std::sync::Mutex<Tally>>;

/// Sends one request and counts its answer.
async fn one(client: Arc<Client>, tally: Shared, body: serde_json::Value) {
    let t0 = Instant::now();
    let reply = client.translate(&body).await;
    let latency = t0.elapsed().as_secs_f64();
    if let Ok(mut t) = tally.lock() {
        t.add(reply, latency);
    }
}

async fn point(
    client: Arc<Client>,
    pool: Arc<Vec<String>>,
    load: Load,
    duration: Duration,
    seed: u64,
) -> PointResult {
    let compute_before = client.compute_seconds().await;
    let start = Instant::now();
    let tally: Shared = Arc::default();
    let mut tasks = tokio::task::JoinSet::new();
    match load {
        // Each client sends its next request when the last is answered, until the time is up.
        Load::Clients(n) => {
            for c in 0..n {
                let mut rng = Rng::new(seed ^ ((c as u64 + 1) << 32));
                let (client, tally, pool) = (client.clone(), tally.clone(), pool.clone());
                tasks.spawn(async move {
                    let mut sent = 0;
                    while start.elapsed() < duration {
                        let body = request(&mut rng, &pool);
                        one(client.clone(), tally.clone(), body).await;
                        sent += 1;
                    }
                    sent
                });
            }
        }
        // Requests start on their Poisson schedule, answered or not.
        Load::Rate(rate) => {
            let mut rng = Rng::new(seed);
            let mut at = rng.exponential(rate);
            while at < duration {
                tokio::time::sleep_until((start + at).into()).await;
                let body = request(&mut rng, &pool);
                let job = one(client.clone(), tally.clone(), body);
                tasks.spawn(async move {
                    job.await;
                    1
                });
                at += rng.exponential(rate);
            }
        }
    }
    let mut sent = 0;
    while let Some(done) = tasks.join_next().await {
        sent += done.unwrap_or(0);
    }
    let wall = start.elapsed().as_secs_f64();
    let compute = match (compute_before, client.compute_seconds().await) {
        (Some(a), Some(b)) => Some(b - a),
        _ => None,
    };
    let mut t = std::mem::take(&mut *tally.lock().unwrap_or_else(|e| e.into_inner()));
    t.latencies.sort_by(f64::total_cmp);
    PointResult {
        load,
        sent,
        ok: t.latencies.len(),
        rejected: t.rejected,
        errors: t.errors,
        first_error: t.first_error,
        wall_s: wall,
        requests_per_s: t.latencies.len() as f64 / wall,
        generated_tokens_per_s: t.tokens as f64 / wall,
        latency_p50_s: quantile(&t.latencies, 0.50),
        latency_p95_s: quantile(&t.latencies, 0.95),
        latency_p99_s: quantile(&t.latencies, 0.99),
        server_compute_s: compute,
        server_busy: compute.map(|c| c / wall),
    }
}

/// The results as a Markdown table.
pub fn markdown(results: &[PointResult]) -> String {
    let mut s = String::from(
        "| load | sent | ok | 429 | errors | req/s | gen tok/s | p50 s | p95 s | p99 s | busy |\n\
         | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n",
    );
    for r in results {
        let load = match r.load {
            Load::Clients(n) => format!("{n} clients"),
            Load::Rate(x) => format!("{x} req/s"),
        };
        let busy = r
            .server_busy
            .map_or("-".into(), |b| format!("{:.0}%", b * 100.0));
        s.push_str(&format!(
            "| {load} | {} | {} | {} | {} | {:.2} | {:.1} | {:.3} | {:.3} | {:.3} | {busy} |\n",
            r.sent,
            r.ok,
            r.rejected,
            r.errors,
            r.requests_per_s,
            r.generated_tokens_per_s,
            r.latency_p50_s,
            r.latency_p95_s,
            r.latency_p99_s,
        ));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_mix_is_seeded_and_follows_its_odds() {
        let pool = sentences();
        assert!(pool.len() > 20);
        let draw = |seed| {
            let mut rng = Rng::new(seed);
            (0..2000)
                .map(|_| request(&mut rng, &pool))
                .collect::<Vec<_>>()
        };
        let (a, b) = (draw(7), draw(7));
        assert_eq!(a, b);
        assert_ne!(a, draw(8));
        // The tokens a request asks for: its sentences times max_new_tokens.
        let asked = |b: &serde_json::Value| {
            b["texts"].as_array().map_or(0, Vec::len) as u64
                * b["options"]["max_new_tokens"].as_u64().unwrap_or(0)
        };
        let count = |tokens: u64| a.iter().filter(|b| asked(b) == tokens).count();
        // 30% headlines (8 tokens), 50% sentences (40), 20% paragraphs (3 x 40).
        for (tokens, share) in [(8, 0.3), (40, 0.5), (120, 0.2)] {
            let got = count(tokens) as f64 / 2000.0;
            assert!((got - share).abs() < 0.04, "{tokens}: {got}");
        }
        assert!(a[0]["texts"].as_array().is_some_and(|t| !t.is_empty()));
    }

    #[test]
    fn exponential_gaps_have_the_rate_asked_for_and_quantiles_use_nearest_rank() {
        let mut rng = Rng::new(3);
        let n = 20_000;
        let mean: f64 = (0..n)
            .map(|_| rng.exponential(4.0).as_secs_f64())
            .sum::<f64>()
            / n as f64;
        assert!((mean - 0.25).abs() < 0.01, "{mean}");
        let v = [1.0, 2.0, 3.0, 4.0];
        assert_eq!(
            (quantile(&v, 0.5), quantile(&v, 0.99), quantile(&[], 0.5)),
            (2.0, 4.0, 0.0)
        );
    }
}
