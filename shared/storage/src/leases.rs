//! Partition leases: how processors share a topic's partitions (rskafka has
//! no consumer groups). Every statement here is one round trip; the
//! balancing that uses them is the processor's (`leases` there).
//!
//! A lease is claimable when it has expired (its owner stopped renewing or
//! gave it back); a claim raises its epoch, and [`check_fence`] in a batch's
//! transaction refuses a commit made under an older epoch.

use std::time::Duration;

use deadpool_postgres::GenericClient;

use crate::{StorageError, offsets::LogKey};

/// A lease an instance holds: commits for `partition` must carry `epoch`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Lease {
    /// The partition.
    pub partition: i32,
    /// The epoch of the claim that gave it.
    pub epoch: i64,
}

/// One partition's lease as stored, for status pages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeaseState {
    /// The partition.
    pub partition: i32,
    /// The instance that holds or last held it; empty when never claimed.
    pub owner: String,
    /// Raised on every claim.
    pub epoch: i64,
    /// Milliseconds until it expires; 0 or less when it is free to claim.
    pub expires_in_ms: i64,
}

fn millis(ttl: Duration) -> f64 {
    ttl.as_secs_f64() * 1000.0
}

/// Records that `instance` is alive for `ttl` and returns every live
/// instance of `log`, sorted (the instance itself included).
pub async fn heartbeat(
    client: &impl GenericClient,
    log: &LogKey<'_>,
    instance: &str,
    ttl: Duration,
) -> Result<Vec<String>, StorageError> {
    client
        .execute(
            "INSERT INTO processor_instances (cluster_id, topic, instance, expires_at)
             VALUES ($1, $2, $3, clock_timestamp() + $4 * interval '1 millisecond')
             ON CONFLICT (cluster_id, topic, instance)
             DO UPDATE SET expires_at = EXCLUDED.expires_at",
            &[&log.cluster_id, &log.topic, &instance, &millis(ttl)],
        )
        .await
        .map_err(|e| StorageError::query("processor heartbeat", e))?;
    let rows = client
        .query(
            "SELECT instance FROM processor_instances
             WHERE cluster_id = $1 AND topic = $2 AND expires_at > clock_timestamp()
             ORDER BY instance",
            &[&log.cluster_id, &log.topic],
        )
        .await
        .map_err(|e| StorageError::query("list processors", e))?;
    Ok(rows.iter().map(|r| r.get(0)).collect())
}

/// Removes `instance` from the live ones (graceful shutdown), so the
/// others' shares grow at once instead of after its heartbeat expires.
pub async fn leave(
    client: &impl GenericClient,
    log: &LogKey<'_>,
    instance: &str,
) -> Result<(), StorageError> {
    client
        .execute(
            "DELETE FROM processor_instances WHERE cluster_id = $1 AND topic = $2 AND instance = $3",
            &[&log.cluster_id, &log.topic, &instance],
        )
        .await
        .map_err(|e| StorageError::query("leave processors", e))?;
    Ok(())
}

/// Makes sure partitions `0..partitions` of `log` have a lease row (free
/// until claimed).
pub async fn ensure(
    client: &impl GenericClient,
    log: &LogKey<'_>,
    partitions: i32,
) -> Result<(), StorageError> {
    client
        .execute(
            "INSERT INTO partition_leases (cluster_id, topic, partition)
             SELECT $1, $2, p FROM generate_series(0, $3 - 1) AS p
             ON CONFLICT DO NOTHING",
            &[&log.cluster_id, &log.topic, &partitions],
        )
        .await
        .map_err(|e| StorageError::query("create leases", e))?;
    Ok(())
}

/// Extends every lease `owner` still holds (at `epoch`s it knows) by `ttl`
/// and returns those; a lease missing from the answer was lost.
pub async fn renew(
    client: &impl GenericClient,
    log: &LogKey<'_>,
    owner: &str,
    held: &[Lease],
    ttl: Duration,
) -> Result<Vec<Lease>, StorageError> {
    let (partitions, epochs) = columns(held);
    let rows = client
        .query(
            "UPDATE partition_leases AS l
             SET expires_at = clock_timestamp() + $4 * interval '1 millisecond'
             FROM unnest($5::int[], $6::bigint[]) AS h(partition, epoch)
             WHERE l.cluster_id = $1 AND l.topic = $2 AND l.owner = $3
               AND l.partition = h.partition AND l.epoch = h.epoch
             RETURNING l.partition, l.epoch",
            &[
                &log.cluster_id,
                &log.topic,
                &owner,
                &millis(ttl),
                &partitions,
                &epochs,
            ],
        )
        .await
        .map_err(|e| StorageError::query("renew leases", e))?;
    Ok(rows.iter().map(lease).collect())
}

