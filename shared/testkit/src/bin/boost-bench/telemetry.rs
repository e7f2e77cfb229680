//! `boost-bench telemetry`: what tracing and metrics cost ingest. The same
//! ingest binary runs as its own OS process once per configuration — no
//! telemetry (the control), Prometheus metrics on, and trace export to a
//! real OTLP receiver at sampling 0, 0.01 and 1 — under the same Track and
//! IngestBatch loads, in interleaved rounds so drift hits every row alike.
//! tansu's memory storage (a fresh broker per run) keeps the broker from
//! being the limit, and no processor runs, so every run starts alike.
//! Besides events/s, each row reports the ingest process's CPU time per
//! event (from `/proc`): the cost itself, which a busy or throttled machine
//! disturbs far less than throughput.

use std::{collections::BTreeMap, net::SocketAddr, process::Stdio, time::Duration};

use boost_testkit::{
    Stack, TestBroker,
    otlp::OtlpReceiver,
    stack::{ServiceProcess, wait_health},
};
use tonic::transport::Channel;

use crate::{
    connect,
    ingest::{Load, drive},
    results, sibling,
};

/// Rounds over every configuration; each row reports its median.
const ROUNDS: usize = 3;
/// Length of each load phase.
const PHASE_TIME: Duration = Duration::from_secs(8);

/// A configuration's name and its ingest process's extra environment.
type Setting = (&'static str, Vec<(&'static str, String)>);

fn settings(receiver: &OtlpReceiver) -> Vec<Setting> {
    let tracing = |ratio: &str| {
        vec![
            ("OTEL_EXPORTER_OTLP_ENDPOINT", receiver.endpoint()),
            (
                "OTEL_TRACES_SAMPLER",
                "parentbased_traceidratio".to_string(),
            ),
            ("OTEL_TRACES_SAMPLER_ARG", ratio.to_string()),
        ]
    };
    let metrics_addr = SocketAddr::from(([127, 0, 0, 1], boost_testkit::free_port()));
    vec![
        ("no telemetry (control)", Vec::new()),
        (
            "metrics on",
            vec![("BOOST_METRICS_ADDR", metrics_addr.to_string())],
        ),
        ("tracing, sampling 0", tracing("0")),
        ("tracing, sampling 0.01", tracing("0.01")),
        ("tracing, sampling 1", tracing("1")),
    ]
}

/// Events/s and ingest CPU µs per event of each load, and spans exported,
/// over the runs of one setting.
#[derive(Default)]
struct Rates {
    track: Vec<f64>,
    batch: Vec<f64>,
    track_cpu: Vec<f64>,
    batch_cpu: Vec<f64>,
    spans: usize,
}

/// Runs `load` against the ingest `process`; events/s and its CPU µs per event.
async fn measure(
    name: &str,
    process: &ServiceProcess,
    channels: &[Channel],
    key: &str,
    load: Load,
) -> (f64, f64) {
    let cpu_before = process.cpu_time();
    let outcome = drive(name, channels, key, load).await;
    let cpu = process.cpu_time() - cpu_before;
    let per_event = cpu.as_secs_f64() * 1e6 / outcome.events.max(1) as f64;
    (outcome.rate(), per_event)
}

fn median(values: &[f64]) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    sorted.get(sorted.len() / 2).copied().unwrap_or_default()
}

/// `boost-bench telemetry`.
pub async fn bench_telemetry() -> anyhow::Result<()> {
    let binary = sibling("boost-test-ingest")?;
    let binary = binary.to_string_lossy();
    eprintln!("starting the stack in-process (tansu memory storage) and an OTLP receiver…");
    let receiver = OtlpReceiver::start().await;
    let mut stack = Stack::start_on(TestBroker::start_in_memory()).await;
    let (_, key) = stack.project_with_key(&["events:write"]).await;
    // Only ingest is measured: a processor draining what the rounds send
    // would take CPU from the later rounds.
    stack.kill_processor();
    let settings = settings(&receiver);
    let track = Load {
        callers: 256,
        per_request: 1,
        max_events: 400_000,
        time: PHASE_TIME,
        rate: None,
    };
    let batch = Load {
        callers: 16,
        per_request: 100,
        max_events: 2_000_000,
        ..track
    };
    let mut rates: BTreeMap<&str, Rates> = BTreeMap::new();
    for round in 1..=ROUNDS {
        for (name, env) in &settings {
            eprintln!("round {round}/{ROUNDS}: {name}");
            let addr = SocketAddr::from(([127, 0, 0, 1], boost_testkit::free_port()));
            // A fresh broker per run: one that kept every earlier run's
            // events in memory would slow each later run a little more.
            let broker = TestBroker::start_in_memory();
            let mut command = stack.ingest_command_on(&binary, addr, &broker);
            command
                .args(["--rate-limit-events", "0"])
                .envs(env.iter().map(|(k, v)| (k, v)))
                .env("BOOST_LOG", "warn")
                .stdout(Stdio::null())
                .stderr(Stdio::null());
            let process = ServiceProcess::spawn(command, addr).await;
            wait_health(addr, boost_storage::redis::HEALTH_NAME).await;
            let mut channels = Vec::new();
            for _ in 0..4 {
                channels.push(connect(addr).await?);
            }
            let spans_before = receiver.count();
            let row = rates.entry(name).or_default();
            let (rate, cpu) = measure(name, &process, &channels, &key, track).await;
            row.track.push(rate);
            row.track_cpu.push(cpu);
            let (rate, cpu) = measure(name, &process, &channels, &key, batch).await;
            row.batch.push(rate);
            row.batch_cpu.push(cpu);
            drop(channels);
            // Let the exporter's last batch arrive before counting.
            tokio::time::sleep(Duration::from_secs(1)).await;
            row.spans += receiver.count() - spans_before;
            process.kill();
            drop(broker);
        }
    }

    let control = &rates[settings[0].0];
    let (track_control, batch_control) = (median(&control.track), median(&control.batch));
    let (track_cpu_control, batch_cpu_control) =
        (median(&control.track_cpu), median(&control.batch_cpu));
    println!(
        "\nTelemetry cost on ingest (separate ingest process, tansu memory storage, no processor; median of {ROUNDS} rounds of {} s per load)\n",
        PHASE_TIME.as_secs()
    );
    println!(
        "| configuration            | Track events/s | vs control | ingest CPU µs/event | vs control | IngestBatch x100 events/s | vs control | ingest CPU µs/event | vs control | spans exported |"
    );
    println!(
        "|--------------------------|----------------|------------|---------------------|------------|---------------------------|------------|---------------------|------------|----------------|"
    );
    for (name, _) in &settings {
        let row = &rates[name];
        let (track, batch) = (median(&row.track), median(&row.batch));
        let (track_cpu, batch_cpu) = (median(&row.track_cpu), median(&row.batch_cpu));
        results::record(&format!("Track, {name}"), "accepted", "events/s", track);
        results::record(
            &format!("IngestBatch x100, {name}"),
            "accepted",
            "events/s",
            batch,
        );
        println!(
            "| {name:<24} | {track:>14.0} | {:>10.3} | {track_cpu:>19.1} | {:>10.3} | {batch:>25.0} | {:>10.3} | {batch_cpu:>19.2} | {:>10.3} | {:>14} |",
            track / track_control,
            track_cpu / track_cpu_control,
            batch / batch_control,
            batch_cpu / batch_cpu_control,
            row.spans
        );
    }
    println!();
    Ok(())
}
