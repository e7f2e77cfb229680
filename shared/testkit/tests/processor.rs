//! The processor over real PostgreSQL and broker: handlers, end users,
//! hourly rollups and per-event dead letters.

mod common;

use std::{
    collections::BTreeMap,
    time::{Duration, SystemTime},
};

use boost_proto::processor::v1::{
    DeadLetter, DeadLetterStatus, GetDeadLetterRequest, GetDeadLetterResponse,
    ListDeadLettersRequest, PurgeDeadLettersRequest, ReplayDeadLettersRequest,
    dead_letter_service_client::DeadLetterServiceClient,
};
use boost_proto::{
    common::v1::{Event, EventBatchRecord, EventKind},
    ingest::v1::IngestBatchRequest,
    json::json_to_struct,
    prost_types::Timestamp,
    query::v1::{EventState, GetEventRequest},
};
use boost_testkit::{Stack, stack::url};
use common::*;
use tonic::Code;
use uuid::Uuid;

fn at(seconds_ago: u64) -> Option<Timestamp> {
    Some(Timestamp::from(
        SystemTime::now() - Duration::from_secs(seconds_ago),
    ))
}

fn user_event(kind: EventKind, event_type: &str, user: &str, seconds_ago: u64) -> Event {
    Event {
        kind: kind as i32,
        user_id: user.into(),
        timestamp: at(seconds_ago),
        service: "web".into(),
        ..event(event_type)
    }
}

/// Writes one record of `project`'s `events` straight to partition 0, past
/// ingest's validation.
async fn produce_raw(stack: &Stack, project: Uuid, events: Vec<Event>) {
    stack
        .produce_raw(&EventBatchRecord {
            project_id: project.to_string(),
            events,
            receive_time: at(0),
        })
        .await;
}

fn traits(json: serde_json::Value) -> Option<boost_proto::prost_types::Struct> {
    Some(json_to_struct(&json))
}

#[tokio::test]
async fn test_users_and_rollups_follow_the_new_rows() {
    let stack = Stack::start().await;
    let (project, key) = stack.project_with_key(&["events:write"]).await;
    let mut ingest = ingest_client(&stack).await;
    let events = vec![
        Event {
            properties: traits(serde_json::json!({"plan": "free", "name": "Ada"})),
            ..user_event(EventKind::Identify, "identify", "u1", 300)
        },
        user_event(EventKind::Track, "page_viewed", "u1", 200),
        user_event(EventKind::Track, "page_viewed", "u1", 100),
        Event {
            properties: traits(serde_json::json!({"plan": "pro", "seats": 3})),
            ..user_event(EventKind::Identify, "identify", "u1", 50)
        },
        user_event(EventKind::Track, "checkout", "u2", 10),
        event("anonymous"),
    ];
    let answer = ingest
        .ingest_batch(with_key(
            &key,
            IngestBatchRequest {
                events,
                ..Default::default()
            },
        ))
        .await
        .expect("batch")
        .into_inner();
    assert_eq!(answer.accepted, 6);
    let stored = eventually(Duration::from_secs(10), || async {
        derived_counts(&stack, project).await == (6, 6, 5, 5)
    })
    .await;
    assert!(
        stored,
        "counts: {:?}",
        derived_counts(&stack, project).await
    );

    let pool = stack.db.pool();
    let client = pool.get().await.expect("connection");
    let u1 = client
        .query_one(
            "SELECT traits, events, last_seen > first_seen FROM end_users
             WHERE project_id = $1 AND user_id = 'u1'",
            &[&project],
        )
        .await
        .expect("u1 stored");
    assert_eq!(
        u1.get::<_, serde_json::Value>(0),
        serde_json::json!({"plan": "pro", "name": "Ada", "seats": 3}),
        "later traits win, earlier ones stay"
    );
    assert_eq!(u1.get::<_, i64>(1), 4);
    assert!(u1.get::<_, bool>(2));
    let by_type: BTreeMap<String, i64> = client
        .query(
            "SELECT type, sum(events)::int8 FROM event_rollups_hourly
             WHERE project_id = $1 GROUP BY type",
            &[&project],
        )
        .await
        .expect("rollups")
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    let expected: BTreeMap<String, i64> = [
        ("anonymous", 1),
        ("checkout", 1),
        ("identify", 2),
        ("page_viewed", 2),
    ]
    .into_iter()
    .map(|(t, n)| (t.to_string(), n))
    .collect();
    assert_eq!(by_type, expected);
}

