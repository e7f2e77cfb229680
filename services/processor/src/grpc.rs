//! Thin tonic adapters for `boost.processor.v1.DeadLetterService` and
//! `boost.processor.v1.ProcessorService`.

use boost_proto::{
    common::v1::Event,
    processor::v1::{
        DeadLetter, DeadLetterStatus, GetDeadLetterRequest, GetDeadLetterResponse,
        GetStatusRequest, GetStatusResponse, ListDeadLettersRequest, ListDeadLettersResponse,
        PartitionLease, PartitionStatus, PurgeDeadLettersRequest, PurgeDeadLettersResponse,
        ReplayDeadLettersRequest, ReplayDeadLettersResponse,
        dead_letter_service_server::DeadLetterService, processor_service_server::ProcessorService,
    },
    prost::Message,
    prost_types::Timestamp,
};
use std::sync::Arc;

use boost_server::{ApiError, auth::principal};
use boost_storage::{dead_letters::EventLetter, leases::LeaseState};
use tonic::{Request, Response, Status};

use crate::{
    dead_letters::{DeadLetters, LetterPage, LetterStatus, Selection},
    leases::LeaseTable,
    progress::Progress,
};

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
    /// This instance's name.
    instance: String,
    /// The leases as last read, when partitions are shared by leases
    /// (`None`: statically assigned).
    leases: Option<LeaseTable>,
}

impl ProcessorApi {
    /// An adapter over the consumer loops' `progress` and the `leases`
    /// table the balancer publishes.
    pub fn new(progress: Arc<Progress>, instance: String, leases: Option<LeaseTable>) -> Self {
        Self {
            progress,
            instance,
            leases,
        }
    }
}

#[tonic::async_trait]
impl ProcessorService for ProcessorApi {
    async fn get_status(
        &self,
        _request: Request<GetStatusRequest>,
    ) -> Result<Response<GetStatusResponse>, Status> {
        let mut response = status(&self.progress);
        response.instance = self.instance.clone();
        if let Some(table) = &self.leases {
            let leases = table.lock().expect("lease table lock").clone();
            response.leases = leases.into_iter().map(lease_proto).collect();
        }
        Ok(Response::new(response))
    }
}

fn lease_proto(lease: LeaseState) -> PartitionLease {
    PartitionLease {
        partition: lease.partition,
        owner: lease.owner,
        epoch: lease.epoch,
        expires_in_ms: lease.expires_in_ms,
    }
}

#[tonic::async_trait]
impl DeadLetterService for DeadLetterApi {
    async fn list_dead_letters(
        &self,
        request: Request<ListDeadLettersRequest>,
    ) -> Result<Response<ListDeadLettersResponse>, Status> {
        let principal = principal(&request)?;
        let page = LetterPage::try_from(request.get_ref())?;
        let (letters, next_page_token) = self.logic.list(&principal, &page).await?;
        Ok(Response::new(ListDeadLettersResponse {
            dead_letters: letters.iter().map(letter_proto).collect(),
            next_page_token,
        }))
    }

    async fn get_dead_letter(
        &self,
        request: Request<GetDeadLetterRequest>,
    ) -> Result<Response<GetDeadLetterResponse>, Status> {
        let principal = principal(&request)?;
        let letter = self.logic.get(&principal, request.get_ref().id).await?;
        Ok(Response::new(GetDeadLetterResponse {
            dead_letter: Some(letter_proto(&letter)),
            event: Event::decode(letter.payload.as_slice()).ok(),
        }))
    }

    async fn replay_dead_letters(
        &self,
        request: Request<ReplayDeadLettersRequest>,
    ) -> Result<Response<ReplayDeadLettersResponse>, Status> {
        let principal = principal(&request)?;
        let selection = Selection::new(request.get_ref().ids.clone(), None)?;
        let replayed = self.logic.replay(&principal, &selection).await?;
        Ok(Response::new(ReplayDeadLettersResponse { replayed }))
    }

    async fn purge_dead_letters(
        &self,
        request: Request<PurgeDeadLettersRequest>,
    ) -> Result<Response<PurgeDeadLettersResponse>, Status> {
        let principal = principal(&request)?;
        let body = request.get_ref();
        let selection = Selection::new(body.ids.clone(), letter_status(body.status)?)?;
        let purged = self.logic.purge(&principal, &selection).await?;
        Ok(Response::new(PurgeDeadLettersResponse { purged }))
    }
}

/// A wire status as a filter: unset means any.
fn letter_status(status: i32) -> Result<Option<LetterStatus>, ApiError> {
    match DeadLetterStatus::try_from(status) {
        Ok(DeadLetterStatus::Unspecified) => Ok(None),
        Ok(DeadLetterStatus::Failed) => Ok(Some(LetterStatus::Failed)),
        Ok(DeadLetterStatus::Replayed) => Ok(Some(LetterStatus::Replayed)),
        Err(_) => Err(ApiError::bad_field("status", "not a DeadLetterStatus")),
    }
}

impl TryFrom<&ListDeadLettersRequest> for LetterPage {
    type Error = ApiError;

    fn try_from(request: &ListDeadLettersRequest) -> Result<Self, ApiError> {
        Ok(LetterPage {
            status: letter_status(request.status)?,
            page_size: request.page_size,
            page_token: request.page_token.clone(),
        })
    }
}

/// The wire form of a letter.
fn letter_proto(letter: &EventLetter) -> DeadLetter {
    DeadLetter {
        id: letter.id,
        event_id: letter.event_id.to_string(),
        handler: letter.handler.clone(),
        error: letter.error.clone(),
        attempts: letter.attempts,
        status: if letter.status == LetterStatus::Replayed.as_str() {
            DeadLetterStatus::Replayed
        } else {
            DeadLetterStatus::Failed
        } as i32,
        create_time: Some(Timestamp::from(letter.created_at)),
        update_time: Some(Timestamp::from(letter.updated_at)),
        partition: letter.partition,
        offset: letter.offset,
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
        ..Default::default()
    }
}
