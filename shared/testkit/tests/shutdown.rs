//! Shutdown does not wait on work a client left open: a query instance with
//! a TailEvents stream open stops promptly, ending the stream.

mod common;

use std::time::{Duration, Instant};

use boost_proto::query::v1::{TailEventsRequest, query_service_client::QueryServiceClient};
use boost_testkit::{
    Stack,
    stack::{url, wait_serving},
};
use clap::Parser;
use common::*;
use tokio_util::sync::CancellationToken;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn test_query_shutdown_ends_open_tails_instead_of_waiting_for_them() {
    let stack = Stack::start().await;
    let (_, key) = stack.project_with_key(&["events:read"]).await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let config = boost_query::Config::try_parse_from([
        "query",
        "--auth-url",
        &url(stack.auth),
        "--database-url",
        &stack.db.url,
    ])
    .expect("query config");
    let stop = CancellationToken::new();
    let token = stop.clone();
    let server =
        tokio::spawn(
            async move { boost_query::run(config, listener, token.cancelled_owned()).await },
        );
    wait_serving(addr).await;

    let mut client = QueryServiceClient::connect(url(addr))
        .await
        .expect("connect");
    let mut tail = client
        .tail_events(with_key(&key, TailEventsRequest::default()))
        .await
        .expect("tail opens")
        .into_inner();
    // The tail runs (its default lifetime is 10 minutes).
    tokio::time::sleep(Duration::from_millis(300)).await;

    let asked = Instant::now();
    stop.cancel();
    let stopped = tokio::time::timeout(Duration::from_secs(5), server)
        .await
        .expect("query stopped within 5 s with a tail open")
        .expect("join");
    stopped.expect("query stopped cleanly");
    assert!(asked.elapsed() < Duration::from_secs(5));
    let end = tokio::time::timeout(Duration::from_secs(5), tail.message())
        .await
        .expect("the stream ended");
    assert!(
        !matches!(end, Ok(Some(_))),
        "the tail still delivered: {end:?}"
    );
}
