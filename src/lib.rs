//! copydesk: Dutch wire copy to English on local seq2seq models.
//!
//! Layers, from the front end down (each depends only on the ones below it):
//! `http | cli → {service, archive, bench} → {batching, text, glossary, prompts, tokenize, registry} →
//! engine → generate → models`.
//!
//! `batching` is cross-request batching (queue policy and scheduler); `archive` is the
//! `copydesk batch` job over files and JSONL (inputs, the resumable output log, the runner);
//! a loaded model with its queue is a `service::ModelHandle`, and `engine` owns the model thread.

pub(crate) mod archive;
pub mod batching;
pub mod bench;
pub mod cli;
pub mod engine;
mod error;
pub mod generate;
pub mod glossary;
pub mod http;
pub mod models;
pub mod prompts;
pub mod registry;
pub mod service;
pub mod text;
pub(crate) mod tokenize;

pub use error::Error;
