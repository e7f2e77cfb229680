//! Thin tonic adapter for `boost.query.v1.QueryService`: each RPC converts
//! its request into a domain type ([`convert`]), calls [`crate::service`],
//! and converts the answer back.

mod convert;

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
    model::{AggregateQuery, EventListing, PageAsk, QueryError},
    service::QueryLogic,
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
        let listing = EventListing::try_from(request.get_ref()).map_err(status)?;
        let page = self
            .logic
            .list_events(&principal, &listing)
            .await
            .map_err(status)?;
        Ok(Response::new(convert::event_page(page)))
    }

    async fn get_event(
        &self,
        request: Request<GetEventRequest>,
    ) -> Result<Response<GetEventResponse>, Status> {
        let principal = principal(&request)?;
        let event_id = convert::event_id(&request.get_ref().event_id).map_err(status)?;
        let found = self
            .logic
            .get_event(&principal, event_id)
            .await
            .map_err(status)?;
        Ok(Response::new(convert::found_event(found)))
    }

    async fn get_user(
        &self,
        request: Request<GetUserRequest>,
    ) -> Result<Response<GetUserResponse>, Status> {
        let principal = principal(&request)?;
        let user_id = convert::user_id(&request.get_ref().user_id).map_err(status)?;
        let user = self
            .logic
            .get_user(&principal, user_id)
            .await
            .map_err(status)?;
        Ok(Response::new(GetUserResponse {
            user: Some(convert::user(user)),
        }))
    }

    async fn list_users(
        &self,
        request: Request<ListUsersRequest>,
    ) -> Result<Response<ListUsersResponse>, Status> {
        let principal = principal(&request)?;
        let page = PageAsk {
            size: request.get_ref().page_size,
            token: request.get_ref().page_token.clone(),
        };
        let users = self
            .logic
            .list_users(&principal, &page)
            .await
            .map_err(status)?;
        Ok(Response::new(convert::user_page(users)))
    }

    async fn aggregate(
        &self,
        request: Request<AggregateRequest>,
    ) -> Result<Response<AggregateResponse>, Status> {
        let principal = principal(&request)?;
        let query = AggregateQuery::try_from(request.get_ref()).map_err(status)?;
        let aggregation = self
            .logic
            .aggregate(&principal, &query)
            .await
            .map_err(status)?;
        Ok(Response::new(convert::aggregation(aggregation)))
    }

    async fn get_metrics(
        &self,
        request: Request<GetMetricsRequest>,
    ) -> Result<Response<GetMetricsResponse>, Status> {
        let principal = principal(&request)?;
        let metrics = self.logic.metrics(&principal).await.map_err(status)?;
        Ok(Response::new(convert::metrics(metrics)))
    }

    type TailEventsStream = Pin<Box<dyn Stream<Item = Result<TailEventsResponse, Status>> + Send>>;

    async fn tail_events(
        &self,
        request: Request<TailEventsRequest>,
    ) -> Result<Response<Self::TailEventsStream>, Status> {
        let principal = principal(&request)?;
        let criteria = convert::criteria(request.get_ref().filter.as_ref()).map_err(status)?;
        let (sender, receiver) = mpsc::channel(4);
        let tail = Tail {
            logic: self.logic.clone(),
            filter: self.logic.tail_filter(&principal, &criteria),
            poll: self.tail_poll,
            until: Instant::now() + self.tail_max,
        };
        self.tails.spawn(tail.run(sender, self.stop.clone()));
        let answers = ReceiverStream::new(receiver).map(|batch| {
            batch
                .map(|rows| TailEventsResponse {
                    events: rows.into_iter().map(convert::stored_event).collect(),
                })
                .map_err(status)
        });
        Ok(Response::new(Box::pin(answers)))
    }
}
