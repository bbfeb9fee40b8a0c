//! Routing by language: every translator serves the source languages its manifest (or the
//! `LANG=MODEL` form of `--translator`) names, all into English. A text or sentence in English is
//! copied through; one in a language no loaded translator reads comes back untranslated with a
//! per-item error, never sent through the wrong model. Items are grouped per translator, the
//! groups run concurrently on their own queues, and the results come back in input order.

use serde::Serialize;

use super::{DecodeOptions, FinishReason, Generated, ModelHandle, Service};
use crate::text::{detect_language, Detected};
use crate::Error;

/// The language every translator writes.
pub const TARGET_LANG: &str = "en";
/// A manifest language that stands for "any source language" (a many-to-English model).
pub const ANY_LANG: &str = "mul";
/// What a translator with no manifest and no `LANG=` reads: copydesk's first language.
pub const DEFAULT_SOURCE_LANG: &str = "nl";

/// The language to route `piece` by: its own when detected reliably, else its context's when
/// that was, else none (the first translator takes it).
pub fn routing_lang(piece: &str, context: Option<Detected>) -> Option<String> {
    route_language(detect_language(piece), context)
}

/// [`routing_lang`] from the piece's detection already made.
pub fn route_language(detected: Option<Detected>, context: Option<Detected>) -> Option<String> {
    match detected {
        Some(d) if d.reliable => Some(d.code.to_string()),
        _ => context.filter(|c| c.reliable).map(|c| c.code.to_string()),
    }
}

/// A translator with the source languages it reads.
#[derive(Clone)]
pub struct Route {
    pub langs: Vec<String>,
    pub handle: ModelHandle,
}

/// One `--translator` entry: `[LANG[+LANG...]=]MODEL`.
pub fn parse_translator_entry(entry: &str) -> (Option<Vec<String>>, &str) {
    if let Some((prefix, spec)) = entry.split_once('=') {
        let langs: Vec<String> = prefix.split('+').map(|l| l.trim().to_lowercase()).collect();
        let codes = langs
            .iter()
            .all(|l| (2..=3).contains(&l.len()) && l.chars().all(|c| c.is_ascii_lowercase()));
        if codes && !spec.trim().is_empty() {
            return (Some(langs), spec.trim());
        }
    }
    (None, entry.trim())
}

/// A spawned translation that is cancelled when its caller goes away (a request that timed out
/// or whose client left): dropping it aborts the task, which drops its queued jobs.
struct AbortOnDrop<T>(tokio::task::JoinHandle<T>);

impl<T> Drop for AbortOnDrop<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// The main language of a text made of `pieces` with their `detections`: the one with the
/// most letters among the pieces detected reliably (a mixed article's concatenation can fool a
/// detector), `None` when no piece says enough.
pub fn main_language(pieces: &[String], detections: &[Option<Detected>]) -> Option<Detected> {
    let mut tally: Vec<(&'static str, usize)> = Vec::new();
    for (p, d) in pieces.iter().zip(detections) {
        let Some(d) = d.filter(|d| d.reliable) else {
            continue;
        };
        let letters = p.chars().filter(|c| c.is_alphabetic()).count();
        match tally.iter_mut().find(|(c, _)| *c == d.code) {
            Some((_, n)) => *n += letters,
            None => tally.push((d.code, letters)),
        }
    }
    let total: usize = tally.iter().map(|(_, n)| n).sum();
    let (code, n) = tally.into_iter().max_by_key(|&(_, n)| n)?;
    Some(Detected {
        code,
        confidence: (n as f64 / total as f64 * 1000.0).round() / 1000.0,
        reliable: true,
    })
}

/// What happened to one text or sentence.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Handling {
    Translated,
    /// Already English: passed through unchanged.
    Copied,
    /// In a language no loaded translator reads: returned as it was, with `error`.
    Untranslated,
}

/// Why an item was not translated.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct ItemError {
    pub code: String,
    pub message: String,
}

/// How one text or sentence was routed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Routing {
    pub handling: Handling,
    /// The source language it was routed by (given, or detected); `None`: not known, sent to
    /// the first translator.
    pub language: Option<String>,
    /// The translator that translated it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<ItemError>,
}

/// A job's translator (route index) and, for a model that takes language tokens, language.
type GroupKey = (usize, Option<String>);

/// How items are fed to their translator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    /// Each item is one sequence (an article's sentences).
    Sentence,
    /// Each item is a text, split into sentences and put back together.
    Text,
}

/// A text or sentence and the source language to route it by (`None`: the first translator).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Item {
    pub text: String,
    pub lang: Option<String>,
}

/// Whether languages `langs` (a translator's) name `lang`: its primary subtag, any case
/// (`nl-BE` and `NL` are Dutch); `any` also takes a many-to-English `mul`.
pub fn names_language(langs: &[String], lang: &str, any: bool) -> bool {
    let primary = lang.split(['-', '_']).next().unwrap_or_default();
    langs
        .iter()
        .any(|l| l.eq_ignore_ascii_case(primary) || (any && l == ANY_LANG))
}

impl Service {
    /// The translator for `lang`: one that names it, else a many-to-English one.
    pub fn route_for(&self, lang: &str) -> Option<&Route> {
        self.route_position(lang).map(|r| &self.routes[r])
    }

