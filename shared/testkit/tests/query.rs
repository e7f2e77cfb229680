//! The query service over real PostgreSQL: filters, order, totals, GetEvent,
//! users, aggregations against raw counts, metrics, the live tail, and tenant
//! isolation through every RPC and through SQL.

mod common;

use std::{
    collections::BTreeMap,
    time::{Duration, SystemTime},
};

use boost_proto::{
    common::v1::{Event, EventKind, LogBody, Severity, event::Body},
    ingest::v1::IngestBatchRequest,
    json::json_to_struct,
    prost_types::Timestamp,
    query::v1::{
        AggregateRequest, EventFilter, EventState, GetEventRequest, GetMetricsRequest,
        GetUserRequest, GroupBy, ListEventsRequest, ListUsersRequest, Order, Source,
        TailEventsRequest, query_service_client::QueryServiceClient,
    },
};
use boost_testkit::Stack;
use common::*;
use tonic::{Code, transport::Channel};
use uuid::Uuid;

const HOUR: u64 = 3600;

fn hour_floor(t: SystemTime) -> SystemTime {
    boost_storage::utc::floor(t, boost_storage::utc::HOUR)
}

/// A fixed mix: 3 services, 4 types, track/identify/log, 3 users, spread over
/// the last few hours.
fn mix(now: SystemTime) -> Vec<Event> {
    let mut events = Vec::new();
    for i in 0..60u64 {
        let at = now - Duration::from_secs(60 + i * 240);
        let mut e = Event {
            event_id: Uuid::now_v7().to_string(),
            r#type: ["page_viewed", "signup", "checkout", "search"][(i % 4) as usize].into(),
            service: ["web", "api", "worker"][(i % 3) as usize].into(),
            user_id: if i % 5 == 0 {
                String::new()
            } else {
                format!("user-{}", i % 3)
            },
            timestamp: Some(Timestamp::from(at)),
            properties: Some(json_to_struct(
                &serde_json::json!({"plan": if i % 2 == 0 { "pro" } else { "free" }, "n": i}),
            )),
            ..Default::default()
        };
        if i % 6 == 0 {
            e.kind = EventKind::Log as i32;
            e.body = Some(Body::Log(LogBody {
                severity: if i % 12 == 0 {
                    Severity::Error as i32
                } else {
                    Severity::Info as i32
                },
                message: format!("line {i}"),
            }));
        }
        events.push(e);
    }
    events
}

async fn load(stack: &Stack, key: &str, project: Uuid, events: Vec<Event>) {
    let n = events.len();
    let mut ingest = ingest_client(stack).await;
    let answer = batch(&mut ingest, key, events).await.expect("batch");
    assert_eq!(answer.accepted as usize, n, "{answer:?}");
    assert!(
        eventually(Duration::from_secs(10), || async {
            stored_ids(stack, project).await.len() == n
        })
        .await,
        "events not stored"
    );
}

async fn all_pages(
    query: &mut QueryServiceClient<Channel>,
    key: &str,
    request: ListEventsRequest,
) -> Vec<Event> {
    let mut out = Vec::new();
    let mut token = String::new();
    loop {
        let page = list(
            query,
            key,
            ListEventsRequest {
                page_token: token,
                ..request.clone()
            },
        )
        .await
        .expect("page");
        out.extend(page.events.into_iter().filter_map(|e| e.event));
        if page.next_page_token.is_empty() {
            return out;
        }
        token = page.next_page_token;
    }
}

