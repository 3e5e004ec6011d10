use crate::db::schema::jobs;
use chrono::{DateTime, Utc};
use diesel::deserialize::{FromSql, FromSqlRow};
use diesel::expression::AsExpression;
use diesel::pg::{Pg, PgValue};
use diesel::prelude::*;
use diesel::serialize::{Output, ToSql};
use diesel::sql_types::Text;
use serde::{Deserialize, Serialize};

/// The columns of `Job`, in its order, for hand-written statements (`concat!`): a prepared
/// statement names its columns, never `*` (see `db::prepared`).
macro_rules! job_columns {
    () => {
        "id, source, customer, category, job_type, job_group, state, inbox_path, tmp_path, \
         archive_path, metadata, dedupe_key, attempts, max_attempts, run_after, locked_until, \
         locked_by, timeout_seconds, error, result, created_at, started_at, finished_at, \
         updated_at, progress"
    };
}
pub(crate) use job_columns;

/// One job row as stored.
#[derive(Debug, Clone, Queryable, QueryableByName, Selectable, Serialize)]
#[diesel(table_name = jobs, check_for_backend(diesel::pg::Pg))]
pub struct Job {
    pub id: i64,
    pub source: JobSource,
    pub customer: String,
    pub category: String,
    #[serde(rename = "type")]
    pub job_type: String,
    #[serde(rename = "group")]
    pub job_group: String,
    pub state: JobState,
    pub inbox_path: Option<String>,
    pub tmp_path: Option<String>,
    pub archive_path: Option<String>,
    pub metadata: serde_json::Value,
    pub dedupe_key: Option<String>,
    pub attempts: i32,
    pub max_attempts: i32,
    pub run_after: DateTime<Utc>,
    pub locked_until: Option<DateTime<Utc>>,
    pub locked_by: Option<String>,
    pub timeout_seconds: i32,
    pub error: Option<String>,
    pub result: Option<serde_json::Value>,
    pub created_at: DateTime<Utc>,
    pub started_at: Option<DateTime<Utc>>,
    pub finished_at: Option<DateTime<Utc>>,
    pub updated_at: DateTime<Utc>,
    /// What a running job has done so far (bytes read, rows stored), renewed by the
    /// worker's heartbeat; the last figures stay once it ends.
    pub progress: Option<serde_json::Value>,
}

/// A job to create. `state` is `queued`, or `quarantined` (with `error` saying why).
#[derive(Debug, Clone, Insertable, Serialize, Deserialize)]
#[diesel(table_name = jobs)]
pub struct NewJob {
    pub source: JobSource,
    pub customer: String,
    pub category: String,
    pub job_type: String,
    pub job_group: String,
    pub state: JobState,
    pub inbox_path: Option<String>,
    pub metadata: serde_json::Value,
    pub dedupe_key: Option<String>,
    pub max_attempts: i32,
    pub timeout_seconds: i32,
    pub error: Option<String>,
}

/// The `state` column, as a type: the column's CHECK constraint lists the same names.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, AsExpression, FromSqlRow, Serialize, Deserialize,
)]
#[diesel(sql_type = Text)]
#[serde(rename_all = "lowercase")]
pub enum JobState {
    Queued,
    Running,
    Done,
    Error,
    Quarantined,
    Cancelled,
}

impl JobState {
    pub const ALL: [JobState; 6] = [
        JobState::Queued,
        JobState::Running,
        JobState::Done,
        JobState::Error,
        JobState::Quarantined,
        JobState::Cancelled,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            JobState::Queued => "queued",
            JobState::Running => "running",
            JobState::Done => "done",
            JobState::Error => "error",
            JobState::Quarantined => "quarantined",
            JobState::Cancelled => "cancelled",
        }
    }

    pub fn parse(text: &str) -> Option<JobState> {
        JobState::ALL.into_iter().find(|s| s.as_str() == text)
    }

    /// Done, error, quarantined or cancelled: nothing will run it again unless retried.
    pub fn is_final(self) -> bool {
        !matches!(self, JobState::Queued | JobState::Running)
    }
}

impl std::fmt::Display for JobState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl PartialEq<&str> for JobState {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

impl ToSql<Text, Pg> for JobState {
    fn to_sql<'b>(&'b self, out: &mut Output<'b, '_, Pg>) -> diesel::serialize::Result {
        <str as ToSql<Text, Pg>>::to_sql(self.as_str(), out)
    }
}

impl FromSql<Text, Pg> for JobState {
    fn from_sql(bytes: PgValue<'_>) -> diesel::deserialize::Result<Self> {
        let text = <String as FromSql<Text, Pg>>::from_sql(bytes)?;
        JobState::parse(&text).ok_or_else(|| format!("unknown job state `{text}`").into())
    }
}

/// The `source` column, as a type: how the job's delivery arrived.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, AsExpression, FromSqlRow, Serialize, Deserialize,
)]
#[diesel(sql_type = Text)]
#[serde(rename_all = "lowercase")]
pub enum JobSource {
    Email,
    Upload,
    Manual,
}

impl JobSource {
    pub fn as_str(self) -> &'static str {
        match self {
            JobSource::Email => "email",
            JobSource::Upload => "upload",
            JobSource::Manual => "manual",
        }
    }
}

impl JobSource {
    const ALL: [JobSource; 3] = [JobSource::Email, JobSource::Upload, JobSource::Manual];

    pub fn parse(text: &str) -> Option<JobSource> {
        JobSource::ALL.into_iter().find(|s| s.as_str() == text)
    }
}

impl std::fmt::Display for JobSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl ToSql<Text, Pg> for JobSource {
    fn to_sql<'b>(&'b self, out: &mut Output<'b, '_, Pg>) -> diesel::serialize::Result {
        <str as ToSql<Text, Pg>>::to_sql(self.as_str(), out)
    }
}

impl FromSql<Text, Pg> for JobSource {
    fn from_sql(bytes: PgValue<'_>) -> diesel::deserialize::Result<Self> {
        let text = <String as FromSql<Text, Pg>>::from_sql(bytes)?;
        JobSource::parse(&text).ok_or_else(|| format!("unknown job source `{text}`").into())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn job_columns_are_those_of_job_in_its_order() {
        let sql = diesel::debug_query::<Pg, _>(&jobs::table.select(Job::as_select())).to_string();
        let selected: Vec<&str> = sql
            .trim_start_matches("SELECT ")
            .split(" FROM")
            .next()
            .unwrap()
            .split(", ")
            .map(|c| c.trim_start_matches("\"jobs\".").trim_matches('"'))
            .collect();
        let ours: Vec<&str> = job_columns!().split(',').map(str::trim).collect();
        assert_eq!(ours, selected);
    }
}
