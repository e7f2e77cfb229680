//! The ingest service as its own OS process, for tests that read its own telemetry: Cargo
//! builds this binary for the test kit's integration tests and tells them
//! its path (`CARGO_BIN_EXE_boost-test-ingest`). Same start-up as the
//! `ingest` binary.

#[tokio::main]
async fn main() {
    boost_server::service::run_main(boost_ingest::run).await
}
