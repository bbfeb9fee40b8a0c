//! `copydesk translate`.

use std::io::Write;

use clap::Args;
use serde::Serialize;

use super::{texts_or_stdin, DecodeArgs, DeviceArgs};
use crate::registry::DEFAULT_TRANSLATOR;
use crate::service::{generate_texts, load};
use crate::Error;

/// Translate texts; all of them go through the model together in padded batches.
///
/// With no TEXT, standard input is read, one text per line. A text longer than the model's
/// maximum input (512 tokens for opus-mt) is rejected with a message, never truncated.
#[derive(Debug, Args)]
pub struct TranslateArgs {
    /// Translation model: manifest name, hub id (org/name[@revision]) or local directory.
    #[arg(long, env = "COPYDESK_TRANSLATOR", default_value = DEFAULT_TRANSLATOR)]
    pub model: String,
    #[command(flatten)]
    pub device: DeviceArgs,
    #[command(flatten)]
    pub decode: DecodeArgs,
    /// One JSON object per line: {"source", "translation", "token_ids", "score"}.
    #[arg(long)]
    pub json: bool,
    /// Texts to translate.
    pub texts: Vec<String>,
}

#[derive(Serialize)]
struct JsonLine<'a> {
    source: &'a str,
    translation: &'a str,
    token_ids: &'a [u32],
    score: f32,
}

pub fn run(args: TranslateArgs) -> Result<(), Error> {
    let opts = args.device.load_options()?;
    let decode = args.decode.options();
    let texts = texts_or_stdin(args.texts)?;
    let model = load(&args.model, &opts)?;
    let out = generate_texts(&model, &texts, &decode, &args.decode.budget())?;
    let mut stdout = std::io::stdout().lock();
    let io = |e| Error::Io {
        context: "cannot write to standard output".into(),
        source: e,
    };
    for g in &out {
        if args.json {
            let line = JsonLine {
                source: &g.source,
                translation: &g.text,
                token_ids: &g.token_ids,
                score: g.score,
            };
            let json = serde_json::to_string(&line)
                .map_err(|e| Error::invalid("internal", e.to_string()))?;
            writeln!(stdout, "{json}").map_err(io)?;
        } else {
            writeln!(stdout, "{}", g.text).map_err(io)?;
        }
    }
    Ok(())
}
