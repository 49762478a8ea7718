//! API errors: the one place they become HTTP statuses and JSON bodies.

use bytes::Bytes;
use http::{header, HeaderValue, Response, StatusCode};
use sockgate_core::{BusError, ErrorCode};

/// Why an API request failed.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// No or wrong `Authorization: Bearer <key>`.
    #[error("missing or invalid API key (send Authorization: Bearer <key>)")]
    Unauthorized,
    /// No such endpoint.
    #[error("no such endpoint: {0}")]
    NoEndpoint(String),
    /// The endpoint exists but not for this method.
    #[error("{method} is not allowed here; use {allowed}")]
    MethodNotAllowed {
        /// The method used.
        method: String,
        /// The method to use.
        allowed: &'static str,
    },
    /// The body is over `api.max_body_bytes`.
    #[error("request body is over {0} bytes (api.max_body_bytes)")]
    TooLarge(usize),
    /// The body could not be read.
    #[error("cannot read the request body: {0}")]
    Body(String),
    /// The body is not the JSON the endpoint takes.
    #[error("{0}")]
    BadRequest(String),
    /// The connection or room does not exist.
    #[error("{0}")]
    NotFound(String),
    /// The bus refused the operation.
    #[error(transparent)]
    Bus(#[from] BusError),
}

impl ApiError {
    fn status_and_code(&self) -> (StatusCode, &'static str) {
        match self {
            ApiError::Unauthorized => (StatusCode::UNAUTHORIZED, "unauthorized"),
            ApiError::NoEndpoint(_) | ApiError::NotFound(_) => (StatusCode::NOT_FOUND, "not_found"),
            ApiError::MethodNotAllowed { .. } => (StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed"),
            ApiError::TooLarge(_) => (StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large"),
            ApiError::Body(_) | ApiError::BadRequest(_) => (StatusCode::BAD_REQUEST, "bad_request"),
            // A payload over its depth or attachment limit is too large in kind.
            ApiError::Bus(BusError::Payload(_)) => (StatusCode::PAYLOAD_TOO_LARGE, "limit_exceeded"),
            ApiError::Bus(error) => match error.code() {
                ErrorCode::NotFound => (StatusCode::NOT_FOUND, "not_found"),
                ErrorCode::Forbidden => (StatusCode::FORBIDDEN, "forbidden"),
                ErrorCode::BadRequest | ErrorCode::Unsupported => (StatusCode::BAD_REQUEST, "bad_request"),
                ErrorCode::LimitExceeded | ErrorCode::RateLimited => {
                    (StatusCode::TOO_MANY_REQUESTS, "limit_exceeded")
                }
            },
        }
    }

    /// The response: the status and `{"error":{"code","message"}}`.
    pub fn into_response(self) -> Response<Bytes> {
        let (status, code) = self.status_and_code();
        let body = serde_json::json!({ "error": { "code": code, "message": self.to_string() } });
        let mut response = crate::api::json_response(status, &body);
        match &self {
            ApiError::Unauthorized => {
                response
                    .headers_mut()
                    .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            }
            ApiError::MethodNotAllowed { allowed, .. } => {
                response
                    .headers_mut()
                    .insert(header::ALLOW, HeaderValue::from_static(allowed));
            }
            _ => {}
        }
        response
    }
}
