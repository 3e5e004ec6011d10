//! A customer's console in a real headless Chromium (issue 24, items 4 and 5):
//! `tests/browser/upload.py` signs in with the customer's own API key, uploads a 40 MB
//! export through the Upload page (the progress bar seen to move), reloads halfway and
//! resumes with only the missing parts, sees the job done with its rows, and gets "not
//! found" for another customer's job, against a real `dataprocessor serve`.

#![allow(clippy::unwrap_used)] // tests fail loudly on any unexpected error

mod common;

use common::*;
use serde_json::json;
use shared_modules::testing::TestDb;
use std::path::Path;
use std::process::Command;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_customer_uploads_an_export_from_the_console() {
    let db = TestDb::new().await;
    let dir = tempfile::tempdir().unwrap();
    let config = embedded_config(&db.url, dir.path());
    let alice = add_customer(&config, "bobs_burgers").await;
    let _serve = start_serve(dir.path(), &config).await;
    let (s3, api) = (s3_url(&config), api_url(&config));

    // Another customer's job, whose URL the customer will type.
    let small = export_tar_gz(dir.path());
    aws_put(&s3, &small, "someone_else/grid_1/dump.tar.gz");
    let (code, other) = api_as(
        KEY,
        "POST",
        &format!("{api}/veritas2hview/update"),
        Some(
            &json!({"uid": "u", "customer": "someone_else", "grid": "grid_1", "s3_path": "someone_else/grid_1/dump.tar.gz"}),
        ),
    );
    assert!(matches!(code, 200 | 202), "{other}");

    let export = large_export(dir.path(), 40);
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/browser/upload.py");
    let out = Command::new("python3")
        .arg(&script)
        .arg(format!("http://{}", config.api.listen))
        .arg(&alice.api_key)
        .arg(&export)
        .arg(other["job_id"].to_string())
        .output()
        .expect("python3 with selenium is required: run scripts/services.sh browser");
    let said = text(&out);
    assert!(out.status.success(), "{said}");
    assert!(said.contains("all upload checks passed"), "{said}");

    // The job the page made is the customer's, with the whole export.
    let (_, jobs) = api_as(
        &alice.api_key,
        "GET",
        &format!("{api}/jobs?type=veritas2hview"),
        None,
    );
    let job = &jobs["jobs"][0];
    assert_eq!(job["customer"], "bobs_burgers");
    assert_eq!(job["state"], "done", "{job}");
    assert_eq!(
        job["metadata"]["size"],
        std::fs::metadata(&export).unwrap().len()
    );
}