#[tokio::test]
async fn test_refused_event_is_dead_lettered_with_attempts_and_the_rest_is_stored() {
    let stack = Stack::start().await;
    let (project, key) = stack.project_with_key(&["events:read"]).await;
    // Written straight to the topic, past ingest's validation: an IDENTIFY
    // without a user and a LOG without its body, between two good events.
    let bad_identify = Event {
        event_id: Uuid::now_v7().to_string(),
        kind: EventKind::Identify as i32,
        ..event("identify")
    };
    let bad_log = Event {
        event_id: Uuid::now_v7().to_string(),
        kind: EventKind::Log as i32,
        ..event("app.log")
    };
    let good = |name: &str| Event {
        event_id: Uuid::now_v7().to_string(),
        kind: EventKind::Track as i32,
        timestamp: at(1),
        ..event(name)
    };
    produce_raw(
        &stack,
        project,
        vec![
            good("first"),
            bad_identify.clone(),
            bad_log.clone(),
            good("second"),
        ],
    )
    .await;
    // The same bad identify again, as a replay would send it.
    produce_raw(&stack, project, vec![bad_identify.clone(), good("third")]).await;

    let pool = stack.db.pool();
    let done = eventually(Duration::from_secs(10), || async {
        derived_counts(&stack, project).await.0 == 3
    })
    .await;
    assert!(
        done,
        "the good events around the refused ones were not stored"
    );
    let client = pool.get().await.expect("connection");
    let letters: BTreeMap<String, (String, String, i32)> = client
        .query(
            "SELECT event_id::text, handler, status, attempts FROM dead_letters
             WHERE project_id = $1 AND event_id IS NOT NULL",
            &[&project],
        )
        .await
        .expect("dead letters")
        .iter()
        .map(|r| (r.get(0), (r.get(1), r.get(2), r.get(3))))
        .collect();
    assert_eq!(
        letters.get(&bad_identify.event_id),
        Some(&("identify".to_string(), "failed".to_string(), 2)),
        "{letters:?}"
    );
    assert_eq!(
        letters.get(&bad_log.event_id),
        Some(&("telemetry".to_string(), "failed".to_string(), 1)),
        "{letters:?}"
    );

    // GetEvent shows the refused event as FAILED, with the reason and attempts.
    let mut query = query_client(&stack).await;
    let failed = query
        .get_event(with_key(
            &key,
            GetEventRequest {
                event_id: bad_identify.event_id.clone(),
            },
        ))
        .await
        .expect("get failed event")
        .into_inner();
    assert_eq!(failed.state, EventState::Failed as i32);
    assert_eq!(failed.attempts, 2);
    assert!(failed.error.contains("user_id"), "{}", failed.error);
    assert_eq!(
        failed.event.and_then(|e| e.event).map(|e| e.event_id),
        Some(bad_identify.event_id)
    );
}

/// The dead-letter test's cast: one project's keys by scope, another
/// project's key, and a client of the processor's dead-letter API.
struct LetterDesk {
    reader: String,
    writer: String,
    admin: String,
    stranger: String,
    dlq: DeadLetterServiceClient<tonic::transport::Channel>,
}

impl LetterDesk {
    async fn list(&mut self, key: &str, status: DeadLetterStatus) -> Vec<DeadLetter> {
        let request = ListDeadLettersRequest {
            status: status as i32,
            ..Default::default()
        };
        self.dlq
            .list_dead_letters(with_key(key, request))
            .await
            .expect("list")
            .into_inner()
            .dead_letters
    }

