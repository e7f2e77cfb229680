//! The domain metrics of a whole in-process stack, scraped from the
//! Prometheus exporter the way Prometheus would: ingest outcomes and rate
//! limits, auth validations by cache level, the processor's lag, freshness,
//! batch sizes and commit times, per-RPC counts and durations, and failed
//! Redis commands once Redis is gone.
//!
//! It also checks that every metric `deploy/observability`'s alert rules and
//! dashboard name exists in the scrape. The exporter is global to a process,
//! so this file holds one test.

mod common;

use std::{net::SocketAddr, time::Duration};

use boost_proto::{common::v1::Event, query::v1::ListEventsRequest};
use boost_testkit::{Stack, stack::url};
use common::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn test_stack_metrics_count_outcomes_limits_validations_and_processor_progress() {
    let exporter: SocketAddr = ([127, 0, 0, 1], boost_testkit::free_port()).into();
    boost_server::metrics::install("stack", &exporter.to_string()).expect("exporter");
    let mut stack = Stack::start().await;
    let (_, key) = stack
        .project_with_key(&["events:write", "events:read"])
        .await;
    let mut ingest = ingest_client(&stack).await;

    // 5 accepted, 1 duplicate, 1 rejected for its type.
    let repeated = Event {
        event_id: uuid::Uuid::now_v7().to_string(),
        ..event("first")
    };
    let mut events: Vec<Event> = (0..4).map(|_| event("good")).collect();
    events.extend([repeated.clone(), repeated, event("not valid!")]);
    let answer = batch(&mut ingest, &key, events).await.expect("batch");
    assert_eq!(
        (answer.accepted, answer.duplicates, answer.rejected),
        (5, 1, 1)
    );

    // A project limit of 2 refuses another project's third event.
    let (_, other) = stack.project_with_key(&["events:write"]).await;
    let limited = stack
        .spawn_ingest(&[
            "--rate-limit-events",
            "2",
            "--rate-limit-window-ms",
            "60000",
        ])
        .await;
    let mut limited =
        boost_proto::ingest::v1::ingest_service_client::IngestServiceClient::connect(url(limited))
            .await
            .expect("connect");
    for _ in 0..2 {
        track(&mut limited, &other, event("limited"))
            .await
            .expect("within the limit");
    }
    track(&mut limited, &other, event("limited"))
        .await
        .expect_err("over the limit");

    let mut query = query_client(&stack).await;
    assert!(
        eventually(Duration::from_secs(10), || {
            let (mut query, key) = (query.clone(), key.clone());
            async move {
                let page = list(&mut query, &key, ListEventsRequest::default()).await;
                page.map(|p| p.events.len() == 5).unwrap_or(false)
            }
        })
        .await,
        "the first project's events stored"
    );
    list(&mut query, &key, ListEventsRequest::default())
        .await
        .expect("list");

    let text = scrape(exporter).await;
    let events = |labels: &[(&str, &str)]| sample(&text, "boost_ingest_events_total", labels);
    assert_eq!(events(&[("outcome", "accepted")]), Some(7.0), "{text}");
    assert_eq!(events(&[("outcome", "duplicate")]), Some(1.0));
    assert_eq!(
        events(&[("outcome", "rejected"), ("reason", "type")]),
        Some(1.0)
    );
    let limited = sample(
        &text,
        "boost_ingest_rate_limited_total",
        &[("limit", "project")],
    );
    assert_eq!(limited, Some(1.0));
    let valid = sample(
        &text,
        "boost_auth_validations_total",
        &[("result", "valid")],
    );
    assert!(valid.unwrap_or(0.0) >= 1.0, "validations counted: {text}");
    let batch = [
        ("method", "/boost.ingest.v1.IngestService/IngestBatch"),
        ("code", "Ok"),
    ];
    assert_eq!(sample(&text, "boost_rpc_requests_total", &batch), Some(1.0));
    let track_refused = [
        ("method", "/boost.ingest.v1.IngestService/Track"),
        ("code", "ResourceExhausted"),
    ];
    assert_eq!(
        sample(&text, "boost_rpc_requests_total", &track_refused),
        Some(1.0)
    );
    let list_calls = [("method", "/boost.query.v1.QueryService/ListEvents")];
    assert!(sample(&text, "boost_rpc_duration_seconds_bucket", &list_calls).is_some());
    let freshness = sample(&text, "boost_processor_freshness_seconds_count", &[]);
    assert!(
        freshness.unwrap_or(0.0) >= 1.0,
        "a freshness sample per record: {text}"
    );
    assert!(sample(&text, "boost_processor_commit_seconds_count", &[]).unwrap_or(0.0) >= 1.0);
    assert!(sample(&text, "boost_processor_batch_events_count", &[]).unwrap_or(0.0) >= 1.0);
    let produced = sample(&text, "boost_kafka_produce_seconds_count", &[]);
    assert!(
        produced.unwrap_or(0.0) >= 1.0,
        "produce requests timed: {text}"
    );
    assert!(sample(&text, "boost_kafka_produced_bytes_total", &[]).unwrap_or(0.0) > 0.0);
    for partition in ["0", "1", "2", "3"] {
        let lag = sample(&text, "boost_processor_lag", &[("partition", partition)]);
        assert!(lag.is_some(), "lag of partition {partition}: {text}");
    }

    let names = observability_metric_names();
    assert!(names.len() >= 10, "{names:?}");
    let all_there = eventually(Duration::from_secs(10), || async {
        let text = scrape(exporter).await;
        names
            .iter()
            .all(|name| text.contains(&format!("\n{name}{{")))
    })
    .await;
    let text = scrape(exporter).await;
    let missing: Vec<_> = names
        .iter()
        .filter(|name| !text.contains(&format!("\n{name}{{")))
        .collect();
    assert!(
        all_there,
        "named by deploy/observability but not served: {missing:?}"
    );

    // Redis gone: the calls still succeed, and the failed commands are
    // counted (a client-chosen id is looked up; a server-assigned one is not).
    stack.redis.stop();
    let redis_errors = eventually(Duration::from_secs(15), || {
        let (mut ingest, key) = (ingest.clone(), key.clone());
        async move {
            let mut sent = event("without_redis");
            sent.event_id = uuid::Uuid::now_v7().to_string();
            let accepted = track(&mut ingest, &key, sent).await.is_ok();
            let text = scrape(exporter).await;
            accepted
                && sample(
                    &text,
                    "boost_redis_errors_total",
                    &[("operation", "dedup_check")],
                )
                .is_some_and(|n| n >= 1.0)
        }
    })
    .await;
    assert!(
        redis_errors,
        "failed Redis commands counted: {}",
        scrape(exporter).await
    );
}

/// Every metric the alert rules and the dashboard use, as served (histogram
/// names with `_bucket`); `up` is Prometheus's own.
fn observability_metric_names() -> std::collections::BTreeSet<String> {
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/../../deploy/observability/");
    let mut names = std::collections::BTreeSet::new();
    for file in ["alerts.yml", "grafana-dashboard.json"] {
        let text = std::fs::read_to_string(format!("{root}{file}")).expect("observability file");
        let mut rest = text.as_str();
        while let Some(at) = rest.find(['b', 'p']) {
            rest = &rest[at..];
            let end = rest
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .unwrap_or(rest.len());
            let word = &rest[..end];
            if word.starts_with("boost_") || word.starts_with("process_") {
                names.insert(word.to_string());
            }
            rest = &rest[end.max(1)..];
        }
    }
    names
}
