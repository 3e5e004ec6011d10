//! The documented upload flow, end to end: `aws s3 cp` to an S3-compatible server (moto),
//! `curl` to `dataprocessor serve`, rows in Postgres and the job done; then the refusals:
//! hostile archives, bad requests, a missing object, the object store down.

#![allow(clippy::unwrap_used)] // tests fail loudly on any unexpected error

mod common;

use common::*;
use serde_json::{Value, json};
use shared_modules::testing::{TestDb, wait_for};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

fn required(program: &str) {
    let found = Command::new("sh")
        .args(["-c", &format!("command -v {program}")])
        .output()
        .unwrap()
        .status
        .success();
    assert!(
        found,
        "{program} is required for this test: run scripts/services.sh s3"
    );
}

/// `curl` as the README shows it; returns (HTTP status, JSON body).
fn curl(url: &str, key: Option<&str>, body: &str) -> (u16, Value) {
    let mut cmd = Command::new("curl");
    cmd.args([
        "-s",
        "-o",
        "-",
        "-w",
        "\n%{http_code}",
        "-X",
        "POST",
        url,
        "-H",
        "Content-Type: application/json",
        "-d",
        body,
    ]);
    if let Some(key) = key {
        cmd.args(["-H", &format!("X-Api-Key: {key}")]);
    }
    let out = String::from_utf8_lossy(&cmd.output().unwrap().stdout).to_string();
    let (body, code) = out.rsplit_once('\n').unwrap();
    (
        code.parse().unwrap(),
        serde_json::from_str(body).unwrap_or(Value::Null),
    )
}

