use crate::db::schema::job_events;
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

impl NewEvent {
    pub fn new(job_id: i64, step: &str, phase: EventPhase) -> Self {
        Self {
            job_id,
            at: Utc::now(),
            step: step.to_string(),
            phase: phase.as_str().to_string(),
            status: None,
            duration_ms: None,
            message: None,
            worker: None,
        }
    }

    pub fn status(mut self, status: &str) -> Self {
        self.status = Some(status.to_string());
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

/// Postgres text cannot hold NUL, and a message may quote hostile bytes: NUL is written
/// `\0` so the failure is still recorded (not retried forever).
pub fn storable(text: String) -> String {
    if text.contains('\0') {
        text.replace('\0', "\\0")
    } else {
        text
    }
}

/// `storable` for every string (and key) of a JSON value: jsonb refuses `\u0000` too. A
/// value without NUL (nearly every job's result) is used as it is, not copied.
pub fn storable_json(value: &serde_json::Value) -> std::borrow::Cow<'_, serde_json::Value> {
    if holds_nul(value) {
        std::borrow::Cow::Owned(escaped(value))
    } else {
        std::borrow::Cow::Borrowed(value)
    }
}

fn holds_nul(value: &serde_json::Value) -> bool {
    use serde_json::Value;
    match value {
        Value::String(s) => s.contains('\0'),
        Value::Array(items) => items.iter().any(holds_nul),
        Value::Object(map) => map.iter().any(|(k, v)| k.contains('\0') || holds_nul(v)),
        _ => false,
    }
}

fn escaped(value: &serde_json::Value) -> serde_json::Value {
    use serde_json::Value;
    match value {
        Value::String(s) => Value::String(storable(s.clone())),
        Value::Array(items) => Value::Array(items.iter().map(escaped).collect()),
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(k, v)| (storable(k.clone()), escaped(v)))
                .collect(),
        ),
        other => other.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::{storable, storable_json};

    #[test]
    fn nul_bytes_become_visible_escapes() {
        assert_eq!(storable("a\0b".into()), "a\\0b");
        assert_eq!(storable("plain".into()), "plain");
        let value = serde_json::json!({"k\0": ["x\0", 1, {"y": "\0"}]});
        assert_eq!(
            *storable_json(&value),
            serde_json::json!({"k\\0": ["x\\0", 1, {"y": "\\0"}]})
        );
        let clean = serde_json::json!({"rows": {"t": 5}, "files": ["a.txt"]});
        assert!(matches!(
            storable_json(&clean),
            std::borrow::Cow::Borrowed(_)
        ));
    }
}
