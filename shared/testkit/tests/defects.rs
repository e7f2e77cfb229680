//! Regression tests for defects found by trying the running stack from
//! outside with hostile input: each answered INTERNAL, was silently changed,
//! crossed a boundary, or raced at start-up.

mod common;

use std::time::Duration;

use base64::{Engine, engine::general_purpose::STANDARD};
use boost_proto::{
    auth::v1::{CreateApiKeyRequest, CreateOrganizationRequest, GetProjectRequest},
    common::v1::Event,
    ingest::v1::{
        AckLevel, EventStatus, IngestBatchRequest, IngestStreamRequest, IngestStreamResponse,
        TrackRequest,
    },
    json::json_to_struct,
    prost::Message,
    prost_types::{Struct, Timestamp, Value, value::Kind},
    query::v1::{EventFilter, GetUserRequest, ListEventsRequest},
};
use boost_testkit::{
    Stack, TestBroker, TestDatabase, TestRedis, raw,
    stack::{admin_request, wait_serving},
};
use clap::Parser;
use common::*;
use tokio_util::sync::CancellationToken;
use tonic::Code;

const TRACK: &str = "/boost.ingest.v1.IngestService/Track";
const BATCH: &str = "/boost.ingest.v1.IngestService/IngestBatch";
const STREAM: &str = "/boost.ingest.v1.IngestService/IngestStream";
const LIST: &str = "/boost.query.v1.QueryService/ListEvents";
const GET_PROJECT: &str = "/boost.auth.v1.AuthService/GetProject";

/// Bytes no protobuf decoder accepts, each a different way.
fn garbage() -> Vec<(&'static str, Vec<u8>)> {
    vec![
        (
            "bad varint",
            vec![
                0x08, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
            ],
        ),
        ("wrong wire type", vec![0x0d, 0x00, 0x00, 0x00, 0x00]),
        ("truncated length", vec![0x0a, 0x40, 0x12]),
        // field 1 (event / events / filter-less fields) holding a message whose
        // string field 2 is not UTF-8
        ("invalid UTF-8", vec![0x0a, 0x03, 0x12, 0x01, 0xff]),
    ]
}

/// A grpc-web-text body: each frame is base64 of its own, padded or not.
fn decode_grpc_web_text(body: &[u8]) -> Vec<u8> {
    let text: Vec<char> = String::from_utf8_lossy(body)
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect();
    let mut out = Vec::new();
    let mut segment = String::new();
    for (i, c) in text.iter().enumerate() {
        segment.push(*c);
        let padding_ends = *c == '=' && text.get(i + 1) != Some(&'=');
        if padding_ends || i + 1 == text.len() {
            out.extend(STANDARD.decode(&segment).expect("base64 frame"));
            segment.clear();
        }
    }
    out
}

fn assert_invalid_argument(status: &tonic::Status, what: &str) {
    assert_eq!(status.code(), Code::InvalidArgument, "{what}: {status:?}");
    for internal in ["failed to decode", "Protobuf", "DecodeError"] {
        assert!(
            !status.message().contains(internal),
            "{what}: the message echoes decoder internals: {}",
            status.message()
        );
    }
}

fn nested(depth: usize) -> Struct {
    let mut value = Struct::default();
    for _ in 0..depth {
        value = Struct {
            fields: [(
                "a".to_string(),
                Value {
                    kind: Some(Kind::StructValue(value)),
                },
            )]
            .into_iter()
            .collect(),
        };
    }
    value
}

/// The field a Track of `event` is refused for (INVALID_ARGUMENT).
async fn refused_field(stack: &Stack, key: &str, event: Event) -> String {
    let mut ingest = ingest_client(stack).await;
    let status = track(&mut ingest, key, event)
        .await
        .expect_err("the event is refused");
    assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
    violated_field(&status)
}