async fn count(pool: &shared_modules::db::DbPool, sql: &str) -> i64 {
    use diesel_async::RunQueryDsl;
    #[derive(diesel::QueryableByName)]
    struct N {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        n: i64,
    }
    let mut conn = pool.get().await.unwrap();
    diesel::sql_query(sql)
        .get_result::<N>(&mut conn)
        .await
        .unwrap()
        .n
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_export_uploaded_with_aws_and_triggered_with_curl_becomes_rows() {
    required("aws");
    required("moto_server");
    let (moto, endpoint) = start_moto().await;

    let db = TestDb::new().await;
    let pool = db.pool();
    let dir = tempfile::tempdir().unwrap();
    let mut config = upload_config(&db.url, dir.path(), &endpoint);
    config.logging.directory = Some(dir.path().join("logs"));
    let _serve = start_serve(dir.path(), &config).await;
    let api = api_url(&config);

    // The customer's side: upload the export, then tell the API.
    assert!(
        aws(&endpoint, &["s3", "mb", "s3://veritas2hview"])
            .status
            .success()
    );
    let export = export_tar_gz(dir.path());
    aws_put(&endpoint, &export, "bobs_burgers/fryer_grid/dump.tar.gz");
    let trigger = json!({"uid": "u-1001", "customer": "bobs_burgers", "grid": "fryer_grid", "s3_path": "bobs_burgers/fryer_grid/dump.tar.gz"}).to_string();
    let (status, body) = curl(&format!("{api}/veritas2hview/update"), Some(KEY), &trigger);
    assert_eq!(status, 202, "{body}");
    assert_eq!(body["status"], "queued");
    let job_id = body["job_id"].as_i64().unwrap();

    // The same object again, twice at once: the same job.
    let (a, b) = std::thread::scope(|s| {
        let one = s.spawn(|| curl(&format!("{api}/veritas2hview/update"), Some(KEY), &trigger));
        let two = s.spawn(|| curl(&format!("{api}/veritas2hview/update"), Some(KEY), &trigger));
        (one.join().unwrap(), two.join().unwrap())
    });
    assert_eq!((a.0, a.1["job_id"].as_i64()), (200, Some(job_id)));
    assert_eq!((b.0, b.1["job_id"].as_i64()), (200, Some(job_id)));

    let job = wait_for("the upload job to end", Duration::from_secs(60), || async {
        let job = api_get(&format!("{api}/jobs/{job_id}"));
        matches!(job["state"].as_str(), Some("done" | "error")).then_some(job)
    })
    .await;
    assert_eq!(job["state"], "done", "{job}");
    assert_eq!(job["source"], "upload");
    assert_eq!(job["group"], "fryer_grid");
    let result = &job["result"];
    assert_eq!(result["rows"]["netbackup_jobs"], 5, "{result}");
    assert_eq!(result["rows"]["netbackup_storage_units"], 1);
    assert_eq!(result["bad_records"], 4, "counted, not fatal");
    assert_eq!(result["skipped"][0]["file"], "dump.tar.gz/./notes.txt");
    assert_eq!(count(&pool, "SELECT count(*) AS n FROM netbackup_jobs WHERE grid_name = 'fryer_grid' AND customer = 'bobs_burgers'").await, 5);
    assert_eq!(
        count(&pool, "SELECT count(*) AS n FROM netbackup_job_tries").await,
        4
    );
    assert_eq!(
        count(&pool, "SELECT count(*) AS n FROM netbackup_image_fragments").await,
        3
    );
    // The grid correlation: job → storage unit → disk pool → volumes (LSUs).
    assert_eq!(
        count(&pool, "SELECT count(*) AS n FROM hydrastor_grid_backups WHERE job_id = 700100 AND disk_pool = 'HYD_DP_01' AND disk_volumes = ARRAY['LSU_BACKUP_01']").await,
        1
    );

    // The log has a line per event with the job's id, customer and type, and never the key.
    // The log writer flushes in the background: wait for the line rather than read once.
    let logs = dir.path().join("logs");
    let (log, done_line) = wait_for(
        "the job's `job done` log line",
        Duration::from_secs(20),
        || async {
            let file = std::fs::read_dir(&logs).ok()?.flatten().next()?.path();
            let log = std::fs::read_to_string(file).ok()?;
            let line = log
                .lines()
                .find(|l| l.contains("job done") && l.contains(&format!("job.id={job_id}")))?
                .to_string();
            Some((log, line))
        },
    )
    .await;
    assert!(
        done_line.contains("customer=bobs_burgers") && done_line.contains("type=veritas2hview"),
        "{done_line}"
    );
    assert!(!log.contains(KEY), "the API key is never logged");

    // Re-processing the same export leaves the same rows.
    let before = count(&pool, "SELECT count(*) AS n FROM netbackup_jobs").await;
    let (status, _) = curl(&format!("{api}/jobs/{job_id}/retry"), Some(KEY), "");
    assert_eq!(status, 202);
    let again = wait_for("the reprocessed job", Duration::from_secs(60), || async {
        let job = api_get(&format!("{api}/jobs/{job_id}"));
        (job["state"] == "done" && job["result"]["rows"]["netbackup_jobs"] == 0).then_some(job)
    })
    .await;
    assert_eq!(
        again["result"]["rows"]["netbackup_jobs"], 0,
        "nothing changed"
    );
    assert_eq!(
        again["result"]["unchanged_records"], 5,
        "every bpdbjobs record read past as stored: {again}"
    );
    assert_eq!(
        count(&pool, "SELECT count(*) AS n FROM netbackup_jobs").await,
        before
    );

    // A hostile archive is refused with its reason; nothing lands outside the job's tmp dir.
    let evil_tar = dir.path().join("evil.tar");
    write_tar_with_raw_name(&evil_tar, "../../../../escaped.txt");
    aws_put(&endpoint, &evil_tar, "bobs_burgers/fryer_grid/evil.tar");
    let evil = json!({"uid": "u-1001", "customer": "bobs_burgers", "grid": "fryer_grid", "s3_path": "bobs_burgers/fryer_grid/evil.tar"}).to_string();
    let (status, body) = curl(&format!("{api}/veritas2hview/update"), Some(KEY), &evil);
    assert_eq!(status, 202, "{body}");
    let evil_id = body["job_id"].as_i64().unwrap();
    let refused = wait_for(
        "the hostile upload to fail",
        Duration::from_secs(60),
        || async {
            let job = api_get(&format!("{api}/jobs/{evil_id}"));
            matches!(job["state"].as_str(), Some("done" | "error")).then_some(job)
        },
    )
    .await;
    assert_eq!(refused["state"], "error");
    assert_eq!(refused["attempts"], 1, "bad input is not retried");
    assert!(
        refused["error"]
            .as_str()
            .unwrap()
            .contains("climbs out of the archive with `..`"),
        "{refused}"
    );
    let escaped: Vec<_> = walk(dir.path())
        .into_iter()
        .filter(|p| p.file_name().is_some_and(|n| n == "escaped.txt"))
        .collect();
    assert!(escaped.is_empty(), "{escaped:?}");

    // Requests that are refused before anything is stored.
    let bad = [
        (
            json!({"uid": "u", "customer": "nobody", "grid": "g", "s3_path": "a/b"}),
            400,
            "bad_request",
        ),
        (
            json!({"uid": "u", "customer": "bobs_burgers", "grid": "../g", "s3_path": "a/b"}),
            400,
            "bad_request",
        ),
        (
            json!({"uid": "u", "customer": "bobs_burgers", "grid": "g", "s3_path": "a/../../b"}),
            400,
            "bad_request",
        ),
        (
            json!({"uid": "u", "customer": "bobs_burgers", "grid": "g", "s3_path": "/abs"}),
            400,
            "bad_request",
        ),
        (
            json!({"uid": "u", "customer": "bobs_burgers", "grid": "g"}),
            400,
            "bad_request",
        ),
        (
            json!({"uid": "u", "customer": "bobs_burgers", "grid": "g", "s3_path": "bobs_burgers/missing/dump.tar.gz"}),
            404,
            "not_found",
        ),
    ];
    for (body, want, code) in bad {
        let (status, answer) = curl(
            &format!("{api}/veritas2hview/update"),
            Some(KEY),
            &body.to_string(),
        );
        assert_eq!(
            (status, answer["error"]["code"].as_str()),
            (want, Some(code)),
            "{body}: {answer}"
        );
    }
    let (status, answer) = curl(
        &format!("{api}/veritas2hview/update"),
        Some(KEY),
        &json!({"uid":"u","customer":"bobs_burgers","grid":"g","s3_path":"bobs_burgers/missing/dump.tar.gz"})
            .to_string(),
    );
    assert!(
        answer["error"]["message"]
            .as_str()
            .unwrap()
            .contains("s3://veritas2hview/bobs_burgers/missing/dump.tar.gz"),
        "{status} {answer}"
    );
    let (status, _) = curl(&format!("{api}/veritas2hview/update"), None, &trigger);
    assert_eq!(status, 401);
    let (status, _) = curl(
        &format!("{api}/veritas2hview/update"),
        Some("wrong-key-0123456789"),
        &trigger,
    );
    assert_eq!(status, 401);
    let huge = json!({"uid": "x".repeat(100_000), "customer": "c", "grid": "g", "s3_path": "k"})
        .to_string();
    let (status, answer) = curl(&format!("{api}/veritas2hview/update"), Some(KEY), &huge);
    assert_eq!(
        (status, answer["error"]["code"].as_str()),
        (413, Some("payload_too_large"))
    );

    // The object store down: 503, and no job is queued.
    let jobs_before = count(&pool, "SELECT count(*) AS n FROM jobs").await;
    drop(moto);
    let other = json!({"uid": "u", "customer": "bobs_burgers", "grid": "fryer_grid", "s3_path": "bobs_burgers/fryer_grid/other.tar.gz"}).to_string();
    let (status, answer) = curl(&format!("{api}/veritas2hview/update"), Some(KEY), &other);
    assert_eq!(
        (status, answer["error"]["code"].as_str()),
        (503, Some("unavailable")),
        "{answer}"
    );
    assert_eq!(
        count(&pool, "SELECT count(*) AS n FROM jobs").await,
        jobs_before
    );
}

/// A tar whose single entry has `name` verbatim (tools refuse to write such names).
fn write_tar_with_raw_name(path: &Path, name: &str) {
    let mut header = [0u8; 512];
    header[..name.len()].copy_from_slice(name.as_bytes());
    header[100..108].copy_from_slice(b"0000644\0");
    header[108..116].copy_from_slice(b"0000000\0");
    header[116..124].copy_from_slice(b"0000000\0");
    header[124..136].copy_from_slice(b"00000000004\0");
    header[136..148].copy_from_slice(b"00000000000\0");
    header[156] = b'0';
    header[257..263].copy_from_slice(b"ustar\0");
    header[263..265].copy_from_slice(b"00");
    header[148..156].copy_from_slice(b"        ");
    let sum: u32 = header.iter().map(|b| u32::from(*b)).sum();
    header[148..156].copy_from_slice(format!("{sum:06o}\0 ").as_bytes());
    let mut data = header.to_vec();
    let mut content = b"evil".to_vec();
    content.resize(512, 0);
    data.extend(content);
    data.extend([0u8; 1024]);
    std::fs::write(path, data).unwrap();
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    if let Ok(entries) = std::fs::read_dir(dir) {
        for e in entries.flatten() {
            if e.path().is_dir() {
                out.extend(walk(&e.path()));
            }
            out.push(e.path());
        }
    }
    out
}

/// Reconciliation against an external store (moto): an object nobody triggered is found by
/// listing the bucket and, with the auto trigger on, queued as its own job.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reconciliation_queues_an_upload_left_untriggered_in_the_external_store() {
    required("aws");
    required("moto_server");
    let (_moto, endpoint) = start_moto().await;
    let db = TestDb::new().await;
    let dir = tempfile::tempdir().unwrap();
    let mut config = upload_config(&db.url, dir.path(), &endpoint);
    config.s3.untriggered_after_minutes = 0;
    config.s3.reconcile_interval_seconds = 1;
    assert!(
        aws(&endpoint, &["s3", "mb", "s3://veritas2hview"])
            .status
            .success()
    );
    let export = export_tar_gz(dir.path());
    let key = "bobs_burgers/fryer_grid/forgotten.tar.gz";
    aws_put(&endpoint, &export, key);
    let _serve = start_serve(dir.path(), &config).await;
    let api = api_url(&config);
    let job = upload_job_done(&api, "reconciliation's job, done").await;
    assert_eq!(job["metadata"]["triggered_by"], "reconciliation", "{job}");
    assert_eq!(job["metadata"]["key"], key, "{job}");
    assert_eq!(job["result"]["rows"]["netbackup_jobs"], 5, "{job}");
}

