//! The query service: reads only, always scoped to the caller's project.
//!
//! - [`config`]: flags and env vars
//! - [`cursor`]: the listings' keyset cursors as text (page tokens wrap them)
//! - [`model`]: the domain types the service speaks (checked requests, rows, counts)
//! - [`service`]: the reads, on domain types (→ repository in `boost_storage` → SQL)
//! - [`tail`]: TailEvents' polling loop, in domain rows
//! - [`grpc`]: the thin `QueryService` adapter; its `convert` module turns
//!   protobuf requests into model types (naming bad fields) and answers back
//! - [`run`]: builds everything and serves; used by `main` and by tests

pub mod config;
pub mod cursor;
pub mod grpc;
pub mod model;
pub mod service;
pub mod tail;

use std::{future::Future, sync::Arc};

use boost_proto::query::v1::query_service_server::QueryServiceServer;
use boost_server::{
    auth::{AuthLayer, Authenticator, Scope, ScopeRules},
    grpc::GrpcServer,
};
use tokio::net::TcpListener;
use tokio_util::{sync::CancellationToken, task::TaskTracker};

pub use config::Config;

/// The scope each query RPC needs; anything else is refused.
pub const ACCESS: &[(&str, Scope)] = &[("/boost.query.v1.QueryService/", Scope::EventsRead)];

/// Applies migrations (unless turned off), connects to the database and serves on `listener` until `shutdown`.
pub async fn run(
    config: Config,
    listener: TcpListener,
    shutdown: impl Future<Output = ()>,
) -> anyhow::Result<()> {
    if !config.read_database_url.is_empty() && config.postgres.migrate {
        // The primary gets the migrations (one connection, dropped after);
        // reads go to the replica.
        boost_storage::pool::connect(&boost_storage::PostgresArgs {
            pool_size: 1,
            ..config.postgres.clone()
        })
        .await?;
    }
    let pool = boost_storage::pool::connect(&config.read_postgres()).await?;
    let authenticator =
        Arc::new(Authenticator::new(&config.auth, &config.grpc.tls).map_err(anyhow::Error::msg)?);
    let tails = TaskTracker::new();
    let stop = CancellationToken::new();
    let api = grpc::QueryApi::new(
        service::QueryLogic::new(pool),
        config.tail_poll,
        config.tail_max,
        tails.clone(),
        stop.clone(),
    );
    // Tails end as soon as shutdown starts, so the graceful stop is not held
    // by open streams; then they are awaited.
    let shutdown = async move {
        shutdown.await;
        stop.cancel();
    };
    let server =
        QueryServiceServer::new(api).max_decoding_message_size(config.grpc.max_message_bytes);
    GrpcServer::new(&config.grpc)
        .with_auth(AuthLayer::new(authenticator, ScopeRules::new(ACCESS)))
        .add_service(server)
        .serve(listener, shutdown)
        .await?;
    tails.close();
    tails.wait().await;
    Ok(())
}