    async fn get(&mut self, key: &str, id: i64) -> Result<GetDeadLetterResponse, tonic::Status> {
        self.dlq
            .get_dead_letter(with_key(key, GetDeadLetterRequest { id }))
            .await
            .map(tonic::Response::into_inner)
    }

    async fn replay(&mut self, key: &str, id: i64) -> Result<i64, tonic::Status> {
        let request = ReplayDeadLettersRequest { ids: vec![id] };
        self.dlq
            .replay_dead_letters(with_key(key, request))
            .await
            .map(|r| r.into_inner().replayed)
    }

    async fn purge_failed(&mut self, key: &str) -> Result<i64, tonic::Status> {
        let request = PurgeDeadLettersRequest {
            ids: vec![],
            status: DeadLetterStatus::Failed as i32,
        };
        self.dlq
            .purge_dead_letters(with_key(key, request))
            .await
            .map(|r| r.into_inner().purged)
    }

    /// Another project sees nothing and cannot touch the letter.
    async fn assert_stranger_cannot_reach(&mut self, letter: i64) {
        let stranger = self.stranger.clone();
        assert!(
            self.list(&stranger, DeadLetterStatus::Unspecified)
                .await
                .is_empty()
        );
        let status = self.get(&stranger, letter).await.expect_err("stranger get");
        assert_eq!(status.code(), Code::NotFound);
        assert_eq!(
            self.replay(&stranger, letter)
                .await
                .expect("stranger replay"),
            0
        );
    }

    /// Reading does not allow replaying, writing does not allow purging.
    async fn assert_scopes_guard_changes(&mut self, letter: i64) {
        let (reader, writer) = (self.reader.clone(), self.writer.clone());
        let denied = self
            .replay(&reader, letter)
            .await
            .expect_err("reader replay");
        assert_eq!(denied.code(), Code::PermissionDenied);
        let denied = self
            .dlq
            .purge_dead_letters(with_key(&writer, PurgeDeadLettersRequest::default()))
            .await
            .expect_err("writer purge");
        assert_eq!(denied.code(), Code::PermissionDenied);
    }

    /// The replayed event goes back through the topic, its handler refuses
    /// it again, and the letter is FAILED with a second attempt.
    async fn assert_replay_tries_again(&mut self, letter: i64) {
        let writer = self.writer.clone();
        assert_eq!(self.replay(&writer, letter).await.expect("replay"), 1);
        let failed_again = eventually(Duration::from_secs(10), || {
            let poller = self.poller();
            async move {
                let letter = poller.letter(letter).await;
                letter.attempts == 2 && letter.status == DeadLetterStatus::Failed as i32
            }
        })
        .await;
        assert!(failed_again, "the replayed event was not tried again");
    }

    /// A client of its own for polling, reading with the reader key.
    fn poller(&self) -> LetterPoller {
        LetterPoller {
            dlq: self.dlq.clone(),
            key: self.reader.clone(),
        }
    }
}

/// Reads letters with one key, for `eventually`'s checks.
struct LetterPoller {
    dlq: DeadLetterServiceClient<tonic::transport::Channel>,
    key: String,
}

impl LetterPoller {
    async fn letter(mut self, id: i64) -> DeadLetter {
        self.dlq
            .get_dead_letter(with_key(&self.key, GetDeadLetterRequest { id }))
            .await
            .expect("get")
            .into_inner()
            .dead_letter
            .expect("letter")
    }

    async fn count(mut self) -> usize {
        let request = with_key(&self.key, ListDeadLettersRequest::default());
        let answer = self.dlq.list_dead_letters(request).await.expect("list");
        answer.into_inner().dead_letters.len()
    }
}

