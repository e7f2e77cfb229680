//! The one authentication layer for public Boost services.
//!
//! [`AuthLayer`] reads `x-api-key` (or `authorization: Bearer`), refuses a
//! malformed key locally, asks the auth service (`ValidateApiKey`) through a
//! small TTL cache, checks the scope the RPC needs and puts the [`Principal`]
//! into the request extensions. Handlers get it with [`principal`].

use std::{
    collections::HashMap,
    future::Future,
    pin::Pin,
    sync::{Arc, Mutex},
    task::{Context, Poll},
    time::{Duration, Instant},
};

use boost_proto::auth::v1::{
    self as pb, ValidateApiKeyRequest, auth_service_client::AuthServiceClient,
};
use http::{Request, Response};
use tonic::{Code, transport::Channel};
use tower::{Layer, Service};
use uuid::Uuid;

use crate::{
    ApiError,
    config::AuthClientArgs,
    credentials,
    tls::TlsArgs,
    trace_context::{InjectTraceContext, InjectTraceContextLayer},
};

/// A permission an API key can grant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Scope {
    /// Send events (ingest).
    EventsWrite,
    /// Read events (query).
    EventsRead,
    /// Manage the project's keys.
    KeysAdmin,
}

impl Scope {
    /// Every scope, in display order.
    pub const ALL: [Scope; 3] = [Scope::EventsWrite, Scope::EventsRead, Scope::KeysAdmin];

    /// The wire name, e.g. `events:write`.
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::EventsWrite => "events:write",
            Scope::EventsRead => "events:read",
            Scope::KeysAdmin => "keys:admin",
        }
    }

    /// Parses a wire name.
    pub fn parse(name: &str) -> Option<Scope> {
        Scope::ALL.into_iter().find(|s| s.as_str() == name)
    }
}

/// Who an authenticated request acts as. The project always comes from here,
/// never from the request body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    /// Organisation of the project.
    pub organization_id: Uuid,
    /// The tenant every read and write is scoped to.
    pub project_id: Uuid,
    /// The key that authenticated; `None` for a JWT.
    pub api_key_id: Option<Uuid>,
    /// What the credential may do.
    pub scopes: Vec<Scope>,
    /// A JWT's `sub` claim; empty for a key.
    pub subject: String,
}

impl Principal {
    /// The principal in the audit trail: `key:<id>`, or `jwt:<sub>` for a JWT.
    pub fn actor(&self) -> String {
        match self.api_key_id {
            Some(id) => format!("key:{id}"),
            None => format!("jwt:{}", self.subject),
        }
    }

    /// Whether the principal holds `scope`.
    pub fn has(&self, scope: Scope) -> bool {
        self.scopes.contains(&scope)
    }

    /// Converts to the wire form.
    pub fn to_proto(&self) -> pb::Principal {
        pb::Principal {
            organization_id: self.organization_id.to_string(),
            project_id: self.project_id.to_string(),
            api_key_id: self.api_key_id.map(|id| id.to_string()).unwrap_or_default(),
            scopes: self.scopes.iter().map(|s| s.as_str().to_string()).collect(),
            subject: self.subject.clone(),
        }
    }

    /// Converts from the wire form; unknown scopes are dropped.
    pub fn from_proto(p: &pb::Principal) -> Result<Self, uuid::Error> {
        Ok(Self {
            organization_id: p.organization_id.parse()?,
            project_id: p.project_id.parse()?,
            api_key_id: if p.api_key_id.is_empty() {
                None
            } else {
                Some(p.api_key_id.parse()?)
            },
            scopes: p.scopes.iter().filter_map(|s| Scope::parse(s)).collect(),
            subject: p.subject.clone(),
        })
    }
}

/// The principal the auth layer attached to a request.
pub fn principal<T>(request: &tonic::Request<T>) -> Result<Principal, tonic::Status> {
    request
        .extensions()
        .get::<Principal>()
        .cloned()
        .ok_or_else(|| ApiError::unauthenticated("missing credentials").into())
}

