//! A completed upload's job is owed whatever stops serve: `kill -9` or SIGTERM right after
//! the 200, or the database failing under the auto trigger, and the job is made within
//! seconds of serve (or the database) being back, not by reconciliation an hour later.

#![allow(clippy::unwrap_used)] // tests fail loudly on any unexpected error

mod common;

use common::*;
use diesel_async::SimpleAsyncConnection;
use serde_json::Value;
use shared_modules::config::Config;
use shared_modules::testing::{DbProxy, TestDb, wait_for};
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

/// The upload jobs at `api`, newest first.
fn upload_jobs(api: &str) -> Vec<Value> {
    api_get(&format!("{api}/jobs?type=veritas2hview"))["jobs"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

/// The only upload job, once it exists, and how long it took from `since`. Within 30 s:
/// reconciliation would queue it only after `s3.untriggered_after_minutes` (60).
async fn the_job(api: &str, since: Instant, what: &str) -> (Value, Duration) {
    let job = wait_for(what, Duration::from_secs(30), || async {
        upload_jobs(api).into_iter().next()
    })
    .await;
    (job, since.elapsed())
}

/// An embedded-mode serve whose database goes through `proxy`, logging to `dir/logs`.
fn config_through(proxy: &DbProxy, db: &TestDb, dir: &Path) -> Config {
    let mut config = embedded_config(&proxy.url_for(&db.url), dir);
    config.database.connect_timeout_seconds = 1;
    config.logging.directory = Some(dir.join("logs"));
    config
}

/// The upload completes (200) while the database is away, so its trigger can only wait;
/// then serve is stopped by `stop` before the job could be made.
async fn upload_then_stop(
    stop: impl FnOnce(&mut Killed),
) -> (TestDb, tempfile::TempDir, Config, std::sync::Arc<DbProxy>) {
    let db = TestDb::new().await;
    let proxy = DbProxy::start().await;
    let dir = tempfile::tempdir().unwrap();
    let config = config_through(&proxy, &db, dir.path());
    let mut serve = start_serve(dir.path(), &config).await;
    proxy.set_down();
    let export = export_tar_gz(dir.path());
    let key = "bobs_burgers/fryer_grid/dump.tar.gz";
    aws_put(&s3_url(&config), &export, key);
    logged(
        &dir.path().join("logs"),
        "auto trigger could not queue the upload yet",
        key,
    )
    .await;
    stop(&mut serve);
    drop(serve);
    proxy.set_up();
    (db, dir, config, proxy)
}

/// serve started again after a stop that lost the upload's trigger: its start-up pass makes
/// the job (reconciliation), which is done with the export's rows. (serve, API, the job.)
async fn restarted_and_reconciled(dir: &Path, config: &Config) -> (Killed, String, Value) {
    let api = api_url(config);
    let started = Instant::now();
    let serve = start_serve(dir, config).await;
    let (job, took) = the_job(&api, started, "the upload's job after the restart").await;
    eprintln!("job made {} ms after the restart", took.as_millis());
    assert_eq!(job["metadata"]["triggered_by"], "reconciliation", "{job}");
    let done = upload_job_done(&api, "the upload's job to be done").await;
    assert_eq!(done["result"]["rows"]["netbackup_jobs"], 5, "{done}");
    (serve, api, job)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_right_after_a_completed_upload_the_job_is_made_when_serve_is_back() {
    let (_db, dir, config, _proxy) = upload_then_stop(|serve| {
        serve.0.kill().unwrap(); // SIGKILL
        serve.0.wait().unwrap();
    })
    .await;
    let (_serve, api, job) = restarted_and_reconciled(dir.path(), &config).await;
    assert_eq!(
        job["metadata"]["key"], "bobs_burgers/fryer_grid/dump.tar.gz",
        "{job}"
    );
    // The curl afterwards finds that job: one object, one job.
    let (status, body) = curl_trigger(&api, "bobs_burgers/fryer_grid/dump.tar.gz");
    assert_eq!(status, 200, "{body}");
    assert_eq!(upload_jobs(&api).len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_right_after_a_completed_upload_the_job_is_made_when_serve_is_back() {
    let (_db, dir, config, _proxy) = upload_then_stop(|serve| {
        let sent = Command::new("kill")
            .args(["-TERM", &serve.0.id().to_string()])
            .status()
            .unwrap();
        assert!(sent.success());
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(status) = serve.0.try_wait().unwrap() {
                assert!(status.success(), "serve after SIGTERM: {status:?}");
                break;
            }
            assert!(Instant::now() < deadline, "serve did not stop on SIGTERM");
            std::thread::sleep(Duration::from_millis(50));
        }
    })
    .await;
    restarted_and_reconciled(dir.path(), &config).await;
}

/// The database fails under the trigger's INSERT as it does when Postgres shuts down or an
/// operator ends the session (`terminating connection due to administrator command`): the
/// trigger tries again and the job is made once the database answers, with no "internal
/// error" given up on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_database_failing_under_the_auto_trigger_delays_the_job_never_loses_it() {
    let db = TestDb::new().await;
    let pool = db.pool();
    let mut direct = pool.get().await.unwrap();
    // While `held`, an INSERT into jobs waits in its trigger, for the test to end its session.
    direct
        .batch_execute(
            "CREATE TABLE outage (held boolean NOT NULL); INSERT INTO outage VALUES (true);
             CREATE FUNCTION held_insert() RETURNS trigger LANGUAGE plpgsql AS $$
             BEGIN IF (SELECT held FROM outage) THEN PERFORM pg_sleep(60); END IF; RETURN NEW; END $$;
             CREATE TRIGGER held_insert BEFORE INSERT ON jobs FOR EACH ROW EXECUTE FUNCTION held_insert();",
        )
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut config = embedded_config(&db.url, dir.path());
    let logs = dir.path().join("logs");
    config.logging.directory = Some(logs.clone());
    let _serve = start_serve(dir.path(), &config).await;
    let (s3, api) = (s3_url(&config), api_url(&config));
    let export = export_tar_gz(dir.path());
    let key = "bobs_burgers/fryer_grid/dump.tar.gz";
    aws_put(&s3, &export, key);

    #[derive(diesel::QueryableByName)]
    struct Pid {
        #[diesel(sql_type = diesel::sql_types::Integer)]
        pid: i32,
    }
    let held = wait_for(
        "the trigger's INSERT waiting",
        Duration::from_secs(30),
        || async {
            let mut c = pool.get().await.unwrap();
            let found: Vec<Pid> = diesel_async::RunQueryDsl::load(
                diesel::sql_query(
                    "SELECT pid FROM pg_stat_activity WHERE datname = current_database() \
                     AND wait_event = 'PgSleep' AND pid <> pg_backend_pid() \
                     AND query ILIKE '%insert into%jobs%'",
                ),
                &mut c,
            )
            .await
            .unwrap();
            found.first().map(|p| p.pid)
        },
    )
    .await;
    // The database "comes back" for every later statement; the held one is ended.
    direct
        .batch_execute(&format!(
            "UPDATE outage SET held = false; SELECT pg_terminate_backend({held});"
        ))
        .await
        .unwrap();
    let started = Instant::now();
    let (job, took) = the_job(&api, started, "the auto trigger's job").await;
    eprintln!(
        "job made {} ms after the session was ended",
        took.as_millis()
    );
    assert_eq!(job["metadata"]["triggered_by"], "auto_trigger", "{job}");
    let done = upload_job_done(&api, "the upload's job to be done").await;
    assert_eq!(done["result"]["rows"]["netbackup_jobs"], 5, "{done}");
    logged(&logs, "auto trigger could not queue the upload yet", key).await;
    let log = std::fs::read_dir(&logs)
        .unwrap()
        .flatten()
        .next()
        .unwrap()
        .path();
    let log = std::fs::read_to_string(log).unwrap();
    assert!(
        !log.contains("internal error"),
        "a database failure is transient, never an internal error given up on"
    );
}

/// External mode: an object left without a job past `s3.untriggered_after_minutes` while
/// serve was down is queued by the pass serve runs as it starts, not an interval later.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_starting_queues_at_once_what_is_overdue_in_the_external_store() {
    let db = TestDb::new().await;
    let (_moto, endpoint) = start_moto().await;
    let dir = tempfile::tempdir().unwrap();
    let mut config = upload_config(&db.url, dir.path(), &endpoint);
    config.s3.untriggered_after_minutes = 0;
    config.s3.reconcile_interval_seconds = 3600;
    let out = aws(&endpoint, &["s3", "mb", "s3://veritas2hview"]);
    assert!(out.status.success(), "{out:?}");
    let export = export_tar_gz(dir.path());
    aws_put(&endpoint, &export, "bobs_burgers/fryer_grid/dump.tar.gz");
    let started = Instant::now();
    let _serve = start_serve(dir.path(), &config).await;
    let api = api_url(&config);
    let (job, took) = the_job(&api, started, "the start pass's job").await;
    eprintln!("job made {} ms after the start", took.as_millis());
    assert_eq!(job["metadata"]["triggered_by"], "reconciliation", "{job}");
}
