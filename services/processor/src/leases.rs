//! Sharing a topic's partitions between processor instances by leases in
//! PostgreSQL (rskafka has no consumer groups; offsets live there too).
//!
//! Every third of the lease time an instance: renews its heartbeat and
//! learns the live instances; renews its leases (one it no longer holds
//! stops its consumer); works out its fair share (the partition count split
//! evenly over the live instances, in name order); tells consumers above
//! that share to stop, and gives their leases back once they have stored
//! the batch in hand (renewing them meanwhile); and claims expired ones up
//! to it, starting each consumer from the stored offset. A round never
//! waits for a consumer, so a slow batch cannot delay a renewal.
//!
//! A dead instance's leases expire after at most one lease time, and the
//! others claim them within another third: takeover within 2 × the lease.
//! A batch commits only under the epoch it was claimed with
//! (`boost_storage::leases::check_fence`), so an instance that was paused
//! past its lease cannot commit after another took the partition over.

use std::{
    collections::BTreeMap,
    sync::{Arc, Mutex},
    time::Duration,
};

use boost_server::error::error_chain;
use boost_storage::{
    Pool, StorageError,
    leases::{self, Lease, LeaseState},
    offsets::{self, LogKey, StoredOffset},
};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::consumer::Consumer;

/// What a held partition's consumer is doing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Consuming under the lease.
    Active,
    /// Told to stop (above the fair share): the lease is renewed until the
    /// batch in hand is stored, then given back.
    GivingBack,
    /// Another instance took the lease: its batch in hand will be refused.
    Lost,
}

/// A partition this instance consumes under a lease.
struct Running {
    lease: Lease,
    state: State,
    stop: CancellationToken,
    task: JoinHandle<()>,
}

/// Every partition's lease as the last balancing round read it, for
/// GetStatus (served from memory, so it answers while PostgreSQL is down).
pub type LeaseTable = Arc<Mutex<Vec<LeaseState>>>;

/// This instance's side of the leases; see the module doc.
pub struct Balancer {
    consumer: Arc<Consumer>,
    /// Connections of the balancer's own: with every consumer busy storing,
    /// the shared pool can be empty for seconds, and a renewal that waits
    /// for it loses the leases.
    pool: Pool,
    /// This instance's name in the lease table.
    instance: String,
    /// The topic's partition count.
    partitions: i32,
    /// How long a lease or heartbeat lasts unrenewed.
    lease_time: Duration,
    running: BTreeMap<i32, Running>,
    /// Published for GetStatus after every round.
    table: LeaseTable,
}

/// The number of partitions instance `rank` of `live` should hold:
/// `partitions` split evenly, the first `partitions % live` one more.
pub fn fair_share(partitions: i32, live: usize, rank: usize) -> usize {
    let partitions = partitions.max(0) as usize;
    let live = live.max(1);
    partitions / live + usize::from(rank < partitions % live)
}

impl Balancer {
    /// A balancer for `instance`, consuming through `consumer` and
    /// publishing the leases it reads to `table`.
    pub fn new(
        consumer: Arc<Consumer>,
        pool: Pool,
        instance: String,
        partitions: i32,
        lease_time: Duration,
        table: LeaseTable,
    ) -> Self {
        Self {
            consumer,
            pool,
            instance,
            partitions,
            lease_time,
            running: BTreeMap::new(),
            table,
        }
    }

    /// Balances until `cancel`, then stops every consumer, gives their
    /// leases back and leaves the live instances.
    pub async fn run(mut self, cancel: CancellationToken) {
        let period = self.lease_time / 3;
        loop {
            if let Err(err) = self.balance().await {
                tracing::warn!(error = %error_chain(&err), "partition leases not balanced; retrying");
            }
            tokio::select! {
                () = cancel.cancelled() => break,
                () = tokio::time::sleep(period) => {}
            }
        }
        // Shutting down: here waiting for the batches in hand is the point.
        let mut given_back = Vec::new();
        for (partition, running) in std::mem::take(&mut self.running) {
            running.stop.cancel();
            let _ = running.task.await;
            self.consumer.progress.forget(partition);
            if running.state != State::Lost {
                given_back.push(running.lease);
            }
        }
        if let Err(err) = self.leave(&given_back).await {
            tracing::warn!(error = %error_chain(&err), "leases not given back; they expire instead");
        }
    }

