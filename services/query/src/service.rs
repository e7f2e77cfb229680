//! Query domain logic. Every read names the caller's project in its SQL and
//! runs in a row-level-security transaction scoped to that project. It
//! takes and returns the domain types of [`crate::model`].

use std::time::SystemTime;

use boost_server::{
    ApiError,
    auth::Principal,
    paging::{PageError, Pager},
};
use boost_storage::{
    Pool, StorageError,
    aggregates::{self, GroupCount, Grouping},
    dead_letters,
    events::{self, Cursor, Page, StoredEvent},
    filter::EventFilter,
    rls,
    users::{self, EndUser},
    utc::{self, HOUR},
};
use uuid::Uuid;

use crate::{
    cursor,
    model::{
        AggregateQuery, Aggregation, Criteria, DEFAULT_END_SLACK, EventListing, EventPage,
        FoundEvent, Metrics, PageAsk, QueryError, TimeRange, UserPage, invalid,
    },
};

/// Page size when the caller sends none.
pub const DEFAULT_PAGE_SIZE: usize = 100;
/// Largest page a caller may ask for.
pub const MAX_PAGE_SIZE: usize = 1000;
/// Totals are exact up to this many rows, estimated above.
pub const EXACT_TOTAL_UP_TO: i64 = 10_000;
/// Groups Aggregate returns by default, and at most.
pub const DEFAULT_GROUPS: i32 = 10;
/// Most groups Aggregate returns.
pub const MAX_GROUPS: i32 = 1000;
/// Services GetMetrics ranks.
const TOP_SERVICES: usize = 5;

impl From<QueryError> for ApiError {
    fn from(err: QueryError) -> Self {
        match err {
            QueryError::InvalidField { field, reason } => ApiError::bad_field(field, reason),
            QueryError::NotFound(what) => ApiError::not_found(format!("{what} not found")),
            QueryError::Storage(e) => e.into(),
        }
    }
}

impl From<PageError> for QueryError {
    fn from(err: PageError) -> Self {
        invalid(err.field, err.reason)
    }
}

/// The storage filter: the caller's project, `range` and the request's `criteria`.
fn filter(principal: &Principal, range: TimeRange, criteria: &Criteria) -> EventFilter {
    EventFilter {
        criteria: criteria.clone(),
        ..EventFilter::new(principal.project_id, range.start, range.end)
    }
}

/// A checked pager for `listing`, and the cursor text of the page asked for.
fn pager(
    listing: &'static str,
    scope: &[&[u8]],
    page: &PageAsk,
) -> Result<(Pager, Option<String>), QueryError> {
    let pager = Pager::new(listing, scope, page.size, DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE)?;
    let after = pager.after(&page.token)?;
    Ok((pager, after))
}

/// Read operations over a pool.
#[derive(Clone)]
pub struct QueryLogic {
    /// Database connections.
    pool: Pool,
}

impl QueryLogic {
    /// Logic over `pool`.
    pub fn new(pool: Pool) -> Self {
        Self { pool }
    }

    /// Lists the caller's matching events, newest or oldest first.
    #[tracing::instrument(name = "query.execute", skip_all, fields(db.system = "postgresql", operation = "list_events"))]
    pub async fn list_events(
        &self,
        principal: &Principal,
        listing: &EventListing,
    ) -> Result<EventPage, QueryError> {
        let filter = filter(principal, listing.range, &listing.criteria);
        let (pager, after) = pager(
            if listing.oldest_first {
                "events-oldest"
            } else {
                "events-newest"
            },
            &[principal.project_id.as_bytes(), &listing.binding],
            &listing.page,
        )?;
        let after = match after {
            Some(text) => Some(
                cursor::event(&text).ok_or_else(|| invalid("page_token", "not a page token"))?,
            ),
            None => None,
        };
        let page = Page {
            limit: pager.fetch() as i64,
            after,
            oldest_first: listing.oldest_first,
        };
        let mut client = self.pool.get().await.map_err(StorageError::from)?;
        let tx = rls::read_as(&mut client, principal.project_id).await?;
        let mut events = events::list(&tx, &filter, &page).await?;
        let total = if listing.include_total {
            Some(events::total(&tx, &filter, EXACT_TOTAL_UP_TO).await?)
        } else {
            None
        };
        let next_page_token = pager.finish(&mut events, |last| {
            cursor::event_text(&Cursor {
                occurred_at: last.occurred_at,
                event_id: last.event_id,
            })
        });
        Ok(EventPage {
            events,
            next_page_token,
            total,
        })
    }

