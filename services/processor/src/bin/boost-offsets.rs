//! `boost-offsets`: the processor's stored offsets against the broker's log,
//! and the audited reset an operator runs when they no longer fit (a new or
//! reset broker, records the broker deleted before they were stored).
//!
//! `boost-offsets list` prints every partition; `boost-offsets reset
//! --partition N --to earliest|OFFSET --reason TEXT` (or `--all`) moves an
//! offset in one transaction with an `audit_log` entry. A processor holding
//! that partition resumes within a second.

use std::process::ExitCode;

use boost_kafka::KafkaArgs;
use boost_processor::offset_reset::{ResetTarget, Target};
use boost_storage::PostgresArgs;
use clap::{Parser, Subcommand};

/// Command line of `boost-offsets`.
#[derive(Parser)]
#[command(
    name = "boost-offsets",
    about = "Inspect and reset the processor's stored Kafka offsets"
)]
struct Cli {
    /// What to do.
    #[command(subcommand)]
    command: Command,
    /// Database.
    #[command(flatten)]
    postgres: PostgresArgs,
    /// Broker.
    #[command(flatten)]
    kafka: KafkaArgs,
}

/// `list` or `reset`.
#[derive(Subcommand)]
enum Command {
    /// Every partition: stored offset, the broker's log start and high
    /// watermark, and whether they fit.
    List,
    /// Moves stored offsets (audited). Events already stored are
    /// deduplicated by id, so resetting to `earliest` never stores twice.
    Reset {
        /// The partition to move.
        #[arg(long, conflicts_with = "all", required_unless_present = "all")]
        partition: Option<i32>,
        /// Every partition whose stored offset does not fit the broker's log.
        #[arg(long)]
        all: bool,
        /// `earliest` (the broker's log start) or an offset inside the log.
        #[arg(long)]
        to: ResetTarget,
        /// Why, kept in the audit log.
        #[arg(long)]
        reason: String,
    },
}

#[tokio::main]
async fn main() -> ExitCode {
    boost_server::service::tool_exit(run(Cli::parse()).await)
}

async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let pool = boost_storage::pool::connect(&cli.postgres).await?;
    let target = Target::connect(&cli.kafka).await?;
    println!(
        "cluster {:?}, topic {}, {} partitions",
        target.cluster_id, target.topic, target.partitions
    );
    match cli.command {
        Command::List => {
            let mut conflicts = 0;
            for report in target.inspect(&pool).await? {
                let stored = report
                    .stored
                    .as_ref()
                    .map_or("none".to_string(), |s| s.next_offset.to_string());
                let state = match &report.conflict {
                    Some(conflict) => {
                        conflicts += 1;
                        format!("CONFLICT: {conflict}")
                    }
                    None => "ok".to_string(),
                };
                println!(
                    "partition {}: stored {stored}, log {}..{}: {state}",
                    report.partition, report.log.log_start, report.log.high_watermark
                );
            }
            Ok(if conflicts == 0 {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(2)
            })
        }
        Command::Reset {
            partition,
            all,
            to,
            reason,
        } => {
            let partitions: Vec<i32> = if all {
                target
                    .inspect(&pool)
                    .await?
                    .into_iter()
                    .filter(|r| r.conflict.is_some())
                    .map(|r| r.partition)
                    .collect()
            } else {
                partition.into_iter().collect()
            };
            if partitions.is_empty() {
                println!("no partition has an offset conflict; nothing reset");
            }
            for partition in partitions {
                let (from, to) = target.reset(&pool, partition, to, &reason).await?;
                let from = from.map_or("none".to_string(), |f| f.to_string());
                println!("partition {partition}: offset {from} -> {to} (audited)");
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}
