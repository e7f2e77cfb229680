//! Credential validation: API keys through L1 → L2 → PostgreSQL, JWTs by
//! signature (their project checked once and cached), last use recorded
//! in coalesced batches.

use std::{
    sync::Arc,
    time::{Instant, SystemTime},
};

use boost_server::{
    auth::{Principal, Scope},
    credentials,
};
use boost_storage::{Pool, StorageError, keys, tenancy};

use crate::{
    cache::{Grant, KeyCache},
    jwt::JwtVerifier,
    last_used::LastUsed,
    service::AuthError,
};

/// Resolves credentials to principals.
pub struct Validator {
    /// Database, the final word.
    pool: Pool,
    /// L1 + L2.
    pub cache: Arc<KeyCache>,
    /// JWT verification, when configured.
    jwt: Option<JwtVerifier>,
    /// Coalesced last-used writes.
    pub last_used: Arc<LastUsed>,
}

impl Validator {
    /// A validator over its parts.
    pub fn new(
        pool: Pool,
        cache: Arc<KeyCache>,
        jwt: Option<JwtVerifier>,
        last_used: Arc<LastUsed>,
    ) -> Self {
        Self {
            pool,
            cache,
            jwt,
            last_used,
        }
    }

    /// Resolves an API key or JWT. Malformed keys are refused before any
    /// lookup. Traced as `key.validate` with the cache `level` that answered.
    #[tracing::instrument(name = "key.validate", skip_all, fields(level))]
    pub async fn validate(&self, credential: &str) -> Result<Principal, AuthError> {
        if credentials::looks_like_jwt(credential) {
            return self.validate_jwt(credential).await;
        }
        credentials::check_format(credential).map_err(|_| AuthError::InvalidKey)?;
        let hash = credentials::hash(credential);
        let (grant, level) = match self.cache.l1_get(&hash) {
            Some(answer) => (answer, "l1"),
            None => {
                let generation = self.cache.generation();
                let (answer, level) = self.load_key(&hash).await?;
                self.cache.l1_put(hash, answer.clone(), generation);
                (answer, level)
            }
        };
        tracing::Span::current().record("level", level);
        let Some(grant) = grant else {
            count(level, "unknown");
            return Err(AuthError::InvalidKey);
        };
        if grant.expires_at.is_some_and(|t| t <= SystemTime::now()) {
            count(level, "expired");
            return Err(AuthError::InvalidKey);
        }
        count(level, "valid");
        if let Some(id) = grant.api_key_id {
            self.last_used.record(id, Instant::now());
        }
        Ok(principal(grant, String::new()))
    }

    /// L2, then PostgreSQL (refilling L2), and which answered. `None`:
    /// unknown or revoked.
    async fn load_key(&self, hash: &[u8; 32]) -> Result<(Option<Grant>, &'static str), AuthError> {
        if let Ok(Some(grant)) = self.cache.l2_get(hash).await {
            return Ok((Some(grant), "l2"));
        }
        let client = self.pool.get().await.map_err(StorageError::from)?;
        let Some(found) = keys::find_by_hash(&client, hash).await? else {
            return Ok((None, "postgres"));
        };
        if found.revoked_at.is_some() {
            return Ok((None, "postgres"));
        }
        let grant = Grant {
            api_key_id: Some(found.api_key_id),
            project_id: found.project_id,
            organization_id: found.organization_id,
            scopes: found.scopes,
            expires_at: found.expires_at,
        };
        self.cache.l2_put(hash, &grant).await;
        Ok((Some(grant), "postgres"))
    }

    async fn validate_jwt(&self, token: &str) -> Result<Principal, AuthError> {
        let verifier = self.jwt.as_ref().ok_or(AuthError::InvalidKey)?;
        let claims = verifier.verify(token).map_err(|reason| {
            tracing::debug!(%reason, "jwt refused");
            AuthError::InvalidKey
        })?;
        // The project must exist; cached per token like a key.
        let hash = credentials::hash(token);
        let organization_id = match self.cache.l1_get(&hash) {
            Some(answer) => answer.map(|g| g.organization_id),
            None => {
                let generation = self.cache.generation();
                let client = self.pool.get().await.map_err(StorageError::from)?;
                let project = tenancy::get_project(&client, claims.project_id).await?;
                let grant = project.map(|p| Grant {
                    api_key_id: None,
                    project_id: p.id,
                    organization_id: p.organization_id,
                    scopes: Vec::new(),
                    expires_at: None,
                });
                self.cache.l1_put(hash, grant.clone(), generation);
                grant.map(|g| g.organization_id)
            }
        };
        let organization_id = organization_id.ok_or(AuthError::InvalidKey)?;
        Ok(Principal {
            organization_id,
            project_id: claims.project_id,
            api_key_id: None,
            scopes: claims.scopes,
            subject: claims.subject,
        })
    }
}

fn principal(grant: Grant, subject: String) -> Principal {
    Principal {
        organization_id: grant.organization_id,
        project_id: grant.project_id,
        api_key_id: grant.api_key_id,
        scopes: grant
            .scopes
            .iter()
            .filter_map(|s| Scope::parse(s))
            .collect(),
        subject,
    }
}

/// API keys validated, by the cache `level` that answered (l1, l2,
/// postgres) and the `result` (valid, unknown, expired).
const VALIDATIONS: &str = "boost_auth_validations_total";

/// Counts one key validation.
fn count(level: &'static str, result: &'static str) {
    metrics::counter!(VALIDATIONS, "level" => level, "result" => result).increment(1);
}
