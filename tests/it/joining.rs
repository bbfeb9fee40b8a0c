//! Continuous batching keeps every row's result exact: the same inputs submitted all at once,
//! joining a running batch at different steps, and one by one give identical ids and
//! bit-identical scores (on every kernel family: `COPYDESK_KERNELS=avx2|portable`), greedy
//! and beam, on every kind of decoder positions (Marian's sinusoid,
//! BART's learned table, M2M100's padding-aware fairseq positions, T5's relative bias).

use std::sync::Arc;
use std::time::Duration;

use copydesk::batching::BatchPolicy;
use copydesk::engine::{run_batch, start_rows, Scheduler};
use copydesk::generate::{GenerationConfig, Hypothesis, Running};
use copydesk::models::Seq2Seq;

use crate::common::golden;
use crate::parity::{case_rows, load};

/// Distinct source rows of a fixture's golden cases, at most `n`.
fn sources(name: &str, n: usize) -> Vec<Vec<u32>> {
    let mut rows: Vec<Vec<u32>> = Vec::new();
    for case in golden(name).generate {
        for r in case_rows(&case) {
            if !rows.contains(&r) && rows.len() < n {
                rows.push(r);
            }
        }
    }
    assert!(rows.len() >= 4, "{name}: too few golden inputs");
    rows
}

/// Per-input settings: output limits differ by row, so rows leave at different steps, and
/// every third row bans repeated bigrams (per-row processors in one batch).
fn settings(defaults: &GenerationConfig, beams: usize, n: usize) -> Vec<Arc<GenerationConfig>> {
    (0..n)
        .map(|i| {
            let mut cfg = defaults.clone();
            cfg.num_beams = beams;
            cfg.num_return_sequences = 1;
            cfg.max_new_tokens = Some(5 + 3 * (i % 4));
            cfg.no_repeat_ngram_size = if i % 3 == 2 { 2 } else { 0 };
            Arc::new(cfg)
        })
        .collect()
}

/// Runs a continuous batch: input `i` joins before step `joins[i]`; returns results by input.
fn staggered(
    model: &dyn Seq2Seq,
    inputs: &[Vec<u32>],
    cfgs: &[Arc<GenerationConfig>],
    joins: &[usize],
) -> Vec<Hypothesis> {
    let beams = cfgs[0].num_beams;
    let mut run: Running<usize> = Running::new(beams, model.special_tokens());
    let mut out: Vec<Option<Hypothesis>> = vec![None; inputs.len()];
    let mut step = 0;
    let mut max_inputs = 0;
    while out.iter().any(Option::is_none) {
        for (i, _) in joins.iter().enumerate().filter(|(_, &at)| at == step) {
            let session = start_rows(model, &[&inputs[i]]).unwrap();
            run.admit(session, vec![i], cfgs[i].clone()).unwrap();
        }
        max_inputs = max_inputs.max(run.len());
        for (i, h) in run.step().unwrap() {
            assert!(out[i].is_none(), "input {i} finished twice");
            out[i] = Some(h);
        }
        step += 1;
        assert!(step < 1000, "the batch never drained");
    }
    assert!(run.is_empty());
    // The schedule really overlapped inputs (else the test would prove nothing).
    assert!(max_inputs >= 3, "at most {max_inputs} inputs ran together");
    out.into_iter().map(Option::unwrap).collect()
}

fn same(name: &str, what: &str, got: &[Hypothesis], want: &[Hypothesis]) {
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        assert_eq!(g.tokens, w.tokens, "{name} {what}: input {i} ids");
        assert_eq!(
            g.ended_with_eos, w.ended_with_eos,
            "{name} {what}: input {i}"
        );
        assert!(
            g.score.to_bits() == w.score.to_bits(),
            "{name} {what}: input {i} score {} vs {}",
            g.score,
            w.score
        );
    }
}

fn check(name: &str, beams: usize) {
    let (model, defaults) = load(name);
    let m = model.seq2seq();
    let inputs = sources(name, 6);
    let cfgs = settings(&defaults, beams, inputs.len());
    let alone: Vec<Hypothesis> = inputs
        .iter()
        .zip(&cfgs)
        .map(|(x, c)| run_batch(m, &[x], c).unwrap().remove(0))
        .collect();
    let at_once = staggered(m, &inputs, &cfgs, &vec![0; inputs.len()]);
    same(name, "all at once", &at_once, &alone);
    // One joins every other step; the last two together, late, after some have left.
    let mut joins: Vec<usize> = (0..inputs.len()).map(|i| 2 * i).collect();
    let late = joins[inputs.len() - 2];
    joins[inputs.len() - 1] = late;
    let joined = staggered(m, &inputs, &cfgs, &joins);
    same(name, "staggered", &joined, &alone);
}

