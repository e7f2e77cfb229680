//! The Rust client (`boost-client`) against a real stack: the batcher's
//! ledger, rate limits with RetryInfo, rejections reaching the error
//! callback, paged listing and the live tail.

mod common;

use std::{
    collections::{HashMap, HashSet},
    sync::{Arc, Mutex},
    time::Duration,
};

use boost_client::{Ack, Client, ClientConfig, Credential, Rejection};
use boost_proto::query::v1::{EventFilter, ListEventsRequest};
use boost_testkit::{Stack, stack::url};
use common::*;
use futures::StreamExt;
use uuid::Uuid;

/// Events per window of the rate-limited ingest.
const LIMITED_EVENTS: usize = 300;

fn config(stack: &Stack, key: &str) -> ClientConfig {
    ClientConfig {
        ingest_url: url(stack.ingest),
        query_url: url(stack.query),
        ..ClientConfig::new(Credential::ApiKey(key.to_string()))
    }
}

async fn listed(client: &Client, filter: EventFilter) -> Vec<String> {
    let request = ListEventsRequest {
        filter: Some(filter),
        page_size: 1000,
        ..Default::default()
    };
    client
        .list_events(request)
        .map(|e| e.expect("page").event.expect("event").event_id)
        .collect()
        .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn test_ledger_of_10000_events_is_stored_exactly_once() {
    let stack = Stack::start().await;
    let (project, key) = stack
        .project_with_key(&["events:write", "events:read"])
        .await;
    let client = Client::new(config(&stack, &key)).expect("client");
    let ledger: HashSet<Uuid> = (0..10_000)
        .map(|i| {
            let id = client.track(
                "ledger",
                &format!("u{}", i % 50),
                serde_json::json!({ "i": i }),
            );
            id.parse().expect("uuid")
        })
        .collect();
    client.close().await;
    let stats = client.stats();
    assert_eq!(stats.delivered(), 10_000, "{stats:?}");
    assert_eq!(
        stats.rejected + stats.dropped + stats.failed,
        0,
        "{stats:?}"
    );
    assert!(
        eventually(Duration::from_secs(30), || caught_up(&stack)).await,
        "the processor did not catch up"
    );
    let stored = stored_ids(&stack, project).await;
    assert_eq!(stored.len(), 10_000, "no id stored twice, none missing");
    assert_eq!(stored.into_iter().collect::<HashSet<_>>(), ledger);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn test_rate_limited_client_waits_for_retry_info_then_delivers() {
    let stack = Stack::start().await;
    let (project, key) = stack.project_with_key(&["events:write"]).await;
    let limit = LIMITED_EVENTS.to_string();
    let limited = stack
        .spawn_ingest(&[
            "--rate-limit-events",
            &limit,
            "--rate-limit-window-ms",
            "2000",
        ])
        .await;
    let client = Client::new(ClientConfig {
        ingest_url: url(limited),
        ..config(&stack, &key)
    })
    .expect("client");
    let sent: HashSet<Uuid> = (0..LIMITED_EVENTS * 3)
        .map(|_| {
            client
                .track("limited", "", serde_json::json!({}))
                .parse()
                .expect("uuid")
        })
        .collect();
    client.close().await;
    let stats = client.stats();
    assert_eq!(stats.delivered(), sent.len() as u64, "{stats:?}");
    assert!(stats.retries > 0, "the limit was hit: {stats:?}");
    assert!(
        stats.max_server_delay >= Duration::from_secs(1),
        "RetryInfo: {stats:?}"
    );
    assert!(
        stats.retry_wait >= stats.max_server_delay,
        "waited at least that long: {stats:?}"
    );
    assert!(
        eventually(Duration::from_secs(20), || async {
            stored_ids(&stack, project)
                .await
                .into_iter()
                .collect::<HashSet<_>>()
                == sent
        })
        .await,
        "every event is stored"
    );
}

#[tokio::test]
async fn test_rejected_event_reaches_the_error_callback_with_its_field() {
    let stack = Stack::start().await;
    let (_, key) = stack.project_with_key(&["events:write"]).await;
    let rejected: Arc<Mutex<Vec<Rejection>>> = Arc::default();
    let mut config = config(&stack, &key);
    let sink = rejected.clone();
    config.batching.on_error = Arc::new(move |r| sink.lock().expect("lock").push(r));
    let client = Client::new(config).expect("client");
    client.track("fine", "", serde_json::json!({}));
    let bad = client.track("not a valid type!", "", serde_json::json!({}));
    client.close().await;
    let rejected = rejected.lock().expect("lock");
    assert_eq!(rejected.len(), 1, "{rejected:?}");
    assert_eq!(rejected[0].event.event_id, bad);
    assert!(rejected[0].field.ends_with(".type"), "{:?}", rejected[0]);
    assert!(!rejected[0].retryable);
    assert_eq!(client.stats().accepted, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn test_committed_events_list_page_by_page_and_tail_sees_new_ones() {
    let stack = Stack::start().await;
    let (_, key) = stack
        .project_with_key(&["events:write", "events:read"])
        .await;
    let client = Client::new(ClientConfig {
        ack: Ack::Committed,
        ..config(&stack, &key)
    })
    .expect("client");
    let sent: HashSet<String> = (0..2500)
        .map(|i| client.track("paged", "u1", serde_json::json!({ "i": i })))
        .collect();
    client.flush().await;
    assert_eq!(client.stats().accepted, 2500);
    let filter = EventFilter {
        r#type: "paged".into(),
        ..Default::default()
    };
    let listed = listed(&client, filter).await;
    assert_eq!(listed.len(), 2500, "three pages, every event once");
    assert_eq!(listed.into_iter().collect::<HashSet<_>>(), sent);

    let mut tail = client
        .tail(Some(EventFilter {
            r#type: "tailed".into(),
            ..Default::default()
        }))
        .await
        .expect("tail");
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let after = client.track("tailed", "u1", serde_json::json!({}));
    client.flush().await;
    let mut seen: HashMap<String, usize> = HashMap::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    while !seen.contains_key(&after) {
        let message = tokio::time::timeout_at(deadline, tail.next()).await;
        let batch = message
            .expect("tail answered in time")
            .expect("open")
            .expect("batch");
        for stored in batch.events {
            *seen
                .entry(stored.event.expect("event").event_id)
                .or_default() += 1;
        }
    }
    assert_eq!(seen, HashMap::from([(after, 1)]));
    client.close().await;
}