#[tokio::test]
async fn test_undecodable_bytes_are_invalid_argument_on_every_service() {
    let stack = Stack::start().await;
    let (_, key) = stack
        .project_with_key(&["events:write", "events:read", "keys:admin"])
        .await;
    for (what, bytes) in garbage() {
        for (addr, path) in [
            (stack.ingest, TRACK),
            (stack.ingest, BATCH),
            (stack.query, LIST),
            (stack.auth, GET_PROJECT),
        ] {
            let status = raw::unary(addr, path, bytes.clone(), Some(&key))
                .await
                .expect_err("garbage must be refused");
            assert_invalid_argument(&status, &format!("{what} on {path}"));
        }
    }
    // The field is named in request terms.
    let status = raw::unary(
        stack.ingest,
        TRACK,
        vec![0x0a, 0x03, 0x12, 0x01, 0xff],
        Some(&key),
    )
    .await
    .expect_err("invalid UTF-8");
    assert_eq!(violated_field(&status), "event.type");

    // A Struct nested past the decoder's limit sinks the request with
    // INVALID_ARGUMENT naming the limit, never INTERNAL.
    let batch = IngestBatchRequest {
        events: vec![
            event("good"),
            Event {
                properties: Some(nested(120)),
                ..event("deep")
            },
        ],
        ack: AckLevel::Broker as i32,
    };
    let status = raw::unary(stack.ingest, BATCH, batch.encode_to_vec(), Some(&key))
        .await
        .expect_err("too deep to decode");
    assert_invalid_argument(&status, "deep struct");
    assert_eq!(violated_field(&status), "events.properties");
    assert!(status.message().contains("100"), "{}", status.message());

    // Over the message size limit: RESOURCE_EXHAUSTED, not OUT_OF_RANGE.
    let huge = IngestBatchRequest {
        events: vec![Event {
            properties: Some(json_to_struct(
                &serde_json::json!({"blob": "x".repeat(5 * 1024 * 1024)}),
            )),
            ..event("huge")
        }],
        ack: 0,
    };
    let status = raw::unary(stack.ingest, BATCH, huge.encode_to_vec(), Some(&key))
        .await
        .expect_err("5 MiB is over the limit");
    assert_eq!(status.code(), Code::ResourceExhausted, "{status:?}");
    assert!(
        status.message().contains("BOOST_GRPC_MAX_MESSAGE_BYTES"),
        "{}",
        status.message()
    );
}

#[tokio::test]
async fn test_out_of_range_values_are_refused_naming_the_field() {
    let stack = Stack::start().await;
    let (project, key) = stack
        .project_with_key(&["events:write", "events:read"])
        .await;

    // NaN and infinities would be stored as null; nanos past a second would be carried.
    for n in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY] {
        let field = refused_field(
            &stack,
            &key,
            Event {
                properties: Some(number(n)),
                ..event("numbers")
            },
        )
        .await;
        assert_eq!(field, "event.properties", "{n}");
    }
    for nanos in [1_000_000_000, -1] {
        let field = refused_field(
            &stack,
            &key,
            Event {
                timestamp: Some(Timestamp {
                    seconds: 1_700_000_000,
                    nanos,
                }),
                ..event("nanos")
            },
        )
        .await;
        assert_eq!(field, "event.timestamp", "{nanos}");
    }

    // A far-future expiry was stored as 1970 (a key born expired).
    let mut auth = stack.auth_client().await;
    let status = auth
        .create_api_key(admin_request(CreateApiKeyRequest {
            project_id: project.to_string(),
            name: "far".into(),
            scopes: vec!["events:read".into()],
            expire_time: Some(Timestamp {
                seconds: 95_617_584_000_000,
                nanos: 0,
            }),
        }))
        .await
        .expect_err("year 3,000,000 is out of range");
    assert_eq!(status.code(), Code::InvalidArgument);
    assert_eq!(violated_field(&status), "expire_time");

    // Names of bidirectional controls only are not printable names.
    for name in ["\u{202E}", "\u{202E}\u{2066}", "ok\u{202E}kayak"] {
        let status = auth
            .create_organization(admin_request(CreateOrganizationRequest {
                name: name.into(),
            }))
            .await
            .expect_err("bidi name");
        assert_eq!(status.code(), Code::InvalidArgument, "{name:?}");
        assert_eq!(violated_field(&status), "name");
    }

    // NUL in a text filter reached PostgreSQL (INTERNAL).
    let mut query = query_client(&stack).await;
    for (field, filter) in [
        (
            "filter.service",
            EventFilter {
                service: "a\0b".into(),
                ..Default::default()
            },
        ),
        (
            "filter.type",
            EventFilter {
                r#type: "a\0".into(),
                ..Default::default()
            },
        ),
        (
            "filter.user_id",
            EventFilter {
                user_id: "\0".into(),
                ..Default::default()
            },
        ),
    ] {
        let status = list(
            &mut query,
            &key,
            ListEventsRequest {
                filter: Some(filter),
                ..Default::default()
            },
        )
        .await
        .expect_err("NUL filter");
        assert_eq!(status.code(), Code::InvalidArgument, "{field}");
        assert_eq!(violated_field(&status), field);
    }
    let status = query
        .get_user(with_key(
            &key,
            GetUserRequest {
                user_id: "u\0".into(),
            },
        ))
        .await
        .expect_err("NUL user id");
    assert_eq!(violated_field(&status), "user_id");
}

