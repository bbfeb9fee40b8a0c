//! IPTC ninjs ("News in JSON") items in and out.
//!
//! * In: [`read_item`] reads the headline, the body (plain text or HTML), the dateline at the
//!   start of the body, `located`, `language` and `slugline` of an item of any major version —
//!   1.x (`headline`, `body_text`, `body_html`), 2.x (`headlines[]`, `bodies[]`,
//!   `descriptions[]`) and 3.x (the same lists, camelCase names). The version is the one the
//!   item declares in `$standard` / `standard`, else the one its field names say.
//! * Out: [`english_item`] writes the English item in the version the source was read in (3.1
//!   for plain-text input): `language: "en"`, the translated headline and body with its
//!   paragraph structure (plain text, and HTML when the source had markup), the summary as a
//!   description with role `summary`, the source linked as an association, `versioncreated`,
//!   and the models in `ednote`. Byline, copyright, embargo, urgency and subject fields are
//!   carried over unchanged.
//!
//! Inline markup of HTML bodies (bold, links) is not kept: the English body is rebuilt from
//! the translated sentences.

mod html;
mod read;
mod write;

use std::time::SystemTime;

pub use read::{as_ninjs, parse_item, read_item, Body, NinjsItem, INVALID_NINJS};
pub use write::{english_item, rfc3339};

use super::{ArticleOptions, ArticleOutput, Service};
use crate::Error;

/// Media type of ninjs items (`Content-Type` / `Accept`).
pub const NINJS_MEDIA_TYPE: &str = "application/ninjs+json";

/// A ninjs version: its major number and its label (`2.1`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NinjsVersion {
    pub major: u8,
    pub label: String,
}

impl NinjsVersion {
    /// `1.6`, `2.1`, `3.1`, `3`: majors 1 to 3.
    pub fn parse(label: &str) -> Option<Self> {
        let label = label.trim();
        let major: u8 = label.split('.').next()?.parse().ok()?;
        let minor_ok = label
            .split('.')
            .skip(1)
            .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()));
        ((1..=3).contains(&major) && minor_ok).then(|| Self {
            major,
            label: label.to_string(),
        })
    }

    /// The newest published version of a major: 1.6, 2.2, 3.1.
    pub fn latest(major: u8) -> Self {
        let label = match major {
            1 => "1.6",
            2 => "2.2",
            _ => "3.1",
        };
        Self {
            major: major.clamp(1, 3),
            label: label.into(),
        }
    }

    /// The URI of the official schema of this version.
    pub fn schema_uri(&self) -> String {
        format!(
            "http://www.iptc.org/std/ninjs/ninjs-schema_{}.json#",
            self.label
        )
    }

    /// How the version spells "content type" inside `headlines[]`, `bodies[]`, ….
    fn content_type_key(&self) -> &'static str {
        if self.major >= 3 {
            "contentType"
        } else {
            "contenttype"
        }
    }
}

/// What an article comes in as.
#[derive(Debug, Clone, PartialEq)]
pub enum ArticleInput {
    /// Wire copy (or any text), segmented by [`crate::text::segment`].
    Text(String),
    /// A ninjs item.
    Item(Box<NinjsItem>),
}

impl ArticleInput {
    /// A ninjs item when `text` looks like one (a JSON object with a `uri`), else wire copy.
    pub fn detect(text: String) -> Result<Self, Error> {
        match as_ninjs(&text) {
            Some(value) => Ok(ArticleInput::Item(Box::new(read_item(&value)?))),
            None => Ok(ArticleInput::Text(text)),
        }
    }
}

impl Service {
    /// Translates (and by default summarizes) wire copy or a ninjs item. An item whose
    /// `language` is not the one the translator reads is refused (never sent through the wrong
    /// model).
    pub async fn article_input(
        &self,
        input: &ArticleInput,
        opts: &ArticleOptions,
    ) -> Result<ArticleOutput, Error> {
        match input {
            ArticleInput::Text(text) => self.article(text, opts).await,
            ArticleInput::Item(item) => {
                self.check_item_language(item)?;
                self.article_document(&item.document(), opts).await
            }
        }
    }

    fn check_item_language(&self, item: &NinjsItem) -> Result<(), Error> {
        self.translator()?;
        let reads = self.source_langs();
        if !reads_language(item, &reads) {
            return Err(Error::invalid(
                "unsupported_language",
                format!(
                    "the item is in {:?}; the loaded translators read {}",
                    item.language.as_deref().unwrap_or_default(),
                    reads.join(", ")
                ),
            ));
        }
        Ok(())
    }
}

/// Whether translators that read `reads` (`mul`: anything) take the item: an item that names
/// no language is taken; `nl-BE` is Dutch.
fn reads_language(item: &NinjsItem, reads: &[String]) -> bool {
    item.primary_language()
        .is_none_or(|lang| super::routing::names_language(reads, &lang, true))
}

/// The English ninjs item for an article, created now.
pub fn english_item_now(input: &ArticleInput, out: &ArticleOutput) -> serde_json::Value {
    english_item(input, out, SystemTime::now())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn item(v: serde_json::Value) -> NinjsItem {
        read_item(&v).unwrap()
    }

    #[test]
    fn versions_declared_or_inferred_from_field_names() {
        let version = |v| item(v).version.label;
        assert_eq!(version(json!({"uri": "u:1", "headline": "x"})), "1.6");
        assert_eq!(version(json!({"uri": "u:1", "body_text": "x"})), "1.6");
        let lower = json!({"uri": "u:1", "bodies": [{"contenttype": "text/plain", "value": "x"}]});
        assert_eq!(version(lower), "2.2");
        let camel = json!({"uri": "u:1", "bodies": [{"contentType": "text/plain", "value": "x"}]});
        assert_eq!(version(camel), "3.1");
        assert_eq!(
            version(json!({"uri": "u:1", "headlines": [{"value": "x"}]})),
            "3.1"
        );
        let declared = json!({"uri": "u:1", "standard": {"version": "2.0"}, "headline": "x"});
        assert_eq!(version(declared), "2.0");
        assert!(NinjsVersion::parse("3.").is_none() && NinjsVersion::parse("0.9").is_none());
    }

    #[test]
    fn items_in_another_language_are_refused() {
        let lang = |l: &str| item(json!({"uri": "u:1", "language": l, "headline": "x"}));
        let nl = ["nl".to_string()];
        assert!(reads_language(&lang("nl-BE"), &nl));
        assert!(reads_language(&lang("NL"), &nl));
        assert!(!reads_language(&lang("fr"), &nl));
        assert!(!reads_language(&lang("en-GB"), &nl));
        assert!(reads_language(&lang("fr"), &["nl".into(), "fr".into()]));
        assert!(reads_language(&lang("fr"), &["mul".to_string()]));
        assert!(reads_language(&item(json!({"uri": "u:1"})), &nl));
    }

    #[test]
    fn plain_text_keeps_headline_dateline_and_paragraphs() {
        let it = item(json!({"uri": "u:1", "headline": "Kop",
            "body_html": "<p>DEN HAAG (ANP) - Een. Twee.</p><h2>Tussenkop</h2><p>Drie.</p>"}));
        assert_eq!(
            it.plain_text(),
            "Kop\nDEN HAAG (ANP) - Een. Twee.\nTussenkop\nDrie."
        );
    }
}
