//! `/api/1.0/health` says which database it cannot reach and why, with the same text as
//! dpctl (issue 22, item 4): `127.0.0.1:<port>: connection refused` when nothing listens,
//! `127.0.0.1:<port>: timeout after 3 s` when the server hangs; never the password.

#![allow(clippy::unwrap_used)] // tests fail loudly on any unexpected error

mod common;

use common::*;
use shared_modules::testing::{DbProxy, TestDb, wait_for};
use std::time::Duration;

fn health(api: &str) -> (u16, serde_json::Value) {
    let out = std::process::Command::new("curl")
        .args(["-s", "-m", "20", "-w", "\n%{http_code}", "-H"])
        .arg(format!("X-Api-Key: {KEY}"))
        .arg(format!("{api}/health"))
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    let (body, code) = text.rsplit_once('\n').unwrap();
    (
        code.parse().unwrap(),
        serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: {text}")),
    )
}

/// Waits for health to answer 503 with a database error holding `cause`; that error.
async fn database_error(api: &str, cause: &'static str) -> String {
    wait_for(
        &format!("health to name the database ({cause})"),
        Duration::from_secs(30),
        || {
            let api = api.to_string();
            async move {
                let (code, body) = tokio::task::spawn_blocking(move || health(&api))
                    .await
                    .unwrap();
                let error = body["checks"]["database"]["error"]
                    .as_str()
                    .unwrap_or("")
                    .to_string();
                (code == 503 && error.contains(cause)).then_some(error)
            }
        },
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_names_the_database_and_the_cause() {
    let db = TestDb::new().await;
    let proxy = DbProxy::start().await;
    let dir = tempfile::tempdir().unwrap();
    // A password in the URL (trust auth ignores it): it must never show.
    let url = proxy.url_for(&db.url).replace(
        "postgres://postgres@",
        "postgres://postgres:pw-never-shown@",
    );
    let mut config = upload_config(&url, dir.path(), "http://127.0.0.1:1");
    config.database.connect_timeout_seconds = 2;
    let _serve = start_serve(dir.path(), &config).await;
    let api = api_url(&config);
    let (code, body) = tokio::task::spawn_blocking({
        let api = api.clone();
        move || health(&api)
    })
    .await
    .unwrap();
    assert_eq!(code, 200, "{body}");

    let target = format!("127.0.0.1:{}", proxy.port);
    // Nothing listens: once the pool's open connections are found closed, a new one is
    // refused, and health says so.
    proxy.set_down();
    let error = database_error(&api, "connection refused").await;
    assert!(
        error.contains(&format!("{target}: connection refused")),
        "{error}"
    );
    assert!(!error.contains("pw-never-shown"), "{error}");

    // A server that accepts and never answers: health's own 3 s limit, naming the server.
    proxy.set_hung();
    let error = database_error(&api, "timeout").await;
    assert!(
        error.starts_with(&format!("{target}: timeout after ")),
        "{error}"
    );
    assert!(!error.contains("pw-never-shown"), "{error}");
    proxy.set_up();
}
