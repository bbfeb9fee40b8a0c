//! Writes a server's own rules into its OpenAPI document: list and text limits from its flags,
//! the model and prompt names it has loaded, the language codes it accepts, and the routes it can
//! serve. The validator ([`super::validate`]) and this file describe the same rules; the
//! `openapi_truth` integration test checks that they agree on a table of edge cases.

use serde_json::{json, Map, Value};

use super::openapi::DocFacts;
use super::validate::MAX_ID_CHARS;

/// `nl`, in any case.
const DUTCH: &str = "^[Nn][Ll]$";
/// `nl` or `auto`, in any case.
const DUTCH_OR_AUTO: &str = "^([Nn][Ll]|[Aa][Uu][Tt][Oo])$";
/// `en`, `en-gb`, `en-us` (also with `_`), in any case.
const ENGLISH: &str = "^[Ee][Nn]([-_]([Gg][Bb]|[Uu][Ss]))?$";

fn text_item(f: &DocFacts) -> Value {
    json!({
        "type": "string",
        "maxLength": f.limits.max_chars_per_text,
        "description": "A blank text gets an empty output (no model call). Control characters \
                        other than tab and line breaks are dropped (vertical tab, form feed and \
                        NEL become line breaks)."
    })
}

fn text_list(f: &DocFacts) -> Value {
    json!({
        "type": "array",
        "items": text_item(f),
        "minItems": 1,
        "maxItems": f.limits.max_texts_per_request
    })
}

/// A string or a non-empty list of strings, within the limits.
fn string_or_list(f: &DocFacts) -> Value {
    json!({"oneOf": [text_item(f), text_list(f)]})
}

fn optional_pattern(pattern: &str) -> Value {
    json!({"type": ["string", "null"], "pattern": pattern})
}

/// `[names..., null]`, or only `null` when nothing is loaded.
fn optional_names(names: &[String]) -> Value {
    let mut values: Vec<Value> = names.iter().map(|n| json!(n)).collect();
    values.push(Value::Null);
    json!({ "enum": values })
}

/// Replaces the schema of `schema.properties.prop`, keeping its description.
fn set(schemas: &mut Map<String, Value>, schema: &str, prop: &str, mut new: Value) {
    let Some(props) = schemas
        .get_mut(schema)
        .and_then(|s| s.get_mut("properties"))
        .and_then(Value::as_object_mut)
    else {
        return;
    };
    if let Some(old) = props.get(prop) {
        let description = old
            .get("description")
            .or_else(|| old.pointer("/oneOf/1/description"))
            .cloned();
        if let (Some(d), Some(obj)) = (description, new.as_object_mut()) {
            obj.entry("description").or_insert(d);
        }
    }
    props.insert(prop.to_string(), new);
}

