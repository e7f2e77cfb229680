//! Plumbing that every Boost service shares, so each service's `main.rs` only
//! wires config → dependencies → server.
//!
//! - [`config`]: clap argument blocks with an env var for every flag, and
//!   [`config::parse`] which names the offending variable on bad input
//! - [`telemetry`]: tracing subscriber, optional OpenTelemetry export and sampling
//! - [`trace_context`]: W3C trace context in and out of gRPC metadata and Kafka headers
//! - [`error`]: the one error vocabulary and its mapping to gRPC statuses
//! - [`credentials`]: API key format (prefix, checksum, hash) and extraction
//!   from request metadata
//! - [`auth`]: the tower layer that authenticates callers through the auth service
//! - [`grpc`]: [`grpc::GrpcServer`], health, reflection, request ids, limits
//! - [`observe`]: each request's end: RED metrics and the one log line
//! - [`metrics`]: the Prometheus exporter (`BOOST_METRICS_ADDR`)
//! - [`request_faults`]: oversize and badly framed requests answer in the
//!   caller's terms (RESOURCE_EXHAUSTED, INVALID_ARGUMENT), never INTERNAL
//! - [`tls`]: TLS and mutual TLS on every gRPC port, verified TLS to upstreams
//! - [`paging`]: [`paging::Pager`], the one page-size check, fetch-one-more and page token
//! - [`shutdown`]: SIGINT/SIGTERM as a future
//! - [`service`]: [`service::ServiceConfig`] and [`service::run_main`], the one
//!   way a service binary starts

pub mod auth;
pub mod config;
pub mod credentials;
pub mod error;
pub mod grpc;
pub mod metrics;
pub mod observe;
pub mod paging;
pub mod request_faults;
pub mod service;
pub mod shutdown;
pub mod telemetry;
pub mod tls;
pub mod trace_context;

pub use error::{ApiError, ErrorCode};
