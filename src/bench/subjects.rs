//! The models the criterion benches (`benches/`) run on: the tiny fixture models by default, or
//! what `COPYDESK_BENCH_MODEL` / `COPYDESK_BENCH_SUMMARIZER` name (`synthetic:NAME` for a
//! synthetic full-size model, or any `--model` value).

use std::path::Path;

use super::export::{resolve_model_arg, TempExport};
use crate::service::{load, LoadOptions, LoadedModel};
use crate::Error;

/// Environment variable naming the translator the benches use.
pub const MODEL_ENV: &str = "COPYDESK_BENCH_MODEL";
/// Environment variable naming the summarizer the benches use.
pub const SUMMARIZER_ENV: &str = "COPYDESK_BENCH_SUMMARIZER";

/// The tiny fixture models in the source tree.
pub fn fixture_model(name: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/models")
        .join(name)
        .display()
        .to_string()
}

/// Model arguments for the benches: `(translator, summarizer)`, from the environment or the
/// fixtures, with synthetic models exported to temporary directories (kept by `guards`).
pub struct BenchSubjects {
    pub translator: String,
    pub summarizer: String,
    _guards: Vec<TempExport>,
}

impl BenchSubjects {
    pub fn from_env() -> Result<Self, Error> {
        let pick = |var: &str, fixture: &str| -> Result<(String, Option<TempExport>), Error> {
            match std::env::var(var) {
                Ok(v) if !v.trim().is_empty() => resolve_model_arg(&v),
                _ => Ok((fixture_model(fixture), None)),
            }
        };
        let (translator, g1) = pick(MODEL_ENV, "marian-tied")?;
        let (summarizer, g2) = pick(SUMMARIZER_ENV, "t5-tied-relu")?;
        Ok(Self {
            translator,
            summarizer,
            _guards: g1.into_iter().chain(g2).collect(),
        })
    }

    /// Loads the translator on the CPU in f32.
    pub fn load_translator(&self) -> Result<LoadedModel, Error> {
        load(&self.translator, &LoadOptions::default())
    }
}
