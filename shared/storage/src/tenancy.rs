//! Organisations and projects.

use std::time::SystemTime;

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
}

impl TryFrom<Row> for Project {
    type Error = tokio_postgres::Error;
    fn try_from(row: Row) -> Result<Self, Self::Error> {
        Ok(Self {
            id: row.try_get("id")?,
            organization_id: row.try_get("organization_id")?,
            name: row.try_get("name")?,
            created_at: row.try_get("created_at")?,
        })
    }
}

/// Inserts an organisation.
pub async fn create_organization(
    client: &impl deadpool_postgres::GenericClient,
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
    client: &impl deadpool_postgres::GenericClient,
    organization_id: Uuid,
    name: &str,
) -> Result<Project, StorageError> {
    let id = Uuid::now_v7();
    let row = client
        .query_one(
            "INSERT INTO projects (id, organization_id, name) VALUES ($1, $2, $3)
             RETURNING id, organization_id, name, created_at",
            &[&id, &organization_id, &name],
        )
        .await
        .map_err(|e| StorageError::query("insert project", e))?;
    Project::try_from(row).map_err(|e| StorageError::query("read project", e))
}

/// Finds a project by id.
pub async fn get_project(
    client: &impl deadpool_postgres::GenericClient,
    id: Uuid,
) -> Result<Option<Project>, StorageError> {
    let row = client
        .query_opt(
            "SELECT id, organization_id, name, created_at FROM projects WHERE id = $1",
            &[&id],
        )
        .await
        .map_err(|e| StorageError::query("select project", e))?;
    row.map(Project::try_from)
        .transpose()
        .map_err(|e| StorageError::query("read project", e))
}
