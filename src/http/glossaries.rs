//! DeepL's glossary API (v2), so its clients manage copydesk's glossaries unchanged:
//! `POST /v2/glossaries` (entries as TSV or CSV), `GET /v2/glossaries`,
//! `GET|DELETE /v2/glossaries/{id}`, `GET /v2/glossaries/{id}/entries` (TSV), and
//! `GET /v2/glossary-language-pairs`. A glossary is used with `glossary_id` on `/v2/translate`
//! or `glossary` on `/v1/translate` and `/v1/articles`; the house glossaries given at start
//! (`--glossary`) are listed too, apply to every translation of their pair and cannot be deleted.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::compat::body_value;
use super::errors::ApiError;
use super::extract::{from_value, JsonOrForm};
use super::state::AppState;
use super::validate::{is_english, served_source};
use crate::glossary::{parse_entries, to_tsv, Format, Glossary};
use crate::service::ninjs::rfc3339;

/// Most entries in one glossary.
pub const MAX_ENTRIES: usize = 10_000;

/// `POST /v2/glossaries`.
#[derive(Debug, Deserialize, ToSchema)]
pub struct CreateGlossary {
    pub name: String,
    /// A language a loaded translator reads (`nl`).
    pub source_lang: String,
    /// `en`.
    pub target_lang: String,
    /// The entries: one `source<TAB>target` per line (`tsv`) or `source,target` (`csv`).
    pub entries: String,
    /// `tsv` (default) or `csv`.
    pub entries_format: Option<String>,
}

/// DeepL's `GlossaryInfo`.
#[derive(Debug, Serialize, ToSchema)]
pub struct GlossaryInfo {
    pub glossary_id: String,
    pub name: String,
    pub ready: bool,
    pub source_lang: String,
    pub target_lang: String,
    /// RFC 3339 with fractional seconds, as DeepL writes it.
    pub creation_time: String,
    pub entry_count: usize,
}

impl GlossaryInfo {
    fn of(g: &Glossary) -> GlossaryInfo {
        let at = std::time::UNIX_EPOCH + std::time::Duration::from_secs(g.created);
        let time = rfc3339(at);
        GlossaryInfo {
            glossary_id: g.id.clone(),
            name: g.name.clone(),
            ready: true,
            source_lang: g.source_lang.clone(),
            target_lang: g.target_lang.clone(),
            creation_time: format!("{}.000Z", time.trim_end_matches('Z')),
            entry_count: g.entries.len(),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct GlossaryList {
    pub glossaries: Vec<GlossaryInfo>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct LanguagePair {
    pub source_lang: String,
    pub target_lang: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct LanguagePairs {
    pub supported_languages: Vec<LanguagePair>,
}

fn not_found(id: &str) -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "glossary_not_found",
        format!("Glossary not found: no glossary {id:?}"),
    )
}

#[utoipa::path(
    post,
    path = "/v2/glossaries",
    tag = "compatibility",
    request_body(content(
        (CreateGlossary = "application/json"),
        (CreateGlossary = "application/x-www-form-urlencoded"),
    )),
    responses(
        (status = 201, body = GlossaryInfo),
        (status = 400, description = "Invalid entries or language pair")
    ),
    security((), ("bearer" = []), ("deepl" = []))
)]
pub async fn create(
    State(state): State<AppState>,
    body: JsonOrForm,
) -> Result<(StatusCode, Json<GlossaryInfo>), ApiError> {
    let req: CreateGlossary = from_value(body_value(body))?;
    let service = state.service()?;
    if req.name.trim().is_empty() {
        return Err(ApiError::invalid("invalid_field", "must not be empty").at("name"));
    }
    let source = req.source_lang.to_ascii_lowercase();
    served_source(service, "source_lang", Some(&source), false)?;
    if is_english(&source) || !is_english(&req.target_lang) {
        return Err(ApiError::invalid(
            "unsupported_language_pair",
            format!(
                "copydesk translates into English: {}→{} is not a glossary pair it uses",
                req.source_lang, req.target_lang
            ),
        ));
    }
    let format = match req.entries_format.as_deref() {
        None => Format::Tsv,
        Some(f) => Format::named(f).ok_or_else(|| {
            ApiError::invalid("invalid_field", format!("{f:?}: use tsv or csv"))
                .at("entries_format")
        })?,
    };
    let entries = parse_entries(&req.entries, format)
        .map_err(|e| ApiError::invalid("invalid_glossary", e.to_string()).at("entries"))?;
    if entries.is_empty() || entries.len() > MAX_ENTRIES {
        return Err(ApiError::invalid(
            "invalid_glossary",
            format!("between 1 and {MAX_ENTRIES} entries, not {}", entries.len()),
        )
        .at("entries"));
    }
    let g = state
        .glossaries()
        .create(req.name.trim(), (&source, "en"), entries)?;
    Ok((StatusCode::CREATED, Json(GlossaryInfo::of(&g))))
}

#[utoipa::path(
    get,
    path = "/v2/glossaries",
    tag = "compatibility",
    responses((status = 200, body = GlossaryList)),
    security((), ("bearer" = []), ("deepl" = []))
)]
pub async fn list(State(state): State<AppState>) -> Json<GlossaryList> {
    let glossaries = state.glossaries().list();
    Json(GlossaryList {
        glossaries: glossaries.iter().map(|g| GlossaryInfo::of(g)).collect(),
    })
}

