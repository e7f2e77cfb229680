//! Validation cache: L1 in-process (bounded, short TTL, short negative
//! caching) in front of L2 Redis in front of PostgreSQL.
//!
//! Revocation replaces the L2 entry with a tombstone and publishes the key hash on
//! [`INVALIDATION_CHANNEL`]; every instance drops it from its L1. An L1
//! entry is trusted for its full lifetime only if it was stored while this
//! instance's subscription was confirmed and has stayed up since: an entry
//! stored before the first SUBSCRIBE answered, or before a reconnect (when
//! invalidations may have been missed), is trusted for at most one second.
//! So a revoked key is refused everywhere within a second even when Redis
//! is down or has just come back.
//!
//! A lookup that read PostgreSQL just before a revocation committed must not
//! put the stale grant back: L1 refuses a put when an invalidation was applied
//! since the lookup began ([`KeyCache::generation`]), and revocation leaves a
//! tombstone in L2 for the L2 lifetime that the put (`SET NX`) cannot replace.
//! When Redis cannot take the tombstone and the announcement, the revoking
//! instance tries again every 250 ms for the L2 lifetime.

use std::{
    collections::HashMap,
    sync::{
        Mutex,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant, SystemTime, UNIX_EPOCH},
};

use boost_storage::redis::fred::{
    clients::{Client, SubscriberClient},
    interfaces::{ClientLike, EventInterface, KeysInterface, PubsubInterface},
    types::{Expiration, SetOptions},
};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

/// Channel carrying hex key hashes to drop from every instance's L1.
pub const INVALIDATION_CHANNEL: &str = "boost:auth:invalidate";
/// L2 key prefix.
const L2_PREFIX: &str = "boost:auth:key:";
/// L2 value of an invalidated key: no grant decodes from it, and it keeps a
/// late put of the old grant out.
const L2_TOMBSTONE: &str = "revoked";
/// Most L1 entries; the cache is cleared when full (cheap and bounded).
const L1_MAX_ENTRIES: usize = 100_000;
/// How long L1 is trusted while invalidations cannot arrive.
const L1_TTL_WITHOUT_INVALIDATION: Duration = Duration::from_secs(1);

/// What a valid credential grants; what the caches hold.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    /// The key; `None` for a JWT.
    pub api_key_id: Option<Uuid>,
    /// Tenant.
    pub project_id: Uuid,
    /// Its organisation.
    pub organization_id: Uuid,
    /// Granted scope names.
    pub scopes: Vec<String>,
    /// When it stops being valid.
    pub expires_at: Option<SystemTime>,
}

impl Grant {
    /// L2 form: `v1|key|project|org|scope,scope|expiry-ms`.
    fn encode(&self) -> String {
        let expires = self
            .expires_at
            .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
            .map(|d| d.as_millis().to_string())
            .unwrap_or_default();
        let key = self.api_key_id.map(|id| id.to_string()).unwrap_or_default();
        format!(
            "v1|{key}|{}|{}|{}|{expires}",
            self.project_id,
            self.organization_id,
            self.scopes.join(",")
        )
    }

    fn decode(text: &str) -> Option<Grant> {
        let parts: Vec<&str> = text.split('|').collect();
        let [version, key, project, org, scopes, expires] = parts[..] else {
            return None;
        };
        if version != "v1" {
            return None;
        }
        Some(Grant {
            api_key_id: if key.is_empty() {
                None
            } else {
                Some(key.parse().ok()?)
            },
            project_id: project.parse().ok()?,
            organization_id: org.parse().ok()?,
            scopes: scopes
                .split(',')
                .filter(|s| !s.is_empty())
                .map(str::to_string)
                .collect(),
            expires_at: if expires.is_empty() {
                None
            } else {
                Some(UNIX_EPOCH + Duration::from_millis(expires.parse().ok()?))
            },
        })
    }
}

