//! The pipeline around a module: the inbox copy goes to tmp, the module reads it there, the
//! original is archived (when on for the type), tmp is cleaned, and every step is an event.

#![allow(clippy::unwrap_used)] // tests fail loudly on any unexpected error

use diesel_async::AsyncPgConnection;
use serde_json::json;
use shared_modules::config::TypeConfig;
use shared_modules::jobs::{
    JobContext, JobFailure, JobHandler, Registry, enqueue, events_of, find_job,
};
use shared_modules::testing::{TestDb, sleep_job, start_workers, test_config, wait_for};
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

async fn run_one(
    archive: bool,
    content: &str,
) -> (shared_modules::jobs::Job, Vec<String>, tempfile::TempDir) {
    let db = TestDb::new().await;
    let pool = db.pool();
    let dir = tempfile::tempdir().unwrap();
    let mut config = test_config(&db.url, dir.path());
    config
        .types
        .insert("test/files".into(), TypeConfig { archive });
    let inbox = dir.path().join("inbox/c/test/files/g/20261123_120000");
    std::fs::create_dir_all(inbox.join("attachments")).unwrap();
    std::fs::write(inbox.join("message.eml"), content).unwrap();
    std::fs::write(inbox.join("attachments/a.txt"), "a").unwrap();
    let mut new = sleep_job(json!({}));
    new.job_type = "files".into();
    new.inbox_path = Some(inbox.to_string_lossy().to_string());
    let mut conn = pool.get().await.unwrap();
    let id = enqueue(&mut conn, &new).await.unwrap().job.id;
    let mut registry = Registry::new();
    registry.register("test", "files", ReadsWorkDir).unwrap();
    let workers = start_workers(&config, &pool, registry, false);
    let job = wait_for("the job to end", Duration::from_secs(10), || async {
        let mut conn = pool.get().await.unwrap();
        let job = find_job(&mut conn, id).await.unwrap().unwrap();
        matches!(job.state.as_str(), "done" | "error").then_some(job)
    })
    .await;
    workers.stop.cancel();
    workers.pool_handle.await.unwrap();
    let steps = events_of(&mut conn, id)
        .await
        .unwrap()
        .into_iter()
        .map(|e| format!("{}:{}", e.step, e.status.unwrap_or_default()))
        .collect();
    assert_eq!(
        std::fs::read_to_string(inbox.join("message.eml")).unwrap(),
        content,
        "the inbox is never modified"
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
    assert!(job.tmp_path.unwrap().contains("/tmp/c/test/files/g/"));
    assert_eq!(
        steps,
        [
            "enqueue:queued",
            "claim:running",
            "run:",
            "copy:ok",
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
    assert!(steps.contains(&"module:error".to_string()));
}