/// A trigger names only an object under its own customer's folder: alice cannot have
/// carol's upload processed as hers (400, nothing queued); carol can.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_trigger_names_only_its_own_customers_objects() {
    required("aws");
    required("moto_server");
    let (_moto, endpoint) = start_moto().await;
    let db = TestDb::new().await;
    let pool = db.pool();
    let dir = tempfile::tempdir().unwrap();
    let mut config = upload_config(&db.url, dir.path(), &endpoint);
    for name in ["alice", "carol"] {
        config
            .customers
            .push(shared_modules::config::CustomerConfig {
                name: name.into(),
                addresses: vec![],
                allowed_senders: vec![],
            });
    }
    assert!(
        aws(&endpoint, &["s3", "mb", "s3://veritas2hview"])
            .status
            .success()
    );
    let export = export_tar_gz(dir.path());
    aws_put(&endpoint, &export, "carol/g/file");
    let _serve = start_serve(dir.path(), &config).await;
    let url = format!("{}/veritas2hview/update", api_url(&config));
    let trigger = |customer: &str, s3_path: &str| {
        let body = json!({"uid": "u-9", "customer": customer, "grid": "g", "s3_path": s3_path});
        curl(&url, Some(KEY), &body.to_string())
    };
    for (customer, path) in [
        ("alice", "carol/g/file"),
        ("ALICE", "carol/g/file"),
        ("alice", "carol"),
        ("alice", "alice"),
        ("alice", "alice_and_carol/g/file"),
    ] {
        let (status, answer) = trigger(customer, path);
        assert_eq!(
            (status, answer["error"]["code"].as_str()),
            (400, Some("bad_request")),
            "{customer} {path}: {answer}"
        );
    }
    assert_eq!(
        count(&pool, "SELECT count(*) AS n FROM jobs").await,
        0,
        "nothing queued for alice"
    );
    let (status, answer) = trigger("carol", "carol/g/file");
    assert_eq!(status, 202, "{answer}");
    let customer = wait_for("carol's job", Duration::from_secs(30), || async {
        let job = api_get(&format!("{}/jobs/{}", api_url(&config), answer["job_id"]));
        job["customer"].as_str().map(str::to_string)
    })
    .await;
    assert_eq!(customer, "carol");
}