#[tokio::test]
async fn test_page_tokens_and_credentials_do_not_cross_over() {
    let stack = Stack::start().await;
    let (_, key_a) = stack
        .project_with_key(&["events:write", "events:read"])
        .await;
    let (_, key_b) = stack
        .project_with_key(&["events:write", "events:read"])
        .await;
    let mut ingest = ingest_client(&stack).await;
    for i in 0..3 {
        let answer = ingest
            .track(with_key(
                &key_a,
                TrackRequest {
                    event: Some(event(&format!("page_{i}"))),
                    ack: AckLevel::Committed as i32,
                },
            ))
            .await
            .expect("track");
        assert!(answer.into_inner().result.expect("result").stored);
    }
    let mut query = query_client(&stack).await;
    let first = list(
        &mut query,
        &key_a,
        ListEventsRequest {
            page_size: 1,
            ..Default::default()
        },
    )
    .await
    .expect("first page");
    assert!(!first.next_page_token.is_empty());
    // The same token works for its own project and query...
    list(
        &mut query,
        &key_a,
        ListEventsRequest {
            page_size: 1,
            page_token: first.next_page_token.clone(),
            ..Default::default()
        },
    )
    .await
    .expect("second page");
    // ...not for another project, nor another filter.
    for (who, key, filter) in [
        ("another project", &key_b, None),
        (
            "another filter",
            &key_a,
            Some(EventFilter {
                service: "web".into(),
                ..Default::default()
            }),
        ),
    ] {
        let status = list(
            &mut query,
            key,
            ListEventsRequest {
                page_size: 1,
                page_token: first.next_page_token.clone(),
                filter,
                ..Default::default()
            },
        )
        .await
        .expect_err(who);
        assert_eq!(status.code(), Code::InvalidArgument, "{who}");
        assert_eq!(violated_field(&status), "page_token", "{who}");
    }

    // Two different credentials at once are refused, on every service.
    let mut request = with_key(
        &key_a,
        TrackRequest {
            event: Some(event("conflict")),
            ack: 0,
        },
    );
    request
        .metadata_mut()
        .insert("authorization", "Bearer bogus".parse().expect("header"));
    let status = ingest
        .track(request)
        .await
        .expect_err("conflicting credentials");
    assert_eq!(status.code(), Code::Unauthenticated);
    assert!(
        status.message().contains("conflicting"),
        "{}",
        status.message()
    );
    let mut auth = stack.auth_client().await;
    let mut request = with_key(&key_a, GetProjectRequest::default());
    request
        .metadata_mut()
        .insert("authorization", "Bearer bogus".parse().expect("header"));
    let status = auth
        .get_project(request)
        .await
        .expect_err("conflicting credentials");
    assert_eq!(status.code(), Code::Unauthenticated);
}

