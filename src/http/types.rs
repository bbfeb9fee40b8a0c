//! Request and response bodies of the `/v1` API, with their OpenAPI schemas. Requests are raw
//! here; the `validate` module turns them into checked jobs.

use crate::service::KernelReport;
use crate::text::LangGuess;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::service::routing::Routing;
use crate::service::{ArticleOutput, FinishReason, Generated};

/// Decoding options; unset values come from the server's flags, then the model's defaults.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DecodeRequest {
    /// Beam width (1 = greedy), at most 16.
    #[schema(minimum = 1, maximum = 16)]
    #[serde(default, deserialize_with = "whole_number")]
    pub beams: Option<u32>,
    /// Most tokens to generate per sentence, at most 1024; clamped to the model's position limit
    /// (the output then says `truncated`).
    #[schema(minimum = 1, maximum = 1024)]
    #[serde(default, deserialize_with = "whole_number")]
    pub max_new_tokens: Option<u32>,
}

/// A nested object, or null: never a JSON list (which serde would otherwise read into a struct
/// field by field, where the document says `object`).
fn object_or_null<'de, D, T>(d: D) -> Result<Option<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: serde::de::DeserializeOwned,
{
    match serde_json::Value::deserialize(d)? {
        serde_json::Value::Null => Ok(None),
        v => as_object(v).map(Some),
    }
}

/// A list of objects (each one an object, not a list).
fn objects<'de, D, T>(d: D) -> Result<Vec<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: serde::de::DeserializeOwned,
{
    Vec::<serde_json::Value>::deserialize(d)?
        .into_iter()
        .enumerate()
        .map(|(i, v)| {
            as_object(v).map_err(|e: D::Error| serde::de::Error::custom(format!("[{i}]: {e}")))
        })
        .collect()
}

fn as_object<T: serde::de::DeserializeOwned, E: serde::de::Error>(
    v: serde_json::Value,
) -> Result<T, E> {
    if !v.is_object() {
        return Err(E::custom(format!("expected an object, not {v}")));
    }
    serde_path_to_error::deserialize(v).map_err(|e| {
        let path = e.path().to_string();
        match path.as_str() {
            "." => E::custom(e.into_inner()),
            _ => E::custom(format!("{path}: {}", e.into_inner())),
        }
    })
}

/// An integer as JSON Schema counts them: `4` and `4.0` alike.
fn whole_number<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<u32>, D::Error> {
    use serde::de::Error;
    let Some(n) = Option::<serde_json::Number>::deserialize(d)? else {
        return Ok(None);
    };
    let whole = match (n.as_u64(), n.as_f64()) {
        (Some(u), _) => Some(u),
        (None, Some(f)) if f.fract() == 0.0 && (0.0..=f64::from(u32::MAX)).contains(&f) => {
            Some(f as u64)
        }
        _ => None,
    };
    whole
        .and_then(|u| u32::try_from(u).ok())
        .map(Some)
        .ok_or_else(|| D::Error::custom(format!("expected a whole number, not {n}")))
}

/// `POST /v1/translate`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TranslateRequest {
    /// Dutch texts; each may hold several sentences and paragraphs (line breaks are kept).
    #[schema(min_items = 1)]
    pub texts: Vec<String>,
    /// Source language: `nl`, or `auto`/omitted to have each text's language detected and
    /// reported (`detected_language`); the texts go to the Dutch translator either way.
    #[schema(example = "nl")]
    pub source_lang: Option<String>,
    /// Target language: `en` (`en-gb` and `en-us` are accepted).
    #[schema(example = "en")]
    pub target_lang: Option<String>,
    /// Name of a loaded translation model (see `GET /v1/models`); default: the loaded one.
    pub model: Option<String>,
    #[serde(default, deserialize_with = "object_or_null")]
    pub options: Option<DecodeRequest>,
    /// A glossary id (`GET /v2/glossaries`) whose terms are forced into the translation, on
    /// top of the house glossaries (its entries win where both have a term).
    pub glossary: Option<String>,
}

/// `POST /v1/summarize`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SummarizeRequest {
    /// Texts to summarize; texts longer than the model's window are summarized by map-reduce.
    #[schema(min_items = 1)]
    pub texts: Vec<String>,
    /// Prompt template: raw, summarize, brief, bullets, headline (default: the model's own).
    pub prompt: Option<String>,
    /// Name of the loaded summarization model; default: the loaded one.
    pub model: Option<String>,
    /// The texts' language; omitted or `auto`: detected per text. A text in another language
    /// than the summarizer reads is first translated by the translator for its language (its
    /// `routing` says so).
    pub source_lang: Option<String>,
    #[serde(default, deserialize_with = "object_or_null")]
    pub options: Option<DecodeRequest>,
}

/// One article of `POST /v1/articles`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ArticleIn {
    /// Returned as is with the result.
    pub id: Option<String>,
    /// The wire copy: headline, dateline, paragraphs, related items. Give `text` or `ninjs`.
    pub text: Option<String>,
    /// An IPTC ninjs item (1.x, 2.x or 3.x): its headline, body (text or HTML), dateline,
    /// `located` and `language` are read. Give `text` or `ninjs`.
    #[schema(value_type = Option<Object>)]
    pub ninjs: Option<serde_json::Value>,
}

