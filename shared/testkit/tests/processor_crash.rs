//! "An acknowledged event is never lost": a client ledger records every
//! event_id and its outcome while a processor process is `kill -9`ed three
//! times mid-stream; in the
//! end every ACCEPTED id is stored exactly once, nothing unsent is stored, and
//! replaying the topic from offset 0 changes no row count.

mod common;

use std::{collections::HashSet, time::Duration};

use boost_testkit::Stack;
use common::*;
use uuid::Uuid;

const WORKERS: usize = 8;
const EVENTS_PER_WORKER: usize = 500;
const SEND_TIME_LIMIT: Duration = Duration::from_secs(60);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn test_processor_killed_mid_stream_loses_nothing_and_stores_nothing_twice() {
    let mut stack = Stack::start().await;
    let (project, key) = stack.project_with_key(&["events:write"]).await;
    let ingest = ingest_client(&stack).await;

    let senders = steady_load(&ingest, &key, WORKERS, EVENTS_PER_WORKER, SEND_TIME_LIMIT);

    // `kill -9` a processor process three times while events keep arriving:
    // the in-process instance steps aside and OS processes take its place,
    // each claiming the partitions once the last one's leases expired.
    stack.kill_processor();
    for round in 0..3 {
        let process = stack
            .spawn_processor_process(env!("CARGO_BIN_EXE_boost-test-processor"))
            .await;
        let lease = boost_testkit::stack::PROCESSOR_LEASE_MS;
        tokio::time::sleep(Duration::from_millis(lease + 600 + 150 * round)).await;
        process.kill();
    }
    stack.start_processor().await;

    let ledger = ledger(senders).await;
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
    let stored = assert_exactly_once(&stack, project, &ledger).await;

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
