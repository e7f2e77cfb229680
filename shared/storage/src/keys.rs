//! API keys, stored by SHA-256 hash only.

use std::time::SystemTime;

use deadpool_postgres::GenericClient;
use tokio_postgres::Row;
use uuid::Uuid;

use crate::StorageError;

/// A key as listed: never the secret, never the hash.
#[derive(Debug, Clone)]
pub struct ApiKey {
    /// Primary key.
    pub id: Uuid,
    /// Project the key acts for.
    pub project_id: Uuid,
    /// Human label.
    pub name: String,
    /// First characters of the secret.
    pub prefix: String,
    /// Granted scope names.
    pub scopes: Vec<String>,
    /// Creation time.
    pub created_at: SystemTime,
    /// Optional expiry.
    pub expires_at: Option<SystemTime>,
    /// Last successful validation (coalesced, about once a minute).
    pub last_used_at: Option<SystemTime>,
    /// Set once revoked.
    pub revoked_at: Option<SystemTime>,
}

/// Columns every query returning an [`ApiKey`] selects.
const KEY_COLUMNS: &str =
    "id, project_id, name, prefix, scopes, created_at, expires_at, last_used_at, revoked_at";

impl TryFrom<Row> for ApiKey {
    type Error = tokio_postgres::Error;
    fn try_from(row: Row) -> Result<Self, Self::Error> {
        Ok(Self {
            id: row.try_get("id")?,
            project_id: row.try_get("project_id")?,
            name: row.try_get("name")?,
            prefix: row.try_get("prefix")?,
            scopes: row.try_get("scopes")?,
            created_at: row.try_get("created_at")?,
            expires_at: row.try_get("expires_at")?,
            last_used_at: row.try_get("last_used_at")?,
            revoked_at: row.try_get("revoked_at")?,
        })
    }
}

/// What a new key row needs.
pub struct NewApiKey<'a> {
    /// Project the key acts for.
    pub project_id: Uuid,
    /// Human label.
    pub name: &'a str,
    /// First characters of the secret.
    pub prefix: &'a str,
    /// SHA-256 of the secret.
    pub hash: &'a [u8; 32],
    /// Granted scope names.
    pub scopes: &'a [String],
    /// Optional expiry.
    pub expires_at: Option<SystemTime>,
}

/// Inserts a key.
pub async fn create(
    client: &impl GenericClient,
    key: NewApiKey<'_>,
) -> Result<ApiKey, StorageError> {
    let id = Uuid::now_v7();
    let sql = format!(
        "INSERT INTO api_keys (id, project_id, name, prefix, key_hash, scopes, expires_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING {KEY_COLUMNS}"
    );
    let row = client
        .query_one(
            &sql,
            &[
                &id,
                &key.project_id,
                &key.name,
                &key.prefix,
                &key.hash.as_slice(),
                &key.scopes,
                &key.expires_at,
            ],
        )
        .await
        .map_err(|e| StorageError::query("insert api key", e))?;
    ApiKey::try_from(row).map_err(|e| StorageError::query("read api key", e))
}

/// What validation needs to know about a key found by hash.
#[derive(Debug, Clone)]
pub struct KeyGrant {
    /// The key's id.
    pub api_key_id: Uuid,
    /// Its project.
    pub project_id: Uuid,
    /// The project's organisation.
    pub organization_id: Uuid,
    /// Granted scope names.
    pub scopes: Vec<String>,
    /// Optional expiry.
    pub expires_at: Option<SystemTime>,
    /// Set once revoked.
    pub revoked_at: Option<SystemTime>,
}

/// Finds a key by the SHA-256 of its secret.
pub async fn find_by_hash(
    client: &impl GenericClient,
    hash: &[u8; 32],
) -> Result<Option<KeyGrant>, StorageError> {
    let statement = client
        .prepare_cached(
            "SELECT k.id, k.project_id, p.organization_id, k.scopes, k.expires_at, k.revoked_at
             FROM api_keys k JOIN projects p ON p.id = k.project_id
             WHERE k.key_hash = $1",
        )
        .await
        .map_err(|e| StorageError::query("prepare key lookup", e))?;
    let row = client
        .query_opt(&statement, &[&hash.as_slice()])
        .await
        .map_err(|e| StorageError::query("select api key", e))?;
    row.map(|row| {
        Ok(KeyGrant {
            api_key_id: row.try_get(0)?,
            project_id: row.try_get(1)?,
            organization_id: row.try_get(2)?,
            scopes: row.try_get(3)?,
            expires_at: row.try_get(4)?,
            revoked_at: row.try_get(5)?,
        })
    })
    .transpose()
    .map_err(|e| StorageError::query("read api key", e))
}

/// Keys of a project, newest first.
pub async fn list(
    client: &impl GenericClient,
    project_id: Uuid,
) -> Result<Vec<ApiKey>, StorageError> {
    let sql = format!("SELECT {KEY_COLUMNS} FROM api_keys WHERE project_id = $1 ORDER BY id DESC");
    let rows = client
        .query(&sql, &[&project_id])
        .await
        .map_err(|e| StorageError::query("list api keys", e))?;
    rows.into_iter()
        .map(ApiKey::try_from)
        .collect::<Result<_, _>>()
        .map_err(|e| StorageError::query("read api key", e))
}

/// A key by id, with the hash of its secret (for cache invalidation).
pub async fn get(
    client: &impl GenericClient,
    id: Uuid,
) -> Result<Option<(ApiKey, Vec<u8>)>, StorageError> {
    let sql = format!("SELECT {KEY_COLUMNS}, key_hash FROM api_keys WHERE id = $1");
    let row = client
        .query_opt(&sql, &[&id])
        .await
        .map_err(|e| StorageError::query("select api key", e))?;
    row.map(|row| {
        let hash: Vec<u8> = row.try_get("key_hash")?;
        Ok((ApiKey::try_from(row)?, hash))
    })
    .transpose()
    .map_err(|e| StorageError::query("read api key", e))
}

/// Revokes a key (idempotent: an already revoked key keeps its first revocation time).
pub async fn revoke(client: &impl GenericClient, id: Uuid) -> Result<Option<ApiKey>, StorageError> {
    let sql = format!(
        "UPDATE api_keys SET revoked_at = coalesce(revoked_at, now()) WHERE id = $1 RETURNING {KEY_COLUMNS}"
    );
    let row = client
        .query_opt(&sql, &[&id])
        .await
        .map_err(|e| StorageError::query("revoke api key", e))?;
    row.map(ApiKey::try_from)
        .transpose()
        .map_err(|e| StorageError::query("read api key", e))
}

/// Records that keys were used now (one statement for many keys).
pub async fn touch_last_used(
    client: &impl GenericClient,
    ids: &[Uuid],
) -> Result<u64, StorageError> {
    client
        .execute(
            "UPDATE api_keys SET last_used_at = now() WHERE id = ANY($1)",
            &[&ids],
        )
        .await
        .map_err(|e| StorageError::query("touch api keys", e))
}
