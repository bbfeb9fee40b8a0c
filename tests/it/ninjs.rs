//! IPTC ninjs in and out on the fixture models: items of ninjs 1.6, 2.1 and 3.1 (written for the
//! project from the Dutch samples) are read, translated and written back as English items that
//! validate against the official schema of the version they were read in (formats checked), and
//! that read back with the same structure. Through the library, `POST /v1/articles` (ninjs
//! body, `Accept: application/ninjs+json`), `copydesk article` and `copydesk batch`.

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, UNIX_EPOCH};

use axum::body::Body;
use axum::http::{header, Request, StatusCode};
use serde_json::{json, Value};

use copydesk::batching::BatchPolicy;
use copydesk::http::{HttpConfig, Limits};
use copydesk::service::ninjs::{english_item, parse_item, read_item, ArticleInput, NinjsItem};
use copydesk::service::{ArticleOptions, ArticleOutput, Service};

use crate::common::{fixtures, model_dir};
use crate::http::{app_with, call, config, decode, post_json, service};

fn dir() -> PathBuf {
    fixtures().join("ninjs")
}

fn read(name: &str) -> String {
    std::fs::read_to_string(dir().join(name)).unwrap()
}

/// The schemas' one external reference (GeoJSON, for `places[].geometry`) without a network: an
/// object. copydesk writes no geometry of its own; carried-over ones are checked as objects.
struct Offline;

impl jsonschema::Retrieve for Offline {
    fn retrieve(
        &self,
        uri: &jsonschema::Uri<String>,
    ) -> Result<Value, Box<dyn std::error::Error + Send + Sync>> {
        match uri.as_str() {
            "https://geojson.org/schema/GeoJSON.json" => Ok(json!({"type": "object"})),
            other => Err(format!("no network in tests: {other}").into()),
        }
    }
}

/// Errors of `item` against the official schema of ninjs `version`, formats included.
pub fn schema_errors(version: &str, item: &Value) -> Vec<String> {
    let schema: Value =
        serde_json::from_str(&read(&format!("schema/ninjs-schema_{version}.json"))).unwrap();
    let validator = jsonschema::options()
        .with_retriever(Offline)
        .should_validate_formats(true)
        .build(&schema)
        .unwrap_or_else(|e| panic!("schema {version}: {e}"));
    validator
        .iter_errors(item)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect()
}

fn assert_valid(version: &str, item: &Value) {
    let errors = schema_errors(version, item);
    assert!(errors.is_empty(), "ninjs {version}: {errors:#?}\n{item:#}");
}

const FIXTURES: [(&str, &str); 3] = [
    ("item-1.6.json", "1.6"),
    ("item-2.1.json", "2.1"),
    ("item-3.1.json", "3.1"),
];

#[test]
fn the_fixtures_are_valid_ninjs_and_read_as_articles() {
    for (name, version) in FIXTURES {
        let text = read(name);
        assert_valid(version, &serde_json::from_str(&text).unwrap());
        let item = parse_item(&text).unwrap();
        assert_eq!(item.version.label, version, "{name}");
        let doc = item.document();
        let dateline = doc.dateline.as_ref().map(|d| d.agency.as_str());
        assert_eq!(dateline, Some("ANP"), "{name}: the body's dateline is read");
        assert_eq!(item.primary_language().as_deref(), Some("nl"), "{name}");
        match version {
            // HTML before text; the <h2> is a subheading, inline markup and entities are text.
            "1.6" => {
                assert_eq!(
                    item.body.as_ref().unwrap().markup.as_deref(),
                    Some("text/html")
                );
                let kinds: Vec<String> = doc
                    .blocks
                    .iter()
                    .map(|b| format!("{:?}:{}", b.kind, b.sentences.len()))
                    .collect();
                assert_eq!(kinds, ["Paragraph:2", "Subheading:1", "Paragraph:1"]);
                assert_eq!(
                    doc.blocks[2].sentences[0],
                    "Oppositiepartijen reageerden verdeeld & fel."
                );
                assert_eq!(item.slugline.as_deref(), Some("stikstof-kabinet"));
            }
            // The `main` headline, not the first; a plain-text body segmented like wire copy.
            "2.1" => {
                assert_eq!(
                    doc.headline.as_deref(),
                    Some("Zorgpremie stijgt volgend jaar met ruim 10 euro")
                );
                assert_eq!(item.body.as_ref().unwrap().markup, None);
                assert_eq!(doc.blocks.len(), 2);
            }
            // camelCase names: version 3 without a `standard`; the XHTML body before the text.
            _ => {
                assert_eq!(
                    item.body.as_ref().unwrap().markup.as_deref(),
                    Some("application/xhtml+xml")
                );
                assert_eq!(doc.blocks.len(), 2);
            }
        }
    }
}

