//! BOOST PATCH: tansu-schema 0.6.0's interface with nothing behind it.
//!
//! tansu's broker and storage take an `Option<Registry>` and an
//! `Option<House>`; Boost's broker always passes `None`. Both types here are
//! empty enums, so no value of them exists and every method is unreachable
//! by construction (`match *self {}`), checked by the compiler.

use std::fmt;

use tansu_sans_io::{ErrorCode, record::inflated::Batch};

/// tansu-schema's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// tansu-schema's error: only the variant tansu-storage matches on.
#[derive(Debug)]
pub enum Error {
    /// A Kafka error code for the client.
    Api(ErrorCode),
    /// Never built; keeps tansu-storage's `if let Error::Api(..)` refutable.
    Unsupported,
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Api(code) => write!(f, "{code:?}"),
            Error::Unsupported => f.write_str("schema registry not supported"),
        }
    }
}

impl std::error::Error for Error {}

/// A schema registry; this build has none.
#[derive(Clone, Debug)]
pub enum Registry {}

impl Registry {
    /// Validates a batch against the topic's schema.
    pub async fn validate(&self, _topic: &str, _batch: &Batch) -> Result<()> {
        match *self {}
    }
}

/// Lake houses; this build has none.
pub mod lake {
    use std::{fmt::Debug, future::Future};

    use tansu_sans_io::{
        describe_configs_response::DescribeConfigsResult, record::inflated::Batch,
    };

    use crate::Result;

    /// A data lake a topic's batches are copied to; this build has none.
    #[derive(Clone, Debug)]
    pub enum House {}

    /// What a lake house does.
    pub trait LakeHouse: Clone + Debug + Send + Sync + 'static {
        /// Stores a batch of records in this lake house.
        fn store(
            &self,
            topic: &str,
            partition: i32,
            offset: i64,
            inflated: &Batch,
            config: DescribeConfigsResult,
        ) -> impl Future<Output = Result<()>> + Send;

        /// Runs periodic maintenance on this lake house.
        fn maintain(&self) -> impl Future<Output = Result<()>> + Send;
    }

    impl LakeHouse for House {
        async fn store(
            &self,
            _topic: &str,
            _partition: i32,
            _offset: i64,
            _inflated: &Batch,
            _config: DescribeConfigsResult,
        ) -> Result<()> {
            match *self {}
        }

        async fn maintain(&self) -> Result<()> {
            match *self {}
        }
    }
}
