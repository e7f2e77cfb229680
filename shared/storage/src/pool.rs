//! The one pool builder. deadpool's wait/create/recycle timeouts are unset by
//! default, so an exhausted pool or a dead server would hang callers: every
//! timeout is set here, recycled connections are verified, and each
//! connection carries a server-side `statement_timeout` (and, where the
//! service asks, `idle_in_transaction_session_timeout`).

use std::time::{Duration, Instant};

use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod, Runtime, Timeouts};
use tokio_postgres::NoTls;

use crate::{PostgresArgs, StorageError, migrate};

/// The one way a service gets its database: creates and migrates it when
/// `BOOST_DATABASE_MIGRATE` is on, builds the pool, and waits until the
/// database answers with every migration applied. Services started at the
/// same moment on an empty server therefore wait for whichever migrates,
/// instead of failing on a database that does not exist yet. Gives up after
/// `BOOST_DATABASE_STARTUP_TIMEOUT_MS` with the last error.
pub async fn connect(args: &PostgresArgs) -> Result<Pool, StorageError> {
    let deadline = Instant::now() + args.startup_timeout;
    if args.migrate {
        until_ready(deadline, "migrate", || migrate::run(args)).await?;
    }
    let pool = build(args)?;
    until_ready(deadline, "wait for a migrated database", || async {
        let client = pool.get().await?;
        if migrate::is_current(&client).await? {
            Ok(())
        } else {
            Err(StorageError::Migrate(
                "migrations are not applied yet (another service applies them)".into(),
            ))
        }
    })
    .await?;
    tokio::spawn(report_pool(pool.weak()));
    Ok(pool)
}

/// Connections of the PostgreSQL pool, by `state` (in_use, idle, waiting: callers waiting for one).
const POOL_CONNECTIONS: &str = "boost_db_pool_connections";
/// How often the pool's state is sampled.
const POOL_SAMPLE: Duration = Duration::from_secs(5);

/// Samples the pool into [`POOL_CONNECTIONS`] until the pool is dropped
/// (the task holds it weakly, so it never keeps connections open).
async fn report_pool(pool: deadpool_postgres::WeakPool) {
    while let Some(pool) = pool.upgrade() {
        let status = pool.status();
        let in_use = status.size.saturating_sub(status.available);
        metrics::gauge!(POOL_CONNECTIONS, "state" => "in_use").set(in_use as f64);
        metrics::gauge!(POOL_CONNECTIONS, "state" => "idle").set(status.available as f64);
        metrics::gauge!(POOL_CONNECTIONS, "state" => "waiting").set(status.waiting as f64);
        drop(pool);
        tokio::time::sleep(POOL_SAMPLE).await;
    }
}

/// Runs `step` until it succeeds or `deadline` passes (then its last error).
async fn until_ready<F, Fut>(deadline: Instant, what: &str, mut step: F) -> Result<(), StorageError>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<(), StorageError>>,
{
    let mut backoff = Duration::from_millis(100);
    loop {
        match step().await {
            Ok(()) => return Ok(()),
            Err(err) if Instant::now() + backoff < deadline => {
                tracing::warn!(error = %boost_server::error::error_chain(&err), retry_in = ?backoff, "database not ready: {what}");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(2));
            }
            Err(err) => return Err(err),
        }
    }
}

/// Builds a pool; no connection is made until first use.
pub fn build(args: &PostgresArgs) -> Result<Pool, StorageError> {
    let mut config: tokio_postgres::Config = args.url.parse().map_err(StorageError::Config)?;
    config.connect_timeout(args.connect_timeout);
    let mut options = format!(
        "-c statement_timeout={}",
        args.statement_timeout.as_millis()
    );
    if let Some(idle) = args.idle_in_transaction_timeout {
        options += &format!(
            " -c idle_in_transaction_session_timeout={}",
            idle.as_millis()
        );
    }
    config.options(options);
    config.application_name("boost");
    let manager = Manager::from_config(
        config,
        NoTls,
        ManagerConfig {
            recycling_method: RecyclingMethod::Verified,
        },
    );
    Pool::builder(manager)
        .max_size(args.pool_size)
        .runtime(Runtime::Tokio1)
        .timeouts(Timeouts {
            wait: Some(args.connect_timeout),
            create: Some(args.connect_timeout),
            recycle: Some(args.connect_timeout),
        })
        .build()
        .map_err(|e| StorageError::Pool(e.to_string()))
}
