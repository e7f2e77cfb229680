//! The edge: the browser / HTTP/1.1 door. gRPC-web (tonic-web) and CORS in
//! front of ingest, query and auth; health and reflection are answered
//! locally, everything else is forwarded by path. `deploy/envoy/envoy.yaml`
//! does the same job with Envoy.
//!
//! - [`config`]: flags and env vars
//! - [`admin_origin`]: the operator token from configured browser origins only
//! - [`proxy`]: path → upstream forwarding
//! - [`console`]: the built console's files for browsers (`BOOST_EDGE_CONSOLE_DIR`)
//! - [`run`]: builds everything and serves; used by `main` and by tests

pub mod admin_origin;
pub mod config;
pub mod console;
pub mod proxy;

use std::{future::Future, time::Duration};

use boost_server::{grpc::GrpcServer, tls::TlsArgs};
use http::{HeaderName, HeaderValue, Request};
use tokio::net::TcpListener;
use tonic::{body::Body, service::Routes, transport::Channel};
use tonic_web::GrpcWebLayer;
use tower::{ServiceBuilder, steer::Steer, util::BoxCloneService};
use tower_http::cors::{AllowOrigin, CorsLayer};

pub use config::Config;

/// Services the edge forwards, listed by its reflection. Every service named
/// in a service crate's `ACCESS` table must be here (checked by
/// `shared/testkit/tests/routes.rs`, with `deploy/envoy/envoy.yaml`).
pub const FORWARDED: [&str; 5] = [
    "boost.ingest.v1.IngestService",
    "boost.query.v1.QueryService",
    "boost.auth.v1.AuthService",
    "boost.processor.v1.DeadLetterService",
    "boost.processor.v1.ProcessorService",
];

/// Response headers a browser client must be able to read.
const EXPOSED_HEADERS: [&str; 8] = [
    "grpc-status",
    "grpc-message",
    "grpc-status-details-bin",
    "x-request-id",
    "x-ratelimit-limit",
    "x-ratelimit-remaining",
    "x-ratelimit-reset",
    "retry-after",
];

/// Request headers a browser client may send.
const ALLOWED_HEADERS: [&str; 8] = [
    "content-type",
    "x-grpc-web",
    "x-user-agent",
    "grpc-timeout",
    "x-api-key",
    "authorization",
    "x-request-id",
    "x-admin-token",
];

fn upstream(url: &str, timeout: Duration, tls: &TlsArgs) -> anyhow::Result<Channel> {
    Ok(tls
        .endpoint(url)
        .map_err(anyhow::Error::msg)?
        .connect_timeout(Duration::from_secs(2))
        .timeout(timeout)
        .connect_lazy())
}

fn cors(origins: &[String]) -> CorsLayer {
    let allow_origin = if origins.iter().any(|o| o == "*") {
        AllowOrigin::any()
    } else {
        AllowOrigin::list(origins.iter().filter_map(|o| HeaderValue::from_str(o).ok()))
    };
    CorsLayer::new()
        .allow_origin(allow_origin)
        .allow_methods([http::Method::POST, http::Method::OPTIONS])
        .allow_headers(ALLOWED_HEADERS.map(HeaderName::from_static))
        .expose_headers(EXPOSED_HEADERS.map(HeaderName::from_static))
        .max_age(Duration::from_secs(24 * 3600))
}

/// Serves gRPC-web and gRPC on `listener` until `shutdown`.
pub async fn run(
    config: Config,
    listener: TcpListener,
    shutdown: impl Future<Output = ()>,
) -> anyhow::Result<()> {
    let timeout = config.grpc.request_timeout;
    let proxy = proxy::Proxy::new(vec![
        (
            "/boost.ingest.v1.",
            upstream(&config.ingest_url, timeout, &config.grpc.tls)?,
        ),
        (
            "/boost.query.v1.",
            upstream(&config.query_url, timeout, &config.grpc.tls)?,
        ),
        (
            "/boost.auth.v1.",
            upstream(&config.auth_url, timeout, &config.grpc.tls)?,
        ),
        (
            "/boost.processor.v1.",
            upstream(&config.processor_url, timeout, &config.grpc.tls)?,
        ),
    ]);
    let cors = cors(&config.cors_origins);
    let console_dir = config.console_dir.clone();
    let admin_origin =
        admin_origin::AdminOriginLayer::new(&config.admin_origins, !config.console_dir.is_empty());
    let server = FORWARDED
        .iter()
        .fold(GrpcServer::new(&config.grpc).accept_http1(), |s, name| {
            s.advertise(name)
        });
    server
        .serve_wrapped(listener, shutdown, move |routes: Routes| {
            let local = BoxCloneService::new(routes);
            let forward = BoxCloneService::new(proxy);
            // Health and reflection answer locally; everything else is forwarded.
            let steer = Steer::new(vec![local, forward], |request: &Request<Body>, _: &[_]| {
                usize::from(!request.uri().path().starts_with("/grpc."))
            });
            let api = BoxCloneService::new(
                ServiceBuilder::new()
                    .layer(admin_origin)
                    .layer(cors)
                    .layer(GrpcWebLayer::new())
                    .service(steer),
            );
            if console_dir.is_empty() {
                api
            } else {
                console::with_console(&console_dir, api)
            }
        })
        .await?;
    Ok(())
}
