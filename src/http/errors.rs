//! API errors: every failure becomes `{"error": {"code", "message"}}` with a stable code and the
//! HTTP status that fits it. User input never gives a 5xx.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Serialize;
use utoipa::ToSchema;

use crate::engine::EngineError;
use crate::Error;

/// The body of every error response.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorDetail {
    /// Stable machine-readable code (e.g. `empty_text`, `overloaded`, `unknown_model`).
    pub code: String,
    /// What went wrong, naming the offending field where there is one.
    pub message: String,
}

/// The error responses of every inference route, as one table for the OpenAPI document.
#[derive(utoipa::IntoResponses)]
#[allow(dead_code)] // documentation only: the handlers answer with `ApiError`
pub enum InferenceErrors {
    #[response(
        status = 400,
        description = "Malformed JSON or form body, or not UTF-8"
    )]
    Malformed(ErrorBody),
    #[response(status = 401, description = "Missing or invalid API key")]
    Unauthorized(ErrorBody),
    #[response(status = 413, description = "Body larger than --max-body-bytes")]
    TooLarge(ErrorBody),
    #[response(status = 415, description = "Content type not accepted by this route")]
    UnsupportedMediaType(ErrorBody),
    #[response(
        status = 422,
        description = "Invalid field (named in the message), unknown model or prompt, or no model loaded for the task"
    )]
    Invalid(ErrorBody),
    #[response(
        status = 429,
        description = "Too many concurrent requests (see Retry-After)"
    )]
    Overloaded(ErrorBody),
    #[response(
        status = 500,
        description = "Internal fault (code `internal`; logged on the server)"
    )]
    Internal(ErrorBody),
    #[response(
        status = 503,
        description = "Models not loaded yet, shutting down, or a model is down"
    )]
    Unavailable(ErrorBody),
    #[response(status = 504, description = "Request timed out")]
    Timeout(ErrorBody),
}

/// An error on its way to becoming a response.
#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    /// Seconds for `Retry-After` (429, 503).
    pub retry_after: Option<u64>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            retry_after: None,
        }
    }

    /// 422: the request is well-formed but a value is not acceptable.
    pub fn invalid(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNPROCESSABLE_ENTITY, code, message)
    }

    /// 400: the body cannot be read as the expected format.
    pub fn malformed(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, message)
    }

    pub fn overloaded(limit: usize) -> Self {
        Self::new(
            StatusCode::TOO_MANY_REQUESTS,
            "overloaded",
            format!(
                "the server is handling its maximum of {limit} concurrent requests; retry later"
            ),
        )
        .retry_after(1)
    }

    pub fn not_ready() -> Self {
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "not_ready",
            "the models are still loading; retry later (GET /ready says when)",
        )
        .retry_after(1)
    }

    pub fn timeout(after: std::time::Duration) -> Self {
        Self::new(
            StatusCode::GATEWAY_TIMEOUT,
            "timeout",
            format!(
                "the request did not finish within {:.1} s; its remaining work was dropped",
                after.as_secs_f64()
            ),
        )
    }

    pub fn unauthorized() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "a valid API key is required: send `Authorization: Bearer <key>`",
        )
    }

    pub fn retry_after(mut self, seconds: u64) -> Self {
        self.retry_after = Some(seconds);
        self
    }

    /// Prefixes the message with the field it concerns.
    pub fn at(mut self, field: &str) -> Self {
        self.message = format!("{field}: {}", self.message);
        self
    }
}

impl From<Error> for ApiError {
    fn from(e: Error) -> Self {
        let status = match &e {
            Error::Invalid { .. } | Error::Tokenize(_) => StatusCode::UNPROCESSABLE_ENTITY,
            Error::Engine(EngineError::Closed) => {
                return Self::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "shutting_down",
                    "the server is shutting down",
                )
                .retry_after(1)
            }
            _ => StatusCode::INTERNAL_SERVER_ERROR,
        };
        if status.is_server_error() {
            tracing::error!(code = e.kind(), "request failed: {e}");
        }
        // Internal faults already say `internal` (their `kind`) and are logged just above.
        Self::new(status, e.kind(), e.to_string())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = ErrorBody {
            error: ErrorDetail {
                code: self.code.to_string(),
                message: self.message,
            },
        };
        let mut response = (self.status, Json(body)).into_response();
        if let Some(s) = self.retry_after {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(s));
        }
        if self.status == StatusCode::UNAUTHORIZED {
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        response
    }
}

/// Fallback for paths no route serves.
pub async fn not_found(uri: axum::http::Uri) -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "not_found",
        format!("no route for {}; see GET /openapi.json", uri.path()),
    )
}

/// Fallback for a known path with the wrong method.
pub async fn method_not_allowed(method: axum::http::Method, uri: axum::http::Uri) -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        format!("{method} is not allowed on {}", uri.path()),
    )
}