    fn log(&self) -> LogKey<'_> {
        self.consumer.log()
    }

    /// One round. It never waits for a consumer: a batch in hand may take
    /// seconds, and a round that waited for it would miss its renewals.
    async fn balance(&mut self) -> Result<(), StorageError> {
        let client = self.pool.get().await?;
        let consumer = self.consumer.clone();
        let log = consumer.log();
        leases::ensure(&client, &log, self.partitions).await?;
        let live = leases::heartbeat(&client, &log, &self.instance, self.lease_time).await?;
        let held: Vec<Lease> = self
            .running
            .values()
            .filter(|r| r.state != State::Lost)
            .map(|r| r.lease)
            .collect();
        let renewed = leases::renew(&client, &log, &self.instance, &held, self.lease_time).await?;

        // Consumers that ended: given back (release the lease), lost or
        // refused a batch (nothing to release).
        let ended: Vec<i32> = self
            .running
            .iter()
            .filter(|(_, r)| r.task.is_finished())
            .map(|(p, _)| *p)
            .collect();
        let mut release = Vec::new();
        for partition in ended {
            if let Some(running) = self.running.remove(&partition) {
                consumer.progress.forget(partition);
                if running.state == State::GivingBack {
                    release.push(running.lease);
                }
            }
        }
        if !release.is_empty() {
            leases::release(&client, &log, &self.instance, &release).await?;
            let partitions: Vec<i32> = release.iter().map(|l| l.partition).collect();
            tracing::info!(?partitions, "gave partitions back");
        }
        let mut lost = Vec::new();
        for (partition, running) in &mut self.running {
            if running.state != State::Lost && !renewed.iter().any(|l| l.partition == *partition) {
                running.state = State::Lost;
                running.stop.cancel();
                lost.push(*partition);
            }
        }
        if !lost.is_empty() {
            tracing::warn!(partitions = ?lost, "partition leases lost");
        }

        let rank = live
            .iter()
            .position(|i| *i == self.instance)
            .unwrap_or(live.len());
        let share = fair_share(self.partitions, live.len(), rank);
        let active: Vec<i32> = self
            .running
            .iter()
            .filter(|(_, r)| r.state == State::Active)
            .map(|(p, _)| *p)
            .collect();
        if active.len() > share {
            for partition in active.iter().rev().take(active.len() - share) {
                if let Some(running) = self.running.get_mut(partition) {
                    running.state = State::GivingBack;
                    running.stop.cancel();
                }
            }
        } else if active.len() < share {
            let wanted = (share - active.len()) as i64;
            let claimed =
                leases::claim(&client, &log, &self.instance, wanted, self.lease_time).await?;
            for lease in claimed {
                let stored = offsets::load_one(&client, &log, lease.partition).await?;
                self.start(lease, stored);
            }
        }
        metrics::gauge!(OWNED_PARTITIONS).set(self.running.len() as f64);
        let states = leases::list(&client, &log).await?;
        *self.table.lock().expect("lease table lock") = states;
        Ok(())
    }

    /// Starts consuming a newly claimed partition from its `stored` offset.
    fn start(&mut self, lease: Lease, stored: Option<StoredOffset>) {
        tracing::info!(
            partition = lease.partition,
            epoch = lease.epoch,
            "claimed partition"
        );
        let stop = CancellationToken::new();
        let task = tokio::spawn(self.consumer.clone().run_partition(
            lease.partition,
            stored,
            Some(lease),
            stop.clone(),
        ));
        self.running.insert(
            lease.partition,
            Running {
                lease,
                state: State::Active,
                stop,
                task,
            },
        );
    }

    async fn leave(&self, given_back: &[Lease]) -> Result<(), StorageError> {
        let client = self.pool.get().await?;
        leases::release(&client, &self.log(), &self.instance, given_back).await?;
        leases::leave(&client, &self.log(), &self.instance).await
    }
}

/// Connections the balancer keeps apart from the consumers' pool (one
/// round uses one at a time).
pub const POOL_SIZE: usize = 2;

/// Partitions this instance holds leases on.
const OWNED_PARTITIONS: &str = "boost_processor_owned_partitions";

/// This instance's default name: host name and process id, unique among
/// live instances and readable in GetStatus.
pub fn default_instance() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_else(|_| "processor".into());
    format!("{host}-{}", std::process::id())
}

#[cfg(test)]
mod tests {
    use super::fair_share;

    #[test]
    fn test_fair_shares_cover_every_partition_once() {
        for (partitions, live) in [(16, 1), (16, 3), (4, 3), (2, 3), (16, 16)] {
            let shares: Vec<usize> = (0..live)
                .map(|rank| fair_share(partitions, live, rank))
                .collect();
            assert_eq!(
                shares.iter().sum::<usize>(),
                partitions as usize,
                "{shares:?}"
            );
            let spread = shares.iter().max().zip(shares.iter().min());
            assert!(
                spread.is_some_and(|(max, min)| max - min <= 1),
                "{shares:?}"
            );
        }
        assert_eq!(fair_share(16, 3, 0), 6);
        assert_eq!(fair_share(16, 3, 2), 5);
    }
}
