//! `copydesk bench` on the fixture model (tiny runs), report round trip and comparison, and
//! `--export` of small synthetic models loading back through the registry with the same weights.

use std::path::Path;
use std::process::{Command, Output};

use candle_core::{DType, Device, Tensor};
use copydesk::bench::export::{export, WorkloadsFile, WORKLOADS_FILE};
use copydesk::bench::report::Report;
use copydesk::bench::synthetic::SyntheticSpec;
use copydesk::service::{load, LoadOptions};

use crate::common::model_dir;

fn bench(args: &[&str]) -> Output {
    crate::cli::copydesk(&[&["bench"], args].concat(), "")
}

fn ok(out: &Output) -> String {
    assert!(
        out.status.success(),
        "exit {:?}: {}",
        out.status.code(),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout.clone()).unwrap()
}

fn read_report(path: &Path) -> Report {
    Report::from_json(&std::fs::read_to_string(path).unwrap()).unwrap()
}

#[test]
fn bench_runs_the_wire_workload_and_writes_comparable_reports() {
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("r/report.json");
    let md = dir.path().join("report.md");
    let model = model_dir("marian-tied");
    let out = bench(&[
        "--model",
        model.to_str().unwrap(),
        "--workload",
        "wire",
        "--batch-sizes",
        "1,32,64,100",
        "--runs",
        "1",
        "--warmup",
        "0",
        "--threads",
        "1",
        "--out",
        json.to_str().unwrap(),
        "--markdown",
        md.to_str().unwrap(),
    ]);
    let stdout = ok(&out);
    let report = read_report(&json);
    assert_eq!(report.software.engine, "copydesk");
    assert_eq!(report.settings.threads, 1);
    assert_eq!(report.machine.cores_used, 1);
    // 100 is capped at the 64 inputs and then equal to 64: three cases.
    let batches: Vec<usize> = report.results.iter().map(|r| r.batch_size).collect();
    assert_eq!(batches, vec![1, 32, 64]);
    let wire = &report.settings.workloads[0];
    assert_eq!(
        (wire.name.as_str(), wire.inputs, wire.new_tokens),
        ("wire", 64, Some(40))
    );
    for r in &report.results {
        assert_eq!(r.generated_tokens, 64 * 40, "{r:?}");
        assert_eq!(r.source_tokens, wire.source_tokens);
        assert!(r.total_s.min <= r.total_s.median && r.total_s.median <= r.total_s.max);
        let (enc, dec) = (r.encode_s.unwrap(), r.decode_s.unwrap());
        assert!((enc + dec - r.total_s.median).abs() < 1e-6 * r.total_s.median.max(1.0));
        let tps = r.generated_tokens as f64 / r.total_s.median;
        assert!((r.generated_tokens_per_s - tps).abs() < 1e-6 * tps);
        assert_eq!(r.first_token_s.is_some(), r.batch_size == 1);
        assert!(r.peak_rss_bytes.unwrap_or(1) > 0);
    }
    assert!(stdout.contains("| wire | 32 | 1 |"), "{stdout}");
    assert!(std::fs::read_to_string(&md)
        .unwrap()
        .contains("| wire | 64 | 1 |"));

    // The same report against itself: ratio 1 everywhere, no warnings.
    let cmp = ok(&bench(&[
        "--compare",
        json.to_str().unwrap(),
        json.to_str().unwrap(),
    ]));
    assert_eq!(cmp.matches("1.00×").count(), 3, "{cmp}");
    assert!(!cmp.contains("Notes"), "{cmp}");
}

#[test]
fn bench_rejects_bad_requests_with_exit_code_2() {
    let model = model_dir("marian-tied");
    let m = model.to_str().unwrap();
    let cases: [(&[&str], &str); 5] = [
        (&["--workload", "wire"], "--synthetic"),
        (&["--synthetic", "opus-mt-xx"], "opus-mt-nl-en"),
        (&["--model", m, "--workload", "summ"], "at most 128"),
        (&["--model", m, "--batch-sizes", "0"], "--batch-sizes"),
        (&["--model", m, "--export", "/tmp/x"], "--synthetic"),
    ];
    for (args, needle) in cases {
        let out = bench(args);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.contains(needle), "{args:?}: {err}");
    }
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.json");
    std::fs::write(&bad, "{}").unwrap();
    let out = bench(&["--compare", bad.to_str().unwrap(), bad.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("not a copydesk bench report"));
}

static TINY_MARIAN: SyntheticSpec = SyntheticSpec {
    name: "tiny-marian",
    hub_repo: "test/tiny-marian",
    config_json: r#"{"model_type": "marian", "architectures": ["MarianMTModel"],
        "vocab_size": 300, "decoder_vocab_size": 300, "d_model": 16, "encoder_layers": 1,
        "decoder_layers": 1, "encoder_attention_heads": 2, "decoder_attention_heads": 2,
        "encoder_ffn_dim": 32, "decoder_ffn_dim": 32, "activation_function": "swish",
        "max_position_embeddings": 64, "scale_embedding": true, "pad_token_id": 299,
        "eos_token_id": 0, "decoder_start_token_id": 299,
        "share_encoder_decoder_embeddings": true, "tie_word_embeddings": true}"#,
    generation_config_json: Some(
        r#"{"bad_words_ids": [[299]], "decoder_start_token_id": 299,
        "eos_token_id": 0, "forced_eos_token_id": 0, "max_length": 64, "num_beams": 2,
        "pad_token_id": 299}"#,
    ),
    tokenizer_vocab: 300,
};

