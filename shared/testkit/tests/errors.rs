//! What callers get when something is wrong: gRPC codes and google.rpc
//! details, over real services.

mod common;

use boost_proto::{
    auth::v1::{
        CreateApiKeyRequest, CreateOrganizationRequest, CreateProjectRequest, ValidateApiKeyRequest,
    },
    query::v1::ListEventsRequest,
};
use boost_server::credentials;
use boost_testkit::{Stack, stack::admin_request};
use common::*;
use tonic::{Code, Request};
use tonic_types::StatusExt;

#[tokio::test]
async fn test_missing_unknown_or_malformed_key_is_unauthenticated() {
    let stack = Stack::start().await;
    let (_, key) = stack
        .project_with_key(&["events:write", "events:read"])
        .await;
    let mut ingest = ingest_client(&stack).await;
    let mut query = query_client(&stack).await;

    // Missing.
    let status = ingest
        .track(Request::new(boost_proto::ingest::v1::TrackRequest {
            event: Some(event("x")),
            ..Default::default()
        }))
        .await
        .expect_err("no key");
    assert_eq!(status.code(), Code::Unauthenticated);
    let status = query
        .list_events(Request::new(ListEventsRequest::default()))
        .await
        .expect_err("no key");
    assert_eq!(status.code(), Code::Unauthenticated);

    // Malformed, and one character off (checksum catches it).
    let mut typo = key.clone().into_bytes();
    typo[20] = if typo[20] == b'a' { b'b' } else { b'a' };
    let typo = String::from_utf8(typo).expect("ascii");
    for bad in ["hello", "pk_live_short", typo.as_str()] {
        let status = track(&mut ingest, bad, event("x"))
            .await
            .expect_err("bad key");
        assert_eq!(status.code(), Code::Unauthenticated, "{bad}");
    }

    // Well-formed but unknown.
    let unknown = credentials::generate().secret;
    let status = track(&mut ingest, &unknown, event("x"))
        .await
        .expect_err("unknown key");
    assert_eq!(status.code(), Code::Unauthenticated);
    let status = list(&mut query, &unknown, ListEventsRequest::default())
        .await
        .expect_err("unknown key");
    assert_eq!(status.code(), Code::Unauthenticated);

    // Bearer works like x-api-key.
    let mut request = Request::new(ListEventsRequest::default());
    request.metadata_mut().insert(
        "authorization",
        format!("Bearer {key}").parse().expect("ascii"),
    );
    query.list_events(request).await.expect("bearer accepted");
}

#[tokio::test]
async fn test_wrong_scope_is_permission_denied_naming_scope() {
    let stack = Stack::start().await;
    let (_, read_only) = stack.project_with_key(&["events:read"]).await;
    let mut ingest = ingest_client(&stack).await;
    let status = track(&mut ingest, &read_only, event("x"))
        .await
        .expect_err("read-only key");
    assert_eq!(status.code(), Code::PermissionDenied);
    assert!(
        status.message().contains("events:write"),
        "{}",
        status.message()
    );

    let (_, write_only) = stack.project_with_key(&["events:write"]).await;
    let mut query = query_client(&stack).await;
    let status = list(&mut query, &write_only, ListEventsRequest::default())
        .await
        .expect_err("write-only key");
    assert_eq!(status.code(), Code::PermissionDenied);
    assert!(status.message().contains("events:read"));
}

#[tokio::test]
async fn test_event_without_type_is_invalid_argument_naming_field() {
    let stack = Stack::start().await;
    let (_, key) = stack.project_with_key(&["events:write"]).await;
    let mut ingest = ingest_client(&stack).await;
    let status = track(&mut ingest, &key, event(""))
        .await
        .expect_err("no type");
    assert_eq!(status.code(), Code::InvalidArgument);
    let details = status.get_error_details();
    let violations = &details
        .bad_request()
        .expect("BadRequest details")
        .field_violations;
    assert_eq!(violations[0].field, "event.type");

    let mut bad_id = event("x");
    bad_id.event_id = "not-a-uuid".into();
    let status = track(&mut ingest, &key, bad_id).await.expect_err("bad id");
    assert_eq!(status.code(), Code::InvalidArgument);
    assert_eq!(violated_field(&status), "event.event_id");

    let status = ingest
        .track(with_key(
            &key,
            boost_proto::ingest::v1::TrackRequest {
                event: None,
                ..Default::default()
            },
        ))
        .await
        .expect_err("no event");
    assert_eq!(status.code(), Code::InvalidArgument);
}