#[tokio::test]
async fn test_dead_letter_rpcs_list_replay_and_purge_within_the_project() {
    let stack = Stack::start().await;
    let (project, reader) = stack.project_with_key(&["events:read"]).await;
    let (_, stranger) = stack
        .project_with_key(&["events:read", "events:write", "keys:admin"])
        .await;
    let mut desk = LetterDesk {
        writer: stack.key_for(project, &["events:write"]).await,
        admin: stack.key_for(project, &["keys:admin"]).await,
        reader,
        stranger,
        dlq: DeadLetterServiceClient::connect(url(stack.processor.expect("processor")))
            .await
            .expect("connect processor"),
    };
    // Two events their handlers refuse (no user id), past ingest's validation.
    let refused = |kind: EventKind, name: &str| Event {
        event_id: Uuid::now_v7().to_string(),
        kind: kind as i32,
        ..event(name)
    };
    let bad_log = refused(EventKind::Log, "app.log");
    let letters = vec![refused(EventKind::Identify, "identify"), bad_log.clone()];
    produce_raw(&stack, project, letters).await;

    let reader = desk.reader.clone();
    let listed = eventually(Duration::from_secs(10), || {
        let poller = desk.poller();
        async move { poller.count().await == 2 }
    })
    .await;
    assert!(listed, "two letters were not listed");
    let listed = desk.list(&reader, DeadLetterStatus::Unspecified).await;
    let log_letter = listed
        .iter()
        .find(|l| l.event_id == bad_log.event_id)
        .expect("log letter")
        .id;
    let got = desk.get(&reader, log_letter).await.expect("get");
    assert_eq!(
        got.event.map(|e| e.event_id),
        Some(bad_log.event_id.clone())
    );

    desk.assert_stranger_cannot_reach(log_letter).await;
    desk.assert_scopes_guard_changes(log_letter).await;
    desk.assert_replay_tries_again(log_letter).await;

    // Purge every failed letter; both actions are in the audit trail.
    let admin = desk.admin.clone();
    assert_eq!(desk.purge_failed(&admin).await.expect("purge"), 2);
    assert!(
        desk.list(&reader, DeadLetterStatus::Unspecified)
            .await
            .is_empty()
    );
    let pool = stack.db.pool();
    let client = pool.get().await.expect("connection");
    let actions: Vec<String> = client
        .query(
            "SELECT action FROM audit_log WHERE project_id = $1 AND action LIKE 'dead_letters.%' ORDER BY id",
            &[&project],
        )
        .await
        .expect("audit")
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(actions, vec!["dead_letters.replay", "dead_letters.purge"]);
}

