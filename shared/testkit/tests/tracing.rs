//! One trace from a caller's Track to the stored row: ingest and the
//! processor run as their own OS processes exporting over OTLP/gRPC to a
//! real receiver, and the trace context crosses a gRPC call (caller →
//! ingest), the Kafka hop (ingest → processor) and a second gRPC call
//! (caller → query).

mod common;

use std::{collections::HashMap, net::SocketAddr, process::Stdio, time::Duration};

use boost_proto::{
    ingest::v1::{AckLevel, TrackRequest, ingest_service_client::IngestServiceClient},
    query::v1::{ListEventsRequest, query_service_client::QueryServiceClient},
};
use boost_testkit::{
    Stack,
    otlp::{OtlpReceiver, ReceivedSpan},
    stack::{ServiceProcess, url},
};
use common::*;

/// The caller's trace and span: what a traced client would send.
const TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const CALLER_SPAN: &str = "00f067aa0ba902b7";
/// A second caller trace, for the query.
const QUERY_TRACE: &str = "5cf92f3577b34da6a3ce929d0e0e4737";
/// A trace the caller did not sample.
const UNSAMPLED_TRACE: &str = "6df92f3577b34da6a3ce929d0e0e4738";

/// A request carrying `key` and a sampled `traceparent` of `trace`.
fn traced<T>(key: &str, trace: &str, body: T) -> tonic::Request<T> {
    with_traceparent(key, trace, "01", body)
}

/// A request carrying `key` and a `traceparent` of `trace` with `flags`.
fn with_traceparent<T>(key: &str, trace: &str, flags: &str, body: T) -> tonic::Request<T> {
    let mut request = with_key(key, body);
    let parent = format!("00-{trace}-{CALLER_SPAN}-{flags}");
    request
        .metadata_mut()
        .insert("traceparent", parent.parse().expect("ascii"));
    request
}

/// Starts a service process (listening on `addr`) that exports every span
/// to `receiver` within 100 ms.
async fn exporting(
    mut command: std::process::Command,
    addr: SocketAddr,
    receiver: &OtlpReceiver,
) -> ServiceProcess {
    command
        .env("OTEL_EXPORTER_OTLP_ENDPOINT", receiver.endpoint())
        .env("OTEL_BSP_SCHEDULE_DELAY", "100")
        .env("BOOST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    ServiceProcess::spawn(command, addr).await
}

fn loopback() -> SocketAddr {
    ([127, 0, 0, 1], boost_testkit::free_port()).into()
}

/// The spans of `trace`, by span id.
fn trace_spans(receiver: &OtlpReceiver, trace: &str) -> HashMap<String, ReceivedSpan> {
    receiver
        .spans()
        .into_iter()
        .filter(|s| s.trace_id() == trace)
        .map(|s| (s.span_id(), s))
        .collect()
}

/// `service name span<-parent` per span, for failure messages.
fn summary(spans: &HashMap<String, ReceivedSpan>) -> Vec<String> {
    spans
        .values()
        .map(|s| {
            format!(
                "{} {:?} {}<-{}",
                s.service,
                s.span.name,
                s.span_id(),
                s.parent_span_id()
            )
        })
        .collect()
}

/// The one span of `service` named `name` in `spans`.
fn named<'a>(
    spans: &'a HashMap<String, ReceivedSpan>,
    service: &str,
    name: &str,
) -> &'a ReceivedSpan {
    let found: Vec<_> = spans
        .values()
        .filter(|s| s.service == service && s.span.name == name)
        .collect();
    assert_eq!(
        found.len(),
        1,
        "one {service} span {name:?} expected; the trace holds {:#?}",
        summary(spans)
    );
    found[0]
}

