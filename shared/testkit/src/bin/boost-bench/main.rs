//! `boost-bench`: measures Boost over real components on this machine.
//!
//! `boost-bench ingest [memory]` — IngestBatch and Track throughput and
//! latency through the whole in-process stack, and a bare rskafka producer
//! against the same kind of broker (sqlite by default, `memory` for tansu's
//! memory storage).
//!
//! `boost-bench query` — loads 10 million events (bulk, with progress) and
//! measures ListEvents (first and deep pages, filtered, with total),
//! Aggregate over 30 days and GetMetrics.
//!
//! `boost-bench processor [memory]` — stored events/s while draining a
//! backlog from durable tansu (or its memory storage), and freshness
//! (ingest → stored) p50/p95 at steady loads.
//!
//! `boost-bench fetch` — one fetch's latency from a durable tansu
//! partition against the backlog behind it, and drain rates per fetch size
//! (the broker's read path on its own).
//!
//! `boost-bench memory` — each service's peak resident memory (`/proc`
//! VmHWM) as its own OS process under batch, Track and query load.
//!
//! `boost-bench client` — events/s through `boost-client`'s batcher beside
//! bare IngestBatch calls from the same process (the SDK benchmarks' Rust
//! row; `BENCH=sdk make bench` adds Python and Node).
//!
//! `boost-bench telemetry` — ingest events/s with tracing (sampling 0,
//! 0.01, 1) and with metrics, each beside the same ingest without either.
//!
//! `boost-bench auth` — ValidateApiKey latency through the gRPC API:
//! warm (L1 hit), L2 (Redis, fresh instance) and cold (PostgreSQL, never
//! validated keys), plus throughput with concurrent callers. Every loop is
//! bounded in count and time and talks only to 127.0.0.1.
//!
//! `boost-bench chart [RESULTS] [SVG]` — draws the figures every bench
//! appends to `target/bench/results.jsonl` (see `results`) as an SVG.
//!
//! Needs PostgreSQL (`BOOST_DATABASE_URL`), redis-server and nothing else;
//! `make bench` provides them. Run in release mode.

mod chart;
mod client;
mod fetch;
mod ingest;
mod memory;
mod processor;
mod query;
mod results;
mod telemetry;

use std::time::{Duration, Instant};

use boost_proto::auth::v1::{
    CreateApiKeyRequest, CreateOrganizationRequest, CreateProjectRequest, ValidateApiKeyRequest,
    auth_service_client::AuthServiceClient,
};
use boost_testkit::{
    TestDatabase, TestRedis,
    stack::{admin_request, spawn_auth, url, wait_serving},
};
use hdrhistogram::Histogram;
use tokio_util::sync::CancellationToken;
use tonic::{Request, transport::Channel};

/// Keys validated once each in the cold and L2 phases.
const COLD_KEYS: usize = 2_000;
/// Sequential calls in the warm phase.
const WARM_CALLS: usize = 20_000;
/// Concurrent callers and calls each in the throughput phase.
const CONCURRENCY: usize = 16;
const CALLS_PER_CALLER: usize = 5_000;
/// No phase runs longer than this.
pub(crate) const PHASE_LIMIT: Duration = Duration::from_secs(60);

/// A request carrying `key` in `x-api-key`.
pub(crate) fn with_key<T>(key: &str, body: T) -> Request<T> {
    let mut request = Request::new(body);
    request
        .metadata_mut()
        .insert("x-api-key", key.parse().expect("ascii key"));
    request
}

pub(crate) fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 60_000_000_000, 3).expect("histogram bounds")
}

/// Prints one latency row (µs) and records its p50 and p99.
pub(crate) fn report(name: &str, h: &Histogram<u64>, elapsed: Duration) {
    report_as(name, name, h, elapsed);
}

/// Like [`report`], recording the figures under `phase` (the row's name
/// without a measured pace, so one phase of two runs stays one phase).
pub(crate) fn report_as(name: &str, phase: &str, h: &Histogram<u64>, elapsed: Duration) {
    let us = |q: f64| h.value_at_quantile(q) as f64 / 1000.0;
    results::record(phase, "p50", "ms", us(0.5) / 1000.0);
    results::record(phase, "p99", "ms", us(0.99) / 1000.0);
    println!(
        "| {name:<34} | {:>7} | {:>7.3} | {:>7.3} | {:>7.3} | {:>7.3} | {:>9.0} |",
        h.len(),
        us(0.5),
        us(0.99),
        us(0.999),
        h.max() as f64 / 1000.0,
        h.len() as f64 / elapsed.as_secs_f64()
    );
}

/// Validates `keys` in order, one call at a time; returns latencies in ns.
async fn sequential(
    client: &mut AuthServiceClient<Channel>,
    keys: &[String],
    label: &str,
) -> (Histogram<u64>, Duration) {
    let mut h = histogram();
    let started = Instant::now();
    for (i, key) in keys.iter().enumerate() {
        if started.elapsed() > PHASE_LIMIT {
            eprintln!("  {label}: time limit reached after {i} calls");
            break;
        }
        let t = Instant::now();
        client
            .validate_api_key(ValidateApiKeyRequest {
                api_key: key.clone(),
            })
            .await
            .expect("validate");
        h.record(t.elapsed().as_nanos() as u64).expect("record");
        if (i + 1) % (keys.len() / 4).max(1) == 0 {
            eprintln!("  {label}: {}/{}", i + 1, keys.len());
        }
    }
    (h, started.elapsed())
}

