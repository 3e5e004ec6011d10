//! A worker process killed with SIGKILL in the middle of a job: the reaper rescues the job
//! and another worker completes it exactly once.

#![allow(clippy::unwrap_used)] // tests fail loudly on any unexpected error

use diesel_async::RunQueryDsl;
use serde_json::json;
use shared_modules::jobs::{enqueue, events_of, find_job};
use shared_modules::testing::{sleep_job, sleep_registry, start_workers, test_config, wait_for};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Duration;

/// `target/<profile>/examples/sleepy_worker`, built by `cargo test` beside this test binary.
fn sleepy_worker_binary() -> PathBuf {
    let exe = std::env::current_exe().expect("test binary path");
    let profile_dir = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("target/<profile>");
    let binary = profile_dir.join("examples").join("sleepy_worker");
    assert!(
        binary.exists(),
        "{} is missing: run the tests with `cargo test` (it builds examples)",
        binary.display()
    );
    binary
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_of_a_killed_worker_is_rescued_and_completed_once() {
    let (db, pool, dir) = shared_modules::testing::queue_test_setup().await;
    let mut conn = pool.get().await.unwrap();
    let config = test_config(&db.url, dir.path());
    let config_path = dir.path().join("config.json");
    std::fs::write(&config_path, serde_json::to_string(&config).unwrap()).unwrap();

    let id = enqueue(&mut conn, &sleep_job(json!({ "sleep_ms": 1500 })))
        .await
        .unwrap()
        .job
        .id;
    let mut child = Command::new(sleepy_worker_binary())
        .env("DATAPROCESSOR_CONFIG", &config_path)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .spawn()
        .expect("start the worker process");
    let child_pid = format!(":{}:", child.id());
    wait_for(
        "the child to claim the job",
        Duration::from_secs(20),
        || async {
            let mut conn = pool.get().await.unwrap();
            let job = find_job(&mut conn, id).await.unwrap().unwrap();
            job.locked_by.filter(|w| w.contains(&child_pid)).map(|_| ())
        },
    )
    .await;
    child.kill().expect("SIGKILL the worker"); // Child::kill sends SIGKILL on Unix
    child.wait().unwrap();

    let rescuer = start_workers(&config, &pool, sleep_registry(), true);
    let done = wait_for(
        "the job to be done by the rescuer",
        Duration::from_secs(30),
        || async {
            let mut conn = pool.get().await.unwrap();
            let job = find_job(&mut conn, id).await.unwrap().unwrap();
            (job.state == "done").then_some(job)
        },
    )
    .await;
    assert_eq!(
        done.attempts, 2,
        "one attempt by the killed worker, one by the rescuer"
    );
    #[derive(diesel::QueryableByName)]
    struct Runs {
        #[diesel(sql_type = diesel::sql_types::Integer)]
        runs: i32,
    }
    let runs: Runs = diesel::sql_query("SELECT runs FROM test_effects WHERE job_id = $1")
        .bind::<diesel::sql_types::BigInt, _>(id)
        .get_result(&mut conn)
        .await
        .unwrap();
    assert_eq!(runs.runs, 1, "the killed attempt committed nothing");
    let events = events_of(&mut conn, id).await.unwrap();
    let reaper = events
        .iter()
        .find(|e| e.step == "reaper")
        .expect("a reaper event");
    assert_eq!(reaper.status.as_deref(), Some("queued"));
    assert!(
        reaper.message.as_deref().unwrap().contains(&child_pid),
        "{:?}",
        reaper.message
    );
    rescuer.stop.cancel();
    rescuer.pool_handle.await.unwrap();
}
