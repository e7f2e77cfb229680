//! `edge` binary: the shared start-up around [`boost_edge::run`].

#[tokio::main]
async fn main() {
    boost_server::service::run_main(boost_edge::run).await
}
