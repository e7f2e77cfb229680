//! Ingest and query are stateless: two ingest and two query instances (OS
//! processes) on one Redis and one database, with the client alternating
//! between them, keep dedup, the project's rate limit and COMMITTED
//! read-your-writes as one instance does. Query reads from a replica when
//! given one.

mod common;

use boost_proto::{
    ingest::v1::{AckLevel, EventStatus, TrackRequest, ingest_service_client::IngestServiceClient},
    query::v1::{EventState, GetEventRequest, query_service_client::QueryServiceClient},
};
use boost_testkit::{
    Stack,
    stack::{ServiceProcess, url},
};
use common::*;
use tonic::{Code, transport::Channel};

/// The project rate limit every ingest instance is given.
const LIMIT: usize = 40;

async fn ingest(stack: &Stack) -> (ServiceProcess, IngestServiceClient<Channel>) {
    let addr = ([127, 0, 0, 1], boost_testkit::free_port()).into();
    let mut command = stack.ingest_command(env!("CARGO_BIN_EXE_boost-test-ingest"), addr);
    command
        .args(["--rate-limit-events", &LIMIT.to_string()])
        .args(["--rate-limit-window-ms", "60000"])
        .env("BOOST_LOG", "warn");
    let process = ServiceProcess::spawn(command, addr).await;
    let client = IngestServiceClient::connect(url(addr))
        .await
        .expect("connect ingest");
    (process, client)
}

async fn query(stack: &Stack, args: &[&str]) -> (ServiceProcess, QueryServiceClient<Channel>) {
    let addr = ([127, 0, 0, 1], boost_testkit::free_port()).into();
    let mut command = stack.query_command(env!("CARGO_BIN_EXE_boost-test-query"), addr);
    command.args(args).env("BOOST_LOG", "warn");
    let process = ServiceProcess::spawn(command, addr).await;
    let client = QueryServiceClient::connect(url(addr))
        .await
        .expect("connect query");
    (process, client)
}

fn request(event: boost_proto::common::v1::Event, ack: AckLevel) -> TrackRequest {
    TrackRequest {
        event: Some(event),
        ack: ack as i32,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn test_two_ingest_and_two_query_instances_act_as_one() {
    let stack = Stack::start().await;
    let (_i1, ingest1) = ingest(&stack).await;
    let (_i2, ingest2) = ingest(&stack).await;
    let (_q1, query1) = query(&stack, &[]).await;
    let (_q2, query2) = query(&stack, &[]).await;
    let mut ingests = [ingest1, ingest2];
    let mut queries = [query1, query2];
    let (project, key) = stack
        .project_with_key(&["events:write", "events:read"])
        .await;

    // Dedup: an id accepted by one instance is a duplicate on the other,
    // once the first has written its mark to Redis (just after answering,
    // off the request's path).
    let mut first = event("dedup");
    first.event_id = uuid::Uuid::now_v7().to_string();
    for (instance, expected) in [(0, EventStatus::Accepted), (1, EventStatus::Duplicate)] {
        if instance == 1 {
            wait_for_dedup_mark(&stack, project, &first.event_id).await;
        }
        let answer = ingests[instance]
            .track(with_key(&key, request(first.clone(), AckLevel::Broker)))
            .await
            .expect("track")
            .into_inner();
        assert_eq!(
            answer.result.expect("result").status(),
            expected,
            "instance {instance}"
        );
    }

    // COMMITTED on either ingest: either query sees the event at once.
    for (instance, ingest) in ingests.iter_mut().enumerate() {
        let mut e = event("committed");
        e.event_id = uuid::Uuid::now_v7().to_string();
        let answer = ingest
            .track(with_key(&key, request(e.clone(), AckLevel::Committed)))
            .await
            .expect("track")
            .into_inner()
            .result
            .expect("result");
        assert_eq!(answer.status(), EventStatus::Accepted);
        assert!(
            answer.stored,
            "COMMITTED answered before the processor stored it"
        );
        for query in queries.iter_mut() {
            let found = query
                .get_event(with_key(
                    &key,
                    GetEventRequest {
                        event_id: e.event_id.clone(),
                    },
                ))
                .await
                .unwrap_or_else(|s| panic!("event sent to ingest {instance} not visible: {s:?}"))
                .into_inner();
            assert_eq!(found.state(), EventState::Stored);
        }
    }

    // The project's rate limit is one window across both instances, and
    // counts every event received (4 above, the duplicate too): alternating
    // calls get exactly LIMIT in all.
    let mut accepted = 4;
    let mut exhausted = 0;
    for i in 0..LIMIT + 10 {
        match ingests[i % 2]
            .track(with_key(&key, request(event("limited"), AckLevel::Broker)))
            .await
        {
            Ok(_) => accepted += 1,
            Err(status) if status.code() == Code::ResourceExhausted => exhausted += 1,
            Err(status) => panic!("unexpected {status:?}"),
        }
    }
    assert_eq!(accepted, LIMIT, "accepted across both instances");
    assert_eq!(exhausted, 14);
}

#[tokio::test]
async fn test_query_reads_from_the_replica_url_when_given() {
    let stack = Stack::start().await;
    // Stands in for a replica that has not replayed the event yet.
    let replica = boost_testkit::TestDatabase::create().await;
    let (_, key) = stack
        .project_with_key(&["events:write", "events:read"])
        .await;
    let mut e = event("replicated");
    e.event_id = uuid::Uuid::now_v7().to_string();
    let mut ingest = ingest_client(&stack).await;
    let answer = ingest
        .track(with_key(&key, request(e.clone(), AckLevel::Committed)))
        .await
        .expect("track")
        .into_inner();
    assert!(answer.result.expect("result").stored);

    let (_primary, mut on_primary) = query(&stack, &[]).await;
    let (_replica, mut on_replica) = query(&stack, &["--read-database-url", &replica.url]).await;
    let get = || {
        with_key(
            &key,
            GetEventRequest {
                event_id: e.event_id.clone(),
            },
        )
    };
    on_primary
        .get_event(get())
        .await
        .expect("stored on the primary");
    let status = on_replica
        .get_event(get())
        .await
        .expect_err("not on the replica");
    assert_eq!(status.code(), Code::NotFound, "{status:?}");
}

/// Waits (≤ 5 s) until Redis remembers `event_id` as accepted, asked
/// through a dedup of its own (nothing pending in it).
async fn wait_for_dedup_mark(stack: &Stack, project: uuid::Uuid, event_id: &str) {
    let args = boost_storage::redis::RedisArgs::with_url(stack.redis.url.clone());
    let redis = boost_storage::redis::client(&args).expect("redis client");
    let dedup = boost_ingest::dedup::Dedup::new(redis, std::time::Duration::from_secs(60));
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while dedup.seen(project, &[event_id]).await != [true] {
        assert!(
            std::time::Instant::now() < deadline,
            "the accepted id's mark never reached Redis"
        );
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
}
