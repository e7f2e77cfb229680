//! Event counts grouped by one dimension, from the hourly rollups when they
//! can answer and from raw rows otherwise; recent minutes from the minute
//! rollups.

use std::time::SystemTime;

use deadpool_postgres::GenericClient;

use crate::{
    StorageError,
    filter::{EventFilter, Sql},
    utc,
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
    let grouping_kept = !matches!(grouping, Grouping::User | Grouping::Time(Bucket::Minute));
    grouping_kept
        && filter.rollup_compatible()
        && utc::is_on(filter.start, utc::HOUR)
        && utc::is_on(filter.end, utc::HOUR)
}

/// Appends ` FROM (...) r` yielding (at, service, type, kind, events) for
/// the filter's range: whole UTC days from the daily rollups, the hours
/// before the first and after the last whole day from the hourly ones.
/// `hours_only` reads the hourly table for the whole range (hour buckets).
fn push_rollup_source(sql: &mut Sql, filter: &EventFilter, hours_only: bool) {
    let day = utc::DAY.as_secs();
    let (start, end) = (utc::secs(filter.start), utc::secs(filter.end));
    let first_day = start.div_ceil(day) * day;
    let last_day = end / day * day;
    // No whole day inside (or hour buckets wanted): the hourly table covers it all.
    let (days_from, days_to) = if hours_only || first_day >= last_day {
        (end, end)
    } else {
        (first_day, last_day)
    };
    sql.push(" FROM (SELECT day AS at, service, type, kind, events FROM event_rollups_daily");
    let project = sql.param(filter.project_id);
    let from = sql.param(utc::at(days_from));
    let to = sql.param(utc::at(days_to));
    sql.push(&format!(
        " WHERE project_id = {project} AND day >= {from} AND day < {to}"
    ));
    filter.push_dimensions(sql);
    sql.push(" UNION ALL SELECT hour, service, type, kind, events FROM event_rollups_hourly");
    let project = sql.param(filter.project_id);
    let start = sql.param(filter.start);
    let end = sql.param(filter.end);
    let from = sql.param(utc::at(days_from));
    let to = sql.param(utc::at(days_to));
    sql.push(&format!(
        " WHERE project_id = {project} AND ((hour >= {start} AND hour < {from}) \
         OR (hour >= {to} AND hour < {end}))"
    ));
    filter.push_dimensions(sql);
    sql.push(") r");
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
        ("at", "sum(events)::int8")
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
        let hours_only = grouping == Grouping::Time(Bucket::Hour);
        push_rollup_source(&mut sql, filter, hours_only);
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

/// Events the rollups hold for the filter's hour-aligned range.
pub async fn rollup_total(
    client: &impl GenericClient,
    filter: &EventFilter,
) -> Result<i64, StorageError> {
    let mut sql = Sql::new("SELECT coalesce(sum(events), 0)::int8");
    push_rollup_source(&mut sql, filter, false);
    Ok(sql.query(client, "rollup total").await?[0].get(0))
}

/// Events per (hour, service) from the hourly rollups over the filter's
/// hour-aligned range, hours in order: one scan that GetMetrics folds into
/// events by hour, top services and the day's total.
pub async fn service_hours(
    client: &impl GenericClient,
    filter: &EventFilter,
) -> Result<Vec<(SystemTime, String, i64)>, StorageError> {
    let mut sql = Sql::new("SELECT hour, service, sum(events)::int8 FROM event_rollups_hourly");
    let project = sql.param(filter.project_id);
    let start = sql.param(filter.start);
    let end = sql.param(filter.end);
    sql.push(&format!(
        " WHERE project_id = {project} AND hour >= {start} AND hour < {end}"
    ));
    filter.push_dimensions(&mut sql);
    sql.push(" GROUP BY 1, 2 ORDER BY 1, 2");
    Ok(sql
        .query(client, "service hours")
        .await?
        .iter()
        .map(|row| (row.get(0), row.get(1), row.get(2)))
        .collect())
}

/// Events of `project` that occurred in the minutes from `first_minute`
/// (a minute start, at most 2 hours back: older minutes are not kept) up to
/// `end`, from the minute rollups.
pub async fn minutes_total(
    client: &impl GenericClient,
    project: uuid::Uuid,
    first_minute: SystemTime,
    end: SystemTime,
) -> Result<i64, StorageError> {
    let row = client
        .query_one(
            "SELECT coalesce(sum(events), 0)::int8 FROM event_rollups_minutely \
             WHERE project_id = $1 AND minute >= $2 AND minute < $3",
            &[&project, &first_minute, &end],
        )
        .await
        .map_err(|e| StorageError::query("minute rollups", e))?;
    Ok(row.get(0))
}
