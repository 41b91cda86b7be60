//! Errors a request can end in, and how each one answers.
//!
//! Every error answers JSON of one shape:
//!
//! ```json
//! {"status": "Error: <message>", "error": "<code>", "message": "<message>"}
//! ```
//!
//! `status` keeps the original server's field, which its clients read; `error` is a stable code
//! for programs; `message` says what was wrong in terms of the request. Internal details (file
//! system paths, I/O error text) are logged, never sent.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;

/// Why a request failed.
#[derive(Debug)]
pub enum ApiError {
    /// The request is malformed or asks for something impossible (400).
    BadRequest {
        /// The stable code in the `error` field (`bad_json`, `bad_path`, ...).
        code: &'static str,
        /// What was wrong, in terms of the request.
        message: String,
    },
    /// No `X-Session-ID`, or one the server does not know (401).
    NoSession {
        /// Which of the two it was.
        message: &'static str,
    },
    /// A token is configured and the request does not carry it (401).
    Unauthorized,
    /// No such route (404).
    NotFound,
    /// The route exists, the method does not (405).
    MethodNotAllowed,
    /// The `Host` or `Origin` header names a site the server does not serve (403).
    Forbidden {
        /// The stable code (`host_not_allowed`, `origin_not_allowed`).
        code: &'static str,
        /// What was refused.
        message: String,
    },
    /// Another process holds the store's lock, or the store refuses writes (409).
    Conflict {
        /// The stable code (`locked`, `read_only`, `store_failed`).
        code: &'static str,
        /// What was wrong.
        message: String,
    },
    /// The body is larger than `max_body_bytes` (413).
    PayloadTooLarge {
        /// The limit in bytes.
        limit_bytes: usize,
    },
    /// The request body did not arrive within `body_timeout_secs` (408).
    RequestTimeout,
    /// The request line's target is longer than the server reads (414).
    UriTooLong {
        /// The limit in bytes.
        limit_bytes: usize,
    },
    /// The request's header fields are larger than the server reads (431).
    HeadersTooLarge {
        /// The limit in bytes.
        limit_bytes: usize,
    },
    /// This client already holds as many sessions as one client may (429).
    TooManyRequests {
        /// The stable code (`too_many_sessions_for_client`).
        code: &'static str,
        /// What limit was reached.
        message: String,
    },
    /// Too many sessions or stores, or the server is shutting down (503).
    Unavailable {
        /// The stable code (`too_many_sessions`, `too_many_stores`, `shutting_down`).
        code: &'static str,
        /// What limit was reached.
        message: String,
    },
    /// Something failed inside the server; details are in the log (500).
    Internal {
        /// The detail, for the log only.
        message: String,
    },
}

impl ApiError {
    pub(crate) fn bad_request(code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError::BadRequest { code, message: message.into() }
    }

    pub(crate) fn internal(message: impl Into<String>) -> ApiError {
        ApiError::Internal { message: message.into() }
    }

