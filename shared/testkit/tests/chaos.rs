//! Chaos: the whole stack as OS processes under steady load from SDK-like
//! clients (each retries an event with the same id until it is
//! acknowledged), while the broker, PostgreSQL, Redis, the processor,
//! ingest, auth and query are each killed and restarted `CHAOS_KILLS` times
//! (default 1, `make chaos` runs 3) at random moments. A client ledger holds
//! every acknowledged id; at the end each must be stored exactly once,
//! nothing unsent may be stored, and every service must have come back to
//! SERVING by itself. A table shows, per component: kills, client errors by
//! code while it was down or recovering, and the longest recovery (restart
//! to the next acknowledged event, and for query to the next answered
//! ListEvents; a service's restart includes reaching SERVING).
//!
//! Kills are SIGKILL, except PostgreSQL's, which is `pg_ctl -m immediate`
//! (the postmaster quits at once with no checkpoint, as in a crash). All
//! addresses are loopback; every loop is bounded in count and time.

mod common;

use std::{
    collections::{BTreeMap, HashMap, HashSet},
    net::SocketAddr,
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};

use boost_proto::{
    auth::v1::auth_service_client::AuthServiceClient,
    ingest::v1::{EventStatus, ingest_service_client::IngestServiceClient},
    query::v1::{ListEventsRequest, query_service_client::QueryServiceClient},
};
use boost_testkit::{
    TestBroker, TestDatabase, TestPostgres, TestRedis, Xorshift,
    stack::{ManagedService, project_with_key, url},
};
use common::*;
use tonic::transport::Channel;
use uuid::Uuid;

/// Components in the order each round kills them. The last is a compound
/// fault: ingest killed while the broker is down, so produces are pending
/// (an ACCEPTED answered before the broker's acknowledgement would be lost).
const COMPONENTS: [&str; 8] = [
    "broker",
    "postgres",
    "redis",
    "processor",
    "ingest",
    "auth",
    "query",
    "broker+ingest",
];
/// Index meaning "nothing is down" in [`Chaos::down`].
const NONE: usize = usize::MAX;
/// Load clients and the pause between one client's events.
const CLIENTS: usize = 4;
const PACE: Duration = Duration::from_millis(5);
/// Most events one client sends (a bound; time usually ends it first).
const MOST_EVENTS_PER_CLIENT: usize = 50_000;
/// One attempt's client-side deadline; past it the event is retried.
const ATTEMPT_DEADLINE: Duration = Duration::from_secs(5);
/// How long a killed component stays down.
const DOWN_FOR: Duration = Duration::from_secs(1);
/// Longest a component may take to be useful again after its restart.
const RECOVERY_LIMIT: Duration = Duration::from_secs(60);
/// Longest the processor may take to store the last acknowledged event.
const DRAIN_LIMIT: Duration = Duration::from_secs(120);

/// The whole stack, every part of which can be killed and restarted.
struct Chaos {
    postgres: TestPostgres,
    db: TestDatabase,
    redis: TestRedis,
    broker: TestBroker,
    auth: ManagedService,
    ingest: ManagedService,
    query: ManagedService,
    processor: ManagedService,
    /// Which component is down or recovering ([`NONE`]: none).
    down: Arc<AtomicUsize>,
    /// Where the processes' logs go.
    logs: std::path::PathBuf,
}

impl Chaos {
    async fn start() -> Self {
        let postgres = TestPostgres::start();
        let db = TestDatabase::create_on(&postgres.url).await;
        let redis = TestRedis::start();
        let broker = TestBroker::start();
        let logs = std::env::temp_dir().join(format!("boost-chaos-{}", Uuid::now_v7()));
        std::fs::create_dir_all(&logs).expect("log dir");
        let [auth, ingest, query, processor] = service_processes(&db, &redis, &broker, &logs).await;
        Self {
            postgres,
            db,
            redis,
            broker,
            auth,
            ingest,
            query,
            processor,
            down: Arc::new(AtomicUsize::new(NONE)),
            logs,
        }
    }

    fn services(&mut self) -> [&mut ManagedService; 4] {
        [
            &mut self.auth,
            &mut self.ingest,
            &mut self.query,
            &mut self.processor,
        ]
    }

