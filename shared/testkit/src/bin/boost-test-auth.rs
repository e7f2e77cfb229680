//! The auth service as its own OS process, for tests that kill and restart
//! it (`CARGO_BIN_EXE_boost-test-auth`). Same start-up as the `auth` binary.

#[tokio::main]
async fn main() {
    boost_server::service::run_main(boost_auth::run).await
}
