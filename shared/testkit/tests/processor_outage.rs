//! A database outage is not a poison event. PostgreSQL (a private server)
//! is stopped like a crash for 40 s while a steady load goes on: ingest
//! keeps accepting (Kafka buffers), the processor waits and retries,
//! reports itself stalled, dead-letters nothing, and once the database is
//! back the lag drains and every acknowledged event is stored exactly once,
//! with rollups and user counts equal to the raw rows.

mod common;

use std::{
    collections::{HashMap, HashSet},
    time::{Duration, Instant},
};

use boost_proto::processor::v1::{
    GetStatusRequest, GetStatusResponse, processor_service_client::ProcessorServiceClient,
};
use boost_testkit::{Stack, TestBroker, TestDatabase, TestPostgres, stack::url};
use common::*;
use tonic::transport::Channel;
use tonic_health::pb::{
    HealthCheckRequest, health_check_response::ServingStatus, health_client::HealthClient,
};
use uuid::Uuid;

const OUTAGE: Duration = Duration::from_secs(40);
/// Load before, during and after the outage; bounded in time and count.
const LOAD_LIMIT: Duration = Duration::from_secs(60);
const MAX_CALLS: usize = 2_000;
const EVENTS_PER_CALL: usize = 10;

async fn status(processor: &mut ProcessorServiceClient<Channel>, key: &str) -> GetStatusResponse {
    processor
        .get_status(with_key(key, GetStatusRequest {}))
        .await
        .expect("status (served without the database)")
        .into_inner()
}

async fn consuming(health: &mut HealthClient<Channel>) -> ServingStatus {
    let answer = health
        .check(HealthCheckRequest {
            service: "consuming".into(),
        })
        .await
        .expect("health")
        .into_inner();
    ServingStatus::try_from(answer.status).expect("known status")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn test_database_outage_loses_nothing_dead_letters_nothing_and_drains() {
    let mut postgres = TestPostgres::start();
    let db = TestDatabase::create_on(&postgres.url).await;
    let stack = Stack::start_with(TestBroker::start(), db).await;
    let (project, key) = stack
        .project_with_key(&["events:write", "events:read"])
        .await;
    let ingest = ingest_client(&stack).await;
    let processor_addr = url(stack.processor.expect("processor"));
    let mut processor = ProcessorServiceClient::connect(processor_addr.clone())
        .await
        .expect("connect processor");
    let health = HealthClient::new(
        Channel::from_shared(processor_addr)
            .expect("url")
            .connect()
            .await
            .expect("connect health"),
    );
    // The key is cached by auth (L1 + Redis) after its first use, so ingest
    // keeps authenticating while PostgreSQL is down.
    let mut warm = ingest.clone();
    track(&mut warm, &key, event("warm_up"))
        .await
        .expect("first event");

    let started = Instant::now();
    let stop_load = tokio_util::sync::CancellationToken::new();
    let sender = {
        let mut ingest = ingest.clone();
        let key = key.clone();
        let stop_load = stop_load.clone();
        tokio::spawn(async move {
            // event_id → whether ingest acknowledged it.
            let mut ledger: HashMap<Uuid, bool> = HashMap::new();
            for call in 0..MAX_CALLS {
                if stop_load.is_cancelled() || started.elapsed() > LOAD_LIMIT {
                    break;
                }
                let events: Vec<_> = (0..EVENTS_PER_CALL)
                    .map(|i| {
                        let mut e = event("steady");
                        e.event_id = Uuid::now_v7().to_string();
                        e.user_id = format!("user-{}", (call + i) % 13);
                        e
                    })
                    .collect();
                let ids: Vec<Uuid> = events
                    .iter()
                    .map(|e| e.event_id.parse().expect("uuid"))
                    .collect();
                let answer = ingest
                    .ingest_batch(with_key(
                        &key,
                        boost_proto::ingest::v1::IngestBatchRequest {
                            events,
                            ..Default::default()
                        },
                    ))
                    .await;
                match answer {
                    Ok(answer) => {
                        for (id, result) in ids.iter().zip(&answer.get_ref().results) {
                            let accepted = result.status
                                == boost_proto::ingest::v1::EventStatus::Accepted as i32;
                            ledger.insert(*id, accepted);
                        }
                    }
                    Err(_) => ledger.extend(ids.iter().map(|id| (*id, false))),
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            ledger
        })
    };

    tokio::time::sleep(Duration::from_secs(3)).await;
    postgres.stop();
    let outage_started = Instant::now();
    // The processor notices: nothing stored while records wait (stall
    // threshold 10 s), the health status says so, and it keeps serving.
    let stalled = eventually(Duration::from_secs(25), || {
        let mut health = health.clone();
        async move { consuming(&mut health).await == ServingStatus::NotServing }
    })
    .await;
    assert!(
        stalled,
        "consuming did not turn NOT_SERVING during the outage"
    );
    let during = status(&mut processor, &key).await;
    assert!(
        during.total_lag > 0,
        "records wait during the outage: {during:?}"
    );
    assert!(during.partitions.iter().any(|p| p.stalled));
    tokio::time::sleep(OUTAGE.saturating_sub(outage_started.elapsed())).await;
    postgres.restart();
    tokio::time::sleep(Duration::from_secs(3)).await;
    stop_load.cancel();
    let ledger = sender.await.expect("sender");
    let accepted: HashSet<Uuid> = ledger
        .iter()
        .filter(|(_, accepted)| **accepted)
        .map(|(id, _)| *id)
        .collect();
    assert!(
        accepted.len() >= 300,
        "ingest kept accepting through the outage: {} accepted",
        accepted.len()
    );

    // The lag drains and the processor reports itself healthy again.
    let drained = eventually(Duration::from_secs(60), || {
        let mut processor = processor.clone();
        let key = key.clone();
        async move { status(&mut processor, &key).await.total_lag == 0 }
    })
    .await;
    assert!(
        drained,
        "lag did not drain: {:?}",
        status(&mut processor, &key).await
    );
    assert!(
        eventually(Duration::from_secs(5), || {
            let mut health = health.clone();
            async move { consuming(&mut health).await == ServingStatus::Serving }
        })
        .await,
        "consuming did not turn SERVING again"
    );

    let stored = stored_ids(&stack, project).await;
    let stored_set: HashSet<Uuid> = stored.iter().copied().collect();
    assert_eq!(stored.len(), stored_set.len(), "an event was stored twice");
    let missing = accepted.difference(&stored_set).count();
    assert_eq!(missing, 0, "{missing} acknowledged events lost");
    let pool = stack.db.pool();
    let letters: i64 = pool
        .get()
        .await
        .expect("connection")
        .query_one("SELECT count(*) FROM dead_letters", &[])
        .await
        .expect("count dead letters")
        .get(0);
    assert_eq!(letters, 0, "the outage dead-lettered events");
    let (raw, rolled_up, with_user, per_user) = derived_counts(&stack, project).await;
    assert_eq!(rolled_up, raw, "hourly rollups differ from the raw count");
    assert_eq!(
        per_user, with_user,
        "end-user counts differ from the raw count"
    );
}
