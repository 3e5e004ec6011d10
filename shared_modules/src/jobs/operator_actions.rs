//! What an operator does to one job, from dpctl, the API or the console: retry a finished
//! job (`done`, `error`, `cancelled`) with a fresh set of attempts, or cancel a queued or
//! running one (its worker loses its fence and its outcome is discarded). Each is an update
//! fenced on the state read, so two operators never both win, and leaves an event.

use super::events::{EventPhase, NewEvent, record_event};
use super::events::{Step, StepStatus};
use super::model::{Job, JobState};
use super::queue::{QUARANTINED_TYPE, find_job};
use crate::db::schema::jobs;
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Retry,
    Cancel,
}

/// Why an action left the job as it was; reads after "job N ".
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refused {
    NotFound,
    /// The job's state does not allow the action.
    State(Action, JobState),
    /// Another actor changed it between the read and the update.
    ChangedConcurrently(JobState),
    /// Quarantined mail (released or deleted since): no module would run it.
    FromQuarantine,
}

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Refused::NotFound => write!(f, "does not exist"),
            Refused::State(Action::Retry, state) => write!(
                f,
                "is {state}; only done, error or cancelled jobs can be retried"
            ),
            Refused::State(Action::Cancel, state) => write!(
                f,
                "is {state}; only queued or running jobs can be cancelled"
            ),
            Refused::ChangedConcurrently(state) => {
                write!(f, "was {state} and changed meanwhile; try again")
            }
            Refused::FromQuarantine => write!(
                f,
                "is quarantined mail, which no module runs: release it from the quarantine instead (once released or deleted it cannot run)"
            ),
        }
    }
}

/// Puts a finished job back in the queue; `why` goes into its trail.
pub async fn retry_job(
    conn: &mut AsyncPgConnection,
    id: i64,
    why: &str,
) -> QueryResult<Result<Job, Refused>> {
    act(conn, id, Action::Retry, Some(why)).await
}

pub async fn cancel_job(
    conn: &mut AsyncPgConnection,
    id: i64,
) -> QueryResult<Result<Job, Refused>> {
    act(conn, id, Action::Cancel, None).await
}

async fn act(
    conn: &mut AsyncPgConnection,
    id: i64,
    action: Action,
    why: Option<&str>,
) -> QueryResult<Result<Job, Refused>> {
    let Some(job) = find_job(conn, id).await? else {
        return Ok(Err(Refused::NotFound));
    };
    if let Err(refused) = allowed(action, &job) {
        return Ok(Err(refused));
    }
    let fenced = jobs::table.find(id).filter(jobs::state.eq(job.state));
    let no_time = None::<DateTime<Utc>>;
    let updated: Option<Job> = match action {
        Action::Retry => {
            diesel::update(fenced)
                .set((
                    jobs::state.eq(JobState::Queued),
                    jobs::attempts.eq(0),
                    jobs::run_after.eq(diesel::dsl::now),
                    jobs::error.eq(None::<String>),
                    jobs::finished_at.eq(no_time),
                    jobs::updated_at.eq(diesel::dsl::now),
                ))
                .returning(Job::as_returning())
                .get_result(conn)
                .await
        }
        Action::Cancel => {
            diesel::update(fenced)
                .set((
                    jobs::state.eq(JobState::Cancelled),
                    jobs::locked_by.eq(None::<String>),
                    jobs::locked_until.eq(no_time),
                    jobs::finished_at.eq(diesel::dsl::now),
                    jobs::updated_at.eq(diesel::dsl::now),
                ))
                .returning(Job::as_returning())
                .get_result(conn)
                .await
        }
    }
    .optional()?;
    let Some(changed) = updated else {
        return Ok(Err(Refused::ChangedConcurrently(job.state)));
    };
    let step = match action {
        Action::Retry => Step::Retry,
        Action::Cancel => Step::Cancel,
    };
    let mut event =
        NewEvent::new(id, step, EventPhase::Info).status(StepStatus::Became(changed.state));
    if let Some(why) = why {
        event = event.message(why);
    }
    record_event(conn, event).await?;
    Ok(Ok(changed))
}

fn allowed(action: Action, job: &Job) -> Result<(), Refused> {
    match action {
        Action::Retry
            if !matches!(
                job.state,
                JobState::Done | JobState::Error | JobState::Cancelled
            ) =>
        {
            Err(Refused::State(action, job.state))
        }
        Action::Retry if (job.category.as_str(), job.job_type.as_str()) == QUARANTINED_TYPE => {
            Err(Refused::FromQuarantine)
        }
        Action::Cancel if job.state.is_final() => Err(Refused::State(action, job.state)),
        _ => Ok(()),
    }
}
