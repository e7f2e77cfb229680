//! Storage failures and how callers see them.

use boost_server::{ApiError, ErrorCode};
use tokio_postgres::error::SqlState;

/// Why a storage operation failed.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    /// The database URL does not parse.
    #[error("invalid database url")]
    Config(#[source] tokio_postgres::Error),
    /// No connection could be had (server down, pool exhausted past its wait timeout).
    #[error("no database connection: {0}")]
    Pool(String),
    /// A statement failed.
    #[error("{operation} failed")]
    Query {
        /// What was being done, e.g. "insert events".
        operation: &'static str,
        /// The driver's error.
        #[source]
        source: tokio_postgres::Error,
    },
    /// Applying migrations failed.
    #[error("migrations failed: {0}")]
    Migrate(String),
}

impl StorageError {
    /// Wraps a driver error with what was being done.
    pub fn query(operation: &'static str, source: tokio_postgres::Error) -> Self {
        StorageError::Query { operation, source }
    }

    /// The SQLSTATE of a failed statement, if any.
    pub fn sql_state(&self) -> Option<&SqlState> {
        match self {
            StorageError::Query { source, .. } => source.code(),
            _ => None,
        }
    }

    /// Whether the failure is the database being unreachable rather than the request.
    pub fn is_unavailable(&self) -> bool {
        match self {
            StorageError::Pool(_) => true,
            StorageError::Query { source, .. } => source.is_closed() || source.code().is_none(),
            _ => false,
        }
    }
}

impl From<deadpool_postgres::PoolError> for StorageError {
    fn from(err: deadpool_postgres::PoolError) -> Self {
        StorageError::Pool(boost_server::error::error_chain(&err))
    }
}

impl From<StorageError> for ApiError {
    fn from(err: StorageError) -> Self {
        if err.is_unavailable() {
            tracing::warn!(error = %boost_server::error::error_chain(&err), "database unavailable");
            return ApiError::unavailable("database unavailable", boost_server::error::RETRY_DELAY);
        }
        match err.sql_state() {
            Some(state) if *state == SqlState::UNIQUE_VIOLATION => {
                ApiError::new(ErrorCode::AlreadyExists, "already exists")
            }
            Some(state) if *state == SqlState::FOREIGN_KEY_VIOLATION => {
                ApiError::not_found("referenced resource not found")
            }
            _ => ApiError::internal("storage operation failed", &err),
        }
    }
}
