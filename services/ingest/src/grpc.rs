//! Thin tonic adapter for `boost.ingest.v1.IngestService`.

use boost_proto::ingest::v1::{TrackRequest, TrackResponse, ingest_service_server::IngestService};
use boost_server::{ApiError, auth::principal};
use tonic::{Request, Response, Status};

use crate::service::IngestLogic;

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

#[tonic::async_trait]
impl IngestService for IngestApi {
    async fn track(
        &self,
        request: Request<TrackRequest>,
    ) -> Result<Response<TrackResponse>, Status> {
        let principal = principal(&request)?;
        let event = request.into_inner().event;
        // The produce must not be cut short when the client goes away: run it
        // in its own task and only stop waiting if the caller cancels.
        let logic = self.logic.clone();
        let result = tokio::spawn(async move { logic.track(&principal, event).await })
            .await
            .map_err(|e| Status::from(ApiError::internal("track task failed", &e)))?
            .map_err(ApiError::from)?;
        Ok(Response::new(TrackResponse {
            result: Some(result),
        }))
    }
}