#[test]
fn unreadable_items_say_why() {
    let code = |v: Value| read_item(&v).unwrap_err().kind().to_string();
    let msg = |v: Value| read_item(&v).unwrap_err().to_string();
    assert_eq!(code(json!([])), "invalid_ninjs");
    assert!(msg(json!({"headline": "x"})).contains("uri"));
    assert!(msg(json!({"uri": "urn:x", "headline": 3})).contains("headline"));
    assert!(msg(json!({"uri": "urn:x", "standard": {"version": "4.0"}})).contains("4.0"));
    assert!(msg(json!({"uri": "urn:x", "bodies": [{"role": "main"}]})).contains("bodies[0]"));
    // An item without text is an empty article, not an error.
    let photo = read_item(&json!({"uri": "urn:x", "type": "picture"})).unwrap();
    assert!(photo.document().is_empty());
}

fn options() -> ArticleOptions {
    ArticleOptions {
        summarize: true,
        decode: decode(),
        ..ArticleOptions::default()
    }
}

async fn english(service: &Service, input: &ArticleInput) -> (ArticleOutput, Value) {
    let out = service.article_input(input, &options()).await.unwrap();
    let created = UNIX_EPOCH + Duration::from_secs(1_796_139_045);
    let item = english_item(input, &out, created);
    (out, item)
}

