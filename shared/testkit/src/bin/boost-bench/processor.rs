//! `boost-bench processor`: how fast the processor stores, and how fresh
//! stored events are below saturation.
//!
//! `memory` runs it on tansu's memory storage, to tell the broker's share
//! of the cost from the processor's and PostgreSQL's.
//!
//! 1. Drain: with the processor stopped, the events topic (durable tansu) is
//!    filled with a backlog of records of [`EVENTS_PER_RECORD`] events each;
//!    then the processor starts and the stored events per second are read
//!    off its stored offsets every 5 s, for up to [`DRAIN_TIME`].
//! 2. Freshness: a paced IngestBatch load well below ingest's saturation
//!    for [`STEADY_TIME`]; the processor's GetStatus then reports ingest
//!    receive → stored over the last minute, i.e. over that phase.

use std::{
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant, SystemTime},
};

use boost_kafka::{KafkaArgs, client, record, rskafka::client::partition::Compression};
use boost_proto::{
    common::v1::EventBatchRecord,
    processor::v1::{GetStatusRequest, processor_service_client::ProcessorServiceClient},
    prost_types::Timestamp,
};
use boost_testkit::{
    Stack, TestBroker,
    stack::{PROCESSOR_LEASE_MS, ServiceProcess, url},
};
use futures::SinkExt as _;
use tonic::transport::Channel;

use crate::{
    PHASE_LIMIT, connect,
    ingest::{Load, bench_event, drive},
    results, with_key,
};

/// Events per Kafka record in the backlog (ingest packs up to 128 KiB).
const EVENTS_PER_RECORD: usize = 500;
/// Backlog size; `BENCH_PROCESSOR_EVENTS` overrides.
const BACKLOG_EVENTS: u64 = 4_000_000;
/// Longest drain measurement.
const DRAIN_TIME: Duration = Duration::from_secs(60);
/// Steady-load rates (events/s) for freshness, and how long each runs: as
/// long as GetStatus' freshness window, so each reading covers its own phase.
const STEADY_RATES: [f64; 2] = [2_000.0, 10_000.0];
const STEADY_TIME: Duration = Duration::from_secs(60);

