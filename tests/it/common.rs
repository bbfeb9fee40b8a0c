//! Shared helpers: fixture paths and golden files written by `tests/fixtures/generate.py`.

use std::path::{Path, PathBuf};

use serde::Deserialize;

pub fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

pub fn model_dir(name: &str) -> PathBuf {
    fixtures().join("models").join(name)
}

#[derive(Debug, Deserialize)]
pub struct Golden {
    pub forward: Vec<ForwardCase>,
    pub generate: Vec<GenerateCase>,
}

#[derive(Debug, Deserialize)]
pub struct ForwardCase {
    pub input_ids: Vec<Vec<u32>>,
    pub attention_mask: Vec<Vec<u32>>,
    pub encoder_last_hidden_state: Vec<Vec<Vec<f32>>>,
    pub decoder_input_ids: Vec<Vec<u32>>,
    pub logits: Vec<Vec<Vec<f32>>>,
}

#[derive(Debug, Deserialize)]
pub struct GenerateCase {
    pub name: String,
    pub texts: Vec<String>,
    pub input_ids: Vec<Vec<u32>>,
    pub attention_mask: Vec<Vec<u32>>,
    pub kwargs: serde_json::Value,
    pub sequences: Vec<Vec<u32>>,
    pub scores: Vec<f32>,
}

pub fn golden(name: &str) -> Golden {
    let path = fixtures().join("golden").join(format!("{name}.json"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Largest absolute difference between two equally shaped nested arrays; panics on shape mismatch.
pub fn max_abs_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len(), "shape mismatch");
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

/// Strips padding from an attention-masked row.
pub fn unpad(ids: &[u32], mask: &[u32]) -> Vec<u32> {
    ids.iter()
        .zip(mask)
        .filter(|(_, &m)| m == 1)
        .map(|(&i, _)| i)
        .collect()
}

impl Golden {
    /// The generate case called `name`.
    pub fn case(&self, name: &str) -> &GenerateCase {
        self.generate
            .iter()
            .find(|c| c.name == name)
            .unwrap_or_else(|| panic!("no golden case {name}"))
    }
}

/// The golden case each BART-family fixture runs with its own generation_config.json.
pub const MODEL_DEFAULTS_CASE: &str = "beam4_generation_config_defaults";

/// Generated ids after the start token, without eos and padding, from a golden sequence.
pub fn golden_ids(seq: &[u32], eos: u32) -> Vec<u64> {
    seq[1..]
        .iter()
        .take_while(|&&t| t != eos)
        .map(|&t| t as u64)
        .collect()
}

/// The `token_ids` array of a JSON output.
pub fn token_ids(v: &serde_json::Value) -> Vec<u64> {
    v["token_ids"]
        .as_array()
        .unwrap_or_else(|| panic!("no token_ids in {v}"))
        .iter()
        .map(|x| x.as_u64().unwrap())
        .collect()
}
