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
