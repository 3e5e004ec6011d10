//! Customers as users (issue 24): a customer's API key and S3 key, made in Postgres, reach
//! only that customer's data. Table-driven over every API route and every S3 operation the
//! embedded store answers: with customer A's keys, each one on customer B's data is refused
//! (another customer's job or upload is a 404, a trigger for it a 403), while the same keys
//! work on A's own. The request log and the job record which key acted. A revoked key stops
//! working on a second `serve` within 5 s, its console session there included.

#![allow(clippy::unwrap_used)] // tests fail loudly on any unexpected error

mod common;

use common::*;
use serde_json::{Value, json};
use shared_modules::testing::{TestDb, wait_for};
use std::process::Command;
use std::time::{Duration, Instant};

const BUCKET: &str = "veritas2hview";

/// The aws CLI with one customer's S3 key, which must have failed with `AccessDenied` (a
/// HEAD has no body to name it: its 403).
fn denied(s3: &str, who: &shared_modules::customers::NewCredentials, args: &[&str]) {
    let out = aws_as(s3, &who.s3_access_key_id, &who.s3_secret_access_key, args);
    let said = text(&out);
    assert!(
        !out.status.success() && (said.contains("AccessDenied") || said.contains("(403)")),
        "{args:?} on another customer's data must be AccessDenied: {}",
        text(&out)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_customers_keys_reach_only_its_own_customer() {
    let db = TestDb::new().await;
    let dir = tempfile::tempdir().unwrap();
    let mut config = embedded_config(&db.url, dir.path());
    config.logging.directory = Some(dir.path().join("logs"));
    // A made before serve starts: serve reads the server key the credentials were sealed with.
    let alice = add_customer(&config, "bobs_burgers").await;
    let bob = add_customer(&config, "someone_else").await;
    let _serve = start_serve(dir.path(), &config).await;
    let (s3, api) = (s3_url(&config), api_url(&config));
    let export = export_tar_gz(dir.path());
    let export = export.to_str().unwrap();

    // Each customer uploads with its own S3 key and triggers with its own API key.
    let mut jobs = Vec::new();
    for (who, folder) in [(&alice, "bobs_burgers"), (&bob, "someone_else")] {
        let key = format!("{folder}/grid_1/dump.tar.gz");
        let out = aws_as(
            &s3,
            &who.s3_access_key_id,
            &who.s3_secret_access_key,
            &["s3", "cp", export, &format!("s3://{BUCKET}/{key}")],
        );
        assert!(out.status.success(), "{}", text(&out));
        let (code, body) = api_as(
            &who.api_key,
            "POST",
            &format!("{api}/veritas2hview/update"),
            Some(&json!({"uid": "u", "customer": folder, "grid": "grid_1", "s3_path": key})),
        );
        assert!(matches!(code, 200 | 202), "{code} {body}");
        jobs.push(body["job_id"].as_i64().unwrap());
    }
    let (own_job, other_job) = (jobs[0], jobs[1]);
    let (_, other_upload) = api_as(
        &bob.api_key,
        "POST",
        &format!("{api}/uploads"),
        Some(
            &json!({"customer": "someone_else", "grid": "grid_1", "file_name": "x.tar.gz", "size": 10}),
        ),
    );
    let other_upload = other_upload["id"].as_str().unwrap().to_string();

    // Every API route, as customer A, on customer B's data.
    let routes: Vec<(&str, String, Option<Value>, u16)> = vec![
        ("GET", format!("{api}/jobs/{other_job}"), None, 404),
        ("POST", format!("{api}/jobs/{other_job}/retry"), None, 404),
        ("POST", format!("{api}/jobs/{other_job}/cancel"), None, 404),
        (
            "POST",
            format!("{api}/veritas2hview/update"),
            Some(
                json!({"uid": "u", "customer": "someone_else", "grid": "grid_1", "s3_path": "someone_else/grid_1/dump.tar.gz"}),
            ),
            403,
        ),
        (
            "POST",
            format!("{api}/uploads"),
            Some(
                json!({"customer": "someone_else", "grid": "grid_1", "file_name": "y.zip", "size": 10}),
            ),
            403,
        ),
        ("GET", format!("{api}/uploads/{other_upload}"), None, 404),
        (
            "POST",
            format!("{api}/uploads/{other_upload}/complete"),
            None,
            404,
        ),
        (
            "GET",
            format!("http://{}/metrics", config.api.listen),
            None,
            401,
        ),
    ];
    for (method, url, body, refused) in &routes {
        let (code, answer) = api_as(&alice.api_key, method, url, body.as_ref());
        assert_eq!(code, *refused, "{method} {url}: {answer}");
        assert!(
            !answer.to_string().contains("dump.tar.gz") || *refused == 403,
            "a refusal shows nothing of B's: {answer}"
        );
    }
    // Listings: only A's jobs, whatever the filter asks.
    for query in ["", "?customer=someone_else", "?type=veritas2hview"] {
        let (code, page) = api_as(&alice.api_key, "GET", &format!("{api}/jobs{query}"), None);
        assert_eq!(code, 200);
        let customers: Vec<&str> = page["jobs"]
            .as_array()
            .unwrap()
            .iter()
            .map(|j| j["customer"].as_str().unwrap())
            .collect();
        assert!(
            customers.iter().all(|c| *c == "bobs_burgers"),
            "{query}: {customers:?}"
        );
        assert_eq!(
            customers.is_empty(),
            query.contains("someone_else"),
            "{query}"
        );
    }
    // The same routes work on A's own data.
    let (code, job) = api_as(
        &alice.api_key,
        "GET",
        &format!("{api}/jobs/{own_job}"),
        None,
    );
    assert_eq!(code, 200, "{job}");
    assert_eq!(
        job["metadata"]["acted_by"],
        format!("bobs_burgers:{}", alice.key_id),
        "the job records which key triggered it"
    );
    // The operator still sees both.
    let (_, all) = api_as(KEY, "GET", &format!("{api}/jobs"), None);
    assert_eq!(all["jobs"].as_array().unwrap().len(), 2);

    // Every S3 operation, as customer A, on customer B's objects.
    let theirs = "someone_else/grid_1/dump.tar.gz";
    let mine = "bobs_burgers/grid_1/dump.tar.gz";
    let local = dir.path().join("got");
    let local = local.to_str().unwrap();
    for args in [
        vec![
            "s3api",
            "get-object",
            "--bucket",
            BUCKET,
            "--key",
            theirs,
            local,
        ],
        vec!["s3api", "head-object", "--bucket", BUCKET, "--key", theirs],
        vec![
            "s3api",
            "put-object",
            "--bucket",
            BUCKET,
            "--key",
            theirs,
            "--body",
            export,
        ],
        vec![
            "s3api",
            "delete-object",
            "--bucket",
            BUCKET,
            "--key",
            theirs,
        ],
        vec![
            "s3api",
            "copy-object",
            "--bucket",
            BUCKET,
            "--key",
            mine,
            "--copy-source",
            &format!("{BUCKET}/{theirs}"),
        ],
        vec![
            "s3api",
            "copy-object",
            "--bucket",
            BUCKET,
            "--key",
            theirs,
            "--copy-source",
            &format!("{BUCKET}/{mine}"),
        ],
        vec![
            "s3api",
            "list-objects-v2",
            "--bucket",
            BUCKET,
            "--prefix",
            "someone_else/",
        ],
        vec!["s3api", "list-objects-v2", "--bucket", BUCKET],
        vec![
            "s3api",
            "list-objects",
            "--bucket",
            BUCKET,
            "--prefix",
            "someone",
        ],
        vec![
            "s3api",
            "create-multipart-upload",
            "--bucket",
            BUCKET,
            "--key",
            theirs,
        ],
        vec![
            "s3api",
            "list-multipart-uploads",
            "--bucket",
            BUCKET,
            "--prefix",
            "someone_else/",
        ],
    ] {
        denied(&s3, &alice, &args);
    }
    // DeleteObjects answers per key: B's object is refused, and is still there.
    let out = aws_as(
        &s3,
        &alice.s3_access_key_id,
        &alice.s3_secret_access_key,
        &[
            "s3api",
            "delete-objects",
            "--bucket",
            BUCKET,
            "--delete",
            &format!("{{\"Objects\":[{{\"Key\":\"{theirs}\"}}]}}"),
        ],
    );
    assert!(text(&out).contains("AccessDenied"), "{}", text(&out));
    // A URL presigned with A's key for B's object is refused too.
    let out = aws_as(
        &s3,
        &alice.s3_access_key_id,
        &alice.s3_secret_access_key,
        &["s3", "presign", &format!("s3://{BUCKET}/{theirs}")],
    );
    let url = String::from_utf8_lossy(&out.stdout).trim().to_string();
    let got = Command::new("curl")
        .args(["-s", "-o", "/dev/null", "-w", "%{http_code}", &url])
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&got.stdout), "403", "{url}");
    let out = aws(
        &s3,
        &["s3api", "head-object", "--bucket", BUCKET, "--key", theirs],
    );
    assert!(out.status.success(), "B's object survived: {}", text(&out));
    // A's key on A's own folder: listed.
    let out = aws_as(
        &s3,
        &alice.s3_access_key_id,
        &alice.s3_secret_access_key,
        &[
            "s3api",
            "list-objects-v2",
            "--bucket",
            BUCKET,
            "--prefix",
            "bobs_burgers/",
        ],
    );
    assert!(text(&out).contains(mine), "{}", text(&out));

    // The request log names who acted, never the key.
    logged(
        &dir.path().join("logs"),
        "request",
        &format!("acting=bobs_burgers:{}", alice.key_id),
    )
    .await;
    let logs = std::fs::read_dir(dir.path().join("logs"))
        .unwrap()
        .flatten()
        .next()
        .unwrap()
        .path();
    let log = std::fs::read_to_string(logs).unwrap();
    assert!(!log.contains(&alice.api_key) && !log.contains(&alice.s3_secret_access_key));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revoked_key_stops_working_on_another_node_within_five_seconds() {
    let db = TestDb::new().await;
    let (one, two) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let first = embedded_config(&db.url, one.path());
    let mut second = embedded_config(&db.url, two.path());
    // The nodes share the server key, as every node must.
    std::fs::create_dir_all(&second.paths.root).unwrap();
    let alice = add_customer(&first, "bobs_burgers").await;
    std::fs::copy(
        first.paths.root.join("server.key"),
        second.paths.root.join("server.key"),
    )
    .unwrap();
    second.api.listen = format!("127.0.0.1:{}", free_port());
    let _a = start_serve(one.path(), &first).await;
    let _b = start_serve(two.path(), &second).await;
    let (api_b, s3_b) = (api_url(&second), s3_url(&second));
    let list = || {
        aws_as(
            &s3_b,
            &alice.s3_access_key_id,
            &alice.s3_secret_access_key,
            &[
                "s3api",
                "list-objects-v2",
                "--bucket",
                BUCKET,
                "--prefix",
                "bobs_burgers/",
            ],
        )
    };
    assert_eq!(
        api_as(&alice.api_key, "GET", &format!("{api_b}/jobs"), None).0,
        200
    );
    assert!(list().status.success(), "{}", text(&list()));
    // Signed in to the second node's console with the same key.
    let jar = two.path().join("cookies");
    let console = |args: &[&str]| console_curl(&jar, args).0;
    let base_b = format!("http://{}", second.api.listen);
    let signed_in = console(&[
        &format!("{base_b}/login"),
        "--data-urlencode",
        &format!("key={}", alice.api_key),
    ]);
    assert!(
        signed_in.starts_with("303") && signed_in.ends_with("/jobs"),
        "{signed_in}"
    );
    assert!(console(&[&format!("{base_b}/jobs")]).starts_with("200"));

    // Revoked through the first node's database, as `dpctl customers revoke` does.
    let pool = shared_modules::db::connect_pool(&db.url, 1, Duration::from_secs(5)).unwrap();
    let revoked_at = Instant::now();
    let ended =
        shared_modules::customers::revoke(&mut pool.get().await.unwrap(), "bobs_burgers", None)
            .await
            .unwrap();
    assert_eq!(ended, 1);
    wait_for(
        "the second node to refuse the API key",
        Duration::from_secs(5),
        || async {
            (api_as(&alice.api_key, "GET", &format!("{api_b}/jobs"), None).0 == 401).then_some(())
        },
    )
    .await;
    let page = console(&[&format!("{base_b}/jobs")]);
    assert!(
        page.starts_with("303") && page.ends_with("/login"),
        "the console session ended: {page}"
    );
    let out = list();
    assert!(
        !out.status.success() && text(&out).contains("InvalidAccessKeyId"),
        "{}",
        text(&out)
    );
    println!("refused {:?} after the revocation", revoked_at.elapsed());
}
