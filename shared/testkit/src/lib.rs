//! Test kit: real components for integration tests, never mocks.
//!
//! - [`database`]: a fresh, migrated PostgreSQL database per test, dropped afterwards
//! - [`broker`]: a private tansu broker on a random port, killed afterwards
//! - [`postgres`]: a private PostgreSQL server, stoppable mid-test
//! - [`otlp`]: an OTLP/gRPC trace receiver that keeps every span it is sent
//! - [`raw`]: gRPC calls with hand-made (or garbage) request bytes
//! - [`redis`]: a private Redis on a random port, stoppable mid-test
//! - [`stack`]: all five services in-process on port 0, wired to the above
//!
//! Missing components fail loudly with how to get them: `make test` (or
//! `make deps`) finds or starts PostgreSQL and builds tansu; the addresses
//! come from `BOOST_DATABASE_URL` and `BOOST_TANSU_BIN`.

pub mod broker;
pub mod database;
pub mod otlp;
pub mod postgres;
pub mod raw;
pub mod redis;
pub mod stack;

pub use broker::TestBroker;
pub use database::TestDatabase;
pub use postgres::TestPostgres;
pub use redis::TestRedis;
pub use stack::Stack;

/// A tiny deterministic generator (xorshift64) for tests whose random
/// choices must replay from a printed seed.
pub struct Xorshift(pub u64);

impl Xorshift {
    /// The next number; the seed must not be 0.
    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

/// A free loopback port (bound then released; tansu needs a number, not a socket).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("bind a loopback port")
}
