//! Thin tonic adapter for `boost.ingest.v1.IngestService`: principal, rate
//! limit admission with `x-ratelimit-*` metadata, then the logic in its own task.

use std::{future::Future, net::IpAddr};

use boost_proto::ingest::v1::{
    AckLevel, GetLimitsRequest, GetLimitsResponse, IdentifyRequest, IdentifyResponse,
    IngestBatchRequest, IngestBatchResponse, IngestStreamRequest, IngestStreamResponse,
    TrackRequest, TrackResponse, ingest_service_server::IngestService,
};
use boost_server::{
    ApiError,
    auth::{Principal, principal},
};
use futures::StreamExt;
use tokio_util::task::TaskTracker;
use tonic::{Request, Response, Status, Streaming, metadata::MetadataMap};

use crate::{
    rate_limit::Decision,
    service::{IngestError, IngestLogic, ack_level},
};

/// The `IngestService` implementation.
pub struct IngestApi {
    /// Domain logic.
    logic: IngestLogic,
    /// Whether the client address comes from `x-forwarded-for`.
    trust_forwarded_for: bool,
    /// Writes that outlive a caller who hung up; shutdown waits for them.
    writes: TaskTracker,
}

impl IngestApi {
    /// An adapter over `logic`; writes run as tasks of `writes`.
    pub fn new(logic: IngestLogic, trust_forwarded_for: bool, writes: TaskTracker) -> Self {
        Self {
            logic,
            trust_forwarded_for,
            writes,
        }
    }

    /// Runs `work` as a task of [`IngestApi::writes`]: a produce must not be
    /// cut short when the client goes away, so only the waiting stops if the
    /// caller cancels, and shutdown waits for the task (each is bounded by
    /// the broker's ack timeout).
    async fn detached<T, F>(&self, work: F) -> Result<T, Status>
    where
        T: Send + 'static,
        F: Future<Output = Result<T, IngestError>> + Send + 'static,
    {
        self.writes
            .spawn(work)
            .await
            .map_err(|e| Status::from(ApiError::internal("ingest task failed", &e)))?
            .map_err(status)
    }

    /// The caller's address for per-address limits: the TCP peer, or the
    /// first `x-forwarded-for` entry when the proxy in front is trusted.
    fn client_address<T>(&self, request: &Request<T>) -> Option<IpAddr> {
        if self.trust_forwarded_for {
            let forwarded = request
                .metadata()
                .get("x-forwarded-for")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.split(',').next())
                .and_then(|v| v.trim().parse().ok());
            if forwarded.is_some() {
                return forwarded;
            }
        }
        request.remote_addr().map(|a| a.ip())
    }

    /// Who is calling, and whether `events` more fit their rate limits: the
    /// principal and the decision for the `x-ratelimit-*` metadata.
    async fn admit<T>(
        &self,
        request: &Request<T>,
        events: usize,
    ) -> Result<(Principal, Option<Decision>), Status> {
        let principal = principal(request)?;
        let address = self.client_address(request);
        let decision = self
            .logic
            .admit(&principal, address, events)
            .await
            .map_err(status)?;
        Ok((principal, decision))
    }
}

/// Writes `x-ratelimit-limit`, `-remaining`, `-reset` (and `retry-after` when refused).
fn rate_headers(metadata: &mut MetadataMap, decision: &Decision) {
    let mut put = |name: &'static str, value: u64| {
        if let Ok(value) = value.to_string().parse() {
            metadata.insert(name, value);
        }
    };
    put("x-ratelimit-limit", decision.limit);
    put("x-ratelimit-remaining", decision.remaining);
    put("x-ratelimit-reset", decision.reset_secs);
    if !decision.allowed {
        put("retry-after", decision.reset_secs);
    }
}

fn status(err: IngestError) -> Status {
    let decision = match &err {
        IngestError::RateLimited { decision, .. } => Some(*decision),
        _ => None,
    };
    let mut status = Status::from(ApiError::from(err));
    if let Some(decision) = decision {
        rate_headers(status.metadata_mut(), &decision);
    }
    status
}

/// The answer with the rate-limit metadata of its admission.
fn respond<T>(body: T, decision: Option<Decision>) -> Response<T> {
    let mut response = Response::new(body);
    if let Some(decision) = decision {
        rate_headers(response.metadata_mut(), &decision);
    }
    response
}

/// The request's ack level; an unknown value is INVALID_ARGUMENT before any work.
fn requested_ack(value: i32) -> Result<AckLevel, Status> {
    ack_level(value).map_err(|e| Status::from(ApiError::bad_field(e.field, e.reason)))
}

#[tonic::async_trait]
impl IngestService for IngestApi {
    async fn track(
        &self,
        request: Request<TrackRequest>,
    ) -> Result<Response<TrackResponse>, Status> {
        let ack = requested_ack(request.get_ref().ack)?;
        let (principal, decision) = self.admit(&request, 1).await?;
        let event = request.into_inner().event;
        let logic = self.logic.clone();
        let result = self
            .detached(async move { logic.track(&principal, event, ack).await })
            .await?;
        Ok(respond(
            TrackResponse {
                result: Some(result),
            },
            decision,
        ))
    }

    async fn identify(
        &self,
        request: Request<IdentifyRequest>,
    ) -> Result<Response<IdentifyResponse>, Status> {
        let ack = requested_ack(request.get_ref().ack)?;
        let (principal, decision) = self.admit(&request, 1).await?;
        let event = request.into_inner().event;
        let logic = self.logic.clone();
        let result = self
            .detached(async move { logic.identify(&principal, event, ack).await })
            .await?;
        Ok(respond(
            IdentifyResponse {
                result: Some(result),
            },
            decision,
        ))
    }

    async fn ingest_batch(
        &self,
        request: Request<IngestBatchRequest>,
    ) -> Result<Response<IngestBatchResponse>, Status> {
        let ack = requested_ack(request.get_ref().ack)?;
        let events = request.get_ref().events.len();
        let (principal, decision) = self.admit(&request, events).await?;
        let events = request.into_inner().events;
        let logic = self.logic.clone();
        let response = self
            .detached(async move { logic.ingest_batch(&principal, events, ack).await })
            .await?;
        Ok(respond(response, decision))
    }

    async fn ingest_stream(
        &self,
        request: Request<Streaming<IngestStreamRequest>>,
    ) -> Result<Response<IngestStreamResponse>, Status> {
        let principal = principal(&request)?;
        let address = self.client_address(&request);
        // Unreadable messages reach the service as the status they would
        // get alone (an oversize one as RESOURCE_EXHAUSTED).
        let messages = request.into_inner().map(|message| {
            message
                .map(|m| m.events)
                .map_err(|s| boost_server::oversize::replacement(&s).unwrap_or(s))
        });
        let logic = self.logic.clone();
        // In its own task so no produce is cut short by a hang-up.
        let answer = self
            .writes
            .spawn(async move { logic.ingest_stream(&principal, address, messages).await })
            .await
            .map_err(|e| Status::from(ApiError::internal("ingest stream task failed", &e)))?;
        Ok(Response::new(answer))
    }

    async fn get_limits(
        &self,
        request: Request<GetLimitsRequest>,
    ) -> Result<Response<GetLimitsResponse>, Status> {
        let principal = principal(&request)?;
        Ok(Response::new(self.logic.limits(&principal).await))
    }
}
