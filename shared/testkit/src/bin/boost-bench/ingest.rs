//! The ingest benchmark: the whole stack in-process against a real broker.

use std::{
    collections::BTreeMap,
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use boost_kafka::{
    KafkaArgs, client,
    rskafka::{client::partition::Compression, record::Record},
};
use boost_proto::{
    common::v1::Event,
    ingest::v1::{IngestBatchRequest, TrackRequest, ingest_service_client::IngestServiceClient},
    json::json_to_struct,
};
use boost_testkit::{Stack, TestBroker};
use hdrhistogram::Histogram;
use tonic::transport::Channel;

use crate::{PHASE_LIMIT, connect, histogram, report_as, results, with_key};

/// Concurrent callers per phase; `BENCH_BATCH_CALLERS` / `BENCH_TRACK_CALLERS` override.
fn callers(var: &str, default: usize) -> usize {
    std::env::var(var)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}
/// Upper bounds on work per phase (the time limit usually ends a phase first).
const BATCH_EVENTS: u64 = 2_000_000;
const TRACK_EVENTS: u64 = 400_000;
const RAW_RECORDS: u64 = 2_000_000;
/// Events per IngestBatch request.
const BATCH_SIZE: usize = 100;
/// Length of the paced half-load phases.
const HALF_LOAD_TIME: Duration = Duration::from_secs(10);
/// Phase length for the throughput phases.
const THROUGHPUT_TIME: Duration = Duration::from_secs(20);

pub(crate) fn bench_event(i: u64) -> Event {
    Event {
        event_id: uuid::Uuid::now_v7().to_string(),
        r#type: "checkout_completed".into(),
        user_id: format!("user-{}", i % 5_000),
        service: "bench".into(),
        properties: Some(json_to_struct(
            &serde_json::json!({ "plan": "pro", "amount": 42, "n": i }),
        )),
        ..Default::default()
    }
}

/// What a phase measured.
pub(crate) struct Outcome {
    /// Request latencies (ns).
    latency: Histogram<u64>,
    /// Events accepted.
    pub(crate) events: u64,
    /// Wall time.
    pub(crate) elapsed: Duration,
    /// Requests that failed.
    pub(crate) errors: u64,
}

impl Outcome {
    /// Accepted events per second.
    pub(crate) fn rate(&self) -> f64 {
        self.events as f64 / self.elapsed.as_secs_f64()
    }
}

/// The shape of one load phase.
#[derive(Clone, Copy)]
pub(crate) struct Load {
    /// Concurrent callers.
    pub(crate) callers: usize,
    /// Events per request (1 = Track, else IngestBatch).
    pub(crate) per_request: usize,
    /// Stop after this many events.
    pub(crate) max_events: u64,
    /// Stop after this long (capped by the global phase limit).
    pub(crate) time: Duration,
    /// Pace the whole phase at this many events/s, when set.
    pub(crate) rate: Option<f64>,
}

/// Runs a load phase against ingest.
pub(crate) async fn drive(label: &str, channels: &[Channel], key: &str, load: Load) -> Outcome {
    let Load {
        callers,
        per_request,
        max_events,
        time,
        rate,
    } = load;
    let sent = Arc::new(AtomicU64::new(0));
    let errors = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let deadline = started + time.min(PHASE_LIMIT);
    let mut tasks = Vec::new();
    for caller in 0..callers {
        let mut client = IngestServiceClient::new(channels[caller % channels.len()].clone());
        let (key, sent, errors) = (key.to_string(), sent.clone(), errors.clone());
        tasks.push(tokio::spawn(async move {
            let mut latency = histogram();
            let mut n = 0u64;
            loop {
                let i = sent.fetch_add(per_request as u64, Ordering::Relaxed);
                if i >= max_events || Instant::now() >= deadline {
                    break;
                }
                if let Some(rate) = rate {
                    // Request slot of this caller at the overall pace.
                    let slot = started
                        + Duration::from_secs_f64(
                            (n * callers as u64 + caller as u64) as f64 * per_request as f64 / rate,
                        );
                    tokio::time::sleep_until(slot.into()).await;
                    n += 1;
                }
                let t = Instant::now();
                let ok = if per_request == 1 {
                    client
                        .track(with_key(
                            &key,
                            TrackRequest {
                                event: Some(bench_event(i)),
                                ..Default::default()
                            },
                        ))
                        .await
                        .is_ok()
                } else {
                    let events = (i..i + per_request as u64).map(bench_event).collect();
                    match client
                        .ingest_batch(with_key(
                            &key,
                            IngestBatchRequest {
                                events,
                                ..Default::default()
                            },
                        ))
                        .await
                    {
                        Ok(r) => r.into_inner().accepted as usize == per_request,
                        Err(_) => false,
                    }
                };
                latency
                    .record(t.elapsed().as_nanos() as u64)
                    .expect("record");
                if !ok {
                    errors.fetch_add(1, Ordering::Relaxed);
                }
            }
            latency
        }));
    }
    let progress = {
        let (sent, label) = (sent.clone(), label.to_string());
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(Duration::from_secs(5)).await;
                let n = sent.load(Ordering::Relaxed);
                eprintln!(
                    "  {label}: {n} events, {:.0}/s",
                    n as f64 / started.elapsed().as_secs_f64()
                );
            }
        })
    };
    let mut latency = histogram();
    for task in tasks {
        latency.add(task.await.expect("caller")).expect("merge");
    }
    progress.abort();
    let elapsed = started.elapsed();
    let errors = errors.load(Ordering::Relaxed);
    let events = (latency.len() - errors) * per_request as u64;
    Outcome {
        latency,
        events,
        elapsed,
        errors,
    }
}

