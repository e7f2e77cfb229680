//! Prometheus metrics: the `metrics` facade (services record with
//! `metrics::counter!` and friends, which cost nothing while no exporter is
//! installed) and one Prometheus exporter per process, serving `GET /metrics`
//! on `BOOST_METRICS_ADDR` when that is set. Process RSS, CPU and open file
//! descriptors are collected too.
//!
//! Every series carries a `service` label (`ingest`, `query`, ...). The
//! names every service shares are the [`RPC_REQUESTS`] counter and the
//! [`RPC_DURATION`] histogram, recorded by [`crate::observe`].

use std::{net::SocketAddr, time::Duration};

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder};

/// RPCs answered, by `method` and gRPC `code`.
pub const RPC_REQUESTS: &str = "boost_rpc_requests_total";
/// RPC duration until the last byte of the answer, by `method`.
pub const RPC_DURATION: &str = "boost_rpc_duration_seconds";

/// Histogram buckets for durations (seconds): 0.5 ms to 30 s.
const SECONDS_BUCKETS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];
/// Histogram buckets for sizes counted in events or rows.
const COUNT_BUCKETS: &[f64] = &[1.0, 10.0, 50.0, 100.0, 250.0, 500.0, 1000.0, 2500.0, 5000.0];
/// How often process RSS, CPU and descriptors are sampled.
const PROCESS_SAMPLE: Duration = Duration::from_secs(5);

/// Installs the exporter for `service` on `addr` (inside the Tokio runtime:
/// the HTTP listener is a task) and starts sampling the process.
pub fn install(service: &'static str, addr: &str) -> Result<(), String> {
    let addr: SocketAddr = addr
        .parse()
        .map_err(|e| format!("invalid BOOST_METRICS_ADDR {addr:?}: {e}"))?;
    PrometheusBuilder::new()
        .with_http_listener(addr)
        .add_global_label("service", service)
        .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), SECONDS_BUCKETS)
        .and_then(|b| b.set_buckets_for_metric(Matcher::Suffix("_events".into()), COUNT_BUCKETS))
        .map_err(|e| format!("metrics buckets: {e}"))?
        .install()
        .map_err(|e| format!("cannot serve metrics on {addr} (BOOST_METRICS_ADDR): {e}"))?;
    metrics::describe_counter!(RPC_REQUESTS, "RPCs answered, by method and gRPC code");
    metrics::describe_histogram!(
        RPC_DURATION,
        metrics::Unit::Seconds,
        "RPC duration until the last byte of the answer, by method"
    );
    let process = metrics_process::Collector::default();
    process.describe();
    tokio::spawn(async move {
        loop {
            process.collect();
            tokio::time::sleep(PROCESS_SAMPLE).await;
        }
    });
    Ok(())
}
