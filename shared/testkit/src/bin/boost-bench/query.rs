//! `boost-bench query`: loads 10 million events into one project (bulk SQL,
//! with progress), derives rollups and users as the processor would, then
//! measures the query RPCs through gRPC, one call at a time and then from
//! 1 and 10 concurrent clients with ingest at half load beside them.

use std::time::{Duration, Instant, SystemTime};

use boost_proto::{
    prost_types::Timestamp,
    query::v1::{
        AggregateRequest, EventFilter, GetMetricsRequest, GroupBy, ListEventsRequest,
        query_service_client::QueryServiceClient,
    },
};
use boost_storage::utc;
use boost_testkit::Stack;
use hdrhistogram::Histogram;
use tonic::transport::Channel;
use uuid::Uuid;

use crate::{
    PHASE_LIMIT, connect, histogram,
    ingest::{Load, drive},
    results, with_key,
};

/// Events loaded, spread evenly over the last 30 days.
const EVENTS: i64 = 10_000_000;
/// Rows per load statement (one progress line each).
const CHUNK: i64 = 500_000;
/// Calls per measured phase.
const CALLS: usize = 200;
const DAY: u64 = 24 * 3600;

fn events_count() -> i64 {
    std::env::var("BENCH_QUERY_EVENTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(EVENTS)
}

/// Bulk-loads `total` events for `project` (20 services, 50 types, 100,000
/// users, every 10th a LOG), then the rollups and users derived from them.
async fn load(stack: &Stack, project: Uuid, total: i64) -> anyhow::Result<()> {
    let pool = stack.db.pool();
    let client = pool.get().await?;
    // Bulk statements run far past the services' statement timeout.
    client.batch_execute("SET statement_timeout = 0").await?;
    // The 31 UTC days the events fall on, as the processor would create them.
    client
        .execute(
            "SELECT boost_event_partition(now() - make_interval(days => d))
             FROM generate_series(0, 31) d",
            &[],
        )
        .await?;
    let started = Instant::now();
    let mut done = 0;
    while done < total {
        let upto = (done + CHUNK).min(total);
        client
            .execute(
                "INSERT INTO events (project_id, event_id, kind, type, occurred_at, received_at,
                                     service, user_id, properties, severity, message)
                 SELECT $1, lpad(to_hex(i), 32, '0')::uuid,
                        CASE WHEN i % 10 = 0 THEN 3 ELSE 1 END,
                        'type_' || (i % 50),
                        now() - make_interval(secs => 30 * 86400 * i::float8 / $4),
                        now() - make_interval(secs => 30 * 86400 * i::float8 / $4),
                        'svc_' || (i % 20),
                        'user_' || (i % 100000),
                        jsonb_build_object('plan', CASE WHEN i % 3 = 0 THEN 'pro' ELSE 'free' END,
                                           'n', i % 1000),
                        CASE WHEN i % 10 = 0 THEN (i % 6 + 1)::int2 END,
                        CASE WHEN i % 10 = 0 THEN 'log line ' || i END
                 FROM generate_series($2::int8 + 1, $3::int8) AS i",
                &[&project, &done, &upto, &(total as f64)],
            )
            .await?;
        done = upto;
        eprintln!(
            "  loaded {done} / {total} events ({:.0} rows/s)",
            done as f64 / started.elapsed().as_secs_f64()
        );
    }
    eprintln!("  deriving event ids, rollups and end users…");
    client
        .execute(
            "INSERT INTO event_ids (project_id, event_id, occurred_at)
             SELECT project_id, event_id, occurred_at FROM events WHERE project_id = $1",
            &[&project],
        )
        .await?;
    client
        .execute(
            "INSERT INTO event_rollups_hourly (project_id, hour, service, type, kind, source_partition, events)
             SELECT project_id, date_trunc('hour', occurred_at, 'UTC'), service, type, kind, 0, count(*)
             FROM events WHERE project_id = $1 GROUP BY 1, 2, 3, 4, 5
             -- The processor writes an hour's rows as that hour passes, so
             -- they sit together on disk; hash order would scatter them.
             ORDER BY 2",
            &[&project],
        )
        .await?;
    client
        .execute(
            "INSERT INTO event_rollups_daily (project_id, day, service, type, kind, source_partition, events)
             SELECT project_id, date_trunc('day', hour, 'UTC'), service, type, kind, 0, sum(events)
             FROM event_rollups_hourly WHERE project_id = $1 GROUP BY 1, 2, 3, 4, 5 ORDER BY 2",
            &[&project],
        )
        .await?;
    client
        .execute(
            "INSERT INTO event_rollups_minutely (project_id, minute, source_partition, events)
             SELECT project_id, date_trunc('minute', occurred_at, 'UTC'), 0, count(*)
             FROM events WHERE project_id = $1 AND occurred_at >= now() - interval '2 hours'
             GROUP BY 1, 2 ORDER BY 2",
            &[&project],
        )
        .await?;
    client
        .execute(
            "INSERT INTO end_users (project_id, user_id, traits, first_seen, last_seen, events)
             SELECT project_id, user_id, '{}', min(occurred_at), max(occurred_at), count(*)
             FROM events WHERE project_id = $1 GROUP BY 1, 2",
            &[&project],
        )
        .await?;
    // As autovacuum would have by now: statistics and the visibility map
    // (index-only scans). One statement per call: VACUUM refuses to run
    // inside a multi-statement string.
    for table in [
        "events",
        "event_ids",
        "event_rollups_hourly",
        "event_rollups_daily",
        "event_rollups_minutely",
        "end_users",
    ] {
        client
            .batch_execute(&format!("VACUUM ANALYZE {table}"))
            .await?;
    }
    client.batch_execute("RESET statement_timeout").await?;
    eprintln!("  loaded in {:.0} s", started.elapsed().as_secs_f64());
    Ok(())
}

