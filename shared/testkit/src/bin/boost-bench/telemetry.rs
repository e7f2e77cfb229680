//! `boost-bench telemetry`: what tracing and metrics cost ingest. The same
//! ingest binary runs as its own OS process once per configuration — no
//! telemetry (the control), Prometheus metrics on, and trace export to a
//! real OTLP receiver at sampling 0, 0.01 and 1 — under the same Track and
//! IngestBatch loads, in interleaved rounds so drift hits every row alike.
//! tansu's memory storage (a fresh broker per run) keeps the broker from
//! being the limit, and no processor runs, so every run starts alike.

use std::{collections::BTreeMap, net::SocketAddr, path::PathBuf, process::Stdio, time::Duration};

use boost_testkit::{
    Stack, TestBroker,
    otlp::OtlpReceiver,
    stack::{ServiceProcess, url, wait_health},
};
use tonic::transport::Channel;

use crate::ingest::{Load, drive};

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

/// A binary built beside this one (`make bench` builds them together).
fn sibling(name: &str) -> anyhow::Result<PathBuf> {
    let path = std::env::current_exe()?.with_file_name(name);
    anyhow::ensure!(
        path.exists(),
        "{} is missing: cargo build --release -p boost-testkit --bin {name}",
        path.display()
    );
    Ok(path)
}

/// Events/s of each load, and spans exported, for one run of one setting.
#[derive(Default)]
struct Rates {
    track: Vec<f64>,
    batch: Vec<f64>,
    spans: usize,
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
                channels.push(Channel::from_shared(url(addr))?.connect().await?);
            }
            let spans_before = receiver.count();
            let row = rates.entry(name).or_default();
            row.track
                .push(drive(name, &channels, &key, track).await.rate());
            row.batch
                .push(drive(name, &channels, &key, batch).await.rate());
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
    println!(
        "\nTelemetry cost on ingest (separate ingest process, tansu memory storage, no processor; median of {ROUNDS} rounds of {} s per load)\n",
        PHASE_TIME.as_secs()
    );
    println!(
        "| configuration            | Track events/s | vs control | IngestBatch x100 events/s | vs control | spans exported |"
    );
    println!(
        "|--------------------------|----------------|------------|---------------------------|------------|----------------|"
    );
    for (name, _) in &settings {
        let row = &rates[name];
        let (track, batch) = (median(&row.track), median(&row.batch));
        println!(
            "| {name:<24} | {track:>14.0} | {:>10.3} | {batch:>25.0} | {:>10.3} | {:>14} |",
            track / track_control,
            batch / batch_control,
            row.spans
        );
    }
    println!();
    Ok(())
}
