//! `copydesk article`.

use std::path::PathBuf;

use clap::{Args, ValueEnum};

use super::{json_line, print_lines, read_input, with_service, DecodeArgs, DeviceArgs};
use crate::registry::{DEFAULT_SUMMARIZER, DEFAULT_TRANSLATOR};
use crate::service::{ArticleOptions, ServiceConfig};
use crate::Error;

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum Format {
    Text,
    Markdown,
}

/// Translate a wire-copy article and summarize it.
///
/// The article is segmented (headline, dateline, paragraphs, subheadings, related items); every
/// sentence is translated in as few padded batches as the token budget allows; the structure is
/// rebuilt with datelines in English; then the English body is summarized. Articles longer than
/// the summarizer's 512-token window are summarized by map-reduce (chunks at sentence boundaries,
/// then a summary of the chunk summaries). A summarizer that reads Dutch (t5-dutch-cnn)
/// summarizes the source and its summary is translated.
#[derive(Debug, Args)]
pub struct ArticleArgs {
    /// Article file; `-` or nothing reads standard input.
    pub file: Option<PathBuf>,
    /// Translation model.
    #[arg(long, env = "COPYDESK_TRANSLATOR", default_value = DEFAULT_TRANSLATOR)]
    pub translator: String,
    /// Summarization model.
    #[arg(long, env = "COPYDESK_SUMMARIZER", default_value = DEFAULT_SUMMARIZER)]
    pub summarizer: String,
    /// Prompt template for the summary.
    #[arg(long, env = "COPYDESK_PROMPT")]
    pub prompt: Option<String>,
    /// Translate only.
    #[arg(long)]
    pub no_summary: bool,
    /// Summarize the Dutch source (`nl`; the summary is then translated) or the English
    /// translation (`en`). Default: what the summarizer reads (nl for t5-dutch-cnn, else en).
    #[arg(long, env = "COPYDESK_SUMMARIZE_FROM", value_parser = ["nl", "en"])]
    pub summarize_from: Option<String>,
    /// JSON: the segment structure with source and translation per sentence, the summary,
    /// the models and timings.
    #[arg(long, conflicts_with = "format")]
    pub json: bool,
    /// Output for editors.
    #[arg(long, value_enum, default_value = "text")]
    pub format: Format,
    #[command(flatten)]
    pub device: DeviceArgs,
    #[command(flatten)]
    pub decode: DecodeArgs,
}

pub fn run(args: ArticleArgs) -> Result<(), Error> {
    let text = read_input(args.file.as_deref())?;
    let summarize = !args.no_summary;
    let cfg = ServiceConfig {
        translator: Some(args.translator.clone()),
        summarizer: summarize.then(|| args.summarizer.clone()),
        load: args.device.load_options()?,
        policy: args.decode.policy(),
    };
    let opts = ArticleOptions {
        summarize,
        prompt: args.prompt.clone(),
        decode: args.decode.options(),
        summarize_from: args.summarize_from.clone(),
    };
    let out = with_service(cfg, async |s| s.article(&text, &opts).await)?;
    let rendered = if args.json {
        json_line(&out)?
    } else {
        out.render(matches!(args.format, Format::Markdown))
    };
    print_lines([rendered.trim_end().to_string()])
}
