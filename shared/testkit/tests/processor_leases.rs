//! Processors share a 16-partition topic by leases in PostgreSQL: three
//! instances as OS processes under steady load spread the partitions
//! evenly; a SIGKILLed one's partitions are taken over within twice the
//! lease time and rebalanced when it starts again; a SIGSTOPped owner
//! whose leases were taken over cannot commit when it resumes (a batch
//! under a stale epoch is refused, shown directly below too); a gracefully
//! stopped one hands its partitions over at once. The client
//! ledger proves every acknowledged event stored exactly once.

mod common;

use std::{
    collections::BTreeMap,
    time::{Duration, Instant},
};

use boost_processor::batch::{self, Batch, Commit};
use boost_proto::processor::v1::{
    GetStatusRequest, GetStatusResponse, processor_service_client::ProcessorServiceClient,
};
use boost_storage::{leases, offsets::LogKey, partitions::DayPartitions};
use boost_testkit::{
    Stack, TestBroker, TestDatabase,
    stack::{PROCESSOR_LEASE_MS, ServiceProcess, url},
};
use common::*;

const PARTITIONS: i32 = 16;
const WORKERS: usize = 6;
// About 13 s of load at ~19 Track calls/s per client on the durable
// broker: longer than the scenario it runs under.
const EVENTS_PER_WORKER: usize = 250;
const SEND_TIME_LIMIT: Duration = Duration::from_secs(30);

fn lease() -> Duration {
    Duration::from_millis(PROCESSOR_LEASE_MS)
}

/// Live lease holders and how many partitions each holds.
async fn owners(stack: &Stack) -> BTreeMap<String, usize> {
    let client = stack.db.pool().get().await.expect("connection");
    let rows = client
        .query(
            "SELECT owner, count(*) FROM partition_leases
             WHERE cluster_id = $1 AND expires_at > clock_timestamp() GROUP BY owner",
            &[&stack.broker.cluster_id],
        )
        .await
        .expect("leases");
    rows.iter()
        .map(|r| (r.get(0), r.get::<_, i64>(1) as usize))
        .collect()
}

