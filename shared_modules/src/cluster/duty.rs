//! Cluster duties: work that must run on one node at a time (the reaper, reconciliation,
//! retention, the sweepers). Each runs only while its node leads, and each run is recorded
//! in `duty_runs` (which node, from when to when), so an operator, or a test, can see they
//! never overlapped.

use super::Leadership;
use crate::db::{DbPool, PooledConn, advisory};
use chrono::{DateTime, Utc};
use diesel::QueryableByName;
use diesel::sql_types::{BigInt, Nullable, Text, Timestamptz};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use serde::Serialize;
use std::future::Future;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

#[derive(QueryableByName)]
struct Id {
    #[diesel(sql_type = BigInt)]
    id: i64,
}

/// Runs `work` as one run of `duty` on this node, fenced by the duty's advisory lock and
/// recorded in `duty_runs`; None when it did not run (another node's run still holds the
/// lock, or this node no longer leads). With no database at all, `work` runs unfenced: it
/// needs the database too, and says so.
pub async fn record_duty<T, E: std::fmt::Display>(
    pool: &DbPool,
    duty: &str,
    leadership: &Leadership,
    work: impl Future<Output = Result<T, E>>,
) -> Option<Result<T, E>> {
    let Ok(mut fence) = pool.get().await else {
        return Some(work.await);
    };
    // Fenced: one run at a time across the cluster, even when a leader that just lost its
    // lease (a stop, a database blip) is still finishing one.
    let key = advisory::lock_key(&format!("duty {duty}"));
    if !advisory::try_lock(&mut fence, key).await {
        return None;
    }
    let outcome = if leadership.is_leader() {
        let id =
            diesel::sql_query("INSERT INTO duty_runs (duty, node) VALUES ($1, $2) RETURNING id")
                .bind::<Text, _>(duty)
                .bind::<Text, _>(leadership.node())
                .get_result::<Id>(&mut fence)
                .await
                .ok()
                .map(|row| row.id);
        let outcome = work.await;
        if let Some(id) = id {
            let error = outcome.as_ref().err().map(|e| e.to_string());
            let _ = diesel::sql_query(
                "UPDATE duty_runs SET finished_at = clock_timestamp(), error = $2 WHERE id = $1",
            )
            .bind::<BigInt, _>(id)
            .bind::<Nullable<Text>, _>(error)
            .execute(&mut fence)
            .await;
            // Kept a week: pruned now and then, by whichever run lands on a round id.
            if id % 500 == 0 {
                let _ = diesel::sql_query(
                    "DELETE FROM duty_runs WHERE started_at < now() - interval '7 days'",
                )
                .execute(&mut fence)
                .await;
            }
        }
        Some(outcome)
    } else {
        None
    };
    advisory::unlock(fence, key).await;
    outcome
}

/// How often a node that does not lead looks whether it does now.
const LEADERSHIP_CHECK: Duration = Duration::from_secs(1);

/// When a duty is next tried: a period after a run, but soon after one that did not run
/// (another node's run still held it, a new leader's predecessor finishing, or the lock
/// could not be asked for): a duty run once an hour must not skip its hour for that. Never
/// sooner than a period shorter than a second.
pub fn next_try(ran: bool, every: Duration) -> Duration {
    if ran {
        every
    } else {
        LEADERSHIP_CHECK.min(every)
    }
}

/// Runs `task` with a pooled connection every `every` while this node leads, until `stop`.
/// A failure (or no connection) is logged as `what` and tried again next time.
pub fn spawn_duty<F, Fut>(
    what: &'static str,
    pool: DbPool,
    every: Duration,
    leadership: Leadership,
    stop: CancellationToken,
    mut task: F,
) -> tokio::task::JoinHandle<()>
where
    F: FnMut(PooledConn) -> Fut + Send + 'static,
    Fut: Future<Output = Result<(), String>> + Send,
{
    tokio::spawn(async move {
        loop {
            // A node that becomes leader runs the duty at once (a dead leader's jobs are
            // requeued without waiting a whole period), then every `every`.
            while !leadership.is_leader() {
                tokio::select! {
                    _ = stop.cancelled() => return,
                    _ = tokio::time::sleep(LEADERSHIP_CHECK.min(every)) => {}
                }
            }
            let result = record_duty(&pool, what, &leadership, async {
                match pool.get().await {
                    Ok(conn) => task(conn).await,
                    Err(e) => Err(e.to_string()),
                }
            })
            .await;
            if let Some(Err(e)) = &result {
                tracing::warn!(error = %e, "{what} could not run");
            }
            tokio::select! {
                _ = stop.cancelled() => return,
                _ = tokio::time::sleep(next_try(result.is_some(), every)) => {}
            }
        }
    })
}

/// One recorded run of a duty.
#[derive(Debug, Clone, Serialize, QueryableByName)]
pub struct DutyRun {
    #[diesel(sql_type = Text)]
    pub duty: String,
    #[diesel(sql_type = Text)]
    pub node: String,
    #[diesel(sql_type = Timestamptz)]
    pub started_at: DateTime<Utc>,
    #[diesel(sql_type = Nullable<Timestamptz>)]
    pub finished_at: Option<DateTime<Utc>>,
}

/// The runs of the last `hours`, oldest first; older ones are dropped on the way.
pub async fn duty_runs(
    conn: &mut AsyncPgConnection,
    hours: i64,
) -> diesel::QueryResult<Vec<DutyRun>> {
    diesel::sql_query("DELETE FROM duty_runs WHERE started_at < now() - interval '7 days'")
        .execute(conn)
        .await?;
    diesel::sql_query(
        "SELECT duty, node, started_at, finished_at FROM duty_runs
         WHERE started_at > now() - make_interval(hours => $1::int) ORDER BY id",
    )
    .bind::<BigInt, _>(hours)
    .load(conn)
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_duty_that_did_not_run_is_tried_within_a_second_never_sooner_than_its_period() {
        let hour = Duration::from_secs(3600);
        assert_eq!(next_try(true, hour), hour);
        assert_eq!(next_try(false, hour), Duration::from_secs(1));
        let fast = Duration::from_millis(200);
        assert_eq!(next_try(false, fast), fast);
        assert_eq!(next_try(true, fast), fast);
    }
}
