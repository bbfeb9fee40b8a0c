//! Reading a ninjs item: its version, headline, body, place, language and slugline.

use serde_json::{Map, Value};

use super::html::html_blocks;
use super::NinjsVersion;
use crate::text::{parse_dateline, segment_body, split_sentences, Block, BlockKind, Document};
use crate::Error;

/// Error code of items that cannot be read.
pub const INVALID_NINJS: &str = "invalid_ninjs";

/// The body chosen from an item.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Body {
    pub value: String,
    /// The media type when the body is markup (`text/html`, `application/xhtml+xml`).
    pub markup: Option<String>,
}

/// What copydesk reads from a ninjs item, and the fields it carries over to the English one.
#[derive(Debug, Clone, PartialEq)]
pub struct NinjsItem {
    pub version: NinjsVersion,
    pub uri: String,
    pub headline: Option<String>,
    pub body: Option<Body>,
    pub located: Option<String>,
    pub slugline: Option<String>,
    /// As written (BCP 47, `nl`, `nl-BE`).
    pub language: Option<String>,
    /// Fields copied unchanged to the English item (byline, copyright, embargo, subjects …).
    pub carried: Map<String, Value>,
}

/// Fields a translation keeps from its source, as 1.x, 2.x and 3.x spell them.
const CARRIED: &[[&str; 3]] = &[
    ["byline", "by", "by"],
    ["copyrightholder", "copyrightholder", "copyrightHolder"],
    ["copyrightnotice", "copyrightnotice", "copyrightNotice"],
    ["usageterms", "usageterms", "usageTerms"],
    ["urgency", "urgency", "urgency"],
    ["pubstatus", "pubstatus", "pubStatus"],
    ["embargoed", "embargoed", "embargoedUntil"],
    ["profile", "profile", "profile"],
    ["subject", "subjects", "subjects"],
    ["genre", "genres", "genres"],
    ["person", "people", "people"],
    ["organisation", "organisations", "organisations"],
    ["place", "places", "places"],
    ["event", "events", "events"],
];

fn carried_keys(major: u8) -> impl Iterator<Item = &'static str> {
    let column = usize::from(major.clamp(1, 3) - 1);
    CARRIED.iter().map(move |names| names[column])
}

/// Keys only 3.x spells in camelCase.
const CAMEL: &[&str] = &[
    "versionCreated",
    "firstCreated",
    "contentCreated",
    "edNote",
    "altIds",
    "infoSources",
    "pubStatus",
    "copyrightHolder",
    "copyrightNotice",
    "usageTerms",
    "embargoedUntil",
    "representationType",
    "trustIndicators",
    "rightsInfo",
];

fn invalid(msg: impl Into<String>) -> Error {
    Error::invalid(INVALID_NINJS, msg)
}

/// Parses a ninjs item from JSON text.
pub fn parse_item(json: &str) -> Result<NinjsItem, Error> {
    let value: Value = serde_json::from_str(json.trim_start_matches('\u{feff}'))
        .map_err(|e| invalid(format!("the ninjs item is not valid JSON: {e}")))?;
    read_item(&value)
}

/// `text` parsed, when it is a JSON object with a `uri`: what `--input-format auto` takes for
/// ninjs.
pub fn as_ninjs(text: &str) -> Option<Value> {
    let t = text.trim_start_matches('\u{feff}').trim_start();
    if !t.starts_with('{') {
        return None;
    }
    serde_json::from_str::<Value>(t)
        .ok()
        .filter(|v| v.get("uri").is_some_and(Value::is_string))
}

/// Reads a ninjs item of any major version (1.x, 2.x, 3.x).
pub fn read_item(value: &Value) -> Result<NinjsItem, Error> {
    let Value::Object(map) = value else {
        return Err(invalid("a ninjs item must be a JSON object"));
    };
    let version = version(map)?;
    let uri = string(map, "uri")?
        .filter(|u| !u.trim().is_empty())
        .ok_or_else(|| invalid("the ninjs item has no uri (the one field ninjs requires)"))?;
    // Every field read is checked whichever version names it, so that what is accepted does not
    // depend on the version.
    let v1 = (string(map, "headline")?, body_v1(map)?);
    let v2 = (
        pick(map, "headlines", &version, false)?.map(|b| b.value),
        pick(map, "bodies", &version, true)?,
    );
    let (headline, body) = if version.major == 1 { v1 } else { v2 };
    let carried = carried_keys(version.major)
        .filter_map(|k| map.get(k).map(|v| (k.to_string(), v.clone())))
        .collect();
    Ok(NinjsItem {
        headline: headline.filter(|h| !h.trim().is_empty()),
        body,
        located: string(map, "located")?,
        slugline: string(map, "slugline")?,
        language: string(map, "language")?,
        uri,
        version,
        carried,
    })
}

/// The version the item declares (`$standard` / `standard`), else the one its field names say.
fn version(map: &Map<String, Value>) -> Result<NinjsVersion, Error> {
    let mut declared = None;
    for key in ["$standard", "standard"] {
        let Some(standard) = map.get(key) else {
            continue;
        };
        let Value::Object(standard) = standard else {
            return Err(invalid(format!("ninjs field {key:?} must be an object")));
        };
        declared = declared.or(string(standard, "version")?);
    }
    if let Some(v) = declared {
        return NinjsVersion::parse(&v).ok_or_else(|| {
            invalid(format!(
                "ninjs version {v:?} is not supported (1.x, 2.x and 3.x are)"
            ))
        });
    }
    let arrays = ["headlines", "bodies", "descriptions"];
    let camel = CAMEL.iter().any(|k| map.contains_key(*k))
        || arrays.iter().any(|a| has_item_key(map, a, "contentType"));
    let major = if camel {
        3
    } else if arrays.iter().any(|a| map.contains_key(*a)) {
        if arrays.iter().any(|a| has_item_key(map, a, "contenttype"))
            || map.contains_key("versioncreated")
            || map.contains_key("ednote")
        {
            2
        } else {
            3
        }
    } else if map.contains_key("headline")
        || map
            .keys()
            .any(|k| k.starts_with("body_") || k.starts_with("description_"))
    {
        1
    } else {
        3
    };
    Ok(NinjsVersion::latest(major))
}

