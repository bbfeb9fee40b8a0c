//! Orchestration shared by the command line, the HTTP server and the benchmarks: one [`Service`]
//! per process holds the loaded models, each behind its own batcher and model thread.

mod article;
mod fit;
mod handling;
pub mod loader;
pub mod ninjs;
pub mod routing;
mod summarize;

/// Which CPU kernels run (reported by `/v1/models`, `models info` and bench reports).
pub use crate::models::cpu::isa::KernelReport;
pub use article::{ArticleOptions, ArticleOutput, BodyPart, PartKind};
pub use handling::{Splitting, TextHandling};
pub use loader::{load, LoadOptions, LoadedModel};

use serde::Serialize;

use crate::batching::{BatchPolicy, Batcher, Pending};
use crate::engine::{Engine, EngineError};
use crate::generate::{GenerationConfig, Hypothesis};
use crate::glossary::{Selection, TermUse};
use crate::prompts::Prompts;
use crate::registry::DEFAULT_TRANSLATOR;
use crate::text::{join_text, split_text, text_sentences};
use crate::Error;

/// Per-request decoding options on top of a model's defaults.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DecodeOptions {
    pub beams: Option<usize>,
    pub max_new_tokens: Option<usize>,
    /// Alternative translations to return besides the best (beam search n-best); the beam is
    /// widened to hold them.
    pub alternatives: usize,
    /// Glossaries whose terms found in a source sentence are forced into its translation
    /// (constrained beam search; a greedy request searches such sentences with 2 beams).
    pub glossary: Selection,
    /// The source language the glossary terms are looked up for (`None`: every glossary of the
    /// selection); routing sets it per language.
    pub glossary_lang: Option<String>,
}

impl DecodeOptions {
    /// The model's defaults with these options applied, validated.
    pub fn resolve(&self, defaults: &GenerationConfig) -> Result<GenerationConfig, Error> {
        let mut cfg = defaults.clone();
        if let Some(b) = self.beams {
            cfg.num_beams = b;
        }
        if let Some(n) = self.max_new_tokens {
            cfg.max_new_tokens = Some(n);
        }
        if self.alternatives > 0 {
            cfg.num_return_sequences = self.alternatives + 1;
            cfg.num_beams = cfg.num_beams.max(cfg.num_return_sequences);
        }
        cfg.validate()
            .map_err(|m| Error::invalid("invalid_argument", m))?;
        Ok(cfg)
    }
}

/// Why a generated text ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum FinishReason {
    /// The model ended it (end-of-sequence token).
    Eos,
    /// It reached the length limit: `max_new_tokens`, the model's `max_length`, or the model's
    /// position table (then `truncated` is true too).
    Length,
    /// The input was empty or blank: nothing to generate, no model call.
    Empty,
    /// The text was returned as it is, without a model call: already English, or in a language
    /// no loaded translator reads (see `routing`).
    Passthrough,
}

impl FinishReason {
    /// The reason for a text made of several generated parts: `length` if any part ran out of
    /// length, `empty` if there were no parts, else `eos`.
    pub fn combine(parts: impl IntoIterator<Item = FinishReason>) -> FinishReason {
        let mut out = FinishReason::Empty;
        for p in parts {
            out = match (out, p) {
                (FinishReason::Length, _) | (_, FinishReason::Length) => FinishReason::Length,
                (FinishReason::Empty, p) => p,
                (o, _) => o,
            };
        }
        out
    }
}

/// One generated text with its ids and score.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Generated {
    pub source: String,
    pub text: String,
    /// Generated ids after the decoder start token, without eos or padding.
    pub token_ids: Vec<u32>,
    pub score: f32,
    pub input_tokens: usize,
    pub finish_reason: FinishReason,
    /// Cut short at the model's position limit, before the requested length.
    pub truncated: bool,
    /// Alternative outputs, best first (with `DecodeOptions::alternatives`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub alternatives: Vec<String>,
    /// The glossary terms found in the source, and whether each is in the output.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub terms: Vec<TermUse>,
}