/// Whether `ancestor` is `span` or above it in `spans`.
fn descends_from(
    spans: &HashMap<String, ReceivedSpan>,
    span: &ReceivedSpan,
    ancestor: &str,
) -> bool {
    let mut current = Some(span);
    while let Some(s) = current {
        if s.span_id() == ancestor {
            return true;
        }
        current = spans.get(&s.parent_span_id());
    }
    false
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn test_one_trace_runs_from_track_through_kafka_to_the_commit() {
    let receiver = OtlpReceiver::start().await;
    let mut stack = Stack::start().await;
    let (_, key) = stack
        .project_with_key(&["events:write", "events:read"])
        .await;
    stack.kill_processor();
    let (ingest_addr, processor_addr, query_addr) = (loopback(), loopback(), loopback());
    let _processor = exporting(
        stack.processor_command(env!("CARGO_BIN_EXE_boost-test-processor"), processor_addr),
        processor_addr,
        &receiver,
    )
    .await;
    let mut ingest_command =
        stack.ingest_command(env!("CARGO_BIN_EXE_boost-test-ingest"), ingest_addr);
    // The first (unsampled, COMMITTED) Track can outlast the default 500 ms
    // key cache on a busy machine; the second must find the key cached.
    ingest_command.args(["--auth-cache-ttl-ms", "60000"]);
    let _ingest = exporting(ingest_command, ingest_addr, &receiver).await;
    let _query = exporting(
        stack.query_command(env!("CARGO_BIN_EXE_boost-test-query"), query_addr),
        query_addr,
        &receiver,
    )
    .await;
    // COMMITTED reads the processor's watermarks through Redis: wait for them.
    boost_testkit::stack::wait_health(ingest_addr, boost_storage::redis::HEALTH_NAME).await;

    let mut ingest = IngestServiceClient::connect(url(ingest_addr))
        .await
        .expect("connect ingest");
    // A trace the caller did not sample stays unsampled across Kafka.
    ingest
        .track(with_traceparent(
            &key,
            UNSAMPLED_TRACE,
            "00",
            TrackRequest {
                event: Some(event("unsampled")),
                ack: AckLevel::Committed as i32,
            },
        ))
        .await
        .expect("Track, not sampled");
    let answer = ingest
        .track(traced(
            &key,
            TRACE,
            TrackRequest {
                event: Some(event("signup")),
                ack: AckLevel::Committed as i32,
            },
        ))
        .await
        .expect("Track")
        .into_inner();
    assert!(
        answer.result.expect("result").stored,
        "stored before the answer"
    );
    let mut query = QueryServiceClient::connect(url(query_addr))
        .await
        .expect("connect query");
    query
        .list_events(traced(&key, QUERY_TRACE, ListEventsRequest::default()))
        .await
        .expect("ListEvents");

    // Spans arrive in the order they end, in batches: wait for the last
    // of each trace (the RPC spans end after their children).
    let complete = eventually(Duration::from_secs(20), || async {
        let has = |trace: &str, service: &str, name: &str| {
            trace_spans(&receiver, trace)
                .values()
                .any(|s| s.service == service && s.span.name == name)
        };
        has(TRACE, "processor", "store")
            && has(TRACE, "processor", "fetch")
            && has(TRACE, "ingest", "commit_wait")
            && has(TRACE, "ingest", "/boost.ingest.v1.IngestService/Track")
            && has(
                QUERY_TRACE,
                "query",
                "/boost.query.v1.QueryService/ListEvents",
            )
            && has(QUERY_TRACE, "query", "query.execute")
    })
    .await;
    let spans = trace_spans(&receiver, TRACE);
    assert!(
        complete,
        "the trace never completed: {:#?}\nall spans: {:#?}",
        summary(&spans),
        receiver
            .spans()
            .iter()
            .map(|s| format!(
                "{} {} {:?} {}",
                s.trace_id(),
                s.service,
                s.span.name,
                s.parent_span_id()
            ))
            .collect::<Vec<_>>()
    );

    // ingest: the RPC continues the caller's span; every stage is under it.
    let rpc = named(&spans, "ingest", "/boost.ingest.v1.IngestService/Track");
    assert_eq!(
        rpc.parent_span_id(),
        CALLER_SPAN,
        "the RPC's parent is the caller"
    );
    let produce = named(&spans, "ingest", "produce");
    for stage in [
        "auth.validate",
        "validate",
        "dedup.check",
        "produce",
        "commit_wait",
    ] {
        let span = named(&spans, "ingest", stage);
        assert!(
            descends_from(&spans, span, &rpc.span_id()),
            "{stage} is under the RPC"
        );
    }
    assert_eq!(
        named(&spans, "ingest", "auth.validate")
            .attribute("cache")
            .as_deref(),
        Some("hit"),
        "the unsampled call before validated the key"
    );

    // The Kafka hop: the processor's batch span is the produce span's child.
    let batch = named(&spans, "processor", "process batch");
    assert_eq!(
        batch.parent_span_id(),
        produce.span_id(),
        "the record carried the produce span's context"
    );
    for stage in ["fetch", "handle", "store"] {
        let span = named(&spans, "processor", stage);
        assert_eq!(
            span.parent_span_id(),
            batch.span_id(),
            "{stage} is under the batch"
        );
    }
    assert_eq!(
        named(&spans, "processor", "store")
            .attribute("db.system")
            .as_deref(),
        Some("postgresql")
    );

    // query: the RPC under the caller, the SQL under the RPC.
    let query_spans = trace_spans(&receiver, QUERY_TRACE);
    let query_rpc = named(
        &query_spans,
        "query",
        "/boost.query.v1.QueryService/ListEvents",
    );
    assert_eq!(query_rpc.parent_span_id(), CALLER_SPAN);
    let execute = named(&query_spans, "query", "query.execute");
    assert!(descends_from(&query_spans, execute, &query_rpc.span_id()));

    // Exported after the unsampled Track, so it would be here by now.
    assert!(
        summary(&trace_spans(&receiver, UNSAMPLED_TRACE)).is_empty(),
        "nothing of an unsampled trace is exported, by ingest or the processor"
    );
    // Nor do an unsampled request's stages start traces of their own: every
    // exported span belongs to one of the two sampled callers' traces, but
    // for the health checks the harness sent (each a trace of its own).
    let strays: Vec<String> = receiver
        .spans()
        .iter()
        .filter(|s| s.trace_id() != TRACE && s.trace_id() != QUERY_TRACE)
        .filter(|s| s.span.name != "/grpc.health.v1.Health/Check")
        .map(|s| format!("{} {} {:?}", s.trace_id(), s.service, s.span.name))
        .collect();
    assert!(
        strays.is_empty(),
        "spans outside the sampled traces: {strays:#?}"
    );
}