    /// Kills component `which`, waits [`DOWN_FOR`], starts it again;
    /// returns when the restart was done.
    async fn kill_and_restart(&mut self, which: usize) -> Instant {
        match COMPONENTS[which] {
            "broker" => {
                self.broker.kill();
                tokio::time::sleep(DOWN_FOR).await;
                self.broker.restart();
            }
            "postgres" => {
                self.postgres.stop();
                tokio::time::sleep(DOWN_FOR).await;
                self.postgres.restart();
            }
            "redis" => {
                self.redis.stop();
                tokio::time::sleep(DOWN_FOR).await;
                self.redis.restart();
            }
            "broker+ingest" => {
                self.broker.kill();
                tokio::time::sleep(DOWN_FOR / 2).await;
                self.ingest.kill();
                tokio::time::sleep(DOWN_FOR / 2).await;
                self.broker.restart();
                let logs = self.logs.clone();
                self.ingest.start(&logs).await;
            }
            name => {
                let logs = self.logs.clone();
                let service = self
                    .services()
                    .into_iter()
                    .find(|s| s.name == name)
                    .expect("service");
                service.kill();
                tokio::time::sleep(DOWN_FOR).await;
                service.start(&logs).await;
            }
        }
        Instant::now()
    }
}

/// What the load clients saw.
#[derive(Default)]
struct Ledger {
    /// Every id sent, and whether it was acknowledged (ACCEPTED or DUPLICATE).
    sent: HashMap<Uuid, bool>,
    /// Failed attempts by (component down at the time, code).
    errors: BTreeMap<(usize, String), usize>,
}