#[tokio::test]
async fn test_filters_order_totals_and_pages() {
    let stack = Stack::start().await;
    let (project, key) = stack
        .project_with_key(&["events:write", "events:read"])
        .await;
    let now = SystemTime::now();
    let sent = mix(now);
    load(&stack, &key, project, sent.clone()).await;
    let mut query = query_client(&stack).await;
    let range = |r: ListEventsRequest| ListEventsRequest {
        start_time: Some(Timestamp::from(now - Duration::from_secs(24 * HOUR))),
        page_size: 7,
        ..r
    };
    let expect =
        |keep: &dyn Fn(&Event) -> bool| -> usize { sent.iter().filter(|e| keep(e)).count() };
    let cases: Vec<(EventFilter, usize)> = vec![
        (
            EventFilter {
                service: "api".into(),
                ..Default::default()
            },
            expect(&|e| e.service == "api"),
        ),
        (
            EventFilter {
                r#type: "signup".into(),
                ..Default::default()
            },
            expect(&|e| e.r#type == "signup"),
        ),
        (
            EventFilter {
                kind: EventKind::Log as i32,
                ..Default::default()
            },
            expect(&|e| e.kind == EventKind::Log as i32),
        ),
        (
            EventFilter {
                user_id: "user-1".into(),
                ..Default::default()
            },
            expect(&|e| e.user_id == "user-1"),
        ),
        (
            EventFilter {
                min_severity: Severity::Warn as i32,
                ..Default::default()
            },
            expect(
                &|e| matches!(&e.body, Some(Body::Log(l)) if l.severity >= Severity::Warn as i32),
            ),
        ),
        (
            EventFilter {
                properties: Some(json_to_struct(&serde_json::json!({"plan": "pro"}))),
                service: "web".into(),
                ..Default::default()
            },
            expect(&|e| {
                e.service == "web"
                    && e.properties.as_ref().and_then(|p| p.fields.get("plan"))
                        == Some(&boost_proto::prost_types::Value {
                            kind: Some(boost_proto::prost_types::value::Kind::StringValue(
                                "pro".into(),
                            )),
                        })
            }),
        ),
    ];
    for (filter, expected) in cases {
        assert!(expected > 0, "case matches nothing: {filter:?}");
        let listed = all_pages(
            &mut query,
            &key,
            range(ListEventsRequest {
                filter: Some(filter.clone()),
                ..Default::default()
            }),
        )
        .await;
        assert_eq!(listed.len(), expected, "{filter:?}");
        let first = list(
            &mut query,
            &key,
            range(ListEventsRequest {
                filter: Some(filter.clone()),
                include_total: true,
                ..Default::default()
            }),
        )
        .await
        .expect("with total");
        let total = first.total.expect("total asked for");
        assert_eq!((total.count, total.exact), (expected as i64, true));
    }

    // Oldest first returns the same events reversed, each once.
    let newest = all_pages(&mut query, &key, range(ListEventsRequest::default())).await;
    let mut oldest = all_pages(
        &mut query,
        &key,
        range(ListEventsRequest {
            order: Order::OldestFirst as i32,
            ..Default::default()
        }),
    )
    .await;
    assert_eq!(newest.len(), sent.len());
    oldest.reverse();
    let ids = |v: &[Event]| v.iter().map(|e| e.event_id.clone()).collect::<Vec<_>>();
    assert_eq!(ids(&newest), ids(&oldest));

    // A newest-first token used oldest-first, a garbage token, a reversed
    // range and an unknown kind are INVALID_ARGUMENT naming the field.
    let page = list(&mut query, &key, range(ListEventsRequest::default()))
        .await
        .expect("page");
    let bad = [
        (
            range(ListEventsRequest {
                page_token: page.next_page_token.clone(),
                order: Order::OldestFirst as i32,
                ..Default::default()
            }),
            "page_token",
        ),
        (
            ListEventsRequest {
                start_time: Some(Timestamp::from(now)),
                end_time: Some(Timestamp::from(now - Duration::from_secs(5))),
                ..Default::default()
            },
            "start_time",
        ),
        (
            ListEventsRequest {
                filter: Some(EventFilter {
                    kind: 42,
                    ..Default::default()
                }),
                ..Default::default()
            },
            "filter.kind",
        ),
        (
            ListEventsRequest {
                page_size: 5000,
                ..Default::default()
            },
            "page_size",
        ),
    ];
    for (request, field) in bad {
        let status = list(&mut query, &key, request).await.expect_err(field);
        assert_eq!(status.code(), Code::InvalidArgument, "{field}");
        assert_eq!(violated_field(&status), field);
    }
}

#[tokio::test]
async fn test_aggregates_and_metrics_equal_raw_counts() {
    let stack = Stack::start().await;
    let (project, key) = stack
        .project_with_key(&["events:write", "events:read"])
        .await;
    let now = SystemTime::now();
    let sent = mix(now);
    load(&stack, &key, project, sent.clone()).await;
    let mut query = query_client(&stack).await;
    let mut by_type: BTreeMap<String, i64> = BTreeMap::new();
    for e in &sent {
        *by_type.entry(e.r#type.clone()).or_default() += 1;
    }
    // Hour-aligned range: answered from rollups; the same range shifted by a
    // second: from raw rows. Both equal the counts sent.
    let start = hour_floor(now) - Duration::from_secs(24 * HOUR);
    let end = hour_floor(now) + Duration::from_secs(HOUR);
    // Three days back spans at least one whole UTC day: read from the daily
    // rollups, with the hours at both ends from the hourly ones.
    let three_days = hour_floor(now) - Duration::from_secs(72 * HOUR);
    for (start, source) in [
        (start, Source::Rollups),
        (three_days, Source::Rollups),
        (start + Duration::from_secs(1), Source::Raw),
    ] {
        let answer = query
            .aggregate(with_key(
                &key,
                AggregateRequest {
                    start_time: Some(Timestamp::from(start)),
                    end_time: Some(Timestamp::from(end)),
                    group_by: GroupBy::Type as i32,
                    ..Default::default()
                },
            ))
            .await
            .expect("aggregate")
            .into_inner();
        assert_eq!(answer.source, source as i32);
        let got: BTreeMap<String, i64> = answer
            .groups
            .iter()
            .map(|g| (g.key.clone(), g.count))
            .collect();
        assert_eq!(got, by_type, "{source:?}");
    }
    // Hourly buckets sum to the total, in time order; kinds come back named.
    let hourly = query
        .aggregate(with_key(
            &key,
            AggregateRequest {
                start_time: Some(Timestamp::from(start)),
                end_time: Some(Timestamp::from(end)),
                group_by: GroupBy::Time as i32,
                limit: 100,
                ..Default::default()
            },
        ))
        .await
        .expect("hourly")
        .into_inner();
    assert_eq!(
        hourly.groups.iter().map(|g| g.count).sum::<i64>(),
        sent.len() as i64
    );
    let starts: Vec<_> = hourly
        .groups
        .iter()
        .map(|g| g.bucket_start.expect("bucket").seconds)
        .collect();
    assert!(starts.windows(2).all(|w| w[0] < w[1]), "{starts:?}");
    let kinds = query
        .aggregate(with_key(
            &key,
            AggregateRequest {
                group_by: GroupBy::Kind as i32,
                ..Default::default()
            },
        ))
        .await
        .expect("kinds")
        .into_inner();
    let logs = sent
        .iter()
        .filter(|e| e.kind == EventKind::Log as i32)
        .count() as i64;
    assert!(
        kinds
            .groups
            .iter()
            .any(|g| g.key == "EVENT_KIND_LOG" && g.count == logs),
        "{kinds:?}"
    );
    // Per user: raw rows, top 2 largest first.
    let users = query
        .aggregate(with_key(
            &key,
            AggregateRequest {
                group_by: GroupBy::User as i32,
                limit: 2,
                ..Default::default()
            },
        ))
        .await
        .expect("users")
        .into_inner();
    assert_eq!(users.source, Source::Raw as i32);
    assert_eq!(users.groups.len(), 2);
    assert!(users.groups[0].count >= users.groups[1].count);

    let metrics = query
        .get_metrics(with_key(&key, GetMetricsRequest {}))
        .await
        .expect("metrics")
        .into_inner();
    assert_eq!(metrics.total_events, sent.len() as i64);
    assert_eq!(metrics.last_24_hours, sent.len() as i64);
    // The current minute so far and the 59 before it (the mix's events are
    // 4 minutes apart, so the call and this line agree on the boundary).
    let last_hour_from = boost_storage::utc::floor(SystemTime::now(), boost_storage::utc::MINUTE)
        - 59 * boost_storage::utc::MINUTE;
    let in_last_hour = sent
        .iter()
        .filter(|e| {
            SystemTime::try_from(e.timestamp.expect("timestamp set")).expect("valid time")
                >= last_hour_from
        })
        .count() as i64;
    assert_eq!(metrics.last_hour, in_last_hour);
    assert_eq!(
        metrics.by_service.iter().map(|g| g.count).sum::<i64>(),
        sent.len() as i64
    );
    assert_eq!(
        metrics.by_hour.iter().map(|g| g.count).sum::<i64>(),
        sent.len() as i64
    );
    assert!(metrics.top_services.len() <= 5 && !metrics.top_services.is_empty());
}

#[tokio::test]
async fn test_get_event_users_and_tail() {
    let stack = Stack::start().await;
    let (project, key) = stack
        .project_with_key(&["events:write", "events:read"])
        .await;
    let now = SystemTime::now();
    let sent = mix(now);
    load(&stack, &key, project, sent.clone()).await;
    let mut query = query_client(&stack).await;

    let got = query
        .get_event(with_key(
            &key,
            GetEventRequest {
                event_id: sent[3].event_id.clone(),
            },
        ))
        .await
        .expect("get event")
        .into_inner();
    assert_eq!(got.state, EventState::Stored as i32);
    assert_eq!(
        got.event.and_then(|e| e.event).map(|e| e.event_id),
        Some(sent[3].event_id.clone())
    );
    let missing = query
        .get_event(with_key(
            &key,
            GetEventRequest {
                event_id: Uuid::now_v7().to_string(),
            },
        ))
        .await
        .expect_err("unknown id");
    assert_eq!(missing.code(), Code::NotFound);
    let bad = query
        .get_event(with_key(
            &key,
            GetEventRequest {
                event_id: "nope".into(),
            },
        ))
        .await
        .expect_err("bad id");
    assert_eq!(violated_field(&bad), "event_id");

    let user = query
        .get_user(with_key(
            &key,
            GetUserRequest {
                user_id: "user-1".into(),
            },
        ))
        .await
        .expect("user")
        .into_inner()
        .user
        .expect("user");
    let expected = sent.iter().filter(|e| e.user_id == "user-1").count() as i64;
    assert_eq!(user.event_count, expected);
    // Two pages of one user each, then one more: every user once.
    let mut seen = Vec::new();
    let mut token = String::new();
    loop {
        let page = query
            .list_users(with_key(
                &key,
                ListUsersRequest {
                    page_size: 1,
                    page_token: token,
                },
            ))
            .await
            .expect("users page")
            .into_inner();
        seen.extend(page.users.into_iter().map(|u| u.user_id));
        if page.next_page_token.is_empty() {
            break;
        }
        token = page.next_page_token;
    }
    seen.sort();
    assert_eq!(seen, vec!["user-0", "user-1", "user-2"]);

    // The tail sees events stored after it opened, filtered.
    let mut tail = query
        .tail_events(with_key(
            &key,
            TailEventsRequest {
                filter: Some(EventFilter {
                    service: "tail-me".into(),
                    ..Default::default()
                }),
            },
        ))
        .await
        .expect("tail")
        .into_inner();
    let mut ingest = ingest_client(&stack).await;
    let wanted = Event {
        service: "tail-me".into(),
        ..event("tailed")
    };
    ingest
        .ingest_batch(with_key(
            &key,
            IngestBatchRequest {
                events: vec![wanted, event("not_tailed")],
                ..Default::default()
            },
        ))
        .await
        .expect("send");
    let message = tokio::time::timeout(Duration::from_secs(10), tail.message())
        .await
        .expect("tail answered within 10 s")
        .expect("stream ok")
        .expect("a message");
    let types: Vec<_> = message
        .events
        .iter()
        .filter_map(|e| e.event.as_ref().map(|e| e.r#type.clone()))
        .collect();
    assert_eq!(types, vec!["tailed"]);
}

#[tokio::test]
async fn test_project_b_never_sees_project_a() {
    let stack = Stack::start().await;
    let (project_a, key_a) = stack
        .project_with_key(&["events:write", "events:read"])
        .await;
    let (_, key_b) = stack.project_with_key(&["events:read"]).await;
    let sent = mix(SystemTime::now());
    load(&stack, &key_a, project_a, sent.clone()).await;
    let mut query = query_client(&stack).await;

    let listed = list(&mut query, &key_b, ListEventsRequest::default())
        .await
        .expect("list");
    assert!(listed.events.is_empty());
    let get = query
        .get_event(with_key(
            &key_b,
            GetEventRequest {
                event_id: sent[0].event_id.clone(),
            },
        ))
        .await
        .expect_err("A's event");
    assert_eq!(get.code(), Code::NotFound);
    let user = query
        .get_user(with_key(
            &key_b,
            GetUserRequest {
                user_id: "user-1".into(),
            },
        ))
        .await
        .expect_err("A's user");
    assert_eq!(user.code(), Code::NotFound);
    let users = query
        .list_users(with_key(&key_b, ListUsersRequest::default()))
        .await
        .expect("users")
        .into_inner();
    assert!(users.users.is_empty());
    let counts = query
        .aggregate(with_key(
            &key_b,
            AggregateRequest {
                group_by: GroupBy::Service as i32,
                ..Default::default()
            },
        ))
        .await
        .expect("aggregate")
        .into_inner();
    assert!(counts.groups.is_empty());
    let metrics = query
        .get_metrics(with_key(&key_b, GetMetricsRequest {}))
        .await
        .expect("metrics")
        .into_inner();
    assert_eq!((metrics.total_events, metrics.last_hour), (0, 0));

    // In SQL: as the reader role, only the project set for the transaction is
    // visible, and without one nothing is.
    let pool = stack.db.pool();
    let mut client = pool.get().await.expect("connection");
    let tx = client.transaction().await.expect("begin");
    tx.batch_execute("SET LOCAL ROLE boost_reader")
        .await
        .expect("reader role");
    for table in ["events", "end_users", "event_rollups_hourly"] {
        let n: i64 = tx
            .query_one(&format!("SELECT count(*) FROM {table}"), &[])
            .await
            .expect("count")
            .get(0);
        assert_eq!(n, 0, "{table} visible without a project");
    }
    tx.batch_execute(&format!(
        "SELECT set_config('boost.project_id', '{project_a}', true)"
    ))
    .await
    .expect("set project");
    let n: i64 = tx
        .query_one("SELECT count(*) FROM events", &[])
        .await
        .expect("count")
        .get(0);
    assert_eq!(n, sent.len() as i64);
}
