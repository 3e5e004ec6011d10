//! dpctl for the operator's harder days: releasing quarantined mail after fixing the
//! config, reprocessing many jobs with progress, and `config check` naming what is wrong.

#![allow(clippy::unwrap_used)] // tests fail loudly on any unexpected error

mod common;

use common::dpctl;

use shared_modules::config::{Config, CustomerConfig};
use shared_modules::testing::{TestDb, test_config};
use std::path::Path;
use std::process::{Command, Stdio};

fn write(dir: &Path, config: &Config) -> std::path::PathBuf {
    let path = dir.join("config.json");
    std::fs::write(&path, serde_json::to_string(config).unwrap()).unwrap();
    path
}

const ALERT: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../mailhandler/tests/fixtures/alert.eml"
);

#[tokio::test]
async fn a_quarantined_mail_is_released_once_the_customer_is_configured() {
    let db = TestDb::new().await;
    let dir = tempfile::tempdir().unwrap();
    let mut config = test_config(&db.url, dir.path());
    let path = write(dir.path(), &config);
    let (code, out, _) = dpctl(
        &path,
        &[
            "mail",
            "inject",
            ALERT,
            "--sender",
            "a@b.example",
            "--recipient",
            "newco@ingest.hview.example",
        ],
    );
    assert_eq!(code, 0);
    assert!(out.starts_with("quarantined as job "), "{out}");
    let id = out
        .trim_start_matches("quarantined as job ")
        .split(':')
        .next()
        .unwrap()
        .to_string();
    let (_, list, _) = dpctl(&path, &["quarantine", "list"]);
    assert!(
        list.contains("no customer receives mail at <newco@ingest.hview.example>"),
        "{list}"
    );

    let (code, _, err) = dpctl(&path, &["quarantine", "release", &id]);
    assert_eq!(code, 4, "still unroutable: {err}");
    assert!(err.contains("would still be quarantined"), "{err}");

    config.customers = vec![CustomerConfig {
        name: "newco".into(),
        addresses: vec!["newco@ingest.hview.example".into()],
        allowed_senders: vec![],
    }];
    let path = write(dir.path(), &config);
    let (code, out, err) = dpctl(&path, &["quarantine", "release", &id]);
    assert_eq!(code, 0, "{err}");
    let new_id = out.trim().rsplit(' ').next().unwrap().to_string();
    let (_, show, _) = dpctl(&path, &["jobs", "show", &new_id]);
    assert!(
        show.contains("queued  newco/hydrastor/alert/sn004"),
        "{show}"
    );
    let (_, old, _) = dpctl(&path, &["jobs", "show", &id]);
    assert!(
        old.contains("cancelled") && old.contains(&format!("released as job {new_id}")),
        "{old}"
    );
    assert_eq!(
        dpctl(&path, &["quarantine", "release", &id]).0,
        4,
        "released once"
    );
}

#[tokio::test]
async fn reprocessing_by_filter_shows_progress_and_requeues_every_match() {
    let db = TestDb::new().await;
    let dir = tempfile::tempdir().unwrap();
    let pool = db.pool();
    let mut conn = pool.get().await.unwrap();
    for i in 0..25 {
        let mut job = shared_modules::testing::sleep_job(serde_json::json!({}));
        job.state = if i % 5 == 0 {
            shared_modules::jobs::JobState::Queued
        } else {
            shared_modules::jobs::JobState::Error
        };
        shared_modules::jobs::enqueue(&mut conn, &job)
            .await
            .unwrap();
    }
    let path = write(dir.path(), &test_config(&db.url, dir.path()));
    let (code, out, err) = dpctl(
        &path,
        &[
            "jobs",
            "reprocess",
            "--status",
            "error",
            "--type",
            "sleep",
            "--no-wait",
        ],
    );
    assert_eq!(code, 0, "{err}");
    assert_eq!(out.trim(), "20 job(s) queued again");
    assert!(
        err.lines().last().unwrap().contains("queuing: 20/20"),
        "{err}"
    );
    assert!(
        err.lines().count() >= 5,
        "progress is shown along the way: {err}"
    );
    let (_, listed, _) = dpctl(&path, &["jobs", "list", "--status", "error"]);
    assert!(listed.contains("(no jobs)"));
    assert_eq!(
        dpctl(&path, &["jobs", "reprocess"]).0,
        2,
        "ids or filters are required"
    );
    assert_eq!(
        dpctl(&path, &["jobs", "reprocess", "1", "--status", "error"]).0,
        2
    );
}

