//! Thin tonic adapter for `boost.ingest.v1.IngestService`: each RPC
//! converts its request into a domain type ([`convert`]), runs the logic in
//! its own task, and converts the answer back with the `x-ratelimit-*`
//! metadata of its admission.

mod convert;

use std::{future::Future, net::IpAddr};

use boost_proto::ingest::v1::{
    GetLimitsRequest, GetLimitsResponse, IdentifyRequest, IdentifyResponse, IngestBatchRequest,
    IngestBatchResponse, IngestStreamRequest, IngestStreamResponse, TrackRequest, TrackResponse,
    ingest_service_server::IngestService,
};
use boost_server::{ApiError, auth::principal, trace_context};
use futures::StreamExt;
use tokio_util::task::TaskTracker;
use tonic::{Request, Response, Status, Streaming, metadata::MetadataMap};

use crate::{
    model::{Admitted, Batch, OneEvent, Sender, Unreadable},
    rate_limit::Decision,
    service::{IngestError, IngestLogic},
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
    /// the broker's ack timeout). The task stays in the request's span and trace.
    async fn detached<T, F>(&self, work: F) -> Result<T, Status>
    where
        T: Send + 'static,
        F: Future<Output = Result<T, IngestError>> + Send + 'static,
    {
        self.writes
            .spawn(trace_context::in_current_trace(work))
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

    /// Who is calling: the principal and the address for per-address limits.
    fn sender<T>(&self, request: &Request<T>) -> Result<Sender, Status> {
        Ok(Sender {
            principal: principal(request)?,
            address: self.client_address(request),
        })
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
fn respond<T, U>(admitted: Admitted<T>, wire: impl FnOnce(T) -> U) -> Response<U> {
    let mut response = Response::new(wire(admitted.answer));
    if let Some(decision) = admitted.decision {
        rate_headers(response.metadata_mut(), &decision);
    }
    response
}

/// A request's conversion error as the status it gets.
fn invalid(err: crate::validate::FieldError) -> Status {
    status(IngestError::Invalid(err))
}

#[tonic::async_trait]
impl IngestService for IngestApi {
    async fn track(
        &self,
        request: Request<TrackRequest>,
    ) -> Result<Response<TrackResponse>, Status> {
        let sender = self.sender(&request)?;
        let event = OneEvent::try_from(request.into_inner()).map_err(invalid)?;
        let logic = self.logic.clone();
        let admitted = self
            .detached(async move { logic.track(&sender, event).await })
            .await?;
        Ok(respond(admitted, |outcome| TrackResponse {
            result: Some(convert::event_result(outcome)),
        }))
    }

    async fn identify(
        &self,
        request: Request<IdentifyRequest>,
    ) -> Result<Response<IdentifyResponse>, Status> {
        let sender = self.sender(&request)?;
        let event = OneEvent::try_from(request.into_inner()).map_err(invalid)?;
        let logic = self.logic.clone();
        let admitted = self
            .detached(async move { logic.identify(&sender, event).await })
            .await?;
        Ok(respond(admitted, |outcome| IdentifyResponse {
            result: Some(convert::event_result(outcome)),
        }))
    }

    async fn ingest_batch(
        &self,
        request: Request<IngestBatchRequest>,
    ) -> Result<Response<IngestBatchResponse>, Status> {
        let sender = self.sender(&request)?;
        let batch = Batch::try_from(request.into_inner()).map_err(invalid)?;
        let logic = self.logic.clone();
        let admitted = self
            .detached(async move { logic.ingest_batch(&sender, batch).await })
            .await?;
        Ok(respond(admitted, convert::batch_response))
    }

    async fn ingest_stream(
        &self,
        request: Request<Streaming<IngestStreamRequest>>,
    ) -> Result<Response<IngestStreamResponse>, Status> {
        let sender = self.sender(&request)?;
        // Unreadable messages reach the service as the status they would
        // get alone (oversize as RESOURCE_EXHAUSTED, bad framing as
        // INVALID_ARGUMENT).
        let messages = request.into_inner().map(|message| {
            message.map(|m| m.events).map_err(|s| {
                let s = boost_server::request_faults::replacement(&s).unwrap_or(s);
                Unreadable {
                    code: s.code() as i32,
                    message: s.message().to_string(),
                }
            })
        });
        let logic = self.logic.clone();
        // In its own task so no produce is cut short by a hang-up.
        let summary = self
            .writes
            .spawn(trace_context::in_current_trace(async move {
                logic.ingest_stream(&sender, messages).await
            }))
            .await
            .map_err(|e| Status::from(ApiError::internal("ingest stream task failed", &e)))?;
        Ok(Response::new(convert::stream_response(summary)))
    }

    async fn get_limits(
        &self,
        request: Request<GetLimitsRequest>,
    ) -> Result<Response<GetLimitsResponse>, Status> {
        let principal = principal(&request)?;
        let view = self.logic.limits(&principal).await;
        Ok(Response::new(convert::limits_response(view)))
    }
}