/// When an L1 answer was stored, and the answer (`None`: no such key).
type L1Entry = (Instant, Option<Grant>);

/// Cache tuning.
#[derive(Debug, Clone, Copy)]
pub struct CacheTtls {
    /// L1 lifetime of a positive answer while invalidations flow.
    pub l1: Duration,
    /// L1 lifetime of "no such key".
    pub negative: Duration,
    /// L2 lifetime.
    pub l2: Duration,
}

/// L1 + L2 with invalidation.
pub struct KeyCache {
    /// L1: key hash → (stored at, answer); `None` answers are negative entries.
    l1: Mutex<HashMap<[u8; 32], L1Entry>>,
    /// Commands (L2 reads/writes, publish).
    redis: Client,
    /// Receives invalidations.
    subscriber: SubscriberClient,
    /// Lifetimes.
    ttls: CacheTtls,
    /// When the current subscription to [`INVALIDATION_CHANNEL`] was
    /// confirmed; `None` until then and while re-subscribing.
    invalidations_live_since: Mutex<Option<Instant>>,
    /// Invalidations applied to L1 so far (changed under the L1 lock).
    generation: AtomicU64,
}

fn l2_key(hash: &[u8; 32]) -> String {
    let mut key = String::with_capacity(L2_PREFIX.len() + 64);
    key.push_str(L2_PREFIX);
    key.push_str(&hex(hash));
    key
}

/// Lowercase hex of a hash.
fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(text: &str) -> Option<[u8; 32]> {
    let mut out = [0u8; 32];
    if text.len() != 64 {
        return None;
    }
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = u8::from_str_radix(text.get(2 * i..2 * i + 2)?, 16).ok()?;
    }
    Some(out)
}

impl KeyCache {
    /// A cache over the given Redis clients.
    pub fn new(redis: Client, subscriber: SubscriberClient, ttls: CacheTtls) -> Self {
        Self {
            l1: Mutex::new(HashMap::new()),
            redis,
            subscriber,
            ttls,
            invalidations_live_since: Mutex::new(None),
            generation: AtomicU64::new(0),
        }
    }

    /// Whether invalidations reach this instance now: the subscription is
    /// confirmed and its connection is up.
    pub fn invalidations_live(&self) -> bool {
        self.live_since().is_some()
    }

    fn live_since(&self) -> Option<Instant> {
        let since = *self.invalidations_live_since.lock().expect("live lock");
        since.filter(|_| self.subscriber.is_connected())
    }

    /// The command client, for health reporting.
    pub fn redis(&self) -> Client {
        self.redis.clone()
    }

    /// The L1 answer, if fresh: `Some(None)` is a cached "no such key".
    pub fn l1_get(&self, hash: &[u8; 32]) -> Option<Option<Grant>> {
        let live_since = self.live_since();
        let l1 = self.l1.lock().expect("l1 lock");
        let (stored, answer) = l1.get(hash)?;
        let ttl = match answer {
            None => self.ttls.negative,
            // Every invalidation since it was stored has reached us.
            Some(_) if live_since.is_some_and(|since| *stored >= since) => self.ttls.l1,
            Some(_) => self.ttls.l1.min(L1_TTL_WITHOUT_INVALIDATION),
        };
        (stored.elapsed() < ttl).then(|| answer.clone())
    }

    /// Invalidations applied so far: read it before a lookup and pass it to
    /// [`KeyCache::l1_put`].
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// Stores an answer in L1, unless an invalidation was applied since
    /// `generation` was read (the answer may predate a revocation).
    pub fn l1_put(&self, hash: [u8; 32], answer: Option<Grant>, generation: u64) {
        let mut l1 = self.l1.lock().expect("l1 lock");
        if self.generation() != generation {
            return;
        }
        if l1.len() >= L1_MAX_ENTRIES {
            l1.clear();
        }
        l1.insert(hash, (Instant::now(), answer));
    }

