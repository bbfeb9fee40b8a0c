//! Generation settings with transformers' names, defaults and precedence.

use serde::{Deserialize, Deserializer};

/// transformers' `early_stopping`: `true`, `false` or `"never"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum EarlyStopping {
    #[default]
    Heuristic,
    Always,
    Never,
}

impl<'de> Deserialize<'de> for EarlyStopping {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Bool(bool),
            Str(String),
        }
        match Raw::deserialize(d)? {
            Raw::Bool(true) => Ok(EarlyStopping::Always),
            Raw::Bool(false) => Ok(EarlyStopping::Heuristic),
            Raw::Str(s) if s == "never" => Ok(EarlyStopping::Never),
            Raw::Str(s) => Err(serde::de::Error::custom(format!(
                "early_stopping must be true, false or \"never\", not {s:?}"
            ))),
        }
    }
}

/// Decoding settings. Lengths count decoder positions as transformers does: `max_length` and
/// `min_length` include the decoder start token; `max_new_tokens` / `min_new_tokens` do not.
#[derive(Debug, Clone, PartialEq)]
pub struct GenerationConfig {
    pub num_beams: usize,
    pub max_length: usize,
    pub max_new_tokens: Option<usize>,
    pub min_length: usize,
    pub min_new_tokens: Option<usize>,
    pub length_penalty: f64,
    pub early_stopping: EarlyStopping,
    pub no_repeat_ngram_size: usize,
    pub repetition_penalty: f64,
    pub bad_words_ids: Vec<Vec<u32>>,
    pub forced_eos_token_id: Option<u32>,
    /// Apply `log_softmax` again after the processors (transformers' `renormalize_logits`).
    pub renormalize_logits: bool,
    /// Ids that end a sequence; empty means the model's eos id.
    pub eos_token_ids: Vec<u32>,
}

impl Default for GenerationConfig {
    fn default() -> Self {
        Self {
            num_beams: 1,
            max_length: 20,
            max_new_tokens: None,
            min_length: 0,
            min_new_tokens: None,
            length_penalty: 1.0,
            early_stopping: EarlyStopping::Heuristic,
            no_repeat_ngram_size: 0,
            repetition_penalty: 1.0,
            bad_words_ids: Vec::new(),
            forced_eos_token_id: None,
            renormalize_logits: false,
            eos_token_ids: Vec::new(),
        }
    }
}

/// The generation keys of `generation_config.json` / `config.json`, all optional.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct GenerationOverrides {
    pub num_beams: Option<usize>,
    pub max_length: Option<usize>,
    pub max_new_tokens: Option<usize>,
    pub min_length: Option<usize>,
    pub min_new_tokens: Option<usize>,
    pub length_penalty: Option<f64>,
    pub early_stopping: Option<EarlyStopping>,
    pub no_repeat_ngram_size: Option<usize>,
    pub repetition_penalty: Option<f64>,
    pub bad_words_ids: Option<Vec<Vec<u32>>>,
    /// `Some(None)`: explicitly unset (`null`), which overrides a model default.
    #[serde(default, deserialize_with = "nullable_id")]
    pub forced_eos_token_id: Option<Option<u32>>,
    pub renormalize_logits: Option<bool>,
    #[serde(default, deserialize_with = "ids")]
    pub eos_token_id: Option<Vec<u32>>,
}

fn nullable_id<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Option<u32>>, D::Error> {
    Ok(Some(crate::models::first_id(d)?))
}

fn ids<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Vec<u32>>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum OneOrMany {
        One(u32),
        Many(Vec<u32>),
    }
    Ok(Option::<OneOrMany>::deserialize(d)?.map(|v| match v {
        OneOrMany::One(x) => vec![x],
        OneOrMany::Many(v) => v,
    }))
}

impl GenerationConfig {
    /// Applies every key that is set in `o` on top of `self`.
    pub fn apply(&mut self, o: &GenerationOverrides) {
        macro_rules! set {
            ($($f:ident),*) => { $( if let Some(v) = o.$f.clone() { self.$f = v; } )* };
        }
        set!(
            num_beams,
            max_length,
            min_length,
            length_penalty,
            early_stopping,
            no_repeat_ngram_size,
            repetition_penalty,
            bad_words_ids,
            forced_eos_token_id,
            renormalize_logits
        );
        if o.max_new_tokens.is_some() {
            self.max_new_tokens = o.max_new_tokens;
        }
        if o.min_new_tokens.is_some() {
            self.min_new_tokens = o.min_new_tokens;
        }
        if let Some(e) = &o.eos_token_id {
            self.eos_token_ids = e.clone();
        }
    }

    /// The `max_length` in effect: `max_new_tokens` (plus the start token) wins over `max_length`.
    pub fn effective_max_length(&self) -> usize {
        match self.max_new_tokens {
            Some(n) => n + 1,
            None => self.max_length,
        }
    }

    /// The `min_length` in effect, in decoder positions (start token included).
    pub fn effective_min_length(&self) -> usize {
        let from_new = self.min_new_tokens.map_or(0, |n| n + 1);
        self.min_length.max(from_new)
    }

    pub fn validate(&self) -> Result<(), String> {
        if self.num_beams == 0 {
            return Err("num_beams must be at least 1".into());
        }
        if self.effective_max_length() < 2 {
            return Err("max_new_tokens must be at least 1".into());
        }
        if self.repetition_penalty.is_nan() || self.repetition_penalty <= 0.0 {
            return Err("repetition_penalty must be positive".into());
        }
        if !self.length_penalty.is_finite() {
            return Err("length_penalty must be a finite number".into());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn explicit_null_unsets_and_absent_keeps() {
        let mut c = GenerationConfig {
            forced_eos_token_id: Some(0),
            ..Default::default()
        };
        let keep: GenerationOverrides = serde_json::from_str(r#"{"num_beams": 2}"#).unwrap();
        c.apply(&keep);
        assert_eq!((c.forced_eos_token_id, c.num_beams), (Some(0), 2));
        let set: GenerationOverrides =
            serde_json::from_str(r#"{"forced_eos_token_id": 5}"#).unwrap();
        c.apply(&set);
        assert_eq!(c.forced_eos_token_id, Some(5));
        let unset: GenerationOverrides =
            serde_json::from_str(r#"{"forced_eos_token_id": null}"#).unwrap();
        c.apply(&unset);
        assert_eq!(c.forced_eos_token_id, None);
    }

    #[test]
    fn early_stopping_forms() {
        let o: GenerationOverrides =
            serde_json::from_str(r#"{"early_stopping": "never"}"#).unwrap();
        assert_eq!(o.early_stopping, Some(EarlyStopping::Never));
        let o: GenerationOverrides = serde_json::from_str(r#"{"early_stopping": true}"#).unwrap();
        assert_eq!(o.early_stopping, Some(EarlyStopping::Always));
    }
}
