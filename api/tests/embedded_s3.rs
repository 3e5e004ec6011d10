//! `s3.mode = embedded`: `dataprocessor serve` is the S3 endpoint on its API port. The real
//! aws CLI uploads (single PUT and multipart), reads back, lists and deletes there; keys are
//! checked (wrong secret, a key limited to its customer's prefix); a completed upload queues
//! its job by itself, and a later curl for the same object gets the same job; a full disk
//! is an S3 error that leaves nothing behind; reconciliation reports and queues what no
//! trigger came for.

#![allow(clippy::unwrap_used)] // tests fail loudly on any unexpected error

mod common;

use common::*;
use serde_json::Value;
use shared_modules::testing::{TestDb, wait_for};
use std::path::Path;
use std::process::{Command, Output};
use std::time::Duration;

fn md5sum(path: &Path) -> String {
    let out = Command::new("md5sum").arg(path).output().unwrap();
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .next()
        .unwrap()
        .to_string()
}

/// `head-object`'s ETag, without quotes.
fn etag_of(endpoint: &str, key: &str) -> String {
    let out = aws(
        endpoint,
        &[
            "s3api",
            "head-object",
            "--bucket",
            "veritas2hview",
            "--key",
            key,
        ],
    );
    assert!(out.status.success(), "{}", text(&out));
    let head: Value = serde_json::from_slice(&out.stdout).unwrap();
    head["ETag"].as_str().unwrap().trim_matches('"').to_string()
}

/// Bytes that do not compress and repeat nowhere (a multipart upload of them is honest).
fn random_file(path: &Path, bytes: usize) {
    let status = Command::new("head")
        .args(["-c", &bytes.to_string(), "/dev/urandom"])
        .stdout(std::fs::File::create(path).unwrap())
        .status()
        .unwrap();
    assert!(status.success());
}

/// `aws s3 cp` of `file` to `key` fails with the store's StorageFull (507).
fn refused_for_space(s3: &str, file: &Path, key: &str) {
    let out = aws_cp(s3, file, key);
    assert!(!out.status.success());
    assert!(text(&out).contains("StorageFull"), "{}", text(&out));
}

