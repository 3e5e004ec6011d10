//! Uploads a customer (or an attacker) can send, through the real worker pool and Postgres:
//! each ends its job with a clear outcome, and the workers go on with the next job.

#![allow(clippy::unwrap_used)] // tests fail loudly on any unexpected error

use flate2::Compression;
use flate2::write::GzEncoder;
use serde_json::json;
use shared_modules::db::DbPool;
use shared_modules::jobs::{Job, JobState, NewJob};
use shared_modules::testing::{
    RunningWorkers, TestDb, add_job, job_by_id, start_workers, test_config, wait_for,
};
use std::io::Write;
use std::path::Path;
use std::time::Duration;

const EXPORT: &str = include_str!("../hydrastor/veritas2hview/fixtures/bpdbjobs_all_columns.txt");

struct World {
    _db: TestDb,
    pool: DbPool,
    dir: tempfile::TempDir,
    workers: RunningWorkers,
}

impl World {
    async fn new(concurrency: usize) -> World {
        let db = TestDb::new().await;
        let pool = db.pool();
        let dir = tempfile::tempdir().unwrap();
        let mut config = test_config(&db.url, dir.path());
        config.workers.concurrency = concurrency;
        let workers = start_workers(&config, &pool, modules::registry(), false);
        World {
            _db: db,
            pool,
            dir,
            workers,
        }
    }

    /// Puts `bytes` in the inbox as the API does (the file and its `meta.json`) and queues
    /// the job.
    async fn upload(&self, name: &str, bytes: &[u8]) -> i64 {
        static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = N.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let inbox = self.dir.path().join(format!(
            "inbox/bobs_burgers/hydrastor/veritas2hview/fryer_grid/20261203_1200{n:02}"
        ));
        std::fs::create_dir_all(&inbox).unwrap();
        std::fs::write(inbox.join("upload.bin"), bytes).unwrap();
        let meta = json!({ "file": "upload.bin", "original_name": name });
        std::fs::write(inbox.join("meta.json"), meta.to_string()).unwrap();
        add_job(
            &self.pool,
            NewJob {
                source: shared_modules::jobs::JobSource::Upload,
                customer: "bobs_burgers".into(),
                category: "hydrastor".into(),
                job_type: "veritas2hview".into(),
                job_group: "fryer_grid".into(),
                state: JobState::Queued,
                inbox_path: Some(inbox.to_string_lossy().to_string()),
                metadata: meta,
                dedupe_key: None,
                max_attempts: 3,
                timeout_seconds: 120,
                error: None,
            },
        )
        .await
    }

    async fn ended(&self, id: i64) -> Job {
        wait_for(
            &format!("job {id} to end"),
            Duration::from_secs(60),
            || async {
                let job = job_by_id(&self.pool, id).await;
                job.state.is_final().then_some(job)
            },
        )
        .await
    }
}

impl Drop for World {
    fn drop(&mut self) {
        self.workers.stop.cancel();
    }
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut enc = GzEncoder::new(Vec::new(), Compression::default());
    enc.write_all(bytes).unwrap();
    enc.finish().unwrap()
}

fn tar_gz(entries: &[(&str, &[u8])]) -> Vec<u8> {
    let mut builder = tar::Builder::new(Vec::new());
    for (name, data) in entries {
        let mut header = tar::Header::new_gnu();
        header.set_size(data.len() as u64);
        header.set_mode(0o644);
        header.set_cksum();
        builder.append_data(&mut header, name, *data).unwrap();
    }
    gzip(&builder.into_inner().unwrap())
}

/// These uploads once panicked the sniffer and took a worker slot for good: four of them
/// stopped every worker. Now each fails its job naming the file, and work goes on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn uploads_starting_with_non_ascii_text_fail_clearly_and_workers_go_on() {
    let w = World::new(2).await;
    let mut hostile = Vec::new();
    for (i, first) in ["ääää Bericht", "Lab€ über", "Storage Serve€", "€"]
        .iter()
        .enumerate()
    {
        let text = format!("{first}\nmore text\n");
        hostile.push(w.upload(&format!("report{i}.txt"), text.as_bytes()).await);
    }
    let good = w.upload("jobs.txt", EXPORT.as_bytes()).await;
    for id in hostile {
        let job = w.ended(id).await;
        assert_eq!(job.state, "error");
        let error = job.error.unwrap_or_default();
        assert!(
            error.starts_with(
                "no NetBackup export recognised in the upload; 1 file(s) skipped: report"
            ),
            "{error}"
        );
        assert!(error.contains("first line `"), "{error}");
        assert_eq!(job.attempts, 1);
    }
    let job = w.ended(good).await;
    assert_eq!(job.state, "done", "{:?}", job.error);
}