    /// The L2 answer; `Err` when Redis is down (the caller goes to PostgreSQL).
    pub async fn l2_get(&self, hash: &[u8; 32]) -> Result<Option<Grant>, ()> {
        let value: Option<String> = self.redis.get(l2_key(hash)).await.map_err(|e| {
            boost_storage::redis::count_error("key_cache_read");
            tracing::debug!(error = %e, "l2 read failed");
        })?;
        Ok(value.as_deref().and_then(Grant::decode))
    }

    /// Stores a grant in L2 unless the key holds anything (a tombstone left
    /// by a revocation in between); failures are ignored (Redis is an
    /// accelerator).
    pub async fn l2_put(&self, hash: &[u8; 32], grant: &Grant) {
        let result: Result<(), _> = self
            .redis
            .set(
                l2_key(hash),
                grant.encode(),
                Some(self.l2_expiry()),
                Some(SetOptions::NX),
                false,
            )
            .await;
        if let Err(e) = result {
            boost_storage::redis::count_error("key_cache_write");
            tracing::debug!(error = %e, "l2 write failed");
        }
    }

    fn l2_expiry(&self) -> Expiration {
        Expiration::EX(self.ttls.l2.as_secs().max(1) as i64)
    }

    /// Applies `change` to L1 and counts it as an invalidation, under one
    /// lock, so no lookup that began before it can put an answer back.
    fn l1_invalidate(&self, change: impl FnOnce(&mut HashMap<[u8; 32], L1Entry>)) {
        let mut l1 = self.l1.lock().expect("l1 lock");
        self.generation.fetch_add(1, Ordering::AcqRel);
        change(&mut l1);
    }

    /// Drops keys from L1 (an invalidation).
    fn l1_remove(&self, hashes: &[[u8; 32]]) {
        self.l1_invalidate(|l1| {
            for hash in hashes {
                l1.remove(hash);
            }
        });
    }

    /// Forgets keys everywhere: local L1 now, L2 (a tombstone) and every
    /// instance's L1 through Redis.
    pub async fn invalidate(&self, hashes: &[[u8; 32]]) {
        self.l1_remove(hashes);
        let failed = announce_revocations(&self.redis, hashes, self.l2_expiry()).await;
        for (_, e) in &failed {
            boost_storage::redis::count_error("key_invalidation");
            tracing::warn!(error = %e, "cache invalidation through redis failed; retrying until it lands or the L2 lifetime has passed");
        }
        if !failed.is_empty() {
            tokio::spawn(retry_revocations(
                self.redis.clone(),
                failed.into_iter().map(|(hash, _)| hash).collect(),
                self.l2_expiry(),
                self.ttls.l2,
            ));
        }
    }

    /// (Re-)subscribes to [`INVALIDATION_CHANNEL`] and, once Redis confirms,
    /// marks invalidations live from now: entries stored before stay on the
    /// one-second bound, as invalidations may have been missed meanwhile.
    async fn subscribe(&self) {
        *self.invalidations_live_since.lock().expect("live lock") = None;
        match self.subscriber.subscribe(INVALIDATION_CHANNEL).await {
            Ok(()) => {
                *self.invalidations_live_since.lock().expect("live lock") = Some(Instant::now());
            }
            // The reconnect that follows Redis's return subscribes again.
            Err(e) => tracing::warn!(error = %e, "cannot subscribe to key invalidations yet"),
        }
    }