/// COMMITTED answers after the rows are in PostgreSQL (read-your-writes);
/// with the processor down it answers ACCEPTED, not stored, once the commit
/// timeout passes, and nothing is lost. GetStatus shows the stored
/// watermarks, zero lag and freshness samples.
#[tokio::test]
async fn test_committed_ack_reads_its_writes_and_status_shows_progress() {
    use boost_proto::{
        ingest::v1::{AckLevel, EventStatus},
        processor::v1::{GetStatusRequest, processor_service_client::ProcessorServiceClient},
    };
    use boost_testkit::stack::url;

    let mut stack = Stack::start().await;
    let (project, key) = stack
        .project_with_key(&["events:write", "events:read"])
        .await;
    let mut ingest = ingest_client(&stack).await;
    let batch = |n: usize, ack: AckLevel| IngestBatchRequest {
        events: (0..n).map(|_| event("committed")).collect(),
        ack: ack as i32,
    };

    let answer = ingest
        .ingest_batch(with_key(&key, batch(50, AckLevel::Committed)))
        .await
        .expect("committed batch")
        .into_inner();
    assert_eq!(answer.accepted, 50);
    assert!(
        answer.results.iter().all(|r| r.stored),
        "every event stored before the answer"
    );
    // No waiting: the rows are there the moment the answer arrives.
    assert_eq!(stored_ids(&stack, project).await.len(), 50);

    let answer = ingest
        .ingest_batch(with_key(&key, batch(5, AckLevel::Broker)))
        .await
        .expect("broker batch")
        .into_inner();
    assert_eq!(answer.accepted, 5);
    assert!(answer.results.iter().all(|r| !r.stored));

    let status = ingest
        .ingest_batch(with_key(
            &key,
            IngestBatchRequest {
                events: vec![event("bad_ack")],
                ack: 99,
            },
        ))
        .await
        .expect_err("unknown ack level");
    assert_eq!(status.code(), Code::InvalidArgument);
    assert_eq!(violated_field(&status), "ack");

    // Processor down: the answer waits the commit timeout (3 s by default),
    // then says accepted but not stored; the event is stored once it is back.
    stack.kill_processor();
    let started = std::time::Instant::now();
    let answer = ingest
        .ingest_batch(with_key(&key, batch(1, AckLevel::Committed)))
        .await
        .expect("committed batch without processor")
        .into_inner();
    let waited = started.elapsed();
    assert_eq!(answer.results[0].status, EventStatus::Accepted as i32);
    assert!(!answer.results[0].stored);
    assert!(waited >= Duration::from_secs(2), "waited {waited:?}");
    stack.start_processor().await;
    assert!(
        eventually(Duration::from_secs(20), || async {
            stored_ids(&stack, project).await.len() == 56
        })
        .await,
        "stored after restart: {}",
        stored_ids(&stack, project).await.len()
    );

    let mut processor = ProcessorServiceClient::connect(url(stack.processor.expect("processor")))
        .await
        .expect("connect processor");
    let caught_up = eventually(Duration::from_secs(10), || {
        let mut processor = processor.clone();
        let key = key.clone();
        async move {
            let status = processor
                .get_status(with_key(&key, GetStatusRequest {}))
                .await
                .expect("status")
                .into_inner();
            status.total_lag == 0 && status.partitions.iter().all(|p| p.high_watermark >= 0)
        }
    })
    .await;
    assert!(caught_up, "lag drains to zero");
    let status = processor
        .get_status(with_key(&key, GetStatusRequest {}))
        .await
        .expect("status")
        .into_inner();
    let partitions = boost_kafka::KafkaArgs::with_brokers("x").partitions;
    assert_eq!(status.partitions.len(), partitions as usize);
    let stored_records: i64 = status.partitions.iter().map(|p| p.stored_offset).sum();
    assert!(
        stored_records >= 1,
        "the restarted instance resumed past stored records"
    );
    assert!(status.partitions.iter().all(|p| p.lag == 0 && !p.stalled));
    // The record stored after the restart was sampled: ingest → stored took
    // at least the time the processor was down.
    assert!(status.freshness_samples >= 1);
    assert!(status.freshness_max_ms >= 2_000, "{status:?}");

    let (_, writer) = stack.project_with_key(&["events:write"]).await;
    let denied = processor
        .get_status(with_key(&writer, GetStatusRequest {}))
        .await
        .expect_err("needs events:read");
    assert_eq!(denied.code(), Code::PermissionDenied);
}

