//! Auth domain logic as plain async functions over the database: tenants and
//! keys, each change audited in its own transaction, caches invalidated after
//! commit.

use std::{sync::Arc, time::SystemTime};

use boost_server::{
    ApiError,
    auth::{Principal, Scope},
    credentials,
    paging::{PageError, Pager},
};
use boost_storage::{
    Pool, StorageError,
    audit::{self, AuditEntry},
    keys, tenancy,
};
use serde_json::json;
use uuid::Uuid;

use crate::{
    caller::{Access, Caller},
    validation::Validator,
};

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
    /// The referenced organisation, project or key does not exist (or
    /// belongs to another project).
    #[error("{0} not found")]
    NotFound(&'static str),
    /// The caller may not do this.
    #[error("{0}")]
    Forbidden(String),
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
            AuthError::Forbidden(why) => ApiError::forbidden(why),
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

/// A rotated key: the new one with its secret, and the old one, revoked.
pub struct RotatedKey {
    /// The replacement.
    pub created: CreatedKey,
    /// The old key, now revoked.
    pub revoked: keys::ApiKey,
}

/// What a new key should look like.
pub struct KeySpec<'a> {
    /// Human label.
    pub name: &'a str,
    /// Scope names.
    pub scopes: &'a [String],
    /// Optional expiry.
    pub expires_at: Option<SystemTime>,
}

/// Page size default and bound of ListProjects.
const DEFAULT_PAGE: usize = 100;
const MAX_PAGE: usize = 1000;

/// Auth operations over the database and the validation caches.
#[derive(Clone)]
pub struct AuthLogic {
    /// Database connections.
    pool: Pool,
    /// Credential validation (and its caches, for invalidation).
    validator: Arc<Validator>,
}

impl AuthLogic {
    /// Logic over `pool` and `validator`.
    pub fn new(pool: Pool, validator: Arc<Validator>) -> Self {
        Self { pool, validator }
    }

    /// Resolves a credential (API key or JWT) to its principal.
    pub async fn validate(&self, credential: &str) -> Result<Principal, AuthError> {
        self.validator.validate(credential).await
    }

    /// Creates an organisation (operator).
    pub async fn create_organization(
        &self,
        caller: &Caller,
        name: &str,
    ) -> Result<tenancy::Organization, AuthError> {
        caller.require_operator()?;
        let name = check_name("name", name)?;
        let mut client = self.pool.get().await.map_err(StorageError::from)?;
        let tx = begin(&mut client).await?;
        let org = tenancy::create_organization(&tx, name).await?;
        audit(
            &tx,
            caller,
            "organization.create",
            None,
            Some(org.id),
            json!({ "name": name }),
        )
        .await?;
        commit(tx).await?;
        Ok(org)
    }

    /// Creates a project in an existing organisation (operator).
    pub async fn create_project(
        &self,
        caller: &Caller,
        organization_id: &str,
        name: &str,
    ) -> Result<tenancy::Project, AuthError> {
        caller.require_operator()?;
        let organization_id = parse_id("organization_id", organization_id)?;
        let name = check_name("name", name)?;
        let mut client = self.pool.get().await.map_err(StorageError::from)?;
        let tx = begin(&mut client).await?;
        let project = tenancy::create_project(&tx, organization_id, name)
            .await
            .map_err(|e| conflict_or(e, "organization", "project"))?;
        audit(
            &tx,
            caller,
            "project.create",
            Some(project.id),
            Some(project.id),
            json!({ "name": name }),
        )
        .await?;
        commit(tx).await?;
        Ok(project)
    }

    /// Reads a project (operator, or any credential of it).
    pub async fn get_project(
        &self,
        caller: &Caller,
        project_id: &str,
    ) -> Result<tenancy::Project, AuthError> {
        let project_id = caller.project(project_id, Access::Read)?;
        let client = self.pool.get().await.map_err(StorageError::from)?;
        tenancy::get_project(&client, project_id)
            .await?
            .ok_or(AuthError::NotFound("project"))
    }

