//! The end of every request, observed once: the RED metrics
//! ([`crate::metrics::RPC_REQUESTS`], [`crate::metrics::RPC_DURATION`]) and
//! the one log line per request (code and duration, inside the `rpc` span
//! that names the method and the request id).
//!
//! The gRPC code is in the response headers for a trailers-only answer
//! (most errors) and in the trailers otherwise, so the body is watched for
//! its trailers; a stream the client leaves early counts as CANCELLED.
//!
//! The `method` label is bounded: a path that names no method of the
//! descriptor sets Boost serves (its own, health, reflection) is counted as
//! [`OTHER_METHOD`], so a caller sending made-up paths cannot grow the
//! metrics without bound. The log line keeps the real path.

use std::{
    collections::HashSet,
    future::Future,
    pin::Pin,
    sync::OnceLock,
    task::{Context, Poll, ready},
    time::Instant,
};

use boost_proto::prost::Message;

use http::{HeaderMap, Request, Response};
use http_body::{Body as HttpBody, Frame};
use tonic::{Code, body::Body};
use tower::{Layer, Service};

/// The `method` label of any path that is not a known method.
pub const OTHER_METHOD: &str = "other";

/// Every `/package.Service/Method` path the servers may serve, from the
/// descriptor sets reflection serves.
fn known_methods() -> &'static HashSet<String> {
    static KNOWN: OnceLock<HashSet<String>> = OnceLock::new();
    KNOWN.get_or_init(|| {
        let sets = [
            boost_proto::FILE_DESCRIPTOR_SET,
            tonic_health::pb::FILE_DESCRIPTOR_SET,
            tonic_reflection::pb::v1::FILE_DESCRIPTOR_SET,
            tonic_reflection::pb::v1alpha::FILE_DESCRIPTOR_SET,
        ];
        let mut known = HashSet::new();
        for set in sets {
            let Ok(set) = boost_proto::prost_types::FileDescriptorSet::decode(set) else {
                continue;
            };
            for file in set.file {
                for service in &file.service {
                    for method in &service.method {
                        known.insert(format!(
                            "/{}.{}/{}",
                            file.package(),
                            service.name(),
                            method.name()
                        ));
                    }
                }
            }
        }
        known
    })
}

/// The metrics label of `path`: itself when a known method, else
/// [`OTHER_METHOD`]; borrowed from the static set, so nothing is allocated.
pub fn method_label(path: &str) -> &'static str {
    known_methods()
        .get(path)
        .map_or(OTHER_METHOD, String::as_str)
}

/// Wraps a service with [`Observe`].
#[derive(Debug, Clone, Copy, Default)]
pub struct ObserveLayer;

impl<S> Layer<S> for ObserveLayer {
    type Service = Observe<S>;

    fn layer(&self, inner: S) -> Observe<S> {
        Observe { inner }
    }
}

/// Records each request's end; see the module doc.
#[derive(Debug, Clone)]
pub struct Observe<S> {
    inner: S,
}

impl<S> Service<Request<Body>> for Observe<S>
where
    S: Service<Request<Body>, Response = Response<Body>>,
    S::Future: Send + 'static,
{
    type Response = Response<Body>;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Response<Body>, S::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<Body>) -> Self::Future {
        if !is_grpc(request.headers()) {
            // Not an RPC (the edge's console files): no gRPC code to count.
            return Box::pin(self.inner.call(request));
        }
        let end = RequestEnd {
            method: method_label(request.uri().path()),
            started: Instant::now(),
            span: tracing::Span::current(),
        };
        let answer = self.inner.call(request);
        Box::pin(async move {
            let response = answer.await?;
            if let Some(code) = grpc_code(response.headers()) {
                end.finish(code);
                return Ok(response);
            }
            Ok(response.map(|body| {
                Body::new(ObservedBody {
                    inner: body,
                    end: Some(end),
                })
            }))
        })
    }
}

/// What is known when a request starts, to be recorded when it ends.
struct RequestEnd {
    method: &'static str,
    started: Instant,
    /// The `rpc` span (method, request id) the log line belongs to.
    span: tracing::Span,
}

impl RequestEnd {
    fn finish(self, code: Code) {
        let elapsed = self.started.elapsed();
        let code_name = format!("{code:?}");
        metrics::counter!(crate::metrics::RPC_REQUESTS, "method" => self.method, "code" => code_name.clone())
            .increment(1);
        metrics::histogram!(crate::metrics::RPC_DURATION, "method" => self.method)
            .record(elapsed.as_secs_f64());
        let millis = format!("{:.2}", elapsed.as_secs_f64() * 1000.0);
        let _in_span = self.span.enter();
        tracing::info!(code = %code_name, duration_ms = %millis, "request");
    }
}

/// Whether a request is gRPC or gRPC-web (by its content type): only those
/// are observed here, and the edge serves its console to everything else.
pub fn is_grpc(headers: &HeaderMap) -> bool {
    headers
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/grpc"))
}

/// The gRPC status code a header map carries, if any.
fn grpc_code(headers: &HeaderMap) -> Option<Code> {
    headers
        .get("grpc-status")
        .map(|value| Code::from_bytes(value.as_bytes()))
}

/// A response body that records the request's end at its trailers, or as
/// CANCELLED when dropped before them.
struct ObservedBody {
    inner: Body,
    end: Option<RequestEnd>,
}

impl HttpBody for ObservedBody {
    type Data = bytes::Bytes;
    type Error = tonic::Status;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        let frame = ready!(Pin::new(&mut self.inner).poll_frame(cx));
        match &frame {
            Some(Ok(frame)) => {
                if let Some(code) = frame.trailers_ref().and_then(grpc_code)
                    && let Some(end) = self.end.take()
                {
                    end.finish(code);
                }
            }
            Some(Err(status)) => {
                if let Some(end) = self.end.take() {
                    end.finish(status.code());
                }
            }
            None => {
                // Ended without trailers: nothing said what became of it.
                if let Some(end) = self.end.take() {
                    end.finish(Code::Unknown);
                }
            }
        }
        Poll::Ready(frame)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}

impl Drop for ObservedBody {
    fn drop(&mut self) {
        if let Some(end) = self.end.take() {
            end.finish(Code::Cancelled);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_method_label_is_bounded_to_served_methods() {
        for served in [
            "/boost.ingest.v1.IngestService/Track",
            "/boost.processor.v1.ProcessorService/GetStatus",
            "/grpc.health.v1.Health/Check",
            "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo",
            "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo",
        ] {
            assert_eq!(method_label(served), served);
        }
        for made_up in ["/boost.ingest.v1.IngestService/Nope", "/x/y", "/", ""] {
            assert_eq!(method_label(made_up), OTHER_METHOD);
        }
    }
}
