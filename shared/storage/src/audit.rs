//! The append-only audit trail of tenant and key changes.

use deadpool_postgres::GenericClient;
use uuid::Uuid;

use crate::StorageError;

/// One audited action.
#[derive(Debug, Clone)]
pub struct AuditEntry<'a> {
    /// `operator` or `key:<uuid>`.
    pub actor: &'a str,
    /// What happened, e.g. `api_key.revoke`.
    pub action: &'a str,
    /// The project concerned.
    pub project_id: Option<Uuid>,
    /// The object acted on (key, project, organisation).
    pub target_id: Option<Uuid>,
    /// Anything else worth keeping; never a secret.
    pub details: serde_json::Value,
}

/// Appends an entry; call inside the transaction of the action itself.
pub async fn append(
    client: &impl GenericClient,
    entry: &AuditEntry<'_>,
) -> Result<(), StorageError> {
    client
        .execute(
            "INSERT INTO audit_log (actor, action, project_id, target_id, details) VALUES ($1, $2, $3, $4, $5)",
            &[&entry.actor, &entry.action, &entry.project_id, &entry.target_id, &entry.details],
        )
        .await
        .map_err(|e| StorageError::query("append audit entry", e))?;
    Ok(())
}
