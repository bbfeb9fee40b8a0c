//! copydesk: Dutch wire copy to English on local seq2seq models.
//!
//! Layers, from the front end down (each depends only on the ones below it):
//! `http | cli → service → {batch, text, prompts, tokenize, registry} → engine → generate → models`.

pub mod engine;
pub mod generate;
pub mod models;
