//! The HTTP boundary's error type: every failure becomes a status and a JSON body
//! `{"error": {"code", "message"}}`.

use crate::protocol::{ApiErrorBody, ErrorCode};
use axum::{
    http::StatusCode,
    response::{IntoResponse, Response},
    Json,
};

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{0}")]
    InvalidInput(String),
    #[error("that username is taken")]
    UsernameTaken,
    #[error("wrong username or password")]
    InvalidCredentials,
    #[error("sign in first")]
    Unauthorized,
    #[error("this origin may not open sockets here")]
    BadOrigin,
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    NotFound(String),
    #[error("too many open connections for this account; close a tab and try again")]
    TooManySockets,
    #[error("something went wrong on the server")]
    Internal(#[from] anyhow::Error),
}

impl ApiError {
    fn status_and_code(&self) -> (StatusCode, ErrorCode) {
        match self {
            ApiError::InvalidInput(_) => (StatusCode::BAD_REQUEST, ErrorCode::InvalidInput),
            ApiError::UsernameTaken => (StatusCode::CONFLICT, ErrorCode::UsernameTaken),
            ApiError::InvalidCredentials => {
                (StatusCode::UNAUTHORIZED, ErrorCode::InvalidCredentials)
            }
            ApiError::Unauthorized => (StatusCode::UNAUTHORIZED, ErrorCode::Unauthorized),
            ApiError::BadOrigin => (StatusCode::FORBIDDEN, ErrorCode::BadOrigin),
            ApiError::Forbidden(_) => (StatusCode::FORBIDDEN, ErrorCode::Forbidden),
            ApiError::NotFound(_) => (StatusCode::NOT_FOUND, ErrorCode::NotFound),
            ApiError::TooManySockets => (StatusCode::TOO_MANY_REQUESTS, ErrorCode::TooManySockets),
            ApiError::Internal(_) => (StatusCode::INTERNAL_SERVER_ERROR, ErrorCode::Internal),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, code) = self.status_and_code();
        if let ApiError::Internal(err) = &self {
            tracing::error!(error = ?err, "request failed");
        }
        (status, Json(ApiErrorBody::new(code, self.to_string()))).into_response()
    }
}

/// Parses a JSON request body, turning any failure into a 400 with a JSON error body (axum's
/// own `Json` extractor answers in plain text).
pub fn parse_json<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    serde_json::from_slice(body)
        .map_err(|e| ApiError::InvalidInput(format!("the request body is not valid JSON: {e}")))
}
