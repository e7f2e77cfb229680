//! Thin tonic adapter for `boost.ingest.v1.IngestService`.

use std::future::Future;

use boost_proto::ingest::v1::{
    IdentifyRequest, IdentifyResponse, IngestBatchRequest, IngestBatchResponse, TrackRequest,
    TrackResponse, ingest_service_server::IngestService,
};
use boost_server::{ApiError, auth::principal};
use tonic::{Request, Response, Status};

use crate::service::{IngestError, IngestLogic};

/// The `IngestService` implementation.
pub struct IngestApi {
    /// Domain logic.
    logic: IngestLogic,
}

impl IngestApi {
    /// An adapter over `logic`.
    pub fn new(logic: IngestLogic) -> Self {
        Self { logic }
    }
}

/// Runs `work` in its own task: a produce must not be cut short when the
/// client goes away, so only the waiting stops if the caller cancels.
async fn detached<T, F>(work: F) -> Result<T, Status>
where
    T: Send + 'static,
    F: Future<Output = Result<T, IngestError>> + Send + 'static,
{
    tokio::spawn(work)
        .await
        .map_err(|e| Status::from(ApiError::internal("ingest task failed", &e)))?
        .map_err(|e| ApiError::from(e).into())
}

#[tonic::async_trait]
impl IngestService for IngestApi {
    async fn track(
        &self,
        request: Request<TrackRequest>,
    ) -> Result<Response<TrackResponse>, Status> {
        let principal = principal(&request)?;
        let event = request.into_inner().event;
        let logic = self.logic.clone();
        let result = detached(async move { logic.track(&principal, event).await }).await?;
        Ok(Response::new(TrackResponse {
            result: Some(result),
        }))
    }

    async fn identify(
        &self,
        request: Request<IdentifyRequest>,
    ) -> Result<Response<IdentifyResponse>, Status> {
        let principal = principal(&request)?;
        let event = request.into_inner().event;
        let logic = self.logic.clone();
        let result = detached(async move { logic.identify(&principal, event).await }).await?;
        Ok(Response::new(IdentifyResponse {
            result: Some(result),
        }))
    }

    async fn ingest_batch(
        &self,
        request: Request<IngestBatchRequest>,
    ) -> Result<Response<IngestBatchResponse>, Status> {
        let principal = principal(&request)?;
        let events = request.into_inner().events;
        let logic = self.logic.clone();
        let response =
            detached(async move { logic.ingest_batch(&principal, events).await }).await?;
        Ok(Response::new(response))
    }
}