#[tokio::test]
async fn test_stream_with_an_unreadable_message_accounts_for_what_it_took() {
    let stack = Stack::start().await;
    let (project, key) = stack.project_with_key(&["events:write"]).await;
    let message = |n: usize| IngestStreamRequest {
        events: (0..n)
            .map(|i| Event {
                event_id: uuid::Uuid::now_v7().to_string(),
                ..event(&format!("stream_{i}"))
            })
            .collect(),
    };
    let messages = vec![
        message(3).encode_to_vec(),
        message(2).encode_to_vec(),
        vec![0x0a, 0x40, 0x12], // truncated
        message(4).encode_to_vec(),
    ];
    let bytes = raw::client_stream(stack.ingest, STREAM, messages, Some(&key))
        .await
        .expect("the stream answers with its accounting");
    let answer = IngestStreamResponse::decode(bytes.as_slice()).expect("response");
    assert_eq!(answer.messages, 2, "{answer:?}");
    assert_eq!(answer.accepted, 5, "{answer:?}");
    let error = answer.error.expect("the stop is reported");
    assert_eq!(error.code, Code::InvalidArgument as i32);
    assert_eq!(error.message_index, 2);
    assert!(
        eventually(Duration::from_secs(10), || async {
            stored_ids(&stack, project).await.len() == 5
        })
        .await,
        "the five accepted events are stored, nothing after the stop"
    );
}

