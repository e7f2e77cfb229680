//! The tenant isolation suite: with two projects, every RPC that takes an
//! id or a filter is tried by project B against project A's data — read,
//! list, aggregate, tail, users, dead letters (list, get, replay, purge),
//! keys (list, create, revoke, rotate), projects (get, update, delete,
//! list) and event ids at ingest — and must deny or see nothing, while A,
//! as the control, still sees and keeps all of it. Then SQL as the reader
//! role: without a project setting, every tenant table shows no row.

mod common;

use std::time::{Duration, SystemTime};

use boost_proto::{
    auth::v1::{
        CreateApiKeyRequest, DeleteProjectRequest, GetProjectRequest, ListApiKeysRequest,
        ListProjectsRequest, RevokeApiKeyRequest, RotateApiKeyRequest, UpdateProjectRequest,
    },
    common::v1::{Event, EventBatchRecord, EventKind},
    ingest::v1::{AckLevel, EventStatus, IngestBatchRequest},
    processor::v1::{
        DeadLetterStatus, GetDeadLetterRequest, ListDeadLettersRequest, PurgeDeadLettersRequest,
        ReplayDeadLettersRequest, dead_letter_service_client::DeadLetterServiceClient,
    },
    prost_types::Timestamp,
    query::v1::{
        AggregateRequest, EventFilter, GetEventRequest, GetMetricsRequest, GetUserRequest, GroupBy,
        ListEventsRequest, ListUsersRequest, TailEventsRequest,
    },
};
use boost_testkit::{
    Stack,
    stack::{admin_request, url},
};
use common::*;
use tonic::{Code, Status};
use uuid::Uuid;

/// Codes that mean "not yours": the caller learns nothing beyond that.
const DENIED: [Code; 2] = [Code::NotFound, Code::PermissionDenied];

fn assert_denied<T: std::fmt::Debug>(what: &str, answer: Result<T, Status>) {
    match answer {
        Err(status) if DENIED.contains(&status.code()) => {}
        other => panic!("{what}: B reached A's data: {other:?}"),
    }
}

/// Project A's data that B goes after.
struct Victim {
    project: Uuid,
    key: String,
    key_id: String,
    event_id: String,
    user_id: String,
    letter: i64,
}

