//! `boost-bench memory`: each service's peak resident memory under load.
//!
//! Auth, ingest, processor, query and the edge run as their own OS
//! processes (the release binaries `make run` starts, metrics endpoint on),
//! on one database, Redis and durable tansu. Three bounded load phases run
//! one after the other, half of every client's calls through the edge:
//!
//! 1. IngestBatch of 100 at full load;
//! 2. Track at full load;
//! 3. ten query clients (ListEvents, Aggregate by type and by user,
//!    GetMetrics) while IngestBatch runs at half the rate phase 1 reached.
//!
//! The processor stores throughout; the bench then waits (bounded) for its
//! lag to reach zero. It prints each process's peak resident memory
//! (`VmHWM`) and its resident memory at the end (`VmRSS`), against the
//! 150 MB target.

use std::{
    net::SocketAddr,
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant, SystemTime},
};

use boost_proto::{
    processor::v1::processor_service_client::ProcessorServiceClient,
    query::v1::{GroupBy, query_service_client::QueryServiceClient},
};
use boost_testkit::{
    Stack, free_port,
    stack::{ServiceProcess, auth_args, command, edge_args, ingest_args, query_args},
};
use tonic::transport::Channel;

use crate::{
    PHASE_LIMIT, connect,
    ingest::{Load, drive},
    processor::stored_records,
    query::Call,
    results, sibling,
};

/// Length of each load phase.
const PHASE_TIME: Duration = Duration::from_secs(20);
/// Concurrent query clients in phase 3.
const QUERY_CLIENTS: usize = 10;
/// The target for every service's peak resident memory.
const TARGET_BYTES: u64 = 150 * 1_000_000;

/// Starts the release binary `name` with `args`, listening on a free port.
async fn start(name: &str, args: &[String]) -> anyhow::Result<ServiceProcess> {
    let addr: SocketAddr = ([127, 0, 0, 1], free_port()).into();
    let mut process = command(&sibling(name)?.to_string_lossy(), args, addr);
    process
        .env("BOOST_LOG", "warn")
        .env("BOOST_METRICS_ADDR", format!("127.0.0.1:{}", free_port()))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
    Ok(ServiceProcess::spawn(process, addr).await)
}

/// Ten clients calling the query RPCs in turn until `deadline`; returns the
/// calls made and the calls that failed.
async fn query_load(channels: &[Channel], key: &str, deadline: Instant) -> (u64, u64) {
    let calls = Arc::new(AtomicU64::new(0));
    let failed = Arc::new(AtomicU64::new(0));
    let mut tasks = Vec::new();
    for client in 0..QUERY_CLIENTS {
        let mut query = QueryServiceClient::new(channels[client % channels.len()].clone());
        let (key, calls, failed) = (key.to_string(), calls.clone(), failed.clone());
        tasks.push(tokio::spawn(async move {
            let mut turn = client;
            let window = (
                SystemTime::now() - Duration::from_secs(30 * 86_400),
                SystemTime::now(),
            );
            while Instant::now() < deadline {
                let call = match turn % 4 {
                    0 => Call::FirstPage,
                    1 => Call::Aggregate(GroupBy::Type),
                    2 => Call::Aggregate(GroupBy::User),
                    _ => Call::Metrics,
                };
                let ok = call.send(&mut query, &key, window).await.is_ok();
                calls.fetch_add(1, Ordering::Relaxed);
                if !ok {
                    failed.fetch_add(1, Ordering::Relaxed);
                }
                turn += 1;
            }
        }));
    }
    for task in tasks {
        let _ = task.await;
    }
    (
        calls.load(Ordering::Relaxed),
        failed.load(Ordering::Relaxed),
    )
}

