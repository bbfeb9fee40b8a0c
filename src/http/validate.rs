//! Raw requests become checked jobs here, at the edge: list sizes, text sizes, languages, model
//! and prompt names, decoding options. Every error names its field. What passes here is exactly
//! what the OpenAPI document allows ([`super::openapi`] writes these rules into it).

use crate::glossary::Selection;
use crate::service::ninjs::{read_item, ArticleInput};
use crate::service::{ArticleOptions, DecodeOptions, ModelHandle, Service};

use super::errors::ApiError;
use super::types::{ArticlesRequest, DecodeRequest, SummarizeRequest, TranslateRequest};

/// Widest beam a request may ask for.
pub const MAX_BEAMS: u32 = 16;
/// Most new tokens a request may ask for (and never more than the model's positions).
pub const MAX_NEW_TOKENS: u32 = 1024;

/// Longest article id.
pub const MAX_ID_CHARS: usize = 256;

/// Control characters as editors' tools send them: vertical tab (Word's manual line break), form
/// feed and NEL become line breaks; other control characters (NUL, BEL, ...) carry no text and
/// are dropped; tab, CR and LF stay.
pub fn clean_controls(text: String) -> String {
    if !text.chars().any(char::is_control) {
        return text;
    }
    text.chars()
        .filter_map(|c| match c {
            '\t' | '\n' | '\r' => Some(c),
            '\u{0B}' | '\u{0C}' | '\u{85}' => Some('\n'),
            c if c.is_control() => None,
            c => Some(c),
        })
        .collect()
}

/// Per-request input limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    pub max_texts_per_request: usize,
    pub max_chars_per_text: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_texts_per_request: 128,
            max_chars_per_text: 20_000,
        }
    }
}

/// Checks requests against the limits and the loaded models.
pub struct Validator<'a> {
    pub limits: &'a Limits,
    /// The server's decoding defaults (its flags), under each request's options.
    pub defaults: &'a DecodeOptions,
    pub glossaries: &'a crate::glossary::store::GlossaryStore,
    pub service: &'a Service,
}

/// A checked translation request.
pub struct TranslateJob {
    pub texts: Vec<String>,
    pub decode: DecodeOptions,
    pub model: String,
}

/// A checked summarization request.
pub struct SummarizeJob {
    pub texts: Vec<String>,
    /// The named source language (`None`: detect).
    pub source_lang: Option<String>,
    pub prompt: Option<String>,
    pub decode: DecodeOptions,
    pub model: String,
}

/// A checked articles request.
pub struct ArticlesJob {
    pub articles: Vec<(Option<String>, ArticleInput)>,
    pub options: ArticleOptions,
}

