//! The reaper: jobs whose lease expired (their worker died or hung) go back to the queue
//! with backoff, or to `error` after `max_attempts`; jobs running past their timeout go to
//! `error` with the reason. Safe to run in several processes at once.

use super::model::JobState;
use super::queue::{QueueSettings, backoff_sql};
use crate::db::DbPool;
use diesel::QueryableByName;
use diesel::sql_types::{Double, Text};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use std::time::Duration;
use tokio_util::sync::CancellationToken;

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct ReapReport {
    pub requeued: usize,
    pub failed: usize,
    pub timed_out: usize,
}

#[derive(QueryableByName)]
struct Reaped {
    #[diesel(sql_type = Text)]
    state: JobState,
}

pub async fn reap_once(
    conn: &mut AsyncPgConnection,
    settings: QueueSettings,
) -> diesel::QueryResult<ReapReport> {
    let timed_out: Vec<Reaped> = diesel::sql_query(
        "WITH reaped AS (
            UPDATE jobs SET state = 'error', error = format('timeout after %s s', timeout_seconds),
                   locked_by = NULL, locked_until = NULL, finished_at = now(), updated_at = now()
            WHERE state = 'running' AND started_at + make_interval(secs => timeout_seconds) < now()
            RETURNING id, state, error)
         INSERT INTO job_events (job_id, step, phase, status, message)
         SELECT id, 'reaper', 'info', state, error FROM reaped
         RETURNING status AS state",
    )
    .load(conn)
    .await?;
    let expired: Vec<Reaped> = diesel::sql_query(concat!(
        "WITH expired AS (
            SELECT id, locked_by FROM jobs
            WHERE state = 'running' AND locked_until < now()
            FOR UPDATE SKIP LOCKED),
         reaped AS (
            UPDATE jobs j SET
                state = CASE WHEN attempts >= max_attempts THEN 'error' ELSE 'queued' END,
                error = format('lease expired: worker %s stopped renewing it (attempt %s of %s)',
                               expired.locked_by, attempts, max_attempts),
                run_after = CASE WHEN attempts >= max_attempts THEN run_after ELSE ",
        backoff_sql!("$1", "$2"),
        " END,
                finished_at = CASE WHEN attempts >= max_attempts THEN now() END,
                locked_by = NULL, locked_until = NULL, updated_at = now()
            FROM expired WHERE j.id = expired.id
            RETURNING j.id, j.state, j.error)
         INSERT INTO job_events (job_id, step, phase, status, message)
         SELECT id, 'reaper', 'info', state, error FROM reaped
         RETURNING status AS state"
    ))
    .bind::<Double, _>(settings.backoff_base_seconds)
    .bind::<Double, _>(settings.backoff_max_seconds)
    .load(conn)
    .await?;
    Ok(ReapReport {
        requeued: expired
            .iter()
            .filter(|r| r.state == JobState::Queued)
            .count(),
        failed: expired
            .iter()
            .filter(|r| r.state == JobState::Error)
            .count(),
        timed_out: timed_out.len(),
    })
}

/// Reaps every `every` while this node leads (a cluster duty: one reaper at a time).
pub fn spawn_reaper(
    pool: DbPool,
    settings: QueueSettings,
    every: Duration,
    leadership: crate::cluster::Leadership,
    stop: CancellationToken,
) -> tokio::task::JoinHandle<()> {
    crate::cluster::spawn_duty(
        "reaper",
        pool,
        every,
        leadership,
        stop,
        move |mut conn| async move {
            let report = reap_once(&mut conn, settings)
                .await
                .map_err(|e| e.to_string())?;
            for (action, n) in [
                ("requeued", report.requeued),
                ("failed", report.failed),
                ("timed_out", report.timed_out),
            ] {
                crate::metrics::reaper_acted(action, n as u64);
            }
            if report != ReapReport::default() {
                tracing::info!(
                    requeued = report.requeued,
                    failed = report.failed,
                    timed_out = report.timed_out,
                    "reaper acted"
                );
            }
            Ok(())
        },
    )
}