    /// One event: stored, failed (dead-lettered), or NOT_FOUND.
    #[tracing::instrument(name = "query.execute", skip_all, fields(db.system = "postgresql", operation = "get_event"))]
    pub async fn get_event(
        &self,
        principal: &Principal,
        event_id: Uuid,
    ) -> Result<FoundEvent, QueryError> {
        let mut client = self.pool.get().await.map_err(StorageError::from)?;
        let tx = rls::read_as(&mut client, principal.project_id).await?;
        if let Some(row) = events::get(&tx, principal.project_id, event_id).await? {
            return Ok(FoundEvent::Stored(row));
        }
        dead_letters::failed_event(&tx, principal.project_id, event_id)
            .await?
            .map(FoundEvent::Failed)
            .ok_or(QueryError::NotFound("event"))
    }

    /// One end user of the caller's project (`user_id` checked by the adapter).
    #[tracing::instrument(name = "query.execute", skip_all, fields(db.system = "postgresql", operation = "get_user"))]
    pub async fn get_user(
        &self,
        principal: &Principal,
        user_id: &str,
    ) -> Result<EndUser, QueryError> {
        let mut client = self.pool.get().await.map_err(StorageError::from)?;
        let tx = rls::read_as(&mut client, principal.project_id).await?;
        users::get(&tx, principal.project_id, user_id)
            .await?
            .ok_or(QueryError::NotFound("user"))
    }

    /// The caller's end users, most recently seen first.
    #[tracing::instrument(name = "query.execute", skip_all, fields(db.system = "postgresql", operation = "list_users"))]
    pub async fn list_users(
        &self,
        principal: &Principal,
        page: &PageAsk,
    ) -> Result<UserPage, QueryError> {
        let (pager, after) = pager("users", &[principal.project_id.as_bytes()], page)?;
        let after = match after {
            Some(text) => {
                Some(cursor::user(&text).ok_or_else(|| invalid("page_token", "not a page token"))?)
            }
            None => None,
        };
        let mut client = self.pool.get().await.map_err(StorageError::from)?;
        let tx = rls::read_as(&mut client, principal.project_id).await?;
        let mut users = users::list(
            &tx,
            principal.project_id,
            pager.fetch() as i64,
            after.as_ref(),
        )
        .await?;
        let next_page_token = pager.finish(&mut users, |u| {
            cursor::user_text(&(u.last_seen, u.user_id.clone()))
        });
        Ok(UserPage {
            users,
            next_page_token,
        })
    }

    /// Counts grouped by one dimension, from rollups when they can answer.
    #[tracing::instrument(name = "query.execute", skip_all, fields(db.system = "postgresql", operation = "aggregate"))]
    pub async fn aggregate(
        &self,
        principal: &Principal,
        query: &AggregateQuery,
    ) -> Result<Aggregation, QueryError> {
        let filter = filter(principal, query.range, &query.criteria);
        let from_rollups = aggregates::rollups_can_answer(&filter, query.grouping);
        let mut client = self.pool.get().await.map_err(StorageError::from)?;
        let tx = rls::read_as(&mut client, principal.project_id).await?;
        let groups = aggregates::count(
            &tx,
            &filter,
            query.grouping,
            i64::from(query.limit),
            from_rollups,
        )
        .await?;
        Ok(Aggregation {
            groups,
            grouping: query.grouping,
            from_rollups,
        })
    }

