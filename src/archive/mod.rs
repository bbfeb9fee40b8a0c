//! The plumbing of `copydesk batch`, without models or HTTP: which records the inputs hold
//! ([`inputs`]: `.txt` files, `.jsonl` files, directories walked in a stable order, standard
//! input), and the output log that makes a run resumable ([`output`]: whole-line appends, a
//! torn last line cut off, ids already done skipped).
//!
//! Every record gets an id that is the same on every run over the same inputs, so a killed run
//! can be resumed and each id ends up exactly once in the output:
//! - a `.txt` file: its path relative to the directory given (or the path as given for a file
//!   argument), with `/` separators;
//! - a JSONL line: the string or number in its id field, else `<file>:<line>` (`stdin:<line>`
//!   for standard input);
//! - a repeated id: `<id>#2`, `<id>#3`, ... in input order, reported as a `duplicate_id` error.

pub mod inputs;
pub mod merge;
pub mod output;
pub mod runner;
pub mod shard;

#[cfg(test)]
mod tests;

use crate::service::ninjs::NinjsItem;

pub use inputs::{plan_inputs, InputFile, ReadOptions, RecordReader};
pub use output::{
    markdown_name, write_markdown, LineError, LineTimings, OpenMode, OutputLine, OutputLog,
    ResumeState,
};

/// Why a record could not be processed; `code` is stable (it is what scripts match on).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordError {
    pub code: &'static str,
    pub message: String,
}

impl RecordError {
    pub fn new(code: &'static str, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
        }
    }
}

/// Stable codes for records that never reach a model.
pub mod codes {
    /// A JSONL line that is not a JSON object (or not UTF-8).
    pub const INVALID_JSON: &str = "invalid_json";
    /// The id field holds something other than a non-empty string or a number.
    pub const INVALID_ID: &str = "invalid_id";
    /// The text field is missing or not a string.
    pub const MISSING_TEXT: &str = "missing_text";
    /// The text is longer than `--max-chars`.
    pub const TOO_LONG: &str = "input_too_long";
    /// A file or directory that cannot be read, or a file that is not UTF-8.
    pub const UNREADABLE: &str = "unreadable";
    /// An id already used by an earlier record.
    pub const DUPLICATE_ID: &str = "duplicate_id";
    /// A ninjs record that is not a readable ninjs item.
    pub const INVALID_NINJS: &str = crate::service::ninjs::INVALID_NINJS;
}

/// One input record: its id, where it came from, and its text or why there is none.
#[derive(Debug, Clone, PartialEq)]
pub struct Record {
    pub id: String,
    /// `dir/file.txt`, `file.jsonl:12` or `stdin:3`.
    pub source: String,
    pub text: Result<String, RecordError>,
    /// The ninjs item the record was read from (`--input-format ninjs`); `text` is then its
    /// headline and body as plain text.
    pub item: Option<Box<NinjsItem>>,
}
