//! What a real service process tells an operator: one log line per request
//! (method, gRPC code, duration, request id, the caller's trace id; JSON with
//! `BOOST_LOG_FORMAT=json`; never the caller's secret) and Prometheus
//! metrics on `BOOST_METRICS_ADDR`.

mod common;

use std::{
    io::{BufRead, BufReader},
    net::SocketAddr,
    process::Stdio,
    sync::{Arc, Mutex},
    time::Duration,
};

use boost_proto::processor::v1::{
    GetStatusRequest, processor_service_client::ProcessorServiceClient,
};
use boost_testkit::{Stack, stack::url};
use common::*;

/// A caller's trace and its `traceparent` header.
const CALLER_TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const CALLER_TRACEPARENT: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

/// The `request` lines logged so far, parsed.
fn request_lines(log: &Mutex<Vec<String>>) -> Vec<serde_json::Value> {
    log.lock()
        .expect("log")
        .iter()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .filter(|line| line["fields"]["message"] == "request")
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn test_a_service_process_logs_each_request_and_serves_metrics() {
    let mut stack = Stack::start().await;
    let (_, key) = stack.project_with_key(&["events:read"]).await;
    stack.kill_processor();
    let addr: SocketAddr = ([127, 0, 0, 1], boost_testkit::free_port()).into();
    let metrics: SocketAddr = ([127, 0, 0, 1], boost_testkit::free_port()).into();
    let mut child = stack
        .processor_command(env!("CARGO_BIN_EXE_boost-test-processor"), addr)
        .env("BOOST_LOG", "info")
        .env("BOOST_LOG_FORMAT", "json")
        .env("BOOST_METRICS_ADDR", metrics.to_string())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start the processor process");
    let log: Arc<Mutex<Vec<String>>> = Arc::default();
    let stderr = child.stderr.take().expect("stderr");
    let sink = log.clone();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            sink.lock().expect("log").push(line);
        }
    });
    boost_testkit::stack::wait_serving(addr).await;

    let mut status = ProcessorServiceClient::connect(url(addr))
        .await
        .expect("connect");
    let mut traced = with_key(&key, GetStatusRequest {});
    traced
        .metadata_mut()
        .insert("traceparent", CALLER_TRACEPARENT.parse().expect("ascii"));
    status
        .get_status(traced)
        .await
        .expect("GetStatus with a key");
    let refused = status
        .get_status(GetStatusRequest {})
        .await
        .expect_err("GetStatus without a key");
    assert_eq!(refused.code(), tonic::Code::Unauthenticated);

    let method = "/boost.processor.v1.ProcessorService/GetStatus";
    let logged = eventually(Duration::from_secs(10), || async {
        request_lines(&log)
            .iter()
            .filter(|line| line["span"]["method"] == method)
            .count()
            >= 2
    })
    .await;
    let _ = child.kill();
    let _ = child.wait();
    assert!(
        logged,
        "two request lines for GetStatus: {:?}",
        log.lock().expect("log")
    );
    let lines: Vec<_> = request_lines(&log)
        .into_iter()
        .filter(|line| line["span"]["method"] == method)
        .collect();
    let codes: Vec<&str> = lines
        .iter()
        .map(|line| line["fields"]["code"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(codes, vec!["Ok", "Unauthenticated"], "{lines:?}");
    // Trace export is off here, yet the caller's trace id is on its line.
    assert_eq!(lines[0]["span"]["trace_id"], CALLER_TRACE, "{lines:?}");
    assert!(lines[1]["span"].get("trace_id").is_none(), "{lines:?}");
    for line in &lines {
        let request_id = line["span"]["request_id"].as_str().unwrap_or_default();
        assert_eq!(request_id.len(), 36, "a generated request id: {line}");
        let millis: f64 = line["fields"]["duration_ms"]
            .as_str()
            .and_then(|d| d.parse().ok())
            .expect("duration_ms");
        assert!((0.0..10_000.0).contains(&millis), "{line}");
    }
    let everything = log.lock().expect("log").join("\n");
    assert!(!everything.contains(&key), "the API key reached the log");
}
