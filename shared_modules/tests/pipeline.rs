//! The pipeline around a module: the inbox files are linked into tmp, the module reads them
//! there, the original moves to the archive (when on for the type), tmp is cleaned, and
//! every step is an event.

#![allow(clippy::unwrap_used)] // tests fail loudly on any unexpected error

use diesel_async::AsyncPgConnection;
use serde_json::json;
use shared_modules::config::TypeConfig;
use shared_modules::db::DbPool;
use shared_modules::jobs::{Job, JobContext, JobFailure, JobHandler, NewJob, Registry, events_of};
use shared_modules::testing::{
    RunningWorkers, TestDb, add_job, job_by_id, sleep_job, start_workers, test_config, wait_for,
    wait_job_state,
};
use std::path::Path;
use std::time::Duration;

/// Reads `message.eml` from the work dir; fails permanently when it says "bad".
struct ReadsWorkDir;

impl JobHandler for ReadsWorkDir {
    async fn run(
        &self,
        ctx: &JobContext,
        _conn: &mut AsyncPgConnection,
    ) -> Result<serde_json::Value, JobFailure> {
        let dir = ctx
            .work_dir
            .clone()
            .ok_or_else(|| JobFailure::permanent("no work dir"))?;
        assert!(
            dir.starts_with(ctx.config.paths.root.join("tmp")),
            "the module works on the tmp copy"
        );
        let text = std::fs::read_to_string(dir.join("message.eml"))
            .map_err(|e| JobFailure::permanent(e.to_string()))?;
        if text == "bad" {
            return Err(JobFailure::permanent("message.eml:1: bad input"));
        }
        Ok(json!({ "bytes": text.len() }))
    }
}

/// A fresh database and data root, with the test type `test/files` archived or not.
async fn files_setup(archive: bool) -> (TestDb, tempfile::TempDir, shared_modules::config::Config) {
    let db = TestDb::new().await;
    let dir = tempfile::tempdir().unwrap();
    let mut config = test_config(&db.url, dir.path());
    config
        .types
        .insert("test/files".into(), TypeConfig { archive });
    (db, dir, config)
}

/// A `test/files` job on the delivery in `inbox`.
fn files_job(inbox: &Path) -> NewJob {
    let mut new = sleep_job(json!({}));
    new.job_type = "files".into();
    new.inbox_path = Some(inbox.to_string_lossy().to_string());
    new
}

/// Workers running `ReadsWorkDir` for `test/files`.
fn files_workers(config: &shared_modules::config::Config, pool: &DbPool) -> RunningWorkers {
    let mut registry = Registry::new();
    registry.register("test", "files", ReadsWorkDir).unwrap();
    start_workers(config, pool, registry, false)
}

/// Waits until job `id` is done or in error.
async fn ended(pool: &DbPool, id: i64) -> Job {
    wait_for("the job to end", Duration::from_secs(10), || async {
        let job = job_by_id(pool, id).await;
        matches!(job.state.as_str(), "done" | "error").then_some(job)
    })
    .await
}

async fn run_one(
    archive: bool,
    content: &str,
) -> (shared_modules::jobs::Job, Vec<String>, tempfile::TempDir) {
    let (db, dir, config) = files_setup(archive).await;
    let pool = db.pool();
    let inbox = dir.path().join("inbox/c/test/files/g/20261123_120000");
    std::fs::create_dir_all(inbox.join("attachments")).unwrap();
    std::fs::write(inbox.join("message.eml"), content).unwrap();
    std::fs::write(inbox.join("attachments/a.txt"), "a").unwrap();
    let id = add_job(&pool, files_job(&inbox)).await;
    let workers = files_workers(&config, &pool);
    let job = ended(&pool, id).await;
    workers.stop.cancel();
    workers.pool_handle.await.unwrap();
    let mut conn = pool.get().await.unwrap();
    let steps = events_of(&mut conn, id)
        .await
        .unwrap()
        .into_iter()
        .map(|e| format!("{}:{}", e.step, e.status.unwrap_or_default()))
        .collect();
    let original = job
        .archive_path
        .as_deref()
        .map_or(inbox.clone(), std::path::PathBuf::from);
    assert_eq!(
        std::fs::read_to_string(original.join("message.eml")).unwrap(),
        content,
        "the original is never modified"
    );
    assert!(
        !dir.path()
            .join("tmp/c/test/files/g/20261123_120000")
            .exists(),
        "tmp is cleaned"
    );
    (job, steps, dir)
}

#[tokio::test]
async fn a_job_runs_on_its_tmp_copy_is_archived_and_leaves_tmp_clean() {
    let (job, steps, dir) = run_one(true, "hello").await;
    assert_eq!(job.state, "done");
    assert_eq!(job.result, Some(json!({ "bytes": 5 })));
    let archive = dir.path().join("archive/c/test/files/g/20261123_120000");
    assert_eq!(job.archive_path.as_deref(), Some(archive.to_str().unwrap()));
    assert_eq!(
        std::fs::read_to_string(archive.join("attachments/a.txt")).unwrap(),
        "a"
    );
    assert!(
        !dir.path()
            .join("inbox/c/test/files/g/20261123_120000")
            .exists(),
        "moved, not copied"
    );
    assert!(job.tmp_path.unwrap().contains("/tmp/c/test/files/g/"));
    assert_eq!(
        steps,
        [
            "enqueue:queued",
            "claim:running",
            "run:",
            "link:ok",
            "module:ok",
            "archive:ok",
            "cleanup:ok",
            "store:committed",
            "run:done"
        ]
    );
}

