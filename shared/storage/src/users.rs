//! End users as the processor maintains them (traits, first/last seen,
//! counts), read per project.

use std::time::SystemTime;

use deadpool_postgres::GenericClient;
use tokio_postgres::Row;
use uuid::Uuid;

use crate::{StorageError, filter::Sql};

/// One end user.
#[derive(Debug, Clone, PartialEq)]
pub struct EndUser {
    /// The application's id for the user.
    pub user_id: String,
    /// Merged traits.
    pub traits: serde_json::Value,
    /// Earliest event time.
    pub first_seen: SystemTime,
    /// Latest event time.
    pub last_seen: SystemTime,
    /// Stored events.
    pub events: i64,
}

impl TryFrom<Row> for EndUser {
    type Error = tokio_postgres::Error;
    fn try_from(row: Row) -> Result<Self, Self::Error> {
        Ok(Self {
            user_id: row.try_get("user_id")?,
            traits: row.try_get("traits")?,
            first_seen: row.try_get("first_seen")?,
            last_seen: row.try_get("last_seen")?,
            events: row.try_get("events")?,
        })
    }
}

/// Position after the last user of a page: (last_seen, user_id).
pub type UserCursor = (SystemTime, String);

/// One user of a project.
pub async fn get(
    client: &impl GenericClient,
    project_id: Uuid,
    user_id: &str,
) -> Result<Option<EndUser>, StorageError> {
    client
        .query_opt(
            "SELECT user_id, traits, first_seen, last_seen, events FROM end_users
             WHERE project_id = $1 AND user_id = $2",
            &[&project_id, &user_id],
        )
        .await
        .map_err(|e| StorageError::query("get user", e))?
        .map(EndUser::try_from)
        .transpose()
        .map_err(|e| StorageError::query("read user", e))
}

/// A project's users, most recently seen first, after `after`.
pub async fn list(
    client: &impl GenericClient,
    project_id: Uuid,
    limit: i64,
    after: Option<&UserCursor>,
) -> Result<Vec<EndUser>, StorageError> {
    let mut sql = Sql::new(
        "SELECT user_id, traits, first_seen, last_seen, events FROM end_users WHERE project_id = ",
    );
    let project = sql.param(project_id);
    sql.push(&project);
    if let Some((seen, id)) = after {
        let seen = sql.param(*seen);
        let id = sql.param(id.clone());
        sql.push(&format!(" AND (last_seen, user_id) < ({seen}, {id})"));
    }
    let limit = sql.param(limit);
    sql.push(&format!(
        " ORDER BY last_seen DESC, user_id DESC LIMIT {limit}"
    ));
    sql.query(client, "list users")
        .await?
        .into_iter()
        .map(EndUser::try_from)
        .collect::<Result<_, _>>()
        .map_err(|e| StorageError::query("read users", e))
}