/// Claims up to `count` expired leases of `log` for `owner` for `ttl`,
/// lowest partitions first. A lease whose former owner is still inside a
/// batch's transaction is skipped (its row is locked, see [`check_fence`])
/// and claimed on a later round, once that batch committed or failed, or
/// once PostgreSQL ended the session of an owner paused inside it (the
/// processor's connections end a transaction left idle for a lease time).
pub async fn claim(
    client: &impl GenericClient,
    log: &LogKey<'_>,
    owner: &str,
    count: i64,
    ttl: Duration,
) -> Result<Vec<Lease>, StorageError> {
    let rows = client
        .query(
            "UPDATE partition_leases AS l
             SET owner = $3, epoch = l.epoch + 1,
                 expires_at = clock_timestamp() + $4 * interval '1 millisecond'
             WHERE (l.cluster_id, l.topic, l.partition) IN (
                 SELECT cluster_id, topic, partition FROM partition_leases
                 WHERE cluster_id = $1 AND topic = $2 AND expires_at <= clock_timestamp()
                 ORDER BY partition LIMIT $5
                 FOR UPDATE SKIP LOCKED)
             RETURNING l.partition, l.epoch",
            &[&log.cluster_id, &log.topic, &owner, &millis(ttl), &count],
        )
        .await
        .map_err(|e| StorageError::query("claim leases", e))?;
    Ok(rows.iter().map(lease).collect())
}

/// Gives `leases` back (expired at once, owner and epoch kept), after their
/// consumers stopped, so another instance may claim them without waiting.
pub async fn release(
    client: &impl GenericClient,
    log: &LogKey<'_>,
    owner: &str,
    leases: &[Lease],
) -> Result<(), StorageError> {
    let (partitions, epochs) = columns(leases);
    client
        .execute(
            "UPDATE partition_leases AS l SET expires_at = '-infinity'
             FROM unnest($4::int[], $5::bigint[]) AS h(partition, epoch)
             WHERE l.cluster_id = $1 AND l.topic = $2 AND l.owner = $3
               AND l.partition = h.partition AND l.epoch = h.epoch",
            &[&log.cluster_id, &log.topic, &owner, &partitions, &epochs],
        )
        .await
        .map_err(|e| StorageError::query("release leases", e))?;
    Ok(())
}

/// Whether `lease` is still current, checked inside a batch's transaction:
/// the row is locked `FOR KEY SHARE` until the commit, so a claim (which
/// locks it `FOR UPDATE`) cannot raise the epoch between this check and the
/// commit, while renewals (which change no key, so take `FOR NO KEY
/// UPDATE`) do not wait for batches, nor batches for them.
pub async fn check_fence(
    client: &impl GenericClient,
    log: &LogKey<'_>,
    lease: Lease,
) -> Result<bool, StorageError> {
    let statement = client
        .prepare_cached(
            "SELECT epoch FROM partition_leases
             WHERE cluster_id = $1 AND topic = $2 AND partition = $3 FOR KEY SHARE",
        )
        .await
        .map_err(|e| StorageError::query("prepare lease check", e))?;
    let row = client
        .query_opt(&statement, &[&log.cluster_id, &log.topic, &lease.partition])
        .await
        .map_err(|e| StorageError::query("check lease", e))?;
    Ok(row.is_some_and(|row| row.get::<_, i64>(0) == lease.epoch))
}

/// Every partition's lease of `log`, by partition.
pub async fn list(
    client: &impl GenericClient,
    log: &LogKey<'_>,
) -> Result<Vec<LeaseState>, StorageError> {
    let rows = client
        .query(
            "SELECT partition, owner, epoch,
                    CASE WHEN isfinite(expires_at)
                         THEN GREATEST(-1, EXTRACT(EPOCH FROM expires_at - clock_timestamp()) * 1000)
                         ELSE -1 END::bigint AS expires_in_ms
             FROM partition_leases WHERE cluster_id = $1 AND topic = $2 ORDER BY partition",
            &[&log.cluster_id, &log.topic],
        )
        .await
        .map_err(|e| StorageError::query("list leases", e))?;
    Ok(rows
        .iter()
        .map(|r| LeaseState {
            partition: r.get("partition"),
            owner: r.get("owner"),
            epoch: r.get("epoch"),
            expires_in_ms: r.get("expires_in_ms"),
        })
        .collect())
}

/// `leases` as the two arrays the statements `unnest` together.
fn columns(leases: &[Lease]) -> (Vec<i32>, Vec<i64>) {
    leases.iter().map(|l| (l.partition, l.epoch)).unzip()
}

fn lease(row: &tokio_postgres::Row) -> Lease {
    Lease {
        partition: row.get(0),
        epoch: row.get(1),
    }
}
