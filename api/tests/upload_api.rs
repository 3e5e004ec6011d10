//! The upload API a front end uses (issue 24, item 3), against the embedded store and an
//! external one (moto): `POST /uploads` plans the parts and signs their URLs, the parts go
//! straight to the store with curl as a browser would send them, a dropped upload resumes
//! with only the missing parts, completing too early names what is missing, completing
//! queues the job (its rows written), and completing again answers the same job.

#![allow(clippy::unwrap_used)] // tests fail loudly on any unexpected error

mod common;

use common::*;
use serde_json::{Value, json};
use shared_modules::config::Config;
use shared_modules::testing::{TestDb, wait_for};
use std::path::Path;
use std::process::Command;
use std::time::Duration;

/// PUTs bytes `[start, start+len)` of `file` to `url` as a browser's XHR does (no
/// Content-Type); the HTTP status.
fn put_part(url: &str, file: &Path, start: u64, len: u64, dir: &Path) -> u16 {
    let bytes = std::fs::read(file).unwrap();
    let end = (start + len).min(bytes.len() as u64) as usize;
    let part = dir.join(format!("part-{start}"));
    std::fs::write(&part, &bytes[start as usize..end]).unwrap();
    let out = Command::new("curl")
        .args(["-s", "-o", "/dev/null", "-w", "%{http_code}", "-T"])
        .arg(&part)
        .arg(url)
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).parse().unwrap_or(0)
}

fn part_url(view: &Value, number: i64) -> String {
    view["part_urls"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["part_number"] == number)
        .unwrap_or_else(|| panic!("no URL for part {number}: {view}"))["url"]
        .as_str()
        .unwrap()
        .to_string()
}