/// Waits until exactly `expected` instances hold every partition between
/// them, none more than one partition apart; returns how long it took.
async fn spread_among(stack: &Stack, expected: &[&str], limit: Duration) -> Duration {
    let started = Instant::now();
    let mut seen = BTreeMap::new();
    while started.elapsed() < limit {
        seen = owners(stack).await;
        let counts: Vec<usize> = seen.values().copied().collect();
        let even = counts.iter().max().unwrap_or(&0) - counts.iter().min().unwrap_or(&0) <= 1;
        if seen.keys().map(String::as_str).eq(expected.iter().copied())
            && counts.iter().sum::<usize>() == PARTITIONS as usize
            && even
        {
            return started.elapsed();
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("partitions not spread over {expected:?} within {limit:?}: {seen:?}");
}

async fn processor(stack: &Stack, instance: &str) -> ServiceProcess {
    let addr = ([127, 0, 0, 1], boost_testkit::free_port()).into();
    let mut command = stack.processor_command(env!("CARGO_BIN_EXE_boost-test-processor"), addr);
    command
        .env("BOOST_PROCESSOR_INSTANCE", instance)
        .env("BOOST_LOG", "warn")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
    ServiceProcess::spawn(command, addr).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn test_three_processors_share_take_over_and_fence_with_nothing_lost() {
    let mut stack = Stack::start_on(TestBroker::start().with_partitions(PARTITIONS)).await;
    let (project, key) = stack
        .project_with_key(&["events:write", "events:read"])
        .await;
    let ingest = ingest_client(&stack).await;
    // The in-process processor steps aside; its leases expire.
    stack.kill_processor();
    let load = steady_load(&ingest, &key, WORKERS, EVENTS_PER_WORKER, SEND_TIME_LIMIT);

    let p1 = processor(&stack, "p1").await;
    let p2 = processor(&stack, "p2").await;
    let p3 = processor(&stack, "p3").await;
    let took = spread_among(&stack, &["p1", "p2", "p3"], Duration::from_secs(15)).await;
    println!("3 instances: partitions spread evenly {took:?} after the third served");
    let mut status_client = ProcessorServiceClient::connect(url(p1.addr))
        .await
        .expect("connect p1");
    // A claimed partition shows in the status once its consumer started.
    let mut status = GetStatusResponse::default();
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        status = status_client
            .get_status(with_key(&key, GetStatusRequest {}))
            .await
            .expect("GetStatus")
            .into_inner();
        // The table is p1's last read (a third of a lease old at most).
        let own = status.leases.iter().filter(|l| l.owner == "p1").count();
        let current = status
            .leases
            .iter()
            .all(|l| ["p1", "p2", "p3"].contains(&l.owner.as_str()));
        if current && own > 0 && status.partitions.len() == own {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(status.instance, "p1");
    assert_eq!(
        status.leases.len(),
        PARTITIONS as usize,
        "{:?}",
        status.leases
    );
    assert!(
        status
            .leases
            .iter()
            .all(|l| ["p1", "p2", "p3"].contains(&l.owner.as_str())),
        "{:?}",
        status.leases
    );
    let own = status.leases.iter().filter(|l| l.owner == "p1").count();
    assert_eq!(
        status.partitions.len(),
        own,
        "p1 reports the partitions it holds"
    );

    p2.kill();
    let takeover = spread_among(&stack, &["p1", "p3"], Duration::from_secs(15)).await;
    println!("p2 SIGKILLed: its partitions taken over after {takeover:?}");
    assert!(
        takeover <= lease() * 2 + Duration::from_millis(500),
        "takeover took {takeover:?}, over 2 × the {:?} lease",
        lease()
    );

    let _p2 = processor(&stack, "p2").await;
    let rebalance = spread_among(&stack, &["p1", "p2", "p3"], Duration::from_secs(15)).await;
    println!("p2 restarted: rebalanced after {rebalance:?}");

    // Pause p3 past its lease: p1 and p2 take its partitions; when it
    // resumes, its batches in hand are refused, then it rejoins.
    p3.signal("STOP");
    spread_among(&stack, &["p1", "p2"], Duration::from_secs(15)).await;
    p3.signal("CONT");
    spread_among(&stack, &["p1", "p2", "p3"], Duration::from_secs(15)).await;

    // A graceful stop gives the leases back before the process exits: none
    // is still p3's when it is gone (an expiry would take a lease time).
    let mut p3 = p3;
    p3.signal("TERM");
    assert!(
        p3.exited_within(Duration::from_secs(10)).await,
        "p3 did not stop on SIGTERM"
    );
    let held = owners(&stack).await;
    assert!(
        !held.contains_key("p3"),
        "p3 kept leases after it stopped: {held:?}"
    );
    let handover = spread_among(&stack, &["p1", "p2"], Duration::from_secs(15)).await;
    println!("p3 stopped gracefully: partitions moved {handover:?} after it exited");

    let ledger = ledger(load).await;
    let accepted = ledger.values().filter(|o| **o == Outcome::Accepted).count();
    assert!(
        accepted >= WORKERS * EVENTS_PER_WORKER / 4,
        "too few accepted: {accepted}"
    );
    assert!(
        eventually(Duration::from_secs(60), || caught_up(&stack)).await,
        "the processors did not catch up within 60 s"
    );
    let stored = assert_exactly_once(&stack, project, &ledger).await;
    println!(
        "{accepted} acknowledged, {} stored exactly once",
        stored.len()
    );
}

#[tokio::test]
async fn test_a_batch_under_a_taken_over_lease_is_refused() {
    let db = TestDatabase::create().await;
    let log = LogKey {
        cluster_id: "fence-test",
        topic: "boost.events",
    };
    let pool = db.pool();
    let client = pool.get().await.expect("connection");
    leases::ensure(&client, &log, 1).await.expect("lease rows");
    let short = Duration::from_millis(1);
    let old = leases::claim(&client, &log, "a", 1, short)
        .await
        .expect("claim")[0];
    tokio::time::sleep(Duration::from_millis(20)).await;
    let new = leases::claim(&client, &log, "b", 1, lease())
        .await
        .expect("claim")[0];
    assert_eq!(new.epoch, old.epoch + 1);
    let renewed = leases::renew(&client, &log, "a", &[old], lease())
        .await
        .expect("renew");
    assert!(renewed.is_empty(), "a lease taken over is not renewed");

    let empty = Batch::default();
    let days = DayPartitions::default();
    let stale = batch::write(&pool, &days, &log, Some(old), 0, 42, &empty).await;
    assert_eq!(stale.expect("write"), Commit::Fenced);
    let stored = boost_storage::offsets::load_one(&client, &log, 0)
        .await
        .expect("offset");
    assert!(
        stored.is_none(),
        "a fenced batch stored its offset: {stored:?}"
    );
    let current = batch::write(&pool, &days, &log, Some(new), 0, 42, &empty).await;
    assert_eq!(current.expect("write"), Commit::Stored(0));
    let stored = boost_storage::offsets::load_one(&client, &log, 0)
        .await
        .expect("offset");
    assert_eq!(stored.map(|s| s.next_offset), Some(42));
}

/// The flake this guards against: an instance paused (SIGSTOP) inside a
/// batch's transaction holds its lease row locked, and `claim` skips locked
/// rows, so without a server-side limit no one could take the partition
/// over until it resumed. The processor's connections end a transaction
/// idle for a lease time; then the claim succeeds and the paused batch
/// cannot commit.
#[tokio::test]
async fn test_an_owner_paused_inside_a_batch_does_not_block_takeover() {
    let db = TestDatabase::create().await;
    let log = LogKey {
        cluster_id: "paused-owner-test",
        topic: "boost.events",
    };
    let paused_pool = boost_storage::pool::build(&boost_storage::PostgresArgs {
        idle_in_transaction_timeout: Some(lease()),
        ..db.args()
    })
    .expect("pool");
    let pool = db.pool();
    let client = pool.get().await.expect("connection");
    leases::ensure(&client, &log, 1).await.expect("lease rows");
    let held = leases::claim(&client, &log, "a", 1, Duration::from_millis(1))
        .await
        .expect("claim")[0];

    // "a" is inside a batch: the fence check has locked the lease row, and
    // then the process stops sending anything.
    let mut paused = paused_pool.get().await.expect("connection");
    let tx = paused.transaction().await.expect("begin");
    assert!(leases::check_fence(&tx, &log, held).await.expect("fence"));
    tokio::time::sleep(Duration::from_millis(20)).await;
    let blocked = leases::claim(&client, &log, "b", 1, lease())
        .await
        .expect("claim");
    assert!(
        blocked.is_empty(),
        "the locked row was claimed: {blocked:?}"
    );

    let started = Instant::now();
    let mut claimed = Vec::new();
    while claimed.is_empty() && started.elapsed() < lease() * 3 {
        tokio::time::sleep(Duration::from_millis(50)).await;
        claimed = leases::claim(&client, &log, "b", 1, lease())
            .await
            .expect("claim");
    }
    assert_eq!(
        claimed.first().map(|l| l.epoch),
        Some(held.epoch + 1),
        "not taken over within 3 × the {:?} lease",
        lease()
    );
    println!(
        "paused owner's lease taken over after {:?}",
        started.elapsed()
    );
    assert!(
        tx.commit().await.is_err(),
        "the paused owner's transaction committed after the takeover"
    );
}