    /// The HTTP status it answers with.
    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::BadRequest { .. } => StatusCode::BAD_REQUEST,
            ApiError::NoSession { .. } | ApiError::Unauthorized => StatusCode::UNAUTHORIZED,
            ApiError::NotFound => StatusCode::NOT_FOUND,
            ApiError::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::Forbidden { .. } => StatusCode::FORBIDDEN,
            ApiError::RequestTimeout => StatusCode::REQUEST_TIMEOUT,
            ApiError::HeadersTooLarge { .. } => StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            ApiError::UriTooLong { .. } => StatusCode::URI_TOO_LONG,
            ApiError::TooManyRequests { .. } => StatusCode::TOO_MANY_REQUESTS,
            ApiError::Conflict { .. } => StatusCode::CONFLICT,
            ApiError::PayloadTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::Unavailable { .. } => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Internal { .. } => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The stable code in the `error` field.
    pub fn code(&self) -> &'static str {
        match self {
            ApiError::BadRequest { code, .. }
            | ApiError::Forbidden { code, .. }
            | ApiError::Conflict { code, .. }
            | ApiError::TooManyRequests { code, .. }
            | ApiError::Unavailable { code, .. } => code,
            ApiError::UriTooLong { .. } => "uri_too_long",
            ApiError::RequestTimeout => "body_timeout",
            ApiError::HeadersTooLarge { .. } => "headers_too_large",
            ApiError::NoSession { .. } => "no_session",
            ApiError::Unauthorized => "unauthorized",
            ApiError::NotFound => "not_found",
            ApiError::MethodNotAllowed => "method_not_allowed",
            ApiError::PayloadTooLarge { .. } => "payload_too_large",
            ApiError::Internal { .. } => "internal",
        }
    }

    /// What the client is told.
    pub fn message(&self) -> String {
        match self {
            ApiError::BadRequest { message, .. }
            | ApiError::Forbidden { message, .. }
            | ApiError::Conflict { message, .. }
            | ApiError::TooManyRequests { message, .. }
            | ApiError::Unavailable { message, .. } => message.clone(),
            ApiError::RequestTimeout => "the request body did not arrive in time".into(),
            ApiError::HeadersTooLarge { limit_bytes } => {
                format!("the request's header fields are larger than the limit of {limit_bytes} bytes")
            }
            ApiError::UriTooLong { limit_bytes } => {
                format!("the request target is longer than the limit of {limit_bytes} bytes")
            }
            ApiError::NoSession { message } => (*message).to_owned(),
            ApiError::Unauthorized => "missing or wrong bearer token (Authorization: Bearer <token>)".into(),
            ApiError::NotFound => "no such route".into(),
            ApiError::MethodNotAllowed => "method not allowed on this route".into(),
            ApiError::PayloadTooLarge { limit_bytes } => {
                format!("request body is larger than the limit of {limit_bytes} bytes")
            }
            // The detail went to the log; the client only learns that it was not its fault.
            ApiError::Internal { .. } => "internal server error".into(),
        }
    }

    /// Maps a store error, naming the store by the client's own path `name`.
    pub(crate) fn from_store(error: crate::Error, name: &str) -> ApiError {
        use crate::Error as E;
        match error {
            E::KeyTooLarge { .. } | E::ValueTooLarge { .. } | E::IdentifierTooLong { .. } => {
                ApiError::bad_request("too_large", error.to_string())
            }
            E::NotAStore { reason, .. } => {
                ApiError::bad_request("not_a_store", format!("'{name}' is not a Wind-KVStore file: {reason}"))
            }
            E::UnsupportedVersion { version, supported, .. } => ApiError::bad_request(
                "unsupported_version",
                format!("'{name}' has format version {version}; this server reads version {supported}"),
            ),
            E::NotFound { .. } => ApiError::bad_request("no_such_store", format!("'{name}' does not exist")),
            E::Locked { .. } => ApiError::Conflict {
                code: "locked",
                message: format!("'{name}' is locked by another process"),
            },
            E::ReadOnly => {
                ApiError::Conflict { code: "read_only", message: format!("'{name}' is read-only") }
            }
            E::Poisoned { .. } => ApiError::Conflict {
                code: "store_failed",
                message: format!(
                    "'{name}' refuses writes after an I/O failure; close every session on it to reopen it"
                ),
            },
            E::Corrupted { page, .. } => ApiError::internal(format!("'{name}': corrupted page {page}")),
            E::StalePage { page, .. } => ApiError::Conflict {
                code: "stale_read",
                message: format!(
                    "'{name}': page {page} was rewritten by a writer after the state this read-only \
                     session reads; close and reopen it"
                ),
            },
            other => ApiError::internal(format!("'{name}': {other}")),
        }
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ApiError::Internal { message } => write!(f, "internal error: {message}"),
            other => write!(f, "{}: {}", other.code(), other.message()),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if let ApiError::Internal { message } = &self {
            tracing::error!(detail = ?super::logging::Escaped(message), "internal error");
        }
        (self.status(), Json(error_body(self.code(), &self.message()))).into_response()
    }
}

/// The JSON every error answers with.
pub(crate) fn error_body(code: &str, message: &str) -> serde_json::Value {
    json!({"status": format!("Error: {message}"), "error": code, "message": message})
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn internal_details_stay_out_of_the_answer() {
        let e = ApiError::from_store(
            crate::Error::Io(std::io::Error::other("/secret/dir: disk on fire")),
            "a.db",
        );
        assert_eq!(e.status(), StatusCode::INTERNAL_SERVER_ERROR);
        assert!(!e.message().contains("secret"));
        let e = ApiError::from_store(crate::Error::Locked { path: "/secret/dir/a.db".into() }, "a.db");
        assert_eq!(e.status(), StatusCode::CONFLICT);
        assert_eq!(e.message(), "'a.db' is locked by another process");
    }
}
