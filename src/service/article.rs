//! The article pipeline: segment wire copy, translate every sentence in shared batches, put the
//! structure back together with English datelines, then summarize the English body.

use std::time::Instant;

use serde::Serialize;

use super::routing::{main_language, route_language, Handling, Item, ItemError, Routing, Unit};
use super::{DecodeOptions, Service};
use crate::glossary::TermUse;
use crate::text::checks::{check_translation, Flag, Scores};
use crate::text::{
    detect_language, detect_whole, guess_in_context, segment, BlockKind, Dateline, Detected,
    Document, LangGuess,
};
use crate::Error;

/// Summary length for summarizers whose config sets none.
pub const ARTICLE_SUMMARY_TOKENS: usize = 96;

#[derive(Debug, Clone, Default)]
pub struct ArticleOptions {
    pub summarize: bool,
    pub prompt: Option<String>,
    pub decode: DecodeOptions,
    /// Which text the summarizer reads: `Some("nl")` the Dutch source (the summary is then
    /// translated), `Some("en")` the English translation, `None` what the summarizer's manifest
    /// says it reads (English when it says nothing).
    pub summarize_from: Option<String>,
    /// The articles' source language when the caller knows it: every sentence goes to that
    /// language's translator. `None`: each sentence is routed by its detected language (English
    /// copied through, unknown languages left untranslated with an error).
    pub source_lang: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SentenceOut {
    pub source: String,
    pub text: String,
    /// Present (true) when the translation was cut short at the model's position limit.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub truncated: bool,
    /// The sentence's source language: `{code, confidence}`, with `from_context: true` when
    /// the sentence alone was too short or unclear and the article's language is given.
    pub language: Option<LangGuess>,
    /// `translated`, `copied` (already English) or `untranslated` (see `error`).
    pub handling: Handling,
    /// The translator that translated it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    /// Why it was not translated (`unsupported_language`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<ItemError>,
    /// What the review checks flagged ([`crate::text::checks`]); absent when nothing.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub checks: Vec<Flag>,
    /// The model's mean log-probability per generated token.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub confidence: Option<f64>,
    /// Glossary terms found in the source sentence: `{source, target, applied}`; absent when
    /// none.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub glossary: Vec<TermUse>,
}

/// A flagged sentence, listed first for the editor.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ReviewItem {
    /// Where it is: `blocks[B].sentences[S]` or `related[R].sentences[S]`.
    pub at: String,
    pub source: String,
    pub text: String,
    pub checks: Vec<Flag>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DatelineOut {
    pub place: String,
    pub agency: String,
    /// The place in English (`DEN HAAG` → `THE HAGUE`).
    pub place_en: String,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BlockOut {
    pub kind: BlockKind,
    pub sentences: Vec<SentenceOut>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RelatedOut {
    pub dateline: Option<DatelineOut>,
    pub sentences: Vec<SentenceOut>,
    pub age: Option<String>,
    pub age_en: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ModelRef {
    pub name: String,
    pub revision: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ModelsUsed {
    pub translator: ModelRef,
    pub summarizer: Option<ModelRef>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Timings {
    pub segment_ms: f64,
    pub translate_ms: f64,
    pub summarize_ms: f64,
    pub total_ms: f64,
}

/// A translated article: the segment structure with, per sentence, source and translation.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ArticleOutput {
    /// The article's source language as detected over all its sentences.
    pub language: Option<LangGuess>,
    /// The sentences the checks flagged, in reading order, for review first.
    pub review: Vec<ReviewItem>,
    pub headline: Option<String>,
    pub headline_en: Option<String>,
    /// Present (true) when the headline's translation was cut short at the position limit.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub headline_truncated: bool,
    pub dateline: Option<DatelineOut>,
    pub blocks: Vec<BlockOut>,
    pub related_title: Option<String>,
    pub related_title_en: Option<String>,
    pub related: Vec<RelatedOut>,
    pub summary: Option<String>,
    pub models: ModelsUsed,
    pub timings: Timings,
}

fn ms(since: Instant) -> f64 {
    since.elapsed().as_secs_f64() * 1000.0
}

fn dateline_out(d: &Option<Dateline>) -> Option<DatelineOut> {
    d.as_ref().map(|d| DatelineOut {
        place: d.place.clone(),
        agency: d.agency.clone(),
        place_en: d.to_english().place,
    })
}

/// What each sentence of the document got, in document order.
struct SentenceResult<'a> {
    truncated: bool,
    language: Option<LangGuess>,
    routing: Routing,
    scores: Scores<'a>,
}

/// Source and English sentences side by side, taking one result per sentence in document
/// order from `results`.
fn pair<'a>(
    src: &[String],
    en: &[String],
    results: &mut impl Iterator<Item = SentenceResult<'a>>,
) -> Vec<SentenceOut> {
    src.iter()
        .zip(en)
        .map(|(s, t)| {
            let r = results.next();
            let scores = r.as_ref().map(|r| r.scores).unwrap_or_default();
            let (truncated, language, routing) = match r {
                Some(r) => (r.truncated, r.language, Some(r.routing)),
                None => (false, None, None),
            };
            let routing = routing.unwrap_or(Routing {
                handling: Handling::Translated,
                language: None,
                model: None,
                error: None,
            });
            let translated = routing.handling == Handling::Translated;
            SentenceOut {
                source: s.clone(),
                text: t.clone(),
                truncated,
                language,
                handling: routing.handling,
                model: routing.model,
                error: routing.error,
                checks: match translated {
                    true => check_translation(s, t, scores),
                    false => Vec::new(),
                },
                glossary: scores.terms.to_vec(),
                confidence: scores.mean_logprob().filter(|_| translated),
            }
        })
        .collect()
}

impl Service {
    /// Translates (and by default summarizes) one article of wire copy.
    pub async fn article(&self, text: &str, opts: &ArticleOptions) -> Result<ArticleOutput, Error> {
        let t0 = Instant::now();
        let doc = segment(text);
        let segment_ms = ms(t0);
        let mut out = self.article_document(&doc, opts).await?;
        out.timings.segment_ms = segment_ms;
        out.timings.total_ms = ms(t0);
        Ok(out)
    }

    /// Translates (and by default summarizes) an article already segmented (a news item read
    /// from its fields, see [`crate::service::ninjs`]).
    pub async fn article_document(
        &self,
        doc: &Document,
        opts: &ArticleOptions,
    ) -> Result<ArticleOutput, Error> {
        let t0 = Instant::now();
        let sentences: Vec<String> = doc.sentences().map(str::to_string).collect();
        let translator = self.translator()?;
        let whole_text = sentences.join(" ");
        let language = detect_whole(&whole_text);
        // Each sentence is detected once; its reported language and its route follow from it.
        let detections: Vec<Option<Detected>> =
            sentences.iter().map(|s| detect_language(s)).collect();
        let whole = main_language(&sentences, &detections);
        let guesses: Vec<Option<LangGuess>> = detections
            .iter()
            .map(|d| guess_in_context(*d, language))
            .collect();
        let items: Vec<Item> = sentences
            .iter()
            .zip(&detections)
            .map(|(s, d)| Item {
                text: s.clone(),
                lang: opts
                    .source_lang
                    .clone()
                    .or_else(|| route_language(*d, whole)),
            })
            .collect();
        let routed = self
            .translate_routed(&items, Unit::Sentence, &opts.decode)
            .await?;
        let (translated, routings): (Vec<_>, Vec<_>) = routed.into_iter().unzip();
        let english = doc
            .with_sentences(
                &translated
                    .iter()
                    .map(|g| g.text.clone())
                    .collect::<Vec<_>>(),
            )
            .with_english_furniture();
        let translate_ms = ms(t0);
        // In the order of `doc.sentences()`: the headline, then blocks, then related items.
        let mut results =
            translated
                .iter()
                .zip(guesses)
                .zip(routings)
                .map(|((g, language), routing)| SentenceResult {
                    truncated: g.truncated,
                    language,
                    routing,
                    scores: g.scores(),
                });
        let headline_truncated =
            doc.headline.is_some() && results.next().is_some_and(|r| r.truncated);
        let t2 = Instant::now();
        let summary = if opts.summarize {
            Some(self.summarize_article(doc, &english, opts).await?)
        } else {
            None
        };
        let summarize_ms = ms(t2);
        let model_ref = |w: &super::ModelHandle| ModelRef {
            name: w.loaded.name.clone(),
            revision: w.loaded.revision().map(str::to_string),
        };
        let mut out = ArticleOutput {
            language,
            review: Vec::new(),
            headline: doc.headline.clone(),
            headline_en: english.headline.clone(),
            headline_truncated,
            dateline: dateline_out(&doc.dateline),
            blocks: doc
                .blocks
                .iter()
                .zip(&english.blocks)
                .map(|(s, e)| BlockOut {
                    kind: s.kind,
                    sentences: pair(&s.sentences, &e.sentences, &mut results),
                })
                .collect(),
            related_title: doc.related_title.clone(),
            related_title_en: english.related_title.clone(),
            related: doc
                .related
                .iter()
                .zip(&english.related)
                .map(|(s, e)| RelatedOut {
                    dateline: dateline_out(&s.dateline),
                    sentences: pair(&s.sentences, &e.sentences, &mut results),
                    age: s.age.clone(),
                    age_en: e.age.clone(),
                })
                .collect(),
            summary,
            models: ModelsUsed {
                translator: model_ref(translator),
                summarizer: if opts.summarize {
                    self.summarizer.as_ref().map(model_ref)
                } else {
                    None
                },
            },
            timings: Timings {
                segment_ms: 0.0,
                translate_ms,
                summarize_ms,
                total_ms: ms(t0),
            },
        };
        out.review = review_items(&out);
        Ok(out)
    }

    /// Summarizes the English body; a summarizer that reads Dutch summarizes the source and the
    /// summary is translated.
    async fn summarize_article(
        &self,
        source: &Document,
        english: &Document,
        opts: &ArticleOptions,
    ) -> Result<String, Error> {
        let worker = self.summarizer()?;
        let reads_dutch = worker.loaded.reads() == Some("nl");
        let body = |d: &Document| {
            d.blocks
                .iter()
                .map(|b| b.sentences.join(" "))
                .collect::<Vec<_>>()
                .join("\n")
        };
        let input = if reads_dutch {
            body(source)
        } else {
            body(english)
        };
        // transformers' default max_length (20) cuts article summaries short: models that set no
        // length of their own get ARTICLE_SUMMARY_TOKENS.
        let gen = &worker.loaded.generation;
        let decode = DecodeOptions {
            beams: None,
            max_new_tokens: (gen.max_new_tokens.is_none() && gen.max_length <= 20)
                .then_some(ARTICLE_SUMMARY_TOKENS),
            alternatives: 0,
            ..Default::default()
        };
        let summary = self
            .summarize(&[input], opts.prompt.as_deref(), &decode)
            .await?;
        let text = summary
            .into_iter()
            .next()
            .map(|g| g.text)
            .unwrap_or_default();
        if reads_dutch {
            let en = self.translate_texts(&[text], &opts.decode).await?;
            Ok(en.into_iter().next().map(|g| g.text).unwrap_or_default())
        } else {
            Ok(text)
        }
    }
}

/// The flagged sentences of `out`, in reading order.
fn review_items(out: &ArticleOutput) -> Vec<ReviewItem> {
    let blocks = out
        .blocks
        .iter()
        .enumerate()
        .map(|(b, x)| (format!("blocks[{b}]"), &x.sentences));
    let related = out
        .related
        .iter()
        .enumerate()
        .map(|(r, x)| (format!("related[{r}]"), &x.sentences));
    blocks
        .chain(related)
        .flat_map(|(at, sentences)| {
            sentences
                .iter()
                .enumerate()
                .filter(|(_, s)| !s.checks.is_empty())
                .map(move |(i, s)| ReviewItem {
                    at: format!("{at}.sentences[{i}]"),
                    source: s.source.clone(),
                    text: s.text.clone(),
                    checks: s.checks.clone(),
                })
        })
        .collect()
}

/// What a part of an article's English body is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PartKind {
    /// Running text; the first one carries the dateline.
    Paragraph,
    Subheading,
    /// The title of the related section (`More from Domestic`).
    RelatedTitle,
    /// One related item, with its dateline and age.
    RelatedItem,
}

/// One paragraph-level part of the English body, in reading order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BodyPart {
    pub kind: PartKind,
    pub text: String,
}

fn joined(sentences: &[SentenceOut]) -> String {
    sentences
        .iter()
        .map(|s| s.text.as_str())
        .collect::<Vec<_>>()
        .join(" ")
}

impl ArticleOutput {
    /// The English body as an editor reads it: the dateline on the first paragraph,
    /// subheadings, then the related section (title, then items with datelines and ages).
    pub fn body_parts(&self) -> Vec<BodyPart> {
        let part = |kind, text| BodyPart { kind, text };
        let mut dateline = self
            .dateline
            .as_ref()
            .map(|d| format!("{} ({}) - ", d.place_en, d.agency));
        let mut out: Vec<BodyPart> = self
            .blocks
            .iter()
            .map(|b| match b.kind {
                BlockKind::Subheading => part(PartKind::Subheading, joined(&b.sentences)),
                BlockKind::Paragraph => part(
                    PartKind::Paragraph,
                    format!(
                        "{}{}",
                        dateline.take().unwrap_or_default(),
                        joined(&b.sentences)
                    ),
                ),
            })
            .collect();
        if !self.related.is_empty() {
            let title = self
                .related_title_en
                .clone()
                .unwrap_or_else(|| "Related".into());
            out.push(part(PartKind::RelatedTitle, title));
        }
        for r in &self.related {
            let d = r
                .dateline
                .as_ref()
                .map(|d| format!("{} ({}) - ", d.place_en, d.agency))
                .unwrap_or_default();
            let age = r
                .age_en
                .as_ref()
                .map(|a| format!(" ({a})"))
                .unwrap_or_default();
            out.push(part(
                PartKind::RelatedItem,
                format!("{d}{}{age}", joined(&r.sentences)),
            ));
        }
        out
    }

    /// What an editor would paste: headline, dateline and paragraphs, subheadings, related items,
    /// and the summary. `markdown` adds headings and emphasis.
    pub fn render(&self, markdown: bool) -> String {
        let mut out = Vec::new();
        if let Some(h) = &self.headline_en {
            out.push(if markdown {
                format!("# {h}")
            } else {
                h.clone()
            });
        }
        for p in self.body_parts() {
            out.push(match p.kind {
                PartKind::Subheading | PartKind::RelatedTitle if markdown => {
                    format!("## {}", p.text)
                }
                PartKind::RelatedItem if markdown => format!("- {}", p.text),
                _ => p.text,
            });
        }
        if let Some(s) = &self.summary {
            out.push(if markdown {
                "## Summary".into()
            } else {
                "Summary:".into()
            });
            out.push(s.clone());
        }
        out.join("\n\n") + "\n"
    }
}
