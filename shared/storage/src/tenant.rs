//! Row-level security, the second wall between tenants: reads run in a
//! transaction as the `boost_reader` role with `boost.project_id` set, and
//! the policies on events, end users, rollups and dead letters show that
//! project's rows only. A session without the setting sees nothing.

use deadpool_postgres::{Object, Transaction};
use uuid::Uuid;

use crate::StorageError;

/// Opens a read transaction that can only see `project_id`'s rows.
pub async fn read_as(
    client: &mut Object,
    project_id: Uuid,
) -> Result<Transaction<'_>, StorageError> {
    let tx = client
        .build_transaction()
        .read_only(true)
        .start()
        .await
        .map_err(|e| StorageError::query("begin read", e))?;
    // A Uuid formats as hex and dashes only, so inlining it is safe.
    tx.batch_execute(&format!(
        "SET LOCAL ROLE boost_reader; SELECT set_config('boost.project_id', '{project_id}', true)"
    ))
    .await
    .map_err(|e| StorageError::query("scope read to project", e))?;
    Ok(tx)
}
