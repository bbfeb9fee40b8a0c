//! LibreTranslate's file translation: `POST /translate_file` (multipart, `.txt` only) translates
//! the file line by line and answers with a link; `GET /download_file/{name}` serves the result.
//! Results are kept in memory, the most recent [`KEPT_FILES`], under an unguessable name.

use std::collections::VecDeque;
use std::hash::{BuildHasher, Hasher};
use std::sync::Mutex;

use axum::extract::multipart::{Multipart, MultipartRejection};
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Serialize;
use utoipa::ToSchema;

use super::compat::{self, CompatJob};
use super::errors::{ApiError, InferenceErrors};
use super::state::AppState;
use super::validate::{served_source, target_lang};
use crate::service::TextHandling;

/// Translated files kept for download.
pub const KEPT_FILES: usize = 32;

/// Translated files by name, oldest first.
#[derive(Debug, Default)]
pub struct FileStore(Mutex<VecDeque<(String, String)>>);

impl FileStore {
    fn put(&self, name: String, text: String) {
        let mut files = self.0.lock().unwrap_or_else(|p| p.into_inner());
        if files.len() == KEPT_FILES {
            files.pop_front();
        }
        files.push_back((name, text));
    }

    fn get(&self, name: &str) -> Option<String> {
        let files = self.0.lock().unwrap_or_else(|p| p.into_inner());
        files
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, t)| t.clone())
    }
}

/// `POST /translate_file` (multipart/form-data), as LibreTranslate's web UI sends it.
#[derive(ToSchema)]
#[allow(dead_code)] // documentation of the multipart fields
pub struct TranslateFileForm {
    /// A `.txt` file, UTF-8.
    #[schema(value_type = String, format = Binary)]
    file: Vec<u8>,
    /// `nl` or `auto`.
    source: String,
    /// `en`.
    target: String,
    api_key: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TranslatedFile {
    #[serde(rename = "translatedFileUrl")]
    pub translated_file_url: String,
}

fn bad(message: impl Into<String>) -> ApiError {
    ApiError::malformed("invalid_file", message)
}

/// The fields of the form: (file name, file text, source, target, api_key).
struct Upload {
    name: String,
    text: String,
    source: Option<String>,
    target: Option<String>,
    api_key: Option<String>,
}

async fn read_upload(mut form: Multipart) -> Result<Upload, ApiError> {
    let mut up = Upload {
        name: String::new(),
        text: String::new(),
        source: None,
        target: None,
        api_key: None,
    };
    let mut file = None;
    while let Some(field) = form
        .next_field()
        .await
        .map_err(|e| bad(format!("the form cannot be read: {e}")))?
    {
        let name = field.name().unwrap_or_default().to_string();
        let file_name = field.file_name().map(str::to_string);
        let bytes = field
            .bytes()
            .await
            .map_err(|e| bad(format!("field {name:?} cannot be read: {e}")))?;
        let text = || {
            String::from_utf8(bytes.to_vec()).map_err(|_| bad(format!("{name} is not UTF-8 text")))
        };
        match name.as_str() {
            "file" => {
                up.name = file_name.unwrap_or_else(|| "file.txt".into());
                file = Some(text()?);
            }
            "source" => up.source = Some(text()?),
            "target" => up.target = Some(text()?),
            "api_key" => up.api_key = Some(text()?),
            _ => {}
        }
    }
    up.text = file.ok_or_else(|| bad("no `file` field"))?;
    if !up.name.to_ascii_lowercase().ends_with(".txt") {
        return Err(bad(format!("{:?}: only .txt files are supported", up.name)));
    }
    Ok(up)
}

/// A name nobody can guess, keeping the file's own name readable.
fn stored_name(original: &str) -> String {
    static COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed));
    let safe: String = original
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '.' || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect();
    format!("{:016x}-{safe}", h.finish())
}

/// LibreTranslate-compatible file translation (`.txt`).
#[utoipa::path(
    post,
    path = "/translate_file",
    tag = "compatibility",
    request_body(content((TranslateFileForm = "multipart/form-data"))),
    responses((status = 200, body = TranslatedFile), InferenceErrors),
    security((), ("bearer" = []))
)]
pub async fn translate_file(
    State(state): State<AppState>,
    headers: HeaderMap,
    form: Result<Multipart, MultipartRejection>,
) -> Result<Json<TranslatedFile>, ApiError> {
    let form = form.map_err(|e| {
        ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            e.body_text(),
        )
    })?;
    let up = read_upload(form).await?;
    state.keys().check(&headers, false, up.api_key.as_deref())?;
    let source = up.source.as_deref().unwrap_or("");
    served_source(state.service()?, "source", Some(source), true)?;
    let named = (!source.eq_ignore_ascii_case("auto")).then(|| source.to_string());
    target_lang("target", Some(up.target.as_deref().unwrap_or("")))?;
    let job = CompatJob {
        field: "file",
        texts: vec![up.text],
        source_lang: named,
        how: TextHandling::default(),
        alternatives: 0,
        glossary_id: None,
    };
    let out = compat::translate(&state, job).await?;
    let text = out.into_iter().next().map(|g| g.text).unwrap_or_default();
    let name = stored_name(&up.name);
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("localhost");
    let url = format!("http://{host}/download_file/{name}");
    state.files().put(name, text);
    Ok(Json(TranslatedFile {
        translated_file_url: url,
    }))
}

/// A file translated by `/translate_file`.
#[utoipa::path(
    get,
    path = "/download_file/{name}",
    tag = "compatibility",
    params(("name" = String, Path, description = "The name in `translatedFileUrl`")),
    responses((status = 200, description = "The translated text", content_type = "text/plain"), (status = 404, description = "Unknown or expired"))
)]
pub async fn download_file(State(state): State<AppState>, Path(name): Path<String>) -> Response {
    match state.files().get(&name) {
        Some(text) => (
            [
                (
                    header::CONTENT_TYPE,
                    "text/plain; charset=utf-8".to_string(),
                ),
                (
                    header::CONTENT_DISPOSITION,
                    format!("attachment; filename=\"{name}\""),
                ),
            ],
            text,
        )
            .into_response(),
        None => ApiError::new(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("no translated file {name:?} (kept: the last {KEPT_FILES})"),
        )
        .into_response(),
    }
}