#[tokio::test]
async fn config_check_says_which_part_is_unreachable() {
    let db = TestDb::new().await;
    let dir = tempfile::tempdir().unwrap();
    let mut config = test_config(&db.url, dir.path());
    let dead = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    config.s3.mode = shared_modules::config::S3Mode::External;
    config.s3.endpoint = format!("http://127.0.0.1:{dead}");
    config.s3.secret_access_key = "s3cret-value".into();
    let path = write(dir.path(), &config);
    let (code, out, err) = dpctl(&path, &["config", "check"]);
    assert_eq!(code, 75, "an unreachable object store is temporary: {err}");
    assert!(
        out.contains("database: reachable") && out.contains("storage:"),
        "{out}"
    );
    assert!(err.contains("s3: bucket `veritas2hview`"), "{err}");
    assert!(
        !out.contains("s3cret-value") && !out.contains("test-key-0123456789abcdef"),
        "secrets are masked: {out}"
    );

    // With a real S3-compatible server and the bucket, everything answers.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut moto = Command::new("moto_server")
        .args(["-H", "127.0.0.1", "-p", &port.to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("moto_server is required: run scripts/services.sh s3");
    let endpoint = format!("http://127.0.0.1:{port}");
    shared_modules::testing::wait_for("moto", std::time::Duration::from_secs(60), || async {
        std::net::TcpStream::connect(("127.0.0.1", port))
            .ok()
            .map(|_| ())
    })
    .await;
    let mb = Command::new("aws")
        .args([
            "--endpoint-url",
            &endpoint,
            "s3",
            "mb",
            "s3://veritas2hview",
        ])
        .env("AWS_ACCESS_KEY_ID", "a")
        .env("AWS_SECRET_ACCESS_KEY", "b")
        .env("AWS_DEFAULT_REGION", "us-east-1")
        .status()
        .unwrap();
    assert!(mb.success());
    config.s3.endpoint = endpoint;
    let path = write(dir.path(), &config);
    let (code, out, err) = dpctl(&path, &["config", "check"]);
    let _ = moto.kill();
    let _ = moto.wait();
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("s3: bucket veritas2hview"), "{out}");
}

/// `dpctl uploads pending`: an object in the (embedded) bucket with no job is listed and
/// overdue (exit 1); once a job carries its (bucket, key, ETag), none are (exit 0).
#[tokio::test]
async fn uploads_pending_lists_objects_without_a_job() {
    use diesel_async::RunQueryDsl;
    use shared_modules::object_store::{DiskStore, dedupe_key};
    let db = TestDb::new().await;
    let dir = tempfile::tempdir().unwrap();
    let mut config = test_config(&db.url, dir.path());
    config.s3.untriggered_after_minutes = 0;
    let path = write(dir.path(), &config);
    let store = DiskStore::new(&config.paths.root, "veritas2hview");
    store.create().unwrap();
    let (code, out, err) = dpctl(&path, &["uploads", "pending"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("no uploads pending"), "{out}");

    let key = "bobs_burgers/fryer_grid/forgotten.tar.gz";
    let mut blob = store.new_blob().unwrap();
    blob.write(b"an export").unwrap();
    let meta = store
        .commit(key, blob.finish().unwrap(), Default::default())
        .unwrap();
    let (code, out, err) = dpctl(&path, &["uploads", "pending"]);
    assert_eq!(code, 1, "overdue uploads fail the command: {out}{err}");
    assert!(
        out.contains(key) && out.contains(&meta.etag) && out.contains("overdue"),
        "{out}"
    );
    assert!(
        out.contains("1 upload(s) without a job, 1 overdue"),
        "{out}"
    );

    // The curl (or the auto trigger) made its job: nothing pending.
    let mut conn = db.pool().get().await.unwrap();
    diesel::sql_query(
        "INSERT INTO jobs (source, customer, category, job_type, job_group, dedupe_key, state, max_attempts, timeout_seconds)
         VALUES ('upload', 'bobs_burgers', 'hydrastor', 'veritas2hview', 'fryer_grid', $1, 'done', 1, 60)",
    )
    .bind::<diesel::sql_types::Text, _>(dedupe_key("veritas2hview", key, &meta.etag))
    .execute(&mut conn)
    .await
    .unwrap();
    let (code, out, err) = dpctl(&path, &["uploads", "pending"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("no uploads pending"), "{out}");
}

/// A long job's figures (written by the worker's heartbeat) show in `jobs show`.
#[tokio::test]
async fn a_running_jobs_progress_shows_in_jobs_show() {
    use diesel_async::RunQueryDsl;
    let db = TestDb::new().await;
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), &test_config(&db.url, dir.path()));
    let pool = db.pool();
    let mut conn = pool.get().await.unwrap();
    let mut job = shared_modules::testing::sleep_job(serde_json::json!({}));
    job.state = shared_modules::jobs::JobState::Running;
    let id = shared_modules::jobs::enqueue(&mut conn, &job)
        .await
        .unwrap()
        .job
        .id;
    diesel::sql_query(
        r#"UPDATE jobs SET progress = '{"bytes_read": 1048576, "bytes_total": 4194304}' WHERE id = $1"#,
    )
    .bind::<diesel::sql_types::BigInt, _>(id)
    .execute(&mut conn)
    .await
    .unwrap();
    let (code, show, _) = dpctl(&path, &["jobs", "show", &id.to_string()]);
    assert_eq!(code, 0);
    assert!(
        show.contains(r#"progress {"bytes_read":1048576,"bytes_total":4194304}"#),
        "{show}"
    );
}

/// Reprocess follows the jobs it queued until each ends: the bar counts jobs done, not
/// requests sent, and a job ending in error makes the exit 1 naming it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reprocess_follows_its_jobs_to_the_end() {
    let db = TestDb::new().await;
    let dir = tempfile::tempdir().unwrap();
    let pool = db.pool();
    let config = test_config(&db.url, dir.path());
    let path = write(dir.path(), &config);
    let mut ids = Vec::new();
    {
        use diesel_async::RunQueryDsl;
        let mut conn = pool.get().await.unwrap();
        diesel::sql_query(shared_modules::testing::TEST_EFFECTS_TABLE)
            .execute(&mut conn)
            .await
            .unwrap();
        for i in 0..6 {
            let meta = if i == 0 {
                serde_json::json!({ "fail": "permanent" })
            } else {
                serde_json::json!({ "sleep_ms": 200 })
            };
            let mut job = shared_modules::testing::sleep_job(meta);
            job.state = shared_modules::jobs::JobState::Done;
            ids.push(
                shared_modules::jobs::enqueue(&mut conn, &job)
                    .await
                    .unwrap()
                    .job
                    .id,
            );
        }
    }
    let workers = shared_modules::testing::start_workers(
        &config,
        &pool,
        shared_modules::testing::sleep_registry(),
        false,
    );
    let mut args: Vec<String> = vec!["jobs".into(), "reprocess".into()];
    args.extend(ids.iter().map(i64::to_string));
    let (code, out, err) = tokio::task::spawn_blocking(move || {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        dpctl(&path, &args)
    })
    .await
    .unwrap();
    workers.stop.cancel();
    assert_eq!(code, 1, "{out}{err}");
    assert!(
        out.contains("6 job(s) queued again") && out.contains("5 done, 1 error"),
        "{out}"
    );
    assert!(
        err.contains(&format!("ended in error: {}", ids[0])),
        "{err}"
    );
    assert!(err.contains("processing: 6/6 5 done, 1 error"), "{err}");
}

/// Long names keep the columns aligned; a long error is cut, and says so with `…`.
#[tokio::test]
async fn the_job_table_stays_aligned_and_marks_what_it_cuts() {
    let db = TestDb::new().await;
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), &test_config(&db.url, dir.path()));
    let mut conn = db.pool().get().await.unwrap();
    for (group, error) in [
        ("g", "short"),
        (
            "a-very-long-group-name-of-a-grid-0042",
            &"x".repeat(400)[..],
        ),
    ] {
        let mut job = shared_modules::testing::sleep_job(serde_json::json!({}));
        job.job_group = group.into();
        job.state = shared_modules::jobs::JobState::Error;
        job.error = Some(error.into());
        shared_modules::jobs::enqueue(&mut conn, &job)
            .await
            .unwrap();
    }
    let (code, out, _) = dpctl(&path, &["jobs", "list"]);
    assert_eq!(code, 0);
    let lines: Vec<&str> = out.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 3, "a header and one line per job:\n{out}");
    let state_column: Vec<usize> = lines
        .iter()
        .map(|l| l.find("STATE").or_else(|| l.find("error")).unwrap())
        .collect();
    assert!(
        state_column.windows(2).all(|w| w[0] == w[1]),
        "columns align:\n{out}"
    );
    assert!(
        lines[1].trim_end().ends_with('…'),
        "a cut value is marked:\n{out}"
    );
    assert!(
        lines.iter().all(|l| l.chars().count() <= 160),
        "fits 160 columns:\n{out}"
    );
}

