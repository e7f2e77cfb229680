//! The one way a Boost service serves gRPC.
//!
//! [`GrpcServer`] adds `grpc.health.v1.Health`, server reflection over every
//! Boost proto, request ids (`x-request-id`: taken from the caller or
//! generated, echoed in the response and recorded on the request's log span),
//! the caller's trace context (the `rpc` span continues its `traceparent`),
//! the optional [`AuthLayer`], and explicit limits from [`GrpcArgs`].
//! Health answers SERVING once serving starts and NOT_SERVING first thing on
//! shutdown.

use std::{convert::Infallible, future::Future};

use http::{Request, Response};
use tokio::net::TcpListener;
use tonic::{
    body::Body,
    server::NamedService,
    service::{Routes, RoutesBuilder},
    transport::{Server, server::TcpIncoming},
};
use tonic_health::{
    ServingStatus,
    pb::health_server::HealthServer,
    server::{HealthReporter, HealthService},
};
use tower::{Service, ServiceBuilder, util::MapResponseLayer};
use tower_http::{
    request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer},
    trace::{DefaultOnFailure, TraceLayer},
};
use tracing::Level;

use crate::{
    auth::AuthLayer,
    config::GrpcArgs,
    trace_context::{Head, HeadSamplingLayer},
};

/// The target of a request's span when its trace is exported or export is off.
const RPC_TARGET: &str = "boost_server::grpc";
/// The target of a request's span when the sampler dropped its trace; the
/// exporter's filter leaves it out (see `telemetry`).
pub(crate) const UNSAMPLED_RPC_TARGET: &str = "boost_server::grpc::unsampled";

/// Builder for a service's gRPC server.
pub struct GrpcServer {
    /// Limits and timeouts.
    args: GrpcArgs,
    /// The service's own gRPC services.
    routes: RoutesBuilder,
    /// Names reported by the health service.
    service_names: Vec<&'static str>,
    /// Authentication for public RPCs; `None` for internal-only servers.
    auth: Option<AuthLayer>,
    /// Services answered by a fallback (the edge's proxy) rather than routes;
    /// listed by reflection but not by health.
    advertised: Vec<&'static str>,
    /// Answer HTTP/1.1 too (the gRPC-web edge).
    accept_http1: bool,
    /// Statuses served by `grpc.health.v1.Health`; services report
    /// dependencies (e.g. `redis`) through [`GrpcServer::health`].
    reporter: HealthReporter,
}

impl GrpcServer {
    /// A server with the given limits and no services yet.
    pub fn new(args: &GrpcArgs) -> Self {
        Self {
            args: args.clone(),
            routes: RoutesBuilder::default(),
            service_names: Vec::new(),
            auth: None,
            advertised: Vec::new(),
            accept_http1: false,
            reporter: HealthReporter::new(),
        }
    }

    /// Adds one tonic service.
    pub fn add_service<S>(mut self, service: S) -> Self
    where
        S: Service<Request<Body>, Error = Infallible, Response = Response<Body>>
            + NamedService
            + Clone
            + Send
            + Sync
            + 'static,
        S::Future: Send + 'static,
    {
        self.service_names.push(S::NAME);
        self.routes.add_service(service);
        self
    }

    /// Authenticates requests with `layer` before they reach the services.
    pub fn with_auth(mut self, layer: AuthLayer) -> Self {
        self.auth = Some(layer);
        self
    }

    /// Lists `name` in reflection although a fallback, not a route, serves it.
    pub fn advertise(mut self, name: &'static str) -> Self {
        self.advertised.push(name);
        self
    }

    /// The health reporter, for dependency statuses: a service is *degraded*
    /// when `""` is SERVING but a dependency name (e.g. `redis`) is NOT_SERVING.
    pub fn health(&self) -> HealthReporter {
        self.reporter.clone()
    }

    /// Accepts HTTP/1.1 connections (for gRPC-web).
    pub fn accept_http1(mut self) -> Self {
        self.accept_http1 = true;
        self
    }

    /// Serves the added services until `shutdown` resolves.
    pub async fn serve(
        self,
        listener: TcpListener,
        shutdown: impl Future<Output = ()>,
    ) -> anyhow::Result<()> {
        self.serve_wrapped(listener, shutdown, |routes| routes)
            .await
    }

