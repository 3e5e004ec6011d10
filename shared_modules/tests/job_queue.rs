//! The job engine against the real Postgres: claiming, completion, failures, backoff,
//! timeouts, NOTIFY wake-ups and crash recovery.

#![allow(clippy::unwrap_used)] // tests fail loudly on any unexpected error

use diesel::QueryDsl;
use diesel::sql_types::BigInt;
use diesel_async::RunQueryDsl;
use serde_json::json;
use shared_modules::db::DbPool;
use shared_modules::jobs::{QueueSettings, claim_batch, enqueue, events_of, mark_done, reap_once};
use shared_modules::testing::{
    TestDb, add_job as add, effect_runs, job_by_id as job, sleep_job, sleep_registry,
    start_workers, test_config, wait_for, wait_job_state as wait_state,
};
use std::time::Duration;

use shared_modules::testing::queue_test_setup as setup;

#[tokio::test]
async fn a_dedupe_key_makes_one_job_however_often_it_is_enqueued() {
    let (_db, pool, _dir) = setup().await;
    let mut conn = pool.get().await.unwrap();
    let mut new = sleep_job(json!({}));
    new.dedupe_key = Some("msgid:<a@b>/rcpt".into());
    let first = enqueue(&mut conn, &new).await.unwrap();
    let second = enqueue(&mut conn, &new).await.unwrap();
    assert!(first.created && !second.created);
    assert_eq!(first.job.id, second.job.id);
}