impl Generated {
    /// One output for `source` from the outputs of its parts (pieces, sentences, runs between
    /// tags), whose texts `join` puts together; alternative `k` joins each part's `k`-th
    /// alternative, or its best where it has fewer.
    pub fn join(source: &str, parts: &[Generated], join: impl Fn(&[&str]) -> String) -> Generated {
        let best: Vec<&str> = parts.iter().map(|g| g.text.as_str()).collect();
        let n = parts
            .iter()
            .map(|g| g.alternatives.len())
            .max()
            .unwrap_or(0);
        let alternatives = (0..n)
            .map(|k| {
                let texts: Vec<&str> = parts
                    .iter()
                    .map(|g| g.alternatives.get(k).unwrap_or(&g.text).as_str())
                    .collect();
                join(&texts)
            })
            .collect();
        Generated {
            source: source.to_string(),
            text: join(&best),
            token_ids: parts
                .iter()
                .flat_map(|g| g.token_ids.iter().copied())
                .collect(),
            score: parts.iter().map(|g| g.score).sum(),
            input_tokens: parts.iter().map(|g| g.input_tokens).sum(),
            finish_reason: FinishReason::combine(parts.iter().map(|g| g.finish_reason)),
            truncated: parts.iter().any(|g| g.truncated),
            alternatives,
            terms: parts.iter().flat_map(|g| g.terms.iter().cloned()).collect(),
        }
    }

    /// The score and length the review checks read.
    pub fn scores(&self) -> crate::text::checks::Scores<'_> {
        crate::text::checks::Scores {
            score: self.score,
            tokens: self.token_ids.len(),
            terms: &self.terms,
        }
    }

    /// The output for a blank input: empty, zero tokens, no model call.
    pub fn empty(source: &str) -> Generated {
        Generated {
            source: source.to_string(),
            text: String::new(),
            token_ids: Vec::new(),
            score: 0.0,
            input_tokens: 0,
            finish_reason: FinishReason::Empty,
            truncated: false,
            alternatives: Vec::new(),
            terms: Vec::new(),
        }
    }
}

/// What to load and how to batch.
#[derive(Debug, Clone)]
pub struct ServiceConfig {
    /// Translators, comma-separated `[LANG[+LANG]=]MODEL` entries ([`routing`]): the first is
    /// the default for text of unknown language; each serves the languages its `LANG=` prefix,
    /// else its manifest, names (a directory without either reads Dutch).
    pub translator: Option<String>,
    pub summarizer: Option<String>,
    pub load: LoadOptions,
    pub policy: BatchPolicy,
}

impl Default for ServiceConfig {
    fn default() -> Self {
        Self {
            translator: Some(DEFAULT_TRANSLATOR.to_string()),
            summarizer: None,
            load: LoadOptions::default(),
            policy: BatchPolicy::default(),
        }
    }
}

/// A loaded model with its queue.
#[derive(Clone)]
pub struct ModelHandle {
    pub loaded: LoadedModel,
    pub batcher: Batcher,
}

impl ModelHandle {
    pub fn start(loaded: LoadedModel, policy: BatchPolicy) -> Result<ModelHandle, Error> {
        let io = |e| Error::Io {
            context: "cannot start a model thread".into(),
            source: e,
        };
        let engine =
            Engine::spawn(loaded.model.clone(), &loaded.name, policy.schedule()).map_err(io)?;
        let batcher = Batcher::spawn(engine, policy, &loaded.name).map_err(io)?;
        Ok(ModelHandle { loaded, batcher })
    }

    /// Whether the model thread still runs.
    pub fn is_alive(&self) -> bool {
        self.batcher.engine().is_alive()
    }

