//! A real Prometheus (Debian's `prometheus`, which `make test` installs when
//! missing) scrapes a stack with `deploy/observability`'s alert rules: ingest
//! and RPC rates are non-zero, lag and freshness exist per partition, the
//! rules load and evaluate, and the lag alert fires once the processor stops.

mod common;

use std::{
    net::SocketAddr,
    path::PathBuf,
    process::{Child, Command, Stdio},
    time::Duration,
};

use boost_proto::common::v1::Event;
use boost_testkit::{Stack, free_port};
use common::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// A Prometheus server in a directory of its own; killed and removed on drop.
struct Prometheus {
    child: Child,
    dir: PathBuf,
    addr: SocketAddr,
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

impl Prometheus {
    /// Starts Prometheus scraping `stack` (job boost-stack) and `processor`
    /// (job boost-processor) every second, with the project's alert rules.
    fn start(stack: SocketAddr, processor: SocketAddr) -> Self {
        let binary = std::env::var("BOOST_PROMETHEUS_BIN").unwrap_or_else(|_| "prometheus".into());
        let dir = std::env::temp_dir().join(format!("boost-prometheus-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let rules = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../deploy/observability/alerts.yml"
        );
        let config = format!(
            "global: {{ scrape_interval: 1s, evaluation_interval: 1s }}\n\
             rule_files: [\"{rules}\"]\n\
             scrape_configs:\n\
             - job_name: boost-stack\n  static_configs: [{{ targets: [\"{stack}\"] }}]\n\
             - job_name: boost-processor\n  static_configs: [{{ targets: [\"{processor}\"] }}]\n"
        );
        std::fs::write(dir.join("prometheus.yml"), config).expect("config");
        let addr: SocketAddr = ([127, 0, 0, 1], free_port()).into();
        let child = Command::new(&binary)
            .arg(format!(
                "--config.file={}",
                dir.join("prometheus.yml").display()
            ))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.join("data").display()
            ))
            .arg(format!("--web.listen-address={addr}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| {
                panic!(
                    "cannot run {binary:?} ({e}): `make test` installs Debian's prometheus \
                     package; or set BOOST_PROMETHEUS_BIN"
                )
            });
        Self { child, dir, addr }
    }

    /// GET `path` from the HTTP API as JSON (HTTP/1.0: no chunking).
    async fn get(&self, path: &str) -> Option<serde_json::Value> {
        let mut stream = tokio::net::TcpStream::connect(self.addr).await.ok()?;
        let request = format!("GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n");
        stream.write_all(request.as_bytes()).await.ok()?;
        let mut answer = String::new();
        stream.read_to_string(&mut answer).await.ok()?;
        let (_, body) = answer.split_once("\r\n\r\n")?;
        serde_json::from_str(body).ok()
    }

    /// The first value of an instant query, if it has one.
    async fn value(&self, query: &str) -> Option<f64> {
        let encoded: String = query
            .bytes()
            .map(|b| match b {
                b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'_' | b'.' | b'-' => {
                    (b as char).to_string()
                }
                _ => format!("%{b:02X}"),
            })
            .collect();
        let answer = self.get(&format!("/api/v1/query?query={encoded}")).await?;
        answer["data"]["result"][0]["value"][1]
            .as_str()?
            .parse()
            .ok()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn test_prometheus_sees_rates_and_series_and_fires_the_lag_alert() {
    let exporter: SocketAddr = ([127, 0, 0, 1], free_port()).into();
    boost_server::metrics::install("stack", &exporter.to_string()).expect("exporter");
    let mut stack = Stack::start().await;
    let (_, key) = stack.project_with_key(&["events:write"]).await;
    stack.kill_processor();
    let processor_addr: SocketAddr = ([127, 0, 0, 1], free_port()).into();
    let processor_metrics: SocketAddr = ([127, 0, 0, 1], free_port()).into();
    let mut processor = stack
        .processor_command(env!("CARGO_BIN_EXE_boost-test-processor"), processor_addr)
        .env("BOOST_LOG", "warn")
        .env("BOOST_METRICS_ADDR", processor_metrics.to_string())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start the processor process");
    boost_testkit::stack::wait_serving(processor_addr).await;
    let prometheus = Prometheus::start(exporter, processor_metrics);
    assert!(
        eventually(Duration::from_secs(30), || async {
            prometheus.get("/api/v1/status/buildinfo").await.is_some()
        })
        .await,
        "Prometheus did not start"
    );

    // Steady traffic for a few seconds: 30 batches of 20, every 200 ms.
    let mut ingest = ingest_client(&stack).await;
    for _ in 0..30 {
        let events: Vec<Event> = (0..20).map(|_| event("scraped")).collect();
        batch(&mut ingest, &key, events).await.expect("batch");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let seen = eventually(Duration::from_secs(30), || async {
        let accepted = "sum(rate(boost_ingest_events_total{outcome=\"accepted\"}[1m]))";
        let rpcs = "sum(rate(boost_rpc_duration_seconds_count{job=\"boost-stack\"}[1m]))";
        prometheus.value(accepted).await.unwrap_or(0.0) > 0.0
            && prometheus.value(rpcs).await.unwrap_or(0.0) > 0.0
            && prometheus
                .value("count(boost_processor_lag{job=\"boost-processor\"})")
                .await
                == Some(4.0)
            && prometheus
                .value("count(boost_processor_stalled{job=\"boost-processor\"})")
                .await
                == Some(4.0)
            && prometheus
                .value("sum(boost_processor_freshness_seconds_count)")
                .await
                .unwrap_or(0.0)
                > 0.0
    })
    .await;
    if !seen {
        let mut report = Vec::new();
        for query in [
            "sum(rate(boost_ingest_events_total{outcome=\"accepted\"}[1m]))",
            "sum(rate(boost_rpc_duration_seconds_count{job=\"boost-stack\"}[1m]))",
            "count(boost_processor_lag{job=\"boost-processor\"})",
            "count(boost_processor_stalled{job=\"boost-processor\"})",
            "sum(boost_processor_freshness_seconds_count)",
            "up",
        ] {
            report.push((query, prometheus.value(query).await));
        }
        panic!("rates and per-partition series in Prometheus: {report:?}");
    }

    let rules = prometheus.get("/api/v1/rules").await.expect("rules");
    let loaded: Vec<(String, String)> = rules["data"]["groups"][0]["rules"]
        .as_array()
        .expect("rules loaded")
        .iter()
        .map(|r| {
            (
                r["name"].as_str().unwrap_or_default().to_string(),
                r["health"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect();
    assert_eq!(loaded.len(), 5, "{loaded:?}");
    assert!(
        loaded.iter().all(|(_, health)| health == "ok"),
        "every rule evaluates: {loaded:?}"
    );

    // The processor stops: nothing stores events, and the lag alert fires.
    let _ = processor.kill();
    let _ = processor.wait();
    let fired = eventually(Duration::from_secs(60), || async {
        let alerts = prometheus.get("/api/v1/alerts").await;
        alerts.is_some_and(|a| {
            a["data"]["alerts"].as_array().is_some_and(|alerts| {
                alerts.iter().any(|x| {
                    x["labels"]["alertname"] == "BoostProcessorLag" && x["state"] == "firing"
                })
            })
        })
    })
    .await;
    assert!(fired, "BoostProcessorLag fired after the processor stopped");
}
