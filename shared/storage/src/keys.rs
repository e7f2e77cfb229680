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
}

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
    let row = client
        .query_one(
            "INSERT INTO api_keys (id, project_id, name, prefix, key_hash, scopes, expires_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7)
             RETURNING id, project_id, name, prefix, scopes, created_at, expires_at",
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
