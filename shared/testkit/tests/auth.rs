//! The auth service over real PostgreSQL and Redis: tenancy, key management
//! with ownership checks, revocation across instances, degraded mode, JWTs,
//! audit, last use, and secrets kept out of tables and logs.

mod common;

use std::{
    io::Write,
    sync::{Arc, Mutex, OnceLock},
    time::{Duration, Instant, SystemTime, UNIX_EPOCH},
};

use boost_proto::auth::v1::{
    self as pb, ValidateApiKeyRequest, auth_service_client::AuthServiceClient,
};
use boost_testkit::{
    Stack,
    stack::{JWT_SECRET, admin_request, url},
};
use common::*;
use tonic::{Code, Request, transport::Channel};
use tonic_health::pb::{
    HealthCheckRequest, health_check_response::ServingStatus, health_client::HealthClient,
};
use uuid::Uuid;

async fn auth_at(addr: std::net::SocketAddr) -> AuthServiceClient<Channel> {
    AuthServiceClient::connect(url(addr))
        .await
        .expect("connect auth")
}

async fn validate(
    auth: &mut AuthServiceClient<Channel>,
    key: &str,
) -> Result<pb::Principal, tonic::Status> {
    auth.validate_api_key(ValidateApiKeyRequest {
        api_key: key.into(),
    })
    .await
    .map(|r| r.into_inner().principal.expect("principal"))
}

/// Key id of a secret, through validation.
async fn key_id(auth: &mut AuthServiceClient<Channel>, key: &str) -> String {
    validate(auth, key).await.expect("valid").api_key_id
}

#[tokio::test]
async fn test_projects_can_be_created_read_listed_renamed_and_deleted() {
    let stack = Stack::start().await;
    let mut auth = stack.auth_client().await;
    let org = auth
        .create_organization(admin_request(pb::CreateOrganizationRequest {
            name: "acme".into(),
        }))
        .await
        .expect("org")
        .into_inner()
        .organization
        .expect("org");
    let mut ids = Vec::new();
    for name in ["web", "ios", "backend"] {
        let body = pb::CreateProjectRequest {
            organization_id: org.id.clone(),
            name: name.into(),
        };
        ids.push(
            auth.create_project(admin_request(body))
                .await
                .expect("project")
                .into_inner()
                .project
                .expect("p")
                .id,
        );
    }
    let duplicate = pb::CreateProjectRequest {
        organization_id: org.id.clone(),
        name: "web".into(),
    };
    assert_eq!(
        auth.create_project(admin_request(duplicate))
            .await
            .expect_err("dup")
            .code(),
        Code::AlreadyExists
    );

    // Two pages of two.
    let first = auth
        .list_projects(admin_request(pb::ListProjectsRequest {
            organization_id: org.id.clone(),
            page_size: 2,
            page_token: String::new(),
        }))
        .await
        .expect("page 1")
        .into_inner();
    let second = auth
        .list_projects(admin_request(pb::ListProjectsRequest {
            organization_id: org.id.clone(),
            page_size: 2,
            page_token: first.next_page_token.clone(),
        }))
        .await
        .expect("page 2")
        .into_inner();
    let listed: Vec<String> = first
        .projects
        .iter()
        .chain(&second.projects)
        .map(|p| p.id.clone())
        .collect();
    assert_eq!(listed, ids);
    assert!(second.next_page_token.is_empty());

    let renamed = auth
        .update_project(admin_request(pb::UpdateProjectRequest {
            project_id: ids[0].clone(),
            name: "website".into(),
            retention_days: None,
        }))
        .await
        .expect("rename")
        .into_inner()
        .project
        .expect("p");
    assert_eq!(
        (renamed.name.as_str(), renamed.retention_days),
        ("website", 30)
    );
    // Retention alone: the name stays.
    let kept = auth
        .update_project(admin_request(pb::UpdateProjectRequest {
            project_id: ids[0].clone(),
            name: String::new(),
            retention_days: Some(7),
        }))
        .await
        .expect("set retention")
        .into_inner()
        .project
        .expect("p");
    assert_eq!((kept.name.as_str(), kept.retention_days), ("website", 7));
    for (name, days) in [("", Some(0)), ("", Some(3651)), ("", None)] {
        let refused = auth
            .update_project(admin_request(pb::UpdateProjectRequest {
                project_id: ids[0].clone(),
                name: name.into(),
                retention_days: days,
            }))
            .await
            .expect_err("out of range, or nothing to change");
        assert_eq!(refused.code(), tonic::Code::InvalidArgument, "{days:?}");
        let field = if days.is_some() {
            "retention_days"
        } else {
            "name"
        };
        assert_eq!(violated_field(&refused), field);
    }
    let got = auth
        .get_project(admin_request(pb::GetProjectRequest {
            project_id: ids[0].clone(),
        }))
        .await
        .expect("get")
        .into_inner()
        .project
        .expect("p");
    assert_eq!((got.name.as_str(), got.retention_days), ("website", 7));

    // GetCaller: the operator, or a key's project and scopes.
    let caller = auth
        .get_caller(admin_request(pb::GetCallerRequest {}))
        .await
        .expect("operator")
        .into_inner();
    assert!(caller.operator && caller.principal.is_none());
    let reader = stack
        .key_for(ids[1].parse().expect("uuid"), &["events:read"])
        .await;
    let caller = auth
        .get_caller(with_key(&reader, pb::GetCallerRequest {}))
        .await
        .expect("any key may ask")
        .into_inner();
    let principal = caller.principal.expect("a key's principal");
    assert!(!caller.operator);
    assert_eq!(principal.project_id, ids[1]);
    assert_eq!(principal.scopes, ["events:read"]);

    // Deleting cascades: the project's key stops working, its events go.
    let body = pb::CreateApiKeyRequest {
        project_id: ids[0].clone(),
        name: "k".into(),
        scopes: vec!["events:read".into()],
        expire_time: None,
    };
    let key = auth
        .create_api_key(admin_request(body))
        .await
        .expect("key")
        .into_inner()
        .secret;
    validate(&mut auth, &key)
        .await
        .expect("valid before delete");
    auth.delete_project(admin_request(pb::DeleteProjectRequest {
        project_id: ids[0].clone(),
    }))
    .await
    .expect("delete");
    assert_eq!(
        validate(&mut auth, &key).await.expect_err("deleted").code(),
        Code::Unauthenticated
    );
    let status = auth
        .get_project(admin_request(pb::GetProjectRequest {
            project_id: ids[0].clone(),
        }))
        .await
        .expect_err("gone");
    assert_eq!(status.code(), Code::NotFound);
}

