//! Query pagination and the processor's handling of unreadable records, over
//! real PostgreSQL and broker.

mod common;

use std::{
    collections::{BTreeMap, HashSet},
    time::{Duration, SystemTime},
};

use boost_kafka::{
    KafkaArgs, client,
    rskafka::{client::partition::Compression, record::Record},
};
use boost_proto::query::v1::ListEventsRequest;
use boost_storage::events::{self, StoredEvent};
use boost_testkit::Stack;
use common::*;
use uuid::Uuid;

fn row(project_id: Uuid, occurred_at: SystemTime) -> StoredEvent {
    StoredEvent {
        project_id,
        event_id: Uuid::now_v7(),
        kind: 1,
        event_type: "page_viewed".into(),
        occurred_at,
        received_at: occurred_at,
        service: String::new(),
        user_id: String::new(),
        properties: serde_json::json!({}),
        telemetry: None,
    }
}

#[tokio::test]
async fn test_pagination_returns_every_row_once_newest_first() {
    let stack = Stack::start().await;
    let (project, key) = stack.project_with_key(&["events:read"]).await;
    let (other_project, _) = stack.project_with_key(&["events:read"]).await;
    let pool = stack.db.pool();
    let client = pool.get().await.expect("connection");
    let base = SystemTime::now() - Duration::from_secs(3600);
    // 250 rows; every 10 share a timestamp so the event_id tie-break matters.
    let rows: Vec<StoredEvent> = (0..250)
        .map(|i| row(project, base + Duration::from_secs(i / 10)))
        .collect();
    boost_storage::partitions::DayPartitions::default()
        .ensure(&client, [base, base + Duration::from_secs(25)])
        .await
        .expect("day partitions");
    events::insert_batch(&client, 0, &rows)
        .await
        .expect("insert");
    events::insert_batch(&client, 0, &[row(other_project, base)])
        .await
        .expect("insert other tenant");

    let mut query = query_client(&stack).await;
    let mut seen = Vec::new();
    let mut token = String::new();
    for page_number in 0.. {
        assert!(page_number < 10, "pagination does not end");
        let page = list(
            &mut query,
            &key,
            ListEventsRequest {
                page_size: 100,
                page_token: token,
                ..Default::default()
            },
        )
        .await
        .expect("page");
        if page_number == 0 {
            // New events arriving meanwhile must not disturb the pages after the first.
            let newer: Vec<StoredEvent> = (0..5).map(|_| row(project, SystemTime::now())).collect();
            events::insert_batch(&client, 0, &newer)
                .await
                .expect("insert newer");
        }
        seen.extend(page.events.into_iter().map(|e| e.event.expect("event")));
        token = page.next_page_token;
        if token.is_empty() {
            break;
        }
    }
    let ids: HashSet<String> = seen.iter().map(|e| e.event_id.clone()).collect();
    assert_eq!(ids.len(), seen.len(), "a row was returned twice");
    let expected: HashSet<String> = rows.iter().map(|r| r.event_id.to_string()).collect();
    assert!(expected.is_subset(&ids), "rows missing from the pages");
    let times: Vec<_> = seen
        .iter()
        .map(|e| e.timestamp.expect("timestamp"))
        .collect();
    assert!(
        times
            .windows(2)
            .all(|w| (w[0].seconds, w[0].nanos) >= (w[1].seconds, w[1].nanos)),
        "not newest first"
    );
    // Nothing of the other project.
    assert!(seen.len() <= 255);
}

/// Minute rollups hold the last 2 hours of event time, per partition; a
/// partition's batch deletes its own rows older than 3 hours and leaves the
/// other partitions' alone. GetMetrics' last hour sums them.
#[tokio::test]
async fn test_minute_rollups_keep_recent_minutes_and_drop_old_ones() {
    let stack = Stack::start().await;
    let (project, _) = stack.project_with_key(&["events:read"]).await;
    let pool = stack.db.pool();
    let client = pool.get().await.expect("connection");
    let now = SystemTime::now();
    let recent = now - Duration::from_secs(90 * 60);
    let too_old = now - Duration::from_secs(150 * 60);
    boost_storage::partitions::DayPartitions::default()
        .ensure(&client, [too_old, now])
        .await
        .expect("day partitions");
    let stale = boost_storage::utc::floor(
        now - Duration::from_secs(4 * 3600),
        boost_storage::utc::MINUTE,
    );
    for partition in [0i32, 1] {
        client
            .execute(
                "INSERT INTO event_rollups_minutely (project_id, minute, source_partition, events) \
                 VALUES ($1, $2, $3, 7)",
                &[&project, &stale, &partition],
            )
            .await
            .expect("stale minute row");
    }
    let rows = [
        row(project, now),
        row(project, now),
        row(project, recent),
        row(project, too_old),
    ];
    events::insert_batch(&client, 0, &rows)
        .await
        .expect("insert");
    let minutes: Vec<(SystemTime, i32, i64)> = client
        .query(
            "SELECT minute, source_partition, events FROM event_rollups_minutely \
             WHERE project_id = $1 ORDER BY 1, 2",
            &[&project],
        )
        .await
        .expect("minute rows")
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2)))
        .collect();
    let minute = |t| boost_storage::utc::floor(t, boost_storage::utc::MINUTE);
    assert_eq!(
        minutes,
        vec![(stale, 1, 7), (minute(recent), 0, 1), (minute(now), 0, 2)],
        "partition 0's stale row deleted, partition 1's kept; the event 150 minutes back not counted"
    );
    let last_hour = boost_storage::aggregates::minutes_total(
        &client,
        project,
        minute(now) - 59 * boost_storage::utc::MINUTE,
        now + Duration::from_secs(300),
    )
    .await
    .expect("minutes total");
    assert_eq!(last_hour, 2);
}

#[tokio::test]
async fn test_unreadable_record_is_dead_lettered_and_partition_goes_on() {
    let stack = Stack::start().await;
    let (project, key) = stack.project_with_key(&["events:write"]).await;
    let args = KafkaArgs::with_brokers(&stack.broker.address);
    let kafka = client::connect(&args, "test").await.expect("kafka");
    for partition in 0..args.partitions {
        let pc = client::partition_client(&kafka, &args.topic, partition)
            .await
            .expect("partition");
        let garbage = Record {
            key: None,
            value: Some(vec![0xff; 16]),
            headers: BTreeMap::new(),
            timestamp: Default::default(),
        };
        pc.produce(vec![garbage], Compression::NoCompression)
            .await
            .expect("produce garbage");
    }
    // Good events after the garbage, spread over partitions by user.
    let mut ingest = ingest_client(&stack).await;
    for i in 0..20 {
        let mut e = event("after_garbage");
        e.user_id = format!("user-{i}");
        track(&mut ingest, &key, e).await.expect("track");
    }
    let pool = stack.db.pool();
    let stored = eventually(Duration::from_secs(10), || {
        let pool = pool.clone();
        async move {
            events::count(&pool.get().await.expect("connection"), project)
                .await
                .expect("count")
                == 20
        }
    })
    .await;
    assert!(
        stored,
        "good events behind an unreadable record were not stored"
    );
    let client = pool.get().await.expect("connection");
    let dead: i64 = client
        .query_one(
            "SELECT count(*) FROM dead_letters WHERE error LIKE '%not an EventBatchRecord%'",
            &[],
        )
        .await
        .expect("count dead letters")
        .get(0);
    assert_eq!(dead, i64::from(args.partitions));
}
