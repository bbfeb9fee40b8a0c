//! Hub resolution against a fake cache and a fake hub on 127.0.0.1.

use std::net::TcpListener;
use std::path::Path;

use super::fake_hub::{fake_cache, proxied, repo, serve, SHA};
use super::local::tests::{MARIAN_CONFIG, T5_CONFIG};
use super::*;

const OPUS_SHA: &str = "3ff195ce084fc29184151ac7c473c65c16a51b7e";
const OPUS_REPO: &str = "Helsinki-NLP/opus-mt-nl-en";

fn opts(cache: &Path, offline: bool, endpoint: Option<&str>) -> HubOptions {
    HubOptions {
        cache_dir: Some(cache.to_path_buf()),
        offline,
        token: None,
        endpoint: endpoint.map(str::to_string),
        progress: false,
    }
}

fn opus_files() -> Vec<(&'static str, &'static str)> {
    vec![
        ("config.json", MARIAN_CONFIG),
        ("generation_config.json", r#"{"num_beams": 6}"#),
        ("pytorch_model.bin", "weights"),
        ("source.spm", "src"),
        ("target.spm", "tgt"),
        ("vocab.json", "{}"),
    ]
}

fn assert_mentions(e: &RegistryError, needles: &[&str]) {
    let msg = e.to_string();
    for n in needles {
        assert!(msg.contains(n), "`{msg}` should mention `{n}`");
    }
}

#[test]
fn offline_manifest_from_fake_cache_without_refs() {
    let cache = tempfile::tempdir().unwrap();
    let snap = fake_cache(cache.path(), OPUS_REPO, OPUS_SHA, &[], &opus_files());
    let spec = ModelSpec::parse("opus-mt-nl-en").unwrap();
    let f = resolve(&spec, &opts(cache.path(), true, None)).unwrap();
    assert_eq!(f.dir_name, OPUS_REPO);
    assert_eq!(f.revision.as_deref(), Some(OPUS_SHA));
    assert_eq!(f.root, snap);
    assert_eq!(
        f.weights,
        WeightFiles::PytorchBin(snap.join("pytorch_model.bin"))
    );
    assert_eq!(
        f.generation_config,
        Some(snap.join("generation_config.json"))
    );
    assert!(matches!(f.tokenizer, TokenizerFiles::Marian { .. }));
    assert!(f.downloaded.is_empty());
    let g = f.generation_defaults().unwrap();
    assert_eq!((g.num_beams, g.max_length), (Some(6), Some(512)));
}

#[test]
fn offline_hub_id_through_refs_main() {
    let cache = tempfile::tempdir().unwrap();
    let files = [
        ("config.json", T5_CONFIG),
        ("model.safetensors", "w"),
        ("tokenizer.json", "{}"),
        ("spiece.model", "s"),
    ];
    let snap = fake_cache(cache.path(), "org/t5", SHA, &["main"], &files);
    let f = resolve(
        &ModelSpec::parse("org/t5").unwrap(),
        &opts(cache.path(), true, None),
    )
    .unwrap();
    assert_eq!(f.revision.as_deref(), Some(SHA));
    assert_eq!(f.architecture, Architecture::T5);
    assert_eq!(
        f.weights,
        WeightFiles::Safetensors(vec![snap.join("model.safetensors")])
    );
    assert_eq!(
        f.tokenizer,
        TokenizerFiles::TokenizerJson(snap.join("tokenizer.json"))
    );
    // by sha too, and a manifest whose optional file is absent
    let f = resolve(
        &ModelSpec::parse(&format!("org/t5@{SHA}")).unwrap(),
        &opts(cache.path(), true, None),
    )
    .unwrap();
    assert!(f.generation_config.is_none());
}

#[test]
fn offline_misses_name_repo_file_and_remedy() {
    let cache = tempfile::tempdir().unwrap();
    let o = opts(cache.path(), true, None);
    let e = resolve(&ModelSpec::parse("opus-mt-nl-en").unwrap(), &o).unwrap_err();
    assert_eq!(e.kind(), "not_cached");
    assert_mentions(
        &e,
        &[
            OPUS_REPO,
            OPUS_SHA,
            "`config.json`",
            "copydesk models pull opus-mt-nl-en",
            "HF_HUB_OFFLINE",
            "--model <DIR>",
        ],
    );
    assert_mentions(&e, &[&cache.path().display().to_string()]);

    let mut partial = opus_files();
    partial.retain(|(n, _)| *n != "pytorch_model.bin");
    fake_cache(cache.path(), OPUS_REPO, OPUS_SHA, &[], &partial);
    let e = resolve(&ModelSpec::parse("opus-mt-nl-en").unwrap(), &o).unwrap_err();
    assert_eq!(e.kind(), "not_cached");
    assert_mentions(&e, &["`pytorch_model.bin`", OPUS_REPO]);

    fake_cache(
        cache.path(),
        "org/t5",
        SHA,
        &["main"],
        &[("config.json", T5_CONFIG), ("tokenizer.json", "{}")],
    );
    let e = resolve(&ModelSpec::parse("org/t5@main").unwrap(), &o).unwrap_err();
    assert_eq!(e.kind(), "not_cached");
    assert_mentions(
        &e,
        &[
            "org/t5@main",
            "model.safetensors",
            "pytorch_model.bin",
            "copydesk models pull org/t5",
        ],
    );

    let e = pull(&ModelSpec::parse("org/t5").unwrap(), &o).unwrap_err();
    assert_eq!(e.kind(), "offline");
    assert_mentions(&e, &["HF_HUB_OFFLINE", "org/t5"]);
}

#[test]
fn downloads_into_cache_then_resolves_offline() {
    let Some(hub) = serve(vec![repo(
        "org/t5",
        &[
            ("README.md", "# t5"),
            ("config.json", T5_CONFIG),
            ("generation_config.json", r#"{"max_new_tokens": 64}"#),
            ("model.safetensors", "safetensors-bytes"),
            ("tokenizer.json", "{}"),
            ("spiece.model", "sp"),
        ],
    )]) else {
        return;
    };
    let cache = tempfile::tempdir().unwrap();
    let spec = ModelSpec::parse("org/t5").unwrap();
    let mut o = opts(cache.path(), false, Some(&hub.endpoint));
    o.token = Some("hf_test".into());
    let f = resolve(&spec, &o).unwrap();
    let snap = hub::repo_folder(cache.path(), "org/t5")
        .join("snapshots")
        .join(SHA);
    assert_eq!(f.revision.as_deref(), Some(SHA));
    assert_eq!(
        f.weights,
        WeightFiles::Safetensors(vec![snap.join("model.safetensors")])
    );
    assert_eq!(
        std::fs::read_to_string(snap.join("model.safetensors")).unwrap(),
        "safetensors-bytes"
    );
    assert_eq!(
        f.tokenizer,
        TokenizerFiles::TokenizerJson(snap.join("tokenizer.json"))
    );
    let mut got = f.downloaded.clone();
    got.sort();
    assert_eq!(
        got,
        [
            "config.json",
            "generation_config.json",
            "model.safetensors",
            "tokenizer.json"
        ]
    );
    assert_eq!(f.generation_defaults().unwrap().max_new_tokens, Some(64));
    let refs_main = hub::repo_folder(cache.path(), "org/t5")
        .join("refs")
        .join("main");
    assert_eq!(std::fs::read_to_string(refs_main).unwrap().trim(), SHA);
    assert!(
        hub.requests()
            .iter()
            .all(|r| r.ends_with("auth=Bearer hf_test")),
        "{:?}",
        hub.requests()
    );

    let before = hub.requests().len();
    let again = resolve(&spec, &opts(cache.path(), false, Some(&hub.endpoint))).unwrap();
    assert!(again.downloaded.is_empty());
    assert_eq!(hub.requests().len(), before, "fully cached: no network");
    let offline = resolve(&spec, &opts(cache.path(), true, None)).unwrap();
    assert_eq!(offline.weights, f.weights);

    let pulled = pull(&spec, &opts(cache.path(), false, Some(&hub.endpoint))).unwrap();
    assert!(pulled.downloaded.is_empty(), "{:?}", pulled.downloaded);
    assert!(hub.requests()[before..]
        .iter()
        .any(|r| r.starts_with("/api/models/org/t5/revision/main")));
}

#[test]
fn manifest_file_list_skips_listing_and_tolerates_optional_absence() {
    let files = [
        ("config.json", MARIAN_CONFIG),
        ("pytorch_model.bin", "w"),
        ("source.spm", "s"),
        ("target.spm", "t"),
        ("vocab.json", "{}"),
        ("tf_model.h5", "tf"),
    ];
    let Some(hub) = serve(vec![repo("org/marian", &files)]) else {
        return;
    };
    let text = format!(
        "name = \"m\"\ntask = \"translate\"\narchitecture = \"marian\"\nrepo = \"org/marian\"\nrevision = \"{SHA}\"\n\
         files = [\"config.json\", \"pytorch_model.bin\", \"source.spm\", \"target.spm\", \"vocab.json\"]\n\
         optional_files = [\"generation_config.json\"]\n"
    );
    let m = parse_manifest("m", &text).unwrap();
    let cache = tempfile::tempdir().unwrap();
    let f = resolve(
        &ModelSpec::Manifest(m.clone()),
        &opts(cache.path(), false, Some(&hub.endpoint)),
    )
    .unwrap();
    assert!(f.generation_config.is_none());
    assert_eq!(f.downloaded.len(), 5, "{:?}", f.downloaded);
    assert!(
        hub.requests().iter().all(|r| !r.starts_with("/api/")),
        "{:?}",
        hub.requests()
    );
    assert!(matches!(f.weights, WeightFiles::PytorchBin(_)));

    let mut needs_more = m;
    needs_more.files = Some(vec![
        "config.json".into(),
        "model.safetensors".into(),
        "tokenizer.json".into(),
    ]);
    let e = resolve(
        &ModelSpec::Manifest(needs_more),
        &opts(cache.path(), false, Some(&hub.endpoint)),
    )
    .unwrap_err();
    assert_eq!(e.kind(), "file_missing");
    assert_mentions(&e, &["org/marian", SHA, "`model.safetensors`", "revision"]);
}

#[test]
fn sharded_weights_and_missing_weights_on_the_hub() {
    let index = r#"{"weight_map": {"a": "model-00001-of-00002.safetensors", "b": "model-00002-of-00002.safetensors"}}"#;
    let Some(hub) = serve(vec![
        repo(
            "org/big",
            &[
                ("config.json", T5_CONFIG),
                ("model.safetensors.index.json", index),
                ("model-00001-of-00002.safetensors", "1"),
                ("model-00002-of-00002.safetensors", "2"),
                ("spiece.model", "s"),
            ],
        ),
        repo(
            "org/empty",
            &[("config.json", T5_CONFIG), ("tokenizer.json", "{}")],
        ),
    ]) else {
        return;
    };
    let cache = tempfile::tempdir().unwrap();
    let o = opts(cache.path(), false, Some(&hub.endpoint));
    let f = resolve(&ModelSpec::parse("org/big").unwrap(), &o).unwrap();
    match &f.weights {
        WeightFiles::Safetensors(shards) => assert_eq!(shards.len(), 2),
        other => panic!("{other:?}"),
    }
    assert!(matches!(f.tokenizer, TokenizerFiles::Spiece(_)));
    let mut plain = repo(
        "org/plain",
        &[
            ("config.json", T5_CONFIG),
            ("pytorch_model.bin", "w"),
            ("tokenizer.json", "{}"),
        ],
    );
    plain.no_api = true;
    let Some(mirror) = serve(vec![plain]) else {
        return;
    };
    let f = resolve(
        &ModelSpec::parse("org/plain").unwrap(),
        &opts(cache.path(), false, Some(&mirror.endpoint)),
    )
    .unwrap();
    assert!(
        matches!(f.weights, WeightFiles::PytorchBin(_)),
        "probed without a listing"
    );
    assert_eq!(
        f.downloaded,
        ["config.json", "pytorch_model.bin", "tokenizer.json"]
    );
    let e = resolve(&ModelSpec::parse("org/empty").unwrap(), &o).unwrap_err();
    assert_eq!(e.kind(), "file_missing");
    assert_mentions(&e, &["org/empty@main", "pytorch_model.bin"]);
}

#[test]
fn hub_errors_map_to_kinds() {
    let mut gated = repo("org/gated", &[]);
    gated.fail = Some((403, "GatedRepo"));
    let mut broken = repo("org/broken", &[]);
    broken.fail = Some((503, ""));
    let Some(hub) = serve(vec![
        gated,
        broken,
        repo("org/t5", &[("config.json", T5_CONFIG)]),
    ]) else {
        return;
    };
    let cache = tempfile::tempdir().unwrap();
    let o = opts(cache.path(), false, Some(&hub.endpoint));
    let kind = |s: &str| resolve(&ModelSpec::parse(s).unwrap(), &o).unwrap_err();

    let e = kind("org/nope");
    assert_eq!(e.kind(), "model_not_found");
    assert_mentions(&e, &["org/nope@main", "HF_TOKEN"]);
    let e = kind("org/t5@v9");
    assert_eq!(e.kind(), "model_not_found");
    assert_mentions(&e, &["org/t5@v9", "RevisionNotFound"]);
    let e = kind("org/gated");
    assert_eq!(e.kind(), "access_denied");
    assert_mentions(&e, &["gated", "HF_TOKEN"]);
    let e = kind("org/broken");
    assert_eq!(e.kind(), "hub_unreachable");
    assert_mentions(&e, &["503", "copydesk models pull org/broken"]);
}

#[test]
fn unreachable_hub_names_repo_file_and_remedy() {
    if proxied() {
        return;
    }
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let endpoint = format!("http://127.0.0.1:{port}");
    let cache = tempfile::tempdir().unwrap();
    let o = opts(cache.path(), false, Some(&endpoint));
    let e = resolve(&ModelSpec::parse("opus-mt-nl-en").unwrap(), &o).unwrap_err();
    assert_eq!(e.kind(), "hub_unreachable");
    assert_mentions(
        &e,
        &[
            OPUS_REPO,
            OPUS_SHA,
            "`config.json`",
            &endpoint,
            "copydesk models pull opus-mt-nl-en",
            "HF_HUB_OFFLINE",
        ],
    );
    let e = pull(&ModelSpec::parse("org/t5").unwrap(), &o).unwrap_err();
    assert_eq!(e.kind(), "hub_unreachable");
    assert_mentions(&e, &["org/t5@main", "copydesk models pull org/t5"]);
}
