//! Auth domain logic as plain async functions over the database.

use std::time::SystemTime;

use boost_server::{
    ApiError,
    auth::{Principal, Scope},
    credentials,
};
use boost_storage::{Pool, StorageError, keys, tenancy};
use uuid::Uuid;

/// Longest organisation, project and key name.
pub const MAX_NAME_CHARS: usize = 200;

/// Why an auth operation failed.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    /// A request field is invalid.
    #[error("invalid {field}: {reason}")]
    InvalidField {
        /// Field path.
        field: &'static str,
        /// What is wrong.
        reason: String,
    },
    /// The key is malformed, unknown, revoked or expired.
    #[error("invalid api key")]
    InvalidKey,
    /// The referenced organisation or project does not exist.
    #[error("{0} not found")]
    NotFound(&'static str),
    /// A name is taken.
    #[error("{0} already exists")]
    AlreadyExists(&'static str),
    /// The database failed.
    #[error(transparent)]
    Storage(#[from] StorageError),
}

impl From<AuthError> for ApiError {
    fn from(err: AuthError) -> Self {
        match err {
            AuthError::InvalidField { field, reason } => ApiError::bad_field(field, reason),
            AuthError::InvalidKey => ApiError::unauthenticated("invalid api key"),
            AuthError::NotFound(what) => ApiError::not_found(format!("{what} not found")),
            AuthError::AlreadyExists(what) => ApiError::new(
                boost_server::ErrorCode::AlreadyExists,
                format!("{what} already exists"),
            ),
            AuthError::Storage(err) => err.into(),
        }
    }
}

/// A created key: the description to store and the secret to show once.
pub struct CreatedKey {
    /// The stored description.
    pub key: keys::ApiKey,
    /// The plaintext key; returned to the caller once, never stored or logged.
    pub secret: String,
}

/// Auth operations over a connection pool.
#[derive(Clone)]
pub struct AuthLogic {
    /// Database connections.
    pool: Pool,
}

impl AuthLogic {
    /// Logic over `pool`.
    pub fn new(pool: Pool) -> Self {
        Self { pool }
    }

    /// Creates an organisation.
    pub async fn create_organization(
        &self,
        name: &str,
    ) -> Result<tenancy::Organization, AuthError> {
        let name = check_name("name", name)?;
        let client = self.pool.get().await.map_err(StorageError::from)?;
        Ok(tenancy::create_organization(&client, name).await?)
    }

    /// Creates a project in an existing organisation.
    pub async fn create_project(
        &self,
        organization_id: &str,
        name: &str,
    ) -> Result<tenancy::Project, AuthError> {
        let organization_id = parse_id("organization_id", organization_id)?;
        let name = check_name("name", name)?;
        let client = self.pool.get().await.map_err(StorageError::from)?;
        tenancy::create_project(&client, organization_id, name)
            .await
            .map_err(|e| match e.sql_state() {
                Some(s) if *s == boost_storage::tokio_postgres::error::SqlState::FOREIGN_KEY_VIOLATION => {
                    AuthError::NotFound("organization")
                }
                Some(s) if *s == boost_storage::tokio_postgres::error::SqlState::UNIQUE_VIOLATION => {
                    AuthError::AlreadyExists("project")
                }
                _ => AuthError::Storage(e),
            })
    }

    /// Creates a key for an existing project; the secret is in the result only.
    pub async fn create_api_key(
        &self,
        project_id: &str,
        name: &str,
        scopes: &[String],
        expires_at: Option<SystemTime>,
    ) -> Result<CreatedKey, AuthError> {
        let project_id = parse_id("project_id", project_id)?;
        let name = check_name("name", name)?;
        let scopes = check_scopes(scopes)?;
        if let Some(expiry) = expires_at
            && expiry <= SystemTime::now()
        {
            return Err(AuthError::InvalidField {
                field: "expire_time",
                reason: "must be in the future".into(),
            });
        }
        let client = self.pool.get().await.map_err(StorageError::from)?;
        if tenancy::get_project(&client, project_id).await?.is_none() {
            return Err(AuthError::NotFound("project"));
        }
        let generated = credentials::generate();
        let key = keys::create(
            &client,
            keys::NewApiKey {
                project_id,
                name,
                prefix: &generated.display_prefix,
                hash: &generated.hash,
                scopes: &scopes,
                expires_at,
            },
        )
        .await?;
        tracing::info!(api_key_id = %key.id, %project_id, prefix = %key.prefix, "created api key");
        Ok(CreatedKey {
            key,
            secret: generated.secret,
        })
    }

    /// Resolves a presented key to its principal. Malformed keys are refused
    /// before the database is asked.
    pub async fn validate(&self, key: &str) -> Result<Principal, AuthError> {
        credentials::check_format(key).map_err(|_| AuthError::InvalidKey)?;
        let client = self.pool.get().await.map_err(StorageError::from)?;
        let grant = keys::find_by_hash(&client, &credentials::hash(key))
            .await?
            .ok_or(AuthError::InvalidKey)?;
        let expired = grant.expires_at.is_some_and(|t| t <= SystemTime::now());
        if grant.revoked_at.is_some() || expired {
            return Err(AuthError::InvalidKey);
        }
        Ok(Principal {
            organization_id: grant.organization_id,
            project_id: grant.project_id,
            api_key_id: grant.api_key_id,
            scopes: grant
                .scopes
                .iter()
                .filter_map(|s| Scope::parse(s))
                .collect(),
        })
    }
}

fn parse_id(field: &'static str, value: &str) -> Result<Uuid, AuthError> {
    value.parse().map_err(|_| AuthError::InvalidField {
        field,
        reason: "must be a UUID".into(),
    })
}

fn check_name<'a>(field: &'static str, name: &'a str) -> Result<&'a str, AuthError> {
    let name = name.trim();
    let chars = name.chars().count();
    if chars == 0 || chars > MAX_NAME_CHARS || name.chars().any(char::is_control) {
        return Err(AuthError::InvalidField {
            field,
            reason: format!("must be 1..{MAX_NAME_CHARS} printable characters"),
        });
    }
    Ok(name)
}

fn check_scopes(scopes: &[String]) -> Result<Vec<String>, AuthError> {
    if scopes.is_empty() {
        return Err(AuthError::InvalidField {
            field: "scopes",
            reason: "at least one scope is required".into(),
        });
    }
    let mut checked = Vec::with_capacity(scopes.len());
    for scope in scopes {
        let Some(scope) = Scope::parse(scope) else {
            return Err(AuthError::InvalidField {
                field: "scopes",
                reason: format!(
                    "unknown scope {scope:?}; known: {}",
                    Scope::ALL.map(Scope::as_str).join(", ")
                ),
            });
        };
        if !checked.iter().any(|s| s == scope.as_str()) {
            checked.push(scope.as_str().to_string());
        }
    }
    Ok(checked)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_names_are_checked() {
        assert!(check_name("name", "  Acme ").is_ok());
        assert!(check_name("name", "").is_err());
        assert!(check_name("name", "a\u{0007}b").is_err());
        assert!(check_name("name", &"x".repeat(201)).is_err());
    }

    #[test]
    fn test_scopes_are_checked_and_deduplicated() {
        let scopes = check_scopes(&["events:write".into(), "events:write".into()]).expect("valid");
        assert_eq!(scopes, vec!["events:write".to_string()]);
        assert!(check_scopes(&[]).is_err());
        assert!(check_scopes(&["root".into()]).is_err());
    }
}