/// The paragraph-level texts of an item's English body, as a reader of the item sees them.
fn body_texts(item: &NinjsItem) -> Vec<String> {
    let body = item.body.as_ref().unwrap();
    match body.markup {
        Some(_) => item
            .document()
            .blocks
            .iter()
            .map(|b| b.sentences.join(" "))
            .collect(),
        None => body.value.split("\n\n").map(str::to_string).collect(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn english_items_validate_in_their_version_and_read_back() {
    let service = service(true, BatchPolicy::default());
    for (name, version) in FIXTURES {
        let source = parse_item(&read(name)).unwrap();
        let input = ArticleInput::Item(Box::new(source.clone()));
        let (out, en) = english(&service, &input).await;
        assert_valid(version, &en);
        let back = read_item(&en).unwrap();
        assert_eq!(back.version, source.version, "{name}");
        assert_eq!(back.language.as_deref(), Some("en"));
        assert_eq!(back.headline, out.headline_en, "{name}");
        let headline = source.headline.clone().unwrap();
        let direct = service
            .translate_texts(&[headline], &decode())
            .await
            .unwrap();
        assert_eq!(back.headline.as_deref(), Some(direct[0].text.as_str()));
        // Paragraph structure: one English paragraph per source block, dateline in English.
        let parts: Vec<String> = out.body_parts().into_iter().map(|p| p.text).collect();
        assert_eq!(parts.len(), source.document().blocks.len(), "{name}");
        let mut expected = parts.clone();
        if back.body.as_ref().unwrap().markup.is_some() {
            // Read back through the HTML, the dateline is parsed off the first paragraph again.
            expected[0] = expected[0].split_once(" - ").unwrap().1.to_string();
        }
        assert_eq!(body_texts(&back), expected, "{name}");
        assert_eq!(
            back.body.as_ref().unwrap().markup,
            source.body.as_ref().unwrap().markup
        );
        assert!(
            parts[0].starts_with("UTRECHT (ANP) - ") || parts[0].starts_with("THE HAGUE (ANP) - ")
        );
        // Link back, summary, carried fields, models.
        let links = &en["associations"];
        let link = if version == "1.6" {
            &links["source"]
        } else {
            &links[0]
        };
        assert_eq!(link["uri"], source.uri.as_str());
        assert_eq!(en["uri"], format!("{}-en", source.uri));
        for (k, v) in &source.carried {
            assert_eq!(&en[k], v, "{name}: {k} carried over");
        }
        let summary = if version == "1.6" {
            en["description_summary"].clone()
        } else {
            assert_eq!(en["descriptions"][0]["role"], "summary");
            en["descriptions"][0]["value"].clone()
        };
        assert_eq!(summary.as_str(), out.summary.as_deref());
        let ednote = en.get("ednote").or(en.get("edNote")).unwrap();
        assert!(ednote.as_str().unwrap().contains("marian-tied"), "{ednote}");
    }
    // Plain text in: a 3.1 item.
    let text = read("../samples/kabinet-stikstof.txt");
    let input = ArticleInput::Text(text);
    let (_, en) = english(&service, &input).await;
    assert_valid("3.1", &en);
    assert_eq!(en["standard"]["version"], "3.1");
    assert_eq!(en["located"], "THE HAGUE");
    assert!(en.get("associations").is_none());
}

fn roomy() -> HttpConfig {
    HttpConfig {
        limits: Limits {
            max_texts_per_request: 8,
            max_chars_per_text: 20_000,
        },
        max_body_bytes: 1 << 20,
        ..config()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn articles_route_reads_and_writes_ninjs() {
    let (app, _) = app_with(roomy(), true).await;
    let ninjs_request = |body: String, accept: &str| {
        Request::post("/v1/articles")
            .header(header::CONTENT_TYPE, "application/ninjs+json")
            .header(header::ACCEPT, accept)
            .body(Body::from(body))
            .unwrap()
    };
    // One item in, one English item out, in the same version.
    let req = ninjs_request(read("item-2.1.json"), "application/ninjs+json");
    let (status, headers, item) = call(&app, req).await;
    assert_eq!(status, StatusCode::OK, "{item}");
    assert_eq!(headers[header::CONTENT_TYPE], "application/ninjs+json");
    assert_valid("2.1", &item);
    assert_eq!(item["standard"]["version"], "2.1");
    // Without the Accept header: copydesk's article JSON.
    let (status, _, v) = call(&app, ninjs_request(read("item-3.1.json"), "*/*")).await;
    assert_eq!(status, StatusCode::OK, "{v}");
    assert!(v["articles"][0]["headline_en"].is_string());
    // A list of text and ninjs articles, answered in order as items.
    let item16: Value = serde_json::from_str(&read("item-1.6.json")).unwrap();
    let body = json!({"articles": [{"text": "Het kabinet valt."}, {"id": "b", "ninjs": item16}]});
    let mut req = post_json("/v1/articles", &body);
    req.headers_mut().insert(
        header::ACCEPT,
        "application/json;q=0.5, application/ninjs+json"
            .parse()
            .unwrap(),
    );
    let (status, _, v) = call(&app, req).await;
    assert_eq!(status, StatusCode::OK, "{v}");
    let items = v.as_array().unwrap();
    assert_eq!(items.len(), 2);
    assert_valid("3.1", &items[0]);
    assert_valid("1.6", &items[1]);
    // Bad input: both fields, neither, an item without a uri, a list as the item.
    for (body, code, field) in [
        (
            json!({"articles": [{"text": "x", "ninjs": {"uri": "urn:x"}}]}),
            "invalid_field",
            "articles[0]",
        ),
        (
            json!({"articles": [{"id": "a"}]}),
            "invalid_field",
            "articles[0]",
        ),
        (
            json!({"articles": [{"ninjs": {"headline": "x"}}]}),
            "invalid_ninjs",
            "articles[0].ninjs",
        ),
    ] {
        let (status, _, v) = call(&app, post_json("/v1/articles", &body)).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
        assert_eq!(v["error"]["code"], code, "{v}");
        let message = v["error"]["message"].as_str().unwrap();
        assert!(message.starts_with(&format!("{field}: ")), "{v}");
    }
    let (status, _, v) = call(&app, ninjs_request("[]".into(), "application/ninjs+json")).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
}

fn copydesk(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_copydesk"))
        .args(args)
        .args(["--translator", model_dir("marian-tied").to_str().unwrap()])
        .args(["--summarizer", model_dir("t5-tied-relu").to_str().unwrap()])
        .args(["--max-new-tokens", "4"])
        .env("HF_HUB_OFFLINE", "1")
        .output()
        .unwrap()
}

#[test]
fn article_and_batch_commands_take_ninjs() {
    let path = dir().join("item-1.6.json");
    let out = copydesk(&["article", path.to_str().unwrap(), "--format", "ninjs"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let item: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_valid("1.6", &item);
    // --input-format text reads the same file as text: no ninjs version to keep, so 3.1.
    let out = copydesk(&[
        "article",
        path.to_str().unwrap(),
        "--input-format",
        "text",
        "--format",
        "ninjs",
    ]);
    assert!(out.status.success());
    let item: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(item["standard"]["version"], "3.1");
    // Batch over a JSONL of items and a .json file; ids are the items' uris.
    let tmp = tempfile::tempdir().unwrap();
    let inputs = tmp.path().join("in");
    std::fs::create_dir(&inputs).unwrap();
    std::fs::copy(dir().join("items.jsonl"), inputs.join("items.jsonl")).unwrap();
    let broken =
        r#"[{"uri": "urn:ok:1", "headline": "Het kabinet valt"}, {"headline": "geen uri"}]"#;
    std::fs::write(inputs.join("more.json"), broken).unwrap();
    let log = tmp.path().join("out.jsonl");
    let out = copydesk(&[
        "batch",
        inputs.to_str().unwrap(),
        "-o",
        log.to_str().unwrap(),
        "--input-format",
        "ninjs",
    ]);
    assert_eq!(
        out.status.code(),
        Some(3),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lines: Vec<Value> = std::fs::read_to_string(&log)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let ids: Vec<&str> = lines.iter().map(|l| l["id"].as_str().unwrap()).collect();
    let mut sorted = ids.clone();
    sorted.sort();
    assert_eq!(
        sorted,
        [
            "https://news.example.org/items/2026/12/01/a12-vrachtwagen",
            "more.json#1",
            "urn:newsml:anp.example:20261201:stikstof-1",
            "urn:newsml:anp.example:20261201:zorgpremie-1",
            "urn:ok:1",
        ]
    );
    for l in &lines {
        match l["id"].as_str().unwrap() {
            "more.json#1" => assert_eq!(l["error"]["code"], "invalid_ninjs"),
            id => {
                assert!(l["error"].is_null(), "{l}");
                let version = l["result"]["ninjs"]["standard"]["version"]
                    .as_str()
                    .or(l["result"]["ninjs"]["$standard"]["version"].as_str())
                    .unwrap();
                assert_valid(version, &l["result"]["ninjs"]);
                assert_eq!(l["result"]["ninjs"]["uri"], format!("{id}-en"));
            }
        }
    }
}