    /// Lists an organisation's projects, a page at a time (operator).
    pub async fn list_projects(
        &self,
        caller: &Caller,
        organization_id: &str,
        page_size: i32,
        page_token: &str,
    ) -> Result<(Vec<tenancy::Project>, String), AuthError> {
        caller.require_operator()?;
        let organization_id = parse_id("organization_id", organization_id)?;
        let pager = Pager::new(
            "projects",
            &[organization_id.as_bytes()],
            page_size,
            DEFAULT_PAGE,
            MAX_PAGE,
        )?;
        let after = match pager.after(page_token)? {
            Some(cursor) => Some(parse_id("page_token", &cursor)?),
            None => None,
        };
        let client = self.pool.get().await.map_err(StorageError::from)?;
        let mut projects =
            tenancy::list_projects(&client, organization_id, after, pager.fetch() as i64).await?;
        let next = pager.finish(&mut projects, |p| p.id.to_string());
        Ok((projects, next))
    }

    /// Renames a project (operator, or keys:admin of it).
    pub async fn update_project(
        &self,
        caller: &Caller,
        project_id: &str,
        name: &str,
        retention_days: Option<i32>,
    ) -> Result<tenancy::Project, AuthError> {
        let project_id = caller.project(project_id, Access::Admin)?;
        let name = if name.is_empty() && retention_days.is_some() {
            None
        } else {
            Some(check_name("name", name)?)
        };
        if let Some(days) = retention_days
            && !(1..=MAX_RETENTION_DAYS).contains(&days)
        {
            return Err(invalid(
                "retention_days",
                format!("must be 1..{MAX_RETENTION_DAYS} days, got {days}"),
            ));
        }
        let mut client = self.pool.get().await.map_err(StorageError::from)?;
        let tx = begin(&mut client).await?;
        let project = tenancy::update_project(&tx, project_id, name, retention_days)
            .await
            .map_err(|e| conflict_or(e, "project", "project"))?
            .ok_or(AuthError::NotFound("project"))?;
        audit(
            &tx,
            caller,
            "project.update",
            Some(project_id),
            Some(project_id),
            json!({ "name": name, "retention_days": retention_days }),
        )
        .await?;
        commit(tx).await?;
        Ok(project)
    }

    /// Deletes a project with its keys and events (operator); its keys stop working everywhere.
    pub async fn delete_project(&self, caller: &Caller, project_id: &str) -> Result<(), AuthError> {
        caller.require_operator()?;
        let project_id = parse_id("project_id", project_id)?;
        let mut client = self.pool.get().await.map_err(StorageError::from)?;
        let tx = begin(&mut client).await?;
        let hashes = tenancy::delete_project(&tx, project_id)
            .await?
            .ok_or(AuthError::NotFound("project"))?;
        audit(
            &tx,
            caller,
            "project.delete",
            Some(project_id),
            Some(project_id),
            json!({ "keys": hashes.len() }),
        )
        .await?;
        commit(tx).await?;
        self.invalidate(hashes).await;
        Ok(())
    }

    /// Creates a key (operator, or keys:admin of the project); the secret is in the result only.
    pub async fn create_api_key(
        &self,
        caller: &Caller,
        project_id: &str,
        spec: KeySpec<'_>,
    ) -> Result<CreatedKey, AuthError> {
        let project_id = caller.project(project_id, Access::Admin)?;
        let name = check_name("name", spec.name)?;
        let scopes = check_scopes(spec.scopes)?;
        if let Some(expiry) = spec.expires_at
            && expiry <= SystemTime::now()
        {
            return Err(invalid("expire_time", "must be in the future"));
        }
        let mut client = self.pool.get().await.map_err(StorageError::from)?;
        let tx = begin(&mut client).await?;
        if tenancy::get_project(&tx, project_id).await?.is_none() {
            return Err(AuthError::NotFound("project"));
        }
        let created = insert_key(
            &tx,
            caller,
            project_id,
            name,
            &scopes,
            spec.expires_at,
            "api_key.create",
        )
        .await?;
        commit(tx).await?;
        Ok(created)
    }

    /// Lists a project's keys (operator, or keys:admin of it).
    pub async fn list_api_keys(
        &self,
        caller: &Caller,
        project_id: &str,
    ) -> Result<Vec<keys::ApiKey>, AuthError> {
        let project_id = caller.project(project_id, Access::Admin)?;
        let client = self.pool.get().await.map_err(StorageError::from)?;
        Ok(keys::list(&client, project_id).await?)
    }

