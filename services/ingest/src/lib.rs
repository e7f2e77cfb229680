//! The ingest service: the front door for events.
//!
//! - [`config`]: flags and env vars
//! - [`validate`]: event limits and field-by-field validation
//! - [`dedup`]: the Redis fast path for DUPLICATE
//! - [`rate_limit`]: per-project sliding-window limits, Redis with a local fallback
//! - [`model`]: the domain types the service speaks (checked requests, per-event outcomes)
//! - [`service`]: admission, validation, dedup, produce, acknowledge, on domain types
//! - [`commit_wait`]: the processor's stored watermarks, for COMMITTED acknowledgements
//! - [`grpc`]: the thin `IngestService` adapter; its `convert` module turns
//!   protobuf requests into model types (naming bad fields) and answers back
//! - [`run`]: builds everything and serves; used by `main` and by tests

pub mod commit_wait;
pub mod config;
pub mod dedup;
pub mod grpc;
pub mod model;
pub mod rate_limit;
pub mod service;
pub mod validate;

use std::{future::Future, sync::Arc};

use boost_kafka::{Producer, QueueLimits, client};
use boost_proto::ingest::v1::ingest_service_server::IngestServiceServer;
use boost_server::{
    auth::{AuthLayer, Authenticator, Scope, ScopeRules},
    grpc::GrpcServer,
};
use tokio::net::TcpListener;
use tokio_util::{sync::CancellationToken, task::TaskTracker};

pub use config::Config;

/// The scope each ingest RPC needs; anything else is refused.
pub const ACCESS: &[(&str, Scope)] = &[("/boost.ingest.v1.IngestService/", Scope::EventsWrite)];

/// Connects to the broker, sets up the topic, and serves on `listener` until
/// `shutdown`; in-flight produces finish before it returns.
pub async fn run(
    config: Config,
    listener: TcpListener,
    shutdown: impl Future<Output = ()>,
) -> anyhow::Result<()> {
    let kafka = client::connect(&config.kafka, "boost-ingest").await?;
    client::ensure_topic(&kafka, &config.kafka).await?;
    let tracker = TaskTracker::new();
    let limits = QueueLimits {
        batches: config.producer_queue,
        bytes: config.producer_queue_bytes,
    };
    let producer = Producer::start(&kafka, &config.kafka, limits, &tracker).await?;
    let redis = boost_storage::redis::client(&config.redis)?;
    let dedup = dedup::Dedup::new(redis.clone(), config.dedup_window);
    let limiter = rate_limit::RateLimiter::new(
        redis.clone(),
        rate_limit::RateLimits {
            project: config.rate_limit_events,
            key: config.rate_limit_key_events,
            user: config.rate_limit_user_events,
            address: config.rate_limit_address_events,
            window: config.rate_limit_window,
        },
    );
    let cluster_id = client::cluster_id(&kafka).await?;
    let watermarks = commit_wait::StoredWatermarks::new(config.kafka.partitions);
    let logic = service::IngestLogic::new(
        producer,
        dedup,
        limiter,
        config.limits.clone(),
        config.ack_timeout,
        service::Committed {
            watermarks: watermarks.clone(),
            timeout: config.commit_timeout,
        },
    );
    let authenticator =
        Arc::new(Authenticator::new(&config.auth, &config.grpc.tls).map_err(anyhow::Error::msg)?);
    let server = IngestServiceServer::new(grpc::IngestApi::new(
        logic,
        config.trust_forwarded_for,
        tracker.clone(),
    ))
    .max_decoding_message_size(config.grpc.max_message_bytes);
    let grpc = GrpcServer::new(&config.grpc);
    let cancel = CancellationToken::new();
    tracker.spawn(watermarks.listen(
        boost_storage::redis::subscriber(&config.redis)?,
        redis.clone(),
        boost_storage::redis::watermarks::Names::new(
            &config.redis,
            &cluster_id,
            &config.kafka.topic,
        ),
        cancel.clone(),
    ));
    tracker.spawn(boost_storage::redis::report_health(
        redis,
        grpc.health(),
        cancel.clone(),
    ));
    grpc.with_auth(AuthLayer::new(authenticator, ScopeRules::new(ACCESS)))
        .add_service(server)
        .serve(listener, shutdown)
        .await?;
    // The server (and with it the last producer handle) is gone: drain the partition tasks.
    cancel.cancel();
    tracker.close();
    tracker.wait().await;
    Ok(())
}