/// `boost-bench memory`.
pub async fn bench_memory() -> anyhow::Result<()> {
    eprintln!("starting PostgreSQL database, Redis and durable tansu…");
    let mut stack = Stack::start().await;
    // The in-process processor would share the topic with the measured one.
    stack.kill_processor();
    let (_, key) = stack
        .project_with_key(&["events:write", "events:read"])
        .await;

    eprintln!("starting auth, ingest, processor, query and edge as OS processes…");
    let auth = start("auth", &auth_args(&stack.db, &stack.redis)).await?;
    let mut ingest_flags = ingest_args(auth.addr, &stack.broker, &stack.redis);
    ingest_flags.extend(["--rate-limit-events".to_string(), "0".to_string()]);
    let ingest = start("ingest", &ingest_flags).await?;
    let processor = start("processor", &stack.processor_args()).await?;
    let query = start("query", &query_args(auth.addr, &stack.db)).await?;
    let edge = start("edge", &edge_args(auth.addr, ingest.addr, query.addr)).await?;
    let services = [
        ("auth", &auth),
        ("ingest", &ingest),
        ("processor", &processor),
        ("query", &query),
        ("edge", &edge),
    ];
    let idle: Vec<u64> = services
        .iter()
        .map(|(_, p)| p.resident_memory().1)
        .collect();

    // Half of every phase's callers go through the edge (plain gRPC there).
    let ingest_channels = vec![
        connect(ingest.addr).await?,
        connect(edge.addr).await?,
        connect(ingest.addr).await?,
        connect(edge.addr).await?,
    ];
    let batch = Load {
        callers: 32,
        per_request: 100,
        max_events: 2_000_000,
        time: PHASE_TIME,
        rate: None,
    };
    eprintln!("phase 1: IngestBatch x100, 32 callers, {PHASE_TIME:?}…");
    let full = drive("batch", &ingest_channels, &key, batch).await;
    eprintln!("phase 2: Track, 512 callers, {PHASE_TIME:?}…");
    let track = drive(
        "track",
        &ingest_channels,
        &key,
        Load {
            callers: 512,
            per_request: 1,
            max_events: 400_000,
            ..batch
        },
    )
    .await;
    eprintln!(
        "phase 3: {QUERY_CLIENTS} query clients beside IngestBatch at {:.0} events/s, {PHASE_TIME:?}…",
        full.rate() / 2.0
    );
    let query_channels = vec![connect(query.addr).await?, connect(edge.addr).await?];
    let deadline = Instant::now() + PHASE_TIME;
    let half = Load {
        rate: Some(full.rate() / 2.0),
        ..batch
    };
    let (half_load, (query_calls, query_failed)) = tokio::join!(
        drive("batch half", &ingest_channels, &key, half),
        query_load(&query_channels, &key, deadline)
    );

    eprintln!("waiting for the processor to store everything…");
    let mut status = ProcessorServiceClient::new(connect(processor.addr).await?);
    let mut drained = false;
    let started = Instant::now();
    while started.elapsed() < PHASE_LIMIT {
        if let Ok((_, 0)) = stored_records(&mut status, &key).await {
            drained = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }

    println!(
        "\nLoad (each phase {} s, half of the calls through the edge)\n",
        PHASE_TIME.as_secs()
    );
    println!("| phase | events/s or calls | failed |");
    println!("|---|---|---|");
    println!(
        "| IngestBatch x100, 32 callers | {:.0} events/s | {} |",
        full.rate(),
        full.errors
    );
    println!(
        "| Track, 512 callers | {:.0} events/s | {} |",
        track.rate(),
        track.errors
    );
    println!(
        "| {QUERY_CLIENTS} query clients + IngestBatch at half load | {query_calls} calls, {:.0} events/s | {query_failed} + {} |",
        half_load.rate(),
        half_load.errors
    );
    println!(
        "| processor drained after the load | {} | |",
        if drained {
            format!("yes, in {:.1} s", started.elapsed().as_secs_f64())
        } else {
            format!("no, lag left after {} s", PHASE_LIMIT.as_secs())
        }
    );
    println!("\nResident memory per service (MB = 10^6 bytes; target < 150 MB)\n");
    println!("| service | at start | peak (VmHWM) | at end (VmRSS) | peak / target |");
    println!("|---|---|---|---|---|");
    let mb = |bytes: u64| bytes as f64 / 1e6;
    for ((name, process), idle) in services.iter().zip(idle) {
        let (peak, now) = process.resident_memory();
        results::record(name, "peak RSS", "MB", mb(peak));
        println!(
            "| {name} | {:.1} | {:.1} | {:.1} | {:.2} |",
            mb(idle),
            mb(peak),
            mb(now),
            peak as f64 / TARGET_BYTES as f64
        );
    }
    println!();
    Ok(())
}
