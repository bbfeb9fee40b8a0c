//! Request and response bodies of the `/v1` API, with their OpenAPI schemas. Requests are raw
//! here; [`super::validate`] turns them into checked jobs.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::service::{ArticleOutput, FinishReason, Generated};

/// Decoding options; unset values come from the server's flags, then the model's defaults.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DecodeRequest {
    /// Beam width (1 = greedy), at most 16.
    #[schema(minimum = 1, maximum = 16)]
    pub beams: Option<u32>,
    /// Most tokens to generate per sentence, at most 1024; clamped to the model's position limit
    /// (the output then says `truncated`).
    #[schema(minimum = 1, maximum = 1024)]
    pub max_new_tokens: Option<u32>,
}

/// `POST /v1/translate`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TranslateRequest {
    /// Dutch texts; each may hold several sentences and paragraphs (line breaks are kept).
    #[schema(min_items = 1)]
    pub texts: Vec<String>,
    /// Source language: `nl`.
    #[schema(example = "nl")]
    pub source_lang: Option<String>,
    /// Target language: `en` (`en-gb` and `en-us` are accepted).
    #[schema(example = "en")]
    pub target_lang: Option<String>,
    /// Name of a loaded translation model (see `GET /v1/models`); default: the loaded one.
    pub model: Option<String>,
    pub options: Option<DecodeRequest>,
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
    pub options: Option<DecodeRequest>,
}

/// One article of `POST /v1/articles`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ArticleIn {
    /// Returned as is with the result.
    pub id: Option<String>,
    /// The wire copy: headline, dateline, paragraphs, related items.
    pub text: String,
}

/// `POST /v1/articles`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ArticlesRequest {
    #[schema(min_items = 1)]
    pub articles: Vec<ArticleIn>,
    /// Summarize each article (default: true when a summarizer is loaded).
    pub summarize: Option<bool>,
    /// Prompt template for the summaries.
    pub prompt: Option<String>,
    /// Decoding options for the translation.
    pub options: Option<DecodeRequest>,
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
            truncated: g.truncated,
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
    /// Per article, in order: `id`, `headline`, `headline_en`, `dateline`, `blocks` (kind and
    /// sentences with `source` and `text`), `related_title(_en)`, `related`, `summary`,
    /// `models`, `timings` — the object `copydesk article --json` prints.
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