    /// Like [`GrpcServer::serve`], but `wrap` turns the routes (services,
    /// health, reflection) into the service actually served: the edge uses it
    /// to add CORS, gRPC-web and its proxy fallback.
    pub async fn serve_wrapped<W>(
        self,
        listener: TcpListener,
        shutdown: impl Future<Output = ()>,
        wrap: impl FnOnce(Routes) -> W,
    ) -> anyhow::Result<()>
    where
        W: Service<Request<Body>, Response = Response<Body>, Error = Infallible>
            + Clone
            + Send
            + 'static,
        W::Future: Send + 'static,
    {
        let reporter = self.reporter.clone();
        let health_service =
            HealthServer::new(HealthService::from_health_reporter(reporter.clone()));
        // Both reflection versions: grpcurl before 1.9 and many SDKs only speak v1alpha.
        // Advertise only what this port answers, not every service in the descriptors.
        let reflection = || {
            let builder = tonic_reflection::server::Builder::configure()
                .register_encoded_file_descriptor_set(boost_proto::FILE_DESCRIPTOR_SET)
                .register_encoded_file_descriptor_set(boost_proto::ERROR_DETAILS_DESCRIPTOR_SET)
                .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
                .with_service_name("grpc.health.v1.Health")
                .with_service_name("grpc.reflection.v1.ServerReflection")
                .with_service_name("grpc.reflection.v1alpha.ServerReflection");
            self.service_names
                .iter()
                .chain(&self.advertised)
                .fold(builder, |b, name| b.with_service_name(*name))
        };
        let routes = self
            .routes
            .routes()
            .add_service(health_service)
            .add_service(
                reflection()
                    .build_v1()
                    .expect("boost descriptor set is valid"),
            )
            .add_service(
                reflection()
                    .build_v1alpha()
                    .expect("boost descriptor set is valid"),
            );

        let layers = ServiceBuilder::new()
            .layer(SetRequestIdLayer::x_request_id(MakeRequestUuid))
            .layer(PropagateRequestIdLayer::x_request_id())
            .layer(HeadSamplingLayer)
            .layer(
                TraceLayer::new_for_grpc()
                    .make_span_with(|request: &Request<Body>| {
                        let request_id = request
                            .headers()
                            .get("x-request-id")
                            .and_then(|v| v.to_str().ok())
                            .unwrap_or_default();
                        // Two call sites, one seen by the exporter and one
                        // not (see `trace_context::head_decision`).
                        macro_rules! rpc_span {
                            ($target:expr) => {
                                tracing::info_span!(
                                    target: $target,
                                    crate::trace_context::RPC_SPAN,
                                    otel.name = %request.uri().path(),
                                    otel.kind = "server",
                                    method = %request.uri().path(),
                                    request_id = %request_id,
                                    trace_id = tracing::field::Empty,
                                    span_id = tracing::field::Empty,
                                )
                            };
                        }
                        // Taken by `HeadSamplingLayer`, which is always outside.
                        let parent = match request.extensions().get::<Head>() {
                            Some(Head::Drop(context)) => {
                                let span = rpc_span!(UNSAMPLED_RPC_TARGET);
                                crate::trace_context::record_ids(&span, context);
                                return span;
                            }
                            Some(Head::Continue(parent)) => parent.clone(),
                            None => opentelemetry::Context::new(),
                        };
                        let span = rpc_span!(RPC_TARGET);
                        crate::trace_context::continue_trace(&span, parent);
                        span
                    })
                    .on_failure(DefaultOnFailure::new().level(Level::DEBUG)),
            )
            .layer(crate::observe::ObserveLayer)
            .option_layer(self.auth)
            .layer(MapResponseLayer::new(
                crate::request_faults::as_caller_fault as fn(Response<Body>) -> Response<Body>,
            ))
            .into_inner();

        let mut server = Server::builder();
        if let Some(tls) = self.args.tls.server_config().map_err(anyhow::Error::msg)? {
            server = server.tls_config(tls)?;
        }
        let server = server
            .timeout(self.args.request_timeout)
            .max_concurrent_streams(self.args.max_concurrent_streams)
            .concurrency_limit_per_connection(self.args.concurrency_per_connection)
            .load_shed(true)
            .http2_keepalive_interval(Some(self.args.keepalive_interval))
            .http2_keepalive_timeout(Some(self.args.keepalive_interval))
            .accept_http1(self.accept_http1)
            .layer(layers);

        set_all(&reporter, &self.service_names, ServingStatus::Serving).await;
        let names = self.service_names.clone();
        let shutdown = async move {
            shutdown.await;
            set_all(&reporter, &names, ServingStatus::NotServing).await;
        };
        let address = listener.local_addr().ok();
        tracing::info!(?address, services = ?self.service_names, "serving gRPC");
        // tonic's own tcp_nodelay applies only to listeners it binds: set it on
        // this one, or Nagle + delayed ACK stall small responses ~40 ms.
        let incoming = TcpIncoming::from(listener)
            .with_nodelay(Some(true))
            .with_keepalive(Some(self.args.keepalive_interval));
        server
            .serve_with_incoming_shutdown(wrap(routes), incoming, shutdown)
            .await?;
        Ok(())
    }
}

async fn set_all(reporter: &HealthReporter, names: &[&'static str], status: ServingStatus) {
    reporter.set_service_status("", status).await;
    for name in names {
        reporter.set_service_status(*name, status).await;
    }
}
