//! The operator credential (`x-admin-token`) from browsers only on
//! configured origins (`BOOST_EDGE_ADMIN_ORIGINS`, default none).
//!
//! CORS lets any allowed origin send the public headers (`x-api-key`, …).
//! The admin token is different: a page on another origin that learned it
//! could administer every organisation. So for a browser request (one with
//! an `Origin`) from an origin not in the admin list, this layer removes
//! `x-admin-token` from the preflight's `Access-Control-Allow-Headers`, and
//! refuses an actual request carrying it with PERMISSION_DENIED. Requests
//! without `Origin` (grpcurl, SDKs, services) are not browsers and pass.
//!
//! When the edge serves the console (`BOOST_EDGE_CONSOLE_DIR`), the edge's
//! own origin is allowed too: a page whose `Origin` names the host it is
//! talking to was served by this edge, and a browser does not let another
//! page claim that origin.

use std::{
    future::Future,
    pin::Pin,
    sync::Arc,
    task::{Context, Poll},
};

use boost_server::ApiError;
use http::{HeaderValue, Request, Response, header};
use tonic::body::Body;
use tower::{Layer, Service};

/// The operator credential's header.
const ADMIN_HEADER: &str = "x-admin-token";

/// Adds [`AdminOrigin`] around a service.
#[derive(Clone)]
pub struct AdminOriginLayer {
    /// Origins whose pages may send the admin token.
    allowed: Arc<Vec<HeaderValue>>,
    /// Whether the edge's own origin (its console) is allowed.
    own_origin: bool,
}

impl AdminOriginLayer {
    /// Allows the admin token from `origins` only, and from the edge's own
    /// origin when `own_origin` (the edge serves the console).
    pub fn new(origins: &[String], own_origin: bool) -> Self {
        Self {
            own_origin,
            allowed: Arc::new(
                origins
                    .iter()
                    .filter_map(|o| HeaderValue::from_str(o).ok())
                    .collect(),
            ),
        }
    }
}

impl<S> Layer<S> for AdminOriginLayer {
    type Service = AdminOrigin<S>;

    fn layer(&self, inner: S) -> Self::Service {
        AdminOrigin {
            inner,
            allowed: self.allowed.clone(),
            own_origin: self.own_origin,
        }
    }
}

/// See the module documentation.
#[derive(Clone)]
pub struct AdminOrigin<S> {
    /// The CORS-wrapped service.
    inner: S,
    /// Origins whose pages may send the admin token.
    allowed: Arc<Vec<HeaderValue>>,
    /// Whether the edge's own origin is allowed.
    own_origin: bool,
}

/// Whether the request's `Origin` names the host it was sent to.
fn same_origin(request: &Request<Body>) -> bool {
    let origin = request
        .headers()
        .get(header::ORIGIN)
        .and_then(|v| v.to_str().ok());
    let host = request
        .headers()
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .or_else(|| request.uri().authority().map(|a| a.as_str()));
    match (origin, host) {
        (Some(origin), Some(host)) => origin
            .split_once("://")
            .is_some_and(|(_, origin_host)| origin_host == host),
        _ => false,
    }
}

impl<S> Service<Request<Body>> for AdminOrigin<S>
where
    S: Service<Request<Body>, Response = Response<Body>> + Send + 'static,
    S::Future: Send + 'static,
{
    type Response = Response<Body>;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Response<Body>, S::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<Body>) -> Self::Future {
        let foreign = request
            .headers()
            .get(header::ORIGIN)
            .is_some_and(|origin| !self.allowed.contains(origin))
            && !(self.own_origin && same_origin(&request));
        if foreign && request.headers().contains_key(ADMIN_HEADER) {
            let refused = ApiError::forbidden(
                "x-admin-token is not accepted from this origin (BOOST_EDGE_ADMIN_ORIGINS)",
            );
            return Box::pin(async move { Ok(tonic::Status::from(refused).into_http()) });
        }
        let answer = self.inner.call(request);
        Box::pin(async move {
            let mut response = answer.await?;
            if foreign {
                drop_admin_header(&mut response);
            }
            Ok(response)
        })
    }
}

/// Removes the admin header from a preflight answer's allowed headers.
fn drop_admin_header(response: &mut Response<Body>) {
    let headers = response.headers_mut();
    let Some(allowed) = headers
        .get(header::ACCESS_CONTROL_ALLOW_HEADERS)
        .and_then(|v| v.to_str().ok())
    else {
        return;
    };
    let kept: Vec<&str> = allowed
        .split(',')
        .map(str::trim)
        .filter(|h| !h.eq_ignore_ascii_case(ADMIN_HEADER))
        .collect();
    if let Ok(value) = HeaderValue::from_str(&kept.join(",")) {
        headers.insert(header::ACCESS_CONTROL_ALLOW_HEADERS, value);
    }
}
