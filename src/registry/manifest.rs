//! Model manifests: the named models shipped in `models/*.toml`, embedded in the binary.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::error::RegistryError;
use crate::generate::GenerationOverrides;
pub use crate::models::Architecture;

/// Name of the default translation model.
pub const DEFAULT_TRANSLATOR: &str = "opus-mt-nl-en";
/// Name of the default summarization model.
pub const DEFAULT_SUMMARIZER: &str = "flan-t5-base";

macro_rules! embed {
    ($($name:literal),* $(,)?) => {
        &[$(($name, include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/models/", $name, ".toml")))),*]
    };
}

/// `(name, TOML text)` of every manifest in `models/`. A unit test checks that
/// this list and the directory agree.
const EMBEDDED: &[(&str, &str)] = embed![
    "opus-mt-nl-en",
    "flan-t5-small",
    "flan-t5-base",
    "flan-t5-large",
    "t5-small",
    "t5-dutch-cnn",
    "distilbart-cnn-12-6",
    "bart-large-cnn",
    "bart-large-xsum",
    "pegasus-xsum",
    "pegasus-cnn_dailymail",
    "opus-mt-de-en",
    "opus-mt-fr-en",
    "opus-mt-mul-en",
    "mbart-large-50-many-to-one-mmt",
    "m2m100-418m",
    "nllb-200-distilled-600m",
    "opus-mt-tc-big-gmw-gmw",
];

/// What a model is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Task {
    Translate,
    Summarize,
}

/// Where a manifest's files come from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum ManifestSource {
    Hub { repo: String, revision: String },
    Local { path: PathBuf },
}

/// A named model: where to get it, what it does, and how to decode with it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Manifest {
    pub name: String,
    pub description: String,
    /// The license of the weights, as the hub repository's card states it (SPDX id).
    pub license: Option<String>,
    pub task: Task,
    pub architecture: Architecture,
    pub source: ManifestSource,
    /// Language of the text the model reads (`nl` for Dutch-input models).
    pub source_lang: Option<String>,
    /// Every source language a translator reads, when more than one (`mul`: any); else
    /// `source_lang` alone.
    pub source_langs: Vec<String>,
    /// Language the model writes.
    pub target_lang: Option<String>,
    /// A token every input starts with, for multi-target OPUS-MT models that are told the
    /// target language in the text (`>>eng<<`).
    pub target_token: Option<String>,
    /// Name of the prompt template to wrap the input with; `None` feeds the text as is.
    pub prompt: Option<String>,
    /// Summary styles (prompt names) the model was trained to write, for models that read the
    /// article as is rather than follow an instruction: a request for one of them gets the
    /// model's own prompt, any other style is refused with the models that write it. Empty
    /// for instruction-following models, which take any prompt template.
    pub styles: Vec<String>,
    /// Decoding defaults over the model's generation_config.json and config.json.
    pub generation: GenerationOverrides,
    /// Exactly the files to fetch; `None` detects them from the repository listing.
    pub files: Option<Vec<String>>,
    /// Files fetched when present and skipped when the repository lacks them.
    pub optional_files: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawManifest {
    name: String,
    #[serde(default)]
    description: String,
    license: Option<String>,
    task: Task,
    architecture: Architecture,
    repo: Option<String>,
    revision: Option<String>,
    path: Option<PathBuf>,
    source_lang: Option<String>,
    #[serde(default)]
    source_langs: Vec<String>,
    target_lang: Option<String>,
    target_token: Option<String>,
    prompt: Option<String>,
    #[serde(default)]
    styles: Vec<String>,
    generation: Option<toml::Table>,
    files: Option<Vec<String>>,
    #[serde(default)]
    optional_files: Vec<String>,
}

impl Manifest {
    /// Whether the weights' license forbids commercial use (Creative Commons `-nc` licenses,
    /// such as NLLB-200's CC-BY-NC-4.0).
    pub fn non_commercial(&self) -> bool {
        self.license.as_deref().is_some_and(|l| {
            let l = l.to_ascii_lowercase();
            l.starts_with("cc-") && l.split('-').any(|part| part == "nc")
        })
    }

    /// The source languages the model reads: `source_langs`, else `source_lang`.
    pub fn serves(&self) -> Vec<String> {
        if self.source_langs.is_empty() {
            self.source_lang.iter().cloned().collect()
        } else {
            self.source_langs.clone()
        }
    }
}

/// Parses and checks one manifest. `label` names it in errors (file stem).
pub fn parse_manifest(label: &str, text: &str) -> Result<Manifest, RegistryError> {
    let bad = |reason: String| RegistryError::BadManifest {
        name: label.to_string(),
        reason,
    };
    let raw: RawManifest = toml::from_str(text).map_err(|e| bad(e.to_string()))?;
    if raw.name.trim().is_empty() || raw.name.contains(['/', '@', ' ']) {
        return Err(bad(format!(
            "`name` must be a plain word, got {:?}",
            raw.name
        )));
    }
    let source = match (raw.repo, raw.path) {
        (Some(repo), None) => {
            if super::split_hub_id(&repo).is_none() || repo.contains('@') {
                return Err(bad(format!("`repo` must be `org/name`, got {repo:?}")));
            }
            let revision = raw.revision.unwrap_or_else(|| "main".to_string());
            if revision.trim().is_empty() || revision.contains(char::is_whitespace) {
                return Err(bad(format!("bad `revision` {revision:?}")));
            }
            ManifestSource::Hub { repo, revision }
        }
        (None, Some(path)) if raw.revision.is_none() => ManifestSource::Local { path },
        (None, Some(_)) => return Err(bad("`revision` only applies to `repo`".into())),
        _ => return Err(bad("exactly one of `repo` and `path` must be set".into())),
    };
    for f in raw.files.iter().flatten().chain(&raw.optional_files) {
        if f.is_empty() || f.starts_with('/') || f.contains('\\') || f.split('/').any(|c| c == "..")
        {
            return Err(bad(format!("bad file name {f:?}")));
        }
    }
    if let Some(t) = &raw.target_token {
        if !(t.starts_with(">>") && t.ends_with("<<") && t.len() > 4) {
            return Err(bad(format!(
                "`target_token` must look like >>eng<<, got {t:?}"
            )));
        }
    }
    if let Some(files) = &raw.files {
        if !files.iter().any(|f| f == "config.json") {
            return Err(bad("`files` must include config.json".into()));
        }
    }
    let generation = generation_table(raw.generation.unwrap_or_default()).map_err(bad)?;
    if generation.num_beams == Some(0) {
        return Err(bad("generation.num_beams must be at least 1".into()));
    }
    Ok(Manifest {
        name: raw.name,
        description: raw.description,
        license: raw.license,
        task: raw.task,
        architecture: raw.architecture,
        source,
        source_lang: raw.source_lang,
        source_langs: raw.source_langs,
        target_lang: raw.target_lang,
        target_token: raw.target_token,
        prompt: raw.prompt,
        styles: raw.styles,
        generation,
        files: raw.files,
        optional_files: raw.optional_files,
    })
}

/// A manifest's `[generation]` table, read by the same reader as generation_config.json; keys
/// that reader does not know are an error here (a typo would otherwise be ignored).
fn generation_table(table: toml::Table) -> Result<GenerationOverrides, String> {
    if let Some(k) = table
        .keys()
        .find(|k| !GenerationOverrides::KEYS.contains(&k.as_str()))
    {
        return Err(format!(
            "unknown field `{k}` in [generation]; known: {}",
            GenerationOverrides::KEYS.join(", ")
        ));
    }
    toml::Value::Table(table)
        .try_into()
        .map_err(|e| format!("[generation]: {e}"))
}

/// All embedded manifests, parsed, sorted by name.
pub fn manifests() -> Result<Vec<Manifest>, RegistryError> {
    let mut all = EMBEDDED
        .iter()
        .map(|(stem, text)| {
            let m = parse_manifest(stem, text)?;
            if m.name != *stem {
                return Err(RegistryError::BadManifest {
                    name: stem.to_string(),
                    reason: format!("`name` is {:?} but the file is {stem}.toml", m.name),
                });
            }
            Ok(m)
        })
        .collect::<Result<Vec<_>, _>>()?;
    all.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(all)
}

/// The embedded manifest called `name`, if any.
pub fn manifest(name: &str) -> Result<Option<Manifest>, RegistryError> {
    match EMBEDDED.iter().find(|(stem, _)| *stem == name) {
        Some((stem, text)) => parse_manifest(stem, text).map(Some),
        None => Ok(None),
    }
}

/// Names of the embedded manifests, sorted.
pub fn manifest_names() -> Vec<String> {
    let mut names: Vec<String> = EMBEDDED.iter().map(|(n, _)| n.to_string()).collect();
    names.sort();
    names
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_embedded_manifest_parses() {
        let all = manifests().expect("embedded manifests parse");
        assert_eq!(all.len(), EMBEDDED.len());
        for m in &all {
            assert!(!m.description.is_empty(), "{} lacks a description", m.name);
            if let ManifestSource::Hub { repo, revision } = &m.source {
                assert!(repo.contains('/') && !revision.is_empty(), "{}", m.name);
            }
            if let Some(files) = &m.files {
                assert!(files.iter().any(|f| f == "config.json"));
            }
        }
    }

    #[test]
    fn models_dir_and_embedded_list_agree() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/models");
        let mut on_disk: Vec<String> = std::fs::read_dir(dir)
            .expect("models/ is readable")
            .filter_map(|e| e.ok())
            .filter_map(|e| e.file_name().to_str().map(str::to_string))
            .filter_map(|n| n.strip_suffix(".toml").map(str::to_string))
            .collect();
        on_disk.sort();
        assert_eq!(
            on_disk,
            manifest_names(),
            "add new models/*.toml to EMBEDDED"
        );
    }

    #[test]
    fn nllb_is_marked_non_commercial_and_the_others_are_not() {
        let all = manifests().unwrap();
        let nc: Vec<&str> = all
            .iter()
            .filter(|m| m.non_commercial())
            .map(|m| m.name.as_str())
            .collect();
        assert_eq!(nc, ["nllb-200-distilled-600m"]);
        let gmw = manifest("opus-mt-tc-big-gmw-gmw").unwrap().unwrap();
        assert_eq!(gmw.target_token.as_deref(), Some(">>eng<<"));
        let m2m = manifest("m2m100-418m").unwrap().unwrap();
        assert_eq!(m2m.architecture, Architecture::M2M100);
        assert_eq!(m2m.target_lang.as_deref(), Some("en"));
    }

    #[test]
    fn default_translator_is_pinned_opus_mt() {
        let m = manifest(DEFAULT_TRANSLATOR).unwrap().expect("exists");
        assert_eq!(m.task, Task::Translate);
        assert_eq!(m.architecture, Architecture::Marian);
        assert_eq!(m.source_lang.as_deref(), Some("nl"));
        assert_eq!(m.target_lang.as_deref(), Some("en"));
        match &m.source {
            ManifestSource::Hub { repo, revision } => {
                assert_eq!(repo, "Helsinki-NLP/opus-mt-nl-en");
                assert_eq!(revision.len(), 40, "pinned to a commit sha");
                assert!(revision.chars().all(|c| c.is_ascii_hexdigit()));
            }
            other => panic!("unexpected source {other:?}"),
        }
        let files = m.files.as_ref().expect("explicit file list");
        for f in [
            "config.json",
            "pytorch_model.bin",
            "source.spm",
            "target.spm",
            "vocab.json",
        ] {
            assert!(files.iter().any(|x| x == f), "missing {f}");
        }
        assert!(m
            .optional_files
            .iter()
            .any(|f| f == "generation_config.json"));
        let g = &m.generation;
        assert_eq!(g.max_length, Some(512));
        assert_eq!(g.bad_words_ids, Some(vec![vec![67027]]));
        assert_eq!(g.eos_token_id, Some(vec![0]));
        assert_eq!(g.forced_eos_token_id, Some(Some(0)));
    }

    #[test]
    fn summarizers() {
        let s = manifest(DEFAULT_SUMMARIZER).unwrap().expect("exists");
        assert_eq!(
            (s.task, s.architecture),
            (Task::Summarize, Architecture::T5)
        );
        assert_eq!(s.prompt.as_deref(), Some("summarize"));
        for name in ["flan-t5-small", "flan-t5-large", "t5-small", "t5-dutch-cnn"] {
            let m = manifest(name).unwrap().expect(name);
            assert_eq!(
                (m.task, m.architecture),
                (Task::Summarize, Architecture::T5)
            );
        }
        let nl = manifest("t5-dutch-cnn").unwrap().expect("exists");
        assert_eq!(nl.source_lang.as_deref(), Some("nl"));
        assert!(manifest("no-such-model").unwrap().is_none());
    }

    #[test]
    fn bad_manifests_are_rejected() {
        let base = "name = \"x\"\ntask = \"translate\"\narchitecture = \"marian\"\n";
        let cases = [
            (base.to_string(), "exactly one of"),
            (
                format!("{base}repo = \"a/b\"\npath = \"/m\"\n"),
                "exactly one of",
            ),
            (format!("{base}repo = \"nope\"\n"), "org/name"),
            (
                format!("{base}repo = \"a/b\"\nfiles = [\"model.bin\"]\n"),
                "config.json",
            ),
            (
                format!("{base}repo = \"a/b\"\nfiles = [\"config.json\", \"../x\"]\n"),
                "bad file",
            ),
            (
                format!("{base}repo = \"a/b\"\ncolour = 1\n"),
                "unknown field",
            ),
            (
                format!("{base}repo = \"a/b\"\ntarget_token = \"eng\"\n"),
                ">>eng<<",
            ),
            (
                format!("{base}repo = \"a/b\"\n[generation]\nnum_beams = 0\n"),
                "num_beams",
            ),
            (
                format!("{base}repo = \"a/b\"\n[generation]\nbeams = 4\n"),
                "unknown field",
            ),
            (
                "name = \"x\"\ntask = \"dance\"\narchitecture = \"t5\"\nrepo = \"a/b\"\n".into(),
                "dance",
            ),
        ];
        for (text, needle) in cases {
            let e = parse_manifest("x", &text).expect_err(&text);
            assert_eq!(e.kind(), "bad_manifest");
            assert!(
                e.to_string().contains(needle),
                "{e} should mention {needle}"
            );
        }
        let ok = parse_manifest("x", &format!("{base}repo = \"a/b\"\n")).unwrap();
        assert_eq!(
            ok.source,
            ManifestSource::Hub {
                repo: "a/b".into(),
                revision: "main".into()
            }
        );
    }

    #[test]
    fn generation_table_in_a_manifest() {
        let base =
            "name = \"x\"\ntask = \"translate\"\narchitecture = \"marian\"\nrepo = \"a/b\"\n";
        let m = parse_manifest(
            "x",
            &format!("{base}[generation]\nearly_stopping = \"never\"\neos_token_id = [1, 2]\n"),
        )
        .unwrap();
        assert_eq!(
            m.generation.early_stopping,
            Some(crate::generate::EarlyStopping::Never)
        );
        assert_eq!(m.generation.eos_token_id, Some(vec![1, 2]));
        let e = parse_manifest("x", &format!("{base}[generation]\nmax_length = \"long\"\n"))
            .unwrap_err();
        assert!(e.to_string().contains("max_length"), "{e}");
    }
}
