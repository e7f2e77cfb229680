//! Event counts grouped by one dimension, from the hourly rollups when they
//! can answer and from raw rows otherwise.

use std::time::SystemTime;

use deadpool_postgres::GenericClient;

use crate::{
    StorageError,
    filter::{EventFilter, Sql},
};

/// What to group by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Grouping {
    /// Service name.
    Service,
    /// Event type.
    Type,
    /// Kind number.
    Kind,
    /// End-user id (raw rows only).
    User,
    /// Time bucket.
    Time(Bucket),
}

/// Width of a time bucket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Bucket {
    /// One minute (raw rows only).
    Minute,
    /// One hour.
    Hour,
    /// One UTC day.
    Day,
}

impl Bucket {
    fn unit(self) -> &'static str {
        match self {
            Bucket::Minute => "minute",
            Bucket::Hour => "hour",
            Bucket::Day => "day",
        }
    }
}

/// One group: a key (empty for time buckets), a bucket start, a count.
#[derive(Debug, Clone, PartialEq)]
pub struct GroupCount {
    /// Service, type, kind number or user id.
    pub key: String,
    /// Start of the time bucket.
    pub bucket_start: Option<SystemTime>,
    /// Events.
    pub count: i64,
}

/// Whether the rollups can answer: grouping and filter on what they keep,
/// and a range on whole hours.
pub fn rollups_can_answer(filter: &EventFilter, grouping: Grouping) -> bool {
    let on_hours = |t: SystemTime| {
        t.duration_since(SystemTime::UNIX_EPOCH)
            .is_ok_and(|d| d.as_secs() % 3600 == 0 && d.subsec_nanos() == 0)
    };
    let grouping_kept = !matches!(grouping, Grouping::User | Grouping::Time(Bucket::Minute));
    grouping_kept && filter.rollup_compatible() && on_hours(filter.start) && on_hours(filter.end)
}

/// Counts per group; time buckets in time order, other groups largest first;
/// at most `limit` groups. `from_rollups` must only be set when
/// [`rollups_can_answer`] said so.
pub async fn count(
    client: &impl GenericClient,
    filter: &EventFilter,
    grouping: Grouping,
    limit: i64,
    from_rollups: bool,
) -> Result<Vec<GroupCount>, StorageError> {
    let (time_column, counted) = if from_rollups {
        ("hour", "sum(events)::int8")
    } else {
        ("occurred_at", "count(*)")
    };
    let key = match grouping {
        Grouping::Service => "service, NULL::timestamptz".to_string(),
        Grouping::Type => "type, NULL::timestamptz".to_string(),
        Grouping::Kind => "kind::text, NULL::timestamptz".to_string(),
        Grouping::User => "user_id, NULL::timestamptz".to_string(),
        Grouping::Time(bucket) => format!(
            "''::text, date_trunc('{}', {time_column}, 'UTC')",
            bucket.unit()
        ),
    };
    let mut sql = Sql::new(&format!("SELECT {key}, {counted}"));
    if from_rollups {
        sql.push(" FROM event_rollups_hourly");
        let project = sql.param(filter.project_id);
        let start = sql.param(filter.start);
        let end = sql.param(filter.end);
        sql.push(&format!(
            " WHERE project_id = {project} AND hour >= {start} AND hour < {end}"
        ));
        filter.push_dimensions(&mut sql);
    } else {
        sql.push(" FROM events");
        filter.push_where(&mut sql);
    }
    let order = if matches!(grouping, Grouping::Time(_)) {
        "2"
    } else {
        "3 DESC, 1"
    };
    let limit = sql.param(limit);
    sql.push(&format!(" GROUP BY 1, 2 ORDER BY {order} LIMIT {limit}"));
    Ok(sql
        .query(client, "aggregate events")
        .await?
        .iter()
        .map(|row| GroupCount {
            key: row.get(0),
            bucket_start: row.get(1),
            count: row.get(2),
        })
        .collect())
}

/// Events in the rollups from `since` on (whole hours), or all time.
pub async fn rollup_total(
    client: &impl GenericClient,
    project_id: uuid::Uuid,
    since: Option<SystemTime>,
) -> Result<i64, StorageError> {
    let since = since.unwrap_or(SystemTime::UNIX_EPOCH);
    let row = client
        .query_one(
            "SELECT coalesce(sum(events), 0)::int8 FROM event_rollups_hourly
             WHERE project_id = $1 AND hour >= $2",
            &[&project_id, &since],
        )
        .await
        .map_err(|e| StorageError::query("rollup total", e))?;
    Ok(row.get(0))
}