/// Runs `call` up to `calls` times (bounded by [`PHASE_LIMIT`]) and prints p50/p95.
async fn measure<F, Fut>(name: &str, calls: usize, mut call: F) -> anyhow::Result<Histogram<u64>>
where
    F: FnMut(usize) -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<()>>,
{
    let mut h = histogram();
    let started = Instant::now();
    for i in 0..calls {
        if started.elapsed() > PHASE_LIMIT {
            eprintln!("  {name}: time limit reached after {i} calls");
            break;
        }
        let t = Instant::now();
        call(i).await?;
        h.record(t.elapsed().as_nanos() as u64)?;
    }
    let ms = |q: f64| h.value_at_quantile(q) as f64 / 1e6;
    results::record(name, "p50", "ms", ms(0.5));
    results::record(name, "p95", "ms", ms(0.95));
    println!(
        "| {name:<46} | {:>5} | {:>7.2} | {:>7.2} | {:>7.2} |",
        h.len(),
        ms(0.5),
        ms(0.95),
        h.max() as f64 / 1e6
    );
    Ok(h)
}

/// Concurrent clients of the concurrency phase, and calls each makes.
const CLIENTS: usize = 10;
const CALLS_PER_CLIENT: usize = 20;

/// The calls of the concurrency phase (and of the memory bench's query
/// load).
#[derive(Clone, Copy)]
pub(crate) enum Call {
    FirstPage,
    Aggregate(GroupBy),
    Metrics,
}

impl Call {
    fn name(self) -> &'static str {
        match self {
            Call::FirstPage => "ListEvents, first page (24 h)",
            Call::Aggregate(GroupBy::Service) => "Aggregate 30 days by service",
            Call::Aggregate(GroupBy::Type) => "Aggregate 30 days by type",
            Call::Aggregate(GroupBy::User) => "Aggregate 30 days by user",
            Call::Aggregate(_) => "Aggregate 30 days by day",
            Call::Metrics => "GetMetrics",
        }
    }

    /// Sends the call once; `window` bounds an Aggregate.
    pub(crate) async fn send(
        self,
        query: &mut QueryServiceClient<Channel>,
        key: &str,
        window: (SystemTime, SystemTime),
    ) -> anyhow::Result<()> {
        match self {
            Call::FirstPage => {
                query
                    .list_events(with_key(key, ListEventsRequest::default()))
                    .await?;
            }
            Call::Aggregate(group_by) => {
                query
                    .aggregate(with_key(
                        key,
                        AggregateRequest {
                            start_time: Some(Timestamp::from(window.0)),
                            end_time: Some(Timestamp::from(window.1)),
                            group_by: group_by as i32,
                            bucket: boost_proto::query::v1::Bucket::Day as i32,
                            limit: 100,
                            ..Default::default()
                        },
                    ))
                    .await?;
            }
            Call::Metrics => {
                query
                    .get_metrics(with_key(key, GetMetricsRequest {}))
                    .await?;
            }
        }
        Ok(())
    }
}

