//! The queue operations. Every state change of a running job is fenced by
//! (`locked_by`, `attempts`): a worker whose lease was taken away cannot overwrite the outcome.

use super::events::{EventPhase, NewEvent, record_event};
use super::events::{Step, StepStatus};
use super::model::{Job, JobState, NewJob, job_columns};
use crate::config::JobsConfig;
use crate::db::prepared;
use crate::db::schema::jobs;
use diesel::prelude::*;
use diesel::sql_types::{Array, BigInt, Double, Integer, Jsonb, Nullable, Text};
use diesel_async::{AsyncPgConnection, RunQueryDsl};

/// The numbers the queue needs from `jobs.*` in the config.
#[derive(Debug, Clone, Copy)]
pub struct QueueSettings {
    pub lease_seconds: f64,
    pub backoff_base_seconds: f64,
    pub backoff_max_seconds: f64,
}

impl From<&JobsConfig> for QueueSettings {
    fn from(c: &JobsConfig) -> Self {
        Self {
            lease_seconds: c.lease_seconds,
            backoff_base_seconds: c.backoff_base_seconds,
            backoff_max_seconds: c.backoff_max_seconds,
        }
    }
}

/// Exponential backoff after the `attempts`-th failed attempt: base·2^(attempts−1), capped.
/// Binds: `$base`, `$max` are the two Double parameters named in each query.
macro_rules! backoff_sql {
    ($base:literal, $max:literal) => {
        concat!(
            "now() + make_interval(secs => least(",
            $base,
            " * power(2, greatest(attempts - 1, 0)), ",
            $max,
            "))"
        )
    };
}
pub(crate) use backoff_sql;

pub struct Enqueued {
    pub job: Job,
    /// false when the dedupe key already had a job: that job is returned.
    pub created: bool,
}

/// Inserts a job with its first event in one statement (one commit: this is on the
/// mailhandler's path), or returns the existing job with the same dedupe key.
pub async fn enqueue(conn: &mut AsyncPgConnection, new: &NewJob) -> QueryResult<Enqueued> {
    let inserted: Option<Job> = prepared(diesel::sql_query(concat!(
        "WITH inserted AS (
            INSERT INTO jobs (source, customer, category, job_type, job_group, state, inbox_path, metadata,
                              dedupe_key, max_attempts, timeout_seconds, error)
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)
            ON CONFLICT (dedupe_key) DO NOTHING
            RETURNING ",
        job_columns!(),
        "),
         event AS (
            INSERT INTO job_events (job_id, step, phase, status, message)
            SELECT id, CASE WHEN state = 'quarantined' THEN 'quarantine' ELSE 'enqueue' END, 'info', state, error
            FROM inserted)
         SELECT ",
        job_columns!(),
        " FROM inserted"
    ))
    .bind::<Text, _>(&new.source)
    .bind::<Text, _>(&new.customer)
    .bind::<Text, _>(&new.category)
    .bind::<Text, _>(&new.job_type)
    .bind::<Text, _>(&new.job_group)
    .bind::<Text, _>(new.state)
    .bind::<Nullable<Text>, _>(&new.inbox_path)
    .bind::<Jsonb, _>(&new.metadata)
    .bind::<Nullable<Text>, _>(&new.dedupe_key)
    .bind::<Integer, _>(new.max_attempts)
    .bind::<Integer, _>(new.timeout_seconds)
    .bind::<Nullable<Text>, _>(&new.error))
    .get_result(conn)
    .await
    .optional()?;
    if let Some(job) = inserted {
        return Ok(Enqueued { job, created: true });
    }
    let key = new.dedupe_key.as_deref().unwrap_or_default();
    let job = jobs::table
        .filter(jobs::dedupe_key.eq(key))
        .select(Job::as_select())
        .first(conn)
        .await?;
    Ok(Enqueued {
        job,
        created: false,
    })
}

/// Releases quarantined mail: in one transaction the quarantined job `quarantined` ends as
/// `cancelled` (its result names the new job, its trail says so) and `new` is queued.
/// `Err(NotFound)` when `quarantined` is no longer in quarantine (released concurrently).
pub async fn release_quarantined(
    conn: &mut AsyncPgConnection,
    quarantined: i64,
    new: &NewJob,
) -> QueryResult<Enqueued> {
    use diesel_async::AsyncConnection;
    use diesel_async::scoped_futures::ScopedFutureExt;
    conn.transaction(|tx| {
        async move {
            if end_quarantine(tx, quarantined).await?.is_none() {
                return Err(diesel::result::Error::NotFound);
            }
            let enqueued = enqueue(tx, new).await?;
            diesel::update(jobs::table.find(quarantined))
                .set(jobs::result.eq(serde_json::json!({ "released_as": enqueued.job.id })))
                .execute(tx)
                .await?;
            record_event(
                tx,
                NewEvent::new(quarantined, Step::Release, EventPhase::Info)
                    .status(StepStatus::Became(JobState::Cancelled))
                    .message(format!("released as job {}", enqueued.job.id)),
            )
            .await?;
            Ok(enqueued)
        }
        .scope_boxed()
    })
    .await
}