static TINY_T5: SyntheticSpec = SyntheticSpec {
    name: "tiny-t5",
    hub_repo: "test/tiny-t5",
    config_json: r#"{"model_type": "t5", "architectures": ["T5ForConditionalGeneration"],
        "vocab_size": 168, "d_model": 16, "d_kv": 8, "d_ff": 32, "num_layers": 1,
        "num_heads": 2, "feed_forward_proj": "gated-gelu", "tie_word_embeddings": false,
        "pad_token_id": 0, "eos_token_id": 1, "decoder_start_token_id": 0}"#,
    generation_config_json: Some(
        r#"{"decoder_start_token_id": 0, "eos_token_id": 1,
        "pad_token_id": 0}"#,
    ),
    tokenizer_vocab: 160,
};

/// BART: learned positions and `layernorm_embedding`; no generation_config.json (the
/// defaults are in config.json, as in distilbart-cnn-12-6).
static TINY_BART: SyntheticSpec = SyntheticSpec {
    name: "tiny-bart",
    hub_repo: "test/tiny-bart",
    config_json: r#"{"model_type": "bart", "vocab_size": 300, "d_model": 16,
        "encoder_layers": 1, "decoder_layers": 1, "encoder_attention_heads": 2,
        "decoder_attention_heads": 2, "encoder_ffn_dim": 32, "decoder_ffn_dim": 32,
        "max_position_embeddings": 64, "forced_bos_token_id": 0, "num_beams": 2,
        "min_length": 3, "max_length": 20}"#,
    generation_config_json: None,
    tokenizer_vocab: 300,
};

/// Pegasus: pre-norm with final norms, sinusoid positions, 105 fixed special ids.
static TINY_PEGASUS: SyntheticSpec = SyntheticSpec {
    name: "tiny-pegasus",
    hub_repo: "test/tiny-pegasus",
    config_json: r#"{"model_type": "pegasus", "vocab_size": 400, "d_model": 16,
        "encoder_layers": 1, "decoder_layers": 1, "encoder_attention_heads": 2,
        "decoder_attention_heads": 2, "encoder_ffn_dim": 32, "decoder_ffn_dim": 32,
        "activation_function": "relu", "max_position_embeddings": 64,
        "scale_embedding": true}"#,
    generation_config_json: Some(r#"{"num_beams": 2, "max_length": 20}"#),
    tokenizer_vocab: 400,
};

/// Encoder output of the first wire-like input, from a model loaded any way.
fn encode_once(model: &dyn copydesk::models::Seq2Seq, ids: &[u32]) -> Vec<f32> {
    let t = Tensor::new(ids, &Device::Cpu)
        .unwrap()
        .unsqueeze(0)
        .unwrap();
    let mask = t.ones_like().unwrap();
    model
        .encode(&t, &mask)
        .unwrap()
        .flatten_all()
        .unwrap()
        .to_vec1()
        .unwrap()
}

#[test]
fn exported_synthetic_models_load_back_with_identical_weights() {
    for spec in [&TINY_MARIAN, &TINY_T5, &TINY_BART, &TINY_PEGASUS] {
        let dir = tempfile::tempdir().unwrap();
        let done = export(spec, dir.path()).unwrap();
        assert!(done.files.contains(&"model.safetensors".to_string()));
        let loaded = load(dir.path().to_str().unwrap(), &LoadOptions::default()).unwrap();
        assert_eq!(loaded.architecture(), spec.architecture().unwrap());
        assert_eq!(
            loaded.tokenizer.source_vocab_size(),
            spec.tokenizer_vocab as usize,
            "{}",
            spec.name
        );
        // The tokenizer handles real text, with eos appended.
        let ids = loaded
            .tokenizer
            .encode("Het kabinet valt; de Tweede Kamer debatteert.")
            .unwrap();
        assert!(ids.len() > 3 && *ids.last().unwrap() == loaded.tokenizer.eos_id());
        // Same weights as the in-process synthetic model.
        let inproc = spec.build(DType::F32, &Device::Cpu, None).unwrap();
        let probe: Vec<u32> = ids[..ids.len() - 1].to_vec();
        assert_eq!(
            encode_once(loaded.model.as_ref(), &probe),
            encode_once(inproc.model.as_ref(), &probe),
            "{}",
            spec.name
        );
        // The workloads file matches the vocabulary and never uses pad or eos.
        let wf: WorkloadsFile = serde_json::from_str(
            &std::fs::read_to_string(dir.path().join(WORKLOADS_FILE)).unwrap(),
        )
        .unwrap();
        assert_eq!(wf.vocab, spec.tokenizer_vocab);
        for w in &wf.workloads {
            for id in w.inputs.iter().flatten() {
                assert!(*id < wf.vocab && *id != wf.pad_token_id && *id != wf.eos_token_id);
            }
        }
    }
}

#[test]
fn exported_marian_translates_through_the_cli() {
    let dir = tempfile::tempdir().unwrap();
    export(&TINY_MARIAN, dir.path()).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_copydesk"))
        .args(["translate", "--model", dir.path().to_str().unwrap()])
        .args(["--max-new-tokens", "5", "--json", "Goedemorgen, Nederland."])
        .env("HF_HUB_OFFLINE", "1")
        .output()
        .unwrap();
    let line = ok(&out);
    let v: serde_json::Value = serde_json::from_str(line.trim()).unwrap();
    let ids = v["token_ids"].as_array().unwrap();
    assert!(!ids.is_empty() && ids.len() <= 5, "{line}");
}
