//! Database settings, flattened into every service that uses PostgreSQL.

use std::time::Duration;

use boost_server::config::parse_millis;

/// PostgreSQL connection and pool settings.
#[derive(Debug, Clone, clap::Args)]
pub struct PostgresArgs {
    /// Connection URL; the database is created by migrations when missing.
    #[arg(
        id = "database_url",
        long = "database-url",
        env = "BOOST_DATABASE_URL",
        default_value = "postgres://postgres@127.0.0.1:5432/boost"
    )]
    pub url: String,
    /// Most connections this process keeps open.
    #[arg(
        long = "database-pool-size",
        env = "BOOST_DATABASE_POOL_SIZE",
        default_value_t = 16
    )]
    pub pool_size: usize,
    /// Longest wait for a free connection, and for a new one to connect (ms).
    #[arg(long = "database-connect-timeout-ms", env = "BOOST_DATABASE_CONNECT_TIMEOUT_MS", default_value = "3000", value_parser = parse_millis)]
    pub connect_timeout: Duration,
    /// Server-side limit on any one statement (ms).
    #[arg(long = "database-statement-timeout-ms", env = "BOOST_DATABASE_STATEMENT_TIMEOUT_MS", default_value = "10000", value_parser = parse_millis)]
    pub statement_timeout: Duration,
    /// Longest a service waits at start-up for the database to answer with
    /// every migration applied (ms).
    #[arg(long = "database-startup-timeout-ms", env = "BOOST_DATABASE_STARTUP_TIMEOUT_MS", default_value = "60000", value_parser = parse_millis)]
    pub startup_timeout: Duration,
    /// Apply pending migrations at start-up.
    #[arg(long = "database-migrate", env = "BOOST_DATABASE_MIGRATE", default_value_t = true, action = clap::ArgAction::Set)]
    pub migrate: bool,
    /// Server-side limit on how long a connection may sit idle inside a
    /// transaction before PostgreSQL ends its session; set by a service
    /// (not configurable), since only it knows how long is too long. The
    /// processor sets its lease time: a paused instance's open batch
    /// transaction would otherwise hold its lease row locked, and no other
    /// instance could take the partition over until it resumed.
    #[arg(skip)]
    pub idle_in_transaction_timeout: Option<Duration>,
}

impl PostgresArgs {
    /// Settings for `url` with every other value at its default.
    pub fn with_url(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            ..boost_server::config::defaults()
        }
    }

    /// Checks values that parse but make no sense.
    pub fn validate(&self) -> Result<(), String> {
        self.url
            .parse::<tokio_postgres::Config>()
            .map_err(|e| format!("invalid BOOST_DATABASE_URL: {e}"))?;
        if self.pool_size == 0 {
            return Err("BOOST_DATABASE_POOL_SIZE must be greater than 0".into());
        }
        Ok(())
    }
}
