//! `copydesk batch merge`.

use std::path::PathBuf;

use clap::Args;

use super::InputFormat;
use crate::archive::merge::merge;
use crate::archive::{plan_inputs, ReadOptions, RecordReader};
use crate::Error;

/// Checks that the outputs of a sharded run (`batch --shard K/N`, one OUT per shard) hold every
/// record exactly once — with `--input`, exactly the input's records — and writes them as one
/// JSONL file. Nothing is written when the check fails (exit 2, naming the ids); a part with a
/// torn last line (a shard still running, or killed and not yet resumed) is refused.
#[derive(Debug, Args)]
pub struct MergeArgs {
    /// The shards' JSONL outputs.
    #[arg(required = true)]
    pub parts: Vec<PathBuf>,
    /// The merged output file (replaced if it exists).
    #[arg(long, short, value_name = "OUT")]
    pub output: PathBuf,
    /// The run's inputs, as given to `batch`: every record id they hold must be in a part.
    #[arg(long = "input", value_name = "INPUT")]
    pub inputs: Vec<PathBuf>,
    /// As for `batch`: what JSON records are.
    #[arg(long, value_enum, default_value = "text")]
    pub input_format: InputFormat,
    /// As for `batch`: the JSONL field holding the record id.
    #[arg(long, default_value = "id")]
    pub id_field: String,
}

/// The record ids of the inputs, as `batch` names them.
fn input_ids(args: &MergeArgs) -> Result<Vec<String>, Error> {
    let ninjs = args.input_format == InputFormat::Ninjs;
    let files = plan_inputs(&args.inputs, ninjs)?;
    let read = ReadOptions {
        id_field: args.id_field.clone(),
        text_field: "text".into(),
        max_chars: usize::MAX,
        ninjs,
    };
    Ok(RecordReader::new(files, read).map(|r| r.id).collect())
}

pub fn run(args: MergeArgs) -> Result<(), Error> {
    let expected = match args.inputs.is_empty() {
        true => None,
        false => Some(input_ids(&args)?),
    };
    let done = merge(&args.parts, expected.as_deref(), &args.output)?;
    eprintln!(
        "batch merge: {} records from {} parts → {}{}",
        done.records,
        done.parts,
        args.output.display(),
        if expected.is_some() {
            " (every input record exactly once)"
        } else {
            " (no id twice; give --input to check coverage)"
        }
    );
    Ok(())
}
