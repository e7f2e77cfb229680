//! The processor: turns what the events topic holds into rows.
//!
//! rskafka has no consumer groups, so instances share partitions by leases
//! in PostgreSQL, where offsets live too (or take a static set,
//! `BOOST_PROCESSOR_PARTITIONS`).
//!
//! - [`config`]: flags and env vars
//! - [`handlers`]: the handler registry: one handler per event kind
//! - [`batch`]: record → rows, and the one transaction per batch
//! - [`batch_trace`]: the batch span, continuing the traces its records carry
//! - [`consumer`]: the per-partition fetch loop
//! - [`leases`]: sharing partitions between instances: heartbeat, fair share, claim, give back
//! - [`offset_check`]: does a stored offset fit the broker's log? (held until reset if not)
//! - [`offset_reset`]: the operator's inspect and audited reset (`boost-offsets`)
//! - [`progress`]: stored watermarks, lag and freshness; published for ingest's COMMITTED acks
//! - [`retention`]: the daily retention job (also `boost-retention`, on demand)
//! - [`dead_letters`], [`grpc`]: the dead-letter API (list, get, replay, purge) and
//!   ProcessorService (GetStatus); [`ACCESS`]: the scope each RPC needs
//! - [`run`]: builds everything and serves health; used by `main` and by tests

pub mod batch;
pub mod batch_trace;
pub mod config;
pub mod consumer;
pub mod dead_letters;
pub mod grpc;
pub mod handlers;
pub mod leases;
pub mod offset_check;
pub mod offset_reset;
pub mod progress;
pub mod retention;

use std::{future::Future, sync::Arc};

use boost_kafka::{Producer, QueueLimits, client};
use boost_proto::processor::v1::{
    dead_letter_service_server::DeadLetterServiceServer,
    processor_service_server::ProcessorServiceServer,
};
use boost_server::{
    auth::{AuthLayer, Authenticator, Scope, ScopeRules},
    grpc::GrpcServer,
};
use tokio::net::TcpListener;
use tokio_util::{sync::CancellationToken, task::TaskTracker};

pub use config::Config;

/// The scope each processor RPC needs; anything else is refused. Reading and
/// the pipeline's status need `events:read`, replaying `events:write`,
/// purging `keys:admin`.
pub const ACCESS: &[(&str, Scope)] = &[
    (
        "/boost.processor.v1.DeadLetterService/ListDeadLetters",
        Scope::EventsRead,
    ),
    (
        "/boost.processor.v1.DeadLetterService/GetDeadLetter",
        Scope::EventsRead,
    ),
    (
        "/boost.processor.v1.DeadLetterService/ReplayDeadLetters",
        Scope::EventsWrite,
    ),
    (
        "/boost.processor.v1.DeadLetterService/PurgeDeadLetters",
        Scope::KeysAdmin,
    ),
    (
        "/boost.processor.v1.ProcessorService/GetStatus",
        Scope::EventsRead,
    ),
];