/// Paths served without a credential: health and reflection, so probes and
/// `grpcurl list` work. Every other path needs a [`ScopeRules`] entry:
/// authentication is default-deny.
pub const EXEMPT: [&str; 3] = [
    "/grpc.health.v1.Health/",
    "/grpc.reflection.v1.ServerReflection/",
    "/grpc.reflection.v1alpha.ServerReflection/",
];

/// What a request path needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Health and reflection: no credential.
    Exempt,
    /// A credential holding this scope.
    Needs(Scope),
    /// No rule covers the path: refused whoever asks.
    Denied,
}

/// Which scope each gRPC path needs, by path prefix, first match wins. A
/// path that matches no rule and is not [`EXEMPT`] is refused.
#[derive(Debug, Clone)]
pub struct ScopeRules(Arc<[(&'static str, Scope)]>);

impl ScopeRules {
    /// Rules as `(path prefix, scope)`, e.g. `("/boost.ingest.v1.IngestService/", Scope::EventsWrite)`.
    pub fn new(rules: &[(&'static str, Scope)]) -> Self {
        Self(rules.into())
    }

    /// What `path` needs.
    pub fn access(&self, path: &str) -> Access {
        if EXEMPT.iter().any(|prefix| path.starts_with(prefix)) {
            return Access::Exempt;
        }
        self.0
            .iter()
            .find(|(prefix, _)| path.starts_with(prefix))
            .map_or(Access::Denied, |(_, scope)| Access::Needs(*scope))
    }
}

const CACHE_MAX_ENTRIES: usize = 10_000;

/// An answer of auth and when it stops being trusted.
type CachedAnswer = (Instant, Result<Principal, ApiError>);
const NEGATIVE_TTL: Duration = Duration::from_millis(500);

/// Validates keys through the auth service, with a short in-process cache.
pub struct Authenticator {
    /// Lazily connected client of the auth service; calls carry the trace context.
    client: AuthServiceClient<InjectTraceContext<Channel>>,
    /// Recent answers by key hash; bounded, entries expire after `ttl`.
    cache: Mutex<HashMap<[u8; 32], CachedAnswer>>,
    /// How long a positive answer is trusted.
    ttl: Duration,
    /// Deadline of one ValidateApiKey call.
    timeout: Duration,
}

impl Authenticator {
    /// Builds an authenticator, over TLS as `tls` says for an `https://`
    /// URL; the connection is made on first use.
    pub fn new(args: &AuthClientArgs, tls: &TlsArgs) -> Result<Self, String> {
        let channel = tls
            .endpoint(&args.url)?
            .connect_timeout(args.timeout)
            .timeout(args.timeout)
            .connect_lazy();
        Ok(Self {
            client: AuthServiceClient::new(InjectTraceContextLayer.layer(channel)),
            cache: Mutex::new(HashMap::new()),
            ttl: args.cache_ttl,
            timeout: args.timeout,
        })
    }

    /// Resolves a presented API key or JWT to its principal. Malformed keys
    /// are refused here, without a network call. Traced as `auth.validate`
    /// with `cache` = `hit` (answered in-process) or `miss` (asked auth).
    #[tracing::instrument(name = "auth.validate", skip_all, fields(cache))]
    pub async fn authenticate(&self, key: &str) -> Result<Principal, ApiError> {
        credentials::check_shape(key).map_err(|e| ApiError::unauthenticated(e.to_string()))?;
        let hash = credentials::hash(key);
        if let Some(answer) = self.cached(&hash) {
            tracing::Span::current().record("cache", "hit");
            return answer;
        }
        tracing::Span::current().record("cache", "miss");
        let answer = self.ask_auth(key).await;
        // Cache answers about the key, never failures of auth itself.
        let ttl = match &answer {
            Ok(_) => Some(self.ttl),
            Err(e) if e.code == crate::ErrorCode::Unauthenticated => Some(NEGATIVE_TTL),
            Err(_) => None,
        };
        if let Some(ttl) = ttl {
            let mut cache = self.cache.lock().expect("auth cache lock");
            if cache.len() >= CACHE_MAX_ENTRIES {
                cache.clear();
            }
            cache.insert(hash, (Instant::now() + ttl, answer.clone()));
        }
        answer
    }

    fn cached(&self, hash: &[u8; 32]) -> Option<Result<Principal, ApiError>> {
        let cache = self.cache.lock().expect("auth cache lock");
        let (expires, answer) = cache.get(hash)?;
        (Instant::now() < *expires).then(|| answer.clone())
    }

    async fn ask_auth(&self, key: &str) -> Result<Principal, ApiError> {
        let mut request = tonic::Request::new(ValidateApiKeyRequest {
            api_key: key.to_string(),
        });
        request.set_timeout(self.timeout);
        let response = self.client.clone().validate_api_key(request).await;
        match response {
            Ok(response) => {
                let principal = response.into_inner().principal.unwrap_or_default();
                Principal::from_proto(&principal)
                    .map_err(|e| ApiError::internal("auth returned a malformed principal", &e))
            }
            Err(status) if status.code() == Code::Unauthenticated => {
                Err(ApiError::unauthenticated(status.message()))
            }
            Err(status) => {
                tracing::warn!(code = ?status.code(), message = status.message(), "auth service call failed");
                Err(ApiError::unavailable(
                    "auth service unavailable",
                    crate::error::RETRY_DELAY,
                ))
            }
        }
    }
}

/// Tower layer that authenticates requests and enforces [`ScopeRules`].
#[derive(Clone)]
pub struct AuthLayer {
    authenticator: Arc<Authenticator>,
    rules: ScopeRules,
}

impl AuthLayer {
    /// A layer checking `rules` with `authenticator`.
    pub fn new(authenticator: Arc<Authenticator>, rules: ScopeRules) -> Self {
        Self {
            authenticator,
            rules,
        }
    }
}

impl<S> Layer<S> for AuthLayer {
    type Service = AuthMiddleware<S>;

    fn layer(&self, inner: S) -> Self::Service {
        AuthMiddleware {
            inner,
            authenticator: self.authenticator.clone(),
            rules: self.rules.clone(),
        }
    }
}

/// The service [`AuthLayer`] wraps around a server's routes.
#[derive(Clone)]
pub struct AuthMiddleware<S> {
    inner: S,
    authenticator: Arc<Authenticator>,
    rules: ScopeRules,
}

type BoxFuture<T, E> = Pin<Box<dyn Future<Output = Result<T, E>> + Send>>;

impl<S, B> Service<Request<B>> for AuthMiddleware<S>
where
    S: Service<Request<B>, Response = Response<tonic::body::Body>> + Clone + Send + 'static,
    S::Future: Send,
    B: Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = BoxFuture<Self::Response, Self::Error>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request<B>) -> Self::Future {
        // Take the service that was polled ready; leave a fresh clone behind.
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let scope = match self.rules.access(request.uri().path()) {
            Access::Exempt => return Box::pin(inner.call(request)),
            Access::Needs(scope) => scope,
            Access::Denied => {
                let refused =
                    ApiError::forbidden(format!("no access rule covers {}", request.uri().path()));
                return Box::pin(async move { Ok(tonic::Status::from(refused).into_http()) });
            }
        };
        let credential = credentials::from_headers(request.headers()).map(|c| c.map(str::to_owned));
        let authenticator = self.authenticator.clone();
        Box::pin(async move {
            let outcome = match credential {
                Err(conflict) => Err(conflict),
                Ok(None) => Err(ApiError::unauthenticated(
                    "missing credentials: send x-api-key or authorization: Bearer",
                )),
                Ok(Some(key)) => authenticator.authenticate(&key).await,
            };
            let outcome = outcome.and_then(|principal| {
                if principal.has(scope) {
                    Ok(principal)
                } else {
                    Err(ApiError::forbidden(format!(
                        "api key lacks scope {}",
                        scope.as_str()
                    )))
                }
            });
            match outcome {
                Ok(principal) => {
                    request.extensions_mut().insert(principal);
                    inner.call(request).await
                }
                Err(err) => Ok(tonic::Status::from(err).into_http()),
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use tonic::body::Body;
    use tower::ServiceExt;

    /// An auth layer over a service that counts the calls reaching it.
    fn layered(
        rules: &[(&'static str, Scope)],
    ) -> (
        impl Service<Request<Body>, Response = Response<Body>, Error = std::convert::Infallible>,
        Arc<AtomicUsize>,
    ) {
        let reached = Arc::new(AtomicUsize::new(0));
        let counter = reached.clone();
        let inner = tower::service_fn(move |_request: Request<Body>| {
            counter.fetch_add(1, Ordering::SeqCst);
            async { Ok::<_, std::convert::Infallible>(Response::new(Body::empty())) }
        });
        let args = AuthClientArgs {
            // Never dialled: every case below is decided before a lookup.
            url: "http://127.0.0.1:9".into(),
            cache_ttl: Duration::from_millis(500),
            timeout: Duration::from_millis(100),
        };
        let authenticator =
            Arc::new(Authenticator::new(&args, &TlsArgs::default()).expect("authenticator"));
        let layer = AuthLayer::new(authenticator, ScopeRules::new(rules));
        (layer.layer(inner), reached)
    }

    async fn status_of<S>(service: S, path: &str) -> Option<Code>
    where
        S: Service<Request<Body>, Response = Response<Body>, Error = std::convert::Infallible>,
    {
        let request = Request::builder()
            .uri(format!("http://boost{path}"))
            .body(Body::empty())
            .expect("request");
        let response = service.oneshot(request).await.expect("infallible");
        tonic::Status::from_header_map(response.headers()).map(|s| s.code())
    }

    const RULES: [(&str, Scope); 1] = [("/boost.ingest.v1.IngestService/", Scope::EventsWrite)];

    #[tokio::test]
    async fn test_rpc_without_a_rule_is_refused_default_deny() {
        let (service, reached) = layered(&RULES);
        let code = status_of(service, "/boost.ingest.v1.NewService/Added").await;
        assert_eq!(code, Some(Code::PermissionDenied));
        assert_eq!(
            reached.load(Ordering::SeqCst),
            0,
            "the RPC ran without a rule"
        );
    }

    #[tokio::test]
    async fn test_health_and_reflection_pass_without_credentials() {
        for path in [
            "/grpc.health.v1.Health/Check",
            "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo",
            "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo",
        ] {
            let (service, reached) = layered(&RULES);
            assert_eq!(status_of(service, path).await, None, "{path}");
            assert_eq!(reached.load(Ordering::SeqCst), 1, "{path}");
        }
    }

    #[tokio::test]
    async fn test_ruled_rpc_needs_a_credential() {
        let (service, reached) = layered(&RULES);
        let code = status_of(service, "/boost.ingest.v1.IngestService/Track").await;
        assert_eq!(code, Some(Code::Unauthenticated));
        assert_eq!(reached.load(Ordering::SeqCst), 0);
    }

    #[test]
    fn test_first_matching_rule_wins() {
        let rules = ScopeRules::new(&[
            (
                "/boost.processor.v1.DeadLetterService/ListDeadLetters",
                Scope::EventsRead,
            ),
            ("/boost.processor.v1.DeadLetterService/", Scope::KeysAdmin),
        ]);
        assert_eq!(
            rules.access("/boost.processor.v1.DeadLetterService/ListDeadLetters"),
            Access::Needs(Scope::EventsRead)
        );
        assert_eq!(
            rules.access("/boost.processor.v1.DeadLetterService/PurgeDeadLetters"),
            Access::Needs(Scope::KeysAdmin)
        );
        assert_eq!(rules.access("/boost.other.v1.X/Y"), Access::Denied);
    }
}