/// `clients` clients, each on its own connection, each sending `call`
/// [`CALLS_PER_CLIENT`] times (bounded by [`PHASE_LIMIT`]); all latencies.
async fn concurrent(
    addr: std::net::SocketAddr,
    key: &str,
    call: Call,
    clients: usize,
    window: (SystemTime, SystemTime),
) -> anyhow::Result<Histogram<u64>> {
    let mut tasks = Vec::new();
    for _ in 0..clients {
        let mut query = QueryServiceClient::new(connect(addr).await?);
        let key = key.to_string();
        tasks.push(tokio::spawn(async move {
            let mut h = histogram();
            let started = Instant::now();
            for _ in 0..CALLS_PER_CLIENT {
                if started.elapsed() > PHASE_LIMIT {
                    break;
                }
                let t = Instant::now();
                call.send(&mut query, &key, window).await?;
                h.record(t.elapsed().as_nanos() as u64)?;
            }
            anyhow::Ok(h)
        }));
    }
    let mut all = histogram();
    for task in tasks {
        all.add(task.await??)?;
    }
    Ok(all)
}

/// The concurrency phase: each call from 1 and from [`CLIENTS`] clients at
/// once, while IngestBatch runs at half the rate it reached alone (the
/// processor storing it into the same database).
async fn bench_concurrency(
    stack: &Stack,
    key: &str,
    window: (SystemTime, SystemTime),
) -> anyhow::Result<()> {
    let ingest = stack.spawn_ingest(&["--rate-limit-events", "0"]).await;
    let channels = vec![connect(ingest).await?];
    let batch = Load {
        callers: 32,
        per_request: 100,
        max_events: 2_000_000,
        time: Duration::from_secs(10),
        rate: None,
    };
    eprintln!("IngestBatch at full load for 10 s, to find half load…");
    let full = drive("batch", &channels, key, batch).await;
    let half_rate = full.rate() / 2.0;
    let half = Load {
        rate: Some(half_rate),
        time: PHASE_LIMIT,
        ..batch
    };
    let stop = tokio_util::sync::CancellationToken::new();
    let background = {
        let (channels, key, stop) = (channels.clone(), key.to_string(), stop.clone());
        tokio::spawn(async move {
            tokio::select! {
                outcome = drive("batch half", &channels, &key, half) => Some(outcome),
                () = stop.cancelled() => None,
            }
        })
    };
    println!(
        "\nConcurrent clients, IngestBatch at {half_rate:.0} events/s beside them (half of {:.0}), ms\n",
        full.rate()
    );
    println!("| call | clients | calls | p50 | p95 | max |");
    println!("|---|---|---|---|---|---|");
    let calls = [
        Call::FirstPage,
        Call::Aggregate(GroupBy::Service),
        Call::Aggregate(GroupBy::Type),
        Call::Aggregate(GroupBy::Time),
        Call::Metrics,
    ];
    for call in calls {
        for clients in [1, CLIENTS] {
            let h = concurrent(stack.query, key, call, clients, window).await?;
            let ms = |q: f64| h.value_at_quantile(q) as f64 / 1e6;
            let phase = format!("{}, {clients} client(s), ingest at half load", call.name());
            results::record(&phase, "p50", "ms", ms(0.5));
            results::record(&phase, "p95", "ms", ms(0.95));
            println!(
                "| {} | {clients} | {} | {:.2} | {:.2} | {:.2} |",
                call.name(),
                h.len(),
                ms(0.5),
                ms(0.95),
                h.max() as f64 / 1e6
            );
        }
    }
    stop.cancel();
    if let Some(outcome) = background.await? {
        eprintln!(
            "  half load ended before the calls did ({:.0} events/s)",
            outcome.rate()
        );
    }
    Ok(())
}