#[tokio::test]
async fn archiving_off_for_the_type_keeps_no_copy_and_a_parse_error_keeps_the_original() {
    let (job, steps, dir) = run_one(false, "bad").await;
    assert_eq!(job.state, "error");
    assert_eq!(job.error.as_deref(), Some("message.eml:1: bad input"));
    assert_eq!(job.attempts, 1);
    assert!(!Path::new(&dir.path().join("archive")).exists());
    assert!(
        dir.path()
            .join("inbox/c/test/files/g/20261123_120000/message.eml")
            .exists()
    );
    assert!(steps.contains(&"module:error".to_string()));
}

/// A delivery archived under a name, then another delivery given the same inbox name (one
/// of the same second, arriving once the first had moved on): the second's archive gets
/// `_2`, neither is replaced, and reprocessing the first reads it from its archive.
#[tokio::test]
async fn an_archive_is_never_replaced_and_a_reprocess_reads_the_archived_files() {
    use shared_modules::jobs::retry_job;
    let (db, dir, config) = files_setup(true).await;
    let pool = db.pool();
    let inbox = dir.path().join("inbox/c/test/files/g/20261123_120000");
    let workers = files_workers(&config, &pool);
    let mut ids = Vec::new();
    for content in ["first", "second"] {
        std::fs::create_dir_all(&inbox).unwrap();
        std::fs::write(inbox.join("message.eml"), content).unwrap();
        let mut new = files_job(&inbox);
        new.dedupe_key = Some(format!("test:{content}"));
        let id = add_job(&pool, new).await;
        wait_job_state(&pool, id, "done", Duration::from_secs(10)).await;
        ids.push(id);
    }
    let archive = dir.path().join("archive/c/test/files/g");
    let first = job_by_id(&pool, ids[0]).await;
    let second = job_by_id(&pool, ids[1]).await;
    assert_eq!(
        first.archive_path.as_deref(),
        Some(archive.join("20261123_120000").to_str().unwrap())
    );
    assert_eq!(
        second.archive_path.as_deref(),
        Some(archive.join("20261123_120000_2").to_str().unwrap())
    );
    for (job, content) in [(&first, "first"), (&second, "second")] {
        let path = Path::new(job.archive_path.as_deref().unwrap()).join("message.eml");
        assert_eq!(std::fs::read_to_string(path).unwrap(), content);
    }

    let mut conn = pool.get().await.unwrap();
    retry_job(&mut conn, ids[0], "reprocess")
        .await
        .unwrap()
        .unwrap();
    let again = wait_for(
        "the reprocess to be done",
        Duration::from_secs(10),
        || async {
            let job = job_by_id(&pool, ids[0]).await;
            (job.state == "done" && job.finished_at > first.finished_at).then_some(job)
        },
    )
    .await;
    assert_eq!(again.result, Some(json!({ "bytes": 5 })));
    assert_eq!(again.archive_path, first.archive_path);
    workers.stop.cancel();
    workers.pool_handle.await.unwrap();
}

/// What a worker killed between moving a job's files to the archive and committing `done`
/// leaves: the files in the archive, the move recorded on the job (it is committed before the
/// move), the job queued again by the reaper. The retry finds the files there.
#[tokio::test]
async fn files_moved_to_the_archive_before_a_crash_are_found_by_the_retry() {
    use diesel_async::RunQueryDsl;
    let (db, dir, config) = files_setup(true).await;
    let pool = db.pool();
    let inbox = dir.path().join("inbox/c/test/files/g/20261123_120000");
    let archive = dir.path().join("archive/c/test/files/g/20261123_120000");
    std::fs::create_dir_all(&archive).unwrap();
    std::fs::write(archive.join("message.eml"), "hello").unwrap();
    let id = add_job(&pool, files_job(&inbox)).await;
    let mut conn = pool.get().await.unwrap();
    diesel::sql_query("UPDATE jobs SET archive_path = $1, attempts = 1 WHERE id = $2")
        .bind::<diesel::sql_types::Text, _>(archive.to_string_lossy().to_string())
        .bind::<diesel::sql_types::BigInt, _>(id)
        .execute(&mut conn)
        .await
        .unwrap();
    let workers = files_workers(&config, &pool);
    let job = ended(&pool, id).await;
    workers.stop.cancel();
    workers.pool_handle.await.unwrap();
    assert_eq!(job.state, "done", "{:?}", job.error);
    assert_eq!(job.result, Some(json!({ "bytes": 5 })));
    assert_eq!(job.archive_path.as_deref(), Some(archive.to_str().unwrap()));
}
