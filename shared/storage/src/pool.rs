//! The one pool builder. deadpool's wait/create/recycle timeouts are unset by
//! default, so an exhausted pool or a dead server would hang callers: every
//! timeout is set here, recycled connections are verified, and each
//! connection carries a server-side `statement_timeout`.

use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod, Runtime, Timeouts};
use tokio_postgres::NoTls;

use crate::{PostgresArgs, StorageError};

/// Builds a pool; no connection is made until first use.
pub fn build(args: &PostgresArgs) -> Result<Pool, StorageError> {
    let mut config: tokio_postgres::Config = args.url.parse().map_err(StorageError::Config)?;
    config.connect_timeout(args.connect_timeout);
    config.options(format!(
        "-c statement_timeout={}",
        args.statement_timeout.as_millis()
    ));
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

/// Checks that the database answers.
pub async fn ping(pool: &Pool) -> Result<(), StorageError> {
    let client = pool.get().await?;
    client
        .simple_query("SELECT 1")
        .await
        .map_err(|e| StorageError::query("ping", e))?;
    Ok(())
}
