//! Summaries with prompt templates, and map-reduce for texts longer than the model's window:
//! summarize chunks cut at sentence boundaries, then summarize the joined chunk summaries.

use super::loader::LoadedModel;
use super::routing::{routing_lang, Item, Routing, Unit, TARGET_LANG};
use super::{DecodeOptions, Generated, ModelHandle, Service};
use crate::prompts::Template;
use crate::text::{split_text, text_sentences};
use crate::Error;

/// Input window of summarizers without a position table (T5's relative positions), in tokens
/// (prompt included); models with one (BART 1024, Pegasus-XSum 512) use their table's size.
pub const SUMMARY_WINDOW: usize = 512;
/// Map-reduce rounds before giving up.
const MAX_ROUNDS: usize = 4;

impl Service {
    /// The template for `prompt`, else the model's manifest prompt, else `raw`. A model
    /// trained for fixed styles ([`crate::registry::Manifest::styles`]) reads the text its own
    /// way for those styles and refuses the others, naming the models that write them.
    pub fn template(&self, worker: &ModelHandle, prompt: Option<&str>) -> Result<Template, Error> {
        self.prompts
            .get(template_name(&worker.loaded, prompt)?)
            .cloned()
    }

    /// Summarizes each text; texts longer than the window are summarized by map-reduce.
    pub async fn summarize(
        &self,
        texts: &[String],
        prompt: Option<&str>,
        opts: &DecodeOptions,
    ) -> Result<Vec<Generated>, Error> {
        let worker = self.summarizer()?;
        let template = self.template(worker, prompt)?;
        let mut current: Vec<String> = texts.to_vec();
        // Blank texts get an empty summary without a model call.
        let mut done: Vec<Option<Generated>> = texts
            .iter()
            .map(|t| t.trim().is_empty().then(|| Generated::empty(t)))
            .collect();
        if done.iter().all(Option::is_some) {
            return Ok(done.into_iter().flatten().collect());
        }
        for _round in 0..MAX_ROUNDS {
            // For each unfinished text: its chunks (one chunk when it fits the window).
            let mut plan: Vec<(usize, Vec<String>)> = Vec::new();
            for (i, text) in current.iter().enumerate() {
                if done[i].is_none() {
                    plan.push((i, chunks(worker, &template, text)?));
                }
            }
            let rendered: Vec<String> = plan
                .iter()
                .flat_map(|(_, cs)| cs.iter().map(|c| template.render(c)))
                .collect();
            let outputs = worker.generate(&rendered, opts).await?;
            let mut it = outputs.into_iter();
            for (i, cs) in plan {
                let parts: Vec<Generated> = it.by_ref().take(cs.len()).collect();
                if cs.len() == 1 {
                    let mut g = parts
                        .into_iter()
                        .next()
                        .ok_or_else(|| Error::internal("missing summary"))?;
                    g.source = texts[i].clone();
                    done[i] = Some(g);
                } else {
                    current[i] = parts
                        .iter()
                        .map(|g| g.text.trim())
                        .collect::<Vec<_>>()
                        .join(" ");
                }
            }
            if done.iter().all(Option::is_some) {
                return Ok(done.into_iter().flatten().collect());
            }
        }
        Err(Error::invalid(
            "input_too_long",
            format!("text could not be summarized within {MAX_ROUNDS} map-reduce rounds"),
        ))
    }
}

impl Service {
    /// [`Service::summarize`] for texts in any language: a text whose language (`lang`, else
    /// its reliable detection) is not the one the summarizer reads (its manifest's
    /// `source_lang`, else English) is first translated by the translator for that language,
    /// when one is loaded. Per text: the summary (its `source` the text as given) and, for a
    /// translated one, how it was routed.
    pub async fn summarize_in(
        &self,
        texts: &[String],
        lang: Option<&str>,
        prompt: Option<&str>,
        opts: &DecodeOptions,
    ) -> Result<Vec<(Generated, Option<Routing>)>, Error> {
        let worker = self.summarizer()?;
        let reads = worker.loaded.reads().unwrap_or(TARGET_LANG);
        let langs: Vec<Option<String>> = texts
            .iter()
            .map(|t| lang.map(str::to_string).or_else(|| routing_lang(t, None)))
            .collect();
        let foreign: Vec<usize> = (0..texts.len())
            .filter(|&i| {
                langs[i]
                    .as_deref()
                    .is_some_and(|l| l != reads && self.route_for(l).is_some())
            })
            .collect();
        let items: Vec<Item> = foreign
            .iter()
            .map(|&i| Item {
                text: texts[i].clone(),
                lang: langs[i].clone(),
            })
            .collect();
        let translated = match items.is_empty() {
            true => Vec::new(),
            false => {
                self.translate_routed(&items, Unit::Text, &DecodeOptions::default())
                    .await?
            }
        };
        let mut inputs = texts.to_vec();
        let mut routings: Vec<Option<Routing>> = vec![None; texts.len()];
        for (&i, (g, routing)) in foreign.iter().zip(translated) {
            inputs[i] = g.text;
            routings[i] = Some(routing);
        }
        let mut out = self.summarize(&inputs, prompt, opts).await?;
        for (g, source) in out.iter_mut().zip(texts) {
            g.source = source.clone();
        }
        Ok(out.into_iter().zip(routings).collect())
    }
}