/// One SDK-like client: each event is retried with its id until it is
/// acknowledged or `stop` is set.
async fn client(
    ingest: SocketAddr,
    key: String,
    number: usize,
    stop: Arc<AtomicBool>,
    down: Arc<AtomicUsize>,
    ledger: Arc<Mutex<Ledger>>,
) {
    let channel = Channel::from_shared(url(ingest))
        .expect("url")
        .connect_lazy();
    let mut ingest = IngestServiceClient::new(channel);
    for i in 0..MOST_EVENTS_PER_CLIENT {
        if stop.load(Ordering::SeqCst) {
            return;
        }
        let id = Uuid::now_v7();
        ledger.lock().expect("ledger").sent.insert(id, false);
        let mut e = event("chaos");
        e.event_id = id.to_string();
        e.user_id = format!("user-{number}-{}", i % 7);
        loop {
            let attempt =
                tokio::time::timeout(ATTEMPT_DEADLINE, track(&mut ingest, &key, e.clone()));
            let code = match attempt.await {
                Ok(Ok(answer)) => {
                    let status = answer.result.map(|r| r.status).unwrap_or_default();
                    assert!(
                        status == EventStatus::Accepted as i32
                            || status == EventStatus::Duplicate as i32,
                        "event {id} answered {status}"
                    );
                    ledger.lock().expect("ledger").sent.insert(id, true);
                    break;
                }
                Ok(Err(status)) => format!("{:?}", status.code()),
                Err(_) => "client deadline".to_string(),
            };
            assert!(
                !code.contains("InvalidArgument"),
                "a valid event was refused"
            );
            *ledger
                .lock()
                .expect("ledger")
                .errors
                .entry((down.load(Ordering::SeqCst), code))
                .or_default() += 1;
            if stop.load(Ordering::SeqCst) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        tokio::time::sleep(PACE).await;
    }
}

/// Rows stored so far.
async fn stored_count(pool: &boost_storage::Pool) -> Option<i64> {
    let client = pool.get().await.ok()?;
    let row = client
        .query_one("SELECT count(*) FROM events", &[])
        .await
        .ok()?;
    Some(row.get(0))
}

/// Time from `restarted` until the system is useful again: the clients'
/// next acknowledgement; for the processor and PostgreSQL also a newly
/// stored row; for query also an answered ListEvents.
async fn recovered(
    which: usize,
    restarted: Instant,
    acknowledged: impl Fn() -> usize,
    (query, pool): (SocketAddr, &boost_storage::Pool),
    key: &str,
) -> Duration {
    let stored_before = stored_count(pool).await;
    let before = acknowledged();
    let deadline = Instant::now() + RECOVERY_LIMIT;
    while acknowledged() == before {
        assert!(
            Instant::now() < deadline,
            "no event acknowledged within {RECOVERY_LIMIT:?} of restarting {}",
            COMPONENTS[which]
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    if matches!(COMPONENTS[which], "processor" | "postgres") {
        loop {
            let now = stored_count(pool).await;
            if now.is_some() && now > stored_before {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "nothing stored within {RECOVERY_LIMIT:?} of restarting {}",
                COMPONENTS[which]
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    if COMPONENTS[which] == "query" {
        let mut client = QueryServiceClient::new(
            Channel::from_shared(url(query))
                .expect("url")
                .connect_lazy(),
        );
        while list(&mut client, key, ListEventsRequest::default())
            .await
            .is_err()
        {
            assert!(Instant::now() < deadline, "query did not answer again");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    restarted.elapsed()
}

/// A pause between 0.5 and 2.5 s before the next kill.
fn next_moment(moments: &mut Xorshift) -> Duration {
    Duration::from_millis(500 + moments.next_u64() % 2_000)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn test_killing_every_component_loses_and_duplicates_nothing() {
    let kills: usize = std::env::var("CHAOS_KILLS")
        .ok()
        .and_then(|k| k.parse().ok())
        .unwrap_or(1);
    let seed = std::env::var("CHAOS_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .expect("clock")
                .as_nanos() as u64
                | 1
        });
    println!(
        "chaos: {kills} kill(s) of each component, seed {seed} (CHAOS_SEED replays the moments)"
    );
    let mut chaos = Chaos::start().await;
    let (project, key) = project_with_key(
        &mut AuthServiceClient::connect(url(chaos.auth.addr))
            .await
            .expect("auth"),
        &["events:write", "events:read"],
    )
    .await;

    let stop = Arc::new(AtomicBool::new(false));
    let ledger = Arc::new(Mutex::new(Ledger::default()));
    let clients: Vec<_> = (0..CLIENTS)
        .map(|n| {
            tokio::spawn(client(
                chaos.ingest.addr,
                key.clone(),
                n,
                stop.clone(),
                chaos.down.clone(),
                ledger.clone(),
            ))
        })
        .collect();
    let acknowledged = {
        let ledger = ledger.clone();
        move || {
            ledger
                .lock()
                .expect("ledger")
                .sent
                .values()
                .filter(|a| **a)
                .count()
        }
    };

    let pool = chaos.db.pool();
    let mut moments = Xorshift(seed);
    let mut recovery: BTreeMap<usize, Duration> = BTreeMap::new();
    for _ in 0..kills {
        for which in 0..COMPONENTS.len() {
            tokio::time::sleep(next_moment(&mut moments)).await;
            chaos.down.store(which, Ordering::SeqCst);
            let restarted = chaos.kill_and_restart(which).await;
            let took = recovered(
                which,
                restarted,
                &acknowledged,
                (chaos.query.addr, &pool),
                &key,
            )
            .await;
            let longest = recovery.entry(which).or_default();
            *longest = (*longest).max(took);
            chaos.down.store(NONE, Ordering::SeqCst);
        }
    }
    drop(acknowledged);
    tokio::time::sleep(Duration::from_secs(1)).await;
    stop.store(true, Ordering::SeqCst);
    for client in clients {
        client.await.expect("load client");
    }

    // Every service came back to SERVING by itself.
    for service in chaos.services() {
        boost_testkit::stack::wait_serving(service.addr).await;
    }

    // Wait until every acknowledged event is stored (the processor drains).
    let ledger = Arc::try_unwrap(ledger)
        .ok()
        .expect("clients done")
        .into_inner()
        .expect("ledger");
    let acked: HashSet<Uuid> = ledger
        .sent
        .iter()
        .filter(|(_, a)| **a)
        .map(|(id, _)| *id)
        .collect();
    let stored_rows = || stored_ids_in(&pool, project);
    let started = Instant::now();
    let mut stored = stored_rows().await;
    while started.elapsed() < DRAIN_LIMIT
        && !acked.is_subset(&stored.iter().copied().collect::<HashSet<_>>())
    {
        tokio::time::sleep(Duration::from_millis(500)).await;
        stored = stored_rows().await;
    }
    let stored_set: HashSet<Uuid> = stored.iter().copied().collect();
    let lost = acked.difference(&stored_set).count();
    let duplicated = stored.len() - stored_set.len();
    let unsent = stored_set
        .iter()
        .filter(|id| !ledger.sent.contains_key(id))
        .count();

    println!(
        "{:<13} {:>5} {:>12}  client errors while down or recovering",
        "component", "kills", "recovery"
    );
    for (which, name) in COMPONENTS.iter().enumerate() {
        let errors: Vec<String> = ledger
            .errors
            .iter()
            .filter(|((down, _), _)| *down == which)
            .map(|((_, code), n)| format!("{code} {n}"))
            .collect();
        println!(
            "{name:<13} {kills:>5} {:>10.2} s  {}",
            recovery
                .get(&which)
                .copied()
                .unwrap_or_default()
                .as_secs_f64(),
            if errors.is_empty() {
                "none".to_string()
            } else {
                errors.join(", ")
            }
        );
    }
    println!(
        "sent {}, acknowledged {}, stored {}, lost {lost}, duplicated {duplicated}, stored but never sent {unsent}",
        ledger.sent.len(),
        acked.len(),
        stored.len()
    );
    assert_eq!(
        lost, 0,
        "acknowledged events lost; logs in {:?}",
        chaos.logs
    );
    assert_eq!(duplicated, 0, "events stored twice");
    assert_eq!(unsent, 0, "stored events nobody sent");
    let _ = std::fs::remove_dir_all(&chaos.logs);
}
