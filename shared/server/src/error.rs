//! The one error vocabulary of Boost and its one mapping to gRPC statuses.
//!
//! Domain code returns its own `thiserror` enums; each converts into an
//! [`ApiError`], which becomes a `tonic::Status` with `google.rpc` details.
//! Internal errors are logged (inside the request's span, so with its request
//! id) and reach the caller only as "internal error".

use std::time::Duration;

use tonic::{Code, Status};
use tonic_types::{ErrorDetails, StatusExt};

/// How long a caller is told to wait (`RetryInfo`) before retrying after a
/// dependency failed (broker, database, auth, an upstream): long enough for
/// a reconnect, short enough not to stall a client.
pub const RETRY_DELAY: Duration = Duration::from_secs(1);

/// What went wrong, in the terms a caller can act on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorCode {
    /// The request is malformed; fix it before retrying.
    BadRequest,
    /// No valid credential was presented.
    Unauthenticated,
    /// The credential lacks the scope or ownership the call needs.
    Forbidden,
    /// The thing asked for does not exist (or belongs to another tenant).
    NotFound,
    /// The thing to create exists already.
    AlreadyExists,
    /// A rate limit or buffer is full; retry after the advertised delay.
    TooManyRequests,
    /// A dependency is down; retry after the advertised delay.
    Unavailable,
    /// A bug or an unexpected failure; details are in the server log only.
    Internal,
}

impl ErrorCode {
    /// The gRPC status code for this error.
    pub fn grpc_code(self) -> Code {
        match self {
            ErrorCode::BadRequest => Code::InvalidArgument,
            ErrorCode::Unauthenticated => Code::Unauthenticated,
            ErrorCode::Forbidden => Code::PermissionDenied,
            ErrorCode::NotFound => Code::NotFound,
            ErrorCode::AlreadyExists => Code::AlreadyExists,
            ErrorCode::TooManyRequests => Code::ResourceExhausted,
            ErrorCode::Unavailable => Code::Unavailable,
            ErrorCode::Internal => Code::Internal,
        }
    }

    /// Whether the same request may succeed later without changes.
    pub fn retryable(self) -> bool {
        matches!(self, ErrorCode::TooManyRequests | ErrorCode::Unavailable)
    }
}

/// An error on its way to a caller: code, safe message, and `google.rpc` details.
#[derive(Debug, Clone)]
pub struct ApiError {
    /// The category; decides the gRPC code.
    pub code: ErrorCode,
    /// Text safe to show the caller.
    pub message: String,
    /// Structured details (field violations, retry delay, quota); boxed
    /// because they are large and errors travel in every `Result`.
    pub details: Box<ErrorDetails>,
}

impl ApiError {
    /// An error with no structured details.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
            details: Box::new(ErrorDetails::new()),
        }
    }

    /// INVALID_ARGUMENT with one `BadRequest` field violation.
    pub fn bad_field(field: impl Into<String>, description: impl Into<String>) -> Self {
        let field = field.into();
        let description = description.into();
        Self {
            code: ErrorCode::BadRequest,
            message: format!("invalid {field}: {description}"),
            details: Box::new(ErrorDetails::with_bad_request_violation(field, description)),
        }
    }

    /// UNAUTHENTICATED.
    pub fn unauthenticated(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::Unauthenticated, message)
    }

    /// PERMISSION_DENIED.
    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::Forbidden, message)
    }

    /// NOT_FOUND.
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::NotFound, message)
    }

    /// UNAVAILABLE with a `RetryInfo` delay.
    pub fn unavailable(message: impl Into<String>, retry_after: Duration) -> Self {
        Self {
            code: ErrorCode::Unavailable,
            message: message.into(),
            details: Box::new(ErrorDetails::with_retry_info(Some(retry_after))),
        }
    }

    /// INTERNAL. Logs `source` (with the current span's request id) and hides it from the caller.
    pub fn internal(context: &str, source: &dyn std::error::Error) -> Self {
        tracing::error!(error = %error_chain(source), "{context}");
        Self::new(ErrorCode::Internal, "internal error")
    }
}

impl From<ApiError> for Status {
    fn from(err: ApiError) -> Self {
        Status::with_error_details(err.code.grpc_code(), err.message, *err.details)
    }
}

/// Renders an error and its sources as `outer: inner: root`, for logs.
pub fn error_chain(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(inner) = source {
        text.push_str(": ");
        text.push_str(&inner.to_string());
        source = inner.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_bad_field_carries_violation() {
        let status: Status = ApiError::bad_field("event.type", "must not be empty").into();
        assert_eq!(status.code(), Code::InvalidArgument);
        let details = status.get_error_details();
        let violations = &details.bad_request().expect("bad request").field_violations;
        assert_eq!(violations[0].field, "event.type");
    }

    #[test]
    fn test_unavailable_carries_retry_info() {
        let status: Status = ApiError::unavailable("broker down", Duration::from_secs(1)).into();
        assert_eq!(status.code(), Code::Unavailable);
        let details = status.get_error_details();
        assert_eq!(
            details.retry_info().expect("retry info").retry_delay,
            Some(Duration::from_secs(1))
        );
    }

    #[test]
    fn test_internal_hides_source() {
        let source = std::io::Error::other("password=hunter2 in SQL");
        let status: Status = ApiError::internal("query failed", &source).into();
        assert_eq!(status.code(), Code::Internal);
        assert!(!status.message().contains("hunter2"));
    }
}