#[tokio::test]
async fn test_key_admin_manages_only_its_own_project() {
    let stack = Stack::start().await;
    let (project_a, admin_a) = stack.project_with_key(&["keys:admin"]).await;
    let (project_b, key_b) = stack.project_with_key(&["events:write"]).await;
    let mut auth = stack.auth_client().await;
    let id_b = key_id(&mut auth, &key_b).await;

    // Own project: create (project from the key), list, rotate, revoke.
    let created = auth
        .create_api_key(with_key(
            &admin_a,
            pb::CreateApiKeyRequest {
                project_id: String::new(),
                name: "ci".into(),
                scopes: vec!["events:write".into()],
                expire_time: None,
            },
        ))
        .await
        .expect("create in own project")
        .into_inner();
    assert_eq!(
        created.api_key.as_ref().expect("key").project_id,
        project_a.to_string()
    );
    let listed = auth
        .list_api_keys(with_key(&admin_a, pb::ListApiKeysRequest::default()))
        .await
        .expect("list own")
        .into_inner();
    assert_eq!(listed.api_keys.len(), 2);
    assert!(
        listed
            .api_keys
            .iter()
            .all(|k| k.project_id == project_a.to_string())
    );

    // Another project: every id answers NOT_FOUND.
    let other = project_b.to_string();
    let status = auth
        .list_api_keys(with_key(
            &admin_a,
            pb::ListApiKeysRequest {
                project_id: other.clone(),
            },
        ))
        .await
        .expect_err("other list");
    assert_eq!(status.code(), Code::NotFound);
    let status = auth
        .revoke_api_key(with_key(
            &admin_a,
            pb::RevokeApiKeyRequest {
                api_key_id: id_b.clone(),
            },
        ))
        .await
        .expect_err("other revoke");
    assert_eq!(status.code(), Code::NotFound);
    let status = auth
        .rotate_api_key(with_key(
            &admin_a,
            pb::RotateApiKeyRequest {
                api_key_id: id_b.clone(),
            },
        ))
        .await
        .expect_err("other rotate");
    assert_eq!(status.code(), Code::NotFound);
    let status = auth
        .get_project(with_key(
            &admin_a,
            pb::GetProjectRequest { project_id: other },
        ))
        .await
        .expect_err("other project");
    assert_eq!(status.code(), Code::NotFound);
    validate(&mut auth, &key_b)
        .await
        .expect("project B's key untouched");

    // Without keys:admin: PERMISSION_DENIED naming the scope; operator-only RPCs too.
    let status = auth
        .list_api_keys(with_key(&key_b, pb::ListApiKeysRequest::default()))
        .await
        .expect_err("no scope");
    assert_eq!(status.code(), Code::PermissionDenied);
    assert!(status.message().contains("keys:admin"));
    let status = auth
        .create_organization(with_key(
            &admin_a,
            pb::CreateOrganizationRequest { name: "x".into() },
        ))
        .await
        .expect_err("operator only");
    assert_eq!(status.code(), Code::PermissionDenied);
    // Listing never shows secrets or hashes: only the display prefix.
    assert!(
        listed
            .api_keys
            .iter()
            .all(|k| k.prefix.len() == boost_server::credentials::DISPLAY_PREFIX_LEN)
    );
}