    /// Revokes a key; every instance refuses it within a second.
    pub async fn revoke_api_key(
        &self,
        caller: &Caller,
        api_key_id: &str,
    ) -> Result<keys::ApiKey, AuthError> {
        let api_key_id = parse_id("api_key_id", api_key_id)?;
        let mut client = self.pool.get().await.map_err(StorageError::from)?;
        let tx = begin(&mut client).await?;
        let (key, hash) = keys::get(&tx, api_key_id)
            .await?
            .ok_or(AuthError::NotFound("api key"))?;
        caller.check_owner(key.project_id, Access::Admin, "api key")?;
        let revoked = keys::revoke(&tx, api_key_id)
            .await?
            .ok_or(AuthError::NotFound("api key"))?;
        audit(
            &tx,
            caller,
            "api_key.revoke",
            Some(key.project_id),
            Some(api_key_id),
            json!({ "prefix": key.prefix }),
        )
        .await?;
        commit(tx).await?;
        self.invalidate(vec![hash]).await;
        Ok(revoked)
    }

    /// Replaces a key with a new one of the same name, scopes and expiry, revoking the old.
    pub async fn rotate_api_key(
        &self,
        caller: &Caller,
        api_key_id: &str,
    ) -> Result<RotatedKey, AuthError> {
        let api_key_id = parse_id("api_key_id", api_key_id)?;
        let mut client = self.pool.get().await.map_err(StorageError::from)?;
        let tx = begin(&mut client).await?;
        let (old, hash) = keys::get(&tx, api_key_id)
            .await?
            .ok_or(AuthError::NotFound("api key"))?;
        caller.check_owner(old.project_id, Access::Admin, "api key")?;
        if old.revoked_at.is_some() {
            return Err(invalid(
                "api_key_id",
                "key is revoked; create a new one instead",
            ));
        }
        let created = insert_key(
            &tx,
            caller,
            old.project_id,
            &old.name,
            &old.scopes,
            old.expires_at,
            "api_key.rotate",
        )
        .await?;
        let revoked = keys::revoke(&tx, api_key_id)
            .await?
            .ok_or(AuthError::NotFound("api key"))?;
        audit(
            &tx,
            caller,
            "api_key.revoke",
            Some(old.project_id),
            Some(api_key_id),
            json!({ "rotated_to": created.key.id.to_string() }),
        )
        .await?;
        commit(tx).await?;
        self.invalidate(vec![hash]).await;
        Ok(RotatedKey { created, revoked })
    }

    /// Drops keys from every cache. A lookup that read the key before the
    /// revocation committed cannot put it back (see [`crate::cache`]).
    async fn invalidate(&self, hashes: Vec<Vec<u8>>) {
        let hashes: Vec<[u8; 32]> = hashes
            .into_iter()
            .filter_map(|h| h.try_into().ok())
            .collect();
        self.validator.cache.invalidate(&hashes).await;
    }
}

async fn begin(
    client: &mut boost_storage::Connection,
) -> Result<deadpool_postgres::Transaction<'_>, AuthError> {
    Ok(client
        .transaction()
        .await
        .map_err(|e| StorageError::query("begin", e))?)
}

async fn commit(tx: deadpool_postgres::Transaction<'_>) -> Result<(), AuthError> {
    Ok(tx
        .commit()
        .await
        .map_err(|e| StorageError::query("commit", e))?)
}

async fn audit(
    tx: &deadpool_postgres::Transaction<'_>,
    caller: &Caller,
    action: &str,
    project_id: Option<Uuid>,
    target_id: Option<Uuid>,
    details: serde_json::Value,
) -> Result<(), AuthError> {
    let actor = caller.actor();
    let entry = AuditEntry {
        actor: &actor,
        action,
        project_id,
        target_id,
        details,
    };
    Ok(audit::append(tx, &entry).await?)
}

