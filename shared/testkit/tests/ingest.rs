//! Ingest over real Redis and broker: per-event answers, duplicates, Identify,
//! limits, and the broker going away and coming back.

mod common;

use std::{
    collections::HashSet,
    time::{Duration, Instant},
};

use boost_proto::{
    common::v1::{Event, EventKind},
    ingest::v1::{
        EventStatus, IdentifyRequest, IngestBatchRequest,
        ingest_service_client::IngestServiceClient,
    },
};
use boost_testkit::Stack;
use common::*;
use tonic::Code;
use tonic_types::StatusExt;
use uuid::Uuid;

fn with_id(event_type: &str, id: Uuid) -> Event {
    Event {
        event_id: id.to_string(),
        ..event(event_type)
    }
}

/// The project's stored ids once at least `count` are there (or 15 s passed).
async fn wait_stored(stack: &Stack, project: Uuid, count: usize) -> Vec<Uuid> {
    eventually(Duration::from_secs(15), || async {
        stored_ids(stack, project).await.len() >= count
    })
    .await;
    stored_ids(stack, project).await
}

#[tokio::test]
async fn test_batch_answers_per_event_and_keeps_the_good_ones() {
    let stack = Stack::start().await;
    let (project, key) = stack.project_with_key(&["events:write"]).await;
    let mut ingest = ingest_client(&stack).await;
    let repeated = Uuid::now_v7();
    let events = vec![
        event("good_one"),
        event(""), // no type
        with_id("good_two", repeated),
        with_id("good_two_again", repeated), // same id in the same batch
        Event {
            kind: EventKind::Identify as i32,
            ..event("identify_without_user")
        },
        Event {
            kind: EventKind::Identify as i32,
            user_id: "u1".into(),
            properties: None,
            ..event("identify")
        },
    ];
    let answer = batch(&mut ingest, &key, events).await.expect("batch");
    let statuses: Vec<i32> = answer.results.iter().map(|r| r.status).collect();
    use EventStatus::*;
    assert_eq!(
        statuses,
        vec![
            Accepted as i32,
            Rejected as i32,
            Accepted as i32,
            Duplicate as i32,
            Rejected as i32,
            Accepted as i32
        ]
    );
    assert_eq!(
        (answer.accepted, answer.duplicates, answer.rejected),
        (3, 1, 2)
    );
    assert_eq!(answer.results[1].field, "events[1].type");
    assert!(!answer.results[1].retryable);
    assert_eq!(answer.results[4].field, "events[4].user_id");
    assert!(
        answer
            .results
            .iter()
            .enumerate()
            .all(|(i, r)| r.index == i as u32)
    );

    // Sent again: the fast path answers DUPLICATE.
    let again = batch(&mut ingest, &key, vec![with_id("good_two", repeated)])
        .await
        .expect("batch");
    assert_eq!(again.results[0].status, Duplicate as i32);
    assert_eq!(again.duplicates, 1);

    let accepted: HashSet<Uuid> = answer
        .results
        .iter()
        .filter(|r| r.status == Accepted as i32)
        .map(|r| r.event_id.parse().expect("uuid"))
        .collect();
    let stored: HashSet<Uuid> = wait_stored(&stack, project, 3).await.into_iter().collect();
    assert_eq!(stored, accepted);
}

#[tokio::test]
async fn test_batch_limits_are_enforced() {
    let stack = Stack::start().await;
    let (_, key) = stack.project_with_key(&["events:write"]).await;
    let mut ingest = ingest_client(&stack).await;
    let too_many: Vec<Event> = (0..1001).map(|_| event("x")).collect();
    let status = batch(&mut ingest, &key, too_many)
        .await
        .expect_err("too many");
    assert_eq!(status.code(), Code::InvalidArgument);
    assert_eq!(violated_field(&status), "events");
    let status = batch(&mut ingest, &key, vec![]).await.expect_err("empty");
    assert_eq!(status.code(), Code::InvalidArgument);
}

