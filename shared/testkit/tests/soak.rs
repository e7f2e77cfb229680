//! Soak: the whole stack as OS processes under steady load at half of the
//! capacity it measured at the start, for `SOAK_MINUTES` (default 1 in
//! `make test`; `make soak` runs 30 with one sample a minute). Each sample
//! reports every service's resident memory and open file descriptors, the
//! database's connections and the window's Track latency. It fails when,
//! between the first sample (after warm-up) and the last, a service's
//! resident memory grows by more than 25 % + 16 MB, its open file
//! descriptors by more than 32, the database connections by more than 8, or
//! the p99 latency to more than 3× + 50 ms; or when any Track fails.
//! Loopback only; the load is bounded in rate, count and time.

mod common;

use std::{
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, Ordering},
    },
    time::{Duration, Instant},
};

use boost_proto::{
    auth::v1::auth_service_client::AuthServiceClient,
    ingest::v1::ingest_service_client::IngestServiceClient,
};
use boost_testkit::{
    TestBroker, TestDatabase, TestRedis,
    stack::{project_with_key, url},
};
use common::*;
use tonic::transport::Channel;

/// Load clients.
const CLIENTS: usize = 8;
/// How long the capacity probe runs at full speed.
const PROBE: Duration = Duration::from_secs(10);
/// Warm-up before the first sample (caches, pools, JIT-free but lazy).
const WARM_UP: Duration = Duration::from_secs(10);

/// Growth bounds between the first and the last sample.
const RSS_GROWTH_RATIO: f64 = 1.25;
const RSS_GROWTH_BYTES: u64 = 16 * 1024 * 1024;
const FD_GROWTH: usize = 32;
const DB_CONNECTION_GROWTH: i64 = 8;
const P99_GROWTH_RATIO: f64 = 3.0;
const P99_GROWTH_SLACK: Duration = Duration::from_millis(50);

