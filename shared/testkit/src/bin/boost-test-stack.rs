//! A whole private Boost stack for the SDKs' own test suites (Python,
//! TypeScript): a fresh database, Redis database and broker, the five services
//! on loopback port 0, plus a second ingest with small rate limits (and an
//! edge in front of it), an edge for the console (every route, and the
//! console's files from `BOOST_EDGE_CONSOLE_DIR`), and a project holding one
//! dead letter (`BOOST_DEAD_LETTER_KEY`). It prints
//! `KEY=VALUE` lines (addresses, the operator token) and `READY`, then runs
//! until its standard input closes or it gets SIGTERM/SIGINT, and cleans up.
//!
//! The SDK suites start it themselves (their fixtures run this binary), so
//! each run is isolated and leaves nothing behind.

use std::{
    io::{Read, Write},
    time::SystemTime,
};

use boost_proto::common::v1::{Event, EventBatchRecord, EventKind};
use boost_testkit::{Stack, stack::url};

/// Events per window of the rate-limited ingest (per project).
const LIMITED_EVENTS: &str = "300";
/// Its window, in milliseconds.
const LIMITED_WINDOW_MS: &str = "2000";

/// A project holding one dead letter (an identify event without a user,
/// written past ingest's validation, which its handler refuses); returns a
/// key of that project with events:read and events:write.
async fn project_with_a_dead_letter(stack: &Stack) -> String {
    let (project, key) = stack
        .project_with_key(&["events:read", "events:write"])
        .await;
    let refused = Event {
        event_id: uuid::Uuid::now_v7().to_string(),
        r#type: "identify".into(),
        kind: EventKind::Identify as i32,
        timestamp: Some(SystemTime::now().into()),
        ..Default::default()
    };
    stack
        .produce_raw(&EventBatchRecord {
            project_id: project.to_string(),
            events: vec![refused],
            receive_time: Some(SystemTime::now().into()),
        })
        .await;
    key
}

#[tokio::main]
async fn main() {
    let stack = Stack::start().await;
    let limited = stack
        .spawn_ingest(&[
            "--rate-limit-events",
            LIMITED_EVENTS,
            "--rate-limit-window-ms",
            LIMITED_WINDOW_MS,
        ])
        .await;
    let limited_edge = stack.spawn_edge_to(limited, &[]).await;
    // An edge that routes the processor's API too (the stack's own edge
    // starts before the processor), serving the console when
    // BOOST_EDGE_CONSOLE_DIR is set.
    let processor = stack.processor.expect("the stack runs a processor");
    let console = stack
        .spawn_edge(&["--processor-url", &url(processor)])
        .await;
    let dead_letter_key = project_with_a_dead_letter(&stack).await;
    let lines = [
        ("BOOST_AUTH_URL", url(stack.auth)),
        ("BOOST_INGEST_URL", url(stack.ingest)),
        ("BOOST_QUERY_URL", url(stack.query)),
        ("BOOST_EDGE_URL", url(stack.edge)),
        ("BOOST_PROCESSOR_URL", url(processor)),
        ("BOOST_CONSOLE_URL", url(console)),
        ("BOOST_LIMITED_INGEST_URL", url(limited)),
        ("BOOST_LIMITED_EDGE_URL", url(limited_edge)),
        ("BOOST_DEAD_LETTER_KEY", dead_letter_key),
        ("BOOST_LIMITED_EVENTS", LIMITED_EVENTS.to_string()),
        ("BOOST_LIMITED_WINDOW_MS", LIMITED_WINDOW_MS.to_string()),
        (
            "BOOST_ADMIN_TOKEN",
            boost_testkit::stack::ADMIN_TOKEN.to_string(),
        ),
    ];
    let mut out = std::io::stdout().lock();
    for (key, value) in lines {
        let _ = writeln!(out, "{key}={value}");
    }
    let _ = writeln!(out, "READY");
    let _ = out.flush();
    drop(out);

    // The parent holds our standard input open while it needs the stack.
    let stdin_closed = tokio::task::spawn_blocking(|| {
        let mut sink = [0u8; 256];
        let mut stdin = std::io::stdin();
        while matches!(stdin.read(&mut sink), Ok(n) if n > 0) {}
    });
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .expect("SIGTERM handler");
    tokio::select! {
        _ = stdin_closed => {}
        _ = term.recv() => {}
        _ = tokio::signal::ctrl_c() => {}
    }
    drop(stack);
}
