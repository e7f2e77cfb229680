//! [`Client`]: events go through the background batcher; queries are typed
//! calls carrying the credential and the deadline.

use std::{sync::Arc, time::Duration};

use boost_proto::{
    common::v1::{Event, EventKind, LogBody, MetricBody, Severity, event::Body},
    ingest::v1::ingest_service_client::IngestServiceClient,
    query::v1::{
        AggregateRequest, AggregateResponse, EventFilter, GetMetricsRequest, GetMetricsResponse,
        ListEventsRequest, StoredEvent, TailEventsRequest, TailEventsResponse,
        query_service_client::QueryServiceClient,
    },
};
use futures::{Stream, StreamExt, stream};
use tonic::{
    Request, Status, Streaming,
    metadata::MetadataValue,
    transport::{Channel, Endpoint},
};

use crate::{
    batcher::{Batcher, Stats},
    config::{ClientConfig, Credential},
    event::new_event,
};

/// Why the client could not be built.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// A setting is wrong (message says which).
    #[error("client config: {0}")]
    Config(String),
}

/// A Boost client: cheap to share behind an `Arc`; one batcher per client.
pub struct Client {
    ingest: IngestServiceClient<Channel>,
    query: QueryServiceClient<Channel>,
    credential: Credential,
    timeout: Duration,
    batcher: Batcher,
}

fn channel(url: &str, what: &str) -> Result<Channel, ClientError> {
    Endpoint::from_shared(url.to_string())
        .map(|e| e.connect_lazy())
        .map_err(|e| ClientError::Config(format!("{what} URL {url:?}: {e}")))
}

/// `request` with the credential's metadata and `timeout`.
fn authorised<T>(credential: &Credential, timeout: Duration, body: T) -> Request<T> {
    let mut request = Request::new(body);
    request.set_timeout(timeout);
    let metadata = request.metadata_mut();
    match credential {
        Credential::ApiKey(key) => {
            if let Ok(value) = MetadataValue::try_from(key.as_str()) {
                metadata.insert("x-api-key", value);
            }
        }
        Credential::Token(token) => {
            if let Ok(value) = MetadataValue::try_from(format!("Bearer {token}")) {
                metadata.insert("authorization", value);
            }
        }
    }
    request
}

impl Client {
    /// A client over `config`; channels connect on first use (a service
    /// that is down is retried like any UNAVAILABLE). Call inside a Tokio
    /// runtime: the batcher is a task.
    pub fn new(config: ClientConfig) -> Result<Self, ClientError> {
        if !(1..=1000).contains(&config.batching.batch_size) {
            return Err(ClientError::Config(
                "batch_size must be between 1 and 1000".into(),
            ));
        }
        let ingest = IngestServiceClient::new(channel(&config.ingest_url, "ingest")?);
        let query = QueryServiceClient::new(channel(&config.query_url, "query")?);
        let sender = ingest.clone();
        let credential = config.credential.clone();
        let timeout = config.timeout;
        let send = Arc::new(move |batch| {
            let mut ingest = sender.clone();
            let request = authorised(&credential, timeout, batch);
            Box::pin(async move {
                ingest
                    .ingest_batch(request)
                    .await
                    .map(tonic::Response::into_inner)
            }) as std::pin::Pin<Box<dyn std::future::Future<Output = _> + Send>>
        });
        let batcher = Batcher::start(
            send,
            config.ack.level() as i32,
            config.batching,
            config.retry,
        );
        Ok(Self {
            ingest,
            query,
            credential: config.credential,
            timeout: config.timeout,
            batcher,
        })
    }

    /// A request with this client's credential and deadline, for raw calls.
    pub fn request<T>(&self, body: T) -> Request<T> {
        authorised(&self.credential, self.timeout, body)
    }

    /// The IngestService client, for calls the helpers do not cover.
    pub fn ingest(&self) -> IngestServiceClient<Channel> {
        self.ingest.clone()
    }

