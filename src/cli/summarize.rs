//! `copydesk summarize`.

use clap::Args;

use super::{
    print_generated, texts_or_stdin, with_service, BatchingArgs, DecodeArgs, DeviceArgs, Output,
};
use crate::registry::DEFAULT_SUMMARIZER;
use crate::service::ServiceConfig;
use crate::Error;

/// Summarize texts with a T5-family model.
///
/// The text is wrapped in a prompt template (`--prompt`: raw, summarize, brief, bullets,
/// headline; default: the model's own). Texts longer than the model's 512-token window are
/// summarized by map-reduce: chunks cut at sentence boundaries are summarized, then the joined
/// chunk summaries are summarized again. With no TEXT, standard input is read, one text per line.
#[derive(Debug, Args)]
pub struct SummarizeArgs {
    /// Summarization model: manifest name, hub id (org/name[@revision]) or local directory.
    #[arg(long, env = "COPYDESK_SUMMARIZER", default_value = DEFAULT_SUMMARIZER)]
    pub model: String,
    /// Prompt template name.
    #[arg(long, env = "COPYDESK_PROMPT")]
    pub prompt: Option<String>,
    #[command(flatten)]
    pub device: DeviceArgs,
    #[command(flatten)]
    pub decode: DecodeArgs,
    #[command(flatten)]
    pub batching: BatchingArgs,
    /// One JSON object per line: {"source", "summary", "token_ids", "score", "finish_reason",
    /// "truncated"}.
    #[arg(long)]
    pub json: bool,
    /// Texts to summarize.
    pub texts: Vec<String>,
}

pub fn run(args: SummarizeArgs) -> Result<(), Error> {
    let cfg = ServiceConfig {
        translator: None,
        summarizer: Some(args.model.clone()),
        load: args.device.load_options()?,
        policy: args.batching.policy(),
    };
    let decode = args.decode.options();
    let texts = texts_or_stdin(args.texts)?;
    let prompt = args.prompt.clone();
    let out = with_service(cfg, async |s| {
        s.summarize(&texts, prompt.as_deref(), &decode).await
    })?;
    print_generated(&out, args.json, Output::Summary)
}
