//! `processor` binary: the shared start-up around [`boost_processor::run`].

#[tokio::main]
async fn main() {
    boost_server::service::run_main(boost_processor::run).await
}
