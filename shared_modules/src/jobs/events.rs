use super::JobState;
use crate::db::schema::job_events;
use crate::db::storable;
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventPhase {
    Enter,
    Exit,
    Info,
}

impl EventPhase {
    fn as_str(self) -> &'static str {
        match self {
            EventPhase::Enter => "enter",
            EventPhase::Exit => "exit",
            EventPhase::Info => "info",
        }
    }
}

#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = job_events)]
pub struct NewEvent {
    pub job_id: i64,
    /// When the step happened (events are written later, with the attempt's outcome).
    pub at: DateTime<Utc>,
    pub step: String,
    pub phase: String,
    pub status: Option<String>,
    pub duration_ms: Option<i64>,
    pub message: Option<String>,
    pub worker: Option<String>,
}

/// The steps a job's trail records.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// One attempt, from claim to outcome.
    Run,
    /// The delivery linked into `tmp/`.
    Link,
    /// A mail's derived files written again before the module runs.
    Derive,
    /// The module's own work.
    Module,
    /// The module's rows committed with the job's outcome.
    Store,
    Archive,
    /// The job's `tmp/` copy removed.
    Cleanup,
    Retry,
    Cancel,
    /// Quarantined mail routed again as a new job.
    Release,
    /// Quarantined mail deleted by an operator.
    Quarantine,
    /// Files removed after `retention` days.
    Retention,
}

impl Step {
    pub fn as_str(self) -> &'static str {
        match self {
            Step::Run => "run",
            Step::Link => "link",
            Step::Derive => "derive",
            Step::Module => "module",
            Step::Store => "store",
            Step::Archive => "archive",
            Step::Cleanup => "cleanup",
            Step::Retry => "retry",
            Step::Cancel => "cancel",
            Step::Release => "release",
            Step::Quarantine => "quarantine",
            Step::Retention => "retention",
        }
    }
}

/// How a step ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StepStatus {
    Ok,
    Error,
    Committed,
    /// The attempt's outcome was dropped: the job was taken from its worker.
    Discarded,
    Removed,
    Deleted,
    /// The job is in this state now.
    Became(JobState),
}

impl StepStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            StepStatus::Ok => "ok",
            StepStatus::Error => "error",
            StepStatus::Committed => "committed",
            StepStatus::Discarded => "discarded",
            StepStatus::Removed => "removed",
            StepStatus::Deleted => "deleted",
            StepStatus::Became(state) => state.as_str(),
        }
    }
}

impl NewEvent {
    pub fn new(job_id: i64, step: Step, phase: EventPhase) -> Self {
        Self {
            job_id,
            at: Utc::now(),
            step: step.as_str().to_string(),
            phase: phase.as_str().to_string(),
            status: None,
            duration_ms: None,
            message: None,
            worker: None,
        }
    }

    pub fn status(mut self, status: StepStatus) -> Self {
        self.status = Some(status.as_str().to_string());
        self
    }

    pub fn duration(mut self, elapsed: std::time::Duration) -> Self {
        self.duration_ms = Some(i64::try_from(elapsed.as_millis()).unwrap_or(i64::MAX));
        self
    }

    pub fn message(mut self, message: impl Into<String>) -> Self {
        self.message = Some(storable(message.into()));
        self
    }

    pub fn worker(mut self, worker: &str) -> Self {
        self.worker = Some(worker.to_string());
        self
    }
}

#[derive(Debug, Clone, Queryable, Selectable, Serialize)]
#[diesel(table_name = job_events, check_for_backend(diesel::pg::Pg))]
pub struct JobEvent {
    pub id: i64,
    pub job_id: i64,
    pub at: DateTime<Utc>,
    pub step: String,
    pub phase: String,
    pub status: Option<String>,
    pub duration_ms: Option<i64>,
    pub message: Option<String>,
    pub worker: Option<String>,
    /// The node whose connection wrote it (`node.name`).
    pub node: Option<String>,
}

pub async fn record_event(conn: &mut AsyncPgConnection, event: NewEvent) -> QueryResult<()> {
    diesel::insert_into(job_events::table)
        .values(&event)
        .execute(conn)
        .await?;
    Ok(())
}

/// Several events in one statement (a job's trail is written with its outcome).
pub async fn record_events(conn: &mut AsyncPgConnection, events: &[NewEvent]) -> QueryResult<()> {
    if !events.is_empty() {
        diesel::insert_into(job_events::table)
            .values(events)
            .execute(conn)
            .await?;
    }
    Ok(())
}

/// A job's events in the order they happened.
pub async fn events_of(conn: &mut AsyncPgConnection, job_id: i64) -> QueryResult<Vec<JobEvent>> {
    job_events::table
        .filter(job_events::job_id.eq(job_id))
        .order(job_events::id.asc())
        .select(JobEvent::as_select())
        .load(conn)
        .await
}
