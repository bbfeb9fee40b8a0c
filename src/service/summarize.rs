//! Summaries with prompt templates, and map-reduce for texts longer than the model's window:
//! summarize chunks cut at sentence boundaries, then summarize the joined chunk summaries.

use super::{DecodeOptions, Generated, ModelHandle, Service};
use crate::prompts::Template;
use crate::text::{split_text, text_sentences};
use crate::Error;

/// Input window of the T5 summarizers, in tokens (prompt included).
pub const SUMMARY_WINDOW: usize = 512;
/// Map-reduce rounds before giving up.
const MAX_ROUNDS: usize = 4;

impl Service {
    /// The template for `prompt`, else the model's manifest prompt, else `raw`.
    pub fn template(&self, worker: &ModelHandle, prompt: Option<&str>) -> Result<Template, Error> {
        let name = prompt.or(worker.loaded.prompt()).unwrap_or("raw");
        self.prompts.get(name).cloned()
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

/// Splits `text` at sentence boundaries into pieces whose rendered prompt fits the window.
fn chunks(worker: &ModelHandle, template: &Template, text: &str) -> Result<Vec<String>, Error> {
    let tok = &worker.loaded.tokenizer;
    let mut fits = |s: &str| -> Result<bool, Error> {
        Ok(tok.encode(&template.render(s))?.len() <= SUMMARY_WINDOW)
    };
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
