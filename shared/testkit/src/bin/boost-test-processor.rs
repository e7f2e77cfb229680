//! The processor as its own OS process, for tests that `kill -9` it: Cargo
//! builds this binary for the test kit's integration tests and tells them
//! its path (`CARGO_BIN_EXE_boost-test-processor`). Same start-up as the
//! `processor` binary.

#[tokio::main]
async fn main() {
    boost_server::service::run_main(boost_processor::run).await
}