fn print(name: &str, o: &Outcome) {
    // "Track at half load (2141/s)" is recorded as "Track at half load".
    let phase = name.split(" (").next().unwrap_or(name);
    report_as(name, phase, &o.latency, o.elapsed);
    results::record(phase, "accepted", "events/s", o.rate());
    println!(
        "|   → {:<30} | events/s: {:>9.0} | failed requests: {} |",
        "accepted",
        o.rate(),
        o.errors
    );
}

/// A bare rskafka producer: records of one event each, 500 per request,
/// every partition at once.
async fn raw_producer(broker: &str) -> anyhow::Result<(u64, Duration)> {
    let args = KafkaArgs::with_brokers(broker);
    let kafka = client::connect(&args, "bench-raw").await?;
    client::ensure_topic(&kafka, &args).await?;
    let value = {
        use boost_proto::prost::Message;
        boost_proto::common::v1::EventBatchRecord {
            project_id: uuid::Uuid::nil().to_string(),
            events: vec![bench_event(1)],
            receive_time: None,
        }
        .encode_to_vec()
    };
    let started = Instant::now();
    let mut tasks = Vec::new();
    let per_partition = RAW_RECORDS / args.partitions as u64;
    for partition in 0..args.partitions {
        let pc = client::partition_client(&kafka, &args.topic, partition).await?;
        let value = value.clone();
        tasks.push(tokio::spawn(async move {
            let mut sent = 0u64;
            while sent < per_partition && started.elapsed() < THROUGHPUT_TIME {
                let records: Vec<Record> = (0..500)
                    .map(|_| Record {
                        key: None,
                        value: Some(value.clone()),
                        headers: BTreeMap::new(),
                        timestamp: Default::default(),
                    })
                    .collect();
                pc.produce(records, Compression::NoCompression)
                    .await
                    .expect("raw produce");
                sent += 500;
            }
            sent
        }));
    }
    let mut total = 0;
    for task in tasks {
        total += task.await?;
    }
    Ok((total, started.elapsed()))
}

/// `boost-bench ingest [memory]`.
pub async fn bench_ingest(memory: bool) -> anyhow::Result<()> {
    let storage = if memory { "memory" } else { "sqlite (durable)" };
    eprintln!("starting the whole stack in-process, tansu with {storage} storage…");
    let broker = if memory {
        TestBroker::start_in_memory()
    } else {
        TestBroker::start()
    };
    let raw_broker = if memory {
        TestBroker::start_in_memory()
    } else {
        TestBroker::start()
    };
    let stack = Stack::start_on(broker).await;
    let (_, key) = stack.project_with_key(&["events:write"]).await;
    // The benchmark's own ingest, with rate limiting off: it sends far more
    // than one project's default limit on purpose.
    let ingest = stack.spawn_ingest(&["--rate-limit-events", "0"]).await;
    let mut channels = Vec::new();
    for _ in 0..4 {
        channels.push(connect(ingest).await?);
    }

    println!("\nIngest through gRPC on 127.0.0.1, tansu {storage}, processor running (µs)\n");
    println!(
        "| phase                              |   calls |     p50 |     p99 |   p99.9 |     max |   calls/s |"
    );
    println!(
        "|------------------------------------|---------|---------|---------|---------|---------|-----------|"
    );

    eprintln!("raw rskafka producer (separate broker of the same kind)…");
    let (records, elapsed) = raw_producer(&raw_broker.address).await?;
    println!(
        "| {:<34} | records: {records} in {:.1} s = {:.0} records/s |",
        "bare rskafka, 500 records/request",
        elapsed.as_secs_f64(),
        records as f64 / elapsed.as_secs_f64()
    );
    results::record(
        "bare rskafka producer (control)",
        "records",
        "events/s",
        records as f64 / elapsed.as_secs_f64(),
    );
    drop(raw_broker);

    let batch_callers = callers("BENCH_BATCH_CALLERS", 32);
    let track_callers = callers("BENCH_TRACK_CALLERS", 512);
    let batch_load = Load {
        callers: batch_callers,
        per_request: BATCH_SIZE,
        max_events: BATCH_EVENTS,
        time: THROUGHPUT_TIME,
        rate: None,
    };
    let track_load = Load {
        callers: track_callers,
        per_request: 1,
        max_events: TRACK_EVENTS,
        ..batch_load
    };

    let full = drive("batch", &channels, &key, batch_load).await;
    print(
        &format!("IngestBatch x{BATCH_SIZE}, {batch_callers} callers"),
        &full,
    );
    let single = drive("track", &channels, &key, track_load).await;
    print(&format!("Track, {track_callers} callers"), &single);

    // Half load: the same shapes, paced at half of what they reached.
    let half_track = Load {
        time: HALF_LOAD_TIME,
        rate: Some(single.rate() / 2.0),
        ..track_load
    };
    let half = drive("track half", &channels, &key, half_track).await;
    print(
        &format!("Track at half load ({:.0}/s)", single.rate() / 2.0),
        &half,
    );
    let half_batch_load = Load {
        time: HALF_LOAD_TIME,
        rate: Some(full.rate() / 2.0),
        ..batch_load
    };
    let half_batch = drive("batch half", &channels, &key, half_batch_load).await;
    print(
        &format!("IngestBatch at half load ({:.0} ev/s)", full.rate() / 2.0),
        &half_batch,
    );
    println!();
    Ok(())
}