async fn bench_auth() -> anyhow::Result<()> {
    eprintln!("starting PostgreSQL database, Redis and auth (in-process, port 0)…");
    let db = TestDatabase::create().await;
    let redis = TestRedis::start();
    let shutdown = CancellationToken::new();
    let addr = spawn_auth(&db, &redis, &shutdown).await;
    wait_serving(addr).await;
    let mut auth = AuthServiceClient::connect(url(addr)).await?;

    let org = auth
        .create_organization(admin_request(CreateOrganizationRequest {
            name: "bench".into(),
        }))
        .await?
        .into_inner()
        .organization
        .unwrap_or_default();
    let project = auth
        .create_project(admin_request(CreateProjectRequest {
            organization_id: org.id,
            name: "bench".into(),
        }))
        .await?
        .into_inner()
        .project
        .unwrap_or_default();
    eprintln!("creating {COLD_KEYS} keys…");
    let mut keys = Vec::with_capacity(COLD_KEYS);
    for i in 0..COLD_KEYS {
        let body = CreateApiKeyRequest {
            project_id: project.id.clone(),
            name: format!("bench-{i}"),
            scopes: vec!["events:write".into()],
            expire_time: None,
        };
        keys.push(
            auth.create_api_key(admin_request(body))
                .await?
                .into_inner()
                .secret,
        );
    }

    println!(
        "\nValidateApiKey through gRPC on 127.0.0.1 (µs; client and server share the machine)\n"
    );
    println!(
        "| phase                              |   calls |     p50 |     p99 |   p99.9 |     max |   calls/s |"
    );
    println!(
        "|------------------------------------|---------|---------|---------|---------|---------|-----------|"
    );

    // Cold: every key's first validation misses L1 and L2 and reads PostgreSQL.
    let (cold, elapsed) = sequential(&mut auth, &keys, "cold").await;
    report("cold (PostgreSQL, L1+L2 miss)", &cold, elapsed);

    // L2: a fresh instance has an empty L1; Redis holds every key now.
    let second = spawn_auth(&db, &redis, &shutdown).await;
    wait_serving(second).await;
    let mut fresh = AuthServiceClient::connect(url(second)).await?;
    let (l2, elapsed) = sequential(&mut fresh, &keys, "l2").await;
    report("L2 (Redis, fresh instance)", &l2, elapsed);

    // Warm: one key over and over, an L1 hit each time.
    let warm_keys = vec![keys[0].clone(); WARM_CALLS];
    let (warm, elapsed) = sequential(&mut auth, &warm_keys, "warm").await;
    report("warm (L1 hit), 1 caller", &warm, elapsed);

    // Throughput: concurrent callers over one HTTP/2 connection, warm keys.
    let started = Instant::now();
    let mut tasks = Vec::new();
    for c in 0..CONCURRENCY {
        let mut client = auth.clone();
        let key = keys[c % keys.len()].clone();
        tasks.push(tokio::spawn(async move {
            let mut h = histogram();
            let began = Instant::now();
            for _ in 0..CALLS_PER_CALLER {
                if began.elapsed() > PHASE_LIMIT {
                    break;
                }
                let t = Instant::now();
                client
                    .validate_api_key(ValidateApiKeyRequest {
                        api_key: key.clone(),
                    })
                    .await
                    .expect("validate");
                h.record(t.elapsed().as_nanos() as u64).expect("record");
            }
            h
        }));
    }
    let mut all = histogram();
    for task in tasks {
        all.add(task.await?).expect("merge");
    }
    report(
        &format!("warm (L1 hit), {CONCURRENCY} callers"),
        &all,
        started.elapsed(),
    );
    println!();

    shutdown.cancel();
    Ok(())
}

/// A connection to a service listening on `addr`.
pub(crate) async fn connect(addr: std::net::SocketAddr) -> anyhow::Result<Channel> {
    Ok(Channel::from_shared(url(addr))?.connect().await?)
}

/// A binary built beside this one (`make bench` builds them together).
pub(crate) fn sibling(name: &str) -> anyhow::Result<std::path::PathBuf> {
    let path = std::env::current_exe()?.with_file_name(name);
    anyhow::ensure!(
        path.exists(),
        "{} is missing: cargo build --release -p boost-testkit --bin {name}",
        path.display()
    );
    Ok(path)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let what = std::env::args().nth(1).unwrap_or_else(|| "auth".into());
    let memory = std::env::args().nth(2).as_deref() == Some("memory");
    if what != "chart" {
        results::start(&what, memory);
    }
    match what.as_str() {
        "auth" => bench_auth().await,
        "ingest" => ingest::bench_ingest(memory).await,
        "query" => query::bench_query().await,
        "client" => client::bench_client().await,
        "telemetry" => telemetry::bench_telemetry().await,
        "processor" => processor::bench_processor(memory).await,
        "processors" => processor::bench_processors().await,
        "fetch" => fetch::bench_fetch().await,
        "memory" => memory::bench_memory().await,
        "chart" => {
            let arg = |n: usize, default: std::path::PathBuf| {
                std::env::args_os()
                    .nth(n)
                    .map(Into::into)
                    .unwrap_or(default)
            };
            chart::chart(
                &arg(2, results::path()),
                &arg(3, "target/bench/chart.svg".into()),
            )
        }
        other => {
            anyhow::bail!(
                "unknown benchmark {other:?}; available: auth, ingest [memory], query, processor [memory], processors, fetch, memory, client, telemetry, chart [RESULTS] [SVG]"
            )
        }
    }
}