/// The query benchmark.
pub async fn bench_query() -> anyhow::Result<()> {
    let total = events_count();
    eprintln!("starting the stack and loading {total} events…");
    let stack = Stack::start().await;
    let (project, key) = stack
        .project_with_key(&["events:read", "events:write"])
        .await;
    load(&stack, project, total).await?;
    let mut query = QueryServiceClient::new(connect(stack.query).await?);

    println!(
        "\nQuery through gRPC on 127.0.0.1, {total} events over 30 days in one project (ms)\n"
    );
    println!(
        "| call                                           | calls |     p50 |     p95 |     max |"
    );
    println!(
        "|------------------------------------------------|-------|---------|---------|---------|"
    );
    let q = &mut query;
    // The window of the 30-day Aggregates, whole hours as the rollups are.
    let end = utc::floor(SystemTime::now(), utc::HOUR) + utc::HOUR;
    let start = end - Duration::from_secs(30 * DAY);
    let once = |call: Call| {
        let (mut q, key) = (q.clone(), key.clone());
        async move { call.send(&mut q, &key, (start, end)).await }
    };
    measure("ListEvents, first page (24 h, 100 rows)", CALLS, |_| {
        once(Call::FirstPage)
    })
    .await?;
    // Deep pages: follow the tokens; every page is measured.
    let token = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
    measure(
        "ListEvents, pages 1–200 by token (100 rows)",
        CALLS,
        |_| {
            let mut q = q.clone();
            let key = key.clone();
            let token = token.clone();
            async move {
                let page_token = std::mem::take(&mut *token.lock().expect("token"));
                let request = ListEventsRequest {
                    page_token,
                    ..Default::default()
                };
                let page = q.list_events(with_key(&key, request)).await?.into_inner();
                *token.lock().expect("token") = page.next_page_token;
                Ok(())
            }
        },
    )
    .await?;
    let month = Some(Timestamp::from(
        SystemTime::now() - Duration::from_secs(30 * DAY),
    ));
    measure("ListEvents, service+type filter, 30 days", CALLS, |i| {
        let mut q = q.clone();
        let key = key.clone();
        let filter = EventFilter {
            service: format!("svc_{}", i % 20),
            r#type: format!("type_{}", i % 50),
            ..Default::default()
        };
        async move {
            q.list_events(with_key(
                &key,
                ListEventsRequest {
                    start_time: month,
                    filter: Some(filter),
                    ..Default::default()
                },
            ))
            .await?;
            Ok(())
        }
    })
    .await?;
    measure("ListEvents, first page + total (24 h)", CALLS, |_| {
        let mut q = q.clone();
        let key = key.clone();
        async move {
            q.list_events(with_key(
                &key,
                ListEventsRequest {
                    include_total: true,
                    ..Default::default()
                },
            ))
            .await?;
            Ok(())
        }
    })
    .await?;
    for (name, group_by) in [
        ("Aggregate 30 days by service (rollups)", GroupBy::Service),
        ("Aggregate 30 days by type (rollups)", GroupBy::Type),
        ("Aggregate 30 days by day (rollups)", GroupBy::Time),
    ] {
        measure(name, CALLS, |_| once(Call::Aggregate(group_by))).await?;
    }
    measure("GetMetrics", CALLS, |_| once(Call::Metrics)).await?;
    measure("Aggregate 24 h by user, top 10 (raw rows)", 10, |_| {
        let mut q = q.clone();
        let key = key.clone();
        async move {
            q.aggregate(with_key(
                &key,
                AggregateRequest {
                    group_by: GroupBy::User as i32,
                    ..Default::default()
                },
            ))
            .await?;
            Ok(())
        }
    })
    .await?;
    bench_concurrency(&stack, &key, (start, end)).await?;
    Ok(())
}