/// Writes `facts` into `doc` (an OpenAPI document as JSON).
pub fn apply(doc: &mut Value, f: &DocFacts) {
    super::ninjs::document_items(doc);
    let Some(schemas) = doc
        .pointer_mut("/components/schemas")
        .and_then(Value::as_object_mut)
    else {
        return;
    };
    let translator: Vec<String> = f.translator.iter().cloned().collect();
    let summarizer: Vec<String> = f.summarizer.iter().cloned().collect();

    set(schemas, "TranslateRequest", "texts", text_list(f));
    set(
        schemas,
        "TranslateRequest",
        "source_lang",
        optional_pattern(DUTCH_OR_AUTO),
    );
    set(
        schemas,
        "TranslateRequest",
        "target_lang",
        optional_pattern(ENGLISH),
    );

    set(schemas, "SummarizeRequest", "texts", text_list(f));

    let mut articles = json!({
        "type": "array",
        "items": {"$ref": "#/components/schemas/ArticleIn"},
        "minItems": 1,
        "maxItems": f.limits.max_texts_per_request
    });
    set(schemas, "ArticlesRequest", "articles", articles.take());
    if f.loaded {
        set(
            schemas,
            "TranslateRequest",
            "model",
            optional_names(&translator),
        );
        set(
            schemas,
            "SummarizeRequest",
            "model",
            optional_names(&summarizer),
        );
        set(
            schemas,
            "SummarizeRequest",
            "prompt",
            optional_names(&f.prompts),
        );
        set(
            schemas,
            "ArticlesRequest",
            "prompt",
            optional_names(&f.prompts),
        );
    }
    if f.loaded && f.summarizer.is_none() {
        set(
            schemas,
            "ArticlesRequest",
            "summarize",
            json!({"enum": [false, null], "description": "No summarizer is loaded."}),
        );
    }
    let mut text = text_item(f);
    text["type"] = json!(["string", "null"]);
    text["description"] = json!(
        "Wire copy. Give `text` or `ninjs`. A blank text gets an empty \
                                 output; control characters are cleaned as in /v1/translate."
    );
    set(schemas, "ArticleIn", "text", text);
    if let Some(article) = schemas.get_mut("ArticleIn") {
        // Exactly one of the two, given and not null.
        article["oneOf"] = json!([
            {"required": ["text"], "properties": {"text": {"type": "string"}}},
            {"required": ["ninjs"], "properties": {"ninjs": {"type": "object"}}}
        ]);
    }
    set(
        schemas,
        "ArticleIn",
        "id",
        json!({"type": ["string", "null"], "maxLength": MAX_ID_CHARS}),
    );

    set(schemas, "DeeplRequest", "text", string_or_list(f));
    set(
        schemas,
        "DeeplRequest",
        "source_lang",
        optional_pattern(DUTCH),
    );
    set(
        schemas,
        "DeeplRequest",
        "target_lang",
        json!({"type": "string", "pattern": ENGLISH}),
    );

    let flag = json!({"oneOf": [
        {"type": "null"},
        {"type": "boolean"},
        {"type": "string", "enum": ["0", "1", "true", "false"]}
    ]});
    for prop in ["preserve_formatting", "show_billed_characters"] {
        set(schemas, "DeeplRequest", prop, flag.clone());
    }
    set(
        schemas,
        "DeeplRequest",
        "split_sentences",
        json!({"enum": ["0", "1", "nonewlines", null]}),
    );
    set(
        schemas,
        "DeeplRequest",
        "tag_handling",
        json!({"enum": ["html", "xml", null]}),
    );

    set(schemas, "LibreRequest", "q", string_or_list(f));
    set(
        schemas,
        "LibreRequest",
        "source",
        json!({"type": "string", "pattern": "^([Nn][Ll]|[Aa][Uu][Tt][Oo])$"}),
    );
    set(
        schemas,
        "LibreRequest",
        "target",
        json!({"type": "string", "pattern": ENGLISH}),
    );
    set(
        schemas,
        "LibreRequest",
        "format",
        json!({"enum": ["text", "html", null]}),
    );
    let detected = json!({
        "type": "object",
        "properties": {"confidence": {"type": "number"}, "language": {"type": "string"}}
    });
    set(
        schemas,
        "LibreResponse",
        "detectedLanguage",
        json!({"oneOf": [{"type": "null"}, detected, {"type": "array", "items": detected}]}),
    );
    set(
        schemas,
        "LibreRequest",
        "alternatives",
        json!({"oneOf": [
            {"type": "null"},
            {"type": "integer", "minimum": 0, "maximum": 15},
            {"type": "string", "pattern": "^(0|[1-9]|1[0-5])$"}
        ]}),
    );
    set(schemas, "DetectRequest", "q", string_or_list(f));
    for (schema, path) in [
        ("DeeplRequest", "/v2/translate"),
        ("LibreRequest", "/translate"),
        ("DetectRequest", "/detect"),
    ] {
        form_schema(doc, schema, path);
    }
    drop_unservable_routes(doc, f);
}

/// Form fields are strings and can't be null (a form says `null` as the string "null"): the
/// form body of `path` gets its own schema, `schema` without the null alternatives.
fn form_schema(doc: &mut Value, schema: &str, path: &str) {
    let form_name = format!("{}Form", schema.trim_end_matches("Request"));
    let Some(mut form) = doc
        .pointer(&format!("/components/schemas/{schema}"))
        .cloned()
    else {
        return;
    };
    if let Some(props) = form.get_mut("properties").and_then(Value::as_object_mut) {
        props.values_mut().for_each(without_null);
    }
    if let Some(obj) = form.as_object_mut() {
        obj.insert(
            "description".into(),
            json!(format!(
                "{schema} as form fields (a repeated field is a list)."
            )),
        );
    }
    let pointer = format!(
        "/paths/{}/post/requestBody/content/application~1x-www-form-urlencoded/schema",
        path.replace('/', "~1")
    );
    if let Some(slot) = doc.pointer_mut(&pointer) {
        *slot = json!({"$ref": format!("#/components/schemas/{form_name}")});
        if let Some(schemas) = doc
            .pointer_mut("/components/schemas")
            .and_then(Value::as_object_mut)
        {
            schemas.insert(form_name, form);
        }
    }
}

/// Removes `null` from a property schema's type, enum and oneOf.
fn without_null(v: &mut Value) {
    let Some(obj) = v.as_object_mut() else {
        return;
    };
    if let Some(Value::Array(types)) = obj.get_mut("type") {
        types.retain(|t| t != "null");
        if types.len() == 1 {
            let only = types[0].clone();
            obj.insert("type".into(), only);
        }
    }
    if let Some(Value::Array(values)) = obj.get_mut("enum") {
        values.retain(|x| !x.is_null());
    }
    if let Some(Value::Array(options)) = obj.get_mut("oneOf") {
        options.retain(|o| o.get("type") != Some(&json!("null")));
    }
}

/// Routes that would refuse every request (no model for them) are not in the document.
fn drop_unservable_routes(doc: &mut Value, f: &DocFacts) {
    let Some(paths) = doc.get_mut("paths").and_then(Value::as_object_mut) else {
        return;
    };
    if !f.loaded {
        return;
    }
    if f.summarizer.is_none() {
        paths.remove("/v1/summarize");
    }
    if f.translator.is_none() {
        for p in [
            "/v1/translate",
            "/v1/articles",
            "/v2/translate",
            "/translate",
            "/translate_file",
        ] {
            paths.remove(p);
        }
    }
}