    /// Applies invalidations published by any instance until `cancel`,
    /// subscribing again after every reconnect.
    pub async fn listen_for_invalidations(&self, cancel: CancellationToken) {
        let mut messages = self.subscriber.message_rx();
        let mut reconnects = self.subscriber.reconnect_rx();
        self.subscribe().await;
        loop {
            let message = tokio::select! {
                () = cancel.cancelled() => break,
                reconnect = reconnects.recv() => {
                    if matches!(reconnect, Err(tokio::sync::broadcast::error::RecvError::Closed)) {
                        break;
                    }
                    self.subscribe().await;
                    continue;
                }
                message = messages.recv() => message,
            };
            match message {
                Ok(message) => {
                    let Some(hash) = message.value.as_str().and_then(|text| unhex(&text)) else {
                        continue;
                    };
                    self.l1_remove(&[hash]);
                }
                Err(tokio::sync::broadcast::error::RecvError::Lagged(missed)) => {
                    // Missed invalidations: drop everything rather than serve a revoked key.
                    tracing::warn!(missed, "invalidation messages lagged; clearing L1");
                    self.l1_invalidate(HashMap::clear);
                }
                Err(tokio::sync::broadcast::error::RecvError::Closed) => break,
            }
        }
    }
}

/// Replaces `hash`'s L2 entry with a tombstone and publishes the hash to
/// every instance's L1.
async fn announce_revocation(
    redis: &Client,
    hash: &[u8; 32],
    expiry: Expiration,
) -> Result<(), boost_storage::redis::fred::error::Error> {
    redis
        .set::<(), _, _>(l2_key(hash), L2_TOMBSTONE, Some(expiry), None, false)
        .await?;
    redis
        .publish::<i64, _, _>(INVALIDATION_CHANNEL, hex(hash))
        .await?;
    Ok(())
}

/// [`announce_revocation`] for each of `hashes`; returns those Redis did
/// not take, each with its error.
async fn announce_revocations(
    redis: &Client,
    hashes: &[[u8; 32]],
    expiry: Expiration,
) -> Vec<([u8; 32], boost_storage::redis::fred::error::Error)> {
    let mut failed = Vec::new();
    for hash in hashes {
        if let Err(e) = announce_revocation(redis, hash, expiry.clone()).await {
            failed.push((*hash, e));
        }
    }
    failed
}

/// How often a failed revocation announcement is tried again.
const REVOCATION_RETRY: Duration = Duration::from_millis(250);

/// Tries failed revocation announcements again (one task for all the keys
/// of one revocation) until each lands or `l2_ttl` has passed: a grant
/// cached in L2 before the revocation (or put back by a lookup that
/// straddled it while Redis could not take the tombstone) would otherwise be
/// served until it expired, and after `l2_ttl` none is left.
async fn retry_revocations(
    redis: Client,
    mut missed: Vec<[u8; 32]>,
    expiry: Expiration,
    l2_ttl: Duration,
) {
    let deadline = Instant::now() + l2_ttl;
    while Instant::now() < deadline {
        tokio::time::sleep(REVOCATION_RETRY).await;
        missed = announce_revocations(&redis, &missed, expiry.clone())
            .await
            .into_iter()
            .map(|(hash, _)| hash)
            .collect();
        if missed.is_empty() {
            tracing::info!("cache invalidation through redis landed on a retry");
            return;
        }
    }
    tracing::warn!(
        keys = missed.len(),
        "cache invalidation through redis never landed; older L2 entries have expired by now"
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_grant_round_trips_through_l2_text() {
        let grant = Grant {
            api_key_id: Some(Uuid::now_v7()),
            project_id: Uuid::now_v7(),
            organization_id: Uuid::now_v7(),
            scopes: vec!["events:write".into(), "events:read".into()],
            expires_at: Some(UNIX_EPOCH + Duration::from_millis(1_900_000_000_123)),
        };
        assert_eq!(Grant::decode(&grant.encode()), Some(grant.clone()));
        let jwt = Grant {
            api_key_id: None,
            expires_at: None,
            scopes: vec![],
            ..grant
        };
        assert_eq!(Grant::decode(&jwt.encode()), Some(jwt));
        assert_eq!(Grant::decode("v9|x"), None);
    }

    #[test]
    fn test_hex_round_trip() {
        let hash = [7u8; 32];
        assert_eq!(unhex(&hex(&hash)), Some(hash));
        assert_eq!(unhex("zz"), None);
    }
}
