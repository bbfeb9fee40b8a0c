//! Optional API keys: with keys configured, protected routes need `Authorization: Bearer <key>`
//! (on `/v2/*` also DeepL's `Authorization: DeepL-Auth-Key <key>`); LibreTranslate's `/translate`
//! also takes the key in its body (`api_key`).

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{header, HeaderMap};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::errors::ApiError;
use super::state::AppState;

/// The accepted keys; none means no authentication.
#[derive(Debug, Clone, Default)]
pub struct ApiKeys(Arc<Vec<String>>);

impl ApiKeys {
    pub fn new(keys: Vec<String>) -> ApiKeys {
        ApiKeys(Arc::new(keys))
    }

    pub fn required(&self) -> bool {
        !self.0.is_empty()
    }

    /// Whether `key` is one of the keys (compared in time independent of where they differ).
    pub fn accepts(&self, key: &str) -> bool {
        self.0
            .iter()
            .any(|k| constant_time_eq(k.as_bytes(), key.as_bytes()))
    }

    /// Whether the `Authorization` header carries a valid key; `deepl` also allows DeepL's
    /// `DeepL-Auth-Key` scheme.
    pub fn header_ok(&self, headers: &HeaderMap, deepl: bool) -> bool {
        let Some(value) = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
        else {
            return false;
        };
        let (scheme, key) = value.trim().split_once(' ').unwrap_or(("", ""));
        let scheme_ok = scheme.eq_ignore_ascii_case("bearer")
            || (deepl && scheme.eq_ignore_ascii_case("deepl-auth-key"));
        scheme_ok && self.accepts(key.trim())
    }

    /// No keys configured, or a valid key in the header or `body_key`.
    pub fn allows(&self, headers: &HeaderMap, deepl: bool, body_key: Option<&str>) -> bool {
        !self.required()
            || self.header_ok(headers, deepl)
            || body_key.is_some_and(|k| self.accepts(k))
    }
}

impl ApiKeys {
    /// [`Self::allows`] as a result: 401 `unauthorized` (DeepL's routes answer it as 403).
    pub fn check(
        &self,
        headers: &HeaderMap,
        deepl: bool,
        body_key: Option<&str>,
    ) -> Result<(), ApiError> {
        match self.allows(headers, deepl, body_key) {
            true => Ok(()),
            false => Err(ApiError::unauthorized()),
        }
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Middleware for the protected routes.
pub async fn require_key(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let deepl = req.uri().path().starts_with("/v2/");
    match state.keys().check(req.headers(), deepl, None) {
        Ok(()) => next.run(req).await,
        Err(e) => e.into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn headers(value: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(header::AUTHORIZATION, HeaderValue::from_str(value).unwrap());
        h
    }

    #[test]
    fn schemes_and_keys() {
        let keys = ApiKeys::new(vec!["k1".into(), "secret".into()]);
        assert!(keys.header_ok(&headers("Bearer secret"), false));
        assert!(keys.header_ok(&headers("bearer k1"), false));
        assert!(!keys.header_ok(&headers("Bearer secre"), false));
        assert!(!keys.header_ok(&headers("DeepL-Auth-Key secret"), false));
        assert!(keys.header_ok(&headers("DeepL-Auth-Key secret"), true));
        assert!(!keys.header_ok(&HeaderMap::new(), true));
        assert!(keys.allows(&HeaderMap::new(), false, Some("k1")));
        assert!(!keys.allows(&HeaderMap::new(), false, Some("k2")));
        assert!(ApiKeys::default().allows(&HeaderMap::new(), false, None));
    }
}
