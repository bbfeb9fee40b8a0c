//! `vocab.json` (token -> id) loading with python `json.load` semantics:
//! a repeated key keeps its first position and its last value.

use std::collections::HashMap;
use std::fmt;
use std::path::Path;

use serde::de::{Deserializer, MapAccess, Visitor};

use super::TokenizeError;

#[derive(Debug, Clone, Default)]
pub(crate) struct JsonVocab {
    /// token -> id.
    pub encoder: HashMap<String, u32>,
    /// id -> token, built like `{v: k for k, v in encoder.items()}`.
    pub decoder: HashMap<u32, String>,
    /// Keys in python dict order (first insertion).
    pub order: Vec<String>,
}

impl JsonVocab {
    pub(crate) fn from_file(path: &Path) -> Result<Self, TokenizeError> {
        let text = std::fs::read_to_string(path).map_err(|source| TokenizeError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        Self::from_json(&text).map_err(|message| TokenizeError::Vocab {
            path: path.to_path_buf(),
            message,
        })
    }

    pub(crate) fn from_json(text: &str) -> Result<Self, String> {
        let mut de = serde_json::Deserializer::from_str(text);
        let entries = de
            .deserialize_map(OrderedEntries)
            .map_err(|e| format!("not a JSON object of token -> id: {e}"))?;
        de.end().map_err(|e| format!("trailing data: {e}"))?;
        let mut vocab = JsonVocab::default();
        for (token, id) in entries {
            if vocab.encoder.insert(token.clone(), id).is_none() {
                vocab.order.push(token);
            }
        }
        for token in &vocab.order {
            if let Some(&id) = vocab.encoder.get(token) {
                vocab.decoder.insert(id, token.clone());
            }
        }
        Ok(vocab)
    }

    pub(crate) fn len(&self) -> usize {
        self.encoder.len()
    }
}

struct OrderedEntries;

impl<'de> Visitor<'de> for OrderedEntries {
    type Value = Vec<(String, u32)>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a map from token strings to non-negative integer ids")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut out = Vec::with_capacity(map.size_hint().unwrap_or(0));
        while let Some((k, v)) = map.next_entry::<String, u32>()? {
            out.push((k, v));
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn python_dict_semantics() {
        let v = JsonVocab::from_json(r#"{"a": 0, "b": 1, "c": 1, "a": 2}"#).unwrap();
        assert_eq!(v.encoder["a"], 2);
        assert_eq!(v.order, vec!["a", "b", "c"]);
        assert_eq!(v.decoder[&1], "c");
        assert_eq!(v.decoder[&2], "a");
        assert!(!v.decoder.contains_key(&0));
        assert!(JsonVocab::from_json(r#"{"a": -1}"#).is_err());
        assert!(JsonVocab::from_json(r#"["a"]"#).is_err());
        assert!(JsonVocab::from_json(r#"{"a": 1} x"#).is_err());
    }
}
