//! `boost-bench client`: events/s from one Rust process through
//! `boost-client`'s batcher (batches of 100, one call in flight), beside its
//! control from the same run: the same events as bare IngestBatch calls of
//! 100, one at a time, from the same process. Bounded in count and time.

use std::time::{Duration, Instant};

use boost_client::{Client, ClientConfig, Credential};
use boost_proto::{
    ingest::v1::{IngestBatchRequest, ingest_service_client::IngestServiceClient},
    processor::v1::{GetStatusRequest, processor_service_client::ProcessorServiceClient},
};
use boost_testkit::{Stack, TestBroker, stack::url};

use crate::{ingest::bench_event, results};

/// Events per phase.
const EVENTS: u64 = 200_000;
/// Events per call.
const BATCH: u64 = 100;
/// Longest phase.
const PHASE_LIMIT: Duration = Duration::from_secs(60);

/// Longest wait for the processor to store a phase's events.
const DRAIN_LIMIT: Duration = Duration::from_secs(180);

/// Waits until the processor has stored everything (lag 0), so a phase does
/// not share the machine with the previous phase's backlog.
async fn wait_drained(stack: &Stack, key: &str) -> anyhow::Result<()> {
    let processor = stack
        .processor
        .ok_or_else(|| anyhow::anyhow!("no processor"))?;
    let mut status = ProcessorServiceClient::connect(url(processor)).await?;
    let started = Instant::now();
    loop {
        let mut request = tonic::Request::new(GetStatusRequest {});
        request.metadata_mut().insert("x-api-key", key.parse()?);
        if status.get_status(request).await?.into_inner().total_lag == 0 {
            return Ok(());
        }
        anyhow::ensure!(
            started.elapsed() < DRAIN_LIMIT,
            "the processor did not drain in time"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Runs both phases and prints their rates.
pub async fn bench_client() -> anyhow::Result<()> {
    eprintln!("starting the whole stack in-process, durable tansu…");
    let stack = Stack::start_on(TestBroker::start()).await;
    let (_, key) = stack
        .project_with_key(&["events:write", "events:read"])
        .await;
    let ingest = stack.spawn_ingest(&["--rate-limit-events", "0"]).await;

    eprintln!("bare IngestBatch calls (control)…");
    let mut raw = IngestServiceClient::connect(url(ingest)).await?;
    let started = Instant::now();
    let mut sent = 0;
    while sent < EVENTS && started.elapsed() < PHASE_LIMIT {
        let events = (sent..sent + BATCH).map(bench_event).collect();
        let mut request = tonic::Request::new(IngestBatchRequest { events, ack: 0 });
        request.metadata_mut().insert("x-api-key", key.parse()?);
        raw.ingest_batch(request).await?;
        sent += BATCH;
    }
    let control = sent as f64 / started.elapsed().as_secs_f64();

    eprintln!("waiting for the processor to store the control's events…");
    wait_drained(&stack, &key).await?;
    eprintln!("boost-client batcher…");
    let client = Client::new(ClientConfig {
        ingest_url: url(ingest),
        query_url: url(stack.query),
        ..ClientConfig::new(Credential::ApiKey(key.clone()))
    })?;
    let started = Instant::now();
    let mut queued = 0;
    while queued < EVENTS && started.elapsed() < PHASE_LIMIT {
        // The queue is bounded: pace the producer by flushing every 5,000.
        client.send(bench_event(queued));
        queued += 1;
        if queued % 5_000 == 0 {
            client.flush().await;
        }
    }
    client.close().await;
    let rate = queued as f64 / started.elapsed().as_secs_f64();
    let stats = client.stats();

    println!("\nOne Rust process, batches of {BATCH}, one call in flight, durable tansu\n");
    println!("| phase | events | events/s | ratio to control |");
    println!("|---|---|---|---|");
    println!("| bare IngestBatch calls (control) | {sent} | {control:.0} | 1.00 |");
    results::record(
        "bare IngestBatch calls (control)",
        "accepted",
        "events/s",
        control,
    );
    results::record("boost-client batcher", "queued", "events/s", rate);
    println!(
        "| boost-client track → batcher | {queued} (delivered {}, dropped {}) | {rate:.0} | {:.2} |",
        stats.delivered(),
        stats.dropped,
        rate / control
    );
    println!();
    Ok(())
}