#[tokio::test]
async fn test_grpc_web_text_and_the_admin_token_through_the_edge() {
    let stack = Stack::start().await;
    let (_, key) = stack.project_with_key(&["events:write"]).await;

    // Text mode with a Content-Length, as browsers send it.
    let message = boost_proto::ingest::v1::GetLimitsRequest::default().encode_to_vec();
    let mut frame = vec![0u8];
    frame.extend_from_slice(&(message.len() as u32).to_be_bytes());
    frame.extend_from_slice(&message);
    let body = STANDARD.encode(&frame);
    let head = format!(
        "POST /boost.ingest.v1.IngestService/GetLimits HTTP/1.1\r\nhost: {}\r\n\
         content-type: application/grpc-web-text\r\naccept: application/grpc-web-text\r\n\
         x-grpc-web: 1\r\nx-api-key: {key}\r\n\
         content-length: {}\r\nconnection: close\r\n\r\n",
        stack.edge,
        body.len()
    );
    let (headers, answer) = http1(stack.edge, &head, body.as_bytes()).await;
    assert!(headers.starts_with("http/1.1 200"), "{headers}");
    assert!(
        !headers.lines().any(|l| l.starts_with("grpc-status:")),
        "a trailers-only error: {headers}"
    );
    assert!(
        headers.contains("content-type: application/grpc-web-text"),
        "{headers}"
    );
    let decoded = decode_grpc_web_text(&answer);
    assert!(
        String::from_utf8_lossy(&decoded).contains("grpc-status:0"),
        "{:?}",
        String::from_utf8_lossy(&decoded)
    );

    // The operator token: not offered to, nor accepted from, other origins.
    let preflight = |edge, origin: &str| {
        format!(
            "OPTIONS /boost.auth.v1.AuthService/ListProjects HTTP/1.1\r\nhost: {edge}\r\norigin: {origin}\r\n\
             access-control-request-method: POST\r\n\
             access-control-request-headers: content-type,x-admin-token,x-grpc-web\r\nconnection: close\r\n\r\n"
        )
    };
    let (headers, _) = http1(
        stack.edge,
        &preflight(stack.edge, "http://evil.example"),
        b"",
    )
    .await;
    let allowed = headers
        .lines()
        .find(|l| l.starts_with("access-control-allow-headers"))
        .unwrap_or_default()
        .to_string();
    assert!(
        allowed.contains("x-api-key") && !allowed.contains("x-admin-token"),
        "{headers}"
    );
    let call = |edge, origin: &str| {
        format!(
            "POST /boost.auth.v1.AuthService/ListProjects HTTP/1.1\r\nhost: {edge}\r\norigin: {origin}\r\n\
             content-type: application/grpc-web+proto\r\nx-grpc-web: 1\r\nx-admin-token: anything\r\n\
             content-length: 5\r\nconnection: close\r\n\r\n"
        )
    };
    let (headers, _) = http1(
        stack.edge,
        &call(stack.edge, "http://evil.example"),
        &[0; 5],
    )
    .await;
    assert!(headers.contains("grpc-status: 7"), "{headers}");

    // A configured console origin gets it.
    let console = stack
        .spawn_edge(&["--admin-origins", "http://console.example"])
        .await;
    let (headers, _) = http1(console, &preflight(console, "http://console.example"), b"").await;
    assert!(headers.contains("x-admin-token"), "{headers}");
    let (headers, _) = http1(console, &call(console, "http://console.example"), &[0; 5]).await;
    assert!(!headers.contains("grpc-status: 7"), "{headers}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn test_two_deployments_sharing_a_redis_server_do_not_cross_talk() {
    let a = Stack::start().await;
    let shared = a.redis.database(1);
    let b = Stack::start_on_redis(TestBroker::start(), TestDatabase::create().await, shared).await;
    let (_, key_a) = a.project_with_key(&["events:write"]).await;
    let (_, key_b) = b.project_with_key(&["events:write"]).await;
    // B stores plenty: its watermarks run far ahead of A's offsets.
    let mut ingest_b = ingest_client(&b).await;
    for i in 0..40 {
        ingest_b
            .track(with_key(
                &key_b,
                TrackRequest {
                    event: Some(Event {
                        user_id: format!("u{i}"),
                        ..event("b_event")
                    }),
                    ack: AckLevel::Committed as i32,
                },
            ))
            .await
            .expect("B track");
    }
    // A's processor is stopped: A's COMMITTED answer must not borrow B's watermarks.
    let mut a = a;
    a.kill_processor();
    let mut ingest_a = ingest_client(&a).await;
    let started = std::time::Instant::now();
    let result = ingest_a
        .track(with_key(
            &key_a,
            TrackRequest {
                event: Some(event("a_event")),
                ack: AckLevel::Committed as i32,
            },
        ))
        .await
        .expect("A track")
        .into_inner()
        .result
        .expect("result");
    assert_eq!(result.status, EventStatus::Accepted as i32);
    assert!(
        !result.stored,
        "A answered stored with its processor stopped"
    );
    assert!(
        started.elapsed() >= Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn test_services_started_together_on_an_empty_server_all_serve() {
    let db = TestDatabase::unborn().await;
    let broker = TestBroker::start();
    let redis = TestRedis::start();
    let shutdown = CancellationToken::new();
    let mut addrs = Vec::new();
    for name in ["auth", "processor", "query"] {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let mut args = vec![
            name.to_string(),
            "--database-url".into(),
            db.url.clone(),
            "--redis-url".into(),
            redis.url.clone(),
        ];
        let token = shutdown.clone();
        match name {
            "auth" => {
                args.extend(["--admin-token".into(), "x".repeat(32)]);
                let config = boost_auth::Config::try_parse_from(args).expect("auth config");
                tokio::spawn(async move {
                    boost_auth::run(config, listener, token.cancelled_owned()).await
                });
            }
            "processor" => {
                args.extend(["--kafka-brokers".into(), broker.address.clone()]);
                let config =
                    boost_processor::Config::try_parse_from(args).expect("processor config");
                tokio::spawn(async move {
                    boost_processor::run(config, listener, token.cancelled_owned()).await
                });
            }
            _ => {
                args.truncate(3);
                let config = boost_query::Config::try_parse_from(args).expect("query config");
                tokio::spawn(async move {
                    boost_query::run(config, listener, token.cancelled_owned()).await
                });
            }
        }
        addrs.push(addr);
    }
    for addr in addrs {
        wait_serving(addr).await;
    }
    shutdown.cancel();
}
