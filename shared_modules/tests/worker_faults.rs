//! A worker outlives whatever its jobs do: a module that panics, a job cancelled while it
//! runs, an attempt whose outcome could not be recorded. Against the real Postgres.

#![allow(clippy::unwrap_used)] // tests fail loudly on any unexpected error

use diesel_async::RunQueryDsl;
use serde_json::json;
use shared_modules::jobs::{DuplicateHandler, JobState, Registry, cancel_job};
use shared_modules::testing::{
    SleepHandler, add_job, effect_runs, job_by_id, sleep_job, sleep_registry, start_workers,
    test_config, wait_for, wait_job_state,
};
use std::time::Duration;

use shared_modules::testing::queue_test_setup as setup;

#[tokio::test]
async fn a_panicking_module_fails_its_job_for_good_and_the_worker_goes_on() {
    let (db, pool, dir) = setup().await;
    let mut config = test_config(&db.url, dir.path());
    config.workers.concurrency = 1;
    let workers = start_workers(&config, &pool, sleep_registry(), false);
    let mut panics = Vec::new();
    for i in 0..3 {
        let id = add_job(&pool, sleep_job(json!({ "panic": format!("boom {i}") }))).await;
        panics.push(id);
    }
    let normal = add_job(&pool, sleep_job(json!({}))).await;
    for (i, id) in panics.iter().enumerate() {
        let job = wait_job_state(&pool, *id, "error", Duration::from_secs(20)).await;
        let error = job.error.unwrap_or_default();
        assert!(
            error.contains("panicked") && error.contains(&format!("boom {i}")),
            "the error names the panic: {error}"
        );
        assert_eq!(job.attempts, 1, "a panic is not retried");
        assert_eq!(effect_runs(&pool, *id).await, 0);
    }
    wait_job_state(&pool, normal, "done", Duration::from_secs(20)).await;
    assert_eq!(effect_runs(&pool, normal).await, 1);
    workers.stop.cancel();
}

/// The worker could not record an attempt's outcome (the database was away) and moved on:
/// its heartbeat must not keep that job's lease alive, so the reaper can requeue it.
#[tokio::test]
async fn an_attempt_this_worker_abandoned_is_not_renewed_and_the_reaper_requeues_it() {
    let (db, pool, dir) = setup().await;
    let mut config = test_config(&db.url, dir.path());
    config.jobs.lease_seconds = 1.5;
    config.jobs.reaper_interval_seconds = 0.3;
    config.jobs.backoff_base_seconds = 0.1;
    let workers = start_workers(&config, &pool, sleep_registry(), true);
    // As the row stays when recording the failure gave up: running, leased to this worker
    // (inserted as running, so no worker claims it first).
    let mut abandoned = sleep_job(json!({}));
    abandoned.state = JobState::Running;
    let id = add_job(&pool, abandoned).await;
    let mut conn = pool.get().await.unwrap();
    diesel::sql_query(
        "UPDATE jobs SET attempts = 1, locked_by = $2,
                locked_until = now() + interval '1 second', started_at = now()
         WHERE id = $1",
    )
    .bind::<diesel::sql_types::BigInt, _>(id)
    .bind::<diesel::sql_types::Text, _>(&workers.worker_id)
    .execute(&mut conn)
    .await
    .unwrap();
    let job = wait_job_state(&pool, id, "done", Duration::from_secs(20)).await;
    assert_eq!(job.attempts, 2, "requeued once by the reaper, then run");
    workers.stop.cancel();
}

#[tokio::test]
async fn cancelling_a_running_job_stops_its_work_and_frees_the_worker() {
    let (db, pool, dir) = setup().await;
    let mut config = test_config(&db.url, dir.path());
    config.workers.concurrency = 1;
    let workers = start_workers(&config, &pool, sleep_registry(), false);
    let long = add_job(&pool, sleep_job(json!({ "sleep_ms": 60_000 }))).await;
    wait_job_state(&pool, long, "running", Duration::from_secs(20)).await;
    let next = add_job(&pool, sleep_job(json!({}))).await;
    let mut conn = pool.get().await.unwrap();
    cancel_job(&mut conn, long).await.unwrap().unwrap();
    // The only worker slot comes back long before the cancelled job's 60 s sleep ends.
    wait_job_state(&pool, next, "done", Duration::from_secs(10)).await;
    assert_eq!(job_by_id(&pool, long).await.state, "cancelled");
    assert_eq!(
        effect_runs(&pool, long).await,
        0,
        "the cancelled work left no rows"
    );
    workers.stop.cancel();
}

#[tokio::test]
async fn a_running_job_shows_its_progress() {
    let (db, pool, dir) = setup().await;
    let config = test_config(&db.url, dir.path());
    let workers = start_workers(&config, &pool, sleep_registry(), false);
    let id = add_job(&pool, sleep_job(json!({ "sleep_ms": 4_000 }))).await;
    let progress = wait_for(
        "the running job's progress",
        Duration::from_secs(10),
        || async {
            let job = job_by_id(&pool, id).await;
            (job.state == "running").then_some(job.progress).flatten()
        },
    )
    .await;
    assert_eq!(progress, json!({ "sleeping_ms": 4000 }));
    workers.stop.cancel();
}

#[test]
fn the_registry_refuses_a_second_handler_for_a_type() {
    let mut registry = Registry::new();
    registry.register("test", "sleep", SleepHandler).unwrap();
    let refused: DuplicateHandler = registry
        .register("test", "sleep", SleepHandler)
        .err()
        .expect("a duplicate is refused");
    assert_eq!(
        refused.to_string(),
        "a handler for test/sleep is already registered"
    );
}