fn has_item_key(map: &Map<String, Value>, array: &str, key: &str) -> bool {
    map.get(array)
        .and_then(Value::as_array)
        .is_some_and(|a| a.iter().any(|o| o.get(key).is_some()))
}

fn string(map: &Map<String, Value>, key: &str) -> Result<Option<String>, Error> {
    match map.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(other) => Err(invalid(format!(
            "ninjs field {key:?} must be a string, not {other}"
        ))),
    }
}

fn is_markup(content_type: &str) -> bool {
    let ct = content_type.to_ascii_lowercase();
    ct.contains("html") || ct.contains("xml")
}

/// 1.x: `body_html` (or another `body_*` holding markup) before `body_text`.
fn body_v1(map: &Map<String, Value>) -> Result<Option<Body>, Error> {
    let mut bodies: Vec<(&String, &Value)> =
        map.iter().filter(|(k, _)| k.starts_with("body_")).collect();
    if let Some((key, _)) = bodies.iter().find(|(_, v)| !v.is_string()) {
        return Err(invalid(format!("ninjs field {key:?} must be a string")));
    }
    bodies.sort_by_key(|(k, _)| (!is_markup(k), k.as_str() != "body_text"));
    let Some((key, value)) = bodies.first() else {
        return Ok(None);
    };
    let value = value.as_str().unwrap_or_default();
    Ok(Some(Body {
        value: value.to_string(),
        markup: is_markup(key).then(|| "text/html".to_string()),
    }))
}

/// 2.x/3.x: the `main` (or unlabelled) entry of `headlines` / `bodies`; for bodies, markup
/// (`main` or `richtext`) before plain text.
fn pick(
    map: &Map<String, Value>,
    key: &str,
    version: &NinjsVersion,
    prefer_markup: bool,
) -> Result<Option<Body>, Error> {
    let Some(list) = map.get(key) else {
        return Ok(None);
    };
    let Some(list) = list.as_array() else {
        return Err(invalid(format!("ninjs field {key:?} must be a list")));
    };
    let ct_key = version.content_type_key();
    let mut entries = Vec::new();
    for (i, entry) in list.iter().enumerate() {
        let Some(value) = entry.get("value").and_then(Value::as_str) else {
            return Err(invalid(format!("{key}[{i}] needs a string \"value\"")));
        };
        let role = entry.get("role").and_then(Value::as_str).unwrap_or("main");
        let ct = entry.get(ct_key).and_then(Value::as_str);
        let markup = ct.filter(|c| is_markup(c)).map(str::to_string);
        let rank = (
            !matches!(role, "main" | "richtext"),
            !(prefer_markup && markup.is_some()),
            role != "main",
            i,
        );
        entries.push((
            rank,
            Body {
                value: value.to_string(),
                markup,
            },
        ));
    }
    entries.sort_by_key(|(rank, _)| *rank);
    Ok(entries.into_iter().next().map(|(_, b)| b))
}

impl NinjsItem {
    /// The item as an article: its own headline, and its body's dateline, paragraphs and
    /// subheadings (HTML headings are subheadings; plain text is segmented like wire copy).
    pub fn document(&self) -> Document {
        let mut doc = match &self.body {
            None => Document::default(),
            Some(b) if b.markup.is_some() => html_document(&b.value),
            Some(b) => segment_body(&b.value),
        };
        doc.headline = self
            .headline
            .as_deref()
            .map(|h| h.split_whitespace().collect::<Vec<_>>().join(" "))
            .filter(|h| !h.is_empty());
        doc
    }

    /// Headline and body as plain text, one paragraph per line (what `batch` translates or
    /// summarizes for the text tasks).
    pub fn plain_text(&self) -> String {
        let doc = self.document();
        let mut dateline = doc.dateline.as_ref().map(|d| format!("{} ", d.to_wire()));
        let paragraphs = doc.blocks.iter().map(|b| {
            let text = b.sentences.join(" ");
            match b.kind {
                BlockKind::Paragraph => format!("{}{text}", dateline.take().unwrap_or_default()),
                BlockKind::Subheading => text,
            }
        });
        doc.headline
            .clone()
            .into_iter()
            .chain(paragraphs)
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// The primary language subtag, lower-case (`nl-BE` → `nl`).
    pub fn primary_language(&self) -> Option<String> {
        let lang = self.language.as_deref()?.trim();
        let primary = lang.split(['-', '_']).next()?.to_ascii_lowercase();
        (!primary.is_empty()).then_some(primary)
    }
}

fn html_document(html: &str) -> Document {
    let mut doc = Document::default();
    for (k, block) in html_blocks(html).into_iter().enumerate() {
        if block.heading {
            doc.blocks.push(Block {
                kind: BlockKind::Subheading,
                sentences: vec![block.text],
            });
            continue;
        }
        let mut text = block.text.as_str();
        if k == 0 {
            if let Some((d, off)) = parse_dateline(text) {
                doc.dateline = Some(d);
                text = &text[off..];
            }
        }
        let sentences = split_sentences(text);
        if !sentences.is_empty() {
            doc.blocks.push(Block {
                kind: BlockKind::Paragraph,
                sentences,
            });
        }
    }
    doc
}
