//! A database that stops answering without closing its connections (a hung server, a
//! network black hole): the API answers 503 within `database.read_timeout_seconds` (10 s by
//! default), naming the database, instead of holding the request.

#![allow(clippy::unwrap_used)] // tests fail loudly on any unexpected error

mod common;

use common::*;
use shared_modules::testing::{DbProxy, TestDb};
use std::time::{Duration, Instant};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hung_database_is_a_503_within_the_read_timeout() {
    let db = TestDb::new().await;
    let proxy = DbProxy::start().await;
    let dir = tempfile::tempdir().unwrap();
    let config = upload_config(&proxy.url_for(&db.url), dir.path(), "http://127.0.0.1:1");
    assert_eq!(config.database.read_timeout_seconds, 10, "the default");
    let _serve = start_serve(dir.path(), &config).await;
    let api = api_url(&config);
    let get = |url: String| async move {
        tokio::task::spawn_blocking(move || {
            let out = std::process::Command::new("curl")
                .args(["-s", "-w", "\n%{http_code}", "-H"])
                .arg(format!("X-Api-Key: {KEY}"))
                .arg(url)
                .output()
                .unwrap();
            String::from_utf8_lossy(&out.stdout).to_string()
        })
        .await
        .unwrap()
    };
    let before = get(format!("{api}/jobs")).await;
    assert!(before.ends_with("\n200"), "{before}");

    proxy.set_hung();
    let started = Instant::now();
    let answer = get(format!("{api}/jobs?status=queued")).await;
    let took = started.elapsed();
    assert!(answer.ends_with("\n503"), "{answer}");
    assert!(answer.contains("database"), "{answer}");
    assert!(took < Duration::from_secs(15), "took {took:?}");
    proxy.set_up();
}