fn find(state: &AppState, id: &str) -> Result<Arc<Glossary>, ApiError> {
    state.glossaries().get(id).ok_or_else(|| not_found(id))
}

#[utoipa::path(
    get,
    path = "/v2/glossaries/{glossary_id}",
    tag = "compatibility",
    params(("glossary_id" = String, Path)),
    responses((status = 200, body = GlossaryInfo), (status = 404, description = "No such glossary")),
    security((), ("bearer" = []), ("deepl" = []))
)]
pub async fn get(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<GlossaryInfo>, ApiError> {
    Ok(Json(GlossaryInfo::of(&*find(&state, &id)?)))
}

#[utoipa::path(
    get,
    path = "/v2/glossaries/{glossary_id}/entries",
    tag = "compatibility",
    params(("glossary_id" = String, Path)),
    responses(
        (status = 200, description = "The entries as TSV", content_type = "text/tab-separated-values"),
        (status = 404, description = "No such glossary"),
        (status = 415, description = "An Accept header other than TSV")
    ),
    security((), ("bearer" = []), ("deepl" = []))
)]
pub async fn entries(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let g = find(&state, &id)?;
    let accept = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("*/*");
    let tsv = "text/tab-separated-values";
    if !accept
        .split(',')
        .map(|a| a.split(';').next().unwrap_or("").trim())
        .any(|a| a == tsv || a == "*/*" || a == "text/*")
    {
        return Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_accept",
            format!("entries come as {tsv}, not {accept}"),
        ));
    }
    Ok(([(header::CONTENT_TYPE, tsv)], to_tsv(&g.entries)).into_response())
}

#[utoipa::path(
    delete,
    path = "/v2/glossaries/{glossary_id}",
    tag = "compatibility",
    params(("glossary_id" = String, Path)),
    responses(
        (status = 204, description = "Deleted"),
        (status = 404, description = "No such glossary"),
        (status = 400, description = "A house glossary (read-only)")
    ),
    security((), ("bearer" = []), ("deepl" = []))
)]
pub async fn delete(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    match state.glossaries().delete(&id)? {
        true => Ok(StatusCode::NO_CONTENT),
        false => Err(not_found(&id)),
    }
}

#[utoipa::path(
    get,
    path = "/v2/glossary-language-pairs",
    tag = "compatibility",
    responses((status = 200, body = LanguagePairs)),
    security((), ("bearer" = []), ("deepl" = []))
)]
pub async fn language_pairs(
    State(state): State<AppState>,
) -> Result<Json<LanguagePairs>, ApiError> {
    let service = state.service()?;
    let supported_languages = service
        .source_langs()
        .into_iter()
        .filter(|l| l != crate::service::routing::ANY_LANG)
        .map(|source_lang| LanguagePair {
            source_lang,
            target_lang: "en".into(),
        })
        .collect();
    Ok(Json(LanguagePairs {
        supported_languages,
    }))
}
