//! The head-of-line scenario (`copydesk loadtest --head-of-line`): an editor's headline sent
//! while a bulk request runs. Measures the headline alone, the bulk request alone, then the bulk
//! request with the headline sent `delay` after it started, each `runs` times (medians), and
//! compares the headline's time with the goal: well under the bulk request's time alone, and
//! close to its own steps at the running batch's step time.

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::Serialize;

use super::client::{Client, Reply};

/// The bulk request: sentences and new tokens per sentence.
pub const BULK: (usize, u32) = (32, 40);
/// The headline: new tokens.
pub const HEADLINE_TOKENS: u32 = 8;

/// Medians of the scenario, in seconds.
#[derive(Debug, Clone, Serialize)]
pub struct HeadOfLine {
    pub delay_s: f64,
    pub runs: usize,
    pub headline_alone_s: f64,
    pub bulk_alone_s: f64,
    /// The headline, sent `delay_s` after the bulk request started.
    pub headline_during_bulk_s: f64,
    pub bulk_with_headline_s: f64,
    /// `headline_during_bulk_s / bulk_alone_s` (the goal: at most 0.3; a static batch is ≈ 1).
    pub headline_vs_bulk: f64,
    /// The headline's steps at the running batch's step time (`bulk_alone_s / 40`), plus its
    /// time alone (an upper bound of its own encoder pass).
    pub headline_bound_s: f64,
    /// `headline_during_bulk_s / headline_bound_s` (the goal: at most 1.5).
    pub headline_vs_bound: f64,
    /// `bulk_with_headline_s / bulk_alone_s - 1` (the goal: at most 0.10).
    pub bulk_slowdown: f64,
    /// The first failure, if any request failed (then the figures are not meaningful).
    pub error: Option<String>,
}

fn body(texts: &[String], tokens: u32) -> serde_json::Value {
    serde_json::json!({"texts": texts, "options": {"max_new_tokens": tokens}})
}

/// Seconds one request takes, or why it failed.
async fn timed(client: &Client, body: &serde_json::Value) -> Result<f64, String> {
    let t0 = Instant::now();
    match client.translate(body).await {
        Reply::Ok { .. } => Ok(t0.elapsed().as_secs_f64()),
        Reply::Rejected => Err("429 from the server".into()),
        Reply::Failed(e) => Err(e),
    }
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or(0.0)
}

/// Runs the scenario with sentences from `pool` (the first is the headline).
pub async fn run(client: Arc<Client>, pool: &[String], delay: Duration, runs: usize) -> HeadOfLine {
    let headline = body(&pool[..1], HEADLINE_TOKENS);
    let bulk_texts: Vec<String> = (0..BULK.0)
        .map(|i| pool[(1 + i) % pool.len()].clone())
        .collect();
    let bulk = body(&bulk_texts, BULK.1);
    let mut error = None;
    let mut keep = |r: Result<f64, String>| {
        r.unwrap_or_else(|e| {
            error.get_or_insert(e);
            f64::NAN
        })
    };
    // Warm-up, then the parts alone.
    keep(timed(&client, &headline).await);
    let (mut h_alone, mut b_alone, mut h_during, mut b_with) = (vec![], vec![], vec![], vec![]);
    for _ in 0..runs.max(1) {
        h_alone.push(keep(timed(&client, &headline).await));
        b_alone.push(keep(timed(&client, &bulk).await));
        let c = client.clone();
        let b = bulk.clone();
        let long = tokio::spawn(async move { timed(&c, &b).await });
        tokio::time::sleep(delay).await;
        h_during.push(keep(timed(&client, &headline).await));
        b_with.push(keep(long.await.unwrap_or_else(|e| Err(e.to_string()))));
    }
    let (headline_alone_s, bulk_alone_s) = (median(h_alone), median(b_alone));
    let (headline_during_bulk_s, bulk_with_headline_s) = (median(h_during), median(b_with));
    let headline_bound_s =
        f64::from(HEADLINE_TOKENS) * bulk_alone_s / f64::from(BULK.1) + headline_alone_s;
    HeadOfLine {
        delay_s: delay.as_secs_f64(),
        runs: runs.max(1),
        headline_alone_s,
        bulk_alone_s,
        headline_during_bulk_s,
        bulk_with_headline_s,
        headline_vs_bulk: headline_during_bulk_s / bulk_alone_s,
        headline_bound_s,
        headline_vs_bound: headline_during_bulk_s / headline_bound_s,
        bulk_slowdown: bulk_with_headline_s / bulk_alone_s - 1.0,
        error,
    }
}

/// The scenario as a Markdown table.
pub fn markdown(h: &HeadOfLine) -> String {
    let mut s = format!(
        "| head of line (median of {}) | s |\n| --- | ---: |\n\
         | headline alone ({HEADLINE_TOKENS} tokens) | {:.3} |\n\
         | bulk alone ({} sentences × {} tokens) | {:.3} |\n\
         | headline sent {:.1} s into the bulk request | {:.3} |\n\
         | bulk request with the headline | {:.3} |\n\n",
        h.runs,
        h.headline_alone_s,
        BULK.0,
        BULK.1,
        h.bulk_alone_s,
        h.delay_s,
        h.headline_during_bulk_s,
        h.bulk_with_headline_s,
    );
    s.push_str(&format!(
        "headline / bulk alone: {:.2} (goal ≤ 0.30); headline / bound {:.3} s: {:.2} (goal ≤ 1.5); \
         bulk slowed by {:+.1}% (goal ≤ 10%)\n",
        h.headline_vs_bulk,
        h.headline_bound_s,
        h.headline_vs_bound,
        h.bulk_slowdown * 100.0
    ));
    if let Some(e) = &h.error {
        s.push_str(&format!(
            "\nA request failed, the figures are not meaningful: {e}\n"
        ));
    }
    s
}
