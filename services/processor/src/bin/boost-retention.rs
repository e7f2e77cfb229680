//! `boost-retention`: the retention job on demand. Sets a project's
//! retention when asked (`--project ID --days N`), then removes every
//! project's events older than its retention now (dropping day partitions
//! all projects have expired), printing each project's result as it
//! finishes. The processor runs the same job daily.

use std::{process::ExitCode, time::SystemTime};

use boost_proto::prost_types::Timestamp;
use boost_storage::{PostgresArgs, retention};
use clap::Parser;
use uuid::Uuid;

/// Command line of `boost-retention`.
#[derive(Parser)]
#[command(
    name = "boost-retention",
    about = "Delete events older than each project's retention, now"
)]
struct Cli {
    /// Set this project's retention before running.
    #[arg(long, requires = "days")]
    project: Option<Uuid>,
    /// Days of events the project keeps (1–3650).
    #[arg(long, requires = "project", value_parser = clap::value_parser!(i32).range(1..=3650))]
    days: Option<i32>,
    /// Database.
    #[command(flatten)]
    postgres: PostgresArgs,
}

#[tokio::main]
async fn main() -> ExitCode {
    boost_server::service::tool_exit(run(Cli::parse()).await)
}

async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let pool = boost_storage::pool::connect(&cli.postgres).await?;
    let client = pool.get().await?;
    if let (Some(project), Some(days)) = (cli.project, cli.days) {
        if !retention::set_days(&client, project, days).await? {
            eprintln!("error: no project {project}");
            return Ok(ExitCode::FAILURE);
        }
        println!("project {project}: retention {days} days");
    }
    let report = retention::run(&client, SystemTime::now(), |expired| {
        println!(
            "project {}: deleted {} events, {} event ids and {} rollup rows from before {}",
            expired.project_id,
            expired.events,
            expired.event_ids,
            expired.rollup_rows,
            expired.cutoff.map(Timestamp::from).unwrap_or_default()
        );
    })
    .await?;
    match report {
        Some(report) => {
            for partition in &report.dropped {
                println!("dropped day partition {partition}");
            }
            println!("retention done: {} projects", report.projects.len());
            Ok(ExitCode::SUCCESS)
        }
        None => {
            eprintln!("another retention run holds the lock; try again when it is done");
            Ok(ExitCode::FAILURE)
        }
    }
}