/// Project A with a stored event and user, a dead letter, and a key.
async fn victim(stack: &Stack) -> Victim {
    let (project, key) = stack
        .project_with_key(&["events:write", "events:read", "keys:admin"])
        .await;
    let mut ingest = ingest_client(stack).await;
    let stored = Event {
        event_id: Uuid::now_v7().to_string(),
        user_id: "alice".into(),
        kind: EventKind::Track as i32,
        ..event("secret_plan")
    };
    let answer = ingest
        .ingest_batch(with_key(
            &key,
            IngestBatchRequest {
                events: vec![stored.clone()],
                ack: AckLevel::Committed as i32,
            },
        ))
        .await
        .expect("A ingests")
        .into_inner();
    assert_eq!(answer.results[0].status, EventStatus::Accepted as i32);
    // An IDENTIFY without a user: the handler refuses it into a dead letter.
    let refused = Event {
        event_id: Uuid::now_v7().to_string(),
        kind: EventKind::Identify as i32,
        ..event("identify")
    };
    stack
        .produce_raw(&EventBatchRecord {
            project_id: project.to_string(),
            events: vec![refused],
            receive_time: Some(Timestamp::from(SystemTime::now())),
        })
        .await;
    let mut dlq = dead_letters(stack).await;
    let started = std::time::Instant::now();
    let letter = loop {
        if let Some(&letter) = list_letters(&mut dlq, &key).await.first() {
            break letter;
        }
        assert!(
            started.elapsed() < Duration::from_secs(15),
            "A's dead letter was not listed within 15 s"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let key_id = stack
        .auth_client()
        .await
        .list_api_keys(admin_request(ListApiKeysRequest {
            project_id: project.to_string(),
        }))
        .await
        .expect("operator lists A's keys")
        .into_inner()
        .api_keys[0]
        .id
        .clone();
    Victim {
        project,
        key,
        key_id,
        event_id: stored.event_id,
        user_id: stored.user_id,
        letter,
    }
}

async fn dead_letters(stack: &Stack) -> DeadLetterServiceClient<tonic::transport::Channel> {
    DeadLetterServiceClient::connect(url(stack.processor.expect("processor")))
        .await
        .expect("connect processor")
}

async fn list_letters(
    dlq: &mut DeadLetterServiceClient<tonic::transport::Channel>,
    key: &str,
) -> Vec<i64> {
    dlq.list_dead_letters(with_key(
        key,
        ListDeadLettersRequest {
            status: DeadLetterStatus::Unspecified as i32,
            ..Default::default()
        },
    ))
    .await
    .expect("list dead letters")
    .into_inner()
    .dead_letters
    .iter()
    .map(|l| l.id)
    .collect()
}

/// Every query RPC, as B, with A's ids and A's filter values.
async fn query_sees_nothing(stack: &Stack, a: &Victim, b: &str) {
    let mut query = query_client(stack).await;
    let a_filter = EventFilter {
        user_id: a.user_id.clone(),
        r#type: "secret_plan".into(),
        ..Default::default()
    };
    for (who, key, expected) in [("A", a.key.as_str(), 1), ("B", b, 0)] {
        let listed = list(
            &mut query,
            key,
            ListEventsRequest {
                filter: Some(a_filter.clone()),
                include_total: true,
                ..Default::default()
            },
        )
        .await
        .expect("list");
        assert_eq!(listed.events.len(), expected, "{who}'s ListEvents");
        let total = listed.total.map(|t| t.count).unwrap_or_default();
        assert_eq!(total, expected as i64, "{who}'s total");
        for group_by in [GroupBy::Type, GroupBy::User, GroupBy::Service] {
            let groups = query
                .aggregate(with_key(
                    key,
                    AggregateRequest {
                        filter: Some(a_filter.clone()),
                        group_by: group_by as i32,
                        ..Default::default()
                    },
                ))
                .await
                .expect("aggregate")
                .into_inner()
                .groups;
            let counted: i64 = groups.iter().map(|g| g.count).sum();
            assert_eq!(
                counted, expected as i64,
                "{who}'s Aggregate by {group_by:?}"
            );
        }
        let users = query
            .list_users(with_key(key, ListUsersRequest::default()))
            .await
            .expect("users")
            .into_inner()
            .users;
        assert_eq!(users.len(), expected, "{who}'s ListUsers");
        let metrics = query
            .get_metrics(with_key(key, GetMetricsRequest {}))
            .await
            .expect("metrics")
            .into_inner();
        assert_eq!(metrics.total_events, expected as i64, "{who}'s GetMetrics");
    }
    let event_of = |key: &str| {
        let mut query = query.clone();
        let request = with_key(
            key,
            GetEventRequest {
                event_id: a.event_id.clone(),
            },
        );
        async move { query.get_event(request).await }
    };
    event_of(&a.key).await.expect("A reads its event");
    assert_denied("GetEvent", event_of(b).await);
    let user_of = |key: &str| {
        let mut query = query.clone();
        let request = with_key(
            key,
            GetUserRequest {
                user_id: a.user_id.clone(),
            },
        );
        async move { query.get_user(request).await }
    };
    user_of(&a.key).await.expect("A reads its user");
    assert_denied("GetUser", user_of(b).await);
}

/// B's tail stays silent while A's, the control, gets A's new event.
async fn tail_sees_nothing(stack: &Stack, a: &Victim, b: &str) {
    let query = query_client(stack).await;
    let tail_of = |key: &str| {
        let mut query = query.clone();
        let request = with_key(key, TailEventsRequest::default());
        async move { query.tail_events(request).await.expect("tail").into_inner() }
    };
    let mut a_tail = tail_of(&a.key).await;
    let mut b_tail = tail_of(b).await;
    let mut ingest = ingest_client(stack).await;
    track(&mut ingest, &a.key, event("tailed_secret"))
        .await
        .expect("A tracks");
    let seen = tokio::time::timeout(Duration::from_secs(15), a_tail.message())
        .await
        .expect("A's tail within 15 s")
        .expect("A's tail")
        .expect("a message");
    assert!(!seen.events.is_empty(), "A's tail is the control");
    match tokio::time::timeout(Duration::from_secs(2), b_tail.message()).await {
        Err(_) => {}
        Ok(Ok(Some(message))) if message.events.is_empty() => {}
        Ok(other) => panic!("B's tail got something: {other:?}"),
    }
}

/// B, with every scope of its own project, goes after A's dead letter.
async fn dead_letters_untouchable(stack: &Stack, a: &Victim, b: &str) {
    let mut dlq = dead_letters(stack).await;
    assert!(
        list_letters(&mut dlq, b).await.is_empty(),
        "B lists A's letters"
    );
    let got = dlq
        .get_dead_letter(with_key(b, GetDeadLetterRequest { id: a.letter }))
        .await;
    assert_denied("GetDeadLetter", got);
    let replayed = dlq
        .replay_dead_letters(with_key(
            b,
            ReplayDeadLettersRequest {
                ids: vec![a.letter],
            },
        ))
        .await
        .map(|r| r.into_inner().replayed);
    assert!(
        matches!(replayed, Ok(0)) || matches!(&replayed, Err(s) if DENIED.contains(&s.code())),
        "B replayed A's letter: {replayed:?}"
    );
    for request in [
        PurgeDeadLettersRequest {
            ids: vec![a.letter],
            ..Default::default()
        },
        PurgeDeadLettersRequest::default(),
    ] {
        let purged = dlq
            .purge_dead_letters(with_key(b, request))
            .await
            .map(|r| r.into_inner().purged);
        assert!(
            matches!(purged, Ok(0)) || matches!(&purged, Err(s) if DENIED.contains(&s.code())),
            "B purged A's letter: {purged:?}"
        );
    }
    // The control: A's letter is still there, untouched.
    let letter = dlq
        .get_dead_letter(with_key(&a.key, GetDeadLetterRequest { id: a.letter }))
        .await
        .expect("A still has its letter")
        .into_inner()
        .dead_letter
        .expect("letter");
    assert_eq!(letter.attempts, 1, "B's replay reached A's letter");
}

/// B's key administrator goes after A's keys and project.
async fn keys_and_project_untouchable(stack: &Stack, a: &Victim, b: &str) {
    let mut auth = stack.auth_client().await;
    let project_id = a.project.to_string();
    assert_denied(
        "ListApiKeys",
        auth.list_api_keys(with_key(
            b,
            ListApiKeysRequest {
                project_id: project_id.clone(),
            },
        ))
        .await,
    );
    assert_denied(
        "CreateApiKey",
        auth.create_api_key(with_key(
            b,
            CreateApiKeyRequest {
                project_id: project_id.clone(),
                name: "planted".into(),
                scopes: vec!["events:read".into()],
                expire_time: None,
            },
        ))
        .await,
    );
    assert_denied(
        "RevokeApiKey",
        auth.revoke_api_key(with_key(
            b,
            RevokeApiKeyRequest {
                api_key_id: a.key_id.clone(),
            },
        ))
        .await,
    );
    assert_denied(
        "RotateApiKey",
        auth.rotate_api_key(with_key(
            b,
            RotateApiKeyRequest {
                api_key_id: a.key_id.clone(),
            },
        ))
        .await,
    );
    assert_denied(
        "GetProject",
        auth.get_project(with_key(
            b,
            GetProjectRequest {
                project_id: project_id.clone(),
            },
        ))
        .await,
    );
    assert_denied(
        "UpdateProject",
        auth.update_project(with_key(
            b,
            UpdateProjectRequest {
                project_id: project_id.clone(),
                name: "taken over".into(),
                retention_days: Some(1),
            },
        ))
        .await,
    );
    assert_denied(
        "DeleteProject",
        auth.delete_project(with_key(
            b,
            DeleteProjectRequest {
                project_id: project_id.clone(),
            },
        ))
        .await,
    );
    let listed = auth
        .list_projects(with_key(b, ListProjectsRequest::default()))
        .await;
    if let Ok(listed) = listed {
        assert!(
            listed
                .into_inner()
                .projects
                .iter()
                .all(|p| p.id != project_id),
            "B lists A's project"
        );
    }
    // The control: A's project, name and key are as they were.
    let project = auth
        .get_project(admin_request(GetProjectRequest {
            project_id: project_id.clone(),
        }))
        .await
        .expect("A's project still exists")
        .into_inner()
        .project
        .expect("project");
    assert_eq!(project.name, "test", "B renamed A's project");
    let keys = auth
        .list_api_keys(with_key(&a.key, ListApiKeysRequest { project_id }))
        .await
        .expect("A lists its keys")
        .into_inner()
        .api_keys;
    assert_eq!(keys.len(), 1, "B planted a key in A");
    assert!(keys[0].revoke_time.is_none(), "B revoked A's key");
    let mut ingest = ingest_client(stack).await;
    track(&mut ingest, &a.key, event("still_mine"))
        .await
        .expect("A's key still works");
}

/// Event ids are per project: B reusing A's id is a new event for B (no
/// DUPLICATE that would confirm A's id exists), and A's row is unchanged.
async fn event_ids_are_per_project(stack: &Stack, a: &Victim, b: &str) {
    let mut ingest = ingest_client(stack).await;
    let reused = Event {
        event_id: a.event_id.clone(),
        ..event("copycat")
    };
    let answer = track(&mut ingest, b, reused).await.expect("B tracks");
    let status = answer.result.expect("result").status;
    assert_eq!(
        status,
        EventStatus::Accepted as i32,
        "dedup crossed projects"
    );
    let mut query = query_client(stack).await;
    let mine = query
        .get_event(with_key(
            &a.key,
            GetEventRequest {
                event_id: a.event_id.clone(),
            },
        ))
        .await
        .expect("A's event")
        .into_inner()
        .event
        .and_then(|e| e.event)
        .expect("event");
    assert_eq!(mine.r#type, "secret_plan", "B's event replaced A's");
}

/// As the reader role, with no project set, no tenant table shows a row;
/// with B's project set, none of A's rows shows.
async fn sql_reader_sees_nothing(stack: &Stack, a: &Victim, b_project: Uuid) {
    let pool = stack.db.pool();
    let mut client = pool.get().await.expect("connection");
    let tables = [
        "events",
        "event_ids",
        "end_users",
        "event_rollups_hourly",
        "event_rollups_daily",
        "event_rollups_minutely",
        "dead_letters",
    ];
    let owner = client.transaction().await.expect("begin");
    for table in ["events", "end_users", "dead_letters"] {
        let n: i64 = owner
            .query_one(
                &format!("SELECT count(*) FROM {table} WHERE project_id = $1"),
                &[&a.project],
            )
            .await
            .expect("count as owner")
            .get(0);
        assert!(n > 0, "control: A has rows in {table}");
    }
    owner.rollback().await.expect("rollback");
    for project in [None, Some(b_project)] {
        let tx = client.transaction().await.expect("begin");
        tx.batch_execute("SET LOCAL ROLE boost_reader")
            .await
            .expect("reader role");
        if let Some(project) = project {
            tx.execute(
                "SELECT set_config('boost.project_id', $1, true)",
                &[&project.to_string()],
            )
            .await
            .expect("set project");
        }
        for table in tables {
            let n: i64 = tx
                .query_one(
                    &format!("SELECT count(*) FROM {table} WHERE project_id = $1"),
                    &[&a.project],
                )
                .await
                .expect("count as reader")
                .get(0);
            assert_eq!(
                n, 0,
                "{table}: A's rows visible to the reader as {project:?}"
            );
        }
        tx.rollback().await.expect("rollback");
    }
}

#[tokio::test]
async fn test_project_b_can_neither_see_nor_touch_project_a() {
    let stack = Stack::start().await;
    let a = victim(&stack).await;
    let (b_project, b) = stack
        .project_with_key(&["events:write", "events:read", "keys:admin"])
        .await;
    query_sees_nothing(&stack, &a, &b).await;
    tail_sees_nothing(&stack, &a, &b).await;
    dead_letters_untouchable(&stack, &a, &b).await;
    keys_and_project_untouchable(&stack, &a, &b).await;
    event_ids_are_per_project(&stack, &a, &b).await;
    sql_reader_sees_nothing(&stack, &a, b_project).await;
}