/// Random bytes with NUL in the first line once made an error Postgres refuses to store
/// (text cannot hold NUL): the failure was retried forever. Now the job ends in error.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_binary_upload_with_nul_bytes_ends_in_error() {
    let w = World::new(1).await;
    let mut with_nul = b"\x1c\x00\x9f\x00binary".to_vec();
    with_nul.extend((0..=255u8).cycle().take(100_000));
    let id = w.upload("blob.bin", &with_nul).await;
    let job = w.ended(id).await;
    assert_eq!(job.state, "error");
    let error = job.error.unwrap_or_default();
    assert!(
        error.contains("blob.bin: not a recognised NetBackup export (binary, not text)"),
        "{error}"
    );
    assert_eq!(job.attempts, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upload_with_nothing_recognised_is_an_error_listing_each_file() {
    let w = World::new(1).await;
    let id = w
        .upload(
            "dump.tar.gz",
            &tar_gz(&[
                ("README.md", b"# my notes\n"),
                ("empty.txt", b""),
                ("logo.png", b"\x89PNG\r\n"),
            ]),
        )
        .await;
    let job = w.ended(id).await;
    assert_eq!(job.state, "error");
    let error = job.error.unwrap();
    assert!(error.contains("3 file(s) skipped"), "{error}");
    for expected in [
        "dump.tar.gz/README.md: not a recognised NetBackup export (first line `# my notes`)",
        "dump.tar.gz/empty.txt: empty, or no text in its first 64 KiB",
        "dump.tar.gz/logo.png: not a recognised",
    ] {
        assert!(error.contains(expected), "{expected} in {error}");
    }

    let partly = w
        .upload(
            "dump.tar.gz",
            &tar_gz(&[
                ("README.md", b"# my notes\n"),
                ("jobs.txt", EXPORT.as_bytes()),
            ]),
        )
        .await;
    let job = w.ended(partly).await;
    assert_eq!(job.state, "done", "{:?}", job.error);
    let result = job.result.unwrap();
    assert_eq!(result["skipped"][0]["file"], "dump.tar.gz/README.md");
    assert_eq!(result["files"][0]["file"], "dump.tar.gz/jobs.txt");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_decompression_bomb_fails_its_job_quickly_having_written_little() {
    let w = World::new(1).await;
    let mut enc = GzEncoder::new(Vec::new(), Compression::best());
    let zeros = vec![0u8; 1024 * 1024];
    for _ in 0..256 {
        enc.write_all(&zeros).unwrap();
    }
    let id = w.upload("zeros.txt.gz", &enc.finish().unwrap()).await;
    let job = w.ended(id).await;
    assert_eq!(job.state, "error");
    let error = job.error.unwrap();
    assert!(
        error.contains("expands") && error.contains("limit 100:1"),
        "{error}"
    );
    let tmp = w.dir.path().join("tmp");
    assert!(
        dir_size(&tmp) < 16 * 1024 * 1024,
        "tmp holds {} bytes",
        dir_size(&tmp)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_line_longer_than_the_limit_is_a_bad_record_not_a_memory_spike() {
    let w = World::new(1).await;
    let mut text = EXPORT.as_bytes().to_vec();
    text.extend(std::iter::repeat_n(b'7', 5 * 1024 * 1024));
    text.extend_from_slice(b",0,0\n");
    let id = w.upload("jobs.txt", &text).await;
    let job = w.ended(id).await;
    assert_eq!(job.state, "done", "{:?}", job.error);
    let file = &job.result.unwrap()["files"][0];
    let bad: Vec<String> = serde_json::from_value(file["first_bad"].clone()).unwrap();
    assert!(
        bad.iter()
            .any(|b| b.contains("is longer than 4194304; skipped")),
        "{bad:?}"
    );
}

fn dir_size(p: &Path) -> u64 {
    std::fs::read_dir(p)
        .map(|entries| {
            entries
                .flatten()
                .map(|e| {
                    if e.path().is_dir() {
                        dir_size(&e.path())
                    } else {
                        e.metadata().map(|m| m.len()).unwrap_or(0)
                    }
                })
                .sum()
        })
        .unwrap_or(0)
}