/// One sample: per service (RSS bytes, open fds), database connections, and
/// the window's Track latencies (p50, p99) and count.
struct Sample {
    at: Duration,
    services: Vec<(&'static str, u64, usize)>,
    db_connections: i64,
    p50: Duration,
    p99: Duration,
    calls: usize,
}

/// Clients sending Track at `rate` events/s in total (unbounded when
/// `None`) until `stop`; latencies go to `latencies`; any failure panics.
fn load(
    ingest: &IngestServiceClient<Channel>,
    key: &str,
    rate: Option<f64>,
    stop: Arc<AtomicBool>,
    latencies: Arc<Mutex<Vec<Duration>>>,
) -> Vec<tokio::task::JoinHandle<usize>> {
    (0..CLIENTS)
        .map(|n| {
            let (mut ingest, key) = (ingest.clone(), key.to_string());
            let (stop, latencies) = (stop.clone(), latencies.clone());
            let gap = rate.map(|r| Duration::from_secs_f64(CLIENTS as f64 / r));
            tokio::spawn(async move {
                let mut sent = 0;
                let mut next = Instant::now();
                while !stop.load(Ordering::SeqCst) {
                    let mut e = event("soak");
                    e.user_id = format!("user-{n}-{}", sent % 11);
                    let started = Instant::now();
                    track(&mut ingest, &key, e)
                        .await
                        .expect("Track failed during the soak");
                    latencies.lock().expect("latencies").push(started.elapsed());
                    sent += 1;
                    if let Some(gap) = gap {
                        next += gap;
                        tokio::time::sleep_until(next.into()).await;
                    }
                }
                sent
            })
        })
        .collect()
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn test_soak_at_half_capacity_grows_nothing() {
    let minutes: f64 = std::env::var("SOAK_MINUTES")
        .ok()
        .and_then(|m| m.parse().ok())
        .unwrap_or(1.0);
    let interval = Duration::from_secs(if minutes >= 5.0 { 60 } else { 10 });
    let (db, redis, broker) = (
        TestDatabase::create().await,
        TestRedis::start(),
        TestBroker::start(),
    );
    let logs = std::env::temp_dir().join(format!("boost-soak-{}", uuid::Uuid::now_v7()));
    std::fs::create_dir_all(&logs).expect("log dir");
    let services = service_processes(&db, &redis, &broker, &logs).await;
    let (_, key) = project_with_key(
        &mut AuthServiceClient::connect(url(services[0].addr))
            .await
            .expect("auth"),
        &["events:write"],
    )
    .await;
    let ingest = IngestServiceClient::new(
        Channel::from_shared(url(services[1].addr))
            .expect("url")
            .connect_lazy(),
    );

    // Capacity: Track at full speed for PROBE.
    let stop = Arc::new(AtomicBool::new(false));
    let latencies = Arc::new(Mutex::new(Vec::new()));
    let probe = load(&ingest, &key, None, stop.clone(), latencies.clone());
    tokio::time::sleep(PROBE).await;
    stop.store(true, Ordering::SeqCst);
    let mut probed = 0;
    for client in probe {
        probed += client.await.expect("probe client");
    }
    let capacity = probed as f64 / PROBE.as_secs_f64();
    let rate = capacity / 2.0;
    println!(
        "soak: capacity {capacity:.0} Track/s, soaking at {rate:.0}/s for {minutes} min, a sample every {interval:?}"
    );

    let stop = Arc::new(AtomicBool::new(false));
    let latencies = Arc::new(Mutex::new(Vec::new()));
    let clients = load(&ingest, &key, Some(rate), stop.clone(), latencies.clone());
    tokio::time::sleep(WARM_UP).await;
    latencies.lock().expect("latencies").clear();
    let pool = db.pool();
    let started = Instant::now();
    let mut samples: Vec<Sample> = Vec::new();
    println!(
        "{:>6} {:>7} {:>7} {:>8} {:>8}  per service: RSS MB / open fds",
        "minute", "calls", "db conn", "p50 ms", "p99 ms"
    );
    let end = Duration::from_secs_f64(minutes * 60.0);
    while started.elapsed() < end {
        tokio::time::sleep(interval.min(end.saturating_sub(started.elapsed()))).await;
        let mut window = std::mem::take(&mut *latencies.lock().expect("latencies"));
        window.sort();
        let db_connections: i64 = pool
            .get()
            .await
            .expect("connection")
            .query_one(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()",
                &[],
            )
            .await
            .expect("pg_stat_activity")
            .get(0);
        let sample = Sample {
            at: started.elapsed(),
            services: services
                .iter()
                .map(|s| {
                    let process = s.process.as_ref().expect("running");
                    (s.name, process.resident_memory().1, process.open_files())
                })
                .collect(),
            db_connections,
            p50: percentile(&window, 0.5),
            p99: percentile(&window, 0.99),
            calls: window.len(),
        };
        println!(
            "{:>6.1} {:>7} {:>7} {:>8.1} {:>8.1}  {}",
            sample.at.as_secs_f64() / 60.0,
            sample.calls,
            sample.db_connections,
            sample.p50.as_secs_f64() * 1e3,
            sample.p99.as_secs_f64() * 1e3,
            sample
                .services
                .iter()
                .map(|(name, rss, fds)| format!("{name} {:.1}/{fds}", *rss as f64 / 1048576.0))
                .collect::<Vec<_>>()
                .join(", ")
        );
        samples.push(sample);
    }
    stop.store(true, Ordering::SeqCst);
    for client in clients {
        client.await.expect("soak client");
    }

    let (first, last) = (
        samples.first().expect("a sample"),
        samples.last().expect("a sample"),
    );
    for ((name, rss0, fds0), (_, rss1, fds1)) in first.services.iter().zip(&last.services) {
        let bound = (*rss0 as f64 * RSS_GROWTH_RATIO) as u64 + RSS_GROWTH_BYTES;
        assert!(
            rss1 <= &bound,
            "{name}'s memory grew from {rss0} to {rss1} bytes (bound {bound})"
        );
        assert!(
            *fds1 <= fds0 + FD_GROWTH,
            "{name}'s open files grew from {fds0} to {fds1}"
        );
    }
    assert!(
        last.db_connections <= first.db_connections + DB_CONNECTION_GROWTH,
        "database connections grew from {} to {}",
        first.db_connections,
        last.db_connections
    );
    let p99_bound = first.p99.mul_f64(P99_GROWTH_RATIO) + P99_GROWTH_SLACK;
    assert!(
        last.p99 <= p99_bound,
        "p99 grew from {:?} to {:?} (bound {p99_bound:?})",
        first.p99,
        last.p99
    );
    let _ = std::fs::remove_dir_all(&logs);
}
