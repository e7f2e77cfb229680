// BOOST PATCH: tansu 0.6.0's `tansu broker` (tansu-cli's src/cli/broker.rs)
// without the other subcommands, TLS, authentication, the schema registry
// and the lake house, none of which Boost uses. Copyright ⓒ 2024-2026 Peter
// Morgan, Apache License 2.0; cut down for Boost.

use clap::{Parser, Subcommand};
use tansu_broker::{
    NODE_ID, TracingFormat, broker::Broker, coordinator::group::administrator::Controller, otel,
};
use tansu_sans_io::ErrorCode;
use tansu_storage::StorageContainer;
use tokio::time::Instant;
use url::Url;
use uuid::Uuid;

#[derive(Debug, Parser)]
#[command(
    name = "tansu",
    version,
    about = "tansu's Kafka-compatible broker, as Boost runs it"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Apache Kafka compatible broker
    Broker(Args),
}

#[derive(Debug, clap::Args)]
struct Args {
    /// All members of the same cluster should use the same id
    #[arg(long, env = "CLUSTER_ID", default_value = "tansu_cluster")]
    cluster_id: String,

    /// The broker will listen on this address
    #[arg(long, env = "LISTENER_URL", default_value = "tcp://0.0.0.0:9092")]
    listener_url: Url,

    /// This location is advertised to clients in metadata
    #[arg(
        long,
        env = "ADVERTISED_LISTENER_URL",
        default_value = "tcp://localhost:9092"
    )]
    advertised_listener_url: Url,

    /// Storage engine: sqlite://tansu.db or memory://tansu/ (when built with dynostore)
    #[arg(long, env = "STORAGE_ENGINE", default_value = "sqlite://tansu.db")]
    storage_engine: Url,

    /// OTEL Exporter OTLP endpoint
    #[arg(long, env = "OTEL_EXPORTER_OTLP_ENDPOINT")]
    otlp_endpoint_url: Option<Url>,
}

#[tokio::main]
async fn main() -> Result<ErrorCode, tansu_broker::Error> {
    let _guard = otel::init(TracingFormat::Text)?;
    let Command::Broker(args) = Cli::parse().command;
    let started = Instant::now();
    println!(
        "tansu broker {} listening on: {} (advertised: {}), storage: {}",
        env!("CARGO_PKG_VERSION"),
        args.listener_url,
        args.advertised_listener_url,
        args.storage_engine.scheme()
    );
    Broker::<Controller<StorageContainer>, StorageContainer>::builder()
        .node_id(NODE_ID)
        .cluster_id(args.cluster_id)
        .incarnation_id(Uuid::now_v7())
        .advertised_listener(args.advertised_listener_url)
        .otlp_endpoint_url(args.otlp_endpoint_url)
        .schema_registry(None)
        .storage(args.storage_engine)
        .listener(args.listener_url)
        .build()
        .await?
        .main(started)
        .await
}
