//! Helpers shared by the integration tests.
#![allow(dead_code, missing_docs)]

use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use boost_proto::{
    common::v1::Event,
    ingest::v1::{
        IngestBatchRequest, IngestBatchResponse, TrackRequest, TrackResponse,
        ingest_service_client::IngestServiceClient,
    },
    query::v1::{ListEventsRequest, ListEventsResponse, query_service_client::QueryServiceClient},
};
use boost_testkit::{Stack, stack::url};
use tonic::{Request, Status, transport::Channel};

pub async fn ingest_client(stack: &Stack) -> IngestServiceClient<Channel> {
    IngestServiceClient::connect(url(stack.ingest))
        .await
        .expect("connect ingest")
}

pub async fn query_client(stack: &Stack) -> QueryServiceClient<Channel> {
    QueryServiceClient::connect(url(stack.query))
        .await
        .expect("connect query")
}

pub fn with_key<T>(key: &str, body: T) -> Request<T> {
    let mut request = Request::new(body);
    request
        .metadata_mut()
        .insert("x-api-key", key.parse().expect("ascii key"));
    request
}

pub fn event(event_type: &str) -> Event {
    Event {
        r#type: event_type.into(),
        ..Default::default()
    }
}

pub async fn track(
    client: &mut IngestServiceClient<Channel>,
    key: &str,
    event: Event,
) -> Result<TrackResponse, Status> {
    client
        .track(with_key(
            key,
            TrackRequest {
                event: Some(event),
                ..Default::default()
            },
        ))
        .await
        .map(|r| r.into_inner())
}

/// One IngestBatch call with `key`.
pub async fn batch(
    client: &mut IngestServiceClient<Channel>,
    key: &str,
    events: Vec<Event>,
) -> Result<IngestBatchResponse, tonic::Status> {
    client
        .ingest_batch(with_key(
            key,
            IngestBatchRequest {
                events,
                ..Default::default()
            },
        ))
        .await
        .map(|r| r.into_inner())
}

pub async fn list(
    client: &mut QueryServiceClient<Channel>,
    key: &str,
    request: ListEventsRequest,
) -> Result<ListEventsResponse, Status> {
    client
        .list_events(with_key(key, request))
        .await
        .map(|r| r.into_inner())
}

/// The field of the first `BadRequest` violation a status carries.
pub fn violated_field(status: &Status) -> String {
    use tonic_types::StatusExt;
    status
        .get_error_details()
        .bad_request()
        .and_then(|b| b.field_violations.first())
        .map(|v| v.field.clone())
        .unwrap_or_else(|| panic!("no BadRequest field violation in {status:?}"))
}

/// Properties `{"n": n}`: one number, any f64 (NaN and infinities included).
pub fn number(n: f64) -> boost_proto::prost_types::Struct {
    use boost_proto::prost_types::{Struct, Value, value::Kind};
    Struct {
        fields: [(
            "n".to_string(),
            Value {
                kind: Some(Kind::NumberValue(n)),
            },
        )]
        .into_iter()
        .collect(),
    }
}

/// Every event id stored for `project`.
pub async fn stored_ids(stack: &Stack, project: uuid::Uuid) -> Vec<uuid::Uuid> {
    stored_ids_in(&stack.db.pool(), project).await
}

/// The ids of `project`'s stored events, through `pool`.
pub async fn stored_ids_in(pool: &boost_storage::Pool, project: uuid::Uuid) -> Vec<uuid::Uuid> {
    let client = pool.get().await.expect("connection");
    client
        .query(
            "SELECT event_id FROM events WHERE project_id = $1",
            &[&project],
        )
        .await
        .expect("select ids")
        .iter()
        .map(|r| r.get(0))
        .collect()
}

/// Whether the processor has stored everything the broker holds: every
/// partition's stored offset equals its high watermark.
pub async fn caught_up(stack: &Stack) -> bool {
    let args = boost_kafka::KafkaArgs::with_brokers(&stack.broker.address);
    let kafka = boost_kafka::client::connect(&args, "test")
        .await
        .expect("kafka");
    let pool = stack.db.pool();
    let log = boost_storage::offsets::LogKey {
        cluster_id: &stack.broker.cluster_id,
        topic: &args.topic,
    };
    let stored = boost_storage::offsets::load(&pool.get().await.expect("connection"), &log)
        .await
        .expect("offsets");
    for partition in 0..stack.broker.partitions {
        let pc = boost_kafka::client::partition_client(&kafka, &args.topic, partition)
            .await
            .expect("partition");
        let (_, high_watermark) = pc.fetch_records(0, 1..1024, 10).await.expect("fetch");
        if stored.get(&partition).map_or(0, |s| s.next_offset) != high_watermark {
            return false;
        }
    }
    true
}

