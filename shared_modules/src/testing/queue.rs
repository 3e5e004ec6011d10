//! The job queue under test: a sleeping handler whose effects are counted, a pool of workers,
//! and the reads a queue test asserts on.

use super::{TestDb, wait_for};
use crate::config::Config;
use crate::db::DbPool;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

/// A handler for queue tests. Reads the job's metadata: sleeps `sleep_ms`, panics with
/// `panic` (a message) if given, fails with
/// `fail` = `"transient"` or `"permanent"` while `attempts <= fail_attempts` (default: always),
/// then counts one effect per job in `test_effects` inside the job's transaction, so a
/// rolled-back or duplicated run is visible.
pub struct SleepHandler;

pub const TEST_EFFECTS_TABLE: &str =
    "CREATE TABLE IF NOT EXISTS test_effects (job_id BIGINT PRIMARY KEY, runs INTEGER NOT NULL)";

impl crate::jobs::JobHandler for SleepHandler {
    async fn run(
        &self,
        ctx: &crate::jobs::JobContext,
        conn: &mut diesel_async::AsyncPgConnection,
    ) -> Result<serde_json::Value, crate::jobs::JobFailure> {
        {
            use diesel_async::RunQueryDsl;
            let meta = &ctx.job.metadata;
            let sleep_ms = meta["sleep_ms"].as_u64().unwrap_or(0);
            ctx.progress(serde_json::json!({ "sleeping_ms": sleep_ms }));
            tokio::time::sleep(Duration::from_millis(sleep_ms)).await;
            if let Some(message) = meta["panic"].as_str() {
                panic!("{message}");
            }
            let fail_attempts = meta["fail_attempts"].as_i64().unwrap_or(i64::MAX);
            if i64::from(ctx.job.attempts) <= fail_attempts {
                match meta["fail"].as_str() {
                    Some("transient") => {
                        return Err(crate::jobs::JobFailure::transient(
                            "simulated transient failure",
                        ));
                    }
                    Some("permanent") => {
                        return Err(crate::jobs::JobFailure::permanent("simulated bad input"));
                    }
                    _ => {}
                }
            }
            diesel::sql_query(
                "INSERT INTO test_effects (job_id, runs) VALUES ($1, 1)
                 ON CONFLICT (job_id) DO UPDATE SET runs = test_effects.runs + 1",
            )
            .bind::<diesel::sql_types::BigInt, _>(ctx.job.id)
            .execute(conn)
            .await?;
            Ok(serde_json::json!({ "slept_ms": sleep_ms }))
        }
    }
}

/// A queued job of type `test/sleep` with the given metadata.
pub fn sleep_job(metadata: serde_json::Value) -> crate::jobs::NewJob {
    crate::jobs::NewJob {
        source: crate::jobs::JobSource::Manual,
        customer: "test_customer".into(),
        category: "test".into(),
        job_type: "sleep".into(),
        job_group: "g1".into(),
        state: crate::jobs::JobState::Queued,
        inbox_path: None,
        metadata,
        dedupe_key: None,
        max_attempts: 3,
        timeout_seconds: 60,
        error: None,
    }
}

/// A fresh database with the `test_effects` table `SleepHandler` writes, its pool, and a
/// temporary data root: what a queue test starts from.
pub async fn queue_test_setup() -> (TestDb, DbPool, tempfile::TempDir) {
    use diesel_async::RunQueryDsl;
    let db = TestDb::new().await;
    let pool = db.pool();
    let mut conn = pool.get().await.unwrap();
    diesel::sql_query(TEST_EFFECTS_TABLE)
        .execute(&mut conn)
        .await
        .unwrap();
    (db, pool, tempfile::tempdir().unwrap())
}

/// The job as stored now.
pub async fn job_by_id(pool: &DbPool, id: i64) -> crate::jobs::Job {
    let mut conn = pool.get().await.unwrap();
    crate::jobs::find_job(&mut conn, id)
        .await
        .unwrap()
        .expect("job exists")
}

/// Enqueues `new`; its id.
pub async fn add_job(pool: &DbPool, new: crate::jobs::NewJob) -> i64 {
    let mut conn = pool.get().await.unwrap();
    crate::jobs::enqueue(&mut conn, &new).await.unwrap().job.id
}

/// Waits until job `id` is in `state`.
pub async fn wait_job_state(
    pool: &DbPool,
    id: i64,
    state: &str,
    within: Duration,
) -> crate::jobs::Job {
    wait_for(&format!("job {id} to be {state}"), within, || async {
        let j = job_by_id(pool, id).await;
        (j.state == state).then_some(j)
    })
    .await
}

/// How often `SleepHandler` counted job `id`'s effect (0: never committed).
pub async fn effect_runs(pool: &DbPool, id: i64) -> i32 {
    #[derive(diesel::QueryableByName)]
    struct Runs {
        #[diesel(sql_type = diesel::sql_types::Integer)]
        runs: i32,
    }
    let mut conn = pool.get().await.unwrap();
    {
        use diesel_async::RunQueryDsl;
        diesel::sql_query("SELECT runs FROM test_effects WHERE job_id = $1")
            .bind::<diesel::sql_types::BigInt, _>(id)
            .get_result::<Runs>(&mut conn)
            .await
            .map(|r| r.runs)
            .unwrap_or(0)
    }
}

/// A worker pool, its listener and (optionally) a reaper running inside the test.
pub struct RunningWorkers {
    pub stop: tokio_util::sync::CancellationToken,
    pub pool_handle: tokio::task::JoinHandle<()>,
    pub worker_id: String,
}

pub fn start_workers(
    config: &Config,
    pool: &DbPool,
    registry: crate::jobs::Registry,
    with_reaper: bool,
) -> RunningWorkers {
    use crate::jobs::{QueueSettings, WorkerPool, spawn_listener, spawn_reaper, worker_identity};
    use std::sync::Arc;
    let stop = tokio_util::sync::CancellationToken::new();
    let wake = Arc::new(tokio::sync::Notify::new());
    spawn_listener(config.database.url.clone(), wake.clone(), stop.clone());
    if with_reaper {
        let every = Duration::from_secs_f64(config.jobs.reaper_interval_seconds);
        spawn_reaper(
            pool.clone(),
            QueueSettings::from(&config.jobs),
            every,
            crate::cluster::Leadership::alone("test"),
            stop.clone(),
        );
    }
    let worker_id = format!(
        "{}:{}",
        worker_identity(&config.node_name()),
        COUNTER_WORKERS.fetch_add(1, Ordering::SeqCst)
    );
    let workers = Arc::new(WorkerPool::new(
        Arc::new(config.clone()),
        pool.clone(),
        Arc::new(registry),
        wake,
        worker_id.clone(),
    ));
    let pool_handle = tokio::spawn(workers.run(stop.clone()));
    RunningWorkers {
        stop,
        pool_handle,
        worker_id,
    }
}

static COUNTER_WORKERS: AtomicU32 = AtomicU32::new(0);

/// A registry holding only `test/sleep` → [`SleepHandler`].
pub fn sleep_registry() -> crate::jobs::Registry {
    let mut registry = crate::jobs::Registry::new();
    registry
        .register("test", "sleep", SleepHandler)
        .expect("one handler for test/sleep");
    registry
}
