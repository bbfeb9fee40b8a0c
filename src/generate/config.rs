//! Generation settings with transformers' names, defaults and precedence.

use serde::{Deserialize, Deserializer, Serialize, Serializer};

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

impl Serialize for EarlyStopping {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            EarlyStopping::Heuristic => s.serialize_bool(false),
            EarlyStopping::Always => s.serialize_bool(true),
            EarlyStopping::Never => s.serialize_str("never"),
        }
    }
}

/// Decoding settings. Lengths count decoder positions as transformers does: `max_length` and
/// `min_length` include the decoder start token; `max_new_tokens` / `min_new_tokens` do not.
#[derive(Debug, Clone, PartialEq)]
pub struct GenerationConfig {
    pub num_beams: usize,
    /// Hypotheses to return per row (beam search: the best, then alternatives), at most
    /// `num_beams`.
    pub num_return_sequences: usize,
    pub max_length: usize,
    pub max_new_tokens: Option<usize>,
    pub min_length: usize,
    pub min_new_tokens: Option<usize>,
    pub length_penalty: f64,
    pub early_stopping: EarlyStopping,
    pub no_repeat_ngram_size: usize,
    pub repetition_penalty: f64,
    pub bad_words_ids: Vec<Vec<u32>>,
    /// The token forced at the first generated position (BART's `<s>` after `</s>`).
    pub forced_bos_token_id: Option<u32>,
    pub forced_eos_token_id: Option<u32>,
    /// Apply `log_softmax` again after the processors (transformers' `renormalize_logits`).
    pub renormalize_logits: bool,
    /// Ids that end a sequence; empty means the model's eos id.
    pub eos_token_ids: Vec<u32>,
    /// Phrases the output must contain, each a token sequence generated contiguously
    /// (transformers' `force_words_ids` with phrasal constraints; beam search only).
    pub force_words_ids: Vec<Vec<u32>>,
}

impl Default for GenerationConfig {
    fn default() -> Self {
        Self {
            num_beams: 1,
            num_return_sequences: 1,
            max_length: 20,
            max_new_tokens: None,
            min_length: 0,
            min_new_tokens: None,
            length_penalty: 1.0,
            early_stopping: EarlyStopping::Heuristic,
            no_repeat_ngram_size: 0,
            repetition_penalty: 1.0,
            bad_words_ids: Vec::new(),
            forced_bos_token_id: None,
            forced_eos_token_id: None,
            renormalize_logits: false,
            eos_token_ids: Vec::new(),
            force_words_ids: Vec::new(),
        }
    }
}

/// The generation keys of `generation_config.json` / `config.json` / a manifest's
/// `[generation]` table, all optional: the one reader of generation settings. Values have
/// transformers' types and meanings (a list `eos_token_id` keeps every id, `early_stopping` may be
/// `"never"`, `forced_eos_token_id: null` unsets a default); other keys of those files are not
/// generation settings and are ignored, and a key of the wrong type is an error.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
pub struct GenerationOverrides {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub num_beams: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_length: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_new_tokens: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub min_length: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub min_new_tokens: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub length_penalty: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub early_stopping: Option<EarlyStopping>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub no_repeat_ngram_size: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub repetition_penalty: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bad_words_ids: Option<Vec<Vec<u32>>>,
    /// `Some(None)`: explicitly unset (`null`), which overrides a model default.
    #[serde(
        default,
        deserialize_with = "nullable_id",
        skip_serializing_if = "Option::is_none"
    )]
    pub forced_bos_token_id: Option<Option<u32>>,
    /// `Some(None)`: explicitly unset (`null`), which overrides a model default.
    #[serde(
        default,
        deserialize_with = "nullable_id",
        skip_serializing_if = "Option::is_none"
    )]
    pub forced_eos_token_id: Option<Option<u32>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub renormalize_logits: Option<bool>,
    #[serde(
        default,
        deserialize_with = "ids",
        skip_serializing_if = "Option::is_none"
    )]
    pub eos_token_id: Option<Vec<u32>>,
}