#[test]
fn an_unreachable_database_is_exit_75_with_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = test_config("postgres://postgres@127.0.0.1:1/none", dir.path());
    config.database.connect_timeout_seconds = 2;
    let path = write(dir.path(), &config);
    for args in [
        &["jobs", "list"][..],
        &["jobs", "show", "1"],
        &["quarantine", "list"],
    ] {
        let (code, _, err) = dpctl(&path, args);
        assert_eq!(code, 75, "{args:?}: {err}");
        assert_eq!(err.trim().lines().count(), 1, "{args:?}: {err}");
        assert!(err.contains("cannot reach the database"), "{err}");
    }
}

/// `dpctl cleanup`: archive copies and inbox directories of jobs finished past the
/// retention go, with an event on each job; jobs in error keep theirs; a tmp directory left
/// by a dead worker goes; `--dry-run` removes nothing.
#[tokio::test]
async fn cleanup_removes_what_retention_allows_and_records_it() {
    use diesel_async::RunQueryDsl;
    let db = TestDb::new().await;
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("mailbox");
    let config = test_config(&db.url, &root);
    let path = write(dir.path(), &config);
    let mut conn = db.pool().get().await.unwrap();
    let mut make = async |name: &str, state: shared_modules::jobs::JobState, days_ago: i32| {
        let inbox = root.join(format!("inbox/c/cat/t/{name}/20250101_000000"));
        let archive = root.join(format!("archive/c/cat/t/{name}/20250101_000000"));
        for d in [&inbox, &archive] {
            std::fs::create_dir_all(d).unwrap();
            std::fs::write(d.join("message.eml"), "x").unwrap();
        }
        let mut job = shared_modules::testing::sleep_job(serde_json::json!({}));
        job.state = state;
        job.inbox_path = Some(inbox.to_string_lossy().to_string());
        let id = shared_modules::jobs::enqueue(&mut conn, &job)
            .await
            .unwrap()
            .job
            .id;
        diesel::sql_query(
            "UPDATE jobs SET archive_path = $2, finished_at = now() - make_interval(days => $3) WHERE id = $1",
        )
        .bind::<diesel::sql_types::BigInt, _>(id)
        .bind::<diesel::sql_types::Text, _>(archive.to_string_lossy().to_string())
        .bind::<diesel::sql_types::Integer, _>(days_ago)
        .execute(&mut conn)
        .await
        .unwrap();
        (id, inbox, archive)
    };
    use shared_modules::jobs::JobState;
    let (old, old_inbox, old_archive) = make("old", JobState::Done, 200).await;
    let (_, failed_inbox, failed_archive) = make("failed", JobState::Error, 200).await;
    let (_, young_inbox, _) = make("young", JobState::Done, 1).await;
    let leftover = root.join("tmp/c/cat/t/g/20250101_000000");
    std::fs::create_dir_all(&leftover).unwrap();
    std::fs::File::open(&leftover)
        .unwrap()
        .set_modified(std::time::SystemTime::now() - std::time::Duration::from_secs(2 * 86400))
        .unwrap();
    let fresh_tmp = root.join("tmp/c/cat/t/g/20261203_000000");
    std::fs::create_dir_all(&fresh_tmp).unwrap();

    let (code, out, err) = dpctl(&path, &["cleanup", "--dry-run"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("3 directories would be removed"), "{out}");
    assert!(old_inbox.exists() && old_archive.exists() && leftover.exists());

    let (code, out, err) = dpctl(&path, &["cleanup"]);
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains(&format!("removed {} (job {old}:", old_archive.display())),
        "{out}"
    );
    assert!(!old_inbox.exists() && !old_archive.exists() && !leftover.exists());
    assert!(
        failed_inbox.exists()
            && failed_archive.exists()
            && young_inbox.exists()
            && fresh_tmp.exists()
    );
    let trail = shared_modules::jobs::events_of(&mut conn, old)
        .await
        .unwrap();
    assert_eq!(
        trail.iter().filter(|e| e.step == "retention").count(),
        2,
        "each removal is recorded"
    );
    let (_, again, _) = dpctl(&path, &["cleanup"]);
    assert!(again.contains("0 directories removed"), "{again}");
}