/// Deletes quarantined mail an operator judged worthless: in one transaction the job ends
/// `cancelled` and its trail says who deleted it. Returns its inbox directory for the
/// caller to remove; None when the job is not in quarantine (any more).
pub async fn discard_quarantined(
    conn: &mut AsyncPgConnection,
    id: i64,
    by: &str,
) -> QueryResult<Option<Option<String>>> {
    use diesel_async::AsyncConnection;
    use diesel_async::scoped_futures::ScopedFutureExt;
    conn.transaction(|tx| {
        async move {
            let inbox = end_quarantine(tx, id).await?;
            if inbox.is_some() {
                record_event(
                    tx,
                    NewEvent::new(id, Step::Quarantine, EventPhase::Info)
                        .status(StepStatus::Deleted)
                        .message(format!("deleted from quarantine by {by}")),
                )
                .await?;
            }
            Ok(inbox)
        }
        .scope_boxed()
    })
    .await
}

/// Ends job `id` as `cancelled` if it is still in quarantine (release and delete both
/// start so): Some(its inbox path), or None when it is not in quarantine (any more).
async fn end_quarantine(
    tx: &mut AsyncPgConnection,
    id: i64,
) -> QueryResult<Option<Option<String>>> {
    diesel::update(
        jobs::table
            .find(id)
            .filter(jobs::state.eq(JobState::Quarantined)),
    )
    .set((
        jobs::state.eq(JobState::Cancelled),
        jobs::finished_at.eq(diesel::dsl::now),
        jobs::updated_at.eq(diesel::dsl::now),
    ))
    .returning(jobs::inbox_path)
    .get_result(tx)
    .await
    .optional()
}

pub async fn find_job(conn: &mut AsyncPgConnection, id: i64) -> QueryResult<Option<Job>> {
    jobs::table
        .find(id)
        .select(Job::as_select())
        .first(conn)
        .await
        .optional()
}

/// Takes up to `limit` of the oldest claimable jobs and leases them to `worker` (each with
/// its `claim` event): one statement and one commit for the batch.
pub async fn claim_batch(
    conn: &mut AsyncPgConnection,
    worker: &str,
    settings: QueueSettings,
    limit: usize,
) -> QueryResult<Vec<Job>> {
    prepared(
        diesel::sql_query(concat!(
            "WITH claimed AS (
            UPDATE jobs SET state = 'running', attempts = attempts + 1, locked_by = $1,
                   locked_until = now() + make_interval(secs => $2), started_at = clock_timestamp(),
                   finished_at = NULL, updated_at = now()
            WHERE id = ANY(ARRAY(SELECT id FROM jobs
                                 WHERE state = 'queued' AND run_after <= now()
                                 ORDER BY run_after, id
                                 LIMIT $3
                                 FOR UPDATE SKIP LOCKED))
            RETURNING ",
            job_columns!(),
            "),
         event AS (
            INSERT INTO job_events (job_id, step, phase, status, worker, message)
            SELECT id, 'claim', 'info', 'running', $1, format('attempt %s of %s', attempts, max_attempts)
            FROM claimed)
         SELECT ",
            job_columns!(),
            " FROM claimed ORDER BY run_after, id"
        ))
        .bind::<Text, _>(worker)
        .bind::<Double, _>(settings.lease_seconds)
        .bind::<BigInt, _>(i64::try_from(limit).unwrap_or(i64::MAX)),
    )
    .load(conn)
    .await
}

/// One running attempt as the heartbeat renews it, with the progress it reported since.
pub struct LeaseRenewal {
    pub job_id: i64,
    pub attempts: i32,
    pub progress: Option<serde_json::Value>,
}

/// Extends the leases of exactly these attempts of `worker` (an attempt that ended is not
/// listed, so its lease runs out) and stores their progress. Returns the job ids whose
/// row is still this attempt's: the others were cancelled, timed out or reaped.
pub async fn renew_leases(
    conn: &mut AsyncPgConnection,
    worker: &str,
    attempts: &[LeaseRenewal],
    settings: QueueSettings,
) -> QueryResult<Vec<i64>> {
    #[derive(QueryableByName)]
    struct Held {
        #[diesel(sql_type = BigInt)]
        id: i64,
    }
    let ids: Vec<i64> = attempts.iter().map(|a| a.job_id).collect();
    let numbers: Vec<i32> = attempts.iter().map(|a| a.attempts).collect();
    let progress: Vec<Option<serde_json::Value>> =
        attempts.iter().map(|a| a.progress.clone()).collect();
    let held: Vec<Held> = prepared(
        diesel::sql_query(
            "UPDATE jobs SET locked_until = now() + make_interval(secs => $2),
                progress = COALESCE(mine.progress, jobs.progress)
         FROM unnest($3::bigint[], $4::int[], $5::jsonb[]) AS mine(id, attempts, progress)
         WHERE jobs.id = mine.id AND jobs.attempts = mine.attempts
           AND jobs.state = 'running' AND jobs.locked_by = $1
         RETURNING jobs.id",
        )
        .bind::<Text, _>(worker)
        .bind::<Double, _>(settings.lease_seconds)
        .bind::<Array<BigInt>, _>(ids)
        .bind::<Array<Integer>, _>(numbers)
        .bind::<Array<Nullable<Jsonb>>, _>(progress),
    )
    .load(conn)
    .await?;
    Ok(held.into_iter().map(|h| h.id).collect())
}