    /// Encodes `text` as one sequence, or, when it is longer than the model accepts, as several
    /// pieces cut between words that each fit ([`fit::pieces`]).
    fn encode_fitting(&self, text: &str, lang: Option<&str>) -> Result<Vec<Piece>, Error> {
        let tok = &self.loaded.tokenizer;
        let ids = tok.encode_in(text, lang)?;
        let whole = |ids| vec![(text.to_string(), ids)];
        let Some(max) = self.loaded.model.max_source_positions() else {
            return Ok(whole(ids));
        };
        if ids.len() <= max {
            return Ok(whole(ids));
        }
        let mut fits =
            |s: &str| -> Result<bool, Error> { Ok(tok.encode_in(s, lang)?.len() <= max) };
        fit::pieces(text, &mut fits)?
            .into_iter()
            .map(|p| {
                let ids = tok.encode_in(&p, lang)?;
                Ok((p, ids))
            })
            .collect()
    }

    /// The glossary terms of `piece` and the constraint phrases (target-side ids) they give.
    fn constraints(
        &self,
        piece: &str,
        opts: &DecodeOptions,
    ) -> Result<(Vec<crate::glossary::Entry>, Vec<Vec<u32>>), Error> {
        let mut entries: Vec<crate::glossary::Entry> = Vec::new();
        let mut phrases: Vec<Vec<u32>> = Vec::new();
        for hit in opts.glossary.find(piece, opts.glossary_lang.as_deref()) {
            if entries.iter().any(|e| e.target == hit.entry.target) {
                continue;
            }
            entries.push(hit.entry.clone());
            let ids = self
                .loaded
                .tokenizer
                .encode_target_phrase(&hit.entry.target)?;
            if !ids.is_empty() && !phrases.contains(&ids) {
                phrases.push(ids);
            }
        }
        Ok((entries, phrases))
    }

    /// Runs already-encoded inputs through the shared queue.
    pub async fn run_ids(
        &self,
        ids: Vec<Vec<u32>>,
        cfg: GenerationConfig,
    ) -> Result<Vec<Hypothesis>, Error> {
        self.wait(self.batcher.submit(ids, cfg)).await
    }

    /// Runs inputs that each carry their own constraint phrases: inputs with the same phrases
    /// share one submission (and so a batch); results in input order.
    async fn run_constrained(
        &self,
        inputs: Vec<(Vec<u32>, Vec<Vec<u32>>)>,
        cfg: GenerationConfig,
    ) -> Result<Vec<Hypothesis>, Error> {
        let mut groups: Vec<(Vec<Vec<u32>>, Vec<usize>)> = Vec::new();
        for (i, (_, phrases)) in inputs.iter().enumerate() {
            match groups.iter_mut().find(|(p, _)| p == phrases) {
                Some((_, members)) => members.push(i),
                None => groups.push((phrases.clone(), vec![i])),
            }
        }
        let mut ids: Vec<Option<Vec<u32>>> = inputs.into_iter().map(|(ids, _)| Some(ids)).collect();
        let mut slots: Vec<Option<Pending>> = (0..ids.len()).map(|_| None).collect();
        for (phrases, members) in groups {
            let mut cfg = cfg.clone();
            if !phrases.is_empty() {
                cfg.num_beams = cfg.num_beams.max(2);
                cfg.force_words_ids = phrases;
            }
            let batch = members.iter().filter_map(|&i| ids[i].take()).collect();
            for (i, p) in members.into_iter().zip(self.batcher.submit(batch, cfg)) {
                slots[i] = Some(p);
            }
        }
        let pending = slots.into_iter().flatten().collect();
        self.wait(pending).await
    }

    /// The results of submitted inputs, in order.
    async fn wait(&self, pending: Vec<Pending>) -> Result<Vec<Hypothesis>, Error> {
        let mut out = Vec::with_capacity(pending.len());
        for p in pending {
            let gone = || {
                if self.is_alive() {
                    EngineError::Closed
                } else {
                    EngineError::Down
                }
            };
            out.push(p.await.map_err(|_| gone())??);
        }
        Ok(out)
    }