/// Starts one consumer loop per assigned partition and serves the dead-letter
/// API and health on `listener` until `shutdown`; the loops finish their
/// current batch first.
pub async fn run(
    config: Config,
    listener: TcpListener,
    shutdown: impl Future<Output = ()>,
) -> anyhow::Result<()> {
    // A batch's transaction idle for a whole lease means this instance is
    // paused or stuck: PostgreSQL ends it, so the lease row it locked is
    // free for another instance to take over (the fence refuses the batch).
    let postgres = boost_storage::PostgresArgs {
        idle_in_transaction_timeout: Some(config.lease_time),
        ..config.postgres.clone()
    };
    let pool = boost_storage::pool::connect(&postgres).await?;
    let kafka = client::connect(&config.kafka, "boost-processor").await?;
    client::ensure_topic(&kafka, &config.kafka).await?;
    let cluster_id = client::cluster_id(&kafka).await?;
    let log = boost_storage::offsets::LogKey {
        cluster_id: &cluster_id,
        topic: &config.kafka.topic,
    };
    let adopted = boost_storage::offsets::adopt_unkeyed(&pool.get().await?, &log).await?;
    if adopted > 0 {
        tracing::info!(%cluster_id, partitions = adopted, "offsets stored before cluster keys now belong to this cluster");
    }

    let tracker = TaskTracker::new();
    // Replays are rare and small: a short queue per partition is plenty.
    let limits = QueueLimits {
        batches: 64,
        bytes: 16 * 1024 * 1024,
    };
    let producer = Producer::start(&kafka, &config.kafka, limits, &tracker).await?;
    let letters = dead_letters::DeadLetters::new(pool.clone(), producer);
    let progress = Arc::new(progress::Progress::new(config.stall_after));
    let consumer = Arc::new(consumer::Consumer {
        kafka,
        pool,
        cluster_id: cluster_id.clone(),
        topic: config.kafka.topic.clone(),
        fetch_max_wait: config.fetch_max_wait,
        fetch_max_bytes: config.fetch_max_bytes,
        registry: handlers::Registry::standard(),
        progress: progress.clone(),
        days: boost_storage::partitions::DayPartitions::default(),
    });
    // Every handler's dead-letter series exists from the start (at 0), so
    // rates and alerts see the first dead letter as an increase.
    for handler in consumer.registry.names().into_iter().chain(["decode"]) {
        metrics::counter!(consumer::DEAD_LETTERS, "handler" => handler).absolute(0);
    }
    let cancel = CancellationToken::new();
    tracker.spawn(retention::run_daily(
        consumer.pool.clone(),
        config.retention_interval,
        cancel.child_token(),
    ));
    // Static partitions, or leases (whose table GetStatus shows).
    let lease_table = match config.static_partitions() {
        Some(partitions) => {
            let mut stored =
                boost_storage::offsets::load(&consumer.pool.get().await?, &log).await?;
            for partition in partitions {
                tracker.spawn(consumer.clone().run_partition(
                    partition,
                    stored.remove(&partition),
                    None,
                    cancel.child_token(),
                ));
            }
            None
        }
        None => {
            let table = leases::LeaseTable::default();
            let lease_pool = boost_storage::pool::build(&boost_storage::PostgresArgs {
                pool_size: leases::POOL_SIZE,
                ..postgres.clone()
            })?;
            let balancer = leases::Balancer::new(
                consumer.clone(),
                lease_pool,
                config.instance.clone(),
                config.kafka.partitions,
                config.lease_time,
                table.clone(),
            );
            tracker.spawn(balancer.run(cancel.child_token()));
            Some(table)
        }
    };
    let redis = boost_storage::redis::client(&config.redis)?;
    tracker.spawn(progress::publish_watermarks(
        progress.clone(),
        redis.clone(),
        boost_storage::redis::watermarks::Names::new(
            &config.redis,
            &cluster_id,
            &config.kafka.topic,
        ),
        cancel.child_token(),
    ));
    let grpc = GrpcServer::new(&config.grpc);
    tracker.spawn(boost_storage::redis::report_health(
        redis,
        grpc.health(),
        cancel.child_token(),
    ));
    tracker.spawn(progress::report_health(
        progress.clone(),
        grpc.health(),
        cancel.child_token(),
    ));
    tracker.close();

    let authenticator =
        Arc::new(Authenticator::new(&config.auth, &config.grpc.tls).map_err(anyhow::Error::msg)?);
    let dead_letter_api = DeadLetterServiceServer::new(grpc::DeadLetterApi::new(letters))
        .max_decoding_message_size(config.grpc.max_message_bytes);
    let processor_api = ProcessorServiceServer::new(grpc::ProcessorApi::new(
        progress,
        config.instance.clone(),
        lease_table,
    ))
    .max_decoding_message_size(config.grpc.max_message_bytes);
    grpc.with_auth(AuthLayer::new(authenticator, ScopeRules::new(ACCESS)))
        .add_service(dead_letter_api)
        .add_service(processor_api)
        .serve(listener, shutdown)
        .await?;
    cancel.cancel();
    tracker.wait().await;
    Ok(())
}