/// Polls `check` every 50 ms until it returns true or `limit` passes.
pub async fn eventually<F, Fut>(limit: Duration, mut check: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if check().await {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    false
}

/// Counts that must agree for `project`: (events stored, their sum in the
/// hourly rollups, events with a user_id, their sum over end users). Panics
/// if the daily rollups disagree with the hourly ones.
pub async fn derived_counts(stack: &Stack, project: uuid::Uuid) -> (i64, i64, i64, i64) {
    let pool = stack.db.pool();
    let client = pool.get().await.expect("connection");
    let row = client
        .query_one(
            "SELECT (SELECT count(*) FROM events WHERE project_id = $1),
                    (SELECT coalesce(sum(events), 0)::int8 FROM event_rollups_hourly WHERE project_id = $1),
                    (SELECT count(*) FROM events WHERE project_id = $1 AND user_id <> ''),
                    (SELECT coalesce(sum(events), 0)::int8 FROM end_users WHERE project_id = $1),
                    (SELECT coalesce(sum(events), 0)::int8 FROM event_rollups_daily WHERE project_id = $1)",
            &[&project],
        )
        .await
        .expect("derived counts");
    let (hourly, daily): (i64, i64) = (row.get(1), row.get(4));
    assert_eq!(hourly, daily, "daily rollups differ from hourly ones");
    (row.get(0), hourly, row.get(2), row.get(3))
}

/// One HTTP/1.1 exchange over a raw socket: what a browser's fetch sends.
pub async fn http1(addr: std::net::SocketAddr, head: &str, body: &[u8]) -> (String, Vec<u8>) {
    let mut socket = tokio::net::TcpStream::connect(addr)
        .await
        .expect("connect edge");
    socket.write_all(head.as_bytes()).await.expect("write head");
    socket.write_all(body).await.expect("write body");
    let mut raw = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), socket.read_to_end(&mut raw))
        .await
        .expect("edge answered within 10 s")
        .expect("read response");
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("header end");
    let headers = String::from_utf8_lossy(&raw[..split]).to_lowercase();
    let mut body = raw[split + 4..].to_vec();
    if headers.contains("transfer-encoding: chunked") {
        body = dechunk(&body);
    }
    (headers, body)
}

fn dechunk(mut data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let line_end = data
            .windows(2)
            .position(|w| w == b"\r\n")
            .expect("chunk size line");
        let size = usize::from_str_radix(
            std::str::from_utf8(&data[..line_end])
                .expect("ascii")
                .trim(),
            16,
        )
        .expect("hex size");
        if size == 0 {
            return out;
        }
        out.extend_from_slice(&data[line_end + 2..line_end + 2 + size]);
        data = &data[line_end + 2 + size + 2..];
    }
}

/// The Prometheus text a metrics endpoint serves (`GET /metrics`).
pub async fn scrape(addr: std::net::SocketAddr) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(addr)
        .await
        .expect("connect metrics");
    stream
        .write_all(b"GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
        .await
        .expect("request");
    let mut answer = String::new();
    stream.read_to_string(&mut answer).await.expect("read");
    let (head, body) = answer.split_once("\r\n\r\n").expect("an HTTP answer");
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    body.to_string()
}

/// The sum of the samples of `name` whose labels include every `labels`
/// pair; `None` when there is no such series.
pub fn sample(text: &str, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    let mut found = None;
    for line in text.lines().filter(|l| !l.starts_with('#')) {
        let Some((series, value)) = line.rsplit_once(' ') else {
            continue;
        };
        let (series_name, series_labels) = series.split_once('{').unwrap_or((series, ""));
        if series_name != name {
            continue;
        }
        if labels
            .iter()
            .all(|(k, v)| series_labels.contains(&format!("{k}=\"{v}\"")))
        {
            *found.get_or_insert(0.0) += value.parse::<f64>().unwrap_or(0.0);
        }
    }
    found
}

/// What a client knows of one event it sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// ACCEPTED: it must be stored exactly once.
    Accepted,
    /// An error: the event may or may not have been stored.
    Unknown,
}

