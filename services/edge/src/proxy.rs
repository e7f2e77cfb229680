//! Forwards gRPC calls to the service that owns their path.

use std::{
    convert::Infallible,
    future::Future,
    pin::Pin,
    sync::{Arc, OnceLock},
    task::{Context, Poll},
};

use boost_server::{ApiError, error::ErrorCode};
use http::{Request, Response, Version, header};
use tonic::{body::Body, transport::Channel};
use tower::{Service, ServiceExt};

/// Paths the edge never forwards: internal RPCs.
const BLOCKED: &[&str] = &["/boost.auth.v1.AuthService/ValidateApiKey"];

/// Headers that belong to one HTTP/1.1 hop and are illegal in HTTP/2.
const HOP_BY_HOP: [header::HeaderName; 5] = [
    header::CONNECTION,
    header::TRANSFER_ENCODING,
    header::UPGRADE,
    header::HOST,
    header::HeaderName::from_static("keep-alive"),
];

/// Routes requests by service path prefix to upstream channels.
#[derive(Clone)]
pub struct Proxy {
    /// `(path prefix, upstream)` pairs, e.g. `("/boost.ingest.v1.", ingest)`.
    routes: Vec<(&'static str, Channel)>,
}

impl Proxy {
    /// A proxy over `routes`.
    pub fn new(routes: Vec<(&'static str, Channel)>) -> Self {
        Self { routes }
    }
}

fn status_response(error: ApiError) -> Response<Body> {
    tonic::Status::from(error).into_http()
}

impl Service<Request<Body>> for Proxy {
    type Response = Response<Body>;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Response<Body>, Infallible>> + Send>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        // Channels buffer internally; readiness is checked per call below.
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, mut request: Request<Body>) -> Self::Future {
        let path = request.uri().path().to_string();
        if BLOCKED.contains(&path.as_str()) {
            return Box::pin(async move {
                Ok(status_response(ApiError::forbidden(format!(
                    "{path} is internal and not served by the edge"
                ))))
            });
        }
        let Some(channel) = self
            .routes
            .iter()
            .find(|(prefix, _)| path.starts_with(prefix))
            .map(|(_, channel)| channel.clone())
        else {
            return Box::pin(async move {
                Ok(tonic::Status::unimplemented(format!("no service for {path}")).into_http())
            });
        };
        for name in &HOP_BY_HOP {
            request.headers_mut().remove(name);
        }
        // The upstream's span becomes a child of the edge's own.
        boost_server::trace_context::inject_current(request.headers_mut());
        // gRPC-web text mode arrives base64-encoded and tonic-web decodes it,
        // but its body still reports the encoded length as an exact size;
        // the HTTP/2 client would send that as content-length and the
        // upstream would refuse the shorter body as a protocol error.
        request.headers_mut().remove(header::CONTENT_LENGTH);
        let fault = BodyFault::default();
        let mut request = request.map(|body| {
            Body::new(UnsizedBody {
                body,
                fault: fault.clone(),
            })
        });
        append_forwarded_for(&mut request);
        *request.version_mut() = Version::HTTP_2;
        Box::pin(async move {
            let mut channel = channel;
            let answer = match channel.ready().await {
                Ok(ready) => ready.call(request).await,
                Err(err) => Err(err),
            };
            if let Some(fault) = fault.get() {
                // The caller's body broke (e.g. gRPC-web text that is not
                // base64), whatever the upstream made of the cut-off stream.
                return Ok(status_response(ApiError::new(
                    ErrorCode::BadRequest,
                    format!("malformed request body: {fault}"),
                )));
            }
            match answer {
                Ok(response) => Ok(response),
                Err(err) => {
                    tracing::warn!(path, error = %boost_server::error::error_chain(&err), "upstream call failed");
                    Ok(status_response(ApiError::unavailable(
                        "upstream service unavailable",
                        boost_server::error::RETRY_DELAY,
                    )))
                }
            }
        })
    }
}

/// Why the caller's request body could not be read, once it could not.
type BodyFault = Arc<OnceLock<String>>;

/// A body whose size is not announced: frames pass through unchanged. An
/// error reading the caller's body (tonic-web decoding gRPC-web text) is
/// kept in `fault`, so the caller hears it as its own fault.
struct UnsizedBody {
    body: Body,
    fault: BodyFault,
}

impl http_body::Body for UnsizedBody {
    type Data = bytes::Bytes;
    type Error = tonic::Status;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<bytes::Bytes>, tonic::Status>>> {
        let this = self.get_mut();
        let frame = Pin::new(&mut this.body).poll_frame(cx);
        if let Poll::Ready(Some(Err(status))) = &frame {
            let reason = status.message().trim_start_matches("tonic-web: ");
            let _ = this.fault.set(reason.to_string());
        }
        frame
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }
}

/// Appends the caller's address to `x-forwarded-for`, as proxies do, so
/// ingest (with `BOOST_INGEST_TRUST_FORWARDED_FOR`) limits per real client.
fn append_forwarded_for(request: &mut Request<Body>) {
    let Some(peer) = request
        .extensions()
        .get::<tonic::transport::server::TcpConnectInfo>()
        .and_then(|info| info.remote_addr())
    else {
        return;
    };
    let name = header::HeaderName::from_static("x-forwarded-for");
    let value = match request.headers().get(&name).and_then(|v| v.to_str().ok()) {
        Some(earlier) => format!("{earlier}, {}", peer.ip()),
        None => peer.ip().to_string(),
    };
    if let Ok(value) = value.parse() {
        request.headers_mut().insert(name, value);
    }
}
