//! Writing the English ninjs item of a translated article.

use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::{json, Map, Value};

use super::html::escape;
use super::{ArticleInput, NinjsItem, NinjsVersion};
use crate::service::{ArticleOutput, BodyPart, PartKind};
use crate::text::{english_place, fnv1a};

/// Field names that differ between major versions.
struct Names {
    standard: &'static str,
    versioncreated: &'static str,
    ednote: &'static str,
    content_type: &'static str,
}

impl Names {
    fn of(major: u8) -> Self {
        match major {
            1 => Names {
                standard: "$standard",
                versioncreated: "versioncreated",
                ednote: "ednote",
                content_type: "contenttype",
            },
            2 => Names {
                standard: "standard",
                versioncreated: "versioncreated",
                ednote: "ednote",
                content_type: "contenttype",
            },
            _ => Names {
                standard: "standard",
                versioncreated: "versionCreated",
                ednote: "edNote",
                content_type: "contentType",
            },
        }
    }
}

/// The English item: see the module docs of [`crate::service::ninjs`].
pub fn english_item(input: &ArticleInput, out: &ArticleOutput, created: SystemTime) -> Value {
    let (version, source) = match input {
        ArticleInput::Text(_) => (NinjsVersion::latest(3), None),
        ArticleInput::Item(item) => (item.version.clone(), Some(item.as_ref())),
    };
    let names = Names::of(version.major);
    let v1 = version.major == 1;
    let mut m = Map::new();
    let uri = match input {
        ArticleInput::Text(t) => format!("urn:copydesk:{:016x}-en", fnv1a(t)),
        ArticleInput::Item(i) => format!("{}-en", i.uri),
    };
    m.insert("uri".into(), uri.into());
    if let Some(s) = source {
        m.extend(s.carried.clone());
    }
    m.insert("type".into(), "text".into());
    m.insert(
        names.standard.into(),
        json!({"name": "ninjs", "version": version.label, "schema": version.schema_uri()}),
    );
    m.insert(names.versioncreated.into(), rfc3339(created).into());
    m.insert("language".into(), "en".into());
    if let Some(h) = out.headline_en.as_ref().filter(|h| !h.is_empty()) {
        if v1 {
            m.insert("headline".into(), h.clone().into());
        } else {
            m.insert("headlines".into(), json!([{"role": "main", "value": h}]));
        }
    }
    let parts = out.body_parts();
    if !parts.is_empty() {
        let markup = source.and_then(|s| s.body.as_ref()?.markup.clone());
        let html = markup.map(|ct| (ct, body_html(&parts)));
        let plain = parts
            .iter()
            .map(|p| p.text.as_str())
            .collect::<Vec<_>>()
            .join("\n\n");
        if v1 {
            m.insert("body_text".into(), plain.into());
            if let Some((_, html)) = html {
                m.insert("body_html".into(), html.into());
            }
        } else {
            let mut bodies = vec![json!({"role": "main", names.content_type: "text/plain",
                "value": plain})];
            if let Some((ct, html)) = html {
                bodies.push(json!({"role": "richtext", names.content_type: ct, "value": html}));
            }
            m.insert("bodies".into(), bodies.into());
        }
    }
    if let Some(summary) = out.summary.as_ref().filter(|s| !s.is_empty()) {
        if v1 {
            m.insert("description_summary".into(), summary.clone().into());
        } else {
            m.insert(
                "descriptions".into(),
                json!([{"role": "summary", names.content_type: "text/plain", "value": summary}]),
            );
        }
    }
    let located = source
        .and_then(|s| s.located.as_deref())
        .map(english_place)
        .or_else(|| out.dateline.as_ref().map(|d| d.place_en.clone()));
    if let Some(l) = located {
        m.insert("located".into(), l.into());
    }
    if let Some(slug) = source.and_then(|s| s.slugline.clone()) {
        m.insert("slugline".into(), slug.into());
    }
    if let Some(s) = source {
        m.insert("associations".into(), association(s, &version));
    }
    m.insert(names.ednote.into(), ednote(source, out).into());
    Value::Object(m)
}

/// The source item, linked back.
fn association(source: &NinjsItem, version: &NinjsVersion) -> Value {
    let mut link = Map::new();
    link.insert("uri".into(), source.uri.clone().into());
    link.insert("type".into(), "text".into());
    if let Some(lang) = &source.language {
        link.insert("language".into(), lang.clone().into());
    }
    match version.major {
        1 => json!({ "source": link }),
        major => {
            link.insert("name".into(), "source".into());
            if major >= 3 {
                link.insert("rel".into(), "translationOf".into());
            }
            json!([link])
        }
    }
}

fn ednote(source: Option<&NinjsItem>, out: &ArticleOutput) -> String {
    let from = source
        .and_then(|s| s.language.clone())
        .unwrap_or_else(|| "the source language".into());
    let mut note = format!(
        "Machine translation from {from} into English by copydesk (translator {}",
        out.models.translator.name
    );
    if let Some(s) = &out.models.summarizer {
        note.push_str(&format!(", summary by {}", s.name));
    }
    note.push_str("). Check before publishing.");
    let cut = out.headline_truncated as usize
        + out
            .blocks
            .iter()
            .flat_map(|b| &b.sentences)
            .chain(out.related.iter().flat_map(|r| &r.sentences))
            .filter(|s| s.truncated)
            .count();
    if cut > 0 {
        note.push_str(&format!(
            " {cut} sentence(s) were cut short at the model's length limit."
        ));
    }
    note
}

fn body_html(parts: &[BodyPart]) -> String {
    parts
        .iter()
        .map(|p| {
            let text = escape(&p.text);
            match p.kind {
                PartKind::Subheading | PartKind::RelatedTitle => format!("<h2>{text}</h2>"),
                PartKind::Paragraph | PartKind::RelatedItem => format!("<p>{text}</p>"),
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// `2026-12-01T15:40:00Z`: a time as RFC 3339 in UTC, to the second.
pub fn rfc3339(t: SystemTime) -> String {
    let secs = t
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let (days, rem) = ((secs / 86_400) as i64, secs % 86_400);
    // Days since 1970-01-01 to a proleptic Gregorian date (H. Hinnant's civil_from_days).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem / 60 % 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn rfc3339_dates() {
        let at = |s| rfc3339(UNIX_EPOCH + Duration::from_secs(s));
        assert_eq!(at(0), "1970-01-01T00:00:00Z");
        assert_eq!(at(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(at(1_796_139_045), "2026-12-01T15:30:45Z");
        assert_eq!(at(4_107_542_399), "2100-02-28T23:59:59Z");
    }
}
