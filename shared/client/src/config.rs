//! Where the services are and how the client behaves. Targets and the key
//! come from the caller, else `BOOST_INGEST_URL` / `BOOST_QUERY_URL` /
//! `BOOST_API_KEY`, else the local `make run` ports.

use std::{sync::Arc, time::Duration};

use boost_proto::ingest::v1::AckLevel;

use crate::{ClientError, Rejection, RetryPolicy};

/// Ingest under `make run`.
pub const DEFAULT_INGEST_URL: &str = "http://127.0.0.1:50052";
/// Query under `make run`.
pub const DEFAULT_QUERY_URL: &str = "http://127.0.0.1:50053";

/// The credential sent with every call.
#[derive(Clone)]
pub enum Credential {
    /// An API key, sent as `x-api-key`.
    ApiKey(String),
    /// A JWT, sent as `authorization: Bearer`.
    Token(String),
}

impl std::fmt::Debug for Credential {
    /// Never prints the secret.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Credential::ApiKey(_) => "ApiKey(..)",
            Credential::Token(_) => "Token(..)",
        })
    }
}

/// When an event counts as acknowledged.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Ack {
    /// Once the broker has it.
    #[default]
    Broker,
    /// Once the processor stored it (read-your-writes).
    Committed,
}

impl Ack {
    /// The wire value.
    pub fn level(self) -> AckLevel {
        match self {
            Ack::Broker => AckLevel::Broker,
            Ack::Committed => AckLevel::Committed,
        }
    }
}

/// Called with each event refused for good, dropped or given up.
pub type ErrorCallback = Arc<dyn Fn(Rejection) + Send + Sync>;

/// How the batcher batches.
#[derive(Clone)]
pub struct Batching {
    /// Events per IngestBatch call (1..=1000).
    pub batch_size: usize,
    /// Longest wait of a queued event before its batch goes.
    pub flush_interval: Duration,
    /// Most events waiting; more are reported and counted as dropped.
    pub max_queue: usize,
    /// Gets every event not delivered (default: a line on stderr).
    pub on_error: ErrorCallback,
}

impl Default for Batching {
    fn default() -> Self {
        Self {
            batch_size: 100,
            flush_interval: Duration::from_millis(200),
            max_queue: 10_000,
            on_error: Arc::new(|r: Rejection| {
                eprintln!(
                    "boost: event {} not delivered: {} {}",
                    r.event.event_id,
                    if r.field.is_empty() {
                        "(event)"
                    } else {
                        &r.field
                    },
                    r.reason
                );
            }),
        }
    }
}

/// Everything [`crate::Client::connect`] needs.
#[derive(Clone)]
pub struct ClientConfig {
    /// API key or JWT.
    pub credential: Credential,
    /// IngestService's URL, e.g. `http://127.0.0.1:50052`.
    pub ingest_url: String,
    /// QueryService's URL.
    pub query_url: String,
    /// Acknowledgement level of every batch.
    pub ack: Ack,
    /// Batch size, interval, queue bound, error callback.
    pub batching: Batching,
    /// Retry timing.
    pub retry: RetryPolicy,
    /// Deadline of each call.
    pub timeout: Duration,
}

impl ClientConfig {
    /// A config with `credential` and the targets from the environment or
    /// the `make run` defaults.
    pub fn new(credential: Credential) -> Self {
        let env =
            |name: &str, default: &str| std::env::var(name).unwrap_or_else(|_| default.into());
        Self {
            credential,
            ingest_url: env("BOOST_INGEST_URL", DEFAULT_INGEST_URL),
            query_url: env("BOOST_QUERY_URL", DEFAULT_QUERY_URL),
            ack: Ack::default(),
            batching: Batching::default(),
            retry: RetryPolicy::default(),
            timeout: Duration::from_secs(10),
        }
    }

    /// [`ClientConfig::new`] with the API key from `BOOST_API_KEY`.
    pub fn from_env() -> Result<Self, ClientError> {
        let key = std::env::var("BOOST_API_KEY")
            .map_err(|_| ClientError::Config("set BOOST_API_KEY or pass a credential".into()))?;
        Ok(Self::new(Credential::ApiKey(key)))
    }
}