impl GenerationOverrides {
    /// Every key this reader knows (a manifest's `[generation]` table may hold only these).
    pub const KEYS: &'static [&'static str] = &[
        "num_beams",
        "max_length",
        "max_new_tokens",
        "min_length",
        "min_new_tokens",
        "length_penalty",
        "early_stopping",
        "no_repeat_ngram_size",
        "repetition_penalty",
        "bad_words_ids",
        "forced_bos_token_id",
        "forced_eos_token_id",
        "renormalize_logits",
        "eos_token_id",
    ];

    /// The generation keys of a model's `config.json`, as transformers'
    /// `GenerationConfig.from_model_config` reads them: the legacy
    /// `force_bos_token_to_be_generated: true` of old BART configs means
    /// `forced_bos_token_id = bos_token_id` when that key is absent.
    pub fn from_model_config(json: &str) -> serde_json::Result<Self> {
        let value: serde_json::Value = serde_json::from_str(json)?;
        let mut o: GenerationOverrides = serde_json::from_value(value.clone())?;
        let legacy = value.get("force_bos_token_to_be_generated") == Some(&true.into());
        if o.forced_bos_token_id.is_none() && legacy {
            let bos = value
                .get("bos_token_id")
                .and_then(serde_json::Value::as_u64);
            o.forced_bos_token_id = Some(bos.and_then(|b| u32::try_from(b).ok()));
        }
        Ok(o)
    }

    /// Key by key: `self` where set, else `fallback`.
    pub fn or(self, fallback: &GenerationOverrides) -> GenerationOverrides {
        let f = fallback.clone();
        GenerationOverrides {
            num_beams: self.num_beams.or(f.num_beams),
            max_length: self.max_length.or(f.max_length),
            max_new_tokens: self.max_new_tokens.or(f.max_new_tokens),
            min_length: self.min_length.or(f.min_length),
            min_new_tokens: self.min_new_tokens.or(f.min_new_tokens),
            length_penalty: self.length_penalty.or(f.length_penalty),
            early_stopping: self.early_stopping.or(f.early_stopping),
            no_repeat_ngram_size: self.no_repeat_ngram_size.or(f.no_repeat_ngram_size),
            repetition_penalty: self.repetition_penalty.or(f.repetition_penalty),
            bad_words_ids: self.bad_words_ids.or(f.bad_words_ids),
            forced_bos_token_id: self.forced_bos_token_id.or(f.forced_bos_token_id),
            forced_eos_token_id: self.forced_eos_token_id.or(f.forced_eos_token_id),
            renormalize_logits: self.renormalize_logits.or(f.renormalize_logits),
            eos_token_id: self.eos_token_id.or(f.eos_token_id),
        }
    }
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
            forced_bos_token_id,
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

    /// The `min_length` in effect, in decoder positions (start token included): as in
    /// transformers, a set `min_new_tokens` (even 0) replaces `min_length`.
    pub fn effective_min_length(&self) -> usize {
        self.min_new_tokens.map_or(self.min_length, |n| n + 1)
    }

    pub fn validate(&self) -> Result<(), String> {
        if self.num_beams == 0 {
            return Err("num_beams must be at least 1".into());
        }
        if self.num_return_sequences == 0 || self.num_return_sequences > self.num_beams {
            return Err(format!(
                "num_return_sequences must be between 1 and num_beams ({})",
                self.num_beams
            ));
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
        if !self.force_words_ids.is_empty() && self.num_beams < 2 {
            return Err("force_words_ids needs beam search (num_beams of 2 or more)".into());
        }
        if self.force_words_ids.iter().any(Vec::is_empty) {
            return Err("force_words_ids must not hold an empty phrase".into());
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

    #[test]
    fn hub_generation_values_with_transformers_meaning() {
        // The keys a real generation_config.json / config.json mixes with model keys.
        let gen: GenerationOverrides = serde_json::from_str(
            r#"{"early_stopping": "never", "eos_token_id": [0, 5], "forced_eos_token_id": null,
                "max_length": 512, "transformers_version": "4.57.1"}"#,
        )
        .unwrap();
        let config: GenerationOverrides = serde_json::from_str(
            r#"{"d_model": 16, "architectures": ["MarianMTModel"], "forced_eos_token_id": 0,
                "num_beams": 4, "eos_token_id": 0, "early_stopping": true}"#,
        )
        .unwrap();
        let mut c = GenerationConfig::default();
        c.apply(&gen.or(&config));
        assert_eq!(c.early_stopping, EarlyStopping::Never);
        assert_eq!(c.eos_token_ids, vec![0, 5], "every eos id is kept");
        assert_eq!(
            c.forced_eos_token_id, None,
            "null in generation_config wins"
        );
        assert_eq!((c.num_beams, c.max_length), (4, 512));
        let wrong = serde_json::from_str::<GenerationOverrides>(r#"{"num_beams": "four"}"#);
        assert!(wrong.unwrap_err().to_string().contains("invalid type"));
    }

    #[test]
    fn legacy_force_bos_means_forced_bos_token_id() {
        let o = GenerationOverrides::from_model_config(
            r#"{"bos_token_id": 0, "force_bos_token_to_be_generated": true}"#,
        )
        .unwrap();
        assert_eq!(o.forced_bos_token_id, Some(Some(0)));
        let explicit = GenerationOverrides::from_model_config(
            r#"{"bos_token_id": 0, "forced_bos_token_id": 5, "force_bos_token_to_be_generated": true}"#,
        )
        .unwrap();
        assert_eq!(explicit.forced_bos_token_id, Some(Some(5)));
        let off = GenerationOverrides::from_model_config(
            r#"{"bos_token_id": 0, "force_bos_token_to_be_generated": false}"#,
        )
        .unwrap();
        assert_eq!(off.forced_bos_token_id, None);
    }

    #[test]
    fn every_committed_hub_config_reads() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/hub-configs");
        let mut read = 0;
        for model in std::fs::read_dir(dir).unwrap().flatten() {
            for name in ["config.json", "generation_config.json"] {
                let path = model.path().join(name);
                if let Ok(text) = std::fs::read_to_string(&path) {
                    serde_json::from_str::<GenerationOverrides>(&text)
                        .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
                    read += 1;
                }
            }
        }
        assert!(read >= 8, "only {read} hub configs found");
    }
}