#[tokio::test]
async fn test_bad_list_arguments_name_the_field() {
    let stack = Stack::start().await;
    let (_, key) = stack.project_with_key(&["events:read"]).await;
    let mut query = query_client(&stack).await;
    for (request, field) in [
        (
            ListEventsRequest {
                page_size: 5000,
                ..Default::default()
            },
            "page_size",
        ),
        (
            ListEventsRequest {
                page_token: "garbage".into(),
                ..Default::default()
            },
            "page_token",
        ),
        (
            ListEventsRequest {
                start_time: Some(std::time::SystemTime::now().into()),
                end_time: Some(
                    (std::time::SystemTime::now() - std::time::Duration::from_secs(60)).into(),
                ),
                ..Default::default()
            },
            "start_time",
        ),
    ] {
        let status = list(&mut query, &key, request).await.expect_err("invalid");
        assert_eq!(status.code(), Code::InvalidArgument, "{field}");
        assert_eq!(violated_field(&status), field);
    }
}

#[tokio::test]
async fn test_admin_rpcs_need_the_admin_token() {
    let stack = Stack::start().await;
    let mut auth = stack.auth_client().await;
    let status = auth
        .create_organization(Request::new(CreateOrganizationRequest {
            name: "acme".into(),
        }))
        .await
        .expect_err("no token");
    assert_eq!(status.code(), Code::Unauthenticated);
    let mut wrong = Request::new(CreateOrganizationRequest {
        name: "acme".into(),
    });
    wrong.metadata_mut().insert(
        "x-admin-token",
        "not-the-token-at-all".parse().expect("ascii"),
    );
    assert_eq!(
        auth.create_organization(wrong)
            .await
            .expect_err("wrong token")
            .code(),
        Code::Unauthenticated
    );

    let status = auth
        .create_project(admin_request(CreateProjectRequest {
            organization_id: uuid::Uuid::now_v7().to_string(),
            name: "web".into(),
        }))
        .await
        .expect_err("unknown org");
    assert_eq!(status.code(), Code::NotFound);

    let status = auth
        .create_api_key(admin_request(CreateApiKeyRequest {
            project_id: uuid::Uuid::now_v7().to_string(),
            name: "k".into(),
            scopes: vec!["events:root".into()],
            expire_time: None,
        }))
        .await
        .expect_err("bad scope");
    assert_eq!(status.code(), Code::InvalidArgument);
    assert_eq!(violated_field(&status), "scopes");
}

#[tokio::test]
async fn test_keys_are_stored_only_as_hashes() {
    let stack = Stack::start().await;
    let (project, key) = stack.project_with_key(&["events:write"]).await;
    let pool = stack.db.pool();
    let client = pool.get().await.expect("connection");
    let row = client
        .query_one(
            "SELECT count(*) FROM api_keys k WHERE k.project_id = $1 AND k.key_hash = sha256($2::text::bytea)
               AND position($2 in k::text) = 0",
            &[&project, &key],
        )
        .await
        .expect("query");
    assert_eq!(
        row.get::<_, i64>(0),
        1,
        "hash stored, plaintext nowhere in the row"
    );

    let principal = stack
        .auth_client()
        .await
        .validate_api_key(ValidateApiKeyRequest { api_key: key })
        .await
        .expect("validates")
        .into_inner()
        .principal
        .expect("principal");
    assert_eq!(principal.project_id, project.to_string());
}

#[tokio::test]
async fn test_auth_unreachable_is_unavailable_not_unauthenticated() {
    use boost_testkit::{
        TestBroker, free_port,
        stack::{url, wait_serving},
    };
    use clap::Parser;

    let broker = TestBroker::start();
    let dead_auth = format!("http://127.0.0.1:{}", free_port());
    let config = boost_ingest::Config::try_parse_from([
        "ingest",
        "--auth-url",
        &dead_auth,
        "--kafka-brokers",
        &broker.address,
    ])
    .expect("config");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let shutdown = tokio_util::sync::CancellationToken::new();
    let token = shutdown.clone();
    tokio::spawn(async move { boost_ingest::run(config, listener, token.cancelled_owned()).await });
    wait_serving(addr).await;

    let mut ingest =
        boost_proto::ingest::v1::ingest_service_client::IngestServiceClient::connect(url(addr))
            .await
            .expect("connect");
    let key = credentials::generate().secret;
    let status = track(&mut ingest, &key, event("x"))
        .await
        .expect_err("auth down");
    assert_eq!(status.code(), Code::Unavailable, "{status:?}");
    assert!(
        status.get_error_details().retry_info().is_some(),
        "UNAVAILABLE carries RetryInfo"
    );
    shutdown.cancel();
}
