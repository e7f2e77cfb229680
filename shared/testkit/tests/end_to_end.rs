//! The whole path over real components: Track → broker → processor →
//! PostgreSQL → ListEvents, directly and through the gRPC-web edge.

mod common;

use std::time::{Duration, Instant};

use boost_proto::{
    json::json_to_struct,
    prost::Message,
    query::v1::{ListEventsRequest, ListEventsResponse},
};
use boost_testkit::{Stack, stack::url};
use common::*;
use tonic::transport::Channel;

#[tokio::test]
async fn test_tracked_event_is_listed_within_a_second() {
    let stack = Stack::start().await;
    let (_project, key) = stack
        .project_with_key(&["events:write", "events:read"])
        .await;
    let mut ingest = ingest_client(&stack).await;
    let mut query = query_client(&stack).await;

    let mut sent = event("signup_completed");
    sent.user_id = "user-1".into();
    sent.service = "web".into();
    sent.properties = Some(json_to_struct(&serde_json_object()));
    let answer = track(&mut ingest, &key, sent)
        .await
        .expect("track accepted");
    let result = answer.result.expect("result");
    assert_eq!(
        result.status,
        boost_proto::ingest::v1::EventStatus::Accepted as i32
    );
    let acked = Instant::now();

    let page = loop {
        let page = list(&mut query, &key, ListEventsRequest::default())
            .await
            .expect("list");
        if !page.events.is_empty() {
            break page;
        }
        assert!(
            acked.elapsed() < Duration::from_secs(5),
            "event not listed within 5 s"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert!(
        acked.elapsed() < Duration::from_secs(1),
        "listed after {:?}",
        acked.elapsed()
    );
    assert_eq!(page.events.len(), 1);
    let stored = page.events[0].event.clone().expect("event");
    assert_eq!(stored.event_id, result.event_id);
    assert_eq!(stored.r#type, "signup_completed");
    assert_eq!(stored.user_id, "user-1");
    assert_eq!(stored.service, "web");
    assert_eq!(
        boost_proto::json::struct_to_json(&stored.properties.expect("properties")),
        serde_json_object()
    );
}

fn serde_json_object() -> serde_json::Value {
    serde_json::json!({"plan": "pro", "seats": 3})
}

#[tokio::test]
async fn test_every_port_serves_health_and_reflection() {
    use tokio_stream::StreamExt;
    use tonic_health::pb::{
        HealthCheckRequest, health_check_response::ServingStatus, health_client::HealthClient,
    };
    use tonic_reflection::pb::v1::{
        ServerReflectionRequest, server_reflection_client::ServerReflectionClient,
        server_reflection_request::MessageRequest, server_reflection_response::MessageResponse,
    };

    let stack = Stack::start().await;
    let ports = [
        (stack.auth, vec!["boost.auth.v1.AuthService"]),
        (stack.ingest, vec!["boost.ingest.v1.IngestService"]),
        (stack.query, vec!["boost.query.v1.QueryService"]),
        (stack.processor.expect("processor running"), vec![]),
        (
            stack.edge,
            vec![
                "boost.auth.v1.AuthService",
                "boost.ingest.v1.IngestService",
                "boost.query.v1.QueryService",
            ],
        ),
    ];
    for (addr, expected) in ports {
        let channel = Channel::from_shared(url(addr))
            .expect("url")
            .connect()
            .await
            .expect("connect");
        let health = HealthClient::new(channel.clone())
            .check(HealthCheckRequest {
                service: String::new(),
            })
            .await
            .expect("health check")
            .into_inner();
        assert_eq!(health.status, ServingStatus::Serving as i32, "{addr}");

        let ask = |message| ServerReflectionRequest {
            host: String::new(),
            message_request: Some(message),
        };
        // What grpcurl asks: the services, then the files of the error
        // detail types it meets, so it can print them decoded.
        let details = [
            "google.rpc.BadRequest",
            "google.rpc.RetryInfo",
            "google.rpc.QuotaFailure",
        ];
        let requests = std::iter::once(ask(MessageRequest::ListServices(String::new()))).chain(
            details
                .iter()
                .map(|symbol| ask(MessageRequest::FileContainingSymbol(symbol.to_string()))),
        );
        let mut responses = ServerReflectionClient::new(channel)
            .server_reflection_info(tokio_stream::iter(requests.collect::<Vec<_>>()))
            .await
            .expect("reflection")
            .into_inner();
        let Some(Ok(response)) = responses.next().await else {
            panic!("no reflection answer from {addr}")
        };
        let Some(MessageResponse::ListServicesResponse(list)) = response.message_response else {
            panic!("unexpected reflection answer from {addr}")
        };
        for symbol in details {
            let Some(Ok(response)) = responses.next().await else {
                panic!("no reflection answer for {symbol} from {addr}")
            };
            let Some(MessageResponse::FileDescriptorResponse(files)) = response.message_response
            else {
                panic!(
                    "{addr} cannot describe {symbol}: {:?}",
                    response.message_response
                )
            };
            let names: Vec<String> = files
                .file_descriptor_proto
                .iter()
                .map(|bytes| {
                    boost_proto::prost_types::FileDescriptorProto::decode(bytes.as_slice())
                        .expect("descriptor")
                        .name()
                        .to_string()
                })
                .collect();
            assert!(
                names.contains(&"google/rpc/error_details.proto".to_string()),
                "{addr} {symbol}: {names:?}"
            );
        }
        let names: Vec<String> = list.service.into_iter().map(|s| s.name).collect();
        assert!(
            names.contains(&"grpc.health.v1.Health".to_string()),
            "{addr}: {names:?}"
        );
        for name in expected {
            assert!(
                names.contains(&name.to_string()),
                "{addr} lacks {name}: {names:?}"
            );
        }
    }
}

#[tokio::test]
async fn test_grpc_web_through_edge_matches_direct_call() {
    let stack = Stack::start().await;
    let (_project, key) = stack
        .project_with_key(&["events:write", "events:read"])
        .await;
    let mut ingest = ingest_client(&stack).await;
    track(&mut ingest, &key, event("page_viewed"))
        .await
        .expect("track");
    let mut query = query_client(&stack).await;
    assert!(
        eventually(Duration::from_secs(5), || {
            let mut query = query.clone();
            let key = key.clone();
            async move {
                !list(&mut query, &key, ListEventsRequest::default())
                    .await
                    .expect("list")
                    .events
                    .is_empty()
            }
        })
        .await
    );
    let direct = list(&mut query, &key, ListEventsRequest::default())
        .await
        .expect("direct list");

    // gRPC-web frame: flag 0, big-endian length, message.
    let message = ListEventsRequest::default().encode_to_vec();
    let mut frame = vec![0u8];
    frame.extend_from_slice(&(message.len() as u32).to_be_bytes());
    frame.extend_from_slice(&message);
    let head = format!(
        "POST /boost.query.v1.QueryService/ListEvents HTTP/1.1\r\nhost: {}\r\ncontent-type: application/grpc-web+proto\r\n\
         x-grpc-web: 1\r\norigin: http://app.example\r\nx-api-key: {key}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
        stack.edge,
        frame.len()
    );
    let (headers, body) = http1(stack.edge, &head, &frame).await;
    assert!(headers.starts_with("http/1.1 200"), "{headers}");
    assert!(
        headers.contains("content-type: application/grpc-web+proto"),
        "{headers}"
    );
    assert!(headers.contains("access-control-allow-origin"), "{headers}");
    assert!(headers.contains("x-request-id"), "{headers}");
    // Data frame, then a trailers frame (flag 0x80) carrying grpc-status: 0.
    assert_eq!(body[0], 0, "first frame is data");
    let length = u32::from_be_bytes(body[1..5].try_into().expect("4 bytes")) as usize;
    let via_edge = ListEventsResponse::decode(&body[5..5 + length]).expect("decode response");
    assert_eq!(via_edge, direct);
    let trailers = &body[5 + length..];
    assert_eq!(trailers[0], 0x80, "second frame is trailers");
    assert!(String::from_utf8_lossy(&trailers[5..]).contains("grpc-status:0"));
}

#[tokio::test]
async fn test_cors_preflight_is_answered() {
    let stack = Stack::start().await;
    let head = format!(
        "OPTIONS /boost.ingest.v1.IngestService/Track HTTP/1.1\r\nhost: {}\r\norigin: http://app.example\r\n\
         access-control-request-method: POST\r\naccess-control-request-headers: content-type,x-api-key,x-grpc-web\r\n\
         connection: close\r\n\r\n",
        stack.edge
    );
    let (headers, _) = http1(stack.edge, &head, b"").await;
    assert!(headers.starts_with("http/1.1 200"), "{headers}");
    assert!(
        headers.contains("access-control-allow-origin: *"),
        "{headers}"
    );
    assert!(
        headers.contains("access-control-allow-methods"),
        "{headers}"
    );
    assert!(headers.contains("x-api-key"), "{headers}");
}

#[tokio::test]
async fn test_request_id_is_echoed_or_generated() {
    let stack = Stack::start().await;
    let mut ingest = ingest_client(&stack).await;
    let mut request = with_key(
        "pk_live_bad",
        boost_proto::ingest::v1::TrackRequest::default(),
    );
    request
        .metadata_mut()
        .insert("x-request-id", "req-123".parse().expect("ascii"));
    let status = ingest.track(request).await.expect_err("bad key");
    assert_eq!(
        status
            .metadata()
            .get("x-request-id")
            .and_then(|v| v.to_str().ok()),
        Some("req-123")
    );

    let status = ingest
        .track(with_key(
            "pk_live_bad",
            boost_proto::ingest::v1::TrackRequest::default(),
        ))
        .await
        .expect_err("bad key");
    let generated = status
        .metadata()
        .get("x-request-id")
        .expect("generated request id");
    assert!(uuid::Uuid::parse_str(generated.to_str().expect("ascii")).is_ok());
}

#[tokio::test]
async fn test_edge_serves_the_console_beside_the_api() {
    let stack = Stack::start().await;
    let dir = std::env::temp_dir().join(format!("boost-console-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(dir.join("assets")).expect("console dir");
    std::fs::write(dir.join("index.html"), "<title>Boost console</title>").expect("index");
    std::fs::write(dir.join("assets/app.js"), "console.log(1)").expect("asset");
    let edge = stack
        .spawn_edge(&["--console-dir", dir.to_str().expect("utf-8 path")])
        .await;
    let get =
        |path: &str| format!("GET {path} HTTP/1.1\r\nhost: {edge}\r\nconnection: close\r\n\r\n");

    let (headers, body) = http1(edge, &get("/"), b"").await;
    assert!(headers.starts_with("http/1.1 200"), "{headers}");
    assert!(headers.contains("content-type: text/html"), "{headers}");
    assert_eq!(body, b"<title>Boost console</title>");
    let (headers, body) = http1(edge, &get("/assets/app.js"), b"").await;
    assert!(headers.contains("javascript"), "{headers}");
    assert_eq!(body, b"console.log(1)");
    // A route of the app itself loads the app.
    let (headers, body) = http1(edge, &get("/explore/deep"), b"").await;
    assert!(headers.starts_with("http/1.1 200"), "{headers}");
    assert_eq!(body, b"<title>Boost console</title>");

    // The operator token: taken from the edge's own origin (its console),
    // refused from any other page.
    let message = boost_proto::auth::v1::ListProjectsRequest {
        organization_id: uuid::Uuid::nil().to_string(),
        ..Default::default()
    }
    .encode_to_vec();
    let mut frame = vec![0u8];
    frame.extend_from_slice(&(message.len() as u32).to_be_bytes());
    frame.extend_from_slice(&message);
    let list_projects = |origin: &str| {
        format!(
            "POST /boost.auth.v1.AuthService/ListProjects HTTP/1.1\r\nhost: {edge}\r\ncontent-type: application/grpc-web+proto\r\n\
             x-grpc-web: 1\r\norigin: {origin}\r\nx-admin-token: {}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
            boost_testkit::stack::ADMIN_TOKEN,
            frame.len()
        )
    };
    let (own, body) = http1(edge, &list_projects(&format!("http://{edge}")), &frame).await;
    let own = format!("{own}{}", String::from_utf8_lossy(&body));
    assert!(
        own.contains("grpc-status: 0") || own.contains("grpc-status:0"),
        "{own}"
    );
    let (foreign, _) = http1(edge, &list_projects("http://elsewhere.example"), &frame).await;
    assert!(
        foreign.contains("grpc-status: 7"),
        "PERMISSION_DENIED: {foreign}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
