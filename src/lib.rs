//! copydesk: Dutch wire copy to English on local seq2seq models.
//!
//! Layers, from the front end down (each depends only on the ones below it):
//! `http | cli → service → {batch, text, prompts, tokenize, registry} → engine → generate → models`.

pub mod batch;
pub mod batchjob;
pub mod bench;
pub mod cli;
pub mod engine;
mod error;
pub mod generate;
pub mod http;
pub mod models;
pub mod prompts;
pub mod registry;
pub mod service;
pub mod text;
pub mod tokenize;

pub use error::Error;
