//! The auth service: the only code that touches organisations, projects and
//! API keys.
//!
//! - [`config`]: flags and env vars
//! - [`service`]: plain async functions (create tenants and keys, validate a key)
//! - [`grpc`]: the thin `AuthService` adapter (admin token check, proto mapping)
//! - [`run`]: builds everything and serves; used by `main` and by tests

pub mod config;
pub mod grpc;
pub mod service;

use std::future::Future;

use boost_proto::auth::v1::auth_service_server::AuthServiceServer;
use boost_server::grpc::GrpcServer;
use tokio::net::TcpListener;

pub use config::Config;

/// Applies migrations, connects, and serves on `listener` until `shutdown`.
pub async fn run(
    config: Config,
    listener: TcpListener,
    shutdown: impl Future<Output = ()>,
) -> anyhow::Result<()> {
    if config.postgres.migrate {
        boost_storage::migrate::run(&config.postgres).await?;
    }
    let pool = boost_storage::pool::build(&config.postgres)?;
    boost_storage::pool::ping(&pool).await?;
    let service = service::AuthLogic::new(pool);
    let api = grpc::AuthApi::new(service, config.admin_token.clone());
    let server =
        AuthServiceServer::new(api).max_decoding_message_size(config.grpc.max_message_bytes);
    GrpcServer::new(&config.grpc)
        .add_service(server)
        .serve(listener, shutdown)
        .await?;
    Ok(())
}
