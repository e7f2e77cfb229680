//! Thin tonic adapter for `boost.query.v1.QueryService`.

use std::{
    pin::Pin,
    time::{Duration, Instant},
};

use boost_proto::query::v1::{
    AggregateRequest, AggregateResponse, GetEventRequest, GetEventResponse, GetMetricsRequest,
    GetMetricsResponse, GetUserRequest, GetUserResponse, ListEventsRequest, ListEventsResponse,
    ListUsersRequest, ListUsersResponse, TailEventsRequest, TailEventsResponse,
    query_service_server::QueryService,
};
use boost_server::{ApiError, auth::principal};
use tokio::sync::mpsc;
use tokio_stream::{Stream, StreamExt, wrappers::ReceiverStream};
use tokio_util::{sync::CancellationToken, task::TaskTracker};
use tonic::{Request, Response, Status};

use crate::{
    service::{QueryError, QueryLogic, to_proto},
    tail::Tail,
};

/// The `QueryService` implementation.
pub struct QueryApi {
    /// Domain logic.
    logic: QueryLogic,
    /// TailEvents poll interval.
    tail_poll: Duration,
    /// TailEvents longest stream.
    tail_max: Duration,
    /// The running tails, so shutdown can wait for them.
    tails: TaskTracker,
    /// Ends every tail when the server shuts down (a tail would otherwise
    /// hold the graceful shutdown for up to `tail_max`).
    stop: CancellationToken,
}

impl QueryApi {
    /// An adapter over `logic`; tails run on `tails` and end on `stop`.
    pub fn new(
        logic: QueryLogic,
        tail_poll: Duration,
        tail_max: Duration,
        tails: TaskTracker,
        stop: CancellationToken,
    ) -> Self {
        Self {
            logic,
            tail_poll,
            tail_max,
            tails,
            stop,
        }
    }
}

fn status(err: QueryError) -> Status {
    Status::from(ApiError::from(err))
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
            .map_err(status)?;
        Ok(Response::new(response))
    }

    async fn get_event(
        &self,
        request: Request<GetEventRequest>,
    ) -> Result<Response<GetEventResponse>, Status> {
        let principal = principal(&request)?;
        let response = self
            .logic
            .get_event(&principal, &request.get_ref().event_id)
            .await
            .map_err(status)?;
        Ok(Response::new(response))
    }

    async fn get_user(
        &self,
        request: Request<GetUserRequest>,
    ) -> Result<Response<GetUserResponse>, Status> {
        let principal = principal(&request)?;
        let user = self
            .logic
            .get_user(&principal, &request.get_ref().user_id)
            .await
            .map_err(status)?;
        Ok(Response::new(GetUserResponse { user: Some(user) }))
    }

    async fn list_users(
        &self,
        request: Request<ListUsersRequest>,
    ) -> Result<Response<ListUsersResponse>, Status> {
        let principal = principal(&request)?;
        let response = self
            .logic
            .list_users(&principal, request.get_ref())
            .await
            .map_err(status)?;
        Ok(Response::new(response))
    }

    async fn aggregate(
        &self,
        request: Request<AggregateRequest>,
    ) -> Result<Response<AggregateResponse>, Status> {
        let principal = principal(&request)?;
        let response = self
            .logic
            .aggregate(&principal, request.get_ref())
            .await
            .map_err(status)?;
        Ok(Response::new(response))
    }

    async fn get_metrics(
        &self,
        request: Request<GetMetricsRequest>,
    ) -> Result<Response<GetMetricsResponse>, Status> {
        let principal = principal(&request)?;
        let response = self.logic.metrics(&principal).await.map_err(status)?;
        Ok(Response::new(response))
    }

    type TailEventsStream = Pin<Box<dyn Stream<Item = Result<TailEventsResponse, Status>> + Send>>;

    async fn tail_events(
        &self,
        request: Request<TailEventsRequest>,
    ) -> Result<Response<Self::TailEventsStream>, Status> {
        let principal = principal(&request)?;
        let filter = self
            .logic
            .tail_filter(&principal, request.get_ref().filter.as_ref())
            .map_err(status)?;
        let (sender, receiver) = mpsc::channel(4);
        let tail = Tail {
            logic: self.logic.clone(),
            filter,
            poll: self.tail_poll,
            until: Instant::now() + self.tail_max,
        };
        self.tails.spawn(tail.run(sender, self.stop.clone()));
        let answers = ReceiverStream::new(receiver).map(|batch| {
            batch
                .map(|rows| TailEventsResponse {
                    events: rows.into_iter().map(to_proto).collect(),
                })
                .map_err(status)
        });
        Ok(Response::new(Box::pin(answers)))
    }
}
