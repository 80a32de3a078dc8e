//! The admin API's one error type: a status, a short machine-readable `code`, and a
//! message, sent as `{"error": MESSAGE, "code": CODE}`. Database errors map to 409, 404,
//! 401, 503 or 500 here.

use std::fmt;

use actix_web::{HttpResponse, ResponseError, http::StatusCode};
use serde_json::json;

use crate::store::StoreError;

#[derive(Debug)]
pub(crate) struct ApiError {
    status: StatusCode,
    code: &'static str,
    message: String,
}

impl ApiError {
    pub(crate) fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
        }
    }

    pub(crate) fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "bad_request", message)
    }

    pub(crate) fn unauthorized(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "unauthorized", message)
    }

    pub(crate) fn forbidden(message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, "forbidden", message)
    }

    pub(crate) fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", message)
    }

    /// 404 for a domain the store doesn't hold.
    pub(crate) fn not_registered(domain: &str) -> Self {
        Self::not_found(format!("domain '{domain}' is not registered"))
    }
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {}: {}",
            self.status.as_u16(),
            self.code,
            self.message
        )
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        self.status
    }

    fn error_response(&self) -> HttpResponse {
        HttpResponse::build(self.status).json(json!({
            "error": self.message,
            "code": self.code,
        }))
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        let message = e.to_string();
        match e {
            StoreError::Unavailable { .. } => Self::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "database_unavailable",
                message,
            ),
            StoreError::Conflict => Self::new(StatusCode::CONFLICT, "conflict", message),
            StoreError::NotFound => Self::not_found(message),
            StoreError::KeyMismatch => Self::unauthorized(message),
            StoreError::Other { .. } => {
                Self::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", message)
            }
        }
    }
}
