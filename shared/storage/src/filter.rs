//! Event filters and the small SQL builder that turns them into a WHERE
//! clause with numbered parameters, so listing, counting, aggregating and
//! tailing filter the same way.

use std::time::SystemTime;

use deadpool_postgres::GenericClient;
use tokio_postgres::{Row, types::ToSql};
use uuid::Uuid;

use crate::StorageError;

/// What narrows a listing besides tenant and time; `None` fields match
/// everything. Requests carry this (the query service's model); the tenant
/// is added from the caller's credential, never from the request.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Criteria {
    /// Exact service.
    pub service: Option<String>,
    /// Exact type.
    pub event_type: Option<String>,
    /// `EventKind` number.
    pub kind: Option<i16>,
    /// Exact end-user id.
    pub user_id: Option<String>,
    /// LOG events at or above this `Severity` number.
    pub min_severity: Option<i16>,
    /// JSON containment on `properties`.
    pub properties: Option<serde_json::Value>,
}

/// Which events of one project: the tenant, `[start, end)` of
/// `occurred_at`, and the [`Criteria`].
#[derive(Debug, Clone)]
pub struct EventFilter {
    /// Tenant (always required).
    pub project_id: Uuid,
    /// Inclusive lower bound on `occurred_at`.
    pub start: SystemTime,
    /// Exclusive upper bound on `occurred_at`.
    pub end: SystemTime,
    /// Everything else.
    pub criteria: Criteria,
}

impl EventFilter {
    /// Everything of `project_id` in `[start, end)`.
    pub fn new(project_id: Uuid, start: SystemTime, end: SystemTime) -> Self {
        Self {
            project_id,
            start,
            end,
            criteria: Criteria::default(),
        }
    }

    /// Whether only service, type and kind narrow it (what rollups can answer).
    pub fn rollup_compatible(&self) -> bool {
        self.criteria.user_id.is_none()
            && self.criteria.min_severity.is_none()
            && self.criteria.properties.is_none()
    }

    /// Appends ` WHERE ...` for the events table.
    pub fn push_where(&self, sql: &mut Sql) {
        let project = sql.param(self.project_id);
        let start = sql.param(self.start);
        let end = sql.param(self.end);
        sql.push(&format!(
            " WHERE project_id = {project} AND occurred_at >= {start} AND occurred_at < {end}"
        ));
        self.push_dimensions(sql);
        if let Some(user) = &self.criteria.user_id {
            let p = sql.param(user.clone());
            sql.push(&format!(" AND user_id = {p}"));
        }
        if let Some(severity) = self.criteria.min_severity {
            let p = sql.param(severity);
            sql.push(&format!(" AND severity >= {p}"));
        }
        if let Some(properties) = &self.criteria.properties {
            let p = sql.param(properties.clone());
            sql.push(&format!(" AND properties @> {p}"));
        }
    }

    /// Appends the service, type and kind conditions (shared with rollups).
    pub fn push_dimensions(&self, sql: &mut Sql) {
        if let Some(service) = &self.criteria.service {
            let p = sql.param(service.clone());
            sql.push(&format!(" AND service = {p}"));
        }
        if let Some(event_type) = &self.criteria.event_type {
            let p = sql.param(event_type.clone());
            sql.push(&format!(" AND type = {p}"));
        }
        if let Some(kind) = self.criteria.kind {
            let p = sql.param(kind);
            sql.push(&format!(" AND kind = {p}"));
        }
    }
}

/// SQL text with its parameters, numbered as they are added.
pub struct Sql {
    /// The statement so far.
    text: String,
    /// Parameter values, `$1` first.
    params: Vec<Box<dyn ToSql + Sync + Send>>,
}

impl Sql {
    /// A statement starting with `text`.
    pub fn new(text: &str) -> Self {
        Self {
            text: text.to_string(),
            params: Vec::new(),
        }
    }

    /// Appends text.
    pub fn push(&mut self, text: &str) {
        self.text.push_str(text);
    }

    /// Adds a parameter and returns its placeholder (`$n`).
    pub fn param(&mut self, value: impl ToSql + Sync + Send + 'static) -> String {
        self.params.push(Box::new(value));
        format!("${}", self.params.len())
    }

    /// Runs the statement (prepared and cached per distinct text).
    pub async fn query(
        &self,
        client: &impl GenericClient,
        what: &'static str,
    ) -> Result<Vec<Row>, StorageError> {
        let statement = client
            .prepare_cached(&self.text)
            .await
            .map_err(|e| StorageError::query(what, e))?;
        let params: Vec<&(dyn ToSql + Sync)> = self
            .params
            .iter()
            .map(|p| p.as_ref() as &(dyn ToSql + Sync))
            .collect();
        client
            .query(&statement, &params)
            .await
            .map_err(|e| StorageError::query(what, e))
    }
}
