//! Applies the numbered SQL files in `migrations/` (refinery), creating the
//! database first when it does not exist. An advisory lock makes concurrent
//! start-ups of several services safe.

use tokio_postgres::NoTls;

use crate::{PostgresArgs, StorageError};

/// The SQL files of `migrations/`, compiled in.
mod embedded {
    #![allow(missing_docs)]
    refinery::embed_migrations!("../../migrations");
}

/// Arbitrary constant naming Boost's migration lock.
const MIGRATION_LOCK: i64 = 0x000B_0057;

/// Creates the database if needed and applies pending migrations.
pub async fn run(args: &PostgresArgs) -> Result<(), StorageError> {
    ensure_database(args).await?;
    let (mut client, connection) = connect(&args.url).await?;
    let driver = tokio::spawn(connection);
    client
        .execute("SELECT pg_advisory_lock($1)", &[&MIGRATION_LOCK])
        .await
        .map_err(|e| StorageError::query("take migration lock", e))?;
    ensure_reader_role(&client).await?;
    let report = embedded::migrations::runner()
        .run_async(&mut client)
        .await
        .map_err(|e| StorageError::Migrate(e.to_string()));
    let _ = client
        .execute("SELECT pg_advisory_unlock($1)", &[&MIGRATION_LOCK])
        .await;
    drop(client);
    let _ = driver.await;
    for migration in report?.applied_migrations() {
        tracing::info!(migration = %migration, "applied migration");
    }
    Ok(())
}

/// Whether every embedded migration has been applied to the database
/// `client` is connected to (false before the history table exists).
pub async fn is_current(
    client: &impl deadpool_postgres::GenericClient,
) -> Result<bool, StorageError> {
    let latest = embedded::migrations::runner()
        .get_migrations()
        .iter()
        .map(|m| i64::from(m.version()))
        .max()
        .unwrap_or(0);
    let applied: Option<i64> = client
        .query_opt(
            "SELECT max(version)::int8 FROM refinery_schema_history
             WHERE to_regclass('refinery_schema_history') IS NOT NULL",
            &[],
        )
        .await
        .map(|row| row.and_then(|r| r.get(0)))
        .or_else(|e| {
            // The table does not exist yet.
            if e.code() == Some(&tokio_postgres::error::SqlState::UNDEFINED_TABLE) {
                Ok(None)
            } else {
                Err(StorageError::query("read migration history", e))
            }
        })?;
    Ok(applied.is_some_and(|v| v >= latest))
}

/// Statement creating the row-level-security reader role (V6) and granting
/// it to the migrating user, tolerant of a role that exists.
const READER_ROLE: &str = "DO $$ BEGIN CREATE ROLE boost_reader NOLOGIN; \
    EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL; END $$; \
    GRANT boost_reader TO CURRENT_USER";

/// Creates the reader role before the migrations run. Roles belong to the
/// whole server, while the migration lock is per database: two databases
/// migrating at once on a fresh server (parallel tests, two deployments)
/// raced in V6's CREATE ROLE and GRANT (a unique violation on the role name
/// or "tuple concurrently updated"). Done here with retries, V6 then finds
/// the role and the membership in place.
async fn ensure_reader_role(client: &tokio_postgres::Client) -> Result<(), StorageError> {
    let mut attempt = 0;
    loop {
        match client.batch_execute(READER_ROLE).await {
            Ok(()) => return Ok(()),
            Err(_) if attempt < 5 => {
                attempt += 1;
                tokio::time::sleep(std::time::Duration::from_millis(50 * attempt)).await;
            }
            Err(e) => return Err(StorageError::query("create the reader role", e)),
        }
    }
}

/// Creates the target database through the `postgres` maintenance database when missing.
async fn ensure_database(args: &PostgresArgs) -> Result<(), StorageError> {
    let config: tokio_postgres::Config = args.url.parse().map_err(StorageError::Config)?;
    let Some(name) = config.get_dbname().map(str::to_owned) else {
        return Ok(());
    };
    let mut admin = config.clone();
    admin.dbname("postgres");
    admin.connect_timeout(args.connect_timeout);
    let (client, connection) = admin
        .connect(NoTls)
        .await
        .map_err(|e| StorageError::Pool(boost_server::error::error_chain(&e)))?;
    let driver = tokio::spawn(connection);
    let exists = client
        .query_opt("SELECT 1 FROM pg_database WHERE datname = $1", &[&name])
        .await
        .map_err(|e| StorageError::query("look up database", e))?
        .is_some();
    if !exists {
        let quoted = format!("\"{}\"", name.replace('"', "\"\""));
        match client
            .batch_execute(&format!("CREATE DATABASE {quoted}"))
            .await
        {
            Ok(()) => tracing::info!(database = %name, "created database"),
            // Another process created it meanwhile: two concurrent CREATE
            // DATABASE collide as DUPLICATE_DATABASE or, when both passed the
            // check, as a unique violation on pg_database's name index.
            Err(e)
                if e.code() == Some(&tokio_postgres::error::SqlState::DUPLICATE_DATABASE)
                    || e.code() == Some(&tokio_postgres::error::SqlState::UNIQUE_VIOLATION) => {}
            Err(e) => return Err(StorageError::query("create database", e)),
        }
    }
    drop(client);
    let _ = driver.await;
    Ok(())
}

async fn connect(
    url: &str,
) -> Result<
    (
        tokio_postgres::Client,
        tokio_postgres::Connection<tokio_postgres::Socket, tokio_postgres::tls::NoTlsStream>,
    ),
    StorageError,
> {
    tokio_postgres::connect(url, NoTls)
        .await
        .map_err(|e| StorageError::Pool(boost_server::error::error_chain(&e)))
}
