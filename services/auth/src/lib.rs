//! The auth service: the only code that touches organisations, projects and
//! API keys.
//!
//! - [`config`]: flags and env vars
//! - [`caller`]: operator vs. project credential, and what each may touch
//! - [`service`]: tenants and keys as plain async functions, audited
//! - [`validation`]: API keys (L1 → L2 → PostgreSQL) and JWTs to principals
//! - [`cache`]: the L1/L2 key cache and its Redis pub/sub invalidation
//! - [`last_used`]: coalesced `last_used_at` writes
//! - [`jwt`]: JWT verification
//! - [`grpc`]: the thin `AuthService` adapter
//! - [`run`]: builds everything and serves; used by `main` and by tests

pub mod cache;
pub mod caller;
pub mod config;
pub mod grpc;
pub mod jwt;
pub mod last_used;
pub mod service;
pub mod validation;

use std::{future::Future, sync::Arc};

use boost_proto::auth::v1::auth_service_server::AuthServiceServer;
use boost_server::grpc::GrpcServer;
use tokio::net::TcpListener;
use tokio_util::{sync::CancellationToken, task::TaskTracker};

pub use config::Config;

/// Applies migrations, connects, and serves on `listener` until `shutdown`.
/// Redis being down does not stop start-up: the service runs degraded.
pub async fn run(
    config: Config,
    listener: TcpListener,
    shutdown: impl Future<Output = ()>,
) -> anyhow::Result<()> {
    let pool = boost_storage::pool::connect(&config.postgres).await?;
    let redis = boost_storage::redis::client(&config.redis)?;
    let subscriber = boost_storage::redis::subscriber(&config.redis)?;
    let cache = Arc::new(cache::KeyCache::new(
        redis,
        subscriber,
        cache::CacheTtls {
            l1: config.key_cache_ttl,
            negative: config.key_cache_negative_ttl,
            l2: config.key_cache_redis_ttl,
        },
    ));
    let last_used = Arc::new(last_used::LastUsed::new(config.last_used_interval));
    let jwt = jwt::JwtVerifier::from_args(&config.jwt).map_err(anyhow::Error::msg)?;
    let validator = Arc::new(validation::Validator::new(
        pool.clone(),
        cache.clone(),
        jwt,
        last_used.clone(),
    ));

    let server = GrpcServer::new(&config.grpc);
    let cancel = CancellationToken::new();
    let tasks = TaskTracker::new();
    {
        let (cache, cancel) = (cache.clone(), cancel.clone());
        tasks.spawn(async move { cache.listen_for_invalidations(cancel).await });
    }
    {
        let (pool, cancel) = (pool.clone(), cancel.clone());
        tasks.spawn(async move { last_used.run(pool, cancel).await });
    }
    tasks.spawn(boost_storage::redis::report_health(
        cache.redis(),
        server.health(),
        cancel.clone(),
    ));
    tasks.close();

    let logic = service::AuthLogic::new(pool, validator);
    let api = grpc::AuthApi::new(logic, &config.admin_token);
    let service =
        AuthServiceServer::new(api).max_decoding_message_size(config.grpc.max_message_bytes);
    server
        .add_service(service)
        .serve(listener, shutdown)
        .await?;
    cancel.cancel();
    tasks.wait().await;
    Ok(())
}
