//! The broker read-path benchmark: how long one fetch from a durable tansu
//! partition takes as the backlog behind the fetch offset grows, and how
//! fast a consumer drains that backlog at several fetch sizes.
//!
//! tansu 0.6's sqlite fetch summed the size of every record up to the high
//! watermark before keeping those under `max_bytes`, and read each record's
//! headers with an unindexed query, so one fetch cost O(backlog) and a drain
//! was quadratic. `shared/vendor/tansu-storage` fixes both; this benchmark
//! shows the effect, and the drain table is how the processor's
//! `BOOST_PROCESSOR_FETCH_MAX_BYTES` was chosen. Run it with
//! `BOOST_TANSU_BIN=<an unpatched tansu>` for the comparison.

use std::{
    collections::BTreeMap,
    time::{Duration, Instant},
};

use boost_kafka::{
    KafkaArgs, client,
    record::{CONTENT_TYPE, CONTENT_TYPE_HEADER},
    rskafka::{
        client::partition::{Compression, PartitionClient},
        record::Record,
    },
};
use boost_testkit::{TestBroker, broker::tansu_binary};

use crate::results;

/// Bytes of each record's value, about one packed event.
const RECORD_BYTES: usize = 300;
/// Records sent per produce request while filling the partition.
const PRODUCE_CHUNK: usize = 500;
/// Backlogs (records behind offset 0) at which fetch latency is measured.
const BACKLOGS: [usize; 4] = [1_000, 10_000, 40_000, 100_000];
/// The small fetch the issue measured: 64 KiB, about 200 records.
const SMALL_FETCH_BYTES: i32 = 64 * 1024;
/// Fetches timed per backlog.
const FETCHES: usize = 20;
/// Fetch sizes compared when draining the whole backlog.
const DRAIN_FETCH_BYTES: [i32; 4] = [256 * 1024, 1024 * 1024, 4 * 1024 * 1024, 16 * 1024 * 1024];
/// No drain runs longer than this.
const DRAIN_LIMIT: Duration = Duration::from_secs(120);

/// `boost-bench fetch`.
pub async fn bench_fetch() -> anyhow::Result<()> {
    eprintln!("tansu binary: {}", tansu_binary().display());
    let broker = TestBroker::start().with_partitions(1);
    let mut args = KafkaArgs::with_brokers(broker.address.clone());
    args.partitions = 1;
    let kafka = client::connect(&args, "bench-fetch").await?;
    client::ensure_topic(&kafka, &args).await?;
    let partition = client::partition_client(&kafka, &args.topic, 0).await?;

    println!(
        "\nOne fetch of {} KiB from offset 0 of a durable tansu partition ({RECORD_BYTES}-byte records with Boost's content-type header), against the backlog behind it\n",
        SMALL_FETCH_BYTES / 1024
    );
    println!("| backlog (records) | fetches | records each | p50 ms | max ms |");
    println!("|---|---|---|---|---|");
    let mut produced = 0;
    for backlog in BACKLOGS {
        produced += fill(&partition, backlog - produced).await?;
        let mut latencies = Vec::with_capacity(FETCHES);
        let mut returned = 0;
        for _ in 0..FETCHES {
            let started = Instant::now();
            let (records, _) = partition.fetch_records(0, 1..SMALL_FETCH_BYTES, 0).await?;
            latencies.push(started.elapsed());
            returned = records.len();
        }
        latencies.sort();
        results::record(
            &format!("64 KiB fetch, {backlog} records behind"),
            "p50",
            "ms",
            ms(latencies[FETCHES / 2]),
        );
        println!(
            "| {backlog} | {FETCHES} | {returned} | {:.1} | {:.1} |",
            ms(latencies[FETCHES / 2]),
            ms(latencies[FETCHES - 1])
        );
    }

    println!("\nDraining the {produced}-record backlog from offset 0, one fetch at a time\n");
    println!("| max bytes per fetch | fetches | records/fetch | p50 fetch ms | records/s |");
    println!("|---|---|---|---|---|");
    for max_bytes in DRAIN_FETCH_BYTES {
        drain(&partition, produced as i64, max_bytes).await?;
    }
    Ok(())
}

/// Sends `count` records to the partition, in chunks; returns how many.
async fn fill(partition: &PartitionClient, count: usize) -> anyhow::Result<usize> {
    let value = vec![b'x'; RECORD_BYTES];
    let headers = BTreeMap::from([(CONTENT_TYPE_HEADER.to_string(), CONTENT_TYPE.to_vec())]);
    let mut sent = 0;
    while sent < count {
        let chunk = PRODUCE_CHUNK.min(count - sent);
        let records = (0..chunk)
            .map(|_| Record {
                key: None,
                value: Some(value.clone()),
                headers: headers.clone(),
                timestamp: Default::default(),
            })
            .collect();
        partition
            .produce(records, Compression::NoCompression)
            .await?;
        sent += chunk;
    }
    Ok(sent)
}

/// Reads the partition from 0 to `end` with fetches of `max_bytes` and
/// prints one row.
async fn drain(partition: &PartitionClient, end: i64, max_bytes: i32) -> anyhow::Result<()> {
    let started = Instant::now();
    let mut offset = 0;
    let mut latencies = Vec::new();
    while offset < end && started.elapsed() < DRAIN_LIMIT {
        let fetch_started = Instant::now();
        let (records, _) = partition.fetch_records(offset, 1..max_bytes, 0).await?;
        latencies.push(fetch_started.elapsed());
        match records.iter().map(|r| r.offset).max() {
            Some(last) => offset = last + 1,
            None => anyhow::bail!("an empty fetch at offset {offset} below the end {end}"),
        }
    }
    let elapsed = started.elapsed();
    if offset < end {
        eprintln!(
            "  drain with {max_bytes} bytes stopped at the time limit, offset {offset} of {end}"
        );
    }
    latencies.sort();
    results::record(
        &format!("drain by {} KiB fetches", max_bytes / 1024),
        "records",
        "events/s",
        offset as f64 / elapsed.as_secs_f64(),
    );
    println!(
        "| {} KiB | {} | {:.0} | {:.1} | {:.0} |",
        max_bytes / 1024,
        latencies.len(),
        offset as f64 / latencies.len() as f64,
        ms(latencies[latencies.len() / 2]),
        offset as f64 / elapsed.as_secs_f64()
    );
    Ok(())
}

fn ms(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1000.0
}
