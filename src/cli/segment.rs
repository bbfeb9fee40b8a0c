//! `copydesk segment`.

use std::path::PathBuf;

use clap::Args;

use super::{json_line, print_lines, read_input};
use crate::text::{segment, BlockKind};
use crate::Error;

/// Show the structure copydesk sees in wire copy (no model needed).
#[derive(Debug, Args)]
pub struct SegmentArgs {
    /// Article file; `-` or nothing reads standard input.
    pub file: Option<PathBuf>,
    /// Print the structure as JSON.
    #[arg(long)]
    pub json: bool,
}

pub fn run(args: SegmentArgs) -> Result<(), Error> {
    let doc = segment(&read_input(args.file.as_deref())?);
    if args.json {
        return print_lines([json_line(&doc)?]);
    }
    let mut lines = Vec::new();
    if let Some(h) = &doc.headline {
        lines.push(format!("headline: {h}"));
    }
    if let Some(d) = &doc.dateline {
        lines.push(format!("dateline: {} ({})", d.place, d.agency));
    }
    for (i, b) in doc.blocks.iter().enumerate() {
        let kind = if b.kind == BlockKind::Subheading {
            "subheading"
        } else {
            "paragraph"
        };
        lines.push(format!("[{}] {kind}", i + 1));
        lines.extend(b.sentences.iter().map(|s| format!("    {s}")));
    }
    if let Some(t) = &doc.related_title {
        lines.push(format!("related: {t}"));
    }
    for r in &doc.related {
        let d = r
            .dateline
            .as_ref()
            .map(|d| format!("{} ({}) - ", d.place, d.agency))
            .unwrap_or_default();
        let age = r
            .age
            .as_ref()
            .map(|a| format!("  [{a}]"))
            .unwrap_or_default();
        lines.push(format!("  - {d}{}{age}", r.sentences.join(" ")));
    }
    print_lines(lines)
}