#[test]
fn marian_rows_joining_later_decode_as_alone() {
    check("marian-tied", 1);
    check("marian-tied", 3);
}

#[test]
fn t5_rows_joining_later_decode_as_alone() {
    check("t5-tied-relu", 1);
    check("t5-tied-relu", 3);
}

#[test]
fn bart_and_m2m100_rows_joining_later_decode_as_alone() {
    check("bart-tiny", 1);
    check("bart-tiny", 2);
    check("m2m100-tiny", 1);
    check("m2m100-tiny", 2);
}

#[test]
fn a_batch_that_keeps_taking_rows_stays_bounded_and_exact() {
    // Inputs join every step for longer than any one lives: the cache drops positions no row
    // reads any more, and late rows still match their solo runs.
    let (model, defaults) = load("marian-tied");
    let m = model.seq2seq();
    let base = sources("marian-tied", 4);
    let inputs: Vec<Vec<u32>> = (0..24).map(|i| base[i % base.len()].clone()).collect();
    let cfgs = settings(&defaults, 1, inputs.len());
    let alone: Vec<Hypothesis> = inputs
        .iter()
        .zip(&cfgs)
        .map(|(x, c)| run_batch(m, &[x], c).unwrap().remove(0))
        .collect();
    let joins: Vec<usize> = (0..inputs.len()).collect();
    same(
        "marian-tied",
        "rolling",
        &staggered(m, &inputs, &cfgs, &joins),
        &alone,
    );
}

#[test]
fn the_continuous_engine_lets_a_short_request_join_and_answers_exactly() {
    // Through the model thread: a long request and a short one with another output limit,
    // submitted back to back, run in one batch and give each row's solo result.
    let policy = BatchPolicy {
        scheduler: Scheduler::Continuous,
        max_wait: Duration::from_millis(1),
        ..BatchPolicy::default()
    };
    let service = crate::http::service(false, policy);
    let handle = service.translator().unwrap();
    let (model, defaults) = load("marian-tied");
    let inputs = sources("marian-tied", 5);
    // The long rows cannot end early: eos is held back for 40 tokens.
    let mut long = defaults.clone();
    long.max_new_tokens = Some(40);
    long.min_new_tokens = Some(40);
    let mut short = defaults.clone();
    short.max_new_tokens = Some(3);
    let rt = copydesk::service::local_runtime().unwrap();
    let (bulk, headline) = rt.block_on(async {
        let bulk = handle.run_ids(inputs[..4].to_vec(), long.clone());
        let headline = handle.run_ids(inputs[4..].to_vec(), short.clone());
        tokio::join!(bulk, headline)
    });
    let (bulk, headline) = (bulk.unwrap(), headline.unwrap());
    let m = model.seq2seq();
    for (x, h) in inputs[..4].iter().zip(&bulk) {
        assert_eq!(h.tokens, run_batch(m, &[x], &long).unwrap()[0].tokens);
    }
    assert_eq!(
        headline[0].tokens,
        run_batch(m, &[&inputs[4]], &short).unwrap()[0].tokens
    );
    assert!(headline[0].tokens.len() <= 3);
    let stats = handle.batcher.engine().stats();
    let max_rows = stats.max_rows.load(std::sync::atomic::Ordering::Relaxed);
    assert_eq!(stats.rows.load(std::sync::atomic::Ordering::Relaxed), 5);
    assert!(
        max_rows == 5,
        "the short request did not join the running batch (at most {max_rows} rows together)"
    );
}

#[test]
fn the_scheduler_flag_parses() {
    assert_eq!("static".parse(), Ok(Scheduler::Static));
    assert_eq!("Continuous".parse(), Ok(Scheduler::Continuous));
    assert_eq!(Scheduler::default(), Scheduler::Continuous);
    let err = "fifo".parse::<Scheduler>().unwrap_err();
    assert!(err.contains("static or continuous"), "{err}");
}
