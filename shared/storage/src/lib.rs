//! Boost's storage: PostgreSQL (pool, migrations, one repository per
//! aggregate) and Redis (the one client builder, and the processor → ingest
//! stored-watermark protocol carried over it). Services reach either store
//! only through this crate.
//!
//! - [`config`]: [`PostgresArgs`], the one place database settings live
//! - [`pool`]: [`pool::connect`], the one start-up path (migrate, build, wait until
//!   migrated), and the pool builder with explicit timeouts (deadpool waits forever by default)
//! - [`redis`]: Redis clients with reconnect and timeouts set (fred's defaults wait forever),
//!   health reporting, and [`redis::watermarks`], the stored-watermark channel and keys
//! - [`migrate`]: numbered SQL migrations from `migrations/`, applied under an advisory lock
//! - [`tenancy`], [`keys`], [`audit`], [`events`], [`users`], [`aggregates`],
//!   [`offsets`], [`dead_letters`]: one repository per aggregate
//! - [`leases`]: partition leases and live processor instances, for sharing a topic
//! - [`partitions`]: the day partitions of `events`
//! - [`retention`]: per-project retention: drops expired day partitions, deletes the rest in batches
//! - [`filter`]: event filters and the SQL builder they share
//! - [`rls`]: row-level-security scoped read transactions
//! - [`utc`]: flooring times to UTC hours and days
//! - [`error`]: [`StorageError`] and its mapping to the API error vocabulary

pub mod aggregates;
pub mod audit;
pub mod config;
pub mod dead_letters;
pub mod error;
pub mod events;
pub mod filter;
pub mod keys;
pub mod leases;
pub mod migrate;
pub mod offsets;
pub mod partitions;
pub mod pool;
pub mod redis;
pub mod retention;
pub mod rls;
pub mod tenancy;
pub mod users;
pub mod utc;

pub use config::PostgresArgs;
pub use deadpool_postgres::{Object as Connection, Pool};
pub use error::StorageError;
pub use tokio_postgres;