impl Validator<'_> {
    pub fn translate(&self, req: TranslateRequest) -> Result<TranslateJob, ApiError> {
        let source = self.named_source(req.source_lang.clone())?;
        target_lang("target_lang", req.target_lang.as_deref())?;
        let mut job = self.translation("texts", req.texts, req.model.as_deref(), req.options)?;
        job.decode.glossary =
            self.glossary("glossary", req.glossary.as_deref(), source.as_deref())?;
        Ok(job)
    }

    /// The glossaries a translation request gets: the house glossaries, after the one it names
    /// in `field` (`id`), whose language pair must be the request's (`source`, when named) into
    /// English.
    pub fn glossary(
        &self,
        field: &str,
        id: Option<&str>,
        source: Option<&str>,
    ) -> Result<Selection, ApiError> {
        let house = self.glossaries.house();
        let Some(id) = id else {
            return Ok(house);
        };
        let g = self.glossaries.get(id).ok_or_else(|| {
            ApiError::invalid(
                "unknown_glossary",
                format!("no glossary {id:?} (GET /v2/glossaries lists them)"),
            )
            .at(field)
        })?;
        let primary = source.map(|l| l.split(['-', '_']).next().unwrap_or(l));
        if primary.is_some_and(|l| !l.eq_ignore_ascii_case(&g.source_lang)) {
            return Err(ApiError::invalid(
                "glossary_language_mismatch",
                format!(
                    "glossary {id:?} is for {}→{}, the request's source language is {}",
                    g.source_lang,
                    g.target_lang,
                    source.unwrap_or_default()
                ),
            )
            .at(field));
        }
        Ok(house.with_first(g))
    }

    /// Texts for the translator (the field name differs between the API and its compat routes).
    pub fn translation(
        &self,
        field: &str,
        texts: Vec<String>,
        model: Option<&str>,
        options: Option<DecodeRequest>,
    ) -> Result<TranslateJob, ApiError> {
        let worker = self.model("model", model, self.service.translator())?;
        Ok(TranslateJob {
            texts: self.texts(field, texts)?,
            decode: self.decode("options", options, worker)?,
            model: worker.loaded.name.clone(),
        })
    }

    /// A request's `source_lang`, checked against the loaded translators: lower-cased, `None`
    /// for omitted or `auto`.
    fn named_source(&self, lang: Option<String>) -> Result<Option<String>, ApiError> {
        served_source(self.service, "source_lang", lang.as_deref(), true)?;
        Ok(lang.map(|l| l.to_ascii_lowercase()).filter(|l| l != "auto"))
    }

    pub fn summarize(&self, req: SummarizeRequest) -> Result<SummarizeJob, ApiError> {
        let worker = self.model("model", req.model.as_deref(), self.service.summarizer())?;
        Ok(SummarizeJob {
            source_lang: self.named_source(req.source_lang)?,
            texts: self.texts("texts", req.texts)?,
            prompt: self.prompt("prompt", req.prompt)?,
            decode: self.decode("options", req.options, worker)?,
            model: worker.loaded.name.clone(),
        })
    }

    pub fn articles(&self, req: ArticlesRequest) -> Result<ArticlesJob, ApiError> {
        self.count("articles", req.articles.len())?;
        let translator = self.model("model", None, self.service.translator())?;
        let summarize = match req.summarize {
            Some(true) => {
                self.model("summarize", None, self.service.summarizer())?;
                true
            }
            Some(false) => false,
            None => self.service.summarizer.is_some(),
        };
        let mut articles = Vec::with_capacity(req.articles.len());
        for (i, a) in req.articles.into_iter().enumerate() {
            let input = self.article_input(a.text, a.ninjs, &format!("articles[{i}]"))?;
            if let Some(id) = &a.id {
                if id.chars().count() > MAX_ID_CHARS {
                    return Err(ApiError::invalid(
                        "id_too_long",
                        format!("at most {MAX_ID_CHARS} characters"),
                    )
                    .at(&format!("articles[{i}].id")));
                }
            }
            articles.push((a.id, input));
        }
        let source_lang = self.named_source(req.source_lang)?;
        let mut decode = self.decode("options", req.options, translator)?;
        decode.glossary =
            self.glossary("glossary", req.glossary.as_deref(), source_lang.as_deref())?;
        Ok(ArticlesJob {
            articles,
            options: ArticleOptions {
                summarize,
                prompt: self.prompt("prompt", req.prompt)?,
                decode,
                source_lang,
                ..ArticleOptions::default()
            },
        })
    }

    /// Exactly one of wire copy and a ninjs item; the item's headline and body within the text
    /// limit and cleaned like texts.
    fn article_input(
        &self,
        text: Option<String>,
        ninjs: Option<serde_json::Value>,
        at: &str,
    ) -> Result<ArticleInput, ApiError> {
        match (text, ninjs) {
            (Some(text), None) => Ok(ArticleInput::Text(
                self.text(text).map_err(|e| e.at(&format!("{at}.text")))?,
            )),
            (None, Some(item)) => {
                let at = format!("{at}.ninjs");
                let mut item = read_item(&item).map_err(|e| ApiError::from(e).at(&at))?;
                if let Some(h) = item.headline.take() {
                    item.headline = Some(self.text(h).map_err(|e| e.at(&at))?);
                }
                if let Some(body) = item.body.as_mut() {
                    body.value = self
                        .text(std::mem::take(&mut body.value))
                        .map_err(|e| e.at(&at))?;
                }
                Ok(ArticleInput::Item(Box::new(item)))
            }
            (Some(_), Some(_)) => Err(ApiError::invalid(
                "invalid_field",
                "give either text or ninjs, not both",
            )
            .at(at)),
            (None, None) => Err(ApiError::invalid("invalid_field", "give text or ninjs").at(at)),
        }
    }

    /// A non-empty list within the per-request limit, each text within the length limit
    /// (blank texts are fine: they get empty outputs), control characters cleaned.
    pub fn texts(&self, field: &str, texts: Vec<String>) -> Result<Vec<String>, ApiError> {
        self.count(field, texts.len())?;
        texts
            .into_iter()
            .enumerate()
            .map(|(i, t)| self.text(t).map_err(|e| e.at(&format!("{field}[{i}]"))))
            .collect()
    }

    fn count(&self, field: &str, n: usize) -> Result<(), ApiError> {
        let max = self.limits.max_texts_per_request;
        if n == 0 {
            return Err(ApiError::invalid("empty_list", "the list is empty").at(field));
        }
        if n > max {
            return Err(ApiError::invalid(
                "too_many_texts",
                format!("{n} items, but a request may hold at most {max}"),
            )
            .at(field));
        }
        Ok(())
    }

    /// At most `max_chars_per_text` characters; returns the text with control characters
    /// cleaned ([`clean_controls`]). Blank is allowed (an empty output, no model call).
    pub fn text(&self, text: String) -> Result<String, ApiError> {
        let max = self.limits.max_chars_per_text;
        let chars = text.chars().count();
        if chars > max {
            return Err(ApiError::invalid(
                "text_too_long",
                format!("{chars} characters, but a text may have at most {max}"),
            ));
        }
        Ok(clean_controls(text))
    }

    /// The loaded model for a task; `requested` must name it when given.
    pub fn model<'w>(
        &self,
        field: &str,
        requested: Option<&str>,
        loaded: Result<&'w ModelHandle, crate::Error>,
    ) -> Result<&'w ModelHandle, ApiError> {
        let worker = loaded.map_err(|e| ApiError::from(e).at(field))?;
        match requested {
            Some(name) if name != worker.loaded.name => Err(ApiError::invalid(
                "unknown_model",
                format!(
                    "model {name:?} is not loaded; loaded for this task: {:?} (see GET /v1/models)",
                    worker.loaded.name
                ),
            )
            .at(field)),
            _ => Ok(worker),
        }
    }

    /// A known prompt template name.
    pub fn prompt(&self, field: &str, prompt: Option<String>) -> Result<Option<String>, ApiError> {
        if let Some(p) = &prompt {
            self.service
                .prompts
                .get(p)
                .map_err(|e| ApiError::from(e).at(field))?;
        }
        Ok(prompt)
    }

    /// The request's options over the server's defaults, within bounds.
    pub fn decode(
        &self,
        field: &str,
        req: Option<DecodeRequest>,
        worker: &ModelHandle,
    ) -> Result<DecodeOptions, ApiError> {
        let req = req.unwrap_or_default();
        let mut out = self.defaults.clone();
        if let Some(b) = req.beams {
            if !(1..=MAX_BEAMS).contains(&b) {
                return Err(ApiError::invalid(
                    "invalid_option",
                    format!("must be between 1 and {MAX_BEAMS}, not {b}"),
                )
                .at(&format!("{field}.beams")));
            }
            out.beams = Some(b as usize);
        }
        if let Some(n) = req.max_new_tokens {
            // Beyond the model's position table the decode is clamped (and says `truncated`).
            if !(1..=MAX_NEW_TOKENS).contains(&n) {
                return Err(ApiError::invalid(
                    "invalid_option",
                    format!("must be between 1 and {MAX_NEW_TOKENS}, not {n}"),
                )
                .at(&format!("{field}.max_new_tokens")));
            }
            out.max_new_tokens = Some(n as usize);
        }
        out.resolve(&worker.loaded.generation)
            .map_err(|e| ApiError::from(e).at(field))?;
        Ok(out)
    }
}