#[tokio::test]
async fn test_revoked_key_is_refused_by_two_instances_within_a_second() {
    let stack = Stack::start().await;
    let second = stack.spawn_auth().await;
    let (_, key) = stack.project_with_key(&["events:write"]).await;
    let mut first = stack.auth_client().await;
    let mut other = auth_at(second).await;
    // Warm both instances' caches.
    for _ in 0..3 {
        validate(&mut first, &key).await.expect("valid on first");
        validate(&mut other, &key).await.expect("valid on second");
    }
    let id = key_id(&mut first, &key).await;
    let revoked_at = Instant::now();
    first
        .revoke_api_key(admin_request(pb::RevokeApiKeyRequest { api_key_id: id }))
        .await
        .expect("revoke");
    for client in [&mut first, &mut other] {
        loop {
            match validate(client, &key).await {
                Err(status) if status.code() == Code::Unauthenticated => break,
                Ok(_) => {}
                Err(status) => panic!("unexpected {status:?}"),
            }
            assert!(
                revoked_at.elapsed() < Duration::from_secs(1),
                "revoked key still accepted after 1 s"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
    let elapsed = revoked_at.elapsed();
    assert!(elapsed < Duration::from_secs(1), "took {elapsed:?}");
}

#[tokio::test]
async fn test_revoked_key_is_refused_by_ingest_within_a_second() {
    let stack = Stack::start().await;
    let (_, key) = stack.project_with_key(&["events:write"]).await;
    let mut ingest = ingest_client(&stack).await;
    // Warm ingest's validation cache.
    for _ in 0..3 {
        track(&mut ingest, &key, event("warm"))
            .await
            .expect("valid key");
    }
    let mut auth = stack.auth_client().await;
    let id = key_id(&mut auth, &key).await;
    let revoked_at = Instant::now();
    auth.revoke_api_key(admin_request(pb::RevokeApiKeyRequest { api_key_id: id }))
        .await
        .expect("revoke");
    loop {
        match track(&mut ingest, &key, event("after_revoke")).await {
            Err(status) if status.code() == Code::Unauthenticated => break,
            Ok(_) => {}
            Err(status) => panic!("unexpected {status:?}"),
        }
        assert!(
            revoked_at.elapsed() < Duration::from_secs(1),
            "ingest still accepted a revoked key after 1 s"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test]
async fn test_rotation_replaces_the_key() {
    let stack = Stack::start().await;
    let (_, old) = stack
        .project_with_key(&["events:write", "events:read"])
        .await;
    let mut auth = stack.auth_client().await;
    let old_id = key_id(&mut auth, &old).await;
    let rotated = auth
        .rotate_api_key(admin_request(pb::RotateApiKeyRequest {
            api_key_id: old_id.clone(),
        }))
        .await
        .expect("rotate")
        .into_inner();
    let new = rotated.api_key.expect("new key");
    assert_eq!(
        new.scopes,
        vec!["events:write".to_string(), "events:read".to_string()]
    );
    assert!(rotated.revoked_api_key.expect("old").revoke_time.is_some());
    assert_eq!(
        validate(&mut auth, &old)
            .await
            .expect_err("old refused")
            .code(),
        Code::Unauthenticated
    );
    assert_eq!(
        validate(&mut auth, &rotated.secret)
            .await
            .expect("new works")
            .api_key_id,
        new.id
    );
    let status = auth
        .rotate_api_key(admin_request(pb::RotateApiKeyRequest {
            api_key_id: old_id,
        }))
        .await
        .expect_err("rotate revoked");
    assert_eq!(status.code(), Code::InvalidArgument);
}

#[tokio::test]
async fn test_changes_are_audited_and_the_audit_log_is_append_only() {
    let stack = Stack::start().await;
    let (project, admin_key) = stack.project_with_key(&["keys:admin"]).await;
    let mut auth = stack.auth_client().await;
    let admin_id = key_id(&mut auth, &admin_key).await;
    let created = auth
        .create_api_key(with_key(
            &admin_key,
            pb::CreateApiKeyRequest {
                project_id: String::new(),
                name: "n".into(),
                scopes: vec!["events:read".into()],
                expire_time: None,
            },
        ))
        .await
        .expect("create")
        .into_inner();
    let new_id = created.api_key.expect("key").id;
    auth.rotate_api_key(with_key(
        &admin_key,
        pb::RotateApiKeyRequest {
            api_key_id: new_id.clone(),
        },
    ))
    .await
    .expect("rotate");

    let pool = stack.db.pool();
    let client = pool.get().await.expect("connection");
    let rows = client
        .query(
            "SELECT actor, action, details::text FROM audit_log WHERE project_id = $1 ORDER BY id",
            &[&project],
        )
        .await
        .expect("audit rows");
    let actions: Vec<(String, String)> = rows.iter().map(|r| (r.get(0), r.get(1))).collect();
    let by_key = format!("key:{admin_id}");
    assert!(
        actions.contains(&("operator".into(), "project.create".into())),
        "{actions:?}"
    );
    assert!(
        actions.contains(&(by_key.clone(), "api_key.create".into())),
        "{actions:?}"
    );
    assert!(
        actions.contains(&(by_key.clone(), "api_key.rotate".into())),
        "{actions:?}"
    );
    assert!(
        actions.contains(&(by_key, "api_key.revoke".into())),
        "{actions:?}"
    );
    for row in &rows {
        let details: String = row.get(2);
        assert!(
            !details.contains(&created.secret),
            "secret in audit details"
        );
    }
    let tampered = client
        .execute("UPDATE audit_log SET actor = 'nobody'", &[])
        .await;
    assert!(tampered.is_err(), "audit_log accepted an UPDATE");
    let deleted = client.execute("DELETE FROM audit_log", &[]).await;
    assert!(deleted.is_err(), "audit_log accepted a DELETE");
}

async fn health(addr: std::net::SocketAddr, service: &str) -> i32 {
    let channel = Channel::from_shared(url(addr))
        .expect("url")
        .connect()
        .await
        .expect("connect");
    HealthClient::new(channel)
        .check(HealthCheckRequest {
            service: service.into(),
        })
        .await
        .expect("health")
        .into_inner()
        .status
}

#[tokio::test]
async fn test_redis_down_means_degraded_not_dead() {
    let mut stack = Stack::start().await;
    let (_, warm) = stack.project_with_key(&["events:write"]).await;
    let mut auth = stack.auth_client().await;
    validate(&mut auth, &warm).await.expect("valid with redis");
    assert!(
        eventually(Duration::from_secs(3), || async {
            health(stack.auth, "redis").await == ServingStatus::Serving as i32
        })
        .await,
        "redis dependency never reported SERVING"
    );

    stack.redis.stop();
    assert!(
        eventually(Duration::from_secs(5), || async {
            health(stack.auth, "redis").await == ServingStatus::NotServing as i32
        })
        .await,
        "health did not report redis down"
    );
    assert_eq!(
        health(stack.auth, "").await,
        ServingStatus::Serving as i32,
        "service must stay up"
    );
    // A key never seen before: straight from PostgreSQL.
    let (_, cold) = stack.project_with_key(&["events:write"]).await;
    let started = Instant::now();
    validate(&mut auth, &cold)
        .await
        .expect("validation works without redis");
    validate(&mut auth, &warm)
        .await
        .expect("cached key still works");
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "degraded validation too slow: {:?}",
        started.elapsed()
    );
    // Ingest through the whole path still accepts.
    let mut ingest = ingest_client(&stack).await;
    track(&mut ingest, &cold, event("while_redis_down"))
        .await
        .expect("ingest works without redis");

    stack.redis.restart();
    assert!(
        eventually(Duration::from_secs(10), || async {
            health(stack.auth, "redis").await == ServingStatus::Serving as i32
        })
        .await,
        "redis dependency did not recover"
    );
}

#[tokio::test]
async fn test_malformed_key_is_refused_without_any_lookup() {
    // A database and a Redis nobody listens on: any lookup would fail as UNAVAILABLE.
    let dead_port = boost_testkit::free_port();
    let pool = boost_storage::pool::build(&boost_storage::PostgresArgs::with_url(format!(
        "postgres://postgres@127.0.0.1:{dead_port}/nothing"
    )))
    .expect("pool");
    let redis_args =
        boost_storage::redis::RedisArgs::with_url(format!("redis://127.0.0.1:{dead_port}"));
    let cache = Arc::new(boost_auth::cache::KeyCache::new(
        boost_storage::redis::client(&redis_args).expect("redis client"),
        boost_storage::redis::subscriber(&redis_args).expect("subscriber"),
        boost_auth::cache::CacheTtls {
            l1: Duration::from_secs(10),
            negative: Duration::from_secs(1),
            l2: Duration::from_secs(60),
        },
    ));
    let last_used = Arc::new(boost_auth::last_used::LastUsed::new(Duration::from_secs(
        60,
    )));
    let validator = boost_auth::validation::Validator::new(pool, cache, None, last_used);

    let mut typo = boost_server::credentials::generate().secret.into_bytes();
    typo[30] = if typo[30] == b'x' { b'y' } else { b'x' };
    let typo = String::from_utf8(typo).expect("ascii");
    for garbage in [typo.as_str(), "pk_live_123", "hello"] {
        let err = validator.validate(garbage).await.expect_err("refused");
        assert!(
            matches!(err, boost_auth::service::AuthError::InvalidKey),
            "{garbage}: {err:?}"
        );
    }
    // Control: a well-formed key does need the database, which is down.
    let well_formed = boost_server::credentials::generate().secret;
    let err = validator
        .validate(&well_formed)
        .await
        .expect_err("no database");
    assert!(
        matches!(err, boost_auth::service::AuthError::Storage(_)),
        "{err:?}"
    );
}

/// A key cache over `redis` trusting positive L1 answers for 10 s, its
/// command connection up (on a loaded machine the first commands could
/// otherwise outlive their 200 ms timeout while it connects, and a test's
/// tombstone would be missing for a reason it does not test).
async fn key_cache(redis: &boost_testkit::TestRedis) -> Arc<boost_auth::cache::KeyCache> {
    use boost_storage::redis::fred::interfaces::ClientLike;
    let args = boost_storage::redis::RedisArgs::with_url(redis.url.clone());
    let client = boost_storage::redis::client(&args).expect("redis client");
    client.wait_for_connect().await.expect("redis connects");
    Arc::new(boost_auth::cache::KeyCache::new(
        client,
        boost_storage::redis::subscriber(&args).expect("subscriber"),
        boost_auth::cache::CacheTtls {
            l1: Duration::from_secs(10),
            negative: Duration::from_secs(1),
            l2: Duration::from_secs(60),
        },
    ))
}

fn grant() -> boost_auth::cache::Grant {
    boost_auth::cache::Grant {
        api_key_id: Some(Uuid::now_v7()),
        project_id: Uuid::now_v7(),
        organization_id: Uuid::now_v7(),
        scopes: vec!["events:write".into()],
        expires_at: None,
    }
}

/// Waits (≤ 10 s) until `cache`'s invalidation subscription is confirmed.
async fn until_invalidations_live(cache: &boost_auth::cache::KeyCache) {
    let started = Instant::now();
    while !cache.invalidations_live() {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "invalidation subscription not confirmed within 10 s"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test]
async fn test_l1_is_trusted_fully_only_while_invalidations_have_flowed_since() {
    // Regression: an instance whose SUBSCRIBE had not been answered yet (or
    // that had just reconnected) trusted L1 for its full lifetime, so a
    // revocation published meanwhile left the key valid for 10 s there.
    let mut redis = boost_testkit::TestRedis::start();
    let cache = key_cache(&redis).await;
    let before = [1u8; 32];
    cache.l1_put(before, Some(grant()), cache.generation());
    let cancel = tokio_util::sync::CancellationToken::new();
    let listener = {
        let (cache, cancel) = (cache.clone(), cancel.clone());
        tokio::spawn(async move { cache.listen_for_invalidations(cancel).await })
    };
    until_invalidations_live(&cache).await;
    let after = [2u8; 32];
    cache.l1_put(after, Some(grant()), cache.generation());
    tokio::time::sleep(Duration::from_millis(1_100)).await;
    assert_eq!(
        cache.l1_get(&before),
        None,
        "stored before the subscription"
    );
    assert!(cache.l1_get(&after).is_some(), "stored while subscribed");

    // A reconnect may have missed invalidations: what was stored before it
    // falls back to the one-second bound.
    redis.stop();
    redis.restart();
    let started = Instant::now();
    while cache.l1_get(&after).is_some() {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "entry from before the reconnect still trusted"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    until_invalidations_live(&cache).await;
    assert_eq!(
        cache.l1_get(&after),
        None,
        "entry from before the reconnect trusted again once re-subscribed"
    );
    cancel.cancel();
    listener.await.expect("listener");
}

/// A revocation while Redis is down: its tombstone is written once Redis is
/// back, so a grant in L2 from before it (or put back meanwhile) is not
/// served for the rest of its L2 lifetime.
#[tokio::test]
async fn test_a_revocation_redis_missed_lands_once_redis_is_back() {
    let mut redis = boost_testkit::TestRedis::start();
    let cache = key_cache(&redis).await;
    let hash = [5u8; 32];
    redis.stop();
    cache.invalidate(&[hash]).await;
    redis.restart();
    // The stale grant, as a lookup that straddled the revocation would put it.
    cache.l2_put(&hash, &grant()).await;
    let started = Instant::now();
    while cache.l2_get(&hash).await != Ok(None) {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "the revocation never reached L2"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Nothing decodes because a tombstone holds the key, not because it is empty.
    cache.l2_put(&hash, &grant()).await;
    assert_eq!(cache.l2_get(&hash).await, Ok(None), "no tombstone in L2");
}

#[tokio::test]
async fn test_a_lookup_that_straddles_a_revocation_caches_nothing() {
    // The race: a validation reads PostgreSQL, the key is revoked and
    // invalidated, then the validation stores the grant it read.
    let redis = boost_testkit::TestRedis::start();
    let cache = key_cache(&redis).await;
    let (hash, old) = ([3u8; 32], grant());
    let lookup_began = cache.generation();
    cache.invalidate(&[hash]).await;
    cache.l1_put(hash, Some(old.clone()), lookup_began);
    cache.l2_put(&hash, &old).await;
    assert_eq!(cache.l1_get(&hash), None, "stale grant put back in L1");
    assert_eq!(
        cache.l2_get(&hash).await,
        Ok(None),
        "stale grant put back in L2"
    );
    // Control: a lookup that began after the revocation is cached.
    cache.l1_put(hash, None, cache.generation());
    assert_eq!(cache.l1_get(&hash), Some(None));
    let other = [4u8; 32];
    cache.l2_put(&other, &old).await;
    assert_eq!(cache.l2_get(&other).await, Ok(Some(old)));
}

fn jwt(claims: serde_json::Value, secret: &str) -> String {
    jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        &claims,
        &jsonwebtoken::EncodingKey::from_secret(secret.as_bytes()),
    )
    .expect("sign")
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock")
        .as_secs()
}

#[tokio::test]
async fn test_jwt_is_accepted_wherever_a_key_is() {
    let stack = Stack::start().await;
    let (project, _) = stack.project_with_key(&["events:read"]).await;
    let mut ingest = ingest_client(&stack).await;
    let claims = |scope: &str, exp: u64, project: String| serde_json::json!({ "project_id": project, "scope": scope, "sub": "svc-checkout", "exp": exp });
    let good = jwt(
        claims(
            "events:write events:read",
            now_secs() + 60,
            project.to_string(),
        ),
        JWT_SECRET,
    );
    let mut request = Request::new(boost_proto::ingest::v1::TrackRequest {
        event: Some(event("jwt_event")),
        ..Default::default()
    });
    request.metadata_mut().insert(
        "authorization",
        format!("Bearer {good}").parse().expect("ascii"),
    );
    ingest.track(request).await.expect("jwt accepted by ingest");
    let principal = validate(&mut stack.auth_client().await, &good)
        .await
        .expect("valid");
    assert_eq!(principal.project_id, project.to_string());
    assert_eq!(principal.subject, "svc-checkout");
    assert!(principal.api_key_id.is_empty());

    let expired = jwt(
        claims("events:write", now_secs() - 600, project.to_string()),
        JWT_SECRET,
    );
    let forged = jwt(
        claims("events:write", now_secs() + 60, project.to_string()),
        "some-other-secret-of-enough-length-xx",
    );
    let unknown_project = jwt(
        claims("events:write", now_secs() + 60, Uuid::now_v7().to_string()),
        JWT_SECRET,
    );
    for (token, why) in [
        (expired, "expired"),
        (forged, "forged"),
        (unknown_project, "unknown project"),
    ] {
        let status = track(&mut ingest, &token, event("x")).await.expect_err(why);
        assert_eq!(status.code(), Code::Unauthenticated, "{why}");
    }
    let read_only = jwt(
        claims("events:read", now_secs() + 60, project.to_string()),
        JWT_SECRET,
    );
    let status = track(&mut ingest, &read_only, event("x"))
        .await
        .expect_err("scope");
    assert_eq!(status.code(), Code::PermissionDenied);
}

#[tokio::test]
async fn test_last_used_is_recorded_in_the_background() {
    let stack = Stack::start().await;
    let (project, key) = stack.project_with_key(&["events:write"]).await;
    let mut auth = stack.auth_client().await;
    for _ in 0..50 {
        validate(&mut auth, &key).await.expect("valid");
    }
    let pool = stack.db.pool();
    let recorded = eventually(Duration::from_secs(8), || {
        let pool = pool.clone();
        async move {
            let client = pool.get().await.expect("connection");
            let row = client
                .query_one(
                    "SELECT last_used_at IS NOT NULL FROM api_keys WHERE project_id = $1",
                    &[&project],
                )
                .await
                .expect("row");
            row.get::<_, bool>(0)
        }
    })
    .await;
    assert!(recorded, "last_used_at not written within 8 s");
}

/// Log lines of every test in this binary, to check for secrets.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().expect("log buffer").extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn capture_logs() -> Captured {
    static CAPTURED: OnceLock<Captured> = OnceLock::new();
    CAPTURED
        .get_or_init(|| {
            let captured = Captured::default();
            let writer = captured.clone();
            tracing_subscriber::fmt()
                .with_env_filter("debug")
                .with_writer(move || writer.clone())
                .init();
            captured
        })
        .clone()
}

#[tokio::test]
async fn test_no_secret_reaches_the_logs() {
    let logs = capture_logs();
    let stack = Stack::start().await;
    let (_, key) = stack
        .project_with_key(&["events:write", "keys:admin"])
        .await;
    let mut auth = stack.auth_client().await;
    let mut ingest = ingest_client(&stack).await;
    track(&mut ingest, &key, event("logged"))
        .await
        .expect("track");
    let _ = track(&mut ingest, &format!("{key}x"), event("bad key")).await;
    let id = key_id(&mut auth, &key).await;
    let rotated = auth
        .rotate_api_key(with_key(&key, pb::RotateApiKeyRequest { api_key_id: id }))
        .await
        .expect("rotate")
        .into_inner();
    let text = String::from_utf8_lossy(&logs.0.lock().expect("logs")).into_owned();
    assert!(text.contains("created api key"), "logs were not captured");
    assert!(!text.contains(&key), "an api key reached the logs");
    assert!(
        !text.contains(&rotated.secret),
        "a rotated api key reached the logs"
    );
    assert!(
        !text.contains(boost_testkit::stack::ADMIN_TOKEN),
        "the admin token reached the logs"
    );
}
