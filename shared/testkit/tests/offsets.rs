//! Stored offsets against a broker whose log is younger than they are: the
//! processor holds the partitions (NOT_SERVING, flagged in GetStatus) rather
//! than skipping what the new log holds, until an audited reset; and offsets
//! of one cluster are never read for another.

mod common;

use std::time::Duration;

use boost_kafka::KafkaArgs;
use boost_processor::offset_reset::{ResetTarget, Target};
use boost_proto::ingest::v1::EventStatus;
use boost_proto::processor::v1::{
    GetStatusRequest, GetStatusResponse, processor_service_client::ProcessorServiceClient,
};
use boost_storage::Pool;
use boost_testkit::{Stack, TestBroker, stack::url};
use common::*;
use tonic::transport::Channel;
use tonic_health::pb::{
    HealthCheckRequest, health_check_response::ServingStatus, health_client::HealthClient,
};
use uuid::Uuid;

async fn processor_status(stack: &Stack, key: &str) -> GetStatusResponse {
    let addr = stack.processor.expect("processor running");
    let mut client = ProcessorServiceClient::connect(url(addr))
        .await
        .expect("connect processor");
    client
        .get_status(with_key(key, GetStatusRequest {}))
        .await
        .expect("GetStatus")
        .into_inner()
}

async fn consuming(stack: &Stack) -> Option<i32> {
    let channel = Channel::from_shared(url(stack.processor?))
        .ok()?
        .connect()
        .await
        .ok()?;
    let response = HealthClient::new(channel)
        .check(HealthCheckRequest {
            service: "consuming".into(),
        })
        .await
        .ok()?;
    Some(response.into_inner().status)
}

/// Sends `count` Tracks for users `prefix-0..` (spread over partitions)
/// through the ingest at `ingest`; returns their ids.
async fn send(ingest: std::net::SocketAddr, key: &str, prefix: &str, count: usize) -> Vec<String> {
    let mut client =
        boost_proto::ingest::v1::ingest_service_client::IngestServiceClient::connect(url(ingest))
            .await
            .expect("connect ingest");
    let mut ids = Vec::new();
    for i in 0..count {
        let id = uuid::Uuid::now_v7().to_string();
        let answer = track(
            &mut client,
            key,
            boost_proto::common::v1::Event {
                event_id: id.clone(),
                user_id: format!("{prefix}-{i}"),
                ..event("offset_test")
            },
        )
        .await
        .expect("Track");
        let result = answer.result.expect("result");
        assert_eq!(
            result.status,
            EventStatus::Accepted as i32,
            "{id}: {result:?}"
        );
        ids.push(id);
    }
    ids
}

async fn wait_consuming(stack: &Stack, want: ServingStatus, limit: Duration) -> bool {
    eventually(limit, || async {
        consuming(stack).await == Some(want as i32)
    })
    .await
}

/// Whether the project's stored rows reach exactly `count` within `secs`.
async fn stored_count_reaches(stack: &Stack, project: Uuid, count: usize, secs: u64) -> bool {
    eventually(Duration::from_secs(secs), || async {
        stored_ids(stack, project).await.len() == count
    })
    .await
}