/// The prompt template name [`Service::template`] uses.
fn template_name<'a>(loaded: &'a LoadedModel, prompt: Option<&'a str>) -> Result<&'a str, Error> {
    let own = loaded.prompt().unwrap_or("raw");
    let styles = loaded.styles();
    Ok(match prompt {
        Some(p) if !styles.is_empty() && p != "raw" => {
            if !styles.iter().any(|s| s == p) {
                return Err(style_refused(&loaded.name, p, styles));
            }
            own
        }
        Some(p) => p,
        None => own,
    })
}

/// The error for a style a fixed-style model does not write.
fn style_refused(model: &str, style: &str, styles: &[String]) -> Error {
    let writers: Vec<String> = crate::registry::manifests()
        .unwrap_or_default()
        .into_iter()
        .filter(|m| m.styles.iter().any(|s| s == style))
        .map(|m| m.name)
        .collect();
    let alternatives = if writers.is_empty() {
        String::new()
    } else {
        format!("; models trained for it: {}", writers.join(", "))
    };
    Error::invalid(
        "unsupported_style",
        format!(
            "{model} writes {} summaries, not {style:?}; it does not follow instructions, so \
             pick a summarizer for that style{alternatives} (or an instruction model such as \
             flan-t5-base)",
            styles.join("/")
        ),
    )
}

/// Splits `text` at sentence boundaries into pieces whose rendered prompt fits the window.
fn chunks(worker: &ModelHandle, template: &Template, text: &str) -> Result<Vec<String>, Error> {
    let tok = &worker.loaded.tokenizer;
    let window = worker
        .loaded
        .model
        .max_source_positions()
        .unwrap_or(SUMMARY_WINDOW);
    let mut fits =
        |s: &str| -> Result<bool, Error> { Ok(tok.encode(&template.render(s))?.len() <= window) };
    if fits(text)? {
        return Ok(vec![text.to_string()]);
    }
    let paragraphs = split_text(text);
    let mut pieces: Vec<String> = Vec::new();
    for sentence in text_sentences(&paragraphs) {
        if fits(sentence)? {
            pieces.push(sentence.to_string());
        } else {
            // A single sentence over the window: cut it between words.
            pieces.extend(super::fit::pieces(sentence, &mut fits)?);
        }
    }
    let mut out: Vec<String> = Vec::new();
    let mut current = String::new();
    for p in pieces {
        let candidate = if current.is_empty() {
            p.clone()
        } else {
            format!("{current} {p}")
        };
        if !current.is_empty() && !fits(&candidate)? {
            out.push(std::mem::replace(&mut current, p));
        } else {
            current = candidate;
        }
    }
    if !current.is_empty() {
        out.push(current);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::service::loader::{load, LoadOptions};

    #[test]
    fn fixed_style_models_read_the_text_as_is_and_refuse_other_styles() {
        let dir = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/models/bart-tiny"
        );
        let mut loaded = load(dir, &LoadOptions::default()).unwrap();
        // A directory has no manifest: any template goes.
        assert_eq!(template_name(&loaded, Some("brief")).unwrap(), "brief");
        let mut manifest = crate::registry::manifest("distilbart-cnn-12-6")
            .unwrap()
            .unwrap();
        manifest.name = "bart-tiny".into();
        loaded.files.manifest = Some(manifest);
        assert_eq!(template_name(&loaded, None).unwrap(), "raw");
        assert_eq!(template_name(&loaded, Some("brief")).unwrap(), "raw");
        assert_eq!(template_name(&loaded, Some("raw")).unwrap(), "raw");
        let e = template_name(&loaded, Some("headline")).unwrap_err();
        assert_eq!(e.kind(), "unsupported_style");
        let msg = e.to_string();
        assert!(
            msg.contains("bart-large-xsum") && msg.contains("pegasus-xsum"),
            "{msg}"
        );
    }
}