/// The queue's statements are prepared once per connection: a column added meanwhile (a
/// newer node's migration during a rolling upgrade) must not break the ones cached.
#[tokio::test]
async fn prepared_queue_statements_outlive_a_column_added_by_a_newer_schema() {
    let (_db, pool, _dir) = setup().await;
    let mut conn = pool.get().await.unwrap();
    let settings = QueueSettings {
        lease_seconds: 30.0,
        backoff_base_seconds: 1.0,
        backoff_max_seconds: 1.0,
    };
    enqueue(&mut conn, &sleep_job(json!({}))).await.unwrap();
    let claimed = claim_batch(&mut conn, "w1", settings, 5).await.unwrap();
    assert_eq!(claimed.len(), 1);
    diesel::sql_query("ALTER TABLE jobs ADD COLUMN added_by_a_newer_release text")
        .execute(&mut conn)
        .await
        .unwrap();
    let second = enqueue(&mut conn, &sleep_job(json!({}))).await.unwrap();
    assert!(second.created);
    let claimed = claim_batch(&mut conn, "w1", settings, 5).await.unwrap();
    assert_eq!(claimed.len(), 1);
    assert!(
        mark_done(&mut conn, &claimed[0], &json!({}), None, None)
            .await
            .unwrap()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn many_workers_over_many_jobs_run_each_job_exactly_once() {
    let (db, pool, dir) = setup().await;
    let config = test_config(&db.url, dir.path());
    let mut ids = Vec::new();
    for i in 0..150 {
        ids.push(add(&pool, sleep_job(json!({ "sleep_ms": i % 7 }))).await);
    }
    // Three independent pools (as three processes would be), four workers each.
    let pools: Vec<_> = (0..3)
        .map(|_| start_workers(&config, &db.pool(), sleep_registry(), true))
        .collect();
    for id in &ids {
        wait_state(&pool, *id, "done", Duration::from_secs(60)).await;
    }
    for id in &ids {
        assert_eq!(
            effect_runs(&pool, *id).await,
            1,
            "job {id} ran its effects once"
        );
        assert_eq!(
            job(&pool, *id).await.attempts,
            1,
            "job {id} was claimed once"
        );
    }
    // Claims by distinct workers prove the pools competed rather than one doing all.
    let mut conn = pool.get().await.unwrap();
    #[derive(diesel::QueryableByName)]
    struct N {
        #[diesel(sql_type = BigInt)]
        n: i64,
    }
    let workers: N = diesel::sql_query(
        "SELECT count(DISTINCT worker) AS n FROM job_events WHERE step = 'claim'",
    )
    .get_result(&mut conn)
    .await
    .unwrap();
    assert!(workers.n >= 2, "only {} worker claimed jobs", workers.n);
    for p in pools {
        p.stop.cancel();
        p.pool_handle.await.unwrap();
    }
}

#[tokio::test]
async fn transient_failures_back_off_and_stop_at_max_attempts() {
    let (db, pool, dir) = setup().await;
    let mut config = test_config(&db.url, dir.path());
    config.jobs.backoff_base_seconds = 0.3;
    let id = add(&pool, sleep_job(json!({ "fail": "transient" }))).await;
    let w = start_workers(&config, &pool, sleep_registry(), false);
    let ended = wait_state(&pool, id, "error", Duration::from_secs(20)).await;
    assert_eq!(ended.attempts, 3);
    assert_eq!(ended.error.as_deref(), Some("simulated transient failure"));
    let mut conn = pool.get().await.unwrap();
    let claims: Vec<_> = events_of(&mut conn, id)
        .await
        .unwrap()
        .into_iter()
        .filter(|e| e.step == "claim")
        .collect();
    assert_eq!(claims.len(), 3);
    // Backoff 0.3 s after the first failure, 0.6 s after the second.
    let gap1 = (claims[1].at - claims[0].at).num_milliseconds();
    let gap2 = (claims[2].at - claims[1].at).num_milliseconds();
    assert!(gap1 >= 300, "first backoff was {gap1} ms");
    assert!(gap2 >= 600, "second backoff was {gap2} ms");
    w.stop.cancel();
}

#[tokio::test]
async fn a_transient_failure_then_success_completes_and_keeps_the_effect_once() {
    let (db, pool, dir) = setup().await;
    let config = test_config(&db.url, dir.path());
    let id = add(
        &pool,
        sleep_job(json!({ "fail": "transient", "fail_attempts": 1 })),
    )
    .await;
    let w = start_workers(&config, &pool, sleep_registry(), false);
    let done = wait_state(&pool, id, "done", Duration::from_secs(10)).await;
    assert_eq!(done.attempts, 2);
    assert_eq!(done.error, None);
    assert_eq!(done.result, Some(json!({ "slept_ms": 0 })));
    assert_eq!(effect_runs(&pool, id).await, 1);
    w.stop.cancel();
}

#[tokio::test]
async fn a_permanent_failure_is_not_retried() {
    let (db, pool, dir) = setup().await;
    let config = test_config(&db.url, dir.path());
    let id = add(&pool, sleep_job(json!({ "fail": "permanent" }))).await;
    let w = start_workers(&config, &pool, sleep_registry(), false);
    let ended = wait_state(&pool, id, "error", Duration::from_secs(10)).await;
    assert_eq!(ended.attempts, 1);
    assert_eq!(ended.error.as_deref(), Some("simulated bad input"));
    assert_eq!(
        effect_runs(&pool, id).await,
        0,
        "a failed attempt rolls back its rows"
    );
    w.stop.cancel();
}

#[tokio::test]
async fn an_unknown_type_is_a_permanent_error_naming_the_type() {
    let (db, pool, dir) = setup().await;
    let config = test_config(&db.url, dir.path());
    let mut new = sleep_job(json!({}));
    new.job_type = "nonsense".into();
    let id = add(&pool, new).await;
    let w = start_workers(&config, &pool, sleep_registry(), false);
    let ended = wait_state(&pool, id, "error", Duration::from_secs(10)).await;
    assert!(
        ended
            .error
            .unwrap()
            .contains("no module handles test/nonsense")
    );
    w.stop.cancel();
}

#[tokio::test]
async fn a_job_past_its_timeout_is_stopped_with_the_reason() {
    let (db, pool, dir) = setup().await;
    let config = test_config(&db.url, dir.path());
    let mut new = sleep_job(json!({ "sleep_ms": 30_000 }));
    new.timeout_seconds = 1;
    let id = add(&pool, new).await;
    let w = start_workers(&config, &pool, sleep_registry(), false);
    let ended = wait_state(&pool, id, "error", Duration::from_secs(10)).await;
    assert_eq!(ended.error.as_deref(), Some("timeout after 1 s"));
    assert_eq!(ended.attempts, 1, "a timeout is not retried");
    assert_eq!(effect_runs(&pool, id).await, 0);
    w.stop.cancel();
}

#[tokio::test]
async fn the_reaper_fails_jobs_past_their_timeout_and_requeues_expired_leases() {
    let (_db, pool, _dir) = setup().await;
    let mut conn = pool.get().await.unwrap();
    let mut stuck = sleep_job(json!({}));
    stuck.timeout_seconds = 5;
    let timed_out = add(&pool, stuck).await;
    let orphaned = add(&pool, sleep_job(json!({}))).await;
    let exhausted = add(&pool, sleep_job(json!({}))).await;
    // As a hung worker (past timeout), a dead one (lease expired) and a dead one on its last attempt.
    diesel::sql_query(
        "UPDATE jobs SET state = 'running', attempts = 1, locked_by = 'gone:1:0',
                started_at = now() - interval '10 s', locked_until = now() + interval '1 min' WHERE id = $1",
    )
    .bind::<BigInt, _>(timed_out)
    .execute(&mut conn)
    .await
    .unwrap();
    diesel::sql_query(
        "UPDATE jobs SET state = 'running', attempts = CASE WHEN id = $2 THEN 3 ELSE 1 END,
                locked_by = 'gone:1:0', started_at = now(), locked_until = now() - interval '1 s'
         WHERE id IN ($1, $2)",
    )
    .bind::<BigInt, _>(orphaned)
    .bind::<BigInt, _>(exhausted)
    .execute(&mut conn)
    .await
    .unwrap();
    let settings = QueueSettings {
        lease_seconds: 2.0,
        backoff_base_seconds: 0.1,
        backoff_max_seconds: 1.0,
    };
    let report = reap_once(&mut conn, settings).await.unwrap();
    assert_eq!(
        (report.timed_out, report.requeued, report.failed),
        (1, 1, 1)
    );
    assert_eq!(
        job(&pool, timed_out).await.error.as_deref(),
        Some("timeout after 5 s")
    );
    let requeued = job(&pool, orphaned).await;
    assert_eq!(requeued.state, "queued");
    assert!(
        requeued
            .error
            .unwrap()
            .contains("lease expired: worker gone:1:0")
    );
    let failed = job(&pool, exhausted).await;
    assert_eq!(failed.state, "error");
    assert!(failed.error.unwrap().contains("attempt 3 of 3"));
    assert_eq!(
        reap_once(&mut conn, settings).await.unwrap(),
        Default::default(),
        "a second pass finds nothing"
    );
}

/// Waits until this database has a backend listening for jobs (the worker's listener) other
/// than `not_pid`; returns its pid.
async fn wait_listening(db: &TestDb, pool: &DbPool, not_pid: i32) -> i32 {
    let name = db.name.clone();
    wait_for("the listener to LISTEN", Duration::from_secs(20), || async {
        let mut conn = pool.get().await.unwrap();
        #[derive(diesel::QueryableByName)]
        struct Pid {
            #[diesel(sql_type = diesel::sql_types::Integer)]
            pid: i32,
        }
        let pids: Vec<Pid> = diesel::sql_query(
            "SELECT pid FROM pg_stat_activity WHERE datname = $1 AND query ILIKE 'LISTEN %' AND state = 'idle'",
        )
        .bind::<diesel::sql_types::Text, _>(&name)
        .load(&mut conn)
        .await
        .unwrap();
        pids.into_iter().map(|p| p.pid).find(|p| *p != not_pid)
    })
    .await
}

async fn start_delay_ms(pool: &DbPool, id: i64, phase: &str) -> i64 {
    let started = wait_for(
        &format!("the job to start ({phase})"),
        Duration::from_secs(20),
        || async {
            let j = job(pool, id).await;
            j.started_at.map(|s| (s, j.created_at))
        },
    )
    .await;
    (started.0 - started.1).num_milliseconds()
}

#[tokio::test]
async fn an_idle_worker_starts_a_new_job_through_notify_not_the_poll_and_after_a_reconnect() {
    let (db, pool, dir) = setup().await;
    let mut config = test_config(&db.url, dir.path());
    config.workers.poll_interval_seconds = 30.0; // the poll cannot be what wakes it
    let w = start_workers(&config, &pool, sleep_registry(), false);
    let listener = wait_listening(&db, &pool, 0).await;
    let id = add(&pool, sleep_job(json!({}))).await;
    let delay = start_delay_ms(&pool, id, "first listener").await;
    assert!(delay < 1000, "job started {delay} ms after it was queued");

    // Kill the listener's connection, as a Postgres restart would; it must come back.
    let mut conn = pool.get().await.unwrap();
    diesel::sql_query(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database() AND query ILIKE 'LISTEN %'",
    )
    .execute(&mut conn)
    .await
    .unwrap();
    wait_listening(&db, &pool, listener).await;
    let id = add(&pool, sleep_job(json!({}))).await;
    let delay = start_delay_ms(&pool, id, "after the reconnect").await;
    assert!(
        delay < 1000,
        "after reconnect, job started {delay} ms after it was queued"
    );
    w.stop.cancel();
    w.pool_handle.await.unwrap();
}

#[tokio::test]
async fn stopping_the_pool_lets_a_running_job_finish() {
    let (db, pool, dir) = setup().await;
    let config = test_config(&db.url, dir.path());
    let id = add(&pool, sleep_job(json!({ "sleep_ms": 800 }))).await;
    let w = start_workers(&config, &pool, sleep_registry(), false);
    wait_state(&pool, id, "running", Duration::from_secs(10)).await;
    w.stop.cancel();
    w.pool_handle.await.unwrap();
    assert_eq!(
        job(&pool, id).await.state,
        "done",
        "the pool returned only after the job finished"
    );
    let job = job(&pool, id).await;
    let took = job.finished_at.unwrap() - job.started_at.unwrap();
    assert!(
        took.num_milliseconds() >= 800,
        "finished_at is when the job ended, not when its transaction began: {took}"
    );
    // Each step is stamped when it happened, though the trail is written at the end.
    let mut conn = pool.get().await.unwrap();
    let events = events_of(&mut conn, id).await.unwrap();
    let at = |step: &str, phase: &str| {
        events
            .iter()
            .find(|e| e.step == step && e.phase == phase)
            .unwrap()
            .at
    };
    let module_took = at("module", "exit") - at("run", "enter");
    assert!(
        module_took.num_milliseconds() >= 800,
        "the module's exit is stamped when it ended: {module_took}"
    );
}

#[tokio::test]
async fn releasing_quarantined_mail_cancels_it_and_queues_its_new_job_in_one_transaction() {
    let (_db, pool, _dir) = setup().await;
    let mut quarantined = sleep_job(json!({}));
    quarantined.state = shared_modules::jobs::JobState::Quarantined;
    let old = add(&pool, quarantined).await;
    let mut conn = pool.get().await.unwrap();
    let mut new = sleep_job(json!({}));
    new.dedupe_key = Some(format!("release:{old}"));
    let released = shared_modules::jobs::release_quarantined(&mut conn, old, &new)
        .await
        .unwrap();
    let old_job = job(&pool, old).await;
    assert_eq!(old_job.state, "cancelled");
    assert_eq!(old_job.result.unwrap()["released_as"], released.job.id);
    assert_eq!(job(&pool, released.job.id).await.state, "queued");
    let trail = events_of(&mut conn, old).await.unwrap();
    assert!(trail.iter().any(|e| e.step == "release"));

    // A second release finds nothing in quarantine and writes nothing.
    let mut again = sleep_job(json!({}));
    again.dedupe_key = Some(format!("release-again:{old}"));
    let err = shared_modules::jobs::release_quarantined(&mut conn, old, &again)
        .await
        .err()
        .expect("nothing left to release");
    assert_eq!(err, diesel::result::Error::NotFound);
    let jobs: i64 = shared_modules::db::schema::jobs::table
        .count()
        .get_result(&mut conn)
        .await
        .unwrap();
    assert_eq!(jobs, 2, "the refused release created no job");
}

/// A job made of quarantined mail has no module to run it: once it has left the quarantine
/// (cancelled by release or delete) a retry is refused with the reason, through the one
/// function the API, dpctl and the console all call, instead of failing with "no module
/// handles unknown/unknown".
#[tokio::test]
async fn a_job_that_left_the_quarantine_is_not_retried() {
    let (_db, pool, _dir) = setup().await;
    let mut quarantined = sleep_job(json!({}));
    (quarantined.category, quarantined.job_type) = (
        shared_modules::jobs::QUARANTINED_TYPE.0.into(),
        shared_modules::jobs::QUARANTINED_TYPE.1.into(),
    );
    quarantined.state = shared_modules::jobs::JobState::Cancelled;
    let id = add(&pool, quarantined).await;
    let mut conn = pool.get().await.unwrap();
    let refused = shared_modules::jobs::retry_job(&mut conn, id, "test")
        .await
        .unwrap();
    assert_eq!(
        refused.unwrap_err(),
        shared_modules::jobs::Refused::FromQuarantine
    );
    assert_eq!(
        job(&pool, id).await.state,
        shared_modules::jobs::JobState::Cancelled
    );
    let done = add(&pool, sleep_job(json!({}))).await;
    let refused = shared_modules::jobs::retry_job(&mut conn, done, "test")
        .await
        .unwrap()
        .unwrap_err()
        .to_string();
    assert!(refused.starts_with("is queued; only done"), "{refused}");
}
