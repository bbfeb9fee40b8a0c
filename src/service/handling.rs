//! How the compatibility APIs want texts cut before translation: DeepL's `split_sentences` and
//! `tag_handling`, LibreTranslate's `format: html`. Tags are kept as they are and the text
//! between them is translated; the runs of all texts share the model's batches.

use super::routing::{Item, Unit};
use super::{DecodeOptions, Generated, Service};
use crate::text::{split_markup, trim_parts, Markup};
use crate::Error;

/// Where a text may be cut into sentences.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Splitting {
    /// At sentence ends and line breaks (line structure kept): DeepL's `1`, the default.
    #[default]
    Sentences,
    /// At sentence ends only; line breaks count as spaces: DeepL's `nonewlines`.
    NoNewlines,
    /// Not at all: each text (or each run between tags) is one sequence: DeepL's `0`.
    Off,
}

/// How to read the texts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TextHandling {
    pub splitting: Splitting,
    /// HTML or XML: tags are kept and only the text between them is translated.
    pub markup: bool,
}

impl Service {
    /// Translates `texts` read as `how` says, each with the translator for its language
    /// (`langs[i]`, `None`: the first translator; see [`super::routing`]).
    pub async fn translate_handled(
        &self,
        texts: &[String],
        langs: &[Option<String>],
        opts: &DecodeOptions,
        how: TextHandling,
    ) -> Result<Vec<Generated>, Error> {
        let item = |text: String, i: usize| Item {
            text,
            lang: langs.get(i).cloned().flatten(),
        };
        let routed = |items: Vec<Item>, unit: Unit| async move {
            let out = self.translate_routed(&items, unit, opts).await?;
            Ok::<_, Error>(out.into_iter().map(|(g, _)| g).collect::<Vec<_>>())
        };
        if how == TextHandling::default() {
            let items = texts.iter().enumerate().map(|(i, t)| item(t.clone(), i));
            return routed(items.collect(), Unit::Text).await;
        }
        // Every text as runs to translate (the text between tags, or the whole text).
        let runs: Vec<Vec<&str>> = texts
            .iter()
            .map(|t| match how.markup {
                true => split_markup(t)
                    .into_iter()
                    .filter_map(|m| match m {
                        Markup::Text(s) => Some(trim_parts(s).1),
                        Markup::Tag(_) => None,
                    })
                    .filter(|s| !s.is_empty())
                    .collect(),
                false => vec![t.as_str()],
            })
            .collect();
        let flat: Vec<Item> = runs
            .iter()
            .enumerate()
            .flat_map(|(i, rs)| rs.iter().map(move |r| (i, r)))
            .map(|(i, r)| match how.splitting {
                Splitting::NoNewlines => {
                    item(r.split_whitespace().collect::<Vec<_>>().join(" "), i)
                }
                _ => item(r.to_string(), i),
            })
            .collect();
        let unit = match how.splitting {
            Splitting::Off => Unit::Sentence,
            _ => Unit::Text,
        };
        let mut done = routed(flat, unit).await?.into_iter();
        Ok(texts
            .iter()
            .zip(&runs)
            .map(|(text, runs)| {
                let parts: Vec<Generated> = done.by_ref().take(runs.len()).collect();
                reassemble(text, how.markup, parts)
            })
            .collect())
    }
}

/// One text from its runs' translations: with markup, each run's translation replaces the run
/// between the same tags (its surrounding white space kept).
fn reassemble(source: &str, markup: bool, parts: Vec<Generated>) -> Generated {
    if !markup {
        return Generated::join(source, &parts, |texts| texts.join(" "));
    }
    Generated::join(source, &parts, |texts| {
        let mut translated = texts.iter();
        split_markup(source)
            .into_iter()
            .map(|m| match m {
                Markup::Tag(t) => t.to_string(),
                Markup::Text(s) => match trim_parts(s) {
                    (lead, core, trail) if !core.is_empty() => {
                        format!("{lead}{}{trail}", translated.next().unwrap_or(&core))
                    }
                    (space, _, _) => space.to_string(),
                },
            })
            .collect()
    })
}