    /// The index in `routes` of [`Self::route_for`]'s translator.
    fn route_position(&self, lang: &str) -> Option<usize> {
        let named = |any| {
            self.routes
                .iter()
                .position(|r| names_language(&r.langs, lang, any))
        };
        named(false).or_else(|| named(true))
    }

    /// The source languages the loaded translators read, sorted (`mul` for any).
    pub fn source_langs(&self) -> Vec<String> {
        let mut out: Vec<String> = self.routes.iter().flat_map(|r| r.langs.clone()).collect();
        out.sort();
        out.dedup();
        out
    }

    /// Translates each item with the translator for its language, in input order.
    pub async fn translate_routed(
        &self,
        items: &[Item],
        unit: Unit,
        opts: &DecodeOptions,
    ) -> Result<Vec<(Generated, Routing)>, Error> {
        self.translator()?;
        // Per item: the route index, or how it is handled without a model.
        let mut plan: Vec<Result<usize, Handling>> = Vec::with_capacity(items.len());
        for item in items {
            plan.push(match item.lang.as_deref() {
                Some(l) if l.eq_ignore_ascii_case(TARGET_LANG) => Err(Handling::Copied),
                Some(l) => self.route_position(l).ok_or(Handling::Untranslated),
                None => Ok(0),
            });
        }
        // One job per translator, or per translator and language for one whose inputs carry
        // a language token (mBART-50).
        let mut groups: Vec<(GroupKey, Vec<usize>)> = Vec::new();
        for (i, p) in plan.iter().enumerate() {
            let Ok(r) = *p else { continue };
            let tagged = self.routes[r]
                .handle
                .loaded
                .tokenizer
                .takes_language_token();
            // Glossaries are per source language: with one, each language is its own job.
            let by_lang = tagged || !opts.glossary.is_empty();
            let key = (r, items[i].lang.clone().filter(|_| by_lang));
            match groups.iter_mut().find(|(k, _)| *k == key) {
                Some((_, members)) => members.push(i),
                None => groups.push((key, vec![i])),
            }
        }
        let mut jobs = Vec::new();
        for ((r, lang), mine) in groups {
            let texts: Vec<String> = mine.iter().map(|&i| items[i].text.clone()).collect();
            let (handle, mut opts) = (self.routes[r].handle.clone(), opts.clone());
            opts.glossary_lang = lang
                .clone()
                .or_else(|| self.routes[r].langs.first().cloned());
            let tagged = handle.loaded.tokenizer.takes_language_token();
            let job = tokio::spawn(async move {
                let lang = lang.as_deref().filter(|_| tagged);
                match unit {
                    Unit::Sentence => handle.generate_in(&texts, lang, &opts).await,
                    Unit::Text => handle.translate_texts_in(&texts, lang, &opts).await,
                }
            });
            jobs.push((mine, AbortOnDrop(job)));
        }
        let mut out: Vec<Option<Generated>> = vec![None; items.len()];
        for (mine, mut job) in jobs {
            let done = (&mut job.0)
                .await
                .map_err(|e| Error::internal(format!("translation task failed: {e}")))??;
            for (i, g) in mine.into_iter().zip(done) {
                out[i] = Some(g);
            }
        }
        items
            .iter()
            .zip(plan)
            .zip(out)
            .map(|((item, p), g)| self.routed(item, p, g))
            .collect()
    }

    /// The output and routing of one item.
    fn routed(
        &self,
        item: &Item,
        plan: Result<usize, Handling>,
        g: Option<Generated>,
    ) -> Result<(Generated, Routing), Error> {
        let language = item.lang.clone();
        let handling = match (plan, g) {
            (Ok(r), Some(g)) => {
                let model = Some(self.routes[r].handle.loaded.name.clone());
                let routing = Routing {
                    handling: Handling::Translated,
                    language,
                    model,
                    error: None,
                };
                return Ok((g, routing));
            }
            (Ok(_), None) => return Err(Error::internal("a translator lost an output")),
            (Err(handling), _) => handling,
        };
        let error = (handling == Handling::Untranslated).then(|| ItemError {
            code: "unsupported_language".into(),
            message: format!(
                "no loaded translator reads {:?} (loaded: {})",
                item.lang.as_deref().unwrap_or_default(),
                self.source_langs().join(", ")
            ),
        });
        let mut g = Generated::empty(&item.text);
        g.text = item.text.clone();
        g.finish_reason = FinishReason::Passthrough;
        let routing = Routing {
            handling,
            language,
            model: None,
            error,
        };
        Ok((g, routing))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn translator_entries() {
        assert_eq!(
            parse_translator_entry("fr=path/to/dir"),
            (Some(vec!["fr".to_string()]), "path/to/dir")
        );
        assert_eq!(
            parse_translator_entry("de+fr=org/model"),
            (Some(vec!["de".to_string(), "fr".to_string()]), "org/model")
        );
        assert_eq!(
            parse_translator_entry("opus-mt-nl-en"),
            (None, "opus-mt-nl-en")
        );
        // Not a language list: the whole entry is the model.
        assert_eq!(parse_translator_entry("/data/a=b"), (None, "/data/a=b"));
    }
}