/// Retention: a project keeps `retention_days` whole UTC days. Older events,
/// and the rollups of those days, go when the processor starts (the daily
/// job's first run) and whenever `retention::run` is called (what
/// `boost-retention` does); other projects keep theirs; one run at a time.
#[tokio::test]
async fn test_retention_expires_old_days_per_project() {
    use boost_storage::retention;

    let mut stack = Stack::start().await;
    let (keeping, keep_key) = stack.project_with_key(&["events:write"]).await;
    let (short, short_key) = stack.project_with_key(&["events:write"]).await;
    let mut ingest = ingest_client(&stack).await;
    let aged = |seconds_ago: u64| Event {
        timestamp: at(seconds_ago),
        service: "web".into(),
        ..event("aged")
    };
    const DAY: u64 = 86_400;
    for key in [&keep_key, &short_key] {
        let answer = ingest
            .ingest_batch(with_key(
                key,
                IngestBatchRequest {
                    events: vec![aged(3600), aged(3 * DAY + 3600), aged(10 * DAY + 3600)],
                    ..Default::default()
                },
            ))
            .await
            .expect("batch")
            .into_inner();
        assert_eq!(answer.accepted, 3);
    }
    assert!(
        eventually(Duration::from_secs(10), || async {
            stored_ids(&stack, keeping).await.len() == 3
                && stored_ids(&stack, short).await.len() == 3
        })
        .await
    );

    let pool = stack.db.pool();
    let client = pool.get().await.expect("connection");
    assert!(retention::set_days(&client, short, 2).await.expect("set"));
    assert!(
        !retention::set_days(&client, Uuid::now_v7(), 2)
            .await
            .expect("set")
    );
    // The daily job runs at start-up.
    stack.kill_processor();
    stack.start_processor().await;
    assert!(
        eventually(Duration::from_secs(10), || async {
            stored_ids(&stack, short).await.len() == 1
        })
        .await,
        "the 3- and 10-day-old events of the 2-day project were not expired"
    );
    assert_eq!(
        stored_ids(&stack, keeping).await.len(),
        3,
        "30 days keep all"
    );
    assert_eq!(derived_counts(&stack, short).await.0, 1);
    assert_eq!(derived_counts(&stack, short).await.1, 1, "rollups follow");
    assert_eq!(derived_counts(&stack, keeping).await.1, 3);

    // On demand: nothing left to expire; the report names every project.
    let report = retention::run(&client, SystemTime::now(), |_| {})
        .await
        .expect("run")
        .expect("not locked");
    let of_short = report
        .projects
        .iter()
        .find(|e| e.project_id == short)
        .expect("short in report");
    assert_eq!((of_short.events, of_short.rollup_rows), (0, 0));
    assert!(
        report.dropped.is_empty(),
        "the 30-day project still needs every day"
    );
    let ten_days_ago: String = client
        .query_one(
            "SELECT 'events_' || to_char((now() - interval '10 days 1 hour') AT TIME ZONE 'UTC', 'YYYYMMDD')",
            &[],
        )
        .await
        .expect("partition name")
        .get(0);
    assert!(day_partitions(&client).await.contains(&ten_days_ago));
    // Once every project keeps 2 days, the older day partitions are dropped
    // whole, and the 30-day project's old events go with them.
    assert!(retention::set_days(&client, keeping, 2).await.expect("set"));
    let report = retention::run(&client, SystemTime::now(), |_| {})
        .await
        .expect("run")
        .expect("not locked");
    assert!(report.dropped.contains(&ten_days_ago), "{report:?}");
    assert!(!day_partitions(&client).await.contains(&ten_days_ago));
    assert_eq!(stored_ids(&stack, keeping).await.len(), 1);
    let (raw, rolled_up, _, _) = derived_counts(&stack, keeping).await;
    assert_eq!((raw, rolled_up), (1, 1), "rollups follow dropped days");
    let ids: i64 = client
        .query_one("SELECT count(*) FROM event_ids", &[])
        .await
        .expect("ids")
        .get(0);
    assert_eq!(ids, 2, "the expired events' ids are gone too");
    // One run at a time: with the lock held elsewhere, a run steps aside.
    let other = pool.get().await.expect("connection");
    other
        .execute("SELECT pg_advisory_lock($1)", &[&0x000B_0058_i64])
        .await
        .expect("hold the retention lock");
    assert!(
        retention::run(&client, SystemTime::now(), |_| {})
            .await
            .expect("run")
            .is_none()
    );
}

/// Names of the day partitions of `events`, oldest first.
async fn day_partitions(client: &boost_storage::Connection) -> Vec<String> {
    client
        .query(
            "SELECT c.relname::text FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
             WHERE i.inhparent = 'events'::regclass ORDER BY 1",
            &[],
        )
        .await
        .expect("partitions")
        .iter()
        .map(|r| r.get::<_, String>(0))
        .collect()
}
