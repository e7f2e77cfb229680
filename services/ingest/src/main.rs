//! `ingest` binary: the shared start-up around [`boost_ingest::run`].

#[tokio::main]
async fn main() {
    boost_server::service::run_main(boost_ingest::run).await
}
