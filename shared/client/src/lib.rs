//! The Rust client for Boost: the same promises as the Python and TypeScript
//! SDKs (see "SDKs" in the README) over the generated tonic clients.
//!
//! - [`config`]: targets, credential, ack level, batching and retry settings
//! - [`event`]: events with client-made UUIDv7 ids
//! - [`retry`]: the shared retry policy (RetryInfo first, else jittered backoff)
//! - [`batcher`]: the background task that batches, sends and retries
//! - [`client`]: [`Client`]: send through the batcher, query with typed calls
//!
//! ```no_run
//! # async fn demo() -> Result<(), boost_client::ClientError> {
//! let client = boost_client::Client::new(boost_client::ClientConfig::from_env()?)?;
//! client.track("signup_completed", "u1", serde_json::json!({"plan": "pro"}));
//! client.close().await;
//! # Ok(()) }
//! ```

pub mod batcher;
pub mod client;
pub mod config;
pub mod event;
pub mod retry;

pub use batcher::{Rejection, Stats};
pub use client::{Client, ClientError};
pub use config::{Ack, Batching, ClientConfig, Credential};
pub use event::new_event;
pub use retry::RetryPolicy;