    /// Generates one output per text; empty texts give empty outputs without a model call.
    pub async fn generate(
        &self,
        texts: &[String],
        opts: &DecodeOptions,
    ) -> Result<Vec<Generated>, Error> {
        self.generate_in(texts, None, opts).await
    }

    /// [`Self::generate`] for texts in source language `lang`, for models whose inputs carry a
    /// language token (mBART-50); other models ignore it.
    pub async fn generate_in(
        &self,
        texts: &[String],
        lang: Option<&str>,
        opts: &DecodeOptions,
    ) -> Result<Vec<Generated>, Error> {
        let cfg = opts.resolve(&self.loaded.generation)?;
        let nonempty: Vec<usize> = (0..texts.len())
            .filter(|&i| !texts[i].trim().is_empty())
            .collect();
        // Each text as one sequence, or as several pieces when it is longer than the model's
        // window; the pieces' outputs are joined back into one.
        // Glossary terms found in a piece are forced into its output.
        let mut owner: Vec<usize> = Vec::new();
        let mut inputs: Vec<(Vec<u32>, Vec<Vec<u32>>)> = Vec::new();
        let mut terms: Vec<Vec<crate::glossary::Entry>> = Vec::new();
        for &i in &nonempty {
            for (piece, ids) in self.encode_fitting(&texts[i], lang)? {
                let (entries, phrases) = self.constraints(&piece, opts)?;
                owner.push(i);
                inputs.push((ids, phrases));
                terms.push(entries);
            }
        }
        let lens: Vec<usize> = inputs.iter().map(|(ids, _)| ids.len()).collect();
        let hyps = self.run_constrained(inputs, cfg).await?;
        // Per text, the outputs of its pieces, in order.
        let mut pieces: Vec<Vec<Generated>> = vec![Vec::new(); texts.len()];
        for (((&i, h), len), entries) in owner.iter().zip(hyps).zip(lens).zip(terms) {
            let tok = &self.loaded.tokenizer;
            let text = tok.decode(&h.tokens, true)?;
            pieces[i].push(Generated {
                source: String::new(),
                terms: entries
                    .into_iter()
                    .map(|e| TermUse {
                        applied: e.honoured_in(&text),
                        source: e.source,
                        target: e.target,
                    })
                    .collect(),
                text,
                token_ids: h.tokens,
                score: h.score,
                input_tokens: len,
                finish_reason: if h.hit_length {
                    FinishReason::Length
                } else {
                    FinishReason::Eos
                },
                truncated: h.truncated,
                alternatives: h
                    .alternatives
                    .iter()
                    .map(|a| tok.decode(&a.tokens, true))
                    .collect::<Result<_, _>>()?,
            });
        }
        let out = texts
            .iter()
            .zip(pieces)
            .map(|(t, parts)| match parts.len() {
                0 => Generated::empty(t),
                _ => Generated::join(t, &parts, |texts| texts.join(" ")),
            })
            .collect();
        Ok(out)
    }
}

/// A piece of a text that fits the model, and its ids.
type Piece = (String, Vec<u32>);

/// A small single-threaded async runtime for driving a [`Service`] from synchronous code (the
/// CLI, the bench): model compute runs on the model threads, not on it.
pub fn local_runtime() -> Result<tokio::runtime::Runtime, Error> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Error::Io {
            context: "cannot start the runtime".into(),
            source: e,
        })
}

/// The models of this process and the operations on them.
#[derive(Clone)]
pub struct Service {
    /// Every translator with the languages it reads; the first takes text of unknown language.
    pub routes: Vec<routing::Route>,
    pub summarizer: Option<ModelHandle>,
    pub prompts: Prompts,
}

