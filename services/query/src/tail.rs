//! TailEvents' loop: polls for newly stored events until the client leaves,
//! the stream's time is up or the server shuts down. It speaks domain rows;
//! the gRPC adapter turns each batch into a response.

use std::{
    collections::HashMap,
    time::{Duration, Instant, SystemTime},
};

use boost_storage::{events::StoredEvent, filter::EventFilter};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::{model::QueryError, service::QueryLogic};

/// Rows one tail poll reads at most.
const TAIL_BATCH: i64 = 2000;
/// How far back each tail poll looks again: a batch committed late can carry
/// a `stored_at` (its transaction's start) before rows already sent. After a
/// full poll the next one continues right after the last row instead, so a
/// flood cannot pin the tail to the same rows (late commits may then be missed).
const TAIL_OVERLAP: Duration = Duration::from_secs(5);

/// Batches of newly stored events, or the error that ended the tail.
pub type TailBatch = Result<Vec<StoredEvent>, QueryError>;

/// One TailEvents stream: polls for newly stored events until the client
/// leaves or the stream's time is up.
pub struct Tail {
    /// Reads.
    pub logic: QueryLogic,
    /// What the caller follows.
    pub filter: EventFilter,
    /// Poll interval.
    pub poll: Duration,
    /// When the stream ends at the latest.
    pub until: Instant,
}

impl Tail {
    /// Sends each poll's new rows to `sender` until the client leaves (the
    /// receiver is dropped), the time is up, or `stop`.
    pub async fn run(self, sender: mpsc::Sender<TailBatch>, stop: CancellationToken) {
        // The last (stored_at, event_id) seen.
        let started = SystemTime::now();
        let mut cursor = (started, Uuid::nil());
        // Ids sent recently, with their stored_at, so the overlap sends nothing twice.
        let mut sent: HashMap<Uuid, SystemTime> = HashMap::new();
        let mut saturated = false;
        while Instant::now() < self.until {
            tokio::select! {
                () = sender.closed() => return,
                () = stop.cancelled() => return,
                () = tokio::time::sleep(self.poll) => {}
            }
            let after = if saturated {
                cursor
            } else {
                // Never before the tail began: it follows what is stored from now on.
                ((cursor.0 - TAIL_OVERLAP).max(started), Uuid::nil())
            };
            let rows = match self
                .logic
                .stored_since(&self.filter, after, TAIL_BATCH)
                .await
            {
                Ok(rows) => rows,
                Err(err) => {
                    let _ = sender.send(Err(err)).await;
                    return;
                }
            };
            saturated = rows.len() as i64 == TAIL_BATCH;
            let mut events = Vec::new();
            for (stored_at, row) in rows {
                cursor = cursor.max((stored_at, row.event_id));
                if sent.insert(row.event_id, stored_at).is_none() {
                    events.push(row);
                }
            }
            sent.retain(|_, stored_at| *stored_at + 2 * TAIL_OVERLAP > cursor.0);
            if !events.is_empty() && sender.send(Ok(events)).await.is_err() {
                return;
            }
        }
    }
}
