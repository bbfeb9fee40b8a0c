//! `copydesk article`.

use std::path::PathBuf;

use clap::{Args, ValueEnum};

use super::{
    json_line, print_lines, read_input, with_service, ArticleModelArgs, BatchingArgs, DecodeArgs,
    DeviceArgs, GlossaryArgs,
};
use crate::service::ninjs::{english_item_now, parse_item, ArticleInput};
use crate::service::{ArticleOptions, ServiceConfig};
use crate::Error;

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum Format {
    Text,
    Markdown,
    /// An IPTC ninjs item in English, in the version the input was read in (3.1 for text).
    Ninjs,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum InputFormat {
    /// A ninjs item when the input is a JSON object with a `uri`, else wire copy.
    Auto,
    /// Wire copy or plain text.
    Text,
    /// An IPTC ninjs item (1.x, 2.x or 3.x).
    Ninjs,
}

/// Translate a wire-copy article and summarize it.
///
/// The article is segmented (headline, dateline, paragraphs, subheadings, related items); every
/// sentence is translated in as few padded batches as the token budget allows; the structure is
/// rebuilt with datelines in English; then the English body is summarized. Articles longer than
/// the summarizer's 512-token window are summarized by map-reduce (chunks at sentence boundaries,
/// then a summary of the chunk summaries). A summarizer that reads Dutch (t5-dutch-cnn)
/// summarizes the source and its summary is translated.
///
/// The input may also be an IPTC ninjs item (`--input-format`): its headline, body (text or
/// HTML), dateline, `located` and `language` are read, and `--format ninjs` writes the English
/// item in the same ninjs version.
#[derive(Debug, Args)]
pub struct ArticleArgs {
    /// Article file; `-` or nothing reads standard input.
    pub file: Option<PathBuf>,
    #[command(flatten)]
    pub models: ArticleModelArgs,
    /// JSON: the segment structure with source and translation per sentence, the summary,
    /// the models and timings.
    #[arg(long, conflicts_with = "format")]
    pub json: bool,
    /// Output: for editors (text, markdown) or for news systems (ninjs).
    #[arg(long, value_enum, default_value = "text")]
    pub format: Format,
    /// What the input is.
    #[arg(long, value_enum, default_value = "auto")]
    pub input_format: InputFormat,
    #[command(flatten)]
    pub device: DeviceArgs,
    #[command(flatten)]
    pub decode: DecodeArgs,
    #[command(flatten)]
    pub glossary: GlossaryArgs,
    #[command(flatten)]
    pub batching: BatchingArgs,
}

pub fn run(args: ArticleArgs) -> Result<(), Error> {
    let text = read_input(args.file.as_deref())?;
    let input = match args.input_format {
        InputFormat::Auto => ArticleInput::detect(text)?,
        InputFormat::Text => ArticleInput::Text(text),
        InputFormat::Ninjs => ArticleInput::Item(Box::new(parse_item(&text)?)),
    };
    let summarize = !args.models.no_summary;
    let cfg = ServiceConfig {
        translator: Some(args.models.translator.clone()),
        summarizer: summarize.then(|| args.models.summarizer.clone()),
        load: args.device.load_options()?,
        policy: args.batching.policy(),
    };
    let opts = ArticleOptions {
        summarize,
        prompt: args.models.prompt.clone(),
        decode: args.glossary.decode(&args.decode)?,
        summarize_from: args.models.summarize_from.clone(),
        source_lang: args.models.source_lang.clone(),
    };
    let out = with_service(cfg, async |s| s.article_input(&input, &opts).await)?;
    let rendered = match args.format {
        _ if args.json => json_line(&out)?,
        Format::Ninjs => json_line(&english_item_now(&input, &out))?,
        Format::Text | Format::Markdown => out.render(matches!(args.format, Format::Markdown)),
    };
    print_lines([rendered.trim_end().to_string()])
}
