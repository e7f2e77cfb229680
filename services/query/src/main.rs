//! `query` binary: the shared start-up around [`boost_query::run`].

#[tokio::main]
async fn main() {
    boost_server::service::run_main(boost_query::run).await
}