fn backlog_events() -> u64 {
    std::env::var("BENCH_PROCESSOR_EVENTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(BACKLOG_EVENTS)
}

/// Produces `total` events for `project` straight to the topic, every
/// partition at once, with progress.
async fn fill_backlog(stack: &Stack, project: uuid::Uuid, total: u64) -> anyhow::Result<()> {
    let mut args = KafkaArgs::with_brokers(&stack.broker.address);
    args.partitions = stack.broker.partitions;
    let kafka = client::connect(&args, "bench-backlog").await?;
    let records_total = total.div_ceil(EVENTS_PER_RECORD as u64);
    let per_partition = records_total.div_ceil(args.partitions as u64);
    let users_per_partition = 5_000 / args.partitions as u64;
    let started = Instant::now();
    let produced = Arc::new(AtomicU64::new(0));
    let mut tasks = Vec::new();
    for partition in 0..args.partitions {
        let pc = client::partition_client(&kafka, &args.topic, partition).await?;
        let produced = produced.clone();
        tasks.push(tokio::spawn(async move {
            let mut sent = 0u64;
            while sent < per_partition {
                let first =
                    (u64::from(partition as u32) * per_partition + sent) * EVENTS_PER_RECORD as u64;
                let batch = EventBatchRecord {
                    project_id: project.to_string(),
                    // Each user in one partition, as ingest routes them
                    // (5,000 users in all): no two partitions' transactions
                    // update the same user's row.
                    events: (first..first + EVENTS_PER_RECORD as u64)
                        .map(|i| {
                            let mut event = bench_event(i);
                            event.user_id = format!("user-{partition}-{}", i % users_per_partition);
                            event
                        })
                        .collect(),
                    receive_time: Some(Timestamp::from(SystemTime::now())),
                };
                // Four records (~2,000 events) per produce request.
                let records = (0..4).map(|_| record::encode(&batch, &[])).collect();
                pc.produce(records, Compression::NoCompression).await?;
                sent += 4;
                let events = produced.fetch_add(4 * EVENTS_PER_RECORD as u64, Ordering::Relaxed);
                if events % 500_000 < 4 * EVENTS_PER_RECORD as u64 {
                    eprintln!("  backlog: {events} events produced");
                }
            }
            anyhow::Ok(sent)
        }));
    }
    let mut records = 0;
    for task in tasks {
        records += task.await??;
    }
    eprintln!(
        "  backlog: {} events in {:.1} s",
        records * EVENTS_PER_RECORD as u64,
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// Sum of the processor's stored offsets (records stored) and its lag.
pub(crate) async fn stored_records(
    processor: &mut ProcessorServiceClient<Channel>,
    key: &str,
) -> anyhow::Result<(i64, i64)> {
    let status = processor
        .get_status(with_key(key, GetStatusRequest {}))
        .await?
        .into_inner();
    Ok((
        status.partitions.iter().map(|p| p.stored_offset).sum(),
        status.total_lag,
    ))
}

/// Rows per `COPY` statement in [`copy_control`].
const COPY_CHUNK: u64 = 100_000;

/// The drain's control from the same run: `COPY` of up to `total` rows
/// shaped like the backlog's events (text CSV, times `now`) straight into
/// the `events` table, for another project of the same database, in
/// statements of [`COPY_CHUNK`] rows, for at most [`PHASE_LIMIT`]. Returns
/// the rows copied and the time taken.
async fn copy_control(stack: &Stack, total: u64) -> anyhow::Result<(u64, Duration)> {
    let (project, _) = stack.project_with_key(&["events:read"]).await;
    let client = stack.db.pool().get().await?;
    eprintln!("control: COPY of {total} rows into events…");
    let started = Instant::now();
    let mut copied = 0;
    while copied < total && started.elapsed() < PHASE_LIMIT {
        let rows = COPY_CHUNK.min(total - copied);
        let mut csv = String::with_capacity(rows as usize * 160);
        for i in copied..copied + rows {
            csv.push_str(&format!(
                "{project},{},1,checkout_completed,now,now,bench,user-{},\"{{\"\"plan\"\": \"\"pro\"\", \"\"amount\"\": 42, \"\"n\"\": {i}}}\"\n",
                uuid::Uuid::now_v7(),
                i % 5_000
            ));
        }
        let sink = client
            .copy_in(
                "COPY events (project_id, event_id, kind, type, occurred_at, received_at, \
                 service, user_id, properties) FROM STDIN (FORMAT csv)",
            )
            .await?;
        futures::pin_mut!(sink);
        sink.send(bytes::Bytes::from(csv)).await?;
        sink.finish().await?;
        copied += rows;
    }
    Ok((copied, started.elapsed()))
}

/// The processor benchmark.
pub async fn bench_processor(memory: bool) -> anyhow::Result<()> {
    let total = backlog_events();
    let storage = if memory {
        "tansu memory storage (not durable)"
    } else {
        "durable tansu"
    };
    eprintln!("starting the whole stack in-process ({storage}), processor stopped…");
    let mut stack = if memory {
        Stack::start_on(TestBroker::start_in_memory()).await
    } else {
        Stack::start().await
    };
    let (project, key) = stack
        .project_with_key(&["events:write", "events:read"])
        .await;
    stack.kill_processor();
    eprintln!("filling the topic with {total} events…");
    fill_backlog(&stack, project, total).await?;

    stack.start_processor().await;
    let mut processor =
        ProcessorServiceClient::connect(url(stack.processor.expect("processor"))).await?;
    let started = Instant::now();
    let (mut last_records, mut last_at) = (0i64, started);
    let mut lag = i64::MAX;
    let limit = DRAIN_TIME.min(PHASE_LIMIT);
    let mut progress_at = started;
    while started.elapsed() < limit && lag > 0 {
        // Read every second (the end of the drain counts), print every 5 s.
        tokio::time::sleep(Duration::from_secs(1)).await;
        let (records, now_lag) = stored_records(&mut processor, &key).await?;
        lag = now_lag;
        let now = Instant::now();
        if now - progress_at >= Duration::from_secs(5) || lag == 0 {
            eprintln!(
                "  drain: {} events stored, {:.0}/s so far, lag {} records",
                records * EVENTS_PER_RECORD as i64,
                records as f64 * EVENTS_PER_RECORD as f64 / (now - started).as_secs_f64(),
                lag
            );
            progress_at = now;
        }
        (last_records, last_at) = (records, now);
    }
    let elapsed = last_at - started;
    let stored = last_records * EVENTS_PER_RECORD as i64;
    println!("\nProcessor on 127.0.0.1, {storage}, whole stack on the machine\n");
    println!("| phase | figure |");
    println!("|---|---|");
    println!(
        "| drain a {total}-event backlog ({EVENTS_PER_RECORD} events per record) | {stored} events stored in {:.1} s = **{:.0} events/s**{} |",
        elapsed.as_secs_f64(),
        stored as f64 / elapsed.as_secs_f64(),
        if lag > 0 {
            " (time limit reached; backlog left)"
        } else {
            " (backlog drained)"
        }
    );
    results::record(
        "drain",
        "stored",
        "events/s",
        stored as f64 / elapsed.as_secs_f64(),
    );
    // The rest of the backlog first: its records are seconds old.
    while stored_records(&mut processor, &key).await?.1 > 0 {
        tokio::time::sleep(Duration::from_secs(1)).await;
    }

    let (copied, copy_time) = copy_control(&stack, total).await?;
    let copy_rate = copied as f64 / copy_time.as_secs_f64();
    results::record("PostgreSQL COPY (control)", "rows", "events/s", copy_rate);
    println!(
        "| control: PostgreSQL `COPY` of {copied} such rows into `events` (another project; no ids, rollups or users) | {:.1} s = **{copy_rate:.0} rows/s**; the drain stored **{:.2}×** that |",
        copy_time.as_secs_f64(),
        stored as f64 / elapsed.as_secs_f64() / copy_rate
    );

    let ingest = stack.spawn_ingest(&["--rate-limit-events", "0"]).await;
    let channels = vec![connect(ingest).await?];
    for rate in STEADY_RATES {
        let outcome = drive(
            &format!("steady {rate:.0}/s"),
            &channels,
            &key,
            Load {
                callers: 16,
                per_request: 100,
                max_events: (rate * STEADY_TIME.as_secs_f64()) as u64,
                time: STEADY_TIME,
                rate: Some(rate),
            },
        )
        .await;
        tokio::time::sleep(Duration::from_secs(1)).await;
        let status = processor
            .get_status(with_key(&key, GetStatusRequest {}))
            .await?
            .into_inner();
        let phase = format!("freshness at {rate:.0} events/s");
        results::record(&phase, "p50", "ms", status.freshness_p50_ms as f64);
        results::record(&phase, "p95", "ms", status.freshness_p95_ms as f64);
        println!(
            "| freshness at {rate:.0} events/s for {} s ({:.0} accepted/s) | p50 {} ms, **p95 {} ms**, max {} ms over {} records |",
            STEADY_TIME.as_secs(),
            outcome.events as f64 / outcome.elapsed.as_secs_f64(),
            status.freshness_p50_ms,
            status.freshness_p95_ms,
            status.freshness_max_ms,
            status.freshness_samples
        );
    }
    Ok(())
}

/// Partitions of the scale-out benchmark's topic.
const SCALE_PARTITIONS: i32 = 16;
/// Backlog of each scale-out run; `BENCH_PROCESSORS_EVENTS` overrides.
const SCALE_EVENTS: u64 = 1_500_000;
/// How long each processor count is measured.
const SCALE_TIME: Duration = Duration::from_secs(20);

/// Records stored (sum of the stored offsets) of the stack's topic, and
/// how many partitions each live lease holder has.
async fn scale_progress(stack: &Stack) -> anyhow::Result<(i64, Vec<i64>)> {
    let client = stack.db.pool().get().await?;
    let stored: i64 = client
        .query_one(
            "SELECT coalesce(sum(next_offset), 0)::bigint FROM consumer_offsets WHERE cluster_id = $1",
            &[&stack.broker.cluster_id],
        )
        .await?
        .get(0);
    let owners = client
        .query(
            "SELECT count(*) FROM partition_leases
             WHERE cluster_id = $1 AND expires_at > clock_timestamp() GROUP BY owner ORDER BY 1",
            &[&stack.broker.cluster_id],
        )
        .await?
        .iter()
        .map(|r| r.get(0))
        .collect();
    Ok((stored, owners))
}

/// Polls until `count` instances hold all partitions evenly; how long it took.
async fn spread_over(stack: &Stack, count: usize) -> anyhow::Result<Duration> {
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(60) {
        let (_, owners) = scale_progress(stack).await?;
        let spread = owners.iter().max().zip(owners.iter().min());
        if owners.len() == count
            && owners.iter().sum::<i64>() == i64::from(SCALE_PARTITIONS)
            && spread.is_some_and(|(max, min)| max - min <= 1)
        {
            return Ok(started.elapsed());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    anyhow::bail!("partitions not spread over {count} instances within 60 s")
}

/// `boost-bench processors`: stored events/s with 1, 2 and 3 processor
/// processes sharing a 16-partition topic by leases (each count on a fresh
/// stack and backlog), and how long a SIGKILLed instance's partitions take
/// to move.
pub async fn bench_processors() -> anyhow::Result<()> {
    let binary = crate::sibling("boost-test-processor")?;
    let total = std::env::var("BENCH_PROCESSORS_EVENTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(SCALE_EVENTS);
    let mut rows = Vec::new();
    let mut takeover = None;
    for count in 1..=3usize {
        eprintln!(
            "{count} processor(s): fresh stack (durable tansu, {SCALE_PARTITIONS} partitions), {total}-event backlog…"
        );
        let mut stack =
            Stack::start_on(TestBroker::start().with_partitions(SCALE_PARTITIONS)).await;
        let (project, _) = stack.project_with_key(&["events:write"]).await;
        stack.kill_processor();
        fill_backlog(&stack, project, total).await?;
        let mut processes = Vec::new();
        for _ in 0..count {
            let addr = ([127, 0, 0, 1], boost_testkit::free_port()).into();
            let mut command = stack.processor_command(&binary.to_string_lossy(), addr);
            command
                .env("BOOST_LOG", "warn")
                .stdout(std::process::Stdio::null());
            processes.push(ServiceProcess::spawn(command, addr).await);
        }
        let spread = spread_over(&stack, count).await?;
        let (start_records, _) = scale_progress(&stack).await?;
        let started = Instant::now();
        tokio::time::sleep(SCALE_TIME).await;
        let (records, _) = scale_progress(&stack).await?;
        let rate = (records - start_records) as f64 * EVENTS_PER_RECORD as f64
            / started.elapsed().as_secs_f64();
        eprintln!("  {rate:.0} events/s stored (spread {spread:.1?} after start)");
        rows.push((count, rate));
        if count == 3 {
            let killed = Instant::now();
            drop(processes.pop());
            takeover = Some(spread_over(&stack, 2).await.map(|_| killed.elapsed())?);
        }
    }
    let base = rows[0].1;
    println!(
        "\nProcessors sharing a {SCALE_PARTITIONS}-partition topic by leases, durable tansu, whole stack on the machine\n"
    );
    println!("| processors | stored events/s | vs 1 |");
    println!("|---|---|---|");
    for (count, rate) in &rows {
        results::record(&format!("{count} processors"), "stored", "events/s", *rate);
        println!("| {count} | {rate:.0} | {:.2} |", rate / base);
    }
    if let Some(takeover) = takeover {
        println!(
            "\nOne of 3 SIGKILLed: its partitions held by the other two after {:.2} s (lease {} ms: {:.2} × the lease)",
            takeover.as_secs_f64(),
            PROCESSOR_LEASE_MS,
            takeover.as_secs_f64() * 1000.0 / PROCESSOR_LEASE_MS as f64
        );
    }
    Ok(())
}
