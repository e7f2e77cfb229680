//! A request message over a server's size limit is RESOURCE_EXHAUSTED, as
//! the gRPC convention has it. tonic rejects such a message before any codec
//! sees it and answers OUT_OF_RANGE; this layer rewrites that one answer
//! (and no other OUT_OF_RANGE) into RESOURCE_EXHAUSTED with a message that
//! names the limit and the setting that raises it.

use http::Response;
use tonic::{Code, Status, body::Body};

/// The text tonic starts its oversize status with.
const TONIC_OVERSIZE: &str = "Error, decoded message length too large";

/// Rewrites tonic's oversize answer; any other response passes unchanged.
/// Used with `tower::util::MapResponseLayer` in [`crate::grpc`].
pub fn as_resource_exhausted(mut response: Response<Body>) -> Response<Body> {
    let Some(replacement) =
        Status::from_header_map(response.headers()).and_then(|s| replacement(&s))
    else {
        return response;
    };
    let headers = response.headers_mut();
    headers.remove("grpc-message");
    if replacement.add_header(headers).is_err() {
        tracing::warn!("cannot rewrite an oversize status");
    }
    response
}

/// RESOURCE_EXHAUSTED in place of tonic's oversize status (as a streaming
/// call sees it from `Streaming::message`); `None` for any other status.
pub fn replacement(status: &Status) -> Option<Status> {
    if status.code() != Code::OutOfRange || !status.message().starts_with(TONIC_OVERSIZE) {
        return None;
    }
    let sizes: Vec<&str> = status
        .message()
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
    Some(Status::new(Code::ResourceExhausted, message))
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
        let rewritten = as_resource_exhausted(tonic_answer);
        let status = Status::from_header_map(rewritten.headers()).expect("status");
        assert_eq!(status.code(), Code::ResourceExhausted);
        assert!(status.message().contains("5242890") && status.message().contains("4194304"));
    }

    #[test]
    fn test_other_statuses_pass_unchanged() {
        let other = Status::out_of_range("page 9 is past the end").into_http::<Body>();
        let passed = as_resource_exhausted(other);
        let status = Status::from_header_map(passed.headers()).expect("status");
        assert_eq!(status.code(), Code::OutOfRange);
        let ok = Response::new(Body::empty());
        assert!(Status::from_header_map(as_resource_exhausted(ok).headers()).is_none());
    }
}
