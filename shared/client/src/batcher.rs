//! The background batcher: events queue in a bounded channel and one task
//! sends them as IngestBatch calls of `batch_size` events, at least every
//! `flush_interval`, one call at a time, retried by the shared policy with
//! the same ids. The same rules as the Python and TypeScript batchers.

use std::{
    future::Future,
    sync::{Arc, Mutex},
    time::Duration,
};

use boost_proto::{
    common::v1::Event,
    ingest::v1::{EventStatus, IngestBatchRequest, IngestBatchResponse},
};
use tokio::{
    sync::{mpsc, oneshot},
    task::JoinHandle,
    time::Instant,
};
use tonic::Status;

use crate::{
    config::{Batching, ErrorCallback},
    retry::{self, RetryPolicy},
};

/// An event that was not delivered, with the field and reason.
#[derive(Debug, Clone)]
pub struct Rejection {
    /// The event as sent.
    pub event: Event,
    /// The offending field's path (e.g. `events[3].type`); empty for the whole event.
    pub field: String,
    /// Why.
    pub reason: String,
    /// Whether sending it later may work (dropped from a full queue, given up).
    pub retryable: bool,
}

/// What the batcher has done so far.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    /// Events taken into the queue.
    pub queued: u64,
    /// Events the server accepted now.
    pub accepted: u64,
    /// Events the server already had (a retried batch): delivered.
    pub duplicates: u64,
    /// Events refused for good.
    pub rejected: u64,
    /// Events given up at the retry deadline.
    pub failed: u64,
    /// Events not queued (queue full or client closed).
    pub dropped: u64,
    /// IngestBatch calls made.
    pub batches: u64,
    /// Tries after the first.
    pub retries: u64,
    /// Time spent waiting before retries.
    pub retry_wait: Duration,
    /// The longest RetryInfo delay the server asked for.
    pub max_server_delay: Duration,
}

impl Stats {
    /// Events the server has: accepted now or before.
    pub fn delivered(&self) -> u64 {
        self.accepted + self.duplicates
    }
}

/// What the task is asked to do, in order. Almost every command is an
/// event, so it is not boxed (that would allocate once more per event).
#[allow(clippy::large_enum_variant)]
enum Command {
    Event(Event),
    Flush(oneshot::Sender<()>),
}

/// Sends one IngestBatch call.
pub type SendBatch = Arc<
    dyn Fn(
            IngestBatchRequest,
        )
            -> std::pin::Pin<Box<dyn Future<Output = Result<IngestBatchResponse, Status>> + Send>>
        + Send
        + Sync,
>;

/// Queues events and delivers them from one task.
pub struct Batcher {
    commands: Mutex<Option<mpsc::Sender<Command>>>,
    stats: Arc<Mutex<Stats>>,
    on_error: ErrorCallback,
    task: Mutex<Option<JoinHandle<()>>>,
}

impl Batcher {
    /// Starts the task (inside the running Tokio runtime).
    pub fn start(send: SendBatch, ack: i32, batching: Batching, retry: RetryPolicy) -> Self {
        let batch_size = batching.batch_size.clamp(1, 1000);
        let (commands, receiver) = mpsc::channel(batching.max_queue.max(1));
        let stats = Arc::new(Mutex::new(Stats::default()));
        let delivery = Delivery {
            send,
            ack,
            retry,
            stats: stats.clone(),
            on_error: batching.on_error.clone(),
        };
        let task = tokio::spawn(run(receiver, delivery, batch_size, batching.flush_interval));
        Self {
            commands: Mutex::new(Some(commands)),
            stats,
            on_error: batching.on_error,
            task: Mutex::new(Some(task)),
        }
    }

    /// Queues `event`; false (and the error callback) when full or closed.
    pub fn add(&self, event: Event) -> bool {
        let sender = self.commands.lock().expect("batcher lock").clone();
        let refused = match sender {
            None => Some((event, "client closed".to_string(), false)),
            Some(sender) => match sender.try_send(Command::Event(event)) {
                Ok(()) => None,
                Err(mpsc::error::TrySendError::Full(Command::Event(event))) => {
                    Some((event, "client queue full".to_string(), true))
                }
                Err(mpsc::error::TrySendError::Closed(Command::Event(event))) => {
                    Some((event, "client closed".to_string(), false))
                }
                Err(_) => unreachable!("only events are tried"),
            },
        };
        let mut stats = self.stats.lock().expect("stats lock");
        match refused {
            None => {
                stats.queued += 1;
                true
            }
            Some((event, reason, retryable)) => {
                stats.dropped += 1;
                drop(stats);
                (self.on_error)(Rejection {
                    event,
                    field: String::new(),
                    reason,
                    retryable,
                });
                false
            }
        }
    }

    /// Sends everything queued before this call and waits for the answers.
    pub async fn flush(&self) {
        let sender = self.commands.lock().expect("batcher lock").clone();
        if let Some(sender) = sender {
            let (done, answered) = oneshot::channel();
            if sender.send(Command::Flush(done)).await.is_ok() {
                let _ = answered.await;
            }
        }
    }

