//! Thin tonic adapter for `boost.processor.v1.DeadLetterService`.

use boost_proto::processor::v1::{
    GetDeadLetterRequest, GetDeadLetterResponse, ListDeadLettersRequest, ListDeadLettersResponse,
    PurgeDeadLettersRequest, PurgeDeadLettersResponse, ReplayDeadLettersRequest,
    ReplayDeadLettersResponse, dead_letter_service_server::DeadLetterService,
};
use boost_server::auth::principal;
use tonic::{Request, Response, Status};

use crate::dead_letters::DeadLetters;

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