#[tokio::test]
async fn test_identify_needs_a_user_and_is_stored_as_identify() {
    let stack = Stack::start().await;
    let (project, key) = stack.project_with_key(&["events:write"]).await;
    let mut ingest = ingest_client(&stack).await;
    let status = ingest
        .identify(with_key(
            &key,
            IdentifyRequest {
                event: Some(event("traits")),
                ..Default::default()
            },
        ))
        .await
        .expect_err("no user");
    assert_eq!(status.code(), Code::InvalidArgument);
    assert_eq!(violated_field(&status), "event.user_id");
    let traits = Event {
        user_id: "user-9".into(),
        ..event("traits")
    };
    ingest
        .identify(with_key(
            &key,
            IdentifyRequest {
                event: Some(traits),
                ..Default::default()
            },
        ))
        .await
        .expect("identify");
    wait_stored(&stack, project, 1).await;
    let pool = stack.db.pool();
    let kind: i16 = pool
        .get()
        .await
        .expect("connection")
        .query_one("SELECT kind FROM events WHERE project_id = $1", &[&project])
        .await
        .expect("row")
        .get(0);
    assert_eq!(i32::from(kind), EventKind::Identify as i32);
}

#[tokio::test]
async fn test_without_redis_duplicates_are_stored_once_by_the_database() {
    let mut stack = Stack::start().await;
    let (project, key) = stack.project_with_key(&["events:write"]).await;
    let mut ingest = ingest_client(&stack).await;
    stack.redis.stop();
    let id = Uuid::now_v7();
    for _ in 0..3 {
        let answer = batch(&mut ingest, &key, vec![with_id("no_redis", id)])
            .await
            .expect("accepted without redis");
        assert_eq!(answer.results[0].status, EventStatus::Accepted as i32);
    }
    // Once the processor has stored every record the broker holds, no
    // second copy can still land: count then.
    assert!(
        eventually(Duration::from_secs(15), || caught_up(&stack)).await,
        "the processor did not catch up"
    );
    assert_eq!(stored_ids(&stack, project).await, vec![id], "stored once");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn test_broker_outage_is_unavailable_and_recovers_without_restart() {
    let mut stack = Stack::start().await;
    let (project, key) = stack.project_with_key(&["events:write"]).await;
    let mut ingest = ingest_client(&stack).await;
    let mut ledger: Vec<(Uuid, bool)> = Vec::new();
    for _ in 0..20 {
        let id = Uuid::now_v7();
        let ok = batch(&mut ingest, &key, vec![with_id("before", id)])
            .await
            .is_ok();
        ledger.push((id, ok));
    }

    stack.broker.kill();
    let started = Instant::now();
    let mut outage_answers = Vec::new();
    for _ in 0..3 {
        let id = Uuid::now_v7();
        let asked = Instant::now();
        let answer = track(&mut ingest, &key, with_id("during", id)).await;
        outage_answers.push((answer.as_ref().map_err(|s| s.code()).err(), asked.elapsed()));
        ledger.push((id, answer.is_ok()));
    }
    for (code, took) in &outage_answers {
        assert_eq!(
            *code,
            Some(Code::Unavailable),
            "answers during the outage: {outage_answers:?}"
        );
        assert!(
            *took < Duration::from_secs(5),
            "answer took {took:?}, past the 3 s ack deadline"
        );
    }
    let status = track(&mut ingest, &key, event("during"))
        .await
        .expect_err("down");
    assert!(
        status.get_error_details().retry_info().is_some(),
        "UNAVAILABLE carries RetryInfo"
    );
    assert!(started.elapsed() < Duration::from_secs(30));

    stack.broker.restart();
    let recovered = eventually(Duration::from_secs(30), || {
        let mut ingest = ingest.clone();
        let key = key.clone();
        async move { track(&mut ingest, &key, event("probe")).await.is_ok() }
    })
    .await;
    assert!(
        recovered,
        "ingest did not recover within 30 s of the broker's return"
    );
    for _ in 0..20 {
        let id = Uuid::now_v7();
        let ok = batch(&mut ingest, &key, vec![with_id("after", id)])
            .await
            .is_ok();
        ledger.push((id, ok));
    }
    let accepted: HashSet<Uuid> = ledger
        .iter()
        .filter(|(_, ok)| *ok)
        .map(|(id, _)| *id)
        .collect();
    assert!(accepted.len() >= 40);
    // Every acknowledged event is stored (the probes add a few more, so wait
    // for the ids themselves, not a count).
    let deadline = Instant::now() + Duration::from_secs(30);
    let missing = loop {
        let stored: HashSet<Uuid> = stored_ids(&stack, project).await.into_iter().collect();
        let missing: Vec<Uuid> = accepted.difference(&stored).copied().collect();
        if missing.is_empty() || Instant::now() > deadline {
            break missing;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(
        missing.is_empty(),
        "acknowledged but not stored after 30 s: {missing:?}"
    );
}

fn header(metadata: &tonic::metadata::MetadataMap, name: &str) -> Option<u64> {
    metadata.get(name)?.to_str().ok()?.parse().ok()
}

#[tokio::test]
async fn test_rate_limit_per_project_with_local_fallback() {
    use boost_proto::ingest::v1::GetLimitsRequest;
    use boost_testkit::stack::url;

    let mut stack = Stack::start().await;
    let limited = stack
        .spawn_ingest(&[
            "--rate-limit-events",
            "50",
            "--rate-limit-window-ms",
            "60000",
        ])
        .await;
    let (_, key) = stack.project_with_key(&["events:write"]).await;
    let (_, other_key) = stack.project_with_key(&["events:write"]).await;
    let mut ingest = IngestServiceClient::connect(url(limited))
        .await
        .expect("connect");
    let batch_of = |n: usize| IngestBatchRequest {
        events: (0..n).map(|_| event("limited")).collect(),
        ..Default::default()
    };

    let answer = ingest
        .ingest_batch(with_key(&key, batch_of(40)))
        .await
        .expect("within limit");
    assert_eq!(header(answer.metadata(), "x-ratelimit-limit"), Some(50));
    assert_eq!(header(answer.metadata(), "x-ratelimit-remaining"), Some(10));
    assert!(header(answer.metadata(), "x-ratelimit-reset").is_some_and(|s| s <= 60));

    let status = ingest
        .ingest_batch(with_key(&key, batch_of(20)))
        .await
        .expect_err("over the limit");
    assert_eq!(status.code(), Code::ResourceExhausted);
    let details = status.get_error_details();
    assert!(details.retry_info().is_some(), "RetryInfo");
    assert!(details.quota_failure().is_some(), "QuotaFailure");
    assert!(
        header(status.metadata(), "retry-after").is_some(),
        "retry-after"
    );
    assert_eq!(header(status.metadata(), "x-ratelimit-remaining"), Some(10));

    // Another project has its own window.
    ingest
        .ingest_batch(with_key(&other_key, batch_of(40)))
        .await
        .expect("other project unaffected");

    let limits = ingest
        .get_limits(with_key(&key, GetLimitsRequest {}))
        .await
        .expect("limits")
        .into_inner();
    assert_eq!(limits.rate_limit_events, 50);
    assert_eq!(limits.max_batch_events, 1000);
    assert!(limits.rate_limit_remaining <= 10);

    // Redis down: each instance counts locally and still enforces the limit,
    // and says it is degraded.
    stack.redis.stop();
    let degraded = eventually(Duration::from_secs(5), || async {
        let channel = tonic::transport::Channel::from_shared(url(limited))
            .expect("url")
            .connect()
            .await
            .expect("connect");
        let health = tonic_health::pb::health_client::HealthClient::new(channel);
        let status = |service: &'static str| {
            let mut health = health.clone();
            async move {
                health
                    .check(tonic_health::pb::HealthCheckRequest {
                        service: service.into(),
                    })
                    .await
                    .expect("health")
                    .into_inner()
                    .status
            }
        };
        use tonic_health::pb::health_check_response::ServingStatus;
        status("redis").await == ServingStatus::NotServing as i32
            && status("").await == ServingStatus::Serving as i32
    })
    .await;
    assert!(degraded, "ingest did not report redis down while serving");
    let fallback = eventually(Duration::from_secs(5), || {
        let mut ingest = ingest.clone();
        let key = key.clone();
        async move {
            ingest
                .ingest_batch(with_key(&key, batch_of(40)))
                .await
                .is_ok()
        }
    })
    .await;
    assert!(fallback, "no local fallback with Redis down");
    let status = ingest
        .ingest_batch(with_key(&key, batch_of(20)))
        .await
        .expect_err("local limit");
    assert_eq!(status.code(), Code::ResourceExhausted);
}

#[tokio::test]
async fn test_stream_accounts_for_every_event() {
    use boost_proto::ingest::v1::IngestStreamRequest;

    let stack = Stack::start().await;
    let (project, key) = stack.project_with_key(&["events:write"]).await;
    let mut ingest = ingest_client(&stack).await;
    let first: Vec<Event> = (0..100)
        .map(|_| with_id("streamed", Uuid::now_v7()))
        .collect();
    let mut second: Vec<Event> = (0..99).map(|_| event("streamed")).collect();
    second.push(event("")); // position 199 in the stream: no type
    let too_big: Vec<Event> = (0..1001).map(|_| event("streamed")).collect();
    let mut fourth: Vec<Event> = first[..10].to_vec(); // repeats: duplicates
    fourth.extend((0..90).map(|_| event("streamed")));
    let messages = [first, second, too_big, fourth].map(|events| IngestStreamRequest { events });

    let answer = ingest
        .ingest_stream(with_key(&key, tokio_stream::iter(messages)))
        .await
        .expect("stream")
        .into_inner();
    assert_eq!(
        (answer.accepted, answer.duplicates, answer.rejected),
        (289, 10, 1002)
    );
    assert_eq!(answer.rejected_results.len(), 1000, "listing capped");
    assert_eq!(answer.rejected_results[0].index, 199);
    assert_eq!(answer.rejected_results[0].field, "events[99].type");
    assert_eq!(answer.rejected_results[1].index, 200);
    assert_eq!(answer.rejected_results[1].field, "events");
    let deadline = Instant::now() + Duration::from_secs(15);
    while stored_ids(&stack, project).await.len() < 289 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(stored_ids(&stack, project).await.len(), 289);
}

/// Sends every event as its own Track, all at once; each call's error
/// (`None` if accepted) and how long its answer took.
async fn concurrent_tracks(
    ingest: &IngestServiceClient<tonic::transport::Channel>,
    key: &str,
    events: Vec<Event>,
) -> Vec<(Option<tonic::Status>, Duration)> {
    let calls: Vec<_> = events
        .into_iter()
        .map(|event| {
            let (mut ingest, key) = (ingest.clone(), key.to_string());
            tokio::spawn(async move {
                let asked = Instant::now();
                let answer = track(&mut ingest, &key, event).await;
                (answer.err(), asked.elapsed())
            })
        })
        .collect();
    let mut answers = Vec::new();
    for call in calls {
        answers.push(call.await.expect("call"));
    }
    answers
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn test_full_buffer_is_resource_exhausted_fast() {
    use boost_testkit::stack::url;

    let mut stack = Stack::start().await;
    let small = stack.spawn_ingest(&["--producer-queue", "2"]).await;
    let (_, key) = stack.project_with_key(&["events:write"]).await;
    let ingest = IngestServiceClient::connect(url(small))
        .await
        .expect("connect");
    stack.broker.kill();

    // 64 concurrent calls, one user so they share one partition whose queue holds 2.
    let started = Instant::now();
    let flood = Event {
        user_id: "one-user".into(),
        ..event("flood")
    };
    let mut exhausted = 0;
    for (status, took) in concurrent_tracks(&ingest, &key, vec![flood; 64]).await {
        let status = status.expect("nothing is accepted with the broker down");
        assert!(took < Duration::from_secs(5), "an answer took {took:?}");
        match status.code() {
            Code::ResourceExhausted => {
                exhausted += 1;
                let details = status.get_error_details();
                assert!(
                    details.retry_info().is_some() && details.quota_failure().is_some(),
                    "{status:?}"
                );
            }
            Code::Unavailable => {}
            other => panic!("unexpected {other:?}: {status:?}"),
        }
    }
    assert!(
        exhausted >= 32,
        "only {exhausted} of 64 were told the buffer is full"
    );
    assert!(started.elapsed() < Duration::from_secs(10));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn test_producer_byte_bound_refuses_at_once() {
    use boost_proto::json::json_to_struct;
    use boost_testkit::stack::url;

    let mut stack = Stack::start().await;
    // Room for 4 of the ~30 KB events below, whatever the batch count.
    let small = stack
        .spawn_ingest(&["--producer-queue-bytes", "131072"])
        .await;
    let (_, key) = stack.project_with_key(&["events:write"]).await;
    let ingest = IngestServiceClient::connect(url(small))
        .await
        .expect("connect");
    stack.broker.kill();

    let large = Event {
        properties: Some(json_to_struct(
            &serde_json::json!({ "blob": "x".repeat(30_000) }),
        )),
        ..event("large")
    };
    let (mut exhausted, mut unavailable) = (0, 0);
    for (status, took) in concurrent_tracks(&ingest, &key, vec![large; 16]).await {
        let status = status.expect("nothing is accepted with the broker down");
        match status.code() {
            Code::ResourceExhausted => {
                exhausted += 1;
                assert!(took < Duration::from_secs(1), "refused after {took:?}");
                assert!(status.get_error_details().quota_failure().is_some());
            }
            Code::Unavailable => unavailable += 1,
            other => panic!("unexpected {other:?}: {status:?}"),
        }
    }
    assert!(
        unavailable <= 4,
        "{unavailable} waited for the broker: more than 131,072 bytes were held"
    );
    assert_eq!(exhausted + unavailable, 16);
}

#[tokio::test]
async fn test_telemetry_kinds_round_trip_and_bad_bodies_are_named() {
    use boost_proto::{
        common::v1::{LogBody, MetricBody, Severity, SpanBody, event::Body},
        prost_types::Duration as PbDuration,
        query::v1::ListEventsRequest,
    };
    let stack = Stack::start().await;
    let (project, key) = stack
        .project_with_key(&["events:write", "events:read"])
        .await;
    let mut ingest = ingest_client(&stack).await;
    let log = Body::Log(LogBody {
        severity: Severity::Error as i32,
        message: "disk full\n  at write()".into(),
    });
    let metric = Body::Metric(MetricBody {
        name: "http.server.duration".into(),
        value: 12.5,
        unit: "ms".into(),
    });
    let span = Body::Span(SpanBody {
        trace_id: "4bf92f3577b34da6a3ce929d0e0e4736".into(),
        span_id: "00f067aa0ba902b7".into(),
        parent_span_id: String::new(),
        duration: Some(PbDuration {
            seconds: 1,
            nanos: 250_000_000,
        }),
        error: true,
    });
    let with_body = |name: &str, body: Body| Event {
        body: Some(body),
        service: "api".into(),
        ..event(name)
    };
    let sent = vec![
        with_body("app.log", log.clone()),
        with_body("latency", metric.clone()),
        with_body("GET /users", span.clone()),
        // A LOG without its body, and NUL in a property: refused, fields named.
        Event {
            kind: EventKind::Log as i32,
            ..event("app.log")
        },
        Event {
            properties: Some(boost_proto::json::json_to_struct(
                &serde_json::json!({"note": "a\u{0}b"}),
            )),
            ..event("nul_inside")
        },
    ];
    let answer = batch(&mut ingest, &key, sent).await.expect("batch");
    assert_eq!((answer.accepted, answer.rejected), (3, 2), "{answer:?}");
    assert_eq!(answer.results[3].field, "events[3].log");
    assert_eq!(answer.results[4].field, "events[4].properties");

    assert_eq!(wait_stored(&stack, project, 3).await.len(), 3);
    let mut query = query_client(&stack).await;
    let listed = list(&mut query, &key, ListEventsRequest::default())
        .await
        .expect("list");
    let by_type = |t: &str| {
        let stored = listed
            .events
            .iter()
            .filter_map(|e| e.event.as_ref())
            .find(|e| e.r#type == t)
            .unwrap_or_else(|| panic!("{t} not listed"));
        (EventKind::try_from(stored.kind).ok(), stored.body.clone())
    };
    assert_eq!(by_type("app.log"), (Some(EventKind::Log), Some(log)));
    assert_eq!(by_type("latency"), (Some(EventKind::Metric), Some(metric)));
    assert_eq!(by_type("GET /users"), (Some(EventKind::Span), Some(span)));
}

/// The subject of the first QuotaFailure violation a status carries.
fn quota_subject(status: &tonic::Status) -> String {
    status
        .get_error_details()
        .quota_failure()
        .and_then(|q| q.violations.first())
        .map(|v| v.subject.clone())
        .unwrap_or_else(|| panic!("no QuotaFailure in {status:?}"))
}

#[tokio::test]
async fn test_rate_limits_per_key_per_user_and_per_address() {
    use boost_testkit::stack::url;
    use tonic::metadata::MetadataValue;

    let stack = Stack::start().await;
    let (project, key) = stack.project_with_key(&["events:write"]).await;
    let second_key = stack.key_for(project, &["events:write"]).await;
    let by_user = |users: &[&str]| IngestBatchRequest {
        events: users
            .iter()
            .map(|u| Event {
                user_id: u.to_string(),
                ..event("limited")
            })
            .collect(),
        ..Default::default()
    };

    // Per key (6 per window) and per end user (3 per window).
    let limited = stack
        .spawn_ingest(&[
            "--rate-limit-key-events",
            "6",
            "--rate-limit-user-events",
            "3",
        ])
        .await;
    let mut ingest = IngestServiceClient::connect(url(limited))
        .await
        .expect("connect");
    let answer = ingest
        .ingest_batch(with_key(&key, by_user(&["u1", "u1", "u2"])))
        .await
        .expect("within every limit");
    assert_eq!(header(answer.metadata(), "x-ratelimit-limit"), Some(6));
    assert_eq!(header(answer.metadata(), "x-ratelimit-remaining"), Some(3));
    assert_eq!(answer.into_inner().accepted, 3);

    // u1 would reach 4 of 3: only u1's events are refused, retryable.
    let answer = ingest
        .ingest_batch(with_key(&key, by_user(&["u1", "u3", "u1"])))
        .await
        .expect("partly within limits")
        .into_inner();
    assert_eq!((answer.accepted, answer.rejected), (1, 2), "{answer:?}");
    for refused in [&answer.results[0], &answer.results[2]] {
        assert_eq!(refused.status, EventStatus::Rejected as i32);
        assert!(refused.retryable && refused.reason.contains("user rate limit"));
    }

    // The key has used its 6: the whole call is refused, naming the key limit.
    let status = ingest
        .ingest_batch(with_key(&key, by_user(&["u9"])))
        .await
        .expect_err("key over its limit");
    assert_eq!(status.code(), Code::ResourceExhausted);
    assert_eq!(quota_subject(&status), "api_key");

    // Another key of the same project has its own window, but u1 is still over.
    ingest
        .ingest_batch(with_key(&second_key, by_user(&["u9"])))
        .await
        .expect("second key within its limit");
    let status = track(
        &mut ingest,
        &second_key,
        Event {
            user_id: "u1".into(),
            ..event("limited")
        },
    )
    .await
    .expect_err("u1 over its limit");
    assert_eq!(status.code(), Code::ResourceExhausted);
    assert_eq!(quota_subject(&status), "user");

    // Per client address (4 per window), taken from x-forwarded-for.
    let proxied = stack
        .spawn_ingest(&[
            "--rate-limit-address-events",
            "4",
            "--trust-forwarded-for",
            "true",
        ])
        .await;
    let mut ingest = IngestServiceClient::connect(url(proxied))
        .await
        .expect("connect");
    let from = |address: &'static str, n: usize| {
        let mut request = with_key(&second_key, by_user(&vec![""; n]));
        request
            .metadata_mut()
            .insert("x-forwarded-for", MetadataValue::from_static(address));
        request
    };
    ingest
        .ingest_batch(from("203.0.113.9, 10.0.0.1", 4))
        .await
        .expect("first address within its limit");
    let status = ingest
        .ingest_batch(from("203.0.113.9", 1))
        .await
        .expect_err("first address over its limit");
    assert_eq!(quota_subject(&status), "client_address");
    ingest
        .ingest_batch(from("203.0.113.10", 1))
        .await
        .expect("another address has its own window");
}

#[tokio::test]
async fn test_compressed_records_are_stored() {
    use boost_testkit::stack::url;

    let stack = Stack::start().await;
    for codec in ["gzip", "lz4"] {
        let (project, key) = stack.project_with_key(&["events:write"]).await;
        let compressing = stack.spawn_ingest(&["--kafka-compression", codec]).await;
        let mut ingest = IngestServiceClient::connect(url(compressing))
            .await
            .expect("connect");
        let events = (0..50).map(|_| event("compressed")).collect();
        let answer = batch(&mut ingest, &key, events).await.expect(codec);
        assert_eq!(answer.accepted, 50, "{codec}");
        assert_eq!(
            wait_stored(&stack, project, 50).await.len(),
            50,
            "{codec} records read back by the processor"
        );
    }
}