/// Resets every held partition to its log start, as an operator would with
/// `boost-offsets reset`; returns how many were reset.
async fn reset_conflicts_to_log_start(target: &Target, pool: &Pool, reason: &str) -> usize {
    let mut reset = 0;
    for report in target.inspect(pool).await.expect("inspect") {
        if report.conflict.is_some() {
            target
                .reset(pool, report.partition, ResetTarget::LogStart, reason)
                .await
                .expect("reset");
            reset += 1;
        }
    }
    reset
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn test_young_broker_log_holds_partitions_until_an_audited_reset_and_loses_nothing() {
    let mut stack = Stack::start().await;
    let (project, key) = stack
        .project_with_key(&["events:write", "events:read"])
        .await;

    // 1. The old log: 40 events stored; offsets well past 0 on every partition.
    let first = send(stack.ingest, &key, "old", 40).await;
    assert!(
        stored_count_reaches(&stack, project, first.len(), 20).await,
        "the first events were not stored"
    );
    let before = processor_status(&stack, &key).await;
    assert!(
        before.partitions.iter().all(|p| p.stored_offset > 0),
        "{before:?}"
    );

    // 2. The broker's log is replaced (same cluster id, as `make clean-data`
    //    with the machine's PostgreSQL kept); offsets stay in PostgreSQL.
    stack.kill_processor();
    stack.broker.wipe_log();
    stack.start_processor().await;
    let ingest = stack.spawn_ingest(&[]).await;

    // 3. New events are ACCEPTED by the new log but held, not silently waited on.
    let young = send(ingest, &key, "young", 8).await;
    assert!(
        wait_consuming(&stack, ServingStatus::NotServing, Duration::from_secs(15)).await,
        "consuming stayed SERVING with offsets past the broker's high watermark"
    );
    let held = processor_status(&stack, &key).await;
    let conflicts: Vec<_> = held
        .partitions
        .iter()
        .filter(|p| !p.offset_conflict.is_empty())
        .collect();
    assert_eq!(conflicts.len(), 4, "every partition is held: {held:?}");
    assert!(
        conflicts[0].offset_conflict.contains("high watermark"),
        "{}",
        conflicts[0].offset_conflict
    );

    // 4. The new log grows past the stored offsets: still held, and a
    //    restart (which now sees a different record there) holds too.
    let grown = send(ingest, &key, "grown", 80).await;
    stack.kill_processor();
    stack.start_processor().await;
    assert!(
        wait_consuming(&stack, ServingStatus::NotServing, Duration::from_secs(15)).await,
        "a restarted processor consumed a log that grew past the stored offsets"
    );
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(
        stored_ids(&stack, project).await.len(),
        first.len(),
        "records of the new log were stored past a conflict (some skipped)"
    );
    let status = processor_status(&stack, &key).await;
    assert!(
        status
            .partitions
            .iter()
            .any(|p| !p.offset_conflict.is_empty()),
        "{status:?}"
    );

    // 5. The operator resets to the log start (audited); everything is stored once.
    let args = KafkaArgs::with_brokers(&stack.broker.address);
    let target = Target::connect(&args).await.expect("connect broker");
    assert_eq!(target.cluster_id, stack.broker.cluster_id);
    let pool = stack.db.pool();
    let report = target.inspect(&pool).await.expect("inspect");
    let conflicted: Vec<i32> = report
        .iter()
        .filter(|r| r.conflict.is_some())
        .map(|r| r.partition)
        .collect();
    assert!(!conflicted.is_empty(), "{report:?}");
    let outside = target
        .reset(&pool, conflicted[0], ResetTarget::Offset(1_000_000), "test")
        .await;
    assert!(outside.is_err(), "a reset outside the log was accepted");
    assert_eq!(
        reset_conflicts_to_log_start(&target, &pool, "broker log replaced in test").await,
        conflicted.len()
    );
    assert!(
        wait_consuming(&stack, ServingStatus::Serving, Duration::from_secs(20)).await,
        "consuming did not resume after the reset"
    );
    let expected = first.len() + young.len() + grown.len();
    assert!(
        stored_count_reaches(&stack, project, expected, 30).await,
        "stored {} of {expected} after the reset",
        stored_ids(&stack, project).await.len()
    );
    let stored: std::collections::HashSet<String> = stored_ids(&stack, project)
        .await
        .iter()
        .map(|id| id.to_string())
        .collect();
    for id in first.iter().chain(&young).chain(&grown) {
        assert!(stored.contains(id), "acknowledged {id} is not stored");
    }
    let client = pool.get().await.expect("connection");
    let audited: i64 = client
        .query_one(
            "SELECT count(*) FROM audit_log WHERE action = 'consumer_offsets.reset'",
            &[],
        )
        .await
        .expect("audit")
        .get(0);
    assert_eq!(audited, conflicted.len() as i64);

    // 6. The log is replaced under a running processor (once the topic is
    //    back): the loops that see it end before their offset are held too.
    stack.broker.wipe_log();
    let kafka = boost_kafka::client::connect(&args, "test")
        .await
        .expect("reconnect");
    boost_kafka::client::ensure_topic(&kafka, &args)
        .await
        .expect("topic");
    assert!(
        wait_consuming(&stack, ServingStatus::NotServing, Duration::from_secs(20)).await,
        "a running processor consumed past a log replaced under it"
    );
    reset_conflicts_to_log_start(&target, &pool, "replaced again").await;
    assert!(
        wait_consuming(&stack, ServingStatus::Serving, Duration::from_secs(20)).await,
        "a running loop stayed held after its reset"
    );

    // 7. Another cluster is never mistaken for this one: its processor
    //    starts from that log's beginning, and this cluster's offsets stay.
    stack.kill_processor();
    stack.broker = TestBroker::start();
    stack.start_processor().await;
    let other = stack.spawn_ingest(&[]).await;
    let fresh = send(other, &key, "other", 6).await;
    assert!(
        stored_count_reaches(&stack, project, expected + fresh.len(), 20).await,
        "a new cluster's events were not stored from its log start"
    );
    assert_eq!(consuming(&stack).await, Some(ServingStatus::Serving as i32));
    let clusters: i64 = client
        .query_one(
            "SELECT count(DISTINCT cluster_id) FROM consumer_offsets",
            &[],
        )
        .await
        .expect("clusters")
        .get(0);
    assert_eq!(clusters, 2, "offsets are keyed by cluster");
}