/// `POST /v1/articles`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ArticlesRequest {
    #[schema(min_items = 1)]
    #[serde(deserialize_with = "objects")]
    pub articles: Vec<ArticleIn>,
    /// Summarize each article (default: true when a summarizer is loaded).
    pub summarize: Option<bool>,
    /// Prompt template for the summaries.
    pub prompt: Option<String>,
    /// The articles' source language; omitted or `auto`: each sentence is routed by its
    /// detected language (English copied through, a language no translator reads left
    /// untranslated with an error).
    pub source_lang: Option<String>,
    /// Decoding options for the translation.
    #[serde(default, deserialize_with = "object_or_null")]
    pub options: Option<DecodeRequest>,
    /// A glossary id (`GET /v2/glossaries`) applied on top of the house glossaries; each
    /// sentence says which terms it found (`glossary`).
    pub glossary: Option<String>,
}

/// One generated text.
#[derive(Debug, Serialize, ToSchema)]
pub struct TextOut {
    pub text: String,
    /// `eos` (the model ended it), `length` (it reached the length limit) or `empty` (blank
    /// input, no model call).
    pub finish_reason: FinishReason,
    /// True when it was cut short at the model's position limit, before the requested
    /// `max_new_tokens` (which is clamped to what the model can represent).
    pub truncated: bool,
    /// `/v1/translate` and `/v1/summarize` with `source_lang` omitted or `auto`: the input's
    /// detected language, `{code, confidence}` (`routing` says where the text went).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub detected_language: Option<LangGuess>,
    /// `/v1/translate`: how the text was routed — `handling` (`translated`, `copied` when it
    /// is already English, `untranslated` with an `error` when no loaded translator reads its
    /// language), the `language` it was routed by, and the `model` that translated it.
    /// `/v1/summarize`: present when the text was translated before it was summarized.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub routing: Option<Routing>,
    /// `/v1/translate`: what the review checks flagged (`number_missing`, `name_missing`,
    /// `not_english`, `repetition`, `length_ratio`, `low_confidence`); absent when nothing.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub checks: Vec<crate::text::checks::Flag>,
    /// `/v1/translate`: the glossary terms found in the text, `{source, target, applied}`
    /// (forced into the translation; `applied: false` when it could not be placed, which the
    /// `glossary_missing` check flags); absent when none.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub glossary: Vec<crate::glossary::TermUse>,
}

/// Tokens read and written for a request.
#[derive(Debug, Default, Serialize, ToSchema)]
pub struct Usage {
    pub input_tokens: usize,
    pub output_tokens: usize,
}

impl Usage {
    pub fn of(out: &[Generated]) -> Usage {
        Usage {
            input_tokens: out.iter().map(|g| g.input_tokens).sum(),
            output_tokens: out.iter().map(|g| g.token_ids.len()).sum(),
        }
    }
}

fn texts(out: Vec<Generated>) -> Vec<TextOut> {
    out.into_iter()
        .map(|g| TextOut {
            text: g.text,
            finish_reason: g.finish_reason,
            detected_language: None,
            routing: None,
            checks: Vec::new(),
            truncated: g.truncated,
            glossary: g.terms,
        })
        .collect()
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TranslateResponse {
    /// One translation per input text, in order.
    pub translations: Vec<TextOut>,
    pub model: String,
    pub usage: Usage,
}

impl TranslateResponse {
    pub fn new(out: Vec<Generated>, model: String) -> Self {
        let usage = Usage::of(&out);
        Self {
            translations: texts(out),
            model,
            usage,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SummarizeResponse {
    /// One summary per input text, in order.
    pub summaries: Vec<TextOut>,
    pub model: String,
    pub usage: Usage,
}

impl SummarizeResponse {
    pub fn new(out: Vec<Generated>, model: String) -> Self {
        let usage = Usage::of(&out);
        Self {
            summaries: texts(out),
            model,
            usage,
        }
    }
}

/// One article's result: the object `copydesk article --json` prints, plus `id`.
#[derive(Debug, Serialize)]
pub struct ArticleResult {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(flatten)]
    pub article: ArticleOutput,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ArticlesResponse {
    /// Per article, in order: `id`, `language`, `review` (the flagged sentences: `at`,
    /// `source`, `text`, `checks`), `headline`, `headline_en`, `dateline`, `blocks` (kind and
    /// sentences with `source`, `text`, `language`, `handling` — translated, copied or
    /// untranslated —, `model`, `error`, `checks` and `confidence`), `related_title(_en)`,
    /// `related`, `summary`, `models`, `timings` — the object `copydesk article --json` prints.
    #[schema(value_type = Vec<Object>)]
    pub articles: Vec<ArticleResult>,
}

/// A loaded model.
#[derive(Debug, Serialize, ToSchema)]
pub struct ModelInfo {
    /// The name requests use in `model`.
    pub name: String,
    /// `translate` or `summarize`.
    pub task: String,
    pub architecture: String,
    pub revision: Option<String>,
    pub device: String,
    pub dtype: String,
    /// Longest input in tokens, where the model has a limit.
    pub max_input_tokens: Option<usize>,
    /// The CPU kernels the model runs (`dense_f32`, `dense_q8`, `attention`); absent on GPUs.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub kernels: Option<KernelReport>,
    /// Translators: the source languages it is routed (`mul`: any).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub source_langs: Vec<String>,
    /// The weights' license as its manifest states it (SPDX id); absent for unnamed models.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub license: Option<String>,
    /// True when that license forbids commercial use (NLLB-200: CC-BY-NC-4.0).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub non_commercial: bool,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ModelsResponse {
    pub models: Vec<ModelInfo>,
}

/// `GET /health` and `GET /ready`.
#[derive(Debug, Serialize, ToSchema)]
pub struct Status {
    /// `ok`, `ready`, `loading` or `draining`.
    pub status: String,
}