async fn insert_key(
    tx: &deadpool_postgres::Transaction<'_>,
    caller: &Caller,
    project_id: Uuid,
    name: &str,
    scopes: &[String],
    expires_at: Option<SystemTime>,
    action: &str,
) -> Result<CreatedKey, AuthError> {
    let generated = credentials::generate();
    let key = keys::create(
        tx,
        keys::NewApiKey {
            project_id,
            name,
            prefix: &generated.display_prefix,
            hash: &generated.hash,
            scopes,
            expires_at,
        },
    )
    .await?;
    audit(
        tx,
        caller,
        action,
        Some(project_id),
        Some(key.id),
        json!({ "name": name, "scopes": scopes, "prefix": key.prefix }),
    )
    .await?;
    tracing::info!(api_key_id = %key.id, %project_id, prefix = %key.prefix, action, "created api key");
    Ok(CreatedKey {
        key,
        secret: generated.secret,
    })
}

/// Maps a foreign-key violation to "parent not found" and a unique violation to "already exists".
fn conflict_or(err: StorageError, parent: &'static str, what: &'static str) -> AuthError {
    use boost_storage::tokio_postgres::error::SqlState;
    match err.sql_state() {
        Some(s) if *s == SqlState::FOREIGN_KEY_VIOLATION => AuthError::NotFound(parent),
        Some(s) if *s == SqlState::UNIQUE_VIOLATION => AuthError::AlreadyExists(what),
        _ => AuthError::Storage(err),
    }
}

fn invalid(field: &'static str, reason: impl Into<String>) -> AuthError {
    AuthError::InvalidField {
        field,
        reason: reason.into(),
    }
}

impl From<PageError> for AuthError {
    fn from(err: PageError) -> Self {
        invalid(err.field, err.reason)
    }
}

fn parse_id(field: &'static str, value: &str) -> Result<Uuid, AuthError> {
    value.parse().map_err(|_| invalid(field, "must be a UUID"))
}

/// The longest retention a project may keep (the column's check).
const MAX_RETENTION_DAYS: i32 = 3650;

fn check_name<'a>(field: &'static str, name: &'a str) -> Result<&'a str, AuthError> {
    let name = name.trim();
    let chars = name.chars().count();
    if chars == 0 || chars > MAX_NAME_CHARS || name.chars().any(char::is_control) {
        return Err(invalid(
            field,
            format!("must be 1..{MAX_NAME_CHARS} printable characters"),
        ));
    }
    // Bidirectional controls reorder what an operator reads (a name shown as
    // "prod" can be something else); names hold none.
    if name.chars().any(is_bidi_control) {
        return Err(invalid(
            field,
            "must not contain bidirectional control characters",
        ));
    }
    if !name.chars().any(|c| !c.is_whitespace() && !is_invisible(c)) {
        return Err(invalid(field, "must contain a visible character"));
    }
    Ok(name)
}

/// Unicode's bidirectional formatting characters (marks, embeddings,
/// overrides and isolates).
fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{061C}' | '\u{200E}' | '\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

/// Characters that take no visible space (zero-width spaces and joiners,
/// word joiner, byte-order mark).
fn is_invisible(c: char) -> bool {
    matches!(c, '\u{200B}'..='\u{200D}' | '\u{2060}' | '\u{FEFF}')
}

fn check_scopes(scopes: &[String]) -> Result<Vec<String>, AuthError> {
    if scopes.is_empty() {
        return Err(invalid("scopes", "at least one scope is required"));
    }
    let mut checked = Vec::with_capacity(scopes.len());
    for scope in scopes {
        let Some(scope) = Scope::parse(scope) else {
            return Err(invalid(
                "scopes",
                format!(
                    "unknown scope {scope:?}; known: {}",
                    Scope::ALL.map(Scope::as_str).join(", ")
                ),
            ));
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
    fn test_bidi_controls_and_invisible_names_refused() {
        assert!(check_name("name", "\u{202E}").is_err());
        assert!(check_name("name", "\u{202E}\u{2066}\u{200F}").is_err());
        assert!(check_name("name", "prod\u{202E}dorp").is_err());
        assert!(check_name("name", "\u{200B}\u{FEFF}").is_err());
        assert!(check_name("name", "Ünïcödé 名前").is_ok());
    }

    #[test]
    fn test_scopes_are_checked_and_deduplicated() {
        let scopes = check_scopes(&["events:write".into(), "events:write".into()]).expect("valid");
        assert_eq!(scopes, vec!["events:write".to_string()]);
        assert!(check_scopes(&[]).is_err());
        assert!(check_scopes(&["root".into()]).is_err());
    }
}
