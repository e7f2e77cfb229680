//! "An acknowledged event is never lost": a client ledger records every
//! event_id and its outcome while a processor process is `kill -9`ed three
//! times mid-stream; in the
//! end every ACCEPTED id is stored exactly once, nothing unsent is stored, and
//! replaying the topic from offset 0 changes no row count.

mod common;

use std::{
    collections::{HashMap, HashSet},
    time::{Duration, Instant},
};

use boost_testkit::Stack;
use common::*;
use uuid::Uuid;

const WORKERS: usize = 8;
const EVENTS_PER_WORKER: usize = 150;
const SEND_TIME_LIMIT: Duration = Duration::from_secs(60);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    Accepted,
    /// An error: the event may or may not have been stored.
    Unknown,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn test_processor_killed_mid_stream_loses_nothing_and_stores_nothing_twice() {
    let mut stack = Stack::start().await;
    let (project, key) = stack.project_with_key(&["events:write"]).await;
    let ingest = ingest_client(&stack).await;

    let started = Instant::now();
    let mut senders = Vec::new();
    for worker in 0..WORKERS {
        let mut ingest = ingest.clone();
        let key = key.clone();
        senders.push(tokio::spawn(async move {
            let mut ledger = Vec::with_capacity(EVENTS_PER_WORKER);
            for i in 0..EVENTS_PER_WORKER {
                if started.elapsed() > SEND_TIME_LIMIT {
                    break;
                }
                let id = Uuid::now_v7();
                let mut e = event("load_test");
                e.event_id = id.to_string();
                e.user_id = format!("user-{worker}-{}", i % 7);
                let outcome = match track(&mut ingest, &key, e).await {
                    Ok(_) => Outcome::Accepted,
                    Err(_) => Outcome::Unknown,
                };
                ledger.push((id, outcome));
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
            ledger
        }));
    }

    // `kill -9` a processor process three times while events keep arriving:
    // the in-process instance steps aside and OS processes take its place.
    stack.kill_processor();
    for round in 0..3 {
        let process = stack
            .spawn_processor_process(env!("CARGO_BIN_EXE_boost-test-processor"))
            .await;
        tokio::time::sleep(Duration::from_millis(300 + 150 * round)).await;
        process.kill();
    }
    stack.start_processor().await;

    let mut ledger: HashMap<Uuid, Outcome> = HashMap::new();
    for sender in senders {
        ledger.extend(sender.await.expect("sender"));
    }
    let accepted: HashSet<Uuid> = ledger
        .iter()
        .filter(|(_, o)| **o == Outcome::Accepted)
        .map(|(id, _)| *id)
        .collect();
    assert!(
        accepted.len() >= WORKERS * EVENTS_PER_WORKER / 2,
        "too few accepted: {}",
        accepted.len()
    );

    // Wait for the processor to drain the topic.
    assert!(
        eventually(Duration::from_secs(30), || caught_up(&stack)).await,
        "processor did not catch up within 30 s"
    );
    let stored = stored_ids(&stack, project).await;
    let stored_set: HashSet<Uuid> = stored.iter().copied().collect();
    assert_eq!(stored.len(), stored_set.len(), "an event was stored twice");
    let missing: Vec<_> = accepted.difference(&stored_set).collect();
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

    // Replay the whole topic from offset 0: no row count may change.
    stack.kill_processor();
    let pool = stack.db.pool();
    pool.get()
        .await
        .expect("connection")
        .execute("UPDATE consumer_offsets SET next_offset = 0", &[])
        .await
        .expect("rewind offsets");
    stack.start_processor().await;
    assert!(
        eventually(Duration::from_secs(30), || caught_up(&stack)).await,
        "replay did not finish within 30 s"
    );
    assert_eq!(
        stored_ids(&stack, project).await.len(),
        stored.len(),
        "replay changed the row count"
    );
    // Rollups and end users were written from new rows only: kills and the
    // full replay counted nothing twice.
    let (raw, rolled_up, with_user, per_user) = derived_counts(&stack, project).await;
    assert_eq!(rolled_up, raw, "hourly rollups differ from the raw count");
    assert_eq!(
        per_user, with_user,
        "end-user counts differ from the raw count"
    );
}