async fn upload_through_the_api(config: &Config, dir: &Path) {
    let alice = add_customer(config, "bobs_burgers").await;
    let api = api_url(config);
    let export = large_export(dir, 20);
    let size = std::fs::metadata(&export).unwrap().len();

    let (code, view) = api_as(
        &alice.api_key,
        "POST",
        &format!("{api}/uploads"),
        Some(
            &json!({"customer": "bobs_burgers", "grid": "Fryer Grid", "file_name": "nbu export.tar.gz", "size": size}),
        ),
    );
    assert_eq!(code, 201, "{view}");
    assert_eq!(view["key"], "bobs_burgers/fryer_grid/nbu_export.tar.gz");
    let (id, part_size) = (
        view["id"].as_str().unwrap(),
        view["part_size"].as_u64().unwrap(),
    );
    assert_eq!(view["parts_total"], 3, "{view}");
    assert_eq!(view["part_urls"].as_array().unwrap().len(), 3);
    assert_eq!(view["created_by"], format!("bobs_burgers:{}", alice.key_id));

    // The first part arrives, then the connection drops: asking again gives URLs for the
    // other two only.
    assert_eq!(
        put_part(&part_url(&view, 1), &export, 0, part_size, dir),
        200
    );
    let (_, again) = api_as(&alice.api_key, "GET", &format!("{api}/uploads/{id}"), None);
    assert_eq!(again["parts_received"], json!([1]), "{again}");
    assert_eq!(again["bytes_received"], part_size);
    let numbers: Vec<i64> = again["part_urls"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["part_number"].as_i64().unwrap())
        .collect();
    assert_eq!(numbers, vec![2, 3]);
    // Too early: the answer names what is missing.
    let (code, early) = api_as(
        &alice.api_key,
        "POST",
        &format!("{api}/uploads/{id}/complete"),
        None,
    );
    assert_eq!(code, 409, "{early}");
    assert!(
        early["error"]["message"]
            .as_str()
            .unwrap()
            .contains("parts 2, 3"),
        "{early}"
    );
    // A part cut short is not taken as received.
    assert_eq!(
        put_part(&part_url(&again, 2), &export, part_size, 1000, dir),
        200
    );
    let (_, again) = api_as(&alice.api_key, "GET", &format!("{api}/uploads/{id}"), None);
    assert_eq!(
        again["parts_received"],
        json!([1]),
        "a short part 2 is sent again: {again}"
    );
    for number in [2u64, 3] {
        let status = put_part(
            &part_url(&again, number as i64),
            &export,
            (number - 1) * part_size,
            part_size,
            dir,
        );
        assert_eq!(status, 200);
    }
    let (code, done) = api_as(
        &alice.api_key,
        "POST",
        &format!("{api}/uploads/{id}/complete"),
        None,
    );
    assert!(matches!(code, 200 | 202), "{code} {done}");
    let job_id = done["job_id"].as_i64().unwrap();
    let (code, twice) = api_as(
        &alice.api_key,
        "POST",
        &format!("{api}/uploads/{id}/complete"),
        None,
    );
    assert_eq!(
        (code, twice["job_id"].as_i64()),
        (200, Some(job_id)),
        "{twice}"
    );
    assert_eq!(twice["existing"], true);

    // The job runs to its end with the export's rows; the upload shows it.
    let finished = wait_for("the upload's job", Duration::from_secs(60), || async {
        let (_, view) = api_as(&alice.api_key, "GET", &format!("{api}/uploads/{id}"), None);
        matches!(view["job_status"].as_str(), Some("done" | "error")).then_some(view)
    })
    .await;
    assert_eq!(finished["job_status"], "done", "{finished}");
    let rows = &finished["job_result"]["rows"];
    assert!(
        rows.as_object().is_some_and(|r| !r.is_empty()),
        "{finished}"
    );
    let (_, job) = api_as(&alice.api_key, "GET", &format!("{api}/jobs/{job_id}"), None);
    assert_eq!(
        job["metadata"]["size"], size,
        "the whole export arrived: {job}"
    );
    assert_eq!(job["metadata"]["triggered_by"], "upload_api");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_upload_api_against_the_embedded_store() {
    let db = TestDb::new().await;
    let dir = tempfile::tempdir().unwrap();
    let config = embedded_config(&db.url, dir.path());
    let _serve = start_serve(dir.path(), &config).await;
    upload_through_the_api(&config, dir.path()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_upload_api_against_an_external_store() {
    let db = TestDb::new().await;
    let dir = tempfile::tempdir().unwrap();
    let (_moto, endpoint) = start_moto().await;
    let config = upload_config(&db.url, dir.path(), &endpoint);
    let _serve = start_serve(dir.path(), &config).await;
    upload_through_the_api(&config, dir.path()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cors_answers_only_the_configured_front_ends() {
    let db = TestDb::new().await;
    let dir = tempfile::tempdir().unwrap();
    let mut config = embedded_config(&db.url, dir.path());
    config.api.cors_origins = vec!["https://portal.hview.example".into()];
    let _serve = start_serve(dir.path(), &config).await;
    let preflight = |origin: &str| {
        let out = Command::new("curl")
            .args(["-s", "-D", "-", "-o", "/dev/null", "-X", "OPTIONS"])
            .arg(format!("{}/uploads", api_url(&config)))
            .args(["-H", &format!("Origin: {origin}")])
            .args(["-H", "Access-Control-Request-Method: POST"])
            .args([
                "-H",
                "Access-Control-Request-Headers: x-api-key, content-type",
            ])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).to_lowercase()
    };
    let allowed = preflight("https://portal.hview.example");
    assert!(allowed.starts_with("http/1.1 204"), "{allowed}");
    assert!(
        allowed.contains("access-control-allow-origin: https://portal.hview.example"),
        "{allowed}"
    );
    assert!(allowed.contains("x-api-key"), "{allowed}");
    let other = preflight("https://evil.example");
    assert!(!other.contains("access-control-allow-origin"), "{other}");
    // A real request from the front end carries the header; from elsewhere it does not.
    let jobs = |origin: &str| {
        let out = Command::new("curl")
            .args(["-s", "-D", "-", "-o", "/dev/null"])
            .arg(format!("{}/jobs", api_url(&config)))
            .args([
                "-H",
                &format!("Origin: {origin}"),
                "-H",
                &format!("X-Api-Key: {KEY}"),
            ])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).to_lowercase()
    };
    assert!(
        jobs("https://portal.hview.example")
            .contains("access-control-allow-origin: https://portal.hview.example")
    );
    assert!(!jobs("https://evil.example").contains("access-control-allow-origin"));
}