    /// The QueryService client, for calls the helpers do not cover.
    pub fn query(&self) -> QueryServiceClient<Channel> {
        self.query.clone()
    }

    /// Queues a prepared event; returns its id (`false` cases reach the error callback).
    pub fn send(&self, event: Event) -> String {
        let id = event.event_id.clone();
        self.batcher.add(event);
        id
    }

    /// Queues a product event; returns its id.
    pub fn track(&self, event_type: &str, user_id: &str, properties: serde_json::Value) -> String {
        let mut event = new_event(EventKind::Track, event_type, properties);
        event.user_id = user_id.to_string();
        self.send(event)
    }

    /// Queues the end user's traits; returns the event id.
    pub fn identify(&self, user_id: &str, traits: serde_json::Value) -> String {
        let mut event = new_event(EventKind::Identify, "identify", traits);
        event.user_id = user_id.to_string();
        self.send(event)
    }

    /// Queues a log line (`logger` is its type); returns the event id.
    pub fn log(&self, logger: &str, severity: Severity, message: &str) -> String {
        let mut event = new_event(EventKind::Log, logger, serde_json::json!({}));
        event.body = Some(Body::Log(LogBody {
            severity: severity as i32,
            message: message.to_string(),
        }));
        self.send(event)
    }

    /// Queues one metric sample; returns the event id.
    pub fn metric(&self, name: &str, value: f64, unit: &str) -> String {
        let mut event = new_event(EventKind::Metric, name, serde_json::json!({}));
        event.body = Some(Body::Metric(MetricBody {
            name: name.to_string(),
            value,
            unit: unit.to_string(),
        }));
        self.send(event)
    }

    /// Sends everything queued and waits for the answers.
    pub async fn flush(&self) {
        self.batcher.flush().await;
    }

    /// Flushes and stops the batcher; later events are refused.
    pub async fn close(&self) {
        self.batcher.close().await;
    }

    /// The batcher's counters.
    pub fn stats(&self) -> Stats {
        self.batcher.stats()
    }

    /// Every event `request` matches, page by page.
    pub fn list_events(
        &self,
        request: ListEventsRequest,
    ) -> impl Stream<Item = Result<StoredEvent, Status>> + '_ {
        let pages = stream::try_unfold(Some(request), move |next| async move {
            let Some(request) = next else { return Ok(None) };
            let page = self
                .query()
                .list_events(self.request(request.clone()))
                .await?
                .into_inner();
            let following = (!page.next_page_token.is_empty()).then(|| ListEventsRequest {
                page_token: page.next_page_token.clone(),
                ..request
            });
            Ok(Some((
                stream::iter(page.events.into_iter().map(Ok)),
                following,
            )))
        });
        pages
            .map(|page| match page {
                Ok(events) => events.left_stream(),
                Err(status) => stream::iter(vec![Err(status)]).right_stream(),
            })
            .flatten()
    }

    /// Counts grouped by one dimension.
    pub async fn aggregate(&self, request: AggregateRequest) -> Result<AggregateResponse, Status> {
        Ok(self
            .query()
            .aggregate(self.request(request))
            .await?
            .into_inner())
    }

    /// The project's totals, last hour, last 24 hours and top services.
    pub async fn metrics(&self) -> Result<GetMetricsResponse, Status> {
        Ok(self
            .query()
            .get_metrics(self.request(GetMetricsRequest {}))
            .await?
            .into_inner())
    }

    /// Events stored from now on; drop the stream to stop (no deadline).
    pub async fn tail(
        &self,
        filter: Option<EventFilter>,
    ) -> Result<Streaming<TailEventsResponse>, Status> {
        let mut request = self.request(TailEventsRequest { filter });
        request.set_timeout(Duration::from_secs(24 * 3600));
        Ok(self.query().tail_events(request).await?.into_inner())
    }
}
