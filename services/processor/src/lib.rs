//! The processor: turns what the events topic holds into rows.
//!
//! rskafka has no consumer groups, so partitions are assigned explicitly
//! (`BOOST_PROCESSOR_PARTITIONS`, default all) and offsets live in PostgreSQL.
//!
//! - [`config`]: flags and env vars
//! - [`handlers`]: the handler registry: one handler per event kind
//! - [`store`]: record → rows, and the one transaction per batch
//! - [`consumer`]: the per-partition fetch loop
//! - [`run`]: builds everything and serves health; used by `main` and by tests

pub mod config;
pub mod consumer;
pub mod handlers;
pub mod store;

use std::{future::Future, sync::Arc};

use boost_kafka::client;
use boost_server::grpc::GrpcServer;
use tokio::net::TcpListener;
use tokio_util::{sync::CancellationToken, task::TaskTracker};

pub use config::Config;

/// Starts one consumer loop per assigned partition and serves health on
/// `listener` until `shutdown`; the loops finish their current batch first.
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
    let kafka = client::connect(&config.kafka, "boost-processor").await?;
    client::ensure_topic(&kafka, &config.kafka).await?;
    let stored = boost_storage::offsets::load(&pool.get().await?, &config.kafka.topic).await?;

    let consumer = Arc::new(consumer::Consumer {
        kafka,
        pool,
        topic: config.kafka.topic.clone(),
        fetch_max_wait: config.fetch_max_wait,
        fetch_max_bytes: config.fetch_max_bytes,
        registry: handlers::Registry::standard(),
    });
    let cancel = CancellationToken::new();
    let tracker = TaskTracker::new();
    for partition in config.partitions() {
        let start = stored.get(&partition).copied();
        tracker.spawn(
            consumer
                .clone()
                .run_partition(partition, start, cancel.child_token()),
        );
    }
    tracker.close();

    GrpcServer::new(&config.grpc)
        .serve(listener, shutdown)
        .await?;
    cancel.cancel();
    tracker.wait().await;
    Ok(())
}