    /// Flushes, then stops the task; later events are refused.
    pub async fn close(&self) {
        self.flush().await;
        self.commands.lock().expect("batcher lock").take();
        let task = self.task.lock().expect("batcher lock").take();
        if let Some(task) = task {
            let _ = task.await;
        }
    }

    /// The counters so far.
    pub fn stats(&self) -> Stats {
        *self.stats.lock().expect("stats lock")
    }
}

/// The task: collects events into batches and delivers them in order.
async fn run(
    mut commands: mpsc::Receiver<Command>,
    delivery: Delivery,
    batch_size: usize,
    interval: Duration,
) {
    let mut batch: Vec<Event> = Vec::with_capacity(batch_size);
    let mut due: Option<Instant> = None;
    loop {
        let command = match due {
            Some(at) => tokio::select! {
                command = commands.recv() => command,
                () = tokio::time::sleep_until(at) => {
                    delivery.deliver(std::mem::take(&mut batch)).await;
                    due = None;
                    continue;
                }
            },
            None => commands.recv().await,
        };
        match command {
            Some(Command::Event(event)) => {
                if batch.is_empty() {
                    due = Some(Instant::now() + interval);
                }
                batch.push(event);
                if batch.len() >= batch_size {
                    delivery.deliver(std::mem::take(&mut batch)).await;
                    due = None;
                }
            }
            Some(Command::Flush(done)) => {
                delivery.deliver(std::mem::take(&mut batch)).await;
                due = None;
                let _ = done.send(());
            }
            None => {
                delivery.deliver(batch).await;
                return;
            }
        }
    }
}

/// Sends batches until delivered, refused or given up.
struct Delivery {
    send: SendBatch,
    ack: i32,
    retry: RetryPolicy,
    stats: Arc<Mutex<Stats>>,
    on_error: ErrorCallback,
}

impl Delivery {
    async fn deliver(&self, events: Vec<Event>) {
        if events.is_empty() {
            return;
        }
        let started = Instant::now();
        let mut pending = events;
        let mut last: Option<Status> = None;
        for attempt in 0u32.. {
            self.stats.lock().expect("stats lock").batches += 1;
            let request = IngestBatchRequest {
                events: pending.clone(),
                ack: self.ack,
            };
            let server_delay = match (self.send)(request).await {
                Ok(answer) => {
                    pending = self.sort(pending, answer);
                    if pending.is_empty() {
                        return;
                    }
                    None
                }
                Err(status) if retry::retryable(&status) => {
                    let delay = retry::server_delay(&status);
                    last = Some(status);
                    delay
                }
                Err(status) => return self.give_up(pending, Some(&status)),
            };
            let delay = self.retry.delay(attempt, server_delay);
            if started.elapsed() + delay > self.retry.deadline {
                return self.give_up(pending, last.as_ref());
            }
            {
                let mut stats = self.stats.lock().expect("stats lock");
                stats.retries += 1;
                stats.retry_wait += delay;
                if let Some(server) = server_delay {
                    stats.max_server_delay = stats.max_server_delay.max(server);
                }
            }
            tokio::time::sleep(delay).await;
        }
    }

    /// Counts an answer; returns the events to send again (retryable rejections).
    fn sort(&self, sent: Vec<Event>, answer: IngestBatchResponse) -> Vec<Event> {
        let mut sent: Vec<Option<Event>> = sent.into_iter().map(Some).collect();
        let mut again = Vec::new();
        let mut refused = Vec::new();
        {
            let mut stats = self.stats.lock().expect("stats lock");
            for result in answer.results {
                let Some(event) = sent.get_mut(result.index as usize).and_then(Option::take) else {
                    continue;
                };
                match EventStatus::try_from(result.status) {
                    Ok(EventStatus::Accepted) => stats.accepted += 1,
                    Ok(EventStatus::Duplicate) => stats.duplicates += 1,
                    _ if result.retryable => again.push(event),
                    _ => {
                        stats.rejected += 1;
                        refused.push(Rejection {
                            event,
                            field: result.field,
                            reason: result.reason,
                            retryable: false,
                        });
                    }
                }
            }
        }
        refused.into_iter().for_each(|r| (self.on_error)(r));
        again
    }

    fn give_up(&self, events: Vec<Event>, status: Option<&Status>) {
        let retryable = status.is_none_or(retry::retryable);
        let reason = status.map_or_else(
            || "still refused (retryable) at the retry deadline".to_string(),
            |s| format!("{:?}: {}", s.code(), s.message()),
        );
        let field = status.and_then(retry::violated_field).unwrap_or_default();
        {
            let mut stats = self.stats.lock().expect("stats lock");
            if retryable {
                stats.failed += events.len() as u64;
            } else {
                stats.rejected += events.len() as u64;
            }
        }
        for event in events {
            (self.on_error)(Rejection {
                event,
                field: field.clone(),
                reason: reason.clone(),
                retryable,
            });
        }
    }
}