/// Marks a job done with its result summary and where its files went; run inside the
/// transaction of its upserts (which began before the module ran: hence `clock_timestamp()`,
/// not `now()`, the transaction's start, for the finish time). Returns false when the job is no longer this worker's (lease
/// lost, cancelled, timed out).
pub async fn mark_done(
    conn: &mut AsyncPgConnection,
    job: &Job,
    summary: &serde_json::Value,
    archive_path: Option<&str>,
    tmp_path: Option<&str>,
) -> QueryResult<bool> {
    let n = prepared(diesel::sql_query(
        "UPDATE jobs SET state = 'done', result = $4, archive_path = $5, tmp_path = $6, error = NULL,
                locked_by = NULL, locked_until = NULL, finished_at = clock_timestamp(), updated_at = clock_timestamp()
         WHERE id = $1 AND state = 'running' AND locked_by = $2 AND attempts = $3",
    )
    .bind::<BigInt, _>(job.id)
    .bind::<Text, _>(job.locked_by.as_deref().unwrap_or_default())
    .bind::<Integer, _>(job.attempts)
    .bind::<Jsonb, _>(crate::db::storable_json(summary).as_ref())
    .bind::<Nullable<Text>, _>(archive_path)
    .bind::<Nullable<Text>, _>(tmp_path))
    .execute(conn)
    .await?;
    Ok(n == 1)
}

/// Records where this attempt is about to move the job's files, committed on its own before
/// the move: a worker killed between the move and `done` leaves the job pointing at them.
/// Fenced like `mark_done`; false when the job is no longer this attempt's.
pub async fn record_archive_path(
    conn: &mut AsyncPgConnection,
    job: &Job,
    archive_path: &str,
) -> QueryResult<bool> {
    let n = prepared(
        diesel::sql_query(
            "UPDATE jobs SET archive_path = $4, updated_at = clock_timestamp()
         WHERE id = $1 AND state = 'running' AND locked_by = $2 AND attempts = $3",
        )
        .bind::<BigInt, _>(job.id)
        .bind::<Text, _>(job.locked_by.as_deref().unwrap_or_default())
        .bind::<Integer, _>(job.attempts)
        .bind::<Text, _>(archive_path),
    )
    .execute(conn)
    .await?;
    Ok(n == 1)
}

/// Records a failed attempt. A permanent failure, or a transient one on the last attempt,
/// ends in `error`; otherwise the job is queued again after the backoff.
/// Returns the new state, or None when the job was no longer this worker's.
pub async fn mark_failed(
    conn: &mut AsyncPgConnection,
    job: &Job,
    reason: &str,
    permanent: bool,
    settings: QueueSettings,
) -> QueryResult<Option<JobState>> {
    #[derive(QueryableByName)]
    struct NewState {
        #[diesel(sql_type = Text)]
        state: JobState,
    }
    let row: Option<NewState> = prepared(
        diesel::sql_query(concat!(
            "UPDATE jobs SET
            state = CASE WHEN $4 OR attempts >= max_attempts THEN 'error' ELSE 'queued' END,
            finished_at = CASE WHEN $4 OR attempts >= max_attempts THEN clock_timestamp() END,
            run_after = CASE WHEN $4 OR attempts >= max_attempts THEN run_after ELSE ",
            backoff_sql!("$6", "$7"),
            " END,
            error = $5, locked_by = NULL, locked_until = NULL, updated_at = now()
         WHERE id = $1 AND state = 'running' AND locked_by = $2 AND attempts = $3
         RETURNING state"
        ))
        .bind::<BigInt, _>(job.id)
        .bind::<Text, _>(job.locked_by.as_deref().unwrap_or_default())
        .bind::<Integer, _>(job.attempts)
        .bind::<diesel::sql_types::Bool, _>(permanent)
        .bind::<Text, _>(crate::db::storable(reason.to_string()))
        .bind::<Double, _>(settings.backoff_base_seconds)
        .bind::<Double, _>(settings.backoff_max_seconds),
    )
    .get_result(conn)
    .await
    .optional()?;
    Ok(row.map(|r| r.state))
}

/// The category and type a quarantined mail's job carries: no routing rule gave it one, and
/// no module handles it (release makes a new job of the mail instead).
pub const QUARANTINED_TYPE: (&str, &str) = ("unknown", "unknown");

/// The job holding a dedupe key: (id, state, inbox path).
pub async fn job_for_key(
    conn: &mut AsyncPgConnection,
    key: &str,
) -> QueryResult<Option<(i64, JobState, Option<String>)>> {
    jobs::table
        .filter(jobs::dedupe_key.eq(key))
        .select((jobs::id, jobs::state, jobs::inbox_path))
        .first(conn)
        .await
        .optional()
}