    /// The project's business metrics, from three queries on two
    /// connections: all-time counts by service (rollups), the last 24 hours
    /// by hour and service (hourly rollups), and the last 60 minutes (minute
    /// rollups).
    #[tracing::instrument(name = "query.execute", skip_all, fields(db.system = "postgresql", operation = "metrics"))]
    pub async fn metrics(&self, principal: &Principal) -> Result<Metrics, QueryError> {
        let project = principal.project_id;
        let now = SystemTime::now();
        let this_hour = utc::floor(now, HOUR);
        let all_time = EventFilter::new(project, SystemTime::UNIX_EPOCH, this_hour + 2 * HOUR);
        let last_day = EventFilter::new(project, this_hour - 23 * HOUR, this_hour + 2 * HOUR);
        // The current minute so far and the 59 before it.
        let last_hour_from = utc::floor(now, utc::MINUTE) - 59 * utc::MINUTE;
        let all_time_by_service = async {
            let mut client = self.pool.get().await.map_err(StorageError::from)?;
            let tx = rls::read_as(&mut client, project).await?;
            let limit = i64::from(MAX_GROUPS);
            let by_service =
                aggregates::count(&tx, &all_time, Grouping::Service, limit, true).await?;
            // Past MAX_GROUPS services the groups no longer add up to the total.
            let total = if by_service.len() < MAX_GROUPS as usize {
                by_service.iter().map(|g| g.count).sum()
            } else {
                aggregates::rollup_total(&tx, &all_time).await?
            };
            Ok::<_, QueryError>((total, by_service))
        };
        let recent = async {
            let mut client = self.pool.get().await.map_err(StorageError::from)?;
            let tx = rls::read_as(&mut client, project).await?;
            // Pipelined on the one connection.
            Ok::<_, QueryError>(tokio::try_join!(
                aggregates::service_hours(&tx, &last_day),
                aggregates::minutes_total(&tx, project, last_hour_from, now + DEFAULT_END_SLACK),
            )?)
        };
        let ((total_events, by_service), (service_hours, last_hour)) =
            tokio::try_join!(all_time_by_service, recent)?;
        let day = DayTotals::from_service_hours(service_hours);
        Ok(Metrics {
            total_events,
            last_hour,
            last_24_hours: day.total,
            by_service,
            top_services: day.top_services(TOP_SERVICES),
            by_hour: day.by_hour,
        })
    }

    /// Events matching `filter` stored after the (stored_at, event_id)
    /// position `after`, for the live tail.
    #[tracing::instrument(name = "query.execute", skip_all, fields(db.system = "postgresql", operation = "stored_since"))]
    pub async fn stored_since(
        &self,
        filter: &EventFilter,
        after: (SystemTime, Uuid),
        limit: i64,
    ) -> Result<Vec<(SystemTime, StoredEvent)>, QueryError> {
        let mut client = self.pool.get().await.map_err(StorageError::from)?;
        let tx = rls::read_as(&mut client, filter.project_id).await?;
        Ok(events::stored_since(&tx, filter, after, limit).await?)
    }

    /// The storage filter of a live tail: the caller's project, any event time.
    pub fn tail_filter(&self, principal: &Principal, criteria: &Criteria) -> EventFilter {
        filter(principal, TimeRange::any(), criteria)
    }
}

/// A day of (hour, service) counts folded into GetMetrics' views.
struct DayTotals {
    /// Every event of the day.
    total: i64,
    /// Per hour, in time order.
    by_hour: Vec<GroupCount>,
    /// Per service.
    by_service: std::collections::HashMap<String, i64>,
}

impl DayTotals {
    fn from_service_hours(rows: Vec<(SystemTime, String, i64)>) -> Self {
        let mut day = DayTotals {
            total: 0,
            by_hour: Vec::new(),
            by_service: std::collections::HashMap::new(),
        };
        for (hour, service, count) in rows {
            day.total += count;
            *day.by_service.entry(service).or_default() += count;
            match day.by_hour.last_mut() {
                Some(last) if last.bucket_start == Some(hour) => last.count += count,
                _ => day.by_hour.push(GroupCount {
                    key: String::new(),
                    bucket_start: Some(hour),
                    count,
                }),
            }
        }
        day
    }

    /// The `n` busiest services, largest first, ties by name.
    fn top_services(&self, n: usize) -> Vec<GroupCount> {
        let mut services: Vec<GroupCount> = self
            .by_service
            .iter()
            .map(|(service, count)| GroupCount {
                key: service.clone(),
                bucket_start: None,
                count: *count,
            })
            .collect();
        services.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.key.cmp(&b.key)));
        services.truncate(n);
        services
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_day_totals_fold_hours_and_rank_services() {
        let h0 = SystemTime::UNIX_EPOCH + HOUR;
        let h1 = h0 + HOUR;
        let day = DayTotals::from_service_hours(vec![
            (h0, "api".into(), 3),
            (h0, "web".into(), 5),
            (h1, "api".into(), 4),
            (h1, "batch".into(), 1),
            (h1, "web".into(), 2),
        ]);
        assert_eq!(day.total, 15);
        let hours: Vec<_> = day
            .by_hour
            .iter()
            .map(|g| (g.bucket_start, g.count))
            .collect();
        assert_eq!(hours, vec![(Some(h0), 8), (Some(h1), 7)]);
        let top: Vec<_> = day
            .top_services(2)
            .into_iter()
            .map(|g| (g.key, g.count))
            .collect();
        // api and web tie at 7: by name.
        assert_eq!(top, vec![("api".to_string(), 7), ("web".to_string(), 7)]);
    }
}
