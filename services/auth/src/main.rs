//! `auth` binary: the shared start-up around [`boost_auth::run`].

#[tokio::main]
async fn main() {
    boost_server::service::run_main(boost_auth::run).await
}
