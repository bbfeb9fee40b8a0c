//! Real checkpoints, never run in CI: `cargo test --test it real_ -- --ignored` with
//! `COPYDESK_REAL_MARIAN` (a local opus-mt-nl-en directory, e.g. a Hugging Face cache snapshot)
//! and/or `COPYDESK_REAL_T5` (a local flan-t5 directory).

use crate::cli::copydesk;

/// The model directory these tests were asked to run on. They are `#[ignore]`d, so a plain
/// `cargo test` lists them as ignored (with the reason); run with `--ignored`, a missing
/// variable fails the test instead of letting it pass without testing anything.
fn dir_from_env(var: &str) -> String {
    let dir = std::env::var(var).unwrap_or_else(|_| {
        panic!("{var} is not set: point it at a local model directory to run this test")
    });
    assert!(
        std::path::Path::new(&dir).is_dir(),
        "{var}={dir} is not a directory"
    );
    dir
}

#[test]
#[ignore = "needs a real opus-mt-nl-en checkout in COPYDESK_REAL_MARIAN"]
fn real_marian_translates_dutch_news() {
    let dir = dir_from_env("COPYDESK_REAL_MARIAN");
    let out = copydesk(&["translate", "--model", &dir, "--json"], "Het kabinet heeft vandaag nieuwe maatregelen aangekondigd.\nDe zorgpremie stijgt volgend jaar.\n");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap().to_lowercase();
    assert!(
        text.contains("cabinet") || text.contains("government"),
        "{text}"
    );
    assert!(
        text.contains("premium") || text.contains("health"),
        "{text}"
    );
}

#[test]
#[ignore = "needs a real flan-t5 checkout in COPYDESK_REAL_T5"]
fn real_t5_summarizes() {
    let dir = dir_from_env("COPYDESK_REAL_T5");
    let text = "The Dutch government announced on Tuesday that farmers who stop or switch to other work will receive compensation. The plan costs several billion euros and must still be approved by parliament.";
    let out = copydesk(
        &["summarize", "--model", &dir, "--max-new-tokens", "40"],
        text,
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let summary = String::from_utf8(out.stdout).unwrap();
    assert!(summary.split_whitespace().count() >= 3, "{summary}");
}

#[test]
#[ignore = "needs a real opus-mt-nl-en checkout in COPYDESK_REAL_MARIAN"]
fn real_marian_q8_follows_f32() {
    use copydesk::bench::agreement::Agreement;
    use copydesk::engine::run_batch;
    use copydesk::service::{load, LoadOptions};

    let dir = dir_from_env("COPYDESK_REAL_MARIAN");
    let samples = crate::common::fixtures().join("samples");
    let mut sentences = Vec::new();
    for file in ["kabinet-stikstof.txt", "zorgpremie.txt"] {
        let text = std::fs::read_to_string(samples.join(file)).unwrap();
        let doc = copydesk::text::segment(&text);
        sentences.extend(doc.sentences().map(str::to_string));
    }
    let run = |quantize: bool| -> Vec<Vec<u32>> {
        let m = load(
            &dir,
            &LoadOptions {
                quantize,
                ..LoadOptions::default()
            },
        )
        .unwrap();
        let ids: Vec<Vec<u32>> = sentences
            .iter()
            .map(|s| m.tokenizer.encode(s).unwrap())
            .collect();
        let refs: Vec<&[u32]> = ids.iter().map(Vec::as_slice).collect();
        run_batch(m.model.as_ref(), &refs, &m.generation)
            .unwrap()
            .into_iter()
            .map(|h| h.tokens)
            .collect()
    };
    let a = Agreement::of(&run(false), &run(true));
    println!(
        "opus-mt-nl-en q8 vs f32 ({} sentences): {a}",
        sentences.len()
    );
    assert!(a.prefix_rate() >= 0.9, "{a}");
}
