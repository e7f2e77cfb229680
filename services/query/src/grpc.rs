//! Thin tonic adapter for `boost.query.v1.QueryService`.

use boost_proto::query::v1::{
    ListEventsRequest, ListEventsResponse, query_service_server::QueryService,
};
use boost_server::{ApiError, auth::principal};
use tonic::{Request, Response, Status};

use crate::service::QueryLogic;

/// The `QueryService` implementation.
pub struct QueryApi {
    /// Domain logic.
    logic: QueryLogic,
}

impl QueryApi {
    /// An adapter over `logic`.
    pub fn new(logic: QueryLogic) -> Self {
        Self { logic }
    }
}

#[tonic::async_trait]
impl QueryService for QueryApi {
    async fn list_events(
        &self,
        request: Request<ListEventsRequest>,
    ) -> Result<Response<ListEventsResponse>, Status> {
        let principal = principal(&request)?;
        let response = self
            .logic
            .list_events(&principal, request.get_ref())
            .await
            .map_err(ApiError::from)?;
        Ok(Response::new(response))
    }
}
