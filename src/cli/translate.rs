//! `copydesk translate`.

use clap::Args;

use super::{
    print_generated, texts_or_stdin, with_service, BatchingArgs, DecodeArgs, DeviceArgs,
    GlossaryArgs, Output,
};
use crate::registry::DEFAULT_TRANSLATOR;
use crate::service::ServiceConfig;
use crate::Error;

/// Translate texts; all of them go through the model together in padded batches.
///
/// With no TEXT, standard input is read, one text per line. Each text is translated as one
/// sequence; a text longer than the model's maximum input (512 tokens for opus-mt) is rejected
/// with a message, never truncated (`copydesk article` segments long texts into sentences).
#[derive(Debug, Args)]
pub struct TranslateArgs {
    /// Translation model: manifest name, hub id (org/name[@revision]) or local directory.
    #[arg(long, env = "COPYDESK_TRANSLATOR", default_value = DEFAULT_TRANSLATOR)]
    pub model: String,
    #[command(flatten)]
    pub device: DeviceArgs,
    #[command(flatten)]
    pub decode: DecodeArgs,
    #[command(flatten)]
    pub batching: BatchingArgs,
    #[command(flatten)]
    pub glossary: GlossaryArgs,
    /// One JSON object per line: {"source", "translation", "token_ids", "score", "finish_reason",
    /// "truncated"}.
    #[arg(long)]
    pub json: bool,
    /// Texts to translate.
    pub texts: Vec<String>,
}

pub fn run(args: TranslateArgs) -> Result<(), Error> {
    let cfg = ServiceConfig {
        translator: Some(args.model.clone()),
        summarizer: None,
        load: args.device.load_options()?,
        policy: args.batching.policy(),
    };
    let decode = args.glossary.decode(&args.decode)?;
    let texts = texts_or_stdin(args.texts)?;
    let out = with_service(cfg, async |s| s.translate_whole(&texts, &decode).await)?;
    print_generated(&out, args.json, Output::Translation)
}
