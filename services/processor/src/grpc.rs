//! Thin tonic adapters for `boost.processor.v1.DeadLetterService` and
//! `boost.processor.v1.ProcessorService`.

use boost_proto::{
    processor::v1::{
        GetDeadLetterRequest, GetDeadLetterResponse, GetStatusRequest, GetStatusResponse,
        ListDeadLettersRequest, ListDeadLettersResponse, PartitionStatus, PurgeDeadLettersRequest,
        PurgeDeadLettersResponse, ReplayDeadLettersRequest, ReplayDeadLettersResponse,
        dead_letter_service_server::DeadLetterService, processor_service_server::ProcessorService,
    },
    prost_types::Timestamp,
};
use std::sync::Arc;

use boost_server::auth::principal;
use tonic::{Request, Response, Status};

use crate::{dead_letters::DeadLetters, progress::Progress};

/// The `DeadLetterService` implementation.
pub struct DeadLetterApi {
    /// Domain logic.
    logic: DeadLetters,
}

impl DeadLetterApi {
    /// An adapter over `logic`.
    pub fn new(logic: DeadLetters) -> Self {
        Self { logic }
    }
}

/// The `ProcessorService` implementation.
pub struct ProcessorApi {
    /// The consumer loops' progress.
    progress: Arc<Progress>,
}

impl ProcessorApi {
    /// An adapter over the consumer loops' `progress`.
    pub fn new(progress: Arc<Progress>) -> Self {
        Self { progress }
    }
}

#[tonic::async_trait]
impl ProcessorService for ProcessorApi {
    async fn get_status(
        &self,
        _request: Request<GetStatusRequest>,
    ) -> Result<Response<GetStatusResponse>, Status> {
        Ok(Response::new(status(&self.progress)))
    }
}

#[tonic::async_trait]
impl DeadLetterService for DeadLetterApi {
    async fn list_dead_letters(
        &self,
        request: Request<ListDeadLettersRequest>,
    ) -> Result<Response<ListDeadLettersResponse>, Status> {
        let principal = principal(&request)?;
        Ok(Response::new(
            self.logic.list(&principal, request.get_ref()).await?,
        ))
    }

    async fn get_dead_letter(
        &self,
        request: Request<GetDeadLetterRequest>,
    ) -> Result<Response<GetDeadLetterResponse>, Status> {
        let principal = principal(&request)?;
        Ok(Response::new(
            self.logic.get(&principal, request.get_ref().id).await?,
        ))
    }

    async fn replay_dead_letters(
        &self,
        request: Request<ReplayDeadLettersRequest>,
    ) -> Result<Response<ReplayDeadLettersResponse>, Status> {
        let principal = principal(&request)?;
        let replayed = self.logic.replay(&principal, request.get_ref()).await?;
        Ok(Response::new(ReplayDeadLettersResponse { replayed }))
    }

    async fn purge_dead_letters(
        &self,
        request: Request<PurgeDeadLettersRequest>,
    ) -> Result<Response<PurgeDeadLettersResponse>, Status> {
        let principal = principal(&request)?;
        let purged = self.logic.purge(&principal, request.get_ref()).await?;
        Ok(Response::new(PurgeDeadLettersResponse { purged }))
    }
}

/// The wire form of the consumer loops' progress.
fn status(progress: &Progress) -> GetStatusResponse {
    let stalled = progress.stalled();
    let partitions: Vec<PartitionStatus> = progress
        .partitions()
        .into_iter()
        .map(|(partition, p)| PartitionStatus {
            partition,
            stored_offset: p.next_offset,
            high_watermark: p.high_watermark,
            lag: p.lag(),
            last_stored_time: p.last_stored.map(Timestamp::from),
            stalled: stalled.contains(&partition),
            offset_conflict: p.conflict.unwrap_or_default(),
        })
        .collect();
    let freshness = progress.freshness();
    GetStatusResponse {
        total_lag: partitions.iter().map(|p| p.lag).sum(),
        partitions,
        freshness_samples: freshness.samples,
        freshness_p50_ms: freshness.p50_ms,
        freshness_p95_ms: freshness.p95_ms,
        freshness_max_ms: freshness.max_ms,
    }
}