async fn job_ended(api: &str, id: i64) -> Value {
    wait_for("the upload job to end", Duration::from_secs(60), || async {
        let job = api_get(&format!("{api}/jobs/{id}"));
        matches!(job["state"].as_str(), Some("done" | "error")).then_some(job)
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_api_port_is_an_s3_endpoint_and_an_upload_queues_its_own_job() {
    let db = TestDb::new().await;
    let dir = tempfile::tempdir().unwrap();
    let config = embedded_config(&db.url, dir.path());
    let _serve = start_serve(dir.path(), &config).await;
    let (s3, api) = (s3_url(&config), api_url(&config));

    // The bucket exists from the start.
    let listed = aws(&s3, &["s3", "ls"]);
    assert!(text(&listed).contains("veritas2hview"), "{}", text(&listed));

    // The customer's key, limited to its prefix, uploads the export: its job queues itself.
    let export = export_tar_gz(dir.path());
    let key = "bobs_burgers/fryer_grid/dump.tar.gz";
    let target = format!("s3://veritas2hview/{key}");
    let cp = aws_as(
        &s3,
        "bobkey",
        "bobsecret",
        &["s3", "cp", export.to_str().unwrap(), &target],
    );
    assert!(cp.status.success(), "{}", text(&cp));
    assert_eq!(
        etag_of(&s3, key),
        md5sum(&export),
        "a single PUT's ETag is its MD5"
    );
    let job_id = wait_for(
        "the auto trigger's job",
        Duration::from_secs(30),
        || async { api_get(&format!("{api}/jobs?type=veritas2hview"))["jobs"][0]["id"].as_i64() },
    )
    .await;
    let job = job_ended(&api, job_id).await;
    assert_eq!(job["state"], "done", "{job}");
    assert_eq!(job["result"]["rows"]["netbackup_jobs"], 5, "{job}");
    assert_eq!(job["metadata"]["triggered_by"], "auto_trigger", "{job}");
    // The seed's curl afterwards: the same object, the same job.
    let (status, body) = curl_trigger(&api, key);
    assert_eq!(status, 200, "{body}");
    let body: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(body["job_id"].as_i64(), Some(job_id));
    assert_eq!(body["existing"], true);

    // A multipart upload (45 MB in 8 MB parts) reads back identical.
    let big = dir.path().join("big.bin");
    random_file(&big, 45_000_000);
    let big_key = "bobs_burgers/fryer_grid/big.bin";
    aws_put(&s3, &big, big_key);
    assert!(
        etag_of(&s3, big_key).ends_with("-6"),
        "a multipart ETag names its parts: {}",
        etag_of(&s3, big_key)
    );
    let back = dir.path().join("back.bin");
    let read = aws(
        &s3,
        &[
            "s3",
            "cp",
            &format!("s3://veritas2hview/{big_key}"),
            back.to_str().unwrap(),
        ],
    );
    assert!(read.status.success(), "{}", text(&read));
    assert_eq!(std::fs::read(&back).unwrap(), std::fs::read(&big).unwrap());
    // The same 45 MB as one single PUT (s3api put-object never splits): its ETag is the MD5.
    let single_key = "bobs_burgers/fryer_grid/single.bin";
    let put = aws(
        &s3,
        &[
            "s3api",
            "put-object",
            "--bucket",
            "veritas2hview",
            "--key",
            single_key,
            "--body",
            big.to_str().unwrap(),
        ],
    );
    assert!(put.status.success(), "{}", text(&put));
    assert_eq!(etag_of(&s3, single_key), md5sum(&big));
    let single_back = dir.path().join("single_back.bin");
    let read = aws(
        &s3,
        &[
            "s3",
            "cp",
            &format!("s3://veritas2hview/{single_key}"),
            single_back.to_str().unwrap(),
        ],
    );
    assert!(read.status.success(), "{}", text(&read));
    assert_eq!(
        std::fs::read(&single_back).unwrap(),
        std::fs::read(&big).unwrap()
    );
    let rm = aws(
        &s3,
        &["s3", "rm", &format!("s3://veritas2hview/{single_key}")],
    );
    assert!(rm.status.success(), "{}", text(&rm));
    // A range, as SDKs read large objects in pieces.
    let range = aws(
        &s3,
        &[
            "s3api",
            "get-object",
            "--bucket",
            "veritas2hview",
            "--key",
            big_key,
            "--range",
            "bytes=1000-1999",
            dir.path().join("range.bin").to_str().unwrap(),
        ],
    );
    assert!(range.status.success(), "{}", text(&range));
    assert_eq!(
        std::fs::read(dir.path().join("range.bin")).unwrap(),
        std::fs::read(&big).unwrap()[1000..2000]
    );
    let all = aws(&s3, &["s3", "ls", "--recursive", "s3://veritas2hview/"]);
    assert!(
        text(&all).contains(big_key) && text(&all).contains(key),
        "{}",
        text(&all)
    );
    // Paging (v2, one key a page) and folders (v1, as older clients list).
    let json = |out: Output| -> Value {
        assert!(out.status.success(), "{}", text(&out));
        serde_json::from_slice(&out.stdout).unwrap()
    };
    let first = json(aws(
        &s3,
        &[
            "s3api",
            "list-objects-v2",
            "--bucket",
            "veritas2hview",
            "--max-keys",
            "1",
            "--no-paginate",
        ],
    ));
    assert_eq!(first["Contents"][0]["Key"], big_key, "{first}");
    assert_eq!(first["IsTruncated"], true, "{first}");
    let token = first["NextContinuationToken"].as_str().unwrap();
    let second = json(aws(
        &s3,
        &[
            "s3api",
            "list-objects-v2",
            "--bucket",
            "veritas2hview",
            "--max-keys",
            "1",
            "--no-paginate",
            "--continuation-token",
            token,
        ],
    ));
    assert_eq!(second["Contents"][0]["Key"], key, "{second}");
    assert_eq!(second["IsTruncated"], false, "{second}");
    let folders = json(aws(
        &s3,
        &[
            "s3api",
            "list-objects",
            "--bucket",
            "veritas2hview",
            "--prefix",
            "bobs_burgers/",
            "--delimiter",
            "/",
        ],
    ));
    assert_eq!(
        folders["CommonPrefixes"][0]["Prefix"], "bobs_burgers/fryer_grid/",
        "{folders}"
    );
    assert!(folders.get("Contents").is_none(), "{folders}");

    // Refusals: a wrong secret; the limited key outside its prefix, for writing and listing;
    // a request that is not signed at all.
    let wrong = aws_as(
        &s3,
        "accessKey1",
        "not-the-secret",
        &["s3", "cp", export.to_str().unwrap(), &target],
    );
    assert!(!wrong.status.success());
    assert!(
        text(&wrong).contains("SignatureDoesNotMatch"),
        "{}",
        text(&wrong)
    );
    let outside = aws_as(
        &s3,
        "bobkey",
        "bobsecret",
        &[
            "s3",
            "cp",
            export.to_str().unwrap(),
            "s3://veritas2hview/someone_else/g/dump.tar.gz",
        ],
    );
    assert!(!outside.status.success());
    assert!(
        text(&outside).contains("AccessDenied"),
        "{}",
        text(&outside)
    );
    let list_all = aws_as(
        &s3,
        "bobkey",
        "bobsecret",
        &["s3", "ls", "s3://veritas2hview/"],
    );
    assert!(
        text(&list_all).contains("AccessDenied"),
        "{}",
        text(&list_all)
    );
    let own = aws_as(
        &s3,
        "bobkey",
        "bobsecret",
        &["s3", "ls", "s3://veritas2hview/bobs_burgers/"],
    );
    assert!(
        own.status.success() && text(&own).contains("fryer_grid/"),
        "{}",
        text(&own)
    );
    let unsigned = Command::new("curl")
        .args([
            "-s",
            "-w",
            "\n%{http_code}",
            &format!("{s3}/veritas2hview/{key}"),
        ])
        .output()
        .unwrap();
    let unsigned = String::from_utf8_lossy(&unsigned.stdout).to_string();
    assert!(
        unsigned.ends_with("\n403") && unsigned.contains("AccessDenied"),
        "{unsigned}"
    );
    let gone = aws(
        &s3,
        &["s3", "cp", &format!("s3://veritas2hview/{key}"), "-"],
    );
    assert!(
        gone.status.success(),
        "the key's object is still there: {}",
        text(&gone)
    );

    // Delete: the object is gone from listings and reads.
    let rm = aws(&s3, &["s3", "rm", &format!("s3://veritas2hview/{big_key}")]);
    assert!(rm.status.success(), "{}", text(&rm));
    let all = aws(&s3, &["s3", "ls", "--recursive", "s3://veritas2hview/"]);
    assert!(!text(&all).contains(big_key), "{}", text(&all));
    let missing = aws(
        &s3,
        &[
            "s3api",
            "head-object",
            "--bucket",
            "veritas2hview",
            "--key",
            big_key,
        ],
    );
    assert!(!missing.status.success());

    // A batch delete by the limited key: its own key goes, the other customer's stays.
    let theirs = "someone_else/g/notes.txt";
    aws_put(&s3, &export, theirs);
    let batch = format!(r#"{{"Objects":[{{"Key":"{key}"}},{{"Key":"{theirs}"}}]}}"#);
    let answer = aws_as(
        &s3,
        "bobkey",
        "bobsecret",
        &[
            "s3api",
            "delete-objects",
            "--bucket",
            "veritas2hview",
            "--delete",
            &batch,
        ],
    );
    let answer: Value = serde_json::from_slice(&answer.stdout).unwrap_or(Value::Null);
    assert_eq!(answer["Deleted"][0]["Key"], key, "{answer}");
    assert_eq!(answer["Errors"][0]["Key"], theirs, "{answer}");
    assert_eq!(answer["Errors"][0]["Code"], "AccessDenied", "{answer}");
    let left = aws(&s3, &["s3", "ls", "--recursive", "s3://veritas2hview/"]);
    assert!(
        text(&left).contains(theirs) && !text(&left).contains(key),
        "{}",
        text(&left)
    );

    // The API's own routes are untouched by the S3 endpoint beside them.
    assert_eq!(api_get(&format!("{api}/health"))["status"], "ok");
    assert_eq!(
        api_get(&format!("{api}/nothing-here"))["error"]["code"],
        "not_found"
    );
}

/// The data root on a small tmpfs: an upload that does not fit is an S3 error (507
/// StorageFull) and leaves no object and no blob; with room again the export uploads and the
/// curl trigger turns it into rows.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_during_an_upload_is_an_s3_error_and_leaves_nothing() {
    let db = TestDb::new().await;
    let dir = tempfile::tempdir().unwrap();
    let small = dir.path().join("small");
    let _small_disk = shared_modules::testing::SmallDisk::mount(&small, "24m");
    let mut config = embedded_config(&db.url, dir.path());
    config.paths.root = small.join("mailbox");
    config.s3.auto_trigger = false;
    let _serve = start_serve(dir.path(), &config).await;
    let (s3, api) = (s3_url(&config), api_url(&config));
    let blobs = config.paths.root.join("s3/veritas2hview/blobs");
    let files_in = |dir: &Path| std::fs::read_dir(dir).map(|d| d.count()).unwrap_or(0);

    // Multipart: 40 MB into 24 MB.
    let big = dir.path().join("big.bin");
    random_file(&big, 40_000_000);
    refused_for_space(&s3, &big, "bobs_burgers/fryer_grid/big.bin");
    // A single PUT that does not fit either (the disk nearly filled by something else).
    let filler = small.join("filler");
    random_file(&filler, 20_000_000);
    let medium = dir.path().join("medium.bin");
    random_file(&medium, 6_000_000);
    refused_for_space(&s3, &medium, "bobs_burgers/fryer_grid/medium.bin");
    let listed = aws(&s3, &["s3", "ls", "--recursive", "s3://veritas2hview/"]);
    assert!(
        !text(&listed).contains(".bin"),
        "nothing partial is visible: {}",
        text(&listed)
    );
    assert_eq!(files_in(&blobs), 0, "no blob left behind");
    // The CLI aborts the failed multipart upload: its parts are gone too.
    assert_eq!(
        files_in(&config.paths.root.join("s3/veritas2hview/uploads")),
        0
    );

    // Room again: the export uploads, and the curl makes its job and rows.
    std::fs::remove_file(&filler).unwrap();
    let export = export_tar_gz(dir.path());
    let key = "bobs_burgers/fryer_grid/dump.tar.gz";
    aws_put(&s3, &export, key);
    let (status, body) = curl_trigger(&api, key);
    assert_eq!(status, 202, "{body}");
    let body: Value = serde_json::from_str(&body).unwrap();
    let job = job_ended(&api, body["job_id"].as_i64().unwrap()).await;
    assert_eq!(job["state"], "done", "{job}");
    assert_eq!(job["result"]["rows"]["netbackup_jobs"], 5, "{job}");
}

/// A forgotten curl: with the auto trigger off the upload is reported (the gauge, the log
/// line); serve restarted with it on, reconciliation queues it; the curl afterwards finds
/// that job.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reconciliation_reports_then_queues_an_upload_nobody_triggered() {
    let db = TestDb::new().await;
    let dir = tempfile::tempdir().unwrap();
    let mut config = embedded_config(&db.url, dir.path());
    config.s3.auto_trigger = false;
    config.s3.untriggered_after_minutes = 0;
    config.s3.reconcile_interval_seconds = 1;
    config.api.metrics_public = true;
    config.logging.directory = Some(dir.path().join("logs"));
    let serve = start_serve(dir.path(), &config).await;
    let (s3, api) = (s3_url(&config), api_url(&config));
    let export = export_tar_gz(dir.path());
    let key = "bobs_burgers/fryer_grid/forgotten.tar.gz";
    aws_put(&s3, &export, key);

    let metrics = format!("http://{}/metrics", config.api.listen);
    wait_for(
        "the untriggered upload in /metrics",
        Duration::from_secs(30),
        || async {
            let out = Command::new("curl").args(["-s", &metrics]).output().ok()?;
            String::from_utf8_lossy(&out.stdout)
                .contains("dataprocessor_uploads_untriggered 1")
                .then_some(())
        },
    )
    .await;
    logged(&dir.path().join("logs"), "upload never triggered", key).await;
    assert!(
        api_get(&format!("{api}/jobs?type=veritas2hview"))["jobs"]
            .as_array()
            .unwrap()
            .is_empty(),
        "reported, not queued, while the auto trigger is off"
    );
    drop(serve);

    config.s3.auto_trigger = true;
    let _serve = start_serve(dir.path(), &config).await;
    let job_id = wait_for("reconciliation's job", Duration::from_secs(30), || async {
        api_get(&format!("{api}/jobs?type=veritas2hview"))["jobs"][0]["id"].as_i64()
    })
    .await;
    let job = job_ended(&api, job_id).await;
    assert_eq!(job["state"], "done", "{job}");
    assert_eq!(job["metadata"]["triggered_by"], "reconciliation", "{job}");
    let (status, body) = curl_trigger(&api, key);
    assert_eq!(status, 200, "{body}");
    assert!(body.contains(&format!("\"job_id\":{job_id}")), "{body}");
}

/// With a certificate, the one port speaks TLS and plain HTTP: the seed's two commands as
/// written (aws to `https://host:port`, curl to `http://host:port`) end in rows.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_seeds_https_upload_and_http_curl_share_the_port() {
    let db = TestDb::new().await;
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = self_signed_certificate(dir.path());
    let mut config = embedded_config(&db.url, dir.path());
    config.s3.auto_trigger = false;
    config.api.tls_certificate = Some(cert.clone());
    config.api.tls_private_key = Some(key);
    let _serve = start_serve(dir.path(), &config).await;
    let export = export_tar_gz(dir.path());
    let s3_key = "bobs_burgers/fryer_grid/dump.tar.gz";
    let cp = Command::new("aws")
        .args(["s3", "cp", export.to_str().unwrap()])
        .arg(format!("s3://veritas2hview/{s3_key}"))
        .arg(format!("--endpoint-url=https://{}", config.api.listen))
        .env("AWS_ACCESS_KEY_ID", "accessKey1")
        .env("AWS_SECRET_ACCESS_KEY", "verySecretKey1")
        .env("AWS_DEFAULT_REGION", "us-east-1")
        .env("AWS_CA_BUNDLE", &cert)
        .output()
        .unwrap();
    assert!(cp.status.success(), "{}", text(&cp));
    let api = api_url(&config);
    assert!(api.starts_with("http://"));
    let (status, body) = curl_trigger(&api, s3_key);
    assert_eq!(status, 202, "{body}");
    let body: Value = serde_json::from_str(&body).unwrap();
    let job = job_ended(&api, body["job_id"].as_i64().unwrap()).await;
    assert_eq!(job["state"], "done", "{job}");
    assert_eq!(job["result"]["rows"]["netbackup_jobs"], 5, "{job}");
    // The API answers over TLS too.
    let health = Command::new("curl")
        .args(["-s", "--cacert"])
        .arg(&cert)
        .arg(format!("https://{}/api/1.0/health", config.api.listen))
        .args(["-H", &format!("X-Api-Key: {KEY}")])
        .output()
        .unwrap();
    // Signing in to the console over TLS gives a cookie sent back over TLS only; over
    // plain HTTP (a trusted network) it cannot be.
    let sign_in = |scheme: &str| {
        let out = Command::new("curl")
            .args(["-s", "-o", "/dev/null", "-D", "-", "--cacert"])
            .arg(&cert)
            .args(["-d", &format!("key={KEY}")])
            .arg(format!("{scheme}://{}/login", config.api.listen))
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .find(|l| {
                l.to_ascii_lowercase()
                    .starts_with("set-cookie: dp_console=")
            })
            .unwrap_or_default()
            .to_string()
    };
    let over_tls = sign_in("https");
    assert!(
        over_tls.contains("Secure") && over_tls.contains("HttpOnly"),
        "{over_tls}"
    );
    let plain = sign_in("http");
    assert!(
        !plain.contains("Secure") && plain.contains("HttpOnly"),
        "{plain}"
    );
    assert!(
        String::from_utf8_lossy(&health.stdout).contains("\"status\":\"ok\""),
        "{}",
        text(&health)
    );
}

/// The database away while an upload completes: the auto trigger tries again with backoff
/// and the job is made once the database is back, long before reconciliation would.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upload_while_the_database_is_away_gets_its_job_when_it_is_back() {
    let db = TestDb::new().await;
    let proxy = shared_modules::testing::DbProxy::start().await;
    let dir = tempfile::tempdir().unwrap();
    let mut config = embedded_config(&proxy.url_for(&db.url), dir.path());
    config.database.connect_timeout_seconds = 1;
    let logs = dir.path().join("logs");
    config.logging.directory = Some(logs.clone());
    let _serve = start_serve(dir.path(), &config).await;
    let (s3, api) = (s3_url(&config), api_url(&config));
    proxy.set_down();
    let export = export_tar_gz(dir.path());
    let key = "bobs_burgers/fryer_grid/dump.tar.gz";
    // Uploads do not need the database.
    aws_put(&s3, &export, key);
    // The trigger has met the database away (and will try again) before it comes back.
    logged(&logs, "auto trigger could not queue the upload yet", key).await;
    proxy.set_up();
    let job = upload_job_done(&api, "the auto trigger's job once the database is back").await;
    assert_eq!(job["metadata"]["triggered_by"], "auto_trigger", "{job}");
    assert_eq!(job["result"]["rows"]["netbackup_jobs"], 5, "{job}");
}
