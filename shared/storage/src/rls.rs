//! Row-level security, the second wall between tenants: reads run in a
//! transaction as the `boost_reader` role with `boost.project_id` set, and
//! the policies on events, end users, rollups and dead letters show that
//! project's rows only. A session without the setting sees nothing.

use deadpool_postgres::{Object, Transaction};
use uuid::Uuid;

use crate::StorageError;

/// Planner cost of a random page read for queries. PostgreSQL's default (4)
/// assumes spinning disks and made the planner scan all 10M rows in
/// parallel for a 24-hour aggregate (1.5 s) rather than walk the time index
/// (0.3 s); with the working set in memory or on SSD, 1.1 is the usual value.
const READ_RANDOM_PAGE_COST: f64 = 1.1;
/// Memory per sort or hash in a query, so a group-by over a day of users
/// (~100,000 groups) hashes in memory instead of spilling to disk.
const READ_WORK_MEM: &str = "64MB";

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
        "SET LOCAL ROLE boost_reader; \
         SET LOCAL random_page_cost = {READ_RANDOM_PAGE_COST}; \
         SET LOCAL work_mem = '{READ_WORK_MEM}'; \
         SELECT set_config('boost.project_id', '{project_id}', true)"
    ))
    .await
    .map_err(|e| StorageError::query("scope read to project", e))?;
    Ok(tx)
}
