//! Errors as every lifeboat error reads (`kind`, `message`, `hint`), with the HTTP status
//! that says the same to a client.

use axum::{
    Json,
    http::{StatusCode, header},
    response::{IntoResponse, Response},
};
use lifeboat_daemon::{DaemonError, DaemonErrorKind};
use serde::Serialize;

/// What went wrong, for the client.
#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    kind: &'static str,
    message: String,
    hint: String,
}

/// The body of every error response.
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct Failure<'a> {
    pub error: FailureDetail<'a>,
}

#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct FailureDetail<'a> {
    /// `unauthorized`, `forbidden`, `not_found`, `bad_request`, `too_large`, `unavailable`, `internal`.
    pub kind: &'a str,
    pub message: &'a str,
    pub hint: &'a str,
}

impl ApiError {
    pub fn new(status: StatusCode, kind: &'static str, message: impl Into<String>, hint: impl Into<String>) -> Self {
        Self { status, kind, message: message.into(), hint: hint.into() }
    }

    pub fn unauthorized() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "this needs credentials: a valid API token",
            "send `Authorization: Bearer TOKEN` with a token made by `lifeboat token add`",
        )
    }

    pub fn forbidden(needs: lifeboat_daemon::access::Role) -> Self {
        Self::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            format!("this needs the role {} (or above) for this database", needs.as_str()),
            "ask an admin for a token with that role and scope",
        )
    }

    pub fn bad_request(message: impl Into<String>, hint: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "bad_request", message, hint)
    }

    pub fn not_found(message: impl Into<String>, hint: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", message, hint)
    }

    pub fn internal(err: impl std::fmt::Display) -> Self {
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", err.to_string(), "see the daemon's log; run `lifeboat health` on the host")
    }
}

impl From<DaemonError> for ApiError {
    fn from(err: DaemonError) -> Self {
        match err.kind {
            DaemonErrorKind::Denied => Self::unauthorized(),
            DaemonErrorKind::Access => Self::bad_request(err.to_string(), lifeboat_error::Actionable::hint(&err).to_string()),
            _ => Self::internal(err),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = Failure { error: FailureDetail { kind: self.kind, message: &self.message, hint: &self.hint } };
        let mut response = (self.status, Json(body)).into_response();
        if self.status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(header::WWW_AUTHENTICATE, header::HeaderValue::from_static("Bearer realm=\"lifeboat\""));
        }
        response
    }
}
