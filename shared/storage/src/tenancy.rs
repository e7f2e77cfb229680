//! Organisations and projects.

use std::time::SystemTime;

use deadpool_postgres::GenericClient;
use tokio_postgres::Row;
use uuid::Uuid;

use crate::StorageError;

/// A stored organisation.
#[derive(Debug, Clone)]
pub struct Organization {
    /// Primary key.
    pub id: Uuid,
    /// Display name.
    pub name: String,
    /// Creation time.
    pub created_at: SystemTime,
}

/// A stored project (the tenant).
#[derive(Debug, Clone)]
pub struct Project {
    /// Primary key.
    pub id: Uuid,
    /// Owning organisation.
    pub organization_id: Uuid,
    /// Display name.
    pub name: String,
    /// Creation time.
    pub created_at: SystemTime,
    /// Whole UTC days of events kept.
    pub retention_days: i32,
}

impl TryFrom<Row> for Project {
    type Error = tokio_postgres::Error;
    fn try_from(row: Row) -> Result<Self, Self::Error> {
        Ok(Self {
            id: row.try_get("id")?,
            organization_id: row.try_get("organization_id")?,
            name: row.try_get("name")?,
            created_at: row.try_get("created_at")?,
            retention_days: row.try_get("retention_days")?,
        })
    }
}

/// The columns a [`Project`] is read from.
const PROJECT_COLUMNS: &str = "id, organization_id, name, created_at, retention_days";

/// Inserts an organisation.
pub async fn create_organization(
    client: &impl GenericClient,
    name: &str,
) -> Result<Organization, StorageError> {
    let id = Uuid::now_v7();
    let row = client
        .query_one(
            "INSERT INTO organizations (id, name) VALUES ($1, $2) RETURNING created_at",
            &[&id, &name],
        )
        .await
        .map_err(|e| StorageError::query("insert organization", e))?;
    Ok(Organization {
        id,
        name: name.to_string(),
        created_at: row.get(0),
    })
}

/// Inserts a project; fails with a foreign-key violation when the organisation is unknown.
pub async fn create_project(
    client: &impl GenericClient,
    organization_id: Uuid,
    name: &str,
) -> Result<Project, StorageError> {
    let id = Uuid::now_v7();
    let row = client
        .query_one(
            &format!(
                "INSERT INTO projects (id, organization_id, name) VALUES ($1, $2, $3)
                 RETURNING {PROJECT_COLUMNS}"
            ),
            &[&id, &organization_id, &name],
        )
        .await
        .map_err(|e| StorageError::query("insert project", e))?;
    Project::try_from(row).map_err(|e| StorageError::query("read project", e))
}

/// Finds a project by id.
pub async fn get_project(
    client: &impl GenericClient,
    id: Uuid,
) -> Result<Option<Project>, StorageError> {
    let row = client
        .query_opt(
            &format!("SELECT {PROJECT_COLUMNS} FROM projects WHERE id = $1"),
            &[&id],
        )
        .await
        .map_err(|e| StorageError::query("select project", e))?;
    row.map(Project::try_from)
        .transpose()
        .map_err(|e| StorageError::query("read project", e))
}

/// An organisation's projects in creation order, after `after` (keyset on id; ids are UUIDv7).
pub async fn list_projects(
    client: &impl GenericClient,
    organization_id: Uuid,
    after: Option<Uuid>,
    limit: i64,
) -> Result<Vec<Project>, StorageError> {
    let rows = client
        .query(
            &format!(
                "SELECT {PROJECT_COLUMNS} FROM projects
                 WHERE organization_id = $1 AND id > $2 ORDER BY id LIMIT $3"
            ),
            &[&organization_id, &after.unwrap_or(Uuid::nil()), &limit],
        )
        .await
        .map_err(|e| StorageError::query("list projects", e))?;
    rows.into_iter()
        .map(Project::try_from)
        .collect::<Result<_, _>>()
        .map_err(|e| StorageError::query("read project", e))
}

/// Renames a project and/or changes its retention (`None` keeps a value);
/// `None` when the project does not exist.
pub async fn update_project(
    client: &impl GenericClient,
    id: Uuid,
    name: Option<&str>,
    retention_days: Option<i32>,
) -> Result<Option<Project>, StorageError> {
    let row = client
        .query_opt(
            &format!(
                "UPDATE projects SET name = COALESCE($2, name),
                     retention_days = COALESCE($3, retention_days)
                 WHERE id = $1 RETURNING {PROJECT_COLUMNS}"
            ),
            &[&id, &name, &retention_days],
        )
        .await
        .map_err(|e| StorageError::query("update project", e))?;
    row.map(Project::try_from)
        .transpose()
        .map_err(|e| StorageError::query("read project", e))
}

/// Deletes a project (its keys and events cascade). Returns the hashes of
/// the keys that went with it, so caches can forget them; `None` when the
/// project does not exist.
pub async fn delete_project(
    client: &impl GenericClient,
    id: Uuid,
) -> Result<Option<Vec<Vec<u8>>>, StorageError> {
    let hashes: Vec<Vec<u8>> = client
        .query(
            "SELECT key_hash FROM api_keys WHERE project_id = $1",
            &[&id],
        )
        .await
        .map_err(|e| StorageError::query("select project key hashes", e))?
        .iter()
        .map(|r| r.get(0))
        .collect();
    let deleted = client
        .execute("DELETE FROM projects WHERE id = $1", &[&id])
        .await
        .map_err(|e| StorageError::query("delete project", e))?;
    Ok((deleted == 1).then_some(hashes))
}