/// Every event a load sent, by id.
pub type Ledger = std::collections::HashMap<uuid::Uuid, Outcome>;

/// Starts `workers` clients that each Track up to `per_worker` events,
/// 2 ms apart, for at most `limit` (users spread over 7 per worker); join
/// them with [`ledger`].
pub fn steady_load(
    ingest: &IngestServiceClient<Channel>,
    key: &str,
    workers: usize,
    per_worker: usize,
    limit: Duration,
) -> Vec<tokio::task::JoinHandle<Vec<(uuid::Uuid, Outcome)>>> {
    let started = Instant::now();
    (0..workers)
        .map(|worker| {
            let mut ingest = ingest.clone();
            let key = key.to_string();
            tokio::spawn(async move {
                let mut sent = Vec::with_capacity(per_worker);
                for i in 0..per_worker {
                    if started.elapsed() > limit {
                        break;
                    }
                    let id = uuid::Uuid::now_v7();
                    let mut e = event("load_test");
                    e.event_id = id.to_string();
                    e.user_id = format!("user-{worker}-{}", i % 7);
                    let outcome = match track(&mut ingest, &key, e).await {
                        Ok(_) => Outcome::Accepted,
                        Err(_) => Outcome::Unknown,
                    };
                    sent.push((id, outcome));
                    tokio::time::sleep(Duration::from_millis(2)).await;
                }
                sent
            })
        })
        .collect()
}

/// Waits for a [`steady_load`]'s clients and merges what they sent.
pub async fn ledger(clients: Vec<tokio::task::JoinHandle<Vec<(uuid::Uuid, Outcome)>>>) -> Ledger {
    let mut ledger = Ledger::new();
    for client in clients {
        ledger.extend(client.await.expect("load client"));
    }
    ledger
}

/// Asserts that every ACCEPTED event of `ledger` is stored exactly once and
/// nothing unsent is stored; returns the stored ids.
pub async fn assert_exactly_once(
    stack: &Stack,
    project: uuid::Uuid,
    ledger: &Ledger,
) -> Vec<uuid::Uuid> {
    use std::collections::HashSet;
    let stored = stored_ids(stack, project).await;
    let stored_set: HashSet<uuid::Uuid> = stored.iter().copied().collect();
    assert_eq!(stored.len(), stored_set.len(), "an event was stored twice");
    let missing: Vec<_> = ledger
        .iter()
        .filter(|(id, o)| **o == Outcome::Accepted && !stored_set.contains(id))
        .collect();
    assert!(
        missing.is_empty(),
        "{} acknowledged events lost, e.g. {:?}",
        missing.len(),
        missing.first()
    );
    let unsent: Vec<_> = stored_set
        .iter()
        .filter(|id| !ledger.contains_key(id))
        .collect();
    assert!(
        unsent.is_empty(),
        "stored events that were never sent: {unsent:?}"
    );
    stored
}

/// The four services as restartable OS processes (the test kit's
/// `boost-test-*` binaries) over `db`, `redis` and `broker`, logging to
/// `logs`, each started and SERVING: auth first (it applies migrations),
/// then ingest, query and the processor.
pub async fn service_processes(
    db: &boost_testkit::TestDatabase,
    redis: &boost_testkit::TestRedis,
    broker: &boost_testkit::TestBroker,
    logs: &std::path::Path,
) -> [boost_testkit::stack::ManagedService; 4] {
    use boost_testkit::stack::{
        ManagedService, auth_args, ingest_args, processor_args, query_args,
    };
    let mut auth = ManagedService::new(
        "auth",
        env!("CARGO_BIN_EXE_boost-test-auth"),
        auth_args(db, redis),
    );
    auth.start(logs).await;
    let mut ingest = ManagedService::new(
        "ingest",
        env!("CARGO_BIN_EXE_boost-test-ingest"),
        ingest_args(auth.addr, broker, redis),
    );
    let mut query = ManagedService::new(
        "query",
        env!("CARGO_BIN_EXE_boost-test-query"),
        query_args(auth.addr, db),
    );
    let mut processor = ManagedService::new(
        "processor",
        env!("CARGO_BIN_EXE_boost-test-processor"),
        processor_args(broker, db, auth.addr, redis),
    );
    for service in [&mut ingest, &mut query, &mut processor] {
        service.start(logs).await;
    }
    [auth, ingest, query, processor]
}
