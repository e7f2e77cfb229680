//! Faults in how a request is framed, answered in the caller's terms.
//!
//! tonic refuses some requests before any codec sees them, in its own words:
//! a message over the size limit as OUT_OF_RANGE, and a body that is not a
//! well-formed sequence of gRPC message frames (no message at all, a frame
//! cut short, an invalid flag byte, a compressed flag with no encoding, a
//! frame that does not decompress) as INTERNAL. Both blame the caller, so
//! this layer rewrites exactly those answers: oversize into
//! RESOURCE_EXHAUSTED naming the limit and the setting that raises it, bad
//! framing into INVALID_ARGUMENT saying what was wrong. Any other status
//! passes unchanged. (The gRPC compression document asks for INTERNAL on a
//! compressed flag without an encoding; Boost's rule that nothing a caller
//! sends is INTERNAL wins.)

use http::Response;
use tonic::{Code, Status, body::Body};

use crate::{ApiError, error::ErrorCode};

/// The text tonic starts its oversize status with.
const TONIC_OVERSIZE: &str = "Error, decoded message length too large";

/// How tonic words each framing fault (INTERNAL), and what the caller is told.
const TONIC_FRAMING: [(&str, &str); 5] = [
    (
        "Missing request message",
        "the request body holds no gRPC message; a unary call needs exactly one",
    ),
    (
        "Unexpected EOF decoding stream",
        "the request body ends inside a gRPC message frame (its length prefix promises more bytes)",
    ),
    (
        "protocol error: received message with compressed-flag but no grpc-encoding",
        "a gRPC message frame is flagged compressed but the request names no grpc-encoding",
    ),
    (
        "protocol error: received message with invalid compression flag",
        "a gRPC message frame starts with an invalid flag byte (only 0 and 1 are valid)",
    ),
    (
        "Error decompressing",
        "a compressed gRPC message frame does not decompress",
    ),
];

/// Rewrites tonic's oversize and framing answers; any other response passes
/// unchanged. Used with `tower::util::MapResponseLayer` in [`crate::grpc`].
pub fn as_caller_fault(mut response: Response<Body>) -> Response<Body> {
    let Some(replacement) =
        Status::from_header_map(response.headers()).and_then(|s| replacement(&s))
    else {
        return response;
    };
    let headers = response.headers_mut();
    headers.remove("grpc-message");
    headers.remove("grpc-status-details-bin");
    if replacement.add_header(headers).is_err() {
        tracing::warn!("cannot rewrite a request fault status");
    }
    response
}

/// The caller-facing status in place of tonic's oversize or framing status
/// (as a streaming call sees it from `Streaming::message`); `None` for any
/// other status.
pub fn replacement(status: &Status) -> Option<Status> {
    match status.code() {
        Code::OutOfRange if status.message().starts_with(TONIC_OVERSIZE) => {
            Some(oversize(status.message()))
        }
        Code::Internal => TONIC_FRAMING
            .iter()
            .find(|(tonic, _)| status.message().starts_with(tonic))
            .map(|(_, caller)| ApiError::new(ErrorCode::BadRequest, *caller).into()),
        _ => None,
    }
}

fn oversize(tonic_message: &str) -> Status {
    let sizes: Vec<&str> = tonic_message
        .split(|c: char| !c.is_ascii_digit())
        .filter(|n| !n.is_empty())
        .collect();
    let message = match sizes.as_slice() {
        [found, limit] => format!(
            "request message of {found} bytes is over this service's limit of {limit} bytes \
             (BOOST_GRPC_MAX_MESSAGE_BYTES); split it into smaller requests"
        ),
        _ => "request message is over this service's size limit".to_string(),
    };
    Status::new(Code::ResourceExhausted, message)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_oversize_becomes_resource_exhausted_naming_the_limit() {
        let tonic_answer = Status::out_of_range(
            "Error, decoded message length too large: found 5242890 bytes, the limit is: 4194304 bytes",
        )
        .into_http::<Body>();
        let rewritten = as_caller_fault(tonic_answer);
        let status = Status::from_header_map(rewritten.headers()).expect("status");
        assert_eq!(status.code(), Code::ResourceExhausted);
        assert!(status.message().contains("5242890") && status.message().contains("4194304"));
    }

    #[test]
    fn test_other_statuses_pass_unchanged() {
        let other = Status::out_of_range("page 9 is past the end").into_http::<Body>();
        let passed = as_caller_fault(other);
        let status = Status::from_header_map(passed.headers()).expect("status");
        assert_eq!(status.code(), Code::OutOfRange);
        let ok = Response::new(Body::empty());
        assert!(Status::from_header_map(as_caller_fault(ok).headers()).is_none());
        let bug = Status::internal("connection pool closed").into_http::<Body>();
        let status = Status::from_header_map(as_caller_fault(bug).headers()).expect("status");
        assert_eq!(status.code(), Code::Internal);
    }

    #[test]
    fn test_framing_faults_become_invalid_argument() {
        for (tonic, _) in TONIC_FRAMING {
            let answer = Status::internal(format!("{tonic}: detail")).into_http::<Body>();
            let status =
                Status::from_header_map(as_caller_fault(answer).headers()).expect("status");
            assert_eq!(status.code(), Code::InvalidArgument, "{tonic}");
            assert!(!status.message().contains("tonic"), "{}", status.message());
        }
    }
}
