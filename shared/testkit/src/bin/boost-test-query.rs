//! The query service as its own OS process, for tests that read its own telemetry: Cargo
//! builds this binary for the test kit's integration tests and tells them
//! its path (`CARGO_BIN_EXE_boost-test-query`). Same start-up as the
//! `query` binary.

#[tokio::main]
async fn main() {
    boost_server::service::run_main(boost_query::run).await
}