impl Service {
    /// Loads the configured models and starts their threads.
    pub fn start(cfg: &ServiceConfig) -> Result<Service, Error> {
        let start = |spec: &str| ModelHandle::start(load(spec, &cfg.load)?, cfg.policy);
        let mut routes = Vec::new();
        for entry in cfg.translator.iter().flat_map(|t| t.split(',')) {
            let (langs, spec) = routing::parse_translator_entry(entry);
            if spec.is_empty() {
                continue;
            }
            let handle = start(spec)?;
            let langs = langs
                .or_else(|| handle.loaded.files.manifest.as_ref().map(|m| m.serves()))
                .filter(|l| !l.is_empty())
                .unwrap_or_else(|| vec![routing::DEFAULT_SOURCE_LANG.to_string()]);
            routes.push(routing::Route { langs, handle });
        }
        Ok(Service {
            routes,
            summarizer: cfg.summarizer.as_deref().map(start).transpose()?,
            prompts: Prompts::builtin()?,
        })
    }

    /// Every loaded model.
    pub fn workers(&self) -> impl Iterator<Item = &ModelHandle> {
        self.routes
            .iter()
            .map(|r| &r.handle)
            .chain(self.summarizer.as_ref())
    }

    /// The names of loaded models whose thread has stopped.
    pub fn down_models(&self) -> Vec<String> {
        self.workers()
            .filter(|w| !w.is_alive())
            .map(|w| w.loaded.name.clone())
            .collect()
    }

    /// The first translator, if any.
    pub fn first_translator(&self) -> Option<&ModelHandle> {
        self.routes.first().map(|r| &r.handle)
    }

    pub fn translator(&self) -> Result<&ModelHandle, Error> {
        self.first_translator()
            .ok_or_else(|| Error::invalid("no_translator", "no translation model is loaded"))
    }

    pub fn summarizer(&self) -> Result<&ModelHandle, Error> {
        self.summarizer
            .as_ref()
            .ok_or_else(|| Error::invalid("no_summarizer", "no summarization model is loaded"))
    }

    /// Translates each text as one sequence (what `copydesk translate` does).
    pub async fn translate_whole(
        &self,
        texts: &[String],
        opts: &DecodeOptions,
    ) -> Result<Vec<Generated>, Error> {
        self.translator()?.generate(texts, opts).await
    }

    /// Translates texts of any length: each is split into paragraphs, lines and sentences, every
    /// sentence of every text is translated in shared batches, and each text is put back together
    /// with its line structure.
    pub async fn translate_texts(
        &self,
        texts: &[String],
        opts: &DecodeOptions,
    ) -> Result<Vec<Generated>, Error> {
        self.translator()?.translate_texts(texts, opts).await
    }
}

impl ModelHandle {
    /// [`Service::translate_texts`] with this model.
    pub async fn translate_texts(
        &self,
        texts: &[String],
        opts: &DecodeOptions,
    ) -> Result<Vec<Generated>, Error> {
        self.translate_texts_in(texts, None, opts).await
    }

    /// [`Self::translate_texts`] for texts in source language `lang` (see
    /// [`Self::generate_in`]).
    pub async fn translate_texts_in(
        &self,
        texts: &[String],
        lang: Option<&str>,
        opts: &DecodeOptions,
    ) -> Result<Vec<Generated>, Error> {
        let structures: Vec<_> = texts.iter().map(|t| split_text(t)).collect();
        let sentences: Vec<String> = structures
            .iter()
            .flat_map(|p| text_sentences(p).map(str::to_string))
            .collect();
        let translated = self.generate_in(&sentences, lang, opts).await?;
        let mut at = 0;
        Ok(structures
            .iter()
            .zip(texts)
            .map(|(paras, source)| {
                let n = crate::text::text_sentence_count(paras);
                let part = &translated[at..at + n];
                at += n;
                Generated::join(source, part, |texts| join_text(paras, texts))
            })
            .collect())
    }
}