/// Optional source language: one a loaded translator reads, English (copied through), or, with
/// `auto`, `auto`; any language when a many-to-English translator is loaded.
pub fn served_source(
    service: &Service,
    field: &str,
    lang: Option<&str>,
    auto: bool,
) -> Result<(), ApiError> {
    use crate::service::routing::TARGET_LANG;
    if lang.is_some_and(|l| service.route_for(l).is_some()) {
        return Ok(());
    }
    let langs = service.source_langs();
    let mut accepted: Vec<&str> = langs.iter().map(String::as_str).collect();
    accepted.push(TARGET_LANG);
    if auto {
        accepted.push("auto");
    }
    source_lang(field, lang, &accepted)
}

/// Optional source language; `accepted` are lower-case codes.
pub fn source_lang(field: &str, lang: Option<&str>, accepted: &[&str]) -> Result<(), ApiError> {
    match lang {
        Some(l) if !accepted.contains(&l.to_ascii_lowercase().as_str()) => Err(ApiError::invalid(
            "unsupported_language",
            format!("{l:?} is not supported; this server translates from: {accepted:?}"),
        )
        .at(field)),
        _ => Ok(()),
    }
}

/// Optional target language: English in any of its common spellings.
pub fn target_lang(field: &str, lang: Option<&str>) -> Result<(), ApiError> {
    match lang {
        Some(l) if !is_english(l) => Err(ApiError::invalid(
            "unsupported_language",
            format!("{l:?} is not supported; this server translates to English (en, en-gb, en-us)"),
        )
        .at(field)),
        _ => Ok(()),
    }
}

pub fn is_english(lang: &str) -> bool {
    matches!(
        lang.to_ascii_lowercase().replace('_', "-").as_str(),
        "en" | "en-gb" | "en-us"
    )
}
